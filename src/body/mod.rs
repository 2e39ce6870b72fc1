//! The body's calcium system: serum calcium, parathyroid hormone (PTH),
//! calcitriol, intestinal absorption and urinary excretion, integrated on
//! the host once per simulated day (docs/body.md).
//!
//! The equations are a reduction of Peterson & Riggs 2010 (Bone 46:49), in
//! the form of its reference implementation OpenBoneMin (Metrum Research
//! Group): the calcium, PTH, parathyroid-gland and calcitriol equations are
//! kept with their published constants; the bone-cell, phosphate and
//! exchangeable-bone equations are replaced by one input, the calcium the
//! lattice's remodeling releases (docs/body.md, Reductions). Time inside the
//! model is in hours, amounts in mmol (calcium) and pmol (hormones) in the
//! 14 L extracellular volume, as in the published model.

/// Molar mass of calcium (g/mol): converts mmol to mg.
pub const CA_MG_PER_MMOL: f64 = 40.078;

/// Constants of the compartment. Every field names its source; those marked
/// *model* are properties of this reduction, not measured quantities.
#[derive(Clone, Debug, PartialEq)]
pub struct BodyParams {
    /// Extracellular fluid volume holding plasma calcium, PTH and calcitriol
    /// (L). Peterson & Riggs 2010 (V1).
    pub ecf_volume_l: f64,
    /// Serum calcium of the published reference state (mmol/L); constants
    /// below are back-solved from it. Peterson & Riggs 2010 (32.9 mmol / 14 L).
    pub ref_serum_ca_mmol_per_l: f64,
    /// PTH of the reference state (pmol/L). Peterson & Riggs 2010 (53.9 pmol / 14 L).
    pub ref_pth_pmol_per_l: f64,
    /// Calcitriol of the reference state (pmol/L). Peterson & Riggs 2010 (1260 pmol / 14 L).
    pub ref_calcitriol_pmol_per_l: f64,
    /// PTH mass concentration per molar concentration (pg/mL per pmol/L):
    /// PTH(1-84) is 9.4 kDa. Peterson & Riggs 2010 (OpenBoneMin, PTHconc·9.4).
    pub pth_pg_per_ml_per_pmol_per_l: f64,

    /// PTH first-order elimination (1/h): half-life ≈ 5.8 min. Peterson &
    /// Riggs 2010 eq. 2 (kout = 100/14).
    pub pth_elimination_per_h: f64,
    /// PTH secretion at zero calcium (pmol/h). Peterson & Riggs 2010 eq. 2 (T58).
    pub pth_secretion_max_pmol_per_h: f64,
    /// PTH secretion at saturating calcium (pmol/h). Peterson & Riggs 2010 eq. 2 (T61).
    pub pth_secretion_min_pmol_per_h: f64,
    /// Hill exponent of the calcium-sensing receptor on PTH secretion.
    /// Peterson & Riggs 2010 eq. 2 (T59).
    pub pth_secretion_ca_hill: f64,

    /// Turnover scale of the parathyroid secretory pool (1/h). Peterson &
    /// Riggs 2010 eq. 3 (T70).
    pub gland_pool_rate_per_h: f64,
    /// Scale inside the pool's tanh calcitriol feedback (L/pmol). Peterson &
    /// Riggs 2010 eq. 3 (T71).
    pub gland_pool_tanh_scale_l_per_pmol: f64,
    /// Exponent of calcium on the pool's calcitriol set-point. Peterson &
    /// Riggs 2010 eq. 3 (ScaEffGam).
    pub gland_pool_ca_exponent: f64,
    /// Turnover of parathyroid gland capacity (1/h): half-life ≈ 180 days.
    /// Peterson & Riggs 2010 eq. 4 (PTout).
    pub gland_capacity_turnover_per_h: f64,
    /// Gland-capacity drive at zero calcitriol. Peterson & Riggs 2010 eq. 4 (CtriolMax).
    pub gland_capacity_max: f64,
    /// Gland-capacity drive at saturating calcitriol. Peterson & Riggs 2010 eq. 4 (CtriolMin).
    pub gland_capacity_min: f64,
    /// Hill exponent of calcitriol on gland capacity. Peterson & Riggs 2010 eq. 4 (CtriolPTgam).
    pub gland_capacity_hill: f64,

    /// 1α-hydroxylase production at full drive (pmol/h). Peterson & Riggs 2010 (T65).
    pub hydroxylase_production_pmol_per_h: f64,
    /// PTH at half-maximal 1α-hydroxylase production (pmol/L). Peterson & Riggs 2010 (T67).
    pub hydroxylase_pth_half_pmol_per_l: f64,
    /// Hill exponent of PTH on 1α-hydroxylase production. Peterson & Riggs 2010 (AlphOHgam).
    pub hydroxylase_pth_hill: f64,
    /// 1α-hydroxylase elimination (1/h). Peterson & Riggs 2010 (T64).
    pub hydroxylase_elimination_per_h: f64,
    /// Calcitriol elimination (1/h): half-life ≈ 7 h. Peterson & Riggs 2010 (T69).
    pub calcitriol_elimination_per_h: f64,

