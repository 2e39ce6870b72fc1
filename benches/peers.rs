//! Peer micro-FE solvers on trabecula's own mesh, for `benches/mechanics.rs`
//! (`#[path = "peers.rs"] mod peers;`): CalculiX (`ccx`, SPOOLES direct
//! solver) and ParOSol (the binary bundled with PyPI `parosol-py`, driven
//! through `python3`). Both get the same voxels (C3D8 / 8-node hexahedra with
//! 2×2×2 Gauss integration, one element per voxel with E > 0), the same
//! per-voxel modulus, Poisson ratio and the same fixed dofs with the same
//! imposed values as trabecula, and the reaction force is read back the way
//! trabecula computes it: −Σ over the top plane's z-fixed nodes of the z
//! reaction (N with mm and MPa; compression positive).
//!
//! Each tool runs in one process with one thread (`OMP_NUM_THREADS=1`,
//! `CCX_NPROC_*=1`; ParOSol as a single MPI rank without `mpirun`). Peak
//! memory is the solver process's max RSS (`wait4`, Linux only).
//!

#![allow(dead_code)]

use anyhow::{Context, Result, anyhow, bail};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use trabecula::mech::mesh::{FIX_X, FIX_Z};

/// Above this many distinct moduli CalculiX gets moduli binned into this
/// many materials (see [`calculix`]); at or below it they are exact.
/// `PEERS_CCX_MAX_MATERIALS` overrides it.
pub const CCX_MAX_MATERIALS: usize = 4096;

fn ccx_max_materials() -> usize {
    std::env::var("PEERS_CCX_MAX_MATERIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(CCX_MAX_MATERIALS)
}

/// One voxel mesh as trabecula solves it.
pub struct PeerMesh<'a> {
    /// Voxels nx, ny, nz; voxel index x + nx·(y + ny·z).
    pub dims: [usize; 3],
    /// Voxel edge (mm).
    pub h_mm: f64,
    /// Per voxel Young's modulus (MPa); 0 = no element (marrow / set aside).
    pub e_mpa: &'a [f64],
    pub poisson: f64,
    /// Apparent compressive strain along z (e.g. 0.01).
    pub strain: f64,
    /// Per node flag bits, node index x + (nx+1)·(y + (ny+1)·z): bit0 FIX_X,
    /// bit1 FIX_Y, bit2 FIX_Z, bit3 ACTIVE. FIX_Z imposes u_z = −strain·z·h,
    /// FIX_X / FIX_Y impose 0. Only nodes of an element (E > 0) are used.
    pub flags: &'a [u32],
    /// Relative residual tolerance ‖r‖/‖r₀‖ (ParOSol; CalculiX is direct).
    pub tol: f64,
}

/// What one peer run measured.
#[derive(Debug, Clone)]
pub struct PeerResult {
    pub name: &'static str,
    /// Wall time of the solver process alone (s).
    pub wall_s: f64,
    /// Wall time including writing its input and reading its output (s).
    pub total_wall_s: f64,
    /// The solver's own timing where it prints one (ParOSol "Overall").
    pub solver_reported_s: Option<f64>,
    /// CG iterations (ParOSol); None for a direct solver.
    pub iterations: Option<u32>,
    /// Final relative residual as the tool reports it.
    pub relative_residual: Option<f64>,
    /// Max RSS of the solver process (MiB); None off Linux.
    pub peak_rss_mib: Option<f64>,
    /// −Σ z reaction over the top plane's z-fixed nodes (N, compression +).
    pub reaction_force_n: f64,
    /// Threads the tool used (as it reports, else as we set).
    pub threads: u32,
    /// Elements, nodes and fixed dofs handed to the tool.
    pub elements: usize,
    pub nodes: usize,
    pub fixed_dofs: usize,
    /// How the model given to the tool differs from trabecula's, if at all.
    pub note: String,
    /// Per voxel strain energy density (MPa), the element-volume average of
    /// ½σ:ε, 0 where no element; voxel index x + nx·(y + ny·z). Only from
    /// [`calculix_with_sed`]; None otherwise.
    pub sed_mpa: Option<Vec<f64>>,
}

