//! The command line end to end: `info`, `run`, `morph`, and exit codes.

mod common;

use std::process::Command;

fn demo() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenes/demo.toml")
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

#[test]
fn run_demo_writes_run_folder() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(common::bin())
        .args(["run"])
        .arg(demo())
        .args(["--out"])
        .arg(dir.path())
        .args([
            "--days",
            "3",
            "--set",
            "lattice.dims=[32,32,32]",
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
    let rows: Vec<Vec<f64>> = lines
        .map(|l| l.split(',').map(|c| c.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 4, "day 0 and three steps");
    let bv = header.iter().position(|c| *c == "bv_tv").unwrap();
    assert!((rows[0][bv] - 0.2).abs() <= 0.01, "BV/TV {}", rows[0][bv]);

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

    for f in [
        "lattice_start.mhd",
        "lattice_start.raw",
        "lattice_end.mhd",
        "lattice_end.raw",
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
    assert!((m["bv_tv"].as_f64().unwrap() - rows[3][bv]).abs() < 1e-12);
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
