//! Resorption and formation (`shaders/cells/remodel.wgsl`) as a per-voxel
//! gather: exact per-voxel mass bookkeeping, no write conflicts.

use anyhow::Result;

use super::{kernel, record};
use crate::gpu::{GpuContext, Kernel};

pub struct Remodel {
    pub remodel: Kernel,
}

impl Remodel {
    pub fn new(ctx: &GpuContext, wg: u32) -> Result<Self> {
        Ok(Self {
            remodel: kernel(ctx, "cells/remodel", "remodel", wg)?,
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        p: &wgpu::Buffer,
        mineral: &wgpu::Buffer,
        occupant: &wgpu::Buffer,
        (osteoclasts, osteoblasts): (&wgpu::Buffer, &wgpu::Buffer),
        coupling: &wgpu::Buffer,
        resorbed: &wgpu::Buffer,
        formed: &wgpu::Buffer,
        sclerostin: &wgpu::Buffer,
        n_voxels: u32,
    ) {
        record(
            ctx,
            enc,
            &self.remodel,
            &[
                ("P", p),
                ("mineral", mineral),
                ("occupant", occupant),
                ("osteoclasts", osteoclasts),
                ("coupling", coupling),
                ("resorbed", resorbed),
                ("formed", formed),
                ("sclerostin", sclerostin),
                ("osteoblasts", osteoblasts),
            ],
            n_voxels,
        );
    }
}
