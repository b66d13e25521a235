//! Aggregation of a report's metrics per (dataset, trainer): the median over repetitions of
//! every deterministic metric and every calibrated timing metric. `summary.md` tabulates the
//! aggregates and [`crate::check`] compares them between two reports.

use fitbench_report::metrics;
use fitbench_report::schema::{Report, RunRecord};
use std::collections::BTreeMap;

/// Whether a metric is free of timing noise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    /// Same seed and threads ⇒ same value.
    Deterministic,
    /// Depends on the machine and its load (normalised by the calibration kernel).
    Timing,
}

/// How a metric compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// A count of failed runs.
    Count,
    /// Iterations to a level.
    Iterations,
    /// A loss after a budget.
    Loss,
    /// Calibrated time.
    Time,
    /// Allocation calls per timed step: gated only where the baseline made none (a trainer
    /// that starts allocating in `step` fails; one whose dependency allocates is reported).
    Allocations,
}

/// An aggregated value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value3 {
    /// A number (median over repetitions), with the min and max over repetitions.
    Finite {
        /// Median.
        median: f64,
        /// Smallest.
        min: f64,
        /// Largest.
        max: f64,
    },
    /// Not reached (by the median repetition), for a reason that does not depend on time.
    Never,
    /// Not known: the time budget ended a run first, or no run produced it.
    Unknown,
}

/// Name prefix of the iterations to a relative suboptimality level.
pub const ITERS_TO: &str = "iters_to_";
/// Name prefix of the training time to a relative suboptimality level.
pub const TIME_TO: &str = "time_to_";

impl Metric {
    /// Whether the metric is measured against its split's loss reference (the relative
    /// suboptimality levels): it moves when the reference moves, whatever the trainer did.
    pub fn relative_to_reference(&self) -> bool {
        self.name.starts_with(ITERS_TO) || self.name.starts_with(TIME_TO)
    }

    /// Deterministic or timing (only time metrics depend on the machine).
    pub fn kind(&self) -> MetricKind {
        if self.class == Class::Time {
            MetricKind::Timing
        } else {
            MetricKind::Deterministic
        }
    }

    /// The value as shown in tables: a number, `never` (a level not reached), `ended` (a loss
    /// after a budget the run stopped short of, for a reason other than time) or `unknown`.
    pub fn shown(&self) -> String {
        match self.value {
            Value3::Finite { median, .. } if self.class == Class::Iterations => {
                format!("{median:.0}")
            }
            Value3::Finite { median, .. } => fitbench_report::format::number(median),
            Value3::Never if self.class == Class::Loss => "ended".into(),
            Value3::Never => "never".into(),
            Value3::Unknown => "unknown".into(),
        }
    }
}

/// One metric of one (dataset, trainer).
#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    /// Name, e.g. `iters_to_1e-2`.
    pub name: String,
    /// Unit.
    pub unit: &'static str,
    /// How it compares.
    pub class: Class,
    /// The value.
    pub value: Value3,
    /// For timing metrics: the median measured duration in plain seconds (for
    /// `time_per_step`, the whole training time), checked against `min_time_s`.
    pub seconds: Option<f64>,
}

/// Aggregated metrics per (dataset, trainer).
pub type Aggregates = BTreeMap<(String, String), Vec<Metric>>;

fn level_name(level: f64) -> String {
    format!("{level:e}")
}

/// Per-run value: `Ok(Some(v))` a number, `Ok(None)` never, `Err(())` unknown.
pub(crate) type PerRun = Result<Option<f64>, ()>;

pub(crate) fn aggregate_values(values: &[PerRun]) -> Value3 {
    if values.is_empty() || values.iter().any(|v| v.is_err()) {
        return Value3::Unknown;
    }
    let mut v: Vec<f64> = values
        .iter()
        .map(|v| v.ok().flatten().unwrap_or(f64::INFINITY))
        .collect();
    v.sort_by(f64::total_cmp);
    // Median with "never" as +∞ (so a majority of misses is a miss).
    let m = v.len() / 2;
    let median = if v.len() % 2 == 1 {
        v[m]
    } else {
        0.5 * (v[m - 1] + v[m])
    };
    if !median.is_finite() {
        return Value3::Never;
    }
    let finite: Vec<f64> = v.into_iter().filter(|x| x.is_finite()).collect();
    Value3::Finite {
        median,
        min: finite.first().copied().unwrap_or(median),
        max: finite.last().copied().unwrap_or(median),
    }
}

