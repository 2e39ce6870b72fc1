//! A compute kernel: one WGSL entry point, its explicit bind-group layout and
//! its pipeline. Kernels only record; the caller owns encoder and submission.

use super::compose::{ComposeError, compose_validated};

/// The kind of one binding; bindings are numbered in order from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    Uniform,
    StorageRead,
    StorageWrite,
}

/// One compute entry point with its layout.
pub struct Kernel {
    pub label: String,
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
    pub workgroup_size: u32,
    /// (binding number, kind) in the order `bind` takes buffers.
    slots: Vec<(u32, Binding)>,
}

/// Workgroups needed for `n` invocations, folded into 2-D when above the
/// per-dimension limit (65 535): the shader rebuilds the index with
/// `gid.x + gid.y * nwg.x * wg`.
pub fn workgroups_for(n: u32, workgroup_size: u32) -> [u32; 3] {
    let groups = n.div_ceil(workgroup_size).max(1);
    const MAX: u32 = 65_535;
    if groups <= MAX {
        [groups, 1, 1]
    } else {
        let y = groups.div_ceil(MAX);
        [groups.div_ceil(y), y, 1]
    }
}

impl Kernel {
    /// Builds `entry` of shader file `file` with the given bindings.
    ///
    /// `workgroup_size` sets the WGSL override constant `WG` (each kernel
    /// declares `@workgroup_size(WG)`), so tests can check results do not
    /// depend on it.
    pub fn new(
        device: &wgpu::Device,
        file: &str,
        entry: &str,
        bindings: &[Binding],
        workgroup_size: u32,
    ) -> Result<Self, ComposeError> {
        let slots: Vec<(u32, Binding)> = bindings
            .iter()
            .enumerate()
            .map(|(i, b)| (i as u32, *b))
            .collect();
        Self::with_slots(device, file, entry, &slots, workgroup_size)
    }

    /// Like [`Kernel::new`], with explicit binding numbers: a WGSL file whose
    /// entry points each use a subset of its resources gives each entry
    /// exactly the slots it uses.
    pub fn with_slots(
        device: &wgpu::Device,
        file: &str,
        entry: &str,
        slots: &[(u32, Binding)],
        workgroup_size: u32,
    ) -> Result<Self, ComposeError> {
        let (text, _) = compose_validated(file)?;
        let label = format!("{file}::{entry}");
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(&label),
            source: wgpu::ShaderSource::Wgsl(text.into()),
        });
        let entries: Vec<wgpu::BindGroupLayoutEntry> = slots
            .iter()
            .map(|(i, b)| wgpu::BindGroupLayoutEntry {
                binding: *i,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: match b {
                    Binding::Uniform => wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    Binding::StorageRead | Binding::StorageWrite => wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage {
                            read_only: *b == Binding::StorageRead,
                        },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                },
                count: None,
            })
            .collect();
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(&label),
            entries: &entries,
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(&label),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let constants = [("WG", workgroup_size as f64)];
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&label),
            layout: Some(&pipeline_layout),
            module: &module,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &constants,
                zero_initialize_workgroup_memory: true,
            },
            cache: None,
        });
        Ok(Self {
            label,
            pipeline,
            layout,
            workgroup_size,
            slots: slots.to_vec(),
        })
    }

    /// A bind group with `buffers` in binding order; the count must match the layout.
    pub fn bind(&self, device: &wgpu::Device, buffers: &[&wgpu::Buffer]) -> wgpu::BindGroup {
        assert_eq!(
            buffers.len(),
            self.slots.len(),
            "{}: {} buffers for {} bindings",
            self.label,
            buffers.len(),
            self.slots.len()
        );
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .zip(&self.slots)
            .map(|(b, (i, _))| wgpu::BindGroupEntry {
                binding: *i,
                resource: b.as_entire_binding(),
            })
            .collect();
        device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(&self.label),
            layout: &self.layout,
            entries: &entries,
        })
    }

    /// Records one dispatch covering `n` invocations (1-D, folded to 2-D if large).
    pub fn dispatch(&self, pass: &mut wgpu::ComputePass<'_>, bind_group: &wgpu::BindGroup, n: u32) {
        let [x, y, z] = workgroups_for(n, self.workgroup_size);
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, bind_group, &[]);
        pass.dispatch_workgroups(x, y, z);
    }

    /// Records the kernel in its own labelled compute pass.
    pub fn run(&self, encoder: &mut wgpu::CommandEncoder, bind_group: &wgpu::BindGroup, n: u32) {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some(&self.label),
            timestamp_writes: None,
        });
        self.dispatch(&mut pass, bind_group, n);
    }
}
