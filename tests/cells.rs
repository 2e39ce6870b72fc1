//! The cell model on the GPU: each kernel against a CPU oracle, mass
//! balance, determinism and the causal chain of unloading.

mod common;

use std::collections::HashMap;

use trabecula::cells::CellType;
use trabecula::cells::agents::{Agent, NO_TARGET, STATE_ALIVE, STATE_APOPTOTIC, STATE_DEAD};
use trabecula::cells::{
    StepParams, compact::Compact, recruit::Recruit, recruit::RecruitFields, remodel::Remodel,
};
use trabecula::gpu::{
    GpuContext, read_buffer, storage_buffer_init, storage_buffer_zeroed, uniform_buffer,
};
use trabecula::lattice::Lattice;
use trabecula::scan::Scan;
use trabecula::scene::{self, Scene};
use trabecula::sim::mechanics::uniform_sed;
use trabecula::sim::{NonFinite, Simulation, StepReport};

fn grid(dims: [usize; 3]) -> [u32; 4] {
    [
        dims[0] as u32,
        dims[1] as u32,
        dims[2] as u32,
        dims.iter().product::<usize>() as u32,
    ]
}

fn idx(dims: [usize; 3], x: usize, y: usize, z: usize) -> usize {
    x + dims[0] * (y + dims[1] * z)
}

/// A block whose lower `floor` z-layers are bone.
fn slab(dims: [usize; 3], floor: usize) -> Vec<f32> {
    (0..dims.iter().product::<usize>())
        .map(|i| {
            if i / (dims[0] * dims[1]) < floor {
                1.0
            } else {
                0.0
            }
        })
        .collect()
}

#[test]
fn compaction_keeps_exactly_the_live_agents_in_order() {
    let ctx = common::gpu();
    let n = 5000u32;
    let agents: Vec<Agent> = (0..n)
        .map(|k| Agent {
            voxel: k * 3,
            id: k,
            state: STATE_ALIVE,
            aim: NO_TARGET,
            age_days: k as f32,
            ..Default::default()
        })
        .collect();
    let keep: Vec<u32> = (0..n).map(|k| ((k * 7919) % 5 != 0) as u32).collect();
    let d = &ctx.device;
    let src = storage_buffer_init(d, "src", &agents);
    let keep_b = storage_buffer_init(d, "keep", &keep);
    let slots = storage_buffer_zeroed(d, "slots", 4 * n as u64);
    let dst = storage_buffer_zeroed(d, "dst", 32 * n as u64);
    let total = storage_buffer_zeroed(d, "total", 16);
    let mut scan = Scan::new(&ctx, 64).unwrap();
    let compact = Compact::new(&ctx, 64).unwrap();
    let mut enc = d.create_command_encoder(&Default::default());
    scan.record(&ctx, &mut enc, &keep_b, &slots, n, &total, 0);
    compact.record(&ctx, &mut enc, &src, &keep_b, &slots, &dst, n);
    ctx.submit_and_wait(enc);
    let live = read_buffer::<u32>(d, &ctx.queue, &total, 0, 1)[0];
    let expect: Vec<Agent> = agents
        .iter()
        .zip(&keep)
        .filter(|(_, k)| **k == 1)
        .map(|(a, _)| *a)
        .collect();
    assert_eq!(live as usize, expect.len());
    let got: Vec<Agent> = read_buffer(d, &ctx.queue, &dst, 0, live as u64);
    assert_eq!(got, expect);
}

fn base_params(dims: [usize; 3]) -> StepParams {
    StepParams {
        grid: grid(dims),
        seed: 42,
        step: 1,
        dt_days: 1.0,
        load_factor: 1.0,
        stimulus_ref: 1.0,
        rankl_effective: 1.0,
        sclerostin_effective: 1.0,
        oc_recruit_per_day: 0.3,
        oc_rankl_half: 2.0,
        ob_recruit_per_day: 0.4,
        ob_coupling_half: 0.5,
        ob_sclerostin_half: 1.0,
        ob_sclerostin_hill: 2.0,
        ob_mech_weight: 0.0,
        ..Default::default()
    }
}

