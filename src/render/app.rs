//! `trabecula view`: the live viewer. A winit window with a wgpu surface on
//! the device that also runs the simulation; the renderer draws straight from
//! the simulation's buffers; egui holds the controls, the live plots and the
//! causal-chain annotations of the teaching mode.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use winit::application::ApplicationHandler;
use winit::event::WindowEvent;
use winit::event_loop::{ActiveEventLoop, EventLoop};
use winit::window::{Window, WindowId};

use super::agents::{AGENT_COLOURS, AGENT_LABELS};
use super::offscreen::{Target, read_texture};
use super::{Frame, Layers, OrbitCamera, Renderer, SliceField, Viewport, depth_texture};
use crate::gpu::GpuContext;
use crate::scene::{self, Scene};
use crate::sim::systemic::BodyReport;
use crate::sim::{Clock, MorphSchedule, Session, Simulation, StepReport};

/// `trabecula view`: options of the live viewer.
#[derive(Debug, Clone, clap::Args)]
pub struct ViewArgs {
    /// Scene file.
    #[arg(default_value = "scenes/teaching-demo.toml")]
    pub scene: PathBuf,
    /// Override a scene value, e.g. `--set loading.gravity=0.38` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Quit after this many frames (for scripted runs and CI).
    #[arg(long)]
    pub frames: Option<u64>,
    /// Write a screenshot (window with its panels) here when quitting after `--frames`.
    #[arg(long)]
    pub screenshot: Option<PathBuf>,
    /// Simulate this many days before the window opens.
    #[arg(long, default_value_t = 0)]
    pub day: u32,
    /// Simulated days per second while playing (at most one step per frame).
    #[arg(long, default_value_t = 2.0)]
    pub speed: f32,
    /// Start paused.
    #[arg(long)]
    pub paused: bool,
    /// Window size in pixels.
    #[arg(long, default_value_t = 800)]
    pub width: u32,
    #[arg(long, default_value_t = 540)]
    pub height: u32,
    /// Start with the clip plane at this fraction of the block along x.
    #[arg(long)]
    pub clip: Option<f32>,
    /// Start with this signal on the slice: rankl, sclerostin or stimulus.
    #[arg(long)]
    pub slice: Option<String>,
    /// Resolution of the 3-D view relative to the window (default: 0.5 on a
    /// software GPU, where the ray march costs per pixel; 1 otherwise).
    #[arg(long)]
    pub render_scale: Option<f32>,
    /// Present without waiting for vertical sync (to measure frame rates).
    #[arg(long)]
    pub no_vsync: bool,
}

/// Opens the viewer and runs until the window closes (or `--frames` is reached).
pub fn view(args: ViewArgs) -> Result<()> {
    let scene = scene::load(&args.scene, &args.set)?;
    let event_loop = EventLoop::new().context(
        "opening a window needs a display (X11); for no display use `trabecula render` \
         or run under `xvfb-run`",
    )?;
    let mut app = App {
        args,
        scene,
        viewer: None,
        error: None,
    };
    event_loop.run_app(&mut app)?;
    if let Some(e) = app.error {
        return Err(e);
    }
    if let Some(v) = &app.viewer {
        v.stats.print(&v.ctx);
    }
    Ok(())
}

struct App {
    args: ViewArgs,
    scene: Scene,
    viewer: Option<Viewer>,
    error: Option<anyhow::Error>,
}

impl ApplicationHandler for App {
    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        if self.viewer.is_some() {
            return;
        }
        match Viewer::new(event_loop, &self.args, &self.scene) {
            Ok(v) => self.viewer = Some(v),
            Err(e) => {
                self.error = Some(e);
                event_loop.exit();
            }
        }
    }

    fn window_event(&mut self, event_loop: &ActiveEventLoop, _id: WindowId, event: WindowEvent) {
        let Some(v) = self.viewer.as_mut() else {
            return;
        };
        let _ = v.egui_state.on_window_event(&v.window, &event);
        match event {
            WindowEvent::CloseRequested => event_loop.exit(),
            WindowEvent::Resized(size) => v.resize(size.width, size.height),
            WindowEvent::RedrawRequested => match v.redraw() {
                Ok(true) => {}
                Ok(false) => event_loop.exit(),
                Err(e) => {
                    self.error = Some(e);
                    event_loop.exit();
                }
            },
            _ => {}
        }
    }

    fn about_to_wait(&mut self, _event_loop: &ActiveEventLoop) {
        if let Some(v) = &self.viewer {
            v.window.request_redraw();
        }
    }
}

/// Frame and step counters for the report printed on exit.
struct Stats {
    started: Instant,
    frames: u64,
    steps: u64,
    step_seconds: f64,
    /// Smoothed frame time (s) for the on-screen counter.
    frame_ema_s: f64,
    last_frame: Instant,
}

