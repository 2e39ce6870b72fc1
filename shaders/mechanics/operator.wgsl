// Matrix-free stiffness operator, node-stencil form: y = K x, one invocation
// per node gathers from its (up to) 8 solved elements, each term in difference
// form K_e (x_b - x_a) (exact since rigid translations are in K_e's null space;
// it keeps f32 rounding relative to displacement differences, not to |x|).
// `apply` also writes per-workgroup partials of x·y; `sed` gives per-voxel
// element-average strain energy density. Dispatch: nodes (apply), voxels (sed).
#import mechanics/mesh

@group(0) @binding(0) var<uniform> M: MeshParams;
@group(0) @binding(1) var<storage, read> flags: array<u32>;
// Per voxel: E·h (N/mm) of a solved element, 0 elsewhere.
@group(0) @binding(2) var<storage, read> scale: array<f32>;
@group(0) @binding(4) var<storage, read> xin: array<f32>;
@group(0) @binding(5) var<storage, read_write> yout: array<f32>;
@group(0) @binding(6) var<storage, read_write> part: array<f32>;
@group(0) @binding(7) var<storage, read_write> sed_out: array<f32>;

var<workgroup> sh: array<f32, MAX_WG>;

fn load3(i: u32) -> vec3<f32> {
    return vec3<f32>(xin[3u * i], xin[3u * i + 1u], xin[3u * i + 2u]);
}

@compute @workgroup_size(WG)
fn apply(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let n = invocation_id(gid, nwg);
    var dotv = 0.0;
    if n < M.nodes.w {
        var acc = vec3<f32>(0.0);
        let xa = load3(n);
        if (flags[n] & ACTIVE) != 0u {
            let p = node_xyz(M, n);
            for (var a = 0u; a < 8u; a++) {
                // This node is local node `a` of the element whose origin is p - off(a).
                let o = vec3<u32>(a & 1u, (a >> 1u) & 1u, a >> 2u);
                if any(p < o) { continue; }
                let e = p - o;
                if any(e >= M.vox.xyz) { continue; }
                let s = scale[e.x + M.vox.x * (e.y + M.vox.y * e.z)];
                if s == 0.0 { continue; }
                let n0 = node_at(M, e);
                var d: array<vec3<f32>, 8>;
                for (var b = 0u; b < 8u; b++) {
                    let nb = n0 + (b & 1u) + M.nodes.x * (((b >> 1u) & 1u) + M.nodes.y * (b >> 2u));
                    d[b] = load3(nb) - xa;
                }
                acc += s * element_row(M.lame, a, &d);
            }
        }
        yout[3u * n] = acc.x;
        yout[3u * n + 1u] = acc.y;
        yout[3u * n + 2u] = acc.z;
        dotv = dot(xa, acc);
    }
    // Tree sum of x·y over the workgroup; every invocation reaches the barriers.
    sh[lid] = dotv;
    workgroupBarrier(); // all partial products written
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if lid < s { sh[lid] += sh[lid + s]; }
        workgroupBarrier(); // level done before the next reads it
    }
    if lid == 0u { part[group_index(wid, nwg)] = sh[0]; }
}

// Element-volume average of ½σ:ε = ½ u_eᵀ K_e u_e / h³ (MPa): with 2×2×2
// Gauss points of equal weight this is exactly the mean over the Gauss points.
@compute @workgroup_size(WG)
fn sed(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let v = invocation_id(gid, nwg);
    if v >= M.vox.w { return; }
    let s = scale[v];
    if s == 0.0 {
        sed_out[v] = 0.0;
        return;
    }
    let e = vec3<u32>(v % M.vox.x, (v / M.vox.x) % M.vox.y, v / (M.vox.x * M.vox.y));
    let n0 = node_at(M, e);
    let x0 = load3(n0);
    var d: array<vec3<f32>, 8>;
    for (var b = 0u; b < 8u; b++) {
        let nb = n0 + (b & 1u) + M.nodes.x * (((b >> 1u) & 1u) + M.nodes.y * (b >> 2u));
        d[b] = load3(nb) - x0; // relative to node 0: the translation carries no energy
    }
    var energy = 0.0;
    for (var a = 0u; a < 8u; a++) { energy += dot(d[a], element_row(M.lame, a, &d)); }
    sed_out[v] = 0.5 * s * energy / (M.h_mm * M.h_mm * M.h_mm);
}
