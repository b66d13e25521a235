//! `report.html` and `fitbench check --html`: self-contained interactive pages.
//!
//! Each page is one file: the data as JSON, the charting library (uPlot, vendored under
//! `assets/html/` with its licence, version and sha256 in `assets/html/README.md`), fitbench's
//! own script and styles, all inline. It opens offline, without a server, and refers to no
//! other file. The markup comes from minijinja templates (`templates/`), which escape every
//! value they insert; the JSON is inserted with `</` written as `<\/`, so no string in the data
//! can end the script element.
//!
//! Curves are thinned for the page: each run keeps its scheduled evaluation points, evenly
//! thinned to at most [`CURVE_CAP`], plus its last point; the seed bands (median, min, max)
//! are computed from those by [`crate::plot::band`], as in the static plots, and thinned to
//! [`CURVE_CAP`] points too. Curve values are written with f32 precision ([`Compact`]: about
//! 7 significant digits, more than a chart can show); every table value is written exactly.

use crate::aggregate::{self, Value3};
use crate::check::{Comparison, Verdict};
use crate::error::{RenderError, Result};
use crate::plot::{self, Band, Loss, XAxis};
use fitbench_report::schema::{CurvePoint, Report, RunRecord};
use minijinja::{Environment, context};
use serde::Serialize;
use serde_json::Value;
use std::path::Path;

/// The most scheduled points kept per run, and points per seed band, on a page.
pub const CURVE_CAP: usize = 300;

/// The page's script and styles, and the vendored charting library.
const UPLOT_JS: &str = include_str!("../assets/html/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../assets/html/uPlot.min.css");
const PAGE_JS: &str = include_str!("../assets/html/fitbench.js");
const PAGE_CSS: &str = include_str!("../assets/html/fitbench.css");
const REPORT_TEMPLATE: &str = include_str!("../templates/report.html");
const CHECK_TEMPLATE: &str = include_str!("../templates/check.html");

/// A curve value on a page: written with f32 precision (the shortest decimal that reads back
/// as the same f32) where it fits in an f32, else as the f64 it is (a diverging run's 1e41).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Compact(pub f64);

impl Serialize for Compact {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let f = self.0 as f32;
        if f.is_finite() {
            s.serialize_f32(f)
        } else {
            s.serialize_f64(self.0)
        }
    }
}

/// One trainer's thinned seed band on one axis: x, then (min, median, max) of the train and
/// test MSE at each x (`null` where no run has a value yet).
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct BandView {
    /// x values (seconds or iterations), increasing.
    pub x: Vec<Compact>,
    /// Train MSE (min, median, max) at each x.
    pub train: Vec<[Option<Compact>; 3]>,
    /// Test MSE (min, median, max) at each x.
    pub test: Vec<[Option<Compact>; 3]>,
}

/// One trainer on one dataset.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SeriesView {
    /// Trainer label.
    pub trainer: String,
    /// Palette index (the trainer's position in the report, as in the static plots).
    pub color: usize,
    /// Flops per step where every run of the pair reports the same count (the model-flops
    /// axis is iterations × this), else `None`.
    pub flops_per_step: Option<f64>,
    /// Against training seconds.
    pub time: BandView,
    /// Against iterations.
    pub iter: BandView,
}

/// One dataset's chart.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct DatasetView {
    /// Dataset name.
    pub name: String,
    /// Where it came from.
    pub source: String,
    /// Rows, train rows, test rows, features.
    pub n: usize,
    /// Training rows.
    pub n_train: usize,
    /// Test rows.
    pub n_test: usize,
    /// Features.
    pub d: usize,
    /// The linear reference's train MSE (dashed line).
    pub linear_train: Option<f64>,
    /// The linear reference's test MSE.
    pub linear_test: Option<f64>,
    /// One entry per trainer with runs on this dataset.
    pub series: Vec<SeriesView>,
    /// The trainers leading on train MSE (best and tied, [`crate::verdict`]): the chart
    /// opens with only these shown; the legend shows the others.
    pub leaders: Vec<String>,
}

