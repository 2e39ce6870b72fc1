//! Parameter sweeps: the grid, shards, names; and end to end, a sweep killed
//! with SIGKILL and rerun finishes only the missing runs, and two shards
//! merged give the unsharded summary.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use trabecula::batch::{Shard, Sweep, is_finished};

fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/plain-1g.toml")
}

/// 2 parameters × 2 values × 2 seeds on a small, short scene; a loose FE
/// tolerance, as only the bookkeeping of the sweep is under test.
fn sweep_text() -> String {
    format!(
        r#"name = "small"
scene = {:?}
seeds = [1, 2]
[set]
days = 2
"lattice.dims" = [24, 24, 24]
"mechanics.tolerance" = 1e-3
[vary]
"lattice.bv_tv" = [0.18, 0.22]
"cells.apposition_um_per_day" = {{ from = 1.0, to = 2.0, steps = 2 }}
"#,
        demo().to_str().unwrap()
    )
}

#[test]
fn grid_is_the_cartesian_product_and_shards_partition_it() {
    let sweep = Sweep::parse(&sweep_text(), Path::new(".")).unwrap();
    let runs = sweep.runs();
    assert_eq!(runs.len(), 8);
    let names: std::collections::BTreeSet<_> = runs.iter().map(|r| &r.dir_name).collect();
    assert_eq!(names.len(), 8, "unique folders");
    assert_eq!(
        runs[0].params[0],
        ("cells.apposition_um_per_day".into(), "1".into())
    );
    assert_eq!(runs[7].params[1], ("lattice.bv_tv".into(), "0.22".into()));
    assert_eq!(runs[7].seed, 2);
    assert!(
        runs[3]
            .dir_name
            .starts_with("apposition_um_per_day=1_bv_tv=0.22_seed2-")
    );
    // Names are stable: the same sweep gives the same folders.
    assert_eq!(
        runs,
        Sweep::parse(&sweep_text(), Path::new(".")).unwrap().runs()
    );
    // Shards are disjoint and cover the grid.
    let mut seen = vec![0; 8];
    for i in 0..3 {
        let s: Shard = format!("{i}/3").parse().unwrap();
        for r in runs.iter().filter(|r| s.contains(r.index)) {
            seen[r.index] += 1;
        }
    }
    assert_eq!(seen, vec![1; 8]);
    for bad in ["3/3", "1", "a/2", "0/0"] {
        assert!(bad.parse::<Shard>().is_err(), "{bad}");
    }
    let both = sweep_text().replace("seeds = [1, 2]", "seeds = [1]\nreplicates = 2");
    let e = Sweep::parse(&both, Path::new(".")).unwrap_err();
    assert!(format!("{e:#}").contains("not both"), "{e:#}");
    let bad_range = sweep_text().replace("steps = 2", "steps = 0");
    let e = Sweep::parse(&bad_range, Path::new(".")).unwrap_err();
    assert!(
        format!("{e:#}").contains("cells.apposition_um_per_day"),
        "{e:#}"
    );
}

fn sweep_cmd(file: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(common::bin());
    c.arg("sweep").arg(file).arg("--out").arg(out).args(extra);
    c
}

