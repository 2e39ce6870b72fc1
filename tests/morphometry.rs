//! Morphometry on shapes with known answers, and the distance transform and
//! local thickness against brute-force definitions.

use std::time::Instant;
use trabecula::morph::{
    EDT_NO_BACKGROUND, bone_surface_area, delta_chi, euler_characteristic, local_thickness,
    morphometry, squared_edt,
};

fn vol(dims: [usize; 3], f: impl Fn(f64, f64, f64) -> bool) -> Vec<bool> {
    let mut v = Vec::with_capacity(dims.iter().product());
    for z in 0..dims[2] {
        for y in 0..dims[1] {
            for x in 0..dims[0] {
                v.push(f(x as f64, y as f64, z as f64));
            }
        }
    }
    v
}

fn ball(c: [f64; 3], r: f64) -> impl Fn(f64, f64, f64) -> bool {
    move |x, y, z| (x - c[0]).powi(2) + (y - c[1]).powi(2) + (z - c[2]).powi(2) <= r * r
}

/// SplitMix64: a deterministic stream of uniform numbers in [0, 1).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn random_volume(dims: [usize; 3], fill: f64, seed: u64) -> Vec<bool> {
    let mut rng = Rng(seed);
    (0..dims.iter().product::<usize>())
        .map(|_| rng.next() < fill)
        .collect()
}

/// A trabecular-looking volume: a sum of random plane waves (wavelength
/// ~`lambda` voxels), bone where it exceeds a level (~30 % bone).
fn smooth_random_volume(dims: [usize; 3], lambda: f64, seed: u64) -> Vec<bool> {
    let mut rng = Rng(seed);
    let waves: Vec<[f64; 4]> = (0..12)
        .map(|_| {
            let z = 2.0 * rng.next() - 1.0;
            let phi = std::f64::consts::TAU * rng.next();
            let r = (1.0 - z * z).sqrt();
            let k = std::f64::consts::TAU / lambda * (0.7 + 0.6 * rng.next());
            [
                k * r * phi.cos(),
                k * r * phi.sin(),
                k * z,
                std::f64::consts::TAU * rng.next(),
            ]
        })
        .collect();
    let sigma = (waves.len() as f64 / 2.0).sqrt();
    vol(dims, |x, y, z| {
        let f: f64 = waves
            .iter()
            .map(|w| (w[0] * x + w[1] * y + w[2] * z + w[3]).cos())
            .sum();
        f > 0.5 * sigma
    })
}

fn coords(dims: [usize; 3], i: usize) -> [i64; 3] {
    [
        (i % dims[0]) as i64,
        ((i / dims[0]) % dims[1]) as i64,
        (i / (dims[0] * dims[1])) as i64,
    ]
}

fn dist2(a: [i64; 3], b: [i64; 3]) -> i64 {
    (a[0] - b[0]).pow(2) + (a[1] - b[1]).pow(2) + (a[2] - b[2]).pow(2)
}

fn rel_err(got: f64, want: f64) -> f64 {
    (got / want - 1.0).abs()
}

#[test]
fn slab_thickness_bv_tv_and_surface() {
    let h = 10.0;
    for t in [4usize, 5, 9] {
        let dims = [20, 23, 30];
        let z0 = 10;
        let v = vol(dims, |_, _, z| (z as usize) >= z0 && (z as usize) < z0 + t);
        let m = morphometry(&v, dims, h);
        assert_eq!(m.bv_tv, t as f64 / 30.0, "BV/TV exact");
        assert!(
            (m.tb_th_um - t as f64 * h).abs() <= h + 1e-9,
            "t = {t}: Tb.Th {}",
            m.tb_th_um
        );
        if t % 2 == 1 {
            // The maximal ball is centred on the middle voxel: exact.
            assert!(
                (m.tb_th_um - t as f64 * h).abs() < 1e-3,
                "t = {t}: {}",
                m.tb_th_um
            );
        }
        // The slab's faces at z are bone surface, the block's cut faces are
        // not: BS/BV = 2/t.
        let expect = 2.0 / (t as f64 * h * 1e-3);
        assert!(
            rel_err(m.bs_bv_per_mm, expect) < 1e-9,
            "t = {t}: BS/BV {} vs {expect}",
            m.bs_bv_per_mm
        );
        assert!(m.tb_sp_um > 0.0);
        assert!(rel_err(m.tb_n_per_mm, 1000.0 / (m.tb_th_um + m.tb_sp_um)) < 1e-12);
        // A spanning slab has no handles, whatever Δχ's faces say.
        assert_eq!(m.euler_characteristic, 1);
    }
}

