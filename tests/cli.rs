//! The command line end to end: `info`, `run`, `morph`, and exit codes.

mod common;

use std::process::Command;

fn demo() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/plain-1g.toml")
}

#[test]
fn info_names_the_adapter() {
    let out = Command::new(common::bin()).arg("info").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ctx = common::gpu();
    assert!(text.contains(&ctx.summary.name), "{text}");
    assert!(text.contains("max storage binding"), "{text}");
}

/// The default scene (no scene argument), shortened: a 2-day spin-up, 3 days.
#[test]
fn run_default_scene_writes_run_folder() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(common::bin())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", "--out"])
        .arg(dir.path())
        .args([
            "--days",
            "3",
            "--set",
            "lattice.dims=[32,32,32]",
            "--set",
            "spin_up_days=2",
            "--set",
            "outputs.morphometry_every_days=1",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let csv = std::fs::read_to_string(dir.path().join("timeseries.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    for col in [
        "day",
        "bv_tv",
        "mineral_mean",
        "tb_th_um",
        "tb_sp_um",
        "tb_n_per_mm",
        "conn_d_per_mm3",
        "wall_s",
    ] {
        assert!(header.contains(&col), "missing column {col}: {header:?}");
    }
    assert_eq!(header, trabecula::sim::metrics::Metrics::columns());
    let rows = trabecula::sim::metrics::TimeSeries::parse_csv(&csv).unwrap();
    assert_eq!(rows.len(), 4, "day 0 and three steps");
    // The body's calcium system: a human scene reports it from day 0, and
    // serum calcium, a regulated quantity, stays in the normal range.
    for r in &rows {
        assert!(
            (2.15..=2.6).contains(&r.serum_ca_mmol_per_l),
            "day {}: serum Ca {}",
            r.day,
            r.serum_ca_mmol_per_l
        );
        assert!(r.pth_pg_per_ml > 0.0 && r.urinary_ca_mg_per_day > 0.0);
    }
    // Markers need a day behind them and the spin-up's baseline.
    assert!(rows[0].resorption_marker_rel.is_nan());
    assert!(rows[1..].iter().all(|r| r.formation_marker_rel.is_finite()));
    assert!(
        (rows[0].bv_tv - 0.2).abs() <= 0.01,
        "BV/TV {}",
        rows[0].bv_tv
    );

    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("run.json")).unwrap()).unwrap();
    assert_eq!(run["status"], "finished");
    assert_eq!(run["seed"], 1);
    assert_eq!(
        run["scene"]["lattice"]["dims"],
        serde_json::json!([32, 32, 32])
    );
    assert!(
        run["adapter"]["name"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    assert!(run["version"].is_string());
    // The time series' Tb.Th and Tb.Sp are face-to-face unless the scene says.
    assert_eq!(run["thickness_convention"], "face-to-face");
    assert_eq!(
        run["scene"]["outputs"]["thickness_convention"],
        "face-to-face"
    );

    for f in [
        "lattice_start.mhd",
        "lattice_start.raw",
        "lattice_end.mhd",
        "lattice_end.raw",
        "plots/chain.png",
        "plots/bone.png",
        "plots/cells.png",
    ] {
        assert!(dir.path().join(f).exists(), "{f}");
    }
    // morph reads the written volume back and agrees with the time series.
    let out = Command::new(common::bin())
        .args(["morph", "--json", "--volume"])
        .arg(dir.path().join("lattice_end.mhd"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!((m["bv_tv"].as_f64().unwrap() - rows[3].bv_tv).abs() < 1e-12);
    assert_eq!(m["thickness_convention"], "face-to-face");
}

#[test]
fn scene_error_exits_2_with_message() {
    let out = Command::new(common::bin())
        .args(["run"])
        .arg(demo())
        .args(["--set", "lattice.bv_tv=1.5", "--out", "/nonexistent/never"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("lattice.bv_tv") && err.contains("1.5") && err.contains("--set"),
        "{err}"
    );
}

#[test]
fn validate_refuses_one_seed_override_for_many_seeds_before_any_gpu_work() {
    // No adapter on this backend: the arguments must be refused first.
    let out = Command::new(common::bin())
        .args(["validate", "--seeds", "2", "--set", "seed=3", "--out"])
        .arg(tempfile::tempdir().unwrap().path().join("v"))
        .env("WGPU_BACKEND", "metal")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--set seed=N") && err.contains("--seeds 1") && !err.contains("adapter"),
        "{err}"
    );
}

#[test]
fn no_adapter_exits_2_and_says_how_to_get_one() {
    // No Metal on this platform: the instance finds no adapter at all.
    let out = Command::new(common::bin())
        .arg("info")
        .env("WGPU_BACKEND", "metal")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no GPU adapter") && err.contains("mesa-vulkan-drivers"),
        "{err}"
    );
}

#[test]
fn a_volume_file_can_be_the_lattice() {
    let dir = tempfile::tempdir().unwrap();
    // A binary uint8 volume (0/255) with 10 µm voxels: a slab.
    let dims = [20usize, 20, 20];
    let data: Vec<u8> = (0..8000)
        .map(|i| if (6..12).contains(&(i / 400)) { 255 } else { 0 })
        .collect();
    let vol = trabecula::io::mhd::Volume {
        dims,
        spacing_mm: [0.01; 3],
        data: trabecula::io::mhd::VolumeData::U8(data),
    };
    vol.write(&dir.path().join("slab.mhd")).unwrap();
    std::fs::write(
        dir.path().join("scene.toml"),
        "name = \"v\"\ndays = 2\n[lattice]\nsource = \"volume\"\nvolume = \"slab.mhd\"\nthreshold = 128\n",
    )
    .unwrap();
    // A floating slab carries no load: FE refuses, naming the way out.
    let out = Command::new(common::bin())
        .arg("run")
        .arg(dir.path().join("scene.toml"))
        .arg("--out")
        .arg(dir.path().join("run-fe"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no face-connected bone component") && err.contains("model = \"uniform\""),
        "{err}"
    );
    let mut text = std::fs::read_to_string(dir.path().join("scene.toml")).unwrap();
    text.push_str("[mechanics]\nmodel = \"uniform\"\n");
    std::fs::write(dir.path().join("scene.toml"), text).unwrap();
    let out = Command::new(common::bin())
        .arg("run")
        .arg(dir.path().join("scene.toml"))
        .arg("--out")
        .arg(dir.path().join("run"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("run/run.json")).unwrap()).unwrap();
    assert!(
        run["lattice"]["source"]
            .as_str()
            .unwrap()
            .contains("slab.mhd")
    );
    let csv = std::fs::read_to_string(dir.path().join("run/timeseries.csv")).unwrap();
    let first = trabecula::sim::metrics::TimeSeries::parse_csv(&csv).unwrap()[0];
    assert_eq!(first.bv_tv, 0.3, "BV/TV of a 6-of-20 slab");
    // Voxel size from the header: Tb.Th = 6 voxels × 10 µm.
    assert!(
        (first.tb_th_um - 60.0).abs() <= 10.0,
        "Tb.Th {}",
        first.tb_th_um
    );
}

#[test]
fn a_missing_scene_file_error_reads_naturally() {
    let out = Command::new(common::bin())
        .args(["run", "/nonexistent/s.toml", "--out", "/nonexistent/never"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("error: /nonexistent/s.toml: cannot read the scene: "),
        "{err}"
    );
    assert!(!err.contains("``"), "{err}");
}

#[test]
fn a_scene_file_that_names_nothing_exits_2_and_writes_nothing() {
    let demo_text = std::fs::read_to_string(demo()).unwrap();
    let truncated = &demo_text[..demo_text.find("[lattice]").unwrap()];
    for (text, lacks) in [
        ("", "empty"),
        ("# nothing here\n\n", "names nothing"),
        (truncated, "lacks a `[lattice]` section"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let scene = dir.path().join("s.toml");
        std::fs::write(&scene, text).unwrap();
        // Small and short, so that a scene wrongly accepted fails fast.
        let out = Command::new(common::bin())
            .current_dir(dir.path())
            .args(["run", "s.toml", "--days", "1", "--set"])
            .args([
                "lattice.dims=[16,16,16]",
                "--set",
                "mechanics.model=uniform",
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text:?}: {err}");
        assert!(
            err.contains("error: s.toml: ") && err.contains(lacks) && err.contains("[lattice]"),
            "{text:?}: {err}"
        );
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["s.toml"], "no output folder");
    }
}

/// A MetaImage volume of `dims` uint8 voxels, all 0 (no bone), 20 µm.
fn write_empty_volume(path: &std::path::Path, dims: [usize; 3]) {
    trabecula::io::mhd::Volume {
        dims,
        spacing_mm: [0.02; 3],
        data: trabecula::io::mhd::VolumeData::U8(vec![0; dims.iter().product()]),
    }
    .write(path)
    .unwrap();
}

const UNDEFINED_WITHOUT_BONE: [&str; 5] = [
    "bs_bv_per_mm",
    "tb_th_um",
    "tb_sp_um",
    "tb_n_per_mm",
    "conn_d_per_mm3",
];

#[test]
fn morph_of_a_volume_with_no_bone_says_undefined() {
    let dir = tempfile::tempdir().unwrap();
    let vol = dir.path().join("empty.mhd");
    write_empty_volume(&vol, [20, 20, 20]);

    let out = Command::new(common::bin())
        .args(["morph", "--json", "--volume"])
        .arg(&vol)
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no bone") && err.contains("undefined"),
        "a warning: {err}"
    );
    let m: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(m["bv_tv"], 0.0);
    for key in UNDEFINED_WITHOUT_BONE {
        assert_eq!(m[key], serde_json::Value::Null, "{key}: {m}");
    }

    let out = Command::new(common::bin())
        .args(["morph", "--volume"])
        .arg(&vol)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for key in UNDEFINED_WITHOUT_BONE {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{key}:")))
            .unwrap_or_else(|| panic!("no {key} in {text}"));
        assert!(line.ends_with(" undefined"), "{line}");
    }
    assert!(text.contains("bv_tv:          0.0000"), "{text}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no bone"));
}

#[test]
fn a_run_with_no_bone_leaves_morphometry_cells_empty() {
    let dir = tempfile::tempdir().unwrap();
    write_empty_volume(&dir.path().join("empty.mhd"), [12, 12, 12]);
    std::fs::write(
        dir.path().join("scene.toml"),
        "name = \"gone\"\ndays = 2\n[lattice]\nsource = \"volume\"\nvolume = \"empty.mhd\"\n\
         threshold = 128\n[mechanics]\nmodel = \"uniform\"\n",
    )
    .unwrap();
    let out = Command::new(common::bin())
        .arg("run")
        .arg(dir.path().join("scene.toml"))
        .arg("--out")
        .arg(dir.path().join("run"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("no bone") && err.contains("undefined"),
        "{err}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("NaN"), "{stdout}");

    let csv = std::fs::read_to_string(dir.path().join("run/timeseries.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 3, "day 0 and two steps");
    for row in &rows {
        assert_eq!(row.len(), header.len());
        let cell = |c: &str| row[header.iter().position(|h| *h == c).unwrap()];
        assert_eq!(cell("bv_tv").parse::<f64>(), Ok(0.0));
        for key in UNDEFINED_WITHOUT_BONE {
            assert_eq!(cell(key), "", "{key} in {row:?}");
        }
    }
    // The time series reads back (summaries, plots, resume).
    let cols =
        trabecula::io::plot::Columns::read_csv(&dir.path().join("run/timeseries.csv")).unwrap();
    assert!(cols.get("tb_sp_um").unwrap().iter().all(|v| v.is_nan()));
}

#[test]
fn info_without_a_display_prints_no_error() {
    let out = Command::new(common::bin())
        .arg("info")
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("DISPLAY")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        !err.lines().any(|l| l.to_lowercase().contains("error")),
        "stderr: {err}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("adapter:"));
}

/// Starts `trabecula run` with `args`, waits for a stderr line containing
/// `cue`, lets it go on `delay`, sends SIGTERM and returns (exit status,
/// seconds from the signal to the exit, stderr).
fn sigterm_after(
    args: &[&str],
    cue: &str,
    delay: std::time::Duration,
) -> (std::process::ExitStatus, f64, String) {
    use std::io::BufRead;
    use std::time::{Duration, Instant};
    let mut child = Command::new(common::bin())
        .arg("run")
        .args(args)
        .env("RUST_LOG", "info,trabecula=debug")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in std::io::BufReader::new(stderr).lines() {
            let line = line.unwrap();
            let _ = tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let started = Instant::now();
    loop {
        match rx.recv_timeout(Duration::from_secs(600)) {
            Ok(line) if line.contains(cue) => break,
            Ok(_) => {}
            Err(e) => {
                let _ = child.kill();
                panic!("no {cue:?} on stderr after {:?}: {e}", started.elapsed());
            }
        }
    }
    std::thread::sleep(delay);
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run ended before the signal"
    );
    let signalled = Instant::now();
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if signalled.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("still running 120 s after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let secs = signalled.elapsed().as_secs_f64();
    eprintln!("{cue:?} + {delay:?}, SIGTERM: {status} after {secs:.2} s");
    (status, secs, reader.join().unwrap())
}

/// A demo run into `out` with `settings` (`--set` values), sent SIGTERM
/// `delay` after `cue` appears on its stderr: it must exit 130 within 10 s.
/// Returns its stderr.
fn stopped_in_setup(out: &std::path::Path, settings: &[&str], cue: &str, delay_ms: u64) -> String {
    let demo = demo();
    let mut args = vec![demo.to_str().unwrap(), "--out", out.to_str().unwrap()];
    for s in settings {
        args.extend(["--set", s]);
    }
    let (status, secs, err) = sigterm_after(&args, cue, std::time::Duration::from_millis(delay_ms));
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(secs < 10.0, "{secs:.1} s from SIGTERM to exit");
    err
}

fn run_status(out: &std::path::Path) -> serde_json::Value {
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("run.json")).unwrap()).unwrap();
    run["status"].clone()
}

#[test]
fn sigterm_during_lattice_generation_stops_the_run_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    // "adapter:" is logged just before the lattice is built.
    let err = stopped_in_setup(
        &out,
        &["lattice.dims=[96,96,96]", "mechanics.model=uniform"],
        "adapter:",
        300,
    );
    assert!(
        err.contains("stopped during lattice generation, before day 0")
            && err.contains("nothing to checkpoint"),
        "{err}"
    );
    assert!(!out.join("lattice_start.mhd").exists());
    assert!(!out.join("checkpoints").exists());
}

#[test]
fn sigterm_while_settling_the_signals_stops_the_run_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let err = stopped_in_setup(
        &out,
        &["lattice.dims=[96,96,96]", "mechanics.model=uniform"],
        "settling the basal signals",
        500,
    );
    assert!(
        err.contains("stopped during settling the basal signals, before day 0")
            && err.contains("nothing to checkpoint"),
        "{err}"
    );
    assert_eq!(run_status(&out), "interrupted");
}

#[test]
fn sigterm_during_the_spin_up_stops_the_run_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let err = stopped_in_setup(
        &out,
        &[
            "lattice.dims=[48,48,48]",
            "mechanics.model=uniform",
            "spin_up_days=200",
        ],
        "spin-up: 200 days",
        1500,
    );
    assert!(
        err.contains("stopped during the spin-up (") && err.contains("nothing to checkpoint"),
        "{err}"
    );
    assert_eq!(run_status(&out), "interrupted");
    assert!(!out.join("lattice_start.mhd").exists());
}

#[test]
fn sigterm_during_day_0_checkpoints_day_0_and_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let demo = demo();
    let args = |out: &std::path::Path| -> Vec<String> {
        [
            demo.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--days",
            "2",
            "--set",
            "lattice.dims=[64,64,64]",
            "--set",
            "mechanics.model=uniform",
        ]
        .map(String::from)
        .to_vec()
    };
    // Stopped while measuring day 0: the state is whole, so it is checkpointed.
    let stopped = dir.path().join("stopped");
    let a = args(&stopped);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let (status, secs, err) = sigterm_after(
        &a,
        "day-0 morphometry",
        std::time::Duration::from_millis(50),
    );
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(secs < 10.0, "{secs:.1} s from SIGTERM to exit");
    assert!(
        err.contains("stopped at day 0; checkpoint ")
            && err.contains("continue with `trabecula resume"),
        "{err}"
    );
    let out = Command::new(common::bin())
        .arg("resume")
        .arg(&stopped)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let whole = dir.path().join("whole");
    let out = Command::new(common::bin())
        .arg("run")
        .args(args(&whole))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let raw = |d: &std::path::Path| std::fs::read(d.join("lattice_end.raw")).unwrap();
    assert!(raw(&stopped) == raw(&whole), "end lattices differ");
    // Every column but the wall time (the last).
    let series = |d: &std::path::Path| -> Vec<String> {
        std::fs::read_to_string(d.join("timeseries.csv"))
            .unwrap()
            .lines()
            .map(|l| l.rsplit_once(',').unwrap().0.to_string())
            .collect()
    };
    assert_eq!(series(&stopped), series(&whole));
}
