//! Voxel micro-finite-element mechanics (docs/design.md §4): every solved bone voxel
//! is an 8-node trilinear hexahedron (full 2×2×2 Gauss integration, isotropic
//! linear elasticity, E = E_tissue · mineral^p); the displacement is found by a
//! matrix-free preconditioned conjugate gradient on the GPU (a geometric
//! multigrid W-cycle by default, Jacobi as the baseline).
//!
//! * [`mesh`] — which voxels are elements (every face-connected bone
//!   component joining bottom and top; the rest is set aside with SED 0),
//!   fixed dofs of the load case, Jacobi diagonal.
//! * [`operator`] — y = K x node by node, and per-voxel SED.
//! * [`pcg`] — the CG vector updates and reductions, α/β kept on the GPU.
//! * [`multigrid`] — the preconditioner: Jacobi, or a Chebyshev-smoothed
//!   W-cycle on the voxel hierarchy with an exact coarsest solve (porous
//!   lattices to 1e-6 on lavapipe: 14 iterations, 1.7 s at 32³; 43
//!   iterations, 34 s at 64³; Jacobi needs about 1 230 at 32³).
//! * [`reference`] — the f64 element matrix and an assembled CPU K (oracle).
//! * [`command`] — `trabecula mech`.
//!
//! Linearity: SED at load level `s` is `s²·SED(unit)` and forces scale by
//! `s`, so a change of gravity or exercise level rescales a stored solution —
//! only a change of geometry needs a new solve ([`MechSolver::solve`],
//! warm-started from the previous displacement).
//!
//! Precision (measured on lavapipe, 14³ knocked-out rod lattice, tol 1e-6):
//! textbook f32 PCG (α = rᵀz/pᵀKp, Fletcher–Reeves β, recursive residual
//! only) reports convergence after 734 iterations while the true residual
//! r = −K u is 3.4e-6 — it stalls above 1e-6. Replacing the residual by the
//! true one every `check_every` iterations with those formulas made CG diverge
//! (stale conjugacy). What works: the operator in difference form
//! K_e (x_b − x_a) (f32 rounding relative to displacement differences, not
//! |u|), tree + strided pairwise dot products, α = pᵀr/pᵀKp (exact line
//! search) and Polak–Ribière β = max(0, zᵀ(r − r_old)/rz_old) (both equal the
//! textbook ones in exact arithmetic), with the true residual replacing the
//! recursive one every 32 iterations and convergence judged on it: 742
//! iterations to a true 1.0e-6. Larger lattices still stall: a 64³ porous
//! lattice at a relative residual of 1.2–1.3e-4 with either preconditioner.
//! It is not the f32 solution vector — folding the GPU's f32 correction into
//! an f64 solution at every readback (reliable updates, as below) stalls at
//! the same 1.2e-4 — but the f32 operator, which cannot resolve the softest
//! modes (thin struts hinged on the rest). So [`MechSolver::solve`] keeps
//! u and r = −K u in f64 on the host ([`reference::apply_ebe`]), runs f32
//! PCG on the GPU while it gains, and then goes on with f64 vectors and
//! operator on the host, still preconditioned by the GPU's f32 cycle
//! (flexible PCG). A residual that stops improving there too is
//! [`MechError::Stalled`] (never a silent result). With the W-cycle the f32
//! stage reaches 1e-6 by itself on the porous 32³ and 64³ lattices (the
//! floor had been the preconditioner's as much as the operator's); the
//! host stage remains the fallback.

pub mod command;
pub mod mesh;
pub mod multigrid;
pub mod operator;
pub mod pcg;
pub mod reference;

use std::time::Instant;

pub use command::{Compressed, Compression, MechArgs, mech_command};
use mesh::{ACTIVE, FIX_X, FIX_Z, Mesh, MeshParams};
pub use multigrid::Preconditioner;
use multigrid::{FineLevel, MultigridKernels, Precond};
use operator::Operator;
use pcg::{Pcg, Scalars};

use crate::gpu::compose::ComposeError;
use crate::gpu::{
    GpuContext, read_buffer, storage_buffer_init, storage_buffer_zeroed, uniform_buffer,
    workgroups_for,
};

/// A load case: imposed displacements on the block faces.
///
/// Every case is an imposed apparent displacement gradient G (u = G·x at the
/// fixed dofs, x in mm from the lattice origin) plus the set of fixed dofs, so
/// shear or transverse cases add a variant with their G and supports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LoadCase {
    /// Uniaxial compression along z: u_z = 0 on every bottom bone node,
    /// u_z = −strain·H on every top one; the first bottom node (lowest x, then
    /// lowest y) has u_x = u_y = 0, the bottom node of its row (same y) with
    /// the largest x has u_y = 0. `confined`: the side faces also have
    /// u_x = 0 (x faces) and u_y = 0 (y faces) — uniaxial strain.
    CompressionZ { strain: f64, confined: bool },
}

impl LoadCase {
    /// Imposed displacement gradient G (rows), dimensionless.
    pub fn gradient(&self) -> [[f64; 3]; 3] {
        match *self {
            LoadCase::CompressionZ { strain, .. } => [[0.0; 3], [0.0; 3], [0.0, 0.0, -strain]],
        }
    }

