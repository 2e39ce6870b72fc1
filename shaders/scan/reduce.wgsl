// Deterministic f32 sum by a fixed tree: each invocation adds one chunk of CHUNK consecutive
// values in order (independent of WG) and writes one partial; the host repeats on the partials.
// Dispatch: one invocation per chunk (at least one), 1-D folded to 2-D.
#import common/lattice

// Its Rust twin `ReduceParams` (src/scan/reduce.rs) is compared field by field in tests/shaders.rs.
struct ReduceParams {
    // Values in this window of the level.
    n: u32,
    // Where chunk 0's partial goes in dst (window offset, or out_index at the last level).
    base: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> P: ReduceParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;


@compute @workgroup_size(WG)
fn chunk_sum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let c = invocation_id(gid, nwg);
    let start = c * CHUNK;
    // Chunk 0 always writes, so an empty input sums to 0.
    if c > 0u && start >= P.n { return; }
    let end = min(start + CHUNK, P.n);
    var s = 0.0;
    for (var i = start; i < end; i++) { s += src[i]; }
    dst[P.base + c] = s;
}
