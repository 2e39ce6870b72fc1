//! The micro-FE solve beside the peers a bone researcher would use instead,
//! on the same porous voxel mesh, material, supports and tolerance:
//!
//! ```text
//! cargo bench --bench mechanics                      # 32³ 64³ 96³ 128³
//! MECH_BENCH_SIZES="32 64 256" cargo bench --bench mechanics
//! MECH_BENCH_PEERS=0 cargo bench --bench mechanics   # trabecula only
//! ```
//!
//! Each size: a generated trabecular lattice (BV/TV 0.3, Tb.Th 150 µm,
//! 20 µm voxels, seed 7), binarised (tissue modulus 12 GPa, ν 0.3), 1 %
//! compression along z with trabecula's supports. trabecula solves it cold;
//! CalculiX (`ccx`, SPOOLES, one thread) and ParOSol (PyPI `parosol-py`,
//! one process) solve it when installed, and the table says so when not.
//! Then the operator K·p is timed against a plain copy on the same adapter:
//! bytes it must move ÷ time, beside the copy's bytes/s. A markdown table
//! goes to stdout and every number to `target/mech-bench/results.json`.
//! Peers are skipped above 64³ for CalculiX (a direct solver's memory
//! grows past this machine's) unless `MECH_BENCH_CCX_MAX` says otherwise.

#[path = "peers.rs"]
mod peers;

use std::time::Instant;

use trabecula::gpu::{GpuContext, storage_buffer_zeroed};
use trabecula::lattice::generate::{GeneratorSpec, generate};
use trabecula::mech::{LoadCase, MechParams, MechSolver, memory_needed, reference::node_count};

const E_MPA: f64 = 12_000.0;
const POISSON: f64 = 0.3;
const STRAIN: f64 = 0.01;
const VOXEL_UM: f64 = 20.0;

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

struct Row {
    size: usize,
    tool: String,
    wall_s: f64,
    iterations: Option<u32>,
    residual: Option<f64>,
    memory_mib: Option<f64>,
    force_n: f64,
    note: String,
}

