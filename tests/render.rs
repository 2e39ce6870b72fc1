//! The renderer, offscreen: bone in the middle of the frame, background at
//! the edges, agent sprites drawn from the agent buffers, the clip plane and
//! the slice change the image; the `render` command writes a PNG; the GPU
//! structs match their WGSL twins.

mod common;

use trabecula::lattice::Lattice;
use trabecula::render::offscreen::{Image, LatticeBuffers, Offscreen, simulate};
use trabecula::render::{Frame, Layers, OrbitCamera, SliceField};

const W: u32 = 160;
const H: u32 = 120;

/// A small unloaded scene: a procedural 24³ human lattice at 0 g.
const SCENE: &str = r#"
name = "render-test"
seed = 3
days = 3
[lattice]
species = "human"
dims = [24, 24, 24]
[loading]
gravity = 0.0
"#;

fn camera() -> OrbitCamera {
    // Far enough that the whole block sits inside the frame with a margin.
    OrbitCamera {
        distance: 3.2,
        ..Default::default()
    }
}

fn save(image: &Image, name: &str) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("render");
    image.write_png(&dir.join(name)).unwrap();
}

/// Pixels that differ from `background` by more than a little.
fn differs(a: &Image, b: &Image, x: u32, y: u32) -> bool {
    let (p, q) = (a.pixel(x, y), b.pixel(x, y));
    (0..3).any(|i| (p[i] as i32 - q[i] as i32).abs() > 8)
}

fn count(image: &Image, pred: impl Fn([u8; 4]) -> bool) -> usize {
    image
        .rgba
        .chunks_exact(4)
        .filter(|p| pred([p[0], p[1], p[2], p[3]]))
        .count()
}

