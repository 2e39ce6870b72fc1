//! The body's side of a run, once a simulated day: the lattice's net
//! resorption, scaled to a whole skeleton, drives the calcium–PTH–
//! calcitriol compartment (`crate::body`, docs/body.md); the turnover
//! markers are the lattice's resorbed and formed volume per day relative to
//! its own habitual-1 g rate.
//!
//! The compartment starts on day 0 in the steady state of the day-0 diet
//! (a preflight baseline): PTH is reported relative to it. The markers'
//! baseline is the last [`BASELINE_DAYS`] of the spin-up; a run without a
//! spin-up has none, and its marker columns are empty.

use serde::{Deserialize, Serialize};

use crate::body::{
    self, BodyParams, BodyState, Nutrition, formation_marker_rel, resorption_marker_rel,
};

/// Days at the end of the spin-up whose turnover is the markers' baseline:
/// long enough to span several remodeling cycles' starts in a small cube.
pub const BASELINE_DAYS: f64 = 90.0;

/// Time constant (days) of the running mean by which the cube's net
/// resorption stands for the skeleton's. A cube holds a handful of
/// remodeling units; the skeleton, millions at every phase. Its day-to-day
/// release is a sample whose mean, not its noise, is the skeleton's: the
/// mean over about one resorption period of a human remodeling unit (about
/// a month; Eriksen 1986, Endocr Rev 7:379).
pub const SKELETON_AVERAGING_DAYS: f64 = 30.0;

/// The body's figures for one day (the time-series columns).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct BodyReport {
    /// Net calcium leaving the whole skeleton (mg/day; negative when bone is
    /// gained): the running mean of the cube's, scaled ([`SKELETON_AVERAGING_DAYS`]).
    pub bone_ca_release_mg_per_day: f64,
    /// Resorbed bone per tissue volume per day over its 1 g baseline (CTX-like).
    pub resorption_marker_rel: Option<f64>,
    /// Formed bone per tissue volume per day over its 1 g baseline (BSAP-like).
    pub formation_marker_rel: Option<f64>,
    pub serum_ca_mmol_per_l: f64,
    pub pth_pg_per_ml: f64,
    pub calcitriol_pmol_per_l: f64,
    pub ca_absorption_fraction: f64,
    pub urinary_ca_mg_per_day: f64,
}

/// The compartment and what the lattice's figures are scaled by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Systemic {
    pub state: BodyState,
    /// The cube's tissue volume (mm³) and its BV/TV on day 0.
    pub tissue_mm3: f64,
    pub bv_tv_day0: f64,
    /// Resorbed and formed volume per tissue volume per day at habitual 1 g.
    pub baseline: Option<[f64; 2]>,
    /// The diet the compartment was brought to rest under (day 0).
    pub nutrition_day0: Nutrition,
    /// Over the spin-up's baseline window: resorbed, formed (mm³) and days.
    window: [f64; 3],
    /// The skeleton's calcium release, the running mean of the cube's
    /// (mg/day; 0 at rest on day 0).
    #[serde(default)]
    release_mean_mg_per_day: f64,
}

impl Systemic {
    /// The compartment at rest under `nutrition`, for a cube of
    /// `tissue_mm3` whose BV/TV is `bv_tv` now.
    pub fn new(tissue_mm3: f64, bv_tv: f64, nutrition: &Nutrition) -> Self {
        Self {
            state: BodyState::steady(&BodyParams::default(), nutrition),
            tissue_mm3,
            bv_tv_day0: bv_tv,
            baseline: None,
            nutrition_day0: *nutrition,
            window: [0.0; 3],
            release_mean_mg_per_day: 0.0,
        }
    }

    /// Records a spin-up step that ended `days_before_day0` before day 0.
    pub fn spin_up_step(
        &mut self,
        days_before_day0: f64,
        resorbed_mm3: f64,
        formed_mm3: f64,
        dt_days: f64,
    ) {
        if days_before_day0 < BASELINE_DAYS - 1e-9 {
            self.window[0] += resorbed_mm3;
            self.window[1] += formed_mm3;
            self.window[2] += dt_days;
        }
    }

