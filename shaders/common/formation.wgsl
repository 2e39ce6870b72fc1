// Where osteoblasts may form bone, with the fields it reads besides those
// of common/surface (an importer binds them by these names).
#import common/surface

@group(0) @binding(20) var<storage, read> coupling: array<f32>;
@group(0) @binding(21) var<storage, read> sclerostin: array<f32>;

// The strongest coupling signal on a voxel and its face neighbours: the
// resorption an osteoblast there would answer.
fn neighbourhood_coupling(i: u32) -> f32 {
    var c = coupling[i];
    for (var d = 0u; d < 6u; d++) {
        let n = face_neighbour(P.grid, i, d);
        if n != NO_TARGET { c = max(c, coupling[n]); }
    }
    return c;
}

// Remodeling: osteoblasts refill recent resorption cavities, voxels whose
// own coupling shows they were bone lately, and no further. Modeling: where
// sclerostin is low (Wnt on: strong loading, anti-sclerostin antibody) they
// also form on quiescent surfaces.
fn may_form(i: u32) -> bool {
    if sclerostin[i] * P.sclerostin_effective < P.ob_modeling_sclerostin { return true; }
    return coupling[i] >= P.ob_refill_coupling;
}

// The face of marrow voxel i whose bone neighbour an osteoclast left part
// resorbed (still bone, not full) and that may be formed on: the most
// resorbed one, lowest direction on ties; NO_TARGET if none. An osteoblast
// lays matrix on the bone it faces before it fills its own voxel, so a
// cavity shallower than a voxel is refilled too.
fn refill_face(i: u32) -> u32 {
    var best = NO_TARGET;
    var best_m = 1.0;
    for (var d = 0u; d < 6u; d++) {
        let n = face_neighbour(P.grid, i, d);
        if n == NO_TARGET { continue; }
        let m = mineral[n];
        if m >= BONE_THRESHOLD && m < best_m && may_form(n) {
            best_m = m;
            best = d;
        }
    }
    return best;
}

// Filling marrow voxel i with bone would change the topology of the
// structure (see `filling_keeps_topology`).
fn seals(i: u32) -> bool {
    return mineral[i] < BONE_THRESHOLD && !filling_keeps_topology(i);
}

// An osteoblast on voxel i has work there: its own voxel (unless filling it
// would seal marrow in) or a part-resorbed bone face neighbour to fill.
fn may_form_from(i: u32) -> bool {
    return (may_form(i) && !seals(i)) || refill_face(i) != NO_TARGET;
}
