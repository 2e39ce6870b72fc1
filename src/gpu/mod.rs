//! GPU plumbing: adapter and device, WGSL composition, kernels with explicit
//! bind-group layouts, buffers and small named readbacks.

pub mod buffers;
pub mod compose;
pub mod context;
pub mod kernel;
pub mod layout;
pub mod rng;

pub use buffers::{read_buffer, storage_buffer_init, storage_buffer_zeroed, uniform_buffer};
pub use context::{AdapterSummary, GpuContext, GpuError};
pub use kernel::{Binding, Kernel, Slot, workgroups_for};
pub use layout::GpuStruct;
