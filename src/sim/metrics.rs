//! One row of `timeseries.csv` per step, and the series itself.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::step::StepReport;
use super::systemic::BodyReport;
use crate::io::write_atomic;
use crate::lattice::Lattice;
use crate::morph::{Morphometry, ThicknessConvention, morphometry_with};

/// One row of `timeseries.csv`: the only definition of its columns (their
/// names are the field names, in order). Units in the names. A value that
/// is undefined or was not measured that day is an empty cell: NaN in the
/// `f64` columns marked so, `None` in the counts.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Metrics {
    pub day: f64,
    pub phase: i64,
    pub gravity: f64,
    pub load_factor: f64,
    pub bv_tv: f64,
    pub mineral_mean: f64,
    #[serde(with = "blank_if_nan")]
    pub bs_bv_per_mm: f64,
    #[serde(with = "blank_if_nan")]
    pub tb_th_um: f64,
    #[serde(with = "blank_if_nan")]
    pub tb_sp_um: f64,
    #[serde(with = "blank_if_nan")]
    pub tb_n_per_mm: f64,
    #[serde(with = "blank_if_nan")]
    pub conn_d_per_mm3: f64,
    /// 26-connected pieces of bone.
    pub bone_components: Option<u32>,
    /// Pieces of marrow sealed inside the bone (touching no face of the block).
    pub marrow_cavities: Option<u32>,
    pub osteocytes_alive: u32,
    pub osteocytes_apoptotic: u32,
    pub osteocytes_disuse: u32,
    pub osteocytes_embedded: u32,
    pub osteoclasts: u32,
    pub osteoblasts: u32,
    pub resorbed_mm3: f64,
    pub formed_mm3: f64,
    pub mean_stimulus: f64,
    pub mean_rankl: f64,
    pub mean_sclerostin: f64,
    /// Apparent modulus of the last FE solve (0 with uniform SED).
    pub apparent_modulus_mpa: f64,
    /// PCG iterations of the FE solve at the start of this step (0: none).
    pub fe_iterations: u32,
    /// Its final ‖r‖/‖r₀‖ (empty when no solve ran this step).
    #[serde(with = "blank_if_nan")]
    pub fe_relative_residual: f64,
    /// Net calcium leaving the whole skeleton, scaled from the cube (mg/day;
    /// negative when bone is gained). This and the columns below: human
    /// scenes from day 0, empty otherwise (docs/body.md).
    #[serde(with = "blank_if_nan")]
    pub bone_ca_release_mg_per_day: f64,
    /// Resorbed bone per tissue volume per day over its habitual-1 g rate (the
    /// spin-up's last 90 days; empty without a spin-up): read like CTX.
    #[serde(with = "blank_if_nan")]
    pub resorption_marker_rel: f64,
    /// Formed bone likewise: read like bone-specific alkaline phosphatase.
    #[serde(with = "blank_if_nan")]
    pub formation_marker_rel: f64,
    /// Serum total calcium.
    #[serde(with = "blank_if_nan")]
    pub serum_ca_mmol_per_l: f64,
    /// Intact PTH.
    #[serde(with = "blank_if_nan")]
    pub pth_pg_per_ml: f64,
    /// 1,25-dihydroxyvitamin D.
    #[serde(with = "blank_if_nan")]
    pub calcitriol_pmol_per_l: f64,
    /// Net intestinal calcium absorption over intake.
    #[serde(with = "blank_if_nan")]
    pub ca_absorption_fraction: f64,
    /// Urinary calcium.
    #[serde(with = "blank_if_nan")]
    pub urinary_ca_mg_per_day: f64,
    pub wall_s: f64,
}

