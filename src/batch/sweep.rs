//! Sweep files: a base scene, fixed overrides, parameters to vary (lists or
//! ranges, Cartesian product) and seeds, expanded into a deterministic grid
//! of runs, each with a readable folder name and a short parameter hash.
//!
//! ```toml
//! name = "gravity-levels"
//! scene = "../scenes/unloading.toml"   # relative to this file
//! seeds = [1, 2, 3]                    # or `replicates = 3` (seeds 1..=3)
//! [set]                                # every run
//! days = 60
//! [vary]                               # every combination
//! "loading.phases[1].gravity" = [0.0, 0.16, 0.38, 1.0]
//! "cells.osteoclast_recruit_per_day" = { from = 0.5, to = 1.5, steps = 3 }
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;

/// Most runs one sweep file may plan (its grid × seeds).
pub const MAX_RUNS: usize = 100_000;

/// A `[vary]` entry: a list of values or an inclusive linear range.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Values {
    List(Vec<toml::Value>),
    Range { from: f64, to: f64, steps: u32 },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepFile {
    name: String,
    scene: PathBuf,
    #[serde(default)]
    seeds: Option<Vec<u64>>,
    #[serde(default)]
    replicates: Option<u32>,
    #[serde(default)]
    set: toml::Table,
    #[serde(default)]
    vary: toml::Table,
}

/// A parsed sweep.
#[derive(Debug, Clone)]
pub struct Sweep {
    pub name: String,
    /// The base scene (resolved against the sweep file's folder).
    pub scene: PathBuf,
    /// Overrides for every run, as `key=value`.
    pub set: Vec<String>,
    /// Keys to vary and their values, in key order.
    pub vary: Vec<(String, Vec<toml::Value>)>,
    pub seeds: Vec<u64>,
}

/// One run of the grid.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec {
    /// Position in the full grid (the shard key).
    pub index: usize,
    /// The varied keys and this run's values (TOML text).
    pub params: Vec<(String, String)>,
    pub seed: u64,
    /// Folder name: readable parameters, seed and a short hash.
    pub dir_name: String,
    /// Everything passed to the scene loader: the sweep's `set`, the
    /// varied values and the seed.
    pub overrides: Vec<String>,
}

/// `--shard i/n`: run grid positions with `index % n == i`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let err = || format!("expected --shard i/n with 0 ≤ i < n, got {s:?}");
        let (i, n) = s.split_once('/').ok_or_else(err)?;
        let index: usize = i.trim().parse().map_err(|_| err())?;
        let count: usize = n.trim().parse().map_err(|_| err())?;
        if count == 0 || index >= count {
            return Err(err());
        }
        Ok(Self { index, count })
    }
}

impl Shard {
    pub fn contains(&self, index: usize) -> bool {
        index % self.count == self.index
    }
}

fn values(key: &str, v: toml::Value) -> Result<Vec<toml::Value>> {
    let parsed: Values = v
        .try_into()
        .map_err(|_| anyhow!("vary.{key}: expected a list of values or {{ from, to, steps }}"))?;
    let out = match parsed {
        Values::List(list) => list,
        Values::Range { from, to, steps } => {
            if steps == 0 || !from.is_finite() || !to.is_finite() {
                bail!("vary.{key}: a range needs finite from/to and steps ≥ 1");
            }
            if steps as usize > MAX_RUNS {
                bail!("vary.{key}: {steps} steps; a sweep holds at most {MAX_RUNS} runs");
            }
            let step = if steps > 1 {
                (to - from) / (steps - 1) as f64
            } else {
                0.0
            };
            // Integer ends with an integer step stay integers (days, dims).
            let ints = from.fract() == 0.0 && step.fract() == 0.0;
            (0..steps)
                .map(|i| {
                    let x = from + step * i as f64;
                    if ints {
                        toml::Value::Integer(x as i64)
                    } else {
                        toml::Value::Float(x)
                    }
                })
                .collect()
        }
    };
    if out.is_empty() {
        bail!("vary.{key}: no values");
    }
    Ok(out)
}

/// TOML text of a value, as `--set` takes it.
fn toml_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

