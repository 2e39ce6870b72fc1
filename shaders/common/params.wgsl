// Per-step parameters of the cell kernels, in physical units per step.
// Its Rust twin `StepParams` (src/cells/params.rs) is compared field by field in tests/shaders.rs.
#import common/lattice

struct StepParams {
    grid: Grid,
    seed: u32,
    step: u32,
    n_osteocytes: u32,
    n_osteoclasts: u32,
    n_osteoblasts: u32,
    dt_days: f32,
    load_factor: f32,              // daily stimulus = load_factor * sed_unit
    stimulus_ref: f32,             // mean bone stimulus at the habitual 1 g load
    // osteocytes
    adapt_fraction: f32,           // 1 - exp(-dt / adaptation_days)
    apoptosis_basal_per_day: f32,
    apoptosis_disuse_per_day: f32,
    apoptotic_clear_days: f32,
    rankl_source: f32,             // per live osteocyte per day at no disuse
    rankl_disuse_gain: f32,
    rankl_apoptotic_factor: f32,
    sclerostin_source: f32,
    sclerostin_disuse_gain: f32,
    sclerostin_overload_gain: f32,
    rankl_effective: f32,          // 1 - denosumab inhibition
    sclerostin_effective: f32,     // 1 - romosozumab inhibition
    // osteoclasts
    oc_recruit_per_day: f32,
    oc_rankl_half: f32,
    oc_resorb_fraction_per_day: f32,  // voxel volumes per day, bisphosphonate applied
    oc_lifespan_days: f32,            // bisphosphonate applied
    oc_move_per_day: f32,
    oc_chemotaxis: f32,
    // osteoblasts
    ob_recruit_per_day: f32,
    ob_coupling_half: f32,
    ob_sclerostin_half: f32,
    ob_mech_weight: f32,
    ob_fill_fraction_per_day: f32,    // apposition / voxel edge
    ob_lifespan_days: f32,
    oc_differentiation_days: f32,     // a recruited precursor's age starts at minus this
    coupling_keep: f32,               // exp(-dt / coupling_days)
    osteocyte_seed_prob: f32,         // per bone voxel
    next_osteocyte_id: u32,           // ids of cells born this step start here
    next_osteoclast_id: u32,
    next_osteoblast_id: u32,
    ob_sclerostin_hill: f32,          // Hill exponent of sclerostin's brake on osteoblasts
    osteocyte_lazy_zone: f32,         // half-width of the no-response band around the set-point
    ob_refill_coupling: f32,          // coupling below which a surface is quiescent (no remodeling formation)
    ob_modeling_sclerostin: f32,      // effective sclerostin below which quiescent surfaces form too
    _pad0: u32,
    _pad1: u32,
}
