//! The voxel lattice on the CPU side: where bone comes from (a procedural
//! generator or a micro-CT volume) and the host copy used for output and
//! morphometry.

pub mod generate;

use crate::io::mhd::Volume;

/// A voxel is bone when its mineral fraction is at least this (docs/design.md §2, The state).
pub const BONE_THRESHOLD: f32 = 0.5;

/// Mineral fraction per voxel on a regular grid, x fastest.
#[derive(Debug, Clone, PartialEq)]
pub struct Lattice {
    pub dims: [usize; 3],
    pub voxel_size_um: f64,
    pub mineral: Vec<f32>,
}

impl Lattice {
    pub fn len(&self) -> usize {
        self.dims.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bone mask (mineral ≥ 0.5).
    pub fn bone_mask(&self) -> Vec<bool> {
        self.mineral.iter().map(|&m| m >= BONE_THRESHOLD).collect()
    }

    /// Fraction of voxels that are bone.
    pub fn bv_tv(&self) -> f64 {
        let bone = self
            .mineral
            .iter()
            .filter(|&&m| m >= BONE_THRESHOLD)
            .count();
        bone as f64 / self.len() as f64
    }

    /// Mean mineral fraction over all voxels: the BMD-like measure.
    pub fn mineral_mean(&self) -> f64 {
        self.mineral.iter().map(|&m| m as f64).sum::<f64>() / self.len() as f64
    }

    /// The lattice as a float32 MetaImage volume (spacing in mm).
    pub fn to_volume(&self) -> Volume {
        Volume::from_f32(self.dims, self.voxel_size_um / 1000.0, self.mineral.clone())
    }

    /// A lattice from a volume: grey values ≥ `threshold` are bone (mineral 1),
    /// others marrow (0). Float volumes already in [0, 1] keep their fraction
    /// when `threshold` is `None`.
    pub fn from_volume(volume: &Volume, threshold: Option<f64>, voxel_size_um: f64) -> Self {
        let mineral = match threshold {
            Some(t) => volume
                .values_f64()
                .map(|v| if v >= t { 1.0 } else { 0.0 })
                .collect(),
            None => volume
                .values_f64()
                .map(|v| v.clamp(0.0, 1.0) as f32)
                .collect(),
        };
        Self {
            dims: volume.dims,
            voxel_size_um,
            mineral,
        }
    }
}

/// How the lattice of a run was made, for `run.json`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LatticeOrigin {
    pub source: String,
    /// Calibrated band-pass width in voxels (procedural).
    pub sigma_vox: Option<f64>,
    /// (σ in voxels, measured Tb.Th in µm) per calibration round (procedural).
    pub calibration: Vec<(f64, f64)>,
}

/// Builds the lattice a scene asks for: generated on the GPU, or read from a volume.
pub fn from_scene(
    ctx: &crate::gpu::GpuContext,
    scene: &crate::scene::Scene,
) -> anyhow::Result<(Lattice, LatticeOrigin)> {
    from_scene_with_stop(ctx, scene, crate::stop::Stop::never())
}

/// [`from_scene`], giving up with [`crate::stop::StoppedInSetup`] once
/// `stop` is requested (checked between the generator's GPU passes).
pub fn from_scene_with_stop(
    ctx: &crate::gpu::GpuContext,
    scene: &crate::scene::Scene,
    stop: crate::stop::Stop<'_>,
) -> anyhow::Result<(Lattice, LatticeOrigin)> {
    use crate::scene::LatticeSpec;
    use anyhow::Context;
    match scene.lattice.resolve() {
        LatticeSpec::Procedural(p) => {
            let spec = generate::GeneratorSpec {
                dims: p.dims,
                voxel_size_um: p.voxel_size_um,
                bv_tv: p.bv_tv,
                tb_th_um: p.tb_th_um,
                rod_weight: p.rod_weight,
                anisotropy: p.anisotropy,
                seed: crate::gpu::rng::fold_seed(scene.seed),
            };
            let g = generate::generate_with_stop(ctx, &spec, stop)?;
            Ok((
                g.lattice,
                LatticeOrigin {
                    source: "procedural".into(),
                    sigma_vox: Some(g.sigma_vox),
                    calibration: g.calibration,
                },
            ))
        }
        LatticeSpec::Volume {
            path,
            threshold,
            voxel_size_um,
        } => {
            let volume = crate::io::volume::read_volume(&path)?;
            // A NaN would pass the clamp to [0, 1] and poison every field.
            if let Some(i) = volume.values_f64().position(|v| !v.is_finite()) {
                let [nx, ny, _] = volume.dims;
                let v = volume.values_f64().nth(i).unwrap_or(f64::NAN);
                anyhow::bail!(
                    "{}: voxel (x {}, y {}, z {}) is {v}; a volume's values must be finite numbers",
                    path.display(),
                    i % nx,
                    i / nx % ny,
                    i / (nx * ny)
                );
            }
            let voxel_um = match voxel_size_um {
                Some(v) => v,
                None if !volume.spacing_mm[0].is_finite() => anyhow::bail!(
                    "{} carries no voxel size (TIFF); set lattice.voxel_size_um",
                    path.display()
                ),
                None => volume
                    .isotropic_voxel_um()
                    .map_err(anyhow::Error::msg)
                    .with_context(|| format!("{}", path.display()))?,
            };
            Ok((
                Lattice::from_volume(&volume, threshold, voxel_um),
                LatticeOrigin {
                    source: format!("volume {}", path.display()),
                    sigma_vox: None,
                    calibration: Vec::new(),
                },
            ))
        }
    }
}
