// The bone pass: one full-screen triangle; each pixel ray-marches the
// `mineral` lattice (voxel DDA, then a trilinear search for mineral = BONE_THRESHOLD
// inside the first bone voxel), shades the hit by its gradient normal, writes
// its depth for the agent sprites, and blends the signal slice and colour bar.
#import render/view

@group(0) @binding(0) var<uniform> view: View;
@group(0) @binding(1) var<storage, read> mineral: array<f32>;
@group(0) @binding(2) var<storage, read> sed: array<f32>;
@group(0) @binding(3) var<storage, read> slice_field: array<f32>;

struct VsOut {
    @builtin(position) position: vec4<f32>,
}

@vertex
fn vs_main(@builtin(vertex_index) i: u32) -> VsOut {
    // A triangle that covers the viewport: (-1,-1), (3,-1), (-1,3).
    let uv = vec2<f32>(f32((i << 1u) & 2u), f32(i & 2u));
    var out: VsOut;
    out.position = vec4<f32>(uv * 2.0 - 1.0, 0.0, 1.0);
    return out;
}

struct FsOut {
    @location(0) colour: vec4<f32>,
    @builtin(frag_depth) depth: f32,
}

fn dims_i() -> vec3<i32> {
    return vec3<i32>(view.grid.xyz);
}

fn index_of(v: vec3<i32>) -> u32 {
    let d = dims_i();
    let c = clamp(v, vec3<i32>(0), d - 1);
    return u32(c.x) + view.grid.x * (u32(c.y) + view.grid.y * u32(c.z));
}

fn mineral_at(v: vec3<i32>) -> f32 {
    return mineral[index_of(v)];
}

// Trilinear mineral with samples at voxel centres (clamped at the block faces).
fn density(p: vec3<f32>) -> f32 {
    let q = p - 0.5;
    let b = vec3<i32>(floor(q));
    let f = q - floor(q);
    let c000 = mineral_at(b);
    let c100 = mineral_at(b + vec3<i32>(1, 0, 0));
    let c010 = mineral_at(b + vec3<i32>(0, 1, 0));
    let c110 = mineral_at(b + vec3<i32>(1, 1, 0));
    let c001 = mineral_at(b + vec3<i32>(0, 0, 1));
    let c101 = mineral_at(b + vec3<i32>(1, 0, 1));
    let c011 = mineral_at(b + vec3<i32>(0, 1, 1));
    let c111 = mineral_at(b + vec3<i32>(1, 1, 1));
    let x00 = mix(c000, c100, f.x);
    let x10 = mix(c010, c110, f.x);
    let x01 = mix(c001, c101, f.x);
    let x11 = mix(c011, c111, f.x);
    return mix(mix(x00, x10, f.y), mix(x01, x11, f.y), f.z);
}

fn gradient(p: vec3<f32>) -> vec3<f32> {
    // One voxel: wide enough to smooth the binary lattice's staircase.
    let e = 1.0;
    return vec3<f32>(
        density(p + vec3<f32>(e, 0.0, 0.0)) - density(p - vec3<f32>(e, 0.0, 0.0)),
        density(p + vec3<f32>(0.0, e, 0.0)) - density(p - vec3<f32>(0.0, e, 0.0)),
        density(p + vec3<f32>(0.0, 0.0, e)) - density(p - vec3<f32>(0.0, 0.0, e)),
    );
}

fn background(y: f32) -> vec3<f32> {
    let t = clamp((y - view.viewport.y) / view.viewport.w, 0.0, 1.0);
    return mix(vec3<f32>(0.045, 0.05, 0.07), vec3<f32>(0.008, 0.009, 0.014), t);
}

// Diverging map for the mechanical stimulus relative to habitual (1 = 1 g).
fn stimulus_colour(s: f32) -> vec3<f32> {
    let cold = vec3<f32>(0.10, 0.25, 0.85);
    let mid = vec3<f32>(0.85, 0.80, 0.70);
    let hot = vec3<f32>(0.85, 0.12, 0.08);
    if s < 1.0 {
        return mix(cold, mid, clamp(s, 0.0, 1.0));
    }
    return mix(mid, hot, clamp(s - 1.0, 0.0, 1.0));
}