impl Stats {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            frames: 0,
            steps: 0,
            step_seconds: 0.0,
            frame_ema_s: 1.0 / 30.0,
            last_frame: Instant::now(),
        }
    }

    fn print(&self, ctx: &GpuContext) {
        let wall = self.started.elapsed().as_secs_f64();
        eprintln!(
            "viewer: {} frames in {:.1} s ({:.1} fps); {} steps ({:.1} steps/s wall, {:.1} ms per step); adapter {}",
            self.frames,
            wall,
            self.frames as f64 / wall.max(1e-9),
            self.steps,
            self.steps as f64 / wall.max(1e-9),
            1e3 * self.step_seconds / (self.steps.max(1) as f64),
            ctx.summary.one_line()
        );
    }
}

/// One row of the live plots.
#[derive(Debug, Clone, Copy)]
struct Sample {
    day: f64,
    report: StepReport,
}

/// The viewer's state: window, GPU, simulation, camera, layers, history.
struct Viewer {
    window: Arc<Window>,
    ctx: GpuContext,
    surface: wgpu::Surface<'static>,
    config: wgpu::SurfaceConfiguration,
    depth: wgpu::TextureView,
    renderer: Renderer,
    blit: super::blit::Blit,
    /// The reduced-resolution 3-D target and its size, when `render_scale` < 1.
    low: Option<(Target, u32, u32)>,
    render_scale: f32,
    egui_ctx: egui::Context,
    egui_state: egui_winit::State,
    egui_renderer: egui_wgpu::Renderer,
    /// The one step loop (no morphometry: frames must not wait on the CPU).
    session: Session,
    camera: OrbitCamera,
    layers: Layers,
    playing: bool,
    speed_days_per_s: f32,
    step_debt: f32,
    step_requested: bool,
    history: Vec<Sample>,
    /// Day-0 state, the reference of the annotations.
    baseline: StepReport,
    /// Mean of the counts over the loaded days before unloading (or day 0).
    loaded_reference: Option<StepReport>,
    manual_regime: bool,
    /// The scene's last day was reached (the viewer paused once there).
    ended: bool,
    show_help: bool,
    screenshot_requested: bool,
    message: String,
    frame_limit: Option<u64>,
    final_screenshot: Option<PathBuf>,
    stats: Stats,
}

/// At most one step per frame: a step on a software GPU takes longer than a
/// frame, and the view should stay responsive.
const MAX_STEPS_PER_FRAME: f32 = 1.0;

impl Viewer {
    fn new(event_loop: &ActiveEventLoop, args: &ViewArgs, scene: &Scene) -> Result<Self> {
        let attrs = Window::default_attributes()
            .with_title(format!("trabecula — {}", scene.name))
            .with_inner_size(winit::dpi::PhysicalSize::new(args.width, args.height));
        let window = Arc::new(event_loop.create_window(attrs)?);
        let desc =
            wgpu::InstanceDescriptor::new_with_display_handle_from_env(Box::new(window.clone()));
        let backends = desc.backends;
        let instance = wgpu::Instance::new(desc);
        let surface = instance
            .create_surface(window.clone())
            .context("creating the window surface")?;
        let ctx = pollster::block_on(GpuContext::from_instance(
            &instance,
            backends,
            Some(&surface),
        ))?;
        log::info!("adapter: {}", ctx.summary.one_line());
        let caps = surface.get_capabilities(&ctx.adapter);
        let format = caps
            .formats
            .iter()
            .copied()
            .find(|f| f.is_srgb())
            .or_else(|| caps.formats.first().copied())
            .ok_or_else(|| anyhow!("the surface supports no format"))?;
        let size = window.inner_size();
        let present_mode = if args.no_vsync {
            wgpu::PresentMode::AutoNoVsync
        } else {
            wgpu::PresentMode::AutoVsync
        };
        let config = wgpu::SurfaceConfiguration {
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT,
            format,
            color_space: Default::default(),
            width: size.width.max(1),
            height: size.height.max(1),
            present_mode,
            desired_maximum_frame_latency: 2,
            alpha_mode: caps
                .alpha_modes
                .first()
                .copied()
                .unwrap_or(wgpu::CompositeAlphaMode::Auto),
            view_formats: vec![],
        };
        surface.configure(&ctx.device, &config);
        let depth = depth_texture(&ctx.device, config.width, config.height);
        let renderer = Renderer::new(&ctx.device, format)?;
        let blit = super::blit::Blit::new(&ctx.device, format)?;
        let render_scale = args
            .render_scale
            .unwrap_or(if ctx.summary.device_type == "Cpu" {
                0.5
            } else {
                1.0
            })
            .clamp(0.1, 1.0);

        let t = Instant::now();
        let (lattice, _) =
            crate::lattice::from_scene(&ctx, scene).context("building the lattice")?;
        let sim =
            Simulation::new(&ctx, scene, &lattice, 64).context("setting up the simulation")?;
        let mut session = Session::begin(&ctx, sim, MorphSchedule::never(), Clock::since(t));
        let baseline = session.last_report;
        let mut history = vec![Sample {
            day: 0.0,
            report: baseline,
        }];
        for _ in 0..args.day {
            let r = session.step(&ctx)?;
            history.push(Sample {
                day: r.day,
                report: r,
            });
        }
        log::info!(
            "{:?} lattice, {} osteocytes, ready in {:.1} s",
            lattice.dims,
            session.sim.state.cells[0].len,
            t.elapsed().as_secs_f64()
        );

        let egui_ctx = egui::Context::default();
        let egui_state = egui_winit::State::new(
            egui_ctx.clone(),
            egui::ViewportId::ROOT,
            &*window,
            Some(window.scale_factor() as f32),
            None,
            Some(ctx.device.limits().max_texture_dimension_2d as usize),
        );
        let egui_renderer =
            egui_wgpu::Renderer::new(&ctx.device, format, egui_wgpu::RendererOptions::default());
        let mut v = Self {
            window,
            ctx,
            surface,
            config,
            depth,
            renderer,
            blit,
            low: None,
            render_scale,
            egui_ctx,
            egui_state,
            egui_renderer,
            session,
            camera: OrbitCamera::default(),
            layers: Layers {
                clip: args.clip,
                slice: match &args.slice {
                    Some(s) => super::offscreen::parse_slice(s)?,
                    None => SliceField::None,
                },
                slice_at: args.clip.unwrap_or(0.5),
                ..Default::default()
            },
            playing: !args.paused,
            speed_days_per_s: args.speed,
            step_debt: 0.0,
            step_requested: false,
            history,
            baseline,
            loaded_reference: None,
            manual_regime: false,
            ended: false,
            show_help: false,
            screenshot_requested: false,
            message: String::new(),
            frame_limit: args.frames,
            final_screenshot: args.screenshot.clone(),
            stats: Stats::new(),
        };
        v.update_reference();
        Ok(v)
    }

