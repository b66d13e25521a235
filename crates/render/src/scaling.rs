//! How cost grows with the number of rows: seconds per step and peak memory against n, per
//! trainer, on log–log axes, with the fitted slope (the exponent b of cost ∝ nᵇ).
//!
//! A report gets this view when it has at least [`MIN_SIZES`] datasets with the same number
//! of features and different numbers of training rows (the `scaling` preset: one synthetic
//! problem at n = 10³ … 10⁶). Each point is the median over the trainer's runs on that
//! dataset that ended normally; peak memory is the trainer's own ([`MemoryRecord::peak_bytes`],
//! heap bytes above what was live when its run started), present only where it was measured.
//!
//! [`MemoryRecord::peak_bytes`]: fitbench_report::schema::MemoryRecord::peak_bytes

use crate::error::Result;
use crate::plot::{PALETTE, atomically, register_font, tick, widen_to_a_decade};
use fitbench_report::schema::{Report, RunRecord};
use fitbench_report::stats::median;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Datasets of different sizes a report needs for the scaling view.
pub const MIN_SIZES: usize = 3;

/// The figure's file stem, under the report's folder.
pub const STEM: &str = "plots/scaling";

/// One trainer on one dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct ScalingPoint {
    /// Training rows.
    pub n_train: usize,
    /// Median training seconds per step (runs that ended normally with at least one step).
    pub seconds_per_step: Option<f64>,
    /// Median peak heap bytes of the trainer (`init` or `step`), where measured.
    pub peak_bytes: Option<f64>,
}

/// One trainer across the sizes, with the fitted exponents.
#[derive(Clone, Debug, PartialEq)]
pub struct ScalingSeries {
    /// Trainer label.
    pub trainer: String,
    /// One point per dataset, by increasing n.
    pub points: Vec<ScalingPoint>,
    /// Least-squares slope of log(seconds per step) against log n.
    pub time_slope: Option<f64>,
    /// Least-squares slope of log(peak bytes) against log n.
    pub memory_slope: Option<f64>,
}

/// Least-squares slope of log y against log x over the points with x, y > 0 (at least two
/// distinct x); `None` otherwise.
pub fn log_log_slope(points: &[(f64, f64)]) -> Option<f64> {
    let logs: Vec<(f64, f64)> = points
        .iter()
        .filter(|(x, y)| *x > 0.0 && *y > 0.0 && x.is_finite() && y.is_finite())
        .map(|(x, y)| (x.ln(), y.ln()))
        .collect();
    if logs.len() < 2 {
        return None;
    }
    let m = logs.len() as f64;
    let (mx, my) = logs
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x / m, b + y / m));
    let sxx: f64 = logs.iter().map(|(x, _)| (x - mx) * (x - mx)).sum();
    let sxy: f64 = logs.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

/// The scaling view of `report`, or `None` when it does not have [`MIN_SIZES`] datasets of
/// one width and different sizes.
pub fn scaling(report: &Report) -> Option<Vec<ScalingSeries>> {
    let mut datasets: Vec<_> = report.datasets.iter().collect();
    datasets.sort_by_key(|d| d.n_train);
    let same_width = datasets.windows(2).all(|w| w[0].d == w[1].d);
    let distinct = datasets.windows(2).all(|w| w[0].n_train < w[1].n_train);
    if datasets.len() < MIN_SIZES || !same_width || !distinct {
        return None;
    }
    let series = report
        .trainers()
        .into_iter()
        .map(|trainer| {
            let points: Vec<ScalingPoint> = datasets
                .iter()
                .map(|info| {
                    let runs: Vec<&RunRecord> = report
                        .runs
                        .iter()
                        .filter(|r| {
                            r.dataset == info.name
                                && r.trainer == trainer
                                && r.status.is_ok()
                                && r.iterations > 0
                        })
                        .collect();
                    ScalingPoint {
                        n_train: info.n_train,
                        seconds_per_step: median(
                            runs.iter()
                                .map(|r| r.train_s / r.iterations as f64)
                                .collect(),
                        ),
                        peak_bytes: median(
                            runs.iter()
                                .filter_map(|r| r.memory.as_ref().map(|m| m.peak_bytes() as f64))
                                .collect(),
                        ),
                    }
                })
                .collect();
            let fit = |f: &dyn Fn(&ScalingPoint) -> Option<f64>| {
                log_log_slope(
                    &points
                        .iter()
                        .filter_map(|p| f(p).map(|y| (p.n_train as f64, y)))
                        .collect::<Vec<_>>(),
                )
            };
            ScalingSeries {
                time_slope: fit(&|p| p.seconds_per_step),
                memory_slope: fit(&|p| p.peak_bytes),
                trainer,
                points,
            }
        })
        .collect();
    Some(series)
}

fn slope_label(s: Option<f64>) -> String {
    s.map_or("–".into(), |s| format!("{s:.2}"))
}

