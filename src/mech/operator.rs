//! The matrix-free stiffness operator (`shaders/mechanics/operator.wgsl`):
//! `apply` records y = K x with per-workgroup partials of xᵀy; `sed` records
//! the per-voxel strain energy density of a displacement field.

use crate::gpu::Kernel;
use crate::gpu::compose::ComposeError;

/// The operator's kernels, built once per device.
pub struct Operator {
    pub apply: Kernel,
    pub sed: Kernel,
}

impl Operator {
    /// Builds both entry points with workgroup size `wg` (a power of two ≤ 256).
    pub fn new(device: &wgpu::Device, wg: u32) -> Result<Self, ComposeError> {
        assert!(wg.is_power_of_two() && wg <= 256, "workgroup size {wg}");
        let file = "mechanics/operator";
        Ok(Self {
            apply: Kernel::new(device, file, "apply", wg)?,
            sed: Kernel::new(device, file, "sed", wg)?,
        })
    }

    /// Bind group for `apply`: y = K x, partials of xᵀy into `part`.
    #[allow(clippy::too_many_arguments)]
    pub fn bind_apply(
        &self,
        device: &wgpu::Device,
        params: &wgpu::Buffer,
        flags: &wgpu::Buffer,
        scale: &wgpu::Buffer,
        x: &wgpu::Buffer,
        y: &wgpu::Buffer,
        part: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        self.apply.bind(
            device,
            &[
                ("M", params),
                ("flags", flags),
                ("scale", scale),
                ("xin", x),
                ("yout", y),
                ("part", part),
            ],
        )
    }

    /// Bind group for `sed`: per-voxel SED (MPa) of displacement `u`.
    pub fn bind_sed(
        &self,
        device: &wgpu::Device,
        params: &wgpu::Buffer,
        scale: &wgpu::Buffer,
        u: &wgpu::Buffer,
        sed: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        self.sed.bind(
            device,
            &[
                ("M", params),
                ("scale", scale),
                ("xin", u),
                ("sed_out", sed),
            ],
        )
    }
}