/// Sprite colours, classified by hue (bone is ivory: r ≥ g ≥ b, all close).
fn is_osteoclast(p: [u8; 4]) -> bool {
    p[0] > 120 && p[1] < 70 && p[2] < 70
}
fn is_osteoblast(p: [u8; 4]) -> bool {
    p[2] > 120 && p[0] < 90 && p[2] > p[1] + 40
}
#[test]
fn offscreen_frames_show_bone_cells_clip_and_slice() {
    let ctx = common::gpu();
    let scene = trabecula::scene::parse(SCENE, "render-test", &[]).unwrap();
    let sim = simulate(&ctx, &scene, 3).unwrap();
    let [ocy, oc, ob] = &sim.state.cells;
    assert!(ocy.len > 0 && oc.len + ob.len > 0, "the scene has cells");
    let off = Offscreen::new(&ctx, W, H).unwrap();
    let frame = Frame::from_simulation(&sim);
    let cam = camera();

    // The empty block: what the background looks like under this camera.
    let empty = Lattice {
        dims: [24, 24, 24],
        voxel_size_um: 20.0,
        mineral: vec![0.0; 24 * 24 * 24],
    };
    let empty_buffers = LatticeBuffers::new(&ctx, &empty);
    let background = off
        .render(&ctx, &empty_buffers.frame(), &cam, &Layers::default())
        .unwrap();

    let layers = Layers::default();
    let full = off.render(&ctx, &frame, &cam, &layers).unwrap();
    save(&full, "full.png");
    assert_eq!((full.width, full.height), (W, H));

    // Bone fills the middle of the frame…
    let (cx, cy) = (W / 2, H / 2);
    let mut middle = 0;
    let mut total = 0;
    for y in cy - 10..cy + 10 {
        for x in cx - 10..cx + 10 {
            total += 1;
            middle += differs(&full, &background, x, y) as usize;
        }
    }
    assert!(
        middle * 2 > total,
        "bone in the middle: {middle}/{total} pixels differ from the background"
    );
    // …and the frame's border is background.
    let mut border = 0;
    let mut border_total = 0;
    for y in 0..H {
        for x in 0..W {
            if x < 3 || y < 3 || x >= W - 3 || y >= H - 3 {
                border_total += 1;
                border += differs(&full, &background, x, y) as usize;
            }
        }
    }
    assert_eq!(
        border, 0,
        "{border}/{border_total} border pixels are not background"
    );

    // Surface cells are drawn in their colours; hiding them removes those colours.
    let no_cells = off
        .render(
            &ctx,
            &frame,
            &cam,
            &Layers {
                cells: [false; 3],
                ..layers
            },
        )
        .unwrap();
    save(&no_cells, "no_cells.png");
    let clasts = count(&full, is_osteoclast);
    let blasts = count(&full, is_osteoblast);
    assert!(
        clasts + blasts >= 4,
        "surface cells visible: {clasts} osteoclast and {blasts} osteoblast pixels"
    );
    assert!(
        count(&no_cells, is_osteoclast) + count(&no_cells, is_osteoblast) < (clasts + blasts) / 4,
        "hiding the cells removes their colours"
    );
    // With a handful of cells some may all sit behind bone; with ten or more, some show.
    if oc.len >= 10 {
        assert!(clasts > 0, "{} osteoclasts exist but none is drawn", oc.len);
    }
    if ob.len >= 10 {
        assert!(blasts > 0, "{} osteoblasts exist but none is drawn", ob.len);
    }

    // Osteocytes are embedded: through the bone (x-ray, translucent) they
    // tint many more pixels green or magenta than the surface ones alone.
    let xray = off
        .render(
            &ctx,
            &frame,
            &cam,
            &Layers {
                xray_osteocytes: true,
                ..layers
            },
        )
        .unwrap();
    save(&xray, "xray.png");
    let tinted = |p: [u8; 4]| p[1] as i32 > p[0] as i32 + 15 || p[2] as i32 > p[1] as i32 + 40;
    assert!(
        count(&xray, tinted) > count(&full, tinted) + 50,
        "x-ray osteocytes: {} vs {} tinted pixels",
        count(&xray, tinted),
        count(&full, tinted)
    );

    // The clip plane changes the image, and clipping everything leaves background.
    let clipped = off
        .render(
            &ctx,
            &frame,
            &cam,
            &Layers {
                clip: Some(0.5),
                ..layers
            },
        )
        .unwrap();
    save(&clipped, "clip_half.png");
    let changed = (0..H)
        .flat_map(|y| (0..W).map(move |x| (x, y)))
        .filter(|&(x, y)| differs(&clipped, &full, x, y))
        .count();
    assert!(
        changed as u32 > W * H / 50,
        "moving the clip plane changed only {changed} pixels"
    );
    let clipped_all = off
        .render(
            &ctx,
            &frame,
            &cam,
            &Layers {
                clip: Some(0.0),
                ..layers
            },
        )
        .unwrap();
    let left = (0..H)
        .flat_map(|y| (0..W).map(move |x| (x, y)))
        .filter(|&(x, y)| differs(&clipped_all, &background, x, y))
        .count();
    assert_eq!(left, 0, "clip at 0 hides all bone and cells");

    // The RANKL slice tints the block and draws its colour bar.
    let sliced = off
        .render(
            &ctx,
            &frame,
            &cam,
            &Layers {
                slice: SliceField::Rankl,
                ..layers
            },
        )
        .unwrap();
    save(&sliced, "slice_rankl.png");
    let tinted = (0..H)
        .flat_map(|y| (0..W).map(move |x| (x, y)))
        .filter(|&(x, y)| differs(&sliced, &full, x, y))
        .count();
    assert!(
        tinted as u32 > W * H / 50,
        "the slice changed {tinted} pixels"
    );
}

#[test]
fn a_lattice_alone_renders_and_the_camera_orbits() {
    let ctx = common::gpu();
    // A solid slab in the lower half of the block.
    let n = 16;
    let mineral = (0..n * n * n)
        .map(|i| if i / (n * n) < n / 2 { 1.0 } else { 0.0 })
        .collect();
    let lattice = Lattice {
        dims: [n, n, n],
        voxel_size_um: 20.0,
        mineral,
    };
    let buffers = LatticeBuffers::new(&ctx, &lattice);
    let off = Offscreen::new(&ctx, 96, 72).unwrap();
    let side = OrbitCamera {
        elevation_deg: 0.0,
        distance: 3.0,
        ..Default::default()
    };
    let image = off
        .render(&ctx, &buffers.frame(), &side, &Layers::default())
        .unwrap();
    save(&image, "slab_side.png");
    // Seen from the side, the slab is the lower half: bone below the middle, none above.
    let lum = |p: [u8; 4]| p[0] as u32 + p[1] as u32 + p[2] as u32;
    let below = lum(image.pixel(48, 36 + 8));
    let above = lum(image.pixel(48, 36 - 8));
    assert!(
        below > above + 60,
        "slab below (lum {below}) and empty above (lum {above})"
    );
    // Orbiting by 180° mirrors the view of a symmetric slab: same luminance profile.
    let behind = off
        .render(
            &ctx,
            &buffers.frame(),
            &OrbitCamera {
                azimuth_deg: side.azimuth_deg + 180.0,
                ..side
            },
            &Layers::default(),
        )
        .unwrap();
    let column = |im: &Image| {
        (0..72)
            .map(|y| lum(im.pixel(48, y)) > 150)
            .collect::<Vec<_>>()
    };
    assert_eq!(column(&image), column(&behind));
}

