//! The simulation's GPU state (docs/design.md §2, The state): lattice fields, agent buffers
//! and the scratch the step's scans and reductions need. Everything lives
//! on the GPU; the host keeps only counts.

use anyhow::{Result, bail};

use crate::cells::{AgentBuffer, CellType, agents::AGENT_BYTES};
use crate::gpu::{GpuContext, storage_buffer_init, storage_buffer_zeroed};
use crate::lattice::Lattice;

/// Per-voxel f32/u32 fields the state allocates (for the memory plan).
pub const FIELDS_PER_VOXEL: u64 = 19;

/// The lattice fields, one 4-byte value per voxel each.
pub struct Fields {
    pub mineral: wgpu::Buffer,
    /// Strain energy density per unit (habitual 1 g) load, MPa.
    pub sed: wgpu::Buffer,
    pub rankl: wgpu::Buffer,
    pub rankl_tmp: wgpu::Buffer,
    pub sclerostin: wgpu::Buffer,
    pub sclerostin_tmp: wgpu::Buffer,
    pub rankl_source: wgpu::Buffer,
    pub sclerostin_source: wgpu::Buffer,
    pub coupling: wgpu::Buffer,
    pub resorbed: wgpu::Buffer,
    pub formed: wgpu::Buffer,
    pub occupant: wgpu::Buffer,
    pub claims: wgpu::Buffer,
    pub oc_flags: wgpu::Buffer,
    pub ob_flags: wgpu::Buffer,
    pub oc_offsets: wgpu::Buffer,
    pub ob_offsets: wgpu::Buffer,
    pub scratch_a: wgpu::Buffer,
    pub scratch_b: wgpu::Buffer,
}

/// Survival flags and their scan for one agent buffer (grown with it).
pub struct AgentScratch {
    pub keep: wgpu::Buffer,
    pub slots: wgpu::Buffer,
    pub capacity: u32,
}

impl AgentScratch {
    fn new(device: &wgpu::Device, capacity: u32) -> Self {
        Self {
            keep: storage_buffer_zeroed(device, "agent keep", 4 * capacity as u64),
            slots: storage_buffer_zeroed(device, "agent slots", 4 * capacity as u64),
            capacity,
        }
    }

    /// Grows to `capacity`, keeping the flags and slots already recorded:
    /// a step grows capacity between its fate scans and the compaction
    /// that reads them.
    fn fit(&mut self, device: &wgpu::Device, enc: &mut wgpu::CommandEncoder, capacity: u32) {
        if capacity > self.capacity {
            let grown = Self::new(device, capacity);
            let bytes = 4 * self.capacity as u64;
            if bytes > 0 {
                enc.copy_buffer_to_buffer(&self.keep, 0, &grown.keep, 0, bytes);
                enc.copy_buffer_to_buffer(&self.slots, 0, &grown.slots, 0, bytes);
            }
            *self = grown;
        }
    }
}

/// All GPU state of a run.
pub struct SimState {
    pub dims: [usize; 3],
    pub voxel_size_um: f64,
    pub n_voxels: u32,
    pub fields: Fields,
    pub cells: [AgentBuffer; 3],
    pub scratch: [AgentScratch; 3],
    /// Embedding flags/slots of osteoblasts.
    pub embed: AgentScratch,
    /// Small u32 results: scan totals and state counts.
    pub totals: wgpu::Buffer,
    pub counts: wgpu::Buffer,
    /// f32 sums of the step's metrics.
    pub sums: wgpu::Buffer,
    max_agents: u64,
}

/// Slots of `totals`.
pub mod total {
    pub const OC_BIRTHS: u32 = 0;
    pub const OB_BIRTHS: u32 = 1;
    pub const KEEP: [u32; 3] = [2, 3, 4];
    pub const EMBED: u32 = 5;
    pub const SEEDED: u32 = 6;
    pub const LEN: u64 = 8;
}

impl SimState {
    /// Bytes the state needs for a lattice of `n` voxels (without agents), and
    /// the largest single binding.
    pub fn memory_plan(n: u64) -> (u64, u64) {
        (FIELDS_PER_VOXEL * 4 * n, 4 * n)
    }

