//! Trabecular morphometry (ASBMR nomenclature, Bouxsein et al. 2010) on a
//! binary voxel volume. Pure CPU; the per-line and per-slab passes use rayon.
//!
//! Volumes are `&[bool]` (`true` = bone) with x fastest:
//! index = x + nx·(y + ny·z). Voxels are cubes of edge `voxel_size_um`.
//!
//! # Definitions
//!
//! - `bv_tv`: bone voxels / all voxels.
//! - `bs_bv_per_mm`: bone surface / bone volume. The surface area is a
//!   Cauchy–Crofton estimate: S = 2·Σ_k w_k·I_k·a_k, with I_k the number of
//!   bone/marrow transitions between voxel pairs one lattice step apart along
//!   each of the 13 lattice directions k (3 axes, 6 face diagonals, 4 body
//!   diagonals) and a_k = 1/|d_k| the cross-section each digital line of
//!   direction k stands for. Counting transitions along lines measures the
//!   sampled surface itself, not the voxel staircase (face counting overshoots
//!   a smooth surface by ~1.5×, binary marching cubes by ~8 %). The weights
//!   (axes a, face diagonals b, body diagonals c = 1/10) satisfy
//!   3a + 6b + 4c = 1, so the mean over all plane orientations is exact
//!   (spheres and isotropic structures are unbiased), and make planes normal
//!   to an axis exact; the free weight c minimises the orientation error
//!   (−8 %…+5 % for a single oblique plane, 3 % r.m.s. over orientations).
//!   The block's outer faces are NOT bone surface (a cut-out block of a
//!   larger bone): pairs that would leave the block are mirrored back into it
//!   (half-sample symmetric boundary), which adds no transition across a
//!   block face and keeps every line of every direction complete, so a slab
//!   spanning the block in x–y has BS/BV = 2/t exactly.
//! - `tb_th_um` / `tb_sp_um`: mean local thickness of the bone / marrow
//!   voxels (Hildebrand & Rüegsegger 1997; BoneJ "Thickness", Dougherty &
//!   Kunzelmann 2007): the local thickness of a voxel is the diameter of the
//!   largest ball that contains it and fits in the phase. With d_c the exact
//!   Euclidean distance from voxel centre c to the nearest voxel centre of
//!   the other phase ([`squared_edt`]), the ball at c holds the voxel
//!   centres x with |x − c| < d_c (no other-phase centre is that near).
//!   Its diameter depends on where its surface is taken to be, the
//!   [`ThicknessConvention`]:
//!   - `face-to-face` (the default): the ball reaches the voxel boundary,
//!     half a voxel before the other-phase centre: r_c = d_c − ½, diameter
//!     2·d_c − 1. A slab of odd thickness t measures exactly t (even t:
//!     t − 1, the digital ball is centred on a voxel), as the faces of its
//!     voxels are t apart. bone-microarchitecture's `hildebrand` method
//!     (radius d_c − ½ voxel) measures the same.
//!   - `centre-to-centre`: the ball reaches the other-phase voxel centres:
//!     diameter 2·d_c. A slab of odd thickness t measures t + 1, the
//!     distance between the centres of the marrow voxels on either side.
//!     ormir-xct's `trabecular_thickness` measures this (2 × its distance
//!     map; BoneJ's Thickness doubles its distance map too, not checked
//!     here).
//!
//!   The balls, and so which ball is largest at a voxel, are the same in
//!   both: every voxel's centre-to-centre thickness is its face-to-face one
//!   plus exactly one voxel, and so are Tb.Th and Tb.Sp (one voxel edge).
//!   Centres whose ball lies inside a 26-neighbour's ball
//!   (d_n ≥ d_c + |n − c|) are dropped (distance ridge) and the rest are
//!   painted with max. Outside the block counts as neither phase: only
//!   other-phase voxels inside the block bound a ball, so a cut does not
//!   thin trabeculae at the block faces (BoneJ instead treats the outside
//!   as background for bone). A phase with no other-phase voxel in the
//!   block gets the block's largest extent n (n + 1 centre-to-centre, as a
//!   slab of n voxels).
//! - `tb_n_per_mm` = 1 / (Tb.Th + Tb.Sp), in the same convention.
//! - `euler_characteristic`: χ of the bone as a union of closed unit cubes,
//!   V − E + F − C over the cube complex (equivalently the Toriwaki–Yonekura
//!   2×2×2 octant table used by BoneJ's Connectivity), bone 26-connected,
//!   marrow 6-connected, the outside of the block background. For a
//!   connected object χ = 1 − loops + cavities.
//! - `delta_chi`: the block's contribution to χ of the network it was cut
//!   from (Odgaard & Gundersen 1993; BoneJ Connectivity `deltaChi =
//!   sumEuler − edgeCorrection`, with edgeCorrection = χ₂/2 + χ₁/4 + χ₀/8 for
//!   χ₂, χ₁, χ₀ the χ of the bone on the block's surface, on its 12 edges
//!   and on its 8 corners). Expanding the unions by inclusion–exclusion,
//!   this is Δχ = χ(X) − ½Σ_faces χ(X∩F) + ¼Σ_edges χ(X∩E) − ⅛Σ_corners
//!   χ(X∩C), computed here with the 6 boundary slices as closed squares
//!   (8-connected), the 12 boundary lines as runs and the 8 corner voxels.
//! - `conn_d_per_mm3` = (1 − Δχ) / V_block.
//! - `bone_components`: 26-connected pieces of bone; `marrow_cavities`:
//!   6-connected pieces of marrow that touch no face of the block (marrow
//!   sealed inside bone). Together with χ they tell fragmentation (more
//!   components), enclosed cavities and loops (χ = components − loops +
//!   cavities) apart, which Conn.D alone mixes.
//!
//! A volume with no bone has BV/TV 0 and χ = Δχ = 0, but no surface, no
//! trabeculae and no network: BS/BV, Tb.Th, Tb.Sp, Tb.N and Conn.D are
//! undefined there, and are NaN ([`Morphometry::has_bone`] is false). Outputs
//! show them as undefined: `null` in JSON, an empty cell in CSV.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Where a maximal ball's surface is taken to be, for the local thickness
/// behind Tb.Th and Tb.Sp (and so Tb.N). See the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ThicknessConvention {
    /// Diameter 2·d − 1 voxels, d the distance from the ball's centre voxel
    /// to the nearest other-phase voxel centre: a t-voxel plate measures t.
    #[default]
    FaceToFace,
    /// Diameter 2·d voxels: a t-voxel plate measures t + 1 (one voxel
    /// more than face-to-face, everywhere).
    CentreToCentre,
}