#[test]
fn recruitment_matches_its_probabilities() {
    let ctx = common::gpu();
    let dims = [64, 64, 8];
    let n = grid(dims)[3] as usize;
    let mineral = slab(dims, 2);
    let (rankl, scl, coupling) = (1.5f32, 0.5f32, 0.8f32);
    let d = &ctx.device;
    let buf = |v: f32| storage_buffer_init(d, "f", &vec![v; n]);
    let m = storage_buffer_init(d, "mineral", &mineral);
    let (sed, r, s, c) = (buf(1.0), buf(rankl), buf(scl), buf(coupling));
    let occupant = storage_buffer_zeroed(d, "occ", 4 * n as u64);
    let (ocf, obf) = (
        storage_buffer_zeroed(d, "a", 4 * n as u64),
        storage_buffer_zeroed(d, "b", 4 * n as u64),
    );
    let recruit = Recruit::new(&ctx, 64).unwrap();
    // Osteoclast and osteoblast birth flags under `p`.
    let flags = |p: &StepParams| -> (Vec<u32>, Vec<u32>) {
        let pb = uniform_buffer(d, "p", p);
        let f = RecruitFields {
            mineral: &m,
            sed: &sed,
            rankl: &r,
            sclerostin: &s,
            coupling: &c,
            occupant: &occupant,
        };
        let mut enc = d.create_command_encoder(&Default::default());
        recruit.record_flags(&ctx, &mut enc, &pb, &f, (&ocf, &obf), n as u32, false);
        ctx.submit_and_wait(enc);
        (
            read_buffer(d, &ctx.queue, &ocf, 0, n as u64),
            read_buffer(d, &ctx.queue, &obf, 0, n as u64),
        )
    };
    let mut hits = [0u64; 2];
    let trials = 8u32;
    let p = base_params(dims);
    for step in 1..=trials {
        let (a, b) = flags(&StepParams { step, ..p });
        for i in 0..n {
            let z = i / (dims[0] * dims[1]);
            // Births only on the marrow layer touching the slab (z = 2).
            if z != 2 {
                assert_eq!(a[i] + b[i], 0, "birth off the surface at voxel {i}");
            }
            assert!(a[i] + b[i] <= 1);
            hits[0] += a[i] as u64;
            hits[1] += b[i] as u64;
        }
    }
    // Refill: below the cavity threshold a surface gets no osteoblasts,
    // unless sclerostin is low enough for modeling.
    for (refill, modeling, expect_ob) in [(0.9f32, 0.0f32, false), (0.9, 0.6, true)] {
        let (_, b) = flags(&StepParams {
            step: 99,
            ob_refill_coupling: refill,
            ob_modeling_sclerostin: modeling,
            ..p
        });
        let births = b.iter().sum::<u32>();
        assert_eq!(
            births > 0,
            expect_ob,
            "{births} osteoblast births (refill {refill}, modeling {modeling})"
        );
    }
    // The formula, independently: saturating RANKL; coupling over sclerostin.
    let p_oc = 1.0 - (-(0.3 * rankl / (rankl + 2.0)) as f64).exp();
    let rate_ob = 0.4 * (coupling / (coupling + 0.5)) / (1.0 + (scl / 1.0).powi(2));
    let p_ob = 1.0 - (-(rate_ob as f64)).exp();
    let surface = (dims[0] * dims[1]) as f64 * trials as f64;
    for (k, p) in [(0, p_oc), (1, p_ob)] {
        let mean = surface * p;
        let sd = (surface * p * (1.0 - p)).sqrt();
        let got = hits[k] as f64;
        assert!(
            (got - mean).abs() < 4.0 * sd,
            "type {k}: {got} births, expected {mean:.0} ± {sd:.0}"
        );
    }
}

/// A lone surface cell after one motion step from voxel (4, 4, 2), on the
/// surface of a slab of bone (z < 2) with the minerals `set`, coupling 1 on
/// the `coupled` voxels and 0 elsewhere, RANKL 1 but for `rankl`: `Some(cell)`
/// if it lives, `None` if it retired.
struct MotionCase<'a> {
    set: &'a [(usize, f32)],
    coupled: &'a [usize],
    rankl: &'a [(usize, f32)],
    sclerostin: f32,
    limits: (f32, f32),
    seed: u32,
}

fn motion_step(ctx: &GpuContext, case: &MotionCase, osteoclast: bool) -> Option<Agent> {
    use trabecula::cells::motion::Motion;
    let dims = [8, 8, 8];
    let n = 512;
    let at = idx(dims, 4, 4, 2);
    let mut mineral = slab(dims, 2);
    for &(v, m) in case.set {
        mineral[v] = m;
    }
    let mut coupling = vec![0.0f32; n];
    for &c in case.coupled {
        coupling[c] = 1.0;
    }
    let mut rankl = vec![1.0f32; n];
    for &(v, r) in case.rankl {
        rankl[v] = r;
    }
    let d = &ctx.device;
    let cell = [Agent {
        voxel: at as u32,
        id: 7,
        aim: NO_TARGET,
        ..Default::default()
    }];
    let (mb, occ, rankl, cb, sb, claims) = (
        storage_buffer_init(d, "m", &mineral),
        storage_buffer_zeroed(d, "occ", 4 * n as u64),
        storage_buffer_init(d, "r", &rankl),
        storage_buffer_init(d, "c", &coupling),
        storage_buffer_init(d, "s", &vec![case.sclerostin; n]),
        storage_buffer_zeroed(d, "claims", 4 * n as u64),
    );
    let (oc, ob) = if osteoclast {
        (&cell[..], &[Agent::default()][..])
    } else {
        (&[Agent::default()][..], &cell[..])
    };
    let (oc_b, ob_b) = (
        storage_buffer_init(d, "oc", oc),
        storage_buffer_init(d, "ob", ob),
    );
    let p = StepParams {
        seed: case.seed,
        n_osteoclasts: osteoclast as u32,
        n_osteoblasts: !osteoclast as u32,
        ob_refill_coupling: case.limits.0,
        ob_modeling_sclerostin: case.limits.1,
        oc_move_per_day: 1.0,
        oc_chemotaxis: 4.0,
        ..base_params(dims)
    };
    let pb = uniform_buffer(d, "p", &p);
    let mut enc = d.create_command_encoder(&Default::default());
    Motion::new(ctx, 64).unwrap().record(
        ctx,
        &mut enc,
        &pb,
        &mb,
        &occ,
        &rankl,
        (&cb, &sb),
        &claims,
        (&oc_b, osteoclast as u32),
        (&ob_b, !osteoclast as u32),
    );
    ctx.submit_and_wait(enc);
    let a: Vec<Agent> = read_buffer(d, &ctx.queue, if osteoclast { &oc_b } else { &ob_b }, 0, 1);
    (a[0].state != STATE_DEAD).then_some(a[0])
}

fn osteoblast_step(
    ctx: &GpuContext,
    set: &[(usize, f32)],
    coupled: &[usize],
    sclerostin: f32,
    limits: (f32, f32),
) -> Option<Agent> {
    let case = MotionCase {
        set,
        coupled,
        rankl: &[],
        sclerostin,
        limits,
        seed: 42,
    };
    motion_step(ctx, &case, false)
}

