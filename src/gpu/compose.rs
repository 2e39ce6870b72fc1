//! WGSL composition: `#import name` pulls a shared file from `shaders/`.
//!
//! WGSL has no includes. Every shader is embedded at compile time; a line
//! `#import common/rng` is replaced by that file's (recursively composed)
//! text, each file at most once. The composed source is validated with naga
//! before it reaches the device, so an error is reported against the composed
//! text with the file it came from.

use std::collections::HashSet;

include!(concat!(env!("OUT_DIR"), "/shaders.rs"));

/// Raw text of one shader file.
pub fn source(name: &str) -> Option<&'static str> {
    SOURCES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// Error while composing or validating a shader.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("shader `{from}` imports `{name}`, which does not exist under shaders/")]
    MissingImport { from: String, name: String },
    #[error("shader `{name}` does not compile:\n{report}")]
    Invalid { name: String, report: String },
}

/// Composes `name` with all its imports resolved.
pub fn compose(name: &str) -> Result<String, ComposeError> {
    let mut out = String::new();
    let mut seen = HashSet::new();
    append(name, "<root>", &mut seen, &mut out)?;
    Ok(out)
}

fn append(
    name: &str,
    from: &str,
    seen: &mut HashSet<String>,
    out: &mut String,
) -> Result<(), ComposeError> {
    if !seen.insert(name.to_string()) {
        return Ok(());
    }
    let text = source(name).ok_or_else(|| ComposeError::MissingImport {
        from: from.to_string(),
        name: name.to_string(),
    })?;
    out.push_str(&format!("// ---- {name}.wgsl ----\n"));
    for line in text.lines() {
        if let Some(import) = line.trim().strip_prefix("#import ") {
            append(import.trim(), name, seen, out)?;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(())
}

/// Composes and validates `name`, returning the naga module and its source.
pub fn compose_validated(name: &str) -> Result<(String, wgpu::naga::Module), ComposeError> {
    use wgpu::naga::{front::wgsl, valid};
    let text = compose(name)?;
    let path = format!("shaders/{name}.wgsl (composed)");
    let module = wgsl::parse_str(&text).map_err(|e| ComposeError::Invalid {
        name: name.to_string(),
        report: e.emit_to_string_with_path(&text, &path),
    })?;
    valid::Validator::new(
        valid::ValidationFlags::all(),
        valid::Capabilities::default(),
    )
    .validate(&module)
    .map_err(|e| ComposeError::Invalid {
        name: name.to_string(),
        report: e.emit_to_string_with_path(&text, &path),
    })?;
    Ok((text, module))
}

/// Names of every shader file, shared pieces included.
pub fn shader_files() -> impl Iterator<Item = &'static str> {
    SOURCES.iter().map(|(n, _)| *n)
}

/// Names of all shaders that are entry-point files (not shared pieces).
pub fn kernel_files() -> impl Iterator<Item = &'static str> {
    SOURCES
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| !n.starts_with("common/"))
}
