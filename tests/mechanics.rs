//! Voxel micro-FE: the element matrix against elasticity theory, the GPU
//! operator against an assembled f64 CPU stiffness, and whole solves against
//! analytic answers (uniaxial stress, uniaxial strain, springs in series,
//! mirror symmetry), warm starts and failure modes.

mod common;

use common::{hash01, porous};

use trabecula::mech::mesh::{ACTIVE, FIX_X, SET_ASIDE, load_bearing_components};
use trabecula::mech::reference::{
    self, assemble_dense, element_stiffness, gauss_points, lame, matvec, node_count,
    strain_displacement,
};
use trabecula::mech::{LoadCase, MechError, MechParams, MechSolver, Preconditioner};

const E: f64 = 15_000.0;
const H_UM: f64 = 20.0;

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

fn params(strain: f64, confined: bool, nu: f64) -> MechParams {
    MechParams {
        e_tissue_mpa: E,
        poisson: nu,
        load: LoadCase::CompressionZ { strain, confined },
        ..MechParams::default()
    }
}

#[test]
// Symmetry compares K[i][j] with K[j][i]: index loops say that most plainly.
#[allow(clippy::needless_range_loop)]
fn element_matrix_is_symmetric_with_six_rigid_modes_and_exact_uniform_stress() {
    let nu = 0.3;
    let h = 0.02;
    let ke = element_stiffness(E, nu, h);
    let scale = ke.iter().flatten().fold(0.0f64, |s, x| s.max(x.abs()));
    for i in 0..24 {
        for j in 0..24 {
            assert!((ke[i][j] - ke[j][i]).abs() <= 1e-12 * scale, "K[{i}][{j}]");
        }
    }
    // Null space of dimension exactly 6 ...
    let flat: Vec<f64> = ke.iter().flatten().copied().collect();
    assert_eq!(reference::rank(&flat, 24, 1e-10), 18);
    // ... spanned by the rigid motions: 3 translations, 3 rotations.
    let mut modes = Vec::new();
    for c in 0..3 {
        modes.push(
            (0..24)
                .map(|k| if k % 3 == c { 1.0 } else { 0.0 })
                .collect::<Vec<f64>>(),
        );
    }
    for axis in 0..3 {
        let mut m = vec![0.0; 24];
        for a in 0..8 {
            let o = reference::node_offset(a).map(|v| v as f64 * h);
            // ω × x with ω along `axis`.
            let (b, c) = ((axis + 1) % 3, (axis + 2) % 3);
            m[3 * a + c] = o[b];
            m[3 * a + b] = -o[c];
        }
        modes.push(m);
    }
    for m in &modes {
        let f = matvec(&flat, m);
        let norm = f.iter().fold(0.0f64, |s, x| s.max(x.abs()));
        assert!(norm <= 1e-10 * scale * h, "rigid mode carries force {norm}");
    }
    // Uniform strain: B u reproduces it at every Gauss point, D ε is Hooke's
    // law in Lamé form, and ½uᵀKu = ½ σ:ε · V.
    let eps = [
        [1e-3, 2e-4, -3e-4],
        [2e-4, -5e-4, 1e-4],
        [-3e-4, 1e-4, 7e-4],
    ];
    let mut u = vec![0.0; 24];
    for a in 0..8 {
        let x = reference::node_offset(a).map(|v| v as f64 * h);
        for i in 0..3 {
            u[3 * a + i] = (0..3).map(|j| eps[i][j] * x[j]).sum();
        }
    }
    let voigt = [
        eps[0][0],
        eps[1][1],
        eps[2][2],
        2.0 * eps[1][2],
        2.0 * eps[0][2],
        2.0 * eps[0][1],
    ];
    let (l, mu) = lame(E, nu);
    let tr = eps[0][0] + eps[1][1] + eps[2][2];
    let sigma = |i: usize, j: usize| l * tr * (i == j) as u8 as f64 + 2.0 * mu * eps[i][j];
    let sig_voigt = [
        sigma(0, 0),
        sigma(1, 1),
        sigma(2, 2),
        sigma(1, 2),
        sigma(0, 2),
        sigma(0, 1),
    ];
    let d = reference::elasticity_matrix(E, nu);
    for xi in gauss_points() {
        let b = strain_displacement(xi, h);
        for k in 0..6 {
            let e: f64 = (0..24).map(|j| b[k][j] * u[j]).sum();
            assert!((e - voigt[k]).abs() < 1e-15, "strain {k} at {xi:?}");
            let s: f64 = (0..6).map(|m| d[k][m] * voigt[m]).sum();
            assert!(rel(s, sig_voigt[k]) < 1e-12, "stress {k}");
        }
    }
    let energy = 0.5
        * u.iter()
            .zip(matvec(&flat, &u))
            .map(|(a, b)| a * b)
            .sum::<f64>();
    let analytic = 0.5 * (0..6).map(|k| sig_voigt[k] * voigt[k]).sum::<f64>() * h * h * h;
    assert!(rel(energy, analytic) < 1e-12, "{energy} vs {analytic}");
}

