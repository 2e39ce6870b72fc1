//! One step of the simulation, read top to bottom as docs/design.md §3 (One day).
//!
//! The step owns the encoders; kernels only record. A step is three
//! submissions because births and deaths change the agent counts that later
//! stages dispatch over: after recruitment and after fate the host reads back
//! a few scan totals (bytes, never agent buffers) and grows capacity.

use anyhow::{Context, Result};

use super::mechanics::{Mechanics, SolveRecord};
use super::state::{SimState, total};
use super::systemic::{BodyReport, Systemic};
use crate::cells::{
    CellType, StepParams, compact::Compact, fate, fate::Fate, motion::Motion,
    osteocytes::Osteocytes,
};
use crate::cells::{recruit::Recruit, recruit::RecruitFields, remodel::Remodel};
use crate::gpu::{GpuContext, Kernel, read_buffer, uniform_buffer};
use crate::lattice::Lattice;
use crate::scan::{Reduce, Scan};
use crate::scene::{DayRegime, Scene, Species};
use crate::signals::{Diffuse, DiffuseParams};
use crate::stop::Stop;

/// Slots of the `sums` buffer.
mod sum {
    pub const MINERAL: u32 = 0;
    pub const BONE: u32 = 1;
    pub const BONE_STIMULUS: u32 = 2;
    pub const RANKL: u32 = 3;
    pub const SCLEROSTIN: u32 = 4;
    pub const RESORBED: u32 = 5;
    pub const FORMED: u32 = 6;
    pub const LEN: u64 = 8;
}

/// The per-voxel fields a driver can read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// Mineral fraction 0–1 (bone where ≥ 0.5).
    Mineral,
    /// Strain energy density under the habitual (unit) load, MPa; the day's
    /// stimulus is this times the day's load factor.
    SedUnit,
    /// RANKL concentration (relative units).
    Rankl,
    /// Sclerostin concentration (relative units).
    Sclerostin,
}

/// What one step measured (all from GPU reductions and counters).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StepReport {
    pub day: f64,
    pub bv_tv: f64,
    pub mineral_mean: f64,
    /// Sum of mineral fractions (voxel volumes of bone matrix).
    pub mineral_total: f64,
    pub osteocytes_alive: u32,
    pub osteocytes_apoptotic: u32,
    /// Live osteocytes sensing disuse (stimulus below their lazy zone).
    pub osteocytes_disuse: u32,
    /// Osteoblasts that became osteocytes this step.
    pub osteocytes_embedded: u32,
    pub osteoclasts: u32,
    pub osteoblasts: u32,
    /// Voxel volumes resorbed and formed this step.
    pub resorbed_voxels: f64,
    pub formed_voxels: f64,
    pub resorbed_mm3: f64,
    pub formed_mm3: f64,
    pub mean_stimulus: f64,
    pub mean_rankl: f64,
    pub mean_sclerostin: f64,
    pub load_factor: f64,
    pub gravity: f64,
    pub phase: Option<usize>,
    /// The FE solve done at the start of this step, if any.
    pub solve: Option<SolveRecord>,
    /// Apparent modulus of the last FE solve (MPa; 0 for uniform SED).
    pub apparent_modulus_mpa: f64,
    /// The body's calcium system and turnover markers (human scenes, from
    /// day 0; see `systemic`).
    pub body: Option<BodyReport>,
}

impl StepReport {
    /// The first of the step's field reductions that is NaN or infinite.
    /// Every field the cells read is summed into one of these, so a value
    /// gone bad anywhere on the device shows here the day it happens.
    pub fn first_non_finite(&self) -> Option<(&'static str, f64)> {
        [
            ("the mineral field (sum)", self.mineral_total),
            ("BV/TV", self.bv_tv),
            ("the resorbed volume", self.resorbed_voxels),
            ("the formed volume", self.formed_voxels),
            (
                "the stimulus field (SED × load, mean over bone)",
                self.mean_stimulus,
            ),
            ("the RANKL field (mean)", self.mean_rankl),
            ("the sclerostin field (mean)", self.mean_sclerostin),
            ("the apparent modulus", self.apparent_modulus_mpa),
        ]
        .into_iter()
        .find(|(_, v)| !v.is_finite())
    }
}

/// A field on the device stopped being finite (a diverged solve, or
/// parameters that overflow a signal): the step that found it is refused.
#[derive(Debug, Clone, thiserror::Error)]
#[error("day {day}: {field} is {value} — a field on the device is no longer finite")]
pub struct NonFinite {
    pub day: f64,
    pub field: &'static str,
    pub value: f64,
}

/// Every kernel the step records, built once.
pub struct Kernels {
    pub osteocytes: Osteocytes,
    pub recruit: Recruit,
    pub motion: Motion,
    pub remodel: Remodel,
    pub fate: Fate,
    pub compact: Compact,
    pub scan: Scan,
    pub reduce: Reduce,
    pub diffuse: Diffuse,
    pub bone_fields: Kernel,
}

