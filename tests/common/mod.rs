//! Shared test helpers.
#![allow(dead_code)]

pub mod fixtures;
pub mod refusal;

use trabecula::gpu::GpuContext;

/// The GPU context; a test fails (never skips) when no adapter exists.
pub fn gpu() -> GpuContext {
    match GpuContext::new() {
        Ok(ctx) => ctx,
        Err(e) => panic!("tests need a GPU adapter (lavapipe or llvmpipe will do): {e}"),
    }
}

/// Path to the built `trabecula` binary.
pub fn bin() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_BIN_EXE_trabecula"))
}

/// Counter hash in [0, 1) for deterministic test geometry.
pub fn hash01(i: usize, seed: u64) -> f64 {
    let mut x = (i as u64) ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// A rod-and-plate lattice with some voxels knocked out: porous, mostly connected;
/// mineral 0.7–1.0, so the modulus varies from voxel to voxel.
pub fn porous(dims: [usize; 3], seed: u64) -> Vec<f32> {
    let [nx, ny, nz] = dims;
    let mut m = vec![0f32; nx * ny * nz];
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                let i = x + nx * (y + ny * z);
                let column = x % 5 < 2 && y % 5 < 2;
                let strut = z % 5 == 2 && (x % 5 < 2 || y % 5 < 2);
                if (column || strut) && hash01(i, seed) > 0.12 {
                    m[i] = 0.7 + 0.3 * hash01(i, seed + 1) as f32;
                }
            }
        }
    }
    m
}
