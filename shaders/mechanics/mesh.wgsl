// Voxel mesh shared by the mechanics kernels: the parameter block (binding 0
// of every mechanics kernel), node flags and node-grid indexing. Nodes sit on
// the (nx+1)(ny+1)(nz+1) grid, x fastest; each node carries 3 dofs at 3n+c.
#import common/lattice

// Its Rust twin `MeshParams` (src/mech/mesh.rs) is compared field by field in tests/shaders.rs.
struct MeshParams {
    vox: vec4<u32>,    // nx, ny, nz, voxel count
    nodes: vec4<u32>,  // nx+1, ny+1, nz+1, node count
    h_mm: f32,
    clear: u32,        // jacobi_sweep: start from x = 0
    restart: u32,      // residual: also set p = z (restart CG)
    npart: u32,        // workgroups (partials) of a node-wide dispatch
    lame: vec2<f32>,   // Lamé λ, μ of unit Young's modulus
    _pad: vec2<u32>,
}

// Scalars of the CG iteration (pcg.wgsl writes them; the preconditioner reads `done`).
// Its Rust twin `Scalars` (src/mech/pcg.rs) is compared field by field in tests/shaders.rs.
struct Scalars {
    rz: f32,       // rᵀz of the current residual
    pq: f32,       // pᵀKp
    alpha: f32,
    beta: f32,
    rr: f32,       // rᵀr (recursive, or true after `residual`)
    rr_stop: f32,  // stop when rr ≤ rr_stop (tol² · ‖r₀‖²), set by the host
    iters: u32,    // iterations done
    done: u32,     // 0 running; 2 converged this iteration (p still updated); 1 stopped
    bad: u32,      // 1: pᵀKp ≤ 0 or a non-finite scalar
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

// Node flags: bits 0..2 fix u_x, u_y, u_z; bit 3 the node belongs to a solved element.
const FIX_X: u32 = 1u;
const ACTIVE: u32 = 8u;

// Largest workgroup the reduction scratch arrays hold.
const MAX_WG: u32 = 256u;

// Is dof c of a node with flags f an unknown?
fn is_free(f: u32, c: u32) -> bool {
    return (f & ACTIVE) != 0u && (f & (FIX_X << c)) == 0u;
}

fn node_xyz(m: MeshParams, n: u32) -> vec3<u32> {
    let yz = n / m.nodes.x;
    return vec3<u32>(n % m.nodes.x, yz % m.nodes.y, yz / m.nodes.y);
}

fn node_at(m: MeshParams, p: vec3<u32>) -> u32 {
    return p.x + m.nodes.x * (p.y + m.nodes.y * p.z);
}

// Index of the workgroup in a (possibly 2-D folded) dispatch.
fn group_index(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// Row a of the unit hexahedron's stiffness (E = h = 1, 2×2×2 Gauss, which
// integrates it exactly) times the element's nodal vectors d: Σ_b K_ab d_b,
// from its closed form. With G^ab_ij = ∫ ∂_i N_a ∂_j N_b dV,
// K_ab = λ G + μ Gᵀ + μ tr(G) I; trilinear shape functions factor per axis,
// so G_ii = s_i t_i m_j m_k and G_ij = ¼ s_i t_j m_k ({i, j, k} = {x, y, z}),
// with s = ±1 the side of node a on each axis, t that of b, and
// m = ∫ φ_a φ_b = ⅓ on the same side, ⅙ across. The sums over b are
// gathered once per row (21 accumulators), not per block: no memory traffic
// and about 40 flops per node b.
fn element_row(lame: vec2<f32>, a: u32, d: ptr<function, array<vec3<f32>, 8>>) -> vec3<f32> {
    let pa = vec3<u32>(a & 1u, (a >> 1u) & 1u, a >> 2u);
    let s = vec3<f32>(pa) * 2.0 - 1.0;
    var ax = vec3<f32>(0.0); // Σ_b t_x m_y m_z d_b (and ay, az alike)
    var ay = vec3<f32>(0.0);
    var az = vec3<f32>(0.0);
    var wg = vec3<f32>(0.0); // off-diagonal sums of G d, before ¼ s_i
    var wt = vec3<f32>(0.0); // off-diagonal sums of Gᵀ d, before ¼
    for (var b = 0u; b < 8u; b++) {
        let pb = vec3<u32>(b & 1u, (b >> 1u) & 1u, b >> 2u);
        let t = vec3<f32>(pb) * 2.0 - 1.0;
        let m = select(vec3<f32>(1.0 / 6.0), vec3<f32>(1.0 / 3.0), pa == pb);
        let db = (*d)[b];
        // t_i m_k for the six ordered pairs i ≠ k.
        let txmy = t.x * m.y;
        let txmz = t.x * m.z;
        let tymx = t.y * m.x;
        let tymz = t.y * m.z;
        let tzmx = t.z * m.x;
        let tzmy = t.z * m.y;
        ax += (txmy * m.z) * db;
        ay += (tymx * m.z) * db;
        az += (tzmx * m.y) * db;
        // (G d)_i: Σ_{j≠i} t_j m_k d_j.
        wg += vec3<f32>(tymz * db.y + tzmy * db.z, txmz * db.x + tzmx * db.z, txmy * db.x + tymx * db.y);
        // (Gᵀ d)_i: Σ_{j≠i} s_j t_i m_k d_j.
        wt += vec3<f32>(
            txmz * s.y * db.y + txmy * s.z * db.z,
            tymz * s.x * db.x + tymx * s.z * db.z,
            tzmy * s.x * db.x + tzmx * s.y * db.y,
        );
    }
    let diag = s * vec3<f32>(ax.x, ay.y, az.z);
    let trace = s.x * ax + s.y * ay + s.z * az;
    return lame.x * (diag + 0.25 * s * wg) + lame.y * (diag + 0.25 * wt + trace);
}
