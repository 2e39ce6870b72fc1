//! Offscreen rendering with the window's pipelines: a texture target, RGBA
//! readback, PNG output, and the `trabecula render` command (no window, no
//! X server).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use super::{Frame, Layers, OrbitCamera, Renderer, SliceField, Viewport, depth_texture};
use crate::gpu::{GpuContext, storage_buffer_init};
use crate::io::mhd::Volume;
use crate::lattice::Lattice;
use crate::scene::{self, Scene};
use crate::sim::{Clock, MorphSchedule, Session, Simulation};

/// An RGBA8 image (sRGB-encoded, rows top to bottom).
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

impl Image {
    /// The pixel at (x, y) as RGBA.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 4] {
        let i = 4 * (y as usize * self.width as usize + x as usize);
        [
            self.rgba[i],
            self.rgba[i + 1],
            self.rgba[i + 2],
            self.rgba[i + 3],
        ]
    }

    /// Writes the image as a PNG (atomically).
    pub fn write_png(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        crate::io::write_atomic(path, |w| {
            let mut enc = png::Encoder::new(w, self.width, self.height);
            enc.set_color(png::ColorType::Rgba);
            enc.set_depth(png::BitDepth::Eight);
            let mut writer = enc.write_header().map_err(std::io::Error::other)?;
            writer
                .write_image_data(&self.rgba)
                .map_err(std::io::Error::other)?;
            writer.finish().map_err(std::io::Error::other)
        })
        .with_context(|| format!("writing {}", path.display()))
    }
}

/// Reads a 2-D RGBA8 or BGRA8 texture (with `COPY_SRC`) back as RGBA.
pub fn read_texture(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    texture: &wgpu::Texture,
) -> Result<Image> {
    let (width, height) = (texture.width(), texture.height());
    let format = texture.format();
    let bgra = matches!(
        format,
        wgpu::TextureFormat::Bgra8Unorm | wgpu::TextureFormat::Bgra8UnormSrgb
    );
    if !bgra
        && !matches!(
            format,
            wgpu::TextureFormat::Rgba8Unorm | wgpu::TextureFormat::Rgba8UnormSrgb
        )
    {
        bail!("cannot read back a {format:?} texture as RGBA8");
    }
    // Rows of a texture copy are padded to 256 bytes.
    let row = (4 * width).next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT);
    let staging = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("render readback"),
        size: row as u64 * height as u64,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut enc = device.create_command_encoder(&Default::default());
    enc.copy_texture_to_buffer(
        wgpu::TexelCopyTextureInfo {
            texture,
            mip_level: 0,
            origin: wgpu::Origin3d::ZERO,
            aspect: wgpu::TextureAspect::All,
        },
        wgpu::TexelCopyBufferInfo {
            buffer: &staging,
            layout: wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(row),
                rows_per_image: Some(height),
            },
        },
        wgpu::Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        },
    );
    queue.submit([enc.finish()]);
    let slice = staging.slice(..);
    let (tx, rx) = std::sync::mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    device
        .poll(wgpu::PollType::wait_indefinitely())
        .context("waiting for the frame")?;
    rx.recv()
        .context("map callback dropped")?
        .context("mapping the frame")?;
    let mut rgba = Vec::with_capacity(4 * (width * height) as usize);
    {
        let data = slice.get_mapped_range().context("reading the frame")?;
        for y in 0..height as usize {
            let start = y * row as usize;
            rgba.extend_from_slice(&data[start..start + 4 * width as usize]);
        }
    }
    staging.unmap();
    if bgra {
        for px in rgba.chunks_exact_mut(4) {
            px.swap(0, 2);
        }
    }
    Ok(Image {
        width,
        height,
        rgba,
    })
}

/// A colour texture plus depth buffer to render into, of one format and size.
pub struct Target {
    pub texture: wgpu::Texture,
    pub view: wgpu::TextureView,
    pub depth: wgpu::TextureView,
}

impl Target {
    pub fn new(
        device: &wgpu::Device,
        format: wgpu::TextureFormat,
        width: u32,
        height: u32,
    ) -> Self {
        let texture = super::texture_2d(
            device,
            "render target",
            (width, height),
            format,
            wgpu::TextureUsages::RENDER_ATTACHMENT
                | wgpu::TextureUsages::COPY_SRC
                | wgpu::TextureUsages::TEXTURE_BINDING,
        );
        let view = texture.create_view(&Default::default());
        Self {
            texture,
            view,
            depth: depth_texture(device, width, height),
        }
    }
}

