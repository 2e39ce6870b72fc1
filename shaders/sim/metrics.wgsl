// Per-voxel quantities whose sums make a step's metrics: bone indicator and
// stimulus on bone. One invocation per voxel; sums by the fixed-tree reduce.

#import common/lattice
#import common/agents
#import common/params

@group(0) @binding(0) var<uniform> P: StepParams;
@group(0) @binding(1) var<storage, read> mineral: array<f32>;
@group(0) @binding(2) var<storage, read> sed_unit: array<f32>;
@group(0) @binding(3) var<storage, read_write> bone: array<f32>;
@group(0) @binding(4) var<storage, read_write> bone_stimulus: array<f32>;

@compute @workgroup_size(WG)
fn bone_fields(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = invocation_id(gid, nwg);
    if i >= P.grid.n { return; }
    let b = mineral[i] >= BONE_THRESHOLD;
    bone[i] = select(0.0, 1.0, b);
    bone_stimulus[i] = select(0.0, P.load_factor * sed_unit[i], b);
}
