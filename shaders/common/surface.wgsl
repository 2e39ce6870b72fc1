// Bone-surface tests shared by the cell kernels, with the two resources
// they read (an importer binds `P` and `mineral` by these names).
#import common/lattice
#import common/agents
#import common/params

@group(0) @binding(0) var<uniform> P: StepParams;
@group(0) @binding(1) var<storage, read> mineral: array<f32>;

fn touches_bone(i: u32) -> bool {
    for (var d = 0u; d < 6u; d++) {
        let n = face_neighbour(P.grid, i, d);
        if n != NO_TARGET && mineral[n] >= BONE_THRESHOLD { return true; }
    }
    return false;
}

// Marrow face neighbours of voxel i inside the block (0–6).
fn marrow_faces(i: u32) -> u32 {
    var count = 0u;
    for (var d = 0u; d < 6u; d++) {
        let n = face_neighbour(P.grid, i, d);
        if n != NO_TARGET && mineral[n] < BONE_THRESHOLD { count += 1u; }
    }
    return count;
}

// A marrow voxel with a bone face neighbour: where surface cells live.
fn is_surface(i: u32) -> bool {
    return mineral[i] < BONE_THRESHOLD && touches_bone(i);
}

// Marrow (or outside the block, which is open) at offset o of voxel p.
fn marrow_at(p: vec3<i32>, o: vec3<i32>) -> bool {
    let q = p + o;
    let g = vec3<i32>(i32(P.grid.nx), i32(P.grid.ny), i32(P.grid.nz));
    if any(q < vec3<i32>(0)) || any(q >= g) { return true; }
    let j = u32(q.x) + P.grid.nx * (u32(q.y) + P.grid.ny * u32(q.z));
    return mineral[j] < BONE_THRESHOLD;
}

// Bit masks of the 3×3×3 neighbourhood, bit (x+1) + 3(y+1) + 9(z+1).
const N27: u32 = 0x7ffffffu;
const X_LO: u32 = 0x1249249u; // x = -1
const X_HI: u32 = 0x4924924u; // x = +1
const Y_LO: u32 = 0x01c0e07u; // y = -1
const Y_HI: u32 = 0x70381c0u; // y = +1
const CENTRE: u32 = 0x2000u;
const FACES: u32 = 0x415410u; // bits 4, 10, 12, 14, 16, 22

fn shift_x(m: u32) -> u32 { return ((m & ~X_HI) << 1u) | ((m & ~X_LO) >> 1u); }
fn shift_y(m: u32) -> u32 { return ((m & ~Y_HI) << 3u) | ((m & ~Y_LO) >> 3u); }
fn shift_z(m: u32) -> u32 { return ((m << 9u) | (m >> 9u)) & N27; }

// The 6-neighbours, or the 26-neighbours, of a set of cells of the block.
fn dilate6(m: u32) -> u32 { return shift_x(m) | shift_y(m) | shift_z(m); }
fn dilate26(m: u32) -> u32 {
    let a = m | shift_x(m);
    let b = a | shift_y(a);
    return b | shift_z(b);
}

// Connected pieces of `cells` (6- or 26-connected within the block) that
// contain a cell of `seeds`.
fn pieces(cells: u32, seeds: u32, full: bool) -> u32 {
    var seen = 0u;
    var count = 0u;
    for (var b = 0u; b < 27u; b++) {
        let bit = 1u << b;
        if (seeds & cells & bit) == 0u || (seen & bit) != 0u { continue; }
        var piece = bit;
        for (var s = 0u; s < 26u; s++) {
            let grown = (piece | select(dilate6(piece), dilate26(piece), full)) & cells;
            if grown == piece { break; }
            piece = grown;
        }
        seen |= piece;
        count += 1u;
    }
    return count;
}

// Whether turning marrow voxel i into bone keeps the topology of bone and
// marrow (i is a simple point: one 26-connected piece of bone around it,
// at most one 6-connected piece of marrow next to it). Formation that
// would not keeps closing the mouth of a hole whose floor is still open
// (sealing marrow into the bone), closing a perforation, bridging two
// trabeculae, or laying a speck off the surface: bone is rebuilt on what is
// left of it, from the floor of a cavity up, and new connections are not
// made.
fn filling_keeps_topology(i: u32) -> bool {
    let c = vec3<i32>(voxel_coords(P.grid, i));
    var marrow = 0u;
    for (var b = 0u; b < 27u; b++) {
        let o = vec3<i32>(i32(b % 3u), i32((b / 3u) % 3u), i32(b / 9u)) - vec3<i32>(1);
        if b != 13u && marrow_at(c, o) { marrow |= 1u << b; }
    }
    let bone = N27 & ~marrow & ~CENTRE;
    // Marrow next to i through N18 (the 26-neighbourhood less its corners).
    let n18 = (marrow & ~(X_LO | X_HI)) | (marrow & ~(Y_LO | Y_HI)) | (marrow & ~0x7fc01ffu);
    return pieces(bone, bone, true) == 1u && pieces(n18, FACES, false) <= 1u;
}
