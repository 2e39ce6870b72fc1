//! Trabecular morphometry (ASBMR nomenclature) on a binary voxel volume.
//!
//! Volumes are `&[bool]` with x fastest (index x + nx·(y + ny·z)).
//! - `bv_tv`: bone voxels / all voxels.
//! - `bs_bv_per_mm`: surface density by the Cauchy–Crofton relation
//!   S_V = 2·P_L, with P_L (boundary crossings per unit test-line length)
//!   averaged over the 13 lattice directions weighted by their share of the
//!   sphere. Only voxel pairs inside the block count, so the block's cut
//!   faces are not bone surface.
//! - `tb_th_um` / `tb_sp_um`: mean local thickness of bone / marrow
//!   (Hildebrand & Rüegsegger 1997, as BoneJ "Thickness"): the diameter of
//!   the largest ball that contains the voxel and fits in the phase. The
//!   maximal digital ball at a voxel c holds the voxel centres nearer to c
//!   than d, the distance to the nearest voxel centre of the other phase;
//!   its diameter is 2d − 1 voxels (the ball reaches the phase boundary half
//!   a voxel before that centre), so a slab of odd thickness t measures t.
//!   Outside the block counts as neither phase (a cut block does not thin
//!   its trabeculae at its faces).
//! - `tb_n_per_mm` = 1 / (Tb.Th + Tb.Sp).
//! - `conn_d_per_mm3` = (1 − Δχ)/V, with χ the Euler characteristic (bone
//!   26-connected, marrow 6-connected) and Δχ the Odgaard & Gundersen (1993)
//!   edge-corrected contribution of the block to the network it was cut
//!   from: Δχ = χ(X) − ½Σχ(faces) + ¼Σχ(edges) − ⅛Σχ(corners).

use rayon::prelude::*;
use serde::Serialize;

/// Morphometric indices of one volume.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Morphometry {
    pub bv_tv: f64,
    pub bs_bv_per_mm: f64,
    pub tb_th_um: f64,
    pub tb_sp_um: f64,
    pub tb_n_per_mm: f64,
    pub conn_d_per_mm3: f64,
    pub euler_characteristic: i64,
    pub delta_chi: f64,
}

fn index(dims: [usize; 3], x: usize, y: usize, z: usize) -> usize {
    x + dims[0] * (y + dims[1] * z)
}

/// All indices for bone (26-connected) of one volume.
pub fn morphometry(bone: &[bool], dims: [usize; 3], voxel_size_um: f64) -> Morphometry {
    let n = bone.len();
    assert_eq!(n, dims.iter().product::<usize>());
    let h_mm = voxel_size_um * 1e-3;
    let nb = bone.iter().filter(|&&b| b).count();
    let bv_tv = nb as f64 / n as f64;
    let sv = surface_density_per_voxel(bone, dims) / h_mm;
    let mean_th = |mask: &[bool]| {
        let th = local_thickness(mask, dims);
        let (s, c) = th
            .iter()
            .zip(mask)
            .filter(|(_, m)| **m)
            .fold((0.0, 0usize), |(s, c), (t, _)| (s + *t as f64, c + 1));
        if c == 0 { 0.0 } else { s / c as f64 }
    };
    let marrow: Vec<bool> = bone.iter().map(|b| !b).collect();
    let tb_th_um = mean_th(bone) * voxel_size_um;
    let tb_sp_um = mean_th(&marrow) * voxel_size_um;
    let chi = euler_characteristic(bone, dims);
    let delta_chi = delta_chi(bone, dims);
    let volume_mm3 = n as f64 * h_mm.powi(3);
    Morphometry {
        bv_tv,
        bs_bv_per_mm: if nb > 0 { sv / bv_tv } else { 0.0 },
        tb_th_um,
        tb_sp_um,
        tb_n_per_mm: if tb_th_um + tb_sp_um > 0.0 {
            1000.0 / (tb_th_um + tb_sp_um)
        } else {
            0.0
        },
        conn_d_per_mm3: (1.0 - delta_chi) / volume_mm3,
        euler_characteristic: chi,
        delta_chi,
    }
}

