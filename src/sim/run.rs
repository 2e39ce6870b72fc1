//! A headless run: build the lattice (or restore a checkpoint), step through
//! the scene's days, and write the run folder (`run.json`, `timeseries.csv`,
//! lattice volumes, `plots/*.png`, snapshots, checkpoints).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use super::checkpoint::{self, Checkpoint, RunProgress};
use super::metrics::Metrics;
use super::session::{Clock, MorphSchedule, Session};
use super::snapshot::{Frames, Snapshots};
use super::step::{NonFinite, Simulation};
use crate::cells::CellType;
use crate::gpu::{AdapterSummary, GpuContext};
use crate::io::write_atomic_bytes;
use crate::lattice;
use crate::morph::ThicknessConvention;
use crate::scene::Scene;
use crate::stop::{Stop, StoppedInSetup};

/// How to run, beyond the scene itself.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub out_dir: PathBuf,
    /// Show a progress bar (else plain log lines).
    pub progress: bool,
    /// The command line, recorded in `run.json`.
    pub command_line: Vec<String>,
    /// Write a checkpoint every this many days (0: only when stopped).
    pub checkpoint_every_days: u32,
    /// Set (by SIGINT/SIGTERM) to stop after the current step with a checkpoint.
    pub stop: Option<Arc<AtomicBool>>,
    /// Render `frames/frame_NNNNN.png` every this many days (0: none).
    pub frames_every_days: u32,
    /// Called after each day's row is written (the Python module's progress).
    pub on_day: Option<OnDay>,
}

/// A function of a day's row and the run's last step.
pub type DayFn = dyn Fn(&Metrics, u32) + Send + Sync;

/// A callback given each day's row and the run's last step.
#[derive(Clone)]
pub struct OnDay(pub Arc<DayFn>);

impl std::fmt::Debug for OnDay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnDay(..)")
    }
}

impl RunOptions {
    pub fn new(out_dir: impl Into<PathBuf>) -> Self {
        Self {
            out_dir: out_dir.into(),
            progress: std::io::stderr().is_terminal(),
            command_line: std::env::args().collect(),
            checkpoint_every_days: 0,
            stop: None,
            frames_every_days: 0,
            on_day: None,
        }
    }
}

/// A run stopped on request after writing a checkpoint.
#[derive(Debug, thiserror::Error)]
#[error(
    "stopped at day {day}; checkpoint {checkpoint}; continue with `trabecula resume {run_dir}`"
)]
pub struct Interrupted {
    pub day: f64,
    pub checkpoint: String,
    pub run_dir: String,
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
    /// How the lattice was made ([`crate::lattice::LatticeOrigin`]).
    pub lattice: serde_json::Value,
    /// How the time series' Tb.Th and Tb.Sp (and so Tb.N) are measured
    /// (`outputs.thickness_convention`), and what that means.
    pub thickness_convention: ThicknessConvention,
    pub thickness_convention_description: String,
    pub steps: u32,
    pub osteocytes_seeded: u32,
    /// GPU memory held by the simulation state at the end, bytes.
    pub gpu_bytes: u64,
    pub timings: Timings,
    /// Day the run was last resumed from a checkpoint, if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumed_from_day: Option<f64>,
    pub status: String,
}

impl RunRecord {
    /// The record of a run of `scene` on `ctx`'s adapter whose lattice was
    /// made as `lattice` says (a [`crate::lattice::LatticeOrigin`]) in `lattice_s`.
    pub fn new(
        ctx: &GpuContext,
        scene: &Scene,
        command_line: Vec<String>,
        lattice: serde_json::Value,
        lattice_s: f64,
    ) -> Self {
        Self {
            program: env!("CARGO_PKG_NAME").into(),
            version: env!("CARGO_PKG_VERSION").into(),
            command_line,
            scene: scene.clone(),
            seed: scene.seed,
            adapter: ctx.summary.clone(),
            lattice,
            thickness_convention: scene.outputs.thickness_convention,
            thickness_convention_description: scene
                .outputs
                .thickness_convention
                .description()
                .into(),
            steps: scene.steps(),
            osteocytes_seeded: 0,
            gpu_bytes: 0,
            timings: Timings {
                lattice_s,
                ..Default::default()
            },
            resumed_from_day: None,
            status: "running".into(),
        }
    }
}

