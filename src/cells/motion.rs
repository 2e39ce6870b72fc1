//! Movement of surface cells (`shaders/cells/motion.wgsl`): bids on free
//! surface voxels resolved by lowest rank (atomicMax of !rank), then the
//! winners move and osteoclasts pick the face they resorb.

use anyhow::Result;

use super::{kernel, record};
use crate::gpu::{Binding::*, GpuContext, Kernel};

pub struct Motion {
    pub claim_osteoclasts: Kernel,
    pub claim_osteoblasts: Kernel,
    pub settle_osteoclasts: Kernel,
    pub settle_osteoblasts: Kernel,
}

const FILE: &str = "cells/motion";

impl Motion {
    pub fn new(ctx: &GpuContext, wg: u32) -> Result<Self> {
        let claim = [
            (0, Uniform),
            (1, StorageRead),
            (2, StorageRead),
            (3, StorageRead),
            (4, StorageWrite),
            (5, StorageWrite),
        ];
        // Osteoblasts also read coupling and sclerostin (where they may form).
        let formation = [(6, StorageRead), (7, StorageRead)];
        let claim_ob = [&claim[..], &formation[..]].concat();
        let settle = [
            (0, Uniform),
            (1, StorageRead),
            (4, StorageWrite),
            (5, StorageWrite),
        ];
        let settle_ob = [&settle[..], &formation[..]].concat();
        Ok(Self {
            claim_osteoclasts: kernel(ctx, FILE, "claim_osteoclasts", &claim, wg)?,
            claim_osteoblasts: kernel(ctx, FILE, "claim_osteoblasts", &claim_ob, wg)?,
            settle_osteoclasts: kernel(ctx, FILE, "settle_osteoclasts", &settle, wg)?,
            settle_osteoblasts: kernel(ctx, FILE, "settle_osteoblasts", &settle_ob, wg)?,
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
            &[p, mineral, occupant, rankl, claims, osteoclasts],
            n_oc,
        );
        record(
            ctx,
            enc,
            &self.claim_osteoblasts,
            &[
                p,
                mineral,
                occupant,
                rankl,
                claims,
                osteoblasts,
                coupling,
                sclerostin,
            ],
            n_ob,
        );
        record(
            ctx,
            enc,
            &self.settle_osteoclasts,
            &[p, mineral, claims, osteoclasts],
            n_oc,
        );
        record(
            ctx,
            enc,
            &self.settle_osteoblasts,
            &[p, mineral, claims, osteoblasts, coupling, sclerostin],
            n_ob,
        );
    }
}