/// An osteoblast does not close the mouth of a pit whose floor is still
/// open: it moves down and fills the pit from its floor. On a flat surface
/// it fills its own voxel as before.
#[test]
fn osteoblasts_fill_a_pit_from_its_floor_and_never_seal_marrow_in() {
    let ctx = common::gpu();
    let dims = [8, 8, 8];
    let at = idx(dims, 4, 4, 2);
    let floor = idx(dims, 4, 4, 1);
    let refill = (0.05, 0.0);
    // (4,4,1) resorbed: `at` is the mouth of a one-voxel pit.
    let a = osteoblast_step(&ctx, &[(at, 0.3), (floor, 0.0)], &[at, floor], 1.0, refill);
    assert_eq!(a.map(|a| a.voxel as usize), Some(floor));
    // The pit refilled: the mouth is an ordinary surface voxel again.
    let a = osteoblast_step(&ctx, &[(at, 0.3)], &[at], 1.0, refill);
    assert_eq!(a.map(|a| (a.voxel as usize, a.aim)), Some((at, NO_TARGET)));
    // Over a trench along x, filling `at` would bridge its rims into a
    // tunnel (a new loop of bone): the trench's floor is filled first.
    let trench = [idx(dims, 3, 4, 1), floor, idx(dims, 5, 4, 1)];
    let set: Vec<(usize, f32)> = [(at, 0.3)]
        .into_iter()
        .chain(trench.map(|v| (v, 0.0)))
        .collect();
    let coupled = [at, trench[0], trench[1], trench[2]];
    let a = osteoblast_step(&ctx, &set, &coupled, 1.0, refill);
    assert_eq!(a.map(|a| a.voxel as usize), Some(floor));
}

/// An osteoclast resorbs the most exposed bone next to it: drawn by RANKL
/// into the one-voxel pit it dug, it widens the pit by its walls (bone with
/// marrow on two faces) instead of deepening it through the floor (one), so
/// lacunae spread along the surface rather than tunnel into the strut.
#[test]
fn osteoclasts_widen_pits_instead_of_tunnelling() {
    let ctx = common::gpu();
    let dims = [8, 8, 8];
    let pit = idx(dims, 4, 4, 1);
    // Walls a little less mineralised than the floor: exposure, not
    // mineral, decides.
    let set = [
        (pit, 0.0),
        (idx(dims, 3, 4, 1), 0.9),
        (idx(dims, 5, 4, 1), 0.9),
        (idx(dims, 4, 3, 1), 0.9),
        (idx(dims, 4, 5, 1), 0.9),
    ];
    for seed in 0..4 {
        let case = MotionCase {
            set: &set,
            coupled: &[pit],
            rankl: &[(pit, 20.0)],
            sclerostin: 1.0,
            limits: (0.05, 0.0),
            seed,
        };
        let a = motion_step(&ctx, &case, true).expect("osteoclasts do not retire here");
        assert_eq!(
            a.voxel as usize, pit,
            "seed {seed}: RANKL draws it into the pit"
        );
        // Directions 0–3 are ±x, ±y (the walls), 4 is −z (the floor).
        assert!(a.aim < 4, "seed {seed}: aims at {} in the pit", a.aim);
    }
    // On a flat surface the only bone it faces is below it.
    let case = MotionCase {
        set: &[],
        coupled: &[],
        rankl: &[],
        sclerostin: 1.0,
        limits: (0.05, 0.0),
        seed: 1,
    };
    let a = motion_step(&ctx, &case, true).expect("lives");
    assert_eq!(a.aim, 4);
}

#[test]
fn osteoblasts_refill_cavities_then_retire_unless_sclerostin_allows_modeling() {
    let ctx = common::gpu();
    let dims = [8, 8, 8];
    let at = idx(dims, 4, 4, 2);
    let cavity = idx(dims, 5, 4, 2);
    // The five free surface voxels around the filled one.
    let around = [
        idx(dims, 3, 4, 2),
        cavity,
        idx(dims, 4, 3, 2),
        idx(dims, 4, 5, 2),
        idx(dims, 4, 4, 3),
    ];
    let refill = (0.05, 0.0);
    let step = |fill: f32, cavity: Option<usize>, sclerostin: f32, limits: (f32, f32)| {
        osteoblast_step(&ctx, &[(at, fill)], cavity.as_slice(), sclerostin, limits)
            .map(|a| a.voxel as usize)
    };
    // A full voxel next to a cavity: on into the cavity.
    assert_eq!(step(1.0, Some(cavity), 1.0, refill), Some(cavity));
    // A cavity voxel still filling: it stays.
    assert_eq!(step(0.3, Some(at), 1.0, refill), Some(at));
    // Full, and only quiescent surface around: its work is done.
    assert_eq!(step(1.0, None, 1.0, refill), None);
    // Low sclerostin: modeling goes on over the quiescent surface.
    let modeling = step(1.0, None, 0.2, (0.05, 0.5));
    assert!(
        modeling.is_some_and(|v| around.contains(&v)),
        "{modeling:?}"
    );
    // Threshold 0: every surface may be formed on (no refill limit).
    let free = step(1.0, None, 1.0, (0.0, 0.0));
    assert!(free.is_some_and(|v| around.contains(&v)), "{free:?}");
}

#[test]
fn osteoblasts_fill_the_part_resorbed_bone_they_face_before_their_own_voxel() {
    let ctx = common::gpu();
    let dims = [8, 8, 8];
    let at = idx(dims, 4, 4, 2);
    let below = idx(dims, 4, 4, 1);
    let side = idx(dims, 5, 4, 1);
    let refill = (0.05, 0.0);
    // Its own voxel empty and quiescent; the bone below part resorbed
    // lately: it stays and aims down (direction 4, −z).
    let a = osteoblast_step(&ctx, &[(at, 0.0), (below, 0.7)], &[below], 1.0, refill);
    assert_eq!(a.map(|a| (a.voxel as usize, a.aim)), Some((at, 4)));
    // The same bone resorbed long ago (no coupling): nothing to refill, it retires.
    let a = osteoblast_step(&ctx, &[(at, 0.0), (below, 0.7)], &[], 1.0, refill);
    assert_eq!(a, None);
    // Its own voxel a cavity still filling, the bone below part resorbed:
    // the bone it faces comes first.
    let a = osteoblast_step(&ctx, &[(at, 0.3), (below, 0.7)], &[below], 1.0, refill);
    assert_eq!(a.map(|a| (a.voxel as usize, a.aim)), Some((at, 4)));
    // Bone below full (the cavity is elsewhere, under a neighbour): it steps
    // to the free voxel over the part-resorbed bone and will aim at it.
    let over_side = idx(dims, 5, 4, 2);
    let a = osteoblast_step(&ctx, &[(at, 1.0), (side, 0.6)], &[side], 1.0, refill);
    assert_eq!(a.map(|a| a.voxel as usize), Some(over_side));
}