/// The 13 lattice directions (one of each ± pair).
const DIRECTIONS: [[i32; 3]; 13] = [
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

/// Share of the unit sphere nearer to ±d than to any other of the 26
/// directions (Voronoi weights), from a Fibonacci sphere; sums to 1.
fn direction_weights() -> [f64; 13] {
    let dirs: Vec<[f64; 3]> = DIRECTIONS
        .iter()
        .map(|d| {
            let l = ((d[0] * d[0] + d[1] * d[1] + d[2] * d[2]) as f64).sqrt();
            [d[0] as f64 / l, d[1] as f64 / l, d[2] as f64 / l]
        })
        .collect();
    let samples = 100_000;
    let golden = std::f64::consts::PI * (3.0 - 5f64.sqrt());
    let mut counts = [0usize; 13];
    for i in 0..samples {
        let z = 1.0 - 2.0 * (i as f64 + 0.5) / samples as f64;
        let r = (1.0 - z * z).sqrt();
        let (s, c) = (golden * i as f64).sin_cos();
        let p = [r * c, r * s, z];
        let best = (0..13)
            .max_by(|&a, &b| {
                let da = (dirs[a][0] * p[0] + dirs[a][1] * p[1] + dirs[a][2] * p[2]).abs();
                let db = (dirs[b][0] * p[0] + dirs[b][1] * p[1] + dirs[b][2] * p[2]).abs();
                da.total_cmp(&db)
            })
            .unwrap();
        counts[best] += 1;
    }
    counts.map(|c| c as f64 / samples as f64)
}

/// Surface per unit volume in 1/voxel (Cauchy–Crofton S_V = 2 P_L).
pub fn surface_density_per_voxel(mask: &[bool], dims: [usize; 3]) -> f64 {
    let w = direction_weights();
    let [nx, ny, nz] = dims.map(|d| d as i64);
    let mut sv = 0.0;
    for (k, d) in DIRECTIONS.iter().enumerate() {
        let (dx, dy, dz) = (d[0] as i64, d[1] as i64, d[2] as i64);
        let (crossings, pairs) = (0..nz)
            .into_par_iter()
            .map(|z| {
                let (mut c, mut p) = (0u64, 0u64);
                let z2 = z + dz;
                if z2 < 0 || z2 >= nz {
                    return (0, 0);
                }
                for y in 0..ny {
                    let y2 = y + dy;
                    if y2 < 0 || y2 >= ny {
                        continue;
                    }
                    for x in 0..nx {
                        let x2 = x + dx;
                        if x2 < 0 || x2 >= nx {
                            continue;
                        }
                        let a = mask[(x + nx * (y + ny * z)) as usize];
                        let b = mask[(x2 + nx * (y2 + ny * z2)) as usize];
                        p += 1;
                        c += (a != b) as u64;
                    }
                }
                (c, p)
            })
            .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        if pairs == 0 {
            continue;
        }
        let len = ((dx * dx + dy * dy + dz * dz) as f64).sqrt();
        sv += w[k] * 2.0 * crossings as f64 / (pairs as f64 * len);
    }
    sv
}

const FAR: i64 = i64::MAX / 4;

/// 1-D squared distance transform (Felzenszwalb & Huttenlocher 2012) in place.
fn edt_1d(f: &mut [i64], v: &mut Vec<usize>, z: &mut Vec<f64>, out: &mut Vec<i64>) {
    let n = f.len();
    v.clear();
    z.clear();
    out.clear();
    let mut first = None;
    for (q, &fq) in f.iter().enumerate() {
        if fq < FAR {
            first = Some(q);
            break;
        }
    }
    let Some(q0) = first else {
        return;
    };
    v.push(q0);
    z.push(f64::NEG_INFINITY);
    z.push(f64::INFINITY);
    for q in q0 + 1..n {
        if f[q] >= FAR {
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
                    z.pop();
                    z.push(f64::NEG_INFINITY);
                    z.push(f64::INFINITY);
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

/// Squared Euclidean distance (in voxels²) from each voxel to the nearest
/// voxel centre where `mask` is false; voxels outside the volume are not
/// background. Where the volume has no background at all: i64::MAX/4.
pub fn squared_edt(mask: &[bool], dims: [usize; 3]) -> Vec<i64> {
    let [nx, ny, nz] = dims;
    let mut d: Vec<i64> = mask.iter().map(|&m| if m { FAR } else { 0 }).collect();
    // x lines
    d.par_chunks_mut(nx).for_each(|line| {
        let (mut v, mut z, mut o) = (Vec::new(), Vec::new(), Vec::new());
        edt_1d(line, &mut v, &mut z, &mut o);
    });
    // y lines, per z slab
    d.par_chunks_mut(nx * ny).for_each(|slab| {
        let (mut v, mut z, mut o) = (Vec::new(), Vec::new(), Vec::new());
        let mut line = vec![0i64; ny];
        for x in 0..nx {
            for y in 0..ny {
                line[y] = slab[x + nx * y];
            }
            edt_1d(&mut line, &mut v, &mut z, &mut o);
            for y in 0..ny {
                slab[x + nx * y] = line[y];
            }
        }
    });
    // z lines, per y row
    let plane = nx * ny;
    let cols: Vec<Vec<i64>> = (0..plane)
        .into_par_iter()
        .map(|xy| {
            let (mut v, mut z, mut o) = (Vec::new(), Vec::new(), Vec::new());
            let mut line: Vec<i64> = (0..nz).map(|k| d[xy + plane * k]).collect();
            edt_1d(&mut line, &mut v, &mut z, &mut o);
            line
        })
        .collect();
    for (xy, col) in cols.into_iter().enumerate() {
        for (k, val) in col.into_iter().enumerate() {
            d[xy + plane * k] = val;
        }
    }
    d
}

/// Local thickness (diameter, voxels) of every voxel of `mask`; 0 elsewhere.
pub fn local_thickness(mask: &[bool], dims: [usize; 3]) -> Vec<f32> {
    let [nx, ny, nz] = dims;
    let d2 = squared_edt(mask, dims);
    // Phase with no boundary inside the block: the block's extent bounds it.
    let cap = (nx.max(ny).max(nz)) as f64;
    // Reach of each ball: voxel centres strictly nearer than d belong to it.
    let radius: Vec<f64> = d2
        .iter()
        .zip(mask)
        .map(|(&d, &m)| {
            if !m {
                0.0
            } else if d >= FAR {
                cap / 2.0 + 0.5
            } else {
                (d as f64).sqrt()
            }
        })
        .collect();
    // Distance ridge: drop centres whose ball lies inside a neighbour's ball.
    let mut centres: Vec<(f64, usize)> = Vec::new();
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                let i = index(dims, x, y, z);
                let r = radius[i];
                if r <= 0.0 {
                    continue;
                }
                let mut covered = false;
                'n: for dz in -1i64..=1 {
                    for dy in -1i64..=1 {
                        for dx in -1i64..=1 {
                            if dx == 0 && dy == 0 && dz == 0 {
                                continue;
                            }
                            let (a, b, c) = (x as i64 + dx, y as i64 + dy, z as i64 + dz);
                            if a < 0
                                || b < 0
                                || c < 0
                                || a >= nx as i64
                                || b >= ny as i64
                                || c >= nz as i64
                            {
                                continue;
                            }
                            let rn = radius[index(dims, a as usize, b as usize, c as usize)];
                            let step = ((dx * dx + dy * dy + dz * dz) as f64).sqrt();
                            if rn > r && rn >= r + step {
                                covered = true;
                                break 'n;
                            }
                        }
                    }
                }
                if !covered {
                    centres.push((r, i));
                }
            }
        }
    }
    centres.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    // Paint: each voxel takes the largest ball containing it, by z slab in parallel.
    let mut th = vec![0f32; mask.len()];
    let plane = nx * ny;
    th.par_chunks_mut(plane).enumerate().for_each(|(z, slab)| {
        for &(r, c) in &centres {
            let cz = c / plane;
            let dz = z as f64 - cz as f64;
            if dz.abs() > r {
                continue;
            }
            let cy = (c / nx) % ny;
            let cx = c % nx;
            // Strictly inside: shrink the reach by a hair so |x − c| = d is out.
            let r2 = r * r * (1.0 - 1e-12) - dz * dz;
            if r2 < 0.0 {
                continue;
            }
            let ry = r2.sqrt();
            let y0 = (cy as f64 - ry).ceil().max(0.0) as usize;
            let y1 = ((cy as f64 + ry).floor() as usize).min(ny - 1);
            let dia = (2.0 * r - 1.0) as f32;
            for y in y0..=y1 {
                let dy = y as f64 - cy as f64;
                let rx = (r2 - dy * dy).max(0.0).sqrt();
                let x0 = (cx as f64 - rx).ceil().max(0.0) as usize;
                let x1 = ((cx as f64 + rx).floor() as usize).min(nx - 1);
                for x in x0..=x1 {
                    let t = &mut slab[x + nx * y];
                    if *t < dia {
                        *t = dia;
                    }
                }
            }
        }
    });
    for (t, &m) in th.iter_mut().zip(mask) {
        if !m {
            *t = 0.0;
        }
    }
    th
}

