//! Movement of surface cells (`shaders/cells/motion.wgsl`): bids on free
//! surface voxels resolved by lowest rank (atomicMax of !rank), then the
//! winners move and osteoclasts pick the face they resorb.

use anyhow::Result;

use super::{kernel, record};
use crate::gpu::{GpuContext, Kernel};

pub struct Motion {
    pub claim_osteoclasts: Kernel,
    pub claim_osteoblasts: Kernel,
    pub settle_osteoclasts: Kernel,
    pub settle_osteoblasts: Kernel,
}

const FILE: &str = "cells/motion";

impl Motion {
    pub fn new(ctx: &GpuContext, wg: u32) -> Result<Self> {
        Ok(Self {
            claim_osteoclasts: kernel(ctx, FILE, "claim_osteoclasts", wg)?,
            claim_osteoblasts: kernel(ctx, FILE, "claim_osteoblasts", wg)?,
            settle_osteoclasts: kernel(ctx, FILE, "settle_osteoclasts", wg)?,
            settle_osteoblasts: kernel(ctx, FILE, "settle_osteoblasts", wg)?,
        })
    }

    /// Both passes for both cell types; `claims` is cleared here.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        p: &wgpu::Buffer,
        mineral: &wgpu::Buffer,
        occupant: &wgpu::Buffer,
        rankl: &wgpu::Buffer,
        (coupling, sclerostin): (&wgpu::Buffer, &wgpu::Buffer),
        claims: &wgpu::Buffer,
        (osteoclasts, n_oc): (&wgpu::Buffer, u32),
        (osteoblasts, n_ob): (&wgpu::Buffer, u32),
    ) {
        enc.clear_buffer(claims, 0, None);
        record(
            ctx,
            enc,
            &self.claim_osteoclasts,
            &[
                ("P", p),
                ("mineral", mineral),
                ("occupant", occupant),
                ("rankl", rankl),
                ("claims", claims),
                ("cells", osteoclasts),
            ],
            n_oc,
        );
        record(
            ctx,
            enc,
            &self.claim_osteoblasts,
            &[
                ("P", p),
                ("mineral", mineral),
                ("occupant", occupant),
                ("rankl", rankl),
                ("claims", claims),
                ("cells", osteoblasts),
                ("coupling", coupling),
                ("sclerostin", sclerostin),
            ],
            n_ob,
        );
        record(
            ctx,
            enc,
            &self.settle_osteoclasts,
            &[
                ("P", p),
                ("mineral", mineral),
                ("claims", claims),
                ("cells", osteoclasts),
            ],
            n_oc,
        );
        record(
            ctx,
            enc,
            &self.settle_osteoblasts,
            &[
                ("P", p),
                ("mineral", mineral),
                ("claims", claims),
                ("cells", osteoblasts),
                ("coupling", coupling),
                ("sclerostin", sclerostin),
            ],
            n_ob,
        );
    }
}
