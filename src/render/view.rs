//! The view uniform every render pass reads (`shaders/render/view.wgsl`):
//! camera, lattice size, clip plane, slice overlay and colouring switches.

use super::camera::CameraFrame;

crate::gpu_struct! {
    #[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    pub struct View in "render/bone" {
        pub inv_view_proj: [[f32; 4]; 4],
        pub view_proj: [[f32; 4]; 4],
        pub eye: [f32; 4],
        pub right: [f32; 4],
        pub up: [f32; 4],
        /// x0, y0, width, height of the 3-D view in target pixels.
        pub viewport: [f32; 4],
        /// nx, ny, nz, n.
        pub grid: [u32; 4],
        /// Clip x (voxels), slice x (voxels), slice opacity, sprite radius (voxels).
        pub clip: [f32; 4],
        /// Stimulus colouring (0/1), stimulus per unit SED, slice range maximum,
        /// manual sRGB encoding (1 when the target does not encode).
        pub shade: [f32; 4],
        /// Slice field (`SliceField as u32`), colour bar (0/1), agent depth bias (0/1), unused.
        pub flags: [u32; 4],
    }
}

/// The signal field shown on the slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SliceField {
    #[default]
    None = 0,
    Rankl = 1,
    Sclerostin = 2,
    /// Mechanical stimulus relative to habitual 1 g: load factor × SED / reference.
    Stimulus = 3,
}

impl SliceField {
    pub const ALL: [SliceField; 4] = [
        SliceField::None,
        SliceField::Rankl,
        SliceField::Sclerostin,
        SliceField::Stimulus,
    ];

    pub fn label(self) -> &'static str {
        match self {
            SliceField::None => "none",
            SliceField::Rankl => "RANKL",
            SliceField::Sclerostin => "sclerostin",
            SliceField::Stimulus => "stimulus",
        }
    }
}

fn v4(v: glam::Vec3) -> [f32; 4] {
    [v.x, v.y, v.z, 0.0]
}

impl View {
    /// The uniform for `camera` over a lattice of `dims` drawn into `viewport`.
    pub fn new(camera: &CameraFrame, dims: [usize; 3], viewport: [f32; 4]) -> Self {
        Self {
            inv_view_proj: camera.inv_view_proj.to_cols_array_2d(),
            view_proj: camera.view_proj.to_cols_array_2d(),
            eye: v4(camera.eye),
            right: v4(camera.right),
            up: v4(camera.up),
            viewport,
            grid: [
                dims[0] as u32,
                dims[1] as u32,
                dims[2] as u32,
                (dims[0] * dims[1] * dims[2]) as u32,
            ],
            clip: [f32::MAX, 0.0, 0.0, 0.45],
            shade: [0.0, 0.0, 3.0, 0.0],
            flags: [0; 4],
        }
    }
}
