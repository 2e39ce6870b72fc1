//! The matrix-free stiffness operator (`shaders/mechanics/operator.wgsl`):
//! `apply` records y = K x with per-workgroup partials of xᵀy; `sed` records
//! the per-voxel strain energy density of a displacement field.

use crate::gpu::compose::ComposeError;
use crate::gpu::{Binding::*, Kernel};

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
            apply: Kernel::with_slots(
                device,
                file,
                "apply",
                &[
                    (0, Uniform),
                    (1, StorageRead),
                    (2, StorageRead),
                    (4, StorageRead),
                    (5, StorageWrite),
                    (6, StorageWrite),
                ],
                wg,
            )?,
            sed: Kernel::with_slots(
                device,
                file,
                "sed",
                &[
                    (0, Uniform),
                    (2, StorageRead),
                    (4, StorageRead),
                    (7, StorageWrite),
                ],
                wg,
            )?,
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
        self.apply.bind(device, &[params, flags, scale, x, y, part])
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
        self.sed.bind(device, &[params, scale, u, sed])
    }
}
