//! Checkpoints: the full simulation state in one file, so a run continues
//! exactly where it stopped.
//!
//! What is saved: every buffer of [`SimState::named_buffers`] whole (lattice
//! fields, signals, mechanics' SED), the live agents of each type with their
//! counters, the step (which with the scene's seed is the RNG position, since
//! the RNG is counter-based) and the scene (which gives the loading phase of
//! every day), plus the run's time series so far.
//!
//! Layout: `MAGIC`, format (u32), header length (u64), JSON header, buffer
//! bytes in header order, CRC-32 of everything before it (u32); all
//! little-endian. A checkpoint is refused, with a message saying why, when
//! it is truncated or corrupt, or written by another version of trabecula.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};

use super::mechanics::{FeMechanics, Mechanics, SolveRecord};
use super::state::SimState;
use super::step::{Kernels, References, Simulation};
use super::systemic::Systemic;
use crate::cells::{Agent, CellType};
use crate::gpu::{GpuContext, read_buffer};
use crate::io::write_atomic_durable;
use crate::lattice::Lattice;
use crate::scene::Scene;

/// First bytes of every checkpoint.
pub const MAGIC: &[u8; 8] = b"TRBCKPT\0";
/// Layout version of the file; changes when the layout does.
pub const FORMAT: u32 = 3;
/// Folder of a run's checkpoints.
pub const DIR: &str = "checkpoints";
/// Checkpoints kept per run (older ones are removed).
pub const KEEP: usize = 2;
/// Work-group size the run uses for its kernels.
pub const WORKGROUP: u32 = 64;

/// Agents of one type.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AgentsHeader {
    pub kind: String,
    pub len: u32,
    pub capacity: u32,
    pub next_id: u32,
}

/// One saved buffer: its name and byte length, in data order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BufferHeader {
    pub name: String,
    pub bytes: u64,
}

/// What the headless run needs to continue its outputs.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RunProgress {
    /// `timeseries.csv` up to the checkpoint.
    pub timeseries_csv: String,
    /// Day of the last scheduled morphometry.
    pub last_morph_day: f64,
    /// `run.json`'s `lattice` (how the lattice was made).
    pub lattice_origin: serde_json::Value,
    pub osteocytes_seeded: u32,
    pub lattice_s: f64,
    /// Wall time of the run before this checkpoint, s.
    pub elapsed_s: f64,
    /// The run's `--checkpoint-every` and `--frames-every`, kept on resume.
    pub checkpoint_every_days: u32,
    pub frames_every_days: u32,
}

/// The JSON header.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Header {
    pub program: String,
    pub version: String,
    pub scene: Scene,
    pub step: u32,
    pub day: f64,
    pub dims: [usize; 3],
    pub voxel_size_um: f64,
    pub stimulus_ref: f64,
    pub rankl_source: f64,
    pub sclerostin_source: f64,
    /// Bone voxels after the last step (the re-solve reference).
    pub bone_voxels: f64,
    /// The FE solver's bookkeeping; its displacement is the buffer
    /// `mech:displacement`. None with uniform SED.
    pub mechanics: Option<MechHeader>,
    pub agents: Vec<AgentsHeader>,
    /// Named state buffers, then one `agents:<type>` entry per type.
    pub buffers: Vec<BufferHeader>,
    pub run: RunProgress,
    /// The body's calcium system (human scenes).
    #[serde(default)]
    pub systemic: Option<Systemic>,
}

/// When the FE solver last solved, and how much bone changed since.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MechHeader {
    pub last: SolveRecord,
    pub changed_since_solve: f64,
    pub habitual_force_n: f64,
}

/// Name of the FE displacement among the saved buffers.
const MECH_DISPLACEMENT: &str = "mech:displacement";

/// The part of the header read before anything else, to name the version.
#[derive(Deserialize)]
struct Origin {
    program: String,
    version: String,
}

/// A checkpoint in memory: header and the buffers' bytes, concatenated.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub header: Header,
    pub data: Vec<u8>,
}

