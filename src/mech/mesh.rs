//! The voxel mesh on the CPU (`shaders/mechanics/mesh.wgsl` holds its GPU
//! half): which voxels become elements (every face-connected bone component
//! joining bottom and top), which node dofs are fixed by the load case,
//! per-element scale E·h and the Jacobi diagonal.

use super::reference::{self, node_count, node_index};
use super::{LoadCase, MechError, MechParams};
use crate::lattice::BONE_THRESHOLD;

/// Node flag bits (`shaders/mechanics/mesh.wgsl`; compared by a test).
pub const FIX_X: u32 = 1;
pub const FIX_Y: u32 = 2;
pub const FIX_Z: u32 = 4;
pub const ACTIVE: u32 = 8;

crate::gpu_struct! {
    /// Parameter block of every mechanics kernel (binding 0).
    #[derive(Debug, Clone, Copy, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
    pub struct MeshParams in "mechanics/mesh" {
        /// nx, ny, nz, voxel count.
        pub vox: [u32; 4],
        /// nx+1, ny+1, nz+1, node count.
        pub nodes: [u32; 4],
        pub h_mm: f32,
        /// `jacobi_sweep`: start from x = 0.
        pub clear: u32,
        /// `residual`: restart CG (p = z).
        pub restart: u32,
        /// Workgroups (partial sums) of a node-wide dispatch.
        pub npart: u32,
        /// Lamé constants λ, μ of unit Young's modulus (the element matrix is
        /// E·h times the unit one).
        pub lame: [f32; 2],
        pub _pad: [u32; 2],
    }
}

/// Host-side mesh of one geometry.
#[derive(Debug, Clone)]
pub struct Mesh {
    pub dims: [usize; 3],
    pub h_mm: f64,
    /// Per voxel: E·h (N/mm) for solved elements, 0 elsewhere.
    pub scale: Vec<f32>,
    /// Per voxel Young's modulus (MPa), 0 where not solved.
    pub e_mpa: Vec<f64>,
    /// Per node flag bits.
    pub flags: Vec<u32>,
    /// Per node 1/diag(K) (the diagonal is the same for x, y, z on a cube).
    pub dinv: Vec<f32>,
    pub voxels_solved: usize,
    pub voxels_set_aside: usize,
}

/// Not part of a load-bearing component.
pub const SET_ASIDE: u32 = u32::MAX;

