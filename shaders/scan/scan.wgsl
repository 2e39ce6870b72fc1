// Exclusive prefix sum of u32 by a fixed tree of CHUNK-element chunks (independent of WG).
// chunk_sums: level l → chunk totals (level l+1); scan_top: one invocation scans the last
// level (≤ CHUNK values) and writes the grand total; chunk_scan: adds the chunk offsets back.
// Dispatch: one invocation per chunk (scan_top: one), 1-D folded to 2-D.
#import common/lattice

// Its Rust twin `ScanParams` (src/scan/scan.rs) is compared field by field in tests/shaders.rs.
struct ScanParams {
    // Elements in this window of the level.
    n: u32,
    // Chunk index of the window's first chunk in the level above.
    base: u32,
    // Element of `total` that receives the grand total (scan_top only).
    total_index: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> P: ScanParams;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;
@group(0) @binding(3) var<storage, read> offsets: array<u32>;
@group(0) @binding(4) var<storage, read_write> total: array<u32>;


@compute @workgroup_size(WG)
fn chunk_sums(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let c = invocation_id(gid, nwg);
    let start = c * CHUNK;
    if start >= P.n { return; }
    let end = min(start + CHUNK, P.n);
    var s = 0u;
    for (var i = start; i < end; i++) { s += src[i]; }
    dst[P.base + c] = s;
}

@compute @workgroup_size(WG)
fn scan_top(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    if invocation_id(gid, nwg) != 0u { return; }
    var s = 0u;
    for (var i = 0u; i < P.n; i++) {
        // Read before write: keeps the scan correct even if src and dst alias.
        let v = src[i];
        dst[i] = s;
        s += v;
    }
    total[P.total_index] = s;
}

@compute @workgroup_size(WG)
fn chunk_scan(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let c = invocation_id(gid, nwg);
    let start = c * CHUNK;
    if start >= P.n { return; }
    let end = min(start + CHUNK, P.n);
    var s = offsets[P.base + c];
    for (var i = start; i < end; i++) {
        let v = src[i];
        dst[i] = s;
        s += v;
    }
}