/// The offscreen renderer: the shared pipelines and an RGBA8 (sRGB) target.
pub struct Offscreen {
    pub renderer: Renderer,
    pub target: Target,
}

/// Format of offscreen images.
pub const OFFSCREEN_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8UnormSrgb;

impl Offscreen {
    pub fn new(ctx: &GpuContext, width: u32, height: u32) -> Result<Self> {
        Ok(Self {
            renderer: Renderer::new(&ctx.device, OFFSCREEN_FORMAT)?,
            target: Target::new(&ctx.device, OFFSCREEN_FORMAT, width, height),
        })
    }

    /// Renders `frame` and reads the image back.
    pub fn render(
        &self,
        ctx: &GpuContext,
        frame: &Frame<'_>,
        camera: &OrbitCamera,
        layers: &Layers,
    ) -> Result<Image> {
        let (w, h) = (self.target.texture.width(), self.target.texture.height());
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        self.renderer.record(
            &ctx.device,
            &mut enc,
            &self.target.view,
            &self.target.depth,
            Viewport {
                x: 0.0,
                y: 0.0,
                width: w as f32,
                height: h as f32,
            },
            camera,
            layers,
            frame,
        );
        ctx.queue.submit([enc.finish()]);
        read_texture(&ctx.device, &ctx.queue, &self.target.texture)
    }
}

/// A frame over a lattice alone: mineral only, no agents or signals.
pub struct LatticeBuffers {
    pub dims: [usize; 3],
    pub mineral: wgpu::Buffer,
}

impl LatticeBuffers {
    pub fn new(ctx: &GpuContext, lattice: &Lattice) -> Self {
        Self {
            dims: lattice.dims,
            mineral: storage_buffer_init(&ctx.device, "render mineral", &lattice.mineral),
        }
    }

    pub fn frame(&self) -> Frame<'_> {
        Frame {
            dims: self.dims,
            mineral: &self.mineral,
            sed: None,
            rankl: None,
            sclerostin: None,
            agents: [None; 3],
            stimulus_per_sed: 0.0,
        }
    }
}

/// Builds `scene`'s lattice and simulation and advances it `days` days.
pub fn simulate(ctx: &GpuContext, scene: &Scene, days: u32) -> Result<Simulation> {
    let (lattice, _) = crate::lattice::from_scene(ctx, scene).context("building the lattice")?;
    let sim = Simulation::new(ctx, scene, &lattice, 64).context("setting up the simulation")?;
    let mut session = Session::begin(
        ctx,
        sim,
        MorphSchedule::never(),
        Clock::since(Instant::now()),
    );
    let steps = (days as f64 / scene.dt_days).round() as u32;
    for _ in 0..steps {
        session.step(ctx)?;
    }
    Ok(session.sim)
}

