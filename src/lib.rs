//! trabecula: a GPU agent-based simulator of trabecular bone remodeling.
//!
//! The library holds everything; `src/main.rs` is a thin CLI over it.

pub mod batch;
pub mod body;
pub mod cells;
pub mod gpu;
pub mod io;
pub mod lattice;
pub mod mech;
pub mod morph;
pub mod render;
pub mod scan;
pub mod scene;
pub mod signals;
pub mod sim;
pub mod stop;
pub mod validate;