#[test]
fn remodel_resorbs_and_forms_what_the_cpu_twin_says() {
    let ctx = common::gpu();
    let dims = [6, 6, 6];
    let n = 216;
    let mut mineral = slab(dims, 3);
    mineral[idx(dims, 1, 1, 2)] = 0.05; // nearly resorbed bone
    mineral[idx(dims, 4, 4, 3)] = 0.6; // an osteoblast's voxel, nearly full at 1
    mineral[idx(dims, 0, 4, 2)] = 0.7; // part-resorbed bone an osteoblast faces
    mineral[idx(dims, 0, 4, 3)] = 0.2; // that osteoblast's own voxel
    // Osteoclasts on marrow at z=3 resorbing down (direction 4 = −z); one at
    // (1,1,3) takes more than is left; osteoblasts on (4,4,3) and (2,4,4)
    // forming on their own voxels, and on (0,4,3) forming on the bone below.
    let oc = vec![
        Agent {
            voxel: idx(dims, 1, 1, 3) as u32,
            aim: 4,
            ..Default::default()
        },
        Agent {
            voxel: idx(dims, 3, 1, 3) as u32,
            aim: 4,
            ..Default::default()
        },
        Agent {
            voxel: idx(dims, 5, 5, 3) as u32,
            aim: NO_TARGET,
            ..Default::default()
        },
    ];
    let mut occupant = vec![0u32; n];
    for (k, a) in oc.iter().enumerate() {
        occupant[a.voxel as usize] = (1 << 30) | (k as u32 + 1);
    }
    let ob: Vec<Agent> = [
        (idx(dims, 4, 4, 3), NO_TARGET),
        (idx(dims, 2, 4, 4), NO_TARGET),
    ]
    .into_iter()
    .chain([(idx(dims, 0, 4, 3), 4)])
    .map(|(v, aim)| Agent {
        voxel: v as u32,
        aim,
        ..Default::default()
    })
    .collect();
    for (k, a) in ob.iter().enumerate() {
        occupant[a.voxel as usize] = (2 << 30) | (k as u32 + 1);
    }
    let p = StepParams {
        oc_resorb_fraction_per_day: 0.3,
        ob_fill_fraction_per_day: 0.5,
        coupling_keep: 0.9,
        ..base_params(dims)
    };
    let coupling0: Vec<f32> = (0..n).map(|i| (i % 3) as f32 * 0.1).collect();
    let d = &ctx.device;
    let (mb, occb, cb) = (
        storage_buffer_init(d, "m", &mineral),
        storage_buffer_init(d, "o", &occupant),
        storage_buffer_init(d, "c", &coupling0),
    );
    let (ocb, obb) = (
        storage_buffer_init(d, "oc", &oc),
        storage_buffer_init(d, "ob", &ob),
    );
    let (rb, fb) = (
        storage_buffer_zeroed(d, "r", 4 * n as u64),
        storage_buffer_zeroed(d, "f", 4 * n as u64),
    );
    // Basal sclerostin (1) everywhere but at the second osteoblast (2).
    let mut sclerostin = vec![1.0f32; n];
    sclerostin[idx(dims, 2, 4, 4)] = 2.0;
    let sb = storage_buffer_init(d, "s", &sclerostin);
    let pb = uniform_buffer(d, "p", &p);
    let mut enc = d.create_command_encoder(&Default::default());
    Remodel::new(&ctx, 64).unwrap().record(
        &ctx,
        &mut enc,
        &pb,
        &mb,
        &occb,
        (&ocb, &obb),
        &cb,
        &rb,
        &fb,
        &sb,
        n as u32,
    );
    ctx.submit_and_wait(enc);
    let m1: Vec<f32> = read_buffer(d, &ctx.queue, &mb, 0, n as u64);
    let r: Vec<f32> = read_buffer(d, &ctx.queue, &rb, 0, n as u64);
    let f: Vec<f32> = read_buffer(d, &ctx.queue, &fb, 0, n as u64);
    let c1: Vec<f32> = read_buffer(d, &ctx.queue, &cb, 0, n as u64);
    // CPU twin.
    let mut expect_m = mineral.clone();
    let mut expect_r = vec![0.0f32; n];
    let mut expect_f = vec![0.0f32; n];
    for (v, take) in [(idx(dims, 1, 1, 2), 0.3f32), (idx(dims, 3, 1, 2), 0.3)] {
        let r = take.min(expect_m[v]);
        expect_m[v] -= r;
        expect_r[v] = r;
    }
    // Each osteoblast forms where it aims (own voxel without an aim),
    // braked by sclerostin at the cell: (1 + 1²)/(1 + s²), 1 at basal.
    for (at, v) in [
        (idx(dims, 4, 4, 3), idx(dims, 4, 4, 3)),
        (idx(dims, 2, 4, 4), idx(dims, 2, 4, 4)),
        (idx(dims, 0, 4, 3), idx(dims, 0, 4, 2)),
    ] {
        let s = sclerostin[at];
        let f = (0.5 * 2.0 / (1.0 + s * s)).min(1.0 - expect_m[v]);
        expect_m[v] += f;
        expect_f[v] = f;
    }
    for i in 0..n {
        assert!(
            (m1[i] - expect_m[i]).abs() < 1e-6,
            "mineral at {i}: {} vs {}",
            m1[i],
            expect_m[i]
        );
        assert!(
            (r[i] - expect_r[i]).abs() < 1e-6 && (f[i] - expect_f[i]).abs() < 1e-6,
            "voxel {i}"
        );
        // Coupling lapses only where nothing was formed.
        let keep = if expect_f[i] > 0.0 { 1.0 } else { 0.9 };
        assert!((c1[i] - (coupling0[i] * keep + expect_r[i])).abs() < 1e-6);
        // Per voxel: new = old − resorbed + formed.
        assert!((m1[i] - (mineral[i] - r[i] + f[i])).abs() < 1e-6);
    }
    assert!(
        (r[idx(dims, 1, 1, 2)] - 0.05).abs() < 1e-7,
        "cannot resorb more than is there"
    );
    assert!(
        (f[idx(dims, 4, 4, 3)] - 0.4).abs() < 1e-6,
        "cannot fill beyond 1"
    );
    assert!(
        (m1[idx(dims, 0, 4, 2)] - 1.0).abs() < 1e-6 && f[idx(dims, 0, 4, 3)] == 0.0,
        "an osteoblast aiming at bone fills it, not its own voxel"
    );
}