    /// Minimal turnover of the gut's calcitriol-dependent absorption capacity
    /// (1/h). Peterson & Riggs 2010 (T33).
    pub absorption_capacity_rate_min_per_h: f64,
    /// Maximal turnover of the absorption capacity (1/h). Peterson & Riggs 2010 (T34).
    pub absorption_capacity_rate_max_per_h: f64,
    /// Calcitriol at half-maximal effect on absorption capacity (pmol/L).
    /// Peterson & Riggs 2010 (T35).
    pub absorption_calcitriol_half_pmol_per_l: f64,
    /// Maximal saturable gut-to-plasma transfer (1/h). Peterson & Riggs 2010 (T28).
    pub gut_transfer_max_per_h: f64,
    /// Saturable transfer attained at the reference gut calcium (1/h).
    /// Peterson & Riggs 2010 (T310).
    pub gut_transfer_ref_per_h: f64,
    /// Gut calcium of the reference state (mmol). Peterson & Riggs 2010 (T0).
    pub ref_gut_ca_mmol: f64,
    /// Half-saturation of calcitriol-dependent absorption: gut calcium (mmol),
    /// and, as in the published code, absorption capacity on the dose
    /// fraction entering the gut pool. Peterson & Riggs 2010 (T81).
    pub gut_half_mmol: f64,
    /// Passive gut-to-plasma transfer (1/h). Peterson & Riggs 2010 (T87).
    pub gut_passive_per_h: f64,
    /// Maximal fraction of an oral dose entering the absorbable pool.
    /// Peterson & Riggs 2010 (T77).
    pub gut_dose_fraction_max: f64,
    /// Hill exponent of absorption capacity on that fraction. Peterson & Riggs 2010 (T80).
    pub gut_dose_fraction_hill: f64,

    /// Glomerular filtration rate (L/h): 100 mL/min. Peterson & Riggs 2010 (GFR).
    pub gfr_l_per_h: f64,
    /// Ultrafilterable (unbound) fraction of plasma calcium. Peterson & Riggs 2010.
    pub ca_ultrafilterable_fraction: f64,
    /// Fraction of filtered calcium reabsorbed independently of PTH.
    /// Peterson & Riggs 2010.
    pub ca_reabsorbed_pth_independent: f64,
    /// Calcium left unreabsorbed by the PTH-dependent route at the reference
    /// state (mmol/h): the intercept of maximal reabsorption. Peterson & Riggs 2010.
    pub renal_residual_mmol_per_h: f64,
    /// Serum calcium at half-maximal PTH-dependent reabsorption (mmol/L).
    /// Peterson & Riggs 2010 (Reabs50).
    pub reabsorption_ca_half_mmol_per_l: f64,
    /// Maximal fold effect of PTH on reabsorption. Peterson & Riggs 2010 (T16).
    pub reabsorption_pth_max: f64,
    /// Maximal fold effect of calcitriol on excretion. Peterson & Riggs 2010 (T7).
    pub excretion_calcitriol_max: f64,
    /// Calcitriol at half-maximal effect on excretion (pmol/L). Peterson & Riggs 2010 (T9).
    pub excretion_calcitriol_half_pmol_per_l: f64,

    /// Calcium exchanged each way between plasma and bone at the reference
    /// state (mmol/day). Peterson & Riggs 2010 (CaDay).
    pub bone_exchange_mmol_per_day: f64,

    /// Dietary calcium of the reference state (mg/day): 24.055 mmol/day.
    /// Peterson & Riggs 2010 (OralCa).
    pub ref_calcium_mg_per_day: f64,
    /// Vitamin D intake at which the published calcitriol production applies
    /// (IU/day): NASA's flight standard (Nutrition::default). *model*: the
    /// published model has no vitamin D substrate and assumes adequacy.
    pub ref_vitamin_d_iu_per_day: f64,
    /// Serum 25(OH)D with no intake and no UV light (nmol/L). *model*, a
    /// round estimate, not fitted (docs/body.md, Vitamin D).
    pub d25_no_intake_nmol_per_l: f64,
    /// Rise of serum 25(OH)D per IU/day of vitamin D3 (nmol/L per IU/day):
    /// 12.0 nmol/L per 1000 IU at 0–1000 IU/day. Ekwaru et al. 2014, PLoS ONE 9:e111265.
    pub d25_per_iu_nmol_per_l: f64,
    /// Serum 25(OH)D half-life (days): 2–3 weeks. Jones 2008, Am J Clin Nutr 88:582S.
    pub d25_half_life_days: f64,
    /// 25(OH)D at half-maximal 1α-hydroxylase substrate supply (nmol/L).
    /// *model*: below ≈ 25–30 nmol/L (deficiency, IOM 2011) calcitriol
    /// synthesis becomes substrate-limited.
    pub d25_substrate_half_nmol_per_l: f64,

