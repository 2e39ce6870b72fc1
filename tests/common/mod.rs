//! Shared test helpers.
#![allow(dead_code)]

use trabecula::gpu::GpuContext;

/// The GPU context; a test fails (never skips) when no adapter exists.
pub fn gpu() -> GpuContext {
    match GpuContext::new() {
        Ok(ctx) => ctx,
        Err(e) => panic!("tests need a GPU adapter (lavapipe or llvmpipe will do): {e}"),
    }
}

/// Path to the built `trabecula` binary.
pub fn bin() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_BIN_EXE_trabecula"))
}