/// One dataset's verdict table ([`crate::verdict::table`], trimmed).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct VerdictView {
    /// Dataset name.
    pub dataset: String,
    /// The table.
    pub table: crate::verdict::Trimmed,
}

/// One run, for the runs table.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RunView {
    /// `dataset / trainer / repetition`, the run's key.
    pub key: String,
    /// Dataset.
    pub dataset: String,
    /// Trainer label.
    pub trainer: String,
    /// Repetition.
    pub repetition: usize,
    /// Status (`max_iters`, `timeout`, `diverged`, `error`, …).
    pub status: String,
    /// Whether the run ended normally (not diverged, failed, panicked or interrupted).
    pub ok: bool,
    /// The status message, if any.
    pub message: Option<String>,
    /// Steps taken.
    pub iterations: usize,
    /// Timed training seconds.
    pub train_s: f64,
    /// Best training MSE.
    pub best_train_mse: Option<f64>,
    /// Final test MSE.
    pub final_test_mse: Option<f64>,
    /// Test MSE at the best training MSE.
    pub test_mse_at_best_train: Option<f64>,
    /// The stationarity certificate's ‖∇L‖ / ‖∇L₀‖ at the final parameters, when computed.
    pub grad_ratio: Option<f64>,
    /// For (leaky) ReLU nets, the share of hidden units whose pattern changed in the last step.
    pub pattern_changed: Option<f64>,
    /// The trainer's peak heap bytes (`init` or `step`), when measured.
    pub peak_bytes: Option<u64>,
    /// Allocation calls per timed step, when measured.
    pub allocations_per_step: Option<f64>,
}

/// One aggregated metric of one (dataset, trainer).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct MetricView {
    /// Dataset.
    pub dataset: String,
    /// Trainer.
    pub trainer: String,
    /// Metric name.
    pub metric: String,
    /// Unit.
    pub unit: String,
    /// `deterministic` or `timing`.
    pub kind: String,
    /// The median, or `never` / `ended` / `unknown`.
    pub value: String,
    /// The median as a number, where there is one (for sorting).
    pub median: Option<f64>,
}

/// One performance profile (one suboptimality level).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ProfileView {
    /// The level.
    pub level: f64,
    /// Per trainer: (log₂ τ, fraction of datasets).
    pub series: Vec<(String, Vec<(f64, f64)>)>,
}

/// One trainer's options.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TrainerView {
    /// Label.
    pub label: String,
    /// Palette index.
    pub color: usize,
    /// Its resolved configuration, as recorded in its first run.
    pub config: Value,
}

/// Everything `report.html` shows, as embedded in the page.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ReportPage {
    /// The page kind, `report`.
    pub kind: &'static str,
    /// Title (the preset or sweep name).
    pub title: String,
    /// [`CURVE_CAP`].
    pub cap: usize,
    /// The report's environment, as recorded.
    pub environment: Value,
    /// The sweep's configuration, as recorded.
    pub config: Value,
    /// The merge record of a merged report.
    pub merge: Option<Value>,
    /// Trainers in report order.
    pub trainers: Vec<TrainerView>,
    /// Per dataset.
    pub datasets: Vec<DatasetView>,
    /// Per dataset, the verdict (shown first).
    pub verdicts: Vec<VerdictView>,
    /// The significance rule of the verdicts.
    pub verdict_rule: String,
    /// The time basis of the verdicts' time ranking and the performance profiles.
    pub time_basis: &'static str,
    /// Per run, failed runs included.
    pub runs: Vec<RunView>,
    /// Per (dataset, trainer, metric).
    pub metrics: Vec<MetricView>,
    /// Performance profiles (reports of two or more datasets).
    pub profiles: Vec<ProfileView>,
}