    /// Calcium mass of the adult skeleton (g). ICRP Publication 23 (1975),
    /// Reference Man: 1000 g.
    pub skeleton_calcium_g: f64,
    /// Mineralised trabecular bone mass of the adult skeleton (g). ICRP
    /// Publication 89 (2002), reference male: 1100 g.
    pub trabecular_bone_mass_g: f64,
    /// Mineralised cortical bone mass (g). ICRP Publication 89 (2002): 4400 g.
    pub cortical_bone_mass_g: f64,
    /// Density of mineralised bone tissue (g/cm³). ICRP Publication 89 (2002): 1.92.
    pub bone_tissue_density_g_per_cm3: f64,
    /// Cortical turnover relative to trabecular (per unit bone volume): ≈ 3 %
    /// vs ≈ 26 % per year in the adult skeleton (Parfitt 2002, Bone 30:5).
    pub cortical_turnover_rel: f64,

    /// Sub-steps per simulated day (L-stable SDIRK2, docs/body.md, Numerics).
    pub substeps_per_day: u32,
}

impl Default for BodyParams {
    fn default() -> Self {
        Self {
            ecf_volume_l: 14.0,
            ref_serum_ca_mmol_per_l: 2.35,
            ref_pth_pmol_per_l: 3.85,
            ref_calcitriol_pmol_per_l: 90.0,
            pth_pg_per_ml_per_pmol_per_l: 9.4,
            pth_elimination_per_h: 100.0 / 14.0,
            pth_secretion_max_pmol_per_h: 6249.09,
            pth_secretion_min_pmol_per_h: 96.25,
            pth_secretion_ca_hill: 11.7387,
            gland_pool_rate_per_h: 0.01,
            gland_pool_tanh_scale_l_per_pmol: 0.03,
            gland_pool_ca_exponent: 0.9,
            gland_capacity_turnover_per_h: 1.604e-4,
            gland_capacity_max: 4.1029,
            gland_capacity_min: 0.9,
            gland_capacity_hill: 12.5033,
            hydroxylase_production_pmol_per_h: 6.3,
            hydroxylase_pth_half_pmol_per_l: 1.54865,
            hydroxylase_pth_hill: 0.111241,
            hydroxylase_elimination_per_h: 0.05,
            calcitriol_elimination_per_h: 0.10,
            absorption_capacity_rate_min_per_h: 0.003,
            absorption_capacity_rate_max_per_h: 0.037,
            absorption_calcitriol_half_pmol_per_l: 90.0,
            gut_transfer_max_per_h: 0.9,
            gut_transfer_ref_per_h: 0.105929,
            ref_gut_ca_mmol: 1.58471,
            gut_half_mmol: 0.75,
            gut_passive_per_h: 0.0495,
            gut_dose_fraction_max: 0.909359,
            gut_dose_fraction_hill: 4.0,
            gfr_l_per_h: 100.0 / 16.667,
            ca_ultrafilterable_fraction: 0.6,
            ca_reabsorbed_pth_independent: 0.5,
            renal_residual_mmol_per_h: 0.149997,
            reabsorption_ca_half_mmol_per_l: 1.57322,
            reabsorption_pth_max: 1.06147,
            excretion_calcitriol_max: 2.0,
            excretion_calcitriol_half_pmol_per_l: 90.0,
            bone_exchange_mmol_per_day: 88.0,
            ref_calcium_mg_per_day: 24.055 * CA_MG_PER_MMOL,
            ref_vitamin_d_iu_per_day: 800.0,
            d25_no_intake_nmol_per_l: 45.0,
            d25_per_iu_nmol_per_l: 0.012,
            d25_half_life_days: 15.0,
            d25_substrate_half_nmol_per_l: 25.0,
            skeleton_calcium_g: 1000.0,
            trabecular_bone_mass_g: 1100.0,
            cortical_bone_mass_g: 4400.0,
            bone_tissue_density_g_per_cm3: 1.92,
            cortical_turnover_rel: 3.0 / 26.0,
            substeps_per_day: 24,
        }
    }
}

/// Daily intake. Defaults are NASA's flight standards: calcium 1000–1200
/// mg/day (Smith et al. 2012, Nutrients 4:2047, Space flight calcium), the
/// lower bound taken; vitamin D 800 IU/day since 2006 (NASA Human Research
/// Roadmap, vitamin D gap; Smith et al. 2012, JBMR 27:1896).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Nutrition {
    pub calcium_mg_per_day: f64,
    pub vitamin_d_iu_per_day: f64,
}

impl Default for Nutrition {
    fn default() -> Self {
        Self {
            calcium_mg_per_day: 1000.0,
            vitamin_d_iu_per_day: 800.0,
        }
    }
}

