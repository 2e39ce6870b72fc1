//! Adapter selection and device creation.
//!
//! The adapter honours `WGPU_BACKEND` (e.g. `vulkan`, `gl`); without it the
//! primary backends (Vulkan, Metal, DX12) are asked first and OpenGL only
//! when they offer no adapter, so a machine with Vulkan never initialises
//! EGL (whose failed hardware probe logs an error). Among the adapters found,
//! a hardware GPU is preferred over a software one. The device is created
//! with the adapter's own limits, so the engine can plan lattice sizes
//! against what this adapter really offers.
//!
//! Headless commands (all but the viewer) also call
//! [`quiet_display_probes`] first: Mesa's Vulkan device-select layer
//! otherwise connects to a Wayland display while listing devices, and
//! libwayland prints `error: XDG_RUNTIME_DIR is invalid or not set in the
//! environment.` on a machine without one.

use serde::Serialize;

/// Why no GPU context could be made.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error(
        "no GPU adapter found{backend_hint}.\n\
         trabecula needs a GPU driver or a software one: on Debian/Ubuntu, \
         `apt-get install mesa-vulkan-drivers` provides lavapipe (Vulkan), and \
         Mesa's llvmpipe is used through OpenGL with `WGPU_BACKEND=gl`."
    )]
    NoAdapter { backend_hint: String },
    #[error("the adapter {adapter} refused to create a device: {source}")]
    Device {
        adapter: String,
        source: wgpu::RequestDeviceError,
    },
}

/// What a run records about the adapter it used.
#[derive(Debug, Clone, Serialize)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    pub driver_info: String,
    pub max_storage_buffer_binding_size: u64,
    pub max_buffer_size: u64,
    pub max_storage_buffers_per_shader_stage: u32,
    pub max_compute_workgroup_size_x: u32,
    pub max_compute_invocations_per_workgroup: u32,
    pub max_compute_workgroups_per_dimension: u32,
    pub max_compute_workgroup_storage_size: u32,
    /// The adapter offers f64 arithmetic in shaders (`SHADER_F64`): what a
    /// GPU-side f64 residual of the micro-FE would need.
    pub shader_f64: bool,
}

impl AdapterSummary {
    fn new(info: &wgpu::AdapterInfo, limits: &wgpu::Limits, features: wgpu::Features) -> Self {
        Self {
            shader_f64: features.contains(wgpu::Features::SHADER_F64),
            name: info.name.clone(),
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: info.driver.clone(),
            driver_info: info.driver_info.clone(),
            max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
            max_buffer_size: limits.max_buffer_size,
            max_storage_buffers_per_shader_stage: limits.max_storage_buffers_per_shader_stage,
            max_compute_workgroup_size_x: limits.max_compute_workgroup_size_x,
            max_compute_invocations_per_workgroup: limits.max_compute_invocations_per_workgroup,
            max_compute_workgroups_per_dimension: limits.max_compute_workgroups_per_dimension,
            max_compute_workgroup_storage_size: limits.max_compute_workgroup_storage_size,
        }
    }

    /// One line for logs: name, backend and device type.
    pub fn one_line(&self) -> String {
        format!("{} ({}, {})", self.name, self.backend, self.device_type)
    }
}

/// Environment variables with which the user chose a device through Mesa's
/// Vulkan device-select layer; [`quiet_display_probes`] leaves the layer on
/// when one is set.
const DEVICE_SELECT_VARS: [&str; 3] = ["MESA_VK_DEVICE_SELECT", "DRI_PRIME", "NODEVICE_SELECT"];

