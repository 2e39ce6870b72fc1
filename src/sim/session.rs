//! The one step loop: a [`Simulation`] with its time series, morphometry
//! taken on a schedule. The `run` command, the viewer, `render`, `validate`
//! and the Python module all step through [`Session::step`], so a row of
//! `timeseries.csv` means the same wherever it was made.

use std::time::Instant;

use anyhow::Result;

use super::metrics::{Metrics, TimeSeries, lattice_morphometry_with, unmeasured};
use super::step::{Simulation, StepReport};
use crate::gpu::GpuContext;
use crate::morph::{Morphometry, ThicknessConvention};
use crate::scene::Scene;

/// When the (CPU) morphometry of the lattice is taken.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MorphSchedule {
    pub convention: ThicknessConvention,
    /// Every this many days (0: only at the ends).
    pub every_days: u32,
    /// On day 0 and on the scene's last day.
    pub at_ends: bool,
}

impl MorphSchedule {
    /// The scene's `[outputs]`: `morphometry`, `morphometry_every_days`,
    /// `thickness_convention`.
    pub fn of(scene: &Scene) -> Self {
        let o = &scene.outputs;
        Self {
            convention: o.thickness_convention,
            every_days: if o.morphometry {
                o.morphometry_every_days
            } else {
                0
            },
            at_ends: o.morphometry,
        }
    }

    /// Day 0 and the last day only.
    pub fn ends_only(convention: ThicknessConvention) -> Self {
        Self {
            convention,
            every_days: 0,
            at_ends: true,
        }
    }

    /// Never (the viewer: its frames must not wait on the CPU).
    pub fn never() -> Self {
        Self {
            convention: ThicknessConvention::default(),
            every_days: 0,
            at_ends: false,
        }
    }
}

/// Wall time of a run: since `t0`, plus what earlier processes spent on it.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub t0: Instant,
    pub before_s: f64,
}

impl Clock {
    pub fn since(t0: Instant) -> Self {
        Self { t0, before_s: 0.0 }
    }

    /// A run taken over from a checkpoint after `before_s` seconds of it.
    pub fn resumed(before_s: f64) -> Self {
        Self {
            t0: Instant::now(),
            before_s,
        }
    }

    pub fn wall_s(&self) -> f64 {
        self.before_s + self.t0.elapsed().as_secs_f64()
    }
}

/// A simulation between days, with every row so far.
pub struct Session {
    pub sim: Simulation,
    /// One row per day from day 0 (the CLI's `timeseries.csv`).
    pub series: TimeSeries,
    /// The newest morphometry (NaN values before the first).
    pub morph: Morphometry,
    /// Day of the last scheduled morphometry.
    pub last_morph_day: f64,
    /// The newest report: day 0's at first; empty (default) in a resumed
    /// session until its first step.
    pub last_report: StepReport,
    pub schedule: MorphSchedule,
    pub clock: Clock,
}

impl Session {
    /// Day 0 of `sim` (after its spin-up, if the scene has one): its report
    /// and, if scheduled, its morphometry make the first row.
    pub fn begin(
        ctx: &GpuContext,
        mut sim: Simulation,
        schedule: MorphSchedule,
        clock: Clock,
    ) -> Self {
        let morph = if schedule.at_ends {
            log::debug!("day-0 morphometry");
            let m = lattice_morphometry_with(&sim.read_lattice(ctx), schedule.convention);
            if !m.has_bone() {
                warn_no_bone(0.0);
            }
            m
        } else {
            unmeasured()
        };
        let day0 = sim.measure(ctx);
        let series = TimeSeries {
            rows: vec![Metrics::new(&day0, &morph, clock.wall_s())],
        };
        Self {
            sim,
            series,
            morph,
            last_morph_day: 0.0,
            last_report: day0,
            schedule,
            clock,
        }
    }

    /// A session restored from a checkpoint: `rows` up to its day, the
    /// morphometry carried by the last row.
    pub fn resumed(
        sim: Simulation,
        rows: Vec<Metrics>,
        last_morph_day: f64,
        schedule: MorphSchedule,
        clock: Clock,
    ) -> Result<Self> {
        if rows.len() != sim.step as usize + 1 {
            anyhow::bail!(
                "the checkpoint's time series has {} rows for step {}",
                rows.len(),
                sim.step
            );
        }
        let last = *rows.last().expect("a row");
        let morph = Morphometry {
            bv_tv: last.bv_tv,
            bs_bv_per_mm: last.bs_bv_per_mm,
            tb_th_um: last.tb_th_um,
            tb_sp_um: last.tb_sp_um,
            tb_n_per_mm: last.tb_n_per_mm,
            conn_d_per_mm3: last.conn_d_per_mm3,
            euler_characteristic: 0,
            delta_chi: f64::NAN,
            bone_components: last.bone_components.unwrap_or(0),
            marrow_cavities: last.marrow_cavities.unwrap_or(0),
        };
        Ok(Self {
            sim,
            series: TimeSeries { rows },
            morph,
            last_morph_day,
            last_report: StepReport::default(),
            schedule,
            clock,
        })
    }

    /// Whether the scene's last day has been reached.
    pub fn finished(&self) -> bool {
        self.sim.step >= self.sim.scene.steps()
    }

    /// One day: the step on the GPU, the morphometry if due (and on the
    /// scene's last day), and its row.
    pub fn step(&mut self, ctx: &GpuContext) -> Result<StepReport> {
        let report = self.sim.advance(ctx)?;
        let day = report.day;
        let every = self.schedule.every_days as f64;
        let due = every > 0.0 && day - self.last_morph_day >= every - 1e-9;
        let last = self.sim.step == self.sim.scene.steps();
        if due || (self.schedule.at_ends && last) {
            let had_bone = self.morph.has_bone();
            self.morph =
                lattice_morphometry_with(&self.sim.read_lattice(ctx), self.schedule.convention);
            if had_bone && !self.morph.has_bone() {
                warn_no_bone(day);
            }
            // The forced measurement on the last day is not part of the schedule.
            if due {
                self.last_morph_day = day;
            }
        }
        self.series
            .rows
            .push(Metrics::new(&report, &self.morph, self.clock.wall_s()));
        self.last_report = report;
        Ok(report)
    }

    /// The time series as `timeseries.csv` holds it.
    pub fn timeseries_csv(&self) -> Result<String> {
        self.series.to_csv_string()
    }
}

/// Says once, when the bone is gone, why morphometry cells are empty.
fn warn_no_bone(day: f64) {
    log::warn!(
        "day {day}: no bone left; {} are undefined from here (empty cells in timeseries.csv)",
        Morphometry::UNDEFINED_WITHOUT_BONE.join(", ")
    );
}