#[test]
fn camera_looks_at_the_block_centre() {
    let cam = OrbitCamera::default();
    let dims = [40, 30, 20];
    let f = cam.frame(dims, 4.0 / 3.0);
    let centre = glam::Vec3::new(20.0, 15.0, 10.0);
    let p = f.view_proj * centre.extend(1.0);
    let ndc = p.truncate() / p.w;
    assert!(
        ndc.x.abs() < 1e-4 && ndc.y.abs() < 1e-4,
        "centre at {ndc:?}"
    );
    assert!((0.0..1.0).contains(&ndc.z));
    // Every block corner is in front of the camera and inside the depth range.
    for c in 0..8 {
        let corner = glam::Vec3::new(
            if c & 1 != 0 { 40.0 } else { 0.0 },
            if c & 2 != 0 { 30.0 } else { 0.0 },
            if c & 4 != 0 { 20.0 } else { 0.0 },
        );
        let q = f.view_proj * corner.extend(1.0);
        assert!(
            q.w > 0.0 && (0.0..=1.0).contains(&(q.z / q.w)),
            "corner {corner}"
        );
    }
}

#[test]
fn render_command_writes_a_png() {
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("tiny.toml");
    std::fs::write(&scene, SCENE).unwrap();
    let out = dir.path().join("frame.png");
    let status = std::process::Command::new(common::bin())
        .args(["render"])
        .arg(&scene)
        .args([
            "--day", "1", "--width", "80", "--height", "60", "--clip", "0.6",
        ])
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&out).unwrap()));
    let reader = decoder.read_info().unwrap();
    let info = reader.info();
    assert_eq!((info.width, info.height), (80, 60));
}

/// The teaching annotations: four links of the chain, and in a scene with
/// a body two more, lit once calcium leaves bone and PTH has fallen.
#[test]
fn the_annotated_chain_follows_the_calcium_into_the_body() {
    use trabecula::render::app::causal_chain;
    use trabecula::sim::StepReport;
    use trabecula::sim::systemic::BodyReport;
    let rest = BodyReport {
        serum_ca_mmol_per_l: 2.35,
        pth_pg_per_ml: 36.0,
        calcitriol_pmol_per_l: 90.0,
        ca_absorption_fraction: 0.15,
        urinary_ca_mg_per_day: 148.0,
        ..Default::default()
    };
    let day0 = StepReport {
        bv_tv: 0.2,
        load_factor: 1.0,
        gravity: 1.0,
        body: Some(rest),
        ..Default::default()
    };
    let flight = |release: f64, pth: f64| StepReport {
        bv_tv: 0.19,
        load_factor: 0.04,
        body: Some(BodyReport {
            bone_ca_release_mg_per_day: release,
            serum_ca_mmol_per_l: 2.39,
            pth_pg_per_ml: pth,
            urinary_ca_mg_per_day: 230.0,
            ..rest
        }),
        ..day0
    };
    let lines = causal_chain(&flight(150.0, 30.5), &day0, &day0);
    assert_eq!(lines.len(), 6);
    let (text, lit) = &lines[4];
    assert!(*lit && lines[5].1, "{text}");
    assert!(
        lines[5].0.contains("urine 230 mg/day (day 0 148)"),
        "{}",
        lines[5].0
    );
    assert!(
        text.contains("+150 mg/day") && text.contains("PTH 30.5"),
        "{text}"
    );
    // Balanced bone, or PTH not down: the loop is not running.
    assert!(!causal_chain(&flight(0.0, 30.5), &day0, &day0)[4].1);
    assert!(!causal_chain(&flight(150.0, 36.0), &day0, &day0)[4].1);
    // No body (a mouse scene): the four cell links only.
    let mouse = StepReport { body: None, ..day0 };
    assert_eq!(causal_chain(&mouse, &mouse, &mouse).len(), 4);
}
