// Where osteoblasts may form bone. The importing shader declares
// `P: StepParams`, `coupling: array<f32>` and `sclerostin: array<f32>`.

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
