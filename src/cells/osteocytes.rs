//! Osteocytes (`shaders/cells/osteocytes.wgsl`): seeding at a density per
//! mm³ of bone, daily sensing (adapted set-point, disuse-driven RANKL and
//! sclerostin, apoptosis, removal with a resorbed voxel), and birth from
//! embedded osteoblasts.

use anyhow::Result;

use super::{kernel, record};
use crate::gpu::{GpuContext, Kernel};

pub struct Osteocytes {
    pub seed_flags: Kernel,
    pub seed_scatter: Kernel,
    pub sense: Kernel,
    pub embed_scatter: Kernel,
}

const FILE: &str = "cells/osteocytes";

impl Osteocytes {
    pub fn new(ctx: &GpuContext, wg: u32) -> Result<Self> {
        Ok(Self {
            seed_flags: kernel(ctx, FILE, "seed_flags", wg)?,
            seed_scatter: kernel(ctx, FILE, "seed_scatter", wg)?,
            sense: kernel(ctx, FILE, "sense", wg)?,
            embed_scatter: kernel(ctx, FILE, "embed_scatter", wg)?,
        })
    }

    /// Flags bone voxels that receive an osteocyte (one per voxel at most).
    pub fn record_seed_flags(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        p: &wgpu::Buffer,
        mineral: &wgpu::Buffer,
        flags: &wgpu::Buffer,
        n_voxels: u32,
    ) {
        record(
            ctx,
            enc,
            &self.seed_flags,
            &[("P", p), ("mineral", mineral), ("flags", flags)],
            n_voxels,
        );
    }

    /// Writes the flagged osteocytes at their scanned slots.
    #[allow(clippy::too_many_arguments)]
    pub fn record_seed_scatter(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        p: &wgpu::Buffer,
        sed: &wgpu::Buffer,
        flags: &wgpu::Buffer,
        offsets: &wgpu::Buffer,
        cells: &wgpu::Buffer,
        n_voxels: u32,
    ) {
        record(
            ctx,
            enc,
            &self.seed_scatter,
            &[
                ("P", p),
                ("sed_unit", sed),
                ("flags", flags),
                ("offsets", offsets),
                ("osteocytes", cells),
            ],
            n_voxels,
        );
    }

    /// Daily sensing of `n` osteocytes; writes their sources into the (cleared) source fields.
    #[allow(clippy::too_many_arguments)]
    pub fn record_sense(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        p: &wgpu::Buffer,
        mineral: &wgpu::Buffer,
        sed: &wgpu::Buffer,
        cells: &wgpu::Buffer,
        rankl_src: &wgpu::Buffer,
        scl_src: &wgpu::Buffer,
        n: u32,
    ) {
        record(
            ctx,
            enc,
            &self.sense,
            &[
                ("P", p),
                ("mineral", mineral),
                ("sed_unit", sed),
                ("osteocytes", cells),
                ("rankl_source", rankl_src),
                ("sclerostin_source", scl_src),
            ],
            n,
        );
    }

    /// Appends osteocytes for the osteoblasts in state EMBED (slots from a scan of their flags).
    #[allow(clippy::too_many_arguments)]
    pub fn record_embed(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        p: &wgpu::Buffer,
        sed: &wgpu::Buffer,
        offsets: &wgpu::Buffer,
        osteocytes: &wgpu::Buffer,
        osteoblasts: &wgpu::Buffer,
        n_osteoblasts: u32,
    ) {
        record(
            ctx,
            enc,
            &self.embed_scatter,
            &[
                ("P", p),
                ("sed_unit", sed),
                ("offsets", offsets),
                ("osteocytes", osteocytes),
                ("osteoblasts", osteoblasts),
            ],
            n_osteoblasts,
        );
    }
}