#[test]
fn marrow_gap_between_plates_is_tb_sp() {
    // Bone plates at both z ends and a marrow gap of 9 voxels.
    let dims = [16, 16, 15];
    let v = vol(dims, |_, _, z| !(3.0..12.0).contains(&z));
    let m = morphometry(&v, dims, 1.0);
    assert!((m.tb_sp_um - 9.0).abs() < 1e-3, "Tb.Sp {}", m.tb_sp_um);
    // The plates are cut by the block faces at z, which do not bound them.
    assert!((m.tb_th_um - 5.0).abs() <= 1.0, "Tb.Th {}", m.tb_th_um);
}

#[test]
fn rod_and_sphere_thickness_and_surface() {
    let dims = [31, 29, 20];
    let d = 11.0;
    let rod = vol(dims, |x, y, _| {
        (x - 15.0).powi(2) + (y - 14.0).powi(2) <= (d / 2.0) * (d / 2.0)
    });
    let m = morphometry(&rod, dims, 1.0);
    eprintln!("rod d = {d}: {m:?}");
    assert!((m.tb_th_um - d).abs() <= 1.0, "rod Tb.Th {}", m.tb_th_um);
    // Only the mantle is surface (the rod's ends are cut faces): 4/d.
    let bs_bv = 4.0 / (d * 1e-3);
    assert!(
        rel_err(m.bs_bv_per_mm, bs_bv) < 0.05,
        "rod BS/BV {} vs {bs_bv}",
        m.bs_bv_per_mm
    );

    let dims = [33, 33, 33];
    let big = 21.0;
    let sphere = vol(dims, ball([16.0; 3], big / 2.0));
    let m = morphometry(&sphere, dims, 1.0);
    eprintln!("sphere D = {big}: {m:?}");
    assert!(
        (m.tb_th_um - big).abs() <= 1.0,
        "sphere Tb.Th {}",
        m.tb_th_um
    );
    let bs_bv = 6.0 / (big * 1e-3);
    assert!(
        rel_err(m.bs_bv_per_mm, bs_bv) < 0.05,
        "sphere BS/BV {} vs {bs_bv}",
        m.bs_bv_per_mm
    );
    let n_bone = sphere.iter().filter(|&&b| b).count();
    assert_eq!(m.bv_tv, n_bone as f64 / sphere.len() as f64);
    // The surface estimate, not the voxel-face count (≈1.5× the area).
    let area = bone_surface_area(&sphere, dims);
    eprintln!("sphere area {area}");
    let true_area = std::f64::consts::PI * big * big;
    assert!(
        rel_err(area, true_area) < 0.05,
        "sphere area {area} vs {true_area}"
    );
}

