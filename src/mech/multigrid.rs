//! The CG preconditioner (`shaders/mechanics/multigrid.wgsl`): Jacobi, or a
//! geometric multigrid V-cycle on the voxel hierarchy, as voxel micro-FE
//! solvers of bone use it (ParOSol, Flaig & Arbenz 2011): a coarse voxel is a
//! 2×2×2 block of fine ones with their mean modulus, the coarse operator is
//! the same 8-node hexahedron on the coarse grid (for a homogeneous block it
//! equals the Galerkin product PᵀKP), transfers are trilinear, and damped
//! Jacobi smooths. Coarse levels get the load case's supports on their own
//! faces, so each coarse operator is non-singular.

use super::MechParams;
use super::mesh::{Mesh, MeshParams};
use super::reference;
use crate::gpu::compose::ComposeError;
use crate::gpu::{
    Binding::*, GpuContext, Kernel, storage_buffer_zeroed, uniform_buffer, workgroups_for,
};

/// Which preconditioner the CG uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[derive(clap::ValueEnum)]
pub enum Preconditioner {
    /// z = D⁻¹ r.
    Jacobi,
    /// One V-cycle of geometric multigrid.
    #[default]
    Multigrid,
}

/// Coarsening stops once the largest edge is at most this many voxels.
const COARSEST_EDGE: usize = 4;
/// Damped-Jacobi sweeps before and after each coarse correction.
const SWEEPS: u32 = 2;
/// Damped-Jacobi sweeps that stand in for the coarsest solve.
const COARSEST_SWEEPS: u32 = 32;
/// ω times the bound on λ_max(D⁻¹K) (< 2 keeps the smoother convergent,
/// hence M SPD). On a 32³ porous lattice to 1e-6: 1.2 → 70 iterations,
/// 1.6 → 60 (the bound is not attained).
const OMEGA_LAMBDA: f64 = 1.6;

/// The preconditioner kernels, built once per device.
pub struct MultigridKernels {
    pub smooth: Kernel,
    pub restrict: Kernel,
    pub prolong: Kernel,
}

impl MultigridKernels {
    pub fn new(device: &wgpu::Device, wg: u32) -> Result<Self, ComposeError> {
        let f = "mechanics/multigrid";
        Ok(Self {
            smooth: Kernel::with_slots(
                device,
                f,
                "jacobi_sweep",
                &[
                    (0, Uniform),
                    (1, StorageRead),
                    (2, StorageRead),
                    (3, StorageRead),
                    (4, StorageRead),
                    (5, StorageWrite),
                    (11, StorageRead),
                ],
                wg,
            )?,
            restrict: Kernel::with_slots(
                device,
                f,
                "restrict_residual",
                &[
                    (0, Uniform),
                    (1, StorageRead),
                    (5, StorageWrite),
                    (6, Uniform),
                    (7, StorageRead),
                    (8, StorageRead),
                    (9, StorageRead),
                    (11, StorageRead),
                ],
                wg,
            )?,
            prolong: Kernel::with_slots(
                device,
                f,
                "prolong",
                &[
                    (0, Uniform),
                    (5, StorageWrite),
                    (6, Uniform),
                    (7, StorageRead),
                    (10, StorageWrite),
                    (11, StorageRead),
                ],
                wg,
            )?,
        })
    }
}

/// λ_max(D_e⁻¹ K_e) of the unit element: a bound on λ_max(D⁻¹K) of any mesh
/// of such elements (xᵀKx = Σ x_eᵀK_e x_e ≤ λ Σ x_eᵀD_e x_e = λ xᵀDx).
pub fn element_lambda_max(poisson: f64) -> f64 {
    let ke = reference::element_stiffness(1.0, poisson, 1.0);
    let mut v: Vec<f64> = (0..24).map(|i| 1.0 + (i as f64 * 0.37).sin()).collect();
    let mut lambda = 0.0;
    for _ in 0..500 {
        let w: Vec<f64> = (0..24)
            .map(|i| (0..24).map(|j| ke[i][j] * v[j]).sum())
            .collect();
        let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
        lambda = norm / v.iter().map(|x| x * x).sum::<f64>().sqrt();
        v = w.iter().map(|x| x / norm).collect();
    }
    lambda / ke[0][0]
}

/// Mesh dims of the levels below `dims` (fine level excluded).
pub fn coarse_dims(dims: [usize; 3]) -> Vec<[usize; 3]> {
    let mut out = Vec::new();
    let mut d = dims;
    while d.iter().max().copied().unwrap_or(0) > COARSEST_EDGE && d.iter().all(|&n| n >= 2) {
        d = d.map(|n| n.div_ceil(2));
        out.push(d);
    }
    out
}

