//! The `trabecula` command line: parses, then calls the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use signal_hook::consts::{SIGINT, SIGTERM};

use trabecula::gpu::{GpuContext, GpuError};
use trabecula::io::mhd::Volume;
use trabecula::lattice::Lattice;
use trabecula::morph::{MorphReport, Morphometry, ThicknessConvention};
use trabecula::scene::{self, SceneError};
use trabecula::sim::{Interrupted, RunOptions, resume_run, run_scene};
use trabecula::stop::StoppedInSetup;

const DEFAULT_SCENE: &str = "scenes/demo.toml";

#[derive(Parser)]
#[command(
    name = "trabecula",
    version,
    about = "GPU agent-based simulator of trabecular bone remodeling"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the GPU adapter in use and the limits that matter.
    Info {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a scene headless and write a run folder.
    Run {
        /// Scene file.
        #[arg(default_value = DEFAULT_SCENE)]
        scene: PathBuf,
        /// Output folder (default: runs/<scene name>-seed<seed>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Override a scene value, e.g. `--set lattice.bv_tv=0.2` (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Seed (same as `--set seed=N`).
        #[arg(long)]
        seed: Option<u64>,
        /// Days to simulate (same as `--set days=N`).
        #[arg(long)]
        days: Option<u32>,
        /// Write a checkpoint every N days (the last two are kept).
        #[arg(long, value_name = "N", default_value_t = 0)]
        checkpoint_every: u32,
        /// Render a PNG every N days into frames/frame_NNNNN.png.
        #[arg(long, value_name = "N", default_value_t = 0)]
        frames_every: u32,
    },
    /// Continue a run from its newest checkpoint.
    Resume {
        /// The run folder.
        run_dir: PathBuf,
        /// Run to this day instead of the scene's last day.
        #[arg(long)]
        days: Option<u32>,
        /// Write a checkpoint every N days (default: as the run was started).
        #[arg(long, value_name = "N", default_value_t = 0)]
        checkpoint_every: u32,
        /// Render a PNG every N days (default: as the run was started).
        #[arg(long, value_name = "N", default_value_t = 0)]
        frames_every: u32,
    },
    /// Run a parameter sweep (or rebuild its summary with `--merge DIR`).
    Sweep {
        /// Sweep file (TOML: base scene, `[set]`, `[vary]`, seeds).
        #[arg(required_unless_present = "merge", conflicts_with = "merge")]
        sweep: Option<PathBuf>,
        /// Output folder (default: runs/<sweep name>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Run only grid positions with index % n == i, e.g. `--shard 0/4`
        /// (one per job of a scheduler array).
        #[arg(long, value_name = "i/n")]
        shard: Option<trabecula::batch::Shard>,
        /// Runs at once, each on its own GPU device and queue.
        #[arg(long, default_value_t = 1)]
        jobs: usize,
        /// GPU memory the concurrent runs may plan to use together, MiB.
        #[arg(long, default_value_t = 2048)]
        gpu_memory_mib: u64,
        /// Rebuild DIR/summary.csv from the run folders under DIR.
        #[arg(long, value_name = "DIR")]
        merge: Option<PathBuf>,
        /// Checkpoint each run every N days; a rerun continues unfinished
        /// runs from their checkpoints.
        #[arg(long, value_name = "N", default_value_t = 0)]
        checkpoint_every: u32,
    },
    /// Morphometry of a volume (BV/TV, BS/BV, Tb.Th, Tb.Sp, Tb.N, Conn.D).
    Morph {
        /// Volume: MetaImage (.mhd/.mha), NIfTI (.nii/.nii.gz), multi-page
        /// TIFF or a folder of TIFF slices.
        #[arg(long)]
        volume: PathBuf,
        /// Voxel size in µm (needed for TIFF, which does not record it).
        #[arg(long)]
        voxel_um: Option<f64>,
        /// Grey value at or above which a voxel is bone (default: 0.5, for
        /// fractions in [0, 1] or binary 0/1 data).
        #[arg(long)]
        threshold: Option<f64>,
        /// How Tb.Th and Tb.Sp (and so Tb.N) are measured: `face-to-face`
        /// (ball diameter 2d − 1 voxels, d the distance to the nearest
        /// other-phase voxel centre: a t-voxel plate is t voxels thick, as
        /// bone-microarchitecture) or `centre-to-centre` (2d: t + 1 voxels,
        /// as ormir-xct).
        #[arg(long, value_enum, default_value_t = ThicknessConvention::default())]
        thickness_convention: ThicknessConvention,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// PNG of the mid x–z slice of one or more volumes, side by side.
    Slice {
        /// MetaImage volumes (.mhd) of equal size, e.g. a run's lattice_start.mhd lattice_end.mhd.
        #[arg(required = true)]
        volumes: Vec<PathBuf>,
        /// Output PNG.
        #[arg(long)]
        out: PathBuf,
        /// y index of the slice (default: the middle).
        #[arg(long)]
        y: Option<usize>,
        /// Pixels per voxel.
        #[arg(long, default_value_t = 3)]
        scale: usize,
    },
    /// Micro-FE uniaxial compression of a volume: SED, reaction force, apparent modulus.
    Mech(trabecula::mech::MechArgs),
    /// Open the live viewer (a window; under no display, use `render` or `xvfb-run`).
    View(trabecula::render::app::ViewArgs),
    /// Render a scene after N days, or a run folder, to a PNG (no window needed).
    Render(trabecula::render::offscreen::RenderArgs),
    /// Run the validation scenes (docs/validation.md: V1–V8, M1–M2) and compare with the published bands.
    Validate(trabecula::validate::ValidateArgs),
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp(None)
        .format_target(false)
        .init();
    let cli = Cli::parse();
    if !matches!(cli.command, Command::View(_)) {
        // SAFETY: no other thread exists yet (logging and argument parsing
        // start none).
        unsafe { trabecula::gpu::context::quiet_display_probes() };
    }
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            // Bad input and a missing adapter are the user's to fix: exit 2.
            if e.downcast_ref::<Interrupted>().is_some()
                || e.downcast_ref::<StoppedInSetup>().is_some()
                || e.downcast_ref::<trabecula::batch::SweepStopped>().is_some()
            {
                // The conventional status of a run stopped by SIGINT.
                return ExitCode::from(130);
            }
            if e.downcast_ref::<SceneError>().is_some() || e.downcast_ref::<GpuError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn dispatch(command: Command) -> Result<()> {
    match command {
        Command::Info { json } => info(json),
        Command::Run {
            scene,
            out,
            mut set,
            seed,
            days,
            checkpoint_every,
            frames_every,
        } => {
            if let Some(s) = seed {
                set.push(format!("seed={s}"));
            }
            if let Some(d) = days {
                set.push(format!("days={d}"));
            }
            run(&scene, out, &set, checkpoint_every, frames_every)
        }
        Command::Resume {
            run_dir,
            days,
            checkpoint_every,
            frames_every,
        } => resume(&run_dir, days, checkpoint_every, frames_every),
        Command::Sweep {
            sweep,
            out,
            shard,
            jobs,
            gpu_memory_mib,
            merge,
            checkpoint_every,
        } => match (sweep, merge) {
            (_, Some(dir)) => {
                let rows = trabecula::batch::write_summary(&dir)?;
                println!("{}: {rows} runs", dir.join("summary.csv").display());
                Ok(())
            }
            (Some(file), None) => {
                if jobs == 0 {
                    anyhow::bail!("--jobs 0: a sweep runs at least one run at a time");
                }
                let opts = trabecula::batch::SweepOptions {
                    out_dir: PathBuf::new(),
                    shard,
                    jobs,
                    gpu_memory_mib,
                    checkpoint_every_days: checkpoint_every,
                    stop: Some(stop_flag()?),
                };
                run_sweep(&file, out, opts)
            }
            (None, None) => anyhow::bail!("give a sweep file or --merge DIR"),
        },
        Command::Morph {
            volume,
            voxel_um,
            threshold,
            thickness_convention,
            json,
        } => morph(&volume, voxel_um, threshold, thickness_convention, json),
        Command::Mech(args) => {
            output_folder(&args.out)?;
            let out = args.out.clone();
            leave_no_empty_folder(&out, || trabecula::mech::mech_command(args))
        }
        Command::View(args) => trabecula::render::app::view(args),
        Command::Render(args) => {
            output_file(&args.out)?;
            trabecula::render::offscreen::render_command(args)
        }
        Command::Validate(args) => {
            output_folder(&args.out)?;
            let out = args.out.clone();
            leave_no_empty_folder(&out, || trabecula::validate::validate_command(args))
        }
        Command::Slice {
            volumes,
            out,
            y,
            scale,
        } => {
            output_file(&out)?;
            let vols = volumes
                .iter()
                .map(|p| Volume::read(p))
                .collect::<Result<Vec<_>, _>>()?;
            trabecula::io::slice::write_slices(&vols, y, scale.max(1), &out)
                .with_context(|| format!("writing {}", out.display()))
        }
    }
}

fn info(json: bool) -> Result<()> {
    let ctx = GpuContext::new()?;
    let s = &ctx.summary;
    if json {
        println!("{}", serde_json::to_string_pretty(s)?);
        return Ok(());
    }
    println!("adapter:      {}", s.name);
    println!("backend:      {}", s.backend);
    println!("device type:  {}", s.device_type);
    println!("driver:       {} {}", s.driver, s.driver_info);
    println!(
        "max storage binding:      {} MiB",
        s.max_storage_buffer_binding_size >> 20
    );
    println!("max buffer:               {} MiB", s.max_buffer_size >> 20);
    println!(
        "storage buffers / stage:  {}",
        s.max_storage_buffers_per_shader_stage
    );
    println!(
        "workgroup size x (max):   {}",
        s.max_compute_workgroup_size_x
    );
    println!(
        "invocations / workgroup:  {}",
        s.max_compute_invocations_per_workgroup
    );
    println!(
        "workgroups / dimension:   {}",
        s.max_compute_workgroups_per_dimension
    );
    println!(
        "workgroup memory:         {} KiB",
        s.max_compute_workgroup_storage_size >> 10
    );
    println!(
        "f64 in shaders:           {}",
        if s.shader_f64 { "yes" } else { "no" }
    );
    // A lattice is stored as one f32 per voxel per field.
    let max_voxels = ctx.max_binding_bytes() / 4;
    println!(
        "largest lattice per f32 field binding: {} voxels (≈{}³)",
        max_voxels,
        (max_voxels as f64).cbrt().floor()
    );
    Ok(())
}

fn run(
    scene_path: &Path,
    out: Option<PathBuf>,
    set: &[String],
    checkpoint_every: u32,
    frames_every: u32,
) -> Result<()> {
    let scene = scene::load(scene_path, set)?;
    let out =
        out.unwrap_or_else(|| PathBuf::from(format!("runs/{}-seed{}", scene.name, scene.seed)));
    output_folder(&out)?;
    let summary = leave_no_empty_folder(&out, || {
        let _lock = lock_run_folder(&out)?;
        let ctx = GpuContext::new()?;
        let mut opts = RunOptions::new(&out);
        opts.checkpoint_every_days = checkpoint_every;
        opts.frames_every_days = frames_every;
        opts.stop = Some(stop_flag()?);
        run_scene(&ctx, &scene, &opts)
    })?;
    println!(
        "{}: {} days, BV/TV {:.4} → {:.4}, Tb.Th {} µm, {:.1} s",
        summary.out_dir.display(),
        scene.days,
        summary.first.bv_tv,
        summary.last.bv_tv,
        defined_or_undefined(summary.last.tb_th_um, 1),
        summary.timings.total_s
    );
    Ok(())
}

/// Refuses an output folder path that names an existing file, before any work.
fn output_folder(path: &Path) -> Result<()> {
    if path.exists() && !path.is_dir() {
        anyhow::bail!(
            "the output folder {} is an existing file; give a folder",
            path.display()
        );
    }
    Ok(())
}

/// Refuses an output file path that names a folder, before any work.
fn output_file(path: &Path) -> Result<()> {
    if path.is_dir() {
        anyhow::bail!(
            "the output {} is a folder; give a file name",
            path.display()
        );
    }
    Ok(())
}

/// Locks the run folder `out` (made if missing) while the returned handle
/// lives: a second `run` or `resume` into it meanwhile is refused, so two
/// runs never interleave their files. The lock is the system's (on the
/// folder itself), so it ends with the process however that ends.
fn lock_run_folder(out: &Path) -> Result<std::fs::File> {
    std::fs::create_dir_all(out)
        .with_context(|| format!("creating the run folder {}", out.display()))?;
    let dir = std::fs::File::open(out).with_context(|| format!("opening {}", out.display()))?;
    match dir.try_lock() {
        Ok(()) => Ok(dir),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "{} holds a run in progress by another trabecula process; wait for it to \
             stop or give another folder",
            out.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", out.display()))
        }
    }
}

/// Runs `f`; if it fails, removes the folder `out` when `f` made it and
/// left it empty (a refused input leaves no trace).
fn leave_no_empty_folder<T>(out: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let existed = out.exists();
    let result = f();
    if result.is_err() && !existed {
        // Fails, harmlessly, when the folder holds anything.
        let _ = std::fs::remove_dir(out);
    }
    result
}

/// `v` with `decimals` decimals, or `undefined` for NaN (morphometry of no
/// bone, or not measured); JSON writes it as `null`, CSV as an empty cell.
fn defined_or_undefined(v: f64, decimals: usize) -> String {
    if v.is_finite() {
        format!("{v:.decimals$}")
    } else {
        "undefined".to_string()
    }
}

/// A flag set by SIGINT or SIGTERM; a second signal exits at once.
fn stop_flag() -> Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        // Registered first, so it sees the flag before this signal sets it.
        signal_hook::flag::register_conditional_shutdown(sig, 130, flag.clone())
            .context("installing the signal handler")?;
        signal_hook::flag::register(sig, flag.clone()).context("installing the signal handler")?;
    }
    Ok(flag)
}

