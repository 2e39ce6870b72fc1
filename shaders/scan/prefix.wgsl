// Exclusive prefix sum of u32 by fixed chunks of 64 (independent of WG).
#import common/lattice

struct ScanParams { n: u32, index: u32, _pad0: u32, _pad1: u32, }
@group(0) @binding(0) var<uniform> P: ScanParams;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;
@group(0) @binding(3) var<storage, read> offsets: array<u32>;
@group(0) @binding(4) var<storage, read_write> total: array<u32>;

const CHUNK: u32 = 64u;

@compute @workgroup_size(WG)
fn chunk_sums(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let c = invocation_id(gid, nwg);
    let start = c * CHUNK;
    if start >= P.n { return; }
    var s = 0u;
    for (var i = start; i < min(start + CHUNK, P.n); i++) { s += src[i]; }
    dst[c] = s;
}

@compute @workgroup_size(WG)
fn scan_top(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    if invocation_id(gid, nwg) != 0u { return; }
    var s = 0u;
    for (var i = 0u; i < P.n; i++) { let v = src[i]; dst[i] = s; s += v; }
    total[P.index] = s;
}

@compute @workgroup_size(WG)
fn chunk_scan(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let c = invocation_id(gid, nwg);
    let start = c * CHUNK;
    if start >= P.n { return; }
    var s = offsets[c];
    for (var i = start; i < min(start + CHUNK, P.n); i++) { let v = src[i]; dst[i] = s; s += v; }
}
