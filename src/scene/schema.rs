//! The scene schema: sections, defaults, species presets and allowed ranges.
//!
//! Every field carries its unit in its name. Defaults of biological values
//! and their sources are listed in `docs/parameters.md`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Invalid;
use super::loading::LoadingSection;
use super::nutrition::NutritionSection;
use super::params::{CellsSection, DrugsSection, MechanicsSection, SignalsSection};
use crate::body::Nutrition;
use crate::morph::ThicknessConvention;

/// Longest run a scene (or `resume --days`) may ask for.
pub const MAX_DAYS: u32 = 100_000;

/// A whole scene. Unknown keys anywhere are errors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scene {
    /// Short name, used for default output folders.
    #[serde(default = "default_name")]
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Seed of every random decision (lattice, cells).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Simulated time span in days.
    #[serde(default = "default_days")]
    pub days: u32,
    /// Time step in days (docs/design.md §3, One day: 1 day).
    #[serde(default = "default_dt")]
    pub dt_days: f64,
    /// Days remodeled at habitual 1 g before day 0. A generated or scanned
    /// structure has no resorption cavities and its cells are seeded at
    /// estimated densities; a spin-up starts the run from the model's own
    /// remodeling steady state (remodeling space, cells, set-points).
    #[serde(default)]
    pub spin_up_days: u32,
    #[serde(default)]
    pub lattice: LatticeSection,
    #[serde(default)]
    pub loading: LoadingSection,
    #[serde(default)]
    pub cells: CellsSection,
    #[serde(default)]
    pub signals: SignalsSection,
    #[serde(default)]
    pub drugs: DrugsSection,
    #[serde(default)]
    pub mechanics: MechanicsSection,
    #[serde(default)]
    pub outputs: OutputsSection,
    #[serde(default)]
    pub nutrition: NutritionSection,
    /// The file this scene was read from (not a scene key).
    #[serde(skip)]
    pub source_file: Option<PathBuf>,
}

fn default_name() -> String {
    "scene".into()
}
fn default_seed() -> u64 {
    1
}
fn default_days() -> u32 {
    30
}
fn default_dt() -> f64 {
    1.0
}

/// A scene with every value in force and nothing optional: the species
/// presets filled in where the scene is silent. [`Scene`] is the scene as
/// written (file and overrides); this is what the simulation reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub species: Species,
    pub lattice: LatticeSpec,
    pub cells: super::Cells,
    pub signals: super::Signals,
    pub drugs: super::Drugs,
    pub mechanics: super::Mechanics,
}

/// The lattice a scene asks for, resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum LatticeSpec {
    /// Generated from the seed with these targets.
    Procedural(LatticePreset),
    /// Read from a volume file.
    Volume {
        path: PathBuf,
        /// Grey value at or above which a voxel is bone; without it the
        /// values are mineral fractions.
        threshold: Option<f64>,
        /// Voxel edge in µm; without it, the file's spacing.
        voxel_size_um: Option<f64>,
    },
}

impl Scene {
    /// Every value in force (see [`Resolved`]).
    pub fn resolve(&self) -> Resolved {
        let species = self.lattice.species;
        Resolved {
            species,
            lattice: self.lattice.resolve(),
            cells: self.cells.resolve(species),
            signals: self.signals.resolve(species),
            drugs: self.drugs.resolve(species),
            mechanics: self.mechanics.resolve(species),
        }
    }
}

impl LatticeSection {
    /// The lattice in force: the scene's values, else the species preset's.
    /// (A volume scene without `volume` is refused by validation; resolved,
    /// its empty path fails to read with the path named.)
    pub fn resolve(&self) -> LatticeSpec {
        let p = self.species.lattice_preset();
        match self.source {
            LatticeSource::Procedural => LatticeSpec::Procedural(LatticePreset {
                dims: self.dims.unwrap_or(p.dims),
                voxel_size_um: self.voxel_size_um.unwrap_or(p.voxel_size_um),
                bv_tv: self.bv_tv.unwrap_or(p.bv_tv),
                tb_th_um: self.tb_th_um.unwrap_or(p.tb_th_um),
                rod_weight: self.rod_weight.unwrap_or(p.rod_weight),
                anisotropy: self.anisotropy.unwrap_or(p.anisotropy),
            }),
            LatticeSource::Volume => LatticeSpec::Volume {
                path: self.volume.clone().unwrap_or_default(),
                threshold: self.threshold,
                voxel_size_um: self.voxel_size_um,
            },
        }
    }
}

/// Where the bone comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LatticeSource {
    /// Generated from the seed (`shaders/lattice/generate.wgsl`).
    #[default]
    Procedural,
    /// Read from a micro-CT volume (MetaImage, NIfTI or TIFF).
    Volume,
}

/// Species presets: lattice defaults (and, later, cell parameters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Species {
    /// Adult human weight-bearing trabecular bone.
    #[default]
    Human,
    /// Mouse proximal tibia (C57BL/6, ~10 weeks).
    Mouse,
}

