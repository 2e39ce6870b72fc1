//! The renderer the window and the offscreen `render` command share: a
//! ray-marched bone surface over the `mineral` lattice, agent sprites drawn
//! from the agent buffers, a clip plane, and a signal slice with its colour
//! bar — all read directly from the simulation's GPU buffers.
//!
//! - [`camera`]: the orbit camera.
//! - [`view`]: the uniform every pass reads (`shaders/render/view.wgsl`).
//! - [`bone`], [`agents`]: one pipeline module per shader.
//! - [`offscreen`]: a texture target, PNG readback and `trabecula render`.
//! - [`app`]: the window, `trabecula view`.

pub mod agents;
pub mod app;
pub mod blit;
pub mod bone;
pub mod camera;
pub mod offscreen;
pub mod view;

use anyhow::Result;
use wgpu::util::DeviceExt;

use crate::gpu::compose::compose_validated;
use crate::sim::Simulation;
pub use camera::OrbitCamera;
pub use view::{SliceField, View};

/// Depth buffer format of every pass.
pub const DEPTH_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Depth32Float;

/// A shader module from a composed and validated `shaders/<name>.wgsl`.
pub(crate) fn shader_module(device: &wgpu::Device, name: &str) -> Result<wgpu::ShaderModule> {
    let (text, _) = compose_validated(name)?;
    Ok(device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(name),
        source: wgpu::ShaderSource::Wgsl(text.into()),
    }))
}

pub(crate) fn buffer_entry(
    binding: u32,
    visibility: wgpu::ShaderStages,
    ty: wgpu::BufferBindingType,
) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility,
        ty: wgpu::BindingType::Buffer {
            ty,
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

/// A bind-group layout of `entries` (from [`buffer_entry`] and the like)
/// and a render pipeline over it: `vs_main` then `fs_main` of `module`, one
/// colour target.
pub(crate) fn pass_pipeline(
    device: &wgpu::Device,
    label: &str,
    module: &wgpu::ShaderModule,
    entries: &[wgpu::BindGroupLayoutEntry],
    variants: &[(Option<wgpu::DepthStencilState>, wgpu::ColorTargetState)],
) -> (wgpu::BindGroupLayout, Vec<wgpu::RenderPipeline>) {
    let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some(label),
        entries,
    });
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(label),
        bind_group_layouts: &[Some(&layout)],
        immediate_size: 0,
    });
    let pipelines = variants
        .iter()
        .map(|(depth, target)| {
            device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                label: Some(label),
                layout: Some(&pipeline_layout),
                vertex: wgpu::VertexState {
                    module,
                    entry_point: Some("vs_main"),
                    compilation_options: Default::default(),
                    buffers: &[],
                },
                primitive: wgpu::PrimitiveState::default(),
                depth_stencil: depth.clone(),
                multisample: Default::default(),
                fragment: Some(wgpu::FragmentState {
                    module,
                    entry_point: Some("fs_main"),
                    compilation_options: Default::default(),
                    targets: &[Some(target.clone())],
                }),
                multiview_mask: None,
                cache: None,
            })
        })
        .collect();
    (layout, pipelines)
}

/// A colour target of `format`, written whole.
pub(crate) fn colour_target(
    format: wgpu::TextureFormat,
    blend: Option<wgpu::BlendState>,
) -> wgpu::ColorTargetState {
    wgpu::ColorTargetState {
        format,
        blend,
        write_mask: wgpu::ColorWrites::ALL,
    }
}

/// Depth testing against [`DEPTH_FORMAT`].
pub(crate) fn depth_state(write: bool, compare: wgpu::CompareFunction) -> wgpu::DepthStencilState {
    wgpu::DepthStencilState {
        format: DEPTH_FORMAT,
        depth_write_enabled: Some(write),
        depth_compare: Some(compare),
        stencil: Default::default(),
        bias: Default::default(),
    }
}

/// A bind group of `resources` at bindings 0, 1, … in order.
pub(crate) fn bind_in_order(
    device: &wgpu::Device,
    label: &str,
    layout: &wgpu::BindGroupLayout,
    resources: &[wgpu::BindingResource<'_>],
) -> wgpu::BindGroup {
    let entries: Vec<wgpu::BindGroupEntry> = resources
        .iter()
        .enumerate()
        .map(|(i, r)| wgpu::BindGroupEntry {
            binding: i as u32,
            resource: r.clone(),
        })
        .collect();
    device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some(label),
        layout,
        entries: &entries,
    })
}

