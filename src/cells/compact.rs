//! Stream compaction (`shaders/cells/compact.wgsl`): flags → exclusive scan →
//! scatter, keeping live agents dense and in their order.

use anyhow::Result;

use super::{kernel, record};
use crate::gpu::{GpuContext, Kernel, uniform_buffer};

crate::gpu_struct! {
    #[derive(Debug, Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
    pub struct CompactParams in "cells/compact" {
        pub n: u32,
        pub _pad0: u32,
        pub _pad1: u32,
        pub _pad2: u32,
    }
}

pub struct Compact {
    pub compact: Kernel,
}

impl Compact {
    pub fn new(ctx: &GpuContext, wg: u32) -> Result<Self> {
        Ok(Self {
            compact: kernel(ctx, "cells/compact", "compact", wg)?,
        })
    }

    /// Copies `src[k]` with `keep[k] = 1` to `dst[slots[k]]` for k < n.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        src: &wgpu::Buffer,
        keep: &wgpu::Buffer,
        slots: &wgpu::Buffer,
        dst: &wgpu::Buffer,
        n: u32,
    ) {
        let u = uniform_buffer(
            &ctx.device,
            "compact params",
            &CompactParams {
                n,
                ..Default::default()
            },
        );
        record(
            ctx,
            enc,
            &self.compact,
            &[
                ("C", &u),
                ("src", src),
                ("keep", keep),
                ("slots", slots),
                ("dst", dst),
            ],
            n,
        );
    }
}