#[test]
fn gpu_operator_matches_assembled_cpu_stiffness_and_is_symmetric() {
    let ctx = common::gpu();
    let dims = [4, 3, 5];
    let mut mineral = porous(dims, 3);
    // Make sure something joins bottom and top, with a graded modulus.
    for z in 0..5 {
        mineral[1 + 4 * (1 + 3 * z)] = 0.55 + 0.09 * z as f32;
    }
    let mut solver = MechSolver::new(&ctx, dims, H_UM, params(0.01, false, 0.3)).unwrap();
    let n = 3 * node_count(dims);
    let x: Vec<f32> = (0..n)
        .map(|i| (hash01(i, 11) - 0.5) as f32 * 1e-3)
        .collect();
    let y: Vec<f32> = (0..n)
        .map(|i| (hash01(i, 12) - 0.5) as f32 * 1e-3)
        .collect();
    let kx = solver.apply_operator(&ctx, &mineral, &x).unwrap();
    let ky = solver.apply_operator(&ctx, &mineral, &y).unwrap();
    let mesh = solver.mesh().unwrap();
    assert!(
        mesh.voxels_solved > 10,
        "{} voxels solved",
        mesh.voxels_solved
    );
    let k = assemble_dense(dims, H_UM / 1000.0, &mesh.e_mpa, 0.3);
    let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let kx_ref = matvec(&k, &x64);
    let max = kx_ref.iter().fold(0.0f64, |s, v| s.max(v.abs()));
    for i in 0..n {
        assert!(
            (kx[i] as f64 - kx_ref[i]).abs() <= 2e-5 * max,
            "dof {i}: GPU {} vs CPU {}",
            kx[i],
            kx_ref[i]
        );
    }
    let dot = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(p, q)| *p as f64 * *q as f64)
            .sum::<f64>()
    };
    let (ykx, xky) = (dot(&y, &kx), dot(&x, &ky));
    let scale = dot(&x, &kx).abs().max(dot(&y, &ky).abs());
    assert!(
        (ykx - xky).abs() <= 1e-5 * scale,
        "yᵀKx {ykx} vs xᵀKy {xky}"
    );
}

#[test]
fn solid_block_gives_uniaxial_stress_force_and_sed() {
    let ctx = common::gpu();
    let dims = [5, 4, 6];
    let (eps, nu) = (0.01, 0.3);
    let mut solver = MechSolver::new(&ctx, dims, H_UM, params(eps, false, nu)).unwrap();
    let res = solver.solve(&ctx, &vec![1.0; 120], false).unwrap();
    let h = H_UM / 1000.0;
    let area = 20.0 * h * h;
    assert!(rel(res.reaction_force_n, E * area * eps) < 5e-3, "{res:?}");
    assert!(rel(res.apparent_modulus_mpa, E) < 5e-3, "{res:?}");
    assert!(res.relative_residual <= 1e-6);
    let sed = solver.read_sed(&ctx);
    for (i, s) in sed.iter().enumerate() {
        assert!(rel(*s as f64, 0.5 * E * eps * eps) < 5e-3, "voxel {i}: {s}");
    }
    // Lateral expansion ν ε: u_x at the far x face.
    let u = solver.read_displacement(&ctx);
    let g = reference::node_index(dims, [5, 0, 3]);
    assert!(
        rel(u[3 * g] as f64, nu * eps * 5.0 * h) < 5e-3,
        "u_x {}",
        u[3 * g]
    );
}

#[test]
fn confined_block_gives_constrained_modulus() {
    let ctx = common::gpu();
    let dims = [4, 4, 5];
    let (eps, nu) = (0.01, 0.3);
    let mut solver = MechSolver::new(&ctx, dims, H_UM, params(eps, true, nu)).unwrap();
    let res = solver.solve(&ctx, &vec![1.0; 80], false).unwrap();
    let m = E * (1.0 - nu) / ((1.0 + nu) * (1.0 - 2.0 * nu));
    assert!(rel(res.apparent_modulus_mpa, m) < 5e-3, "{res:?} vs {m}");
    let sed = solver.read_sed(&ctx);
    assert!(
        sed.iter()
            .all(|&s| rel(s as f64, 0.5 * m * eps * eps) < 5e-3)
    );
}

