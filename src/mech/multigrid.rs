//! The CG preconditioner (`shaders/mechanics/multigrid.wgsl`): Jacobi, or a
//! geometric multigrid W-cycle on the voxel hierarchy, as voxel micro-FE
//! solvers of bone use it (ParOSol, Flaig & Arbenz 2011): a coarse voxel is a
//! 2×2×2 block of fine ones with their mean modulus, the coarse operator is
//! the same 8-node hexahedron on the coarse grid (for a homogeneous block it
//! equals the Galerkin product PᵀKP), transfers are trilinear, a Chebyshev
//! polynomial in D⁻¹K smooths (ParOSol's smoother, Adams et al. 2003: it
//! reaches much deeper into the spectrum per operator application than
//! damped Jacobi, which the thin struts of a porous mesh need), and the
//! coarsest grid is solved exactly by a dense inverse factored on the host.
//! A coarse dof is fixed where a fine fixed dof restricts into it.

use super::MechParams;
use super::mesh::Mesh;
use super::reference;
use crate::gpu::compose::ComposeError;
use crate::gpu::{GpuContext, Kernel, storage_buffer_zeroed, uniform_buffer, workgroups_for};

/// Which preconditioner the CG uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[derive(clap::ValueEnum)]
pub enum Preconditioner {
    /// z = D⁻¹ r.
    Jacobi,
    /// One W-cycle of geometric multigrid.
    #[default]
    Multigrid,
}

/// Coarsening stops once the largest edge is at most this many voxels.
const COARSEST_EDGE: usize = 4;
/// Measured on the porous 64³ lattice of `measure_porous_lattices` (BV/TV
/// 0.20, 52 347 voxels solved) to 1e-6, f32 on lavapipe, with ratio 8:
/// V-cycle degree 2: 121 iterations; W-cycle degree 2: 49, degree 3: 43
/// (43.7 s, the fastest), degree 4: 39 (84 s). V-cycles and degree ≥ 4 also
/// met the f32 floor near 1e-5 and finished on the host. Ratio 8 against
/// 16 at degree 2: the same iterations, less time.
///
/// Degree of the Chebyshev smoother before and after each coarse correction
/// (pre-smoothing from zero costs degree − 1 operator applications).
const DEGREE: u32 = 3;
/// The smoother targets the part of the spectrum of D⁻¹K within
/// [λ_max / ratio, λ_max]; the coarse grid takes the rest.
const RATIO: f64 = 8.0;
/// Coarse cycles per visit of a level: 2 is a W-cycle. The rediscretised
/// coarse operators (mean modulus, not the Galerkin product) represent
/// thin struts poorly; a second coarse cycle makes up for it, as in ParOSol.
const CYCLE_INDEX: u32 = 2;
/// The coarsest grid is solved exactly when it has at most this many free
/// dofs (the O(n³) host factorisation then takes about a second and the
/// f32 inverse 4 MiB; a cube's coarsest grid has ≤ 375); beyond that it is
/// smoothed by a Chebyshev polynomial of [`COARSEST_DEGREE`].
const MAX_DENSE_DOFS: usize = 1024;
const COARSEST_DEGREE: u32 = 32;

crate::gpu_struct! {
    /// Coefficients of one Chebyshev step (binding 13 of `multigrid.wgsl`).
    #[derive(Debug, Clone, Copy, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
    pub struct ChebyshevStep in "mechanics/multigrid" {
        pub keep: f32,
        pub gain: f32,
        pub clear: u32,
        pub _pad: u32,
    }
}

