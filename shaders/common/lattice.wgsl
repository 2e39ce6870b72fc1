// Lattice indexing shared by every kernel: x fastest, then y, then z
// (the MetaImage order). Invocation ids fold 2-D dispatches (see kernel.rs).

#import common/constants

// Workgroup size, set per pipeline as an override constant.
override WG: u32 = 64u;

struct Grid {
    nx: u32,
    ny: u32,
    nz: u32,
    n: u32,
}

fn voxel_index(g: Grid, p: vec3<u32>) -> u32 {
    return p.x + g.nx * (p.y + g.ny * p.z);
}

fn voxel_coords(g: Grid, i: u32) -> vec3<u32> {
    let x = i % g.nx;
    let yz = i / g.nx;
    return vec3<u32>(x, yz % g.ny, yz / g.ny);
}

// Periodic neighbour along `axis` at offset `d` (|d| < extent).
fn wrap_offset(g: Grid, p: vec3<u32>, axis: u32, d: i32) -> vec3<u32> {
    var q = vec3<i32>(p);
    let ext = vec3<i32>(i32(g.nx), i32(g.ny), i32(g.nz));
    q[axis] = ((q[axis] + d) % ext[axis] + ext[axis]) % ext[axis];
    return vec3<u32>(q);
}

// Linear invocation id of a 1-D dispatch folded into 2-D.
fn invocation_id(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}
