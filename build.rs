//! Fingerprints the model's sources (`src/`, `shaders/`) so `validate` can
//! tell a run finished by this very code from one finished by other code,
//! and embeds every `shaders/**/*.wgsl` in a table the composer reads
//! (`$OUT_DIR/shaders.rs`), so no list of shader files is kept by hand.

use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn main() {
    let mut paths = Vec::new();
    for dir in ["src", "shaders"] {
        println!("cargo:rerun-if-changed={dir}");
        files(Path::new(dir), &mut paths);
    }
    // Sorted, so the fingerprint does not depend on directory order.
    paths.sort();
    // FNV-1a over every path and its bytes: stable across toolchains.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for path in &paths {
        let bytes = std::fs::read(path).unwrap_or_default();
        for b in path.to_string_lossy().bytes().chain(bytes) {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    println!("cargo:rustc-env=TRABECULA_SOURCE_HASH={hash:016x}");

    let root = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let mut table = String::from(
        "/// Every `shaders/**/*.wgsl`: (path under `shaders/` without `.wgsl`, text).\n",
    );
    table.push_str("const SOURCES: &[(&str, &str)] = &[\n");
    for path in &paths {
        let Ok(rel) = path.strip_prefix("shaders") else {
            continue;
        };
        if path.extension().and_then(|e| e.to_str()) != Some("wgsl") {
            continue;
        }
        let name = rel.with_extension("").to_string_lossy().replace('\\', "/");
        let abs = Path::new(&root).join(path);
        table.push_str(&format!(
            "    ({name:?}, include_str!({:?})),\n",
            abs.display().to_string()
        ));
    }
    table.push_str("];\n");
    let out =
        PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("shaders.rs");
    std::fs::write(out, table).expect("writing the shader table");
}
