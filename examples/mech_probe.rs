use trabecula::mech::*;
fn hash01(i: usize, seed: u64) -> f64 {
    let mut x = (i as u64) ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    (x >> 11) as f64 / (1u64 << 53) as f64
}
fn porous(dims: [usize; 3], seed: u64) -> Vec<f32> {
    let [nx, ny, nz] = dims;
    let mut m = vec![0f32; nx * ny * nz];
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                let i = x + nx * (y + ny * z);
                let column = x % 5 < 2 && y % 5 < 2;
                let strut = z % 5 == 2 && (x % 5 < 2 || y % 5 < 2);
                if (column || strut) && hash01(i, seed) > 0.12 {
                    m[i] = 0.7 + 0.3 * hash01(i, seed + 1) as f32;
                }
            }
        }
    }
    m
}
fn main() {
    let ctx = trabecula::gpu::GpuContext::new().unwrap();
    let dims = [14, 14, 14];
    let ce: u32 = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(32);
    let p = MechParams {
        check_every: ce,
        max_iter: 3000,
        ..Default::default()
    };
    let mut s = MechSolver::new(&ctx, dims, 20.0, p).unwrap();
    match s.solve(&ctx, &porous(dims, 9), false) {
        Ok(r) => {
            for h in &r.history {
                println!("{} {:.3e}", h.0, h.1);
            }
        }
        Err(e) => println!("{e}"),
    }
}