impl PeerResult {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "wall_s": self.wall_s,
            "total_wall_s": self.total_wall_s,
            "solver_reported_s": self.solver_reported_s,
            "iterations": self.iterations,
            "relative_residual": self.relative_residual,
            "peak_rss_mib": self.peak_rss_mib,
            "reaction_force_n": self.reaction_force_n,
            "threads": self.threads,
            "elements": self.elements,
            "nodes": self.nodes,
            "fixed_dofs": self.fixed_dofs,
            "note": self.note,
        })
    }
}

/// A peer either ran or is not installed here (with the reason).
#[derive(Debug, Clone)]
pub enum PeerOutcome {
    Ran(PeerResult),
    NotInstalled(String),
}

impl PeerOutcome {
    pub fn ran(self) -> Option<PeerResult> {
        match self {
            PeerOutcome::Ran(r) => Some(r),
            PeerOutcome::NotInstalled(_) => None,
        }
    }
}

// ---------------------------------------------------------------------------
// Mesh bookkeeping shared by both tools.

/// Used nodes, fixed dofs and the top reaction set of a [`PeerMesh`].
struct Prepared {
    /// Per global node: 1-based compact id, 0 = not a node of any element.
    id: Vec<u32>,
    /// Global index of each used node, in id order.
    used: Vec<usize>,
    elements: usize,
    /// (global node, dof 0..3, imposed value mm).
    fixed: Vec<(usize, u8, f64)>,
    /// Global nodes of the top plane with FIX_Z.
    top: Vec<usize>,
}

fn node_xyz(dims: [usize; 3], g: usize) -> [usize; 3] {
    let (mx, my) = (dims[0] + 1, dims[1] + 1);
    [g % mx, (g / mx) % my, g / (mx * my)]
}

/// Global node of corner `a` (0..8) of voxel (x, y, z) in CalculiX C3D8
/// order: bottom face (z) counter-clockwise seen from +z, then the top face.
fn c3d8_node(dims: [usize; 3], [x, y, z]: [usize; 3], a: usize) -> usize {
    const C: [[usize; 3]; 8] = [
        [0, 0, 0],
        [1, 0, 0],
        [1, 1, 0],
        [0, 1, 0],
        [0, 0, 1],
        [1, 0, 1],
        [1, 1, 1],
        [0, 1, 1],
    ];
    let (mx, my) = (dims[0] + 1, dims[1] + 1);
    let [dx, dy, dz] = C[a];
    (x + dx) + mx * ((y + dy) + my * (z + dz))
}

fn prepare(m: &PeerMesh) -> Result<Prepared> {
    let [nx, ny, nz] = m.dims;
    let nv = nx * ny * nz;
    let nn = (nx + 1) * (ny + 1) * (nz + 1);
    if nv == 0 {
        bail!("empty mesh {:?}", m.dims);
    }
    if m.e_mpa.len() != nv {
        bail!(
            "e_mpa has {} values, dims {:?} need {nv}",
            m.e_mpa.len(),
            m.dims
        );
    }
    if m.flags.len() != nn {
        bail!(
            "flags has {} values, dims {:?} need {nn}",
            m.flags.len(),
            m.dims
        );
    }
    if m.h_mm.is_nan() || m.h_mm <= 0.0 || !m.strain.is_finite() || m.tol.is_nan() || m.tol <= 0.0 {
        bail!("h_mm and tol must be positive, strain finite");
    }
    if !(m.poisson > -1.0 && m.poisson < 0.5) {
        bail!("poisson {} outside (-1, 0.5)", m.poisson);
    }
    if m.e_mpa.iter().any(|e| !e.is_finite() || *e < 0.0) {
        bail!("e_mpa must be finite and non-negative");
    }
    let mut node_used = vec![false; nn];
    let mut elements = 0;
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                if m.e_mpa[x + nx * (y + ny * z)] > 0.0 {
                    elements += 1;
                    for a in 0..8 {
                        node_used[c3d8_node(m.dims, [x, y, z], a)] = true;
                    }
                }
            }
        }
    }
    if elements == 0 {
        bail!("no voxel with E > 0");
    }
    let mut id = vec![0u32; nn];
    let mut used = Vec::new();
    for g in 0..nn {
        if node_used[g] {
            used.push(g);
            id[g] = used.len() as u32;
        }
    }
    let mut fixed = Vec::new();
    let mut top = Vec::new();
    for &g in &used {
        let f = m.flags[g];
        let z_mm = node_xyz(m.dims, g)[2] as f64 * m.h_mm;
        for c in 0..3u8 {
            if f & (FIX_X << c) != 0 {
                let v = if c == 2 { -m.strain * z_mm } else { 0.0 };
                fixed.push((g, c, v));
            }
        }
        if f & FIX_Z != 0 && node_xyz(m.dims, g)[2] == nz {
            top.push(g);
        }
    }
    if top.is_empty() {
        bail!("no z-fixed node on the top plane: no reaction to measure");
    }
    Ok(Prepared {
        id,
        used,
        elements,
        fixed,
        top,
    })
}