/// The scheduled points of `curve`, evenly thinned to at most `cap`, plus its last point.
pub fn thin_curve(curve: &[CurvePoint], cap: usize) -> Vec<CurvePoint> {
    let scheduled: Vec<&CurvePoint> = curve.iter().filter(|p| !p.off_schedule).collect();
    let mut out: Vec<CurvePoint> = pick_evenly(scheduled.len(), cap)
        .map(|i| scheduled[i].clone())
        .collect();
    if let Some(last) = curve.last()
        && out.last().is_none_or(|p| p.iter != last.iter)
    {
        out.push(last.clone());
    }
    out
}

/// At most `cap` indices of `0..len`, evenly spread, first and last included.
fn pick_evenly(len: usize, cap: usize) -> impl Iterator<Item = usize> {
    let cap = cap.max(2);
    let mut last = None;
    (0..len.min(cap)).filter_map(move |k| {
        let i = if len <= cap {
            k
        } else {
            ((k as f64) * ((len - 1) as f64) / ((cap - 1) as f64)).round() as usize
        };
        (last != Some(i)).then(|| {
            last = Some(i);
            i
        })
    })
}

fn compact(v: f64) -> Option<Compact> {
    v.is_finite().then_some(Compact(v))
}

/// Joins the train and test bands of one axis (the same runs give the same x grid for both,
/// except where one loss is missing: each x keeps what it has).
fn band_view(train: &Band, test: &Band, cap: usize) -> BandView {
    let mut xs: Vec<f64> = train
        .points
        .iter()
        .chain(&test.points)
        .map(|p| p.0)
        .collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let keep: Vec<f64> = pick_evenly(xs.len(), cap).map(|i| xs[i]).collect();
    let at = |band: &Band, x: f64| -> [Option<Compact>; 3] {
        band.points
            .iter()
            .find(|p| p.0 == x)
            .map_or([None; 3], |p| [compact(p.1), compact(p.2), compact(p.3)])
    };
    BandView {
        x: keep.iter().map(|&x| Compact(x)).collect(),
        train: keep.iter().map(|&x| at(train, x)).collect(),
        test: keep.iter().map(|&x| at(test, x)).collect(),
    }
}

fn series_view(trainer: &str, color: usize, runs: &[&RunRecord]) -> SeriesView {
    let thinned: Vec<RunRecord> = runs
        .iter()
        .map(|r| RunRecord {
            curve: thin_curve(&r.curve, CURVE_CAP),
            ..(*r).clone()
        })
        .collect();
    let refs: Vec<&RunRecord> = thinned.iter().collect();
    let axis = |x: XAxis| {
        band_view(
            &plot::band(trainer, &refs, x, Loss::Train, false),
            &plot::band(trainer, &refs, x, Loss::Test, false),
            CURVE_CAP,
        )
    };
    let flops = runs.first().and_then(|r| r.flops_per_step);
    SeriesView {
        trainer: trainer.to_string(),
        color,
        flops_per_step: flops.filter(|f| runs.iter().all(|r| r.flops_per_step == Some(*f))),
        time: axis(XAxis::Time),
        iter: axis(XAxis::Iteration),
    }
}