impl Kernels {
    pub fn new(ctx: &GpuContext, wg: u32) -> Result<Self> {
        Ok(Self {
            osteocytes: Osteocytes::new(ctx, wg)?,
            recruit: Recruit::new(ctx, wg)?,
            motion: Motion::new(ctx, wg)?,
            remodel: Remodel::new(ctx, wg)?,
            fate: Fate::new(ctx, wg)?,
            compact: Compact::new(ctx, wg)?,
            scan: Scan::new(ctx, wg)?,
            reduce: Reduce::new(ctx, wg)?,
            diffuse: Diffuse::new(ctx, wg)?,
            bone_fields: Kernel::new(&ctx.device, "sim/metrics", "bone_fields", wg)?,
        })
    }
}

/// What a simulation fixes when it is built, besides its buffers: a
/// restored simulation needs them back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct References {
    pub stimulus_ref: f64,
    pub rankl_source: f64,
    pub sclerostin_source: f64,
    pub bone_voxels: f64,
}

/// A running simulation: scene, GPU state, kernels and the clock.
pub struct Simulation {
    pub scene: Scene,
    pub state: SimState,
    pub kernels: Kernels,
    /// Steps done since day 0.
    pub step: u32,
    /// Spin-up steps still to run before day 0 (nonzero only while the
    /// constructor spins up; the clock reads negative days meanwhile).
    spin_up_left: u32,
    /// Mean bone stimulus at habitual 1 g on day 0 (MPa).
    pub stimulus_ref: f64,
    /// Per-osteocyte source strengths that make the basal mean concentration 1.
    pub rankl_source: f64,
    pub sclerostin_source: f64,
    /// Where the unit-load SED comes from, and when it is solved again.
    pub mechanics: Mechanics,
    /// Bone voxels after the last step (the reference for re-solving).
    pub bone_voxels: f64,
    /// The body's calcium system (human scenes only: its constants are a
    /// human skeleton's).
    pub systemic: Option<Systemic>,
}

fn encoder(ctx: &GpuContext) -> wgpu::CommandEncoder {
    ctx.device.create_command_encoder(&Default::default())
}

impl Simulation {
    /// Builds the simulation of `scene` on `lattice` with the scene's
    /// mechanics model (a day-0 FE solve, or uniform SED).
    pub fn new(
        ctx: &GpuContext,
        scene: &Scene,
        lattice: &Lattice,
        workgroup_size: u32,
    ) -> Result<Self> {
        Self::new_with_stop(ctx, scene, lattice, workgroup_size, Stop::never())
    }

    /// As [`Self::new`], giving up with [`crate::stop::StoppedInSetup`]
    /// once `stop` is requested: checked between the setup's GPU
    /// submissions and between spin-up days (not inside the day-0 FE solve).
    pub fn new_with_stop(
        ctx: &GpuContext,
        scene: &Scene,
        lattice: &Lattice,
        workgroup_size: u32,
        stop: Stop<'_>,
    ) -> Result<Self> {
        stop.check(|| "the simulation setup".into())?;
        let (mechanics, sed_unit) = Mechanics::new(ctx, scene, lattice)?;
        stop.check(|| "the day-0 mechanics".into())?;
        Self::build(
            ctx,
            scene,
            lattice,
            &sed_unit,
            mechanics,
            workgroup_size,
            stop,
        )
    }

    /// As [`Self::new`] with a prescribed unit-load SED field `sed_unit`
    /// (MPa at habitual 1 g) that is never solved again.
    pub fn with_sed(
        ctx: &GpuContext,
        scene: &Scene,
        lattice: &Lattice,
        sed_unit: &[f32],
        workgroup_size: u32,
    ) -> Result<Self> {
        Self::build(
            ctx,
            scene,
            lattice,
            sed_unit,
            Mechanics::Uniform,
            workgroup_size,
            Stop::never(),
        )
    }

