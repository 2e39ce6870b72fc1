//! PNG plots of a run's time series: `plots/chain.png` (the causal chain:
//! load, osteocytes, bone cells, bone, against day, with unloaded days
//! shaded), `plots/bone.png` (BV/TV and mean mineral relative to day 0) and
//! `plots/cells.png` (cell counts), drawn with plotters into memory,
//! encoded with `png` and written atomically.
//! Labels use a font compiled into the binary, so plots need no system fonts.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Once;

use anyhow::{Context, Result, anyhow, bail};
use plotters::prelude::*;

use super::write_atomic_bytes;
use crate::sim::Metrics;

/// Plot size in pixels; the chain figure stacks four panels, so it is taller.
const WIDTH_PX: u32 = 900;
const HEIGHT_PX: u32 = 560;
const CHAIN_HEIGHT_PX: u32 = 1500;
/// Shade of the days when the site carries less than its habitual load.
const UNLOADED_SHADE: RGBColor = RGBColor(225, 225, 225);
const FONT: &str = "sans-serif";

/// Series colours (colour-blind-safe Okabe–Ito), in legend order.
pub const COLOURS: [RGBColor; 5] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
];

/// Named numeric columns of a time series (a `timeseries.csv`).
#[derive(Debug, Clone, Default)]
pub struct Columns(HashMap<String, Vec<f64>>);

impl Columns {
    /// The columns of `rows`, named as in `timeseries.csv`.
    pub fn from_rows(rows: &[Metrics]) -> Self {
        let mut cols: HashMap<String, Vec<f64>> = HashMap::new();
        for row in rows {
            let value = serde_json::to_value(row).expect("metrics serialise");
            for name in Metrics::columns() {
                // An empty value serialises as null: keep it NaN.
                let v = value[&name].as_f64().unwrap_or(f64::NAN);
                cols.entry(name).or_default().push(v);
            }
        }
        Self(cols)
    }

    /// Parses a CSV with a header row of column names and numeric cells
    /// (`nan` allowed); an empty cell is NaN in an optional column
    /// ([`Metrics::OPTIONAL_COLUMNS`]: undefined or unmeasured) and an
    /// error elsewhere (a cut row).
    pub fn read_csv(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse_csv(&text).with_context(|| format!("parsing {}", path.display()))
    }

    pub fn parse_csv(text: &str) -> Result<Self> {
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header: Vec<String> = lines
            .next()
            .ok_or_else(|| anyhow!("the file is empty (no header row)"))?
            .split(',')
            .map(|s| s.trim().to_string())
            .collect();
        let mut cols: Vec<Vec<f64>> = vec![Vec::new(); header.len()];
        for (i, line) in lines.enumerate() {
            let cells: Vec<&str> = line.split(',').collect();
            if cells.len() != header.len() {
                bail!(
                    "row {} has {} cells, the header has {}",
                    i + 2,
                    cells.len(),
                    header.len()
                );
            }
            for ((col, name), cell) in cols.iter_mut().zip(&header).zip(cells) {
                let cell = cell.trim();
                let v = if cell.is_empty() && Metrics::OPTIONAL_COLUMNS.contains(&name.as_str()) {
                    f64::NAN
                } else {
                    cell.parse::<f64>()
                        .map_err(|_| anyhow!("row {}: {cell:?} is not a number", i + 2))?
                };
                col.push(v);
            }
        }
        Ok(Self(header.into_iter().zip(cols).collect()))
    }

    /// A column by name, or an error naming it.
    pub fn get(&self, name: &str) -> Result<&[f64]> {
        self.0
            .get(name)
            .map(Vec::as_slice)
            .ok_or_else(|| anyhow!("the time series has no column {name:?}"))
    }