impl Sweep {
    /// Reads a sweep file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the sweep file {}", path.display()))?;
        Self::parse(&text, path.parent().unwrap_or(Path::new(".")))
            .with_context(|| format!("in the sweep file {}", path.display()))
    }

    /// Parses sweep text; `base` resolves a relative `scene`.
    pub fn parse(text: &str, base: &Path) -> Result<Self> {
        let f: SweepFile = toml::from_str(text).map_err(|e| anyhow!("{}", e.message()))?;
        let seeds = match (f.seeds, f.replicates) {
            (Some(_), Some(_)) => bail!("give `seeds` or `replicates`, not both"),
            (Some(s), None) if s.is_empty() => bail!("`seeds` is empty"),
            (Some(s), None) => s,
            (None, Some(0)) => bail!("`replicates` must be ≥ 1"),
            (None, Some(r)) if r as usize > MAX_RUNS => {
                bail!("`replicates` = {r}: a sweep holds at most {MAX_RUNS} runs")
            }
            (None, Some(r)) => (1..=r as u64).collect(),
            (None, None) => vec![1],
        };
        let mut set = Vec::new();
        for (k, v) in f.set {
            if k == "seed" {
                bail!("set.seed: give seeds with `seeds` or `replicates`");
            }
            set.push(format!("{k}={}", toml_text(&v)));
        }
        let mut vary = Vec::new();
        for (k, v) in f.vary {
            if k == "seed" {
                bail!("vary.seed: give seeds with `seeds` or `replicates`");
            }
            let vs = values(&k, v)?;
            vary.push((k, vs));
        }
        // Checked before `runs` builds the grid.
        let runs = vary
            .iter()
            .try_fold(seeds.len(), |n, (_, v)| n.checked_mul(v.len()))
            .filter(|&n| n <= MAX_RUNS);
        if runs.is_none() {
            let mut sizes: Vec<String> = vary
                .iter()
                .map(|(k, v)| format!("{} {k}", v.len()))
                .collect();
            sizes.push(format!("{} seeds", seeds.len()));
            bail!(
                "the grid ({}) holds more than {MAX_RUNS} runs; split the sweep",
                sizes.join(" × ")
            );
        }
        let scene = if f.scene.is_relative() {
            base.join(&f.scene)
        } else {
            f.scene
        };
        Ok(Self {
            name: f.name,
            scene,
            set,
            vary,
            seeds,
        })
    }

    /// The full grid: every combination of the varied values (last key
    /// fastest) × every seed (fastest).
    pub fn runs(&self) -> Vec<RunSpec> {
        let scene_text = std::fs::read(&self.scene).unwrap_or_default();
        let mut combos: Vec<Vec<(String, String)>> = vec![Vec::new()];
        for (key, vals) in &self.vary {
            combos = combos
                .into_iter()
                .flat_map(|c| {
                    vals.iter().map(move |v| {
                        let mut c = c.clone();
                        c.push((key.clone(), toml_text(v)));
                        c
                    })
                })
                .collect();
        }
        let mut out = Vec::new();
        for params in combos {
            for &seed in &self.seeds {
                let mut overrides = self.set.clone();
                overrides.extend(params.iter().map(|(k, v)| format!("{k}={v}")));
                overrides.push(format!("seed={seed}"));
                // The hash covers the base scene too: editing it makes new runs.
                let mut h = Fnv::default();
                h.write(&scene_text);
                for o in &overrides {
                    h.write(o.as_bytes());
                    h.write(b"\n");
                }
                let readable: Vec<String> = params
                    .iter()
                    .map(|(k, v)| format!("{}={}", short_key(k), sanitize(v)))
                    .collect();
                let mut dir_name = readable.join("_");
                if !dir_name.is_empty() {
                    dir_name.push('_');
                }
                dir_name.push_str(&format!("seed{seed}-{:08x}", h.0 as u32));
                out.push(RunSpec {
                    index: out.len(),
                    params: params.clone(),
                    seed,
                    dir_name,
                    overrides,
                });
            }
        }
        out
    }
}

/// The last path segment of a key (`loading.phases[1].gravity` → `gravity`).
fn short_key(key: &str) -> String {
    let last = key.rsplit('.').next().unwrap_or(key);
    sanitize(last)
}

/// Characters safe in a folder name on every file system.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .trim_matches('_')
        .to_string()
}

/// FNV-1a, 64-bit: a stable hash (std's hasher may change between releases).
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}