/// A small human scene for the whole-step tests.
fn small_scene(extra: &[&str]) -> Scene {
    let text = r#"
name = "cells-test"
seed = 5
days = 100
[lattice]
species = "human"
dims = [32, 32, 32]
"#;
    let sets: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    scene::parse(text, "test.toml", &sets).unwrap()
}

fn lattice_for(ctx: &GpuContext, scene: &Scene) -> Lattice {
    trabecula::lattice::from_scene(ctx, scene).unwrap().0
}

/// The simulation of `scene` on `lat` under uniform SED (no FE solves).
fn uniform_sed_sim(ctx: &GpuContext, scene: &Scene, lat: &Lattice, wg: u32) -> Simulation {
    let sed = uniform_sed(scene, lat);
    Simulation::with_sed(ctx, scene, lat, &sed, wg).unwrap()
}

fn run(
    ctx: &GpuContext,
    scene: &Scene,
    lat: &Lattice,
    days: u32,
    wg: u32,
) -> (Vec<StepReport>, Vec<f32>) {
    let mut sim = uniform_sed_sim(ctx, scene, lat, wg);
    let mut out = vec![sim.measure(ctx)];
    for _ in 0..days {
        out.push(sim.advance(ctx).unwrap());
    }
    (out, sim.read_lattice(ctx).mineral)
}

#[test]
fn a_spin_up_is_the_same_as_running_its_days_first() {
    let ctx = common::gpu();
    let plain = small_scene(&["lattice.dims=[24,24,24]"]);
    let spun = small_scene(&["lattice.dims=[24,24,24]", "spin_up_days=10"]);
    let lat = lattice_for(&ctx, &plain);
    let (a, la) = run(&ctx, &plain, &lat, 30, 64);
    let (b, lb) = run(&ctx, &spun, &lat, 20, 64);
    assert_eq!(b[0].day, 0.0, "day 0 comes after the spin-up");
    assert_eq!(b[0].mineral_total, a[10].mineral_total);
    for (x, y) in a[11..].iter().zip(&b[1..]) {
        assert_eq!(y.day + 10.0, x.day);
        // The body starts at each run's own day 0.
        assert_eq!(
            &StepReport {
                day: y.day,
                body: y.body,
                ..*x
            },
            y
        );
    }
    assert!(la.iter().zip(&lb).all(|(x, y)| x.to_bits() == y.to_bits()));
    assert!(
        a[10..]
            .iter()
            .any(|r| r.resorbed_voxels + r.formed_voxels > 0.0)
    );
}

/// A NaN written into one voxel of a field on the device stops the next
/// step with the field named, where a clean step goes on.
#[test]
fn a_field_gone_bad_on_the_device_stops_the_step_and_names_it() {
    let ctx = common::gpu();
    let scene = small_scene(&["lattice.dims=[16,16,16]"]);
    let lat = lattice_for(&ctx, &scene);
    let bone = lat.mineral.iter().position(|&m| m >= 0.5).unwrap() as u64;
    let poisoned = |field: fn(&Simulation) -> &wgpu::Buffer| {
        let mut sim = uniform_sed_sim(&ctx, &scene, &lat, 64);
        sim.advance(&ctx).expect("a clean step goes on");
        ctx.queue
            .write_buffer(field(&sim), 4 * bone, bytemuck::bytes_of(&f32::NAN));
        let e = sim
            .advance(&ctx)
            .expect_err("a NaN field must stop the step");
        let bad = e.downcast_ref::<NonFinite>().expect("a NonFinite error");
        assert_eq!(bad.day, 2.0);
        assert!(bad.value.is_nan());
        bad.field
    };
    assert!(poisoned(|s| &s.state.fields.sed).contains("stimulus"));
    assert!(poisoned(|s| &s.state.fields.rankl).contains("RANKL"));
    assert!(poisoned(|s| &s.state.fields.mineral).contains("mineral"));
}

#[test]
fn mass_balance_every_step_for_100_steps() {
    let ctx = common::gpu();
    // Unloaded, so both resorption and formation are busy.
    let scene = small_scene(&["loading.gravity=0.0"]);
    let lat = lattice_for(&ctx, &scene);
    let (reports, _) = run(&ctx, &scene, &lat, 100, 64);
    let mut moved = 0.0;
    for w in reports.windows(2) {
        let change = w[1].mineral_total - w[0].mineral_total;
        let expect = w[1].formed_voxels - w[1].resorbed_voxels;
        // f32 sums of ~30 000 values: tolerance relative to the total.
        let tol = 2e-6 * w[1].mineral_total + 1e-3;
        assert!(
            (change - expect).abs() < tol,
            "day {}: Δ {change} vs formed−resorbed {expect}",
            w[1].day
        );
        moved += w[1].resorbed_voxels + w[1].formed_voxels;
    }
    assert!(
        moved > 10.0,
        "the test must exercise remodeling: {moved} voxel volumes moved"
    );
}

