//! trabecula's micro-FE solve against the peer solvers of
//! `benches/peers.rs` on the very same porous voxel mesh (per-voxel
//! modulus, supports, strain): CalculiX (`ccx`, direct) for the reaction
//! force and the per-voxel strain energy density, ParOSol (PyPI
//! `parosol-py`) for the reaction force.
//!
//! A peer that is not installed is reported and the check passes, unless
//! `TRABECULA_REQUIRE_PEERS` names it: a comma list of `ccx` (CalculiX) and
//! `parosol`, or `1` / `all` for both (CI sets `ccx`).

mod common;

use common::porous;

#[path = "../benches/peers.rs"]
mod peers;

use std::path::Path;

use peers::{PeerMesh, PeerOutcome, PeerResult};
use trabecula::gpu::GpuContext;
use trabecula::mech::{LoadCase, MechParams, MechSolver};

const H_UM: f64 = 20.0;
const POISSON: f64 = 0.3;
const STRAIN: f64 = 0.01;
const TOL: f64 = 1e-6;

/// Whether `TRABECULA_REQUIRE_PEERS` (comma list: `ccx`, `parosol`, `1`
/// or `all`) makes peer `key` required.
fn required(key: &str) -> bool {
    std::env::var("TRABECULA_REQUIRE_PEERS")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .any(|k| {
            k == "1"
                || k.eq_ignore_ascii_case("all")
                || k.eq_ignore_ascii_case(key)
                || (key == "ccx" && k.eq_ignore_ascii_case("calculix"))
        })
}

/// The peer's result, or None (printed) when it is not installed and not
/// required; a missing required peer fails the test.
fn ran(key: &str, outcome: anyhow::Result<PeerOutcome>) -> Option<PeerResult> {
    match outcome.unwrap_or_else(|e| panic!("peer {key} failed: {e:#}")) {
        PeerOutcome::Ran(r) => Some(r),
        PeerOutcome::NotInstalled(why) => {
            assert!(
                !required(key),
                "TRABECULA_REQUIRE_PEERS requires `{key}`, but it is not installed: {why}"
            );
            eprintln!("peer {key} did not run (not installed): {why}");
            None
        }
    }
}

/// Solves a porous `dims` mesh with trabecula, then with each installed
/// peer on `solver.mesh()` (its moduli and support flags), and compares.
fn compare(ctx: &GpuContext, dims: [usize; 3], seed: u64, work: &Path) {
    let mineral = porous(dims, seed);
    let params = MechParams {
        poisson: POISSON,
        tol: TOL,
        load: LoadCase::CompressionZ {
            strain: STRAIN,
            confined: false,
        },
        ..MechParams::default()
    };
    let mut solver = MechSolver::new(ctx, dims, H_UM, params).unwrap();
    let res = solver.solve(ctx, &mineral, false).unwrap();
    assert!(res.relative_residual <= TOL, "{res:?}");
    let sed_t = solver.read_sed(ctx);
    let mesh = solver.mesh().unwrap();
    let f_t = res.reaction_force_n;
    let pm = PeerMesh {
        dims,
        h_mm: mesh.h_mm,
        e_mpa: &mesh.e_mpa,
        poisson: POISSON,
        strain: STRAIN,
        flags: &mesh.flags,
        tol: TOL,
    };
    let tag = format!("{}x{}x{}", dims[0], dims[1], dims[2]);
    eprintln!(
        "{tag}: trabecula F {f_t:.9} N, {} iterations, {} voxels solved",
        res.iterations, mesh.voxels_solved
    );

    let ccx = ran("ccx", peers::calculix_with_sed(&pm, &work.join("ccx")));
    let parosol = ran("parosol", peers::parosol(&pm, &work.join("parosol")));

    if let Some(c) = ccx {
        let df = (f_t - c.reaction_force_n).abs() / c.reaction_force_n.abs();
        let sed_c = c.sed_mpa.as_ref().expect("calculix_with_sed gives SED");
        assert_eq!(sed_c.len(), sed_t.len());
        let (mut diff2, mut norm2) = (0.0f64, 0.0f64);
        for (&t, &c) in sed_t.iter().zip(sed_c) {
            diff2 += (t as f64 - c).powi(2);
            norm2 += c * c;
        }
        let dsed = (diff2 / norm2).sqrt();
        eprintln!(
            "{tag}: CalculiX F {:.9} N, |ΔF|/F {df:.3e}; SED ‖Δ‖₂/‖sed_ccx‖₂ {dsed:.3e} \
             ({} elements, ccx {:.2} s)",
            c.reaction_force_n, c.elements, c.wall_s
        );
        assert_eq!(c.elements, mesh.voxels_solved, "{tag}: element count");
        assert!(
            df < 1e-2,
            "{tag}: force {f_t} vs CalculiX {}",
            c.reaction_force_n
        );
        assert!(
            dsed < 2e-2,
            "{tag}: SED relative L2 error {dsed:.3e} vs CalculiX"
        );
    }
    if let Some(p) = parosol {
        let df = (f_t - p.reaction_force_n).abs() / p.reaction_force_n.abs();
        eprintln!(
            "{tag}: ParOSol F {:.9} N, |ΔF|/F {df:.3e} ({:?} iterations, {:.2} s)",
            p.reaction_force_n, p.iterations, p.wall_s
        );
        assert!(
            df < 1e-2,
            "{tag}: force {f_t} vs ParOSol {}",
            p.reaction_force_n
        );
    }
}

#[test]
fn porous_meshes_match_calculix_force_and_sed_and_parosol_force() {
    let ctx = common::gpu();
    let work = tempfile::Builder::new()
        .prefix("trabecula-peers-")
        .tempdir()
        .unwrap();
    compare(&ctx, [16, 16, 16], 3, &work.path().join("16"));
    compare(&ctx, [24, 24, 24], 9, &work.path().join("24"));
}
