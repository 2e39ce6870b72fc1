//! Checkpoints: a run checkpointed at day 20 and resumed to day 40 matches
//! an uninterrupted 40-day run (time series and final lattice bytes); SIGINT
//! leaves a loadable checkpoint and intact outputs; only the newest two are
//! kept; truncated, corrupt or foreign-version checkpoints are refused with
//! a clear message.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use trabecula::cells::CellType;
use trabecula::gpu::GpuContext;
use trabecula::scene;
use trabecula::sim::checkpoint::{self, Checkpoint, RunProgress};
use trabecula::sim::{Simulation, StepReport};

fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/plain-1g.toml")
}

// Resumes must match bit for bit however far the FE converges: a loose
// tolerance keeps the runs short.
const SETS: [&str; 6] = [
    "--set",
    "lattice.dims=[24,24,24]",
    "--set",
    "outputs.morphometry_every_days=5",
    "--set",
    "mechanics.tolerance=1e-3",
];

fn run(out: &Path, days: u32, extra: &[&str]) -> Output {
    Command::new(common::bin())
        .arg("run")
        .arg(demo())
        .arg("--out")
        .arg(out)
        .args(["--days", &days.to_string()])
        .args(SETS)
        .args(extra)
        .output()
        .unwrap()
}

fn resume(dir: &Path, extra: &[&str]) -> Output {
    Command::new(common::bin())
        .arg("resume")
        .arg(dir)
        .args(extra)
        .output()
        .unwrap()
}

fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// timeseries.csv without its wall-time column.
fn series(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("timeseries.csv")).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let wall = header.iter().position(|h| *h == "wall_s").unwrap();
    text.lines()
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            assert_eq!(cells.len(), header.len(), "a complete row: {l}");
            cells
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != wall)
                .map(|(_, c)| *c)
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

fn lattice_end(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join("lattice_end.raw")).unwrap()
}

#[test]
fn resumed_runs_match_an_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let whole = tmp.path().join("whole");
    ok(run(&whole, 40, &[]));
    let reference = series(&whole);
    assert_eq!(reference.len(), 42, "header and days 0..=40");

    // Checkpointed every 5 days to day 20, then resumed to day 40.
    let split = tmp.path().join("split");
    ok(run(&split, 20, &["--checkpoint-every", "5"]));
    let kept: Vec<String> = checkpoint::list(&split)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        kept,
        ["step_000015.ckpt", "step_000020.ckpt"],
        "the newest two"
    );
    ok(resume(&split, &["--days", "40"]));
    assert_eq!(series(&split), reference);
    let kept: Vec<String> = checkpoint::list(&split)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        kept,
        ["step_000035.ckpt", "step_000040.ckpt"],
        "the resumed run keeps checkpointing every 5 days"
    );
    assert!(
        lattice_end(&split) == lattice_end(&whole),
        "final lattice bytes"
    );
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(split.join("run.json")).unwrap()).unwrap();
    assert_eq!(record["status"], "finished");
    assert_eq!(record["resumed_from_day"], 20.0);

    // SIGINT midway: a checkpoint, whole outputs, exit status 130.
    let stopped = tmp.path().join("stopped");
    let child = Command::new(common::bin())
        .arg("run")
        .arg(demo())
        .arg("--out")
        .arg(&stopped)
        .args(["--days", "40"])
        .args(SETS)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    loop {
        let rows = std::fs::read_to_string(stopped.join("timeseries.csv"))
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if rows >= 6 || t0.elapsed() > Duration::from_secs(120) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("trabecula resume"), "{stderr}");
    let ckpt = Checkpoint::read(&checkpoint::latest(&stopped).unwrap()).unwrap();
    let step = ckpt.header.step as usize;
    assert!((4..40).contains(&step), "stopped at step {step}");
    let rows = series(&stopped);
    assert_eq!(
        rows.len(),
        step + 2,
        "header and one row per day to the checkpoint"
    );
    assert_eq!(rows[..], reference[..step + 2]);
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(stopped.join("run.json")).unwrap()).unwrap();
    assert_eq!(record["status"], "interrupted");
    ok(resume(&stopped, &[]));
    assert_eq!(series(&stopped), reference);
    assert!(
        lattice_end(&stopped) == lattice_end(&whole),
        "final lattice bytes"
    );
}