fn main() {
    // `cargo bench` passes `--bench`; anything else is ignored.
    let ctx = GpuContext::new().expect("a GPU adapter");
    let adapter = ctx.summary.one_line();
    println!("adapter: {adapter}");
    let sizes: Vec<usize> = std::env::var("MECH_BENCH_SIZES")
        .unwrap_or_else(|_| "32 64 96 128".into())
        .split_whitespace()
        .map(|s| s.parse().expect("MECH_BENCH_SIZES: edge lengths"))
        .collect();
    let tol: f64 = env_or("MECH_BENCH_TOL", 1e-6);
    let with_peers = env_or("MECH_BENCH_PEERS", 1u32) != 0;
    let ccx_max: usize = env_or("MECH_BENCH_CCX_MAX", 64);
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/mech-bench");
    std::fs::create_dir_all(&out).expect("target/mech-bench");
    let mut rows = Vec::new();
    let mut bandwidth = Vec::new();
    for &n in &sizes {
        let dims = [n, n, n];
        let spec = GeneratorSpec {
            dims,
            voxel_size_um: VOXEL_UM,
            bv_tv: 0.3,
            tb_th_um: 150.0,
            rod_weight: 0.5,
            anisotropy: 1.3,
            seed: 7,
        };
        let lattice = generate(&ctx, &spec).expect("lattice").lattice;
        let mineral: Vec<f32> = lattice
            .mineral
            .iter()
            .map(|&m| if m >= 0.5 { 1.0 } else { 0.0 })
            .collect();
        let params = MechParams {
            e_tissue_mpa: E_MPA,
            poisson: POISSON,
            tol,
            load: LoadCase::CompressionZ {
                strain: STRAIN,
                confined: false,
            },
            ..MechParams::default()
        };
        let mut solver = MechSolver::new(&ctx, dims, VOXEL_UM, params).expect("solver");
        let res = solver.solve(&ctx, &mineral, false).expect("solve");
        let (_, gpu_bytes) = memory_needed(dims, params.preconditioner);
        let bone = res.voxels_solved;
        eprintln!(
            "{n}³: trabecula {} iterations ({} on the host), {:.1} s, F {:.6} N; \
             (iterations, residual) at each readback: {}",
            res.iterations,
            res.host_iterations,
            res.wall_s,
            res.reaction_force_n,
            res.history
                .iter()
                .map(|(i, r)| format!("{i}:{r:.1e}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        rows.push(Row {
            size: n,
            tool: "trabecula".into(),
            wall_s: res.wall_s,
            iterations: Some(res.iterations),
            residual: Some(res.relative_residual),
            memory_mib: Some(gpu_bytes as f64 / (1 << 20) as f64),
            force_n: res.reaction_force_n,
            note: format!("{bone} bone voxels solved; GPU buffers"),
        });
        let trab_force = res.reaction_force_n;
        if with_peers {
            let mesh = solver.mesh().expect("mesh");
            let pm = peers::PeerMesh {
                dims,
                h_mm: mesh.h_mm,
                e_mpa: &mesh.e_mpa,
                poisson: POISSON,
                strain: STRAIN,
                flags: &mesh.flags,
                tol,
            };
            let work = out.join(format!("{n}"));
            let mut run = |name: &str, outcome: anyhow::Result<peers::PeerOutcome>| match outcome {
                Ok(peers::PeerOutcome::Ran(r)) => {
                    eprintln!(
                        "{n}³: {name} {:.1} s, F {:.6} N",
                        r.wall_s, r.reaction_force_n
                    );
                    rows.push(Row {
                        size: n,
                        tool: name.into(),
                        wall_s: r.wall_s,
                        iterations: r.iterations,
                        residual: r.relative_residual,
                        memory_mib: r.peak_rss_mib,
                        force_n: r.reaction_force_n,
                        note: format!("{} thread(s); peak RSS", r.threads),
                    })
                }
                Ok(peers::PeerOutcome::NotInstalled(why)) => {
                    println!("{n}³: {name} not run: {why}")
                }
                Err(e) => println!("{n}³: {name} failed: {e:#}"),
            };
            if n <= ccx_max {
                run("CalculiX", peers::calculix(&pm, &work.join("ccx")));
            } else {
                println!("{n}³: CalculiX not run (above MECH_BENCH_CCX_MAX = {ccx_max})");
            }
            run("ParOSol", peers::parosol(&pm, &work.join("parosol")));
        }
        for r in rows
            .iter_mut()
            .filter(|r| r.size == n && r.tool != "trabecula")
        {
            r.note = format!(
                "{}; ΔF vs trabecula {:+.2e}",
                r.note,
                (r.force_n - trab_force) / r.force_n
            );
        }
        bandwidth.push(operator_bandwidth(&ctx, &mut solver, &mineral, dims));
    }

    println!(
        "\n| mesh | tool | time (s) | iterations | ‖r‖/‖r₀‖ | memory (MiB) | force (N) | note |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for r in &rows {
        let opt = |v: Option<String>| v.unwrap_or_else(|| "—".into());
        println!(
            "| {}³ | {} | {:.1} | {} | {} | {} | {:.6} | {} |",
            r.size,
            r.tool,
            r.wall_s,
            opt(r.iterations.map(|i| i.to_string())),
            opt(r.residual.map(|x| format!("{x:.1e}"))),
            opt(r.memory_mib.map(|m| format!("{m:.0}"))),
            r.force_n,
            r.note
        );
    }
    println!("\n| mesh | K·p (ms) | K·p bytes/s | copy bytes/s | ratio |");
    println!("|---|---|---|---|---|");
    for b in &bandwidth {
        println!(
            "| {}³ | {:.2} | {:.2} GB/s | {:.2} GB/s | {:.2} |",
            b.size,
            1e3 * b.apply_s,
            b.apply_bytes / b.apply_s / 1e9,
            b.copy_bytes / b.copy_s / 1e9,
            (b.apply_bytes / b.apply_s) / (b.copy_bytes / b.copy_s)
        );
    }
    let json = serde_json::json!({
        "adapter": adapter,
        "tol": tol,
        "solves": rows.iter().map(|r| serde_json::json!({
            "size": r.size, "tool": r.tool, "wall_s": r.wall_s, "iterations": r.iterations,
            "relative_residual": r.residual, "memory_mib": r.memory_mib,
            "reaction_force_n": r.force_n, "note": r.note,
        })).collect::<Vec<_>>(),
        "operator": bandwidth.iter().map(|b| serde_json::json!({
            "size": b.size, "apply_s": b.apply_s, "apply_bytes": b.apply_bytes,
            "copy_s": b.copy_s, "copy_bytes": b.copy_bytes,
        })).collect::<Vec<_>>(),
    });
    std::fs::write(
        out.join("results.json"),
        serde_json::to_string_pretty(&json).expect("json"),
    )
    .expect("results.json");
}

struct Bandwidth {
    size: usize,
    apply_s: f64,
    apply_bytes: f64,
    copy_s: f64,
    copy_bytes: f64,
}

/// Median over 9 repeats of one K·p and of one copy of a displacement
/// vector. The operator must read p (12 B), the flags (4 B) and one modulus
/// per voxel (4 B), and write q (12 B): ≈ 32 B per node; the copy reads and
/// writes 12 B per node.
fn operator_bandwidth(
    ctx: &GpuContext,
    solver: &mut MechSolver,
    mineral: &[f32],
    dims: [usize; 3],
) -> Bandwidth {
    let nodes = node_count(dims) as f64;
    let voxels = dims.iter().product::<usize>() as f64;
    let x = vec![1e-3f32; 3 * node_count(dims)];
    solver.apply_operator(ctx, mineral, &x).expect("operator");
    let bytes = 12 * node_count(dims) as u64;
    let (a, b) = (
        storage_buffer_zeroed(&ctx.device, "a", bytes),
        storage_buffer_zeroed(&ctx.device, "b", bytes),
    );
    let time = |f: &dyn Fn(&mut wgpu::CommandEncoder)| {
        median(
            (0..9)
                .map(|_| {
                    let mut enc = ctx.device.create_command_encoder(&Default::default());
                    f(&mut enc);
                    let t = Instant::now();
                    ctx.submit_and_wait(enc);
                    t.elapsed().as_secs_f64()
                })
                .collect(),
        )
    };
    let copy_s = time(&|enc| enc.copy_buffer_to_buffer(&a, 0, &b, 0, bytes));
    let apply_s = time(&|enc| solver.record_apply(enc));
    Bandwidth {
        size: dims[0],
        apply_s,
        apply_bytes: 28.0 * nodes + 4.0 * voxels,
        copy_s,
        copy_bytes: 2.0 * bytes as f64,
    }
}