#[test]
fn euler_characteristic_of_known_shapes() {
    let dims = [30, 28, 31];
    assert_eq!(
        euler_characteristic(&vol(dims, ball([14.0; 3], 8.0)), dims),
        1,
        "ball"
    );
    let two = vol(dims, |x, y, z| {
        ball([7.0, 14.0, 14.0], 5.0)(x, y, z) || ball([21.0, 14.0, 14.0], 5.0)(x, y, z)
    });
    assert_eq!(euler_characteristic(&two, dims), 2, "two balls");
    let hollow = vol(dims, |x, y, z| {
        ball([14.0; 3], 10.0)(x, y, z) && !ball([14.0; 3], 5.0)(x, y, z)
    });
    assert_eq!(euler_characteristic(&hollow, dims), 2, "ball with a cavity");
    let torus = vol(dims, |x, y, z| {
        let rho = ((x - 14.5).powi(2) + (y - 13.5).powi(2)).sqrt();
        (rho - 9.0).powi(2) + (z - 14.5).powi(2) <= 9.0
    });
    assert_eq!(euler_characteristic(&torus, dims), 0, "torus");
    // Objects inside the block do not touch its faces: Δχ = χ.
    assert_eq!(delta_chi(&torus, dims), 0.0);
    assert_eq!(delta_chi(&two, dims), 2.0);
    // Two voxels touching at a corner are one object (bone 26-connected)...
    let mut diag = vec![false; 27];
    diag[0] = true;
    diag[13] = true;
    assert_eq!(euler_characteristic(&diag, [3, 3, 3]), 1);
    // ...a 3×3×3 cube without its centre voxel encloses a cavity (χ = 2),
    // one with a tunnel through it is a solid torus (χ = 0).
    let mut shell = vec![true; 27];
    shell[13] = false;
    assert_eq!(euler_characteristic(&shell, [3, 3, 3]), 2);
    let mut tube = vec![true; 27];
    for z in 0..3 {
        tube[4 + 9 * z] = false;
    }
    assert_eq!(euler_characteristic(&tube, [3, 3, 3]), 0);
    assert_eq!(euler_characteristic(&[false; 8], [2, 2, 2]), 0);
}

#[test]
fn euler_characteristic_of_a_contained_rod_grid() {
    // 3×3×3 nodes joined by rods along x, y, z, all inside the block:
    // χ = nodes − rods = 27 − 54 = −27.
    let dims = [26, 27, 28];
    let grid = vol(dims, |x, y, z| {
        let inside = |c: f64| (3.0..=22.0).contains(&c);
        let node = |c: f64| ((c as i64 - 3) % 8) < 3 && inside(c);
        inside(x)
            && inside(y)
            && inside(z)
            && ((node(x) && node(y)) || (node(y) && node(z)) || (node(x) && node(z)))
    });
    assert_eq!(euler_characteristic(&grid, dims), -27);
    assert_eq!(delta_chi(&grid, dims), -27.0);
}

/// An infinite cubic lattice of square rods (period `p`, width `w`), cut.
fn rod_lattice(dims: [usize; 3], p: usize, w: usize, offset: usize) -> Vec<bool> {
    vol(dims, |x, y, z| {
        let on = |c: f64| ((c as usize) + offset) % p < w;
        let (a, b, c) = (on(x), on(y), on(z));
        // on a rod where at least two coordinates are on a rod line
        (a as u8 + b as u8 + c as u8) >= 2
    })
}

#[test]
fn conn_d_of_a_cut_rod_lattice_is_edge_corrected() {
    // Per unit cell an infinite cubic rod lattice has 1 node and 3 rods:
    // χ = −2, i.e. 2 independent loops, so Conn.D = (1 − Δχ)/V ≈ 2 per
    // cell volume whatever block is cut from it.
    let (p, h) = (8, 10.0);
    let cell_mm3 = (p as f64 * h * 1e-3).powi(3);
    let expect = 2.0 / cell_mm3;
    let mut conn_d = Vec::new();
    for (n_cells, offset) in [(3, 2), (5, 5)] {
        let e = n_cells * p;
        let dims = [e, e, e];
        let v = rod_lattice(dims, p, 3, offset);
        let per_cell = delta_chi(&v, dims) / (n_cells * n_cells * n_cells) as f64;
        assert!(
            (per_cell + 2.0).abs() < 0.1,
            "{n_cells}³ cells: Δχ per cell {per_cell}"
        );
        let m = morphometry(&v, dims, h);
        eprintln!("{n_cells}³ cells: Δχ/cell {per_cell}, {m:?} (expect Conn.D {expect})");
        assert!(
            rel_err(m.conn_d_per_mm3, expect) < 0.1,
            "{n_cells}³ cells: Conn.D {} vs {expect}",
            m.conn_d_per_mm3
        );
        // Without the edge correction the cut rods dangle and the estimate
        // is far off (about half): the correction is what is being tested.
        let raw = (1.0 - m.euler_characteristic as f64) / (e as f64 * h * 1e-3).powi(3);
        assert!(rel_err(raw, expect) > 0.25, "uncorrected {raw} vs {expect}");
        conn_d.push(m.conn_d_per_mm3);
    }
    assert!(
        rel_err(conn_d[0], conn_d[1]) < 0.05,
        "Conn.D depends on the block: {conn_d:?}"
    );
}