    fn resize(&mut self, width: u32, height: u32) {
        if width == 0 || height == 0 {
            return;
        }
        self.config.width = width;
        self.config.height = height;
        self.surface.configure(&self.ctx.device, &self.config);
        self.depth = depth_texture(&self.ctx.device, width, height);
    }

    fn advance(&mut self) -> Result<()> {
        let t = Instant::now();
        let r = self.session.step(&self.ctx)?;
        self.stats.step_seconds += t.elapsed().as_secs_f64();
        self.stats.steps += 1;
        self.history.push(Sample {
            day: r.day,
            report: r,
        });
        self.update_reference();
        Ok(())
    }

    /// The loaded reference: mean cell counts over the days at ≥ 0.9 of
    /// habitual load so far (day 0 if none yet).
    fn update_reference(&mut self) {
        let loaded: Vec<&StepReport> = self
            .history
            .iter()
            .skip(1)
            .map(|s| &s.report)
            .filter(|r| r.load_factor >= 0.9)
            .collect();
        if loaded.is_empty() {
            self.loaded_reference = None;
            return;
        }
        let n = loaded.len() as f64;
        let mean = |f: &dyn Fn(&StepReport) -> u32| {
            (loaded.iter().map(|r| f(r) as f64).sum::<f64>() / n).round() as u32
        };
        let mut r = self.baseline;
        r.osteocytes_apoptotic = mean(&|r| r.osteocytes_apoptotic);
        r.osteoclasts = mean(&|r| r.osteoclasts);
        r.osteoblasts = mean(&|r| r.osteoblasts);
        self.loaded_reference = Some(r);
    }

    /// The loading regime in force today.
    fn regime_today(&self) -> crate::scene::DayRegime {
        let sim = &self.session.sim;
        sim.scene.loading.regime_on(sim.day())
    }

    /// Stops following the scene's phases: the regime in force now becomes
    /// the `[loading]` regime, which the controls then change.
    fn take_manual_control(&mut self) {
        if self.manual_regime {
            return;
        }
        let r = self.regime_today();
        let l = &mut self.session.sim.scene.loading;
        l.phases.clear();
        l.gravity = Some(r.gravity);
        l.bisphosphonate = Some(r.bisphosphonate);
        l.denosumab = Some(r.denosumab);
        l.romosozumab = Some(r.romosozumab);
        self.manual_regime = true;
    }