/// A timing metric from per-run seconds and the runs' calibration scales (GFLOP/s of the
/// calibration kernel each run's process measured, or 1 when the report has none).
fn timing_metric(name: String, unit: &'static str, scales: &[f64], seconds: &[PerRun]) -> Metric {
    let scaled: Vec<PerRun> = seconds
        .iter()
        .zip(scales)
        .map(|(v, scale)| v.map(|v| v.map(|s| s * scale)))
        .collect();
    Metric {
        name,
        unit,
        class: Class::Time,
        value: aggregate_values(&scaled),
        seconds: match aggregate_values(seconds) {
            Value3::Finite { median, .. } => Some(median),
            _ => None,
        },
    }
}

/// Each run's calibration throughput: its own ([`fitbench_report::schema::Provenance`]: runs
/// of a merged report come from different machines), else the report's. `None` unless every
/// run has one, so that one report's timings are all in one unit.
fn run_scales(report: &Report) -> Option<Vec<f64>> {
    let usable = |g: f64| g.is_finite() && g > 0.0;
    let report_gflops = report
        .environment
        .calibration
        .as_ref()
        .map(|c| c.gflops)
        .filter(|g| usable(*g));
    report
        .runs
        .iter()
        .map(|r| {
            r.provenance
                .as_ref()
                .and_then(|p| p.calibration_gflops)
                .filter(|g| usable(*g))
                .or(report_gflops)
        })
        .collect()
}

/// Allocation calls per timed step, the median over the runs that ended normally; `None`
/// when no run recorded its memory (a report written before fitbench counted, or by
/// `--jobs` > 1), unknown when only some did.
fn allocations_metric(runs: &[&RunRecord]) -> Option<Metric> {
    let ok: Vec<&&RunRecord> = runs
        .iter()
        .filter(|r| r.status.is_ok() && r.iterations > 0)
        .collect();
    if ok.iter().all(|r| r.memory.is_none()) {
        return None;
    }
    let per_run: Vec<PerRun> = ok
        .iter()
        .map(|r| match &r.memory {
            Some(m) => Ok(m.allocations_per_step(r.iterations)),
            None => Err(()),
        })
        .collect();
    Some(Metric {
        name: "allocations_per_step".into(),
        unit: "allocations",
        class: Class::Allocations,
        value: aggregate_values(&per_run),
        seconds: None,
    })
}

/// Aggregates the metrics of every (dataset, trainer) of `report`. The metrics are computed
/// once, when a report is built or read ([`fitbench_report::io::load_report`]); a run
/// without them has no deterministic metrics here (the gate fails it).
pub fn aggregate(report: &Report) -> Aggregates {
    aggregate_with(report, fitbench_report::charge::TimeBasis::SelectionHonest)
}

