//! File formats: MetaImage volumes, atomic writes, CSV time series.

pub mod atomic;
pub mod mhd;
pub mod slice;

pub use atomic::{write_atomic, write_atomic_bytes};