/// `trabecula morph --json`: the morphometry and the thickness convention
/// its Tb.Th and Tb.Sp were measured in.
#[derive(Debug, Clone, Serialize)]
pub struct MorphReport {
    #[serde(flatten)]
    pub morphometry: Morphometry,
    pub thickness_convention: ThicknessConvention,
    pub thickness_convention_description: &'static str,
}

impl MorphReport {
    pub fn new(morphometry: Morphometry, convention: ThicknessConvention) -> Self {
        Self {
            morphometry,
            thickness_convention: convention,
            thickness_convention_description: convention.description(),
        }
    }
}

impl ThicknessConvention {
    pub const ALL: [ThicknessConvention; 2] = [Self::FaceToFace, Self::CentreToCentre];

    /// The name used on the command line, in scenes and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::FaceToFace => "face-to-face",
            Self::CentreToCentre => "centre-to-centre",
        }
    }

    /// One line saying what the convention measures, for outputs.
    pub fn description(self) -> &'static str {
        match self {
            Self::FaceToFace => {
                "ball diameter 2*d - 1 voxels (d: distance to the nearest other-phase voxel centre): \
                 a t-voxel plate measures t voxels, as bone-microarchitecture's hildebrand method"
            }
            Self::CentreToCentre => {
                "ball diameter 2*d voxels (d: distance to the nearest other-phase voxel centre): \
                 a t-voxel plate measures t + 1 voxels, as ormir-xct's trabecular_thickness"
            }
        }
    }

    /// Voxels added to the face-to-face diameter 2·d − 1.
    fn extra_voxels(self) -> f64 {
        match self {
            Self::FaceToFace => 0.0,
            Self::CentreToCentre => 1.0,
        }
    }
}

