//! Signals (docs/design.md §5): RANKL, sclerostin and friends as reaction–diffusion
//! fields on the voxel lattice, solved to quasi-steady state each step.

pub mod diffuse;

pub use diffuse::{Diffuse, DiffuseParams, jacobi_sweep_cpu};