    /// The apparent strain magnitude the apparent modulus is divided by.
    pub fn strain(&self) -> f64 {
        match *self {
            LoadCase::CompressionZ { strain, .. } => strain,
        }
    }
}

/// Material, load and solver parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MechParams {
    /// Tissue modulus of fully mineralised bone (MPa). Default 15 000 MPa,
    /// mid-range of nanoindentation / back-calculated micro-FE trabecular
    /// tissue moduli (10–20 GPa; e.g. Bayraktar et al. 2004, ~18 GPa;
    /// van Rietbergen et al. 1995, 5–10 GPa back-calculated).
    pub e_tissue_mpa: f64,
    /// Poisson ratio (default 0.3).
    pub poisson: f64,
    /// Exponent p of E = E_tissue · mineral^p (default 2: the quadratic
    /// density–modulus power law of Carter & Hayes 1977 / Currey 1988 type
    /// relations used in bone adaptation models, e.g. Huiskes et al. 2000).
    pub exponent: f64,
    /// Stop when ‖r‖/‖r₀‖ ≤ tol, r₀ the residual of the cold start (imposed
    /// displacements, zero elsewhere), so a warm start meets the same absolute
    /// accuracy as a cold one. Default 1e-6.
    pub tol: f64,
    /// Iteration cap (default 20 000).
    pub max_iter: u32,
    /// Iterations between readbacks of the scalars; the true residual is
    /// recomputed at each (default 32).
    pub check_every: u32,
    pub load: LoadCase,
    /// Workgroup size of the node-wide kernels (power of two ≤ 256).
    pub workgroup_size: u32,
    /// Default multigrid (a V-cycle per iteration); Jacobi is the textbook
    /// baseline it is measured against.
    pub preconditioner: Preconditioner,
}

impl Default for MechParams {
    fn default() -> Self {
        Self {
            e_tissue_mpa: 15_000.0,
            poisson: 0.3,
            exponent: 2.0,
            tol: 1e-6,
            max_iter: 20_000,
            check_every: 32,
            load: LoadCase::CompressionZ {
                strain: 0.01,
                confined: false,
            },
            workgroup_size: 64,
            preconditioner: Preconditioner::default(),
        }
    }
}

impl MechParams {
    /// Young's modulus (MPa) of a voxel of mineral fraction `m`.
    pub fn young_of(&self, m: f64) -> f64 {
        self.e_tissue_mpa * m.max(0.0).powf(self.exponent)
    }
}

/// Why a mechanics solve did not produce a result.
#[derive(Debug, thiserror::Error)]
pub enum MechError {
    #[error(
        "a {dims:?} lattice needs {bytes_needed} bytes in one storage binding (3 f32 per node), \
         more than this adapter's limit of {max_binding_bytes} bytes; {total_bytes} bytes in all"
    )]
    TooLarge {
        dims: [usize; 3],
        bytes_needed: u64,
        max_binding_bytes: u64,
        total_bytes: u64,
    },
    #[error("mineral has {got} voxels, the solver was built for {expected}")]
    Shape { expected: usize, got: usize },
    #[error(
        "mineral fraction {value} at voxel ({x}, {y}, {z}) is not a finite number in [0, 1]: \
         the modulus there is undefined"
    )]
    BadMineral {
        x: usize,
        y: usize,
        z: usize,
        value: f32,
    },
    #[error(
        "no face-connected bone component joins the bottom (z = 0) and the top face \
         ({bone_voxels} bone voxels): nothing carries the load"
    )]
    NoLoadPath { bone_voxels: usize },
    #[error(
        "CG did not converge: relative residual {relative_residual:.3e} > tol {tol:.1e} \
         after {iterations} iterations (the cap)"
    )]
    NotConverged {
        iterations: u32,
        relative_residual: f64,
        tol: f64,
    },
    #[error(
        "CG stalled at relative residual {relative_residual:.3e} (f64) > tol {tol:.1e} after \
         {iterations} iterations: no 10 % gain over the last 200 (multigrid) or 800 (Jacobi); \
         loosen --tol"
    )]
    Stalled {
        iterations: u32,
        relative_residual: f64,
        tol: f64,
    },
    #[error(
        "CG broke down after {iterations} iterations (a non-finite value or pᵀKp ≤ 0): \
         the result is not usable"
    )]
    Breakdown { iterations: u32 },
    #[error("invalid mechanics parameters: {0}")]
    Params(String),
    #[error(transparent)]
    Shader(#[from] ComposeError),
}

/// Scalars of one solve.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MechResult {
    /// Force the top plate applies, N (compression positive).
    pub reaction_force_n: f64,
    /// (F / A) / strain, A = nx·ny·h² the full block cross-section (MPa).
    pub apparent_modulus_mpa: f64,
    /// All PCG iterations, GPU and host.
    pub iterations: u32,
    /// Of those, iterations with f64 vectors and operator on the host (the
    /// GPU preconditioner still applies M⁻¹): taken once f32 PCG stops
    /// improving (measured at 64³ near 1.2e-4). 0 when f32 met tol.
    pub host_iterations: u32,
    /// ‖r‖/‖r₀‖ of the residual r = −K u (free dofs), evaluated in f64 on
    /// the host for the f64 solution (the GPU keeps it rounded to f32).
    pub relative_residual: f64,
    pub voxels_solved: usize,
    pub voxels_set_aside: usize,
    pub warm_start: bool,
    pub wall_s: f64,
    /// (iterations, f64 relative residual) at the start and each readback.
    pub history: Vec<(u32, f64)>,
}

