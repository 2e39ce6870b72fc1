// The CG preconditioner z = M⁻¹ r: Jacobi (one `jacobi_sweep` with clear = 1 and the
// plain inverse diagonal) or a geometric multigrid V-cycle on the voxel
// hierarchy (coarse voxel = 2×2×2 fine voxels, modulus their mean), smoothed
// by Chebyshev iteration on D⁻¹K (`chebyshev_step`) and closed by an exact
// solve on the coarsest grid (`coarse_solve`, a dense inverse). The cycle is
// a fixed symmetric linear map — the same Chebyshev polynomial before and
// after the coarse correction, restriction the transpose of trilinear
// prolongation, a symmetric coarsest inverse — so M stays symmetric positive
// definite and plain PCG applies. Every kernel leaves its output alone once
// the solve is done.
#import mechanics/mesh

// The level being smoothed, or the coarse level of a transfer.
@group(0) @binding(0) var<uniform> M: MeshParams;
@group(0) @binding(1) var<storage, read> flags: array<u32>;
@group(0) @binding(2) var<storage, read> wdinv: array<f32>; // per node: ω / diag(K)
@group(0) @binding(3) var<storage, read> b: array<f32>;     // right-hand side
@group(0) @binding(4) var<storage, read> t: array<f32>;     // K x
@group(0) @binding(5) var<storage, read_write> x: array<f32>;
// The fine level of a transfer.
@group(0) @binding(6) var<uniform> F: MeshParams;
@group(0) @binding(7) var<storage, read> fflags: array<u32>;
@group(0) @binding(8) var<storage, read> fb: array<f32>;
@group(0) @binding(9) var<storage, read> ft: array<f32>;
@group(0) @binding(10) var<storage, read_write> fx: array<f32>;
@group(0) @binding(11) var<storage, read> S: Scalars;
// Chebyshev smoothing: the last update direction and this step's coefficients.
@group(0) @binding(12) var<storage, read_write> dir: array<f32>;
@group(0) @binding(13) var<uniform> C: ChebyshevStep;
// Coarsest solve: the inverse of K on the free dofs (row-major, nf × nf), the
// free dofs in order, and per dof its row in the inverse (−1: not free).
@group(0) @binding(14) var<storage, read> kinv: array<f32>;
@group(0) @binding(15) var<storage, read> free_dofs: array<u32>;
@group(0) @binding(16) var<storage, read> free_row: array<i32>;

// Its Rust twin `ChebyshevStep` (src/mech/multigrid.rs) is compared field by field in tests/shaders.rs.
struct ChebyshevStep {
    keep: f32,    // weight of the previous direction
    gain: f32,    // weight of D⁻¹ (b − K x) (D⁻¹ already scaled by 1/λ_max)
    clear: u32,   // 1: start from x = 0 (K x = 0, `t` not read)
    _pad: u32,
}

// One damped-Jacobi sweep on the free dofs: x += ω D⁻¹ (b − K x); with
// clear = 1 from x = 0 (x = ω D⁻¹ b, `t` not read). Fixed and inactive dofs
// stay 0. Dispatch: nodes of the level.
@compute @workgroup_size(WG)
fn jacobi_sweep(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let n = invocation_id(gid, nwg);
    if n >= M.nodes.w || S.done == 1u { return; }
    let f = flags[n];
    let w = wdinv[n];
    for (var c = 0u; c < 3u; c++) {
        let i = 3u * n + c;
        var v = 0.0;
        if is_free(f, c) {
            if M.clear == 1u { v = w * b[i]; } else { v = x[i] + w * (b[i] - t[i]); }
        }
        x[i] = v;
    }
}

// One step of the Chebyshev smoother on the free dofs:
// d = keep·d + gain·D̂⁻¹(b − K x), x += d, with D̂ = λ_max·diag(K) (wdinv holds
// 1/D̂). With clear = 1 the step starts from x = 0. Dispatch: nodes of the level.
@compute @workgroup_size(WG)
fn chebyshev_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let n = invocation_id(gid, nwg);
    if n >= M.nodes.w || S.done == 1u { return; }
    let f = flags[n];
    let w = wdinv[n];
    for (var c = 0u; c < 3u; c++) {
        let i = 3u * n + c;
        var d = 0.0;
        var v = 0.0;
        if is_free(f, c) {
            if C.clear == 1u {
                d = C.gain * w * b[i];
                v = d;
            } else {
                d = C.keep * dir[i] + C.gain * w * (b[i] - t[i]);
                v = x[i] + d;
            }
        }
        dir[i] = d;
        x[i] = v;
    }
}