#[test]
fn two_layers_in_series_give_the_series_spring_force() {
    let ctx = common::gpu();
    // ν = 0 keeps both layers in exact uniaxial stress (no lateral mismatch).
    let dims = [3, 3, 8];
    let m_top = 0.6f32;
    let mineral: Vec<f32> = (0..72)
        .map(|i| if i / 9 < 3 { 1.0 } else { m_top })
        .collect();
    let eps = 0.005;
    let mut solver = MechSolver::new(&ctx, dims, H_UM, params(eps, false, 0.0)).unwrap();
    let res = solver.solve(&ctx, &mineral, false).unwrap();
    let h = H_UM / 1000.0;
    let (e1, e2) = (E, E * (m_top as f64).powi(2));
    let (h1, h2) = (3.0 * h, 5.0 * h);
    let f = eps * 8.0 * h * 9.0 * h * h / (h1 / e1 + h2 / e2);
    assert!(
        rel(res.reaction_force_n, f) < 5e-3,
        "{} vs {f}",
        res.reaction_force_n
    );
}

#[test]
fn mirror_symmetric_structure_gives_mirror_symmetric_sed() {
    let ctx = common::gpu();
    let dims = [12, 9, 10];
    let [nx, ny, nz] = dims;
    let half = porous(dims, 5);
    let mut m = vec![0f32; nx * ny * nz];
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                let xs = x.min(nx - 1 - x);
                m[x + nx * (y + ny * z)] = half[xs + nx * (y + ny * z)];
            }
        }
    }
    let mut solver = MechSolver::new(&ctx, dims, H_UM, params(0.01, false, 0.3)).unwrap();
    let res = solver.solve(&ctx, &m, false).unwrap();
    assert!(res.voxels_solved > 100, "{res:?}");
    let sed = solver.read_sed(&ctx);
    let max = sed.iter().fold(0f32, |s, v| s.max(*v));
    assert!(max > 0.0);
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx / 2 {
                let a = sed[x + nx * (y + ny * z)];
                let b = sed[nx - 1 - x + nx * (y + ny * z)];
                assert!(
                    (a - b).abs() <= 1e-3 * max,
                    "({x},{y},{z}): {a} vs mirror {b}"
                );
            }
        }
    }
}

#[test]
fn islands_are_set_aside_with_zero_sed() {
    let ctx = common::gpu();
    let dims = [6, 6, 6];
    let mut m = vec![0f32; 216];
    let idx = |x: usize, y: usize, z: usize| x + 6 * (y + 6 * z);
    for z in 0..6 {
        m[idx(1, 1, z)] = 1.0; // column bottom to top
        m[idx(2, 1, z)] = 1.0;
    }
    m[idx(4, 4, 3)] = 1.0; // floating island
    m[idx(3, 2, 2)] = 1.0; // touches the column along an edge only
    let mut solver = MechSolver::new(&ctx, dims, H_UM, params(0.01, false, 0.3)).unwrap();
    let res = solver.solve(&ctx, &m, false).unwrap();
    assert_eq!((res.voxels_solved, res.voxels_set_aside), (12, 2));
    let sed = solver.read_sed(&ctx);
    assert_eq!(sed[idx(4, 4, 3)], 0.0);
    assert_eq!(sed[idx(3, 2, 2)], 0.0);
    assert!(sed[idx(1, 1, 3)] > 0.0);
    // Nothing joins bottom and top: a clear error.
    let bone: Vec<bool> = (0..216).map(|i| i == idx(4, 4, 3)).collect();
    assert!(load_bearing_components(dims, &bone).is_none());
    let err = solver.solve(&ctx, &vec![0.0; 216], false).unwrap_err();
    assert!(matches!(err, MechError::NoLoadPath { .. }), "{err}");
}