/// GPU buffers of one lattice size; reused solve after solve.
struct Buffers {
    params: [wgpu::Buffer; 3],
    flags: wgpu::Buffer,
    dinv: wgpu::Buffer,
    scale: wgpu::Buffer,
    u: wgpu::Buffer,
    r: wgpu::Buffer,
    p: wgpu::Buffer,
    q: wgpu::Buffer,
    /// z = M⁻¹ r.
    z: wgpu::Buffer,
    /// Right-hand side b of the correction solve K u = b.
    rhs: wgpu::Buffer,
    part: wgpu::Buffer,
    scalars: wgpu::Buffer,
    sed: wgpu::Buffer,
}

struct BindGroups {
    apply_p: wgpu::BindGroup,
    apply_u: wgpu::BindGroup,
    sed: wgpu::BindGroup,
    residual: wgpu::BindGroup,
    zdot: wgpu::BindGroup,
    zdot_restart: wgpu::BindGroup,
    reduce_init: wgpu::BindGroup,
    reduce_pq: wgpu::BindGroup,
    reduce_rz: wgpu::BindGroup,
    update_ur: wgpu::BindGroup,
    update_p: wgpu::BindGroup,
}

/// The mechanics solver of one lattice size: kernels, buffers, the last
/// displacement (for warm starts) and the last per-voxel SED.
///
/// It owns its submissions: a solve reads a few scalars back every
/// `check_every` iterations to decide convergence.
pub struct MechSolver {
    dims: [usize; 3],
    voxel_size_um: f64,
    params: MechParams,
    op: Operator,
    pcg: Pcg,
    mg: MultigridKernels,
    pre: Precond,
    buf: Buffers,
    bg: BindGroups,
    mesh: Option<Mesh>,
    nodes: usize,
    /// f64 displacement of the last solve (empty after a restore).
    solution: Vec<f64>,
}

/// Bytes of the largest binding and of all buffers of a `dims` lattice.
pub fn memory_needed(dims: [usize; 3], preconditioner: Preconditioner) -> (u64, u64) {
    let nn = reference::node_count(dims) as u64;
    let nv = dims.iter().product::<usize>() as u64;
    let vec3 = 12 * nn;
    let pre = multigrid::memory_needed(dims, preconditioner);
    (vec3, 6 * vec3 + 8 * nn + 8 * nv + pre)
}