/// What one step reports: concentrations at its end, fluxes as means over it.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BodyDay {
    pub serum_ca_mmol_per_l: f64,
    pub pth_pg_per_ml: f64,
    pub calcitriol_pmol_per_l: f64,
    /// Net absorbed calcium over intake (Peterson & Riggs' J40 / intake).
    pub ca_absorption_fraction: f64,
    pub urinary_ca_mg_per_day: f64,
    /// PTH over the PTH of the state `BodyState::steady` solved.
    pub pth_rel: f64,
    /// Calcium absorbed from the gut into the extracellular pool (mg/day).
    pub absorbed_ca_mg_per_day: f64,
    /// Plasma-to-bone exchange uptake above its reference rate (mg/day): the
    /// part of a rise in serum calcium that bone surfaces take back.
    pub bone_exchange_uptake_mg_per_day: f64,
    /// Serum 25(OH)D (nmol/L).
    pub d25_nmol_per_l: f64,
}

const N: usize = 9;
// State indices.
const PTH: usize = 0; // plasma PTH (pmol)
const CA: usize = 1; // extracellular calcium (mmol)
const GUT: usize = 2; // absorbable gut calcium (mmol)
const CAP: usize = 3; // calcitriol-dependent absorption capacity (R, 0–1)
const AOH: usize = 4; // 1α-hydroxylase (pmol)
const CTR: usize = 5; // calcitriol (pmol)
const POOL: usize = 6; // parathyroid secretory pool (S)
const GLAND: usize = 7; // parathyroid gland capacity (PTmax)
const D25: usize = 8; // serum 25(OH)D (nmol/L)

/// The compartment's state. Amounts are in the model's units (mmol, pmol in
/// the extracellular volume); read them through the accessors.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BodyState {
    y: [f64; N],
    pth_baseline_pmol_per_l: f64,
}

/// Fluxes at one state (mmol/h).
struct Fluxes {
    absorbed: f64,
    urinary: f64,
    uptake_extra: f64,
}

/// Constants derived from the reference state (the published model's
/// back-solved half-saturations).
struct Derived {
    pth_ca_half: f64,
    gland_calcitriol_half: f64,
    hydroxylase_norm: f64,
    reabs_pth_half: f64,
    reabs_max: f64,
    gut_transfer_half: f64,
    bone_in_rate: f64,
    bone_out_rate: f64,
    d25_ref: f64,
}

impl Derived {
    fn new(p: &BodyParams) -> Self {
        let ca0 = p.ref_serum_ca_mmol_per_l;
        let pth0 = p.ref_pth_pmol_per_l;
        let c80 = p.ref_calcitriol_pmol_per_l;
        // Eq. 2: the half-saturation that makes secretion equal elimination
        // at the reference PTH (385 pmol/h).
        let s0 = p.pth_elimination_per_h * pth0 * p.ecf_volume_l;
        let (hi, lo, n) = (
            p.pth_secretion_max_pmol_per_h,
            p.pth_secretion_min_pmol_per_h,
            p.pth_secretion_ca_hill,
        );
        let pth_ca_half = ((hi - lo) * ca0.powf(n) / (hi - s0) - ca0.powf(n)).powf(1.0 / n);
        // Eq. 4: gland capacity drive is 1 at the reference calcitriol.
        let (gmax, gmin, g) = (
            p.gland_capacity_max,
            p.gland_capacity_min,
            p.gland_capacity_hill,
        );
        let gland_calcitriol_half =
            ((gmax - gmin) * c80.powf(g) / (gmax - 1.0) - c80.powf(g)).powf(1.0 / g);
        let a = p.hydroxylase_pth_hill;
        let t67 = p.hydroxylase_pth_half_pmol_per_l;
        let hydroxylase_norm = (t67.powf(a) + pth0.powf(a)) / pth0.powf(a);
        let reabs_pth_half = pth0 * p.reabsorption_pth_max - pth0;
        let filt_slope = p.ca_ultrafilterable_fraction * (1.0 - p.ca_reabsorbed_pth_independent);
        let reabs_max = (filt_slope * p.gfr_l_per_h * ca0 - p.renal_residual_mmol_per_h)
            * (p.reabsorption_ca_half_mmol_per_l + ca0)
            / ca0;
        let t0 = p.ref_gut_ca_mmol;
        let gut_transfer_half = (p.gut_transfer_max_per_h * t0 - p.gut_transfer_ref_per_h * t0)
            / p.gut_transfer_ref_per_h;
        let bone_in_rate = p.bone_exchange_mmol_per_day / 24.0;
        let bone_out_rate = p.bone_exchange_mmol_per_day / (ca0 * p.ecf_volume_l * 24.0);
        let d25_ref = d25_steady(p, p.ref_vitamin_d_iu_per_day);
        Self {
            pth_ca_half,
            gland_calcitriol_half,
            hydroxylase_norm,
            reabs_pth_half,
            reabs_max,
            gut_transfer_half,
            bone_in_rate,
            bone_out_rate,
            d25_ref,
        }
    }
}

