//! Scene loading: strict errors that name the key, the value, the range and the place.

use trabecula::scene::{self, LatticeSource, Species};

const GOOD: &str = r#"
name = "t"
seed = 7
days = 10

[lattice]
species = "human"
dims = [32, 32, 32]
bv_tv = 0.2
"#;

#[test]
fn good_scene_loads_with_presets() {
    let s = scene::parse(GOOD, "good.toml", &[]).unwrap();
    assert_eq!(s.seed, 7);
    assert_eq!(s.lattice.source, LatticeSource::Procedural);
    assert_eq!(s.lattice.species, Species::Human);
    // Preset fills what the scene left out.
    assert_eq!(s.lattice.voxel_size_um, Some(20.0));
    assert_eq!(s.lattice.tb_th_um, Some(150.0));
}

#[test]
fn unknown_key_names_key_and_line() {
    let text = GOOD.replace("bv_tv = 0.2", "bv_tv = 0.2\nbone_colour = 3");
    let e = scene::parse(&text, "s.toml", &[]).unwrap_err();
    assert_eq!(e.key, "lattice.bone_colour");
    assert_eq!(e.location, "s.toml:10:1", "{e}");
    assert!(e.message.contains("unknown field"), "{e}");
    // The message lists what is allowed.
    assert!(e.message.contains("voxel_size_um"), "{e}");
}

#[test]
fn negative_voxel_size_names_value_range_and_line() {
    let text = GOOD.replace("bv_tv = 0.2", "bv_tv = 0.2\nvoxel_size_um = -5.0");
    let e = scene::parse(&text, "s.toml", &[]).unwrap_err();
    assert_eq!(e.key, "lattice.voxel_size_um");
    assert_eq!(e.location, "s.toml:10:1");
    assert!(e.message.contains("-5"), "{e}");
    assert!(
        e.message.contains("0.5 ≤ lattice.voxel_size_um ≤ 200"),
        "{e}"
    );
}

#[test]
fn bv_tv_above_one_is_refused() {
    let text = GOOD.replace("bv_tv = 0.2", "bv_tv = 1.5");
    let e = scene::parse(&text, "s.toml", &[]).unwrap_err();
    assert_eq!(e.key, "lattice.bv_tv");
    assert_eq!(e.location, "s.toml:9:1");
    assert!(
        e.message.contains("1.5") && e.message.contains("0.6"),
        "{e}"
    );
    let shown = e.to_string();
    assert!(
        shown.starts_with("s.toml:9:1: `lattice.bv_tv`: value 1.5"),
        "{shown}"
    );
}

#[test]
fn wrong_type_names_key_and_line() {
    let text = GOOD.replace("days = 10", "days = \"ten\"");
    let e = scene::parse(&text, "s.toml", &[]).unwrap_err();
    assert_eq!(e.key, "days");
    assert_eq!(e.location, "s.toml:4:1");
    assert!(
        e.message.contains("ten") || e.message.contains("string"),
        "{e}"
    );
}

#[test]
fn set_overrides_and_validates_the_same_way() {
    let s = scene::parse(
        GOOD,
        "s.toml",
        &["lattice.bv_tv=0.25".into(), "lattice.species=mouse".into()],
    )
    .unwrap();
    assert_eq!(s.lattice.bv_tv, Some(0.25));
    assert_eq!(s.lattice.voxel_size_um, Some(8.0), "mouse preset");

    let e = scene::parse(GOOD, "s.toml", &["lattice.bv_tv=1.5".into()]).unwrap_err();
    assert_eq!(e.location, "--set lattice.bv_tv=1.5");
    assert!(e.message.contains("1.5"), "{e}");

    let e = scene::parse(GOOD, "s.toml", &["lattice.bvtv=0.2".into()]).unwrap_err();
    assert_eq!(e.key, "lattice.bvtv");
    assert_eq!(e.location, "--set lattice.bvtv=0.2");
    assert!(e.message.contains("unknown field"), "{e}");

    let e = scene::parse(GOOD, "s.toml", &["no_such_section.x=1".into()]).unwrap_err();
    assert_eq!(e.location, "--set no_such_section.x=1");
}

#[test]
fn toml_syntax_error_has_line() {
    let text = GOOD.replace("seed = 7", "seed = = 7");
    let e = scene::parse(&text, "s.toml", &[]).unwrap_err();
    assert!(e.location.starts_with("s.toml:3:"), "{e}");
}

#[test]
fn volume_source_needs_a_volume() {
    let text = "[lattice]\nsource = \"volume\"\n";
    let e = scene::parse(text, "v.toml", &[]).unwrap_err();
    assert_eq!(e.key, "lattice.volume");
    assert!(e.message.contains("missing"), "{e}");
}

#[test]
fn bundled_scenes_load() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenes");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            scene::load(&path, &[]).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
    }
    assert!(n >= 1);
}

