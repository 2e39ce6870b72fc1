pub mod diffuse;
pub use diffuse::{Diffuse, DiffuseParams, jacobi_sweep_cpu};
