//! Reaction–diffusion of the signals against a CPU twin and analytic answers.

mod common;

use trabecula::gpu::{GpuContext, read_buffer, rng, storage_buffer_init, storage_buffer_zeroed};
use trabecula::signals::{Diffuse, DiffuseParams, jacobi_sweep_cpu};

fn solve(
    ctx: &GpuContext,
    p: &DiffuseParams,
    mineral: &[f32],
    source: &[f32],
    c0: &[f32],
    sweeps: u32,
    wg: u32,
) -> Vec<f32> {
    let d = &ctx.device;
    let n = mineral.len() as u64;
    let (m, s, c) = (
        storage_buffer_init(d, "m", mineral),
        storage_buffer_init(d, "s", source),
        storage_buffer_init(d, "c", c0),
    );
    let t = storage_buffer_zeroed(d, "t", 4 * n);
    let k = Diffuse::new(ctx, wg).unwrap();
    let mut enc = d.create_command_encoder(&Default::default());
    k.record(ctx, &mut enc, p, &m, &s, &c, &t, sweeps);
    ctx.submit_and_wait(enc);
    read_buffer(d, &ctx.queue, &c, 0, n)
}

fn params(dims: [u32; 3], dm: f32, db: f32, k: f32) -> DiffuseParams {
    DiffuseParams {
        grid: [dims[0], dims[1], dims[2], dims[0] * dims[1] * dims[2]],
        voxel_size_um: 10.0,
        d_marrow_um2_per_day: dm,
        d_bone_um2_per_day: db,
        decay_per_day: k,
    }
}

#[test]
fn one_sweep_equals_cpu_twin_and_is_workgroup_independent() {
    let ctx = common::gpu();
    let p = params([12, 10, 9], 5000.0, 500.0, 20.0);
    let n = 1080;
    let mineral: Vec<f32> = (0..n)
        .map(|i| {
            if rng::uniform(1, 0, i, 0) < 0.4 {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    let source: Vec<f32> = (0..n).map(|i| rng::uniform(1, 0, i, 1) * 10.0).collect();
    let c0: Vec<f32> = (0..n).map(|i| rng::uniform(1, 0, i, 2)).collect();
    // Two sweeps: GPU ping-pongs; the CPU twin sweeps twice.
    let gpu = solve(&ctx, &p, &mineral, &source, &c0, 2, 64);
    let cpu = jacobi_sweep_cpu(
        &p,
        &mineral,
        &source,
        &jacobi_sweep_cpu(&p, &mineral, &source, &c0),
    );
    for i in 0..n as usize {
        assert!(
            (gpu[i] - cpu[i]).abs() <= 1e-5 * cpu[i].abs().max(1.0),
            "voxel {i}: {} vs {}",
            gpu[i],
            cpu[i]
        );
    }
    let other = solve(&ctx, &p, &mineral, &source, &c0, 2, 256);
    assert!(
        gpu.iter()
            .zip(&other)
            .all(|(a, b)| a.to_bits() == b.to_bits())
    );
}

#[test]
fn uniform_source_converges_to_s_over_k() {
    let ctx = common::gpu();
    let p = params([8, 8, 8], 3000.0, 300.0, 12.0);
    let n = 512;
    let c = solve(
        &ctx,
        &p,
        &vec![0.0; n],
        &vec![6.0; n],
        &vec![0.0; n],
        400,
        64,
    );
    assert!(c.iter().all(|&v| (v - 0.5).abs() < 1e-4), "{:?}", &c[..4]);
}

#[test]
fn plane_source_decays_with_the_diffusion_length_and_conserves_mass() {
    let ctx = common::gpu();
    let dims = [160u32, 2, 2];
    let (dm, k) = (8000.0f32, 20.0f32); // L = √(D/k) = 20 µm = 2 voxels
    let p = params(dims, dm, dm, k);
    let n = 640;
    let mut source = vec![0.0f32; n];
    // The x = 0 end plane of the 160 × 2 × 2 block.
    for s in source.iter_mut().step_by(160) {
        *s = 100.0;
    }
    let c = solve(&ctx, &p, &vec![0.0; n], &source, &vec![0.0; n], 3000, 64);
    // Discrete decay per voxel: c(x+1)/c(x) = λ with (D/h²)(λ + 1/λ − 2) = k.
    let a = k / (dm / 100.0);
    let lambda = ((2.0 + a) - ((2.0 + a).powi(2) - 4.0).sqrt()) / 2.0;
    for x in 3..30 {
        let ratio = c[x + 1] / c[x];
        assert!(
            (ratio - lambda).abs() < 0.01 * lambda,
            "x = {x}: {ratio} vs {lambda}"
        );
    }
    // Continuum: over one diffusion length (2 voxels) the signal falls by ≈ e (within discretisation).
    assert!(((c[12] / c[10]).ln() + 1.0).abs() < 0.1);
    // Sources balance decay in steady state (Neumann faces).
    let produced: f64 = source.iter().map(|&s| s as f64).sum();
    let decayed: f64 = c.iter().map(|&v| (k * v) as f64).sum();
    assert!(
        (decayed / produced - 1.0).abs() < 1e-3,
        "{decayed} vs {produced}"
    );
}