/// A 2-D texture of one mip level and sample.
pub(crate) fn texture_2d(
    device: &wgpu::Device,
    label: &str,
    (width, height): (u32, u32),
    format: wgpu::TextureFormat,
    usage: wgpu::TextureUsages,
) -> wgpu::Texture {
    device.create_texture(&wgpu::TextureDescriptor {
        label: Some(label),
        size: wgpu::Extent3d {
            width: width.max(1),
            height: height.max(1),
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format,
        usage,
        view_formats: &[],
    })
}

/// What is drawn and how: the layer toggles of the viewer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Layers {
    /// Agent sprites per cell type (osteocytes, osteoclasts, osteoblasts).
    pub cells: [bool; 3],
    /// Osteocytes drawn through the bone, translucent.
    pub xray_osteocytes: bool,
    /// Colour the bone by its mechanical stimulus relative to habitual 1 g.
    pub stimulus_colour: bool,
    /// Clip plane as a fraction of the block along x: bone and agents beyond it are hidden.
    pub clip: Option<f32>,
    /// Signal shown on the slice plane.
    pub slice: SliceField,
    /// Slice position as a fraction of the block along x.
    pub slice_at: f32,
    pub slice_opacity: f32,
    /// Value mapped to the top of the colour map (basal signal level = 1).
    pub slice_max: f32,
    pub colour_bar: bool,
    /// Sprite radius in voxels.
    pub sprite_radius: f32,
}

impl Default for Layers {
    fn default() -> Self {
        Self {
            cells: [true; 3],
            xray_osteocytes: false,
            stimulus_colour: false,
            clip: None,
            slice: SliceField::None,
            slice_at: 0.5,
            slice_opacity: 0.7,
            slice_max: 3.0,
            colour_bar: true,
            sprite_radius: 0.45,
        }
    }
}

/// The GPU buffers one frame draws from (the simulation's own, or a loaded volume's).
#[derive(Clone, Copy)]
pub struct Frame<'a> {
    pub dims: [usize; 3],
    /// Mineral fraction per voxel (f32, x fastest).
    pub mineral: &'a wgpu::Buffer,
    /// Unit-load SED per voxel (for stimulus colouring and the stimulus slice).
    pub sed: Option<&'a wgpu::Buffer>,
    pub rankl: Option<&'a wgpu::Buffer>,
    pub sclerostin: Option<&'a wgpu::Buffer>,
    /// Agent buffers and live lengths: osteocytes, osteoclasts, osteoblasts.
    pub agents: [Option<(&'a wgpu::Buffer, u32)>; 3],
    /// Stimulus relative to habitual per unit SED: load factor / reference stimulus.
    pub stimulus_per_sed: f32,
}

impl<'a> Frame<'a> {
    /// The buffers of a running simulation, as they are now (agent buffers
    /// are replaced during a step: take a new frame after every `advance`).
    pub fn from_simulation(sim: &'a Simulation) -> Self {
        let f = &sim.state.fields;
        let regime = sim.scene.loading.regime_on(sim.day());
        let load = sim.scene.loading.load_factor(&regime);
        let [ocy, oc, ob] = &sim.state.cells;
        Self {
            dims: sim.state.dims,
            mineral: &f.mineral,
            sed: Some(&f.sed),
            rankl: Some(&f.rankl),
            sclerostin: Some(&f.sclerostin),
            agents: [
                Some((&ocy.buffer, ocy.len)),
                Some((&oc.buffer, oc.len)),
                Some((&ob.buffer, ob.len)),
            ],
            stimulus_per_sed: (load / sim.stimulus_ref.max(1e-30)) as f32,
        }
    }
}

/// Where in the target the 3-D view goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Viewport {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
}

/// Both pipelines for one colour format.
pub struct Renderer {
    pub format: wgpu::TextureFormat,
    pub bone: bone::BonePass,
    pub agents: agents::AgentPass,
    /// Bound in place of a field a frame does not have.
    empty: wgpu::Buffer,
}

impl Renderer {
    /// Builds the pipelines for targets of `format`.
    pub fn new(device: &wgpu::Device, format: wgpu::TextureFormat) -> Result<Self> {
        Ok(Self {
            format,
            bone: bone::BonePass::new(device, format)?,
            agents: agents::AgentPass::new(device, format)?,
            empty: crate::gpu::storage_buffer_zeroed(device, "render empty field", 16),
        })
    }

