//! Morphometry on shapes with known answers.

use trabecula::morph::{
    delta_chi, euler_characteristic, local_thickness, morphometry, squared_edt,
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

#[test]
fn slab_thickness_bv_tv_and_surface() {
    let h = 10.0;
    for t in [4usize, 5, 9] {
        let dims = [24, 24, 30];
        let z0 = 10;
        let v = vol(dims, |_, _, z| (z as usize) >= z0 && (z as usize) < z0 + t);
        let m = morphometry(&v, dims, h);
        assert_eq!(m.bv_tv, t as f64 / 30.0, "BV/TV exact");
        assert!(
            (m.tb_th_um - t as f64 * h).abs() <= h,
            "t = {t}: Tb.Th {}",
            m.tb_th_um
        );
        // The slab spans the block: its faces at z are bone surface, the
        // block's cut faces are not. BS/BV = 2/t.
        let expect = 2.0 / (t as f64 * h * 1e-3);
        assert!(
            (m.bs_bv_per_mm / expect - 1.0).abs() < 0.05,
            "t = {t}: BS/BV {} vs {expect}",
            m.bs_bv_per_mm
        );
        // Marrow: two slabs of thicknesses 10 and 20 − t.
        assert!(m.tb_sp_um > 0.0);
    }
}

#[test]
fn rod_and_sphere_thickness() {
    let dims = [31, 31, 20];
    let d = 11.0;
    let rod = vol(dims, |x, y, _| {
        (x - 15.0).powi(2) + (y - 15.0).powi(2) <= (d / 2.0) * (d / 2.0)
    });
    let m = morphometry(&rod, dims, 1.0);
    assert!((m.tb_th_um - d).abs() <= 1.0, "rod Tb.Th {}", m.tb_th_um);

    let dims = [33, 33, 33];
    let big = 21.0;
    let sphere = vol(dims, ball([16.0; 3], big / 2.0));
    let m = morphometry(&sphere, dims, 1.0);
    assert!(
        (m.tb_th_um - big).abs() <= 1.0,
        "sphere Tb.Th {}",
        m.tb_th_um
    );
    let bs_bv = 6.0 / (big * 1e-3);
    assert!(
        (m.bs_bv_per_mm / bs_bv - 1.0).abs() < 0.08,
        "sphere BS/BV {} vs {bs_bv}",
        m.bs_bv_per_mm
    );
    let n_bone = sphere.iter().filter(|&&b| b).count();
    assert_eq!(m.bv_tv, n_bone as f64 / sphere.len() as f64);
}

#[test]
fn euler_characteristic_of_known_shapes() {
    let dims = [30, 30, 30];
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
        let rho = ((x - 14.5).powi(2) + (y - 14.5).powi(2)).sqrt();
        (rho - 9.0).powi(2) + (z - 14.5).powi(2) <= 9.0
    });
    assert_eq!(euler_characteristic(&torus, dims), 0, "torus");
    // Two voxels touching at a corner are one object (bone is 26-connected).
    let mut diag = vec![false; 27];
    diag[0] = true;
    diag[13] = true;
    assert_eq!(euler_characteristic(&diag, [3, 3, 3]), 1);
}

/// A cubic lattice of rods: nodes every `p` voxels, rods of width `w`.
fn rod_lattice(dims: [usize; 3], p: usize, w: usize, offset: usize) -> Vec<bool> {
    vol(dims, |x, y, z| {
        let on = |c: f64| ((c as usize) + offset) % p < w;
        // On a rod: on the lattice lines of at least two axes.
        [on(x), on(y), on(z)].iter().filter(|&&v| v).count() >= 2
    })
}

#[test]
fn euler_characteristic_of_a_contained_rod_grid() {
    // 3×3×3 nodes joined by rods along x, y, z, all inside the block:
    // χ = nodes − rods = 27 − 54 = −27.
    let dims = [26, 26, 26];
    let grid = vol(dims, |x, y, z| {
        let inside = |c: f64| (3.0..=22.0).contains(&c);
        let node = |c: f64| ((c as i64 - 3) % 8) < 3 && inside(c);
        inside(x)
            && inside(y)
            && inside(z)
            && ((node(x) && node(y)) || (node(y) && node(z)) || (node(x) && node(z)))
    });
    assert_eq!(euler_characteristic(&grid, dims), -27);
}

#[test]
fn conn_d_of_a_cut_rod_lattice_is_edge_corrected() {
    // An infinite cubic rod lattice has χ = 1 node − 3 rods = −2 per unit
    // cell, so Conn.D ≈ −Δχ/V = 2 per cell volume, whatever block is cut.
    let p = 8;
    for (n_cells, offset) in [(3, 2), (4, 5)] {
        let e = n_cells * p;
        let dims = [e, e, e];
        let v = rod_lattice(dims, p, 3, offset);
        let dchi = delta_chi(&v, dims);
        let per_cell = dchi / (n_cells * n_cells * n_cells) as f64;
        assert!(
            (per_cell + 2.0).abs() < 0.2,
            "{n_cells}³ cells: Δχ per cell {per_cell}"
        );
        let m = morphometry(&v, dims, 10.0);
        let cell_mm3 = (p as f64 * 10.0e-3).powi(3);
        let expect = 2.0 / cell_mm3;
        assert!(
            (m.conn_d_per_mm3 / expect - 1.0).abs() < 0.1,
            "Conn.D {} vs {expect}",
            m.conn_d_per_mm3
        );
    }
}

fn tiny_random(dims: [usize; 3], seed: u32) -> Vec<bool> {
    (0..dims.iter().product::<usize>())
        .map(|i| trabecula::gpu::rng::uniform(seed, 0, i as u32, 0) < 0.6)
        .collect()
}

#[test]
fn edt_equals_brute_force() {
    let dims = [9, 7, 8];
    let v = tiny_random(dims, 3);
    let d2 = squared_edt(&v, dims);
    let coords = |i: usize| [(i % 9) as i64, ((i / 9) % 7) as i64, (i / 63) as i64];
    for i in 0..v.len() {
        if !v[i] {
            assert_eq!(d2[i], 0);
            continue;
        }
        let a = coords(i);
        let best = (0..v.len())
            .filter(|&j| !v[j])
            .map(|j| {
                let b = coords(j);
                (a[0] - b[0]).pow(2) + (a[1] - b[1]).pow(2) + (a[2] - b[2]).pow(2)
            })
            .min()
            .unwrap();
        assert_eq!(d2[i], best, "voxel {i}");
    }
}

#[test]
fn local_thickness_equals_its_definition() {
    let dims = [10, 9, 8];
    let v = tiny_random(dims, 8);
    let th = local_thickness(&v, dims);
    let d2 = squared_edt(&v, dims);
    let coords = |i: usize| [(i % 10) as f64, ((i / 10) % 9) as f64, (i / 90) as f64];
    for i in 0..v.len() {
        if !v[i] {
            continue;
        }
        // Largest maximal ball (voxel centres nearer to c than the other
        // phase's nearest centre, diameter 2d − 1) that contains voxel i.
        let p = coords(i);
        let mut best = 0.0f64;
        for c in 0..v.len() {
            if !v[c] {
                continue;
            }
            let q = coords(c);
            let dist2 = (p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2);
            if dist2 < d2[c] as f64 {
                best = best.max(2.0 * (d2[c] as f64).sqrt() - 1.0);
            }
        }
        assert!(
            (th[i] as f64 - best).abs() < 1e-4,
            "voxel {i}: {} vs {best}",
            th[i]
        );
    }
}