#[test]
fn bad_checkpoints_are_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    ok(run(&dir, 3, &["--checkpoint-every", "3"]));
    let path = checkpoint::latest(&dir).unwrap();
    let good = std::fs::read(&path).unwrap();
    let ckpt = Checkpoint::decode(&good).unwrap();
    assert_eq!(ckpt.header.step, 3);
    assert!(ckpt.encode() == good, "encode ∘ decode is the identity");

    let refused = |bytes: &[u8], expect: &str| {
        std::fs::write(&path, bytes).unwrap();
        let e = format!("{:#}", Checkpoint::read(&path).unwrap_err());
        assert!(e.contains(expect), "expected {expect:?} in: {e}");
        // The command refuses it too, with the message and no panic.
        let out = resume(&dir, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(expect) && !stderr.contains("panicked"),
            "{stderr}"
        );
    };
    refused(&good[..good.len() / 2], "truncated");
    refused(&good[..10], "truncated");
    let mut flipped = good.clone();
    let mid = flipped.len() - 1000;
    flipped[mid] ^= 0x40;
    refused(&flipped, "corrupt");
    refused(b"hello, not a checkpoint", "not a trabecula checkpoint");
    let mut old = ckpt.clone();
    old.header.version = "0.0.1".into();
    refused(&old.encode(), "written by trabecula 0.0.1");

    std::fs::write(&path, &good).unwrap();
    ok(resume(&dir, &["--days", "4"]));
    assert_eq!(series(&dir).len(), 6);
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = resume(&empty, &[]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no checkpoints"));
}

/// The state a simulation reaches in `days` steps: its reports, lattice and
/// agents, as bytes.
fn history(ctx: &GpuContext, mut sim: Simulation, days: u32) -> (Vec<StepReport>, Vec<u8>) {
    let mut reports = vec![sim.measure(ctx)];
    for _ in 0..days {
        reports.push(sim.advance(ctx).unwrap());
    }
    let mut bytes: Vec<u8> = bytemuck::cast_slice(&sim.read_lattice(ctx).mineral).to_vec();
    for kind in CellType::ALL {
        bytes.extend_from_slice(bytemuck::cast_slice(&sim.read_agents(ctx, kind)));
    }
    (reports, bytes)
}

/// One spin-up serves every scene that differs only after day 0 (how
/// `validate` runs the human scenes): a scene started from another's day-0
/// checkpoint matches its own run, FE re-solves and a drug from day 0
/// included. A scene that spins up differently is refused.
#[test]
fn a_shared_spin_up_starts_a_scene_as_its_own_would() {
    let ctx = common::gpu();
    let scene = |seed: u32, phases: &str| {
        let text = format!(
            "name = \"shared\"\nseed = {seed}\ndays = 8\nspin_up_days = 6\n\
             [lattice]\nspecies = \"human\"\ndims = [20, 20, 20]\n\
             [mechanics]\nresolve_every_days = 4\ntolerance = 1e-3\n{phases}"
        );
        scene::parse(&text, "shared.toml", &[]).unwrap()
    };
    let earth = scene(3, "");
    let flight = scene(
        3,
        "[[loading.phases]]\ndays = 8\ngravity = 0.0\nbisphosphonate = true\n",
    );
    assert_eq!(earth.spin_up_key(), flight.spin_up_key());
    let lat = trabecula::lattice::from_scene(&ctx, &flight).unwrap().0;
    let own = history(&ctx, Simulation::new(&ctx, &flight, &lat, 64).unwrap(), 8);

    let donor = Simulation::new(&ctx, &earth, &lat, 64).unwrap();
    let ckpt = Checkpoint::capture(&ctx, &donor, RunProgress::default());
    let shared = history(&ctx, ckpt.start_after_spin_up(&ctx, &flight).unwrap(), 8);
    assert_eq!(own.0, shared.0, "daily reports");
    assert!(own.1 == shared.1, "lattice and agent bytes");
    assert!(
        own.0[1..].iter().any(|r| r.solve.is_some()),
        "the test must exercise an FE re-solve"
    );
    // The regime differs after day 0, so the histories must differ from
    // the donor's.
    assert_ne!(history(&ctx, donor, 8).1, own.1);

    let Err(e) = ckpt.start_after_spin_up(&ctx, &scene(4, "")) else {
        panic!("another seed's spin-up was accepted");
    };
    assert!(format!("{e}").contains("spins up differently"), "{e}");
}
