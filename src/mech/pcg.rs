//! The conjugate-gradient kernels (`shaders/mechanics/pcg.wgsl`): vector
//! updates over the node grid with per-workgroup partial sums, and
//! single-workgroup reductions that finish the dot products and compute α
//! and β on the GPU, so one CG iteration needs no readback.

use crate::gpu::Kernel;
use crate::gpu::compose::ComposeError;

crate::gpu_struct! {
    /// Scalars of the iteration, living in a GPU buffer.
    #[derive(Debug, Clone, Copy, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
    pub struct Scalars in "mechanics/pcg" {
        pub rz: f32,
        pub pq: f32,
        pub alpha: f32,
        pub beta: f32,
        pub rr: f32,
        pub rr_stop: f32,
        pub iters: u32,
        pub done: u32,
        pub bad: u32,
        pub _pad0: u32,
        pub _pad1: u32,
        pub _pad2: u32,
    }
}

/// Workgroup size of the single-workgroup reductions.
pub const REDUCE_WG: u32 = 256;

/// The PCG kernels, built once per device.
pub struct Pcg {
    pub residual: Kernel,
    pub zdot: Kernel,
    pub reduce_init: Kernel,
    pub reduce_pq: Kernel,
    pub update_ur: Kernel,
    pub reduce_rz: Kernel,
    pub update_p: Kernel,
}

impl Pcg {
    /// Builds every entry point; node-wide kernels use workgroup size `wg`.
    pub fn new(device: &wgpu::Device, wg: u32) -> Result<Self, ComposeError> {
        assert!(wg.is_power_of_two() && wg <= 256, "workgroup size {wg}");
        let f = "mechanics/pcg";
        let reduce = |entry| Kernel::new(device, f, entry, REDUCE_WG);
        Ok(Self {
            residual: Kernel::new(device, f, "residual", wg)?,
            zdot: Kernel::new(device, f, "zdot", wg)?,
            reduce_init: reduce("reduce_init")?,
            reduce_pq: reduce("reduce_pq")?,
            update_ur: Kernel::new(device, f, "update_ur", wg)?,
            reduce_rz: reduce("reduce_rz")?,
            update_p: Kernel::new(device, f, "update_p", wg)?,
        })
    }
}
