//! PNG plots of a run's time series: files, sizes, where the lines go, and
//! the same picture from rows as from the CSV they were written to.

use trabecula::io::plot::{COLOURS, Columns, write_plots_from_csv, write_run_plots};
use trabecula::sim::{Metrics, TimeSeries};

fn row(day: f64, bv_tv: f64) -> Metrics {
    Metrics {
        day,
        phase: 0,
        gravity: 1.0,
        load_factor: 1.0,
        bv_tv,
        mineral_mean: 0.25,
        bs_bv_per_mm: f64::NAN,
        tb_th_um: 100.0,
        tb_sp_um: 500.0,
        tb_n_per_mm: 1.5,
        conn_d_per_mm3: 4.0,
        osteocytes_alive: 1000 - day as u32,
        osteocytes_apoptotic: day as u32,
        osteocytes_disuse: 2 * day as u32,
        osteocytes_embedded: 0,
        osteoclasts: 10 + day as u32,
        osteoblasts: 20,
        resorbed_mm3: 0.0,
        formed_mm3: 0.0,
        mean_stimulus: 0.01,
        mean_rankl: 1.0,
        mean_sclerostin: 1.0,
        apparent_modulus_mpa: 400.0,
        fe_iterations: 0,
        wall_s: day * 0.1,
        ..Metrics::unmeasured()
    }
}

/// Rows where BV/TV rises 20 % over 20 days and mineral stays flat.
fn rising() -> Vec<Metrics> {
    (0..=20)
        .map(|d| row(d as f64, 0.2 * (1.0 + 0.01 * d as f64)))
        .collect()
}

fn decode(path: &std::path::Path) -> (u32, u32, Vec<u8>) {
    let dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = dec.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

/// Mean row of the pixels of `colour` with x in [x0, x1) (fractions of width).
fn mean_y(img: &(u32, u32, Vec<u8>), colour: [u8; 3], x0: f64, x1: f64) -> Option<f64> {
    let (w, h, px) = img;
    let (mut sum, mut n) = (0.0, 0);
    for y in 0..*h {
        for x in (x0 * *w as f64) as u32..(x1 * *w as f64) as u32 {
            let i = 3 * (y * w + x) as usize;
            if px[i..i + 3] == colour {
                sum += y as f64;
                n += 1;
            }
        }
    }
    (n > 0).then(|| sum / n as f64)
}

#[test]
fn bone_plot_line_rises_with_bv_tv() {
    let dir = tempfile::tempdir().unwrap();
    write_run_plots(&rising(), dir.path()).unwrap();
    let img = decode(&dir.path().join("plots/bone.png"));
    assert_eq!((img.0, img.1), (900, 560));
    let blue = [COLOURS[0].0, COLOURS[0].1, COLOURS[0].2];
    // Screen y grows downwards: a rising line sits higher (smaller y) later.
    let early = mean_y(&img, blue, 0.15, 0.3).expect("BV/TV line drawn early");
    let late = mean_y(&img, blue, 0.5, 0.65).expect("BV/TV line drawn late");
    assert!(early > late + 20.0, "early y {early}, late y {late}");
    let cells = decode(&dir.path().join("plots/cells.png"));
    assert_eq!((cells.0, cells.1), (900, 560));
    let ys: Vec<f64> = COLOURS
        .iter()
        .map(|c| mean_y(&cells, [c.0, c.1, c.2], 0.1, 0.7).expect("every cell line drawn"))
        .collect();
    // Osteocytes in the upper panel, osteoclasts and osteoblasts in the lower.
    let mid = cells.1 as f64 / 2.0;
    assert!(ys[..3].iter().all(|&y| y < mid), "{ys:?}");
    assert!(ys[3..].iter().all(|&y| y > mid), "{ys:?}");
}

#[test]
fn plots_from_csv_match_plots_from_rows() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let rows = rising();
    write_run_plots(&rows, a.path()).unwrap();
    let csv = b.path().join("timeseries.csv");
    TimeSeries { rows }.write_csv(&csv).unwrap();
    write_plots_from_csv(&csv, b.path()).unwrap();
    for name in ["bone.png", "cells.png"] {
        let pa = std::fs::read(a.path().join("plots").join(name)).unwrap();
        let pb = std::fs::read(b.path().join("plots").join(name)).unwrap();
        assert!(pa == pb, "{name} differs between rows and CSV");
    }
}

