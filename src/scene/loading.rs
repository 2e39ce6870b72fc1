//! `[loading]`: gravity, countermeasures and drugs, constant or in phases.

use serde::{Deserialize, Serialize};

use super::Invalid;

/// Declares a struct holding the regime keys (all optional: unset ones keep
/// the value around them) plus its own fields. Serde's `flatten` would lose
/// `deny_unknown_fields`, so the keys are spelled out in each struct.
macro_rules! with_regime {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty = $default:expr,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
            /// Gravity level in g (1 Earth, 0.38 Mars, 0.16 Moon, 0 orbit).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub gravity: Option<f64>,
            /// Exercise load relative to the habitual 1 g load (e.g. 1.5 for resistive exercise).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub exercise_load: Option<f64>,
            /// Exercise loading cycles per day (repetitions, steps).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub exercise_cycles_per_day: Option<f64>,
            /// Whole-body vibration amplitude relative to the 1 g body-weight load.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub vibration_load: Option<f64>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub vibration_hz: Option<f64>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub vibration_minutes_per_day: Option<f64>,
            /// Centrifuge (artificial gravity) level in g, and its minutes per day.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub centrifuge_gravity: Option<f64>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub centrifuge_minutes_per_day: Option<f64>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub bisphosphonate: Option<bool>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub denosumab: Option<bool>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub romosozumab: Option<bool>,
        }

        impl Default for $name {
            fn default() -> Self {
                Self {
                    $($field: $default,)*
                    gravity: None,
                    exercise_load: None,
                    exercise_cycles_per_day: None,
                    vibration_load: None,
                    vibration_hz: None,
                    vibration_minutes_per_day: None,
                    centrifuge_gravity: None,
                    centrifuge_minutes_per_day: None,
                    bisphosphonate: None,
                    denosumab: None,
                    romosozumab: None,
                }
            }
        }

        impl $name {
            /// The same keys with every regime key unset.
            pub fn without_regime(&self) -> Self {
                Self {
                    $($field: self.$field.clone(),)*
                    ..Self::default()
                }
            }

            /// This struct's regime keys over `base`.
            fn over(&self, base: &DayRegime) -> DayRegime {
                DayRegime {
                    gravity: self.gravity.unwrap_or(base.gravity),
                    exercise_load: self.exercise_load.unwrap_or(base.exercise_load),
                    exercise_cycles_per_day: self.exercise_cycles_per_day.unwrap_or(base.exercise_cycles_per_day),
                    vibration_load: self.vibration_load.unwrap_or(base.vibration_load),
                    vibration_hz: self.vibration_hz.unwrap_or(base.vibration_hz),
                    vibration_minutes_per_day: self.vibration_minutes_per_day.unwrap_or(base.vibration_minutes_per_day),
                    centrifuge_gravity: self.centrifuge_gravity.unwrap_or(base.centrifuge_gravity),
                    centrifuge_minutes_per_day: self.centrifuge_minutes_per_day.unwrap_or(base.centrifuge_minutes_per_day),
                    bisphosphonate: self.bisphosphonate.unwrap_or(base.bisphosphonate),
                    denosumab: self.denosumab.unwrap_or(base.denosumab),
                    romosozumab: self.romosozumab.unwrap_or(base.romosozumab),
                    phase: base.phase,
                }
            }

            fn check_regime(&self, prefix: &str, out: &mut Vec<Invalid>) {
                let mut range = |key: &str, v: Option<f64>, min: f64, max: f64, unit: &str| {
                    if let Some(v) = v
                        && !(min..=max).contains(&v)
                    {
                        let key = format!("{prefix}.{key}");
                        out.push(Invalid::new(
                            &key,
                            format!("value {v} is out of range; allowed {min} ≤ {key} ≤ {max}{unit}"),
                        ));
                    }
                };
                range("gravity", self.gravity, 0.0, 10.0, " g");
                range("exercise_load", self.exercise_load, 0.0, 10.0, " × habitual load");
                range("exercise_cycles_per_day", self.exercise_cycles_per_day, 0.0, 1e6, "");
                range("vibration_load", self.vibration_load, 0.0, 10.0, " × body-weight load");
                range("vibration_hz", self.vibration_hz, 0.0, 1000.0, " Hz");
                range("vibration_minutes_per_day", self.vibration_minutes_per_day, 0.0, 1440.0, " min");
                range("centrifuge_gravity", self.centrifuge_gravity, 0.0, 10.0, " g");
                range("centrifuge_minutes_per_day", self.centrifuge_minutes_per_day, 0.0, WAKING_MINUTES, " min");
            }
        }
    };
}

with_regime!(
    /// One phase of the loading history; regime keys left out keep the `[loading]` value.
    Phase {
        /// Length of the phase.
        days: f64 = 1.0,
        /// A label for plots and summaries (e.g. "flight").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String> = None,
        /// Diet in this phase; left out, the `[nutrition]` value holds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        calcium_mg_per_day: Option<f64> = None,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        vitamin_d_iu_per_day: Option<f64> = None,
    }
);

