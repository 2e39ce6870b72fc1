//! Reaction–diffusion of the signals against its CPU twin, analytic steady
//! states and the balance of sources and decay.

mod common;

use trabecula::gpu::{GpuContext, read_buffer, rng, storage_buffer_init, storage_buffer_zeroed};
use trabecula::signals::{Diffuse, DiffuseParams, jacobi_sweep_cpu};

/// Runs `sweeps` sweeps from `c0` on the GPU and reads `c` back.
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
        storage_buffer_init(d, "mineral", mineral),
        storage_buffer_init(d, "source", source),
        storage_buffer_init(d, "c", c0),
    );
    let t = storage_buffer_zeroed(d, "scratch", 4 * n);
    let k = Diffuse::new(ctx, wg).unwrap();
    let mut enc = d.create_command_encoder(&Default::default());
    k.record(ctx, &mut enc, p, &m, &s, &c, &t, sweeps);
    ctx.submit_and_wait(enc);
    read_buffer(d, &ctx.queue, &c, 0, n)
}

fn params(dims: [u32; 3], d_marrow: f32, d_bone: f32, k: f32) -> DiffuseParams {
    DiffuseParams {
        grid: [dims[0], dims[1], dims[2], dims[0] * dims[1] * dims[2]],
        voxel_size_um: 10.0,
        d_marrow_um2_per_day: d_marrow,
        d_bone_um2_per_day: d_bone,
        decay_per_day: k,
    }
}

/// A random 12 × 10 × 9 block, 40 % bone: (params, mineral, source, c0).
fn mixed_block() -> (DiffuseParams, Vec<f32>, Vec<f32>, Vec<f32>) {
    let p = params([12, 10, 9], 5000.0, 500.0, 20.0);
    let n = p.grid[3];
    let mineral = (0..n)
        .map(|i| {
            // Fractions on both sides of the 0.5 threshold, not just 0 and 1.
            let u = rng::uniform(1, 0, i, 0);
            if u < 0.4 { 0.5 + u } else { u - 0.4 }
        })
        .collect();
    let source = (0..n).map(|i| rng::uniform(1, 0, i, 1) * 10.0).collect();
    let c0 = (0..n).map(|i| rng::uniform(1, 0, i, 2)).collect();
    (p, mineral, source, c0)
}

fn assert_close(gpu: &[f32], cpu: &[f32], rel: f32, what: &str) {
    assert_eq!(gpu.len(), cpu.len());
    for (i, (g, c)) in gpu.iter().zip(cpu).enumerate() {
        assert!(
            (g - c).abs() <= rel * c.abs(),
            "{what}: voxel {i}: GPU {g} vs CPU {c}"
        );
    }
}

#[test]
fn sweeps_equal_the_cpu_twin() {
    let ctx = common::gpu();
    let (p, mineral, source, c0) = mixed_block();
    // One sweep (odd: the result is copied back into `c`).
    let one = jacobi_sweep_cpu(&p, &mineral, &source, &c0);
    assert_close(
        &solve(&ctx, &p, &mineral, &source, &c0, 1, 64),
        &one,
        1e-6,
        "1 sweep",
    );
    // Two and three sweeps: the ping-pong in both directions.
    let two = jacobi_sweep_cpu(&p, &mineral, &source, &one);
    assert_close(
        &solve(&ctx, &p, &mineral, &source, &c0, 2, 64),
        &two,
        2e-6,
        "2 sweeps",
    );
    let three = jacobi_sweep_cpu(&p, &mineral, &source, &two);
    assert_close(
        &solve(&ctx, &p, &mineral, &source, &c0, 3, 64),
        &three,
        3e-6,
        "3 sweeps",
    );
    // Zero sweeps leave the warm start untouched.
    assert_eq!(solve(&ctx, &p, &mineral, &source, &c0, 0, 64), c0);
}

#[test]
fn workgroup_size_does_not_change_a_bit() {
    let ctx = common::gpu();
    let (p, mineral, source, c0) = mixed_block();
    let a = solve(&ctx, &p, &mineral, &source, &c0, 7, 64);
    let b = solve(&ctx, &p, &mineral, &source, &c0, 7, 256);
    let again = solve(&ctx, &p, &mineral, &source, &c0, 7, 64);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a), bits(&b), "WG 64 vs 256");
    assert_eq!(bits(&a), bits(&again), "run to run");
}

#[test]
fn uniform_source_in_marrow_converges_to_s_over_k() {
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
    // s / k = 6 / 12.
    assert!(c.iter().all(|&v| (v - 0.5).abs() < 1e-5), "{:?}", &c[..4]);
}

#[test]
fn plane_source_decays_over_the_diffusion_length() {
    let ctx = common::gpu();
    // L = √(D/k) = √(12 800 / 2) = 80 µm = 8 voxels of 10 µm.
    let (d_marrow, k) = (12_800.0f32, 2.0f32);
    let l_voxels = 8;
    let nx = 128;
    let p = params([nx as u32, 1, 1], d_marrow, d_marrow, k);
    let mut source = vec![0.0f32; nx];
    source[0] = 100.0; // the x = 0 end plane
    // Jacobi contracts by ≈ 2D/h² / (2D/h² + k) = 256/258 per sweep: 6000 sweeps ≈ e⁻⁴⁶.
    let c = solve(&ctx, &p, &vec![0.0; nx], &source, &vec![0.0; nx], 6000, 64);
    // Away from the source plane and far from the other end (reflection there ~ e⁻¹⁵).
    for x in 2..64 {
        let ratio = c[x + l_voxels] / c[x];
        let e_inv = (-1.0f32).exp();
        assert!(
            (ratio / e_inv - 1.0).abs() < 0.02,
            "x = {x}: c(x+L)/c(x) = {ratio}, want e⁻¹ = {e_inv}"
        );
    }
    // Sources balance decay (Neumann faces): Σ k c V = Σ s V.
    let produced: f64 = source.iter().map(|&s| s as f64).sum();
    let decayed: f64 = c.iter().map(|&v| k as f64 * v as f64).sum();
    assert!(
        (decayed / produced - 1.0).abs() < 1e-3,
        "{decayed} vs {produced}"
    );
}

#[test]
fn steady_state_balances_sources_and_decay_across_bone_and_marrow() {
    let ctx = common::gpu();
    let (p, mineral, source, _) = mixed_block();
    let n = p.grid[3] as usize;
    // Contraction ≤ 6·50 / (6·50 + 20) per sweep: 600 sweeps ≈ e⁻³⁹.
    let c = solve(&ctx, &p, &mineral, &source, &vec![0.0; n], 600, 64);
    let k = p.decay_per_day as f64;
    let produced: f64 = source.iter().map(|&s| s as f64).sum();
    let decayed: f64 = c.iter().map(|&v| k * v as f64).sum();
    assert!(
        (decayed / produced - 1.0).abs() < 1e-3,
        "Σ k c = {decayed} vs Σ s = {produced}"
    );
    // And it is a fixed point of the CPU twin.
    assert_close(
        &jacobi_sweep_cpu(&p, &mineral, &source, &c),
        &c,
        1e-5,
        "fixed point",
    );
}