fn to_value<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// The data of `report.html` for `report`.
pub fn report_page(report: &Report) -> ReportPage {
    let trainers = report.trainers();
    let verdicts = crate::verdict::verdicts(report);
    let datasets = report
        .datasets
        .iter()
        .map(|info| {
            let series = trainers
                .iter()
                .enumerate()
                .filter_map(|(color, t)| {
                    let runs: Vec<&RunRecord> = report
                        .runs
                        .iter()
                        .filter(|r| r.dataset == info.name && &r.trainer == t)
                        .collect();
                    (!runs.is_empty()).then(|| series_view(t, color, &runs))
                })
                .collect();
            DatasetView {
                name: info.name.clone(),
                source: info.source.clone(),
                n: info.n,
                n_train: info.n_train,
                n_test: info.n_test,
                d: info.d,
                linear_train: info.reference_train_mse(),
                linear_test: info.reference_test_mse(),
                series,
                leaders: verdicts
                    .iter()
                    .find(|v| v.dataset == info.name)
                    .map_or_else(Vec::new, crate::verdict::DatasetVerdict::leaders),
            }
        })
        .collect();
    let runs = report
        .runs
        .iter()
        .map(|r| RunView {
            key: format!("{} / {} / {}", r.dataset, r.trainer, r.repetition),
            dataset: r.dataset.clone(),
            trainer: r.trainer.clone(),
            repetition: r.repetition,
            status: r.status.as_str().to_string(),
            ok: r.status.is_ok(),
            message: r.message.clone(),
            iterations: r.iterations,
            train_s: r.train_s,
            best_train_mse: r.summary.best_train_mse,
            final_test_mse: r.summary.final_test_mse,
            test_mse_at_best_train: r.summary.test_mse_at_best_train,
            grad_ratio: r.stationarity.as_ref().map(|c| c.ratio),
            pattern_changed: r.stationarity.as_ref().and_then(|c| c.pattern_changed),
            peak_bytes: r.memory.as_ref().map(|m| m.peak_bytes()),
            allocations_per_step: r
                .memory
                .as_ref()
                .and_then(|m| m.allocations_per_step(r.iterations)),
        })
        .collect();
    let metrics = aggregate::aggregate(report)
        .into_iter()
        .flat_map(|((dataset, trainer), ms)| {
            ms.into_iter().map(move |m| MetricView {
                dataset: dataset.clone(),
                trainer: trainer.clone(),
                metric: m.name.clone(),
                unit: m.unit.to_string(),
                kind: match m.kind() {
                    aggregate::MetricKind::Deterministic => "deterministic".into(),
                    aggregate::MetricKind::Timing => "timing".into(),
                },
                value: m.shown(),
                median: match m.value {
                    Value3::Finite { median, .. } => Some(median),
                    _ => None,
                },
            })
        })
        .collect();
    let profiles = report
        .config
        .suboptimality_targets
        .iter()
        .map_while(|&level| {
            plot::performance_profile_with(report, level, crate::verdict::ranked_basis(report))
                .map(|series| ProfileView { level, series })
        })
        .collect();
    ReportPage {
        kind: "report",
        title: report.config.name.clone(),
        cap: CURVE_CAP,
        environment: to_value(&report.environment),
        config: to_value(&report.config),
        merge: report.merge.as_ref().map(to_value),
        trainers: trainers
            .iter()
            .enumerate()
            .map(|(color, t)| TrainerView {
                label: t.clone(),
                color,
                config: report
                    .runs
                    .iter()
                    .find(|r| &r.trainer == t)
                    .map_or(Value::Null, |r| r.trainer_config.clone()),
            })
            .collect(),
        datasets,
        verdicts: verdicts
            .iter()
            .map(|v| VerdictView {
                dataset: v.dataset.clone(),
                table: crate::verdict::table(report, v).trimmed(5),
            })
            .collect(),
        verdict_rule: crate::verdict::RULE.replace("**", ""),
        time_basis: crate::verdict::ranked_basis(report).as_str(),
        runs,
        metrics,
        profiles,
    }
}

/// JSON for a `<script type="application/json">` element: `</` is written `<\/` (the same
/// JSON value), so that no string in the data can close the element.
fn script_json<T: Serialize>(data: &T) -> Result<String> {
    let json = serde_json::to_string(data).map_err(|e| RenderError::Html(e.to_string()))?;
    Ok(json.replace("</", "<\\/"))
}

/// Numbers in tables: `fitbench_report::format::number` (as in summary.md); none as "–".
fn num(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_string(), fitbench_report::format::number)
}

/// Byte counts in tables: `fitbench_report::format::bytes` (as in summary.md); none as "–".
fn bytes(v: Option<u64>) -> String {
    v.map_or_else(
        || "–".to_string(),
        |b| fitbench_report::format::bytes(b as f64),
    )
}

