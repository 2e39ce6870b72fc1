//! `trabecula mech`: uniaxial compression of a MetaImage volume; writes
//! `sed.mhd` (MPa), `displacement.mhd` (magnitude, mm) and `mech.json`.

use std::path::PathBuf;

use anyhow::{Context, Result};

use super::{LoadCase, MechParams, MechSolver, Preconditioner};
use crate::gpu::GpuContext;
use crate::io::atomic::write_atomic_bytes;
use crate::io::mhd::Volume;
use crate::lattice::Lattice;

/// Arguments of `trabecula mech`.
#[derive(Debug, Clone, clap::Args)]
pub struct MechArgs {
    /// MetaImage volume (.mhd); voxel size from its ElementSpacing (mm).
    #[arg(long)]
    pub volume: PathBuf,
    /// Grey value at or above which a voxel is bone (mineral 1). Without it,
    /// values are mineral fractions clamped to [0, 1] (bone where ≥ 0.5).
    #[arg(long)]
    pub threshold: Option<f64>,
    #[command(flatten)]
    pub test: Compression,
    /// Output folder.
    #[arg(long, default_value = "mech-out")]
    pub out: PathBuf,
}

/// A uniaxial compression test of a lattice and how it is solved.
#[derive(Debug, Clone, clap::Args)]
pub struct Compression {
    /// Apparent compressive strain along z.
    #[arg(long, default_value_t = 0.01)]
    pub strain: f64,
    /// Tissue modulus of fully mineralised bone (MPa).
    #[arg(long, default_value_t = 15_000.0)]
    pub young_mpa: f64,
    /// Poisson ratio.
    #[arg(long, default_value_t = 0.3)]
    pub poisson: f64,
    /// Exponent p of E = E_tissue · mineral^p.
    #[arg(long, default_value_t = 2.0)]
    pub exponent: f64,
    /// Relative residual tolerance ‖r‖/‖r₀‖.
    #[arg(long, default_value_t = 1e-6)]
    pub tol: f64,
    /// Iteration cap.
    #[arg(long, default_value_t = 20_000)]
    pub max_iter: u32,
    /// CG preconditioner.
    #[arg(long, value_enum, default_value_t = Preconditioner::Multigrid)]
    pub preconditioner: Preconditioner,
    /// Side faces confined (u_x = 0 on x faces, u_y = 0 on y faces).
    #[arg(long)]
    pub confined: bool,
}

impl Default for Compression {
    /// The command line's defaults.
    fn default() -> Self {
        Self {
            strain: 0.01,
            young_mpa: 15_000.0,
            poisson: 0.3,
            exponent: 2.0,
            tol: 1e-6,
            max_iter: 20_000,
            preconditioner: Preconditioner::Multigrid,
            confined: false,
        }
    }
}

/// A solved compression test: the solve's record and its fields (x fastest).
pub struct Compressed {
    pub result: super::MechResult,
    /// Strain energy density, MPa.
    pub sed_mpa: Vec<f32>,
    /// Displacement magnitude, mm.
    pub displacement_mm: Vec<f32>,
}

impl Compression {
    /// Solves the test on `lattice` (its mineral fractions give the moduli).
    pub fn solve(&self, ctx: &GpuContext, lattice: &Lattice) -> Result<Compressed> {
        let params = MechParams {
            e_tissue_mpa: self.young_mpa,
            poisson: self.poisson,
            exponent: self.exponent,
            tol: self.tol,
            max_iter: self.max_iter,
            preconditioner: self.preconditioner,
            load: LoadCase::CompressionZ {
                strain: self.strain,
                confined: self.confined,
            },
            ..MechParams::default()
        };
        let mut solver = MechSolver::new(ctx, lattice.dims, lattice.voxel_size_um, params)?;
        let result = solver.solve(ctx, &lattice.mineral, false)?;
        Ok(Compressed {
            result,
            sed_mpa: solver.read_sed(ctx),
            displacement_mm: solver.read_displacement_magnitude(ctx),
        })
    }
}

#[derive(serde::Serialize)]
struct Report<'a> {
    volume: String,
    adapter: String,
    dims: [usize; 3],
    voxel_size_um: f64,
    strain: f64,
    confined: bool,
    e_tissue_mpa: f64,
    poisson: f64,
    exponent: f64,
    tol: f64,
    preconditioner: Preconditioner,
    reaction_force_n: f64,
    apparent_modulus_mpa: f64,
    iterations: u32,
    /// Of those, f64 iterations on the host after f32 PCG stopped improving.
    host_iterations: u32,
    relative_residual: f64,
    voxels_solved: usize,
    voxels_set_aside: usize,
    wall_s: f64,
    history: &'a [(u32, f64)],
}

/// Runs `trabecula mech`.
pub fn mech_command(args: MechArgs) -> Result<()> {
    let volume = Volume::read(&args.volume)?;
    let voxel_um = volume
        .isotropic_voxel_um()
        .map_err(anyhow::Error::msg)
        .with_context(|| args.volume.display().to_string())?;
    let lattice = Lattice::from_volume(&volume, args.threshold, voxel_um);
    let ctx = GpuContext::new()?;
    eprintln!("adapter: {}", ctx.summary.one_line());
    let t = &args.test;
    let Compressed {
        result: res,
        sed_mpa,
        displacement_mm,
    } = t.solve(&ctx, &lattice)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let spacing_mm = voxel_um / 1000.0;
    Volume::from_f32(lattice.dims, spacing_mm, sed_mpa).write(&args.out.join("sed.mhd"))?;
    Volume::from_f32(lattice.dims, spacing_mm, displacement_mm)
        .write(&args.out.join("displacement.mhd"))?;
    let report = Report {
        volume: args.volume.display().to_string(),
        adapter: ctx.summary.one_line(),
        dims: lattice.dims,
        voxel_size_um: voxel_um,
        strain: t.strain,
        confined: t.confined,
        e_tissue_mpa: t.young_mpa,
        poisson: t.poisson,
        exponent: t.exponent,
        tol: t.tol,
        preconditioner: t.preconditioner,
        reaction_force_n: res.reaction_force_n,
        apparent_modulus_mpa: res.apparent_modulus_mpa,
        iterations: res.iterations,
        host_iterations: res.host_iterations,
        relative_residual: res.relative_residual,
        voxels_solved: res.voxels_solved,
        voxels_set_aside: res.voxels_set_aside,
        wall_s: res.wall_s,
        history: &res.history,
    };
    let json = serde_json::to_string_pretty(&report)?;
    write_atomic_bytes(&args.out.join("mech.json"), json.as_bytes())?;
    println!(
        "{}: F = {:.4} N, E_app = {:.1} MPa, {} iterations ({} in f64 on the host), residual {:.2e}, {} voxels solved, {} set aside, {:.2} s",
        args.out.display(),
        res.reaction_force_n,
        res.apparent_modulus_mpa,
        res.iterations,
        res.host_iterations,
        res.relative_residual,
        res.voxels_solved,
        res.voxels_set_aside,
        res.wall_s
    );
    Ok(())
}
