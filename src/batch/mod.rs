//! Parameter sweeps: expand a sweep file into runs, run the missing ones
//! (optionally one shard of the grid, several at once), and summarise every
//! run folder into `summary.csv`.
//!
//! A run is finished when its `run.json` says so and its outputs are
//! complete, so a killed sweep reruns only what it had not finished. The
//! summary is always rebuilt from the run folders, which is what makes
//! `--merge` of shards equal to an unsharded sweep.

pub mod summary;
pub mod sweep;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

pub use summary::{is_finished, write_summary};
pub use sweep::{RunSpec, Shard, Sweep};

use crate::gpu::GpuContext;
use crate::io::write_atomic_bytes;
use crate::scene::Scene;
use crate::sim::state::SimState;
use crate::sim::{Interrupted, RunOptions, checkpoint, resume_run, run_scene};
use crate::stop::StoppedInSetup;

/// What each run folder records about its place in the sweep.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunParams {
    pub sweep: String,
    pub index: usize,
    pub params: Vec<(String, String)>,
    pub seed: u64,
    pub overrides: Vec<String>,
}

/// Name of the per-run parameter file.
pub const PARAMS_FILE: &str = "params.json";
/// Written when a run fails; removed when it is retried.
pub const ERROR_FILE: &str = "error.txt";

/// How to run a sweep.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    pub out_dir: PathBuf,
    pub shard: Option<Shard>,
    /// Runs at once, each on its own device and queue.
    pub jobs: usize,
    /// GPU memory the concurrent runs may plan to use together, MiB.
    pub gpu_memory_mib: u64,
    /// Checkpoint each run every this many days (0: only when stopped).
    pub checkpoint_every_days: u32,
    /// Set by SIGINT/SIGTERM: running runs checkpoint and stop, no new ones start.
    pub stop: Option<Arc<AtomicBool>>,
}

/// A sweep stopped by SIGINT/SIGTERM: its running runs left checkpoints.
#[derive(Debug, thiserror::Error)]
#[error(
    "sweep stopped; running runs wrote checkpoints; rerun the same command to continue into {out_dir}"
)]
pub struct SweepStopped {
    pub out_dir: String,
}

/// What a sweep did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SweepReport {
    /// Runs in this shard of the grid.
    pub planned: usize,
    /// Already finished, not rerun.
    pub skipped: usize,
    pub finished: usize,
    pub failed: usize,
}

/// Estimated GPU bytes of one run: the state's fields plus room for agents.
fn run_bytes(scene: &Scene) -> u64 {
    let n = scene
        .lattice
        .dims
        .map(|d| d.iter().map(|&x| x as u64).product())
        .unwrap_or(64 * 64 * 64);
    // Agents and scratch: a quarter again of the fields (measured runs hold less).
    SimState::memory_plan(n).0 * 5 / 4
}