/// Turns off Mesa's Vulkan device-select layer (`NODEVICE_SELECT=1`) for a
/// process that presents nothing, unless the user configured it. The layer
/// orders devices by the display they drive: because wgpu enables
/// `VK_KHR_wayland_surface`, it connects to a Wayland display while
/// listing physical devices, and without one libwayland writes
/// `error: XDG_RUNTIME_DIR is invalid or not set in the environment.` to
/// stderr, once per listing. A headless command has no display to match,
/// and [`GpuContext::new`] picks its adapter itself (hardware first).
///
/// # Safety
///
/// Sets an environment variable: call it before any other thread exists
/// (first thing in `main`).
pub unsafe fn quiet_display_probes() {
    if DEVICE_SELECT_VARS
        .iter()
        .all(|v| std::env::var_os(v).is_none())
    {
        // SAFETY: the caller guarantees no other thread reads or writes
        // the environment meanwhile.
        unsafe { std::env::set_var("NODEVICE_SELECT", "1") };
    }
}

/// The adapter, device and queue every kernel records into.
pub struct GpuContext {
    pub adapter: wgpu::Adapter,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub summary: AdapterSummary,
}

/// Hardware first; among software adapters Vulkan (lavapipe) before GL.
fn preference(info: &wgpu::AdapterInfo) -> (u8, u8) {
    let kind = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    };
    let backend = match info.backend {
        wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 => 0,
        _ => 1,
    };
    (kind, backend)
}

impl GpuContext {
    /// Picks an adapter (honouring `WGPU_BACKEND`) and creates a device with its limits.
    pub fn new() -> Result<Self, GpuError> {
        pollster::block_on(Self::new_async())
    }

    async fn new_async() -> Result<Self, GpuError> {
        if wgpu::Backends::from_env().is_some() {
            return Self::with_backends(None).await;
        }
        // OpenGL is the fallback: initialising EGL where Vulkan works only
        // costs time and logs the failed probes of its hardware drivers.
        match Self::with_backends(Some(wgpu::Backends::PRIMARY)).await {
            Err(GpuError::NoAdapter { .. }) => {
                Self::with_backends(Some(!wgpu::Backends::PRIMARY)).await
            }
            r => r,
        }
    }

    /// The preferred adapter of an instance with the environment's settings
    /// (`WGPU_BACKEND` and the rest), its backends narrowed to `only`.
    async fn with_backends(only: Option<wgpu::Backends>) -> Result<Self, GpuError> {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        if let Some(only) = only {
            desc.backends &= only;
        }
        let backends = desc.backends;
        let instance = wgpu::Instance::new(desc);
        Self::from_instance(&instance, backends, None).await
    }

    /// Picks the preferred adapter of `instance`; `surface`, when given, must be presentable.
    pub async fn from_instance(
        instance: &wgpu::Instance,
        backends: wgpu::Backends,
        surface: Option<&wgpu::Surface<'_>>,
    ) -> Result<Self, GpuError> {
        let mut adapters = instance.enumerate_adapters(backends).await;
        if let Some(surface) = surface {
            adapters.retain(|a| a.is_surface_supported(surface));
        }
        adapters.sort_by_key(|a| preference(&a.get_info()));
        let Some(adapter) = adapters.into_iter().next() else {
            let backend_hint = match std::env::var("WGPU_BACKEND") {
                Ok(b) => format!(" for WGPU_BACKEND={b}"),
                Err(_) => String::new(),
            };
            return Err(GpuError::NoAdapter { backend_hint });
        };
        let info = adapter.get_info();
        let limits = adapter.limits();
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("trabecula"),
                required_features: wgpu::Features::empty(),
                required_limits: limits.clone(),
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|source| GpuError::Device {
                adapter: info.name.clone(),
                source,
            })?;
        let summary = AdapterSummary::new(&info, &device.limits(), adapter.features());
        Ok(Self {
            adapter,
            device,
            queue,
            summary,
        })
    }

    /// Largest storage binding the device accepts, in bytes.
    pub fn max_binding_bytes(&self) -> u64 {
        self.summary
            .max_storage_buffer_binding_size
            .min(self.summary.max_buffer_size)
    }

    /// Submits recorded work and waits for it to finish.
    pub fn submit_and_wait(&self, encoder: wgpu::CommandEncoder) {
        self.queue.submit([encoder.finish()]);
        self.wait();
    }

    /// Waits until the queue is idle.
    pub fn wait(&self) {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .expect("device lost while waiting for the GPU");
    }
}
