//! Volume snapshots for ParaView every `outputs.volumes_every_days`: the
//! lattice fields as `volumes/day_NNNNN.vti`, the agents as
//! `volumes/agents_day_NNNNN.vtp`, and `lattice.pvd` / `agents.pvd`
//! collections that put them on ParaView's time axis; and rendered PNG
//! frames every `--frames-every` days.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::step::Simulation;
use crate::cells::CellType;
use crate::gpu::{GpuContext, read_buffer};
use crate::io::vtk::{Array, write_pvd, write_vti, write_vtp};

/// Writes snapshots on schedule and keeps the collections current.
pub struct Snapshots {
    dir: PathBuf,
    every_days: f64,
    last_day: Option<f64>,
    written: Vec<f64>,
}

impl Snapshots {
    /// Snapshots into `run_dir/volumes` every `every_days` (0: never).
    pub fn new(run_dir: &Path, every_days: u32) -> Option<Self> {
        (every_days > 0).then(|| Self {
            dir: run_dir.join("volumes"),
            every_days: every_days as f64,
            last_day: None,
            written: Vec::new(),
        })
    }

    /// Takes over the snapshots already written up to `day` (a resumed run).
    pub fn resume_at(&mut self, day: f64) {
        let every = self.every_days;
        let mut d = 0.0;
        while d <= day + 1e-9 {
            if self.dir.join(vti_name(d)).exists() {
                self.written.push(d);
                self.last_day = Some(d);
            }
            d += every;
        }
    }

    /// True when a snapshot is due at `day`: the first call, then every
    /// `every_days` (within rounding of fractional steps).
    pub fn due(&self, day: f64) -> bool {
        match self.last_day {
            None => true,
            Some(last) => day - last >= self.every_days - 1e-9,
        }
    }

    /// Reads the state back and writes the day's `.vti` and `.vtp`.
    /// `load_factor` turns the unit-load SED into the day's stimulus.
    pub fn write(&mut self, ctx: &GpuContext, sim: &Simulation, load_factor: f64) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let day = sim.day();
        let s = &sim.state;
        let n = s.n_voxels as u64;
        let read = |b: &wgpu::Buffer| -> Vec<f32> { read_buffer(&ctx.device, &ctx.queue, b, 0, n) };
        let f = &s.fields;
        let mineral = read(&f.mineral);
        let sed = read(&f.sed);
        let stimulus: Vec<f32> = sed.iter().map(|&e| e * load_factor as f32).collect();
        let rankl = read(&f.rankl);
        let sclerostin = read(&f.sclerostin);
        let coupling = read(&f.coupling);
        let resorbed = read(&f.resorbed);
        let formed = read(&f.formed);
        let voxel_mm = s.voxel_size_um * 1e-3;
        write_vti(
            &self.dir.join(vti_name(day)),
            s.dims,
            voxel_mm,
            &[
                ("mineral", Array::F32(&mineral)),
                ("stimulus_mpa", Array::F32(&stimulus)),
                ("sed_unit_mpa", Array::F32(&sed)),
                ("rankl", Array::F32(&rankl)),
                ("sclerostin", Array::F32(&sclerostin)),
                ("coupling", Array::F32(&coupling)),
                ("resorbed", Array::F32(&resorbed)),
                ("formed", Array::F32(&formed)),
            ],
        )?;

        let [nx, ny, _] = s.dims;
        let (mut points, mut kind, mut state, mut id) = (vec![], vec![], vec![], vec![]);
        let (mut age, mut activity, mut timer) = (vec![], vec![], vec![]);
        for t in CellType::ALL {
            for a in sim.read_agents(ctx, t) {
                let v = a.voxel as usize;
                let centre = |i: usize| ((i as f64 + 0.5) * voxel_mm) as f32;
                points.push([centre(v % nx), centre(v / nx % ny), centre(v / (nx * ny))]);
                kind.push(t as i32);
                state.push(a.state);
                id.push(a.id);
                age.push(a.age_days);
                activity.push(a.activity);
                timer.push(a.timer_days);
            }
        }
        write_vtp(
            &self.dir.join(vtp_name(day)),
            &points,
            &[
                ("type", Array::I32(&kind)),
                ("state", Array::U32(&state)),
                ("id", Array::U32(&id)),
                ("age_days", Array::F32(&age)),
                ("activity", Array::F32(&activity)),
                ("timer_days", Array::F32(&timer)),
            ],
        )?;
        self.written.retain(|&d| d < day - 1e-9);
        self.written.push(day);
        self.last_day = Some(day);
        let entries = |name: fn(f64) -> String| -> Vec<(f64, String)> {
            self.written.iter().map(|&d| (d, name(d))).collect()
        };
        write_pvd(&self.dir.join("lattice.pvd"), &entries(vti_name))?;
        write_pvd(&self.dir.join("agents.pvd"), &entries(vtp_name))
    }
}

/// File of the lattice snapshot at `day`.
pub fn vti_name(day: f64) -> String {
    format!("day_{:05}.vti", day.round() as u64)
}

/// File of the agent snapshot at `day`.
pub fn vtp_name(day: f64) -> String {
    format!("agents_day_{:05}.vtp", day.round() as u64)
}

/// Rendered frames every `--frames-every` days: `frames/frame_NNNNN.png`,
/// drawn by the offscreen renderer with the default camera and layers (the
/// same picture `trabecula render RUN --day N` makes).
pub struct Frames {
    dir: PathBuf,
    every_days: f64,
    last_day: Option<f64>,
    offscreen: Option<crate::render::offscreen::Offscreen>,
}

/// Frame size, pixels (as `trabecula render`'s default).
pub const FRAME_WIDTH_PX: u32 = 640;
pub const FRAME_HEIGHT_PX: u32 = 480;

impl Frames {
    /// Frames into `run_dir/frames` every `every_days` (0: never).
    pub fn new(run_dir: &Path, every_days: u32) -> Option<Self> {
        (every_days > 0).then(|| Self {
            dir: run_dir.join("frames"),
            every_days: every_days as f64,
            last_day: None,
            offscreen: None,
        })
    }

    /// Continues the schedule of a run resumed at `day`.
    pub fn resume_at(&mut self, day: f64) {
        self.last_day = Some((day / self.every_days).floor() * self.every_days);
    }

    /// True on the first call, then every `every_days`.
    pub fn due(&self, day: f64) -> bool {
        match self.last_day {
            None => true,
            Some(last) => day - last >= self.every_days - 1e-9,
        }
    }

    /// Renders the simulation as it is now to the day's PNG.
    pub fn write(&mut self, ctx: &GpuContext, sim: &Simulation) -> Result<()> {
        use crate::render::{Frame, Layers, OrbitCamera, offscreen::Offscreen};
        if self.offscreen.is_none() {
            self.offscreen = Some(Offscreen::new(ctx, FRAME_WIDTH_PX, FRAME_HEIGHT_PX)?);
        }
        let offscreen = self.offscreen.as_ref().expect("created above");
        let image = offscreen.render(
            ctx,
            &Frame::from_simulation(sim),
            &OrbitCamera::default(),
            &Layers::default(),
        )?;
        let day = sim.day();
        image.write_png(&self.dir.join(frame_name(day)))?;
        self.last_day = Some(day);
        Ok(())
    }
}

/// File of the frame at `day`.
pub fn frame_name(day: f64) -> String {
    format!("frame_{:05}.png", day.round() as u64)
}