// ---------------------------------------------------------------------------
// Running a child process: wall time and max RSS.

struct Ran {
    wall_s: f64,
    peak_rss_mib: Option<f64>,
    success: bool,
    code: String,
}

/// Runs `cmd` (its stdout and stderr already set up by the caller), timing
/// it and reading its max RSS via `wait4` on Linux.
fn run_measured(cmd: &mut Command) -> Result<Ran> {
    let t0 = Instant::now();
    let mut child = cmd.spawn().with_context(|| format!("spawning {cmd:?}"))?;
    #[cfg(target_os = "linux")]
    {
        let pid = child.id() as i32;
        let mut status: i32 = 0;
        // SAFETY: rusage is plain old data; all-zero is a valid value.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        let r = loop {
            // SAFETY: plain syscall on our own child; status and ru are
            // valid for writes and sized as the kernel's struct rusage.
            let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
            if r == -1 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
            {
                continue;
            }
            break r;
        };
        let wall_s = t0.elapsed().as_secs_f64();
        if r != pid {
            // Fall back to std (the child was not reaped by wait4).
            let st = child.wait()?;
            return Ok(Ran {
                wall_s: t0.elapsed().as_secs_f64(),
                peak_rss_mib: None,
                success: st.success(),
                code: format!("{st}"),
            });
        }
        // Exited normally with code 0?
        let exited = status & 0x7f == 0;
        let code = (status >> 8) & 0xff;
        Ok(Ran {
            wall_s,
            peak_rss_mib: Some(ru.ru_maxrss as f64 / 1024.0), // KiB on Linux
            success: exited && code == 0,
            code: if exited {
                format!("exit status {code}")
            } else {
                format!("signal {}", status & 0x7f)
            },
        })
    }
    #[cfg(not(target_os = "linux"))]
    {
        let st = child.wait()?;
        Ok(Ran {
            wall_s: t0.elapsed().as_secs_f64(),
            peak_rss_mib: None,
            success: st.success(),
            code: format!("{st}"),
        })
    }
}

fn tail(path: &Path, n: usize) -> String {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let start = s.len().saturating_sub(n);
    let start = (start..s.len())
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(s.len());
    s[start..].to_string()
}

fn on_path(exe: &str) -> Option<std::path::PathBuf> {
    if exe.contains('/') {
        let p = Path::new(exe);
        return p.is_file().then(|| p.to_path_buf());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(exe))
            .find(|p| p.is_file())
    })
}

// ---------------------------------------------------------------------------
// CalculiX.

/// Solves `mesh` with CalculiX (`ccx` on PATH, or `$CCX`) in `workdir`
/// (created if missing; `job.inp`, `job.dat`, `ccx.log` are left there).
///
/// Model: one C3D8 (full 2×2×2 integration) per voxel with E > 0, nodes
/// numbered compactly; one *MATERIAL / *SOLID SECTION per distinct modulus,
/// exact up to [`CCX_MAX_MATERIALS`] distinct values, beyond that binned
/// into that many log-spaced bins each using its members' mean (the note
/// then gives the largest relative modulus change). Supports: every fixed
/// dof of `flags` as a *BOUNDARY with its imposed value — exactly
/// trabecula's supports. *STATIC with SPOOLES, one thread. The reaction is
/// *NODE PRINT, TOTALS=ONLY of RF over an NSET of the top plane's z-fixed
/// nodes, read from `job.dat`.
pub fn calculix(mesh: &PeerMesh, workdir: &Path) -> Result<PeerOutcome> {
    calculix_impl(mesh, workdir, false)
}

