// Sum of f32 by a fixed tree: each invocation adds a chunk of 64 in order.
#import common/lattice

struct ReduceParams { n: u32, out_index: u32, _pad0: u32, _pad1: u32, }
@group(0) @binding(0) var<uniform> P: ReduceParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

const CHUNK: u32 = 64u;

@compute @workgroup_size(WG)
fn chunk_sum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let c = invocation_id(gid, nwg);
    let start = c * CHUNK;
    if start >= P.n { return; }
    var s = 0.0;
    for (var i = start; i < min(start + CHUNK, P.n); i++) { s += src[i]; }
    dst[P.out_index + c] = s;
}
