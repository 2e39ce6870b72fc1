// Resorption and formation as a per-voxel gather, so each voxel is written
// by exactly one invocation: osteoclasts on face neighbours that face this
// voxel take mineral; osteoblasts on face neighbours that face it, or one on
// this voxel facing none, add it. Records what was
// resorbed and formed (for mass balance) and lays down `coupling` where bone
// was removed. One invocation per voxel.

#import common/lattice
#import common/agents
#import common/params

@group(0) @binding(0) var<uniform> P: StepParams;
@group(0) @binding(1) var<storage, read_write> mineral: array<f32>;
@group(0) @binding(2) var<storage, read> occupant: array<u32>;
@group(0) @binding(3) var<storage, read> osteoclasts: array<Agent>;
@group(0) @binding(4) var<storage, read_write> coupling: array<f32>;
@group(0) @binding(5) var<storage, read_write> resorbed: array<f32>;
@group(0) @binding(6) var<storage, read_write> formed: array<f32>;
@group(0) @binding(7) var<storage, read> sclerostin: array<f32>;
@group(0) @binding(8) var<storage, read> osteoblasts: array<Agent>;

// Sclerostin's brake on matrix apposition relative to the basal signal
// (mean 1): 1 at basal, below under disuse, up to 1 + 1/half^n when it is
// absent (loading, anti-sclerostin antibody).
fn apposition_factor(i: u32) -> f32 {
    let s = sclerostin[i] * P.sclerostin_effective / P.ob_sclerostin_half;
    let basal = 1.0 / P.ob_sclerostin_half;
    return (1.0 + pow(basal, P.ob_sclerostin_hill)) / (1.0 + pow(s, P.ob_sclerostin_hill));
}

@compute @workgroup_size(WG)
fn remodel(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = invocation_id(gid, nwg);
    if i >= P.grid.n { return; }
    var take = 0.0;
    var add = 0.0;
    let fill = P.ob_fill_fraction_per_day * P.dt_days;
    for (var d = 0u; d < 6u; d++) {
        let n = face_neighbour(P.grid, i, d);
        if n == NO_TARGET { continue; }
        let occ = occupant[n];
        if occ == 0u { continue; }
        // A cell on n works in the direction from n back to i (d ^ 1).
        let slot = occupant_slot(occ);
        if occupant_kind(occ) == KIND_OSTEOCLAST && osteoclasts[slot].aim == (d ^ 1u) {
            take += P.oc_resorb_fraction_per_day * P.dt_days;
        }
        if occupant_kind(occ) == KIND_OSTEOBLAST && osteoblasts[slot].aim == (d ^ 1u) {
            add += fill * apposition_factor(n);
        }
    }
    let own = occupant[i];
    if own != 0u && occupant_kind(own) == KIND_OSTEOBLAST
        && osteoblasts[occupant_slot(own)].aim == NO_TARGET {
        add += fill * apposition_factor(i);
    }
    let m = mineral[i];
    let r = min(m, take);
    let f = min(1.0 - (m - r), add);
    mineral[i] = m - r + f;
    resorbed[i] = r;
    formed[i] = f;
    // A cavity's signal lapses only while no osteoblast fills it: a cavity
    // whose refill has begun stays open until the refill ends.
    let keep = select(P.coupling_keep, 1.0, f > 0.0);
    coupling[i] = coupling[i] * keep + r;
}