impl MechSolver {
    /// Builds kernels and buffers for a `dims` lattice of `voxel_size_um`
    /// voxels; refuses up front when a displacement vector (12 bytes per node)
    /// exceeds the adapter's largest storage binding.
    pub fn new(
        ctx: &GpuContext,
        dims: [usize; 3],
        voxel_size_um: f64,
        params: MechParams,
    ) -> Result<Self, MechError> {
        check_params(&params)?;
        if dims.contains(&0) || voxel_size_um.is_nan() || voxel_size_um <= 0.0 {
            return Err(MechError::Params(format!(
                "dims {dims:?} and voxel size {voxel_size_um} µm must be positive"
            )));
        }
        let (bytes_needed, total_bytes) = memory_needed(dims, params.preconditioner);
        let max = ctx.max_binding_bytes();
        let nn = reference::node_count(dims);
        if bytes_needed > max || 3 * nn as u64 > u32::MAX as u64 {
            return Err(MechError::TooLarge {
                dims,
                bytes_needed,
                max_binding_bytes: max,
                total_bytes,
            });
        }
        let d = &ctx.device;
        let wg = params.workgroup_size;
        let op = Operator::new(d, wg)?;
        let pcg = Pcg::new(d, wg)?;
        let mg = MultigridKernels::new(d, wg)?;
        let nv: usize = dims.iter().product();
        let [gx, gy, _] = workgroups_for(nn as u32, wg);
        let npart = gx * gy;
        let base = mesh_params(dims, voxel_size_um, params.poisson, npart);
        let v3 = 12 * nn as u64;
        let buf = Buffers {
            params: [
                uniform_buffer(d, "mech params", &base),
                uniform_buffer(d, "mech params clear", &MeshParams { clear: 1, ..base }),
                uniform_buffer(d, "mech params restart", &MeshParams { restart: 1, ..base }),
            ],
            flags: storage_buffer_zeroed(d, "mech flags", 4 * nn as u64),
            dinv: storage_buffer_zeroed(d, "mech dinv", 4 * nn as u64),
            scale: storage_buffer_zeroed(d, "mech scale", 4 * nv as u64),
            u: storage_buffer_zeroed(d, "mech u", v3),
            r: storage_buffer_zeroed(d, "mech r", v3),
            p: storage_buffer_zeroed(d, "mech p", v3),
            q: storage_buffer_zeroed(d, "mech q", v3),
            z: storage_buffer_zeroed(d, "mech z", v3),
            rhs: storage_buffer_zeroed(d, "mech rhs", v3),
            part: storage_buffer_zeroed(d, "mech partials", 16 * npart as u64),
            scalars: storage_buffer_init(d, "mech scalars", &[Scalars::default()]),
            sed: storage_buffer_zeroed(d, "mech sed", 4 * nv as u64),
        };
        let b = &buf;
        let [pm, pm_clear, pm_restart] = &b.params;
        let bg = BindGroups {
            apply_p: op.bind_apply(d, pm, &b.flags, &b.scale, &b.p, &b.q, &b.part),
            apply_u: op.bind_apply(d, pm, &b.flags, &b.scale, &b.u, &b.q, &b.part),
            sed: op.bind_sed(d, pm, &b.scale, &b.u, &b.sed),
            residual: pcg.residual.bind(
                d,
                &[
                    ("M", pm),
                    ("flags", &b.flags),
                    ("r", &b.r),
                    ("q", &b.q),
                    ("rhs", &b.rhs),
                ],
            ),
            zdot: pcg.zdot.bind(
                d,
                &[
                    ("M", pm),
                    ("z", &b.z),
                    ("r", &b.r),
                    ("p", &b.p),
                    ("q", &b.q),
                    ("part", &b.part),
                    ("S", &b.scalars),
                ],
            ),
            zdot_restart: pcg.zdot.bind(
                d,
                &[
                    ("M", pm_restart),
                    ("z", &b.z),
                    ("r", &b.r),
                    ("p", &b.p),
                    ("q", &b.q),
                    ("part", &b.part),
                    ("S", &b.scalars),
                ],
            ),
            reduce_init: pcg
                .reduce_init
                .bind(d, &[("M", pm), ("part", &b.part), ("S", &b.scalars)]),
            reduce_pq: pcg
                .reduce_pq
                .bind(d, &[("M", pm), ("part", &b.part), ("S", &b.scalars)]),
            reduce_rz: pcg
                .reduce_rz
                .bind(d, &[("M", pm), ("part", &b.part), ("S", &b.scalars)]),
            update_ur: pcg.update_ur.bind(
                d,
                &[
                    ("M", pm),
                    ("flags", &b.flags),
                    ("u", &b.u),
                    ("r", &b.r),
                    ("p", &b.p),
                    ("q", &b.q),
                    ("S", &b.scalars),
                ],
            ),
            update_p: pcg.update_p.bind(
                d,
                &[
                    ("M", pm),
                    ("flags", &b.flags),
                    ("z", &b.z),
                    ("r", &b.r),
                    ("p", &b.p),
                    ("part", &b.part),
                    ("S", &b.scalars),
                ],
            ),
        };
        let pre = Precond::new(
            ctx,
            &mg,
            &op,
            params.preconditioner,
            dims,
            voxel_size_um,
            &params,
            FineLevel {
                params: pm,
                params_clear: pm_clear,
                flags: &b.flags,
                scale: &b.scale,
                dinv: &b.dinv,
                part: &b.part,
                scalars: &b.scalars,
                r: &b.r,
                z: &b.z,
            },
        );
        Ok(Self {
            dims,
            voxel_size_um,
            params,
            op,
            pcg,
            mg,
            pre,
            buf,
            bg,
            mesh: None,
            nodes: nn,
            solution: Vec::new(),
        })
    }

    pub fn dims(&self) -> [usize; 3] {
        self.dims
    }

    pub fn params(&self) -> &MechParams {
        &self.params
    }

    /// Changes tolerance, cap or load strain for later solves (not the
    /// material's Poisson ratio or the workgroup size: build a new solver).
    pub fn set_params(&mut self, params: MechParams) -> Result<(), MechError> {
        check_params(&params)?;
        if params.poisson != self.params.poisson
            || params.workgroup_size != self.params.workgroup_size
            || params.preconditioner != self.params.preconditioner
        {
            return Err(MechError::Params(
                "Poisson ratio, workgroup size and preconditioner are fixed when the solver is built"
                    .into(),
            ));
        }
        self.params = params;
        Ok(())
    }

    /// The mesh of the last solve (elements, fixed dofs, moduli).
    pub fn mesh(&self) -> Option<&Mesh> {
        self.mesh.as_ref()
    }

    /// Per-voxel SED (MPa, f32) of the last solve: stays on the GPU for the
    /// simulation's stimulus kernels.
    pub fn sed_buffer(&self) -> &wgpu::Buffer {
        &self.buf.sed
    }

    /// Nodal displacement (mm, 3 f32 per node of the (nx+1)(ny+1)(nz+1) grid).
    pub fn displacement_buffer(&self) -> &wgpu::Buffer {
        &self.buf.u
    }

    /// The f64 displacement (mm, 3 per node) the last solve refined; the
    /// GPU buffer holds it rounded to f32. Empty before the first solve and
    /// after a new geometry is uploaded without a solve (a restore).
    pub fn displacement_f64(&self) -> &[f64] {
        &self.solution
    }

    /// Per-voxel SED (MPa) of the last solve.
    pub fn read_sed(&self, ctx: &GpuContext) -> Vec<f32> {
        let nv = self.dims.iter().product::<usize>() as u64;
        read_buffer(&ctx.device, &ctx.queue, &self.buf.sed, 0, nv)
    }