/// Lattice values a species preset supplies when the scene leaves them out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatticePreset {
    pub dims: [usize; 3],
    pub voxel_size_um: f64,
    pub bv_tv: f64,
    pub tb_th_um: f64,
    pub rod_weight: f64,
    pub anisotropy: f64,
}

impl Species {
    /// Sources in `docs/parameters.md`.
    pub fn lattice_preset(self) -> LatticePreset {
        match self {
            // Human trabecular bone: BV/TV 0.20 and Tb.Th 150 µm lie between
            // micro-CT biopsies (0.07, 132 µm) and HR-pQCT distal tibia
            // (0.277, 270 µm, thickened by its 61 µm voxels); 20 µm voxels.
            Species::Human => LatticePreset {
                dims: [64, 64, 64],
                voxel_size_um: 20.0,
                bv_tv: 0.20,
                tb_th_um: 150.0,
                rod_weight: 0.5,
                anisotropy: 1.3,
            },
            // C57BL/6 proximal tibia, ~10 weeks: BV/TV 0.11–0.12, Tb.Th 48–50 µm.
            Species::Mouse => LatticePreset {
                dims: [64, 64, 64],
                voxel_size_um: 8.0,
                bv_tv: 0.12,
                tb_th_um: 50.0,
                rod_weight: 0.7,
                anisotropy: 1.2,
            },
        }
    }
}

/// `[lattice]`: the voxel lattice of bone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LatticeSection {
    #[serde(default)]
    pub source: LatticeSource,
    #[serde(default)]
    pub species: Species,
    /// Voxels along x, y, z (procedural source).
    pub dims: Option<[usize; 3]>,
    /// Edge of a cubic voxel in µm.
    pub voxel_size_um: Option<f64>,
    /// Target bone volume fraction (procedural).
    pub bv_tv: Option<f64>,
    /// Target trabecular thickness in µm (procedural).
    pub tb_th_um: Option<f64>,
    /// 0 = plate-like, 1 = rod-like (procedural).
    pub rod_weight: Option<f64>,
    /// Elongation of the structure along z, the habitual loading axis (procedural).
    pub anisotropy: Option<f64>,
    /// Volume file (`source = "volume"`), relative to the scene file:
    /// MetaImage `.mhd`/`.mha`, NIfTI `.nii`/`.nii.gz`, a multi-page TIFF or
    /// a folder of TIFF slices.
    pub volume: Option<PathBuf>,
    /// Grey value at or above which a voxel is bone; absent: values are
    /// mineral fractions in [0, 1] already.
    pub threshold: Option<f64>,
}

/// `[outputs]`: what a run writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputsSection {
    /// Morphometry (Tb.Th, Tb.Sp, Tb.N, Conn.D) every this many days; rows
    /// in between repeat the last values. 0 = only at start and end.
    #[serde(default = "default_morph_every")]
    pub morphometry_every_days: u32,
    /// Compute morphometry at all (it runs on the CPU; very large lattices
    /// may turn it off and use `trabecula morph` on the saved volumes).
    #[serde(default = "default_true")]
    pub morphometry: bool,
    /// VTK snapshots (`volumes/*.vti` lattice fields, `volumes/*.vtp`
    /// agents) every this many days, from day 0. 0 = none.
    #[serde(default)]
    pub volumes_every_days: u32,
    /// How Tb.Th and Tb.Sp (and so Tb.N) of the time series are measured:
    /// `face-to-face` (a t-voxel plate is t voxels thick) or
    /// `centre-to-centre` (t + 1). See [`crate::morph::ThicknessConvention`].
    #[serde(default)]
    pub thickness_convention: ThicknessConvention,
}

fn default_true() -> bool {
    true
}

fn default_morph_every() -> u32 {
    1
}

impl Default for OutputsSection {
    fn default() -> Self {
        Self {
            morphometry_every_days: default_morph_every(),
            morphometry: true,
            volumes_every_days: 0,
            thickness_convention: ThicknessConvention::default(),
        }
    }
}

/// Collects range errors as `Invalid` with the key path.
struct Checker(Vec<Invalid>);

impl Checker {
    fn range(&mut self, key: &str, value: f64, min: f64, max: f64, unit: &str) {
        if !(min..=max).contains(&value) {
            self.0.push(Invalid::new(
                key,
                format!("value {value} is out of range; allowed {min} ≤ {key} ≤ {max}{unit}"),
            ));
        }
    }

    fn range_opt(&mut self, key: &str, value: Option<f64>, min: f64, max: f64, unit: &str) {
        if let Some(v) = value {
            self.range(key, v, min, max, unit);
        }
    }
}