    /// One frame: step the simulation, lay out the UI, draw, present.
    /// Returns false when the viewer should close.
    fn redraw(&mut self) -> Result<bool> {
        let now = Instant::now();
        let dt = now.duration_since(self.stats.last_frame).as_secs_f64();
        self.stats.last_frame = now;
        self.stats.frame_ema_s += 0.1 * (dt - self.stats.frame_ema_s);

        // Time: steps due at the chosen speed, never more than a few a frame.
        if self.playing {
            self.step_debt =
                (self.step_debt + self.speed_days_per_s * dt as f32).min(MAX_STEPS_PER_FRAME);
            while self.step_debt >= 1.0 {
                self.step_debt -= 1.0;
                self.advance()?;
            }
            // The scene's story ends at its last day: pause there (Play continues).
            let end = self.session.sim.scene.days as f64;
            if !self.ended && self.session.sim.day() >= end - 1e-9 {
                self.ended = true;
                self.playing = false;
                self.message = format!("end of the scene (day {end:.0}); Play continues");
            }
        } else if self.step_requested {
            self.advance()?;
        }
        self.step_requested = false;

        // UI.
        let raw = self.egui_state.take_egui_input(&self.window);
        let ectx = self.egui_ctx.clone();
        let mut view_rect = egui::Rect::NOTHING;
        let mut full = ectx.run_ui(raw, |ui| view_rect = self.ui(ui));
        self.egui_state
            .handle_platform_output(&self.window, std::mem::take(&mut full.platform_output));
        let ppp = full.pixels_per_point;
        let jobs = ectx.tessellate(std::mem::take(&mut full.shapes), ppp);
        let (w, h) = (self.config.width, self.config.height);
        let viewport = Viewport {
            x: (view_rect.min.x * ppp).clamp(0.0, w as f32 - 1.0),
            y: (view_rect.min.y * ppp).clamp(0.0, h as f32 - 1.0),
            width: (view_rect.width() * ppp).clamp(1.0, w as f32),
            height: (view_rect.height() * ppp).clamp(1.0, h as f32),
        };
        let screen = egui_wgpu::ScreenDescriptor {
            size_in_pixels: [w, h],
            pixels_per_point: ppp,
        };
        let device = &self.ctx.device;
        let queue = &self.ctx.queue;
        for (id, deltas) in &full.textures_delta.set {
            for delta in deltas {
                self.egui_renderer.update_texture(device, queue, *id, delta);
            }
        }

        let surface_texture = match self.surface.get_current_texture() {
            wgpu::CurrentSurfaceTexture::Success(t)
            | wgpu::CurrentSurfaceTexture::Suboptimal(t) => Some(t),
            wgpu::CurrentSurfaceTexture::Outdated | wgpu::CurrentSurfaceTexture::Lost => {
                self.surface.configure(device, &self.config);
                None
            }
            _ => None,
        };

        self.stats.frames += 1;
        let last = self.frame_limit.is_some_and(|n| self.stats.frames >= n);
        let shot_path = if self.screenshot_requested {
            self.screenshot_requested = false;
            Some(PathBuf::from(format!(
                "trabecula-{}-day{:03}.png",
                self.session.sim.scene.name,
                self.session.sim.day().round() as i64
            )))
        } else if last {
            self.final_screenshot.clone()
        } else {
            None
        };

        let frame = Frame::from_simulation(&self.session.sim);
        let mut encoder = device.create_command_encoder(&Default::default());
        self.egui_renderer
            .update_buffers(device, queue, &mut encoder, &jobs, &screen);
        let mut targets: Vec<(&wgpu::TextureView, &wgpu::TextureView)> = Vec::new();
        let surface_view = surface_texture
            .as_ref()
            .map(|t| t.texture.create_view(&Default::default()));
        if let Some(v) = &surface_view {
            targets.push((v, &self.depth));
        }
        let shot_target = shot_path
            .as_ref()
            .map(|_| Target::new(device, self.config.format, w, h));
        if let Some(t) = &shot_target {
            targets.push((&t.view, &t.depth));
        }
        // The 3-D view: straight into each target, or at a reduced
        // resolution once and stretched onto each.
        let low_size = (
            (viewport.width * self.render_scale).round().max(1.0) as u32,
            (viewport.height * self.render_scale).round().max(1.0) as u32,
        );
        if self.render_scale < 1.0 {
            if self.low.as_ref().map(|l| (l.1, l.2)) != Some(low_size) {
                let t = Target::new(device, self.config.format, low_size.0, low_size.1);
                self.low = Some((t, low_size.0, low_size.1));
            }
        } else {
            self.low = None;
        }
        if let Some((low, lw, lh)) = &self.low {
            self.renderer.record(
                device,
                &mut encoder,
                &low.view,
                &low.depth,
                Viewport {
                    x: 0.0,
                    y: 0.0,
                    width: *lw as f32,
                    height: *lh as f32,
                },
                &self.camera,
                &self.layers,
                &frame,
            );
        }
        for (colour, depth) in targets {
            match &self.low {
                Some((low, _, _)) => {
                    self.blit
                        .record(device, &mut encoder, &low.view, colour, viewport)
                }
                None => self.renderer.record(
                    device,
                    &mut encoder,
                    colour,
                    depth,
                    viewport,
                    &self.camera,
                    &self.layers,
                    &frame,
                ),
            }
            let pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("egui"),
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view: colour,
                    depth_slice: None,
                    resolve_target: None,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Load,
                        store: wgpu::StoreOp::Store,
                    },
                })],
                depth_stencil_attachment: None,
                timestamp_writes: None,
                occlusion_query_set: None,
                multiview_mask: None,
            });
            self.egui_renderer
                .render(&mut pass.forget_lifetime(), &jobs, &screen);
        }
        queue.submit([encoder.finish()]);
        for id in &full.textures_delta.free {
            self.egui_renderer.free_texture(id);
        }
        full.textures_delta.clear();
        if let Some(t) = surface_texture {
            queue.present(t);
        }
        if let (Some(path), Some(target)) = (shot_path, shot_target) {
            let image = read_texture(device, queue, &target.texture)?;
            image.write_png(&path)?;
            self.message = format!("saved {}", path.display());
            log::info!("screenshot: {}", path.display());
        }
        Ok(!last)
    }

    /// Lays out the panels and handles input; returns the 3-D view's rect (points).
    fn ui(&mut self, ui: &mut egui::Ui) -> egui::Rect {
        self.keys(ui.ctx());
        egui::Panel::left("controls")
            .resizable(false)
            .exact_size(225.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| self.controls(ui));
            });
        egui::Panel::bottom("plots")
            .resizable(false)
            .exact_size(135.0)
            .show(ui, |ui| self.plots(ui));
        let mut rect = egui::Rect::NOTHING;
        egui::CentralPanel::no_frame().show(ui, |ui| {
            rect = ui.max_rect();
            let response = ui.allocate_rect(rect, egui::Sense::click_and_drag());
            self.mouse(ui, &response, rect);
            self.annotations(ui, rect);
        });
        if self.show_help {
            egui::Window::new("Keys and mouse")
                .collapsible(false)
                .resizable(false)
                .show(ui.ctx(), help);
        }
        rect
    }

    fn keys(&mut self, ctx: &egui::Context) {
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        use egui::Key;
        let pressed = |k| ctx.input(|i| i.key_pressed(k));
        if pressed(Key::Space) {
            self.playing = !self.playing;
        }
        if pressed(Key::N) || pressed(Key::ArrowRight) {
            self.playing = false;
            self.step_requested = true;
        }
        if pressed(Key::R) {
            self.camera = OrbitCamera::default();
        }
        if pressed(Key::C) {
            self.layers.clip = match self.layers.clip {
                Some(_) => None,
                None => Some(0.5),
            };
        }
        if pressed(Key::OpenBracket) || pressed(Key::CloseBracket) {
            let d = if pressed(Key::OpenBracket) {
                -0.05
            } else {
                0.05
            };
            self.layers.clip = Some((self.layers.clip.unwrap_or(1.0) + d).clamp(0.0, 1.0));
        }
        if pressed(Key::S) {
            let i = SliceField::ALL
                .iter()
                .position(|&s| s == self.layers.slice)
                .unwrap_or(0);
            self.layers.slice = SliceField::ALL[(i + 1) % SliceField::ALL.len()];
        }
        if pressed(Key::T) {
            self.layers.stimulus_colour = !self.layers.stimulus_colour;
        }
        if pressed(Key::X) {
            self.layers.xray_osteocytes = !self.layers.xray_osteocytes;
        }
        for (i, k) in [Key::Num1, Key::Num2, Key::Num3].into_iter().enumerate() {
            if pressed(k) {
                self.layers.cells[i] = !self.layers.cells[i];
            }
        }
        if pressed(Key::Plus) || pressed(Key::Equals) {
            self.speed_days_per_s = (self.speed_days_per_s * 1.5).min(60.0);
        }
        if pressed(Key::Minus) {
            self.speed_days_per_s = (self.speed_days_per_s / 1.5).max(0.25);
        }
        if pressed(Key::P) || pressed(Key::F12) {
            self.screenshot_requested = true;
        }
        if pressed(Key::H) || pressed(Key::F1) {
            self.show_help = !self.show_help;
        }
    }

    fn mouse(&mut self, ui: &egui::Ui, response: &egui::Response, rect: egui::Rect) {
        let dims = self.session.sim.state.dims;
        if response.dragged_by(egui::PointerButton::Primary) {
            let d = response.drag_delta();
            self.camera.orbit(-0.4 * d.x, 0.4 * d.y);
        }
        if response.dragged_by(egui::PointerButton::Secondary)
            || response.dragged_by(egui::PointerButton::Middle)
        {
            let d = response.drag_delta() / rect.height().max(1.0);
            self.camera.pan_screen(dims, d.x, d.y);
        }
        if response.hovered() {
            let scroll = ui.ctx().input(|i| i.smooth_scroll_delta.y);
            if scroll != 0.0 {
                self.camera.zoom((-scroll * 0.002).exp());
            }
        }
        if response.double_clicked() {
            self.camera = OrbitCamera::default();
        }
    }

    fn controls(&mut self, ui: &mut egui::Ui) {
        let regime = self.regime_today();
        let last = self.history.last().map(|s| s.report).unwrap_or_default();
        ui.heading(format!("trabecula · {}", self.session.sim.scene.name));
        ui.label(format!(
            "day {:.0} · {:.2} g{} · load ×{:.2}",
            self.session.sim.day(),
            regime.gravity,
            regime
                .phase
                .and_then(|p| self.session.sim.scene.loading.phases.get(p))
                .and_then(|p| p.name.as_deref())
                .map(|n| format!(" ({n})"))
                .unwrap_or_default(),
            self.session.sim.scene.loading.load_factor(&regime)
        ));
        ui.label(format!(
            "{:.0} fps · {:.1} ms/step",
            1.0 / self.stats.frame_ema_s.max(1e-6),
            1e3 * self.stats.step_seconds / self.stats.steps.max(1) as f64
        ));
        ui.separator();

        ui.horizontal(|ui| {
            if ui
                .button(if self.playing { "Pause" } else { "Play" })
                .clicked()
            {
                self.playing = !self.playing;
            }
            if ui.button("Step 1 day").clicked() {
                self.playing = false;
                self.step_requested = true;
            }
        });
        ui.add(
            egui::Slider::new(&mut self.speed_days_per_s, 0.25..=60.0)
                .logarithmic(true)
                .text("days/s"),
        );

        ui.separator();
        ui.strong("Loading");
        let mut g = regime.gravity as f32;
        if ui
            .add(egui::Slider::new(&mut g, 0.0..=1.5).text("g"))
            .changed()
        {
            self.take_manual_control();
            self.session.sim.scene.loading.gravity = Some(g as f64);
        }
        ui.horizontal(|ui| {
            for (label, level) in [
                ("orbit", 0.0),
                ("Moon", 0.16),
                ("Mars", 0.38),
                ("Earth", 1.0),
            ] {
                if ui.small_button(label).clicked() {
                    self.take_manual_control();
                    self.session.sim.scene.loading.gravity = Some(level);
                }
            }
        });
        let drugs = [
            (
                "bisphosphonate",
                regime.bisphosphonate,
                "osteoclasts: less resorption, shorter life",
            ),
            ("denosumab", regime.denosumab, "anti-RANKL"),
            ("romosozumab", regime.romosozumab, "anti-sclerostin"),
        ];
        for (i, (name, on, hint)) in drugs.into_iter().enumerate() {
            let mut v = on;
            if ui.checkbox(&mut v, name).on_hover_text(hint).changed() {
                self.take_manual_control();
                let l = &mut self.session.sim.scene.loading;
                match i {
                    0 => l.bisphosphonate = Some(v),
                    1 => l.denosumab = Some(v),
                    _ => l.romosozumab = Some(v),
                }
            }
        }
        if self.manual_regime {
            ui.weak("manual regime (scene phases off)");
        }

        ui.separator();
        ui.strong("Layers");
        let counts = [
            last.osteocytes_alive + last.osteocytes_apoptotic,
            last.osteoclasts,
            last.osteoblasts,
        ];
        for i in 0..3 {
            ui.horizontal(|ui| {
                ui.checkbox(&mut self.layers.cells[i], "");
                let colours: &[usize] = if i == 0 { &[0, 1] } else { &[i + 1] };
                for &c in colours {
                    swatch(ui, AGENT_COLOURS[c]);
                }
                let name = ["osteocytes", "osteoclasts", "osteoblasts"][i];
                ui.label(format!("{name} ({})", counts[i]));
            });
        }
        ui.horizontal(|ui| {
            ui.add_space(24.0);
            swatch(ui, AGENT_COLOURS[1]);
            ui.label(format!(
                "{} ({})",
                AGENT_LABELS[1], last.osteocytes_apoptotic
            ));
        });
        ui.checkbox(&mut self.layers.xray_osteocytes, "osteocytes through bone");
        ui.checkbox(
            &mut self.layers.stimulus_colour,
            "bone coloured by stimulus",
        )
        .on_hover_text("blue: below habitual load (disuse) · ivory: habitual · red: overload");
        let mut clip = self.layers.clip.is_some();
        ui.horizontal(|ui| {
            ui.checkbox(&mut clip, "clip x");
            let mut c = self.layers.clip.unwrap_or(0.5);
            ui.add_enabled(clip, egui::Slider::new(&mut c, 0.0..=1.0).show_value(false));
            self.layers.clip = clip.then_some(c);
        });
        egui::ComboBox::from_label("slice")
            .selected_text(self.layers.slice.label())
            .show_ui(ui, |ui| {
                for s in SliceField::ALL {
                    ui.selectable_value(&mut self.layers.slice, s, s.label());
                }
            });
        if self.layers.slice != SliceField::None {
            ui.add(egui::Slider::new(&mut self.layers.slice_at, 0.0..=1.0).text("slice x"));
            ui.add(
                egui::Slider::new(&mut self.layers.slice_max, 0.5..=10.0)
                    .logarithmic(true)
                    .text("range max"),
            );
        }

        ui.separator();
        ui.horizontal(|ui| {
            if ui.button("Reset view").clicked() {
                self.camera = OrbitCamera::default();
            }
            if ui.button("Screenshot").clicked() {
                self.screenshot_requested = true;
            }
            if ui.button("Help").clicked() {
                self.show_help = !self.show_help;
            }
        });
        if !self.message.is_empty() {
            ui.weak(&self.message);
        }
        egui::CollapsingHeader::new("Keys")
            .default_open(false)
            .show(ui, help);
    }

    fn plots(&mut self, ui: &mut egui::Ui) {
        use egui_plot::{Legend, Line, Plot};
        let bv0 = self.baseline.bv_tv.max(1e-9);
        let bone: Vec<[f64; 2]> = self
            .history
            .iter()
            .map(|s| [s.day, 100.0 * s.report.bv_tv / bv0])
            .collect();
        let series = |f: &dyn Fn(&StepReport) -> u32| -> Vec<[f64; 2]> {
            self.history
                .iter()
                .map(|s| [s.day, f(&s.report) as f64])
                .collect()
        };
        let apoptotic = series(&|r| r.osteocytes_apoptotic);
        let clasts = series(&|r| r.osteoclasts);
        let blasts = series(&|r| r.osteoblasts);
        let colour = |c: [f32; 3]| egui::Color32::from(egui::Rgba::from_rgb(c[0], c[1], c[2]));
        // The body's figures as % of day 0 (human scenes only).
        let body0 = self.baseline.body;
        let body_series = |f: fn(&BodyReport) -> f64| -> Vec<[f64; 2]> {
            let Some(b0) = body0 else {
                return Vec::new();
            };
            self.history
                .iter()
                .filter_map(|s| s.report.body.map(|b| [s.day, 100.0 * f(&b) / f(&b0)]))
                .collect()
        };
        let pth = body_series(|b| b.pth_pg_per_ml);
        let urine = body_series(|b| b.urinary_ca_mg_per_day);
        let serum = body_series(|b| b.serum_ca_mmol_per_l);
        let panels = if body0.is_some() { 3.0 } else { 2.0 };
        let width = ui.available_width() / panels - 8.0;
        let height = ui.available_height();
        // Every live plot: the same size, a legend, days along x, no scroll.
        let plot = |id: &str, include_y: f64| {
            Plot::new(id)
                .width(width)
                .height(height)
                .legend(Legend::default())
                .x_axis_label("day")
                .include_y(include_y)
                .allow_scroll(false)
        };
        ui.horizontal(|ui| {
            plot("bone", 100.0).show(ui, |p| {
                p.line(
                    Line::new("BV/TV (% of day 0)", bone)
                        .color(egui::Color32::from_rgb(225, 210, 180)),
                );
            });
            plot("cells", 0.0).show(ui, |p| {
                p.line(
                    Line::new("apoptotic osteocytes", apoptotic).color(colour(AGENT_COLOURS[1])),
                );
                p.line(Line::new("osteoclasts", clasts).color(colour(AGENT_COLOURS[2])));
                p.line(Line::new("osteoblasts", blasts).color(colour(AGENT_COLOURS[3])));
            });
            if body0.is_some() {
                plot("body", 100.0).show(ui, |p| {
                    p.line(Line::new("PTH (% of day 0)", pth));
                    p.line(Line::new("urinary Ca (% of day 0)", urine));
                    p.line(Line::new("serum Ca (% of day 0)", serum));
                });
            }
        });
    }

    /// The teaching annotations: the causal chain, link by link, as it happens.
    fn annotations(&self, ui: &egui::Ui, rect: egui::Rect) {
        let painter = ui.painter_at(rect);
        let last = self
            .history
            .last()
            .map(|s| s.report)
            .unwrap_or(self.baseline);
        let reference = self.loaded_reference.unwrap_or(self.baseline);
        let lines = causal_chain(&last, &reference, &self.baseline);
        let font = egui::FontId::proportional(14.0);
        let mut y = rect.top() + 8.0;
        for (text, lit) in lines {
            let colour = if lit {
                egui::Color32::from_rgb(255, 214, 102)
            } else {
                egui::Color32::from_gray(170)
            };
            let galley = painter.layout_no_wrap(text, font.clone(), colour);
            let pos = egui::pos2(rect.left() + 10.0, y);
            painter.rect_filled(
                egui::Rect::from_min_size(pos, galley.size()).expand(3.0),
                3.0,
                egui::Color32::from_black_alpha(150),
            );
            y += galley.size().y + 7.0;
            painter.galley(pos, galley, colour);
        }
        // Colour-bar labels beside the bar the bone pass draws.
        if self.layers.slice != SliceField::None && self.layers.colour_bar {
            // The bar is 30 px from the view's right edge at the 3-D resolution.
            let px = self.render_scale * ui.ctx().pixels_per_point();
            let x = rect.right() - 30.0 / px - 4.0;
            let (y0, y1) = (
                rect.top() + 0.2 * rect.height(),
                rect.top() + 0.8 * rect.height(),
            );
            let small = egui::FontId::proportional(12.0);
            let white = egui::Color32::from_gray(220);
            let unit = match self.layers.slice {
                SliceField::Stimulus => "× habitual",
                _ => "× basal",
            };
            painter.text(
                egui::pos2(x + 22.0, y1 + 6.0),
                egui::Align2::RIGHT_TOP,
                format!("{} ({unit})", self.layers.slice.label()),
                small.clone(),
                white,
            );
            painter.text(
                egui::pos2(x - 4.0, y0),
                egui::Align2::RIGHT_CENTER,
                format!("{:.1}", self.layers.slice_max),
                small.clone(),
                white,
            );
            painter.text(
                egui::pos2(x - 4.0, y1),
                egui::Align2::RIGHT_CENTER,
                "0",
                small,
                white,
            );
        }
    }
}