fn d25_steady(p: &BodyParams, iu_per_day: f64) -> f64 {
    p.d25_no_intake_nmol_per_l + p.d25_per_iu_nmol_per_l * iu_per_day.max(0.0)
}

/// Inputs held fixed over a step (mmol/h, IU/day).
#[derive(Clone, Copy)]
struct Inputs {
    oral_ca: f64,
    bone_release: f64,
    vitamin_d_iu: f64,
}

impl Inputs {
    fn new(n: &Nutrition, bone_ca_release_mg_per_day: f64) -> Self {
        Self {
            oral_ca: n.calcium_mg_per_day.max(0.0) / CA_MG_PER_MMOL / 24.0,
            bone_release: bone_ca_release_mg_per_day / CA_MG_PER_MMOL / 24.0,
            vitamin_d_iu: n.vitamin_d_iu_per_day,
        }
    }
}

fn hill(x: f64, half: f64, n: f64) -> f64 {
    let xn = x.max(0.0).powf(n);
    xn / (xn + half.powf(n))
}

/// Right-hand side dy/dt (per hour) and the fluxes of the calcium balance.
fn rhs(p: &BodyParams, d: &Derived, u: Inputs, y: &[f64; N]) -> ([f64; N], Fluxes) {
    let v = p.ecf_volume_l;
    let ca = y[CA].max(1e-9) / v;
    let pth = y[PTH].max(0.0) / v;
    let c8 = y[CTR].max(0.0) / v;
    let r = y[CAP];
    let gut = y[GUT].max(0.0);
    let mut dy = [0.0; N];

    // Eq. 2: calcium-sensing PTH secretion scaled by the gland's pool and capacity.
    let secretion = p.pth_secretion_max_pmol_per_h
        - (p.pth_secretion_max_pmol_per_h - p.pth_secretion_min_pmol_per_h)
            * hill(ca, d.pth_ca_half, p.pth_secretion_ca_hill);
    let gland = (y[POOL] / 0.5) * y[GLAND];
    dy[PTH] = secretion * gland - p.pth_elimination_per_h * y[PTH];

    // Eq. 3: secretory pool, calcitriol feedback around a calcium-dependent set-point.
    let set_point = p.ref_calcitriol_pmol_per_l
        * (p.ref_serum_ca_mmol_per_l / ca).powf(p.gland_pool_ca_exponent);
    let th = (p.gland_pool_tanh_scale_l_per_pmol * (c8 - set_point)).tanh();
    let k_out = p.gland_pool_rate_per_h * (0.85 * (1.0 + th) + 0.15);
    let k_in = p.gland_pool_rate_per_h * (0.85 * (1.0 - th) + 0.15);
    dy[POOL] = (1.0 - y[POOL]) * k_in - y[POOL] * k_out;

    // Eq. 4: gland capacity, suppressed by calcitriol.
    let drive = p.gland_capacity_max
        - (p.gland_capacity_max - p.gland_capacity_min)
            * hill(c8, d.gland_calcitriol_half, p.gland_capacity_hill);
    dy[GLAND] = p.gland_capacity_turnover_per_h * (drive - y[GLAND]);

    // Calcitriol: PTH drives 1α-hydroxylase; 25(OH)D supplies its substrate.
    let a = p.hydroxylase_pth_hill;
    let pth_drive = d.hydroxylase_norm * pth.powf(a)
        / (p.hydroxylase_pth_half_pmol_per_l.powf(a) + pth.powf(a));
    let kd = p.d25_substrate_half_nmol_per_l;
    let d25 = y[D25].max(0.0);
    let substrate = (d25 / (d25 + kd)) / (d.d25_ref / (d.d25_ref + kd));
    dy[AOH] = p.hydroxylase_production_pmol_per_h * pth_drive * substrate
        - p.hydroxylase_elimination_per_h * y[AOH];
    dy[CTR] = y[AOH] - p.calcitriol_elimination_per_h * y[CTR];
    let d25_target = d25_steady(p, u.vitamin_d_iu);
    dy[D25] = (d25_target - y[D25]) * std::f64::consts::LN_2 / (p.d25_half_life_days * 24.0);

    // Gut: calcitriol sets the absorption capacity R, R the absorbed flux.
    let (kmin, kmax) = (
        p.absorption_capacity_rate_min_per_h,
        p.absorption_capacity_rate_max_per_h,
    );
    let occ = hill(c8, p.absorption_calcitriol_half_pmol_per_l, 1.0);
    let k_up = kmin + (kmax - kmin) * occ;
    let k_down = kmax - (kmax - kmin) * occ;
    dy[CAP] = k_up * (1.0 - r) - k_down * r;
    let saturable = p.gut_transfer_max_per_h * gut / (gut + d.gut_transfer_half);
    let absorbed =
        saturable * gut * (r / 0.5) / (gut + p.gut_half_mmol) + p.gut_passive_per_h * gut;
    let dose_fraction =
        p.gut_dose_fraction_max * hill(r, p.gut_half_mmol, p.gut_dose_fraction_hill);
    dy[GUT] = u.oral_ca * dose_fraction - absorbed;

    // Kidney: filtered load less PTH-dependent reabsorption, scaled by calcitriol.
    let filtered = p.ca_ultrafilterable_fraction
        * (1.0 - p.ca_reabsorbed_pth_independent)
        * p.gfr_l_per_h
        * ca;
    let pth_eff = p.reabsorption_pth_max * pth / (pth + d.reabs_pth_half);
    let reabsorbed = d.reabs_max * ca / (p.reabsorption_ca_half_mmol_per_l + ca) * pth_eff;
    let ctr_eff = p.excretion_calcitriol_max * c8 / (c8 + p.excretion_calcitriol_half_pmol_per_l);
    let urinary = ((2.0 - ctr_eff) * (filtered - reabsorbed)).max(0.0);

    // Bone: reference exchange both ways plus the lattice's net release.
    let uptake = d.bone_out_rate * y[CA];
    let uptake_extra = uptake - d.bone_in_rate;
    dy[CA] = d.bone_in_rate + u.bone_release - uptake - urinary + absorbed;

    (
        dy,
        Fluxes {
            absorbed,
            urinary,
            uptake_extra,
        },
    )
}