impl std::fmt::Display for ThicknessConvention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Morphometric indices of one volume. A NaN index is undefined (no bone)
/// or unmeasured; it serialises as `null` and reads back from `null`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Morphometry {
    /// Bone volume fraction.
    #[serde(deserialize_with = "nan_if_null")]
    pub bv_tv: f64,
    /// Bone surface / bone volume, 1/mm.
    #[serde(deserialize_with = "nan_if_null")]
    pub bs_bv_per_mm: f64,
    /// Mean local thickness of bone, µm.
    #[serde(deserialize_with = "nan_if_null")]
    pub tb_th_um: f64,
    /// Mean local thickness of marrow, µm.
    #[serde(deserialize_with = "nan_if_null")]
    pub tb_sp_um: f64,
    /// 1 / (Tb.Th + Tb.Sp), 1/mm.
    #[serde(deserialize_with = "nan_if_null")]
    pub tb_n_per_mm: f64,
    /// Connectivity density (1 − Δχ) / V, 1/mm³.
    #[serde(deserialize_with = "nan_if_null")]
    pub conn_d_per_mm3: f64,
    /// χ of the bone in the block, the outside taken as background.
    pub euler_characteristic: i64,
    /// Edge-corrected contribution of the block to the network's χ.
    #[serde(deserialize_with = "nan_if_null")]
    pub delta_chi: f64,
    /// 26-connected pieces of bone.
    #[serde(default)]
    pub bone_components: u32,
    /// 6-connected pieces of marrow touching no face of the block.
    #[serde(default)]
    pub marrow_cavities: u32,
}

impl Morphometry {
    /// Names of the indices a volume with no bone leaves undefined.
    pub const UNDEFINED_WITHOUT_BONE: [&'static str; 5] = [
        "bs_bv_per_mm",
        "tb_th_um",
        "tb_sp_um",
        "tb_n_per_mm",
        "conn_d_per_mm3",
    ];

    /// False for a volume with no bone (its structure indices are NaN) and
    /// for unmeasured morphometry.
    pub fn has_bone(&self) -> bool {
        self.bv_tv > 0.0
    }
}

/// serde_json writes a NaN f64 as `null`; read it back as NaN.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

fn check_dims(len: usize, dims: [usize; 3]) {
    assert!(dims.iter().all(|&d| d > 0), "empty volume {dims:?}");
    assert_eq!(
        len,
        dims.iter().product::<usize>(),
        "volume length vs dims {dims:?}"
    );
}

/// All indices for one bone volume (`true` = bone) of cubic voxels, Tb.Th
/// and Tb.Sp face-to-face (the default [`ThicknessConvention`]).
pub fn morphometry(bone: &[bool], dims: [usize; 3], voxel_size_um: f64) -> Morphometry {
    morphometry_with(bone, dims, voxel_size_um, ThicknessConvention::default())
}

/// All indices for one bone volume (`true` = bone) of cubic voxels, Tb.Th
/// and Tb.Sp (and so Tb.N) in `convention`.
pub fn morphometry_with(
    bone: &[bool],
    dims: [usize; 3],
    voxel_size_um: f64,
    convention: ThicknessConvention,
) -> Morphometry {
    check_dims(bone.len(), dims);
    let n = bone.len();
    let h_mm = voxel_size_um * 1e-3;
    let nb = bone.iter().filter(|&&b| b).count();
    let bv_tv = nb as f64 / n as f64;
    let volume_mm3 = n as f64 * h_mm.powi(3);
    if nb == 0 {
        // No bone: no surface, no trabeculae, no network to count.
        return Morphometry {
            bv_tv,
            bs_bv_per_mm: f64::NAN,
            tb_th_um: f64::NAN,
            tb_sp_um: f64::NAN,
            tb_n_per_mm: f64::NAN,
            conn_d_per_mm3: f64::NAN,
            euler_characteristic: euler_characteristic(bone, dims),
            delta_chi: delta_chi(bone, dims),
            bone_components: 0,
            marrow_cavities: 0,
        };
    }
    let bs_vox = bone_surface_area(bone, dims);
    let marrow: Vec<bool> = bone.iter().map(|b| !b).collect();
    let (th_vox, sp_vox) = rayon::join(
        || mean_local_thickness_with(bone, dims, convention),
        || mean_local_thickness_with(&marrow, dims, convention),
    );
    let tb_th_um = th_vox * voxel_size_um;
    let tb_sp_um = sp_vox * voxel_size_um;
    let chi = euler_characteristic(bone, dims);
    let dchi = delta_chi(bone, dims);
    Morphometry {
        bv_tv,
        bs_bv_per_mm: bs_vox / nb as f64 / h_mm,
        tb_th_um,
        tb_sp_um,
        tb_n_per_mm: if tb_th_um + tb_sp_um > 0.0 {
            1000.0 / (tb_th_um + tb_sp_um)
        } else {
            0.0
        },
        conn_d_per_mm3: (1.0 - dchi) / volume_mm3,
        euler_characteristic: chi,
        delta_chi: dchi,
        bone_components: components(bone, dims, true).count,
        marrow_cavities: components(&marrow, dims, false).enclosed,
    }
}