fn agents_name(kind: CellType) -> String {
    format!("agents:{}", kind.name())
}

impl Checkpoint {
    /// Reads the whole state of `sim` back from the GPU.
    pub fn capture(ctx: &GpuContext, sim: &Simulation, run: RunProgress) -> Self {
        let s = &sim.state;
        let mut buffers = Vec::new();
        let mut data = Vec::new();
        for (name, buf) in s.named_buffers() {
            let words: Vec<u32> = read_buffer(&ctx.device, &ctx.queue, buf, 0, buf.size() / 4);
            data.extend_from_slice(bytemuck::cast_slice(&words));
            buffers.push(BufferHeader {
                name: name.into(),
                bytes: buf.size(),
            });
        }
        let mut agents = Vec::new();
        for kind in CellType::ALL {
            let a: Vec<Agent> = sim.read_agents(ctx, kind);
            let bytes: &[u8] = bytemuck::cast_slice(&a);
            data.extend_from_slice(bytes);
            buffers.push(BufferHeader {
                name: agents_name(kind),
                bytes: bytes.len() as u64,
            });
            let c = s.cell(kind);
            agents.push(AgentsHeader {
                kind: kind.name().into(),
                len: c.len,
                capacity: c.capacity,
                next_id: c.next_id,
            });
        }
        let mechanics = match &sim.mechanics {
            Mechanics::Fe(fe) => {
                let u = fe.solver.read_displacement(ctx);
                let bytes: &[u8] = bytemuck::cast_slice(&u);
                data.extend_from_slice(bytes);
                buffers.push(BufferHeader {
                    name: MECH_DISPLACEMENT.into(),
                    bytes: bytes.len() as u64,
                });
                Some(MechHeader {
                    last: fe.last,
                    changed_since_solve: fe.changed_since_solve,
                    habitual_force_n: fe.habitual_force_n,
                })
            }
            Mechanics::Uniform => None,
        };
        Self {
            header: Header {
                program: env!("CARGO_PKG_NAME").into(),
                version: env!("CARGO_PKG_VERSION").into(),
                scene: sim.scene.clone(),
                step: sim.step,
                day: sim.day(),
                dims: s.dims,
                voxel_size_um: s.voxel_size_um,
                stimulus_ref: sim.stimulus_ref,
                rankl_source: sim.rankl_source,
                sclerostin_source: sim.sclerostin_source,
                bone_voxels: sim.bone_voxels,
                mechanics,
                agents,
                buffers,
                run,
                systemic: sim.systemic.clone(),
            },
            data,
        }
    }

