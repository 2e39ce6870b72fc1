//! `summary.csv`: one row per run folder of a sweep, rebuilt from the
//! folders alone (`params.json`, `run.json`, `timeseries.csv`).

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result};

use super::{ERROR_FILE, PARAMS_FILE, RunParams};
use crate::io::plot::Columns;
use crate::io::write_atomic_bytes;

/// True when the run in `dir` completed: `run.json` says "finished" and the
/// time series has every step, the end lattice its data.
pub fn is_finished(dir: &Path) -> bool {
    let Ok(text) = std::fs::read(dir.join("run.json")) else {
        return false;
    };
    let Ok(record) = serde_json::from_slice::<serde_json::Value>(&text) else {
        return false;
    };
    if record["status"] != "finished" || !dir.join(PARAMS_FILE).exists() {
        return false;
    }
    let Some(steps) = record["steps"].as_u64() else {
        return false;
    };
    let rows = Columns::read_csv(&dir.join("timeseries.csv")).map(|c| c.len());
    rows.ok() == Some(steps as usize + 1)
        && dir.join("lattice_end.mhd").exists()
        && dir.join("lattice_end.raw").exists()
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn num(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "nan".into()
    }
}

/// Relative change from `a` to `b`, in percent.
fn change_pct(a: f64, b: f64) -> f64 {
    if a != 0.0 {
        100.0 * (b - a) / a
    } else {
        f64::NAN
    }
}

/// Metrics of a finished run from its time series, as (column, value).
fn run_metrics(dir: &Path) -> Result<Vec<(String, String)>> {
    let cols = Columns::read_csv(&dir.join("timeseries.csv"))?;
    let first = |c: &str| cols.get(c).map(|v| v[0]);
    let last = |c: &str| cols.get(c).map(|v| v[v.len() - 1]);
    let total = |c: &str| cols.get(c).map(|v| v[1..].iter().sum::<f64>());
    let mut out = vec![
        ("days".to_string(), last("day")?),
        ("bv_tv_start".into(), first("bv_tv")?),
        ("bv_tv_end".into(), last("bv_tv")?),
        (
            "bv_tv_change_pct".into(),
            change_pct(first("bv_tv")?, last("bv_tv")?),
        ),
        (
            "mineral_mean_change_pct".into(),
            change_pct(first("mineral_mean")?, last("mineral_mean")?),
        ),
        ("tb_th_um_end".into(), last("tb_th_um")?),
        ("tb_sp_um_end".into(), last("tb_sp_um")?),
        ("tb_n_per_mm_end".into(), last("tb_n_per_mm")?),
        ("conn_d_per_mm3_end".into(), last("conn_d_per_mm3")?),
        (
            "conn_d_change_pct".into(),
            change_pct(first("conn_d_per_mm3")?, last("conn_d_per_mm3")?),
        ),
        ("osteocytes_alive_end".into(), last("osteocytes_alive")?),
        (
            "osteocytes_apoptotic_end".into(),
            last("osteocytes_apoptotic")?,
        ),
        ("osteoclasts_end".into(), last("osteoclasts")?),
        ("osteoblasts_end".into(), last("osteoblasts")?),
        ("resorbed_mm3_total".into(), total("resorbed_mm3")?),
        ("formed_mm3_total".into(), total("formed_mm3")?),
    ];
    // Per loading phase: changes from the phase's start (the row before its
    // first day) to its end, and what was resorbed and formed in it.
    let phase = cols.get("phase")?;
    let bv = cols.get("bv_tv")?;
    let (th, tb_n, conn) = (
        cols.get("tb_th_um")?,
        cols.get("tb_n_per_mm")?,
        cols.get("conn_d_per_mm3")?,
    );
    let (resorbed, formed) = (cols.get("resorbed_mm3")?, cols.get("formed_mm3")?);
    let phases: BTreeSet<i64> = phase[1..]
        .iter()
        .filter(|p| **p >= 0.0)
        .map(|&p| p as i64)
        .collect();
    for p in phases {
        let rows: Vec<usize> = (1..phase.len()).filter(|&i| phase[i] as i64 == p).collect();
        let (start, end) = (rows[0] - 1, *rows.last().expect("a row"));
        let sum = |v: &[f64]| rows.iter().map(|&i| v[i]).sum::<f64>();
        out.extend([
            (format!("phase{p}_days"), rows.len() as f64),
            (
                format!("phase{p}_bv_tv_change_pct"),
                change_pct(bv[start], bv[end]),
            ),
            (format!("phase{p}_tb_th_um_end"), th[end]),
            (format!("phase{p}_tb_n_per_mm_end"), tb_n[end]),
            (
                format!("phase{p}_conn_d_change_pct"),
                change_pct(conn[start], conn[end]),
            ),
            (format!("phase{p}_resorbed_mm3"), sum(resorbed)),
            (format!("phase{p}_formed_mm3"), sum(formed)),
        ]);
    }
    Ok(out.into_iter().map(|(k, v)| (k, num(v))).collect())
}

struct Row {
    index: usize,
    cells: Vec<(String, String)>,
}

/// Rebuilds `dir/summary.csv` from the run folders under `dir`; returns the
/// number of rows.
pub fn write_summary(dir: &Path) -> Result<usize> {
    let mut rows = Vec::new();
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("reading the sweep folder {}", dir.display()))?;
    for entry in entries {
        let run_dir = entry?.path();
        let Ok(text) = std::fs::read(run_dir.join(PARAMS_FILE)) else {
            continue;
        };
        let params: RunParams = serde_json::from_slice(&text)
            .with_context(|| format!("reading {}", run_dir.join(PARAMS_FILE).display()))?;
        let name = run_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut cells = vec![
            ("index".to_string(), params.index.to_string()),
            ("run".to_string(), name),
        ];
        cells.extend(params.params.iter().cloned());
        cells.push(("seed".into(), params.seed.to_string()));
        let finished = is_finished(&run_dir);
        let status = if finished {
            "finished"
        } else if run_dir.join(ERROR_FILE).exists() {
            "failed"
        } else {
            "incomplete"
        };
        cells.push(("status".into(), status.into()));
        let wall = std::fs::read(run_dir.join("run.json"))
            .ok()
            .and_then(|t| serde_json::from_slice::<serde_json::Value>(&t).ok())
            .and_then(|r| r["timings"]["total_s"].as_f64())
            .filter(|_| finished);
        cells.push(("wall_s".into(), wall.map(num).unwrap_or_default()));
        if finished {
            cells.extend(
                run_metrics(&run_dir)
                    .with_context(|| format!("summarising {}", run_dir.display()))?,
            );
        }
        rows.push(Row {
            index: params.index,
            cells,
        });
    }
    rows.sort_by_key(|r| r.index);
    // Columns in first-seen order over all rows (failed runs lack metrics).
    let mut columns: Vec<String> = Vec::new();
    for r in &rows {
        for (k, _) in &r.cells {
            if !columns.contains(k) {
                columns.push(k.clone());
            }
        }
    }
    let mut csv = columns
        .iter()
        .map(|c| csv_field(c))
        .collect::<Vec<_>>()
        .join(",");
    csv.push('\n');
    for r in &rows {
        let line: Vec<String> = columns
            .iter()
            .map(|c| {
                r.cells
                    .iter()
                    .find(|(k, _)| k == c)
                    .map(|(_, v)| csv_field(v))
                    .unwrap_or_default()
            })
            .collect();
        csv.push_str(&line.join(","));
        csv.push('\n');
    }
    write_atomic_bytes(&dir.join("summary.csv"), csv.as_bytes()).context("writing summary.csv")?;
    Ok(rows.len())
}
