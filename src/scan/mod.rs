//! Scans and reductions: the exact u32 exclusive prefix sum behind births and
//! stream compaction, and the deterministic f32 sum behind the metrics.
//!
//! Both use the same fixed-shape tree, independent of the workgroup size:
//! each invocation handles one chunk of [`CHUNK`] consecutive elements
//! sequentially, and the chunk results form the next level until one chunk
//! remains. Level 0 (the caller's buffers) is bound in windows no larger
//! than the adapter's storage-binding limit, so tens of millions of
//! elements scan on adapters with 128 MiB bindings.

pub mod reduce;
#[allow(clippy::module_inception)] // STYLE: the module is named after its WGSL file, scan/scan.wgsl
pub mod scan;

pub use reduce::{Reduce, ReduceParams, sum_cpu};
pub use scan::{Scan, ScanParams, exclusive_scan_cpu};

use crate::gpu::GpuContext;

/// Elements handled sequentially by one invocation, at every level of the
/// tree. Fixed (not the workgroup size) so results never depend on `WG`;
/// its WGSL twin is in `shaders/common/constants.wgsl` (compared by a test).
pub const CHUNK: u32 = 64;

/// Largest number of 4-byte elements bound at once from a caller's buffer:
/// a multiple of [`CHUNK`] whose byte size is a multiple of the adapter's
/// storage offset alignment and fits its binding limit. `cap` (if given)
/// lowers it further, so tests can exercise several windows on small inputs.
fn window_elements(ctx: &GpuContext, cap: Option<u32>) -> u32 {
    let align = u64::from(ctx.device.limits().min_storage_buffer_offset_alignment).max(4);
    // Elements per step: a whole number of chunks and of alignment units.
    let unit_bytes = (u64::from(CHUNK) * 4).max(align);
    let unit_bytes = if unit_bytes % align == 0 {
        unit_bytes
    } else {
        unit_bytes * align
    };
    let units = (ctx.max_binding_bytes() / unit_bytes).max(1);
    let elems = (units * unit_bytes / 4).min(u64::from(u32::MAX / 2)) as u32;
    let elems = elems - elems % CHUNK;
    match cap {
        Some(c) => {
            let step = (unit_bytes / 4) as u32;
            elems.min(c.max(step) / step * step)
        }
        None => elems,
    }
}

/// Binding of elements `first .. first + count` (4 bytes each) of `buffer`;
/// `first` must be window-aligned (see [`window_elements`]). An empty range
/// binds one element, since a binding cannot be empty.
fn elements(buffer: &wgpu::Buffer, first: u32, count: u32) -> wgpu::BindingResource<'_> {
    wgpu::BindingResource::Buffer(wgpu::BufferBinding {
        buffer,
        offset: u64::from(first) * 4,
        size: wgpu::BufferSize::new(u64::from(count.max(1)) * 4),
    })
}

/// A growable scratch buffer of u32/f32 words owned by a kernel. Reusing it
/// across several records in one encoder is safe: commands run in recording
/// order, and each record reads its scratch only after writing it.
struct Scratch {
    label: &'static str,
    buffer: Option<wgpu::Buffer>,
}

impl Scratch {
    fn new(label: &'static str) -> Self {
        Self {
            label,
            buffer: None,
        }
    }

    /// The buffer, grown (never shrunk) to hold at least `words` words.
    /// A replaced buffer stays alive as long as recorded commands use it.
    fn get(&mut self, device: &wgpu::Device, words: u32) -> &wgpu::Buffer {
        let bytes = u64::from(words.max(1)) * 4;
        if self.buffer.as_ref().is_none_or(|b| b.size() < bytes) {
            // Some headroom so slowly growing inputs do not reallocate every step.
            let bytes = bytes + bytes / 4;
            self.buffer = Some(crate::gpu::storage_buffer_zeroed(device, self.label, bytes));
        }
        self.buffer.as_ref().expect("just allocated")
    }
}