/// Connected pieces of `mask`: how many, and how many touch no face of the block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pieces {
    pub count: u32,
    pub enclosed: u32,
}

/// Pieces of `mask`, 26-connected if `full`, else 6-connected (flood fill).
pub fn components(mask: &[bool], dims: [usize; 3], full: bool) -> Pieces {
    check_dims(mask.len(), dims);
    let [nx, ny, nz] = dims;
    let offsets: Vec<[i64; 3]> = (-1..=1)
        .flat_map(|z| (-1..=1).flat_map(move |y| (-1..=1).map(move |x| [x, y, z])))
        .filter(|o: &[i64; 3]| {
            let l1 = o.iter().map(|v| v.abs()).sum::<i64>();
            l1 > 0 && (full || l1 == 1)
        })
        .collect();
    let mut seen = vec![false; mask.len()];
    let mut stack = Vec::new();
    let mut pieces = Pieces {
        count: 0,
        enclosed: 0,
    };
    for start in 0..mask.len() {
        if !mask[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let mut touches_face = false;
        while let Some(i) = stack.pop() {
            let p = [i % nx, (i / nx) % ny, i / (nx * ny)];
            if p[0] == 0
                || p[1] == 0
                || p[2] == 0
                || p[0] == nx - 1
                || p[1] == ny - 1
                || p[2] == nz - 1
            {
                touches_face = true;
            }
            for o in &offsets {
                let q = [p[0] as i64 + o[0], p[1] as i64 + o[1], p[2] as i64 + o[2]];
                if q[0] < 0
                    || q[1] < 0
                    || q[2] < 0
                    || q[0] >= nx as i64
                    || q[1] >= ny as i64
                    || q[2] >= nz as i64
                {
                    continue;
                }
                let j = q[0] as usize + nx * (q[1] as usize + ny * q[2] as usize);
                if mask[j] && !seen[j] {
                    seen[j] = true;
                    stack.push(j);
                }
            }
        }
        pieces.count += 1;
        if !touches_face {
            pieces.enclosed += 1;
        }
    }
    pieces
}

/// Mean of [`local_thickness`] over the voxels of `mask` (voxel units,
/// face-to-face); 0 if empty.
pub fn mean_local_thickness(mask: &[bool], dims: [usize; 3]) -> f64 {
    mean_local_thickness_with(mask, dims, ThicknessConvention::default())
}

/// Mean of [`local_thickness_with`] over the voxels of `mask` (voxel
/// units); 0 if empty.
pub fn mean_local_thickness_with(
    mask: &[bool],
    dims: [usize; 3],
    convention: ThicknessConvention,
) -> f64 {
    let th = local_thickness_with(mask, dims, convention);
    let (s, c) = th
        .iter()
        .zip(mask)
        .filter(|(_, m)| **m)
        .fold((0.0, 0usize), |(s, c), (t, _)| (s + *t as f64, c + 1));
    if c == 0 { 0.0 } else { s / c as f64 }
}

/// The 13 lattice directions (one of each ± pair): 3 axes, 6 face
/// diagonals, 4 body diagonals.
const DIRECTIONS: [[i64; 3]; 13] = [
    [1, 0, 0],
    [0, 1, 0],
    [0, 0, 1],
    [1, 1, 0],
    [1, -1, 0],
    [1, 0, 1],
    [1, 0, -1],
    [0, 1, 1],
    [0, 1, -1],
    [1, 1, 1],
    [1, 1, -1],
    [1, -1, 1],
    [-1, 1, 1],
];

/// Crofton weights (axis a, face diagonal b, body diagonal c): c = 1/10 and
/// a, b solve 3a + 6b + 4c = 1 (exact mean over plane orientations) and
/// 2·(a + 4b/√2 + 4c/√3) = 1 (exact for a plane normal to an axis).
fn crofton_weights() -> [f64; 3] {
    let c = 0.1;
    let (s2, s3) = (2f64.sqrt(), 3f64.sqrt());
    // 3a + 6b = 1 − 4c;  a + 2√2 b = ½ − 4c/√3.
    let (r0, r1) = (1.0 - 4.0 * c, 0.5 - 4.0 * c / s3);
    let det = 3.0 * 2.0 * s2 - 6.0;
    let a = (r0 * 2.0 * s2 - 6.0 * r1) / det;
    let b = (3.0 * r1 - r0) / det;
    [a, b, c]
}

/// Mirror an index one step outside `0..n` back onto the edge voxel.
#[inline]
fn mirror(i: i64, n: i64) -> i64 {
    if i < 0 {
        0
    } else if i >= n {
        n - 1
    } else {
        i
    }
}

/// Area (voxel faces, i.e. in voxel-edge² units) of the boundary between
/// `true` and `false` voxels, Cauchy–Crofton over the 13 lattice directions
/// with the block faces mirrored (they are not surface). See module docs.
pub fn bone_surface_area(mask: &[bool], dims: [usize; 3]) -> f64 {
    check_dims(mask.len(), dims);
    let w = crofton_weights();
    let [nx, ny, nz] = dims.map(|d| d as i64);
    let mut area = 0.0;
    for d in DIRECTIONS.iter() {
        let steps = d.iter().filter(|&&c| c != 0).count();
        let crossings: u64 = (0..nz)
            .into_par_iter()
            .map(|z| {
                let z2 = mirror(z + d[2], nz);
                let mut c = 0u64;
                for y in 0..ny {
                    let y2 = mirror(y + d[1], ny);
                    let row = (nx * (y + ny * z)) as usize;
                    let row2 = (nx * (y2 + ny * z2)) as usize;
                    for x in 0..nx {
                        let x2 = mirror(x + d[0], nx);
                        c += (mask[row + x as usize] != mask[row2 + x2 as usize]) as u64;
                    }
                }
                c
            })
            .sum();
        let len = (steps as f64).sqrt();
        area += 2.0 * w[steps - 1] * crossings as f64 / len;
    }
    area
}

/// Value of [`squared_edt`] where the volume holds no background voxel.
pub const EDT_NO_BACKGROUND: i64 = i64::MAX / 4;

/// 1-D squared distance transform (Felzenszwalb & Huttenlocher 2012) of the
/// sampled function `f` (`EDT_NO_BACKGROUND` = +∞), in place.
fn edt_1d(f: &mut [i64], v: &mut Vec<usize>, z: &mut Vec<f64>, out: &mut Vec<i64>) {
    let n = f.len();
    v.clear();
    z.clear();
    out.clear();
    let Some(q0) = f.iter().position(|&fq| fq < EDT_NO_BACKGROUND) else {
        return;
    };
    // Lower envelope of the parabolas (q − p)² + f[p]; v: their apexes,
    // z: the boundaries between consecutive ones.
    v.push(q0);
    z.push(f64::NEG_INFINITY);
    z.push(f64::INFINITY);
    for q in q0 + 1..n {
        if f[q] >= EDT_NO_BACKGROUND {
            continue;
        }
        loop {
            let p = *v.last().unwrap();
            let s = ((f[q] + (q * q) as i64) - (f[p] + (p * p) as i64)) as f64
                / (2.0 * (q as f64 - p as f64));
            if s <= z[z.len() - 2] {
                v.pop();
                z.pop();
                if v.is_empty() {
                    v.push(q);
                    *z.last_mut().unwrap() = f64::INFINITY;
                    break;
                }
            } else {
                *z.last_mut().unwrap() = s;
                v.push(q);
                z.push(f64::INFINITY);
                break;
            }
        }
    }
    let mut k = 0;
    for q in 0..n {
        while z[k + 1] < q as f64 {
            k += 1;
        }
        let p = v[k];
        let d = q as i64 - p as i64;
        out.push(d * d + f[p]);
    }
    f.copy_from_slice(out);
}

/// Exact squared Euclidean distance transform (separable, Saito–Toriwaki /
/// Felzenszwalb–Huttenlocher): for every voxel, the squared distance in
/// voxel units from its centre to the nearest voxel centre where `mask` is
/// `false` (0 on those voxels). Voxels outside the volume are not
/// background. Where the volume has no background at all, every value is
/// [`EDT_NO_BACKGROUND`].
pub fn squared_edt(mask: &[bool], dims: [usize; 3]) -> Vec<i64> {
    check_dims(mask.len(), dims);
    let [nx, ny, nz] = dims;
    let mut d: Vec<i64> = mask
        .iter()
        .map(|&m| if m { EDT_NO_BACKGROUND } else { 0 })
        .collect();
    let scratch = || (Vec::new(), Vec::new(), Vec::new());
    // x lines
    d.par_chunks_mut(nx)
        .for_each_init(scratch, |(v, z, o), line| {
            edt_1d(line, v, z, o);
        });
    // y lines, one z slab per task
    d.par_chunks_mut(nx * ny)
        .for_each_init(scratch, |(v, z, o), slab| {
            let mut line = vec![0i64; ny];
            for x in 0..nx {
                for (y, l) in line.iter_mut().enumerate() {
                    *l = slab[x + nx * y];
                }
                edt_1d(&mut line, v, z, o);
                for (y, l) in line.iter().enumerate() {
                    slab[x + nx * y] = *l;
                }
            }
        });
    // z lines, one y row (nx columns) per task, written back afterwards
    let plane = nx * ny;
    let rows: Vec<Vec<i64>> = (0..ny)
        .into_par_iter()
        .map_init(scratch, |(v, z, o), y| {
            let mut out = vec![0i64; nx * nz];
            let mut line = vec![0i64; nz];
            for x in 0..nx {
                let xy = x + nx * y;
                for (k, l) in line.iter_mut().enumerate() {
                    *l = d[xy + plane * k];
                }
                edt_1d(&mut line, v, z, o);
                out[x * nz..(x + 1) * nz].copy_from_slice(&line);
            }
            out
        })
        .collect();
    for (y, row) in rows.into_iter().enumerate() {
        for x in 0..nx {
            let xy = x + nx * y;
            for k in 0..nz {
                d[xy + plane * k] = row[x * nz + k];
            }
        }
    }
    d
}

/// Local thickness (ball diameter, voxel units, face-to-face) of every
/// voxel of `mask`; 0 elsewhere. See the module docs for the definition.
pub fn local_thickness(mask: &[bool], dims: [usize; 3]) -> Vec<f32> {
    local_thickness_with(mask, dims, ThicknessConvention::default())
}

/// Local thickness (ball diameter, voxel units) of every voxel of `mask` in
/// `convention`; 0 elsewhere. See the module docs for the definition.
pub fn local_thickness_with(
    mask: &[bool],
    dims: [usize; 3],
    convention: ThicknessConvention,
) -> Vec<f32> {
    check_dims(mask.len(), dims);
    let [nx, ny, nz] = dims;
    let extra = convention.extra_voxels();
    if !mask.contains(&false) {
        // No boundary inside the block: its extent bounds the phase.
        let cap = (nx.max(ny).max(nz) as f64 + extra) as f32;
        return vec![cap; mask.len()];
    }
    let d2 = squared_edt(mask, dims);
    let plane = nx * ny;
    // Distance ridge: drop centres whose digital ball lies inside a
    // 26-neighbour's ball (which is then larger), which cannot change the
    // maximum: ball(c + s) ⊇ ball(c) iff d_n² > max_{|u|² < d_c²} |u − s|².
    let max_q = d2.iter().copied().max().unwrap_or(0);
    let reach = ball_reach(max_q);
    let mut centres: Vec<(i64, usize)> = (0..nz)
        .into_par_iter()
        .flat_map_iter(|z| {
            let mut found = Vec::new();
            for y in 0..ny {
                for x in 0..nx {
                    let i = x + nx * (y + ny * z);
                    let c2 = d2[i];
                    if c2 == 0 {
                        continue;
                    }
                    let r = reach[c2 as usize];
                    let mut covered = false;
                    'n: for dz in -1i64..=1 {
                        let c = z as i64 + dz;
                        if c < 0 || c >= nz as i64 {
                            continue;
                        }
                        for dy in -1i64..=1 {
                            let b = y as i64 + dy;
                            if b < 0 || b >= ny as i64 {
                                continue;
                            }
                            for dx in -1i64..=1 {
                                let a = x as i64 + dx;
                                if a < 0 || a >= nx as i64 {
                                    continue;
                                }
                                let steps =
                                    (dx != 0) as usize + (dy != 0) as usize + (dz != 0) as usize;
                                if steps == 0 {
                                    continue;
                                }
                                let n2 = d2[a as usize + nx * (b as usize + ny * c as usize)];
                                if n2 > r[steps - 1] {
                                    covered = true;
                                    break 'n;
                                }
                            }
                        }
                    }
                    if !covered {
                        found.push((c2, i));
                    }
                }
            }
            found
        })
        .collect();
    centres.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    // Paint: each voxel takes the largest ball holding its centre
    // (|x − c|² < d_c², exact in integers), one z slab per task.
    let mut th = vec![0f32; mask.len()];
    th.par_chunks_mut(plane).enumerate().for_each(|(z, slab)| {
        for &(c2, c) in &centres {
            let cz = (c / plane) as i64;
            let dz = z as i64 - cz;
            let rem = c2 - dz * dz;
            if rem <= 0 {
                continue;
            }
            let cy = ((c / nx) % ny) as i64;
            let cx = (c % nx) as i64;
            let dia = (2.0 * (c2 as f64).sqrt() - 1.0 + extra) as f32;
            let ry = (rem - 1).isqrt();
            let y0 = (cy - ry).max(0);
            let y1 = (cy + ry).min(ny as i64 - 1);
            for y in y0..=y1 {
                let dy = y - cy;
                let rx = (rem - dy * dy - 1).isqrt();
                let x0 = (cx - rx).max(0) as usize;
                let x1 = (cx + rx).min(nx as i64 - 1) as usize;
                let row = nx * y as usize;
                for t in &mut slab[row + x0..=row + x1] {
                    if *t < dia {
                        *t = dia;
                    }
                }
            }
        }
    });
    th
}