    /// The view uniform for a frame.
    pub fn view_uniform(
        &self,
        camera: &OrbitCamera,
        layers: &Layers,
        frame: &Frame<'_>,
        viewport: Viewport,
    ) -> View {
        let cam = camera.frame(frame.dims, viewport.width / viewport.height.max(1.0));
        let mut v = View::new(
            &cam,
            frame.dims,
            [viewport.x, viewport.y, viewport.width, viewport.height],
        );
        let nx = frame.dims[0] as f32;
        let slice = match layers.slice {
            SliceField::Rankl if frame.rankl.is_none() => SliceField::None,
            SliceField::Sclerostin if frame.sclerostin.is_none() => SliceField::None,
            SliceField::Stimulus if frame.sed.is_none() => SliceField::None,
            s => s,
        };
        v.clip = [
            layers.clip.map_or(f32::MAX, |c| c.clamp(0.0, 1.0) * nx),
            layers.slice_at.clamp(0.0, 1.0) * nx,
            layers.slice_opacity.clamp(0.0, 1.0),
            layers.sprite_radius,
        ];
        v.shade = [
            (layers.stimulus_colour && frame.sed.is_some()) as u32 as f32,
            frame.stimulus_per_sed,
            layers.slice_max,
            (!self.format.is_srgb()) as u32 as f32,
        ];
        v.flags = [slice as u32, layers.colour_bar as u32, 1, 0];
        v
    }

    /// Records one frame into `target` (cleared) with its depth buffer
    /// `depth`: the bone pass over `viewport`, then the sprites.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &self,
        device: &wgpu::Device,
        encoder: &mut wgpu::CommandEncoder,
        target: &wgpu::TextureView,
        depth: &wgpu::TextureView,
        viewport: Viewport,
        camera: &OrbitCamera,
        layers: &Layers,
        frame: &Frame<'_>,
    ) {
        let view = self.view_uniform(camera, layers, frame, viewport);
        let view_buf = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("render view"),
            contents: bytemuck::bytes_of(&view),
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let sed = frame.sed.unwrap_or(&self.empty);
        let slice = match SliceField::ALL[view.flags[0] as usize] {
            SliceField::Rankl => frame.rankl,
            SliceField::Sclerostin => frame.sclerostin,
            SliceField::Stimulus => frame.sed,
            SliceField::None => None,
        }
        .unwrap_or(&self.empty);
        let bone_bg = self
            .bone
            .bind_group(device, &view_buf, frame.mineral, sed, slice);
        let mut sprites = Vec::new();
        for (kind, a) in frame.agents.iter().enumerate() {
            if let Some((buffer, len)) = a
                && *len > 0
                && layers.cells[kind]
            {
                let xray = kind == 0 && layers.xray_osteocytes;
                let bg = self
                    .agents
                    .bind_group(device, &view_buf, buffer, kind, xray);
                sprites.push((bg, *len, xray));
            }
        }
        // Translucent x-ray sprites after the opaque ones.
        sprites.sort_by_key(|s| s.2);
        let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("render"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view: target,
                depth_slice: None,
                resolve_target: None,
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Clear(wgpu::Color {
                        r: 0.01,
                        g: 0.01,
                        b: 0.015,
                        a: 1.0,
                    }),
                    store: wgpu::StoreOp::Store,
                },
            })],
            depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                view: depth,
                depth_ops: Some(wgpu::Operations {
                    load: wgpu::LoadOp::Clear(1.0),
                    store: wgpu::StoreOp::Store,
                }),
                stencil_ops: None,
            }),
            timestamp_writes: None,
            occlusion_query_set: None,
            multiview_mask: None,
        });
        pass.set_viewport(
            viewport.x,
            viewport.y,
            viewport.width.max(1.0),
            viewport.height.max(1.0),
            0.0,
            1.0,
        );
        self.bone.draw(&mut pass, &bone_bg);
        for (bg, len, xray) in &sprites {
            self.agents.draw(&mut pass, bg, *len, *xray);
        }
    }
}

/// A depth texture matching a target of `size`.
pub fn depth_texture(device: &wgpu::Device, width: u32, height: u32) -> wgpu::TextureView {
    texture_2d(
        device,
        "render depth",
        (width, height),
        DEPTH_FORMAT,
        wgpu::TextureUsages::RENDER_ATTACHMENT,
    )
    .create_view(&Default::default())
}