#[test]
fn same_seed_same_result_and_workgroup_size_does_not_matter() {
    let ctx = common::gpu();
    let scene = small_scene(&["loading.gravity=0.0", "lattice.dims=[24,24,24]"]);
    let lat = lattice_for(&ctx, &scene);
    let (a, la) = run(&ctx, &scene, &lat, 25, 64);
    let (b, lb) = run(&ctx, &scene, &lat, 25, 64);
    let (c, lc) = run(&ctx, &scene, &lat, 25, 128);
    assert_eq!(a, b);
    assert!(la.iter().zip(&lb).all(|(x, y)| x.to_bits() == y.to_bits()));
    assert_eq!(a, c, "workgroup size changed the result");
    assert!(la.iter().zip(&lc).all(|(x, y)| x.to_bits() == y.to_bits()));
    assert!(a.last().unwrap().osteoclasts + a.last().unwrap().osteoblasts > 0);
    // Another seed gives another history.
    let other = Scene {
        seed: 6,
        ..scene.clone()
    };
    let (d, _) = run(&ctx, &other, &lat, 25, 64);
    assert_ne!(a, d);
}

#[test]
fn unloading_kills_osteocytes_then_recruits_osteoclasts_then_loses_bone() {
    let ctx = common::gpu();
    // 20 days at 1 g, then 0 g; the control stays at 1 g with the same seed.
    // The cell chain alone: PTH's drive of RANKL saturated (its
    // half-activation far below any PTH), so the body does not feed back.
    let body_off = "cells.rankl_pth_half_pmol_per_l=0.01";
    let scene = small_scene(&[
        "loading.phases=[{days=20, gravity=1.0}, {days=80, gravity=0.0}]",
        body_off,
    ]);
    let lat = lattice_for(&ctx, &scene);
    let (r, _) = run(&ctx, &scene, &lat, 100, 64);
    let (control, _) = run(
        &ctx,
        &small_scene(&["loading.gravity=1.0", body_off]),
        &lat,
        100,
        64,
    );
    let at = |day: usize| &r[day];
    let mean_of = |r: &[StepReport], from: usize, to: usize, f: &dyn Fn(&StepReport) -> f64| {
        r[from..to].iter().map(f).sum::<f64>() / (to - from) as f64
    };
    let mean = |from: usize, to: usize, f: &dyn Fn(&StepReport) -> f64| mean_of(&r, from, to, f);
    // Under uniform SED the habitual load sits on every set-point: nobody
    // senses disuse. From the first unloaded step every live cell does
    // (stimulus 0, below any lazy zone), except cells embedded since, which
    // take 0 g as their set-point.
    assert!(r[1..=20].iter().all(|s| s.osteocytes_disuse == 0));
    assert!(r[0].osteocytes_alive > 0);
    let mut embedded_unloaded = 0;
    for s in &r[21..] {
        assert!(
            s.osteocytes_disuse <= s.osteocytes_alive
                && s.osteocytes_disuse + embedded_unloaded >= s.osteocytes_alive,
            "day {}: {} of {} alive sense disuse, {embedded_unloaded} embedded at 0 g",
            s.day,
            s.osteocytes_disuse,
            s.osteocytes_alive
        );
        embedded_unloaded += s.osteocytes_embedded;
    }
    assert_eq!(r[21].osteocytes_disuse, r[21].osteocytes_alive);
    let apo_before = mean(10, 20, &|s| s.osteocytes_apoptotic as f64);
    let apo_after = mean(21, 26, &|s| s.osteocytes_apoptotic as f64);
    assert!(
        apo_after > 2.0 * apo_before + 1.0,
        "apoptosis {apo_before} → {apo_after}"
    );
    // Apoptosis peaks before the osteoclasts do.
    let peak = |f: &dyn Fn(&StepReport) -> f64| {
        (20..=100)
            .max_by(|&a, &b| f(at(a)).total_cmp(&f(at(b))))
            .unwrap()
    };
    let apo_peak = peak(&|s| s.osteocytes_apoptotic as f64);
    let oc_peak = peak(&|s| s.osteoclasts as f64);
    assert!(
        apo_peak < oc_peak,
        "apoptotic peak day {apo_peak}, osteoclast peak day {oc_peak}"
    );
    // A few dozen osteoclasts come and go in cohorts, so the count is
    // compared with the 1 g control over the unloaded weeks, not with day 20.
    let oc = |s: &StepReport| s.osteoclasts as f64;
    let (oc_unloaded, oc_control) = (mean(30, 101, &oc), mean_of(&control, 30, 101, &oc));
    assert!(
        oc_unloaded > 1.25 * oc_control,
        "osteoclasts days 30–100: {oc_unloaded} unloaded, {oc_control} at 1 g"
    );
    // Bone falls after unloading.
    assert!(
        at(100).bv_tv < at(20).bv_tv * 0.99,
        "BV/TV {} → {}",
        at(20).bv_tv,
        at(100).bv_tv
    );
    assert!(
        at(60).mean_sclerostin > at(15).mean_sclerostin,
        "sclerostin rises under disuse"
    );
}

