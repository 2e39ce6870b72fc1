//! Scans and reductions.
pub mod reduce;
pub mod prefix;
pub use reduce::{Reduce, sum_cpu};
pub use prefix::Scan;
