//! Scenes: the TOML files that say what to simulate.
//!
//! Loading is strict. An unknown key, a wrong type or an out-of-range value
//! is a [`SceneError`] naming the key, the value, the allowed range and the
//! place: `file:line:column`, or the `--set` argument that supplied it.
//! Overrides (`--set lattice.bv_tv=0.2`) are applied to the parsed file
//! before the same deserialization and validation run.

mod loading;
mod location;
mod nutrition;
mod params;
mod schema;

pub use loading::{DayRegime, LoadingSection, Phase};
pub use location::{Segment, parse_path, path_string};
pub use nutrition::NutritionSection;
pub use params::{
    Cells, CellsSection, Drugs, DrugsSection, MechModel, Mechanics, MechanicsSection, Signals,
    SignalsSection,
};
pub use schema::*;

use std::path::{Path, PathBuf};

use location::{line_col, span_of};

/// A scene problem, with where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct SceneError {
    /// `file:line:column`, `file`, or `--set key=value`.
    pub location: String,
    /// Dotted key path, e.g. `lattice.bv_tv`; empty for a problem of the
    /// whole file (unreadable, not TOML, not a scene).
    pub key: String,
    pub message: String,
}

/// `s.toml:9:1: `lattice.bv_tv`: message`, or `s.toml: message` when no key
/// is at fault.
impl std::fmt::Display for SceneError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.location, self.message)
        } else {
            write!(f, "{}: `{}`: {}", self.location, self.key, self.message)
        }
    }
}

impl std::error::Error for SceneError {}

/// What every scene file must name itself. Each bundled scene does; a file
/// without them is empty, truncated or not a scene, and would otherwise run
/// the defaults (30 days of a 64³ human lattice named "scene").
pub const REQUIRED_KEYS: [&str; 2] = ["name", "lattice"];

/// An error found while validating a scene, before its place is known.
#[derive(Debug, Clone)]
pub struct Invalid {
    pub path: Vec<Segment>,
    pub message: String,
}

impl Invalid {
    pub fn new(path: &str, message: impl Into<String>) -> Self {
        Self {
            path: parse_path(path),
            message: message.into(),
        }
    }
}

/// The text of a scene and where it came from, for error locations.
struct Source<'a> {
    file: &'a str,
    text: &'a str,
    overrides: &'a [(Vec<Segment>, String)],
}

impl Source<'_> {
    fn error(&self, path: &[Segment], message: String) -> SceneError {
        let key = path_string(path);
        // A key set (or under a table set) on the command line is reported there.
        if let Some((_, arg)) = self
            .overrides
            .iter()
            .rev()
            .find(|(p, _)| path.starts_with(p) || p.starts_with(path) && !path.is_empty())
        {
            return SceneError {
                location: format!("--set {arg}"),
                key,
                message,
            };
        }
        // The deepest part of the path that exists in the file.
        let location = (0..=path.len())
            .rev()
            .find_map(|n| span_of(self.text, &path[..n]).filter(|_| n > 0))
            .map(|span| {
                let (line, col) = line_col(self.text, span.start);
                format!("{}:{line}:{col}", self.file)
            })
            .unwrap_or_else(|| self.file.to_string());
        SceneError {
            location,
            key,
            message,
        }
    }
}

/// Loads a scene file and applies `--set` overrides (`key.path=value`).
pub fn load(path: &Path, overrides: &[String]) -> Result<Scene, SceneError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| SceneError {
        location: file.clone(),
        key: String::new(),
        message: format!("cannot read the scene: {e}"),
    })?;
    require_scene_keys(&text, &file)?;
    let mut scene = parse(&text, &file, overrides)?;
    scene.source_file = Some(path.to_path_buf());
    // A volume path in a scene is relative to the scene's folder.
    if let Some(vol) = &scene.lattice.volume
        && vol.is_relative()
    {
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let joined: PathBuf = base.join(vol);
        if joined.exists() || !vol.exists() {
            scene.lattice.volume = Some(joined);
        }
    }
    Ok(scene)
}

/// Refuses a file that does not name [`REQUIRED_KEYS`] itself (`--set`
/// does not count: it changes a scene, it does not make one). Text that is
/// not TOML passes here and is refused by [`parse`] with its line.
fn require_scene_keys(text: &str, file: &str) -> Result<(), SceneError> {
    let Ok(table) = toml::from_str::<toml::Table>(text) else {
        return Ok(());
    };
    let missing: Vec<&str> = REQUIRED_KEYS
        .into_iter()
        .filter(|k| !table.contains_key(*k))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let what = if text.is_empty() {
        "the file is empty (0 bytes)".to_string()
    } else if table.is_empty() {
        "the file names nothing (only comments and whitespace)".to_string()
    } else {
        let names: Vec<String> = missing
            .iter()
            .map(|k| match *k {
                "lattice" => "a `[lattice]` section".to_string(),
                k => format!("`{k}`"),
            })
            .collect();
        format!(
            "the scene lacks {} (is the file truncated?)",
            names.join(" and ")
        )
    };
    Err(SceneError {
        location: file.to_string(),
        key: String::new(),
        message: format!(
            "{what}; a scene names at least `name = \"...\"` and a `[lattice]` section \
             (see scenes/demo.toml)"
        ),
    })
}

