// Movement of surface cells in two passes so that no result depends on
// scheduling: `claim_*` picks a free surface voxel and bids for it with
// atomicMax(~rank) (lowest rank wins; osteoclasts rank before osteoblasts),
// `settle_*` moves the winners and picks each osteoclast's resorption face
// and each osteoblast's formation face.
// One invocation per cell.

#import common/lattice
#import common/rng
#import common/agents
#import common/params
#import common/surface
#import common/formation

@group(0) @binding(2) var<storage, read> occupant: array<u32>;
@group(0) @binding(3) var<storage, read> rankl: array<f32>;
@group(0) @binding(4) var<storage, read_write> claims: array<atomic<u32>>;
@group(0) @binding(5) var<storage, read_write> cells: array<Agent>;


// One of the face neighbours of `here` with weight w[d] > 0, drawn in
// proportion to w; NO_TARGET if all weights are 0.
fn draw_neighbour(here: u32, id: u32, w: array<f32, 6>, total: f32) -> u32 {
    if total <= 0.0 { return NO_TARGET; }
    var u = rng_uniform(P.seed, P.step, id, PURPOSE_MOVE_WHERE) * total;
    for (var d = 0u; d < 6u; d++) {
        if w[d] > 0.0 {
            if u < w[d] { return face_neighbour(P.grid, here, d); }
            u -= w[d];
        }
    }
    // Rounding left u just above the total: the last candidate.
    for (var d = 5u; d < 6u; d--) {
        if w[d] > 0.0 { return face_neighbour(P.grid, here, d); }
    }
    return NO_TARGET;
}

fn is_free_surface(n: u32) -> bool {
    return n != NO_TARGET && occupant[n] == 0u && is_surface(n);
}

// A free surface voxel next to `here`, drawn with weights exp(bias * ΔRANKL);
// NO_TARGET if there is none.
fn pick_destination(here: u32, id: u32, bias: f32) -> u32 {
    var w: array<f32, 6>;
    var total = 0.0;
    let r0 = rankl[here];
    for (var d = 0u; d < 6u; d++) {
        w[d] = 0.0;
        let n = face_neighbour(P.grid, here, d);
        if !is_free_surface(n) { continue; }
        w[d] = exp(bias * (rankl[n] - r0) / (r0 + P.oc_rankl_half));
        total += w[d];
    }
    return draw_neighbour(here, id, w, total);
}

fn bid(k: u32, rank: u32, dest: u32) {
    var a = cells[k];
    a.aim = dest;
    cells[k] = a;
    if dest != NO_TARGET {
        atomicMax(&claims[dest], 0xffffffffu - rank);
    }
}

fn has_resorbable_face(i: u32) -> bool {
    for (var d = 0u; d < 6u; d++) {
        let n = face_neighbour(P.grid, i, d);
        if n != NO_TARGET && mineral[n] > 0.0 && mineral[n] >= mineral[i] { return true; }
    }
    return false;
}

@compute @workgroup_size(WG)
fn claim_osteoclasts(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let k = invocation_id(gid, nwg);
    if k >= P.n_osteoclasts { return; }
    let a = cells[k];
    if a.state == STATE_DEAD { return; }
    // A precursor differentiates where it was recruited.
    if is_precursor(a) {
        bid(k, k, NO_TARGET);
        return;
    }
    // With bone to resorb, a cell moves on at oc_move_per_day; without, it must.
    var moving = true;
    if has_resorbable_face(a.voxel) {
        let p = 1.0 - exp(-P.oc_move_per_day * P.dt_days);
        moving = rng_uniform(P.seed, P.step, a.id, PURPOSE_MOVE) < p;
    }
    var dest = NO_TARGET;
    if moving {
        dest = pick_destination(a.voxel, a.id, P.oc_chemotaxis);
    }
    bid(k, k, dest);
}

@compute @workgroup_size(WG)
fn claim_osteoblasts(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let k = invocation_id(gid, nwg);
    if k >= P.n_osteoblasts { return; }
    var a = cells[k];
    if a.state == STATE_DEAD { return; }
    // An osteoblast with no bone left to fill where it sits (its voxel full
    // or no longer a place to form, no part-resorbed bone facing it) steps
    // on to a free neighbour where it may form; with none left (occupied
    // ones aside) its work is done and it retires as a lining cell.
    var dest = NO_TARGET;
    let own_done = mineral[a.voxel] >= 1.0 || !may_form(a.voxel) || seals(a.voxel);
    if own_done && refill_face(a.voxel) == NO_TARGET {
        var w: array<f32, 6>;
        var total = 0.0;
        var sites = 0u;
        for (var d = 0u; d < 6u; d++) {
            w[d] = 0.0;
            let n = face_neighbour(P.grid, a.voxel, d);
            if n == NO_TARGET || !is_surface(n) || !may_form_from(n) { continue; }
            sites += 1u;
            if occupant[n] == 0u {
                w[d] = 1.0;
                total += 1.0;
            }
        }
        if sites == 0u && P.ob_refill_coupling > 0.0 {
            a.state = STATE_DEAD;
            cells[k] = a;
            return;
        }
        dest = draw_neighbour(a.voxel, a.id ^ 0x80000000u, w, total);
    }
    bid(k, P.n_osteoclasts + k, dest);
}

fn settle(k: u32, rank: u32) {
    var a = cells[k];
    if a.state == STATE_DEAD { return; }
    if a.aim != NO_TARGET && atomicLoad(&claims[a.aim]) == 0xffffffffu - rank {
        a.voxel = a.aim;
        a.timer_days = 0.0;
    }
    a.aim = NO_TARGET;
    cells[k] = a;
}

@compute @workgroup_size(WG)
fn settle_osteoclasts(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let k = invocation_id(gid, nwg);
    if k >= P.n_osteoclasts { return; }
    settle(k, k);
    var a = cells[k];
    if a.state == STATE_DEAD || is_precursor(a) { return; }
    // Resorb the most exposed bone face neighbour (most marrow faces: the
    // rim of a pit, a ridge), then the most mineralised, then the lowest
    // direction: the lacuna spreads along the surface instead of digging
    // straight into the strut.
    var best = NO_TARGET;
    var best_score = 0.0;
    for (var d = 0u; d < 6u; d++) {
        let n = face_neighbour(P.grid, a.voxel, d);
        if n == NO_TARGET || mineral[n] <= 0.0 { continue; }
        let score = f32(marrow_faces(n)) + mineral[n];
        if score > best_score {
            best_score = score;
            best = d;
        }
    }
    a.aim = best;
    cells[k] = a;
}

@compute @workgroup_size(WG)
fn settle_osteoblasts(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let k = invocation_id(gid, nwg);
    if k >= P.n_osteoblasts { return; }
    settle(k, P.n_osteoclasts + k);
    var a = cells[k];
    if a.state == STATE_DEAD { return; }
    // Fill the part-resorbed bone it faces first (NO_TARGET: its own voxel),
    // but never close over marrow still open beneath it.
    a.aim = refill_face(a.voxel);
    if a.aim == NO_TARGET && seals(a.voxel) { a.aim = AIM_IDLE; }
    cells[k] = a;
}