/// For every squared radius q in 0..=max_q and step s ∈ {(1,0,0), (1,1,0),
/// (1,1,1)} (up to sign and permutation): the largest |u − s|² over the
/// digital ball {u : |u|² < q}, i.e. ball(c + s) ⊇ ball(c) iff d²(c + s)
/// exceeds it. Entry q = 0 (empty ball) is −1.
fn ball_reach(max_q: i64) -> Vec<[i64; 3]> {
    let len = max_q.max(0) as usize + 1;
    // best[m]: max over u with |u|² = m of |u|² + 2·u·s (u in the positive
    // octant, components sorted so the sums take the largest ones).
    let mut best = vec![[i64::MIN; 3]; len];
    let r = if max_q > 0 { (max_q - 1).isqrt() } else { 0 };
    for a in 0..=r {
        for b in 0..=a {
            for c in 0..=b {
                let m = a * a + b * b + c * c;
                if m >= max_q {
                    continue;
                }
                let e = &mut best[m as usize];
                e[0] = e[0].max(m + 2 * a);
                e[1] = e[1].max(m + 2 * (a + b));
                e[2] = e[2].max(m + 2 * (a + b + c));
            }
        }
    }
    // reach[q] = |s|² + max over m < q.
    let mut reach = vec![[-1i64; 3]; len];
    let mut run = [i64::MIN; 3];
    for q in 1..len {
        for k in 0..3 {
            run[k] = run[k].max(best[q - 1][k]);
            reach[q][k] = if run[k] == i64::MIN {
                -1
            } else {
                run[k] + k as i64 + 1
            };
        }
    }
    reach
}