/// Runs the sweep's missing runs into `opts.out_dir`, then writes
/// `summary.csv`. Fails after the rest have run if any run failed.
pub fn run_sweep(sweep: &Sweep, opts: &SweepOptions) -> Result<SweepReport> {
    let grid = sweep.runs();
    let runs: Vec<RunSpec> = grid
        .into_iter()
        .filter(|r| opts.shard.is_none_or(|s| s.contains(r.index)))
        .collect();
    // Every scene is checked before any run starts: a typo fails in seconds.
    let mut scenes = Vec::with_capacity(runs.len());
    for r in &runs {
        let scene = crate::scene::load(&sweep.scene, &r.overrides)
            .with_context(|| format!("run {} ({})", r.index, r.dir_name))?;
        scenes.push(scene);
    }
    std::fs::create_dir_all(&opts.out_dir)
        .with_context(|| format!("creating {}", opts.out_dir.display()))?;

    let mut report = SweepReport {
        planned: runs.len(),
        ..Default::default()
    };
    let mut todo = Vec::new();
    for (r, s) in runs.iter().zip(&scenes) {
        if is_finished(&opts.out_dir.join(&r.dir_name)) {
            report.skipped += 1;
        } else {
            todo.push((r, s));
        }
    }
    log::info!(
        "sweep {}: {} runs in this shard, {} finished already, {} to run",
        sweep.name,
        report.planned,
        report.skipped,
        todo.len()
    );

    let largest = todo.iter().map(|(_, s)| run_bytes(s)).max().unwrap_or(0);
    let budget = opts.gpu_memory_mib << 20;
    let fit = (budget / largest.max(1)).max(1) as usize;
    let jobs = opts.jobs.max(1).min(fit).min(todo.len().max(1));
    if jobs < opts.jobs {
        log::warn!(
            "running {jobs} at once, not {}: each run plans up to {} MiB of the {} MiB budget (--gpu-memory-mib)",
            opts.jobs,
            largest >> 20,
            opts.gpu_memory_mib
        );
    }

    let next = AtomicUsize::new(0);
    let outcomes = Mutex::new((0usize, 0usize));
    let setup_error = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                let ctx = match GpuContext::new() {
                    Ok(c) => c,
                    Err(e) => {
                        *setup_error.lock().unwrap() = Some(e);
                        return;
                    }
                };
                loop {
                    if stopped(opts) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some((spec, scene)) = todo.get(i) else {
                        break;
                    };
                    let outcome = run_one(&ctx, sweep, spec, scene, opts);
                    let mut o = outcomes.lock().unwrap();
                    match outcome {
                        Outcome::Finished => o.0 += 1,
                        Outcome::Failed => o.1 += 1,
                        Outcome::Stopped => {}
                    }
                }
            });
        }
    });
    if let Some(e) = setup_error.into_inner().unwrap() {
        return Err(e).context("opening a GPU device for the sweep");
    }
    let (finished, failed) = outcomes.into_inner().unwrap();
    report.finished = finished;
    report.failed = failed;
    write_summary(&opts.out_dir)?;
    if stopped(opts) {
        return Err(SweepStopped {
            out_dir: opts.out_dir.display().to_string(),
        }
        .into());
    }
    if failed > 0 {
        bail!(
            "{failed} of {} runs failed; see error.txt in their folders under {}",
            todo.len(),
            opts.out_dir.display()
        );
    }
    Ok(report)
}

fn stopped(opts: &SweepOptions) -> bool {
    opts.stop.as_ref().is_some_and(|f| f.load(Ordering::SeqCst))
}

enum Outcome {
    Finished,
    Failed,
    Stopped,
}

/// Runs one grid point into its folder, continuing from a checkpoint left
/// by an earlier attempt when there is a usable one; a failure is recorded
/// in the folder.
fn run_one(
    ctx: &GpuContext,
    sweep: &Sweep,
    spec: &RunSpec,
    scene: &Scene,
    sweep_opts: &SweepOptions,
) -> Outcome {
    let dir = sweep_opts.out_dir.join(&spec.dir_name);
    let t0 = Instant::now();
    let result = (|| -> Result<()> {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let _ = std::fs::remove_file(dir.join(ERROR_FILE));
        let params = RunParams {
            sweep: sweep.name.clone(),
            index: spec.index,
            params: spec.params.clone(),
            seed: spec.seed,
            overrides: spec.overrides.clone(),
        };
        write_atomic_bytes(&dir.join(PARAMS_FILE), &serde_json::to_vec_pretty(&params)?)
            .context("writing params.json")?;
        let mut opts = RunOptions::new(&dir);
        opts.progress = false;
        opts.checkpoint_every_days = sweep_opts.checkpoint_every_days;
        opts.stop = sweep_opts.stop.clone();
        if checkpoint::latest(&dir).is_ok() {
            match resume_run(ctx, None, &opts) {
                Ok(_) => return Ok(()),
                Err(e) if e.downcast_ref::<Interrupted>().is_some() => return Err(e),
                Err(e) => log::warn!("{}: starting afresh: {e:#}", spec.dir_name),
            }
        }
        run_scene(ctx, scene, &opts)?;
        Ok(())
    })();
    match result {
        Ok(()) => {
            log::info!(
                "run {} {} finished in {:.1} s",
                spec.index,
                spec.dir_name,
                t0.elapsed().as_secs_f64()
            );
            Outcome::Finished
        }
        Err(e)
            if e.downcast_ref::<Interrupted>().is_some()
                || e.downcast_ref::<StoppedInSetup>().is_some() =>
        {
            log::warn!("run {} {}: {e:#}", spec.index, spec.dir_name);
            Outcome::Stopped
        }
        Err(e) => {
            log::error!("run {} {} failed: {e:#}", spec.index, spec.dir_name);
            let _ = write_atomic_bytes(&dir.join(ERROR_FILE), format!("{e:#}\n").as_bytes());
            Outcome::Failed
        }
    }
}
