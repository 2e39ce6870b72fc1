//! Quasi-steady reaction–diffusion of one signal (`shaders/signals/diffuse.wgsl`,
//! docs/design.md §5, Signals): warm-started Jacobi sweeps towards D∇²c − k c + s = 0.
//!
//! One sweep: `c'ᵢ = (Σ_f D_f/h² · c_f + sᵢ) / (Σ_f D_f/h² + k)` over the six
//! faces, with `D_f` the harmonic mean of the two voxels' diffusivities (bone
//! where mineral ≥ [`BONE_THRESHOLD`](crate::lattice::BONE_THRESHOLD), else marrow) and zero flux through the
//! block faces. Each voxel is computed alone from the previous state, so the
//! result does not depend on the workgroup size.

use crate::gpu::{GpuContext, Kernel, uniform_buffer};

crate::gpu_struct! {
    /// `shaders/signals/diffuse.wgsl`.
    #[derive(bytemuck::Pod, bytemuck::Zeroable, Clone, Copy, Debug, Default)]
    pub struct DiffuseParams in "signals/diffuse" {
        /// nx, ny, nz, n = nx·ny·nz (x fastest).
        pub grid: [u32; 4],
        pub voxel_size_um: f32,
        pub d_marrow_um2_per_day: f32,
        pub d_bone_um2_per_day: f32,
        /// k > 0 keeps every sweep's denominator positive.
        pub decay_per_day: f32,
    }
}

/// The Jacobi sweep pipeline.
pub struct Diffuse {
    sweep: Kernel,
}

impl Diffuse {
    /// Builds the pipeline with workgroup size `workgroup_size`.
    pub fn new(ctx: &GpuContext, workgroup_size: u32) -> anyhow::Result<Self> {
        Ok(Self {
            sweep: Kernel::new(&ctx.device, "signals/diffuse", "sweep", workgroup_size)?,
        })
    }

    /// Records `sweeps` Jacobi sweeps, ping-ponging between `c` and
    /// `scratch`; the final state is always in `c` (after an odd count the
    /// last sweep's result is copied from `scratch`, which therefore needs
    /// `COPY_SRC` and `c` `COPY_DST`, as every buffer from `gpu::buffers` has).
    ///
    /// `mineral` (f32 per voxel) decides bone vs marrow; `source` is s in
    /// concentration units per day (f32 per voxel); `c` holds the warm start.
    /// Only records: no submit, no readback.
    #[allow(clippy::too_many_arguments)] // the brief's signature: params + five buffers + count
    pub fn record(
        &self,
        ctx: &GpuContext,
        encoder: &mut wgpu::CommandEncoder,
        params: &DiffuseParams,
        mineral: &wgpu::Buffer,
        source: &wgpu::Buffer,
        c: &wgpu::Buffer,
        scratch: &wgpu::Buffer,
        sweeps: u32,
    ) {
        let [nx, ny, nz, n] = params.grid;
        assert_eq!(
            u64::from(nx) * u64::from(ny) * u64::from(nz),
            u64::from(n),
            "diffuse: grid n must be nx·ny·nz"
        );
        assert!(
            params.voxel_size_um > 0.0 && params.decay_per_day > 0.0,
            "diffuse: voxel size and decay must be positive"
        );
        let bytes = u64::from(n) * 4;
        for (name, b) in [
            ("mineral", mineral),
            ("source", source),
            ("c", c),
            ("scratch", scratch),
        ] {
            assert!(
                b.size() >= bytes,
                "diffuse: {name} holds fewer than {n} f32"
            );
        }
        // Fields are bound whole: the lattice must have been refused up front
        // (sim::state) if one f32 field exceeds the adapter's binding limit.
        assert!(
            bytes <= ctx.max_binding_bytes(),
            "diffuse: a {n}-voxel f32 field ({bytes} B) exceeds the binding limit ({} B)",
            ctx.max_binding_bytes()
        );
        if sweeps == 0 || n == 0 {
            return;
        }
        let d = &ctx.device;
        let u = uniform_buffer(d, "diffuse params", params);
        let forth = self.sweep.bind(
            d,
            &[
                ("P", &u),
                ("mineral", mineral),
                ("source", source),
                ("c_in", c),
                ("c_out", scratch),
            ],
        );
        let back = self.sweep.bind(
            d,
            &[
                ("P", &u),
                ("mineral", mineral),
                ("source", source),
                ("c_in", scratch),
                ("c_out", c),
            ],
        );
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(&self.sweep.label),
                timestamp_writes: None,
            });
            for s in 0..sweeps {
                let bg = if s % 2 == 0 { &forth } else { &back };
                self.sweep.dispatch(&mut pass, bg, n);
            }
        }
        if sweeps % 2 == 1 {
            encoder.copy_buffer_to_buffer(scratch, 0, c, 0, bytes);
        }
    }
}

/// CPU twin of one sweep of the WGSL kernel, for tests: returns c'.
pub fn jacobi_sweep_cpu(
    params: &DiffuseParams,
    mineral: &[f32],
    source: &[f32],
    c: &[f32],
) -> Vec<f32> {
    let p = params;
    let [nx, ny, nz, n] = p.grid.map(|v| v as i64);
    assert_eq!(nx * ny * nz, n, "grid n must be nx·ny·nz");
    assert!(mineral.len() as i64 >= n && source.len() as i64 >= n && c.len() as i64 >= n);
    let diffusivity = |i: usize| {
        if mineral[i] >= crate::lattice::BONE_THRESHOLD {
            p.d_bone_um2_per_day
        } else {
            p.d_marrow_um2_per_day
        }
    };
    let inv_h2 = 1.0 / (p.voxel_size_um * p.voxel_size_um);
    let mut out = vec![0.0; n as usize];
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                let i = (x + nx * (y + ny * z)) as usize;
                let di = diffusivity(i);
                let mut num = source[i];
                let mut den = p.decay_per_day;
                // Same face order as the shader: −x, +x, −y, +y, −z, +z.
                for (dx, dy, dz) in [
                    (-1, 0, 0),
                    (1, 0, 0),
                    (0, -1, 0),
                    (0, 1, 0),
                    (0, 0, -1),
                    (0, 0, 1),
                ] {
                    let (a, b, e) = (x + dx, y + dy, z + dz);
                    if a < 0 || b < 0 || e < 0 || a >= nx || b >= ny || e >= nz {
                        continue; // zero flux through the block faces
                    }
                    let j = (a + nx * (b + ny * e)) as usize;
                    let dj = diffusivity(j);
                    let harmonic = if di + dj > 0.0 {
                        2.0 * di * dj / (di + dj)
                    } else {
                        0.0
                    };
                    let df = harmonic * inv_h2;
                    num += df * c[j];
                    den += df;
                }
                out[i] = num / den;
            }
        }
    }
    out
}