#[test]
fn loading_phases_and_load_factor() {
    let text = r#"
[loading]
gravity_fraction = 0.8
[[loading.phases]]
days = 30
gravity = 1.0
[[loading.phases]]
days = 180
gravity = 0.0
bisphosphonate = true
[[loading.phases]]
days = 365
gravity = 0.38
"#;
    let s = scene::parse(text, "p.toml", &[]).unwrap();
    let l = &s.loading;
    let r0 = l.regime_on(0.0);
    assert_eq!(
        (r0.gravity, r0.phase, r0.bisphosphonate),
        (1.0, Some(0), false)
    );
    assert!(
        (l.load_factor(&r0) - 1.0).abs() < 1e-12,
        "habitual 1 g is the unit load"
    );
    let r1 = l.regime_on(30.0);
    assert_eq!(
        (r1.gravity, r1.phase, r1.bisphosphonate),
        (0.0, Some(1), true)
    );
    // At 0 g only the muscle share (1 − 0.8) of the load remains; SED ∝ load².
    assert!((l.load_factor(&r1) - 0.04).abs() < 1e-12);
    let r2 = l.regime_on(209.5);
    assert_eq!(r2.phase, Some(1));
    let r3 = l.regime_on(2000.0);
    assert_eq!(
        (r3.gravity, r3.phase, r3.bisphosphonate),
        (0.38, Some(2), false)
    );

    // Constant gravity from the command line (`--set loading.gravity=…`).
    let s = scene::parse("", "e.toml", &["loading.gravity=0.38".into()]).unwrap();
    let r = s.loading.regime_on(10.0);
    assert_eq!((r.gravity, r.phase), (0.38, None));
    let level: f64 = 0.2 + 0.8 * 0.38;
    assert!((s.loading.load_factor(&r) - level * level).abs() < 1e-12);

    // Exercise adds stimulus: Carter's sum with m = 4.
    let s = scene::parse(
        "[loading]\ngravity = 0.0\nexercise_load = 1.0\nexercise_cycles_per_day = 10000",
        "x.toml",
        &[],
    )
    .unwrap();
    let r = s.loading.regime_on(0.0);
    let expect = (0.2f64.powi(4) + 1.0).powf(0.5);
    assert!((s.loading.load_factor(&r) - expect).abs() < 1e-12);

    // A phase error names the phase.
    let bad = text.replace("gravity = 0.38", "gravity = -1");
    let e = scene::parse(&bad, "p.toml", &[]).unwrap_err();
    assert_eq!(e.key, "loading.phases[2].gravity");
    assert!(e.location.starts_with("p.toml:13:"), "{e}");
}

/// `[nutrition]` defaults to NASA's flight standard; a phase's keys change
/// the diet for that phase only; out-of-range intakes are refused by key.
#[test]
fn nutrition_defaults_phases_and_ranges() {
    let s = scene::parse(GOOD, "good.toml", &[]).unwrap();
    let d = s.nutrition_on(0.0);
    assert_eq!(
        (d.calcium_mg_per_day, d.vitamin_d_iu_per_day),
        (1000.0, 800.0)
    );
    let text = format!(
        "{GOOD}\n[nutrition]\ncalcium_mg_per_day = 1200\n\
         [[loading.phases]]\ndays = 10\n\
         [[loading.phases]]\ndays = 20\ncalcium_mg_per_day = 500\n\
         [[loading.phases]]\ndays = 30\nvitamin_d_iu_per_day = 2000\n"
    );
    let s = scene::parse(&text, "n.toml", &[]).unwrap();
    let diet = |t: f64| {
        let d = s.nutrition_on(t);
        (d.calcium_mg_per_day, d.vitamin_d_iu_per_day)
    };
    assert_eq!(diet(5.0), (1200.0, 800.0));
    assert_eq!(diet(15.0), (500.0, 800.0));
    // A key a phase leaves out keeps the [nutrition] value, not the last phase's.
    assert_eq!(diet(45.0), (1200.0, 2000.0));
    for (set, key) in [
        (
            "nutrition.calcium_mg_per_day=-1",
            "nutrition.calcium_mg_per_day",
        ),
        (
            "nutrition.vitamin_d_iu_per_day=1e6",
            "nutrition.vitamin_d_iu_per_day",
        ),
        (
            "loading.phases[1].calcium_mg_per_day=6000",
            "loading.phases[1].calcium_mg_per_day",
        ),
    ] {
        let e = scene::parse(&text, "n.toml", &[set.to_string()]).unwrap_err();
        assert_eq!(e.key, key, "{e}");
        assert!(e.message.contains("allowed"), "{e}");
    }
}

#[test]
fn file_level_errors_have_no_empty_key() {
    let e = scene::load(std::path::Path::new("/nonexistent/s.toml"), &[]).unwrap_err();
    assert_eq!(e.key, "");
    let text = e.to_string();
    assert!(
        text.starts_with("/nonexistent/s.toml: cannot read the scene: "),
        "{text}"
    );
    assert!(!text.contains("``"), "{text}");

    let e = scene::parse("name = = 1\n", "s.toml", &[]).unwrap_err();
    let text = e.to_string();
    assert!(text.starts_with("s.toml:1:8: not valid TOML: "), "{text}");
    assert!(!text.contains("``"), "{text}");
    // A key at fault is still named.
    let e = scene::parse(GOOD, "s.toml", &["lattice.bv_tv=1.5".into()]).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("--set lattice.bv_tv=1.5: `lattice.bv_tv`: "),
        "{e}"
    );
}

