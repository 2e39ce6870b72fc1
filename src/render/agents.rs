//! Agent sprites (`shaders/render/agents.wgsl`): instanced discs drawn
//! straight from the simulation's agent buffers (the vertex shader reads
//! agent `instance_index` from storage; nothing is copied to the CPU).

use anyhow::Result;
use wgpu::util::DeviceExt;

use super::{DEPTH_FORMAT, buffer_entry, shader_module};

/// Sprite colours (linear RGB) in legend order: live osteocyte, apoptotic
/// osteocyte, osteoclast, osteoblast: green, magenta, red, blue. The
/// sprite uniform carries them to `agent_colour` in `shaders/render/agents.wgsl`.
pub const AGENT_COLOURS: [[f32; 3]; 4] = [
    [0.10, 0.75, 0.15],
    [0.90, 0.05, 0.90],
    [0.95, 0.08, 0.03],
    [0.05, 0.35, 1.00],
];

/// Legend labels matching [`AGENT_COLOURS`].
pub const AGENT_LABELS: [&str; 4] = [
    "osteocyte (live)",
    "osteocyte (apoptotic)",
    "osteoclast",
    "osteoblast",
];

crate::gpu_struct! {
    #[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    pub struct Sprites in "render/agents" {
        pub kind: u32,
        pub xray: u32,
        pub _pad0: u32,
        pub _pad1: u32,
        pub colours: [[f32; 4]; 4],
    }
}

/// The sprite pipelines (depth-tested, and "x-ray" through bone) and the
/// per-type uniforms.
pub struct AgentPass {
    pub pipeline: wgpu::RenderPipeline,
    pub pipeline_xray: wgpu::RenderPipeline,
    pub layout: wgpu::BindGroupLayout,
    /// `sprites[xray][kind]`.
    sprites: [[wgpu::Buffer; 3]; 2],
}

impl AgentPass {
    pub fn new(device: &wgpu::Device, format: wgpu::TextureFormat) -> Result<Self> {
        let module = shader_module(device, "render/agents")?;
        let vs = wgpu::ShaderStages::VERTEX;
        let vf = wgpu::ShaderStages::VERTEX_FRAGMENT;
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("render/agents"),
            entries: &[
                buffer_entry(0, vf, wgpu::BufferBindingType::Uniform),
                buffer_entry(1, vs, wgpu::BufferBindingType::Storage { read_only: true }),
                buffer_entry(2, vs, wgpu::BufferBindingType::Uniform),
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("render/agents"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let make = |xray: bool| {
            device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                label: Some(if xray {
                    "render/agents x-ray"
                } else {
                    "render/agents"
                }),
                layout: Some(&pipeline_layout),
                vertex: wgpu::VertexState {
                    module: &module,
                    entry_point: Some("vs_main"),
                    compilation_options: Default::default(),
                    buffers: &[],
                },
                primitive: wgpu::PrimitiveState::default(),
                depth_stencil: Some(wgpu::DepthStencilState {
                    format: DEPTH_FORMAT,
                    depth_write_enabled: Some(!xray),
                    depth_compare: Some(if xray {
                        wgpu::CompareFunction::Always
                    } else {
                        wgpu::CompareFunction::LessEqual
                    }),
                    stencil: Default::default(),
                    bias: Default::default(),
                }),
                multisample: Default::default(),
                fragment: Some(wgpu::FragmentState {
                    module: &module,
                    entry_point: Some("fs_main"),
                    compilation_options: Default::default(),
                    targets: &[Some(wgpu::ColorTargetState {
                        format,
                        blend: xray.then_some(wgpu::BlendState::ALPHA_BLENDING),
                        write_mask: wgpu::ColorWrites::ALL,
                    })],
                }),
                multiview_mask: None,
                cache: None,
            })
        };
        let sprite = |kind: u32, xray: u32| {
            device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("render/agents sprites"),
                contents: bytemuck::bytes_of(&Sprites {
                    kind,
                    xray,
                    _pad0: 0,
                    _pad1: 0,
                    colours: AGENT_COLOURS.map(|[r, g, b]| [r, g, b, 1.0]),
                }),
                usage: wgpu::BufferUsages::UNIFORM,
            })
        };
        Ok(Self {
            pipeline: make(false),
            pipeline_xray: make(true),
            layout,
            sprites: [0, 1].map(|x| [0, 1, 2].map(|k| sprite(k, x))),
        })
    }

    /// Binds the view and one agent buffer of cell type `kind` (0 osteocytes,
    /// 1 osteoclasts, 2 osteoblasts).
    pub fn bind_group(
        &self,
        device: &wgpu::Device,
        view: &wgpu::Buffer,
        agents: &wgpu::Buffer,
        kind: usize,
        xray: bool,
    ) -> wgpu::BindGroup {
        device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("render/agents"),
            layout: &self.layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: view.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: agents.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: self.sprites[xray as usize][kind].as_entire_binding(),
                },
            ],
        })
    }

    /// Records `count` sprites (6 vertices each, one instance per agent).
    pub fn draw(
        &self,
        pass: &mut wgpu::RenderPass<'_>,
        bind_group: &wgpu::BindGroup,
        count: u32,
        xray: bool,
    ) {
        if count == 0 {
            return;
        }
        pass.set_pipeline(if xray {
            &self.pipeline_xray
        } else {
            &self.pipeline
        });
        pass.set_bind_group(0, bind_group, &[]);
        pass.draw(0..6, 0..count);
    }
}
