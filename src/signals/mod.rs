pub mod diffuse;
pub use diffuse::{Diffuse, DiffuseParams};