fn slice_value(v: vec3<i32>) -> f32 {
    let x = slice_field[index_of(v)];
    if view.flags.x == SLICE_STIMULUS {
        return x * view.shade.y;
    }
    return x;
}

struct Hit {
    found: bool,
    t: f32,
    normal: vec3<f32>,
    voxel: vec3<i32>,
}

// First bone surface along o + t·d for t in [t0, t1] (t0 at the block entry).
fn march(o: vec3<f32>, d: vec3<f32>, t0: f32, t1: f32, entry_normal: vec3<f32>) -> Hit {
    var hit: Hit;
    hit.found = false;
    let dims = dims_i();
    let p0 = o + d * t0;
    var v = clamp(vec3<i32>(floor(p0)), vec3<i32>(0), dims - 1);
    let step = vec3<i32>(sign(d));
    let inv = 1.0 / select(d, vec3<f32>(1e-20), abs(d) < vec3<f32>(1e-20));
    let next_face = vec3<f32>(v) + select(vec3<f32>(0.0), vec3<f32>(1.0), d > vec3<f32>(0.0));
    // An axis the ray does not move along never has the nearest face.
    var t_max = select((next_face - o) * inv, vec3<f32>(1e30), abs(d) < vec3<f32>(1e-20));
    let t_delta = abs(inv);
    var t_in = t0;
    var first = true;
    let max_steps = dims.x + dims.y + dims.z + 3;
    for (var s = 0; s < max_steps; s = s + 1) {
        if any(v < vec3<i32>(0)) || any(v >= dims) || t_in > t1 {
            break;
        }
        let t_out = min(min(t_max.x, t_max.y), min(t_max.z, t1));
        if mineral_at(v) >= BONE_THRESHOLD {
            if first {
                // The ray enters bone through a face of the block or the clip
                // plane: show the cut section, flat.
                hit.found = true;
                hit.t = t_in;
                hit.normal = entry_normal;
                hit.voxel = v;
                return hit;
            }
            // Search the iso-surface of the trilinear field inside this voxel.
            var ta = t_in;
            var fa = density(o + d * ta);
            var found = fa >= BONE_THRESHOLD;
            var tb = ta;
            if !found {
                // Five samples across the voxel: the iso-surface of a binary
                // lattice sits within half a voxel of the voxel faces.
                for (var k = 1; k <= 5; k = k + 1) {
                    tb = mix(t_in, t_out, f32(k) / 5.0);
                    let fb = density(o + d * tb);
                    if fb >= BONE_THRESHOLD {
                        found = true;
                        break;
                    }
                    ta = tb;
                }
                if found {
                    for (var b = 0; b < 5; b = b + 1) {
                        let tm = 0.5 * (ta + tb);
                        if density(o + d * tm) >= BONE_THRESHOLD {
                            tb = tm;
                        } else {
                            ta = tm;
                        }
                    }
                }
            }
            if found {
                let t = select(tb, ta, fa >= BONE_THRESHOLD);
                let g = gradient(o + d * t);
                hit.found = true;
                hit.t = t;
                hit.normal = select(-normalize(g), entry_normal, dot(g, g) < 1e-8);
                hit.voxel = v;
                return hit;
            }
        }
        first = false;
        // Step to the next voxel along the axis whose face is nearest.
        t_in = t_out;
        if t_max.x <= t_max.y && t_max.x <= t_max.z {
            v.x = v.x + step.x;
            t_max.x = t_max.x + t_delta.x;
        } else if t_max.y <= t_max.z {
            v.y = v.y + step.y;
            t_max.y = t_max.y + t_delta.y;
        } else {
            v.z = v.z + step.z;
            t_max.z = t_max.z + t_delta.z;
        }
    }
    return hit;
}

