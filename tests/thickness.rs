//! The two thickness conventions of Tb.Th and Tb.Sp (`face-to-face`, the
//! default, and `centre-to-centre`) on a known plate and a known rod:
//! through the library, through `trabecula morph --json`, in a run's scene,
//! and against ormir-xct and bone-microarchitecture when they are installed
//! (`python3 -m pip install ormir-xct bone-microarchitecture`).
//!
//! With d the distance from a voxel centre to the nearest voxel centre of
//! the other phase, the maximal ball there holds the centres nearer than d
//! and is 2·d − 1 voxels across face-to-face, 2·d centre-to-centre.
//!
//! The plate: 5 voxels thick (z = 10..14) across a 20 × 20 × 25 block of
//! 20 µm voxels. Its middle layer is d = 3 from the marrow at z = 9 and 15,
//! and that ball holds all five layers: Tb.Th = 2·3 − 1 = 5 voxels = 100 µm
//! face-to-face, 2·3 = 6 voxels = 120 µm centre-to-centre. The marrow on
//! either side is 10 voxels deep with the block face beyond, which bounds
//! neither phase: the ball centred on the face layer (z = 0) is d = 10 from
//! the plate and holds the whole layer, so Tb.Sp = 19 voxels = 380 µm
//! face-to-face, 20 voxels = 400 µm centre-to-centre.
//!
//! The rod: along z through a 23 × 23 × 40 block, the voxels with
//! (x − 11)² + (y − 11)² ≤ 5.5² (diameter 11 voxels), so every bone voxel
//! has ρ² ≤ 30. The nearest marrow centre to the axis is at ρ² = 32 (31 is no
//! sum of two squares; 32 = 4² + 4²), so the axis balls, d = √32, hold every
//! bone voxel (ρ² ≤ 30 < 32) and no ball is larger: Tb.Th = 2√32 − 1 =
//! 10.3137 voxels = 206.27 µm face-to-face, 2√32 = 11.3137 voxels =
//! 226.27 µm centre-to-centre.

use std::path::Path;
use std::process::Command;

use trabecula::io::mhd::{Volume, VolumeData};
use trabecula::morph::{
    ThicknessConvention, local_thickness, local_thickness_with, morphometry, morphometry_with,
};

mod common;

const H_UM: f64 = 20.0;

/// The block dims (x, y, z) and bone mask (x fastest) of the plate.
fn plate() -> ([usize; 3], Vec<bool>) {
    let dims = [20, 20, 25];
    let v = (0..dims.iter().product::<usize>())
        .map(|i| (10..15).contains(&(i / (dims[0] * dims[1]))))
        .collect();
    (dims, v)
}

/// The block dims (x, y, z) and bone mask (x fastest) of the rod.
fn rod() -> ([usize; 3], Vec<bool>) {
    let dims = [23, 23, 40];
    let v = (0..dims.iter().product::<usize>())
        .map(|i| {
            let (x, y) = ((i % dims[0]) as f64, ((i / dims[0]) % dims[1]) as f64);
            (x - 11.0).powi(2) + (y - 11.0).powi(2) <= 5.5 * 5.5
        })
        .collect();
    (dims, v)
}

/// Tb.Th and Tb.Sp, µm, per shape and convention (derived above; Tb.Sp of
/// the rod is not derived, NaN).
fn expected(shape: &str, convention: ThicknessConvention) -> (f64, f64) {
    let extra = match convention {
        ThicknessConvention::FaceToFace => 0.0,
        ThicknessConvention::CentreToCentre => 1.0,
    };
    match shape {
        "plate" => ((5.0 + extra) * H_UM, (19.0 + extra) * H_UM),
        "rod" => ((2.0 * 32f64.sqrt() - 1.0 + extra) * H_UM, f64::NAN),
        _ => unreachable!(),
    }
}

