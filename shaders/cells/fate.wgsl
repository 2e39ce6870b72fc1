// Fate at the end of a step: ageing and death of osteoclasts (lifespan),
// osteoblasts (lifespan; a fraction embed as osteocytes in bone), and the
// survival flags and state counts every agent type feeds to compaction.
// One invocation per cell. The `census_*` entry points count the same
// states without changing any cell (day 0, before any fate has run).

#import common/lattice
#import common/rng
#import common/agents
#import common/params
#import common/surface

@group(0) @binding(2) var<storage, read_write> cells: array<Agent>;
@group(0) @binding(3) var<storage, read_write> alive: array<u32>;
@group(0) @binding(4) var<storage, read_write> embed: array<u32>;
// counts: slots COUNT_* of common/constants; embeddings are the scan total of `embed`.
@group(0) @binding(5) var<storage, read_write> counts: array<atomic<u32>>;

fn count_osteocyte(a: Agent) {
    if a.state == STATE_ALIVE { atomicAdd(&counts[COUNT_OSTEOCYTES_ALIVE], 1u); }
    if senses_disuse(a) { atomicAdd(&counts[COUNT_OSTEOCYTES_DISUSE], 1u); }
    if a.state == STATE_APOPTOTIC { atomicAdd(&counts[COUNT_OSTEOCYTES_APOPTOTIC], 1u); }
}

fn count_osteoclast(a: Agent) {
    // Precursors (negative age) are not osteoclasts yet.
    if a.state != STATE_DEAD && !is_precursor(a) { atomicAdd(&counts[COUNT_OSTEOCLASTS], 1u); }
}

fn count_osteoblast(a: Agent) {
    if a.state == STATE_ALIVE { atomicAdd(&counts[COUNT_OSTEOBLASTS], 1u); }
}

@compute @workgroup_size(WG)
fn census_osteocytes(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let k = invocation_id(gid, nwg);
    if k < P.n_osteocytes { count_osteocyte(cells[k]); }
}

@compute @workgroup_size(WG)
fn census_osteoclasts(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let k = invocation_id(gid, nwg);
    if k < P.n_osteoclasts { count_osteoclast(cells[k]); }
}

@compute @workgroup_size(WG)
fn census_osteoblasts(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let k = invocation_id(gid, nwg);
    if k < P.n_osteoblasts { count_osteoblast(cells[k]); }
}

@compute @workgroup_size(WG)
fn fate_osteocytes(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let k = invocation_id(gid, nwg);
    if k >= P.n_osteocytes { return; }
    let s = cells[k].state;
    alive[k] = select(1u, 0u, s == STATE_DEAD);
    count_osteocyte(cells[k]);
}

@compute @workgroup_size(WG)
fn fate_osteoclasts(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let k = invocation_id(gid, nwg);
    if k >= P.n_osteoclasts { return; }
    var a = cells[k];
    if a.state != STATE_DEAD {
        a.age_days += P.dt_days;
        if a.age_days >= P.oc_lifespan_days { a.state = STATE_DEAD; }
        cells[k] = a;
    }
    alive[k] = select(1u, 0u, a.state == STATE_DEAD);
    count_osteoclast(a);
}

@compute @workgroup_size(WG)
fn fate_osteoblasts(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let k = invocation_id(gid, nwg);
    if k >= P.n_osteoblasts { return; }
    var a = cells[k];
    if a.state == STATE_ALIVE {
        a.age_days += P.dt_days;
        // It has filled its voxel: with the lacunar density of bone it stays
        // inside as an osteocyte, so new bone is populated like old (the
        // osteocyte network is renewed by remodeling). One draw per filled
        // voxel however long the cell waits in it (timer_days marks the
        // draw; a move clears it).
        var embeds = false;
        if mineral[a.voxel] >= 1.0 && a.timer_days == 0.0 {
            a.timer_days = 1.0;
            embeds = rng_uniform(P.seed, P.step, a.id, PURPOSE_EMBED) < P.osteocyte_seed_prob;
        }
        if !touches_bone(a.voxel) && mineral[a.voxel] < BONE_THRESHOLD {
            // Its bone was resorbed from under it: an osteoblast forms only
            // on bone, so it is lost rather than leave matrix in the marrow.
            a.state = STATE_DEAD;
        } else if embeds {
            a.state = STATE_EMBED;
        } else if a.age_days >= P.ob_lifespan_days {
            // Retired as a lining cell.
            a.state = STATE_DEAD;
        }
        cells[k] = a;
    }
    alive[k] = select(0u, 1u, a.state == STATE_ALIVE);
    embed[k] = select(0u, 1u, a.state == STATE_EMBED);
    count_osteoblast(a);
}