/// GPU state of one level: its parameter blocks, mesh and vectors.
struct Level {
    nodes: u32,
    params: wgpu::Buffer,
    params_clear: wgpu::Buffer,
    flags: wgpu::Buffer,
    scale: wgpu::Buffer,
    wdinv: wgpu::Buffer,
    b: wgpu::Buffer,
    x: wgpu::Buffer,
    t: wgpu::Buffer,
}

struct LevelBinds {
    apply: wgpu::BindGroup,
    smooth_first: wgpu::BindGroup,
    smooth: wgpu::BindGroup,
    /// Restriction from this level's parent (None on the fine level).
    restrict: Option<wgpu::BindGroup>,
    /// Prolongation into this level's parent.
    prolong: Option<wgpu::BindGroup>,
}

/// Buffers of the fine level the preconditioner reads or writes.
pub struct FineLevel<'a> {
    pub params: &'a wgpu::Buffer,
    pub params_clear: &'a wgpu::Buffer,
    pub flags: &'a wgpu::Buffer,
    pub scale: &'a wgpu::Buffer,
    pub dinv: &'a wgpu::Buffer,
    pub ke: &'a wgpu::Buffer,
    pub part: &'a wgpu::Buffer,
    pub scalars: &'a wgpu::Buffer,
    /// Input of the preconditioner (the CG residual).
    pub r: &'a wgpu::Buffer,
    /// Output z = M⁻¹ r.
    pub z: &'a wgpu::Buffer,
}

/// The preconditioner of one lattice size: Jacobi, or the V-cycle's levels.
pub struct Precond {
    kind: Preconditioner,
    jacobi: wgpu::BindGroup,
    /// Fine level first; empty for Jacobi.
    levels: Vec<Level>,
    binds: Vec<LevelBinds>,
    omega: f64,
}

/// Bytes of the preconditioner's buffers for a `dims` lattice.
pub fn memory_needed(dims: [usize; 3], kind: Preconditioner) -> u64 {
    let nn = reference::node_count(dims) as u64;
    let fine = 4 * nn + 12 * nn; // ω/diag and K x
    match kind {
        Preconditioner::Jacobi => 0,
        Preconditioner::Multigrid => {
            fine + coarse_dims(dims)
                .iter()
                .map(|&d| {
                    let n = reference::node_count(d) as u64;
                    let v: u64 = d.iter().product::<usize>() as u64;
                    36 * n + 8 * n + 4 * v + 2 * 256
                })
                .sum::<u64>()
        }
    }
}

