//! Throughput of the diffusion sweep and of a whole step, beside a plain
//! GPU buffer copy on the same adapter (the bandwidth ceiling): compare the
//! GiB/s criterion reports for each. `cargo bench --bench step`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use trabecula::gpu::{GpuContext, storage_buffer_zeroed};
use trabecula::scene;
use trabecula::signals::{Diffuse, DiffuseParams};
use trabecula::sim::Simulation;
use trabecula::sim::mechanics::uniform_sed;

fn bench(c: &mut Criterion) {
    let ctx = GpuContext::new().expect("a GPU adapter");
    eprintln!("adapter: {}", ctx.summary.one_line());
    let mut g = c.benchmark_group("gpu");
    g.sample_size(10);

    // Plain copy: reads and writes each byte once.
    let n: u64 = 64 * 64 * 64 * 16;
    let (a, b) = (
        storage_buffer_zeroed(&ctx.device, "a", 4 * n),
        storage_buffer_zeroed(&ctx.device, "b", 4 * n),
    );
    g.throughput(Throughput::Bytes(8 * n));
    g.bench_function("copy 16 MiB", |bench| {
        bench.iter(|| {
            let mut enc = ctx.device.create_command_encoder(&Default::default());
            enc.copy_buffer_to_buffer(&a, 0, &b, 0, 4 * n);
            ctx.submit_and_wait(enc);
        })
    });

    // One Jacobi sweep on 128³: reads mineral, source and 7 values of c, writes c.
    let dims = 128u32;
    let nv = (dims * dims * dims) as u64;
    let bufs: Vec<_> = (0..4)
        .map(|_| storage_buffer_zeroed(&ctx.device, "f", 4 * nv))
        .collect();
    let p = DiffuseParams {
        grid: [dims, dims, dims, nv as u32],
        voxel_size_um: 20.0,
        d_marrow_um2_per_day: 86_400.0,
        d_bone_um2_per_day: 8_640.0,
        decay_per_day: 24.0,
    };
    let diffuse = Diffuse::new(&ctx, 64).unwrap();
    // Bytes a sweep must move at least: mineral + source + c in, c out.
    g.throughput(Throughput::Bytes(16 * nv * 2));
    g.bench_function("diffuse 2 sweeps 128³", |bench| {
        bench.iter(|| {
            let mut enc = ctx.device.create_command_encoder(&Default::default());
            diffuse.record(
                &ctx, &mut enc, &p, &bufs[0], &bufs[1], &bufs[2], &bufs[3], 2,
            );
            ctx.submit_and_wait(enc);
        })
    });

    // A whole day on a 64³ human lattice (the demo scene's, enlarged; the
    // step's cost does not depend on a spin-up).
    let sets = [
        "lattice.dims=[64,64,64]".to_string(),
        "spin_up_days=0".to_string(),
    ];
    let scene = scene::load(std::path::Path::new("scenes/demo.toml"), &sets).unwrap();
    let (lat, _) = trabecula::lattice::from_scene(&ctx, &scene).unwrap();
    let sed = uniform_sed(&scene, &lat);
    let mut sim = Simulation::with_sed(&ctx, &scene, &lat, &sed, 64).unwrap();
    g.throughput(Throughput::Elements(lat.len() as u64));
    g.bench_function("step 64³ (voxels/s)", |bench| {
        bench.iter(|| sim.advance(&ctx).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
