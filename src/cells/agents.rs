//! Agent storage (`shaders/common/agents.wgsl`): one Pod struct for all three
//! cell types, each type in its own GPU buffer sized for growth.

crate::gpu_struct! {
    #[derive(Debug, Clone, Copy, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
    pub struct Agent in "cells/fate" {
        pub voxel: u32,
        pub id: u32,
        pub state: u32,
        pub aim: u32,
        pub age_days: f32,
        pub setpoint: f32,
        pub timer_days: f32,
        pub activity: f32,
    }
}

pub const STATE_ALIVE: u32 = 0;
pub const STATE_APOPTOTIC: u32 = 1;
pub const STATE_DEAD: u32 = 2;
pub const STATE_EMBED: u32 = 3;
pub const NO_TARGET: u32 = u32::MAX;

/// Bytes of one agent on the GPU.
pub const AGENT_BYTES: u64 = std::mem::size_of::<Agent>() as u64;

/// The three cell types, in the order of their buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellType {
    Osteocyte,
    Osteoclast,
    Osteoblast,
}

impl CellType {
    pub const ALL: [CellType; 3] = [
        CellType::Osteocyte,
        CellType::Osteoclast,
        CellType::Osteoblast,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CellType::Osteocyte => "osteocytes",
            CellType::Osteoclast => "osteoclasts",
            CellType::Osteoblast => "osteoblasts",
        }
    }
}

/// A GPU buffer of agents with `len` live ones and room for `capacity`.
/// Compaction writes into `spare`, then the two swap.
pub struct AgentBuffer {
    pub kind: CellType,
    pub buffer: wgpu::Buffer,
    pub spare: wgpu::Buffer,
    pub len: u32,
    pub capacity: u32,
    /// Ids handed out so far (the next id).
    pub next_id: u32,
}

fn agent_buffer(device: &wgpu::Device, label: &str, capacity: u32) -> wgpu::Buffer {
    crate::gpu::storage_buffer_zeroed(device, label, capacity as u64 * AGENT_BYTES)
}

impl AgentBuffer {
    pub fn new(device: &wgpu::Device, kind: CellType, capacity: u32) -> Self {
        let capacity = capacity.max(64);
        Self {
            kind,
            buffer: agent_buffer(device, kind.name(), capacity),
            spare: agent_buffer(device, kind.name(), capacity),
            len: 0,
            capacity,
            next_id: 0,
        }
    }

    /// Makes room for `needed` agents: a larger pair of buffers, the live
    /// ones copied on the GPU. Returns true if it grew. The caller has checked
    /// `needed` against the adapter's binding limit.
    pub fn reserve(
        &mut self,
        device: &wgpu::Device,
        encoder: &mut wgpu::CommandEncoder,
        needed: u32,
    ) -> bool {
        if needed <= self.capacity {
            return false;
        }
        let capacity = needed.max(self.capacity.saturating_mul(3) / 2).max(64);
        let buffer = agent_buffer(device, self.kind.name(), capacity);
        if self.len > 0 {
            encoder.copy_buffer_to_buffer(
                &self.buffer,
                0,
                &buffer,
                0,
                self.len as u64 * AGENT_BYTES,
            );
        }
        self.buffer = buffer;
        self.spare = agent_buffer(device, self.kind.name(), capacity);
        self.capacity = capacity;
        true
    }

    /// Swaps after compaction into `spare`.
    pub fn swap(&mut self, len: u32) {
        std::mem::swap(&mut self.buffer, &mut self.spare);
        self.len = len;
    }

    /// Largest capacity the adapter can bind.
    pub fn max_capacity(max_binding_bytes: u64) -> u64 {
        max_binding_bytes / AGENT_BYTES
    }
}