/// Solves Y = base + h·f(Y) by Newton's method with a finite-difference
/// Jacobian and step halving that keeps the state positive.
fn implicit_solve(
    p: &BodyParams,
    d: &Derived,
    u: Inputs,
    base: &[f64; N],
    h: f64,
    guess: &[f64; N],
) -> Option<[f64; N]> {
    let resid = |y: &[f64; N]| {
        let (f, _) = rhs(p, d, u, y);
        let mut r = [0.0; N];
        for i in 0..N {
            r[i] = y[i] - base[i] - h * f[i];
        }
        r
    };
    let scale = |y: &[f64; N], i: usize| y[i].abs().max(1e-3);
    let mut y = *guess;
    for _ in 0..60 {
        let r0 = resid(&y);
        let mut jac = [[0.0; N]; N];
        for j in 0..N {
            let dj = 1e-7 * scale(&y, j);
            let mut yp = y;
            yp[j] += dj;
            let rp = resid(&yp);
            for i in 0..N {
                jac[i][j] = (rp[i] - r0[i]) / dj;
            }
        }
        let mut dx = r0.map(|v| -v);
        if !gauss_solve(&mut jac, &mut dx) {
            return None;
        }
        let mut lambda = 1.0;
        let mut next = y;
        loop {
            for i in 0..N {
                next[i] = y[i] + lambda * dx[i];
            }
            if next.iter().all(|&v| v > 0.0) || lambda < 1e-6 {
                break;
            }
            lambda *= 0.5;
        }
        let change = (0..N)
            .map(|i| (next[i] - y[i]).abs() / scale(&y, i))
            .fold(0.0, f64::max);
        y = next;
        if !y.iter().all(|v| v.is_finite()) {
            return None;
        }
        if change < 1e-13 {
            return Some(y);
        }
    }
    None
}

/// Gaussian elimination with partial pivoting; false if singular.
fn gauss_solve(a: &mut [[f64; N]; N], b: &mut [f64; N]) -> bool {
    for col in 0..N {
        let piv = (col..N)
            .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
            .unwrap_or(col);
        if a[piv][col].abs() < 1e-300 {
            return false;
        }
        a.swap(col, piv);
        b.swap(col, piv);
        for row in col + 1..N {
            let f = a[row][col] / a[col][col];
            let pivot_row = a[col];
            for (x, &pv) in a[row].iter_mut().zip(&pivot_row).skip(col) {
                *x -= f * pv;
            }
            b[row] -= f * b[col];
        }
    }
    for col in (0..N).rev() {
        let mut s = b[col];
        for k in col + 1..N {
            s -= a[col][k] * b[k];
        }
        b[col] = s / a[col][col];
    }
    true
}