/// [`calculix`], and also the per-voxel strain energy density
/// ([`PeerResult::sed_mpa`]): `*EL PRINT` of `ENER` over all elements, which
/// CalculiX writes to `job.dat` as the internal energy density at each of
/// the 8 Gauss points (for this linear static step ½σ:ε); their mean is the
/// element-volume average (equal weights, constant Jacobian), trabecula's
/// SED. Costs time and a large `job.dat`, so [`calculix`] (the benchmark)
/// leaves it out.
pub fn calculix_with_sed(mesh: &PeerMesh, workdir: &Path) -> Result<PeerOutcome> {
    calculix_impl(mesh, workdir, true)
}

fn calculix_impl(mesh: &PeerMesh, workdir: &Path, want_sed: bool) -> Result<PeerOutcome> {
    let exe = std::env::var("CCX").unwrap_or_else(|_| "ccx".to_string());
    let Some(exe) = on_path(&exe) else {
        return Ok(PeerOutcome::NotInstalled(format!(
            "CalculiX: `{exe}` not found on PATH (set CCX or install calculix-ccx)"
        )));
    };
    let t0 = Instant::now();
    let p = prepare(mesh)?;
    std::fs::create_dir_all(workdir)?;
    for f in ["job.dat", "job.frd", "job.sta", "job.cvg", "spooles.out"] {
        let _ = std::fs::remove_file(workdir.join(f));
    }
    let [nx, ny, nz] = mesh.dims;

    // Materials: group elements by modulus.
    let mut distinct: Vec<f64> = mesh.e_mpa.iter().copied().filter(|&e| e > 0.0).collect();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    let max_materials = ccx_max_materials();
    let (material_of, mat_e, note) = if distinct.len() <= max_materials {
        let index: BTreeMap<u64, usize> = distinct
            .iter()
            .enumerate()
            .map(|(i, e)| (e.to_bits(), i))
            .collect();
        let of = move |e: f64| index[&e.to_bits()];
        (
            Box::new(of) as Box<dyn Fn(f64) -> usize>,
            distinct.clone(),
            String::from("supports as trabecula; moduli exact"),
        )
    } else {
        let nb = max_materials;
        let (lo, hi) = (distinct[0].ln(), distinct[distinct.len() - 1].ln());
        let width = (hi - lo) / nb as f64;
        let bin = move |e: f64| (((e.ln() - lo) / width) as usize).min(nb - 1);
        let mut sum = vec![0.0; nb];
        let mut cnt = vec![0usize; nb];
        for &e in mesh.e_mpa.iter().filter(|&&e| e > 0.0) {
            sum[bin(e)] += e;
            cnt[bin(e)] += 1;
        }
        let mean: Vec<f64> = (0..nb)
            .map(|b| {
                if cnt[b] > 0 {
                    sum[b] / cnt[b] as f64
                } else {
                    0.0
                }
            })
            .collect();
        let worst = mesh
            .e_mpa
            .iter()
            .filter(|&&e| e > 0.0)
            .map(|&e| (mean[bin(e)] / e - 1.0).abs())
            .fold(0.0, f64::max);
        (
            Box::new(bin) as Box<dyn Fn(f64) -> usize>,
            mean,
            format!(
                "supports as trabecula; {} distinct moduli binned into {nb} materials \
                 (max |ΔE|/E {worst:.2e})",
                distinct.len()
            ),
        )
    };

    // Element connectivity (and voxel index) per material.
    let mut per_mat: Vec<Vec<([u32; 8], usize)>> = vec![Vec::new(); mat_e.len()];
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                let v = x + nx * (y + ny * z);
                let e = mesh.e_mpa[v];
                if e > 0.0 {
                    let mut conn = [0u32; 8];
                    for (a, c) in conn.iter_mut().enumerate() {
                        *c = p.id[c3d8_node(mesh.dims, [x, y, z], a)];
                    }
                    per_mat[material_of(e)].push((conn, v));
                }
            }
        }
    }
    // Voxel of element id 1, 2, … (elements are numbered in this order).
    let voxel_of_element: Vec<usize> = per_mat.iter().flatten().map(|&(_, v)| v).collect();

    let inp = workdir.join("job.inp");
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&inp)?);
        let mut s = String::with_capacity(1 << 16);
        writeln!(
            w,
            "*HEADING\ntrabecula peer: {nx}x{ny}x{nz} voxels, h = {} mm",
            mesh.h_mm
        )?;
        writeln!(w, "*NODE, NSET=NALL")?;
        for (i, &g) in p.used.iter().enumerate() {
            let [x, y, z] = node_xyz(mesh.dims, g);
            s.clear();
            let h = mesh.h_mm;
            let _ = writeln!(
                s,
                "{}, {:.12e}, {:.12e}, {:.12e}",
                i + 1,
                x as f64 * h,
                y as f64 * h,
                z as f64 * h
            );
            w.write_all(s.as_bytes())?;
        }
        let mut eid = 0usize;
        for (k, conn) in per_mat.iter().enumerate() {
            if conn.is_empty() {
                continue;
            }
            writeln!(w, "*ELEMENT, TYPE=C3D8, ELSET=E{}", k + 1)?;
            for (c, _) in conn {
                eid += 1;
                s.clear();
                let _ = writeln!(
                    s,
                    "{eid}, {}, {}, {}, {}, {}, {}, {}, {}",
                    c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]
                );
                w.write_all(s.as_bytes())?;
            }
        }
        for (k, conn) in per_mat.iter().enumerate() {
            if conn.is_empty() {
                continue;
            }
            writeln!(
                w,
                "*MATERIAL, NAME=M{k1}\n*ELASTIC\n{:.12e}, {:.12e}\n*SOLID SECTION, ELSET=E{k1}, MATERIAL=M{k1}",
                mat_e[k],
                mesh.poisson,
                k1 = k + 1
            )?;
        }
        writeln!(w, "*NSET, NSET=TOP")?;
        for chunk in p.top.chunks(8) {
            let ids: Vec<String> = chunk.iter().map(|&g| p.id[g].to_string()).collect();
            writeln!(w, "{},", ids.join(", "))?;
        }
        if want_sed {
            writeln!(w, "*ELSET, ELSET=EALL, GENERATE\n1, {eid}, 1")?;
        }
        writeln!(w, "*STEP\n*STATIC, SOLVER=SPOOLES\n*BOUNDARY")?;
        for &(g, c, v) in &p.fixed {
            s.clear();
            let _ = writeln!(s, "{}, {}, {}, {:.12e}", p.id[g], c + 1, c + 1, v);
            w.write_all(s.as_bytes())?;
        }
        writeln!(w, "*NODE PRINT, NSET=TOP, TOTALS=ONLY\nRF")?;
        if want_sed {
            writeln!(w, "*EL PRINT, ELSET=EALL\nENER")?;
        }
        writeln!(w, "*END STEP")?;
        w.flush()?;
    }

    let log = workdir.join("ccx.log");
    let ran = run_measured(
        Command::new(&exe)
            .args(["-i", "job"])
            .current_dir(workdir)
            .env("OMP_NUM_THREADS", "1")
            .env("CCX_NPROC_EQUATION_SOLVER", "1")
            .env("CCX_NPROC_STIFFNESS", "1")
            .env("CCX_NPROC_RESULTS", "1")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log)?)
            .stderr(std::fs::File::create(workdir.join("ccx.err"))?),
    )?;
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    if !ran.success || log_text.contains("*ERROR") {
        bail!(
            "ccx failed ({}) in {}:\n{}",
            ran.code,
            workdir.display(),
            tail(&log, 3000)
        );
    }
    let dat = std::fs::read_to_string(workdir.join("job.dat"))
        .with_context(|| format!("reading job.dat in {}", workdir.display()))?;
    let f = parse_ccx_total_force(&dat).ok_or_else(|| {
        anyhow!(
            "no `total force` in job.dat:\n{}",
            &dat[..dat.len().min(2000)]
        )
    })?;
    let sed_mpa = if want_sed {
        Some(parse_ccx_sed(&dat, &voxel_of_element, mesh.e_mpa.len())?)
    } else {
        None
    };
    // "Using up to N cpu(s) for ..." lines.
    let threads = log_text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Using up to "))
        .filter_map(|l| l.split_whitespace().next()?.parse::<u32>().ok())
        .max()
        .unwrap_or(1);
    Ok(PeerOutcome::Ran(PeerResult {
        name: "calculix",
        wall_s: ran.wall_s,
        total_wall_s: t0.elapsed().as_secs_f64(),
        solver_reported_s: None,
        iterations: None,
        relative_residual: None,
        peak_rss_mib: ran.peak_rss_mib,
        reaction_force_n: -f[2],
        threads,
        elements: p.elements,
        nodes: p.used.len(),
        fixed_dofs: p.fixed.len(),
        note: format!("{note}; SPOOLES direct"),
        sed_mpa,
    }))
}

