//! `[nutrition]`: daily calcium and vitamin D intake, the base countermeasure
//! that exercise and drugs are added to. Phases may change them
//! (`[[loading.phases]] calcium_mg_per_day = ...`).

use serde::{Deserialize, Serialize};

use super::Invalid;
use crate::body::Nutrition;

/// `[nutrition]`: defaults are NASA's flight standards (docs/parameters.md).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NutritionSection {
    /// Dietary calcium (NASA: 1000–1200 mg/day; the lower bound).
    #[serde(default = "default_calcium")]
    pub calcium_mg_per_day: f64,
    /// Vitamin D supplement and diet (NASA: 800 IU/day).
    #[serde(default = "default_vitamin_d")]
    pub vitamin_d_iu_per_day: f64,
}

fn default_calcium() -> f64 {
    Nutrition::default().calcium_mg_per_day
}
fn default_vitamin_d() -> f64 {
    Nutrition::default().vitamin_d_iu_per_day
}

impl Default for NutritionSection {
    fn default() -> Self {
        Self {
            calcium_mg_per_day: default_calcium(),
            vitamin_d_iu_per_day: default_vitamin_d(),
        }
    }
}

/// Allowed intakes: from none to well past the tolerable upper levels
/// (2500 mg calcium, 4000 IU vitamin D), for experiments.
pub const CALCIUM_MAX_MG_PER_DAY: f64 = 5000.0;
pub const VITAMIN_D_MAX_IU_PER_DAY: f64 = 50_000.0;

/// Range-checks an intake key (`prefix.key`).
pub fn check_intake(
    prefix: &str,
    calcium: Option<f64>,
    vitamin_d: Option<f64>,
    out: &mut Vec<Invalid>,
) {
    let mut range = |key: &str, v: Option<f64>, max: f64, unit: &str| {
        if let Some(v) = v
            && !(0.0..=max).contains(&v)
        {
            let key = format!("{prefix}.{key}");
            out.push(Invalid::new(
                &key,
                format!("value {v} is out of range; allowed 0 ≤ {key} ≤ {max}{unit}"),
            ));
        }
    };
    range(
        "calcium_mg_per_day",
        calcium,
        CALCIUM_MAX_MG_PER_DAY,
        " mg/day",
    );
    range(
        "vitamin_d_iu_per_day",
        vitamin_d,
        VITAMIN_D_MAX_IU_PER_DAY,
        " IU/day",
    );
}

impl NutritionSection {
    pub fn validate(&self, out: &mut Vec<Invalid>) {
        check_intake(
            "nutrition",
            Some(self.calcium_mg_per_day),
            Some(self.vitamin_d_iu_per_day),
            out,
        );
    }

    pub fn intake(&self) -> Nutrition {
        Nutrition {
            calcium_mg_per_day: self.calcium_mg_per_day,
            vitamin_d_iu_per_day: self.vitamin_d_iu_per_day,
        }
    }
}