/// The causal chain of disuse bone loss as lines of text, each marked lit
/// when its link is active now compared with the loaded reference; in
/// human scenes two more lines follow the calcium into the body.
pub fn causal_chain(
    now: &StepReport,
    loaded: &StepReport,
    day0: &StepReport,
) -> Vec<(String, bool)> {
    let unloaded = now.load_factor < 0.9;
    let apoptotic_up = now.osteocytes_apoptotic > loaded.osteocytes_apoptotic.max(1) * 3 / 2 + 2;
    let clasts_up = now.osteoclasts as f64 > 1.2 * loaded.osteoclasts as f64 + 2.0;
    let lost = 100.0 * (1.0 - now.bv_tv / day0.bv_tv.max(1e-12));
    let mut lines = vec![
        (
            format!(
                "1 · load on the osteocytes: {:.0} % of habitual ({:.2} g); {} of {} sense disuse",
                100.0 * now.load_factor,
                now.gravity,
                now.osteocytes_disuse,
                now.osteocytes_alive
            ),
            unloaded,
        ),
        (
            format!(
                "2 -> osteocytes dying: {} apoptotic (loaded ≈ {})",
                now.osteocytes_apoptotic, loaded.osteocytes_apoptotic
            ),
            apoptotic_up,
        ),
        (
            format!(
                "3 -> RANKL {:.2}× basal, sclerostin {:.2}× -> osteoclasts recruited: {} (loaded ≈ {})",
                now.mean_rankl, now.mean_sclerostin, now.osteoclasts, loaded.osteoclasts
            ),
            clasts_up,
        ),
        (
            format!(
                "4 -> bone lost: {lost:.1} % of BV/TV ({:.3} -> {:.3})",
                day0.bv_tv, now.bv_tv
            ),
            lost > 0.5,
        ),
    ];
    // The body's loop, in human scenes: the resorbed calcium raises serum
    // calcium, which lowers PTH, then calcitriol and absorption, and the
    // kidneys pass more: the balance goes more negative.
    if let (Some(b), Some(b0)) = (now.body, day0.body) {
        let looping =
            b.bone_ca_release_mg_per_day > 50.0 && b.pth_pg_per_ml < 0.97 * b0.pth_pg_per_ml;
        lines.push((
            format!(
                "5 -> Ca from bone {:+.0} mg/day -> serum Ca {:.2} mmol/L -> PTH {:.1} pg/mL (day 0 {:.1})",
                b.bone_ca_release_mg_per_day,
                b.serum_ca_mmol_per_l,
                b.pth_pg_per_ml,
                b0.pth_pg_per_ml,
            ),
            looping,
        ));
        lines.push((
            format!(
                "6 -> calcitriol {:.1} pmol/L, absorption {:.1} % -> urine {:.0} mg/day (day 0 {:.0})",
                b.calcitriol_pmol_per_l,
                100.0 * b.ca_absorption_fraction,
                b.urinary_ca_mg_per_day,
                b0.urinary_ca_mg_per_day,
            ),
            looping,
        ));
    }
    lines
}

