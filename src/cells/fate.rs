//! Fate (`shaders/cells/fate.wgsl`): ageing, death and embedding; survival
//! flags for compaction and state counts (integer atomics: order-free).

use anyhow::Result;

use super::{kernel, record};
use crate::gpu::{Binding::*, GpuContext, Kernel};

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
}

const FILE: &str = "cells/fate";

impl Fate {
    pub fn new(ctx: &GpuContext, wg: u32) -> Result<Self> {
        let three = [
            (0, Uniform),
            (2, StorageWrite),
            (3, StorageWrite),
            (5, StorageWrite),
        ];
        let all = [
            (0, Uniform),
            (1, StorageRead),
            (2, StorageWrite),
            (3, StorageWrite),
            (4, StorageWrite),
            (5, StorageWrite),
        ];
        Ok(Self {
            osteocytes: kernel(ctx, FILE, "fate_osteocytes", &three, wg)?,
            osteoclasts: kernel(ctx, FILE, "fate_osteoclasts", &three, wg)?,
            osteoblasts: kernel(ctx, FILE, "fate_osteoblasts", &all, wg)?,
        })
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
            &[p, osteocytes.0, osteocytes.1, counts],
            osteocytes.2,
        );
        record(
            ctx,
            enc,
            &self.osteoclasts,
            &[p, osteoclasts.0, osteoclasts.1, counts],
            osteoclasts.2,
        );
        record(
            ctx,
            enc,
            &self.osteoblasts,
            &[
                p,
                mineral,
                osteoblasts.0,
                osteoblasts.1,
                osteoblasts.2,
                counts,
            ],
            osteoblasts.3,
        );
    }
}
