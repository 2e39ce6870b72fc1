// Preconditioned conjugate gradient on the free dofs, with α and β kept on the
// GPU (the host reads the Scalars block only every k iterations). The
// preconditioner (shaders/mechanics/multigrid.wgsl: Jacobi or a V-cycle)
// writes z = M⁻¹ r between `update_ur` and `zdot`.
// Node-wide kernels (one invocation per node, 3 dofs) write per-workgroup
// partial sums; single-workgroup `reduce_*` kernels finish them pairwise and
// do the scalar algebra. Once `done` is set every later kernel leaves u, r, p alone.
#import mechanics/mesh

@group(0) @binding(0) var<uniform> M: MeshParams;
@group(0) @binding(1) var<storage, read> flags: array<u32>;
@group(0) @binding(2) var<storage, read> z: array<f32>;     // M⁻¹ r
@group(0) @binding(3) var<storage, read_write> u: array<f32>;
@group(0) @binding(4) var<storage, read_write> r: array<f32>;
@group(0) @binding(5) var<storage, read_write> p: array<f32>;
@group(0) @binding(6) var<storage, read> q: array<f32>;     // K p (or K u for `residual`)
@group(0) @binding(7) var<storage, read_write> part: array<f32>;
@group(0) @binding(8) var<storage, read_write> S: Scalars;
@group(0) @binding(9) var<storage, read> rhs: array<f32>;  // b of K u = b

var<workgroup> sh: array<vec3<f32>, MAX_WG>;

fn finite(x: f32) -> bool {
    // NaN fails every comparison; ±inf exceeds the largest f32.
    return abs(x) <= 3.4e38;
}

// Tree sum over the workgroup; the result is in sh[0] for all.
fn tree3(lid: u32, v: vec3<f32>) {
    sh[lid] = v;
    workgroupBarrier(); // all values written
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if lid < s { sh[lid] += sh[lid + s]; }
        workgroupBarrier(); // level done before the next reads it
    }
}

// Partials: node kernels write `stride` sums per workgroup w at
// part[stride·w + c]; update_p and residual also write pᵀr at part[3·npart + w].
// Sums in a fixed order: strided sequential sums per invocation, then the tree.
fn reduce_parts(lid: u32, stride: u32) -> vec3<f32> {
    var acc = vec3<f32>(0.0);
    for (var i = lid; i < M.npart; i += WG) {
        for (var c = 0u; c < stride; c++) { acc[c] += part[stride * i + c]; }
    }
    tree3(lid, acc);
    return sh[0];
}

fn reduce_pr(lid: u32) -> f32 {
    var acc = 0.0;
    for (var i = lid; i < M.npart; i += WG) { acc += part[3u * M.npart + i]; }
    workgroupBarrier(); // sh may still be read by reduce_parts
    tree3(lid, vec3<f32>(acc, 0.0, 0.0));
    return sh[0].x;
}

// r = b − K u on free dofs, 0 elsewhere. b is the f64 residual of the
// current solution rounded to f32 (the host solves for a correction u with
// zero imposed displacements; see src/mech/mod.rs). Dispatch: nodes.
@compute @workgroup_size(WG)
fn residual(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let n = invocation_id(gid, nwg);
    if n >= M.nodes.w { return; }
    let f = flags[n];
    for (var c = 0u; c < 3u; c++) {
        var ri = 0.0;
        if is_free(f, c) { ri = rhs[3u * n + c] - q[3u * n + c]; }
        r[3u * n + c] = ri;
    }
}

// After the preconditioner (z = M⁻¹ r): partials (rᵀz, rᵀr, zᵀr_old) with
// r_old = r + α q (the residual before `update_ur`), and pᵀr; with restart
// first p = z. Dispatch: nodes.
@compute @workgroup_size(WG)
fn zdot(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let n = invocation_id(gid, nwg);
    var acc = vec3<f32>(0.0);
    var pr = 0.0;
    let alpha = S.alpha;
    if n < M.nodes.w {
        for (var c = 0u; c < 3u; c++) {
            let i = 3u * n + c;
            let ri = r[i];
            let zi = z[i];
            if M.restart == 1u { p[i] = zi; }
            acc += vec3<f32>(ri * zi, ri * ri, zi * (ri + alpha * q[i]));
            pr += p[i] * ri;
        }
    }
    tree3(lid, acc);
    if lid == 0u {
        let w = group_index(wid, nwg);
        part[3u * w] = sh[0].x;
        part[3u * w + 1u] = sh[0].y;
        part[3u * w + 2u] = sh[0].z;
    }
    workgroupBarrier(); // sh[0] read before the next tree overwrites it
    tree3(lid, vec3<f32>(pr, 0.0, 0.0));
    if lid == 0u { part[3u * M.npart + group_index(wid, nwg)] = sh[0].x; }
}