impl BodyState {
    /// The steady state at this intake with no net bone release, found by
    /// pseudo-transient continuation (implicit steps of growing length from
    /// the published reference state). PTH here is the baseline of `pth_rel`.
    pub fn steady(params: &BodyParams, nutrition: &Nutrition) -> Self {
        let d = Derived::new(params);
        let u = Inputs::new(nutrition, 0.0);
        let v = params.ecf_volume_l;
        let mut y = [
            params.ref_pth_pmol_per_l * v,
            params.ref_serum_ca_mmol_per_l * v,
            params.ref_gut_ca_mmol,
            0.5,
            params.ref_calcitriol_pmol_per_l * v * params.calcitriol_elimination_per_h,
            params.ref_calcitriol_pmol_per_l * v,
            0.5,
            1.0,
            d25_steady(params, nutrition.vitamin_d_iu_per_day),
        ];
        let mut h = 1.0;
        for _ in 0..200 {
            if let Some(next) = implicit_solve(params, &d, u, &y, h, &y) {
                y = next;
                h = (h * 4.0).min(1e12);
            } else {
                h *= 0.25;
            }
            let (f, _) = rhs(params, &d, u, &y);
            let worst = (0..N)
                .map(|i| (f[i] / y[i].abs().max(1e-3)).abs())
                .fold(0.0, f64::max);
            if worst < 1e-14 {
                break;
            }
        }
        Self {
            pth_baseline_pmol_per_l: y[PTH] / v,
            y,
        }
    }

    /// Advances one simulated day. `bone_ca_release_mg_per_day` is the net
    /// calcium the whole skeleton's remodeling releases (resorbed minus
    /// formed; 0 in a balanced adult; see `bone_ca_release_mg_per_day`).
    pub fn step_day(
        &mut self,
        params: &BodyParams,
        nutrition: &Nutrition,
        bone_ca_release_mg_per_day: f64,
    ) -> BodyDay {
        self.step_hours(params, nutrition, bone_ca_release_mg_per_day, 24.0)
    }

    /// Advances `hours` with sub-steps of at most 24/`substeps_per_day` h,
    /// by the two-stage L-stable SDIRK method (Alexander 1977): second
    /// order, and PTH's minutes-scale relaxation is damped, not amplified.
    pub fn step_hours(
        &mut self,
        params: &BodyParams,
        nutrition: &Nutrition,
        bone_ca_release_mg_per_day: f64,
        hours: f64,
    ) -> BodyDay {
        let d = Derived::new(params);
        let u = Inputs::new(nutrition, bone_ca_release_mg_per_day);
        let max_h = 24.0 / f64::from(params.substeps_per_day.max(1));
        let n = (hours / max_h).ceil().max(1.0) as usize;
        let h = hours / n as f64;
        let g = 1.0 - std::f64::consts::FRAC_1_SQRT_2;
        let (mut absorbed, mut urinary, mut uptake) = (0.0, 0.0, 0.0);
        for _ in 0..n {
            let y0 = self.y;
            let y1 = implicit_solve(params, &d, u, &y0, g * h, &y0)
                .expect("body compartment: stage 1 did not converge");
            let (f1, fl1) = rhs(params, &d, u, &y1);
            let mut base = y0;
            for i in 0..N {
                base[i] += (1.0 - g) * h * f1[i];
            }
            let y2 = implicit_solve(params, &d, u, &base, g * h, &y1)
                .expect("body compartment: stage 2 did not converge");
            let (f2, fl2) = rhs(params, &d, u, &y2);
            // The update and the flux integrals use the same weights, so the
            // calcium balance closes to rounding.
            let (b1, b2) = ((1.0 - g) * h, g * h);
            for i in 0..N {
                self.y[i] = y0[i] + b1 * f1[i] + b2 * f2[i];
            }
            absorbed += b1 * fl1.absorbed + b2 * fl2.absorbed;
            urinary += b1 * fl1.urinary + b2 * fl2.urinary;
            uptake += b1 * fl1.uptake_extra + b2 * fl2.uptake_extra;
        }
        let per_day = 24.0 / hours * CA_MG_PER_MMOL;
        let intake = nutrition.calcium_mg_per_day.max(0.0);
        let absorbed_mg = absorbed * per_day;
        BodyDay {
            serum_ca_mmol_per_l: self.serum_ca_mmol_per_l(params),
            pth_pg_per_ml: self.pth_pmol_per_l(params) * params.pth_pg_per_ml_per_pmol_per_l,
            calcitriol_pmol_per_l: self.calcitriol_pmol_per_l(params),
            ca_absorption_fraction: if intake > 0.0 {
                absorbed_mg / intake
            } else {
                0.0
            },
            urinary_ca_mg_per_day: urinary * per_day,
            pth_rel: self.pth_rel(params),
            absorbed_ca_mg_per_day: absorbed_mg,
            bone_exchange_uptake_mg_per_day: uptake * per_day,
            d25_nmol_per_l: self.y[D25],
        }
    }

    /// Adds calcium straight to the extracellular pool (an intravenous bolus).
    pub fn add_ecf_calcium_mg(&mut self, mg: f64) {
        self.y[CA] += mg / CA_MG_PER_MMOL;
    }

    pub fn serum_ca_mmol_per_l(&self, p: &BodyParams) -> f64 {
        self.y[CA] / p.ecf_volume_l
    }

    pub fn pth_pmol_per_l(&self, p: &BodyParams) -> f64 {
        self.y[PTH] / p.ecf_volume_l
    }