/// [`aggregate`] with the times to each level under `basis` ([`fitbench_report::charge`]):
/// tuning-inclusive adds the other grid trials' training time to a tuned trainer's times,
/// optimistic takes the fastest trial in hindsight. Check [`fitbench_report::charge::unsupported`]
/// first: a report written before trial times were recorded gives selection-honest times.
pub fn aggregate_with(report: &Report, basis: fitbench_report::charge::TimeBasis) -> Aggregates {
    let (time_unit, scales) = match run_scales(report) {
        Some(scales) => ("calibration GFLOP", scales),
        None => ("s (no calibration in report)", vec![1.0; report.runs.len()]),
    };
    let mut groups: BTreeMap<(String, String), Vec<(&RunRecord, f64)>> = BTreeMap::new();
    for (r, scale) in report.runs.iter().zip(scales) {
        groups
            .entry((r.dataset.clone(), r.trainer.clone()))
            .or_default()
            .push((r, scale));
    }
    let levels = &report.config.suboptimality_targets;
    let budgets = &report.config.iteration_budgets;
    groups
        .into_iter()
        .map(|(key, runs_and_scales)| {
            let (runs, scales): (Vec<&RunRecord>, Vec<f64>) = runs_and_scales.into_iter().unzip();
            let mut out = Vec::new();
            let failed = runs.iter().filter(|r| !r.status.is_ok()).count() as f64;
            out.push(Metric {
                name: "failed_runs".into(),
                unit: "runs",
                class: Class::Count,
                value: Value3::Finite {
                    median: failed,
                    min: failed,
                    max: failed,
                },
                seconds: None,
            });
            for (i, &level) in levels.iter().enumerate() {
                let per_run = |f: &dyn Fn(&metrics::SuboptimalityHit) -> Option<f64>| {
                    runs.iter()
                        .map(|r| match &r.metrics {
                            Some(m) => match m.targets.get(i) {
                                Some(h) if h.iter.is_some() => Ok(f(h)),
                                _ if m.censored => Err(()),
                                _ => Ok(None),
                            },
                            None if r.status.is_ok() => Err(()),
                            None => Ok(None),
                        })
                        .collect::<Vec<PerRun>>()
                };
                out.push(Metric {
                    name: format!("{ITERS_TO}{}", level_name(level)),
                    unit: "iterations",
                    class: Class::Iterations,
                    value: aggregate_values(&per_run(&|h| h.iter.map(|i| i as f64))),
                    seconds: None,
                });
                let times: Vec<PerRun> = runs
                    .iter()
                    .zip(per_run(&|h| h.time_s))
                    .map(|(r, own)| {
                        own.map(|own| {
                            let m = r.metrics.as_ref()?;
                            let threshold = m.reference.train_mse
                                + level * (m.reference.null_train_mse - m.reference.train_mse);
                            fitbench_report::charge::time_to_mse(
                                own,
                                fitbench_report::charge::search_of(&report.tuning, r),
                                threshold,
                                basis,
                            )
                        })
                    })
                    .collect();
                out.push(timing_metric(
                    format!("{TIME_TO}{}", level_name(level)),
                    time_unit,
                    &scales,
                    &times,
                ));
            }
            for (i, &b) in budgets.iter().enumerate() {
                let per_run: Vec<PerRun> = runs
                    .iter()
                    .map(|r| match &r.metrics {
                        Some(m) => match m.budgets.get(i).and_then(|x| x.train_mse) {
                            Some(v) if v.is_finite() => Ok(Some(v)),
                            Some(_) => Ok(None),
                            None if m.censored && m.horizon < b => Err(()),
                            None => Ok(None),
                        },
                        None if r.status.is_ok() => Err(()),
                        None => Ok(None),
                    })
                    .collect();
                out.push(Metric {
                    name: format!("train_mse_at_{b}"),
                    unit: "standardised MSE",
                    class: Class::Loss,
                    value: aggregate_values(&per_run),
                    seconds: None,
                });
            }
            let (step, step_scales): (Vec<PerRun>, Vec<f64>) = runs
                .iter()
                .zip(&scales)
                .filter(|(r, _)| r.status.is_ok() && r.iterations > 0)
                .map(|(r, scale)| (Ok(Some(r.train_s / r.iterations as f64)), *scale))
                .unzip();
            let mut per_step =
                timing_metric("time_per_step".into(), time_unit, &step_scales, &step);
            // What was measured is the whole training time, not one step.
            per_step.seconds = fitbench_report::stats::median(
                runs.iter()
                    .filter(|r| r.status.is_ok() && r.iterations > 0)
                    .map(|r| r.train_s)
                    .collect(),
            );
            out.push(per_step);
            if let Some(allocations) = allocations_metric(&runs) {
                out.push(allocations);
            }
            (key, out)
        })
        .collect()
}