/// The steps of a degree-`degree` Chebyshev iteration for a spectrum of
/// D̂⁻¹K in [1/ratio, 1] (D̂ = λ_max·D), Saad's recurrence (Iterative
/// Methods for Sparse Linear Systems, Alg. 12.1): d₀ = r/θ, then
/// dₖ = ρₖρₖ₋₁ dₖ₋₁ + (2ρₖ/δ) D̂⁻¹ r. The first step comes twice: from
/// x = 0 (pre-smoothing) and from a given x (post-smoothing).
pub fn chebyshev_steps(degree: u32, ratio: f64) -> Vec<ChebyshevStep> {
    let (lo, hi) = (1.0 / ratio, 1.0);
    let theta = 0.5 * (hi + lo);
    let delta = 0.5 * (hi - lo);
    let sigma = theta / delta;
    let first = |clear| ChebyshevStep {
        keep: 0.0,
        gain: (1.0 / theta) as f32,
        clear,
        _pad: 0,
    };
    let mut steps = vec![first(1), first(0)];
    let mut rho = 1.0 / sigma;
    for _ in 1..degree {
        let next = 1.0 / (2.0 * sigma - rho);
        steps.push(ChebyshevStep {
            keep: (next * rho) as f32,
            gain: (2.0 * next / delta) as f32,
            clear: 0,
            _pad: 0,
        });
        rho = next;
    }
    steps
}

/// The preconditioner kernels, built once per device.
pub struct MultigridKernels {
    pub jacobi: Kernel,
    pub smooth: Kernel,
    pub coarse: Kernel,
    pub restrict: Kernel,
    pub prolong: Kernel,
}

