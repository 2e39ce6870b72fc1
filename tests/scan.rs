//! The scan and reduce kernels against CPU loops.

mod common;

use trabecula::gpu::{read_buffer, rng, storage_buffer_init, storage_buffer_zeroed};
use trabecula::scan::{Reduce, Scan, sum_cpu};

#[test]
fn exclusive_scan_matches_cpu_for_many_sizes() {
    let ctx = common::gpu();
    let d = &ctx.device;
    let mut outs = Vec::new();
    for wg in [64, 256] {
        let mut scan = Scan::new(&ctx, wg).unwrap();
        let mut this = Vec::new();
        for n in [0u32, 1, 63, 64, 65, 1000, 4097, 300_000] {
            let input: Vec<u32> = (0..n).map(|i| rng::pcg4d([7, n, i, 0])[0] % 4).collect();
            let ib = storage_buffer_init(d, "in", &input);
            let ob = storage_buffer_zeroed(d, "out", 4 * n as u64);
            let tb = storage_buffer_zeroed(d, "total", 16);
            let mut enc = d.create_command_encoder(&Default::default());
            scan.record(&ctx, &mut enc, &ib, &ob, n, &tb, 2);
            ctx.submit_and_wait(enc);
            let out: Vec<u32> = read_buffer(d, &ctx.queue, &ob, 0, n as u64);
            let total: Vec<u32> = read_buffer(d, &ctx.queue, &tb, 0, 4);
            let mut s = 0;
            for i in 0..n as usize {
                assert_eq!(out[i], s, "n = {n}, i = {i}");
                s += input[i];
            }
            assert_eq!(total[2], s, "n = {n} total");
            this.push(out);
        }
        outs.push(this);
    }
    assert_eq!(outs[0], outs[1], "workgroup size changed the scan");
}

#[test]
fn reduce_is_a_fixed_tree_equal_to_its_cpu_twin() {
    let ctx = common::gpu();
    let d = &ctx.device;
    let n = 1_000_003u32;
    let values: Vec<f32> = (0..n)
        .map(|i| rng::uniform(3, 0, i, 1) * 2.0 - 0.5)
        .collect();
    let ib = storage_buffer_init(d, "in", &values);
    let ob = storage_buffer_zeroed(d, "out", 16);
    let mut bits = Vec::new();
    for wg in [64, 256] {
        let mut r = Reduce::new(&ctx, wg).unwrap();
        let mut enc = d.create_command_encoder(&Default::default());
        r.record_sum(&ctx, &mut enc, &ib, n, &ob, 1);
        ctx.submit_and_wait(enc);
        bits.push(read_buffer::<f32>(d, &ctx.queue, &ob, 0, 4)[1].to_bits());
    }
    assert_eq!(bits[0], bits[1], "workgroup size changed the sum");
    let cpu = sum_cpu(&values);
    assert_eq!(
        f32::from_bits(bits[0]),
        cpu,
        "GPU tree equals the CPU twin bit for bit"
    );
    let exact: f64 = values.iter().map(|&v| v as f64).sum();
    assert!((cpu as f64 / exact - 1.0).abs() < 1e-6, "{cpu} vs {exact}");
}
