//! The scan and reduce kernels against CPU loops: the scan exactly, the sum
//! bit for bit against its CPU twin; both independent of the workgroup size.

mod common;

use trabecula::gpu::{GpuContext, read_buffer, rng, storage_buffer_init, storage_buffer_zeroed};
use trabecula::scan::{Reduce, Scan, exclusive_scan_cpu, sum_cpu};

/// Random u32 in 0..4, keyed on (n, i).
fn counts(n: u32) -> Vec<u32> {
    (0..n).map(|i| rng::pcg4d([7, n, i, 0])[0] % 4).collect()
}

/// Scans `input` on the GPU; returns (output, total read at element 2).
fn gpu_scan(ctx: &GpuContext, scan: &mut Scan, input: &[u32]) -> (Vec<u32>, u32) {
    let d = &ctx.device;
    let n = input.len() as u32;
    let ib = storage_buffer_init(d, "in", input);
    let ob = storage_buffer_zeroed(d, "out", 4 * n as u64);
    let tb = storage_buffer_init(d, "total", &[u32::MAX; 4]);
    let mut enc = d.create_command_encoder(&Default::default());
    scan.record(ctx, &mut enc, &ib, &ob, n, &tb, 2);
    ctx.submit_and_wait(enc);
    let out = read_buffer(d, &ctx.queue, &ob, 0, n as u64);
    let total: Vec<u32> = read_buffer(d, &ctx.queue, &tb, 0, 4);
    assert_eq!(
        [total[0], total[1], total[3]],
        [u32::MAX; 3],
        "only total[2] written"
    );
    (out, total[2])
}

#[test]
fn exclusive_scan_matches_cpu_for_many_sizes_and_workgroup_sizes() {
    let ctx = common::gpu();
    eprintln!(
        "adapter: {}, max binding {} B, storage offset alignment {}",
        ctx.summary.one_line(),
        ctx.max_binding_bytes(),
        ctx.device.limits().min_storage_buffer_offset_alignment
    );
    let mut outs = Vec::new();
    for wg in [64, 256] {
        let mut scan = Scan::new(&ctx, wg).unwrap();
        let mut this = Vec::new();
        // 4097 and 300 000 take three and four levels; the same Scan is reused.
        for n in [0u32, 1, 63, 64, 65, 1000, 4096, 4097, 300_000] {
            let input = counts(n);
            let (out, total) = gpu_scan(&ctx, &mut scan, &input);
            let (want, want_total) = exclusive_scan_cpu(&input);
            assert_eq!(out, want, "n = {n}, WG = {wg}");
            assert_eq!(total, want_total, "n = {n}, WG = {wg}: total");
            this.push((out, total));
        }
        outs.push(this);
    }
    assert!(outs[0] == outs[1], "workgroup size changed the scan");
}

#[test]
fn scan_in_windows_equals_scan_in_one_binding() {
    // Level 0 bound in windows of 1024 elements (as a 40-million-element
    // input is on a 128 MiB binding limit) gives the same result.
    let ctx = common::gpu();
    let mut scan = Scan::new(&ctx, 64).unwrap();
    scan.set_window_cap(Some(1024));
    for n in [1000u32, 1024, 1025, 5000, 300_001] {
        let input = counts(n);
        let (out, total) = gpu_scan(&ctx, &mut scan, &input);
        let (want, want_total) = exclusive_scan_cpu(&input);
        assert_eq!(out, want, "n = {n}");
        assert_eq!(total, want_total, "n = {n}: total");
    }
}

#[test]
fn several_scans_in_one_encoder_share_scratch_safely() {
    let ctx = common::gpu();
    let d = &ctx.device;
    let mut scan = Scan::new(&ctx, 64).unwrap();
    let sizes = [300_000u32, 5000, 70_000];
    let inputs: Vec<Vec<u32>> = sizes
        .iter()
        .map(|&n| (0..n).map(|i| rng::pcg4d([9, n, i, 0])[0] % 3).collect())
        .collect();
    let ins: Vec<_> = inputs
        .iter()
        .map(|v| storage_buffer_init(d, "in", v))
        .collect();
    let outs: Vec<_> = sizes
        .iter()
        .map(|&n| storage_buffer_zeroed(d, "out", 4 * n as u64))
        .collect();
    let tb = storage_buffer_zeroed(d, "totals", 16);
    let mut enc = d.create_command_encoder(&Default::default());
    for k in 0..sizes.len() {
        scan.record(&ctx, &mut enc, &ins[k], &outs[k], sizes[k], &tb, k as u32);
    }
    ctx.submit_and_wait(enc);
    let totals: Vec<u32> = read_buffer(d, &ctx.queue, &tb, 0, 3);
    for k in 0..sizes.len() {
        let (want, want_total) = exclusive_scan_cpu(&inputs[k]);
        let out: Vec<u32> = read_buffer(d, &ctx.queue, &outs[k], 0, sizes[k] as u64);
        assert_eq!(out, want, "scan {k}");
        assert_eq!(totals[k], want_total, "scan {k}: total");
    }
}

