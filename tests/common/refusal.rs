//! Runs the `trabecula` binary on bad input and checks that it refuses it:
//! the exit status, a message naming the cause, and every file that was
//! there before left byte for byte as it was.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every file under `dir` (recursively) and its bytes; folders as `None`.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.insert(p.clone(), None);
                stack.push(p);
            } else {
                out.insert(p.clone(), Some(std::fs::read(&p).unwrap()));
            }
        }
    }
    out
}

/// Runs the binary with `args` in `dir` (its working folder) and returns
/// (exit status, stderr).
pub fn run_in<S: AsRef<OsStr>>(dir: &Path, args: &[S]) -> (Option<i32>, String) {
    let out = Command::new(super::bin())
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `args` in `dir` and asserts it exits with `code`, that stderr holds
/// each of `causes`, and that nothing under `dir` changed (no file written,
/// removed or altered; no folder made).
pub fn refused<S: AsRef<OsStr>>(dir: &Path, args: &[S], code: i32, causes: &[&str]) {
    let before = snapshot(dir);
    let (status, stderr) = run_in(dir, args);
    let shown: Vec<String> = args
        .iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        status,
        Some(code),
        "`trabecula {}` exited {status:?}, not {code}: {stderr}",
        shown.join(" ")
    );
    for cause in causes {
        assert!(
            stderr.contains(cause),
            "`trabecula {}`: stderr does not name `{cause}`: {stderr}",
            shown.join(" ")
        );
    }
    let after = snapshot(dir);
    let changed: Vec<_> = before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    assert!(
        changed.is_empty(),
        "`trabecula {}` changed {changed:?}",
        shown.join(" ")
    );
}
