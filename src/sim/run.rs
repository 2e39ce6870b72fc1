//! A headless run: build the lattice, step through the scene's days, and
//! write the run folder (`run.json`, `timeseries.csv`, lattice volumes,
//! `plots/*.png`).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;

use super::metrics::{Metrics, TimeSeries, lattice_morphometry};
use super::snapshot::Snapshots;
use super::step::Simulation;
use crate::cells::CellType;
use crate::gpu::{AdapterSummary, GpuContext};
use crate::io::write_atomic_bytes;
use crate::lattice::{self, Lattice, LatticeOrigin};
use crate::scene::Scene;

/// How to run, beyond the scene itself.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub out_dir: PathBuf,
    /// Show a progress bar (else plain log lines).
    pub progress: bool,
    /// The command line, recorded in `run.json`.
    pub command_line: Vec<String>,
}

impl RunOptions {
    pub fn new(out_dir: impl Into<PathBuf>) -> Self {
        Self {
            out_dir: out_dir.into(),
            progress: std::io::stderr().is_terminal(),
            command_line: std::env::args().collect(),
        }
    }
}

/// Wall times of a run's phases, in seconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    pub lattice_s: f64,
    pub steps_s: f64,
    pub total_s: f64,
}

/// What `run.json` holds: enough to reproduce the run from its own folder.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    pub program: String,
    pub version: String,
    pub command_line: Vec<String>,
    pub scene: Scene,
    pub seed: u64,
    pub adapter: AdapterSummary,
    pub lattice: LatticeOrigin,
    pub steps: u32,
    pub osteocytes_seeded: u32,
    /// GPU memory held by the simulation state at the end, bytes.
    pub gpu_bytes: u64,
    pub timings: Timings,
    pub status: String,
}

/// The outcome of a run.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub out_dir: PathBuf,
    pub first: Metrics,
    pub last: Metrics,
    pub timings: Timings,
}

/// Runs `scene` headless into `opts.out_dir`.
pub fn run_scene(ctx: &GpuContext, scene: &Scene, opts: &RunOptions) -> Result<RunSummary> {
    let t0 = Instant::now();
    std::fs::create_dir_all(&opts.out_dir)
        .with_context(|| format!("creating the run folder {}", opts.out_dir.display()))?;
    log::info!("adapter: {}", ctx.summary.one_line());

    let (lat, origin) = lattice::from_scene(ctx, scene).context("building the lattice")?;
    let lattice_s = t0.elapsed().as_secs_f64();
    let mut record = RunRecord {
        program: env!("CARGO_PKG_NAME").into(),
        version: env!("CARGO_PKG_VERSION").into(),
        command_line: opts.command_line.clone(),
        scene: scene.clone(),
        seed: scene.seed,
        adapter: ctx.summary.clone(),
        lattice: origin,
        steps: scene.steps(),
        osteocytes_seeded: 0,
        gpu_bytes: 0,
        timings: Timings {
            lattice_s,
            ..Default::default()
        },
        status: "running".into(),
    };
    write_record(&opts.out_dir, &record)?;
    lat.to_volume()
        .write(&opts.out_dir.join("lattice_start.mhd"))
        .context("writing lattice_start.mhd")?;

    let steps = scene.steps();
    let sed_unit = habitual_sed(scene, &lat);
    let mut sim =
        Simulation::new(ctx, scene, &lat, &sed_unit, 64).context("setting up the simulation")?;
    record.osteocytes_seeded = sim.state.cell(CellType::Osteocyte).len;
    let morph_every = scene.outputs.morphometry_every_days as f64;
    let morph_on = scene.outputs.morphometry;
    let mut morph = if morph_on {
        lattice_morphometry(&lat)
    } else {
        super::metrics::unmeasured()
    };
    let mut last_morph_day = 0.0;
    let mut series = TimeSeries::default();
    let csv = opts.out_dir.join("timeseries.csv");
    let day0 = sim.measure(ctx);
    series
        .rows
        .push(Metrics::new(&day0, &morph, t0.elapsed().as_secs_f64()));
    series.write_csv(&csv)?;
    let mut snapshots = Snapshots::new(&opts.out_dir, scene.outputs.volumes_every_days);
    if let Some(s) = &mut snapshots {
        s.write(ctx, &sim, day0.load_factor)
            .context("writing the day-0 snapshot")?;
    }

    let bar = progress_bar(opts.progress, steps);
    let t_steps = Instant::now();
    for step in 1..=steps {
        let report = sim
            .advance(ctx)
            .with_context(|| format!("step {step} (day {})", sim.day()))?;
        let day = report.day;
        let due = morph_every > 0.0 && day - last_morph_day >= morph_every - 1e-9;
        if morph_on && (due || step == steps) {
            morph = lattice_morphometry(&sim.read_lattice(ctx));
            last_morph_day = day;
        }
        series
            .rows
            .push(Metrics::new(&report, &morph, t0.elapsed().as_secs_f64()));
        series.write_csv(&csv)?;
        if let Some(s) = &mut snapshots
            && (s.due(day) || step == steps)
        {
            s.write(ctx, &sim, report.load_factor)
                .with_context(|| format!("writing the day-{day} snapshot"))?;
        }
        match &bar {
            Some(b) => b.inc(1),
            None => {
                if step == steps || step % (steps / 10).max(1) == 0 {
                    log::info!(
                        "day {day:.0}/{}: BV/TV {:.4}, osteocytes {} (+{} apoptotic), osteoclasts {}, osteoblasts {}",
                        scene.days,
                        report.bv_tv,
                        report.osteocytes_alive,
                        report.osteocytes_apoptotic,
                        report.osteoclasts,
                        report.osteoblasts
                    );
                }
            }
        }
    }
    if let Some(b) = bar {
        b.finish();
    }
    record.gpu_bytes = sim.state.gpu_bytes();
    let lat = sim.read_lattice(ctx);
    lat.to_volume()
        .write(&opts.out_dir.join("lattice_end.mhd"))
        .context("writing lattice_end.mhd")?;
    crate::io::plot::write_run_plots(&series.rows, &opts.out_dir).context("writing plots")?;
    record.timings.steps_s = t_steps.elapsed().as_secs_f64();
    record.timings.total_s = t0.elapsed().as_secs_f64();
    record.status = "finished".into();
    write_record(&opts.out_dir, &record)?;
    Ok(RunSummary {
        out_dir: opts.out_dir.clone(),
        first: series.rows[0],
        last: *series.rows.last().expect("a row"),
        timings: record.timings,
    })
}

/// The unit-load (habitual 1 g) strain energy density per voxel: the
/// scene's habitual SED in bone, 0 in marrow.
pub fn habitual_sed(scene: &Scene, lattice: &Lattice) -> Vec<f32> {
    let sed = scene.mechanics.habitual_sed_mpa.expect("preset applied") as f32;
    lattice
        .mineral
        .iter()
        .map(|&m| if m >= 0.5 { sed } else { 0.0 })
        .collect()
}

fn write_record(dir: &Path, record: &RunRecord) -> Result<()> {
    let json = serde_json::to_vec_pretty(record)?;
    write_atomic_bytes(&dir.join("run.json"), &json).context("writing run.json")
}

fn progress_bar(enabled: bool, steps: u32) -> Option<indicatif::ProgressBar> {
    enabled.then(|| {
        let bar = indicatif::ProgressBar::new(steps as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} day {pos}/{len} {elapsed_precise} eta {eta}",
            )
            .expect("valid template"),
        );
        bar
    })
}