// After `residual` and `zdot`: rz, rr from the partials; done (1) only if
// already converged.
@compute @workgroup_size(WG)
fn reduce_init(@builtin(local_invocation_index) lid: u32) {
    let t = reduce_parts(lid, 3u);
    if lid == 0u {
        S.rz = t.x;
        S.rr = t.y;
        S.beta = 0.0;
        S.bad = select(0u, 1u, !finite(t.x) || !finite(t.y));
        S.done = select(0u, 1u, t.y <= S.rr_stop || S.bad == 1u);
    }
}

// After `apply` (q = K p, partials pᵀq): α = pᵀr / pᵀKp, the exact line
// search (equal to rᵀz / pᵀKp in exact CG, and still a descent step after a
// residual replacement has broken that identity).
@compute @workgroup_size(WG)
fn reduce_pq(@builtin(local_invocation_index) lid: u32) {
    let t = reduce_parts(lid, 1u);
    let pr = reduce_pr(lid);
    // The iteration after convergence: update_p has finished its last step.
    if lid == 0u && S.done == 2u { S.done = 1u; }
    if lid == 0u && S.done == 0u {
        S.pq = t.x;
        if t.x > 0.0 && finite(t.x) {
            S.alpha = pr / t.x;
        } else {
            // K is positive definite on the free dofs: pᵀKp ≤ 0 is a breakdown.
            S.alpha = 0.0;
            S.bad = 1u;
            S.done = 1u;
        }
    }
}

// u += α p, r −= α q on free dofs. Dispatch: nodes.
@compute @workgroup_size(WG)
fn update_ur(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let n = invocation_id(gid, nwg);
    if n >= M.nodes.w || S.done != 0u { return; }
    let alpha = S.alpha;
    let f = flags[n];
    for (var c = 0u; c < 3u; c++) {
        if !is_free(f, c) { continue; }
        let i = 3u * n + c;
        u[i] += alpha * p[i];
        r[i] -= alpha * q[i];
    }
}

// After `zdot`: β = max(0, (z_newᵀr_new − z_newᵀr_old) / rz_old)
// (Polak–Ribière, equal to the usual β in exact CG, self-restarting when
// rounding or a residual replacement spoils conjugacy); count the iteration,
// test convergence.
@compute @workgroup_size(WG)
fn reduce_rz(@builtin(local_invocation_index) lid: u32) {
    let t = reduce_parts(lid, 3u);
    if lid == 0u && S.done == 0u {
        S.iters += 1u;
        S.rr = t.y;
        if !finite(t.x) || !finite(t.y) || S.rz == 0.0 {
            S.bad = select(0u, 1u, !finite(t.x) || !finite(t.y));
            S.beta = 0.0;
            S.done = 1u;
        } else {
            S.beta = max(0.0, (t.x - t.z) / S.rz);
            S.rz = t.x;
            // Converged: this iteration's p update still runs (so a resumed
            // iteration after a failed true-residual check stays conjugate).
            if t.y <= S.rr_stop { S.done = 2u; }
        }
    }
}

// p = z + β p on free dofs, partials pᵀr for the next α. Dispatch: nodes.
@compute @workgroup_size(WG)
fn update_p(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let n = invocation_id(gid, nwg);
    let live = S.done != 1u;
    var acc = vec3<f32>(0.0);
    if n < M.nodes.w && live {
        let f = flags[n];
        let beta = S.beta;
        for (var c = 0u; c < 3u; c++) {
            if !is_free(f, c) { continue; }
            let i = 3u * n + c;
            let ri = r[i];
            let pi = z[i] + beta * p[i];
            p[i] = pi;
            acc.x += pi * ri;
        }
    }
    tree3(lid, acc);
    if lid == 0u && live { part[3u * M.npart + group_index(wid, nwg)] = sh[0].x; }
}