    /// Day 0, after the spin-up: the compartment at rest under the day-0
    /// diet, the cube's BV/TV now, and the markers' baseline from the window.
    pub fn start_day0(&mut self, bv_tv: f64, nutrition: &Nutrition) {
        self.state = BodyState::steady(&BodyParams::default(), nutrition);
        self.bv_tv_day0 = bv_tv;
        self.nutrition_day0 = *nutrition;
        self.release_mean_mg_per_day = 0.0;
        let [res, form, days] = self.window;
        self.baseline = (days > 0.0 && self.tissue_mm3 > 0.0)
            .then(|| [res / days / self.tissue_mm3, form / days / self.tissue_mm3]);
    }

    /// The figures of the state as it is, with no day behind them (day 0).
    pub fn at_rest(&self) -> BodyReport {
        let p = BodyParams::default();
        let mut rest = self.state.clone();
        // A step of a few seconds on a copy reads the concentrations and the
        // rest state's fluxes without moving the state.
        let day = rest.step_hours(&p, &self.nutrition_day0, 0.0, 1e-3);
        BodyReport {
            bone_ca_release_mg_per_day: 0.0,
            resorption_marker_rel: None,
            formation_marker_rel: None,
            serum_ca_mmol_per_l: day.serum_ca_mmol_per_l,
            pth_pg_per_ml: day.pth_pg_per_ml,
            calcitriol_pmol_per_l: day.calcitriol_pmol_per_l,
            ca_absorption_fraction: day.ca_absorption_fraction,
            urinary_ca_mg_per_day: day.urinary_ca_mg_per_day,
        }
    }

    /// How much more (or less) RANKL the day's PTH drives than the day-0
    /// PTH: π(PTH) / π(PTH₀) with π(P) = P / (P + `half`), the activation of
    /// RANKL production in Pivonka et al. 2008. 1 at rest and through the
    /// spin-up (the compartment is not stepped before day 0).
    pub fn pth_rankl_factor(&self, half_pmol_per_l: f64) -> f64 {
        let now = self.state.pth_pmol_per_l(&BodyParams::default());
        let day0 = self.state.pth_baseline_pmol_per_l();
        let activation = |pth: f64| pth / (pth + half_pmol_per_l);
        activation(now) / activation(day0)
    }

    /// One step of `dt_days` in which the cube resorbed and formed the
    /// given volumes, under `nutrition`.
    pub fn step(
        &mut self,
        nutrition: &Nutrition,
        resorbed_mm3: f64,
        formed_mm3: f64,
        dt_days: f64,
    ) -> BodyReport {
        let p = BodyParams::default();
        let (res, form) = (resorbed_mm3 / dt_days, formed_mm3 / dt_days);
        let cube =
            body::bone_ca_release_mg_per_day(res, form, self.tissue_mm3, self.bv_tv_day0, &p);
        let keep = (-dt_days / SKELETON_AVERAGING_DAYS).exp();
        self.release_mean_mg_per_day = keep * self.release_mean_mg_per_day + (1.0 - keep) * cube;
        let release = self.release_mean_mg_per_day;
        let day = self
            .state
            .step_hours(&p, nutrition, release, 24.0 * dt_days);
        let [res0, form0] = self.baseline.unwrap_or([0.0; 2]);
        BodyReport {
            bone_ca_release_mg_per_day: release,
            resorption_marker_rel: resorption_marker_rel(res, self.tissue_mm3, res0),
            formation_marker_rel: formation_marker_rel(form, self.tissue_mm3, form0),
            serum_ca_mmol_per_l: day.serum_ca_mmol_per_l,
            pth_pg_per_ml: day.pth_pg_per_ml,
            calcitriol_pmol_per_l: day.calcitriol_pmol_per_l,
            ca_absorption_fraction: day.ca_absorption_fraction,
            urinary_ca_mg_per_day: day.urinary_ca_mg_per_day,
        }
    }
}
