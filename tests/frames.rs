//! `trabecula run --frames-every N`: a PNG every N days, each the picture
//! `trabecula render RUN --day N` makes of the same run at that day; a
//! resumed run keeps making them.

mod common;

use std::path::Path;
use std::process::Command;

#[test]
fn frames_every_n_days_match_render_at_that_day() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/plain-1g.toml");
    let out = Command::new(common::bin())
        .arg("run")
        .arg(&demo)
        .arg("--out")
        .arg(&run)
        .args([
            "--days",
            "4",
            "--frames-every",
            "2",
            "--checkpoint-every",
            "4",
        ])
        .args(["--set", "lattice.dims=[24,24,24]"])
        // Pictures, not mechanics, are under test: a loose FE solve.
        .args(["--set", "mechanics.tolerance=1e-3"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names: Vec<String> = std::fs::read_dir(run.join("frames"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["frame_00000.png", "frame_00002.png", "frame_00004.png"]
    );

    let rendered = dir.path().join("day4.png");
    let out = Command::new(common::bin())
        .arg("render")
        .arg(&run)
        .args(["--day", "4", "--out"])
        .arg(&rendered)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decode = |p: &Path| {
        let dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(p).unwrap()));
        let mut r = dec.read_info().unwrap();
        let mut buf = vec![0; r.output_buffer_size().unwrap()];
        let info = r.next_frame(&mut buf).unwrap();
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    };
    let frame = decode(&run.join("frames/frame_00004.png"));
    assert_eq!((frame.0, frame.1), (640, 480));
    assert!(
        frame == decode(&rendered),
        "frame_00004.png differs from render --day 4"
    );
    let first = decode(&run.join("frames/frame_00000.png"));
    assert!(
        first != frame,
        "day 0 and day 4 frames are the same picture"
    );

    // Resumed and run on, the frames go on every 2 days.
    let out = Command::new(common::bin())
        .arg("resume")
        .arg(&run)
        .args(["--days", "6"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(run.join("frames/frame_00006.png").exists());
}