/// The (fx, fy, fz) after the last "total force (fx,fy,fz) for set TOP".
fn parse_ccx_total_force(dat: &str) -> Option<[f64; 3]> {
    let mut found = None;
    let mut lines = dat.lines();
    while let Some(l) = lines.next() {
        if l.contains("total force") && l.to_ascii_uppercase().contains("SET TOP") {
            for l in lines.by_ref() {
                let v: Vec<f64> = l
                    .split_whitespace()
                    .filter_map(|t| t.replace(['D', 'd'], "E").parse().ok())
                    .collect();
                if v.len() >= 3 {
                    found = Some([v[v.len() - 3], v[v.len() - 2], v[v.len() - 1]]);
                    break;
                }
            }
        }
    }
    found
}

/// Per voxel mean of the 8 integration-point values of the last "internal
/// energy density (elem, integ.pnt.,energy) for set EALL" block of
/// `job.dat` (lines `elem ip value`); element `e` is voxel
/// `voxel_of_element[e - 1]`, voxels without an element stay 0.
fn parse_ccx_sed(dat: &str, voxel_of_element: &[usize], voxels: usize) -> Result<Vec<f64>> {
    let start = dat
        .rfind("internal energy density")
        .ok_or_else(|| anyhow!("no `internal energy density` block in job.dat"))?;
    let mut sum = vec![0.0f64; voxel_of_element.len()];
    let mut count = vec![0u8; voxel_of_element.len()];
    for l in dat[start..].lines().skip(1) {
        let t: Vec<&str> = l.split_whitespace().collect();
        if t.is_empty() {
            continue;
        }
        let (Some(e), Some(_ip), Some(v)) = (
            t.first().and_then(|s| s.parse::<usize>().ok()),
            t.get(1).and_then(|s| s.parse::<u32>().ok()),
            t.get(2)
                .and_then(|s| s.replace(['D', 'd'], "E").parse::<f64>().ok()),
        ) else {
            break; // the next block
        };
        if t.len() != 3 || e == 0 || e > sum.len() {
            bail!("job.dat: unexpected energy density line {l:?}");
        }
        sum[e - 1] += v;
        count[e - 1] += 1;
    }
    if let Some(e) = count.iter().position(|&c| c != 8) {
        bail!(
            "job.dat: element {} has {} energy density values, expected 8",
            e + 1,
            count[e]
        );
    }
    let mut sed = vec![0.0; voxels];
    for (e, &v) in voxel_of_element.iter().enumerate() {
        sed[v] = sum[e] / 8.0;
    }
    Ok(sed)
}

