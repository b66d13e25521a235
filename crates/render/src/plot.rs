//! Loss-vs-time and loss-vs-iteration figures drawn with plotters, in SVG and PNG.
//!
//! Text is rendered with an embedded DejaVu Sans (Bitstream Vera licence, see
//! `crates/render/assets/DejaVuSans-LICENSE.txt`), so no system font is needed.
//!
//! For every trainer the figure shows the median over repetitions (line) and the min–max
//! band. Each repetition's curve is a step function: at any x it takes the value of its last
//! evaluated point at or before x, and it holds its final value up to the trainer's longest
//! run. The axes are logarithmic, so the initial point (x = 0) is not drawn. The closed-form
//! linear reference (median over repetitions) is the dashed black line.

use crate::error::{RenderError, Result};
use fitbench_report::schema::slug;
use fitbench_report::schema::{DatasetInfo, Report, RunRecord};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Once;

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

pub(crate) fn register_font() {
    REGISTER.call_once(|| {
        // The embedded font is valid; if registration failed, text would be missing, which
        // the plot tests would catch.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// Colour-blind-friendly palette (Tableau 10).
pub(crate) const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Which x axis a figure uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XAxis {
    /// Training seconds (only `step` timed).
    Time,
    /// Steps.
    Iteration,
}

/// Which loss a panel shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// Training MSE.
    Train,
    /// Test MSE.
    Test,
}

/// One trainer's aggregated band: (x, min, median, max).
#[derive(Clone, Debug, PartialEq)]
pub struct Band {
    /// Trainer label.
    pub trainer: String,
    /// Whether this is the latest-iterate curve of a trainer that reports a best-so-far
    /// selection (drawn as a thin dashed median line in the trainer's colour, no band).
    pub current: bool,
    /// Colour index (the trainer's position in the report).
    pub color: usize,
    /// Points of the band, x increasing and > 0.
    pub points: Vec<(f64, f64, f64, f64)>,
}

/// Aggregates the runs of one trainer on one dataset into a median line and min–max band.
/// With `current`, the latest-iterate losses (`current_*_mse`) are used instead.
pub fn band(trainer: &str, runs: &[&RunRecord], x: XAxis, loss: Loss, current: bool) -> Band {
    let curves: Vec<Vec<(f64, f64)>> = runs
        .iter()
        .map(|r| {
            r.curve
                .iter()
                .map(|p| {
                    let xv = match x {
                        XAxis::Time => p.time_s,
                        XAxis::Iteration => p.iter as f64,
                    };
                    let y = match (loss, current) {
                        (Loss::Train, false) => p.train_mse,
                        (Loss::Test, false) => p.test_mse,
                        (Loss::Train, true) => p.current_train_mse.unwrap_or(f64::NAN),
                        (Loss::Test, true) => p.current_test_mse.unwrap_or(f64::NAN),
                    };
                    (xv, y)
                })
                .filter(|(_, y)| y.is_finite())
                .collect()
        })
        .filter(|c: &Vec<(f64, f64)>| !c.is_empty())
        .collect();
    let mut grid: Vec<f64> = curves
        .iter()
        .flatten()
        .map(|(x, _)| *x)
        .filter(|x| *x > 0.0)
        .collect();
    grid.sort_by(f64::total_cmp);
    grid.dedup();
    let points = grid
        .into_iter()
        .filter_map(|gx| {
            let vals: Vec<f64> = curves
                .iter()
                .filter_map(|c| {
                    c.iter()
                        .take_while(|(x, _)| *x <= gx)
                        .last()
                        .map(|(_, y)| *y)
                })
                .collect();
            fitbench_report::stats::min_median_max(vals).map(|(lo, med, hi)| (gx, lo, med, hi))
        })
        .collect();
    Band {
        trainer: trainer.into(),
        current,
        color: 0,
        points,
    }
}

/// Widens a positive range around its geometric mean so it spans at least one decade (a log
/// axis then always has a labelled power-of-ten tick).
pub(crate) fn widen_to_a_decade(lo: f64, hi: f64) -> (f64, f64) {
    if hi / lo >= 10.0 {
        return (lo, hi);
    }
    let mid = (lo * hi).sqrt();
    (mid / 10f64.sqrt(), mid * 10f64.sqrt())
}

/// Compact tick labels: plain numbers between 0.01 and 1000, `2e-4` style otherwise.
pub(crate) fn tick(v: f64) -> String {
    if (0.01..1000.0).contains(&v.abs()) {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        let s = format!("{v:.0e}");
        s.replace("e-0", "e-")
    }
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    info: &DatasetInfo,
    bands: &[Band],
    x: XAxis,
    loss: Loss,
    reference: Option<f64>,
) -> std::result::Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| format!("{e:?}");
    let xs = bands.iter().flat_map(|b| b.points.iter().map(|p| p.0));
    let ys = bands
        .iter()
        .flat_map(|b| b.points.iter().flat_map(|p| [p.1, p.3]))
        .chain(reference)
        .filter(|y| *y > 0.0);
    let (mut x0, mut x1) = xs.fold((f64::INFINITY, 0.0_f64), |(a, b), v| (a.min(v), b.max(v)));
    let (mut y0, mut y1) = ys.fold((f64::INFINITY, 0.0_f64), |(a, b), v| (a.min(v), b.max(v)));
    if !x0.is_finite() {
        (x0, x1) = (1e-6, 1.0);
    }
    if !y0.is_finite() {
        (y0, y1) = (1e-3, 1.0);
    }
    let (x0, x1) = widen_to_a_decade(x0 / 1.5, x1 * 1.5);
    let (y0, y1) = widen_to_a_decade(y0 / 1.5, y1 * 1.5);
    let (what, panel) = match loss {
        Loss::Train => ("train MSE", "training"),
        Loss::Test => ("test MSE", "held-out test"),
    };
    let x_label = match x {
        XAxis::Time => "training time [s] (only step() is timed)",
        XAxis::Iteration => "iteration [steps]",
    };
    let caption = format!("{} ({}×{}): {panel} loss", info.name, info.n, info.d);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(70)
        .build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(format!("{what} [standardised]"))
        .x_labels(12)
        .y_labels(12)
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .draw()
        .map_err(e)?;
    for b in bands {
        let color = PALETTE[b.color % PALETTE.len()];
        if b.current {
            let line: Vec<(f64, f64)> = b.points.iter().map(|p| (p.0, p.2.max(y0))).collect();
            chart
                .draw_series(DashedLineSeries::new(line, 4, 3, color.stroke_width(1)))
                .map_err(e)?
                .label(format!("{} (current iterate)", b.trainer))
                .legend(move |(lx, ly)| {
                    PathElement::new(vec![(lx, ly), (lx + 20, ly)], color.stroke_width(1))
                });
            continue;
        }
        if b.points.len() >= 2 {
            let mut poly: Vec<(f64, f64)> = b.points.iter().map(|p| (p.0, p.1.max(y0))).collect();
            poly.extend(b.points.iter().rev().map(|p| (p.0, p.3.max(y0))));
            chart
                .draw_series(std::iter::once(Polygon::new(
                    poly,
                    color.mix(0.18).filled(),
                )))
                .map_err(e)?;
        }
        let line: Vec<(f64, f64)> = b.points.iter().map(|p| (p.0, p.2.max(y0))).collect();
        chart
            .draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))
            .map_err(e)?
            .label(b.trainer.clone())
            .legend(move |(lx, ly)| {
                PathElement::new(vec![(lx, ly), (lx + 20, ly)], color.stroke_width(2))
            });
        if line.len() <= 2 {
            chart
                .draw_series(line.iter().map(|&p| Circle::new(p, 4, color.filled())))
                .map_err(e)?;
        }
    }
    if let Some(r) = reference.filter(|r| *r > 0.0) {
        chart
            .draw_series(DashedLineSeries::new(
                vec![(x0, r), (x1, r)],
                8,
                5,
                BLACK.stroke_width(1),
            ))
            .map_err(e)?
            .label("linear reference (OLS)")
            .legend(|(lx, ly)| {
                PathElement::new(vec![(lx, ly), (lx + 20, ly)], BLACK.stroke_width(1))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(e)?;
    Ok(())
}

fn draw_figure<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    report: &Report,
    info: &DatasetInfo,
    x: XAxis,
) -> std::result::Result<(), String> {
    root.fill(&WHITE).map_err(|e| format!("{e:?}"))?;
    let panels = root.split_evenly((2, 1));
    let runs: Vec<&RunRecord> = report
        .runs
        .iter()
        .filter(|r| r.dataset == info.name)
        .collect();
    for (panel, loss) in panels.iter().zip([Loss::Train, Loss::Test]) {
        let mut bands: Vec<Band> = Vec::new();
        for (i, t) in report.trainers().iter().enumerate() {
            let mine: Vec<&RunRecord> = runs.iter().copied().filter(|r| &r.trainer == t).collect();
            bands.push(Band {
                color: i,
                ..band(t, &mine, x, loss, false)
            });
            if mine
                .iter()
                .any(|r| r.curve.iter().any(|p| p.current_train_mse.is_some()))
            {
                bands.push(Band {
                    color: i,
                    ..band(t, &mine, x, loss, true)
                });
            }
        }
        let reference = match loss {
            Loss::Train => info.reference_train_mse(),
            Loss::Test => info.reference_test_mse(),
        };
        draw_panel(panel, info, &bands, x, loss, reference)?;
    }
    root.present().map_err(|e| format!("{e:?}"))
}

/// The per-dataset figures, as (x axis, path without extension relative to the output
/// folder): `plots/<dataset>/loss_vs_time` and `plots/<dataset>/loss_vs_iter`.
pub fn dataset_figure_stems(dataset: &str) -> [(XAxis, PathBuf); 2] {
    let sub = Path::new("plots").join(slug(dataset));
    [
        (XAxis::Time, sub.join("loss_vs_time")),
        (XAxis::Iteration, sub.join("loss_vs_iter")),
    ]
}

/// The performance profile of one level, without extension, relative to the output folder.
pub fn profile_stem(level: f64) -> PathBuf {
    Path::new("plots").join(format!("performance_profile_{level:e}"))
}

/// Draws into a temporary file beside `path` and renames it into place, so a failed or
/// interrupted write never leaves a truncated figure (nor replaces a good one).
pub(crate) fn atomically(
    path: &Path,
    draw: impl FnOnce(&Path) -> std::result::Result<(), String>,
) -> Result<()> {
    let tmp = fitbench_report::io::temp_path(path);
    if let Err(message) = draw(&tmp) {
        let _ = std::fs::remove_file(&tmp);
        return Err(RenderError::Plot {
            path: path.into(),
            message,
        });
    }
    std::fs::rename(&tmp, path).map_err(|e| RenderError::io("cannot rename into place", path, e))
}

/// The formats every figure is written in.
pub const FORMATS: [&str; 2] = ["svg", "png"];

/// Draws `loss_vs_time` and `loss_vs_iter` (SVG and PNG) for every dataset of `report` under
/// `dir/plots/<dataset>/`; returns the files written.
pub fn draw_all(report: &Report, dir: &Path) -> Result<Vec<PathBuf>> {
    register_font();
    let mut written = Vec::new();
    for info in &report.datasets {
        for (x, stem) in dataset_figure_stems(&info.name) {
            let stem = dir.join(stem);
            if let Some(sub) = stem.parent() {
                std::fs::create_dir_all(sub)
                    .map_err(|e| RenderError::io("cannot create", sub, e))?;
            }
            let size = (1000, 900);
            let svg = stem.with_extension("svg");
            atomically(&svg, |tmp| {
                draw_figure(
                    SVGBackend::new(tmp, size).into_drawing_area(),
                    report,
                    info,
                    x,
                )
            })?;
            let png = stem.with_extension("png");
            atomically(&png, |tmp| {
                draw_figure(
                    BitMapBackend::new(tmp, size).into_drawing_area(),
                    report,
                    info,
                    x,
                )
            })?;
            written.extend([svg, png]);
        }
    }
    Ok(written)
}

fn draw_lines_on<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> std::result::Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| format!("{e:?}");
    root.fill(&WHITE).map_err(e)?;
    let pts = || {
        series
            .iter()
            .flat_map(|(_, p)| p.iter().copied())
            .filter(|(x, y)| x.is_finite() && y.is_finite())
    };
    let x1 = pts().map(|p| p.0).fold(0.0_f64, f64::max).max(1.0);
    let y1 = pts().map(|p| p.1).fold(0.0_f64, f64::max).max(1e-3) * 1.05;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x1, 0.0..y1)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .x_label_formatter(&|v| {
            if x1 < 10.0 {
                format!("{v:.1}")
            } else {
                format!("{v:.0}")
            }
        })
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .draw()
        .map_err(e)?;
    for (i, (label, points)) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(e)?
            .label(label.clone())
            .legend(move |(lx, ly)| {
                PathElement::new(vec![(lx, ly), (lx + 20, ly)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(e)?;
    root.present().map_err(e)
}

/// A plain line chart (linear axes) written to `stem.svg` and `stem.png`.
pub fn draw_lines(
    stem: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<Vec<PathBuf>> {
    register_font();
    if let Some(parent) = stem.parent() {
        std::fs::create_dir_all(parent).map_err(|e| RenderError::io("cannot create", parent, e))?;
    }
    // `with_extension` would cut names containing dots (e.g. `lr=0.001`), so append instead.
    let name = |ext: &str| {
        let mut s = stem.as_os_str().to_owned();
        s.push(ext);
        PathBuf::from(s)
    };
    let (svg, png) = (name(".svg"), name(".png"));
    atomically(&svg, |tmp| {
        draw_lines_on(
            SVGBackend::new(tmp, (1000, 600)).into_drawing_area(),
            title,
            x_label,
            y_label,
            series,
        )
    })?;
    atomically(&png, |tmp| {
        draw_lines_on(
            BitMapBackend::new(tmp, (1000, 600)).into_drawing_area(),
            title,
            x_label,
            y_label,
            series,
        )
    })?;
    Ok(vec![svg, png])
}

/// A labelled line: (legend label, (x, y) points).
pub type Series = (String, Vec<(f64, f64)>);

/// Performance-profile data (Dolan & Moré 2002) of a report for one suboptimality level:
/// for each trainer, the step function ρ(τ) = fraction of datasets on which its median time
/// (the upper median for an even number of seeds, a miss counting as ∞)
/// to reach `r ≤ level` is within τ × the best trainer's time on that dataset. `r` is measured
/// against [`fitbench_report::metrics::split_reference`] (the same for every trainer) and on every
/// evaluated point (time resolution matters more here than determinism). Returns
/// `(trainer, [(log₂ τ, ρ)])`; a trainer that never reaches the level on a dataset never
/// counts for it. `None` unless the report has at least two datasets.
pub fn performance_profile(report: &Report, level: f64) -> Option<Vec<Series>> {
    performance_profile_with(
        report,
        level,
        fitbench_report::charge::TimeBasis::SelectionHonest,
    )
}

/// [`performance_profile`] with each run's time under `basis` ([`fitbench_report::charge`]):
/// tuning-inclusive charges a tuned trainer its other grid trials, optimistic takes the
/// fastest trial in hindsight. Reports and pages draw them under
/// [`crate::verdict::ranked_basis`].
pub fn performance_profile_with(
    report: &Report,
    level: f64,
    basis: fitbench_report::charge::TimeBasis,
) -> Option<Vec<Series>> {
    if report.datasets.len() < 2 {
        return None;
    }
    let trainers = report.trainers();
    // times[d][t]: median over seeds of the time to the level (∞ if the median seed missed).
    let times: Vec<Vec<f64>> = report
        .datasets
        .iter()
        .map(|info| {
            trainers
                .iter()
                .map(|t| {
                    let mut v: Vec<f64> = report
                        .runs
                        .iter()
                        .filter(|r| r.dataset == info.name && &r.trainer == t)
                        .map(|r| {
                            // One reference for every trainer: the best loss known on the
                            // split (a linear model's own OLS optimum would not compare).
                            fitbench_report::metrics::split_reference(
                                report,
                                &r.dataset,
                                r.repetition,
                            )
                            .and_then(|reference| {
                                let own = r.curve.iter().find(|p| {
                                    p.train_mse.is_finite()
                                        && reference.relative_suboptimality(p.train_mse) <= level
                                });
                                let threshold = reference.train_mse
                                    + level * (reference.null_train_mse - reference.train_mse);
                                fitbench_report::charge::time_to_mse(
                                    own.map(|p| p.time_s),
                                    fitbench_report::charge::search_of(&report.tuning, r),
                                    threshold,
                                    basis,
                                )
                            })
                            .unwrap_or(f64::INFINITY)
                        })
                        .collect();
                    v.sort_by(f64::total_cmp);
                    v.get(v.len() / 2).copied().unwrap_or(f64::INFINITY)
                })
                .collect()
        })
        .collect();
    let ratios: Vec<Vec<f64>> = times
        .iter()
        .map(|row| {
            let best = row.iter().copied().fold(f64::INFINITY, f64::min);
            row.iter()
                .map(|&t| {
                    if best.is_finite() && t.is_finite() {
                        (t / best.max(1e-12)).max(1.0)
                    } else {
                        f64::INFINITY
                    }
                })
                .collect()
        })
        .collect();
    let n = report.datasets.len() as f64;
    let x_max = ratios
        .iter()
        .flatten()
        .filter(|r| r.is_finite())
        .fold(1.0_f64, |m, r| m.max(*r))
        .log2()
        .max(1.0)
        * 1.1;
    Some(
        trainers
            .iter()
            .enumerate()
            .map(|(ti, t)| {
                let mut xs: Vec<f64> = ratios
                    .iter()
                    .map(|row| row[ti])
                    .filter(|r| r.is_finite())
                    .map(f64::log2)
                    .collect();
                xs.sort_by(f64::total_cmp);
                let mut points = vec![(0.0, 0.0)];
                for (i, x) in xs.iter().enumerate() {
                    let before = i as f64 / n;
                    points.push((*x, before));
                    points.push((*x, (i + 1) as f64 / n));
                }
                let last = points.last().map_or(0.0, |p| p.1);
                points.push((x_max, last));
                (t.clone(), points)
            })
            .collect(),
    )
}

/// Draws `plots/performance_profile_<level>.{svg,png}` for every suboptimality level of a
/// report with at least two datasets; returns the files written.
pub fn draw_profiles(report: &Report, dir: &Path) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let basis = crate::verdict::ranked_basis(report);
    for &level in &report.config.suboptimality_targets {
        let Some(series) = performance_profile_with(report, level, basis) else {
            break;
        };
        let stem = dir.join(profile_stem(level));
        written.extend(draw_lines(
            &stem,
            &format!(
                "{}: performance profile, {} time to r ≤ {level:e} vs the best known loss ({} datasets)",
                report.config.name,
                basis.as_str(),
                report.datasets.len()
            ),
            "log₂ τ  (training time ÷ the fastest trainer's on that dataset)",
            "fraction of datasets within τ",
            &series,
        )?);
    }
    Ok(written)
}
