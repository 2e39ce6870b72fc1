//! Fate (`shaders/cells/fate.wgsl`): ageing, death and embedding; survival
//! flags for compaction and state counts (integer atomics: order-free).

use anyhow::Result;

use super::{kernel, record};
use crate::gpu::{GpuContext, Kernel};

/// Slots of the counts buffer the fate kernels fill.
pub const COUNT_OSTEOCYTES_ALIVE: usize = 0;
pub const COUNT_OSTEOCYTES_APOPTOTIC: usize = 1;
pub const COUNT_OSTEOCLASTS: usize = 2;
pub const COUNT_OSTEOBLASTS: usize = 3;
/// Live osteocytes whose sensing read disuse this step.
pub const COUNT_OSTEOCYTES_DISUSE: usize = 4;
pub const COUNTS: usize = 5;

pub struct Fate {
    pub osteocytes: Kernel,
    pub osteoclasts: Kernel,
    pub osteoblasts: Kernel,
    /// Counts without fate, by type (osteocytes, osteoclasts, osteoblasts).
    pub census: [Kernel; 3],
}

const FILE: &str = "cells/fate";

impl Fate {
    pub fn new(ctx: &GpuContext, wg: u32) -> Result<Self> {
        Ok(Self {
            osteocytes: kernel(ctx, FILE, "fate_osteocytes", wg)?,
            osteoclasts: kernel(ctx, FILE, "fate_osteoclasts", wg)?,
            osteoblasts: kernel(ctx, FILE, "fate_osteoblasts", wg)?,
            census: [
                kernel(ctx, FILE, "census_osteocytes", wg)?,
                kernel(ctx, FILE, "census_osteoclasts", wg)?,
                kernel(ctx, FILE, "census_osteoblasts", wg)?,
            ],
        })
    }

    /// The counts fate keeps, of the cells as they are: (buffer, live
    /// count) by type; `counts` must be cleared by the caller.
    pub fn record_census(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        p: &wgpu::Buffer,
        counts: &wgpu::Buffer,
        cells: [(&wgpu::Buffer, u32); 3],
    ) {
        for (kernel, (buffer, n)) in self.census.iter().zip(cells) {
            record(
                ctx,
                enc,
                kernel,
                &[("P", p), ("cells", buffer), ("counts", counts)],
                n,
            );
        }
    }

    /// Fate of all three types; `counts` must be cleared by the caller.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        p: &wgpu::Buffer,
        mineral: &wgpu::Buffer,
        counts: &wgpu::Buffer,
        osteocytes: (&wgpu::Buffer, &wgpu::Buffer, u32),
        osteoclasts: (&wgpu::Buffer, &wgpu::Buffer, u32),
        osteoblasts: (&wgpu::Buffer, &wgpu::Buffer, &wgpu::Buffer, u32),
    ) {
        record(
            ctx,
            enc,
            &self.osteocytes,
            &[
                ("P", p),
                ("cells", osteocytes.0),
                ("alive", osteocytes.1),
                ("counts", counts),
            ],
            osteocytes.2,
        );
        record(
            ctx,
            enc,
            &self.osteoclasts,
            &[
                ("P", p),
                ("cells", osteoclasts.0),
                ("alive", osteoclasts.1),
                ("counts", counts),
            ],
            osteoclasts.2,
        );
        record(
            ctx,
            enc,
            &self.osteoblasts,
            &[
                ("P", p),
                ("mineral", mineral),
                ("cells", osteoblasts.0),
                ("alive", osteoblasts.1),
                ("embed", osteoblasts.2),
                ("counts", counts),
            ],
            osteoblasts.3,
        );
    }
}