/// An `f64` written as an empty cell when NaN, and read back so.
mod blank_if_nan {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_nan() {
            s.serialize_none()
        } else {
            s.serialize_some(v)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}

impl Metrics {
    /// Columns that may be empty: undefined (no bone) or not measured that
    /// day; any other empty cell is a cut row.
    pub const OPTIONAL_COLUMNS: [&'static str; 16] = [
        "bs_bv_per_mm",
        "tb_th_um",
        "tb_sp_um",
        "tb_n_per_mm",
        "conn_d_per_mm3",
        "bone_components",
        "marrow_cavities",
        "fe_relative_residual",
        "bone_ca_release_mg_per_day",
        "resorption_marker_rel",
        "formation_marker_rel",
        "serum_ca_mmol_per_l",
        "pth_pg_per_ml",
        "calcitriol_pmol_per_l",
        "ca_absorption_fraction",
        "urinary_ca_mg_per_day",
    ];

    /// Column names, in CSV order (the field names).
    pub fn columns() -> Vec<String> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.serialize(Metrics::unmeasured())
            .expect("a row serialises");
        let bytes = w.into_inner().expect("in memory");
        let text = String::from_utf8(bytes).expect("utf-8");
        let header = text.lines().next().unwrap_or_default();
        header.split(',').map(str::to_string).collect()
    }

    /// A row from a step's GPU report and the latest morphometry (which may
    /// be from an earlier day).
    pub fn new(r: &StepReport, morph: &Morphometry, wall_s: f64) -> Self {
        let body = |f: fn(&BodyReport) -> f64| r.body.as_ref().map_or(f64::NAN, f);
        Self {
            day: r.day,
            phase: r.phase.map(|p| p as i64).unwrap_or(-1),
            gravity: r.gravity,
            load_factor: r.load_factor,
            bv_tv: r.bv_tv,
            mineral_mean: r.mineral_mean,
            bs_bv_per_mm: morph.bs_bv_per_mm,
            tb_th_um: morph.tb_th_um,
            tb_sp_um: morph.tb_sp_um,
            tb_n_per_mm: morph.tb_n_per_mm,
            conn_d_per_mm3: morph.conn_d_per_mm3,
            bone_components: morph.has_bone().then_some(morph.bone_components),
            marrow_cavities: morph.has_bone().then_some(morph.marrow_cavities),
            osteocytes_alive: r.osteocytes_alive,
            osteocytes_apoptotic: r.osteocytes_apoptotic,
            osteocytes_disuse: r.osteocytes_disuse,
            osteocytes_embedded: r.osteocytes_embedded,
            osteoclasts: r.osteoclasts,
            osteoblasts: r.osteoblasts,
            resorbed_mm3: r.resorbed_mm3,
            formed_mm3: r.formed_mm3,
            mean_stimulus: r.mean_stimulus,
            mean_rankl: r.mean_rankl,
            mean_sclerostin: r.mean_sclerostin,
            apparent_modulus_mpa: r.apparent_modulus_mpa,
            fe_iterations: r.solve.map_or(0, |s| s.iterations),
            fe_relative_residual: r.solve.map_or(f64::NAN, |s| s.relative_residual),
            bone_ca_release_mg_per_day: body(|b| b.bone_ca_release_mg_per_day),
            resorption_marker_rel: body(|b| b.resorption_marker_rel.unwrap_or(f64::NAN)),
            formation_marker_rel: body(|b| b.formation_marker_rel.unwrap_or(f64::NAN)),
            serum_ca_mmol_per_l: body(|b| b.serum_ca_mmol_per_l),
            pth_pg_per_ml: body(|b| b.pth_pg_per_ml),
            calcitriol_pmol_per_l: body(|b| b.calcitriol_pmol_per_l),
            ca_absorption_fraction: body(|b| b.ca_absorption_fraction),
            urinary_ca_mg_per_day: body(|b| b.urinary_ca_mg_per_day),
            wall_s,
        }
    }
}

/// Full morphometry of a lattice, thicknesses face-to-face (the default
/// [`ThicknessConvention`]).
pub fn lattice_morphometry(lattice: &Lattice) -> Morphometry {
    lattice_morphometry_with(lattice, ThicknessConvention::default())
}