@fragment
fn fs_main(@builtin(position) frag: vec4<f32>) -> FsOut {
    var out: FsOut;
    let px = frag.xy;
    let manual_srgb = view.shade.w;
    var colour = background(px.y);
    out.depth = 1.0;

    // The ray through this pixel, from the camera.
    let ndc = vec2<f32>(
        2.0 * (px.x - view.viewport.x) / view.viewport.z - 1.0,
        1.0 - 2.0 * (px.y - view.viewport.y) / view.viewport.w,
    );
    let near_h = view.inv_view_proj * vec4<f32>(ndc, 0.0, 1.0);
    let far_h = view.inv_view_proj * vec4<f32>(ndc, 1.0, 1.0);
    let o = view.eye.xyz;
    let d = normalize(far_h.xyz / far_h.w - near_h.xyz / near_h.w);

    // Slab test against the block, cut at the clip plane x = clip.
    let lo = vec3<f32>(0.0);
    let hi = vec3<f32>(min(f32(view.grid.x), view.clip.x), f32(view.grid.y), f32(view.grid.z));
    let inv = 1.0 / select(d, vec3<f32>(1e-20), abs(d) < vec3<f32>(1e-20));
    let ta = (lo - o) * inv;
    let tb = (hi - o) * inv;
    let tmin3 = min(ta, tb);
    let tmax3 = max(ta, tb);
    let t0 = max(max(max(tmin3.x, tmin3.y), tmin3.z), 0.0);
    let t1 = min(min(tmax3.x, tmax3.y), tmax3.z);
    var t_hit = 1e30;
    if t0 < t1 && hi.x > 0.0 {
        // The face the ray enters through: the largest of the entry times.
        var entry_normal = vec3<f32>(-sign(d.x), 0.0, 0.0);
        if tmin3.y >= tmin3.x && tmin3.y >= tmin3.z {
            entry_normal = vec3<f32>(0.0, -sign(d.y), 0.0);
        } else if tmin3.z >= tmin3.x && tmin3.z >= tmin3.y {
            entry_normal = vec3<f32>(0.0, 0.0, -sign(d.z));
        }
        // Nudge inside so the first voxel is the one entered.
        let hit = march(o, d, t0 + 1e-4, t1, entry_normal);
        if hit.found {
            t_hit = hit.t;
            let p = o + d * hit.t;
            var n = hit.normal;
            if dot(n, d) > 0.0 {
                n = -n;
            }
            var base = vec3<f32>(0.80, 0.74, 0.62);
            if view.shade.x > 0.5 {
                base = stimulus_colour(sed[index_of(hit.voxel)] * view.shade.y);
            }
            // A key light over the camera's shoulder, a fill light and ambient.
            let key = normalize(view.up.xyz * 0.6 + view.right.xyz * 0.3 - d);
            let fill = normalize(-view.right.xyz - view.up.xyz * 0.2 - d * 0.5);
            let diffuse = 0.75 * max(dot(n, key), 0.0) + 0.2 * max(dot(n, fill), 0.0);
            let half_v = normalize(key - d);
            let spec = 0.15 * pow(max(dot(n, half_v), 0.0), 24.0);
            colour = base * (0.18 + diffuse) + vec3<f32>(spec);
            let clip_pos = view.view_proj * vec4<f32>(p, 1.0);
            out.depth = clamp(clip_pos.z / clip_pos.w, 0.0, 1.0);
        }
    }

    // The signal slice: a translucent plane x = slice through the block.
    if view.flags.x != SLICE_NONE {
        let xs = view.clip.y;
        let ts = (xs - o.x) * inv.x;
        if ts > 0.0 && ts < t_hit && xs <= view.clip.x {
            let q = o + d * ts;
            if all(q.yz >= vec2<f32>(0.0)) && all(q.yz <= vec2<f32>(f32(view.grid.y), f32(view.grid.z))) {
                let v = vec3<i32>(floor(q));
                let value = slice_value(v) / max(view.shade.z, 1e-6);
                colour = mix(colour, viridis(value), view.clip.z);
            }
        }
    }

    // The colour bar of the slice, at the right edge of the view.
    if view.flags.x != SLICE_NONE && view.flags.y != 0u {
        let x0 = view.viewport.x + view.viewport.z - 30.0;
        let y0 = view.viewport.y + 0.2 * view.viewport.w;
        let y1 = view.viewport.y + 0.8 * view.viewport.w;
        if px.x >= x0 && px.x <= x0 + 14.0 && px.y >= y0 && px.y <= y1 {
            colour = viridis((y1 - px.y) / (y1 - y0));
            out.depth = 0.0;
        } else if px.x >= x0 - 1.0 && px.x <= x0 + 15.0 && px.y >= y0 - 1.0 && px.y <= y1 + 1.0 {
            colour = vec3<f32>(0.8);
            out.depth = 0.0;
        }
    }

    out.colour = vec4<f32>(encode_output(colour, manual_srgb), 1.0);
    return out;
}