// ---------------------------------------------------------------------------
// ParOSol.

/// Writes ParOSol's HDF5 input and prints the bundled binary and the
/// environment its bundled OpenMPI needs (`prep`), or reads the solution
/// and sums the top reaction (`post`). Run as `python3 peer_parosol.py MODE DIR`.
const PAROSOL_PY: &str = r#"
import json, os, sys
mode, d = sys.argv[1], sys.argv[2]
try:
    import numpy as np, h5py
    from parosol_py.runner import packaged_executable, mpi_runtime_environment
    from parosol_py.hdf5_io import write_parosol_input
except ImportError as e:
    print(json.dumps({"missing": str(e)})); sys.exit(0)
meta = json.load(open(os.path.join(d, "meta.json")))
nx, ny, nz = meta["dims"]
bc = np.fromfile(os.path.join(d, "bc_xyzd.u16"), dtype="<u2").reshape(-1, 4)
if mode == "prep":
    e = np.fromfile(os.path.join(d, "e_gpa.f32"), dtype="<f4").reshape(nz, ny, nx)
    vals = np.fromfile(os.path.join(d, "bc_values.f32"), dtype="<f4")
    write_parosol_input(os.path.join(d, "parosol.h5"),
        stiffness_gpa_xyz=np.transpose(e, (2, 1, 0)),
        fixed_displacement_coordinates=bc, fixed_displacement_values=vals,
        voxel_size_mm=meta["h_mm"], poisson_ratio=meta["poisson"])
    exe = str(packaged_executable())
    env = mpi_runtime_environment([exe], dict(os.environ))
    print(json.dumps({"exe": exe, "env": env}))