/// The 6-connected bone components that join z = 0 and z = nz−1: each is a
/// load path between the platens. A cube cut from a trabecular network
/// often holds several (plates side by side), and keeping only the largest
/// would leave the others' osteocytes without load. Returns per voxel its
/// load path (0, 1, … in order of first voxel) or [`SET_ASIDE`]; `None` if
/// no component joins bottom and top.
pub fn load_bearing_components(dims: [usize; 3], bone: &[bool]) -> Option<Vec<u32>> {
    let [nx, ny, nz] = dims;
    let n = nx * ny * nz;
    let mut label = vec![u32::MAX; n];
    let mut spanning = Vec::new();
    let mut stack = Vec::new();
    let mut next = 0u32;
    for seed in 0..n {
        if !bone[seed] || label[seed] != u32::MAX {
            continue;
        }
        let id = next;
        next += 1;
        label[seed] = id;
        stack.push(seed);
        let (mut bottom, mut top) = (false, false);
        while let Some(i) = stack.pop() {
            let (x, y, z) = (i % nx, (i / nx) % ny, i / (nx * ny));
            bottom |= z == 0;
            top |= z + 1 == nz;
            let mut visit = |j: usize| {
                if bone[j] && label[j] == u32::MAX {
                    label[j] = id;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < nx {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - nx);
            }
            if y + 1 < ny {
                visit(i + nx);
            }
            if z > 0 {
                visit(i - nx * ny);
            }
            if z + 1 < nz {
                visit(i + nx * ny);
            }
        }
        if bottom && top {
            spanning.push(id);
        }
    }
    if spanning.is_empty() {
        return None;
    }
    let mut path = vec![SET_ASIDE; next as usize];
    for (k, &id) in spanning.iter().enumerate() {
        path[id as usize] = k as u32;
    }
    // Unlabelled (marrow) voxels hold u32::MAX, past the end of `path`.
    Some(
        label
            .iter()
            .map(|&l| path.get(l as usize).copied().unwrap_or(SET_ASIDE))
            .collect(),
    )
}

impl Mesh {
    /// Indices (3·node + axis) of the unknowns: dofs of active nodes that
    /// the load case does not fix.
    pub fn free_dofs(&self) -> impl Iterator<Item = usize> + '_ {
        self.flags.iter().enumerate().flat_map(|(i, &f)| {
            (0..3)
                .filter(move |&c| f & ACTIVE != 0 && f & (FIX_X << c) == 0)
                .map(move |c| 3 * i + c)
        })
    }

    /// Builds the mesh of `mineral` (voxel x fastest) under `params`.
    pub fn build(
        dims: [usize; 3],
        voxel_size_um: f64,
        mineral: &[f32],
        params: &MechParams,
    ) -> Result<Self, MechError> {
        let [nx, ny, nz] = dims;
        let nvox = nx * ny * nz;
        if mineral.len() != nvox {
            return Err(MechError::Shape {
                expected: nvox,
                got: mineral.len(),
            });
        }
        if let Some(i) = mineral.iter().position(|m| !m.is_finite() || *m < 0.0) {
            return Err(MechError::BadMineral {
                x: i % nx,
                y: (i / nx) % ny,
                z: i / (nx * ny),
                value: mineral[i],
            });
        }
        let h_mm = voxel_size_um / 1000.0;
        let bone: Vec<bool> = mineral.iter().map(|&m| m >= BONE_THRESHOLD).collect();
        let bone_count = bone.iter().filter(|&&b| b).count();
        let path = load_bearing_components(dims, &bone).ok_or(MechError::NoLoadPath {
            bone_voxels: bone_count,
        })?;
        let voxels_solved = path.iter().filter(|&&p| p != SET_ASIDE).count();
        let e_mpa: Vec<f64> = mineral
            .iter()
            .zip(&path)
            .map(|(&m, &p)| {
                if p != SET_ASIDE {
                    params.young_of(m as f64)
                } else {
                    0.0
                }
            })
            .collect();
        Ok(Self::from_moduli(
            dims,
            h_mm,
            e_mpa,
            params,
            Some(&path),
            voxels_solved,
            bone_count - voxels_solved,
        ))
    }

    /// The next coarser level of a multigrid hierarchy: each coarse voxel
    /// covers 2×2×2 fine ones (fewer at an odd edge) and has their mean
    /// modulus (empty fine voxels count as 0); a coarse dof is fixed where a
    /// fine fixed dof restricts into it.
    pub fn coarsen(&self, params: &MechParams) -> Self {
        let [nx, ny, nz] = self.dims;
        let cd = self.dims.map(|n| n.div_ceil(2));
        let mut e_mpa = vec![0f64; cd.iter().product()];
        for z in 0..nz {
            for y in 0..ny {
                for x in 0..nx {
                    let e = self.e_mpa[x + nx * (y + ny * z)];
                    if e > 0.0 {
                        e_mpa[x / 2 + cd[0] * (y / 2 + cd[1] * (z / 2))] += e / 8.0;
                    }
                }
            }
        }
        let solved = e_mpa.iter().filter(|&&e| e > 0.0).count();
        let mut coarse = Self::from_moduli(cd, 2.0 * self.h_mm, e_mpa, params, None, solved, 0);
        // Each fine fixed dof fixes the coarse dofs it restricts into (as in
        // ParOSol): the coarse problem then holds every load path's rigid
        // modes where the fine one does. Supports derived afresh on the
        // coarse faces (one pin for the whole level) left some of them free,
        // and a W-cycle diverged (32³: relative residual 0.81 after 208
        // iterations; 13 iterations with these).
        let fixed = FIX_X | FIX_Y | FIX_Z;
        for f in coarse.flags.iter_mut() {
            *f &= !fixed;
        }
        for (i, &f) in self.flags.iter().enumerate() {
            if f & fixed == 0 || f & ACTIVE == 0 {
                continue;
            }
            let p = [
                i % (nx + 1),
                (i / (nx + 1)) % (ny + 1),
                i / ((nx + 1) * (ny + 1)),
            ];
            // The (up to 8) coarse nodes around p/2.
            for k in 0..8 {
                let pc: [usize; 3] = std::array::from_fn(|a| {
                    if k >> a & 1 == 0 {
                        p[a] / 2
                    } else {
                        p[a].div_ceil(2)
                    }
                });
                let g = node_index(cd, pc);
                if coarse.flags[g] & ACTIVE != 0 {
                    coarse.flags[g] |= f & fixed;
                }
            }
        }
        coarse
    }

    /// Element scales, node flags (active nodes and the load case's
    /// supports) and the Jacobi diagonal of per-voxel moduli `e_mpa`; `path`
    /// gives each voxel's load path, so that each path gets its own supports.
    fn from_moduli(
        dims: [usize; 3],
        h_mm: f64,
        e_mpa: Vec<f64>,
        params: &MechParams,
        path: Option<&[u32]>,
        voxels_solved: usize,
        voxels_set_aside: usize,
    ) -> Self {
        let [nx, ny, nz] = dims;
        let scale: Vec<f32> = e_mpa.iter().map(|e| (e * h_mm) as f32).collect();
        // Node flags and diagonal: every node of a solved element is active.
        let nn = node_count(dims);
        let ke = reference::element_stiffness(1.0, params.poisson, 1.0);
        let kd = ke[0][0];
        let mut flags = vec![0u32; nn];
        let mut diag = vec![0f64; nn];
        for z in 0..nz {
            for y in 0..ny {
                for x in 0..nx {
                    let v = x + nx * (y + ny * z);
                    if e_mpa[v] <= 0.0 {
                        continue;
                    }
                    for a in 0..8 {
                        let g = reference::element_node(dims, [x, y, z], a);
                        flags[g] |= ACTIVE;
                        diag[g] += kd * e_mpa[v] * h_mm;
                    }
                }
            }
        }
        // The load paths of the (up to four) solved voxels over a bottom node.
        let paths_at = |x: usize, y: usize| -> [u32; 4] {
            let mut at = [SET_ASIDE; 4];
            let Some(path) = path else {
                at[0] = 0;
                return at;
            };
            for (k, (dx, dy)) in [(0, 0), (1, 0), (0, 1), (1, 1)].into_iter().enumerate() {
                if dx <= x && x - dx < nx && dy <= y && y - dy < ny {
                    at[k] = path[(x - dx) + nx * (y - dy)];
                }
            }
            at
        };
        params.load.fix(dims, &mut flags, paths_at);
        let dinv = diag
            .iter()
            .map(|&d| if d > 0.0 { (1.0 / d) as f32 } else { 0.0 })
            .collect();
        Self {
            dims,
            h_mm,
            scale,
            e_mpa,
            flags,
            dinv,
            voxels_solved,
            voxels_set_aside,
        }
    }
}

