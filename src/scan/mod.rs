//! Scans and reductions.
pub mod prefix;
pub mod reduce;
pub use prefix::Scan;
pub use reduce::{Reduce, sum_cpu};
