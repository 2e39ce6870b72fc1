//! File formats: MetaImage, NIfTI and TIFF volumes, atomic writes, CSV time series, plots,
//! VTK.

pub mod atomic;
pub mod mhd;
pub mod plot;
pub mod slice;
pub mod volume;
pub mod vtk;

pub use atomic::{write_atomic, write_atomic_bytes, write_atomic_durable};
