// Procedural trabecular lattice: white noise -> band-pass (difference of two
// separable Gaussians, periodic) -> g2 = f1^2 + rod_weight * f2^2 -> bone where
// g2 < threshold. One invocation per voxel; dispatch over grid.n.

#import common/lattice
#import common/rng

struct GenParams {
    grid: Grid,
    seed: u32,
    field: u32,       // which noise field (0 or 1)
    axis: u32,        // blur axis
    radius: u32,      // blur half-width in voxels
    sigma: f32,       // blur standard deviation in voxels
    weight: f32,      // band: weight of this field in g2
    accumulate: u32,  // band: add to g2 (1) or overwrite (0)
    threshold: f32,   // threshold: bone where g2 < threshold
    lo: f32,          // histogram range [lo, hi)
    hi: f32,
    bins: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> P: GenParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(WG)
fn noise(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = invocation_id(gid, nwg);
    if i >= P.grid.n { return; }
    dst[i] = rng_normal(P.seed, P.field, i, PURPOSE_LATTICE_NOISE);
}

@compute @workgroup_size(WG)
fn blur(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = invocation_id(gid, nwg);
    if i >= P.grid.n { return; }
    let p = voxel_coords(P.grid, i);
    let r = i32(P.radius);
    var acc = 0.0;
    var norm = 0.0;
    for (var k = -r; k <= r; k++) {
        let w = exp(-f32(k * k) / (2.0 * P.sigma * P.sigma));
        acc += w * src[voxel_index(P.grid, wrap_offset(P.grid, p, P.axis, k))];
        norm += w;
    }
    dst[i] = acc / norm;
}

// band: dst(g2) (+)= weight * (src - dst2)^2, with the narrow blur in `src`
// and the wide blur in `wide`.
@group(0) @binding(3) var<storage, read> wide: array<f32>;

@compute @workgroup_size(WG)
fn band(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = invocation_id(gid, nwg);
    if i >= P.grid.n { return; }
    let f = src[i] - wide[i];
    var g2 = P.weight * f * f;
    if P.accumulate != 0u { g2 += dst[i]; }
    dst[i] = g2;
}

@compute @workgroup_size(WG)
fn threshold(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = invocation_id(gid, nwg);
    if i >= P.grid.n { return; }
    dst[i] = select(0.0, 1.0, src[i] < P.threshold);
}

// Histogram and maximum of src; counts are atomic adds, so the result does
// not depend on the order of invocations.
@group(0) @binding(4) var<storage, read_write> hist: array<atomic<u32>>;

@compute @workgroup_size(WG)
fn histogram(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = invocation_id(gid, nwg);
    if i >= P.grid.n { return; }
    let v = src[i];
    // Non-negative f32 bit patterns order like u32: the last slot holds the max.
    atomicMax(&hist[P.bins], bitcast<u32>(v));
    if v >= P.lo && v < P.hi {
        let b = min(u32((v - P.lo) / (P.hi - P.lo) * f32(P.bins)), P.bins - 1u);
        atomicAdd(&hist[b], 1u);
    }
}