#[test]
fn every_load_path_between_the_platens_carries_load() {
    // Two separate solid columns (3×2 and 2×2 voxels) from bottom to top and
    // a stub on the bottom only: each column is in uniaxial stress, so the
    // force is E ε over both areas and SED is ½ E ε² in every column voxel.
    let ctx = common::gpu();
    let dims = [8, 6, 7];
    let idx = |x: usize, y: usize, z: usize| x + 8 * (y + 6 * z);
    let mut m = vec![0f32; 8 * 6 * 7];
    for z in 0..7 {
        for (x, y) in [(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 1)] {
            m[idx(x, y, z)] = 1.0;
        }
        for (x, y) in [(5, 3), (6, 3), (5, 4), (6, 4)] {
            m[idx(x, y, z)] = 1.0;
        }
    }
    m[idx(1, 4, 0)] = 1.0;
    m[idx(1, 4, 1)] = 1.0;
    let bone: Vec<bool> = m.iter().map(|&v| v > 0.5).collect();
    let path = load_bearing_components(dims, &bone).unwrap();
    assert_eq!((path[idx(0, 0, 3)], path[idx(6, 4, 3)]), (0, 1));
    assert_eq!(path[idx(1, 4, 0)], SET_ASIDE);

    let (eps, nu) = (0.01, 0.3);
    let mut solver = MechSolver::new(&ctx, dims, H_UM, params(eps, false, nu)).unwrap();
    let res = solver.solve(&ctx, &m, false).unwrap();
    assert_eq!((res.voxels_solved, res.voxels_set_aside), (70, 2));
    let h = H_UM / 1000.0;
    assert!(
        rel(res.reaction_force_n, E * 10.0 * h * h * eps) < 5e-3,
        "{res:?}"
    );
    let sed = solver.read_sed(&ctx);
    for (i, &p) in path.iter().enumerate() {
        let want = if p == SET_ASIDE {
            0.0
        } else {
            0.5 * E * eps * eps
        };
        assert!(
            (sed[i] as f64 - want).abs() <= 5e-3 * 0.5 * E * eps * eps,
            "voxel {i} (path {p}): {}",
            sed[i]
        );
    }
}

#[test]
fn warm_start_after_removing_voxels_takes_fewer_iterations() {
    let ctx = common::gpu();
    let dims = [14, 14, 14];
    let m0 = porous(dims, 9);
    let mut m1 = m0.clone();
    // Remove a few bone voxels in the middle.
    let mut removed = 0;
    for (i, v) in m1.iter_mut().enumerate() {
        if *v > 0.5 && i > 1300 && hash01(i, 77) < 0.05 && removed < 6 {
            *v = 0.0;
            removed += 1;
        }
    }
    assert_eq!(removed, 6);
    let mut solver = MechSolver::new(&ctx, dims, H_UM, params(0.01, false, 0.3)).unwrap();
    solver.solve(&ctx, &m0, false).unwrap();
    let warm = solver.solve(&ctx, &m1, true).unwrap();
    let mut fresh = MechSolver::new(&ctx, dims, H_UM, params(0.01, false, 0.3)).unwrap();
    let cold = fresh.solve(&ctx, &m1, false).unwrap();
    assert!(warm.warm_start && !cold.warm_start);
    assert!(
        warm.iterations < cold.iterations,
        "warm {} vs cold {} iterations",
        warm.iterations,
        cold.iterations
    );
    assert!(rel(warm.reaction_force_n, cold.reaction_force_n) < 1e-4);
    eprintln!(
        "warm start: {} iterations vs cold {} ({} voxels)",
        warm.iterations, cold.iterations, cold.voxels_solved
    );
}

/// The V-cycle is a symmetric positive definite map (what PCG needs): for
/// random r, s on a lattice with odd edges (uneven coarsening),
/// sᵀM⁻¹r = rᵀM⁻¹s and rᵀM⁻¹r > 0; and it is zero on fixed dofs.
#[test]
fn multigrid_preconditioner_is_symmetric_and_positive() {
    let ctx = common::gpu();
    let dims = [15, 13, 17];
    let m = porous(dims, 4);
    let mut solver = MechSolver::new(&ctx, dims, H_UM, params(0.01, false, 0.3)).unwrap();
    let nn = node_count(dims);
    let r: Vec<f32> = (0..3 * nn).map(|i| hash01(i, 5) as f32 - 0.5).collect();
    let s: Vec<f32> = (0..3 * nn).map(|i| hash01(i, 6) as f32 - 0.5).collect();
    let zr = solver.apply_preconditioner(&ctx, &m, &r).unwrap();
    let zs = solver.apply_preconditioner(&ctx, &m, &s).unwrap();
    let mesh = solver.mesh().unwrap();
    let free = |i: usize| {
        let f = mesh.flags[i / 3];
        f & 8 != 0 && f & (1 << (i % 3)) == 0
    };
    let dot = |a: &[f32], b: &[f32]| -> f64 {
        (0..a.len())
            .filter(|&i| free(i))
            .map(|i| a[i] as f64 * b[i] as f64)
            .sum()
    };
    let (s_zr, r_zs) = (dot(&s, &zr), dot(&r, &zs));
    let scale = dot(&r, &zr).abs().max(dot(&s, &zs).abs());
    assert!(
        (s_zr - r_zs).abs() < 1e-4 * scale,
        "sᵀM⁻¹r {s_zr} vs rᵀM⁻¹s {r_zs}"
    );
    assert!(dot(&r, &zr) > 0.0 && dot(&s, &zs) > 0.0);
    assert!(
        (0..3 * nn).all(|i| free(i) || zr[i] == 0.0),
        "z must vanish on fixed and inactive dofs"
    );
}