/// Euler characteristic of the union of the closed voxel cubes of `bone`
/// (bone 26-connected, background 6-connected), V − E + F − C over the cube
/// complex; the outside of the volume is background.
pub fn euler_characteristic(bone: &[bool], dims: [usize; 3]) -> i64 {
    check_dims(bone.len(), dims);
    // One voxel of background padding on each side (lower faces) so every
    // lookup below is in range; the upper padding comes from the `+ 2`.
    let [nx, ny, nz] = dims;
    let (px, py, pz) = (nx + 2, ny + 2, nz + 2);
    let mut pad = vec![false; px * py * pz];
    for z in 0..nz {
        for y in 0..ny {
            let src = nx * (y + ny * z);
            let dst = 1 + px * (y + 1 + py * (z + 1));
            pad[dst..dst + nx].copy_from_slice(&bone[src..src + nx]);
        }
    }
    let pad = &pad;
    // Lattice point (x, y, z) of the padded grid is the low corner of padded
    // voxel (x, y, z); it, and the edges and faces with it as low corner,
    // touch the voxels at offsets −1..0. Points 1..=n+1 cover the object.
    (1..=nz + 1)
        .into_par_iter()
        .map(|z| {
            let at = |x: usize, y: usize, z: usize| pad[x + px * (y + py * z)] as i64;
            let mut chi = 0i64;
            for y in 1..=ny + 1 {
                for x in 1..=nx + 1 {
                    let v000 = at(x, y, z);
                    let v100 = at(x - 1, y, z);
                    let v010 = at(x, y - 1, z);
                    let v110 = at(x - 1, y - 1, z);
                    let v001 = at(x, y, z - 1);
                    let v101 = at(x - 1, y, z - 1);
                    let v011 = at(x, y - 1, z - 1);
                    let v111 = at(x - 1, y - 1, z - 1);
                    // vertex
                    chi += v000 | v100 | v010 | v110 | v001 | v101 | v011 | v111;
                    // edges along +x, +y, +z from this point
                    chi -= v000 | v010 | v001 | v011;
                    chi -= v000 | v100 | v001 | v101;
                    chi -= v000 | v100 | v010 | v110;
                    // faces with this low corner: normal z, normal y, normal x
                    chi += v000 | v001;
                    chi += v000 | v010;
                    chi += v000 | v100;
                    // cube
                    chi -= v000;
                }
            }
            chi
        })
        .sum()
}

