//! Where a run's unit-load SED comes from (docs/design.md §3 stage 1, §4 Mechanics): either a
//! voxel micro-FE solve of the current geometry, repeated when the bone has
//! changed enough or every `resolve_every_days`, warm-started; or a uniform
//! prescribed SED. Gravity, exercise and drugs scale the unit-load field
//! inside the cell kernels, so they never trigger a solve.
//!
//! The habitual load is a force, not a strain: the FE case imposes
//! `habitual_strain` on the day-0 structure, and the reaction force of that
//! first solve is the habitual force. Later solves impose the same strain on
//! the changed structure and are rescaled (linear elasticity) to that force,
//! SED × (F₀/F)², so a structure that loses stiffness strains more under the
//! same body weight — the negative feedback of the mechanostat — instead of
//! reading as disuse everywhere.

use anyhow::{Context, Result};

use crate::gpu::GpuContext;
use crate::lattice::{BONE_THRESHOLD, Lattice};
use crate::mech::{LoadCase, MechParams, MechResult, MechSolver};
use crate::scene::{MechModel, Scene};

/// The uniform model's field: `habitual_sed_mpa` in bone, 0 in marrow.
pub fn uniform_sed(scene: &Scene, lattice: &Lattice) -> Vec<f32> {
    let sed = scene.resolve().mechanics.habitual_sed_mpa as f32;
    lattice
        .mineral
        .iter()
        .map(|&m| if m >= BONE_THRESHOLD { sed } else { 0.0 })
        .collect()
}

/// The solver's parameters from a scene's `[mechanics]`.
pub fn mech_params(scene: &Scene) -> MechParams {
    let m = scene.resolve().mechanics;
    MechParams {
        e_tissue_mpa: m.tissue_modulus_mpa,
        poisson: m.poisson_ratio,
        exponent: m.modulus_exponent,
        tol: m.tolerance,
        load: LoadCase::CompressionZ {
            strain: m.habitual_strain,
            confined: false,
        },
        ..MechParams::default()
    }
}

/// The last solve of a run: what the time series reports for it.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SolveRecord {
    pub day: f64,
    pub iterations: u32,
    pub relative_residual: f64,
    pub voxels_set_aside: usize,
    pub apparent_modulus_mpa: f64,
    pub warm_start: bool,
    /// At the imposed `habitual_strain`.
    pub reaction_force_n: f64,
}

impl SolveRecord {
    fn new(day: f64, r: &MechResult) -> Self {
        Self {
            day,
            iterations: r.iterations,
            relative_residual: r.relative_residual,
            voxels_set_aside: r.voxels_set_aside,
            apparent_modulus_mpa: r.apparent_modulus_mpa,
            warm_start: r.warm_start,
            reaction_force_n: r.reaction_force_n,
        }
    }
}

/// The FE side of a run: the solver (which keeps the last displacement for
/// warm starts) and the bookkeeping that decides when to solve again.
pub struct FeMechanics {
    pub solver: MechSolver,
    /// Voxel volumes resorbed plus formed since the last solve.
    pub changed_since_solve: f64,
    pub last: SolveRecord,
    /// Reaction force of the day-0 solve: the habitual load (N).
    pub habitual_force_n: f64,
    every_days: f64,
    bone_change: f64,
}

impl FeMechanics {
    /// The solver for `lattice`, not yet solved.
    fn build(ctx: &GpuContext, scene: &Scene, lattice: &Lattice) -> Result<Self> {
        let m = scene.resolve().mechanics;
        let solver = MechSolver::new(ctx, lattice.dims, lattice.voxel_size_um, mech_params(scene))
            .context("building the mechanics solver")?;
        Ok(Self {
            solver,
            changed_since_solve: 0.0,
            last: SolveRecord::default(),
            habitual_force_n: 0.0,
            every_days: m.resolve_every_days,
            bone_change: m.resolve_bone_change,
        })
    }

