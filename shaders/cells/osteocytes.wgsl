// Osteocytes: seeding in bone voxels, daily sensing (set-point, secretion,
// apoptosis, removal with their voxel) and birth from embedded osteoblasts.
// seed_* and embed_* run one invocation per voxel / osteoblast; sense one per osteocyte.

#import common/lattice
#import common/rng
#import common/agents
#import common/params

@group(0) @binding(0) var<uniform> P: StepParams;
@group(0) @binding(1) var<storage, read> mineral: array<f32>;
@group(0) @binding(2) var<storage, read> sed_unit: array<f32>;
@group(0) @binding(3) var<storage, read_write> flags: array<u32>;
@group(0) @binding(4) var<storage, read> offsets: array<u32>;
@group(0) @binding(5) var<storage, read_write> osteocytes: array<Agent>;
@group(0) @binding(6) var<storage, read_write> rankl_source: array<f32>;
@group(0) @binding(7) var<storage, read_write> sclerostin_source: array<f32>;
@group(0) @binding(8) var<storage, read> osteoblasts: array<Agent>;

// 1 where a bone voxel gets an osteocyte (Bernoulli at the seeding density).
@compute @workgroup_size(WG)
fn seed_flags(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = invocation_id(gid, nwg);
    if i >= P.grid.n { return; }
    let bone = mineral[i] >= BONE_THRESHOLD;
    let u = rng_uniform(P.seed, 0u, i, PURPOSE_OSTEOCYTE_SEED);
    flags[i] = select(0u, 1u, bone && u < P.osteocyte_seed_prob);
}

fn new_osteocyte(voxel: u32, id: u32) -> Agent {
    var a: Agent;
    a.voxel = voxel;
    a.id = id;
    a.state = STATE_ALIVE;
    a.aim = NO_TARGET;
    a.age_days = 0.0;
    // Seeded cells adapted to the habitual 1 g load, whose factor is 1.
    a.setpoint = sed_unit[voxel];
    a.timer_days = 0.0;
    a.activity = 0.0;
    return a;
}

// Scatter seeded osteocytes to their scanned slots (ordered by voxel index).
@compute @workgroup_size(WG)
fn seed_scatter(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = invocation_id(gid, nwg);
    if i >= P.grid.n || flags[i] == 0u { return; }
    let slot = offsets[i];
    osteocytes[slot] = new_osteocyte(i, P.next_osteocyte_id + slot);
}

// Daily sensing. Writes this cell's RANKL and sclerostin sources into its
// voxel (one osteocyte per voxel, so no two cells write the same place).
@compute @workgroup_size(WG)
fn sense(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let k = invocation_id(gid, nwg);
    if k >= P.n_osteocytes { return; }
    var a = osteocytes[k];
    if a.state == STATE_DEAD { return; }
    // Resorbed with its voxel: removed.
    if mineral[a.voxel] < BONE_THRESHOLD {
        a.state = STATE_DEAD;
        osteocytes[k] = a;
        return;
    }
    a.age_days += P.dt_days;
    if a.state == STATE_APOPTOTIC {
        a.timer_days += P.dt_days;
        if a.timer_days >= P.apoptotic_clear_days {
            a.state = STATE_DEAD;   // cleared: an empty lacuna
        } else {
            rankl_source[a.voxel] = P.rankl_source * P.rankl_apoptotic_factor;
        }
        osteocytes[k] = a;
        return;
    }
    let s = P.load_factor * sed_unit[a.voxel];
    if a.setpoint > 1e-30 {
        a.setpoint += (s - a.setpoint) * P.adapt_fraction;
    } else {
        // A cell embedded in bone formed since the last FE solve (SED 0 there)
        // has no set-point yet: it adopts the first load it senses, instead
        // of reading any load as an enormous overload.
        a.setpoint = s;
    }
    var disuse = 0.0;
    var overload = 0.0;
    if a.setpoint > 1e-30 {
        // Lazy zone (Huiskes et al. 1987): within ±w of the set-point the
        // cell neither signals disuse nor overload; full unloading is still
        // full disuse.
        let r = s / a.setpoint;
        let w = P.osteocyte_lazy_zone;
        disuse = clamp((1.0 - w - r) / (1.0 - w), 0.0, 1.0);
        overload = max(r - 1.0 - w, 0.0);
    }
    a.activity = disuse;
    let hazard = P.apoptosis_basal_per_day + P.apoptosis_disuse_per_day * disuse;
    let p_die = 1.0 - exp(-hazard * P.dt_days);
    if rng_uniform(P.seed, P.step, a.id, PURPOSE_APOPTOSIS) < p_die {
        a.state = STATE_APOPTOTIC;
        a.timer_days = 0.0;
        rankl_source[a.voxel] = P.rankl_source * P.rankl_apoptotic_factor;
    } else {
        rankl_source[a.voxel] = P.rankl_source * (1.0 + P.rankl_disuse_gain * disuse);
        sclerostin_source[a.voxel] = P.sclerostin_source * (1.0 + P.sclerostin_disuse_gain * disuse)
            / (1.0 + P.sclerostin_overload_gain * overload);
    }
    osteocytes[k] = a;
}

// Osteoblasts flagged for embedding become osteocytes appended after the
// P.n_osteocytes live ones (slots from a scan of embed_flags).
@compute @workgroup_size(WG)
fn embed_scatter(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let k = invocation_id(gid, nwg);
    if k >= P.n_osteoblasts || osteoblasts[k].state != STATE_EMBED { return; }
    let slot = P.n_osteocytes + offsets[k];
    var a = new_osteocyte(osteoblasts[k].voxel, P.next_osteocyte_id + offsets[k]);
    // A cell embedded now adapts to the load it is formed under.
    a.setpoint = P.load_factor * sed_unit[a.voxel];
    osteocytes[slot] = a;
}