/// The outcome of a run.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub out_dir: PathBuf,
    pub first: Metrics,
    pub last: Metrics,
    pub timings: Timings,
}

/// A run between steps: the session and the run folder's writers.
struct Progress {
    session: Session,
    snapshots: Option<Snapshots>,
    frames: Option<Frames>,
    record: RunRecord,
}

/// Runs `scene` headless into `opts.out_dir`.
pub fn run_scene(ctx: &GpuContext, scene: &Scene, opts: &RunOptions) -> Result<RunSummary> {
    let t0 = Instant::now();
    std::fs::create_dir_all(&opts.out_dir)
        .with_context(|| format!("creating the run folder {}", opts.out_dir.display()))?;
    log::info!("adapter: {}", ctx.summary.one_line());
    // A fresh run replaces the checkpoints of an earlier run in this folder.
    for old in checkpoint::list(&opts.out_dir) {
        std::fs::remove_file(&old).with_context(|| format!("removing {}", old.display()))?;
    }

    let stop = Stop::on(opts.stop.as_deref());
    let (lat, origin) =
        lattice::from_scene_with_stop(ctx, scene, stop).context("building the lattice")?;
    let lattice_s = t0.elapsed().as_secs_f64();
    let mut record = RunRecord::new(
        ctx,
        scene,
        opts.command_line.clone(),
        serde_json::to_value(&origin)?,
        lattice_s,
    );
    write_record(&opts.out_dir, &record)?;

    let (session, lat) = match begin_session(ctx, scene, lat, &mut record, stop, t0) {
        Ok(begun) => begun,
        Err(e) => {
            if e.downcast_ref::<StoppedInSetup>().is_some() {
                record.status = "interrupted".into();
                record.timings.total_s = t0.elapsed().as_secs_f64();
                write_record(&opts.out_dir, &record)?;
            }
            return Err(e.context("setting up the simulation"));
        }
    };
    lat.to_volume()
        .write(&opts.out_dir.join("lattice_start.mhd"))
        .context("writing lattice_start.mhd")?;
    session
        .series
        .write_csv(&opts.out_dir.join("timeseries.csv"))?;
    let mut snapshots = Snapshots::new(&opts.out_dir, scene.outputs.volumes_every_days);
    if let Some(s) = &mut snapshots {
        s.write(ctx, &session.sim, session.last_report.load_factor)
            .context("writing the day-0 snapshot")?;
    }
    let mut frames = Frames::new(&opts.out_dir, opts.frames_every_days);
    if let Some(f) = &mut frames {
        f.write(ctx, &session.sim)
            .context("rendering the day-0 frame")?;
    }
    let progress = Progress {
        session,
        snapshots,
        frames,
        record,
    };
    drive(ctx, progress, opts)
}

/// The session and run record of a run taken up again from `ckpt` with
/// `scene` (the checkpoint's, perhaps with more days), its wall clock
/// going on from `t0`.
pub fn resume_session(
    ctx: &GpuContext,
    ckpt: &Checkpoint,
    scene: Scene,
    command_line: Vec<String>,
    t0: Instant,
) -> Result<(Session, RunRecord)> {
    let h = &ckpt.header;
    let mut sim = ckpt.restore(ctx).context("restoring the checkpoint")?;
    let rows = rows_from_csv(&h.run.timeseries_csv).context("the checkpoint's time series")?;
    let record = RunRecord {
        osteocytes_seeded: h.run.osteocytes_seeded,
        resumed_from_day: Some(h.day),
        ..RunRecord::new(
            ctx,
            &scene,
            command_line,
            h.run.lattice_origin.clone(),
            h.run.lattice_s,
        )
    };
    let schedule = MorphSchedule::of(&scene);
    sim.scene = scene;
    let clock = Clock {
        t0,
        before_s: h.run.elapsed_s,
    };
    let session = Session::resumed(sim, rows, h.run.last_morph_day, schedule, clock)?;
    Ok((session, record))
}