    /// The file's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let header = serde_json::to_vec(&self.header).expect("the header serialises");
        let mut out = Vec::with_capacity(24 + header.len() + self.data.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT.to_le_bytes());
        out.extend_from_slice(&(header.len() as u64).to_le_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&self.data);
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Parses and checks a checkpoint's bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        const FIXED: usize = 8 + 4 + 8;
        if bytes.len() < 8 || &bytes[..8] != MAGIC {
            bail!("not a trabecula checkpoint (wrong magic bytes)");
        }
        if bytes.len() < FIXED + 4 {
            bail!("the checkpoint is truncated ({} bytes)", bytes.len());
        }
        let format = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
        let header_len = u64::from_le_bytes(bytes[12..20].try_into().unwrap());
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if header_len > (body.len() - FIXED) as u64 {
            bail!(
                "the checkpoint is truncated: its header alone needs {header_len} bytes, the file has {}",
                bytes.len()
            );
        }
        let header_bytes = &body[FIXED..FIXED + header_len as usize];
        if crc32fast::hash(body) != u32::from_le_bytes(crc.try_into().unwrap()) {
            bail!(
                "the checkpoint is truncated or corrupt (checksum mismatch over {} bytes)",
                body.len()
            );
        }
        let origin: Origin = serde_json::from_slice(header_bytes)
            .map_err(|e| anyhow!("the checkpoint header is unreadable: {e}"))?;
        let ours = env!("CARGO_PKG_VERSION");
        if origin.program != env!("CARGO_PKG_NAME") || origin.version != ours || format != FORMAT {
            bail!(
                "the checkpoint was written by {} {} (checkpoint format {format}); this is trabecula \
                 {ours} (format {FORMAT}). A run continues exactly only with the version that \
                 started it: resume it with {} {}",
                origin.program,
                origin.version,
                origin.program,
                origin.version
            );
        }
        let header: Header = serde_json::from_slice(header_bytes)
            .map_err(|e| anyhow!("the checkpoint header is unreadable: {e}"))?;
        let data = body[FIXED + header_len as usize..].to_vec();
        let expected = header
            .buffers
            .iter()
            .try_fold(0u64, |sum, b| sum.checked_add(b.bytes));
        if expected != Some(data.len() as u64) {
            bail!(
                "the checkpoint lists {} bytes of buffers but holds {}",
                expected.map_or("more than 2⁶⁴".to_string(), |e| e.to_string()),
                data.len()
            );
        }
        // Restoring allocates the lattice from the dimensions: they must
        // match the mineral buffer the file holds.
        let voxels = header
            .dims
            .iter()
            .try_fold(1u64, |n, &d| n.checked_mul(d as u64));
        let mineral = header.buffers.iter().find(|b| b.name == "mineral");
        if let Some(m) = mineral
            && voxels.and_then(|v| v.checked_mul(4)) != Some(m.bytes)
        {
            bail!(
                "the checkpoint's lattice is {:?} voxels but its mineral field holds {} bytes",
                header.dims,
                m.bytes
            );
        }
        Ok(Self { header, data })
    }

    /// Writes `path`: a temporary file, synced, renamed, folder synced.
    pub fn write(&self, path: &Path) -> Result<()> {
        write_atomic_durable(path, &self.encode())
            .with_context(|| format!("writing the checkpoint {}", path.display()))
    }

    /// Reads and checks `path`.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("reading the checkpoint {}", path.display()))?;
        Self::decode(&bytes).with_context(|| format!("refusing the checkpoint {}", path.display()))
    }

    fn buffer(&self, name: &str) -> Result<&[u8]> {
        let mut at = 0usize;
        for b in &self.header.buffers {
            let end = at + b.bytes as usize;
            if b.name == name {
                return Ok(&self.data[at..end]);
            }
            at = end;
        }
        Err(anyhow!("the checkpoint has no buffer {name:?}"))
    }

    /// Rebuilds the simulation on the GPU, ready for its next step.
    pub fn restore(&self, ctx: &GpuContext) -> Result<Simulation> {
        self.restore_as(ctx, &self.header.scene)
    }

    /// Starts `scene` from this checkpoint, taken on day 0 right after a
    /// spin-up of a scene with the same spin-up key: the two differ only
    /// after day 0, so one spin-up serves both.
    pub fn start_after_spin_up(&self, ctx: &GpuContext, scene: &Scene) -> Result<Simulation> {
        let h = &self.header;
        let key = scene.spin_up_key();
        if h.step != 0 || key.is_none() {
            bail!("only a day-0 checkpoint after a spin-up can start another scene");
        }
        if key != h.scene.spin_up_key() {
            bail!(
                "scene {:?} spins up differently from the checkpoint's {:?}",
                scene.name,
                h.scene.name
            );
        }
        let mut sim = self.restore_as(ctx, scene)?;
        // The body starts on day 0 from this scene's own diet.
        if let Some(body) = &mut sim.systemic {
            body.start_day0(body.bv_tv_day0, &scene.nutrition_on(0.0));
        }
        Ok(sim)
    }

    fn restore_as(&self, ctx: &GpuContext, scene: &Scene) -> Result<Simulation> {
        let h = &self.header;
        let n: usize = h.dims.iter().product();
        let blank = Lattice {
            dims: h.dims,
            voxel_size_um: h.voxel_size_um,
            mineral: vec![0.0; n],
        };
        let mut state = SimState::new(ctx, &blank, &vec![0.0; n])?;
        for (name, buf) in state.named_buffers() {
            let bytes = self.buffer(name)?;
            if bytes.len() as u64 != buf.size() {
                bail!(
                    "checkpoint buffer {name:?} has {} bytes, the state needs {}",
                    bytes.len(),
                    buf.size()
                );
            }
            ctx.queue.write_buffer(buf, 0, bytes);
        }
        if h.agents.len() != CellType::ALL.len() {
            bail!("the checkpoint has {} agent types, not 3", h.agents.len());
        }
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        for (kind, a) in CellType::ALL.into_iter().zip(&h.agents) {
            if a.kind != kind.name() {
                bail!(
                    "checkpoint agent type {:?} where {:?} belongs",
                    a.kind,
                    kind.name()
                );
            }
            state.reserve(ctx, &mut enc, kind, a.capacity.max(a.len))?;
        }
        ctx.submit_and_wait(enc);
        for (kind, a) in CellType::ALL.into_iter().zip(&h.agents) {
            let bytes = self.buffer(&agents_name(kind))?;
            if bytes.len() as u64 != a.len as u64 * crate::cells::agents::AGENT_BYTES {
                bail!(
                    "checkpoint {} hold {} bytes for {} agents",
                    kind.name(),
                    bytes.len(),
                    a.len
                );
            }
            let cells = &mut state.cells[kind as usize];
            if !bytes.is_empty() {
                ctx.queue.write_buffer(&cells.buffer, 0, bytes);
            }
            cells.len = a.len;
            cells.next_id = a.next_id;
        }
        ctx.queue.submit([]);
        let kernels = Kernels::new(ctx, WORKGROUP).context("building the cell kernels")?;
        let mechanics = match &h.mechanics {
            Some(m) => {
                let u: Vec<f32> = bytemuck::pod_collect_to_vec(self.buffer(MECH_DISPLACEMENT)?);
                let mineral: Vec<f32> = bytemuck::pod_collect_to_vec(self.buffer("mineral")?);
                let lattice = Lattice {
                    dims: h.dims,
                    voxel_size_um: h.voxel_size_um,
                    mineral,
                };
                Mechanics::Fe(Box::new(FeMechanics::restore(
                    ctx,
                    scene,
                    &lattice,
                    &u,
                    m.last,
                    m.changed_since_solve,
                    m.habitual_force_n,
                )?))
            }
            None => Mechanics::Uniform,
        };
        let refs = References {
            stimulus_ref: h.stimulus_ref,
            rankl_source: h.rankl_source,
            sclerostin_source: h.sclerostin_source,
            bone_voxels: h.bone_voxels,
        };
        let mut sim = Simulation::restored(scene.clone(), state, kernels, mechanics, h.step, refs);
        sim.systemic = h.systemic.clone();
        Ok(sim)
    }
}

/// File of the checkpoint at `step`.
pub fn file_name(step: u32) -> String {
    format!("step_{step:06}.ckpt")
}

/// A run's checkpoints, oldest first.
pub fn list(run_dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(run_dir.join(DIR))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.starts_with("step_") && name.ends_with(".ckpt")
        })
        .collect();
    v.sort();
    v
}

/// The newest checkpoint of a run, or a message saying there is none.
pub fn latest(run_dir: &Path) -> Result<PathBuf> {
    list(run_dir).pop().ok_or_else(|| {
        anyhow!(
            "{} has no checkpoints (run with --checkpoint-every N to write them)",
            run_dir.display()
        )
    })
}

/// Writes `ckpt` into the run's checkpoint folder and removes all but the
/// newest [`KEEP`].
pub fn save(run_dir: &Path, ckpt: &Checkpoint) -> Result<PathBuf> {
    let dir = run_dir.join(DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(file_name(ckpt.header.step));
    ckpt.write(&path)?;
    let all = list(run_dir);
    for old in &all[..all.len().saturating_sub(KEEP)] {
        std::fs::remove_file(old).with_context(|| format!("removing {}", old.display()))?;
    }
    Ok(path)
}
