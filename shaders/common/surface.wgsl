// Bone-surface tests shared by the cell kernels. The importing shader
// declares `P: StepParams` and `mineral: array<f32>`.

fn touches_bone(i: u32) -> bool {
    for (var d = 0u; d < 6u; d++) {
        let n = face_neighbour(P.grid, i, d);
        if n != NO_TARGET && mineral[n] >= BONE_THRESHOLD { return true; }
    }
    return false;
}

// A marrow voxel with a bone face neighbour: where surface cells live.
fn is_surface(i: u32) -> bool {
    return mineral[i] < BONE_THRESHOLD && touches_bone(i);
}