/// Day 0 of a run of `scene` on `lattice`, as `trabecula run` makes it:
/// the simulation (its workgroup size fixed, so checkpoints restore on any
/// adapter), spun up if the scene asks, and its first row; with the lattice
/// of day 0 (after the spin-up) and the seeded osteocytes in `record`.
/// Gives up with [`StoppedInSetup`] once `stop` is requested.
pub fn begin_session(
    ctx: &GpuContext,
    scene: &Scene,
    lattice: lattice::Lattice,
    record: &mut RunRecord,
    stop: Stop<'_>,
    t0: Instant,
) -> Result<(Session, lattice::Lattice)> {
    let sim = Simulation::new_with_stop(ctx, scene, &lattice, checkpoint::WORKGROUP, stop)?;
    let day0 = if scene.spin_up_days > 0 {
        sim.read_lattice(ctx)
    } else {
        lattice
    };
    record.osteocytes_seeded = sim.state.cell(CellType::Osteocyte).len;
    let session = Session::begin(ctx, sim, MorphSchedule::of(scene), Clock::since(t0));
    Ok((session, day0))
}

/// A run folder of `session` as it stands, as `trabecula run` leaves one:
/// `lattice_start.mhd` (day 0, when known), `timeseries.csv`, `lattice_end.mhd` (now),
/// `plots/*.png` and `run.json` (`finished` at the scene's last day, else
/// `partial`).
pub fn write_run_folder(
    ctx: &GpuContext,
    session: &Session,
    lattice_start: Option<&lattice::Lattice>,
    record: &mut RunRecord,
    dir: &Path,
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    if let Some(lattice) = lattice_start {
        lattice
            .to_volume()
            .write(&dir.join("lattice_start.mhd"))
            .context("writing lattice_start.mhd")?;
    }
    session.series.write_csv(&dir.join("timeseries.csv"))?;
    write_final_outputs(ctx, session, dir, record)?;
    if !session.finished() {
        record.status = "partial".into();
        write_record(dir, record)?;
    }
    Ok(())
}

/// Continues the run in `opts.out_dir` from its newest checkpoint, to the
/// scene's last day or to `days` if given (a longer run). A zero
/// `checkpoint_every_days` or `frames_every_days` in `opts` keeps the
/// interrupted run's setting.
pub fn resume_run(ctx: &GpuContext, days: Option<u32>, opts: &RunOptions) -> Result<RunSummary> {
    let t0 = Instant::now();
    let dir = &opts.out_dir;
    let path = checkpoint::latest(dir)?;
    let ckpt = Checkpoint::read(&path)?;
    let h = &ckpt.header;
    let mut opts = opts.clone();
    if opts.checkpoint_every_days == 0 {
        opts.checkpoint_every_days = h.run.checkpoint_every_days;
    }
    if opts.frames_every_days == 0 {
        opts.frames_every_days = h.run.frames_every_days;
    }
    let opts = &opts;
    let mut scene = h.scene.clone();
    if let Some(d) = days {
        if (d as f64) < h.day {
            bail!(
                "--days {d} is before the checkpoint's day {}; give a later last day",
                h.day
            );
        }
        scene.days = d;
    }
    log::info!(
        "resuming {} from day {} ({}) to day {}",
        dir.display(),
        h.day,
        path.display(),
        scene.days
    );
    let (session, record) =
        resume_session(ctx, &ckpt, scene.clone(), opts.command_line.clone(), t0)?;
    // Rows past the checkpoint (a run killed later) are replaced.
    session.series.write_csv(&dir.join("timeseries.csv"))?;
    let mut snapshots = Snapshots::new(dir, scene.outputs.volumes_every_days);
    if let Some(s) = &mut snapshots {
        s.resume_at(h.day);
    }
    let mut frames = Frames::new(dir, opts.frames_every_days);
    if let Some(f) = &mut frames {
        f.resume_at(h.day);
    }
    write_record(dir, &record)?;
    let progress = Progress {
        session,
        snapshots,
        frames,
        record,
    };
    drive(ctx, progress, opts)
}