impl Precond {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        ctx: &GpuContext,
        k: &MultigridKernels,
        op: &super::operator::Operator,
        kind: Preconditioner,
        dims: [usize; 3],
        voxel_size_um: f64,
        params: &MechParams,
        fine: FineLevel<'_>,
    ) -> Self {
        let d = &ctx.device;
        let jacobi = k.smooth.bind(
            d,
            &[
                fine.params_clear,
                fine.flags,
                fine.dinv,
                fine.r,
                fine.r,
                fine.z,
                fine.scalars,
            ],
        );
        let omega = OMEGA_LAMBDA / element_lambda_max(params.poisson);
        let mut levels = Vec::new();
        let mut binds = Vec::new();
        if kind == Preconditioner::Multigrid {
            let nn = reference::node_count(dims) as u64;
            // The fine level borrows the CG's buffers; only ω/diag and K x are its own.
            let fine_level = Level {
                nodes: nn as u32,
                params: fine.params.clone(),
                params_clear: fine.params_clear.clone(),
                flags: fine.flags.clone(),
                scale: fine.scale.clone(),
                wdinv: storage_buffer_zeroed(d, "mg wdinv 0", 4 * nn),
                b: fine.r.clone(),
                x: fine.z.clone(),
                t: storage_buffer_zeroed(d, "mg t 0", 12 * nn),
            };
            levels.push(fine_level);
            let mut voxel_um = voxel_size_um;
            for (l, cd) in coarse_dims(dims).into_iter().enumerate() {
                voxel_um *= 2.0;
                let nn = reference::node_count(cd) as u64;
                let nv = cd.iter().product::<usize>() as u64;
                let [gx, gy, _] = workgroups_for(nn as u32, params.workgroup_size);
                let p = super::mesh_params(cd, voxel_um, gx * gy);
                let lab = |s: &str| format!("mg {s} {}", l + 1);
                levels.push(Level {
                    nodes: nn as u32,
                    params: uniform_buffer(d, &lab("params"), &p),
                    params_clear: uniform_buffer(
                        d,
                        &lab("params clear"),
                        &MeshParams { clear: 1, ..p },
                    ),
                    flags: storage_buffer_zeroed(d, &lab("flags"), 4 * nn),
                    scale: storage_buffer_zeroed(d, &lab("scale"), 4 * nv),
                    wdinv: storage_buffer_zeroed(d, &lab("wdinv"), 4 * nn),
                    b: storage_buffer_zeroed(d, &lab("b"), 12 * nn),
                    x: storage_buffer_zeroed(d, &lab("x"), 12 * nn),
                    t: storage_buffer_zeroed(d, &lab("t"), 12 * nn),
                });
            }
            for (l, lv) in levels.iter().enumerate() {
                let parent = l.checked_sub(1).map(|p| &levels[p]);
                let sweep = |pm: &wgpu::Buffer| {
                    k.smooth.bind(
                        d,
                        &[pm, &lv.flags, &lv.wdinv, &lv.b, &lv.t, &lv.x, fine.scalars],
                    )
                };
                binds.push(LevelBinds {
                    apply: op.bind_apply(
                        d, &lv.params, &lv.flags, &lv.scale, fine.ke, &lv.x, &lv.t, fine.part,
                    ),
                    smooth_first: sweep(&lv.params_clear),
                    smooth: sweep(&lv.params),
                    restrict: parent.map(|f| {
                        k.restrict.bind(
                            d,
                            &[
                                &lv.params,
                                &lv.flags,
                                &lv.b,
                                &f.params,
                                &f.flags,
                                &f.b,
                                &f.t,
                                fine.scalars,
                            ],
                        )
                    }),
                    prolong: parent.map(|f| {
                        k.prolong.bind(
                            d,
                            &[&lv.params, &lv.x, &f.params, &f.flags, &f.x, fine.scalars],
                        )
                    }),
                });
            }
        }
        Self {
            kind,
            jacobi,
            levels,
            binds,
            omega,
        }
    }

    pub fn kind(&self) -> Preconditioner {
        self.kind
    }

    /// Uploads the hierarchy of a new fine mesh (ω/diag on every level,
    /// coarse meshes built from it).
    pub fn upload(&self, ctx: &GpuContext, fine: &Mesh, params: &MechParams) {
        if self.kind == Preconditioner::Jacobi {
            return;
        }
        let q = &ctx.queue;
        let mut coarse: Option<Mesh> = None;
        for (l, lv) in self.levels.iter().enumerate() {
            if l > 0 {
                let c = coarse.as_ref().unwrap_or(fine).coarsen(params);
                q.write_buffer(&lv.flags, 0, bytemuck::cast_slice(&c.flags));
                q.write_buffer(&lv.scale, 0, bytemuck::cast_slice(&c.scale));
                coarse = Some(c);
            }
            let mesh = coarse.as_ref().unwrap_or(fine);
            let wdinv: Vec<f32> = mesh
                .dinv
                .iter()
                .map(|&x| (x as f64 * self.omega) as f32)
                .collect();
            q.write_buffer(&lv.wdinv, 0, bytemuck::cast_slice(&wdinv));
        }
    }

    /// Records z = M⁻¹ r.
    pub fn record(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        k: &MultigridKernels,
        op: &super::operator::Operator,
        fine_nodes: u32,
    ) {
        if self.kind == Preconditioner::Jacobi {
            k.smooth.dispatch(pass, &self.jacobi, fine_nodes);
            return;
        }
        let last = self.levels.len() - 1;
        let sweeps = |pass: &mut wgpu::ComputePass<'_>, l: usize, n: u32, first: bool| {
            let (lv, b) = (&self.levels[l], &self.binds[l]);
            for s in 0..n {
                if s == 0 && first {
                    k.smooth.dispatch(pass, &b.smooth_first, lv.nodes);
                } else {
                    op.apply.dispatch(pass, &b.apply, lv.nodes);
                    k.smooth.dispatch(pass, &b.smooth, lv.nodes);
                }
            }
        };
        for l in 0..last {
            sweeps(pass, l, SWEEPS, true);
            let (lv, b) = (&self.levels[l], &self.binds[l]);
            op.apply.dispatch(pass, &b.apply, lv.nodes);
            let c = l + 1;
            let restrict = self.binds[c].restrict.as_ref().expect("coarse level");
            k.restrict.dispatch(pass, restrict, self.levels[c].nodes);
        }
        sweeps(pass, last, COARSEST_SWEEPS, true);
        for l in (0..last).rev() {
            let prolong = self.binds[l + 1].prolong.as_ref().expect("coarse level");
            k.prolong.dispatch(pass, prolong, self.levels[l].nodes);
            sweeps(pass, l, SWEEPS, false);
        }
    }
}
