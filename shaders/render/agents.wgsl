// Agent sprites: one camera-facing disc per agent, instanced straight from a
// simulation agent buffer (instance i = agent i, 6 vertices per quad), at its
// voxel centre, coloured by cell type and state, depth-tested against the bone.
#import render/view
#import common/lattice
#import common/agents

struct Sprites {
    kind: u32,      // 0 osteocytes, 1 osteoclasts, 2 osteoblasts (buffer order)
    xray: u32,      // 1: drawn through bone, translucent
    _pad0: u32,
    _pad1: u32,
    // Linear RGB in legend order: live osteocyte, apoptotic osteocyte,
    // osteoclast, osteoblast (render::agents::AGENT_COLOURS).
    colours: array<vec4<f32>, 4>,
}

@group(0) @binding(0) var<uniform> view: View;
@group(0) @binding(1) var<storage, read> agents: array<Agent>;
@group(0) @binding(2) var<uniform> sprites: Sprites;

struct VsOut {
    @builtin(position) position: vec4<f32>,
    @location(0) corner: vec2<f32>,
    @location(1) colour: vec4<f32>,
}

// The legend slot of a cell: osteocytes by state, then osteoclasts, osteoblasts.
fn agent_colour(kind: u32, state: u32) -> vec3<f32> {
    if kind == 0u {
        return sprites.colours[select(0u, 1u, state == STATE_APOPTOTIC)].rgb;
    }
    return sprites.colours[kind + 1u].rgb;
}

@vertex
fn vs_main(@builtin(vertex_index) vi: u32, @builtin(instance_index) ii: u32) -> VsOut {
    var out: VsOut;
    let a = agents[ii];
    let g = Grid(view.grid.x, view.grid.y, view.grid.z, view.grid.w);
    let centre = vec3<f32>(voxel_coords(g, a.voxel)) + 0.5;
    // Two triangles: corners in [-1, 1]².
    var corners = array<vec2<f32>, 6>(
        vec2<f32>(-1.0, -1.0), vec2<f32>(1.0, -1.0), vec2<f32>(1.0, 1.0),
        vec2<f32>(-1.0, -1.0), vec2<f32>(1.0, 1.0), vec2<f32>(-1.0, 1.0),
    );
    let c = corners[vi % 6u];
    out.corner = c;
    var r = view.clip.w;
    // An osteoclast precursor (negative age, not yet resorbing): half size.
    if sprites.kind == KIND_OSTEOCLAST && is_precursor(a) { r *= 0.5; }
    // Pulled one voxel toward the camera so cells in surface voxels (and
    // on the marrow side) are not hidden by the surface they sit on.
    var pos = centre;
    if view.flags.z != 0u {
        pos = pos + normalize(view.eye.xyz - centre) * 1.0;
    }
    pos = pos + (view.right.xyz * c.x + view.up.xyz * c.y) * r;
    out.position = view.view_proj * vec4<f32>(pos, 1.0);
    if centre.x > view.clip.x || a.voxel >= view.grid.w {
        // Beyond the clip plane: outside the clip volume, so never drawn.
        out.position = vec4<f32>(0.0, 0.0, 2.0, 1.0);
    }
    let alpha = select(1.0, 0.55, sprites.xray != 0u);
    out.colour = vec4<f32>(agent_colour(sprites.kind, a.state), alpha);
    return out;
}

@fragment
fn fs_main(in: VsOut) -> @location(0) vec4<f32> {
    let r2 = dot(in.corner, in.corner);
    if r2 > 1.0 {
        discard;
    }
    // Shade the disc like a sphere lit from the camera.
    let nz = sqrt(1.0 - r2);
    let c = in.colour.rgb * (0.45 + 0.55 * nz);
    return vec4<f32>(encode_output(c, view.shade.w), in.colour.a);
}
