//! The procedural lattice generator: each kernel against a CPU oracle, and
//! the lattice against its targets.

mod common;

use trabecula::gpu::{
    GpuContext, Kernel, read_buffer, rng, storage_buffer_init, storage_buffer_zeroed,
    uniform_buffer,
};
use trabecula::lattice::generate::{GenParams, Generator, GeneratorSpec, HIST_BINS};

fn spec(bv_tv: f64, tb_th_um: f64, seed: u32) -> GeneratorSpec {
    GeneratorSpec {
        dims: [48, 48, 48],
        voxel_size_um: 20.0,
        bv_tv,
        tb_th_um,
        rod_weight: 0.5,
        anisotropy: 1.3,
        seed,
    }
}

/// Runs one generator entry point on `src` and returns `dst` (and the histogram).
fn run_one(
    ctx: &GpuContext,
    k: &Kernel,
    p: GenParams,
    src: &[f32],
    dst0: &[f32],
    wide: &[f32],
) -> (Vec<f32>, Vec<u32>) {
    let d = &ctx.device;
    let u = uniform_buffer(d, "p", &p);
    let s = storage_buffer_init(d, "src", src);
    let t = storage_buffer_init(d, "dst", dst0);
    let w = storage_buffer_init(d, "wide", wide);
    let h = storage_buffer_zeroed(d, "hist", 4 * (HIST_BINS as u64 + 1));
    let bg = k.bind(
        d,
        &[
            ("P", &u),
            ("src", &s),
            ("dst", &t),
            ("wide", &w),
            ("hist", &h),
        ],
    );
    let mut enc = d.create_command_encoder(&Default::default());
    k.run(&mut enc, &bg, p.grid[3]);
    ctx.submit_and_wait(enc);
    let out = read_buffer(d, &ctx.queue, &t, 0, src.len() as u64);
    let hist = read_buffer(d, &ctx.queue, &h, 0, HIST_BINS as u64 + 1);
    (out, hist)
}

fn test_field(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| rng::uniform(9, 0, i as u32, 99) * 2.0 - 1.0)
        .collect()
}

#[test]
fn rng_kernel_matches_cpu_twin_statistics() {
    let ctx = common::gpu();
    let g = Generator::new(&ctx, 64).unwrap();
    let dims = [16u32, 16, 16];
    let n = 4096;
    let p = GenParams {
        grid: [dims[0], dims[1], dims[2], n],
        seed: 5,
        field: 1,
        ..Default::default()
    };
    let zero = vec![0.0f32; n as usize];
    let (noise, _) = run_one(&ctx, &g.noise, p, &zero, &zero, &zero);
    // Box–Muller on the CPU twin's hash words gives the same normals.
    for (i, &x) in noise.iter().enumerate() {
        let h = rng::pcg4d([5, 1, i as u32, 1]);
        let u1 = ((h[0] >> 8) as f64 + 1.0) / 16_777_216.0;
        let u2 = (h[1] >> 8) as f64 / 16_777_216.0;
        let expect = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        assert!(
            (x as f64 - expect).abs() < 1e-3,
            "voxel {i}: gpu {x} cpu {expect}"
        );
    }
    let mean = noise.iter().map(|&x| x as f64).sum::<f64>() / n as f64;
    let var = noise
        .iter()
        .map(|&x| (x as f64 - mean).powi(2))
        .sum::<f64>()
        / n as f64;
    assert!(
        mean.abs() < 0.05 && (var - 1.0).abs() < 0.08,
        "mean {mean} var {var}"
    );
}

#[test]
fn blur_kernel_matches_cpu_convolution() {
    let ctx = common::gpu();
    let g = Generator::new(&ctx, 64).unwrap();
    let dims = [12usize, 10, 9];
    let n = dims.iter().product::<usize>();
    let src = test_field(n);
    for axis in 0..3 {
        let (sigma, radius) = (1.7f32, 4u32);
        let p = GenParams {
            grid: [dims[0] as u32, dims[1] as u32, dims[2] as u32, n as u32],
            axis: axis as u32,
            sigma,
            radius,
            ..Default::default()
        };
        let zero = vec![0.0; n];
        let (out, _) = run_one(&ctx, &g.blur, p, &src, &zero, &zero);
        for z in 0..dims[2] {
            for y in 0..dims[1] {
                for x in 0..dims[0] {
                    let mut acc = 0.0f64;
                    let mut norm = 0.0f64;
                    for k in -(radius as i64)..=radius as i64 {
                        let mut q = [x as i64, y as i64, z as i64];
                        q[axis] = (q[axis] + k).rem_euclid(dims[axis] as i64);
                        let w = (-(k * k) as f64 / (2.0 * (sigma as f64).powi(2))).exp();
                        acc += w * src
                            [q[0] as usize + dims[0] * (q[1] as usize + dims[1] * q[2] as usize)]
                            as f64;
                        norm += w;
                    }
                    let i = x + dims[0] * (y + dims[1] * z);
                    assert!(
                        (out[i] as f64 - acc / norm).abs() < 1e-5,
                        "axis {axis} voxel {i}"
                    );
                }
            }
        }
    }
}