/// Multigrid and Jacobi PCG converge to the same displacement field; the
/// V-cycle needs far fewer iterations (even and odd lattice edges).
#[test]
fn multigrid_matches_jacobi_in_far_fewer_iterations() {
    let ctx = common::gpu();
    for dims in [[16, 16, 16], [15, 13, 11]] {
        let m = porous(dims, 8);
        let solve = |pc| {
            let p = MechParams {
                preconditioner: pc,
                ..params(0.01, false, 0.3)
            };
            let mut s = MechSolver::new(&ctx, dims, H_UM, p).unwrap();
            let r = s.solve(&ctx, &m, false).unwrap();
            (r, s.read_sed(&ctx))
        };
        let (mg, sed_mg) = solve(Preconditioner::Multigrid);
        let (jac, sed_jac) = solve(Preconditioner::Jacobi);
        assert!(mg.relative_residual <= 1e-6 && jac.relative_residual <= 1e-6);
        assert!(
            rel(mg.reaction_force_n, jac.reaction_force_n) < 1e-4,
            "{dims:?}: F {} vs {}",
            mg.reaction_force_n,
            jac.reaction_force_n
        );
        let max = sed_jac.iter().cloned().fold(0f32, f32::max);
        let diff = sed_mg
            .iter()
            .zip(&sed_jac)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(
            diff < 1e-3 * max,
            "{dims:?}: SED differs by {diff} (max {max})"
        );
        assert!(
            3 * mg.iterations < jac.iterations,
            "{dims:?}: multigrid {} vs Jacobi {} iterations",
            mg.iterations,
            jac.iterations
        );
        eprintln!(
            "{dims:?}: multigrid {} iterations ({:.2} s), Jacobi {} ({:.2} s)",
            mg.iterations, mg.wall_s, jac.iterations, jac.wall_s
        );
    }
}

/// NaN, infinite or negative mineral has no modulus: the solve refuses it
/// and names the voxel, instead of treating it as marrow.
#[test]
fn a_mineral_that_is_not_a_number_is_refused_with_its_voxel() {
    let ctx = common::gpu();
    let dims = [6, 5, 4];
    let mut solver = MechSolver::new(&ctx, dims, H_UM, params(0.01, false, 0.3)).unwrap();
    for bad in [f32::NAN, f32::INFINITY, -0.5] {
        let mut m = vec![1.0f32; 6 * 5 * 4];
        m[2 + 6 * (3 + 5)] = bad; // voxel (2, 3, 1)
        let err = solver.solve(&ctx, &m, false).unwrap_err();
        assert!(
            matches!(
                err,
                MechError::BadMineral {
                    x: 2,
                    y: 3,
                    z: 1,
                    ..
                }
            ),
            "{bad}: {err}"
        );
        assert!(err.to_string().contains("(2, 3, 1)"), "{err}");
    }
}

#[test]
fn iteration_cap_is_a_clear_error() {
    let ctx = common::gpu();
    let dims = [8, 8, 8];
    let p = MechParams {
        max_iter: 3,
        ..params(0.01, false, 0.3)
    };
    let mut solver = MechSolver::new(&ctx, dims, H_UM, p).unwrap();
    let err = solver.solve(&ctx, &porous(dims, 2), false).unwrap_err();
    assert!(err.to_string().contains("did not converge"), "{err}");
    match err {
        MechError::NotConverged {
            iterations,
            relative_residual,
            ..
        } => {
            assert_eq!(iterations, 3);
            assert!(relative_residual > 1e-6 && relative_residual.is_finite());
        }
        e => panic!("expected NotConverged, got {e}"),
    }
}

#[test]
fn a_lattice_beyond_the_binding_limit_is_refused_up_front() {
    let ctx = common::gpu();
    let dims = [2000, 2000, 2000];
    let err = MechSolver::new(&ctx, dims, H_UM, MechParams::default())
        .err()
        .expect("refused");
    match err {
        MechError::TooLarge {
            bytes_needed,
            max_binding_bytes,
            ..
        } => assert!(bytes_needed > max_binding_bytes),
        e => panic!("expected TooLarge, got {e}"),
    }
}