    /// Builds the solver for `lattice` and solves it cold (day 0).
    pub fn new(ctx: &GpuContext, scene: &Scene, lattice: &Lattice) -> Result<Self> {
        let mut fe = Self::build(ctx, scene, lattice)?;
        let day0 = fe.solve(ctx, &lattice.mineral, 0.0).context(
            "mechanics on day 0 (a lattice that cannot carry the load can run with \
             `[mechanics] model = \"uniform\"`)",
        )?;
        fe.habitual_force_n = day0.reaction_force_n;
        Ok(fe)
    }

    /// The FE side of a run saved at a checkpoint: the solver rebuilt for
    /// `mineral` (the lattice now) with the saved displacement `u`.
    pub fn restore(
        ctx: &GpuContext,
        scene: &Scene,
        lattice: &Lattice,
        u: &[f32],
        last: SolveRecord,
        changed_since_solve: f64,
        habitual_force_n: f64,
    ) -> Result<Self> {
        let mut fe = Self::build(ctx, scene, lattice)?;
        fe.solver
            .restore_displacement(ctx, &lattice.mineral, u)
            .context("restoring the mechanical solution")?;
        fe.last = last;
        fe.changed_since_solve = changed_since_solve;
        fe.habitual_force_n = habitual_force_n;
        Ok(fe)
    }

    /// Whether the geometry has changed enough, or enough days have passed,
    /// to solve again before the step starting on `day`.
    pub fn due(&self, day: f64, bone_voxels: f64) -> bool {
        day - self.last.day >= self.every_days - 1e-9
            || self.changed_since_solve > self.bone_change * bone_voxels.max(1.0)
    }

    /// Solves on `mineral`, warm-started after the first solve. The new SED
    /// is in `self.solver.sed_buffer()` (at the imposed strain; see
    /// [`Self::unit_load_sed`]).
    pub fn solve(&mut self, ctx: &GpuContext, mineral: &[f32], day: f64) -> Result<SolveRecord> {
        let warm = self.solver.mesh().is_some();
        let r = self
            .solver
            .solve(ctx, mineral, warm)
            .with_context(|| format!("mechanics solve on day {day}"))?;
        self.last = SolveRecord::new(day, &r);
        self.changed_since_solve = 0.0;
        log::debug!(
            "day {day}: FE solve {} iterations (warm {}), residual {:.2e}, {} voxels set aside",
            r.iterations,
            r.warm_start,
            r.relative_residual,
            r.voxels_set_aside
        );
        Ok(self.last)
    }

    /// (F₀/F)²: turns the last solve's SED at the imposed strain into SED
    /// under the habitual force (1 on day 0).
    pub fn force_scale(&self) -> f64 {
        let f = self.last.reaction_force_n;
        if self.habitual_force_n > 0.0 && f > 0.0 {
            (self.habitual_force_n / f).powi(2)
        } else {
            1.0
        }
    }

    /// The last solve's SED under the habitual force (MPa per voxel). Read
    /// back and rescaled on the CPU: this runs once per solve, not per step.
    pub fn unit_load_sed(&self, ctx: &GpuContext) -> Vec<f32> {
        let k = self.force_scale() as f32;
        let mut sed = self.solver.read_sed(ctx);
        sed.iter_mut().for_each(|e| *e *= k);
        sed
    }
}

/// A run's mechanics model.
pub enum Mechanics {
    Fe(Box<FeMechanics>),
    Uniform,
}

impl Mechanics {
    /// The model of `scene`, and the day-0 unit-load SED field.
    pub fn new(ctx: &GpuContext, scene: &Scene, lattice: &Lattice) -> Result<(Self, Vec<f32>)> {
        match scene.resolve().mechanics.model {
            MechModel::Uniform => Ok((Self::Uniform, uniform_sed(scene, lattice))),
            MechModel::Fe => {
                let fe = FeMechanics::new(ctx, scene, lattice)?;
                let sed = fe.unit_load_sed(ctx);
                Ok((Self::Fe(Box::new(fe)), sed))
            }
        }
    }
}
