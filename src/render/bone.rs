//! The bone pass (`shaders/render/bone.wgsl`): a full-screen ray march of the
//! `mineral` lattice that writes colour and depth, plus the signal slice and
//! its colour bar.

use anyhow::Result;

use super::{
    bind_in_order, buffer_entry, colour_target, depth_state, pass_pipeline, shader_module,
};

/// The bone pipeline and its bind-group layout.
pub struct BonePass {
    pub pipeline: wgpu::RenderPipeline,
    pub layout: wgpu::BindGroupLayout,
}

impl BonePass {
    pub fn new(device: &wgpu::Device, format: wgpu::TextureFormat) -> Result<Self> {
        let module = shader_module(device, "render/bone")?;
        let frag = wgpu::ShaderStages::FRAGMENT;
        let read = wgpu::BufferBindingType::Storage { read_only: true };
        let (layout, mut pipelines) = pass_pipeline(
            device,
            "render/bone",
            &module,
            &[
                buffer_entry(0, frag, wgpu::BufferBindingType::Uniform),
                buffer_entry(1, frag, read),
                buffer_entry(2, frag, read),
                buffer_entry(3, frag, read),
            ],
            // Every pixel writes: the pass fills the depth buffer.
            &[(
                Some(depth_state(true, wgpu::CompareFunction::Always)),
                colour_target(format, None),
            )],
        );
        let pipeline = pipelines.remove(0);
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
        bind_in_order(
            device,
            "render/bone",
            &self.layout,
            &[
                view.as_entire_binding(),
                mineral.as_entire_binding(),
                sed.as_entire_binding(),
                slice_field.as_entire_binding(),
            ],
        )
    }

    /// Records the full-screen triangle.
    pub fn draw(&self, pass: &mut wgpu::RenderPass<'_>, bind_group: &wgpu::BindGroup) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, bind_group, &[]);
        pass.draw(0..3, 0..1);
    }
}
