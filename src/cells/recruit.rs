//! Recruitment (`shaders/cells/recruit.wgsl`): the occupancy map of surface
//! cells, per-voxel birth flags from the signals, and the scatter of births.

use anyhow::Result;

use super::{kernel, record};
use crate::gpu::{GpuContext, Kernel};

pub struct Recruit {
    pub occupy_osteoclasts: Kernel,
    pub occupy_osteoblasts: Kernel,
    pub flags: Kernel,
    pub initial_flags: Kernel,
    pub scatter: Kernel,
}

const FILE: &str = "cells/recruit";

/// The fields recruitment reads.
pub struct RecruitFields<'a> {
    pub mineral: &'a wgpu::Buffer,
    pub sed: &'a wgpu::Buffer,
    pub rankl: &'a wgpu::Buffer,
    pub sclerostin: &'a wgpu::Buffer,
    pub coupling: &'a wgpu::Buffer,
    pub occupant: &'a wgpu::Buffer,
}

impl Recruit {
    pub fn new(ctx: &GpuContext, wg: u32) -> Result<Self> {
        Ok(Self {
            occupy_osteoclasts: kernel(ctx, FILE, "occupy_osteoclasts", wg)?,
            occupy_osteoblasts: kernel(ctx, FILE, "occupy_osteoblasts", wg)?,
            initial_flags: kernel(ctx, FILE, "initial_flags", wg)?,
            flags: kernel(ctx, FILE, "recruit_flags", wg)?,
            scatter: kernel(ctx, FILE, "recruit_scatter", wg)?,
        })
    }

    /// Rebuilds occupancy from both cell buffers (the map must be cleared first).
    #[allow(clippy::too_many_arguments)]
    pub fn record_occupy(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        p: &wgpu::Buffer,
        occupant: &wgpu::Buffer,
        osteoclasts: &wgpu::Buffer,
        n_oc: u32,
        osteoblasts: &wgpu::Buffer,
        n_ob: u32,
    ) {
        enc.clear_buffer(occupant, 0, None);
        record(
            ctx,
            enc,
            &self.occupy_osteoclasts,
            &[
                ("P", p),
                ("occupant", occupant),
                ("osteoclasts", osteoclasts),
            ],
            n_oc,
        );
        record(
            ctx,
            enc,
            &self.occupy_osteoblasts,
            &[
                ("P", p),
                ("occupant", occupant),
                ("osteoblasts", osteoblasts),
            ],
            n_ob,
        );
    }

    /// Birth flags per voxel (0/1 osteoclast, 0/1 osteoblast).
    #[allow(clippy::too_many_arguments)]
    pub fn record_flags(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        p: &wgpu::Buffer,
        f: &RecruitFields,
        oc_flags: &wgpu::Buffer,
        ob_flags: &wgpu::Buffer,
        n_voxels: u32,
    ) {
        record(
            ctx,
            enc,
            &self.flags,
            &[
                ("P", p),
                ("mineral", f.mineral),
                ("sed_unit", f.sed),
                ("rankl", f.rankl),
                ("sclerostin", f.sclerostin),
                ("coupling", f.coupling),
                ("occupant", f.occupant),
                ("oc_flags", oc_flags),
                ("ob_flags", ob_flags),
            ],
            n_voxels,
        );
    }

    /// Day-0 flags: surface cells at their basal steady-state densities.
    #[allow(clippy::too_many_arguments)]
    pub fn record_initial_flags(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        p: &wgpu::Buffer,
        f: &RecruitFields,
        oc_flags: &wgpu::Buffer,
        ob_flags: &wgpu::Buffer,
        n_voxels: u32,
    ) {
        record(
            ctx,
            enc,
            &self.initial_flags,
            &[
                ("P", p),
                ("mineral", f.mineral),
                ("rankl", f.rankl),
                ("occupant", f.occupant),
                ("oc_flags", oc_flags),
                ("ob_flags", ob_flags),
            ],
            n_voxels,
        );
    }

    /// Writes births after the live cells and marks their voxels occupied.
    #[allow(clippy::too_many_arguments)]
    pub fn record_scatter(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        p: &wgpu::Buffer,
        occupant: &wgpu::Buffer,
        flags: (&wgpu::Buffer, &wgpu::Buffer),
        offsets: (&wgpu::Buffer, &wgpu::Buffer),
        osteoclasts: &wgpu::Buffer,
        osteoblasts: &wgpu::Buffer,
        n_voxels: u32,
    ) {
        record(
            ctx,
            enc,
            &self.scatter,
            &[
                ("P", p),
                ("occupant", occupant),
                ("oc_flags", flags.0),
                ("ob_flags", flags.1),
                ("oc_offsets", offsets.0),
                ("ob_offsets", offsets.1),
                ("osteoclasts", osteoclasts),
                ("osteoblasts", osteoblasts),
            ],
            n_voxels,
        );
    }
}