    pub fn pth_pg_per_ml(&self, p: &BodyParams) -> f64 {
        self.pth_pmol_per_l(p) * p.pth_pg_per_ml_per_pmol_per_l
    }

    pub fn calcitriol_pmol_per_l(&self, p: &BodyParams) -> f64 {
        self.y[CTR] / p.ecf_volume_l
    }

    /// The PTH of the steady state this state was started from (pmol/L).
    pub fn pth_baseline_pmol_per_l(&self) -> f64 {
        self.pth_baseline_pmol_per_l
    }

    /// PTH relative to the steady state this state was started from.
    pub fn pth_rel(&self, p: &BodyParams) -> f64 {
        self.pth_pmol_per_l(p) / self.pth_baseline_pmol_per_l
    }

    /// Calcium in the extracellular pool (mg).
    pub fn ecf_calcium_mg(&self) -> f64 {
        self.y[CA] * CA_MG_PER_MMOL
    }

    /// Calcium in the absorbable gut pool (mg).
    pub fn gut_calcium_mg(&self) -> f64 {
        self.y[GUT] * CA_MG_PER_MMOL
    }

    /// Serum 25(OH)D (nmol/L).
    pub fn d25_nmol_per_l(&self) -> f64 {
        self.y[D25]
    }

    /// Largest relative difference between two states' variables.
    pub fn max_rel_diff(&self, other: &Self) -> f64 {
        (0..N)
            .map(|i| (self.y[i] - other.y[i]).abs() / self.y[i].abs().max(1e-9))
            .fold(0.0, f64::max)
    }
}

/// Net calcium leaving the whole skeleton (mg/day) from a simulated
/// trabecular cube's resorbed and formed bone volume per day. The cube's net
/// loss as a fraction of its day-0 bone volume (`tissue_volume_mm3` ×
/// `bv_tv_day0`) is applied to the skeleton's trabecular bone and, scaled by
/// cortical/trabecular turnover, to its cortical bone. Negative when bone
/// is gained.
pub fn bone_ca_release_mg_per_day(
    resorbed_mm3_per_day: f64,
    formed_mm3_per_day: f64,
    tissue_volume_mm3: f64,
    bv_tv_day0: f64,
    p: &BodyParams,
) -> f64 {
    let bone_mm3 = tissue_volume_mm3 * bv_tv_day0;
    if bone_mm3 <= 0.0 {
        return 0.0;
    }
    let net_fraction = (resorbed_mm3_per_day - formed_mm3_per_day) / bone_mm3;
    let total_mass = p.trabecular_bone_mass_g + p.cortical_bone_mass_g;
    let ca_per_g_bone = p.skeleton_calcium_g / total_mass;
    let trabecular_ca_mg = p.trabecular_bone_mass_g * ca_per_g_bone * 1000.0;
    let cortical_share =
        p.cortical_bone_mass_g / p.trabecular_bone_mass_g * p.cortical_turnover_rel;
    net_fraction * trabecular_ca_mg * (1.0 + cortical_share)
}

/// Calcium per mm³ of mineralised bone tissue (mg/mm³), from the skeleton's
/// calcium, bone mass and tissue density.
pub fn calcium_mg_per_mm3_bone(p: &BodyParams) -> f64 {
    let volume_cm3 =
        (p.trabecular_bone_mass_g + p.cortical_bone_mass_g) / p.bone_tissue_density_g_per_cm3;
    p.skeleton_calcium_g * 1000.0 / (volume_cm3 * 1000.0)
}

/// Bone turnover per tissue volume per day (1/day).
pub fn turnover_per_day(volume_mm3_per_day: f64, tissue_volume_mm3: f64) -> f64 {
    volume_mm3_per_day / tissue_volume_mm3
}

/// Resorption marker (the papers' CTX, NTX, DPD): resorbed volume per tissue
/// volume per day over its baseline rate (1/day); None without a baseline.
pub fn resorption_marker_rel(
    resorbed_mm3_per_day: f64,
    tissue_volume_mm3: f64,
    baseline_per_day: f64,
) -> Option<f64> {
    marker_rel(resorbed_mm3_per_day, tissue_volume_mm3, baseline_per_day)
}

/// Formation marker (bone-specific alkaline phosphatase, osteocalcin):
/// formed volume per tissue volume per day over its baseline rate.
pub fn formation_marker_rel(
    formed_mm3_per_day: f64,
    tissue_volume_mm3: f64,
    baseline_per_day: f64,
) -> Option<f64> {
    marker_rel(formed_mm3_per_day, tissue_volume_mm3, baseline_per_day)
}

fn marker_rel(volume_mm3_per_day: f64, tissue_volume_mm3: f64, baseline: f64) -> Option<f64> {
    (baseline > 0.0 && tissue_volume_mm3 > 0.0)
        .then(|| turnover_per_day(volume_mm3_per_day, tissue_volume_mm3) / baseline)
}