fn swatch(ui: &mut egui::Ui, c: [f32; 3]) {
    let (rect, _) = ui.allocate_exact_size(egui::vec2(10.0, 10.0), egui::Sense::hover());
    ui.painter().circle_filled(
        rect.center(),
        5.0,
        egui::Color32::from(egui::Rgba::from_rgb(c[0], c[1], c[2])),
    );
}

/// Keyboard shortcuts and mouse controls.
pub const HELP: &[(&str, &str)] = &[
    ("Space", "play / pause"),
    ("N or Right", "step one day"),
    ("+ / -", "faster / slower"),
    ("left drag", "orbit"),
    ("right / middle drag", "pan"),
    ("wheel", "zoom"),
    ("R or double-click", "reset view"),
    ("C", "clip plane on / off"),
    ("[ / ]", "move the clip plane"),
    ("S", "next slice signal"),
    ("T", "bone coloured by stimulus"),
    ("X", "osteocytes through bone"),
    ("1 / 2 / 3", "osteocytes / osteoclasts / osteoblasts"),
    ("P or F12", "screenshot (PNG in the working folder)"),
    ("H or F1", "this help"),
];

fn help(ui: &mut egui::Ui) {
    egui::Grid::new("help").striped(true).show(ui, |ui| {
        for (key, what) in HELP {
            ui.monospace(*key);
            ui.label(*what);
            ui.end_row();
        }
    });
}