/// Euler characteristic of a 2-D slice of closed unit squares (8-connected),
/// V − E + F, the outside background.
fn euler_2d(cells: &[bool], w: usize, h: usize) -> i64 {
    let (w, h) = (w as i64, h as i64);
    let at = |x: i64, y: i64| x >= 0 && y >= 0 && x < w && y < h && cells[(x + w * y) as usize];
    let mut chi = 0;
    for y in 0..=h {
        for x in 0..=w {
            chi += (at(x, y) || at(x - 1, y) || at(x, y - 1) || at(x - 1, y - 1)) as i64;
            chi -= (at(x, y) || at(x, y - 1)) as i64;
            chi -= (at(x, y) || at(x - 1, y)) as i64;
            chi += at(x, y) as i64;
        }
    }
    chi
}

/// Euler characteristic of a line of closed unit segments: its number of runs.
fn euler_1d(cells: impl Iterator<Item = bool>) -> i64 {
    let mut runs = 0;
    let mut prev = false;
    for c in cells {
        runs += (c && !prev) as i64;
        prev = c;
    }
    runs
}

/// Odgaard–Gundersen Δχ of a block cut from a larger network (as BoneJ
/// Connectivity): χ(X) − ½Σχ(faces) + ¼Σχ(edges) − ⅛Σχ(corners).
pub fn delta_chi(bone: &[bool], dims: [usize; 3]) -> f64 {
    check_dims(bone.len(), dims);
    let [nx, ny, nz] = dims;
    let at = |x: usize, y: usize, z: usize| bone[x + nx * (y + ny * z)];
    let chi = euler_characteristic(bone, dims) as f64;
    let mut faces = 0i64;
    for z in [0, nz - 1] {
        let s: Vec<bool> = (0..ny)
            .flat_map(|y| (0..nx).map(move |x| at(x, y, z)))
            .collect();
        faces += euler_2d(&s, nx, ny);
    }
    for y in [0, ny - 1] {
        let s: Vec<bool> = (0..nz)
            .flat_map(|z| (0..nx).map(move |x| at(x, y, z)))
            .collect();
        faces += euler_2d(&s, nx, nz);
    }
    for x in [0, nx - 1] {
        let s: Vec<bool> = (0..nz)
            .flat_map(|z| (0..ny).map(move |y| at(x, y, z)))
            .collect();
        faces += euler_2d(&s, ny, nz);
    }
    let mut edges = 0i64;
    for (y, z) in [(0, 0), (ny - 1, 0), (0, nz - 1), (ny - 1, nz - 1)] {
        edges += euler_1d((0..nx).map(|x| at(x, y, z)));
    }
    for (x, z) in [(0, 0), (nx - 1, 0), (0, nz - 1), (nx - 1, nz - 1)] {
        edges += euler_1d((0..ny).map(|y| at(x, y, z)));
    }
    for (x, y) in [(0, 0), (nx - 1, 0), (0, ny - 1), (nx - 1, ny - 1)] {
        edges += euler_1d((0..nz).map(|z| at(x, y, z)));
    }
    let mut corners = 0i64;
    for z in [0, nz - 1] {
        for y in [0, ny - 1] {
            for x in [0, nx - 1] {
                corners += at(x, y, z) as i64;
            }
        }
    }
    chi - 0.5 * faces as f64 + 0.25 * edges as f64 - 0.125 * corners as f64
}
