// Recruitment of surface cells: occupancy of the lattice, per-voxel birth
// flags (osteoclasts from effective RANKL; osteoblasts from coupling and
// strain, suppressed by sclerostin), and scatter of births to scanned slots.
// occupy_*: one invocation per cell; recruit_*: one per voxel.

#import common/lattice
#import common/rng
#import common/agents
#import common/params
#import common/surface
#import common/formation

@group(0) @binding(2) var<storage, read> sed_unit: array<f32>;
@group(0) @binding(3) var<storage, read> rankl: array<f32>;
@group(0) @binding(6) var<storage, read_write> occupant: array<u32>;
@group(0) @binding(7) var<storage, read_write> oc_flags: array<u32>;
@group(0) @binding(8) var<storage, read_write> ob_flags: array<u32>;
@group(0) @binding(9) var<storage, read> oc_offsets: array<u32>;
@group(0) @binding(10) var<storage, read> ob_offsets: array<u32>;
@group(0) @binding(11) var<storage, read_write> osteoclasts: array<Agent>;
@group(0) @binding(12) var<storage, read_write> osteoblasts: array<Agent>;

@compute @workgroup_size(WG)
fn occupy_osteoclasts(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let k = invocation_id(gid, nwg);
    if k >= P.n_osteoclasts || osteoclasts[k].state == STATE_DEAD { return; }
    occupant[osteoclasts[k].voxel] = occupant_code(KIND_OSTEOCLAST, k);
}

@compute @workgroup_size(WG)
fn occupy_osteoblasts(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let k = invocation_id(gid, nwg);
    if k >= P.n_osteoblasts || osteoblasts[k].state == STATE_DEAD { return; }
    occupant[osteoblasts[k].voxel] = occupant_code(KIND_OSTEOBLAST, k);
}


// Probabilities of an osteoclast and an osteoblast birth on voxel i this step.
fn birth_probabilities(i: u32) -> vec2<f32> {
    let r = rankl[i] * P.rankl_effective;
    let rate_oc = P.oc_recruit_per_day * r / (r + P.oc_rankl_half);
    let c = neighbourhood_coupling(i);
    var overload = 0.0;
    for (var d = 0u; d < 6u; d++) {
        let n = face_neighbour(P.grid, i, d);
        if n == NO_TARGET { continue; }
        if mineral[n] >= BONE_THRESHOLD && P.stimulus_ref > 0.0 {
            overload = max(overload, P.load_factor * sed_unit[n] / P.stimulus_ref - 1.0);
        }
    }
    let s = sclerostin[i] * P.sclerostin_effective;
    let drive = c / (c + P.ob_coupling_half) + P.ob_mech_weight * overload;
    // Sclerostin blocks Wnt signalling in osteoblast precursors (a Hill brake).
    var rate_ob = P.ob_recruit_per_day * drive / (1.0 + pow(s / P.ob_sclerostin_half, P.ob_sclerostin_hill));
    if !may_form_from(i) { rate_ob = 0.0; }
    return vec2<f32>(1.0 - exp(-rate_oc * P.dt_days), 1.0 - exp(-rate_ob * P.dt_days));
}

@compute @workgroup_size(WG)
fn recruit_flags(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = invocation_id(gid, nwg);
    if i >= P.grid.n { return; }
    var oc = 0u;
    var ob = 0u;
    if occupant[i] == 0u && is_surface(i) {
        let p = birth_probabilities(i);
        // One draw decides both: at most one new cell per voxel.
        let u = rng_uniform(P.seed, P.step, i, PURPOSE_RECRUIT);
        if u < p.x {
            oc = 1u;
        } else if u < p.x + p.y {
            ob = 1u;
        }
    }
    oc_flags[i] = oc;
    ob_flags[i] = ob;
}

// Day 0: surface cells at their basal steady-state densities, so a run starts
// mid-remodeling rather than from an empty surface: osteoclasts and their
// precursors at (recruitment × (differentiation + lifespan)), osteoblasts at
// as many as refill what the active ones
// resorb (resorption / apposition per cell, times the share of its life an
// osteoclast spends resorbing). Ages are drawn in the scatter.
// Share of time an osteoclast has bone to resorb (the rest it walks the
// surface): measured as ≈ 0.4 on the human demo lattice at 1 g.
const RESORBING_SHARE: f32 = 0.4;
@compute @workgroup_size(WG)
fn initial_flags(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = invocation_id(gid, nwg);
    if i >= P.grid.n { return; }
    var oc = 0u;
    var ob = 0u;
    if occupant[i] == 0u && is_surface(i) {
        let r = rankl[i] * P.rankl_effective;
        let rate = P.oc_recruit_per_day * r / (r + P.oc_rankl_half);
        let p_oc = min(rate * (P.oc_differentiation_days + P.oc_lifespan_days), 1.0);
        let p_active = min(rate * P.oc_lifespan_days, 1.0);
        let p_ob = min(p_active * RESORBING_SHARE * P.oc_resorb_fraction_per_day / max(P.ob_fill_fraction_per_day, 1e-9), 1.0 - p_oc);
        let u = rng_uniform(P.seed, 0u, i, PURPOSE_RECRUIT);
        if u < p_oc {
            oc = 1u;
        } else if u < p_oc + p_ob {
            ob = 1u;
        }
    }
    oc_flags[i] = oc;
    ob_flags[i] = ob;
}

fn newborn(voxel: u32, id: u32) -> Agent {
    var a: Agent;
    a.voxel = voxel;
    a.id = id;
    a.state = STATE_ALIVE;
    a.aim = NO_TARGET;
    a.age_days = 0.0;
    a.setpoint = 0.0;
    a.timer_days = 0.0;
    a.activity = 0.0;
    return a;
}

// Births go after the live cells, in voxel order (slots from the scans).
@compute @workgroup_size(WG)
fn recruit_scatter(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = invocation_id(gid, nwg);
    if i >= P.grid.n { return; }
    // Cells placed on day 0 (step 0) are of any age within their lifespan;
    // an osteoclast's starts at −differentiation (a precursor).
    let age_u = select(0.0, rng_uniform(P.seed, 0u, i, PURPOSE_FATE), P.step == 0u);
    if oc_flags[i] != 0u {
        let slot = P.n_osteoclasts + oc_offsets[i];
        var a = newborn(i, P.next_osteoclast_id + oc_offsets[i]);
        a.age_days = age_u * (P.oc_differentiation_days + P.oc_lifespan_days) - P.oc_differentiation_days;
        osteoclasts[slot] = a;
        occupant[i] = occupant_code(KIND_OSTEOCLAST, slot);
    } else if ob_flags[i] != 0u {
        let slot = P.n_osteoblasts + ob_offsets[i];
        var a = newborn(i, P.next_osteoblast_id + ob_offsets[i]);
        a.age_days = age_u * P.ob_lifespan_days;
        osteoblasts[slot] = a;
        occupant[i] = occupant_code(KIND_OSTEOBLAST, slot);
    }
}