// x = K⁻¹ b on the free dofs of the coarsest level (0 elsewhere): one row of
// the dense inverse per free dof. Dispatch: dofs (3 × nodes) of the level.
@compute @workgroup_size(WG)
fn coarse_solve(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = invocation_id(gid, nwg);
    if i >= 3u * M.nodes.w || S.done == 1u { return; }
    let row = free_row[i];
    var acc = 0.0;
    if row >= 0 {
        let nf = arrayLength(&free_dofs);
        let base = u32(row) * nf;
        for (var j = 0u; j < nf; j++) { acc += kinv[base + j] * b[free_dofs[j]]; }
    }
    x[i] = acc;
}

// Trilinear weight of fine node p for the coarse node at p/2 (per axis: 1 on
// it, ½ for a neighbour), 0 when they are not adjacent.
fn weight(d: vec3<i32>) -> f32 {
    let a = abs(d);
    if any(a > vec3<i32>(1)) { return 0.0; }
    return 1.0 / f32(1u << u32(a.x + a.y + a.z));
}

// Coarse right-hand side b_c = Pᵀ (b_f − K_f x_f) over the free dofs of both
// levels (restriction = transpose of `prolong`). Dispatch: coarse nodes.
@compute @workgroup_size(WG)
fn restrict_residual(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let n = invocation_id(gid, nwg);
    if n >= M.nodes.w || S.done == 1u { return; }
    let f = flags[n];
    var acc = vec3<f32>(0.0);
    if (f & ACTIVE) != 0u {
        let pc = vec3<i32>(node_xyz(M, n));
        let top = vec3<i32>(F.nodes.xyz) - 1;
        for (var k = 0; k < 27; k++) {
            let d = vec3<i32>(k % 3, (k / 3) % 3, k / 9) - 1;
            let p = 2 * pc + d;
            if any(p < vec3<i32>(0)) || any(p > top) { continue; }
            let m = node_at(F, vec3<u32>(p));
            let ff = fflags[m];
            let w = weight(d);
            for (var c = 0u; c < 3u; c++) {
                if is_free(ff, c) { acc[c] += w * (fb[3u * m + c] - ft[3u * m + c]); }
            }
        }
    }
    for (var c = 0u; c < 3u; c++) {
        var v = 0.0;
        if is_free(f, c) { v = acc[c]; }
        x[3u * n + c] = v;
    }
}

// x_f += P x_c on the free fine dofs: trilinear interpolation of the coarse
// nodes around p/2. Dispatch: fine nodes.
@compute @workgroup_size(WG)
fn prolong(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let n = invocation_id(gid, nwg);
    if n >= F.nodes.w || S.done == 1u { return; }
    let ff = fflags[n];
    if (ff & ACTIVE) == 0u { return; }
    let p = vec3<i32>(node_xyz(F, n));
    let lo = p / 2;
    let hi = (p + 1) / 2;
    var acc = vec3<f32>(0.0);
    for (var k = 0u; k < 8u; k++) {
        let upper = vec3<bool>((k & 1u) != 0u, (k & 2u) != 0u, (k & 4u) != 0u);
        // On an axis where p is even (lo == hi) only the lower corner counts.
        if any(upper & (lo == hi)) { continue; }
        let pc = select(lo, hi, upper);
        let d = p - 2 * pc;
        let m = node_at(M, vec3<u32>(pc));
        let w = weight(d);
        acc += w * vec3<f32>(x[3u * m], x[3u * m + 1u], x[3u * m + 2u]);
    }
    for (var c = 0u; c < 3u; c++) {
        if is_free(ff, c) { fx[3u * n + c] += acc[c]; }
    }
}