/// Parses scene text (named `file` in messages) with overrides applied.
pub fn parse(text: &str, file: &str, overrides: &[String]) -> Result<Scene, SceneError> {
    let mut parsed_overrides = Vec::new();
    for arg in overrides {
        let Some((key, value)) = arg.split_once('=') else {
            return Err(SceneError {
                location: format!("--set {arg}"),
                key: arg.clone(),
                message: "expected `key.path=value`".into(),
            });
        };
        parsed_overrides.push((
            parse_path(key.trim()),
            value.trim().to_string(),
            arg.clone(),
        ));
    }
    let locs: Vec<(Vec<Segment>, String)> = parsed_overrides
        .iter()
        .map(|(p, _, arg)| (p.clone(), arg.clone()))
        .collect();
    let src = Source {
        file,
        text,
        overrides: &locs,
    };

    let table: toml::Table = toml::from_str(text).map_err(|e| {
        let (line, col) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        SceneError {
            location: format!("{file}:{line}:{col}"),
            key: String::new(),
            message: format!("not valid TOML: {}", e.message()),
        }
    })?;
    let mut root = toml::Value::Table(table);
    for (path, value, arg) in &parsed_overrides {
        set_path(&mut root, path, parse_value(value)).map_err(|message| SceneError {
            location: format!("--set {arg}"),
            key: path_string(path),
            message,
        })?;
    }

    let mut scene: Scene = serde_path_to_error::deserialize(root).map_err(|e| {
        let mut path = serde_path(e.path());
        let inner = e.into_inner();
        let message = inner.message().to_string();
        // For an unknown key the path ends at its table; name the key itself.
        if let Some(name) = message
            .strip_prefix("unknown field `")
            .and_then(|r| r.split('`').next())
            && path.last() != Some(&Segment::Key(name.to_string()))
        {
            path.push(Segment::Key(name.to_string()));
        }
        src.error(&path, message)
    })?;
    scene.apply_presets();
    let problems = scene.validate();
    if let Some(first) = problems.into_iter().next() {
        return Err(src.error(&first.path, first.message));
    }
    Ok(scene)
}

fn serde_path(path: &serde_path_to_error::Path) -> Vec<Segment> {
    use serde_path_to_error::Segment as S;
    path.iter()
        .filter_map(|s| match s {
            S::Map { key } | S::Enum { variant: key } => Some(Segment::Key(key.clone())),
            S::Seq { index } => Some(Segment::Index(*index)),
            S::Unknown => None,
        })
        .collect()
}

/// A `--set` value: TOML syntax if it parses (`0.2`, `true`, `[64, 64, 64]`,
/// `"x"`), else a bare string (`--set lattice.species=mouse`).
fn parse_value(text: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {text}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(text.to_string()))
}

fn set_path(root: &mut toml::Value, path: &[Segment], value: toml::Value) -> Result<(), String> {
    let Some((last, parents)) = path.split_last() else {
        return Err("empty key".into());
    };
    let mut node = root;
    for seg in parents {
        node = match seg {
            Segment::Key(k) => {
                let t = node
                    .as_table_mut()
                    .ok_or_else(|| format!("`{k}` is not inside a table"))?;
                t.entry(k.clone())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            }
            Segment::Index(i) => {
                let a = node
                    .as_array_mut()
                    .ok_or_else(|| format!("[{i}] applied to a non-array"))?;
                let len = a.len();
                a.get_mut(*i).ok_or_else(|| {
                    format!("index [{i}] is out of range: the array has {len} entries")
                })?
            }
        };
    }
    match last {
        Segment::Key(k) => {
            node.as_table_mut()
                .ok_or_else(|| format!("`{k}` is not inside a table"))?
                .insert(k.clone(), value);
        }
        Segment::Index(i) => {
            let a = node
                .as_array_mut()
                .ok_or_else(|| format!("[{i}] applied to a non-array"))?;
            let len = a.len();
            *a.get_mut(*i).ok_or_else(|| {
                format!("index [{i}] is out of range: the array has {len} entries")
            })? = value;
        }
    }
    Ok(())
}