with_regime!(
    /// `[loading]`: the site's habitual loading and its regime over time.
    LoadingSection {
        /// Share of the site's habitual load carried by body weight: ~0.8 at a
        /// weight-bearing site (tibia, calcaneus), low where muscle dominates.
        #[serde(default = "default_gravity_fraction")]
        gravity_fraction: f64 = default_gravity_fraction(),
        /// Habitual loading cycles per day (Beaupré 1990: 10 000).
        #[serde(default = "default_cycles")]
        habitual_cycles_per_day: f64 = default_cycles(),
        /// Exponent m of the daily stress stimulus ψ = (Σ nᵢσᵢᵐ)^(1/m) (Carter 1987: ~4).
        #[serde(default = "default_exponent")]
        stimulus_exponent: f64 = default_exponent(),
        /// Phases in order; after the last, its regime continues.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        phases: Vec<Phase> = Vec::new(),
    }
);

fn default_gravity_fraction() -> f64 {
    0.8
}
fn default_cycles() -> f64 {
    10_000.0
}
fn default_exponent() -> f64 {
    4.0
}

/// A fully resolved regime for one day.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DayRegime {
    pub gravity: f64,
    pub exercise_load: f64,
    pub exercise_cycles_per_day: f64,
    pub vibration_load: f64,
    pub vibration_hz: f64,
    pub vibration_minutes_per_day: f64,
    pub centrifuge_gravity: f64,
    pub centrifuge_minutes_per_day: f64,
    pub bisphosphonate: bool,
    pub denosumab: bool,
    pub romosozumab: bool,
    /// Index of the phase in force (None before/without phases).
    pub phase: Option<usize>,
}

/// Waking minutes per day over which habitual cycles are spread.
const WAKING_MINUTES: f64 = 960.0;

impl LoadingSection {
    /// Habitual 1 g: no countermeasure, no drug (the spin-up before day 0).
    pub fn habitual(&self) -> DayRegime {
        DayRegime {
            gravity: 1.0,
            exercise_load: 0.0,
            exercise_cycles_per_day: 0.0,
            vibration_load: 0.0,
            vibration_hz: 0.0,
            vibration_minutes_per_day: 0.0,
            centrifuge_gravity: 0.0,
            centrifuge_minutes_per_day: 0.0,
            bisphosphonate: false,
            denosumab: false,
            romosozumab: false,
            phase: None,
        }
    }

    /// The regime in force at time `t_days` (a step uses the time it starts
    /// at): phase i covers [start_i, start_i + days_i); after the last phase
    /// its regime continues; without phases the `[loading]` keys hold.
    pub fn regime_on(&self, t_days: f64) -> DayRegime {
        let base = self.over(&self.habitual());
        let mut end = 0.0;
        for (i, p) in self.phases.iter().enumerate() {
            end += p.days;
            if t_days < end - 1e-9 || i + 1 == self.phases.len() {
                let mut r = p.over(&base);
                r.phase = Some(i);
                return r;
            }
        }
        base
    }

    /// Daily stimulus factor Λ: SED scales with load², and the daily stress
    /// stimulus sums cycles as Σ nᵢ sᵢᵐ (Carter 1987), so
    /// Λ = (Σ nᵢ sᵢᵐ / n_habitual)^(2/m), which is 1 at habitual 1 g.
    pub fn load_factor(&self, r: &DayRegime) -> f64 {
        let m = self.stimulus_exponent;
        let phi = self.gravity_fraction;
        let level = |g: f64| (1.0 - phi) + phi * g;
        let n_h = self.habitual_cycles_per_day;
        let f_c = (r.centrifuge_minutes_per_day / WAKING_MINUTES).clamp(0.0, 1.0);
        let n_vib = r.vibration_hz * 60.0 * r.vibration_minutes_per_day;
        let sum = n_h * (1.0 - f_c) * level(r.gravity).powf(m)
            + n_h * f_c * level(r.centrifuge_gravity).powf(m)
            + r.exercise_cycles_per_day * r.exercise_load.powf(m)
            + n_vib * (phi * r.vibration_load).powf(m);
        (sum / n_h).powf(2.0 / m)
    }

    pub fn validate(&self, out: &mut Vec<Invalid>) {
        let mut range = |key: &str, v: f64, min: f64, max: f64| {
            if !(min..=max).contains(&v) {
                let key = format!("loading.{key}");
                out.push(Invalid::new(
                    &key,
                    format!("value {v} is out of range; allowed {min} ≤ {key} ≤ {max}"),
                ));
            }
        };
        range("gravity_fraction", self.gravity_fraction, 0.0, 1.0);
        range(
            "habitual_cycles_per_day",
            self.habitual_cycles_per_day,
            1.0,
            1e7,
        );
        range("stimulus_exponent", self.stimulus_exponent, 1.0, 16.0);
        self.check_regime("loading", out);
        for (i, p) in self.phases.iter().enumerate() {
            let prefix = format!("loading.phases[{i}]");
            if !(p.days > 0.0 && p.days <= 1e5) {
                out.push(Invalid::new(
                    &format!("{prefix}.days"),
                    format!(
                        "value {} is out of range; allowed 0 < days ≤ 100000",
                        p.days
                    ),
                ));
            }
            p.check_regime(&prefix, out);
            super::nutrition::check_intake(
                &prefix,
                p.calcium_mg_per_day,
                p.vitamin_d_iu_per_day,
                out,
            );
        }
    }
}