fn run_ok(mut c: Command) -> String {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// summary.csv without the wall-time column.
fn summary_without_timing(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("summary.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let wall = header.iter().position(|h| *h == "wall_s").unwrap();
    text.lines()
        .map(|l| {
            l.split(',')
                .enumerate()
                .filter(|(i, _)| *i != wall)
                .map(|(_, c)| c)
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

fn run_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

#[test]
fn killed_sweep_resumes_and_shards_merge_to_the_same_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("small.toml");
    std::fs::write(&file, sweep_text()).unwrap();

    // The whole sweep at once.
    let full = tmp.path().join("full");
    let out = run_ok(sweep_cmd(&file, &full, &[]));
    assert!(out.contains("8 runs, 8 finished now, 0 skipped"), "{out}");
    assert_eq!(run_dirs(&full).len(), 8);
    let reference = summary_without_timing(&full);
    assert_eq!(reference.len(), 9, "header and 8 rows");
    assert!(reference[1..].iter().all(|r| r.contains(",finished,")));

    // Killed midway with SIGKILL, then rerun; with daily checkpoints the
    // run cut short continues from its checkpoint, and must still agree.
    let killed = tmp.path().join("killed");
    let mut child = sweep_cmd(&file, &killed, &["--checkpoint-every", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let done = loop {
        let done: Vec<PathBuf> = if killed.exists() {
            run_dirs(&killed)
                .into_iter()
                .filter(|d| is_finished(d))
                .collect()
        } else {
            vec![]
        };
        if done.len() >= 2 || t0.elapsed() > Duration::from_secs(120) {
            break done;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(done.len() >= 2, "two runs finished before the kill");
    let before: Vec<Vec<u8>> = done
        .iter()
        .map(|d| std::fs::read(d.join("run.json")).unwrap())
        .collect();
    let finished_at_kill = run_dirs(&killed).iter().filter(|d| is_finished(d)).count();
    assert!(finished_at_kill < 8, "the kill landed before the end");
    let out = run_ok(sweep_cmd(&file, &killed, &["--checkpoint-every", "1"]));
    let skipped = format!(
        "{} finished now, {finished_at_kill} skipped",
        8 - finished_at_kill
    );
    assert!(out.contains(&skipped), "{out}");
    for (d, b) in done.iter().zip(&before) {
        assert_eq!(
            &std::fs::read(d.join("run.json")).unwrap(),
            b,
            "{d:?} rerun"
        );
    }
    assert_eq!(summary_without_timing(&killed), reference);

    // A run left unfinished at day 1 (its day-2 checkpoint gone) continues
    // from its day-1 checkpoint on the next rerun, to the same result.
    let cut = &run_dirs(&killed)[3];
    let ckpts = trabecula::sim::checkpoint::list(cut);
    assert_eq!(ckpts.len(), 2, "{cut:?}: the newest two checkpoints");
    std::fs::remove_file(&ckpts[1]).unwrap();
    let record = std::fs::read_to_string(cut.join("run.json")).unwrap();
    std::fs::write(
        cut.join("run.json"),
        record.replace("\"finished\"", "\"interrupted\""),
    )
    .unwrap();
    assert!(!is_finished(cut));
    let out = run_ok(sweep_cmd(&file, &killed, &["--checkpoint-every", "1"]));
    assert!(out.contains("1 finished now, 7 skipped"), "{out}");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cut.join("run.json")).unwrap()).unwrap();
    assert_eq!(record["resumed_from_day"], 1.0, "continued, not restarted");
    assert_eq!(summary_without_timing(&killed), reference);

    // Two shards into one folder, then --merge. The first shard is stopped
    // by SIGINT after its first run and then rerun.
    let sharded = tmp.path().join("sharded");
    let shard0 = ["--shard", "0/2", "--checkpoint-every", "1"];
    let child = sweep_cmd(&file, &sharded, &shard0)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !(sharded.exists() && run_dirs(&sharded).iter().any(|d| is_finished(d)))
        && t0.elapsed() < Duration::from_secs(120)
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("sweep stopped"), "{stderr}");
    let done = run_dirs(&sharded).iter().filter(|d| is_finished(d)).count();
    assert!((1..4).contains(&done), "{done} of 4 finished before SIGINT");
    let a = run_ok(sweep_cmd(&file, &sharded, &shard0));
    assert!(
        a.contains(&format!("4 runs, {} finished now", 4 - done)),
        "{a}"
    );
    run_ok(sweep_cmd(
        &file,
        &sharded,
        &["--shard", "1/2", "--jobs", "2"],
    ));
    std::fs::remove_file(sharded.join("summary.csv")).unwrap();
    let mut merge = Command::new(common::bin());
    merge.args(["sweep", "--merge"]).arg(&sharded);
    let out = run_ok(merge);
    assert!(out.contains("8 runs"), "{out}");
    assert_eq!(summary_without_timing(&sharded), reference);
}

#[test]
fn a_bad_value_fails_before_any_run() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("bad.toml");
    std::fs::write(&file, sweep_text().replace("0.22]", "5.0]")).unwrap();
    let out_dir = tmp.path().join("out");
    let out = sweep_cmd(&file, &out_dir, &[]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("lattice.bv_tv") && err.contains("bv_tv=5"),
        "{err}"
    );
    assert!(!out_dir.exists(), "no run started");
}

#[test]
fn shipped_nutrition_sweep_expands_to_valid_scenes() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("sweeps/flight-nutrition.toml");
    let sweep = Sweep::load(&file).unwrap();
    let runs = sweep.runs();
    assert_eq!(runs.len(), 9, "3 calcium × 3 vitamin D intakes");
    let mut diets = Vec::new();
    for r in &runs {
        let scene = trabecula::scene::load(&sweep.scene, &r.overrides).unwrap();
        let diet = scene.nutrition_on(100.0);
        diets.push((diet.calcium_mg_per_day, diet.vitamin_d_iu_per_day));
    }
    diets.sort_by(|a, b| a.partial_cmp(b).unwrap());
    diets.dedup();
    assert_eq!(diets.len(), 9, "{diets:?}");
}

#[test]
fn shipped_gravity_sweep_expands_to_valid_scenes() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("sweeps/gravity-levels.toml");
    let sweep = Sweep::load(&file).unwrap();
    let runs = sweep.runs();
    assert_eq!(runs.len(), 20, "4 gravity levels × 5 seeds");
    for r in &runs {
        let scene = trabecula::scene::load(&sweep.scene, &r.overrides).unwrap();
        assert_eq!(scene.days, 90);
        assert_eq!(scene.seed, r.seed);
    }
    let g: Vec<String> = runs
        .iter()
        .step_by(5)
        .map(|r| r.params[0].1.clone())
        .collect();
    assert_eq!(g, ["0.0", "0.16", "0.38", "1.0"]);
}

#[test]
fn summary_has_per_phase_changes_from_the_time_series() {
    use trabecula::io::mhd::Volume;
    use trabecula::sim::{Metrics, TimeSeries};
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("g=0_seed1-00000000");
    std::fs::create_dir(&run).unwrap();
    // Two days of phase 0 then two of phase 1; BV/TV 0.2 → 0.19 → 0.171.
    let bv = [0.2, 0.195, 0.19, 0.18, 0.171];
    let phase = [0, 0, 0, 1, 1];
    let rows: Vec<Metrics> = (0..5)
        .map(|i| Metrics {
            day: i as f64,
            phase: phase[i],
            gravity: 1.0,
            load_factor: 1.0,
            bv_tv: bv[i],
            mineral_mean: bv[i],
            bs_bv_per_mm: 10.0,
            tb_th_um: 100.0 - i as f64,
            tb_sp_um: 500.0,
            tb_n_per_mm: 1.5,
            conn_d_per_mm3: [4.0, 4.0, 5.0, 5.0, 4.0][i],
            osteocytes_alive: 100,
            osteocytes_apoptotic: 0,
            osteocytes_disuse: 0,
            osteocytes_embedded: 0,
            osteoclasts: 3,
            osteoblasts: 5,
            resorbed_mm3: 0.5 * i as f64,
            formed_mm3: 0.25,
            mean_stimulus: 0.0,
            mean_rankl: 1.0,
            mean_sclerostin: 1.0,
            apparent_modulus_mpa: 0.0,
            fe_iterations: 0,
            wall_s: 0.0,
            ..Metrics::unmeasured()
        })
        .collect();
    TimeSeries { rows }
        .write_csv(&run.join("timeseries.csv"))
        .unwrap();
    Volume::from_f32([2, 2, 2], 0.02, vec![0.0; 8])
        .write(&run.join("lattice_end.mhd"))
        .unwrap();
    std::fs::write(
        run.join("run.json"),
        r#"{"status": "finished", "steps": 4, "timings": {"total_s": 1.5}}"#,
    )
    .unwrap();
    std::fs::write(
        run.join("params.json"),
        r#"{"sweep": "t", "index": 0, "params": [["loading.gravity", "0"]], "seed": 1, "overrides": []}"#,
    )
    .unwrap();
    assert!(is_finished(&run));
    assert_eq!(trabecula::batch::write_summary(tmp.path()).unwrap(), 1);
    let text = std::fs::read_to_string(tmp.path().join("summary.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    let get = |c: &str| -> f64 {
        let i = header
            .iter()
            .position(|h| *h == c)
            .unwrap_or_else(|| panic!("no {c}"));
        row[i].parse().unwrap()
    };
    let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    close(get("bv_tv_change_pct"), -14.5);
    close(get("phase0_bv_tv_change_pct"), -5.0);
    close(get("phase1_bv_tv_change_pct"), -10.0);
    close(get("phase0_days"), 2.0);
    close(get("phase0_conn_d_change_pct"), 25.0);
    close(get("phase1_conn_d_change_pct"), -20.0);
    close(get("phase1_tb_th_um_end"), 96.0);
    close(get("phase0_resorbed_mm3"), 1.5);
    close(get("phase1_resorbed_mm3"), 3.5);
    close(get("resorbed_mm3_total"), 5.0);
    close(get("loading.gravity"), 0.0);
    close(get("wall_s"), 1.5);
    // An incomplete series is not finished.
    std::fs::write(
        run.join("run.json"),
        r#"{"status": "finished", "steps": 5}"#,
    )
    .unwrap();
    assert!(!is_finished(&run));
}