/// The Markdown section of the scaling view (empty when the report has none).
pub fn markdown(report: &Report) -> String {
    use std::fmt::Write as _;
    let Some(series) = scaling(report) else {
        return String::new();
    };
    let mut out = String::new();
    let sizes: Vec<String> = series
        .first()
        .map(|s| {
            s.points
                .iter()
                .map(|p| format!("n = {}", p.n_train))
                .collect()
        })
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "## Scaling with n\n\nMedian seconds per step and peak memory (the trainer's own heap bytes, `init` or `step`) at each training-set size; the slope b is the least-squares fit of cost ∝ nᵇ over the sizes where the trainer ran (1 = linear in n).\n\n![scaling]({STEM}.png)\n"
    );
    let _ = writeln!(
        out,
        "| trainer | {} | time slope | {} | memory slope |",
        sizes
            .iter()
            .map(|s| format!("s/step {s}"))
            .collect::<Vec<_>>()
            .join(" | "),
        sizes
            .iter()
            .map(|s| format!("peak {s}"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(out, "|---|{}", "---|".repeat(2 * sizes.len() + 2));
    for s in &series {
        let times: Vec<String> = s
            .points
            .iter()
            .map(|p| {
                p.seconds_per_step
                    .map_or("–".into(), fitbench_report::format::duration)
            })
            .collect();
        let peaks: Vec<String> = s
            .points
            .iter()
            .map(|p| {
                p.peak_bytes
                    .map_or("–".into(), fitbench_report::format::bytes)
            })
            .collect();
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} |",
            s.trainer,
            times.join(" | "),
            slope_label(s.time_slope),
            peaks.join(" | "),
            slope_label(s.memory_slope)
        );
    }
    out.push('\n');
    out
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    series: &[ScalingSeries],
    title: &str,
    y_label: &str,
    value: &dyn Fn(&ScalingPoint) -> Option<f64>,
    slope: &dyn Fn(&ScalingSeries) -> Option<f64>,
) -> std::result::Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| format!("{e:?}");
    let pts = || {
        series.iter().flat_map(|s| {
            s.points
                .iter()
                .filter_map(|p| value(p).map(|y| (p.n_train as f64, y)))
        })
    };
    let (x0, x1) = pts().fold((f64::INFINITY, 0.0_f64), |(a, b), (x, _)| {
        (a.min(x), b.max(x))
    });
    let (y0, y1) = pts().fold((f64::INFINITY, 0.0_f64), |(a, b), (_, y)| {
        (a.min(y), b.max(y))
    });
    if !(x0.is_finite() && y0.is_finite() && y0 > 0.0) {
        return Ok(());
    }
    let (x0, x1) = widen_to_a_decade(x0 / 1.5, x1 * 1.5);
    let (y0, y1) = widen_to_a_decade(y0 / 2.0, y1 * 2.0);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(70)
        .build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc("training rows n")
        .y_desc(y_label)
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .draw()
        .map_err(e)?;
    for (i, s) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let line: Vec<(f64, f64)> = s
            .points
            .iter()
            .filter_map(|p| value(p).map(|y| (p.n_train as f64, y)))
            .collect();
        if line.is_empty() {
            continue;
        }
        chart
            .draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))
            .map_err(e)?
            .label(format!("{} (slope {})", s.trainer, slope_label(slope(s))))
            .legend(move |(lx, ly)| {
                PathElement::new(vec![(lx, ly), (lx + 20, ly)], color.stroke_width(2))
            });
        chart
            .draw_series(line.into_iter().map(|p| Circle::new(p, 3, color.filled())))
            .map_err(e)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(e)
}

fn draw_on<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    name: &str,
    series: &[ScalingSeries],
) -> std::result::Result<(), String> {
    root.fill(&WHITE).map_err(|e| format!("{e:?}"))?;
    let panels = root.split_evenly((1, 2));
    draw_panel(
        &panels[0],
        series,
        &format!("{name}: seconds per step"),
        "seconds per step (median)",
        &|p| p.seconds_per_step,
        &|s| s.time_slope,
    )?;
    draw_panel(
        &panels[1],
        series,
        &format!("{name}: peak memory"),
        "peak heap bytes of the trainer (median)",
        &|p| p.peak_bytes,
        &|s| s.memory_slope,
    )?;
    root.present().map_err(|e| format!("{e:?}"))
}

/// Draws `plots/scaling.{svg,png}` when the report has a scaling view; returns the files.
pub fn draw(report: &Report, dir: &Path) -> Result<Vec<PathBuf>> {
    let Some(series) = scaling(report) else {
        return Ok(Vec::new());
    };
    register_font();
    let stem = dir.join(STEM);
    if let Some(parent) = stem.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| crate::error::RenderError::io("cannot create", parent, e))?;
    }
    let (svg, png) = (stem.with_extension("svg"), stem.with_extension("png"));
    let size = (1600, 640);
    let name = report.config.name.as_str();
    atomically(&svg, |tmp| {
        draw_on(
            SVGBackend::new(tmp, size).into_drawing_area(),
            name,
            &series,
        )
    })?;
    atomically(&png, |tmp| {
        draw_on(
            BitMapBackend::new(tmp, size).into_drawing_area(),
            name,
            &series,
        )
    })?;
    Ok(vec![svg, png])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slopes are exact up to rounding.
    const SLOPE_TOL: f64 = 1e-12;

    #[test]
    fn the_slope_of_a_power_law_is_its_exponent() {
        let pts: Vec<(f64, f64)> = [1e3, 1e4, 1e5, 1e6]
            .iter()
            .map(|&n: &f64| (n, 3.0 * n.powf(1.5)))
            .collect();
        assert!((log_log_slope(&pts).unwrap() - 1.5).abs() < SLOPE_TOL);
        // Non-positive values are left out; one point has no slope.
        let mut with_zero = pts.clone();
        with_zero.push((1e7, 0.0));
        assert!((log_log_slope(&with_zero).unwrap() - 1.5).abs() < SLOPE_TOL);
        assert_eq!(log_log_slope(&pts[..1]), None);
        assert_eq!(log_log_slope(&[(10.0, 1.0), (10.0, 2.0)]), None);
    }
}