    /// Rows in the series.
    pub fn len(&self) -> usize {
        self.0.values().next().map_or(0, Vec::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Column `name` as a plot line.
    fn line(&self, name: &str, label: &'static str) -> Result<Line<'static>> {
        Ok(Line {
            label,
            ys: self.get(name)?.to_vec(),
        })
    }

    /// Column `name` relative to its first defined, nonzero value
    /// (structure is measured every few days, and empty when unmeasured).
    fn relative(&self, name: &str, label: &'static str) -> Result<Line<'static>> {
        let v = self.get(name)?;
        let base = v.iter().copied().find(|x| x.is_finite() && *x != 0.0);
        Ok(Line {
            label,
            ys: v
                .iter()
                .map(|&x| base.map_or(f64::NAN, |b| x / b))
                .collect(),
        })
    }

    /// Column `name` as 7-day trailing means: a small lattice's daily
    /// volumes are a handful of voxels, and the weekly mean shows the trend.
    fn weekly(&self, name: &str, label: &'static str) -> Result<Line<'static>> {
        Ok(Line {
            label,
            ys: trailing_mean(self.get(name)?, 7),
        })
    }
}

/// One line of a plot.
struct Line<'a> {
    label: &'a str,
    ys: Vec<f64>,
}

fn register_font() {
    static FONT_ONCE: Once = Once::new();
    FONT_ONCE.call_once(|| {
        // The font is a valid TrueType file compiled in; failure is a build error.
        plotters::style::register_font(FONT, FontStyle::Normal, epaint_default_fonts::UBUNTU_LIGHT)
            .unwrap_or_else(|_| panic!("the bundled plot font is invalid"));
    });
}

/// Writes the plots (see [`write_plots`]) under `run_dir` from the rows of a run.
pub fn write_run_plots(rows: &[Metrics], run_dir: &Path) -> Result<()> {
    write_plots(&Columns::from_rows(rows), run_dir)
}

/// Writes the plots of a run folder from its `timeseries.csv`.
pub fn write_plots_from_csv(csv: &Path, run_dir: &Path) -> Result<()> {
    write_plots(&Columns::read_csv(csv)?, run_dir)
}

/// Writes `plots/chain.png`, `plots/bone.png` and `plots/cells.png` under `run_dir`.
pub fn write_plots(cols: &Columns, run_dir: &Path) -> Result<()> {
    if cols.is_empty() {
        bail!("the time series has no rows to plot");
    }
    let dir = run_dir.join("plots");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let day = cols.get("day")?;

    let relative = |name: &str| -> Result<Vec<f64>> {
        let v = cols.get(name)?;
        let base = v[0];
        // A zero day-0 value has no relative change: leave the line out.
        Ok(v.iter()
            .map(|&x| {
                if base.is_finite() && base != 0.0 {
                    x / base
                } else {
                    f64::NAN
                }
            })
            .collect())
    };
    let bone = [
        Line {
            label: "BV/TV",
            ys: relative("bv_tv")?,
        },
        Line {
            label: "mean mineral",
            ys: relative("mineral_mean")?,
        },
    ];
    let png = draw(
        day,
        &[],
        HEIGHT_PX,
        &[Panel {
            title: "Bone relative to day 0",
            y_label: "relative to day 0",
            lines: bone.into(),
            counts: false,
            from_zero: false,
        }],
    )?;
    write_atomic_bytes(&dir.join("bone.png"), &png).context("writing plots/bone.png")?;

    // Osteocytes outnumber the surface cells by orders of magnitude: one
    // panel each, so both are readable.
    let png = draw(
        day,
        &[],
        HEIGHT_PX,
        &[
            Panel {
                title: "Osteocytes",
                y_label: "count",
                lines: vec![
                    cols.line("osteocytes_alive", "alive")?,
                    cols.line("osteocytes_disuse", "sensing disuse")?,
                    cols.line("osteocytes_apoptotic", "apoptotic")?,
                ],
                counts: true,
                from_zero: false,
            },
            Panel {
                title: "Osteoclasts and osteoblasts",
                y_label: "count",
                lines: vec![
                    cols.line("osteoclasts", "osteoclasts")?,
                    cols.line("osteoblasts", "osteoblasts")?,
                ],
                counts: true,
                from_zero: false,
            },
        ],
    )?;
    write_atomic_bytes(&dir.join("cells.png"), &png).context("writing plots/cells.png")?;
    let png = draw_chain(cols)?;
    write_atomic_bytes(&dir.join("chain.png"), &png).context("writing plots/chain.png")?;
    // The body's columns are empty where the scene has no body (mouse).
    if cols
        .get("serum_ca_mmol_per_l")
        .is_ok_and(|v| v.iter().any(|x| x.is_finite()))
    {
        let png = draw_body(cols)?;
        write_atomic_bytes(&dir.join("body.png"), &png).context("writing plots/body.png")?;
    }
    Ok(())
}

/// The causal chain of disuse bone loss, one panel per link, on one day
/// axis: the load the site carries, the osteocytes that sense its absence
/// and die, the signals they send, the osteoclasts those recruit, the bone
/// resorbed and formed, and the structure. Days below the habitual load are
/// shaded.
fn draw_chain(cols: &Columns) -> Result<Vec<u8>> {
    let day = cols.get("day")?;
    draw(
        day,
        &unloaded_spans(day, cols.get("load_factor")?),
        CHAIN_HEIGHT_PX,
        &[
            Panel {
                title: "1. The load on the site falls (shaded: below habitual)",
                y_label: "× habitual",
                lines: vec![cols.line("load_factor", "daily load stimulus")?],
                counts: false,
                from_zero: true,
            },
            Panel {
                title: "2. Osteocytes sense disuse, and die",
                y_label: "count",
                lines: vec![
                    cols.line("osteocytes_disuse", "sensing disuse")?,
                    cols.line("osteocytes_alive", "alive")?,
                ],
                counts: true,
                from_zero: false,
            },
            Panel {
                title: "3. They signal: RANKL and sclerostin rise",
                y_label: "mean, rel. to day 0",
                lines: vec![
                    cols.relative("mean_rankl", "RANKL")?,
                    cols.relative("mean_sclerostin", "sclerostin")?,
                ],
                counts: false,
                from_zero: false,
            },
            Panel {
                title: "4. RANKL recruits osteoclasts",
                y_label: "count",
                lines: vec![cols.line("osteoclasts", "osteoclasts")?],
                counts: true,
                from_zero: false,
            },
            Panel {
                title: "5. Resorption outpaces formation (7-day means)",
                y_label: "mm³ per day",
                lines: vec![
                    cols.weekly("resorbed_mm3", "resorbed")?,
                    cols.weekly("formed_mm3", "formed")?,
                ],
                counts: false,
                from_zero: true,
            },
            Panel {
                title: "6. Bone is lost and trabeculae thin",
                y_label: "rel. to day 0",
                lines: vec![
                    cols.relative("bv_tv", "BV/TV")?,
                    cols.relative("tb_th_um", "Tb.Th (as measured)")?,
                ],
                counts: false,
                from_zero: false,
            },
        ],
    )
}

/// The body's side: turnover markers, serum calcium, PTH, and the calcium
/// leaving bone and the urine, against day (unloaded days shaded).
fn draw_body(cols: &Columns) -> Result<Vec<u8>> {
    let day = cols.get("day")?;
    draw(
        day,
        &unloaded_spans(day, cols.get("load_factor")?),
        CHAIN_HEIGHT_PX * 2 / 3,
        &[
            Panel {
                title: "Turnover markers, rel. to 1 g (7-day means)",
                y_label: "× baseline",
                lines: vec![
                    cols.weekly("resorption_marker_rel", "resorption (CTX-like)")?,
                    cols.weekly("formation_marker_rel", "formation (BSAP-like)")?,
                ],
                counts: false,
                from_zero: true,
            },
            Panel {
                title: "Serum calcium",
                y_label: "mmol/L",
                lines: vec![cols.line("serum_ca_mmol_per_l", "serum Ca")?],
                counts: false,
                from_zero: false,
            },
            Panel {
                title: "Parathyroid hormone",
                y_label: "pg/mL",
                lines: vec![cols.line("pth_pg_per_ml", "PTH")?],
                counts: false,
                from_zero: false,
            },
            Panel {
                title: "Calcium from bone and in urine (7-day means)",
                y_label: "mg/day",
                lines: vec![
                    cols.weekly("bone_ca_release_mg_per_day", "net from bone")?,
                    cols.weekly("urinary_ca_mg_per_day", "urine")?,
                ],
                counts: false,
                from_zero: false,
            },
        ],
    )
}

/// Mean of the defined values among the last `n` up to and including each
/// one (fewer at the start); NaN where none is defined.
fn trailing_mean(v: &[f64], n: usize) -> Vec<f64> {
    (0..v.len())
        .map(|i| {
            let w: Vec<f64> = v[i.saturating_sub(n - 1)..=i]
                .iter()
                .copied()
                .filter(|x| x.is_finite())
                .collect();
            if w.is_empty() {
                f64::NAN
            } else {
                w.iter().sum::<f64>() / w.len() as f64
            }
        })
        .collect()
}

/// Day spans [start, end) whose load stimulus is below the habitual 1
/// (each row stands for the day from its own to the next row's).
fn unloaded_spans(day: &[f64], load_factor: &[f64]) -> Vec<(f64, f64)> {
    let mut spans: Vec<(f64, f64)> = Vec::new();
    for (i, (&d, &l)) in day.iter().zip(load_factor).enumerate() {
        if l.is_nan() || l >= 1.0 - 1e-6 {
            continue;
        }
        let end = day.get(i + 1).copied().unwrap_or(d);
        match spans.last_mut() {
            Some(last) if last.1 >= d => last.1 = end,
            _ => spans.push((d, end)),
        }
    }
    spans
}

/// Finite (min, max) over all lines, padded so a flat line sits mid-plot.
fn y_range(lines: &[Line], from_zero: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for y in lines.iter().flat_map(|l| &l.ys).filter(|y| y.is_finite()) {
        lo = lo.min(*y);
        hi = hi.max(*y);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if from_zero {
        lo = lo.min(0.0);
    }
    let span = hi - lo;
    // 5 % headroom; a flat series gets ±1 % of its value (or ±1).
    let pad = if span > 0.0 {
        0.05 * span
    } else {
        (0.01 * hi.abs()).max(if hi == 0.0 { 1.0 } else { 0.0 })
    };
    (if from_zero { lo } else { lo - pad }, hi + pad)
}

/// One chart of a figure: its lines share a y axis.
struct Panel<'a> {
    title: &'a str,
    y_label: &'a str,
    lines: Vec<Line<'a>>,
    /// Counts: the y axis starts at 0 and its labels are whole numbers.
    counts: bool,
    /// Amounts: the y axis starts at 0 (counts always do).
    from_zero: bool,
}

/// Draws panels stacked top to bottom against `xs`, with the x spans in
/// `shaded` shaded in each, and returns the PNG bytes. Colours run on
/// across panels, so each series keeps its own.
fn draw(xs: &[f64], shaded: &[(f64, f64)], height_px: u32, panels: &[Panel]) -> Result<Vec<u8>> {
    register_font();
    let mut rgb = vec![0u8; (WIDTH_PX * height_px * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH_PX, height_px)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let x_max = xs.iter().copied().fold(0.0_f64, f64::max).max(1.0);
        let x_min = xs.iter().copied().fold(x_max, f64::min).min(0.0);
        let areas = root.split_evenly((panels.len(), 1));
        let mut colour_index = 0;
        for (area, panel) in areas.iter().zip(panels) {
            let (y_lo, y_hi) = y_range(&panel.lines, panel.counts || panel.from_zero);
            // Enough decimals to tell ~5 ticks apart, none for counts.
            let decimals = if panel.counts {
                0
            } else {
                (-((y_hi - y_lo) / 5.0).log10()).ceil().clamp(0.0, 9.0) as usize
            };
            let mut chart = ChartBuilder::on(area)
                .caption(panel.title, (FONT, 22))
                .margin(10)
                .x_label_area_size(40)
                .y_label_area_size(80)
                .build_cartesian_2d(x_min..x_max, y_lo..y_hi)
                .map_err(plot_error)?;
            // Shade first, so the grid and the lines stay on top.
            chart
                .draw_series(
                    shaded.iter().map(|&(a, b)| {
                        Rectangle::new([(a, y_lo), (b, y_hi)], UNLOADED_SHADE.filled())
                    }),
                )
                .map_err(plot_error)?;
            chart
                .configure_mesh()
                .x_desc("day")
                .x_label_formatter(&|d| format!("{d:.0}"))
                .y_desc(panel.y_label)
                .y_label_formatter(&|y| format!("{y:.decimals$}"))
                .label_style((FONT, 15))
                .draw()
                .map_err(plot_error)?;
            for line in &panel.lines {
                let colour = COLOURS[colour_index % COLOURS.len()];
                colour_index += 1;
                let points: Vec<(f64, f64)> = xs
                    .iter()
                    .zip(&line.ys)
                    .filter(|(x, y)| x.is_finite() && y.is_finite())
                    .map(|(&x, &y)| (x, y))
                    .collect();
                chart
                    .draw_series(LineSeries::new(points, colour.stroke_width(2)))
                    .map_err(plot_error)?
                    .label(line.label)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                    });
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font((FONT, 15))
                .draw()
                .map_err(plot_error)?;
        }
        root.present().map_err(plot_error)?;
    }
    encode_png(&rgb, WIDTH_PX, height_px)
}

fn plot_error<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing a plot: {e:?}")
}

fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, width, height);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header()?;
    w.write_image_data(rgb)?;
    w.finish()?;
    Ok(out)
}
