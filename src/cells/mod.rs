//! The cells: osteocytes, osteoclasts and osteoblasts as GPU agents.
//!
//! One Rust module per WGSL file under `shaders/cells/`; each holds the
//! kernels of its entry points and records them into the step's encoder.
//! `crate::sim::step` calls them in the order of docs/design.md §3 (One day).

pub mod agents;
pub mod compact;
pub mod fate;
pub mod motion;
pub mod osteocytes;
pub mod params;
pub mod recruit;
pub mod remodel;

pub use agents::{Agent, AgentBuffer, CellType};
pub use params::StepParams;

use crate::gpu::{GpuContext, Kernel};

/// Builds one entry point of `file`; its bindings come from the shader.
pub(crate) fn kernel(
    ctx: &GpuContext,
    file: &str,
    entry: &str,
    workgroup_size: u32,
) -> anyhow::Result<Kernel> {
    Ok(Kernel::new(&ctx.device, file, entry, workgroup_size)?)
}

/// Records `kernel` over `n` invocations with `buffers` bound by WGSL name.
pub(crate) fn record(
    ctx: &GpuContext,
    encoder: &mut wgpu::CommandEncoder,
    kernel: &Kernel,
    buffers: &[(&str, &wgpu::Buffer)],
    n: u32,
) {
    if n == 0 {
        return;
    }
    let bg = kernel.bind(&ctx.device, buffers);
    kernel.run(encoder, &bg, n);
}
