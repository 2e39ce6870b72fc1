//! One row of `timeseries.csv` per step, and the series itself.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::step::StepReport;
use crate::io::write_atomic;
use crate::lattice::Lattice;
use crate::morph::{Morphometry, ThicknessConvention, morphometry_with};

/// Metrics of one step; units in the names.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Metrics {
    pub day: f64,
    pub phase: i64,
    pub gravity: f64,
    pub load_factor: f64,
    pub bv_tv: f64,
    pub mineral_mean: f64,
    pub bs_bv_per_mm: f64,
    pub tb_th_um: f64,
    pub tb_sp_um: f64,
    pub tb_n_per_mm: f64,
    pub conn_d_per_mm3: f64,
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
    /// Its final ‖r‖/‖r₀‖ (NaN when no solve ran this step).
    pub fe_relative_residual: f64,
    pub wall_s: f64,
}

impl Metrics {
    /// The morphometry columns: an empty cell where the value is undefined
    /// (no bone, [`Morphometry::has_bone`]) or unmeasured, never `nan`.
    pub const MORPHOMETRY_COLUMNS: [&'static str; 5] = Morphometry::UNDEFINED_WITHOUT_BONE;

    /// Column names, in CSV order.
    pub const COLUMNS: [&'static str; 26] = [
        "day",
        "phase",
        "gravity",
        "load_factor",
        "bv_tv",
        "mineral_mean",
        "bs_bv_per_mm",
        "tb_th_um",
        "tb_sp_um",
        "tb_n_per_mm",
        "conn_d_per_mm3",
        "osteocytes_alive",
        "osteocytes_apoptotic",
        "osteocytes_disuse",
        "osteocytes_embedded",
        "osteoclasts",
        "osteoblasts",
        "resorbed_mm3",
        "formed_mm3",
        "mean_stimulus",
        "mean_rankl",
        "mean_sclerostin",
        "apparent_modulus_mpa",
        "fe_iterations",
        "fe_relative_residual",
        "wall_s",
    ];

    fn values(&self) -> [f64; 26] {
        [
            self.day,
            self.phase as f64,
            self.gravity,
            self.load_factor,
            self.bv_tv,
            self.mineral_mean,
            self.bs_bv_per_mm,
            self.tb_th_um,
            self.tb_sp_um,
            self.tb_n_per_mm,
            self.conn_d_per_mm3,
            self.osteocytes_alive as f64,
            self.osteocytes_apoptotic as f64,
            self.osteocytes_disuse as f64,
            self.osteocytes_embedded as f64,
            self.osteoclasts as f64,
            self.osteoblasts as f64,
            self.resorbed_mm3,
            self.formed_mm3,
            self.mean_stimulus,
            self.mean_rankl,
            self.mean_sclerostin,
            self.apparent_modulus_mpa,
            self.fe_iterations as f64,
            self.fe_relative_residual,
            self.wall_s,
        ]
    }

    /// A row from a step's GPU report and the latest morphometry (which may
    /// be from an earlier day).
    pub fn new(r: &StepReport, morph: &Morphometry, wall_s: f64) -> Self {
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
        write_atomic(path, |w| {
            writeln!(w, "{}", Metrics::COLUMNS.join(","))?;
            for row in &self.rows {
                let cells: Vec<String> = row
                    .values()
                    .iter()
                    .zip(Metrics::COLUMNS)
                    .map(|(v, name)| {
                        if v.is_nan() && Metrics::MORPHOMETRY_COLUMNS.contains(&name) {
                            String::new()
                        } else {
                            format_value(*v)
                        }
                    })
                    .collect();
                writeln!(w, "{}", cells.join(","))?;
            }
            Ok(())
        })
    }
}

/// Shortest text that reads back as the same f64.
fn format_value(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "nan".into()
    }
}
