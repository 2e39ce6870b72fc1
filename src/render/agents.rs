//! Agent sprites (`shaders/render/agents.wgsl`): instanced discs drawn
//! straight from the simulation's agent buffers (the vertex shader reads
//! agent `instance_index` from storage; nothing is copied to the CPU).

use anyhow::Result;
use wgpu::util::DeviceExt;

use super::{
    bind_in_order, buffer_entry, colour_target, depth_state, pass_pipeline, shader_module,
};

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
        // The x-ray variant draws through the bone, blended, leaving depth alone.
        let (layout, mut pipelines) = pass_pipeline(
            device,
            "render/agents",
            &module,
            &[
                buffer_entry(0, vf, wgpu::BufferBindingType::Uniform),
                buffer_entry(1, vs, wgpu::BufferBindingType::Storage { read_only: true }),
                buffer_entry(2, vs, wgpu::BufferBindingType::Uniform),
            ],
            &[
                (
                    Some(depth_state(true, wgpu::CompareFunction::LessEqual)),
                    colour_target(format, None),
                ),
                (
                    Some(depth_state(false, wgpu::CompareFunction::Always)),
                    colour_target(format, Some(wgpu::BlendState::ALPHA_BLENDING)),
                ),
            ],
        );
        let pipeline_xray = pipelines.pop().expect("two variants");
        let pipeline = pipelines.pop().expect("two variants");
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
            pipeline,
            pipeline_xray,
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
        bind_in_order(
            device,
            "render/agents",
            &self.layout,
            &[
                view.as_entire_binding(),
                agents.as_entire_binding(),
                self.sprites[xray as usize][kind].as_entire_binding(),
            ],
        )
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