/// Euler characteristic of the union of closed voxel cubes (bone
/// 26-connected, background 6-connected): V − E + F − C; outside is background.
pub fn euler_characteristic(bone: &[bool], dims: [usize; 3]) -> i64 {
    let [nx, ny, nz] = dims.map(|d| d as i64);
    let at = |x: i64, y: i64, z: i64| -> bool {
        x >= 0
            && y >= 0
            && z >= 0
            && x < nx
            && y < ny
            && z < nz
            && bone[(x + nx * (y + ny * z)) as usize]
    };
    let mut chi = 0i64;
    // Every lattice point (vertex), edge and face, keyed by the voxel whose
    // low corner it is: vertex (x,y,z) touches voxels x-1..x etc.
    for z in 0..=nz {
        for y in 0..=ny {
            for x in 0..=nx {
                // vertex
                let mut v = false;
                for dz in 0..2 {
                    for dy in 0..2 {
                        for dx in 0..2 {
                            v |= at(x - dx, y - dy, z - dz);
                        }
                    }
                }
                chi += v as i64;
                // edges from this vertex along +x, +y, +z (each touches 4 voxels)
                if x < nx {
                    chi -=
                        (at(x, y, z) || at(x, y - 1, z) || at(x, y, z - 1) || at(x, y - 1, z - 1))
                            as i64;
                }
                if y < ny {
                    chi -=
                        (at(x, y, z) || at(x - 1, y, z) || at(x, y, z - 1) || at(x - 1, y, z - 1))
                            as i64;
                }
                if z < nz {
                    chi -=
                        (at(x, y, z) || at(x - 1, y, z) || at(x, y - 1, z) || at(x - 1, y - 1, z))
                            as i64;
                }
                // faces with this low corner: xy (normal z), xz (normal y), yz (normal x)
                if x < nx && y < ny {
                    chi += (at(x, y, z) || at(x, y, z - 1)) as i64;
                }
                if x < nx && z < nz {
                    chi += (at(x, y, z) || at(x, y - 1, z)) as i64;
                }
                if y < ny && z < nz {
                    chi += (at(x, y, z) || at(x - 1, y, z)) as i64;
                }
                // cube
                chi -= at(x, y, z) as i64;
            }
        }
    }
    chi
}