#[test]
fn edt_equals_brute_force() {
    for (dims, fill, seed) in [
        ([9, 7, 8], 0.6, 3),
        ([11, 6, 10], 0.93, 4),
        ([1, 5, 13], 0.7, 5),
    ] {
        let v = random_volume(dims, fill, seed);
        let d2 = squared_edt(&v, dims);
        for (i, &got) in d2.iter().enumerate() {
            let best = (0..v.len())
                .filter(|&j| !v[j])
                .map(|j| dist2(coords(dims, i), coords(dims, j)))
                .min()
                .unwrap();
            assert_eq!(got, best, "{dims:?}: voxel {i}");
        }
    }
    let all = vec![true; 60];
    assert!(
        squared_edt(&all, [3, 4, 5])
            .iter()
            .all(|&d| d == EDT_NO_BACKGROUND)
    );
}

#[test]
fn local_thickness_equals_its_definition() {
    for (dims, fill, seed) in [
        ([10, 9, 8], 0.7, 8),
        ([12, 10, 9], 0.85, 9),
        ([7, 13, 6], 0.4, 10),
    ] {
        let v = random_volume(dims, fill, seed);
        let marrow: Vec<bool> = v.iter().map(|b| !b).collect();
        for mask in [&v, &marrow] {
            let th = local_thickness(mask, dims);
            // Brute-force squared distance to the other phase.
            let d2: Vec<i64> = (0..mask.len())
                .map(|i| {
                    (0..mask.len())
                        .filter(|&j| !mask[j])
                        .map(|j| dist2(coords(dims, i), coords(dims, j)))
                        .min()
                        .unwrap_or(0)
                })
                .collect();
            for i in 0..mask.len() {
                if !mask[i] {
                    assert_eq!(th[i], 0.0);
                    continue;
                }
                // Largest maximal ball (voxel centres nearer to c than the
                // other phase's nearest centre; diameter 2d − 1) holding i.
                let best = (0..mask.len())
                    .filter(|&c| mask[c] && dist2(coords(dims, i), coords(dims, c)) < d2[c])
                    .map(|c| 2.0 * (d2[c] as f64).sqrt() - 1.0)
                    .fold(0.0, f64::max);
                assert!(
                    (th[i] as f64 - best).abs() < 1e-4,
                    "{dims:?}: voxel {i}: {} vs {best}",
                    th[i]
                );
            }
        }
    }
}

#[test]
fn random_structure_is_consistent() {
    let dims = [48, 44, 40];
    let v = smooth_random_volume(dims, 16.0, 11);
    let t = Instant::now();
    let m = morphometry(&v, dims, 20.0);
    eprintln!("{dims:?}: {:.2} s, {m:?}", t.elapsed().as_secs_f64());
    assert!(m.bv_tv > 0.1 && m.bv_tv < 0.5, "{m:?}");
    assert!(m.tb_th_um > 20.0 && m.tb_sp_um > m.tb_th_um, "{m:?}");
    assert!(rel_err(m.tb_n_per_mm, 1000.0 / (m.tb_th_um + m.tb_sp_um)) < 1e-12);
    assert!(m.bs_bv_per_mm > 0.0 && m.conn_d_per_mm3.is_finite());
    // Tb.Sp is Tb.Th of the complement.
    let marrow: Vec<bool> = v.iter().map(|b| !b).collect();
    let swapped = morphometry(&marrow, dims, 20.0);
    assert_eq!(swapped.tb_th_um, m.tb_sp_um);
    assert_eq!(swapped.tb_sp_um, m.tb_th_um);
}