/// Renders a page template (`name` ends in `.html`, so every inserted value is escaped) with
/// the page data embedded as JSON and the assets inlined.
pub(crate) fn render_page<T: Serialize>(
    template: &str,
    name: &str,
    page: &T,
    failed: usize,
) -> Result<String> {
    let html = |e: minijinja::Error| RenderError::Html(format!("{e:#}"));
    let mut env = Environment::new();
    // `.html` template names turn on HTML escaping of every inserted value; the assets and
    // the JSON are marked safe explicitly.
    env.add_filter("num", num);
    env.add_filter("bytes", bytes);
    env.add_template(name, template).map_err(html)?;
    let data = script_json(page)?;
    env.get_template(name)
        .map_err(html)?
        .render(context! {
            page => minijinja::Value::from_serialize(page),
            failed => failed,
            data => minijinja::Value::from_safe_string(data),
            uplot_js => minijinja::Value::from_safe_string(UPLOT_JS.to_string()),
            uplot_css => minijinja::Value::from_safe_string(UPLOT_CSS.to_string()),
            page_js => minijinja::Value::from_safe_string(PAGE_JS.to_string()),
            page_css => minijinja::Value::from_safe_string(PAGE_CSS.to_string()),
            version => env!("CARGO_PKG_VERSION"),
        })
        .map_err(html)
}

/// `report.html` for `report`, as a string.
pub fn render_report(report: &Report) -> Result<String> {
    let page = report_page(report);
    let failed = page.runs.iter().filter(|r| !r.ok).count();
    render_page(REPORT_TEMPLATE, "report.html", &page, failed)
}

/// Writes `report.html` into `dir`; returns its path.
pub fn write_report(report: &Report, dir: &Path) -> Result<std::path::PathBuf> {
    let path = dir.join("report.html");
    fitbench_report::io::write_atomic(&path, render_report(report)?.as_bytes())?;
    Ok(path)
}

/// One (dataset, trainer) of a comparison: both median curves and every metric row.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PairView {
    /// Dataset.
    pub dataset: String,
    /// Trainer.
    pub trainer: String,
    /// The worst verdict among its rows.
    pub verdict: String,
    /// The baseline's band (iterations; empty if the baseline has no such runs).
    pub baseline: BandView,
    /// The current report's band.
    pub current: BandView,
    /// The metric rows: (metric, unit, kind, baseline, current, ratio, verdict).
    pub rows: Vec<CheckRowView>,
}

/// One metric row of a comparison.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CheckRowView {
    /// Metric.
    pub metric: String,
    /// Unit.
    pub unit: String,
    /// Baseline value as shown.
    pub baseline: String,
    /// Current value as shown.
    pub current: String,
    /// current / baseline, where both are numbers.
    pub ratio: Option<f64>,
    /// `better`, `same`, `WORSE`, `inconclusive`.
    pub verdict: String,
}

/// Everything the check page shows.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CheckPage {
    /// The page kind, `check`.
    pub kind: &'static str,
    /// Title.
    pub title: String,
    /// Rows per verdict: better, same, worse, inconclusive.
    pub counts: [usize; 4],
    /// Pairs, the worst first.
    pub pairs: Vec<PairView>,
    /// Notes of the comparison (ungated pairs, tolerances).
    pub notes: Vec<String>,
    /// Both reports' environments.
    pub environments: [Value; 2],
}

/// Rank of a verdict on the page: worse first, then inconclusive, same, better.
fn rank(v: Verdict) -> u8 {
    match v {
        Verdict::Worse => 0,
        Verdict::Advisory => 1,
        Verdict::Inconclusive => 2,
        Verdict::Same => 3,
        Verdict::Better => 4,
    }
}

fn pair_band(report: &Report, dataset: &str, trainer: &str) -> BandView {
    let runs: Vec<&RunRecord> = report
        .runs
        .iter()
        .filter(|r| r.dataset == dataset && r.trainer == trainer)
        .collect();
    if runs.is_empty() {
        return BandView::default();
    }
    series_view(trainer, 0, &runs).iter
}