else:
    with h5py.File(os.path.join(d, "parosol.h5"), "r") as h:
        # Coordinates are in mm: back to node indices.
        c = np.rint(h["Mesh/Coordinates"][...] / meta["h_mm"]).astype(np.int64)
        f = h["Solution/force"][...]
    top = bc[(bc[:, 3] == 2) & (bc[:, 2] == nz)][:, :3].astype(np.int64)
    key = lambda a: a[:, 0] + (nx + 1) * (a[:, 1] + (ny + 1) * a[:, 2])
    sel = np.isin(key(c), key(top))
    print(json.dumps({"fz_top": float(f[sel, 2].sum()), "n_top": int(sel.sum()),
                      "n_top_expected": int(len(top)), "nodes": int(len(c))}))
"#;

/// Solves `mesh` with ParOSol (the binary bundled in PyPI `parosol-py`, run
/// by `python3` or `$PAROSOL_PYTHON`) in `workdir`.
///
/// Model: ParOSol's image is the per-voxel modulus (E/1000: ParOSol's image
/// is in GPa and then reports forces in N for mm), voxel size `h_mm`, one
/// Poisson ratio; its 8-node voxel element is the same full-integration
/// hexahedron. Supports: ParOSol takes arbitrary per-node, per-dof fixed
/// displacements (`Fixed_Displacement_Coordinates`/`_Values`), so every
/// fixed dof of `flags` is passed with its value — exactly trabecula's
/// supports, not its built-in `uniaxial` case. Solver: ParOSol's
/// multigrid-preconditioned CG, `--tol tol` (its ‖r‖/‖r₀‖), default
/// `--level 6`, one MPI rank started directly (no mpirun). The reaction
/// is summed from its nodal `Solution/force` (= K u) over the top plane's
/// z-fixed nodes. `wall_s` times the solver process alone (MPI start, HDF5
/// read/write included); `solver_reported_s` is its own "Overall".
pub fn parosol(mesh: &PeerMesh, workdir: &Path) -> Result<PeerOutcome> {
    let python = std::env::var("PAROSOL_PYTHON").unwrap_or_else(|_| "python3".to_string());
    if on_path(&python).is_none() {
        return Ok(PeerOutcome::NotInstalled(format!(
            "ParOSol: `{python}` not found"
        )));
    }
    let t0 = Instant::now();
    let p = prepare(mesh)?;
    if mesh.dims.iter().any(|&n| n >= i16::MAX as usize) {
        bail!(
            "ParOSol node coordinates are int16: dims {:?} too large",
            mesh.dims
        );
    }
    std::fs::create_dir_all(workdir)?;
    let [nx, ny, nz] = mesh.dims;
    let e_gpa: Vec<u8> = mesh
        .e_mpa
        .iter()
        .flat_map(|&e| ((e / 1000.0) as f32).to_le_bytes())
        .collect();
    std::fs::write(workdir.join("e_gpa.f32"), e_gpa)?;
    let mut coords = Vec::with_capacity(8 * p.fixed.len());
    let mut vals = Vec::with_capacity(4 * p.fixed.len());
    for &(g, c, v) in &p.fixed {
        let [x, y, z] = node_xyz(mesh.dims, g);
        for k in [x, y, z, c as usize] {
            coords.extend_from_slice(&(k as u16).to_le_bytes());
        }
        vals.extend_from_slice(&(v as f32).to_le_bytes());
    }
    std::fs::write(workdir.join("bc_xyzd.u16"), coords)?;
    std::fs::write(workdir.join("bc_values.f32"), vals)?;
    std::fs::write(
        workdir.join("meta.json"),
        serde_json::json!({"dims": [nx, ny, nz], "h_mm": mesh.h_mm, "poisson": mesh.poisson})
            .to_string(),
    )?;
    let script = workdir.join("peer_parosol.py");
    std::fs::write(&script, PAROSOL_PY)?;
    let _ = std::fs::remove_file(workdir.join("parosol.h5"));

    let py = |mode: &str| -> Result<serde_json::Value> {
        let out = Command::new(&python)
            .arg(&script)
            .arg(mode)
            .arg(workdir)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {python}"))?;
        if !out.status.success() {
            bail!(
                "peer_parosol.py {mode} failed ({}):\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .rev()
            .find(|l| l.starts_with('{'))
            .unwrap_or("");
        serde_json::from_str(line)
            .with_context(|| format!("peer_parosol.py {mode} printed:\n{text}"))
    };

    let prep = py("prep")?;
    if let Some(why) = prep.get("missing") {
        return Ok(PeerOutcome::NotInstalled(format!(
            "ParOSol: parosol-py not importable by {python}: {why}"
        )));
    }
    let exe = prep["exe"]
        .as_str()
        .ok_or_else(|| anyhow!("no exe in {prep}"))?;
    if !Path::new(exe).is_file() {
        return Ok(PeerOutcome::NotInstalled(format!(
            "ParOSol: parosol-py has no bundled binary at {exe}"
        )));
    }
    let mut cmd = Command::new(exe);
    cmd.env_clear();
    if let Some(env) = prep["env"].as_object() {
        for (k, v) in env {
            if let Some(v) = v.as_str() {
                cmd.env(k, v);
            }
        }
    }
    let log = workdir.join("parosol.log");
    let ran = run_measured(
        cmd.env("OMP_NUM_THREADS", "1")
            .args([
                "--tol",
                &format!("{:e}", mesh.tol),
                "--level",
                "6",
                "parosol.h5",
            ])
            .current_dir(workdir)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log)?)
            .stderr(std::fs::File::create(workdir.join("parosol.err"))?),
    )?;
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    if !ran.success {
        bail!(
            "ParOSol failed ({}) in {}:\n{}\n{}",
            ran.code,
            workdir.display(),
            tail(&log, 3000),
            tail(&workdir.join("parosol.err"), 3000)
        );
    }
    let field = |key: &str| -> Option<&str> {
        text.lines()
            .rev()
            .find_map(|l| l.trim_start_matches('#').trim().strip_prefix(key))
            .map(str::trim)
    };
    let iterations = field("Nr of It:").and_then(|s| s.parse().ok());
    let relative_residual = field("Relative residuum:").and_then(|s| s.parse().ok());
    let solver_reported_s = field("Overall:").and_then(|s| s.parse().ok());
    let mpi_size: u32 = field("MPI Size:").and_then(|s| s.parse().ok()).unwrap_or(1);
    if iterations.is_none() {
        bail!("ParOSol printed no iteration count:\n{}", tail(&log, 3000));
    }

    let post = py("post")?;
    let n_top = post["n_top"].as_u64().unwrap_or(0);
    if n_top != p.top.len() as u64 || post["nodes"].as_u64() != Some(p.used.len() as u64) {
        bail!(
            "ParOSol mesh differs: {post} (expected {} top nodes, {} nodes)",
            p.top.len(),
            p.used.len()
        );
    }
    let fz = post["fz_top"]
        .as_f64()
        .ok_or_else(|| anyhow!("no fz_top in {post}"))?;
    Ok(PeerOutcome::Ran(PeerResult {
        name: "parosol",
        wall_s: ran.wall_s,
        total_wall_s: t0.elapsed().as_secs_f64(),
        solver_reported_s,
        iterations,
        relative_residual,
        peak_rss_mib: ran.peak_rss_mib,
        reaction_force_n: -fz,
        threads: mpi_size,
        elements: p.elements,
        nodes: p.used.len(),
        fixed_dofs: p.fixed.len(),
        note: "supports as trabecula (per-dof fixed displacements); moduli as f32 GPa; \
               MG-PCG, 1 MPI rank"
            .to_string(),
        sed_mpa: None,
    }))
}