impl Scene {
    /// Fills what the scene left out from its species preset.
    pub fn apply_presets(&mut self) {
        let p = self.lattice.species.lattice_preset();
        let l = &mut self.lattice;
        if l.source == LatticeSource::Procedural {
            l.dims.get_or_insert(p.dims);
            l.bv_tv.get_or_insert(p.bv_tv);
            l.tb_th_um.get_or_insert(p.tb_th_um);
            l.rod_weight.get_or_insert(p.rod_weight);
            l.anisotropy.get_or_insert(p.anisotropy);
            l.voxel_size_um.get_or_insert(p.voxel_size_um);
        }
        let species = self.lattice.species;
        self.cells.apply_preset(species);
        self.signals.apply_preset(species);
        self.drugs.apply_preset(species);
        self.mechanics.apply_preset(species);
        self.mechanics.model.get_or_insert_default();
    }

    /// Every out-of-range value, in file order of sections.
    pub fn validate(&self) -> Vec<Invalid> {
        let mut c = Checker(Vec::new());
        c.range("days", self.days as f64, 1.0, MAX_DAYS as f64, " days");
        c.range("dt_days", self.dt_days, 0.01, 7.0, " days");
        c.range(
            "spin_up_days",
            self.spin_up_days as f64,
            0.0,
            100_000.0,
            " days",
        );
        let l = &self.lattice;
        c.range_opt("lattice.voxel_size_um", l.voxel_size_um, 0.5, 200.0, " µm");
        c.range_opt("lattice.bv_tv", l.bv_tv, 0.01, 0.6, "");
        c.range_opt("lattice.tb_th_um", l.tb_th_um, 5.0, 1000.0, " µm");
        c.range_opt("lattice.rod_weight", l.rod_weight, 0.0, 1.0, "");
        c.range_opt("lattice.anisotropy", l.anisotropy, 0.5, 4.0, "");
        if let Some(dims) = l.dims {
            for (i, d) in dims.iter().enumerate() {
                c.range(
                    &format!("lattice.dims[{i}]"),
                    *d as f64,
                    8.0,
                    2048.0,
                    " voxels",
                );
            }
        }
        match l.source {
            LatticeSource::Volume if l.volume.is_none() => c.0.push(Invalid::new(
                "lattice.volume",
                "missing: `source = \"volume\"` needs `volume = \"file.mhd\"`",
            )),
            LatticeSource::Procedural if l.volume.is_some() => c.0.push(Invalid::new(
                "lattice.volume",
                "given, but `source` is \"procedural\"; set `source = \"volume\"` to use it",
            )),
            _ => {}
        }
        if let (Some(th), Some(vx)) = (l.tb_th_um, l.voxel_size_um)
            && l.source == LatticeSource::Procedural
            && th < 2.0 * vx
        {
            c.0.push(Invalid::new(
                "lattice.tb_th_um",
                format!(
                    "value {th} is below two voxels ({} µm at voxel_size_um = {vx}); allowed tb_th_um ≥ 2 × voxel_size_um",
                    2.0 * vx
                ),
            ));
        }
        c.range(
            "outputs.volumes_every_days",
            self.outputs.volumes_every_days as f64,
            0.0,
            100_000.0,
            " days",
        );
        self.loading.validate(&mut c.0);
        self.cells.validate(&mut c.0);
        self.signals.validate(&mut c.0);
        self.drugs.validate(&mut c.0);
        self.mechanics.validate(&mut c.0);
        self.nutrition.validate(&mut c.0);
        c.0
    }

    /// Number of steps the scene runs.
    pub fn steps(&self) -> u32 {
        (self.days as f64 / self.dt_days).round().max(1.0) as u32
    }

    /// What the state after the spin-up depends on: everything but the
    /// name, the span, the outputs, the diet and the loading regime (a
    /// spin-up runs at habitual 1 g; the body starts on day 0). Scenes with equal keys reach the same day-0 state, so
    /// one spin-up can start them all. None without a spin-up.
    pub fn spin_up_key(&self) -> Option<String> {
        if self.spin_up_days == 0 {
            return None;
        }
        let key = Scene {
            name: String::new(),
            description: String::new(),
            days: 0,
            loading: LoadingSection {
                phases: Vec::new(),
                ..self.loading.without_regime()
            },
            outputs: OutputsSection::default(),
            // The body starts on day 0 from the day-0 diet.
            nutrition: NutritionSection::default(),
            source_file: None,
            ..self.clone()
        };
        Some(serde_json::to_string(&key).expect("a scene serialises"))
    }

    /// The diet on `t_days`: the phase in force's keys over `[nutrition]`.
    pub fn nutrition_on(&self, t_days: f64) -> Nutrition {
        let base = self.nutrition.intake();
        let phase = self
            .loading
            .regime_on(t_days)
            .phase
            .and_then(|i| self.loading.phases.get(i));
        match phase {
            Some(p) => Nutrition {
                calcium_mg_per_day: p.calcium_mg_per_day.unwrap_or(base.calcium_mg_per_day),
                vitamin_d_iu_per_day: p.vitamin_d_iu_per_day.unwrap_or(base.vitamin_d_iu_per_day),
            },
            None => base,
        }
    }

    /// Number of spin-up steps before day 0.
    pub fn spin_up_steps(&self) -> u32 {
        (self.spin_up_days as f64 / self.dt_days).round() as u32
    }
}