    /// Builds the state, seeds osteocytes and brings the signals to their
    /// basal steady state.
    fn build(
        ctx: &GpuContext,
        scene: &Scene,
        lattice: &Lattice,
        sed_unit: &[f32],
        mechanics: Mechanics,
        workgroup_size: u32,
        stop: Stop<'_>,
    ) -> Result<Self> {
        let seeding = || "seeding the cells".to_string();
        let state = SimState::new(ctx, lattice, sed_unit)?;
        let kernels = Kernels::new(ctx, workgroup_size).context("building the cell kernels")?;
        let bone: Vec<f64> = lattice
            .mineral
            .iter()
            .map(|&m| {
                if m >= crate::lattice::BONE_THRESHOLD {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
        let n_bone = bone.iter().sum::<f64>().max(1.0);
        let stimulus_ref = sed_unit
            .iter()
            .zip(&bone)
            .map(|(&s, &b)| s as f64 * b)
            .sum::<f64>()
            / n_bone;
        let mut sim = Self {
            scene: scene.clone(),
            state,
            kernels,
            step: 0,
            spin_up_left: scene.spin_up_steps(),
            stimulus_ref,
            rankl_source: 0.0,
            sclerostin_source: 0.0,
            mechanics,
            bone_voxels: n_bone,
            systemic: None,
        };
        if scene.lattice.species == Species::Human {
            let voxel_mm3 = (sim.state.voxel_size_um * 1e-3).powi(3);
            let n = sim.state.n_voxels as f64;
            sim.systemic = Some(Systemic::new(
                n * voxel_mm3,
                n_bone / n,
                &scene.nutrition_on(0.0),
            ));
        }
        stop.check(seeding)?;
        sim.seed_osteocytes(ctx)?;
        stop.check(seeding)?;
        let n_ocy = sim.state.cell(CellType::Osteocyte).len.max(1) as f64;
        let per_cell = sim.state.n_voxels as f64 / n_ocy;
        sim.rankl_source = per_cell * sim.signals().rankl_decay_per_day;
        sim.sclerostin_source = per_cell * sim.signals().sclerostin_decay_per_day;
        log::debug!("settling the basal signals");
        sim.spin_up_signals(ctx, stop)?;
        sim.seed_surface_cells(ctx)?;
        sim.spin_up(ctx, stop)?;
        Ok(sim)
    }

    /// Restores a simulation at `step` steps past day 0 (its spin-up done)
    /// with the day-0 references `refs` it was built with.
    pub fn restored(
        scene: Scene,
        state: SimState,
        kernels: Kernels,
        mechanics: Mechanics,
        step: u32,
        refs: References,
    ) -> Self {
        Self {
            scene,
            state,
            kernels,
            step,
            spin_up_left: 0,
            stimulus_ref: refs.stimulus_ref,
            rankl_source: refs.rankl_source,
            sclerostin_source: refs.sclerostin_source,
            mechanics,
            bone_voxels: refs.bone_voxels,
            systemic: None,
        }
    }

    /// Remodels at habitual 1 g for the scene's `spin_up_days`, so day 0 is
    /// the model's steady state rather than the seeded structure.
    fn spin_up(&mut self, ctx: &GpuContext, stop: Stop<'_>) -> Result<()> {
        if self.spin_up_left == 0 {
            return Ok(());
        }
        let day = self.day();
        if let Mechanics::Fe(fe) = &mut self.mechanics {
            fe.last.day = day;
        }
        log::info!(
            "spin-up: {} days at 1 g before day 0",
            self.scene.spin_up_days
        );
        let t0 = std::time::Instant::now();
        while self.spin_up_left > 0 {
            stop.check(|| {
                let done = self.scene.spin_up_steps() - self.spin_up_left;
                format!(
                    "the spin-up ({} of its {} days at 1 g done)",
                    done as f64 * self.scene.dt_days,
                    self.scene.spin_up_days
                )
            })?;
            let r = self
                .advance(ctx)
                .with_context(|| format!("spin-up, day {}", self.day()))?;
            if (r.day.round() as i64) % 30 == 0 {
                log::debug!("spin-up day {}: BV/TV {:.4}", r.day, r.bv_tv);
            }
        }
        log::info!("spin-up done in {:.1} s", t0.elapsed().as_secs_f64());
        Ok(())
    }

    /// Steps done since the simulation was built, spin-up included: the
    /// step key of the random draws.
    fn steps_done(&self) -> u32 {
        self.scene.spin_up_steps() - self.spin_up_left + self.step
    }

    fn signals(&self) -> crate::scene::Signals {
        self.scene.signals.resolve(self.scene.lattice.species)
    }

    /// Day at the end of the last step.
    pub fn day(&self) -> f64 {
        (self.step as f64 - self.spin_up_left as f64) * self.scene.dt_days
    }

    /// The kernels' parameters for the step starting now under `regime`.
    pub fn params(&self, regime: &DayRegime) -> StepParams {
        let s = &self.scene;
        let r = s.resolve();
        let (c, d) = (&r.cells, &r.drugs);
        let dt = s.dt_days;
        let h = self.state.voxel_size_um;
        let v = |x: f64| x as f32;
        let [ocy, oc, ob] = &self.state.cells;
        let bis = regime.bisphosphonate;
        let voxel_mm3 = (h * 1e-3).powi(3);
        StepParams {
            grid: [
                self.state.dims[0] as u32,
                self.state.dims[1] as u32,
                self.state.dims[2] as u32,
                self.state.n_voxels,
            ],
            seed: crate::gpu::rng::fold_seed(s.seed),
            step: self.steps_done() + 1,
            n_osteocytes: ocy.len,
            n_osteoclasts: oc.len,
            n_osteoblasts: ob.len,
            dt_days: dt as f32,
            load_factor: s.loading.load_factor(regime) as f32,
            stimulus_ref: self.stimulus_ref as f32,
            adapt_fraction: (1.0 - (-dt / c.osteocyte_adaptation_days).exp()) as f32,
            apoptosis_basal_per_day: v(c.apoptosis_basal_per_day),
            apoptosis_disuse_per_day: v(c.apoptosis_disuse_per_day),
            apoptotic_clear_days: v(c.apoptotic_clear_days),
            rankl_source: self.rankl_source as f32,
            rankl_disuse_gain: v(c.rankl_disuse_gain),
            rankl_apoptotic_factor: v(c.rankl_apoptotic_factor),
            sclerostin_source: self.sclerostin_source as f32,
            sclerostin_disuse_gain: v(c.sclerostin_disuse_gain),
            sclerostin_overload_gain: v(c.sclerostin_overload_gain),
            // Denosumab neutralises RANKL; the body's PTH drives its production.
            rankl_effective: (if regime.denosumab {
                1.0 - d.denosumab_rankl_inhibition
            } else {
                1.0
            } * self
                .systemic
                .as_ref()
                .map_or(1.0, |b| b.pth_rankl_factor(c.rankl_pth_half_pmol_per_l)))
                as f32,
            sclerostin_effective: if regime.romosozumab {
                1.0 - v(d.romosozumab_sclerostin_inhibition)
            } else {
                1.0
            },
            oc_recruit_per_day: v(c.osteoclast_recruit_per_day),
            oc_rankl_half: v(c.osteoclast_rankl_half),
            oc_resorb_fraction_per_day: (c.resorption_um3_per_day / h.powi(3)
                * if bis {
                    d.bisphosphonate_resorption_factor
                } else {
                    1.0
                }) as f32,
            oc_lifespan_days: (c.osteoclast_lifespan_days
                * if bis {
                    d.bisphosphonate_lifespan_factor
                } else {
                    1.0
                }) as f32,
            oc_move_per_day: v(c.osteoclast_move_per_day),
            oc_chemotaxis: v(c.osteoclast_chemotaxis),
            ob_recruit_per_day: v(c.osteoblast_recruit_per_day),
            ob_coupling_half: v(c.osteoblast_coupling_half),
            ob_sclerostin_half: v(c.osteoblast_sclerostin_half),
            ob_mech_weight: v(c.osteoblast_mech_weight),
            ob_fill_fraction_per_day: (c.apposition_um_per_day / h) as f32,
            ob_lifespan_days: v(c.osteoblast_lifespan_days),
            oc_differentiation_days: v(c.osteoclast_differentiation_days),
            coupling_keep: (-dt / c.coupling_days).exp() as f32,
            osteocyte_seed_prob: (c.osteocyte_density_per_mm3 * voxel_mm3).min(1.0) as f32,
            next_osteocyte_id: ocy.next_id,
            next_osteoclast_id: oc.next_id,
            next_osteoblast_id: ob.next_id,
            ob_sclerostin_hill: v(c.osteoblast_sclerostin_hill),
            osteocyte_lazy_zone: v(c.osteocyte_lazy_zone),
            ob_refill_coupling: v(c.osteoblast_refill_coupling),
            ob_modeling_sclerostin: v(c.osteoblast_modeling_sclerostin),
            _pad0: 0,
            _pad1: 0,
        }
    }

    fn read_totals(&self, ctx: &GpuContext) -> Vec<u32> {
        read_buffer(&ctx.device, &ctx.queue, &self.state.totals, 0, total::LEN)
    }

    fn seed_osteocytes(&mut self, ctx: &GpuContext) -> Result<()> {
        let regime = self.next_regime();
        let p = uniform_buffer(&ctx.device, "step params", &self.params(&regime));
        let n = self.state.n_voxels;
        let f = &self.state.fields;
        let mut enc = encoder(ctx);
        self.kernels
            .osteocytes
            .record_seed_flags(ctx, &mut enc, &p, &f.mineral, &f.oc_flags, n);
        self.kernels.scan.record(
            ctx,
            &mut enc,
            &f.oc_flags,
            &f.oc_offsets,
            n,
            &self.state.totals,
            total::SEEDED,
        );
        ctx.submit_and_wait(enc);
        let seeded = self.read_totals(ctx)[total::SEEDED as usize];
        let mut enc = encoder(ctx);
        self.state
            .reserve(ctx, &mut enc, CellType::Osteocyte, seeded)?;
        let f = &self.state.fields;
        let ocy = &self.state.cells[CellType::Osteocyte as usize];
        self.kernels.osteocytes.record_seed_scatter(
            ctx,
            &mut enc,
            &p,
            &f.sed,
            &f.oc_flags,
            &f.oc_offsets,
            &ocy.buffer,
            n,
        );
        ctx.submit_and_wait(enc);
        let ocy = &mut self.state.cells[CellType::Osteocyte as usize];
        ocy.len = seeded;
        ocy.next_id = seeded;
        Ok(())
    }

    /// Places osteoclasts and osteoblasts at their basal steady-state
    /// densities with ages spread over their lifespans (step 0).
    fn seed_surface_cells(&mut self, ctx: &GpuContext) -> Result<()> {
        let regime = self.next_regime();
        let mut params = self.params(&regime);
        params.step = 0;
        let p = uniform_buffer(&ctx.device, "step params", &params);
        let births = self.count_births(ctx, encoder(ctx), &p, true);
        let mut enc = encoder(ctx);
        self.place_births(ctx, &mut enc, &p, births)?;
        ctx.submit_and_wait(enc);
        Ok(())
    }

    /// Step 5, first half: occupancy, birth flags on free surface voxels
    /// (`initial`: at the basal steady-state densities of seeding) and their
    /// scans into slots, recorded after what `enc` holds and submitted.
    /// Returns the (osteoclast, osteoblast) births.
    fn count_births(
        &mut self,
        ctx: &GpuContext,
        mut enc: wgpu::CommandEncoder,
        p: &wgpu::Buffer,
        initial: bool,
    ) -> (u32, u32) {
        let n = self.state.n_voxels;
        let f = &self.state.fields;
        let [_, oc, ob] = &self.state.cells;
        let recruit = &self.kernels.recruit;
        recruit.record_occupy(
            ctx,
            &mut enc,
            p,
            &f.occupant,
            (&oc.buffer, oc.len),
            (&ob.buffer, ob.len),
        );
        let rf = RecruitFields {
            mineral: &f.mineral,
            sed: &f.sed,
            rankl: &f.rankl,
            sclerostin: &f.sclerostin,
            coupling: &f.coupling,
            occupant: &f.occupant,
        };
        recruit.record_flags(
            ctx,
            &mut enc,
            p,
            &rf,
            (&f.oc_flags, &f.ob_flags),
            n,
            initial,
        );
        let t = &self.state.totals;
        let scan = &mut self.kernels.scan;
        scan.record(
            ctx,
            &mut enc,
            &f.oc_flags,
            &f.oc_offsets,
            n,
            t,
            total::OC_BIRTHS,
        );
        scan.record(
            ctx,
            &mut enc,
            &f.ob_flags,
            &f.ob_offsets,
            n,
            t,
            total::OB_BIRTHS,
        );
        ctx.submit_and_wait(enc);
        let totals = self.read_totals(ctx);
        (
            totals[total::OC_BIRTHS as usize],
            totals[total::OB_BIRTHS as usize],
        )
    }

    /// Step 5, second half: births land after the live cells (the buffers
    /// grow first if they would overflow) and take their voxels.
    fn place_births(
        &mut self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        p: &wgpu::Buffer,
        (oc_births, ob_births): (u32, u32),
    ) -> Result<()> {
        let n = self.state.n_voxels;
        for (kind, births) in [
            (CellType::Osteoclast, oc_births),
            (CellType::Osteoblast, ob_births),
        ] {
            let len = self.state.cell(kind).len;
            self.state.reserve(ctx, enc, kind, len + births)?;
        }
        {
            let f = &self.state.fields;
            let [_, oc, ob] = &self.state.cells;
            self.kernels.recruit.record_scatter(
                ctx,
                enc,
                p,
                &f.occupant,
                (&f.oc_flags, &f.ob_flags),
                (&f.oc_offsets, &f.ob_offsets),
                &oc.buffer,
                &ob.buffer,
                n,
            );
        }
        let [_, oc, ob] = &mut self.state.cells;
        oc.len += oc_births;
        oc.next_id += oc_births;
        ob.len += ob_births;
        ob.next_id += ob_births;
        Ok(())
    }

    fn diffuse_params(&self) -> [DiffuseParams; 2] {
        let s = self.signals();
        let grid = [
            self.state.dims[0] as u32,
            self.state.dims[1] as u32,
            self.state.dims[2] as u32,
            self.state.n_voxels,
        ];
        let h = self.state.voxel_size_um as f32;
        let mk = |dm: f64, db: f64, k: f64| DiffuseParams {
            grid,
            voxel_size_um: h,
            d_marrow_um2_per_day: dm as f32,
            d_bone_um2_per_day: db as f32,
            decay_per_day: k as f32,
        };
        [
            mk(
                s.rankl_diffusivity_marrow_um2_per_day,
                s.rankl_diffusivity_bone_um2_per_day,
                s.rankl_decay_per_day,
            ),
            mk(
                s.sclerostin_diffusivity_marrow_um2_per_day,
                s.sclerostin_diffusivity_bone_um2_per_day,
                s.sclerostin_decay_per_day,
            ),
        ]
    }

    /// Stage 3 (sensing) and 4 (signals): osteocytes write their sources,
    /// then the fields relax toward their quasi-steady state.
    fn record_sensing_and_signals(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        p: &wgpu::Buffer,
        sweeps: u32,
        sense: bool,
    ) {
        let f = &self.state.fields;
        let ocy = self.state.cell(CellType::Osteocyte);
        enc.clear_buffer(&f.rankl_source, 0, None);
        enc.clear_buffer(&f.sclerostin_source, 0, None);
        if sense {
            self.kernels.osteocytes.record_sense(
                ctx,
                enc,
                p,
                &f.mineral,
                &f.sed,
                &ocy.buffer,
                &f.rankl_source,
                &f.sclerostin_source,
                ocy.len,
            );
        }
        let [pr, ps] = self.diffuse_params();
        self.kernels.diffuse.record(
            ctx,
            enc,
            &pr,
            &f.mineral,
            &f.rankl_source,
            &f.rankl,
            &f.rankl_tmp,
            sweeps,
        );
        self.kernels.diffuse.record(
            ctx,
            enc,
            &ps,
            &f.mineral,
            &f.sclerostin_source,
            &f.sclerostin,
            &f.sclerostin_tmp,
            sweeps,
        );
    }

    /// Jacobi sweeps per step: the scene's count, but at least (L/h)² for
    /// the longest diffusion length L = √(D_marrow/k), the sweeps one
    /// relaxation over L takes — at small voxels (mouse) the scene's count
    /// would leave the fields far from their quasi-steady state.
    pub fn sweeps_per_step(&self) -> u32 {
        let s = self.signals();
        let h = self.state.voxel_size_um;
        let len = |d: f64, k: f64| (d / k).sqrt();
        let l = len(
            s.rankl_diffusivity_marrow_um2_per_day,
            s.rankl_decay_per_day,
        )
        .max(len(
            s.sclerostin_diffusivity_marrow_um2_per_day,
            s.sclerostin_decay_per_day,
        ));
        (s.sweeps_per_step.ceil() as u32).max(((l / h).powi(2)).ceil() as u32)
    }

    /// Brings the signals to their basal state before day 1: basal sources
    /// (sensing at habitual load, no apoptosis draws) and many sweeps,
    /// submitted a day's sweeps at a time with `stop` checked in between
    /// (the same sweeps in the same order as one submission).
    fn spin_up_signals(&mut self, ctx: &GpuContext, stop: Stop<'_>) -> Result<()> {
        let mut params = self.params(&self.next_regime());
        params.load_factor = 1.0;
        params.adapt_fraction = 0.0;
        params.apoptosis_basal_per_day = 0.0;
        params.apoptosis_disuse_per_day = 0.0;
        let p = uniform_buffer(&ctx.device, "spin-up params", &params);
        // A few days of sweeps: enough to settle the basal fields from zero.
        let chunk = self.sweeps_per_step();
        let stage = || "settling the basal signals".to_string();
        let mut enc = encoder(ctx);
        self.record_sensing_and_signals(ctx, &mut enc, &p, chunk, true);
        ctx.submit_and_wait(enc);
        let [pr, ps] = self.diffuse_params();
        let f = &self.state.fields;
        for _ in 1..10 {
            stop.check(stage)?;
            let mut enc = encoder(ctx);
            for (params, source, c, scratch) in [
                (&pr, &f.rankl_source, &f.rankl, &f.rankl_tmp),
                (&ps, &f.sclerostin_source, &f.sclerostin, &f.sclerostin_tmp),
            ] {
                self.kernels
                    .diffuse
                    .record(ctx, &mut enc, params, &f.mineral, source, c, scratch, chunk);
            }
            ctx.submit_and_wait(enc);
        }
        stop.check(stage)?;
        Ok(())
    }

    /// The regime of the next step: habitual 1 g during the spin-up, then
    /// the scene's. Seeding uses it too, so a spin-up never sees the regime
    /// that starts on day 0 (a drug, say) and scenes that differ only after
    /// day 0 spin up alike.
    fn next_regime(&self) -> DayRegime {
        if self.spin_up_left > 0 {
            self.scene.loading.habitual()
        } else {
            self.scene.loading.regime_on(self.day())
        }
    }

    /// Advances one step (docs/design.md §3, One day) and returns its metrics.
    pub fn advance(&mut self, ctx: &GpuContext) -> Result<StepReport> {
        let regime = self.next_regime();
        let spinning_up = self.spin_up_left > 0;
        let n = self.state.n_voxels;
        let sweeps = self.sweeps_per_step();

        // 1–2. Mechanics and stimulus: the unit-load SED field is solved
        // again when due; the daily stimulus is load_factor × SED, formed
        // inside the kernels.
        let solve = self.solve_if_due(ctx)?;
        if solve.is_some()
            && let Mechanics::Fe(fe) = &self.mechanics
        {
            let sed = fe.unit_load_sed(ctx);
            ctx.queue
                .write_buffer(&self.state.fields.sed, 0, bytemuck::cast_slice(&sed));
        }
        let params_a = self.params(&regime);
        let p_a = uniform_buffer(&ctx.device, "step params", &params_a);
        let mut enc = encoder(ctx);
        // 3–4. Sensing and signals.
        self.record_sensing_and_signals(ctx, &mut enc, &p_a, sweeps, true);
        // 5. Recruitment flags on free surface voxels, scanned into slots;
        // births placed.
        let births = self.count_births(ctx, enc, &p_a, false);
        let mut enc = encoder(ctx);
        self.place_births(ctx, &mut enc, &p_a, births)?;
        let params_b = self.params(&regime);
        let p_b = uniform_buffer(&ctx.device, "step params", &params_b);
        {
            let f = &self.state.fields;
            let [ocy, oc, ob] = &self.state.cells;
            // 6. Action: cells move, then bone is resorbed and formed.
            self.kernels.motion.record(
                ctx,
                &mut enc,
                &p_b,
                &f.mineral,
                &f.occupant,
                &f.rankl,
                (&f.coupling, &f.sclerostin),
                &f.claims,
                (&oc.buffer, oc.len),
                (&ob.buffer, ob.len),
            );
            self.kernels.recruit.record_occupy(
                ctx,
                &mut enc,
                &p_b,
                &f.occupant,
                (&oc.buffer, oc.len),
                (&ob.buffer, ob.len),
            );
            self.kernels.remodel.record(
                ctx,
                &mut enc,
                &p_b,
                &f.mineral,
                &f.occupant,
                (&oc.buffer, &ob.buffer),
                &f.coupling,
                &f.resorbed,
                &f.formed,
                &f.sclerostin,
                n,
            );
            // 7. Fate: ageing, death, embedding; survival flags and their scans.
            enc.clear_buffer(&self.state.counts, 0, None);
            let [s_ocy, s_oc, s_ob] = &self.state.scratch;
            self.kernels.fate.record(
                ctx,
                &mut enc,
                &p_b,
                &f.mineral,
                &self.state.counts,
                (&ocy.buffer, &s_ocy.keep, ocy.len),
                (&oc.buffer, &s_oc.keep, oc.len),
                (&ob.buffer, &s_ob.keep, &self.state.embed.keep, ob.len),
            );
            let t = &self.state.totals;
            for (i, (cells, s)) in self.state.cells.iter().zip(&self.state.scratch).enumerate() {
                self.kernels.scan.record(
                    ctx,
                    &mut enc,
                    &s.keep,
                    &s.slots,
                    cells.len,
                    t,
                    total::KEEP[i],
                );
            }
            self.kernels.scan.record(
                ctx,
                &mut enc,
                &self.state.embed.keep,
                &self.state.embed.slots,
                ob.len,
                t,
                total::EMBED,
            );
        }
        ctx.submit_and_wait(enc);
        let totals = self.read_totals(ctx);
        let counts: Vec<u32> = read_buffer(
            &ctx.device,
            &ctx.queue,
            &self.state.counts,
            0,
            fate::COUNTS as u64,
        );
        let keep = total::KEEP.map(|k| totals[k as usize]);
        let embeds = totals[total::EMBED as usize];

        // Compaction of every type; embedded osteoblasts append osteocytes.
        let mut enc = encoder(ctx);
        self.state
            .reserve(ctx, &mut enc, CellType::Osteocyte, keep[0] + embeds)?;
        let mut params_c = self.params(&regime);
        params_c.n_osteocytes = keep[0];
        let p_c = uniform_buffer(&ctx.device, "step params", &params_c);
        {
            let [ocy, _, ob] = &self.state.cells;
            for (cells, s) in self.state.cells.iter().zip(&self.state.scratch) {
                self.kernels.compact.record(
                    ctx,
                    &mut enc,
                    &cells.buffer,
                    &s.keep,
                    &s.slots,
                    &cells.spare,
                    cells.len,
                );
            }
            let f = &self.state.fields;
            self.kernels.osteocytes.record_embed(
                ctx,
                &mut enc,
                &p_c,
                &f.sed,
                &self.state.embed.slots,
                &ocy.spare,
                &ob.buffer,
                ob.len,
            );
        }
        for (i, cells) in self.state.cells.iter_mut().enumerate() {
            cells.swap(keep[i]);
        }
        {
            let ocy = &mut self.state.cells[CellType::Osteocyte as usize];
            ocy.len += embeds;
            ocy.next_id += embeds;
        }
        if self.spin_up_left > 0 {
            self.spin_up_left -= 1;
        } else {
            self.step += 1;
        }
        // 8. Metrics by fixed-tree reductions.
        self.record_metrics(ctx, &mut enc, &p_b);
        ctx.submit_and_wait(enc);
        let sums: Vec<f32> = read_buffer(&ctx.device, &ctx.queue, &self.state.sums, 0, sum::LEN);
        let mut report = self.report(&regime, &params_b, &sums, &counts);
        report.osteocytes_embedded = embeds;
        report.solve = solve;
        if let Some((field, value)) = report.first_non_finite() {
            return Err(NonFinite {
                day: report.day,
                field,
                value,
            }
            .into());
        }
        let dt = self.scene.dt_days;
        if let Some(body) = &mut self.systemic {
            let (res, form) = (report.resorbed_mm3, report.formed_mm3);
            if spinning_up {
                body.spin_up_step(-report.day, res, form, dt);
                if self.spin_up_left == 0 {
                    body.start_day0(report.bv_tv, &self.scene.nutrition_on(0.0));
                }
            } else {
                // The diet of the day the step started on.
                let diet = self.scene.nutrition_on(report.day - dt);
                report.body = Some(body.step(&diet, res, form, dt));
            }
        }
        self.bone_voxels = report.bv_tv * self.state.n_voxels as f64;
        if let Mechanics::Fe(fe) = &mut self.mechanics {
            fe.changed_since_solve += report.resorbed_voxels + report.formed_voxels;
        }
        Ok(report)
    }

    /// Stage 1: a warm-started FE solve of the current geometry when the
    /// bone has changed enough or the interval has passed.
    fn solve_if_due(&mut self, ctx: &GpuContext) -> Result<Option<SolveRecord>> {
        let day = self.day();
        let due = match &self.mechanics {
            Mechanics::Fe(fe) => self.steps_done() > 0 && fe.due(day, self.bone_voxels),
            Mechanics::Uniform => false,
        };
        if !due {
            return Ok(None);
        }
        let mineral = self.read_lattice(ctx).mineral;
        let Mechanics::Fe(fe) = &mut self.mechanics else {
            unreachable!("due only for FE")
        };
        Ok(Some(fe.solve(ctx, &mineral, day)?))
    }

    /// Metrics of the current state without stepping (day 0 of a run).
    pub fn measure(&mut self, ctx: &GpuContext) -> StepReport {
        let regime = self.scene.loading.regime_on(self.day());
        let params = self.params(&regime);
        let p = uniform_buffer(&ctx.device, "step params", &params);
        let mut enc = encoder(ctx);
        self.record_metrics(ctx, &mut enc, &p);
        self.record_census(ctx, &mut enc, &p);
        ctx.submit_and_wait(enc);
        let sums: Vec<f32> = read_buffer(&ctx.device, &ctx.queue, &self.state.sums, 0, sum::LEN);
        let counts: Vec<u32> = read_buffer(
            &ctx.device,
            &ctx.queue,
            &self.state.counts,
            0,
            fate::COUNTS as u64,
        );
        let mut report = self.report(&regime, &params, &sums, &counts);
        if let (0, Mechanics::Fe(fe)) = (self.step, &self.mechanics) {
            report.solve = Some(fe.last);
        }
        if self.step == 0 {
            report.body = self.systemic.as_ref().map(Systemic::at_rest);
        }
        report
    }

    /// The state counts of the cells as they are, counted on the GPU as
    /// `fate` counts them (precursors are not osteoclasts yet; after a
    /// spin-up some osteocytes are apoptotic), into `state.counts`.
    fn record_census(&self, ctx: &GpuContext, enc: &mut wgpu::CommandEncoder, p: &wgpu::Buffer) {
        enc.clear_buffer(&self.state.counts, 0, None);
        let [ocy, oc, ob] = &self.state.cells;
        self.kernels.fate.record_census(
            ctx,
            enc,
            p,
            &self.state.counts,
            [
                (&ocy.buffer, ocy.len),
                (&oc.buffer, oc.len),
                (&ob.buffer, ob.len),
            ],
        );
    }

    fn record_metrics(
        &mut self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        p: &wgpu::Buffer,
    ) {
        let n = self.state.n_voxels;
        let f = &self.state.fields;
        crate::cells::record(
            ctx,
            enc,
            &self.kernels.bone_fields,
            &[
                ("P", p),
                ("mineral", &f.mineral),
                ("sed_unit", &f.sed),
                ("bone", &f.scratch_a),
                ("bone_stimulus", &f.scratch_b),
            ],
            n,
        );
        let out = &self.state.sums;
        let r = &mut self.kernels.reduce;
        r.record_sum(ctx, enc, &f.mineral, n, out, sum::MINERAL);
        r.record_sum(ctx, enc, &f.scratch_a, n, out, sum::BONE);
        r.record_sum(ctx, enc, &f.scratch_b, n, out, sum::BONE_STIMULUS);
        r.record_sum(ctx, enc, &f.rankl, n, out, sum::RANKL);
        r.record_sum(ctx, enc, &f.sclerostin, n, out, sum::SCLEROSTIN);
        r.record_sum(ctx, enc, &f.resorbed, n, out, sum::RESORBED);
        r.record_sum(ctx, enc, &f.formed, n, out, sum::FORMED);
    }

    fn report(
        &self,
        regime: &DayRegime,
        p: &StepParams,
        sums: &[f32],
        counts: &[u32],
    ) -> StepReport {
        let n = self.state.n_voxels as f64;
        let s = |i: u32| sums[i as usize] as f64;
        let bone = s(sum::BONE);
        let voxel_mm3 = (self.state.voxel_size_um * 1e-3).powi(3);
        StepReport {
            day: self.day(),
            bv_tv: bone / n,
            mineral_mean: s(sum::MINERAL) / n,
            mineral_total: s(sum::MINERAL),
            osteocytes_alive: counts[fate::COUNT_OSTEOCYTES_ALIVE],
            osteocytes_apoptotic: counts[fate::COUNT_OSTEOCYTES_APOPTOTIC],
            osteocytes_disuse: counts[fate::COUNT_OSTEOCYTES_DISUSE],
            // A step's embeddings come from its scan total (`advance`).
            osteocytes_embedded: 0,
            osteoclasts: counts[fate::COUNT_OSTEOCLASTS],
            osteoblasts: counts[fate::COUNT_OSTEOBLASTS],
            resorbed_voxels: s(sum::RESORBED),
            formed_voxels: s(sum::FORMED),
            resorbed_mm3: s(sum::RESORBED) * voxel_mm3,
            formed_mm3: s(sum::FORMED) * voxel_mm3,
            mean_stimulus: if bone > 0.0 {
                s(sum::BONE_STIMULUS) / bone
            } else {
                0.0
            },
            mean_rankl: s(sum::RANKL) / n,
            mean_sclerostin: s(sum::SCLEROSTIN) / n,
            load_factor: p.load_factor as f64,
            gravity: regime.gravity,
            phase: regime.phase,
            solve: None,
            apparent_modulus_mpa: match &self.mechanics {
                Mechanics::Fe(fe) => fe.last.apparent_modulus_mpa,
                Mechanics::Uniform => 0.0,
            },
            body: None,
        }
    }

    /// The lattice as it is now (a readback of the mineral field).
    /// One f32 field of the lattice, x fastest (as [`Lattice::mineral`]).
    pub fn read_field(&self, ctx: &GpuContext, field: Field) -> Vec<f32> {
        let f = &self.state.fields;
        let buffer = match field {
            Field::Mineral => &f.mineral,
            Field::SedUnit => &f.sed,
            Field::Rankl => &f.rankl,
            Field::Sclerostin => &f.sclerostin,
        };
        read_buffer(
            &ctx.device,
            &ctx.queue,
            buffer,
            0,
            self.state.n_voxels as u64,
        )
    }

    pub fn read_lattice(&self, ctx: &GpuContext) -> Lattice {
        Lattice {
            dims: self.state.dims,
            voxel_size_um: self.state.voxel_size_um,
            mineral: read_buffer(
                &ctx.device,
                &ctx.queue,
                &self.state.fields.mineral,
                0,
                self.state.n_voxels as u64,
            ),
        }
    }

    /// A whole agent buffer (for outputs and tests, never per step).
    pub fn read_agents(&self, ctx: &GpuContext, kind: CellType) -> Vec<crate::cells::Agent> {
        let c = self.state.cell(kind);
        read_buffer(&ctx.device, &ctx.queue, &c.buffer, 0, c.len as u64)
    }
}
