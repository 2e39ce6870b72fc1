//! Rust twins of WGSL structs. [`gpu_struct!`] declares a `#[repr(C)]` Pod
//! struct and records, for each field, its name, offset and size, so one
//! test (`tests/shaders.rs`) compares every twin member by member, by name,
//! with naga's layout of the WGSL struct of the same name.

/// A Rust struct with a WGSL twin of the same name in `WGSL_FILE`.
pub trait GpuStruct: bytemuck::Pod {
    /// The shader (path under `shaders/` without `.wgsl`) that declares it.
    const WGSL_FILE: &'static str;
    const WGSL_NAME: &'static str;
    /// (name, byte offset, byte size) of each field, in declaration order.
    fn fields() -> Vec<(&'static str, usize, usize)>;
}

/// Declares a `#[repr(C)]` struct and its [`GpuStruct`] impl:
///
/// ```ignore
/// gpu_struct! {
///     /// Docs.
///     #[derive(Debug, Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
///     pub struct CompactParams in "cells/compact" {
///         pub n: u32,
///         pub _pad0: u32,
///     }
/// }
/// ```
#[macro_export]
macro_rules! gpu_struct {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident in $file:literal {
            $( $(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[repr(C)]
        $vis struct $name {
            $( $(#[$fmeta])* $fvis $field : $ty ),*
        }
        impl $crate::gpu::GpuStruct for $name {
            const WGSL_FILE: &'static str = $file;
            const WGSL_NAME: &'static str = stringify!($name);
            fn fields() -> Vec<(&'static str, usize, usize)> {
                vec![$(
                    (
                        stringify!($field),
                        ::std::mem::offset_of!($name, $field),
                        ::std::mem::size_of::<$ty>(),
                    )
                ),*]
            }
        }
    };
}