/// Writes `text` as `name` in a fresh folder and loads it.
fn load_text(
    text: &[u8],
    name: &str,
) -> (
    tempfile::TempDir,
    String,
    Result<scene::Scene, scene::SceneError>,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    let r = scene::load(&path, &[]);
    (dir, path.display().to_string(), r)
}

#[test]
fn a_file_that_names_no_scene_is_refused() {
    for (text, what) in [
        ("", "empty"),
        ("# a comment\n\n   \n# another\n", "names nothing"),
        ("name = \"t\"\nseed = 7\n", "lacks a `[lattice]` section"),
        ("[lattice]\ndims = [32, 32, 32]\n", "lacks `name`"),
    ] {
        let (_dir, path, r) = load_text(text.as_bytes(), "s.toml");
        let e = r.expect_err(text);
        assert_eq!(e.location, path, "{e}");
        assert_eq!(e.key, "", "{e}");
        assert!(e.message.contains(what), "{text:?}: {e}");
        assert!(
            e.message.contains("`name = \"...\"`") && e.message.contains("`[lattice]`"),
            "{e}"
        );
        assert!(e.to_string().starts_with(&format!("{path}: the ")), "{e}");
    }
    // Overrides change a scene; they do not make one.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.toml");
    std::fs::write(&path, "").unwrap();
    let sets = ["name=x".to_string(), "lattice.dims=[16,16,16]".to_string()];
    assert!(scene::load(&path, &sets).is_err());
}

#[test]
fn every_truncation_of_a_bundled_scene_before_its_lattice_is_refused() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenes/demo.toml");
    let full = std::fs::read(&path).unwrap();
    let text = String::from_utf8(full.clone()).unwrap();
    // Up to the `]` that closes `[lattice]`: past it the prefix is a scene.
    let end = text.find("[lattice]").unwrap() + "[lattice]".len() - 1;
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.toml");
    for len in 0..=end {
        std::fs::write(&cut, &full[..len]).unwrap();
        let e = scene::load(&cut, &[]).expect_err(&String::from_utf8_lossy(&full[..len]));
        assert!(e.location.starts_with(&cut.display().to_string()), "{e}");
    }
    std::fs::write(&cut, &full).unwrap();
    scene::load(&cut, &[]).unwrap();
}

/// The resolved scene holds what the scene says where it says it, and the
/// species preset elsewhere; the recorded (parsed) scene shows the same.
#[test]
fn resolved_scene_takes_the_scene_then_the_species_preset() {
    use trabecula::scene::{CellsSection, LatticeSpec, MechModel};
    let text = "name = \"r\"\n[lattice]\nspecies = \"mouse\"\ndims = [24, 24, 24]\n";
    let s = scene::parse(
        text,
        "r.toml",
        &[
            "cells.apoptosis_basal_per_day=0.01".into(),
            "mechanics.model=\"uniform\"".into(),
        ],
    )
    .unwrap();
    let r = s.resolve();
    assert_eq!(r.species, Species::Mouse);
    assert_eq!(r.cells.apoptosis_basal_per_day, 0.01);
    let mouse: std::collections::HashMap<_, _> =
        CellsSection::defaults(Species::Mouse).into_iter().collect();
    let human: std::collections::HashMap<_, _> =
        CellsSection::defaults(Species::Human).into_iter().collect();
    assert_eq!(
        r.cells.apposition_um_per_day,
        mouse["apposition_um_per_day"]
    );
    assert_ne!(
        mouse["apposition_um_per_day"],
        human["apposition_um_per_day"]
    );
    // The recorded scene carries the same values it was resolved to.
    assert_eq!(
        s.cells.apposition_um_per_day,
        Some(r.cells.apposition_um_per_day)
    );
    assert_eq!(r.mechanics.model, MechModel::Uniform);
    match r.lattice {
        LatticeSpec::Procedural(p) => {
            assert_eq!(p.dims, [24, 24, 24]);
            assert_eq!(
                p.voxel_size_um,
                Species::Mouse.lattice_preset().voxel_size_um
            );
        }
        other => panic!("a procedural scene resolved to {other:?}"),
    }
    let v = scene::parse(
        "name = \"v\"\n[lattice]\nsource = \"volume\"\nvolume = \"scan.mhd\"\nthreshold = 128\n",
        "v.toml",
        &[],
    )
    .unwrap();
    assert_eq!(
        v.resolve().lattice,
        LatticeSpec::Volume {
            path: "scan.mhd".into(),
            threshold: Some(128.0),
            voxel_size_um: None,
        }
    );
}
