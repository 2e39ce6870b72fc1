// Stream compaction of one agent buffer: live cells (flag 1) are copied to
// their exclusive-scan slots in `dst`, keeping their order. One invocation per cell.

#import common/lattice
#import common/agents

struct CompactParams {
    n: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> C: CompactParams;
@group(0) @binding(1) var<storage, read> src: array<Agent>;
@group(0) @binding(2) var<storage, read> keep: array<u32>;
@group(0) @binding(3) var<storage, read> slots: array<u32>;
@group(0) @binding(4) var<storage, read_write> dst: array<Agent>;

@compute @workgroup_size(WG)
fn compact(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let k = invocation_id(gid, nwg);
    if k >= C.n || keep[k] == 0u { return; }
    dst[slots[k]] = src[k];
}
