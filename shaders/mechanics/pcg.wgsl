// Jacobi-preconditioned conjugate gradient on the free dofs, with α and β kept
// on the GPU (the host reads the Scalars block only every k iterations).
// Node-wide kernels (one invocation per node, 3 dofs) write per-workgroup
// partial sums; single-workgroup `reduce_*` kernels finish them pairwise and
// do the scalar algebra. Once `done` is set every later kernel leaves u, r, p alone.
#import mechanics/mesh

// Must be kept in sync with `Scalars` in src/mech/pcg.rs.
struct Scalars {
    rz: f32,       // rᵀz of the current residual
    pq: f32,       // pᵀKp
    alpha: f32,
    beta: f32,
    rr: f32,       // rᵀr (recursive, or true after `residual`)
    rr_stop: f32,  // stop when rr ≤ rr_stop (tol² · ‖r₀‖²), set by the host
    iters: u32,    // iterations done
    done: u32,     // 1: converged (recursively) or broke down
    bad: u32,      // 1: pᵀKp ≤ 0 or a non-finite scalar
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> M: MeshParams;
@group(0) @binding(1) var<storage, read> flags: array<u32>;
@group(0) @binding(2) var<storage, read> dinv: array<f32>;  // per node: 1 / diag(K)
@group(0) @binding(3) var<storage, read_write> u: array<f32>;
@group(0) @binding(4) var<storage, read_write> r: array<f32>;
@group(0) @binding(5) var<storage, read_write> p: array<f32>;
@group(0) @binding(6) var<storage, read> q: array<f32>;     // K p (or K u for `residual`)
@group(0) @binding(7) var<storage, read_write> part: array<f32>;
@group(0) @binding(8) var<storage, read_write> S: Scalars;

var<workgroup> sh: array<vec2<f32>, MAX_WG>;

fn finite(x: f32) -> bool {
    // NaN fails every comparison; ±inf exceeds the largest f32.
    return abs(x) <= 3.4e38;
}

// Tree sum of (a, b) over the workgroup; the result is in sh[0] for all.
fn tree2(lid: u32, v: vec2<f32>) {
    sh[lid] = v;
    workgroupBarrier(); // all values written
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if lid < s { sh[lid] += sh[lid + s]; }
        workgroupBarrier(); // level done before the next reads it
    }
}

// Sum of `count` partials at part[offset + stride·i + c] (c = 0, 1), in a
// fixed order: strided sequential sums per invocation, then the tree.
fn reduce_parts(lid: u32, stride: u32) -> vec2<f32> {
    var acc = vec2<f32>(0.0);
    for (var i = lid; i < M.npart; i += WG) {
        acc.x += part[stride * i];
        if stride == 2u { acc.y += part[stride * i + 1u]; }
    }
    tree2(lid, acc);
    return sh[0];
}

// u (clear = 0) or p (clear = 1, a fresh lift vector) at fixed dofs = G x;
// inactive nodes 0. Dispatch: nodes.
@compute @workgroup_size(WG)
fn impose(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let n = invocation_id(gid, nwg);
    if n >= M.nodes.w { return; }
    let f = flags[n];
    let x = vec3<f32>(node_xyz(M, n)) * M.h_mm;
    let g = vec3<f32>(dot(M.grad0.xyz, x), dot(M.grad1.xyz, x), dot(M.grad2.xyz, x));
    for (var c = 0u; c < 3u; c++) {
        var v: f32;
        if M.clear == 1u { v = 0.0; } else { v = u[3u * n + c]; }
        if (f & ACTIVE) == 0u {
            v = 0.0;
        } else if (f & (FIX_X << c)) != 0u {
            v = g[c];
        }
        if M.clear == 1u { p[3u * n + c] = v; } else { u[3u * n + c] = v; }
    }
}