/// The census on the GPU counts what a CPU reading of the agents finds, by
/// the rules of `agents.wgsl`: a precursor (negative age) is not an
/// osteoclast yet; a live osteocyte senses disuse when its activity is positive.
#[test]
fn day_census_counts_what_the_agents_hold() {
    let ctx = common::gpu();
    // Unloaded from day 3: disuse, apoptosis and precursors all present.
    let scene = small_scene(&["loading.phases=[{days=3, gravity=1.0}, {days=20, gravity=0.0}]"]);
    let lat = lattice_for(&ctx, &scene);
    let mut sim = uniform_sed_sim(&ctx, &scene, &lat, 64);
    let mut seen = [0u32; 3];
    for day in 0..=12 {
        if day > 0 {
            sim.advance(&ctx).unwrap();
        }
        let r = sim.measure(&ctx);
        let ocy = sim.read_agents(&ctx, CellType::Osteocyte);
        let oc = sim.read_agents(&ctx, CellType::Osteoclast);
        let ob = sim.read_agents(&ctx, CellType::Osteoblast);
        let state = |cells: &[Agent], s: u32| cells.iter().filter(|a| a.state == s).count() as u32;
        let disuse = ocy
            .iter()
            .filter(|a| a.state == STATE_ALIVE && a.activity > 0.0)
            .count() as u32;
        let osteoclasts = oc
            .iter()
            .filter(|a| a.state != STATE_DEAD && a.age_days >= 0.0)
            .count() as u32;
        let cpu = (
            state(&ocy, STATE_ALIVE),
            state(&ocy, STATE_APOPTOTIC),
            disuse,
            osteoclasts,
            state(&ob, STATE_ALIVE),
        );
        let gpu = (
            r.osteocytes_alive,
            r.osteocytes_apoptotic,
            r.osteocytes_disuse,
            r.osteoclasts,
            r.osteoblasts,
        );
        assert_eq!(
            gpu, cpu,
            "day {day}: (alive, apoptotic, disuse, osteoclasts, osteoblasts)"
        );
        seen[0] += disuse;
        seen[1] += state(&ocy, STATE_APOPTOTIC);
        seen[2] += oc.len() as u32 - osteoclasts;
    }
    assert!(
        seen.iter().all(|&n| n > 0),
        "disuse, apoptotic and precursor cells all met: {seen:?}"
    );
}

#[test]
fn embedded_osteocytes_counted_are_the_new_cells_in_the_buffer() {
    let ctx = common::gpu();
    // Mouse: a voxel refills in days, so osteoblasts embed within the run.
    let scene = small_scene(&[
        "lattice.species=mouse",
        "lattice.dims=[24,24,24]",
        "loading.gravity=0.0",
    ]);
    let lat = lattice_for(&ctx, &scene);
    let mut sim = uniform_sed_sim(&ctx, &scene, &lat, 64);
    let mut total = 0;
    for _ in 0..30 {
        let before = sim.state.cell(CellType::Osteocyte).next_id;
        let report = sim.advance(&ctx).unwrap();
        // New cells are appended this step and cannot be removed before the
        // next step's sensing: their ids are all ≥ the old counter.
        let new = sim
            .read_agents(&ctx, CellType::Osteocyte)
            .iter()
            .filter(|a| a.state != STATE_DEAD && a.id >= before)
            .count() as u32;
        assert_eq!(report.osteocytes_embedded, new, "day {}", report.day);
        total += new;
    }
    assert!(total > 0, "the test must see osteoblasts embed");
}

#[test]
fn osteoclast_precursors_stay_put_do_not_resorb_and_are_not_counted() {
    let ctx = common::gpu();
    let scene = small_scene(&[
        "loading.gravity=0.0",
        "lattice.dims=[24,24,24]",
        "cells.osteoclast_differentiation_days=4",
    ]);
    let lat = lattice_for(&ctx, &scene);
    let mut sim = uniform_sed_sim(&ctx, &scene, &lat, 64);
    let mut before: HashMap<u32, (u32, f32)> = HashMap::new();
    let (mut precursors, mut matured) = (0, 0);
    for _ in 0..20 {
        let report = sim.advance(&ctx).unwrap();
        let live: Vec<Agent> = sim
            .read_agents(&ctx, CellType::Osteoclast)
            .into_iter()
            .filter(|a| a.state != STATE_DEAD)
            .collect();
        let active = live.iter().filter(|a| a.age_days >= 0.0).count();
        assert_eq!(report.osteoclasts as usize, active, "day {}", report.day);
        for a in &live {
            let prev = before.get(&a.id);
            if a.age_days < 0.0 {
                precursors += 1;
                // No resorption face: the remodel kernel resorbs only the aimed face.
                assert_eq!(a.aim, NO_TARGET, "a precursor aims to resorb");
                if let Some(&(voxel, _)) = prev {
                    assert_eq!(voxel, a.voxel, "a precursor moved");
                }
            } else if prev.is_some_and(|&(_, age)| age < 0.0) {
                matured += 1;
            }
        }
        before = live.iter().map(|a| (a.id, (a.voxel, a.age_days))).collect();
    }
    assert!(
        precursors > 0 && matured > 0,
        "{precursors} precursor-days, {matured} matured"
    );
}

#[test]
fn at_1g_bone_stays_within_a_few_percent_over_100_days() {
    let ctx = common::gpu();
    let scene = small_scene(&["spin_up_days=120"]);
    let lat = lattice_for(&ctx, &scene);
    let (r, _) = run(&ctx, &scene, &lat, 100, 64);
    let rel = r[100].bv_tv / r[0].bv_tv - 1.0;
    assert!(rel.abs() < 0.03, "BV/TV drifted {:+.2} %", rel * 100.0);
    let active = r
        .iter()
        .skip(30)
        .filter(|s| s.osteoclasts > 0 && s.osteoblasts > 0)
        .count();
    assert!(
        active > 60,
        "remodeling is active at 1 g on {active} of 70 days"
    );
}

