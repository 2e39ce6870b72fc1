// The view every render pass shares: camera, lattice size, clip plane, slice
// overlay and colouring switches. Its Rust twin `View` (src/render/view.rs)
// is compared field by field in tests/shaders.rs. World units are voxels; voxel (i,j,k) fills [i,i+1)×….

#import common/constants

struct View {
    inv_view_proj: mat4x4<f32>,
    view_proj: mat4x4<f32>,
    eye: vec4<f32>,          // camera position (xyz)
    right: vec4<f32>,        // camera right axis (xyz), for sprites
    up: vec4<f32>,           // camera up axis (xyz)
    viewport: vec4<f32>,     // x0, y0, width, height of the 3-D view in pixels
    grid: vec4<u32>,         // nx, ny, nz, n
    clip: vec4<f32>,         // clip x (voxels; bone and agents with x > clip hidden), slice x, slice alpha, sprite radius (voxels)
    shade: vec4<f32>,        // stimulus colouring on/off, stimulus per SED unit, slice range max, target needs manual sRGB encode
    flags: vec4<u32>,        // slice field (0 none, 1 RANKL, 2 sclerostin, 3 stimulus), colour bar on, agent depth bias on, 0
}

const SLICE_NONE: u32 = 0u;
const SLICE_STIMULUS: u32 = 3u;

// Linear → sRGB when the target does not encode (a non-sRGB surface).
fn encode_output(c: vec3<f32>, manual_srgb: f32) -> vec3<f32> {
    if manual_srgb > 0.5 {
        let lo = c * 12.92;
        let hi = 1.055 * pow(c, vec3<f32>(1.0 / 2.4)) - 0.055;
        return select(hi, lo, c <= vec3<f32>(0.0031308));
    }
    return c;
}

// A perceptual colour map (viridis, polynomial fit), t in [0, 1], linear RGB.
fn viridis(t_in: f32) -> vec3<f32> {
    let t = clamp(t_in, 0.0, 1.0);
    let c0 = vec3<f32>(0.2777, 0.0054, 0.3341);
    let c1 = vec3<f32>(0.1050, 1.4046, 1.3846);
    let c2 = vec3<f32>(-0.3309, 0.2148, 0.0951);
    let c3 = vec3<f32>(-4.6342, -5.7991, -19.3324);
    let c4 = vec3<f32>(6.2283, 14.1799, 56.6906);
    let c5 = vec3<f32>(4.7764, -13.7451, -65.3530);
    let c6 = vec3<f32>(-5.4355, 4.6459, 26.3124);
    let srgb = c0 + t * (c1 + t * (c2 + t * (c3 + t * (c4 + t * (c5 + t * c6)))));
    // The fit is in sRGB; shading works in linear light.
    return pow(clamp(srgb, vec3<f32>(0.0), vec3<f32>(1.0)), vec3<f32>(2.2));
}