impl MultigridKernels {
    pub fn new(device: &wgpu::Device, wg: u32) -> Result<Self, ComposeError> {
        let f = "mechanics/multigrid";
        Ok(Self {
            smooth: Kernel::new(device, f, "chebyshev_step", wg)?,
            coarse: Kernel::new(device, f, "coarse_solve", wg)?,
            jacobi: Kernel::new(device, f, "jacobi_sweep", wg)?,
            restrict: Kernel::new(device, f, "restrict_residual", wg)?,
            prolong: Kernel::new(device, f, "prolong", wg)?,
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
    flags: wgpu::Buffer,
    scale: wgpu::Buffer,
    wdinv: wgpu::Buffer,
    b: wgpu::Buffer,
    x: wgpu::Buffer,
    t: wgpu::Buffer,
    /// The Chebyshev smoother's last update direction.
    dir: wgpu::Buffer,
}

struct LevelBinds {
    apply: wgpu::BindGroup,
    /// One per Chebyshev step (see [`chebyshev_steps`]).
    smooth: Vec<wgpu::BindGroup>,
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
    pub part: &'a wgpu::Buffer,
    pub scalars: &'a wgpu::Buffer,
    /// Input of the preconditioner (the CG residual).
    pub r: &'a wgpu::Buffer,
    /// Output z = M⁻¹ r.
    pub z: &'a wgpu::Buffer,
}

/// The exact coarsest solve of the current mesh (rebuilt with it).
struct CoarseSolve {
    bind: wgpu::BindGroup,
    dofs: u32,
}

/// The preconditioner of one lattice size: Jacobi, or the multigrid levels.
pub struct Precond {
    kind: Preconditioner,
    jacobi: wgpu::BindGroup,
    /// Fine level first; empty for Jacobi.
    levels: Vec<Level>,
    binds: Vec<LevelBinds>,
    degree: u32,
    /// The dense coarsest inverse, when the coarsest grid is small enough.
    coarse: Option<CoarseSolve>,
    /// Kept for rebuilding the coarse solve's bind group.
    scalars: wgpu::Buffer,
    poisson: f64,
}

/// Bytes of the preconditioner's buffers for a `dims` lattice.
pub fn memory_needed(dims: [usize; 3], kind: Preconditioner) -> u64 {
    let nn = reference::node_count(dims) as u64;
    let fine = 4 * nn + 24 * nn; // D̂⁻¹, K x, direction
    match kind {
        Preconditioner::Jacobi => 0,
        Preconditioner::Multigrid => {
            let levels = coarse_dims(dims);
            let coarsest = levels
                .last()
                .map_or(0, |&d| 3 * reference::node_count(d) as u64);
            let dense = coarsest.min(MAX_DENSE_DOFS as u64);
            fine + levels
                .iter()
                .map(|&d| {
                    let n = reference::node_count(d) as u64;
                    let v: u64 = d.iter().product::<usize>() as u64;
                    48 * n + 8 * n + 4 * v + 256
                })
                .sum::<u64>()
                + 4 * dense * dense
                + 8 * coarsest
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
        let jacobi = k.jacobi.bind(
            d,
            &[
                ("M", fine.params_clear),
                ("flags", fine.flags),
                ("wdinv", fine.dinv),
                ("b", fine.r),
                ("t", fine.r),
                ("x", fine.z),
                ("S", fine.scalars),
            ],
        );
        let degree = DEGREE;
        let mut levels = Vec::new();
        let mut binds = Vec::new();
        if kind == Preconditioner::Multigrid {
            let nn = reference::node_count(dims) as u64;
            // The fine level borrows the CG's buffers; D̂⁻¹, K x and the
            // smoother's direction are its own.
            levels.push(Level {
                nodes: nn as u32,
                params: fine.params.clone(),
                flags: fine.flags.clone(),
                scale: fine.scale.clone(),
                wdinv: storage_buffer_zeroed(d, "mg wdinv 0", 4 * nn),
                b: fine.r.clone(),
                x: fine.z.clone(),
                t: storage_buffer_zeroed(d, "mg t 0", 12 * nn),
                dir: storage_buffer_zeroed(d, "mg dir 0", 12 * nn),
            });
            let mut voxel_um = voxel_size_um;
            for (l, cd) in coarse_dims(dims).into_iter().enumerate() {
                voxel_um *= 2.0;
                let nn = reference::node_count(cd) as u64;
                let nv = cd.iter().product::<usize>() as u64;
                let [gx, gy, _] = workgroups_for(nn as u32, params.workgroup_size);
                let p = super::mesh_params(cd, voxel_um, params.poisson, gx * gy);
                let lab = |s: &str| format!("mg {s} {}", l + 1);
                levels.push(Level {
                    nodes: nn as u32,
                    params: uniform_buffer(d, &lab("params"), &p),
                    flags: storage_buffer_zeroed(d, &lab("flags"), 4 * nn),
                    scale: storage_buffer_zeroed(d, &lab("scale"), 4 * nv),
                    wdinv: storage_buffer_zeroed(d, &lab("wdinv"), 4 * nn),
                    b: storage_buffer_zeroed(d, &lab("b"), 12 * nn),
                    x: storage_buffer_zeroed(d, &lab("x"), 12 * nn),
                    t: storage_buffer_zeroed(d, &lab("t"), 12 * nn),
                    dir: storage_buffer_zeroed(d, &lab("dir"), 12 * nn),
                });
            }
            let ratio = RATIO;
            let mut steps = chebyshev_steps(degree, ratio);
            // The coarsest level, when not solved exactly, gets a deep polynomial.
            steps.extend(chebyshev_steps(COARSEST_DEGREE, 4.0 * ratio * ratio));
            let step_uniforms: Vec<wgpu::Buffer> = steps
                .iter()
                .enumerate()
                .map(|(i, s)| uniform_buffer(d, &format!("mg chebyshev step {i}"), s))
                .collect();
            for (l, lv) in levels.iter().enumerate() {
                let parent = l.checked_sub(1).map(|p| &levels[p]);
                binds.push(LevelBinds {
                    apply: op
                        .bind_apply(d, &lv.params, &lv.flags, &lv.scale, &lv.x, &lv.t, fine.part),
                    smooth: step_uniforms
                        .iter()
                        .map(|u| {
                            k.smooth.bind(
                                d,
                                &[
                                    ("M", &lv.params),
                                    ("flags", &lv.flags),
                                    ("wdinv", &lv.wdinv),
                                    ("b", &lv.b),
                                    ("t", &lv.t),
                                    ("x", &lv.x),
                                    ("S", fine.scalars),
                                    ("dir", &lv.dir),
                                    ("C", u),
                                ],
                            )
                        })
                        .collect(),
                    restrict: parent.map(|f| {
                        k.restrict.bind(
                            d,
                            &[
                                ("M", &lv.params),
                                ("flags", &lv.flags),
                                ("x", &lv.b),
                                ("F", &f.params),
                                ("fflags", &f.flags),
                                ("fb", &f.b),
                                ("ft", &f.t),
                                ("S", fine.scalars),
                            ],
                        )
                    }),
                    prolong: parent.map(|f| {
                        k.prolong.bind(
                            d,
                            &[
                                ("M", &lv.params),
                                ("x", &lv.x),
                                ("F", &f.params),
                                ("fflags", &f.flags),
                                ("fx", &f.x),
                                ("S", fine.scalars),
                            ],
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
            degree,
            coarse: None,
            scalars: fine.scalars.clone(),
            poisson: params.poisson,
        }
    }

    pub fn kind(&self) -> Preconditioner {
        self.kind
    }

    /// Uploads the hierarchy of a new fine mesh: coarse meshes built from
    /// it, D̂⁻¹ = 1 / (λ̂_max · diag K) on every level, and the coarsest
    /// level's dense inverse.
    pub fn upload(
        &mut self,
        ctx: &GpuContext,
        k: &MultigridKernels,
        fine: &Mesh,
        params: &MechParams,
    ) {
        if self.kind == Preconditioner::Jacobi {
            return;
        }
        let q = &ctx.queue;
        // λ_max(D⁻¹K) ≤ λ_max(D_e⁻¹K_e) on every level (each is a mesh of
        // scaled unit hexahedra): a bound that needs no estimate.
        let lambda = element_lambda_max(params.poisson);
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
                .map(|&x| (x as f64 / lambda) as f32)
                .collect();
            q.write_buffer(&lv.wdinv, 0, bytemuck::cast_slice(&wdinv));
        }
        let coarsest = coarse.as_ref().unwrap_or(fine);
        self.coarse = self.dense_coarse_solve(ctx, k, coarsest);
    }

    /// The dense inverse of the coarsest level's K on its free dofs, and the
    /// bind group that applies it; None when it has too many free dofs.
    fn dense_coarse_solve(
        &self,
        ctx: &GpuContext,
        k: &MultigridKernels,
        mesh: &Mesh,
    ) -> Option<CoarseSolve> {
        let free: Vec<usize> = mesh.free_dofs().collect();
        let nf = free.len();
        if nf == 0 || nf > MAX_DENSE_DOFS {
            return None;
        }
        let full = reference::assemble_dense(mesh.dims, mesh.h_mm, &mesh.e_mpa, self.poisson);
        let n = 3 * reference::node_count(mesh.dims);
        let mut a = vec![0f64; nf * nf];
        for (i, &fi) in free.iter().enumerate() {
            for (j, &fj) in free.iter().enumerate() {
                a[i * nf + j] = full[fi * n + fj];
            }
        }
        let inv: Vec<f32> = spd_inverse(&a, nf).iter().map(|&x| x as f32).collect();
        let mut row = vec![-1i32; n];
        for (i, &fi) in free.iter().enumerate() {
            row[fi] = i as i32;
        }
        let dofs: Vec<u32> = free.iter().map(|&f| f as u32).collect();
        let d = &ctx.device;
        let lv = self.levels.last().expect("a coarsest level");
        let kinv = crate::gpu::storage_buffer_init(d, "mg coarsest inverse", &inv);
        let dofs_buf = crate::gpu::storage_buffer_init(d, "mg coarsest dofs", &dofs);
        let row_buf = crate::gpu::storage_buffer_init(d, "mg coarsest rows", &row);
        let bind = k.coarse.bind(
            d,
            &[
                ("M", &lv.params),
                ("b", &lv.b),
                ("x", &lv.x),
                ("S", &self.scalars),
                ("kinv", &kinv),
                ("free_dofs", &dofs_buf),
                ("free_row", &row_buf),
            ],
        );
        Some(CoarseSolve {
            bind,
            dofs: n as u32,
        })
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
            k.jacobi.dispatch(pass, &self.jacobi, fine_nodes);
            return;
        }
        // Chebyshev smoothing of `degree` steps on level l; bind group 0 is
        // the first step from x = 0, 1 the first from a given x, 2.. the
        // rest (`offset` selects the coarsest polynomial's block).
        let smooth = |pass: &mut wgpu::ComputePass<'_>,
                      l: usize,
                      degree: u32,
                      from_zero: bool,
                      offset: usize| {
            let (lv, b) = (&self.levels[l], &self.binds[l]);
            for s in 0..degree as usize {
                let g = match (s, from_zero) {
                    (0, true) => offset,
                    (0, false) => {
                        op.apply.dispatch(pass, &b.apply, lv.nodes);
                        offset + 1
                    }
                    _ => {
                        op.apply.dispatch(pass, &b.apply, lv.nodes);
                        offset + 1 + s
                    }
                };
                k.smooth.dispatch(pass, &b.smooth[g], lv.nodes);
            }
        };
        self.visit(pass, k, op, 0, true, &smooth);
    }

    /// One multigrid cycle on level `l` for its right-hand side `b`, from
    /// x = 0 or from the given x: smooth, correct from the coarse level
    /// (`cycle_index` coarse cycles, the second starting from the first's
    /// result: a W-cycle for 2), smooth again. Each coarse cycle is the
    /// same symmetric map, so the whole cycle is symmetric.
    fn visit(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        k: &MultigridKernels,
        op: &super::operator::Operator,
        l: usize,
        from_zero: bool,
        smooth: &dyn Fn(&mut wgpu::ComputePass<'_>, usize, u32, bool, usize),
    ) {
        let last = self.levels.len() - 1;
        if l == last {
            match &self.coarse {
                Some(cs) => k.coarse.dispatch(pass, &cs.bind, cs.dofs),
                None => smooth(
                    pass,
                    last,
                    COARSEST_DEGREE,
                    from_zero,
                    self.degree as usize + 1,
                ),
            }
            return;
        }
        smooth(pass, l, self.degree, from_zero, 0);
        let (lv, b) = (&self.levels[l], &self.binds[l]);
        op.apply.dispatch(pass, &b.apply, lv.nodes);
        let c = l + 1;
        let restrict = self.binds[c].restrict.as_ref().expect("coarse level");
        k.restrict.dispatch(pass, restrict, self.levels[c].nodes);
        // An exact coarsest solve needs no second pass.
        let cycles = if c == last && self.coarse.is_some() {
            1
        } else {
            CYCLE_INDEX
        };
        for g in 0..cycles {
            self.visit(pass, k, op, c, g == 0, smooth);
        }
        let prolong = self.binds[c].prolong.as_ref().expect("coarse level");
        k.prolong.dispatch(pass, prolong, lv.nodes);
        smooth(pass, l, self.degree, false, 0);
    }
}

/// The inverse of a symmetric positive (semi-)definite `n`×`n` matrix by
/// Cholesky factorisation. A pivot that falls below 1e-12 of its diagonal
/// entry marks a direction the matrix does not hold (a coarse rigid mode no
/// support fixes): that row and column of the inverse are left 0, so the
/// result stays symmetric positive semi-definite.
pub fn spd_inverse(a: &[f64], n: usize) -> Vec<f64> {
    let mut l = vec![0f64; n * n];
    let mut dropped = vec![false; n];
    for j in 0..n {
        let mut d = a[j * n + j];
        for k in 0..j {
            d -= l[j * n + k] * l[j * n + k];
        }
        if d <= 1e-12 * a[j * n + j].abs() || d <= 0.0 {
            dropped[j] = true;
            continue;
        }
        let djj = d.sqrt();
        l[j * n + j] = djj;
        for i in j + 1..n {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= l[i * n + k] * l[j * n + k];
            }
            l[i * n + j] = s / djj;
        }
    }
    // L⁻¹ column by column (forward substitution), then A⁻¹ = L⁻ᵀ L⁻¹.
    let mut linv = vec![0f64; n * n];
    for c in 0..n {
        if dropped[c] {
            continue;
        }
        for i in c..n {
            if dropped[i] {
                continue;
            }
            let mut s = if i == c { 1.0 } else { 0.0 };
            for k in c..i {
                s -= l[i * n + k] * linv[k * n + c];
            }
            linv[i * n + c] = s / l[i * n + i];
        }
    }
    let mut inv = vec![0f64; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (i.max(j)..n)
                .map(|k| linv[k * n + i] * linv[k * n + j])
                .sum();
            inv[i * n + j] = s;
            inv[j * n + i] = s;
        }
    }
    inv
}