    /// Nodal displacements (mm) of the last solve, 3 per node.
    pub fn read_displacement(&self, ctx: &GpuContext) -> Vec<f32> {
        read_buffer(
            &ctx.device,
            &ctx.queue,
            &self.buf.u,
            0,
            3 * self.nodes as u64,
        )
    }

    /// Continues from a saved displacement `u` (3 f32 per node) of geometry
    /// `mineral`: the next warm-started solve starts from it exactly as it
    /// would have in the run that saved it.
    pub fn restore_displacement(
        &mut self,
        ctx: &GpuContext,
        mineral: &[f32],
        u: &[f32],
    ) -> Result<(), MechError> {
        self.check_nodal(u)?;
        self.upload_mesh(ctx, mineral)?;
        ctx.queue
            .write_buffer(&self.buf.u, 0, bytemuck::cast_slice(u));
        Ok(())
    }

    /// Per-voxel displacement magnitude (mm): |mean of the 8 nodal vectors|
    /// on solved voxels, 0 elsewhere.
    pub fn read_displacement_magnitude(&self, ctx: &GpuContext) -> Vec<f32> {
        let u = self.read_displacement(ctx);
        let [nx, ny, nz] = self.dims;
        let mut out = vec![0f32; nx * ny * nz];
        let Some(mesh) = &self.mesh else { return out };
        for z in 0..nz {
            for y in 0..ny {
                for x in 0..nx {
                    let v = x + nx * (y + ny * z);
                    if mesh.scale[v] == 0.0 {
                        continue;
                    }
                    let mut m = [0f64; 3];
                    for a in 0..8 {
                        let g = reference::element_node(self.dims, [x, y, z], a);
                        for c in 0..3 {
                            m[c] += u[3 * g + c] as f64 / 8.0;
                        }
                    }
                    out[v] = (m[0] * m[0] + m[1] * m[1] + m[2] * m[2]).sqrt() as f32;
                }
            }
        }
        out
    }

    /// A nodal vector must hold 3 values per node.
    fn check_nodal(&self, v: &[f32]) -> Result<(), MechError> {
        if v.len() == 3 * self.nodes {
            Ok(())
        } else {
            Err(MechError::Shape {
                expected: 3 * self.nodes,
                got: v.len(),
            })
        }
    }

    fn upload_mesh(&mut self, ctx: &GpuContext, mineral: &[f32]) -> Result<(), MechError> {
        let mesh = Mesh::build(self.dims, self.voxel_size_um, mineral, &self.params)?;
        let q = &ctx.queue;
        q.write_buffer(&self.buf.flags, 0, bytemuck::cast_slice(&mesh.flags));
        q.write_buffer(&self.buf.dinv, 0, bytemuck::cast_slice(&mesh.dinv));
        q.write_buffer(&self.buf.scale, 0, bytemuck::cast_slice(&mesh.scale));
        self.pre.upload(ctx, &self.mg, &mesh, &self.params);
        self.mesh = Some(mesh);
        self.solution.clear();
        Ok(())
    }

    /// Applies the GPU stiffness operator of geometry `mineral` to `x`
    /// (3 f32 per node, all dofs, no boundary conditions): K x in N. For tests
    /// and benchmarks; it overwrites the solver's search direction.
    pub fn apply_operator(
        &mut self,
        ctx: &GpuContext,
        mineral: &[f32],
        x: &[f32],
    ) -> Result<Vec<f32>, MechError> {
        self.check_nodal(x)?;
        self.upload_mesh(ctx, mineral)?;
        ctx.queue
            .write_buffer(&self.buf.p, 0, bytemuck::cast_slice(x));
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        self.op
            .apply
            .run(&mut enc, &self.bg.apply_p, self.nodes as u32);
        ctx.submit_and_wait(enc);
        Ok(read_buffer(
            &ctx.device,
            &ctx.queue,
            &self.buf.q,
            0,
            3 * self.nodes as u64,
        ))
    }

    /// Applies the preconditioner of geometry `mineral` to `r` (3 f32 per
    /// node; entries at fixed or inactive dofs are ignored): z = M⁻¹ r. For
    /// tests; it overwrites the solver's residual and scalars.
    pub fn apply_preconditioner(
        &mut self,
        ctx: &GpuContext,
        mineral: &[f32],
        r: &[f32],
    ) -> Result<Vec<f32>, MechError> {
        self.check_nodal(r)?;
        self.upload_mesh(ctx, mineral)?;
        let mesh = self.mesh.as_ref().expect("mesh uploaded");
        let mut masked = vec![0.0; r.len()];
        for d in mesh.free_dofs() {
            masked[d] = r[d];
        }
        Ok(self.precondition(ctx, &masked))
    }