// r = −K u on free dofs (no external nodal forces: the load is the imposed
// displacement), 0 elsewhere; z = D⁻¹ r; with restart also p = z.
// Partials (rᵀz, rᵀr) per workgroup. Dispatch: nodes.
@compute @workgroup_size(WG)
fn residual(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let n = invocation_id(gid, nwg);
    var acc = vec2<f32>(0.0);
    if n < M.nodes.w {
        let f = flags[n];
        for (var c = 0u; c < 3u; c++) {
            let i = 3u * n + c;
            var ri = 0.0;
            if is_free(f, c) { ri = -q[i]; }
            let zi = dinv[n] * ri;
            r[i] = ri;
            if M.restart == 1u { p[i] = zi; }
            acc += vec2<f32>(ri * zi, ri * ri);
        }
    }
    tree2(lid, acc);
    if lid == 0u {
        let w = group_index(wid, nwg);
        part[2u * w] = sh[0].x;
        part[2u * w + 1u] = sh[0].y;
    }
}

// After `residual`: rz, rr from the partials; clears done unless already converged.
@compute @workgroup_size(WG)
fn reduce_init(@builtin(local_invocation_index) lid: u32) {
    let t = reduce_parts(lid, 2u);
    if lid == 0u {
        S.rz = t.x;
        S.rr = t.y;
        S.beta = 0.0;
        S.bad = select(0u, 1u, !finite(t.x) || !finite(t.y));
        S.done = select(0u, 1u, t.y <= S.rr_stop || S.bad == 1u);
    }
}

// After `apply` (q = K p, partials pᵀq): α = rz / pᵀq.
@compute @workgroup_size(WG)
fn reduce_pq(@builtin(local_invocation_index) lid: u32) {
    let t = reduce_parts(lid, 1u);
    if lid == 0u && S.done == 0u {
        S.pq = t.x;
        if t.x > 0.0 && finite(t.x) {
            S.alpha = S.rz / t.x;
        } else {
            // K is positive definite on the free dofs: pᵀKp ≤ 0 is a breakdown.
            S.alpha = 0.0;
            S.bad = 1u;
            S.done = 1u;
        }
    }
}

// u += α p, r −= α q on free dofs; z = D⁻¹ r; partials (rᵀz, rᵀr). Dispatch: nodes.
@compute @workgroup_size(WG)
fn update_ur(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let n = invocation_id(gid, nwg);
    var acc = vec2<f32>(0.0);
    let live = S.done == 0u;
    let alpha = S.alpha;
    if n < M.nodes.w && live {
        let f = flags[n];
        for (var c = 0u; c < 3u; c++) {
            if !is_free(f, c) { continue; }
            let i = 3u * n + c;
            u[i] += alpha * p[i];
            let ri = r[i] - alpha * q[i];
            r[i] = ri;
            acc += vec2<f32>(ri * dinv[n] * ri, ri * ri);
        }
    }
    tree2(lid, acc);
    if lid == 0u {
        let w = group_index(wid, nwg);
        part[2u * w] = sh[0].x;
        part[2u * w + 1u] = sh[0].y;
    }
}

// After `update_ur`: β = rz_new / rz, count the iteration, test convergence.
@compute @workgroup_size(WG)
fn reduce_rz(@builtin(local_invocation_index) lid: u32) {
    let t = reduce_parts(lid, 2u);
    if lid == 0u && S.done == 0u {
        S.iters += 1u;
        S.rr = t.y;
        if !finite(t.x) || !finite(t.y) || S.rz == 0.0 {
            S.bad = select(0u, 1u, !finite(t.x) || !finite(t.y));
            S.beta = 0.0;
            S.done = 1u;
        } else {
            S.beta = t.x / S.rz;
            S.rz = t.x;
            if t.y <= S.rr_stop { S.done = 1u; }
        }
    }
}

// p = z + β p on free dofs. Dispatch: nodes.
@compute @workgroup_size(WG)
fn update_p(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let n = invocation_id(gid, nwg);
    if n >= M.nodes.w || S.done != 0u { return; }
    let f = flags[n];
    let beta = S.beta;
    for (var c = 0u; c < 3u; c++) {
        if !is_free(f, c) { continue; }
        let i = 3u * n + c;
        p[i] = dinv[n] * r[i] + beta * p[i];
    }
}