/// Steps to the scene's last day, writing rows, snapshots and checkpoints,
/// then the final outputs.
fn drive(ctx: &GpuContext, mut p: Progress, opts: &RunOptions) -> Result<RunSummary> {
    let scene = p.session.sim.scene.clone();
    let dir = &opts.out_dir;
    let csv = dir.join("timeseries.csv");
    let steps = scene.steps();
    let ckpt_every = opts.checkpoint_every_days as f64;
    let mut last_ckpt_day = p.session.sim.day();

    let first_step = p.session.sim.step + 1;
    let bar = progress_bar(opts.progress, steps);
    if let Some(b) = &bar {
        b.set_position(p.session.sim.step as u64);
    }
    let t_steps = Instant::now();
    // Stopped while setting up day 0 (its morphometry, say) or restoring:
    // the state is whole, so it is checkpointed as after a step.
    if stop_requested(opts) && first_step <= steps {
        if let Some(b) = &bar {
            b.abandon();
        }
        let path = write_checkpoint(ctx, &p, opts)?;
        return Err(interrupted(p, opts, &path, t_steps));
    }
    for step in first_step..=steps {
        let report = match p.session.step(ctx) {
            Ok(r) => r,
            Err(e) => {
                if let Some(b) = &bar {
                    b.abandon();
                }
                // A field gone bad names its own day; anything else (a
                // solve that broke down, a lost device) gets the step's.
                let e = if e.downcast_ref::<NonFinite>().is_some() {
                    e
                } else {
                    e.context(format!("step {step} (day {})", p.session.sim.day()))
                };
                return Err(failed(p, opts, e, t_steps));
            }
        };
        let day = report.day;
        p.session.series.write_csv(&csv)?;
        if let Some(OnDay(f)) = &opts.on_day {
            f(p.session.series.rows.last().expect("a row"), steps);
        }
        if let Some(s) = &mut p.snapshots
            && (s.due(day) || step == steps)
        {
            s.write(ctx, &p.session.sim, report.load_factor)
                .with_context(|| format!("writing the day-{day} snapshot"))?;
        }
        if let Some(f) = &mut p.frames
            && (f.due(day) || step == steps)
        {
            f.write(ctx, &p.session.sim)
                .with_context(|| format!("rendering the day-{day} frame"))?;
        }
        let stop = stop_requested(opts);
        let ckpt_due = ckpt_every > 0.0 && day - last_ckpt_day >= ckpt_every - 1e-9;
        if ckpt_due || stop {
            let path = write_checkpoint(ctx, &p, opts)?;
            last_ckpt_day = day;
            if stop && step < steps {
                if let Some(b) = &bar {
                    b.abandon();
                }
                return Err(interrupted(p, opts, &path, t_steps));
            }
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
    let mut record = p.record;
    record.timings.steps_s = t_steps.elapsed().as_secs_f64();
    write_final_outputs(ctx, &p.session, dir, &mut record)?;
    let rows = &p.session.series.rows;
    Ok(RunSummary {
        out_dir: dir.clone(),
        first: rows[0],
        last: *rows.last().expect("a row"),
        timings: record.timings,
    })
}

/// What a finished run leaves beside its time series: `lattice_end.mhd`,
/// `plots/*.png` and `run.json` marked finished.
pub fn write_final_outputs(
    ctx: &GpuContext,
    session: &Session,
    dir: &Path,
    record: &mut RunRecord,
) -> Result<()> {
    record.gpu_bytes = session.sim.state.gpu_bytes();
    session
        .sim
        .read_lattice(ctx)
        .to_volume()
        .write(&dir.join("lattice_end.mhd"))
        .context("writing lattice_end.mhd")?;
    crate::io::plot::write_run_plots(&session.series.rows, dir).context("writing plots")?;
    record.timings.total_s = session.clock.wall_s();
    record.status = "finished".into();
    write_record(dir, record)
}

fn stop_requested(opts: &RunOptions) -> bool {
    opts.stop.as_ref().is_some_and(|f| f.load(Ordering::SeqCst))
}

/// Records a run stopped after its checkpoint `path` as interrupted, and
/// the error that says how to continue.
fn interrupted(mut p: Progress, opts: &RunOptions, path: &Path, t_steps: Instant) -> anyhow::Error {
    let dir = &opts.out_dir;
    p.record.status = "interrupted".into();
    p.record.gpu_bytes = p.session.sim.state.gpu_bytes();
    p.record.timings.steps_s = t_steps.elapsed().as_secs_f64();
    p.record.timings.total_s = p.session.clock.wall_s();
    if let Err(e) = write_record(dir, &p.record) {
        return e;
    }
    Interrupted {
        day: p.session.sim.day(),
        checkpoint: path.display().to_string(),
        run_dir: dir.display().to_string(),
    }
    .into()
}

/// Records a run whose step failed (a field gone bad, a solve that broke
/// down) as failed, keeping what it wrote up to the last good day (the time
/// series holds no row of the failed day), and names the newest checkpoint
/// to go back to.
fn failed(
    mut p: Progress,
    opts: &RunOptions,
    error: anyhow::Error,
    t_steps: Instant,
) -> anyhow::Error {
    let dir = &opts.out_dir;
    p.record.status = "failed".into();
    p.record.timings.steps_s = t_steps.elapsed().as_secs_f64();
    p.record.timings.total_s = p.session.clock.wall_s();
    if let Err(e) = write_record(dir, &p.record) {
        return e;
    }
    let last_good = match checkpoint::latest(dir) {
        Ok(path) => format!("the last good checkpoint is {}", path.display()),
        Err(_) => "no checkpoint was written before it (use --checkpoint-every N)".to_string(),
    };
    error.context(format!(
        "the run stopped; {} keeps every day before it, and {last_good}",
        dir.join("timeseries.csv").display()
    ))
}

fn write_checkpoint(ctx: &GpuContext, p: &Progress, opts: &RunOptions) -> Result<PathBuf> {
    let run = run_progress(&p.session, &p.record, opts)?;
    let ckpt = Checkpoint::capture(ctx, &p.session.sim, run);
    let path = checkpoint::save(&opts.out_dir, &ckpt)?;
    log::info!(
        "checkpoint at day {}: {}",
        p.session.sim.day(),
        path.display()
    );
    Ok(path)
}

/// What a checkpoint keeps of the run around `session`, beside its state.
pub fn run_progress(
    session: &Session,
    record: &RunRecord,
    opts: &RunOptions,
) -> Result<RunProgress> {
    Ok(RunProgress {
        timeseries_csv: session.timeseries_csv()?,
        last_morph_day: session.last_morph_day,
        lattice_origin: record.lattice.clone(),
        osteocytes_seeded: record.osteocytes_seeded,
        lattice_s: record.timings.lattice_s,
        elapsed_s: session.clock.wall_s(),
        checkpoint_every_days: opts.checkpoint_every_days,
        frames_every_days: opts.frames_every_days,
    })
}

/// Rows of a `timeseries.csv`.
pub fn rows_from_csv(text: &str) -> Result<Vec<Metrics>> {
    crate::sim::metrics::TimeSeries::parse_csv(text)
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