    /// z = M⁻¹ r on the GPU for a residual `r` that is zero off the free dofs.
    fn precondition(&self, ctx: &GpuContext, r: &[f32]) -> Vec<f32> {
        let q = &ctx.queue;
        q.write_buffer(&self.buf.r, 0, bytemuck::cast_slice(r));
        q.write_buffer(
            &self.buf.scalars,
            0,
            bytemuck::bytes_of(&Scalars::default()),
        );
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            self.pre
                .record(&mut pass, &self.mg, &self.op, self.nodes as u32);
        }
        ctx.submit_and_wait(enc);
        read_buffer(
            &ctx.device,
            &ctx.queue,
            &self.buf.z,
            0,
            3 * self.nodes as u64,
        )
    }

    /// Records one K·p application (for benchmarks): q = K p.
    pub fn record_apply(&self, enc: &mut wgpu::CommandEncoder) {
        self.op.apply.run(enc, &self.bg.apply_p, self.nodes as u32);
    }

    fn read_scalars(&self, ctx: &GpuContext) -> Scalars {
        read_buffer::<Scalars>(&ctx.device, &ctx.queue, &self.buf.scalars, 0, 1)[0]
    }

    /// Records u → q = K u, then [`Self::record_residual_scalars`].
    fn record_true_residual(&self, pass: &mut wgpu::ComputePass<'_>, restart: bool) {
        self.op
            .apply
            .dispatch(pass, &self.bg.apply_u, self.nodes as u32);
        self.record_residual_scalars(pass, restart);
    }

    /// Records r = −q (free dofs), z = M⁻¹ r, rᵀz and rᵀr into the scalars;
    /// with `restart` also p = z.
    fn record_residual_scalars(&self, pass: &mut wgpu::ComputePass<'_>, restart: bool) {
        let n = self.nodes as u32;
        self.pcg.residual.dispatch(pass, &self.bg.residual, n);
        self.pre.record(pass, &self.mg, &self.op, n);
        let zdot = if restart {
            &self.bg.zdot_restart
        } else {
            &self.bg.zdot
        };
        self.pcg.zdot.dispatch(pass, zdot, n);
        self.pcg.reduce_init.dispatch(pass, &self.bg.reduce_init, 1);
    }

    /// Records one CG iteration.
    fn record_iteration(&self, pass: &mut wgpu::ComputePass<'_>) {
        let n = self.nodes as u32;
        self.op.apply.dispatch(pass, &self.bg.apply_p, n);
        self.pcg.reduce_pq.dispatch(pass, &self.bg.reduce_pq, 1);
        self.pcg.update_ur.dispatch(pass, &self.bg.update_ur, n);
        self.pre.record(pass, &self.mg, &self.op, n);
        self.pcg.zdot.dispatch(pass, &self.bg.zdot, n);
        self.pcg.reduce_rz.dispatch(pass, &self.bg.reduce_rz, 1);
        self.pcg.update_p.dispatch(pass, &self.bg.update_p, n);
    }

    /// Solves the load case on geometry `mineral` (one fraction per voxel, x
    /// fastest). `warm_start` starts from the previous displacement (ignored
    /// on the first solve). Leaves SED in [`Self::sed_buffer`] and the
    /// displacement in [`Self::displacement_buffer`].
    ///
    /// Mixed precision: the solution u and its residual r = −K u (free dofs)
    /// live in f64 on the host. The GPU runs f32 PCG on K δ = r from δ = 0;
    /// at every readback δ is folded into u, r is recomputed in f64 and
    /// becomes the GPU's new right-hand side with δ = 0 again, the search
    /// direction kept (reliable updates). When a batch gains less than 10 %
    /// the f32 operator has reached its limit, and the iterations go on with
    /// f64 vectors and operator on the host, z = M⁻¹ r still from the GPU.
    pub fn solve(
        &mut self,
        ctx: &GpuContext,
        mineral: &[f32],
        warm_start: bool,
    ) -> Result<MechResult, MechError> {
        let t0 = Instant::now();
        let previous = (warm_start && self.mesh.is_some()).then(|| self.read_displacement(ctx));
        let warm = previous.is_some();
        self.upload_mesh(ctx, mineral)?;
        let mesh = self.mesh.as_ref().expect("mesh uploaded");

        // Start vector: the previous displacement with the new supports, or
        // the lift (imposed displacements, zero elsewhere). ‖r₀‖ is the cold
        // start's residual, so a warm start meets the same absolute accuracy.
        let lift = self.lift_f64(mesh);
        let r0_norm = norm(&self.free_residual(mesh, &lift));
        let mut u = lift;
        if let Some(prev) = previous {
            for d in mesh.free_dofs() {
                u[d] = prev[d] as f64;
            }
        }
        let relative = |r: f64| if r0_norm > 0.0 { r / r0_norm } else { 0.0 };
        let tol = self.params.tol;
        let mut r = self.free_residual(mesh, &u);
        let mut rel = relative(norm(&r));
        let mut history = vec![(0, rel)];
        let mut iterations = 0;
        let mut best = rel;
        let mut best_iter = 0;
        let mut host: Option<HostCg> = None;
        let mut host_iterations = 0;
        // No 10 % gain over this many iterations: f32 corrections no longer help.
        let stall_iters = match self.params.preconditioner {
            Preconditioner::Jacobi => 800,
            Preconditioner::Multigrid => 200,
        };
        let stop = Scalars {
            rr_stop: ((tol * r0_norm).powi(2)) as f32,
            ..Scalars::default()
        };
        ctx.queue
            .write_buffer(&self.buf.scalars, 0, bytemuck::bytes_of(&stop));
        while rel > tol {
            if !rel.is_finite() {
                return Err(MechError::Breakdown { iterations });
            }
            if iterations >= self.params.max_iter {
                return Err(MechError::NotConverged {
                    iterations,
                    relative_residual: rel,
                    tol,
                });
            }
            if rel < 0.9 * best {
                best = rel;
                best_iter = iterations;
            } else if iterations - best_iter >= stall_iters {
                return Err(MechError::Stalled {
                    iterations,
                    relative_residual: rel,
                    tol,
                });
            }
            let before = rel;
            if let Some(host) = host.as_mut() {
                self.host_iteration(ctx, mesh, host, &mut u, &mut r);
                iterations += 1;
                host_iterations += 1;
                if host_iterations % 16 == 0 {
                    r = self.free_residual(mesh, &u);
                }
                rel = relative(norm(&r));
                history.push((iterations, rel));
                log::trace!(
                    "mech: {iterations} iterations, relative residual {rel:.3e} (host f64)"
                );
                continue;
            }
            // δ = 0 and b = r: the true residual of u replaces the GPU's
            // (p = z on the first batch, p kept after).
            ctx.queue
                .write_buffer(&self.buf.rhs, 0, bytemuck::cast_slice(&to_f32(&r)));
            let batch = next_batch(&history, tol, self.params.check_every)
                .min(self.params.max_iter - iterations);
            let mut enc = ctx.device.create_command_encoder(&Default::default());
            enc.clear_buffer(&self.buf.u, 0, None);
            {
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("mech pcg"),
                    timestamp_writes: None,
                });
                self.record_true_residual(&mut pass, iterations == 0);
                for _ in 0..batch {
                    self.record_iteration(&mut pass);
                }
            }
            ctx.submit_and_wait(enc);
            let s = self.read_scalars(ctx);
            if s.bad != 0 {
                return Err(MechError::Breakdown {
                    iterations: s.iters,
                });
            }
            iterations = s.iters;
            let delta = self.read_displacement(ctx);
            for (ui, di) in u.iter_mut().zip(&delta) {
                *ui += *di as f64;
            }
            r = self.free_residual(mesh, &u);
            rel = relative(norm(&r));
            history.push((iterations, rel));
            log::debug!("mech: {iterations} iterations, relative residual {rel:.3e} (f64)");
            if rel > tol && batch >= 8 && rel > 0.9 * before {
                // The f32 operator cannot resolve what is left (the softest
                // modes of a porous lattice): go on with f64 vectors.
                log::debug!("mech: f32 PCG stopped improving at {rel:.3e}; host f64 CG from here");
                host = Some(HostCg::default());
            }
        }
        ctx.queue
            .write_buffer(&self.buf.u, 0, bytemuck::cast_slice(&to_f32(&u)));
        self.solution = u;

        // Outputs: SED per voxel, q = K u for the reaction.
        let n = self.nodes as u32;
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            let nv = self.dims.iter().product::<usize>() as u32;
            self.op.sed.dispatch(&mut pass, &self.bg.sed, nv);
            self.op.apply.dispatch(&mut pass, &self.bg.apply_u, n);
        }
        ctx.submit_and_wait(enc);
        let reaction_force_n = self.reaction(ctx);
        let [nx, ny, _] = self.dims;
        let h = self.voxel_size_um / 1000.0;
        let area = (nx * ny) as f64 * h * h;
        let strain = self.params.load.strain();
        let mesh = self.mesh.as_ref().expect("mesh uploaded");
        Ok(MechResult {
            reaction_force_n,
            apparent_modulus_mpa: if strain != 0.0 {
                reaction_force_n / area / strain
            } else {
                0.0
            },
            iterations,
            host_iterations,
            relative_residual: rel,
            voxels_solved: mesh.voxels_solved,
            voxels_set_aside: mesh.voxels_set_aside,
            warm_start: warm,
            wall_s: t0.elapsed().as_secs_f64(),
            history,
        })
    }

    /// −Σ (K u)_z over the top plane's z-fixed nodes (N; compression positive).
    fn reaction(&self, ctx: &GpuContext) -> f64 {
        let [nx, ny, nz] = self.dims;
        let plane = (nx + 1) * (ny + 1);
        let first = nz * plane;
        let q: Vec<f32> = read_buffer(
            &ctx.device,
            &ctx.queue,
            &self.buf.q,
            3 * first as u64,
            3 * plane as u64,
        );
        let flags = &self.mesh.as_ref().expect("mesh").flags[first..];
        -(0..plane)
            .filter(|&i| flags[i] & (ACTIVE | FIX_Z) == ACTIVE | FIX_Z)
            .map(|i| q[3 * i + 2] as f64)
            .sum::<f64>()
    }

    /// One iteration of flexible PCG with f64 vectors and operator on the
    /// host and z = M⁻¹ r from the GPU preconditioner (f32): α = pᵀr/pᵀKp,
    /// Polak–Ribière β, as on the GPU. Updates u and the recursive r.
    fn host_iteration(
        &self,
        ctx: &GpuContext,
        mesh: &Mesh,
        cg: &mut HostCg,
        u: &mut [f64],
        r: &mut [f64],
    ) {
        let z: Vec<f64> = self
            .precondition(ctx, &to_f32(r))
            .iter()
            .map(|&x| x as f64)
            .collect();
        let rz = dot(r, &z);
        if cg.p.is_empty() {
            cg.p = z;
        } else {
            let beta = ((rz - dot(&z, &cg.r_prev)) / cg.rz).max(0.0);
            for (p, zi) in cg.p.iter_mut().zip(&z) {
                *p = zi + beta * *p;
            }
        }
        cg.rz = rz;
        cg.r_prev.clear();
        cg.r_prev.extend_from_slice(r);
        // K p on the free dofs (p is zero elsewhere: so is z).
        let kp = self.free_residual(mesh, &cg.p);
        let pkp = -dot(&cg.p, &kp);
        let alpha = if pkp > 0.0 {
            dot(&cg.p, r) / pkp
        } else {
            f64::NAN
        };
        for i in 0..u.len() {
            u[i] += alpha * cg.p[i];
            r[i] += alpha * kp[i];
        }
    }

    /// r = −K u in f64 on the free dofs of `mesh`, 0 elsewhere.
    fn free_residual(&self, mesh: &Mesh, u: &[f64]) -> Vec<f64> {
        let ku = reference::apply_ebe(self.dims, mesh.h_mm, &mesh.e_mpa, self.params.poisson, u);
        let mut r = vec![0.0; ku.len()];
        for d in mesh.free_dofs() {
            r[d] = -ku[d];
        }
        r
    }

    /// Imposed displacements u = G x at the fixed dofs, 0 elsewhere (mm).
    fn lift_f64(&self, mesh: &Mesh) -> Vec<f64> {
        let g = self.params.load.gradient();
        let [nx, ny, _] = self.dims;
        let mut out = vec![0.0; 3 * self.nodes];
        for (i, &f) in mesh.flags.iter().enumerate() {
            if f & ACTIVE == 0 {
                continue;
            }
            let p = [
                i % (nx + 1),
                (i / (nx + 1)) % (ny + 1),
                i / ((nx + 1) * (ny + 1)),
            ];
            let x = p.map(|k| k as f64 * mesh.h_mm);
            for c in 0..3 {
                if f & (FIX_X << c) != 0 {
                    out[3 * i + c] = (0..3).map(|k| g[c][k] * x[k]).sum();
                }
            }
        }
        out
    }
}

fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

fn norm(v: &[f64]) -> f64 {
    dot(v, v).sqrt()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// State of the host f64 phase of a solve.
#[derive(Default)]
struct HostCg {
    p: Vec<f64>,
    rz: f64,
    r_prev: Vec<f64>,
}

/// Iterations until the next readback: the rate of the last two readbacks
/// predicts when tol is met, so the few iterations recorded past convergence
/// (which the GPU skips only in part) stay few; at most `check_every`.
fn next_batch(history: &[(u32, f64)], tol: f64, check_every: u32) -> u32 {
    const FIRST: u32 = 8;
    let [.., (i1, r1), (i2, r2)] = history else {
        return FIRST.min(check_every);
    };
    let shrinking = r2.partial_cmp(r1) == Some(std::cmp::Ordering::Less);
    if i2 <= i1 || !shrinking || *r2 <= 0.0 {
        return check_every;
    }
    let rate = (r2 / r1).ln() / (i2 - i1) as f64; // < 0
    let predicted = ((tol / r2).ln() / rate).ceil();
    (predicted.max(0.0) as u32)
        .saturating_add(1)
        .max(4)
        .min(check_every)
}

fn check_params(p: &MechParams) -> Result<(), MechError> {
    let bad = |m: &str| Err(MechError::Params(m.to_string()));
    if p.e_tissue_mpa.is_nan() || p.e_tissue_mpa <= 0.0 {
        return bad("tissue modulus must be positive");
    }
    if !(p.poisson > -1.0 && p.poisson < 0.5) {
        return bad("Poisson ratio must lie in (−1, 0.5)");
    }
    if p.tol.is_nan() || p.tol <= 0.0 || p.max_iter == 0 || p.check_every == 0 {
        return bad("tol, max_iter and check_every must be positive");
    }
    if !p.workgroup_size.is_power_of_two() || p.workgroup_size > 256 {
        return bad("workgroup size must be a power of two ≤ 256");
    }
    if !p.load.strain().is_finite() {
        return bad("strain must be finite");
    }
    Ok(())
}

fn mesh_params(dims: [usize; 3], voxel_size_um: f64, poisson: f64, npart: u32) -> MeshParams {
    let [nx, ny, nz] = dims.map(|d| d as u32);
    let (lambda, mu) = reference::lame(1.0, poisson);
    MeshParams {
        lame: [lambda as f32, mu as f32],
        _pad: [0; 2],
        vox: [nx, ny, nz, nx * ny * nz],
        nodes: [nx + 1, ny + 1, nz + 1, (nx + 1) * (ny + 1) * (nz + 1)],
        h_mm: (voxel_size_um / 1000.0) as f32,
        clear: 0,
        restart: 0,
        npart,
    }
}
