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

    /// Rebuilds occupancy from both cell buffers (buffer, live count).
    pub fn record_occupy(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        p: &wgpu::Buffer,
        occupant: &wgpu::Buffer,
        osteoclasts: (&wgpu::Buffer, u32),
        osteoblasts: (&wgpu::Buffer, u32),
    ) {
        enc.clear_buffer(occupant, 0, None);
        for (kernel, name, (cells, n)) in [
            (&self.occupy_osteoclasts, "osteoclasts", osteoclasts),
            (&self.occupy_osteoblasts, "osteoblasts", osteoblasts),
        ] {
            record(
                ctx,
                enc,
                kernel,
                &[("P", p), ("occupant", occupant), (name, cells)],
                n,
            );
        }
    }

    /// Birth flags per voxel (0/1 osteoclast, 0/1 osteoblast) from the
    /// signals, or (`initial`) at the basal steady-state densities of day 0.
    #[allow(clippy::too_many_arguments)]
    pub fn record_flags(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        p: &wgpu::Buffer,
        f: &RecruitFields,
        (oc_flags, ob_flags): (&wgpu::Buffer, &wgpu::Buffer),
        n_voxels: u32,
        initial: bool,
    ) {
        // The day-0 kernel reads fewer fields; the rest are passed over by name.
        let kernel = if initial {
            &self.initial_flags
        } else {
            &self.flags
        };
        record(
            ctx,
            enc,
            kernel,
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