/// `trabecula render`: a PNG of a scene after N days, or of a run folder.
#[derive(Debug, Clone, clap::Args)]
pub struct RenderArgs {
    /// A scene file (built and advanced `--day` days) or a run folder (its
    /// `lattice_end.mhd`; with `--day`, its scene re-simulated to that day, with cells).
    #[arg(default_value = "scenes/demo.toml")]
    pub input: PathBuf,
    /// Output PNG.
    #[arg(long)]
    pub out: PathBuf,
    /// Day to render (a scene: days to simulate first).
    #[arg(long)]
    pub day: Option<u32>,
    #[arg(long, default_value_t = 640)]
    pub width: u32,
    #[arg(long, default_value_t = 480)]
    pub height: u32,
    /// Camera angle about the vertical (z) axis, degrees.
    #[arg(long, default_value_t = -60.0, allow_hyphen_values = true)]
    pub azimuth: f32,
    /// Camera angle above the horizontal, degrees.
    #[arg(long, default_value_t = 22.0, allow_hyphen_values = true)]
    pub elevation: f32,
    /// Camera distance in multiples of the block's largest edge.
    #[arg(long, default_value_t = 2.7)]
    pub distance: f32,
    /// Clip plane along x as a fraction of the block (0–1): bone and cells beyond it are hidden.
    #[arg(long)]
    pub clip: Option<f32>,
    /// Signal shown on a slice plane: rankl, sclerostin or stimulus.
    #[arg(long)]
    pub slice: Option<String>,
    /// Slice position along x as a fraction of the block (default: the clip plane, else 0.5).
    #[arg(long)]
    pub slice_at: Option<f32>,
    /// Colour the bone by its mechanical stimulus (blue: disuse, red: overload).
    #[arg(long)]
    pub stimulus: bool,
    /// Hide the cells.
    #[arg(long)]
    pub no_cells: bool,
    /// Draw osteocytes through the bone.
    #[arg(long)]
    pub xray: bool,
    /// Override a scene value, e.g. `--set loading.gravity=0` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

/// Parses a slice field name.
pub fn parse_slice(name: &str) -> Result<SliceField> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "none" => SliceField::None,
        "rankl" => SliceField::Rankl,
        "sclerostin" | "sost" => SliceField::Sclerostin,
        "stimulus" => SliceField::Stimulus,
        other => bail!("unknown slice field `{other}`; use rankl, sclerostin or stimulus"),
    })
}

/// Runs `trabecula render`.
pub fn render_command(args: RenderArgs) -> Result<()> {
    // Checked before a scene is simulated for them.
    if args.width == 0 || args.height == 0 {
        bail!(
            "--width {} --height {}: an image needs at least 1×1 pixels",
            args.width,
            args.height
        );
    }
    for (name, v) in [("--clip", args.clip), ("--slice-at", args.slice_at)] {
        if let Some(v) = v
            && !(0.0..=1.0).contains(&v)
        {
            bail!("{name} {v} is outside 0–1 (a fraction of the block)");
        }
    }
    if !(args.distance.is_finite() && args.distance > 0.0) {
        bail!(
            "--distance {} must be a positive multiple of the block's edge",
            args.distance
        );
    }
    let camera = OrbitCamera {
        azimuth_deg: args.azimuth,
        elevation_deg: args.elevation,
        distance: args.distance,
        ..Default::default()
    };
    let mut layers = Layers {
        clip: args.clip,
        stimulus_colour: args.stimulus,
        xray_osteocytes: args.xray,
        ..Default::default()
    };
    if args.no_cells {
        layers.cells = [false; 3];
    }
    if let Some(s) = &args.slice {
        layers.slice = parse_slice(s)?;
        layers.slice_at = args.slice_at.or(args.clip).unwrap_or(0.5);
    }
    let ctx = GpuContext::new()?;
    log::info!("adapter: {}", ctx.summary.one_line());
    let offscreen = Offscreen::new(&ctx, args.width, args.height)?;
    let image = if args.input.is_dir() {
        let dir = &args.input;
        match args.day {
            Some(day) => {
                let json = std::fs::read(dir.join("run.json"))
                    .with_context(|| format!("reading {}/run.json", dir.display()))?;
                let record: serde_json::Value = serde_json::from_slice(&json)?;
                let scene: Scene = serde_json::from_value(record["scene"].clone())
                    .with_context(|| format!("the scene in {}/run.json", dir.display()))?;
                let sim = simulate(&ctx, &scene, day)?;
                offscreen.render(&ctx, &Frame::from_simulation(&sim), &camera, &layers)?
            }
            None => {
                let path = dir.join("lattice_end.mhd");
                let volume = Volume::read(&path)?;
                let voxel = volume
                    .isotropic_voxel_um()
                    .map_err(anyhow::Error::msg)
                    .with_context(|| path.display().to_string())?;
                let lattice = Lattice::from_volume(&volume, None, voxel);
                let buffers = LatticeBuffers::new(&ctx, &lattice);
                offscreen.render(&ctx, &buffers.frame(), &camera, &layers)?
            }
        }
    } else {
        let scene = scene::load(&args.input, &args.set)?;
        let sim = simulate(&ctx, &scene, args.day.unwrap_or(0))?;
        offscreen.render(&ctx, &Frame::from_simulation(&sim), &camera, &layers)?
    };
    image.write_png(&args.out)?;
    println!("{}", args.out.display());
    Ok(())
}