    /// Allocates the state for `lattice`, refusing up front what the adapter cannot bind.
    pub fn new(ctx: &GpuContext, lattice: &Lattice, sed_unit: &[f32]) -> Result<Self> {
        let n = lattice.len() as u64;
        let (total, binding) = Self::memory_plan(n);
        if binding > ctx.max_binding_bytes() {
            bail!(
                "a {:?} lattice needs {} MiB per field binding ({} MiB in all); this adapter's \
                 max_storage_buffer_binding_size is {} MiB. Use a smaller lattice or larger voxels.",
                lattice.dims,
                binding.div_ceil(1 << 20),
                total.div_ceil(1 << 20),
                ctx.max_binding_bytes() >> 20
            );
        }
        assert_eq!(sed_unit.len(), lattice.len());
        let d = &ctx.device;
        let z = |label| storage_buffer_zeroed(d, label, 4 * n);
        let fields = Fields {
            mineral: storage_buffer_init(d, "mineral", &lattice.mineral),
            sed: storage_buffer_init(d, "sed", sed_unit),
            rankl: z("rankl"),
            rankl_tmp: z("rankl tmp"),
            sclerostin: z("sclerostin"),
            sclerostin_tmp: z("sclerostin tmp"),
            rankl_source: z("rankl source"),
            sclerostin_source: z("sclerostin source"),
            coupling: z("coupling"),
            resorbed: z("resorbed"),
            formed: z("formed"),
            occupant: z("occupant"),
            claims: z("claims"),
            oc_flags: z("oc flags"),
            ob_flags: z("ob flags"),
            oc_offsets: z("oc offsets"),
            ob_offsets: z("ob offsets"),
            scratch_a: z("scratch a"),
            scratch_b: z("scratch b"),
        };
        let cap = 1024;
        Ok(Self {
            dims: lattice.dims,
            voxel_size_um: lattice.voxel_size_um,
            n_voxels: n as u32,
            fields,
            cells: CellType::ALL.map(|k| AgentBuffer::new(d, k, cap)),
            scratch: [(); 3].map(|_| AgentScratch::new(d, cap)),
            embed: AgentScratch::new(d, cap),
            totals: storage_buffer_zeroed(d, "totals", 4 * total::LEN),
            counts: storage_buffer_zeroed(d, "counts", 4 * 8),
            sums: storage_buffer_zeroed(d, "sums", 4 * 8),
            max_agents: AgentBuffer::max_capacity(ctx.max_binding_bytes()),
        })
    }

    /// The buffers a checkpoint saves and restores whole, by name: every
    /// lattice field and the small result buffers (agents are saved by
    /// length, separately). A new GPU buffer of the state is one line here.
    pub fn named_buffers(&self) -> Vec<(&'static str, &wgpu::Buffer)> {
        let f = &self.fields;
        vec![
            ("mineral", &f.mineral),
            ("sed", &f.sed),
            ("rankl", &f.rankl),
            ("rankl_tmp", &f.rankl_tmp),
            ("sclerostin", &f.sclerostin),
            ("sclerostin_tmp", &f.sclerostin_tmp),
            ("rankl_source", &f.rankl_source),
            ("sclerostin_source", &f.sclerostin_source),
            ("coupling", &f.coupling),
            ("resorbed", &f.resorbed),
            ("formed", &f.formed),
            ("occupant", &f.occupant),
            ("claims", &f.claims),
            ("oc_flags", &f.oc_flags),
            ("ob_flags", &f.ob_flags),
            ("oc_offsets", &f.oc_offsets),
            ("ob_offsets", &f.ob_offsets),
            ("scratch_a", &f.scratch_a),
            ("scratch_b", &f.scratch_b),
            ("totals", &self.totals),
            ("counts", &self.counts),
            ("sums", &self.sums),
        ]
    }

    pub fn cell(&self, kind: CellType) -> &AgentBuffer {
        &self.cells[kind as usize]
    }

    /// Ensures room for `needed` agents of `kind`, growing on the GPU.
    pub fn reserve(
        &mut self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        kind: CellType,
        needed: u32,
    ) -> Result<()> {
        if needed as u64 > self.max_agents {
            bail!(
                "{} {} need {} MiB, above the adapter's {} MiB per binding",
                needed,
                kind.name(),
                (needed as u64 * AGENT_BYTES) >> 20,
                (self.max_agents * AGENT_BYTES) >> 20
            );
        }
        let i = kind as usize;
        if self.cells[i].reserve(&ctx.device, enc, needed) {
            let cap = self.cells[i].capacity;
            self.scratch[i].fit(&ctx.device, enc, cap);
            if kind == CellType::Osteoblast {
                self.embed.fit(&ctx.device, enc, cap);
            }
        }
        Ok(())
    }

    /// Bytes allocated on the GPU now.
    pub fn gpu_bytes(&self) -> u64 {
        let fields = FIELDS_PER_VOXEL * 4 * self.n_voxels as u64;
        let agents: u64 = self
            .cells
            .iter()
            .map(|c| 2 * c.capacity as u64 * AGENT_BYTES)
            .sum();
        let scratch: u64 = self
            .scratch
            .iter()
            .chain([&self.embed])
            .map(|s| 8 * s.capacity as u64)
            .sum();
        fields + agents + scratch
    }
}