#[test]
fn bad_time_series_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("timeseries.csv");
    std::fs::write(&csv, "day,bv_tv\n0,0.2\n1,0.21\n").unwrap();
    let e = format!("{:#}", write_plots_from_csv(&csv, dir.path()).unwrap_err());
    assert!(e.contains("mineral_mean"), "{e}");
    std::fs::write(&csv, "day,bv_tv\n0,0.2\n1,0.2").unwrap();
    assert!(Columns::read_csv(&csv).is_ok());
    std::fs::write(&csv, "day,bv_tv\n0,0.2\n1,").unwrap();
    let e = format!("{:#}", Columns::read_csv(&csv).unwrap_err());
    assert!(e.contains("row 3"), "{e}");
    std::fs::write(&csv, "").unwrap();
    let e = format!("{:#}", write_plots_from_csv(&csv, dir.path()).unwrap_err());
    assert!(e.contains("empty"), "{e}");
}

#[test]
fn chain_plot_shades_the_unloaded_days_and_draws_every_link() {
    // Ten days at the habitual load, then ten at a tenth of it.
    let rows: Vec<Metrics> = rising()
        .into_iter()
        .map(|mut r| {
            r.load_factor = if r.day < 10.0 { 1.0 } else { 0.1 };
            r.resorbed_mm3 = 1e-4 * r.day;
            r
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    write_run_plots(&rows, dir.path()).unwrap();
    let img = decode(&dir.path().join("plots/chain.png"));
    assert_eq!((img.0, img.1), (900, 1500));
    let shade = [225, 225, 225];
    let count = |x0: f64, x1: f64| {
        let (w, h, px) = &img;
        let mut n = 0;
        for y in 0..*h {
            for x in (x0 * *w as f64) as u32..(x1 * *w as f64) as u32 {
                let i = 3 * (y * w + x) as usize;
                n += usize::from(px[i..i + 3] == shade);
            }
        }
        n
    };
    // The plot area spans about x = 0.1..0.99 of the width: day 10 is near 0.55.
    let (loaded, unloaded) = (count(0.15, 0.5), count(0.6, 0.95));
    assert!(loaded < 100, "{loaded} shaded pixels over the loaded days");
    assert!(
        unloaded > 50_000,
        "{unloaded} shaded pixels over the unloaded days"
    );
    // Every panel's first line is drawn in its own sixth of the height.
    let band = img.1 as f64 / 6.0;
    let first_of_panel = |panel: usize| {
        // Colours run on across panels: panel 0 has 1 line, then 2, 2, 1, 2, 2.
        let index = [0, 1, 3, 5, 6, 8][panel];
        COLOURS[index % COLOURS.len()]
    };
    for panel in 0..6 {
        let c = first_of_panel(panel);
        let (w, h, px) = &img;
        let (y0, y1) = (
            (panel as f64 * band) as u32,
            ((panel + 1) as f64 * band) as u32,
        );
        let drawn = (y0..y1.min(*h)).any(|y| {
            (0..*w).any(|x| {
                let i = 3 * (y * w + x) as usize;
                px[i..i + 3] == [c.0, c.1, c.2]
            })
        });
        assert!(drawn, "panel {panel}: its first line is not drawn");
    }
}

#[test]
fn body_plot_only_where_the_scene_has_a_body() {
    let dir = tempfile::tempdir().unwrap();
    write_run_plots(&rising(), dir.path()).unwrap();
    assert!(
        !dir.path().join("plots/body.png").exists(),
        "no body: no plot"
    );
    let rows: Vec<Metrics> = rising()
        .into_iter()
        .map(|mut r| {
            r.serum_ca_mmol_per_l = 2.35 + 0.001 * r.day;
            r.pth_pg_per_ml = 36.0 - 0.2 * r.day;
            r.urinary_ca_mg_per_day = 150.0 + r.day;
            r.bone_ca_release_mg_per_day = 5.0 * r.day;
            if r.day > 0.0 {
                r.resorption_marker_rel = 1.0 + 0.05 * r.day;
                r.formation_marker_rel = 1.0;
            }
            r
        })
        .collect();
    write_run_plots(&rows, dir.path()).unwrap();
    let img = decode(&dir.path().join("plots/body.png"));
    assert_eq!((img.0, img.1), (900, 1000));
    // The resorption marker (first colour) rises: higher on screen later.
    let c = COLOURS[0];
    let early = mean_y(&img, [c.0, c.1, c.2], 0.12, 0.3).unwrap();
    let late = mean_y(&img, [c.0, c.1, c.2], 0.7, 0.95).unwrap();
    assert!(early > late, "early y {early}, late y {late}");
}
