//! Recruitment (`shaders/cells/recruit.wgsl`): the occupancy map of surface
//! cells, per-voxel birth flags from the signals, and the scatter of births.

use anyhow::Result;

use super::{kernel, record};
use crate::gpu::{Binding::*, GpuContext, Kernel};

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
            occupy_osteoclasts: kernel(
                ctx,
                FILE,
                "occupy_osteoclasts",
                &[(0, Uniform), (6, StorageWrite), (11, StorageWrite)],
                wg,
            )?,
            occupy_osteoblasts: kernel(
                ctx,
                FILE,
                "occupy_osteoblasts",
                &[(0, Uniform), (6, StorageWrite), (12, StorageWrite)],
                wg,
            )?,
            initial_flags: kernel(
                ctx,
                FILE,
                "initial_flags",
                &[
                    (0, Uniform),
                    (1, StorageRead),
                    (3, StorageRead),
                    (6, StorageWrite),
                    (7, StorageWrite),
                    (8, StorageWrite),
                ],
                wg,
            )?,
            flags: kernel(
                ctx,
                FILE,
                "recruit_flags",
                &[
                    (0, Uniform),
                    (1, StorageRead),
                    (2, StorageRead),
                    (3, StorageRead),
                    (4, StorageRead),
                    (5, StorageRead),
                    (6, StorageWrite),
                    (7, StorageWrite),
                    (8, StorageWrite),
                ],
                wg,
            )?,
            scatter: kernel(
                ctx,
                FILE,
                "recruit_scatter",
                &[
                    (0, Uniform),
                    (6, StorageWrite),
                    (7, StorageWrite),
                    (8, StorageWrite),
                    (9, StorageRead),
                    (10, StorageRead),
                    (11, StorageWrite),
                    (12, StorageWrite),
                ],
                wg,
            )?,
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
            &[p, occupant, osteoclasts],
            n_oc,
        );
        record(
            ctx,
            enc,
            &self.occupy_osteoblasts,
            &[p, occupant, osteoblasts],
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
                p,
                f.mineral,
                f.sed,
                f.rankl,
                f.sclerostin,
                f.coupling,
                f.occupant,
                oc_flags,
                ob_flags,
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
            &[p, f.mineral, f.rankl, f.occupant, oc_flags, ob_flags],
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
                p,
                occupant,
                flags.0,
                flags.1,
                offsets.0,
                offsets.1,
                osteoclasts,
                osteoblasts,
            ],
            n_voxels,
        );
    }
}