/// Full morphometry of a lattice, Tb.Th and Tb.Sp in `convention`.
pub fn lattice_morphometry_with(lattice: &Lattice, convention: ThicknessConvention) -> Morphometry {
    morphometry_with(
        &lattice.bone_mask(),
        lattice.dims,
        lattice.voxel_size_um,
        convention,
    )
}

/// Morphometry left unmeasured: NaN structure values (empty cells in the CSV).
pub fn unmeasured() -> Morphometry {
    Morphometry {
        bv_tv: f64::NAN,
        bs_bv_per_mm: f64::NAN,
        tb_th_um: f64::NAN,
        tb_sp_um: f64::NAN,
        tb_n_per_mm: f64::NAN,
        conn_d_per_mm3: f64::NAN,
        euler_characteristic: 0,
        delta_chi: f64::NAN,
        bone_components: 0,
        marrow_cavities: 0,
    }
}

/// The rows so far.
#[derive(Debug, Clone, Default)]
pub struct TimeSeries {
    pub rows: Vec<Metrics>,
}

impl TimeSeries {
    /// Rewrites the whole CSV atomically: a reader never sees half a row.
    pub fn write_csv(&self, path: &Path) -> std::io::Result<()> {
        write_atomic(path, |w| self.write_to(w))
    }

    /// The CSV text, as [`TimeSeries::write_csv`] writes it.
    pub fn to_csv_string(&self) -> anyhow::Result<String> {
        let mut bytes = Vec::new();
        self.write_to(&mut bytes)?;
        Ok(String::from_utf8(bytes)?)
    }

    fn write_to(&self, w: impl std::io::Write) -> std::io::Result<()> {
        let mut csv = csv::Writer::from_writer(w);
        for row in &self.rows {
            csv.serialize(row).map_err(std::io::Error::other)?;
        }
        csv.flush()
    }

    /// Rows of a `timeseries.csv`; an error names the row that does not read.
    pub fn parse_csv(text: &str) -> anyhow::Result<Vec<Metrics>> {
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        reader
            .deserialize()
            .enumerate()
            .map(|(i, row)| row.map_err(|e| anyhow::anyhow!("timeseries.csv row {}: {e}", i + 2)))
            .collect()
    }
}

impl Metrics {
    /// A row with every value zero and every optional value empty (a base
    /// to build rows on).
    pub fn unmeasured() -> Self {
        Self {
            day: 0.0,
            phase: 0,
            gravity: 0.0,
            load_factor: 0.0,
            bv_tv: 0.0,
            mineral_mean: 0.0,
            bs_bv_per_mm: f64::NAN,
            tb_th_um: f64::NAN,
            tb_sp_um: f64::NAN,
            tb_n_per_mm: f64::NAN,
            conn_d_per_mm3: f64::NAN,
            bone_components: None,
            marrow_cavities: None,
            osteocytes_alive: 0,
            osteocytes_apoptotic: 0,
            osteocytes_disuse: 0,
            osteocytes_embedded: 0,
            osteoclasts: 0,
            osteoblasts: 0,
            resorbed_mm3: 0.0,
            formed_mm3: 0.0,
            mean_stimulus: 0.0,
            mean_rankl: 0.0,
            mean_sclerostin: 0.0,
            apparent_modulus_mpa: 0.0,
            fe_iterations: 0,
            fe_relative_residual: f64::NAN,
            bone_ca_release_mg_per_day: f64::NAN,
            resorption_marker_rel: f64::NAN,
            formation_marker_rel: f64::NAN,
            serum_ca_mmol_per_l: f64::NAN,
            pth_pg_per_ml: f64::NAN,
            calcitriol_pmol_per_l: f64::NAN,
            ca_absorption_fraction: f64::NAN,
            urinary_ca_mg_per_day: f64::NAN,
            wall_s: 0.0,
        }
    }
}
