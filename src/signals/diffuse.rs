use crate::gpu::{Binding::*, GpuContext, Kernel, uniform_buffer};
#[repr(C)]
#[derive(bytemuck::Pod, bytemuck::Zeroable, Clone, Copy, Debug, Default)]
pub struct DiffuseParams {
    pub grid: [u32; 4],
    pub voxel_size_um: f32,
    pub d_marrow_um2_per_day: f32,
    pub d_bone_um2_per_day: f32,
    pub decay_per_day: f32,
}
pub struct Diffuse {
    sweep: Kernel,
}
impl Diffuse {
    pub fn new(ctx: &GpuContext, wg: u32) -> anyhow::Result<Self> {
        Ok(Self {
            sweep: Kernel::with_slots(
                &ctx.device,
                "signals/diffuse",
                "sweep",
                &[
                    (0, Uniform),
                    (1, StorageRead),
                    (2, StorageRead),
                    (3, StorageRead),
                    (4, StorageWrite),
                ],
                wg,
            )?,
        })
    }
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        p: &DiffuseParams,
        mineral: &wgpu::Buffer,
        source: &wgpu::Buffer,
        c: &wgpu::Buffer,
        scratch: &wgpu::Buffer,
        sweeps: u32,
    ) {
        let d = &ctx.device;
        let u = uniform_buffer(d, "diffuse", p);
        let a = self.sweep.bind(d, &[&u, mineral, source, c, scratch]);
        let b = self.sweep.bind(d, &[&u, mineral, source, scratch, c]);
        for _ in 0..sweeps.div_ceil(2) {
            self.sweep.run(enc, &a, p.grid[3]);
            self.sweep.run(enc, &b, p.grid[3]);
        }
    }
}