impl LoadCase {
    /// Sets the FIX bits of the load case on the active nodes.
    /// `paths_at(x, y)` names the load paths whose bottom voxels touch bottom
    /// node (x, y) ([`SET_ASIDE`] for none): each path is a separate body
    /// and gets its own in-plane supports.
    pub(crate) fn fix(
        &self,
        dims: [usize; 3],
        flags: &mut [u32],
        paths_at: impl Fn(usize, usize) -> [u32; 4],
    ) {
        let [nx, ny, nz] = dims;
        match *self {
            LoadCase::CompressionZ { confined, .. } => {
                // Per path, its first bottom node: lowest x, then lowest y.
                let mut pins = std::collections::BTreeMap::<u32, [usize; 2]>::new();
                for z in [0, nz] {
                    for y in 0..=ny {
                        for x in 0..=nx {
                            let g = node_index(dims, [x, y, z]);
                            if flags[g] & ACTIVE == 0 {
                                continue;
                            }
                            flags[g] |= FIX_Z;
                            if z > 0 {
                                continue;
                            }
                            for p in paths_at(x, y).into_iter().filter(|&p| p != SET_ASIDE) {
                                let pin = pins.entry(p).or_insert([x, y]);
                                if (x, y) < (pin[0], pin[1]) {
                                    *pin = [x, y];
                                }
                            }
                        }
                    }
                }
                for (&p, &[px, py]) in &pins {
                    flags[node_index(dims, [px, py, 0])] |= FIX_X | FIX_Y;
                    // The same row's bottom node of the path with the largest
                    // x stops its rotation about z (the pin's voxel
                    // guarantees one exists).
                    if let Some(x) = (px + 1..=nx).rev().find(|&x| {
                        flags[node_index(dims, [x, py, 0])] & ACTIVE != 0
                            && paths_at(x, py).contains(&p)
                    }) {
                        flags[node_index(dims, [x, py, 0])] |= FIX_Y;
                    }
                }
                if confined {
                    for z in 0..=nz {
                        for y in 0..=ny {
                            for x in 0..=nx {
                                let g = node_index(dims, [x, y, z]);
                                if flags[g] & ACTIVE == 0 {
                                    continue;
                                }
                                if x == 0 || x == nx {
                                    flags[g] |= FIX_X;
                                }
                                if y == 0 || y == ny {
                                    flags[g] |= FIX_Y;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
