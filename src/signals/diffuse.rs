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

/// CPU twin of one Jacobi sweep (`shaders/signals/diffuse.wgsl`), for tests.
pub fn jacobi_sweep_cpu(p: &DiffuseParams, mineral: &[f32], source: &[f32], c: &[f32]) -> Vec<f32> {
    let [nx, ny, nz, _] = p.grid.map(|v| v as i64);
    let diff = |i: usize| {
        if mineral[i] >= 0.5 {
            p.d_bone_um2_per_day
        } else {
            p.d_marrow_um2_per_day
        }
    };
    let inv_h2 = 1.0 / (p.voxel_size_um * p.voxel_size_um);
    let mut out = vec![0.0; c.len()];
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                let i = (x + nx * (y + ny * z)) as usize;
                let di = diff(i);
                let mut num = source[i];
                let mut den = p.decay_per_day;
                for (dx, dy, dz) in [
                    (-1, 0, 0),
                    (1, 0, 0),
                    (0, -1, 0),
                    (0, 1, 0),
                    (0, 0, -1),
                    (0, 0, 1),
                ] {
                    let (a, b, cc) = (x + dx, y + dy, z + dz);
                    if a < 0 || b < 0 || cc < 0 || a >= nx || b >= ny || cc >= nz {
                        continue;
                    }
                    let j = (a + nx * (b + ny * cc)) as usize;
                    let dj = diff(j);
                    let df = if di + dj > 0.0 {
                        2.0 * di * dj / (di + dj)
                    } else {
                        0.0
                    } * inv_h2;
                    num += df * c[j];
                    den += df;
                }
                out[i] = num / den;
            }
        }
    }
    out
}