/// Euler characteristic of a 2-D slice of closed squares (8-connected).
fn euler_2d(cells: &[bool], w: usize, h: usize) -> i64 {
    let (w, h) = (w as i64, h as i64);
    let at = |x: i64, y: i64| x >= 0 && y >= 0 && x < w && y < h && cells[(x + w * y) as usize];
    let mut chi = 0;
    for y in 0..=h {
        for x in 0..=w {
            chi += (at(x, y) || at(x - 1, y) || at(x, y - 1) || at(x - 1, y - 1)) as i64;
            if x < w {
                chi -= (at(x, y) || at(x, y - 1)) as i64;
            }
            if y < h {
                chi -= (at(x, y) || at(x - 1, y)) as i64;
            }
            chi += at(x, y) as i64;
        }
    }
    chi
}

/// Euler characteristic of a 1-D line of closed segments: its number of runs.
fn euler_1d(cells: &[bool]) -> i64 {
    let mut runs = 0;
    let mut prev = false;
    for &c in cells {
        if c && !prev {
            runs += 1;
        }
        prev = c;
    }
    runs
}

/// Odgaard–Gundersen Δχ of a block cut from a larger network.
pub fn delta_chi(bone: &[bool], dims: [usize; 3]) -> f64 {
    let [nx, ny, nz] = dims;
    let at = |x: usize, y: usize, z: usize| bone[index(dims, x, y, z)];
    let chi = euler_characteristic(bone, dims) as f64;
    // faces
    let mut faces = 0i64;
    for z in [0, nz - 1] {
        let s: Vec<bool> = (0..ny)
            .flat_map(|y| (0..nx).map(move |x| (x, y)))
            .map(|(x, y)| at(x, y, z))
            .collect();
        faces += euler_2d(&s, nx, ny);
    }
    for y in [0, ny - 1] {
        let s: Vec<bool> = (0..nz)
            .flat_map(|z| (0..nx).map(move |x| (x, z)))
            .map(|(x, z)| at(x, y, z))
            .collect();
        faces += euler_2d(&s, nx, nz);
    }
    for x in [0, nx - 1] {
        let s: Vec<bool> = (0..nz)
            .flat_map(|z| (0..ny).map(move |y| (y, z)))
            .map(|(y, z)| at(x, y, z))
            .collect();
        faces += euler_2d(&s, ny, nz);
    }
    // edges
    let mut edges = 0i64;
    for (y, z) in [(0, 0), (ny - 1, 0), (0, nz - 1), (ny - 1, nz - 1)] {
        edges += euler_1d(&(0..nx).map(|x| at(x, y, z)).collect::<Vec<_>>());
    }
    for (x, z) in [(0, 0), (nx - 1, 0), (0, nz - 1), (nx - 1, nz - 1)] {
        edges += euler_1d(&(0..ny).map(|y| at(x, y, z)).collect::<Vec<_>>());
    }
    for (x, y) in [(0, 0), (nx - 1, 0), (0, ny - 1), (nx - 1, ny - 1)] {
        edges += euler_1d(&(0..nz).map(|z| at(x, y, z)).collect::<Vec<_>>());
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
