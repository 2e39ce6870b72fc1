//! CPU reference for the voxel finite elements, in f64: the isotropic
//! elasticity matrix, the strain-displacement matrix of the 8-node trilinear
//! hexahedron, its 24×24 stiffness by 2×2×2 Gauss quadrature, and a global
//! stiffness assembled from it. This is the oracle the GPU operator
//! (`shaders/mechanics/operator.wgsl`) is tested against, and the source of
//! the element matrix the GPU uses (rounded to f32 once).
//!
//! Conventions shared with the GPU: local node `a` of an element sits at
//! offset `(a & 1, (a >> 1) & 1, a >> 2)` from the element's origin corner; the
//! element's degrees of freedom are `3a + c` (c = x, y, z); strains in Voigt
//! order (xx, yy, zz, γyz, γxz, γxy) with engineering shear γ = 2ε.

/// 24×24 element matrix, row-major.
pub type ElementMatrix = [[f64; 24]; 24];

/// Offset of local node `a` from the element origin, in voxels.
pub fn node_offset(a: usize) -> [usize; 3] {
    [a & 1, (a >> 1) & 1, a >> 2]
}

/// Lamé constants (λ, μ) for Young's modulus `e` and Poisson ratio `nu`.
pub fn lame(e: f64, nu: f64) -> (f64, f64) {
    (
        e * nu / ((1.0 + nu) * (1.0 - 2.0 * nu)),
        e / (2.0 * (1.0 + nu)),
    )
}

/// Isotropic elasticity matrix in Voigt notation (engineering shear strains).
pub fn elasticity_matrix(e: f64, nu: f64) -> [[f64; 6]; 6] {
    let (l, m) = lame(e, nu);
    let mut d = [[0.0; 6]; 6];
    for i in 0..3 {
        d[i][..3].fill(l);
        d[i][i] = l + 2.0 * m;
        d[i + 3][i + 3] = m;
    }
    d
}

/// Strain-displacement matrix (6×24) of a cube of edge `h` at the point
/// `xi` in element coordinates [0, 1]³.
pub fn strain_displacement(xi: [f64; 3], h: f64) -> [[f64; 24]; 6] {
    let mut b = [[0.0; 24]; 6];
    for a in 0..8 {
        let o = node_offset(a);
        // Trilinear shape function N_a = Π (o_k ξ_k + (1 − o_k)(1 − ξ_k)).
        let f = |k: usize| {
            if o[k] == 1 { xi[k] } else { 1.0 - xi[k] }
        };
        let df = |k: usize| if o[k] == 1 { 1.0 } else { -1.0 };
        let dn = [
            df(0) * f(1) * f(2) / h,
            f(0) * df(1) * f(2) / h,
            f(0) * f(1) * df(2) / h,
        ];
        let c = 3 * a;
        b[0][c] = dn[0];
        b[1][c + 1] = dn[1];
        b[2][c + 2] = dn[2];
        b[3][c + 1] = dn[2];
        b[3][c + 2] = dn[1];
        b[4][c] = dn[2];
        b[4][c + 2] = dn[0];
        b[5][c] = dn[1];
        b[5][c + 1] = dn[0];
    }
    b
}

/// The 2×2×2 Gauss points in element coordinates [0, 1]³ (weights all 1/8
/// of the element volume).
pub fn gauss_points() -> [[f64; 3]; 8] {
    let g = 0.5 / 3f64.sqrt();
    let mut p = [[0.0; 3]; 8];
    for (i, pt) in p.iter_mut().enumerate() {
        let o = node_offset(i);
        for k in 0..3 {
            pt[k] = 0.5 + if o[k] == 1 { g } else { -g };
        }
    }
    p
}

/// Element stiffness of a cube of edge `h` with Young's modulus `e` and
/// Poisson ratio `nu`: K_e = Σ_gp Bᵀ D B · h³/8 (full 2×2×2 integration).
/// It scales as `e · h`, so the GPU stores the unit matrix (e = h = 1).
pub fn element_stiffness(e: f64, nu: f64, h: f64) -> ElementMatrix {
    let d = elasticity_matrix(e, nu);
    let w = h * h * h / 8.0;
    let mut k = [[0.0; 24]; 24];
    for xi in gauss_points() {
        let b = strain_displacement(xi, h);
        // db = D B (6×24)
        let mut db = [[0.0; 24]; 6];
        for i in 0..6 {
            for j in 0..24 {
                db[i][j] = (0..6).map(|m| d[i][m] * b[m][j]).sum();
            }
        }
        for i in 0..24 {
            for j in 0..24 {
                k[i][j] += w * (0..6).map(|m| b[m][i] * db[m][j]).sum::<f64>();
            }
        }
    }
    k
}

/// Index of node (x, y, z) on the node grid of a `dims` voxel lattice.
pub fn node_index(dims: [usize; 3], p: [usize; 3]) -> usize {
    p[0] + (dims[0] + 1) * (p[1] + (dims[1] + 1) * p[2])
}

/// Global node of local node `a` of voxel `(x, y, z)`.
pub fn element_node(dims: [usize; 3], v: [usize; 3], a: usize) -> usize {
    let o = node_offset(a);
    node_index(dims, [v[0] + o[0], v[1] + o[1], v[2] + o[2]])
}