/// Sums `values` on the GPU into element 1 of a 4-element buffer.
fn gpu_sum(ctx: &GpuContext, reduce: &mut Reduce, values: &[f32]) -> f32 {
    let d = &ctx.device;
    let ib = storage_buffer_init(d, "in", values);
    let ob = storage_buffer_init(d, "out", &[f32::NAN; 4]);
    let mut enc = d.create_command_encoder(&Default::default());
    reduce.record_sum(ctx, &mut enc, &ib, values.len() as u32, &ob, 1);
    ctx.submit_and_wait(enc);
    let out: Vec<f32> = read_buffer(d, &ctx.queue, &ob, 0, 4);
    assert!(out[0].is_nan() && out[2].is_nan() && out[3].is_nan());
    out[1]
}

fn values(n: u32) -> Vec<f32> {
    (0..n)
        .map(|i| rng::uniform(3, 0, i, 1) * 2.0 - 0.5)
        .collect()
}

#[test]
fn reduce_is_a_fixed_tree_equal_to_its_cpu_twin() {
    let ctx = common::gpu();
    let n = 1_000_003u32;
    let v = values(n);
    let mut bits = Vec::new();
    for wg in [64, 256] {
        let mut r = Reduce::new(&ctx, wg).unwrap();
        bits.push(gpu_sum(&ctx, &mut r, &v).to_bits());
    }
    assert_eq!(bits[0], bits[1], "workgroup size changed the sum");
    let cpu = sum_cpu(&v);
    assert_eq!(
        f32::from_bits(bits[0]),
        cpu,
        "GPU tree equals the CPU twin bit for bit"
    );
    let exact: f64 = v.iter().map(|&x| x as f64).sum();
    assert!((cpu as f64 / exact - 1.0).abs() < 1e-6, "{cpu} vs {exact}");
}

#[test]
fn reduce_small_sizes_and_windows_match_the_cpu_twin() {
    let ctx = common::gpu();
    let mut r = Reduce::new(&ctx, 64).unwrap();
    let mut windowed = Reduce::new(&ctx, 256).unwrap();
    windowed.set_window_cap(Some(1024));
    for n in [0u32, 1, 63, 64, 65, 1000, 4096, 4097, 262_145] {
        let v = values(n);
        let cpu = sum_cpu(&v);
        assert_eq!(
            gpu_sum(&ctx, &mut r, &v).to_bits(),
            cpu.to_bits(),
            "n = {n}"
        );
        assert_eq!(
            gpu_sum(&ctx, &mut windowed, &v).to_bits(),
            cpu.to_bits(),
            "n = {n}, windows of 1024"
        );
    }
    assert_eq!(sum_cpu(&[]), 0.0);
}

#[test]
fn several_sums_in_one_encoder() {
    let ctx = common::gpu();
    let d = &ctx.device;
    let mut r = Reduce::new(&ctx, 64).unwrap();
    let sets: Vec<Vec<f32>> = [300_000u32, 70, 5000, 1_000_000]
        .iter()
        .map(|&n| values(n).iter().map(|x| x * n as f32).collect())
        .collect();
    let ins: Vec<_> = sets
        .iter()
        .map(|v| storage_buffer_init(d, "in", v))
        .collect();
    let ob = storage_buffer_zeroed(d, "sums", 4 * sets.len() as u64);
    let mut enc = d.create_command_encoder(&Default::default());
    for (k, v) in sets.iter().enumerate() {
        r.record_sum(&ctx, &mut enc, &ins[k], v.len() as u32, &ob, k as u32);
    }
    ctx.submit_and_wait(enc);
    let got: Vec<f32> = read_buffer(d, &ctx.queue, &ob, 0, sets.len() as u64);
    for (k, v) in sets.iter().enumerate() {
        assert_eq!(got[k].to_bits(), sum_cpu(v).to_bits(), "sum {k}");
    }
}
