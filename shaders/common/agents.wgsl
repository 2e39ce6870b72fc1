// Agents: one 32-byte struct for all three cell types, each type in its own
// buffer. Its Rust twin `Agent` (src/cells/agents.rs) is compared field
// by field in tests/shaders.rs.
#import common/lattice

struct Agent {
    voxel: u32,       // lattice index of the voxel it sits on
    id: u32,          // unique per type for the whole run (RNG key)
    state: u32,       // STATE_*
    aim: u32,         // move: wanted voxel; then osteoclast: resorption direction,
                      // osteoblast: formation direction (NO_TARGET: its own voxel)
    age_days: f32,
    setpoint: f32,    // osteocyte: adapted stimulus set-point
    timer_days: f32,  // osteocyte: days since apoptosis; osteoblast: 1 once its voxel's embedding is drawn
    activity: f32,    // osteocyte: disuse in [0, 1]; others: unused
}

const STATE_ALIVE: u32 = 0u;
const STATE_APOPTOTIC: u32 = 1u;
const STATE_DEAD: u32 = 2u;
const STATE_EMBED: u32 = 3u;     // osteoblast becoming an osteocyte this step

const KIND_OSTEOCLAST: u32 = 1u;
const KIND_OSTEOBLAST: u32 = 2u;

const NO_TARGET: u32 = 0xffffffffu;
// Osteoblast aim: no formation this step (filling its own voxel would seal
// marrow inside the bone; see `would_enclose_marrow`).
const AIM_IDLE: u32 = 6u;

// An osteoclast is recruited as a precursor with age −differentiation days:
// until its age reaches 0 it neither moves nor resorbs and is not counted.
fn is_precursor(a: Agent) -> bool {
    return a.age_days < 0.0;
}

// A live osteocyte whose last sensing read disuse (`activity`, 0 inside the
// lazy zone).
fn senses_disuse(a: Agent) -> bool {
    return a.state == STATE_ALIVE && a.activity > 0.0;
}

// Occupant map: 0 = empty; else kind in the top 2 bits and slot + 1 below.
fn occupant_code(kind: u32, slot: u32) -> u32 {
    return (kind << 30u) | (slot + 1u);
}
fn occupant_kind(code: u32) -> u32 {
    return code >> 30u;
}
fn occupant_slot(code: u32) -> u32 {
    return (code & 0x3fffffffu) - 1u;
}

// The six face neighbours, in a fixed order (direction index 0..5).
fn face_offset(d: u32) -> vec3<i32> {
    switch d {
        case 0u: { return vec3<i32>(-1, 0, 0); }
        case 1u: { return vec3<i32>(1, 0, 0); }
        case 2u: { return vec3<i32>(0, -1, 0); }
        case 3u: { return vec3<i32>(0, 1, 0); }
        case 4u: { return vec3<i32>(0, 0, -1); }
        default: { return vec3<i32>(0, 0, 1); }
    }
}

// Face neighbour of voxel i in direction d, or NO_TARGET outside the block.
fn face_neighbour(g: Grid, i: u32, d: u32) -> u32 {
    let q = vec3<i32>(voxel_coords(g, i)) + face_offset(d);
    if any(q < vec3<i32>(0)) || any(q >= vec3<i32>(i32(g.nx), i32(g.ny), i32(g.nz))) {
        return NO_TARGET;
    }
    return voxel_index(g, vec3<u32>(q));
}