/// Iterations and wall time on procedural porous lattices (not run by default):
/// `MECH_SIZES="32 64 96 128" [MECH_TOL=1e-6] [MECH_PRECONDITIONER=jacobi] cargo test --release --test mechanics \
/// -- --ignored --nocapture measure_porous_lattices`.
#[test]
#[ignore]
fn measure_porous_lattices() {
    use trabecula::lattice::generate::{GeneratorSpec, generate};
    let ctx = common::gpu();
    eprintln!("adapter: {}", ctx.summary.one_line());
    let sizes = std::env::var("MECH_SIZES").unwrap_or_else(|_| "32 64".into());
    for n in sizes
        .split_whitespace()
        .map(|s| s.parse::<usize>().unwrap())
    {
        let dims = [n, n, n];
        let spec = GeneratorSpec {
            dims,
            voxel_size_um: 20.0,
            bv_tv: 0.2,
            tb_th_um: 150.0,
            rod_weight: 0.5,
            anisotropy: 1.3,
            seed: 1,
        };
        let lat = generate(&ctx, &spec).unwrap().lattice;
        let tol: f64 = std::env::var("MECH_TOL").map_or(1e-6, |t| t.parse().unwrap());
        let preconditioner = match std::env::var("MECH_PRECONDITIONER").as_deref() {
            Ok("jacobi") => Preconditioner::Jacobi,
            _ => Preconditioner::Multigrid,
        };
        let params = MechParams {
            tol,
            preconditioner,
            ..MechParams::default()
        };
        let mut s = MechSolver::new(&ctx, dims, 20.0, params).unwrap();
        let r = s.solve(&ctx, &lat.mineral, false).unwrap();
        eprintln!(
            "{n}³: BV/TV {:.3}, {} solved, {} set aside, {} iterations ({} on the host), \
             residual {:.2e}, E_app {:.1} MPa, {:.1} s; history {:?}",
            lat.bv_tv(),
            r.voxels_solved,
            r.voxels_set_aside,
            r.iterations,
            r.host_iterations,
            r.relative_residual,
            r.apparent_modulus_mpa,
            r.wall_s,
            r.history
                .iter()
                .map(|(i, r)| format!("{i}:{r:.1e}"))
                .collect::<Vec<_>>()
        );
    }
}

/// The simulation solves FE on day 0, keeps the field until a re-solve is
/// due, then solves warm-started and hands the new SED, under the day-0
/// force, to the cell kernels.
#[test]
fn simulation_feeds_fe_sed_to_cells_and_resolves_when_due() {
    use trabecula::gpu::read_buffer;
    use trabecula::sim::Simulation;
    use trabecula::sim::mechanics::Mechanics;
    let ctx = common::gpu();
    let text = r#"
name = "fe-coupling"
seed = 3
days = 4
[lattice]
species = "human"
dims = [24, 24, 24]
[mechanics]
model = "fe"
tolerance = 1e-5
resolve_every_days = 2
[[loading.phases]]
days = 4
gravity = 0.0
"#;
    let scene = trabecula::scene::parse(text, "fe.toml", &[]).unwrap();
    let (lat, _) = trabecula::lattice::from_scene(&ctx, &scene).unwrap();
    let mut sim = Simulation::new(&ctx, &scene, &lat, 64).unwrap();
    let n = lat.mineral.len() as u64;
    let cells_sed = |sim: &Simulation| -> Vec<f32> {
        read_buffer(&ctx.device, &ctx.queue, &sim.state.fields.sed, 0, n)
    };
    let solver_sed = |sim: &Simulation| match &sim.mechanics {
        Mechanics::Fe(fe) => fe.solver.read_sed(&ctx),
        Mechanics::Uniform => panic!("scene asks for FE"),
    };
    let day0 = sim.measure(&ctx);
    let first = day0.solve.expect("day-0 solve");
    assert!(first.iterations > 0 && !first.warm_start);
    assert!(first.relative_residual <= 1e-5);
    let sed0 = cells_sed(&sim);
    assert_eq!(sed0, solver_sed(&sim));
    // A real FE field: zero in marrow, varying over the bone.
    let bone: Vec<f32> = sed0
        .iter()
        .zip(&lat.mineral)
        .filter(|(_, m)| **m >= 0.5)
        .map(|(s, _)| *s)
        .collect();
    assert!(
        sed0.iter()
            .zip(&lat.mineral)
            .all(|(s, m)| *m >= 0.5 || *s == 0.0)
    );
    let max = bone.iter().cloned().fold(0.0f32, f32::max);
    let mean = bone.iter().sum::<f32>() / bone.len() as f32;
    assert!(
        max > 2.0 * mean,
        "SED max {max} vs mean {mean}: not a field"
    );

    let r1 = sim.advance(&ctx).unwrap();
    let r2 = sim.advance(&ctx).unwrap();
    assert!(r1.solve.is_none() && r2.solve.is_none());
    assert_eq!(cells_sed(&sim), sed0, "no solve: the field is kept");
    let r3 = sim.advance(&ctx).unwrap();
    let again = r3.solve.expect("due after 2 days");
    assert!(again.warm_start);
    // The geometry changed by remodeling, and the cells see the new field,
    // rescaled from the imposed strain to the day-0 (habitual) force.
    let sed3 = cells_sed(&sim);
    let Mechanics::Fe(fe) = &sim.mechanics else {
        unreachable!()
    };
    let k = (first.reaction_force_n / again.reaction_force_n).powi(2);
    assert!((fe.force_scale() - k).abs() < 1e-12 * k);
    assert!(first.reaction_force_n > 0.0 && again.reaction_force_n != first.reaction_force_n);
    let expected: Vec<f32> = solver_sed(&sim).iter().map(|s| s * k as f32).collect();
    assert_eq!(sed3, expected);
    assert_ne!(sed3, sed0);
    assert!(r3.apparent_modulus_mpa > 0.0);
}