fn shapes() -> [(&'static str, [usize; 3], Vec<bool>); 2] {
    let (pd, pv) = plate();
    let (rd, rv) = rod();
    [("plate", pd, pv), ("rod", rd, rv)]
}

/// Our maps are f32: 2·√32 is within 1e-7 of itself there.
fn close(got: f64, want: f64, rel: f64) -> bool {
    (got / want - 1.0).abs() <= rel
}

#[test]
fn names_and_descriptions() {
    assert_eq!(
        ThicknessConvention::default(),
        ThicknessConvention::FaceToFace
    );
    for (c, name) in ThicknessConvention::ALL
        .into_iter()
        .zip(["face-to-face", "centre-to-centre"])
    {
        assert_eq!(c.name(), name);
        assert_eq!(c.to_string(), name);
        assert_eq!(serde_json::to_value(c).unwrap(), name);
        assert!(c.description().contains("voxel"), "{}", c.description());
    }
}

#[test]
fn known_plate_and_rod_in_both_conventions() {
    for (shape, dims, v) in shapes() {
        let mut th = Vec::new();
        for c in ThicknessConvention::ALL {
            let m = morphometry_with(&v, dims, H_UM, c);
            let (want_th, want_sp) = expected(shape, c);
            eprintln!(
                "{shape} {c}: Tb.Th {} µm (expected {want_th}), Tb.Sp {} µm, Tb.N {} /mm",
                m.tb_th_um, m.tb_sp_um, m.tb_n_per_mm
            );
            assert!(
                close(m.tb_th_um, want_th, 1e-6),
                "{shape} {c}: Tb.Th {}",
                m.tb_th_um
            );
            if want_sp.is_finite() {
                assert!(
                    close(m.tb_sp_um, want_sp, 1e-6),
                    "{shape} {c}: Tb.Sp {}",
                    m.tb_sp_um
                );
            }
            // Tb.N follows the convention of Tb.Th and Tb.Sp.
            assert!(close(
                m.tb_n_per_mm,
                1000.0 / (m.tb_th_um + m.tb_sp_um),
                1e-12
            ));
            th.push(m);
        }
        let (f2f, c2c) = (th[0], th[1]);
        // Every voxel's ball is one voxel wider: the means are one voxel more.
        assert!((c2c.tb_th_um - f2f.tb_th_um - H_UM).abs() < 1e-3, "{shape}");
        assert!((c2c.tb_sp_um - f2f.tb_sp_um - H_UM).abs() < 1e-3, "{shape}");
        // The rest does not depend on the convention.
        assert_eq!(f2f.bv_tv, c2c.bv_tv);
        assert_eq!(f2f.bs_bv_per_mm, c2c.bs_bv_per_mm);
        assert_eq!(f2f.euler_characteristic, c2c.euler_characteristic);
        // The default is face-to-face, as before the conventions were named.
        assert_eq!(morphometry(&v, dims, H_UM), f2f, "{shape}");
        assert_eq!(
            local_thickness(&v, dims),
            local_thickness_with(&v, dims, ThicknessConvention::FaceToFace)
        );
        // Voxel by voxel: exactly one more where there is bone.
        let a = local_thickness_with(&v, dims, ThicknessConvention::FaceToFace);
        let b = local_thickness_with(&v, dims, ThicknessConvention::CentreToCentre);
        for ((a, b), bone) in a.iter().zip(&b).zip(&v) {
            if *bone {
                assert!((b - a - 1.0).abs() < 1e-5, "{shape}: {a} vs {b}");
            } else {
                assert_eq!((*a, *b), (0.0, 0.0));
            }
        }
    }
    // A phase with no other phase in the block: the block's extent, +1 voxel
    // centre-to-centre (a slab of that many voxels).
    let all = vec![true; 6 * 7 * 8];
    let f = local_thickness_with(&all, [6, 7, 8], ThicknessConvention::FaceToFace);
    let c = local_thickness_with(&all, [6, 7, 8], ThicknessConvention::CentreToCentre);
    assert_eq!((f[0], c[0]), (8.0, 9.0));
}

fn write_shape(path: &Path, dims: [usize; 3], v: &[bool]) {
    Volume {
        dims,
        spacing_mm: [H_UM * 1e-3; 3],
        data: VolumeData::U8(v.iter().map(|&b| b as u8).collect()),
    }
    .write(path)
    .unwrap();
}

/// `trabecula morph --json [--thickness-convention C]` of `path`.
fn morph_json(path: &Path, convention: Option<&str>) -> serde_json::Value {
    let mut cmd = Command::new(common::bin());
    cmd.args(["morph", "--json", "--volume"]).arg(path);
    if let Some(c) = convention {
        cmd.args(["--thickness-convention", c]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn morph_names_its_convention_and_offers_the_other() {
    let dir = tempfile::tempdir().unwrap();
    for (shape, dims, v) in shapes() {
        let path = dir.path().join(format!("{shape}.mhd"));
        write_shape(&path, dims, &v);
        for (arg, c) in [
            (None, ThicknessConvention::FaceToFace),
            (Some("face-to-face"), ThicknessConvention::FaceToFace),
            (
                Some("centre-to-centre"),
                ThicknessConvention::CentreToCentre,
            ),
        ] {
            let m = morph_json(&path, arg);
            assert_eq!(m["thickness_convention"], c.name(), "{m}");
            assert_eq!(m["thickness_convention_description"], c.description());
            let th = m["tb_th_um"].as_f64().unwrap();
            assert!(
                close(th, expected(shape, c).0, 1e-6),
                "{shape} {arg:?}: {m}"
            );
        }
    }
    // The text output names it too; an unknown one is refused with the choices.
    let path = dir.path().join("plate.mhd");
    let out = Command::new(common::bin())
        .args([
            "morph",
            "--thickness-convention",
            "centre-to-centre",
            "--volume",
        ])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("thickness:      centre-to-centre ("),
        "{text}"
    );
    assert!(text.contains("tb_th_um:       120.0"), "{text}");
    let out = Command::new(common::bin())
        .args(["morph", "--thickness-convention", "bonej", "--volume"])
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("face-to-face") && err.contains("centre-to-centre"),
        "{err}"
    );
}

#[test]
fn scene_key_is_checked_and_defaults_to_face_to_face() {
    let scene_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/plain-1g.toml");
    let s = trabecula::scene::load(&scene_path, &[]).unwrap();
    assert_eq!(
        s.outputs.thickness_convention,
        ThicknessConvention::FaceToFace
    );
    let s = trabecula::scene::load(
        &scene_path,
        &["outputs.thickness_convention=centre-to-centre".into()],
    )
    .unwrap();
    assert_eq!(
        s.outputs.thickness_convention,
        ThicknessConvention::CentreToCentre
    );
    let e = trabecula::scene::load(&scene_path, &["outputs.thickness_convention=bonej".into()])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("outputs.thickness_convention")
            && e.contains("face-to-face")
            && e.contains("centre-to-centre"),
        "{e}"
    );
}

/// Runs `script` with `python3 -c` on `args`; its last stdout line as JSON.
fn python_json(script: &str, args: &[&Path]) -> serde_json::Value {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(text.lines().last().unwrap_or("")).unwrap()
}

fn python_has(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// ormir-xct's `trabecular_thickness` / `trabecular_separation` (2 × its
/// Euclidean distance map, painted over the balls |x − c| < d; the outside
/// of the array bounds neither phase, as here) is centre-to-centre: the
/// same balls and values as ours, so Tb.Th agrees to float rounding (our
/// maps are f32: 1e-6). One difference: it tests |x − c|² < d² in floats of
/// the voxel size in mm, so a voxel at exactly the distance d (a tie, which
/// the digital ball excludes) may fall inside at 0.02 mm. On the rod's marrow
/// that adds such voxels to larger balls: its Tb.Sp reads 0.17 % more
/// (measured), compared within 0.5 %; with the voxel size set to 1 (no
/// rounding) it agrees to 1e-6, and so it does on the plate.
#[test]
fn ormir_xct_measures_centre_to_centre_when_installed() {
    let module = "ormir_xct.core.microarchitecture.trabecular_microarchitecture";
    if !python_has(module) {
        eprintln!(
            "python3 -c 'import {module}' failed: ormir-xct cross-check not run \
             (python3 -m pip install ormir-xct)"
        );
        return;
    }
    let script = r#"
import sys, json, warnings
warnings.simplefilter("ignore")
import SimpleITK as sitk
from ormir_xct.core.microarchitecture.trabecular_microarchitecture import (
    trabecular_thickness, trabecular_separation)
img = sitk.ReadImage(sys.argv[1], sitk.sitkUInt8)
peri = sitk.Image(img.GetSize(), sitk.sitkUInt8) + 1
peri.CopyInformation(img)
unit = sitk.Image(img)
unit.SetSpacing((1.0, 1.0, 1.0))
peri_unit = sitk.Image(peri)
peri_unit.SetSpacing((1.0, 1.0, 1.0))
print(json.dumps({"tb_th_mm": float(trabecular_thickness(img)[0]),
                  "tb_sp_mm": float(trabecular_separation(img, peri)[0]),
                  "tb_sp_vox": float(trabecular_separation(unit, peri_unit)[0])}))
"#;
    let dir = tempfile::tempdir().unwrap();
    for (shape, dims, v) in shapes() {
        let path = dir.path().join(format!("{shape}.mhd"));
        write_shape(&path, dims, &v);
        let tool = python_json(script, &[&path]);
        let ours = morph_json(&path, Some("centre-to-centre"));
        let th = tool["tb_th_mm"].as_f64().unwrap() * 1e3;
        let sp = tool["tb_sp_mm"].as_f64().unwrap() * 1e3;
        let sp_vox = tool["tb_sp_vox"].as_f64().unwrap();
        let (our_th, our_sp) = (
            ours["tb_th_um"].as_f64().unwrap(),
            ours["tb_sp_um"].as_f64().unwrap(),
        );
        eprintln!(
            "{shape}: ormir-xct Tb.Th {th} µm, Tb.Sp {sp} µm ({sp_vox} voxels at voxel size 1); \
             ours centre-to-centre {our_th}, {our_sp}"
        );
        assert!(close(
            th,
            expected(shape, ThicknessConvention::CentreToCentre).0,
            1e-6
        ));
        assert!(close(our_th, th, 1e-6), "{shape}: Tb.Th {our_th} vs {th}");
        let tol = if shape == "plate" { 1e-6 } else { 0.005 };
        assert!(close(our_sp, sp, tol), "{shape}: Tb.Sp {our_sp} vs {sp}");
        assert!(
            close(our_sp / H_UM, sp_vox, 1e-6),
            "{shape}: Tb.Sp {our_sp} µm vs {sp_vox} voxels"
        );
    }
}

/// bone-microarchitecture's `hildebrand` Tb.Th (radius d − ½ voxel, so
/// diameter 2·d − 1) is face-to-face. Its balls differ from ours only at the
/// block faces: it takes the outside as background and drops balls that
/// would cross a face, and leaves voxels no remaining ball covers out of the
/// mean. On the plate (which spans the block in x and y) that drops
/// whole-plate voxels near the faces only, so it agrees to float rounding
/// (its maps are f32: 1e-6). Along the rod the layers within a ball radius
/// (√32 ≈ 5.7 voxels) of the block's z faces read thinner there, 5 of 40 at
/// each end: the mean is 0.7 % lower (measured), so the whole-rod Tb.Th is
/// compared within 1 %, and its map over the voxels at least 6 voxels from
/// every block face, where no ball crosses a face, to 1e-6.
#[test]
fn bone_microarchitecture_measures_face_to_face_when_installed() {
    if !python_has("bone_microarchitecture") {
        eprintln!(
            "python3 -c 'import bone_microarchitecture' failed: bone-microarchitecture \
             cross-check not run (python3 -m pip install bone-microarchitecture)"
        );
        return;
    }
    let script = r#"
import sys, json, warnings
warnings.simplefilter("ignore")
import numpy as np, SimpleITK as sitk
from bone_microarchitecture import compute_microarchitecture
img = sitk.ReadImage(sys.argv[1], sitk.sitkUInt8)
bone = sitk.GetArrayFromImage(img) > 0
ones = np.ones_like(bone)
r = compute_microarchitecture(periosteal_mask=ones, trabecular_mask=ones, bone_mask=bone,
                              spacing=tuple(reversed(img.GetSpacing())), thickness_backend="cpu")
m = 6
inner = r.maps["Tb.Th"][m:-m, m:-m, m:-m][bone[m:-m, m:-m, m:-m]]
print(json.dumps({"tb_th_mm": float(r.measurements["Tb.Th"]),
                  "inner_tb_th_mm": float(inner.mean())}))
"#;
    let dir = tempfile::tempdir().unwrap();
    for (shape, dims, v) in shapes() {
        let path = dir.path().join(format!("{shape}.mhd"));
        write_shape(&path, dims, &v);
        let tool = python_json(script, &[&path]);
        let ours = morph_json(&path, Some("face-to-face"))["tb_th_um"]
            .as_f64()
            .unwrap();
        let th = tool["tb_th_mm"].as_f64().unwrap() * 1e3;
        let inner = tool["inner_tb_th_mm"].as_f64().unwrap() * 1e3;
        eprintln!(
            "{shape}: bone-microarchitecture Tb.Th {th} µm (≥ 6 voxels from the faces: {inner}); \
             ours face-to-face {ours}"
        );
        // Ours is the same value in every voxel of these shapes.
        assert!(close(inner, ours, 1e-6), "{shape}: inner {inner} vs {ours}");
        let tol = if shape == "plate" { 1e-6 } else { 0.01 };
        assert!(close(th, ours, tol), "{shape}: Tb.Th {th} vs {ours}");
    }
}

/// A run measures its time series in the scene's convention and names it in
/// `run.json`; `trabecula morph` of its last lattice in the same convention
/// agrees with the last row.
#[test]
fn a_run_names_the_convention_of_its_time_series() {
    let dir = tempfile::tempdir().unwrap();
    let scene = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/plain-1g.toml");
    let out = Command::new(common::bin())
        .arg("run")
        .arg(&scene)
        .arg("--out")
        .arg(dir.path())
        .args(["--days", "1", "--set", "lattice.dims=[24,24,24]"])
        .args(["--set", "outputs.thickness_convention=centre-to-centre"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("run.json")).unwrap()).unwrap();
    let c = ThicknessConvention::CentreToCentre;
    assert_eq!(run["thickness_convention"], c.name());
    assert_eq!(run["thickness_convention_description"], c.description());
    assert_eq!(run["scene"]["outputs"]["thickness_convention"], c.name());

    let csv = std::fs::read_to_string(dir.path().join("timeseries.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "tb_th_um").unwrap();
    let last: f64 = lines
        .last()
        .unwrap()
        .split(',')
        .nth(col)
        .unwrap()
        .parse()
        .unwrap();
    let end = dir.path().join("lattice_end.mhd");
    let c2c = morph_json(&end, Some("centre-to-centre"))["tb_th_um"]
        .as_f64()
        .unwrap();
    let f2f = morph_json(&end, None)["tb_th_um"].as_f64().unwrap();
    let voxel_um = run["scene"]["lattice"]["voxel_size_um"].as_f64().unwrap();
    assert!(close(c2c, last, 1e-9), "morph {c2c} vs time series {last}");
    assert!((c2c - f2f - voxel_um).abs() < 1e-6, "{c2c} vs {f2f}");
}