/// The data of the check page.
pub fn check_page(baseline: &Report, current: &Report, comparison: &Comparison) -> CheckPage {
    let mut pairs: Vec<(u8, PairView)> = Vec::new();
    for row in &comparison.rows {
        let idx = match pairs
            .iter()
            .position(|(_, p)| p.dataset == row.dataset && p.trainer == row.trainer)
        {
            Some(i) => i,
            None => {
                pairs.push((
                    u8::MAX,
                    PairView {
                        dataset: row.dataset.clone(),
                        trainer: row.trainer.clone(),
                        verdict: String::new(),
                        baseline: pair_band(baseline, &row.dataset, &row.trainer),
                        current: pair_band(current, &row.dataset, &row.trainer),
                        rows: Vec::new(),
                    },
                ));
                pairs.len() - 1
            }
        };
        let (worst, pair) = &mut pairs[idx];
        if rank(row.verdict) < *worst {
            *worst = rank(row.verdict);
            pair.verdict = row.verdict.as_str().to_string();
        }
        pair.rows.push(CheckRowView {
            metric: row.metric.clone(),
            unit: row.unit.clone(),
            baseline: row.baseline.clone(),
            current: row.current.clone(),
            ratio: row.ratio,
            verdict: row.verdict.as_str().to_string(),
        });
    }
    // Worst first; within a verdict, the largest ratio first (the biggest regression).
    let max_ratio = |p: &PairView| {
        p.rows
            .iter()
            .filter_map(|r| r.ratio)
            .fold(0.0_f64, f64::max)
    };
    pairs.sort_by(|(ra, a), (rb, b)| {
        ra.cmp(rb)
            .then(max_ratio(b).total_cmp(&max_ratio(a)))
            .then(a.dataset.cmp(&b.dataset))
            .then(a.trainer.cmp(&b.trainer))
    });
    let (better, same, worse, inconclusive) = comparison.counts();
    CheckPage {
        kind: "check",
        title: format!(
            "{} vs baseline {}",
            current.config.name, baseline.config.name
        ),
        counts: [better, same, worse, inconclusive],
        pairs: pairs.into_iter().map(|(_, p)| p).collect(),
        notes: comparison.notes.clone(),
        environments: [
            to_value(&baseline.environment),
            to_value(&current.environment),
        ],
    }
}

/// The check page as a string.
pub fn render_check(
    baseline: &Report,
    current: &Report,
    comparison: &Comparison,
) -> Result<String> {
    let page = check_page(baseline, current, comparison);
    render_page(CHECK_TEMPLATE, "check.html", &page, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(iter: usize, off_schedule: bool) -> CurvePoint {
        CurvePoint {
            iter,
            time_s: iter as f64 * 1e-3,
            train_mse: 1.0 / (1.0 + iter as f64),
            test_mse: 1.0,
            best_train_mse: 1.0 / (1.0 + iter as f64),
            current_train_mse: None,
            current_test_mse: None,
            off_schedule,
        }
    }

    #[test]
    fn thinning_keeps_scheduled_points_up_to_the_cap_and_the_last_point() {
        // 5 000 scheduled points, off-schedule ones in between, and an off-schedule last one.
        let mut curve: Vec<CurvePoint> = (0..5000)
            .flat_map(|i| [point(2 * i, false), point(2 * i + 1, true)])
            .collect();
        curve.push(point(10_000, true));
        let thin = thin_curve(&curve, CURVE_CAP);
        assert_eq!(thin.len(), CURVE_CAP + 1);
        assert!(thin[..CURVE_CAP].iter().all(|p| !p.off_schedule));
        assert_eq!(thin[0].iter, 0);
        assert_eq!(thin[CURVE_CAP - 1].iter, 9998, "the last scheduled point");
        assert_eq!(thin[CURVE_CAP].iter, 10_000, "the run's last point");
        assert!(thin.windows(2).all(|w| w[0].iter < w[1].iter));
        // Below the cap every scheduled point stays.
        let short: Vec<CurvePoint> = (0..50).map(|i| point(i, false)).collect();
        assert_eq!(thin_curve(&short, CURVE_CAP), short);
    }
}