/// Plain f32 PCG stalls orders of magnitude above 1e-10; mixed-precision
/// iterative refinement (f64 residual on the host, f32 corrections on the
/// GPU) gets there, and its f64 displacement equals an independent f64 CG
/// on the CPU.
#[test]
fn iterative_refinement_reaches_a_tolerance_below_f32_precision() {
    let ctx = common::gpu();
    let dims = [12, 12, 12];
    let p = MechParams {
        tol: 1e-10,
        ..params(0.01, false, 0.3)
    };
    let mut solver = MechSolver::new(&ctx, dims, H_UM, p).unwrap();
    let res = solver.solve(&ctx, &porous(dims, 5), false).unwrap();
    eprintln!(
        "{} iterations, relative residual {:.2e}; history {:?}",
        res.iterations, res.relative_residual, res.history
    );
    assert!(res.relative_residual <= 1e-10);

    // The CPU side: free dofs, lift (imposed values), K restricted to them.
    let mesh = solver.mesh().unwrap();
    let u = solver.displacement_f64().to_vec();
    let free: Vec<bool> = (0..u.len())
        .map(|i| mesh.flags[i / 3] & ACTIVE != 0 && mesh.flags[i / 3] & (FIX_X << (i % 3)) == 0)
        .collect();
    let apply = |v: &[f64]| reference::apply_ebe(dims, mesh.h_mm, &mesh.e_mpa, 0.3, v);
    let masked = |v: Vec<f64>| -> Vec<f64> {
        v.into_iter()
            .zip(&free)
            .map(|(x, &f)| if f { x } else { 0.0 })
            .collect()
    };
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let lift: Vec<f64> = u
        .iter()
        .zip(&free)
        .map(|(&x, &f)| if f { 0.0 } else { x })
        .collect();
    // The top face carries the imposed −ε·H, the bottom 0.
    let top_z = -0.01 * dims[2] as f64 * H_UM / 1000.0;
    let plane = (dims[0] + 1) * (dims[1] + 1);
    let top = dims[2] * plane;
    for i in top..top + plane {
        if mesh.flags[i] & ACTIVE != 0 {
            assert_eq!(lift[3 * i + 2], top_z);
        }
    }
    let b: Vec<f64> = masked(apply(&lift)).iter().map(|x| -x).collect();
    let r_sol: Vec<f64> = masked(apply(&u)).iter().map(|x| -x).collect();
    let independent = (dot(&r_sol, &r_sol) / dot(&b, &b)).sqrt();
    assert!(
        independent <= 1e-10,
        "f64 residual of the solution {independent:.2e}"
    );

    // Independent f64 CG (unpreconditioned) for the free part.
    let mut x = vec![0.0; u.len()];
    let mut r = b.clone();
    let mut d = r.clone();
    let mut rr = dot(&r, &r);
    let stop = 1e-26 * dot(&b, &b);
    let mut k = 0;
    while rr > stop {
        let q = masked(apply(&d));
        let alpha = rr / dot(&d, &q);
        for i in 0..x.len() {
            x[i] += alpha * d[i];
            r[i] -= alpha * q[i];
        }
        let rr_new = dot(&r, &r);
        for i in 0..d.len() {
            d[i] = r[i] + rr_new / rr * d[i];
        }
        rr = rr_new;
        k += 1;
        assert!(k < 20_000, "CPU CG did not converge");
    }
    let diff: Vec<f64> = (0..u.len())
        .filter(|&i| free[i])
        .map(|i| u[i] - x[i])
        .collect();
    let ufree: Vec<f64> = (0..u.len()).filter(|&i| free[i]).map(|i| x[i]).collect();
    let err = (dot(&diff, &diff) / dot(&ufree, &ufree)).sqrt();
    eprintln!("CPU CG {k} iterations; relative displacement difference {err:.2e}");
    // The error is at most cond(K)·residual: measured 2.1e-8 at 1e-10.
    assert!(
        err < 1e-7,
        "displacement differs from the f64 CG by {err:.2e}"
    );
}

