//! Checkpoints: a run checkpointed at day 20 and resumed to day 40 matches
//! an uninterrupted 40-day run (time series and final lattice bytes); SIGINT
//! leaves a loadable checkpoint and intact outputs; only the newest two are
//! kept; truncated, corrupt or foreign-version checkpoints are refused with
//! a clear message.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use trabecula::sim::checkpoint::{self, Checkpoint};

fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenes/demo.toml")
}

const SETS: [&str; 4] = [
    "--set",
    "lattice.dims=[24,24,24]",
    "--set",
    "outputs.morphometry_every_days=5",
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
