//! The upscaling blit (`shaders/render/blit.wgsl`): the window renders the
//! 3-D view into a smaller texture on software GPUs (the ray march costs per
//! pixel) and stretches it over the view's rectangle.

use anyhow::Result;

use super::{bind_in_order, colour_target, pass_pipeline, shader_module};

pub struct Blit {
    pub pipeline: wgpu::RenderPipeline,
    pub layout: wgpu::BindGroupLayout,
    sampler: wgpu::Sampler,
}

impl Blit {
    pub fn new(device: &wgpu::Device, format: wgpu::TextureFormat) -> Result<Self> {
        let module = shader_module(device, "render/blit")?;
        let frag = wgpu::ShaderStages::FRAGMENT;
        let (layout, mut pipelines) = pass_pipeline(
            device,
            "render/blit",
            &module,
            &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: frag,
                    ty: wgpu::BindingType::Texture {
                        sample_type: wgpu::TextureSampleType::Float { filterable: true },
                        view_dimension: wgpu::TextureViewDimension::D2,
                        multisampled: false,
                    },
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 1,
                    visibility: frag,
                    ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                    count: None,
                },
            ],
            &[(None, colour_target(format, None))],
        );
        let pipeline = pipelines.remove(0);
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("render/blit"),
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });
        Ok(Self {
            pipeline,
            layout,
            sampler,
        })
    }

    /// Records a pass that clears `target` and stretches `source` over `viewport`.
    pub fn record(
        &self,
        device: &wgpu::Device,
        encoder: &mut wgpu::CommandEncoder,
        source: &wgpu::TextureView,
        target: &wgpu::TextureView,
        viewport: super::Viewport,
    ) {
        let bind_group = bind_in_order(
            device,
            "render/blit",
            &self.layout,
            &[
                wgpu::BindingResource::TextureView(source),
                wgpu::BindingResource::Sampler(&self.sampler),
            ],
        );
        let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("render/blit"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view: target,
                depth_slice: None,
                resolve_target: None,
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Clear(wgpu::Color::BLACK),
                    store: wgpu::StoreOp::Store,
                },
            })],
            depth_stencil_attachment: None,
            timestamp_writes: None,
            occlusion_query_set: None,
            multiview_mask: None,
        });
        pass.set_viewport(
            viewport.x,
            viewport.y,
            viewport.width,
            viewport.height,
            0.0,
            1.0,
        );
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        pass.draw(0..3, 0..1);
    }
}