#[test]
fn sensing_writes_sources_by_its_formula_and_kills_at_the_disuse_hazard() {
    use trabecula::cells::osteocytes::Osteocytes;
    let ctx = common::gpu();
    let dims = [40, 40, 40];
    let n = 64_000usize;
    let d = &ctx.device;
    // Bone everywhere except one voxel; osteocytes in every other voxel.
    let mut mineral = vec![1.0f32; n];
    mineral[10] = 0.2;
    let sed: Vec<f32> = (0..n).map(|i| 0.01 * (1.0 + (i % 7) as f32)).collect();
    let cells: Vec<Agent> = (0..n / 2)
        .map(|k| Agent {
            voxel: (2 * k) as u32,
            id: k as u32,
            // Every fifth cell has no set-point yet (embedded since the last
            // solve); another fifth is overloaded, the rest are in disuse or
            // in the lazy zone.
            setpoint: match k % 5 {
                0 => 0.0,
                1 => 0.008,
                _ => 0.04,
            },
            aim: NO_TARGET,
            ..Default::default()
        })
        .collect();
    let p = StepParams {
        n_osteocytes: cells.len() as u32,
        load_factor: 0.5,
        adapt_fraction: 0.1,
        apoptosis_basal_per_day: 0.01,
        apoptosis_disuse_per_day: 0.2,
        apoptotic_clear_days: 3.0,
        rankl_source: 2.0,
        rankl_disuse_gain: 3.0,
        rankl_apoptotic_factor: 10.0,
        sclerostin_source: 1.5,
        sclerostin_disuse_gain: 2.0,
        sclerostin_overload_gain: 4.0,
        osteocyte_lazy_zone: 0.25,
        ..base_params(dims)
    };
    let (mb, sb, cb) = (
        storage_buffer_init(d, "m", &mineral),
        storage_buffer_init(d, "s", &sed),
        storage_buffer_init(d, "c", &cells),
    );
    let (rs, ss) = (
        storage_buffer_zeroed(d, "r", 4 * n as u64),
        storage_buffer_zeroed(d, "s", 4 * n as u64),
    );
    let pb = uniform_buffer(d, "p", &p);
    let mut enc = d.create_command_encoder(&Default::default());
    Osteocytes::new(&ctx, 64).unwrap().record_sense(
        &ctx,
        &mut enc,
        &pb,
        &mb,
        &sb,
        &cb,
        &rs,
        &ss,
        cells.len() as u32,
    );
    ctx.submit_and_wait(enc);
    let after: Vec<Agent> = read_buffer(d, &ctx.queue, &cb, 0, cells.len() as u64);
    let rankl: Vec<f32> = read_buffer(d, &ctx.queue, &rs, 0, n as u64);
    let scl: Vec<f32> = read_buffer(d, &ctx.queue, &ss, 0, n as u64);
    let (mut died, mut expected_deaths) = (0.0, 0.0);
    let (mut lazy, mut over) = (0u32, 0u32);
    for (a, b) in cells.iter().zip(&after) {
        let v = a.voxel as usize;
        if mineral[v] < 0.5 {
            assert_eq!(b.state, 2, "an osteocyte in a resorbed voxel is removed");
            continue;
        }
        // The CPU twin of the sensing rule.
        let s = 0.5 * sed[v];
        let sp = if a.setpoint > 0.0 {
            a.setpoint + (s - a.setpoint) * 0.1
        } else {
            s
        };
        let r = s / sp;
        let disuse = ((0.75 - r) / 0.75).clamp(0.0, 1.0);
        let overload = (r - 1.25).max(0.0);
        lazy += u32::from(disuse == 0.0 && overload == 0.0);
        over += u32::from(overload > 0.0);
        assert!((b.setpoint - sp).abs() < 1e-6 && (b.activity - disuse).abs() < 1e-5);
        let hazard = 0.01 + 0.2 * disuse as f64;
        expected_deaths += 1.0 - (-hazard).exp();
        if b.state == 1 {
            died += 1.0;
            assert!((rankl[v] - 20.0).abs() < 1e-5, "apoptotic RANKL");
        } else {
            assert_eq!(b.state, 0);
            assert!((rankl[v] - 2.0 * (1.0 + 3.0 * disuse)).abs() < 1e-4);
            assert!((scl[v] - 1.5 * (1.0 + 2.0 * disuse) / (1.0 + 4.0 * overload)).abs() < 1e-4);
        }
    }
    assert!(
        lazy > 1000 && over > 1000,
        "the cases are covered: {lazy} lazy, {over} overloaded"
    );
    let sd = expected_deaths.sqrt();
    assert!(
        (died - expected_deaths).abs() < 4.0 * sd + 1.0,
        "{died} apoptoses, expected {expected_deaths:.0} ± {sd:.0}"
    );
}

/// Capacity grows between a step's fate scans and its compaction: the
/// survival flags and slots already recorded must survive the growth (a
/// lost copy once wiped most osteocytes when embedding outgrew the buffer).
#[test]
fn growing_capacity_keeps_recorded_survival_flags() {
    use trabecula::cells::CellType;
    use trabecula::sim::state::SimState;
    let ctx = common::gpu();
    let dims = [16, 16, 16];
    let lat = Lattice {
        dims,
        voxel_size_um: 20.0,
        mineral: slab(dims, 8),
    };
    let n = lat.mineral.len();
    let mut state = SimState::new(&ctx, &lat, &vec![0.0; n]).unwrap();
    let kind = CellType::Osteocyte;
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    state.reserve(&ctx, &mut enc, kind, 100).unwrap();
    ctx.submit_and_wait(enc);
    let cap = state.cell(kind).capacity;
    let keep: Vec<u32> = (0..cap).map(|k| k % 3).collect();
    let slots: Vec<u32> = (0..cap).map(|k| 7 * k + 1).collect();
    let s = &state.scratch[kind as usize];
    ctx.queue
        .write_buffer(&s.keep, 0, bytemuck::cast_slice(&keep));
    ctx.queue
        .write_buffer(&s.slots, 0, bytemuck::cast_slice(&slots));
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    state.reserve(&ctx, &mut enc, kind, 4 * cap + 10).unwrap();
    ctx.submit_and_wait(enc);
    let s = &state.scratch[kind as usize];
    assert!(s.capacity >= 4 * cap + 10);
    let d = &ctx.device;
    let keep2: Vec<u32> = read_buffer(d, &ctx.queue, &s.keep, 0, cap as u64);
    let slots2: Vec<u32> = read_buffer(d, &ctx.queue, &s.slots, 0, cap as u64);
    assert_eq!(keep2, keep);
    assert_eq!(slots2, slots);
}
