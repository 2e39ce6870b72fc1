//! The mechanics operator against a plain copy on the same adapter, and a
//! whole solve. `cargo bench --bench mechanics`; the ratio of the operator's
//! time to the copy's (same node count) is what carries across adapters.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use trabecula::gpu::{GpuContext, storage_buffer_zeroed};
use trabecula::lattice::generate::{GeneratorSpec, generate};
use trabecula::mech::{MechParams, MechSolver, reference::node_count};

fn bench(c: &mut Criterion) {
    let ctx = GpuContext::new().expect("a GPU adapter");
    eprintln!("adapter: {}", ctx.summary.one_line());
    let mut g = c.benchmark_group("mech");
    g.sample_size(10);

    let n = 64usize;
    let dims = [n, n, n];
    let lat = generate(
        &ctx,
        &GeneratorSpec {
            dims,
            voxel_size_um: 20.0,
            bv_tv: 0.2,
            tb_th_um: 150.0,
            rod_weight: 0.5,
            anisotropy: 1.3,
            seed: 7,
        },
    )
    .expect("lattice")
    .lattice;
    let mut solver = MechSolver::new(&ctx, dims, 20.0, MechParams::default()).expect("solver");
    // Uploads the geometry and fills p.
    let x = vec![1e-3f32; 3 * node_count(dims)];
    solver
        .apply_operator(&ctx, &lat.mineral, &x)
        .expect("operator");

    // Plain copy of one displacement vector (3 f32 per node): reads and writes it once.
    let bytes = 12 * node_count(dims) as u64;
    let (a, b) = (
        storage_buffer_zeroed(&ctx.device, "a", bytes),
        storage_buffer_zeroed(&ctx.device, "b", bytes),
    );
    g.throughput(Throughput::Bytes(2 * bytes));
    g.bench_function("copy one vector 65³ nodes", |bench| {
        bench.iter(|| {
            let mut enc = ctx.device.create_command_encoder(&Default::default());
            enc.copy_buffer_to_buffer(&a, 0, &b, 0, bytes);
            ctx.submit_and_wait(enc);
        })
    });
    g.bench_function("operator K·p 64³ porous", |bench| {
        bench.iter(|| {
            let mut enc = ctx.device.create_command_encoder(&Default::default());
            solver.record_apply(&mut enc);
            ctx.submit_and_wait(enc);
        })
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("solve 64³ porous cold (tol 1e-6)", |bench| {
        bench.iter(|| solver.solve(&ctx, &lat.mineral, false).expect("solve"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