/// Number of nodes of the node grid.
pub fn node_count(dims: [usize; 3]) -> usize {
    (dims[0] + 1) * (dims[1] + 1) * (dims[2] + 1)
}

fn voxels(dims: [usize; 3]) -> impl Iterator<Item = (usize, [usize; 3])> {
    (0..dims[2]).flat_map(move |z| {
        (0..dims[1]).flat_map(move |y| {
            (0..dims[0]).map(move |x| (x + dims[0] * (y + dims[1] * z), [x, y, z]))
        })
    })
}

/// Dense global stiffness (3·nodes)² of a lattice whose voxel `i` has Young's
/// modulus `e_mpa[i]` (0 = no element), edge `h_mm`: N/mm. For small test meshes.
pub fn assemble_dense(dims: [usize; 3], h_mm: f64, e_mpa: &[f64], nu: f64) -> Vec<f64> {
    let n = 3 * node_count(dims);
    let ke = element_stiffness(1.0, nu, h_mm);
    let mut k = vec![0.0; n * n];
    for (i, v) in voxels(dims) {
        if e_mpa[i] == 0.0 {
            continue;
        }
        for a in 0..8 {
            let ga = element_node(dims, v, a);
            for b in 0..8 {
                let gb = element_node(dims, v, b);
                for ci in 0..3 {
                    for cj in 0..3 {
                        k[(3 * ga + ci) * n + 3 * gb + cj] += e_mpa[i] * ke[3 * a + ci][3 * b + cj];
                    }
                }
            }
        }
    }
    k
}

/// Dense matrix-vector product.
pub fn matvec(k: &[f64], u: &[f64]) -> Vec<f64> {
    let n = u.len();
    (0..n)
        .map(|i| {
            k[i * n..(i + 1) * n]
                .iter()
                .zip(u)
                .map(|(a, b)| a * b)
                .sum()
        })
        .collect()
}

/// Element-by-element K·u in f64 (no assembled matrix), for lattices too big
/// to assemble densely.
pub fn apply_ebe(dims: [usize; 3], h_mm: f64, e_mpa: &[f64], nu: f64, u: &[f64]) -> Vec<f64> {
    let ke = element_stiffness(1.0, nu, h_mm);
    let mut out = vec![0.0; 3 * node_count(dims)];
    for (i, v) in voxels(dims) {
        if e_mpa[i] == 0.0 {
            continue;
        }
        let nodes: [usize; 8] = std::array::from_fn(|a| element_node(dims, v, a));
        let mut ue = [0.0; 24];
        for a in 0..8 {
            for c in 0..3 {
                ue[3 * a + c] = u[3 * nodes[a] + c];
            }
        }
        for a in 0..8 {
            for c in 0..3 {
                let row = &ke[3 * a + c];
                let f: f64 = row.iter().zip(&ue).map(|(k, x)| k * x).sum();
                out[3 * nodes[a] + c] += e_mpa[i] * f;
            }
        }
    }
    out
}

/// Element-volume-average strain energy density (MPa) of voxel `v`:
/// ½·u_eᵀ K_e u_e / h³, which equals the mean over the 8 Gauss points of
/// ½ σ:ε (the Gauss weights are equal and sum to the volume).
pub fn element_sed(
    dims: [usize; 3],
    h_mm: f64,
    e_mpa: f64,
    nu: f64,
    v: [usize; 3],
    u: &[f64],
) -> f64 {
    let ke = element_stiffness(e_mpa, nu, h_mm);
    let mut ue = [0.0; 24];
    for a in 0..8 {
        let n = element_node(dims, v, a);
        for c in 0..3 {
            ue[3 * a + c] = u[3 * n + c];
        }
    }
    let mut e = 0.0;
    for i in 0..24 {
        for j in 0..24 {
            e += ue[i] * ke[i][j] * ue[j];
        }
    }
    0.5 * e / (h_mm * h_mm * h_mm)
}

/// Rank of a square row-major matrix by Gaussian elimination with full
/// pivoting; entries below `tol · max|a|` count as zero.
pub fn rank(a: &[f64], n: usize, tol: f64) -> usize {
    let mut m = a.to_vec();
    let scale = m.iter().fold(0.0f64, |s, x| s.max(x.abs()));
    let mut r = 0;
    let mut cols: Vec<usize> = (0..n).collect();
    for row in 0..n {
        // Pivot: largest remaining entry.
        let (mut pi, mut pj, mut best) = (row, row, 0.0);
        for i in row..n {
            for &j in &cols[row..] {
                if m[i * n + j].abs() > best {
                    (pi, pj, best) = (i, j, m[i * n + j].abs());
                }
            }
        }
        if best <= tol * scale {
            break;
        }
        for j in 0..n {
            m.swap(row * n + j, pi * n + j);
        }
        let pos = cols.iter().position(|&c| c == pj).expect("pivot column");
        cols.swap(row, pos);
        let pc = cols[row];
        for i in row + 1..n {
            let f = m[i * n + pc] / m[row * n + pc];
            for j in 0..n {
                m[i * n + j] -= f * m[row * n + j];
            }
        }
        r += 1;
    }
    r
}
