// Counter-based RNG: every random number is a pure function of
// (seed, step, id, purpose), so no result depends on thread scheduling.
// Hash: pcg4d (Jarzynski & Olano 2020, JCGT 9(3)). Twin: src/gpu/rng.rs.

const PURPOSE_LATTICE_NOISE: u32 = 1u;

fn pcg4d(v_in: vec4<u32>) -> vec4<u32> {
    var v = v_in * 1664525u + 1013904223u;
    v.x += v.y * v.w;
    v.y += v.z * v.x;
    v.z += v.x * v.y;
    v.w += v.y * v.z;
    v = v ^ (v >> vec4<u32>(16u));
    v.x += v.y * v.w;
    v.y += v.z * v.x;
    v.z += v.x * v.y;
    v.w += v.y * v.z;
    return v;
}

// Uniform in [0, 1) with 24 random bits.
fn rng_uniform(seed: u32, step: u32, id: u32, purpose: u32) -> f32 {
    return f32(pcg4d(vec4<u32>(seed, step, id, purpose)).x >> 8u) * (1.0 / 16777216.0);
}

// Standard normal by Box-Muller on two words of one hash.
fn rng_normal(seed: u32, step: u32, id: u32, purpose: u32) -> f32 {
    let h = pcg4d(vec4<u32>(seed, step, id, purpose));
    // u1 in (0, 1]: keeps log() finite.
    let u1 = (f32(h.x >> 8u) + 1.0) * (1.0 / 16777216.0);
    let u2 = f32(h.y >> 8u) * (1.0 / 16777216.0);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

// Purposes of the cell model's draws (one stream per decision kind).
const PURPOSE_OSTEOCYTE_SEED: u32 = 10u;
const PURPOSE_APOPTOSIS: u32 = 11u;
const PURPOSE_RECRUIT: u32 = 12u;
const PURPOSE_MOVE: u32 = 13u;
const PURPOSE_MOVE_WHERE: u32 = 14u;
const PURPOSE_RESORB_WHERE: u32 = 15u;
const PURPOSE_FATE: u32 = 16u;
const PURPOSE_EMBED: u32 = 17u;
