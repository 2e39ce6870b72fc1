//! The bad-input matrix: every command against its typical bad inputs
//! (a missing file, the wrong kind of file, options out of range, an
//! output path that is a file, a truncated volume or checkpoint). Each is
//! refused with its exit status and a message naming the cause, and every
//! file that was there before is byte for byte as it was (nothing written,
//! nothing removed). Most are refused before the GPU is touched; the few
//! that run use 16³ lattices and one day.

mod common;

use std::path::Path;

use common::fixtures::{mhd_header, nifti_u8};
use common::refusal::{refused, run_in};

/// A folder of inputs, good and bad, the commands run in.
struct Inputs {
    dir: tempfile::TempDir,
}

impl Inputs {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("notes.txt"), "an existing file\n").unwrap();
        std::fs::write(d.join("picture.png"), b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap();
        // 8³ of bone: good.
        std::fs::write(d.join("bone.mhd"), mhd_header([8, 8, 8], "bone.raw")).unwrap();
        std::fs::write(d.join("bone.raw"), [1u8; 512]).unwrap();
        // Its data cut short.
        std::fs::write(d.join("cut.mhd"), mhd_header([8, 8, 8], "cut.raw")).unwrap();
        std::fs::write(d.join("cut.raw"), [1u8; 100]).unwrap();
        // A NIfTI file cut inside its data.
        let nii = nifti_u8([8, 8, 8], 1);
        std::fs::write(d.join("cut.nii"), &nii[..nii.len() - 50]).unwrap();
        std::fs::create_dir(d.join("empty")).unwrap();
        std::fs::write(d.join("small.toml"), SMALL).unwrap();
        std::fs::write(d.join("cut_scene.toml"), Self::scene("cut.mhd")).unwrap();
        // Mineral fractions with one NaN voxel, at (3, 1, 2).
        let mut mineral = vec![0.5f32; 512];
        mineral[3 + 8 + 2 * 64] = f32::NAN;
        trabecula::io::mhd::Volume {
            dims: [8, 8, 8],
            spacing_mm: [0.02; 3],
            data: trabecula::io::mhd::VolumeData::F32(mineral),
        }
        .write(&d.join("nan.mhd"))
        .unwrap();
        std::fs::write(d.join("nan_scene.toml"), Self::scene("nan.mhd")).unwrap();
        Self { dir }
    }

    /// A scene on a volume in this folder.
    fn scene(volume: &str) -> String {
        format!(
            "name = \"bad\"\ndays = 1\n[lattice]\nsource = \"volume\"\nvolume = \"{volume}\"\n\
             voxel_size_um = 20.0\n"
        )
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// A small, quick scene: 16³, no spin-up, uniform loading (no FE solve).
const SMALL: &str = "name = \"small\"\ndays = 1\n[lattice]\nsource = \"procedural\"\n\
                     species = \"human\"\ndims = [16, 16, 16]\n[mechanics]\nmodel = \"uniform\"\n";

#[test]
fn run_refuses_bad_input() {
    let i = Inputs::new();
    let d = i.path();
    let scene = "small.toml";
    refused(
        d,
        &["run", "nosuch.toml", "--out", "o"],
        2,
        &["nosuch.toml", "cannot read"],
    );
    refused(
        d,
        &["run", "picture.png", "--out", "o"],
        2,
        &["picture.png", "valid UTF-8"],
    );
    refused(
        d,
        &["run", "empty", "--out", "o"],
        2,
        &["empty", "cannot read the scene"],
    );
    refused(
        d,
        &["run", scene, "--out", "o", "--set", "lattice.bv_tv=2"],
        2,
        &["lattice.bv_tv", "out of range"],
    );
    refused(
        d,
        &["run", scene, "--out", "o", "--days=-1"],
        2,
        &["--days", "-1"],
    );
    refused(
        d,
        &["run", scene, "--out", "o", "--set", "days=1000000"],
        2,
        &["days", "out of range"],
    );
    // An output folder that is a file: refused before any work.
    let mut args = vec!["run", scene, "--out", "notes.txt"];
    args.extend(["--days", "1"]);
    refused(d, &args, 1, &["notes.txt", "existing file"]);
    // A truncated volume: refused with its byte counts; the run folder it
    // had made is gone again.
    let mut args = vec!["run", "cut_scene.toml", "--out", "o"];
    args.extend(["--days", "1"]);
    refused(
        d,
        &args,
        1,
        &["cut.raw", "truncated", "need 512 bytes", "has 100"],
    );
    // A voxel that is not a number: refused with its place before the
    // simulation is built (it would pass the clamp to [0, 1] and poison
    // every field).
    let mut args = vec!["run", "nan_scene.toml", "--out", "o"];
    args.extend(["--set", "mechanics.model=uniform"]);
    refused(d, &args, 1, &["nan.mhd", "voxel (x 3, y 1, z 2) is NaN"]);
}

#[test]
fn resume_refuses_bad_input_and_a_truncated_checkpoint() {
    let i = Inputs::new();
    let d = i.path();
    refused(d, &["resume", "nosuch"], 1, &["nosuch", "does not exist"]);
    refused(d, &["resume", "notes.txt"], 1, &["notes.txt", "is a file"]);
    refused(d, &["resume", "empty"], 1, &["empty", "no checkpoints"]);
    refused(d, &["resume", "empty", "--days=-3"], 2, &["--days", "-3"]);
    refused(
        d,
        &["resume", "empty", "--days", "100001"],
        1,
        &["--days 100001", "at most 100000"],
    );

    // A run with two checkpoints, then its newest cut short.
    let args = [
        "run",
        "small.toml",
        "--out",
        "r",
        "--checkpoint-every",
        "1",
        "--days",
        "2",
    ];
    let (status, stderr) = run_in(d, &args);
    assert_eq!(status, Some(0), "{stderr}");
    let newest = d.join("r/checkpoints/step_000002.ckpt");
    let len = std::fs::metadata(&newest).unwrap().len();
    let bytes = std::fs::read(&newest).unwrap();
    std::fs::write(&newest, &bytes[..(len / 2) as usize]).unwrap();
    refused(
        d,
        &["resume", "r", "--days", "3"],
        1,
        &["step_000002.ckpt", "truncated"],
    );
    // A day before the checkpoint's.
    std::fs::write(&newest, &bytes).unwrap();
    refused(
        d,
        &["resume", "r", "--days", "1"],
        1,
        &["--days 1", "before the checkpoint's day 2"],
    );
}

#[test]
fn sweep_refuses_bad_input() {
    let i = Inputs::new();
    let d = i.path();
    let sweep = |name: &str, body: &str| {
        let text = format!("name = \"s\"\nscene = \"small.toml\"\n{body}");
        std::fs::write(d.join(name), text).unwrap();
    };
    sweep("ok.toml", "[set]\ndays = 1\n");
    sweep("huge.toml", "replicates = 4000000000\n");
    sweep(
        "grid.toml",
        "[vary]\ndays = { from = 1, to = 1000, steps = 1000 }\nseed_offset = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 100, 101]\n",
    );
    sweep("badset.toml", "[set]\n\"lattice.bv_tv\" = 7\n");
    std::fs::write(
        d.join("noscene.toml"),
        "name = \"s\"\nscene = \"nosuch.toml\"\n",
    )
    .unwrap();
    refused(
        d,
        &["sweep", "nosuch.toml"],
        1,
        &["nosuch.toml", "reading the sweep file"],
    );
    refused(
        d,
        &["sweep", "picture.png"],
        1,
        &["picture.png", "valid UTF-8"],
    );
    refused(
        d,
        &["sweep", "notes.txt"],
        1,
        &["notes.txt", "in the sweep file"],
    );
    refused(
        d,
        &["sweep", "huge.toml", "--out", "o"],
        1,
        &["huge.toml", "replicates", "100000"],
    );
    refused(
        d,
        &["sweep", "grid.toml", "--out", "o"],
        1,
        &["grid.toml", "1000 days × 101 seed_offset"],
    );
    refused(
        d,
        &["sweep", "badset.toml", "--out", "o"],
        2,
        &["lattice.bv_tv", "out of range"],
    );
    refused(
        d,
        &["sweep", "noscene.toml", "--out", "o"],
        2,
        &["nosuch.toml", "cannot read"],
    );
    refused(
        d,
        &["sweep", "ok.toml", "--shard", "5/4"],
        2,
        &["--shard", "0 ≤ i < n"],
    );
    refused(
        d,
        &["sweep", "ok.toml", "--jobs", "0", "--out", "o"],
        1,
        &["--jobs 0"],
    );
    refused(
        d,
        &["sweep", "ok.toml", "--out", "notes.txt"],
        1,
        &["notes.txt", "existing file"],
    );
    refused(
        d,
        &["sweep", "--merge", "nosuch"],
        1,
        &["nosuch", "No such file"],
    );
}

#[test]
fn mech_refuses_bad_input() {
    let i = Inputs::new();
    let d = i.path();
    refused(
        d,
        &["mech", "--volume", "nosuch.mhd", "--out", "m"],
        1,
        &["nosuch.mhd", "No such file"],
    );
    refused(
        d,
        &["mech", "--volume", "picture.png", "--out", "m"],
        1,
        &["picture.png:1", "Key = Value"],
    );
    refused(
        d,
        &["mech", "--volume", "cut.mhd", "--out", "m"],
        1,
        &["cut.raw", "truncated"],
    );
    refused(
        d,
        &["mech", "--volume", "bone.mhd", "--out", "notes.txt"],
        1,
        &["notes.txt", "existing file"],
    );
    refused(
        d,
        &[
            "mech",
            "--volume",
            "bone.mhd",
            "--out",
            "m",
            "--poisson",
            "0.7",
        ],
        1,
        &["Poisson"],
    );
    refused(
        d,
        &[
            "mech", "--volume", "bone.mhd", "--out", "m", "--strain", "nan",
        ],
        1,
        &["strain"],
    );
}

#[test]
fn morph_refuses_bad_input() {
    let i = Inputs::new();
    let d = i.path();
    refused(
        d,
        &["morph", "--volume", "nosuch.mhd"],
        1,
        &["nosuch.mhd", "No such file"],
    );
    refused(
        d,
        &["morph", "--volume", "picture.png"],
        1,
        &["picture.png", "unknown volume format"],
    );
    refused(
        d,
        &["morph", "--volume", "notes.txt"],
        1,
        &["notes.txt", "unknown volume format"],
    );
    refused(
        d,
        &["morph", "--volume", "cut.mhd"],
        1,
        &["cut.raw", "truncated"],
    );
    refused(
        d,
        &["morph", "--volume", "cut.nii"],
        1,
        &["cut.nii", "truncated", "holds 814"],
    );
    refused(
        d,
        &["morph", "--volume", "empty"],
        1,
        &["empty", "no .tif/.tiff slices"],
    );
    refused(
        d,
        &["morph", "--volume", "bone.mhd", "--voxel-um=-1"],
        1,
        &["voxel size", "-1"],
    );
    refused(
        d,
        &["morph", "--volume", "bone.mhd", "--voxel-um", "nan"],
        1,
        &["voxel size", "NaN"],
    );
    refused(
        d,
        &["morph", "--volume", "bone.mhd", "--threshold", "inf"],
        1,
        &["--threshold", "inf"],
    );
    refused(
        d,
        &[
            "morph",
            "--volume",
            "bone.mhd",
            "--thickness-convention",
            "x",
        ],
        2,
        &["--thickness-convention"],
    );
}

#[test]
fn slice_refuses_bad_input() {
    let i = Inputs::new();
    let d = i.path();
    refused(
        d,
        &["slice", "nosuch.mhd", "--out", "s.png"],
        1,
        &["nosuch.mhd", "No such file"],
    );
    refused(
        d,
        &["slice", "cut.mhd", "--out", "s.png"],
        1,
        &["cut.raw", "truncated"],
    );
    refused(
        d,
        &["slice", "bone.mhd", "--out", "s.png", "--y", "8"],
        1,
        &["--y 8", "0 to 7"],
    );
    refused(
        d,
        &[
            "slice",
            "bone.mhd",
            "--out",
            "s.png",
            "--scale",
            "100000000",
        ],
        1,
        &["--scale 100000000"],
    );
    refused(
        d,
        &["slice", "bone.mhd", "--out", "empty"],
        1,
        &["empty", "is a folder"],
    );
    refused(
        d,
        &["slice", "bone.mhd", "--out", "nodir/s.png"],
        1,
        &["nodir/s.png", "No such file"],
    );
}

#[test]
fn render_refuses_bad_input() {
    let i = Inputs::new();
    let d = i.path();
    let scene = "small.toml";
    refused(
        d,
        &["render", "nosuch.toml", "--out", "r.png"],
        2,
        &["nosuch.toml", "cannot read"],
    );
    refused(
        d,
        &["render", "picture.png", "--out", "r.png"],
        2,
        &["picture.png"],
    );
    refused(
        d,
        &["render", "empty", "--out", "r.png"],
        1,
        &["empty/lattice_end.mhd", "No such file"],
    );
    refused(
        d,
        &["render", scene, "--out", "empty"],
        1,
        &["empty", "is a folder"],
    );
    refused(
        d,
        &["render", scene, "--out", "r.png", "--width", "0"],
        1,
        &["--width 0"],
    );
    refused(
        d,
        &["render", scene, "--out", "r.png", "--clip", "2"],
        1,
        &["--clip 2", "0–1"],
    );
    refused(
        d,
        &["render", scene, "--out", "r.png", "--distance", "0"],
        1,
        &["--distance 0"],
    );
    refused(
        d,
        &["render", scene, "--out", "r.png", "--slice", "bogus"],
        1,
        &["bogus", "rankl"],
    );
}

#[test]
fn validate_refuses_bad_input() {
    let i = Inputs::new();
    let d = i.path();
    refused(
        d,
        &["validate", "--out", "v", "--scenario", "nosuch"],
        1,
        &["nosuch", "earth-homeostasis"],
    );
    refused(
        d,
        &["validate", "--quick", "--out", "v", "--size", "0"],
        2,
        &["lattice.dims", "out of range"],
    );
    refused(
        d,
        &["validate", "--quick", "--out", "v", "--seeds", "0"],
        1,
        &["--seeds"],
    );
    refused(
        d,
        &["validate", "--quick", "--out", "notes.txt"],
        1,
        &["notes.txt", "existing file"],
    );
}

/// A disk that fills while a checkpoint is written (a file-size limit on the
/// resumed run, below one checkpoint's size): the run stops with an error
/// naming the write, and the checkpoints it had are untouched and resume.
#[test]
fn a_checkpoint_write_that_fails_leaves_the_previous_checkpoints_readable() {
    use std::os::unix::process::CommandExt;

    let i = Inputs::new();
    let d = i.path();
    let args = [
        "run",
        "small.toml",
        "--out",
        "r",
        "--checkpoint-every",
        "1",
        "--days",
        "2",
    ];
    let (status, stderr) = run_in(d, &args);
    assert_eq!(status, Some(0), "{stderr}");
    let ckpts = d.join("r/checkpoints");
    let newest = ckpts.join("step_000002.ckpt");
    let size = std::fs::metadata(&newest).unwrap().len();
    let before = common::refusal::snapshot(&ckpts);

    let limit = size / 2;
    let mut cmd = std::process::Command::new(common::bin());
    cmd.args(["resume", "r", "--days", "4"])
        .current_dir(d)
        .env("RUST_LOG", "warn");
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // A write past the limit fails with EFBIG instead of killing.
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let lim = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a write past the limit succeeded: {stderr}"
    );
    assert!(
        stderr.contains("writing the checkpoint") && stderr.contains("step_000003.ckpt"),
        "{stderr}"
    );
    // The old checkpoints byte for byte, no partial file beside them.
    assert_eq!(common::refusal::snapshot(&ckpts), before);
    trabecula::sim::checkpoint::Checkpoint::read(&newest).unwrap();
    // And the run goes on from them once there is room.
    let (status, stderr) = run_in(d, &["resume", "r", "--days", "4"]);
    assert_eq!(status, Some(0), "{stderr}");
}

/// Two runs into one folder do not interleave: while a run lives, a second
/// `run` or `resume` into its folder is refused; once it is killed (even by
/// SIGKILL) the folder is free again.
#[test]
fn a_folder_with_a_live_run_is_refused_until_that_run_ends() {
    let i = Inputs::new();
    let d = i.path();
    let mut first = std::process::Command::new(common::bin())
        .args(["run", "small.toml", "--out", "r", "--days", "100000"])
        .current_dir(d)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Its lattice written, it has long held its folder (locked first).
    let t0 = std::time::Instant::now();
    while !d.join("r/lattice_start.mhd").exists() {
        assert!(t0.elapsed().as_secs() < 120, "the first run never started");
        assert!(first.try_wait().unwrap().is_none(), "the first run ended");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    for args in [
        &["run", "small.toml", "--out", "r", "--days", "1"][..],
        &["resume", "r"],
    ] {
        let (status, stderr) = run_in(d, args);
        assert_eq!(status, Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("r holds a run in progress"),
            "{args:?}: {stderr}"
        );
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let (status, stderr) = run_in(d, &["run", "small.toml", "--out", "r", "--days", "1"]);
    assert_eq!(status, Some(0), "{stderr}");
}
