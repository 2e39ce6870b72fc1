//! The orbit camera: azimuth and elevation about the block's centre (z up,
//! the habitual loading axis), a distance in lattice sizes, and a pan.
//! World units are voxels.

use glam::{Mat4, Vec3};

/// An orbit camera around the lattice block.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OrbitCamera {
    /// Angle about z from +x, degrees.
    pub azimuth_deg: f32,
    /// Angle above the x–y plane, degrees (kept within ±89).
    pub elevation_deg: f32,
    /// Eye distance from the target, in multiples of the block's largest edge.
    pub distance: f32,
    /// Offset of the target from the block's centre, voxels.
    pub pan: Vec3,
    /// Vertical field of view, degrees.
    pub fov_y_deg: f32,
}

impl Default for OrbitCamera {
    fn default() -> Self {
        Self {
            azimuth_deg: -60.0,
            elevation_deg: 22.0,
            distance: 2.7,
            pan: Vec3::ZERO,
            fov_y_deg: 35.0,
        }
    }
}

/// What the passes need from a camera for one frame.
#[derive(Debug, Clone, Copy)]
pub struct CameraFrame {
    pub view_proj: Mat4,
    pub inv_view_proj: Mat4,
    pub eye: Vec3,
    pub right: Vec3,
    pub up: Vec3,
}

impl OrbitCamera {
    /// Rotates by mouse motion (degrees).
    pub fn orbit(&mut self, d_azimuth_deg: f32, d_elevation_deg: f32) {
        self.azimuth_deg = (self.azimuth_deg + d_azimuth_deg).rem_euclid(360.0);
        self.elevation_deg = (self.elevation_deg + d_elevation_deg).clamp(-89.0, 89.0);
    }

    /// Zooms by a factor (< 1 closer), within sensible bounds.
    pub fn zoom(&mut self, factor: f32) {
        self.distance = (self.distance * factor).clamp(0.3, 20.0);
    }

    /// Pans by a screen-space motion given as fractions of the view height.
    pub fn pan_screen(&mut self, dims: [usize; 3], dx: f32, dy: f32) {
        let f = self.frame(dims, 1.0);
        let scale = self.eye_distance(dims) * (self.fov_y_deg.to_radians() * 0.5).tan() * 2.0;
        self.pan += (-f.right * dx + f.up * dy) * scale;
    }

    fn extent(dims: [usize; 3]) -> f32 {
        dims.iter().copied().max().unwrap_or(1).max(1) as f32
    }

    fn eye_distance(&self, dims: [usize; 3]) -> f32 {
        self.distance * Self::extent(dims)
    }

    /// Matrices for a lattice of `dims` seen in a view of `aspect` = width / height.
    pub fn frame(&self, dims: [usize; 3], aspect: f32) -> CameraFrame {
        let centre = Vec3::new(dims[0] as f32, dims[1] as f32, dims[2] as f32) * 0.5;
        let target = centre + self.pan;
        let (az, el) = (
            self.azimuth_deg.to_radians(),
            self.elevation_deg.clamp(-89.0, 89.0).to_radians(),
        );
        let dir = Vec3::new(el.cos() * az.cos(), el.cos() * az.sin(), el.sin());
        let dist = self.eye_distance(dims);
        let eye = target + dir * dist;
        let view = Mat4::look_at_rh(eye, target, Vec3::Z);
        let diagonal = Vec3::new(dims[0] as f32, dims[1] as f32, dims[2] as f32).length();
        // Near and far bracket the whole block wherever the eye is.
        let near = (dist - diagonal).max(dist * 0.02).max(0.05);
        let far = dist + diagonal + 1.0;
        let proj = Mat4::perspective_rh(self.fov_y_deg.to_radians(), aspect.max(1e-3), near, far);
        let view_proj = proj * view;
        let forward = (target - eye).normalize();
        let right = forward.cross(Vec3::Z).normalize();
        let up = right.cross(forward);
        CameraFrame {
            view_proj,
            inv_view_proj: view_proj.inverse(),
            eye,
            right,
            up,
        }
    }
}
