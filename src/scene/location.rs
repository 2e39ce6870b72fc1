//! Where a scene key lives: a `file:line:column`, or the `--set` that changed it.

use std::ops::Range;

use toml::de::{DeTable, DeValue};

/// One step of a key path: a table key or an array index.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// Renders a path the way a user writes it: `loading.phases[1].days`.
pub fn path_string(path: &[Segment]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Segment::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Segment::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// Parses `a.b[2].c` into segments.
pub fn parse_path(text: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    for part in text.split('.') {
        let (key, rest) = part.split_once('[').unwrap_or((part, ""));
        if !key.is_empty() {
            out.push(Segment::Key(key.to_string()));
        }
        for idx in rest.split('[') {
            if let Ok(i) = idx.trim_end_matches(']').parse() {
                out.push(Segment::Index(i));
            }
        }
    }
    out
}

/// Byte span of the key (for the last key segment) or value at `path` in `text`.
pub fn span_of(text: &str, path: &[Segment]) -> Option<Range<usize>> {
    let root = DeTable::parse(text).ok()?;
    let mut table: &DeTable<'_> = root.get_ref();
    let mut value: Option<&toml::Spanned<DeValue<'_>>> = None;
    let mut span = None;
    for seg in path {
        match seg {
            Segment::Key(k) => {
                if let Some(v) = value {
                    table = v.get_ref().as_table()?;
                }
                let (key, v) = table
                    .iter()
                    .find(|(key, _)| key.get_ref().as_ref() == k.as_str())?;
                span = Some(key.span());
                value = Some(v);
            }
            Segment::Index(i) => {
                let arr = value?.get_ref().as_array()?;
                let v = arr.get(*i)?;
                span = Some(v.span());
                value = Some(v);
            }
        }
    }
    span
}

/// 1-based line and column of byte offset `pos`.
pub fn line_col(text: &str, pos: usize) -> (usize, usize) {
    let before = &text[..pos.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map(|p| pos - p).unwrap_or(pos + 1);
    (line, col)
}
