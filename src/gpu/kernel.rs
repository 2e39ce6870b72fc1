//! A compute kernel: one WGSL entry point, its explicit bind-group layout and
//! its pipeline. Kernels only record; the caller owns encoder and submission.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use wgpu::naga;

use super::compose::{ComposeError, compose_validated};

/// The kind of one binding, as the shader declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    Uniform,
    StorageRead,
    StorageWrite,
}

/// One resource an entry point uses, read from the shader by naga.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub binding: u32,
    pub kind: Binding,
    /// The WGSL variable name; buffers are bound by it.
    pub name: String,
    /// Bytes a buffer needs at least: the struct, or one array element.
    pub min_bytes: u64,
}

/// One compute entry point with its layout.
pub struct Kernel {
    pub label: String,
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
    pub workgroup_size: u32,
    /// The group-0 resources the entry point uses, by binding number.
    pub slots: Vec<Slot>,
    /// Every resource name the file declares: a buffer given under one of
    /// these that this entry point does not use is left out, silently.
    declared: Vec<String>,
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
    /// Builds `entry` of shader file `file`. Its bind-group layout is the
    /// set of resources the entry point uses, read from the shader.
    ///
    /// `workgroup_size` sets the WGSL override constant `WG` (each kernel
    /// declares `@workgroup_size(WG)`), so tests can check results do not
    /// depend on it.
    pub fn new(
        device: &wgpu::Device,
        file: &str,
        entry: &str,
        workgroup_size: u32,
    ) -> Result<Self, ComposeError> {
        let composed = composed(file)?;
        let slots = reflect_slots(&composed.module, &composed.info, file, entry)?;
        let declared = composed
            .module
            .global_variables
            .iter()
            .filter(|(_, v)| v.binding.is_some())
            .filter_map(|(_, v)| v.name.clone())
            .collect();
        let label = format!("{file}::{entry}");
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(&label),
            source: wgpu::ShaderSource::Wgsl(composed.text.clone().into()),
        });
        let entries: Vec<wgpu::BindGroupLayoutEntry> = slots
            .iter()
            .map(|slot| wgpu::BindGroupLayoutEntry {
                binding: slot.binding,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: match slot.kind {
                        Binding::Uniform => wgpu::BufferBindingType::Uniform,
                        Binding::StorageRead | Binding::StorageWrite => {
                            wgpu::BufferBindingType::Storage {
                                read_only: slot.kind == Binding::StorageRead,
                            }
                        }
                    },
                    has_dynamic_offset: false,
                    min_binding_size: std::num::NonZeroU64::new(slot.min_bytes),
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
            slots,
            declared,
        })
    }

    /// A bind group from `(WGSL variable name, buffer)` pairs: every resource
    /// the entry point uses, each once, by name, in any order (resources of
    /// the file this entry does not use are left out). A missing, unknown or
    /// repeated name, or a buffer smaller than the shader's type, is a
    /// programming error and panics with the kernel and name.
    pub fn bind(
        &self,
        device: &wgpu::Device,
        buffers: &[(&str, &wgpu::Buffer)],
    ) -> wgpu::BindGroup {
        self.bind_resources(
            device,
            buffers
                .iter()
                .map(|(name, b)| (*name, b.as_entire_binding()))
                .collect(),
        )
    }

    /// [`Kernel::bind`] with buffer ranges (windows of a large buffer).
    pub fn bind_resources(
        &self,
        device: &wgpu::Device,
        resources: Vec<(&str, wgpu::BindingResource<'_>)>,
    ) -> wgpu::BindGroup {
        let sizes = resources.iter().map(|(name, r)| {
            let bytes = match r {
                wgpu::BindingResource::Buffer(b) => b
                    .size
                    .map(u64::from)
                    .unwrap_or_else(|| b.buffer.size() - b.offset),
                _ => panic!("{}: `{name}` is not a buffer", self.label),
            };
            (*name, bytes)
        });
        if let Err(e) = check_bindings(&self.slots, &self.declared, sizes) {
            panic!("{}: {e}", self.label);
        }
        let entries: Vec<wgpu::BindGroupEntry> = resources
            .into_iter()
            .filter_map(|(name, resource)| {
                let slot = self.slots.iter().find(|s| s.name == name)?;
                Some(wgpu::BindGroupEntry {
                    binding: slot.binding,
                    resource,
                })
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

/// A shader file composed and validated once per process, whatever the
/// number of its entry points and devices.
struct Composed {
    text: String,
    module: naga::Module,
    info: naga::valid::ModuleInfo,
}

fn composed(file: &str) -> Result<Arc<Composed>, ComposeError> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Composed>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(c) = cache.lock().expect("shader cache").get(file) {
        return Ok(c.clone());
    }
    let (text, module) = compose_validated(file)?;
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::default(),
    )
    .validate(&module)
    .expect("compose_validated validated it");
    let c = Arc::new(Composed { text, module, info });
    cache
        .lock()
        .expect("shader cache")
        .insert(file.to_string(), c.clone());
    Ok(c)
}

/// The group-0 buffers entry point `entry` of `file` uses, in binding order.
pub fn slots_of(file: &str, entry: &str) -> Result<Vec<Slot>, ComposeError> {
    let c = composed(file)?;
    reflect_slots(&c.module, &c.info, file, entry)
}

fn reflect_slots(
    module: &naga::Module,
    info: &naga::valid::ModuleInfo,
    file: &str,
    entry: &str,
) -> Result<Vec<Slot>, ComposeError> {
    let index = module
        .entry_points
        .iter()
        .position(|e| e.name == entry)
        .ok_or_else(|| ComposeError::Invalid {
            name: file.to_string(),
            report: format!("no entry point `{entry}`"),
        })?;
    let uses = info.get_entry_point(index);
    let mut layouter = naga::proc::Layouter::default();
    layouter
        .update(module.to_ctx())
        .expect("a validated module lays out");
    let mut slots: Vec<Slot> = module
        .global_variables
        .iter()
        .filter(|(h, _)| !uses[*h].is_empty())
        .filter_map(|(_, var)| {
            let binding = var.binding.as_ref()?;
            let kind = match var.space {
                naga::AddressSpace::Uniform => Binding::Uniform,
                naga::AddressSpace::Storage { access } => {
                    if access.contains(naga::StorageAccess::STORE) {
                        Binding::StorageWrite
                    } else {
                        Binding::StorageRead
                    }
                }
                _ => return None,
            };
            assert_eq!(
                binding.group, 0,
                "{file}::{entry}: kernels use group 0 only"
            );
            let min_bytes = match &module.types[var.ty].inner {
                naga::TypeInner::Array { base, .. } => layouter[*base].to_stride() as u64,
                _ => layouter[var.ty].size as u64,
            };
            Some(Slot {
                binding: binding.binding,
                kind,
                name: var.name.clone().unwrap_or_default(),
                min_bytes,
            })
        })
        .collect();
    slots.sort_by_key(|s| s.binding);
    Ok(slots)
}

/// `Err` names what is wrong with binding `buffers` (name, bytes) to `slots`.
pub fn check_bindings<'a>(
    slots: &[Slot],
    declared: &[String],
    buffers: impl IntoIterator<Item = (&'a str, u64)>,
) -> Result<(), String> {
    let mut seen: Vec<&str> = Vec::new();
    for (name, bytes) in buffers {
        if seen.contains(&name) {
            return Err(format!("`{name}` bound twice"));
        }
        seen.push(name);
        let Some(slot) = slots.iter().find(|s| s.name == name) else {
            if declared.iter().any(|d| d == name) {
                continue;
            }
            let known: Vec<&str> = slots.iter().map(|s| s.name.as_str()).collect();
            return Err(format!("no binding `{name}` (it uses {known:?})"));
        };
        if bytes < slot.min_bytes {
            return Err(format!(
                "`{name}` is {bytes} bytes, the shader needs at least {}",
                slot.min_bytes
            ));
        }
    }
    let missing: Vec<&str> = slots
        .iter()
        .map(|s| s.name.as_str())
        .filter(|n| !seen.contains(n))
        .collect();
    if !missing.is_empty() {
        return Err(format!("no buffer for {missing:?}"));
    }
    Ok(())
}
