// One Jacobi sweep of D∇²c − k c + s = 0 on the voxel lattice (x fastest): c_in → c_out.
// Face diffusivity is the harmonic mean of the two voxels' (bone where mineral ≥ BONE_THRESHOLD, else
// marrow); block faces are zero-flux. Dispatch: one invocation per voxel, 1-D folded to 2-D.
#import common/lattice

// Its Rust twin `DiffuseParams` (src/signals/diffuse.rs) is compared field by field in tests/shaders.rs.
struct DiffuseParams {
    grid: Grid,
    voxel_size_um: f32,
    d_marrow_um2_per_day: f32,
    d_bone_um2_per_day: f32,
    decay_per_day: f32,
}

@group(0) @binding(0) var<uniform> P: DiffuseParams;
@group(0) @binding(1) var<storage, read> mineral: array<f32>;
@group(0) @binding(2) var<storage, read> source: array<f32>;
@group(0) @binding(3) var<storage, read> c_in: array<f32>;
@group(0) @binding(4) var<storage, read_write> c_out: array<f32>;


fn diffusivity(i: u32) -> f32 {
    return select(P.d_marrow_um2_per_day, P.d_bone_um2_per_day, mineral[i] >= BONE_THRESHOLD);
}

@compute @workgroup_size(WG)
fn sweep(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = invocation_id(gid, nwg);
    if i >= P.grid.n { return; }
    let p = vec3<i32>(voxel_coords(P.grid, i));
    let ext = vec3<i32>(i32(P.grid.nx), i32(P.grid.ny), i32(P.grid.nz));
    let di = diffusivity(i);
    let inv_h2 = 1.0 / (P.voxel_size_um * P.voxel_size_um);
    var num = source[i];
    var den = P.decay_per_day;
    // Faces in the order −x, +x, −y, +y, −z, +z (the CPU twin uses the same order).
    for (var f = 0u; f < 6u; f++) {
        var q = p;
        let axis = f / 2u;
        q[axis] += select(-1, 1, (f & 1u) == 1u);
        // Zero flux through the block faces: a missing neighbour contributes nothing.
        if q[axis] < 0 || q[axis] >= ext[axis] { continue; }
        let j = voxel_index(P.grid, vec3<u32>(q));
        let dj = diffusivity(j);
        let df = select(0.0, 2.0 * di * dj / (di + dj), di + dj > 0.0) * inv_h2;
        num += df * c_in[j];
        den += df;
    }
    c_out[i] = num / den;
}
