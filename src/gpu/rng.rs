//! CPU twin of `shaders/common/rng.wgsl`: the same counter-based hash, used
//! as the oracle in tests and wherever the host needs the same draws.

/// pcg4d (Jarzynski & Olano 2020), wrapping arithmetic as in WGSL.
pub fn pcg4d(v: [u32; 4]) -> [u32; 4] {
    let mut v = v.map(|x| x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223));
    let mix = |v: &mut [u32; 4]| {
        v[0] = v[0].wrapping_add(v[1].wrapping_mul(v[3]));
        v[1] = v[1].wrapping_add(v[2].wrapping_mul(v[0]));
        v[2] = v[2].wrapping_add(v[0].wrapping_mul(v[1]));
        v[3] = v[3].wrapping_add(v[1].wrapping_mul(v[2]));
    };
    mix(&mut v);
    v = v.map(|x| x ^ (x >> 16));
    mix(&mut v);
    v
}

/// Uniform in [0, 1) with 24 random bits, as `rng_uniform` in WGSL.
pub fn uniform(seed: u32, step: u32, id: u32, purpose: u32) -> f32 {
    (pcg4d([seed, step, id, purpose])[0] >> 8) as f32 * (1.0 / 16_777_216.0)
}

/// Folds a 64-bit scene seed into the 32-bit key the shaders use.
pub fn fold_seed(seed: u64) -> u32 {
    (seed as u32) ^ ((seed >> 32) as u32).rotate_left(16)
}