/// `cargo test --release --test morphometry -- --ignored --nocapture`
#[test]
#[ignore = "timing at 128³; run in release"]
fn timing_128() {
    let dims = [128; 3];
    let v = smooth_random_volume(dims, 24.0, 12);
    let t = Instant::now();
    let m = morphometry(&v, dims, 20.0);
    eprintln!(
        "128³ morphometry: {:.3} s\n{m:?}",
        t.elapsed().as_secs_f64()
    );
    let marrow: Vec<bool> = v.iter().map(|b| !b).collect();
    fn time<T>(name: &str, f: impl Fn() -> T) {
        let t = Instant::now();
        std::hint::black_box(f());
        eprintln!("  {name}: {:.3} s", t.elapsed().as_secs_f64());
    }
    time("squared_edt", || squared_edt(&v, dims));
    time("local_thickness(bone)", || local_thickness(&v, dims));
    time("local_thickness(marrow)", || local_thickness(&marrow, dims));
    time("bone_surface_area", || bone_surface_area(&v, dims));
    time("delta_chi (incl. χ)", || delta_chi(&v, dims));
}

#[test]
fn no_bone_leaves_the_structure_indices_undefined() {
    let m = morphometry(&[false; 20 * 20 * 20], [20, 20, 20], 20.0);
    assert_eq!(m.bv_tv, 0.0);
    assert_eq!((m.euler_characteristic, m.delta_chi), (0, 0.0));
    assert!(!m.has_bone());
    for (name, v) in [
        ("bs_bv_per_mm", m.bs_bv_per_mm),
        ("tb_th_um", m.tb_th_um),
        ("tb_sp_um", m.tb_sp_um),
        ("tb_n_per_mm", m.tb_n_per_mm),
        ("conn_d_per_mm3", m.conn_d_per_mm3),
    ] {
        assert!(v.is_nan(), "{name} = {v} for a volume with no bone");
    }
    // JSON says null, and reads back.
    let json = serde_json::to_value(m).unwrap();
    assert_eq!(json["tb_sp_um"], serde_json::Value::Null);
    assert_eq!(json["bv_tv"], 0.0);
    let back: trabecula::morph::Morphometry = serde_json::from_value(json).unwrap();
    assert!(back.conn_d_per_mm3.is_nan() && back.bv_tv == 0.0);

    // One bone voxel is bone: everything defined.
    let mut one = vec![false; 20 * 20 * 20];
    one[4210] = true;
    let m = morphometry(&one, [20, 20, 20], 20.0);
    assert!(m.has_bone());
    assert!(m.tb_th_um.is_finite() && m.tb_sp_um.is_finite() && m.conn_d_per_mm3.is_finite());
}

/// Components and cavities on shapes whose answer is known, and against
/// χ = components − loops + cavities on a random volume without loops
/// counted separately (χ − components + cavities is −loops ≤ 0).
#[test]
fn components_and_cavities_of_known_shapes() {
    use trabecula::morph::components;
    let dims = [12, 12, 12];
    let idx = |x: usize, y: usize, z: usize| x + 12 * (y + 12 * z);
    // A hollow cube (shell 2..=9) with one sealed cavity inside.
    let shell = vol(dims, |x, y, z| {
        let inside = |v: f64| (2.0..=9.0).contains(&v);
        let core = |v: f64| (4.0..=7.0).contains(&v);
        inside(x) && inside(y) && inside(z) && !(core(x) && core(y) && core(z))
    });
    let marrow: Vec<bool> = shell.iter().map(|b| !b).collect();
    assert_eq!(components(&shell, dims, true).count, 1);
    let m = components(&marrow, dims, false);
    assert_eq!((m.count, m.enclosed), (2, 1));
    let morph = morphometry(&shell, dims, 20.0);
    assert_eq!((morph.bone_components, morph.marrow_cavities), (1, 1));
    // Two voxels touching at a corner: one piece 26-connected, two 6-connected.
    let mut pair = vec![false; 12 * 12 * 12];
    pair[idx(3, 3, 3)] = true;
    pair[idx(4, 4, 4)] = true;
    assert_eq!(components(&pair, dims, true).count, 1);
    assert_eq!(components(&pair, dims, false).count, 2);
    // Random bone: χ − components + cavities = −loops, never positive.
    let bone = random_volume(dims, 0.3, 5);
    let m = morphometry(&bone, dims, 20.0);
    let loops = m.bone_components as i64 + m.marrow_cavities as i64 - m.euler_characteristic;
    assert!(loops >= 0, "loops {loops}");
}