fn run_sweep(
    file: &Path,
    out: Option<PathBuf>,
    mut opts: trabecula::batch::SweepOptions,
) -> Result<()> {
    let sweep = trabecula::batch::Sweep::load(file)?;
    let out_dir = out.unwrap_or_else(|| PathBuf::from(format!("runs/{}", sweep.name)));
    output_folder(&out_dir)?;
    opts.out_dir = out_dir.clone();
    let t0 = std::time::Instant::now();
    let r = trabecula::batch::run_sweep(&sweep, &opts)?;
    println!(
        "{}: {} runs, {} finished now, {} skipped (finished before), {:.1} s",
        out_dir.join("summary.csv").display(),
        r.planned,
        r.finished,
        r.skipped,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

fn resume(
    run_dir: &Path,
    days: Option<u32>,
    checkpoint_every: u32,
    frames_every: u32,
) -> Result<()> {
    if !run_dir.is_dir() {
        anyhow::bail!(
            "{} is not a run folder: {}",
            run_dir.display(),
            if run_dir.exists() {
                "it is a file"
            } else {
                "it does not exist"
            }
        );
    }
    if let Some(d) = days
        && d > scene::MAX_DAYS
    {
        anyhow::bail!("--days {d}: a run lasts at most {} days", scene::MAX_DAYS);
    }
    let _lock = lock_run_folder(run_dir)?;
    let ctx = GpuContext::new()?;
    let mut opts = RunOptions::new(run_dir);
    opts.checkpoint_every_days = checkpoint_every;
    opts.frames_every_days = frames_every;
    opts.stop = Some(stop_flag()?);
    let summary = resume_run(&ctx, days, &opts)?;
    println!(
        "{}: to day {:.0}, BV/TV {:.4} → {:.4}, {:.1} s in all",
        summary.out_dir.display(),
        summary.last.day,
        summary.first.bv_tv,
        summary.last.bv_tv,
        summary.timings.total_s
    );
    Ok(())
}

fn morph(
    path: &Path,
    voxel_um: Option<f64>,
    threshold: Option<f64>,
    convention: ThicknessConvention,
    json: bool,
) -> Result<()> {
    let volume = trabecula::io::volume::read_volume(path)?;
    let voxel_um = match voxel_um {
        Some(v) => v,
        None if !volume.spacing_mm[0].is_finite() => {
            anyhow::bail!("{} records no voxel size; give --voxel-um", path.display())
        }
        None => volume
            .isotropic_voxel_um()
            .map_err(anyhow::Error::msg)
            .with_context(|| path.display().to_string())?,
    };
    if !(voxel_um.is_finite() && voxel_um > 0.0) {
        anyhow::bail!("the voxel size must be a positive number of µm, not {voxel_um}");
    }
    let threshold = threshold.unwrap_or(0.5);
    if !threshold.is_finite() {
        anyhow::bail!("--threshold must be a finite grey value, not {threshold}");
    }
    let lattice = Lattice::from_volume(&volume, Some(threshold), voxel_um);
    let m = trabecula::sim::metrics::lattice_morphometry_with(&lattice, convention);
    if !m.has_bone() {
        log::warn!(
            "{}: no voxel reaches the threshold {threshold}: no bone, so {} are undefined",
            path.display(),
            Morphometry::UNDEFINED_WITHOUT_BONE.join(", ")
        );
    }
    let text = defined_or_undefined;
    if json {
        let report = MorphReport::new(m, convention);
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "volume:         {} ({:?} voxels of {voxel_um} µm)",
            path.display(),
            volume.dims
        );
        println!("bv_tv:          {}", text(m.bv_tv, 4));
        println!("bs_bv_per_mm:   {}", text(m.bs_bv_per_mm, 3));
        println!(
            "thickness:      {convention} ({})",
            convention.description()
        );
        println!("tb_th_um:       {}", text(m.tb_th_um, 1));
        println!("tb_sp_um:       {}", text(m.tb_sp_um, 1));
        println!("tb_n_per_mm:    {}", text(m.tb_n_per_mm, 3));
        println!("conn_d_per_mm3: {}", text(m.conn_d_per_mm3, 2));
    }
    Ok(())
}