#[test]
fn band_threshold_and_histogram_kernels_match_cpu() {
    let ctx = common::gpu();
    let g = Generator::new(&ctx, 64).unwrap();
    let n = 1000usize;
    let grid = [10, 10, 10, n as u32];
    let a = test_field(n);
    let b: Vec<f32> = test_field(n).iter().map(|x| x * 0.3).rev().collect();
    let prev: Vec<f32> = (0..n).map(|i| i as f32 * 1e-3).collect();
    // band with accumulation: dst = prev + w (a − b)²
    let p = GenParams {
        grid,
        weight: 0.7,
        accumulate: 1,
        ..Default::default()
    };
    let (g2, _) = run_one(&ctx, &g.band, p, &a, &prev, &b);
    for i in 0..n {
        let expect = prev[i] + 0.7 * (a[i] - b[i]).powi(2);
        assert!((g2[i] - expect).abs() < 1e-6);
    }
    // threshold: 1 where g2 < t
    let p = GenParams {
        grid,
        threshold: 0.4,
        ..Default::default()
    };
    let zero = vec![0.0; n];
    let (m, _) = run_one(&ctx, &g.threshold, p, &g2, &zero, &zero);
    for i in 0..n {
        assert_eq!(m[i], if g2[i] < 0.4 { 1.0 } else { 0.0 });
    }
    // histogram counts and max bits: exact integers
    let p = GenParams {
        grid,
        lo: 0.1,
        hi: 1.3,
        bins: HIST_BINS,
        ..Default::default()
    };
    let (_, hist) = run_one(&ctx, &g.histogram, p, &g2, &zero, &zero);
    let mut expect = vec![0u32; HIST_BINS as usize];
    for &v in &g2 {
        if (0.1..1.3).contains(&v) {
            let b = (((v - 0.1) / (1.3 - 0.1) * HIST_BINS as f32) as u32).min(HIST_BINS - 1);
            expect[b as usize] += 1;
        }
    }
    assert_eq!(&hist[..HIST_BINS as usize], &expect[..]);
    let max = g2.iter().cloned().fold(0.0f32, f32::max);
    assert_eq!(f32::from_bits(hist[HIST_BINS as usize]), max);
}

#[test]
fn same_seed_same_bytes_other_seed_differs() {
    let ctx = common::gpu();
    let g = Generator::new(&ctx, 64).unwrap();
    let s = spec(0.2, 150.0, 11);
    let a = g.field(&ctx, s.dims, 2.0, &s).unwrap();
    let b = g.field(&ctx, s.dims, 2.0, &s).unwrap();
    assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
    let c = g
        .field(
            &ctx,
            s.dims,
            2.0,
            &GeneratorSpec {
                seed: 12,
                ..s.clone()
            },
        )
        .unwrap();
    assert_ne!(a, c);
    // Another workgroup size gives the same bytes.
    let g2 = Generator::new(&ctx, 128).unwrap();
    let d = g2.field(&ctx, s.dims, 2.0, &s).unwrap();
    assert!(a.iter().zip(&d).all(|(x, y)| x.to_bits() == y.to_bits()));
}

#[test]
fn bv_tv_hits_three_targets() {
    let ctx = common::gpu();
    let g = Generator::new(&ctx, 64).unwrap();
    for target in [0.1, 0.2, 0.3] {
        let s = spec(target, 150.0, 3);
        let m = g.field(&ctx, s.dims, 2.5, &s).unwrap();
        let bv = m.iter().filter(|&&x| x >= 0.5).count() as f64 / m.len() as f64;
        assert!((bv - target).abs() <= 0.01, "target {target}: got {bv}");
    }
}

#[test]
fn tb_th_meets_targets_human_and_mouse() {
    let ctx = common::gpu();
    let g = Generator::new(&ctx, 64).unwrap();
    let cases = [
        // human: 20 µm voxels, Tb.Th 150 µm
        GeneratorSpec {
            dims: [64, 64, 64],
            ..spec(0.2, 150.0, 4)
        },
        // mouse: 8 µm voxels, BV/TV 0.12, Tb.Th 50 µm
        GeneratorSpec {
            dims: [64, 64, 64],
            voxel_size_um: 8.0,
            bv_tv: 0.12,
            tb_th_um: 50.0,
            rod_weight: 0.7,
            anisotropy: 1.2,
            seed: 4,
        },
    ];
    for s in cases {
        let out = g.generate(&ctx, &s).unwrap();
        let m = trabecula::sim::metrics::lattice_morphometry(&out.lattice);
        assert!(
            (m.bv_tv - s.bv_tv).abs() <= 0.01,
            "{s:?}: BV/TV {}",
            m.bv_tv
        );
        let rel = m.tb_th_um / s.tb_th_um - 1.0;
        assert!(
            rel.abs() <= 0.15,
            "{s:?}: Tb.Th {} µm ({:+.1} %), calibration {:?}",
            m.tb_th_um,
            rel * 100.0,
            out.calibration
        );
    }
}

#[test]
fn oversized_lattice_is_refused_up_front() {
    let ctx = common::gpu();
    let g = Generator::new(&ctx, 64).unwrap();
    let edge = ((ctx.max_binding_bytes() / 4) as f64).cbrt() as usize + 8;
    let s = GeneratorSpec {
        dims: [edge, edge, edge],
        ..spec(0.2, 150.0, 1)
    };
    let e = g.generate(&ctx, &s).unwrap_err().to_string();
    assert!(
        e.contains("MiB") && e.contains("max_storage_buffer_binding_size"),
        "{e}"
    );
}
