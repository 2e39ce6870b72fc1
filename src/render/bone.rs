//! The bone pass (`shaders/render/bone.wgsl`): a full-screen ray march of the
//! `mineral` lattice that writes colour and depth, plus the signal slice and
//! its colour bar.

use anyhow::Result;

use super::{DEPTH_FORMAT, buffer_entry, shader_module};

/// The bone pipeline and its bind-group layout.
pub struct BonePass {
    pub pipeline: wgpu::RenderPipeline,
    pub layout: wgpu::BindGroupLayout,
}

impl BonePass {
    pub fn new(device: &wgpu::Device, format: wgpu::TextureFormat) -> Result<Self> {
        let module = shader_module(device, "render/bone")?;
        let frag = wgpu::ShaderStages::FRAGMENT;
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("render/bone"),
            entries: &[
                buffer_entry(0, frag, wgpu::BufferBindingType::Uniform),
                buffer_entry(
                    1,
                    frag,
                    wgpu::BufferBindingType::Storage { read_only: true },
                ),
                buffer_entry(
                    2,
                    frag,
                    wgpu::BufferBindingType::Storage { read_only: true },
                ),
                buffer_entry(
                    3,
                    frag,
                    wgpu::BufferBindingType::Storage { read_only: true },
                ),
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("render/bone"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("render/bone"),
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
                depth_write_enabled: Some(true),
                // Every pixel writes: the pass fills the depth buffer.
                depth_compare: Some(wgpu::CompareFunction::Always),
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
                    blend: None,
                    write_mask: wgpu::ColorWrites::ALL,
                })],
            }),
            multiview_mask: None,
            cache: None,
        });
        Ok(Self { pipeline, layout })
    }

    /// Binds the view uniform and the fields the pass reads.
    pub fn bind_group(
        &self,
        device: &wgpu::Device,
        view: &wgpu::Buffer,
        mineral: &wgpu::Buffer,
        sed: &wgpu::Buffer,
        slice_field: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("render/bone"),
            layout: &self.layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: view.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: mineral.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: sed.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 3,
                    resource: slice_field.as_entire_binding(),
                },
            ],
        })
    }

    /// Records the full-screen triangle.
    pub fn draw(&self, pass: &mut wgpu::RenderPass<'_>, bind_group: &wgpu::BindGroup) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, bind_group, &[]);
        pass.draw(0..3, 0..1);
    }
}
