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

/// Size and member (name, offset) pairs of WGSL struct `name` in shader
/// `file`, from naga's layouter: the twin a Rust `Pod` struct must match.
pub fn wgsl_layout(file: &str, name: &str) -> (u32, Vec<(String, u32)>) {
    use wgpu::naga;
    let (_, module) = trabecula::gpu::compose::compose_validated(file).unwrap();
    let mut layouter = naga::proc::Layouter::default();
    layouter.update(module.to_ctx()).unwrap();
    for (_, ty) in module.types.iter() {
        if ty.name.as_deref() == Some(name)
            && let naga::TypeInner::Struct { members, span } = &ty.inner
        {
            return (
                *span,
                members
                    .iter()
                    .map(|m| (m.name.clone().unwrap_or_default(), m.offset))
                    .collect(),
            );
        }
    }
    panic!("struct {name} not found in {file}");
}