/// The smoother's coefficients, run on scalar problems λ x = 1 (D̂ = 1),
/// leave the residual T_m((θ − λ)/δ) / T_m(θ/δ): the Chebyshev polynomial
/// of the target interval, computed here from its cosine form. From a
/// given x (post-smoothing) the residual shrinks by the same factor.
#[test]
fn chebyshev_steps_follow_the_chebyshev_polynomial() {
    use trabecula::mech::multigrid::chebyshev_steps;
    let cheb = |m: u32, y: f64| -> f64 {
        if y.abs() <= 1.0 {
            (m as f64 * y.acos()).cos()
        } else {
            y.signum().powi(m as i32) * (m as f64 * y.abs().acosh()).cosh()
        }
    };
    for (degree, ratio) in [(2, 16.0), (4, 16.0), (6, 8.0), (32, 1024.0)] {
        let steps = chebyshev_steps(degree, ratio);
        assert_eq!(steps.len(), degree as usize + 1);
        let (lo, hi) = (1.0 / ratio, 1.0);
        let (theta, delta) = ((hi + lo) / 2.0, (hi - lo) / 2.0);
        for k in 0..=20 {
            let lambda = lo + (hi - lo) * k as f64 / 20.0;
            // Step 0 starts from x = 0, step 1 from a given x; 2.. follow either.
            let run = |x0: f64| {
                let first = if x0 == 0.0 { 0 } else { 1 };
                let (mut x, mut d) = (x0, 0.0);
                for st in std::iter::once(&steps[first]).chain(&steps[2..]) {
                    let r = 1.0 - lambda * x;
                    d = st.keep as f64 * d + st.gain as f64 * r;
                    x += d;
                }
                1.0 - lambda * x
            };
            let expected = cheb(degree, (theta - lambda) / delta) / cheb(degree, theta / delta);
            let bound = 1.0 / cheb(degree, theta / delta);
            for x0 in [0.0, 0.37] {
                let r0 = 1.0 - lambda * x0;
                let got = run(x0);
                assert!(
                    (got - expected * r0).abs() < 1e-5 + 1e-4 * (expected * r0).abs(),
                    "degree {degree}, λ {lambda}, x0 {x0}: residual {got}, expected {}",
                    expected * r0
                );
                assert!(got.abs() <= bound * r0.abs() * (1.0 + 1e-4) + 1e-6);
            }
        }
    }
}

/// The coarsest grid's inverse: A·A⁻¹ = I for an SPD matrix, and for a
/// singular one (an unsupported chain of springs) a symmetric generalised
/// inverse X with A X A = A.
#[test]
fn dense_inverse_of_spd_and_singular_matrices() {
    use trabecula::mech::multigrid::spd_inverse;
    let n = 24;
    let b: Vec<f64> = (0..n * n).map(|i| hash01(i, 11) - 0.5).collect();
    let mut a = vec![0f64; n * n];
    for i in 0..n {
        for j in 0..n {
            a[i * n + j] = (0..n).map(|k| b[k * n + i] * b[k * n + j]).sum::<f64>()
                + if i == j { 0.1 } else { 0.0 };
        }
    }
    let x = spd_inverse(&a, n);
    for i in 0..n {
        for j in 0..n {
            let ax: f64 = (0..n).map(|k| a[i * n + k] * x[k * n + j]).sum();
            let id = if i == j { 1.0 } else { 0.0 };
            assert!((ax - id).abs() < 1e-8, "A·A⁻¹ [{i}][{j}] = {ax}");
        }
    }
    // Springs of stiffness 1 + i between n free points: singular (translation).
    let mut a = vec![0f64; n * n];
    for i in 0..n - 1 {
        let k = 1.0 + i as f64;
        a[i * n + i] += k;
        a[(i + 1) * n + i + 1] += k;
        a[i * n + i + 1] -= k;
        a[(i + 1) * n + i] -= k;
    }
    let x = spd_inverse(&a, n);
    let mul = |p: &[f64], q: &[f64]| -> Vec<f64> {
        (0..n * n)
            .map(|ij| (0..n).map(|k| p[ij / n * n + k] * q[k * n + ij % n]).sum())
            .collect()
    };
    let axa = mul(&mul(&a, &x), &a);
    for ij in 0..n * n {
        assert!((axa[ij] - a[ij]).abs() < 1e-8 * 24.0, "AXA ≠ A at {ij}");
        assert_eq!(x[ij], x[ij % n * n + ij / n], "X not symmetric");
    }
}
