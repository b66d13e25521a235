//! The comparison behind `fitbench check`, as pure functions: compares a report with a
//! baseline report, per (dataset, trainer), and exports the compared metrics for
//! github-action-benchmark and Bencher. No files, no HTML: [`crate::gate`] reads the reports,
//! runs the comparison, renders and writes.
//!
//! Every metric is aggregated over the repetitions (median; min and max are kept for the
//! exports). Two families:
//!
//! - **deterministic** ([`MetricKind::Deterministic`]): failed runs, iterations to each
//!   relative-suboptimality level and train MSE after each iteration budget (see
//!   [`fitbench_report::metrics`]). Same seed and threads give the same values, so they are compared
//!   within tight tolerances ([`Tolerances`]) that only absorb floating-point differences
//!   between machines.
//! - **timing** ([`MetricKind::Timing`]): seconds per step and seconds to each level,
//!   multiplied by the calibration throughput (GFLOP/s of a fixed faer matmul) measured by
//!   the process that ran each run (recorded per run; the report's for older reports). The unit, "calibration GFLOP", is the work the kernel does
//!   in that time, so a machine that is uniformly faster or slower cancels out. Compared as
//!   ratios against a wide threshold, and **advisory only**: a committed baseline was timed
//!   on another machine and day, so a timing metric beyond the threshold is printed and
//!   exported as [`Verdict::Advisory`] and never fails the check. The verdict in time is
//!   `fitbench ab`'s (both builds interleaved on one machine, paired statistics).
//!
//! A metric not reached counts as infinite ("never"); one the time budget cut off is
//! unknown, and its comparison is inconclusive rather than a failure.

pub use crate::aggregate::{Aggregates, Class, Metric, MetricKind, Value3, aggregate};
use fitbench_report::schema::Report;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// How far a metric may move before it counts as better or worse.
#[derive(Clone, Debug, PartialEq)]
pub struct Tolerances {
    /// Iterations: worse when current > baseline × (1 + `iter_rel`) (and better when
    /// current × (1 + `iter_rel`) < baseline). One step of the default evaluation schedule is
    /// 15 %, so 0.25 allows the hit to move by one evaluation point.
    pub iter_rel: f64,
    /// Losses: worse when current > baseline + `loss_rel` × baseline + `loss_abs`.
    pub loss_rel: f64,
    /// Absolute slack for losses near zero (standardised units).
    pub loss_abs: f64,
    /// Timing: worse when current / baseline > `time_ratio` (better below 1 / `time_ratio`).
    pub time_ratio: f64,
    /// Compare timing metrics at all.
    pub timing: bool,
    /// Timing metrics whose baseline is shorter than this many seconds are too short to time
    /// reliably: their verdict is inconclusive.
    pub min_time_s: f64,
    /// Which time to a level the timing metrics use ([`fitbench_report::charge`]).
    pub time_basis: fitbench_report::charge::TimeBasis,
}

impl Default for Tolerances {
    fn default() -> Self {
        Self {
            iter_rel: 0.25,
            loss_rel: 0.05,
            loss_abs: 1e-9,
            time_ratio: 2.0,
            timing: true,
            min_time_s: 1e-3,
            time_basis: fitbench_report::charge::TimeBasis::SelectionHonest,
        }
    }
}

impl Tolerances {
    /// Rejects negative or non-finite tolerances and ratios ≤ 1.
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [
            ("iter tolerance", self.iter_rel),
            ("loss tolerance", self.loss_rel),
            ("absolute loss tolerance", self.loss_abs),
            ("minimum time", self.min_time_s),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("{name} = {v}: must be a finite number ≥ 0"));
            }
        }
        if !(self.time_ratio.is_finite() && self.time_ratio > 1.0) {
            return Err(format!(
                "time ratio = {}: must be > 1 (e.g. 2 = fail when twice as slow)",
                self.time_ratio
            ));
        }
        Ok(())
    }
}

/// The verdict on one metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Improved beyond the tolerance.
    Better,
    /// Within the tolerance.
    Same,
    /// Regressed beyond the tolerance: `check` fails.
    Worse,
    /// A timing metric slower than the time ratio: printed, never failing (timing verdicts
    /// against a committed baseline are advisory; `fitbench ab` gives the verdict in time).
    Advisory,
    /// Cannot be compared: cut off by a time budget, missing from one report, or (timing) too
    /// short to time.
    Inconclusive,
}

impl Verdict {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Better => "better",
            Verdict::Same => "same",
            Verdict::Worse => "WORSE",
            Verdict::Advisory => "advisory",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// One line of the comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Dataset.
    pub dataset: String,
    /// Trainer label.
    pub trainer: String,
    /// Metric name (`runs` when a whole (dataset, trainer) is missing).
    pub metric: String,
    /// Unit of the values.
    pub unit: String,
    /// Deterministic or timing.
    pub kind: MetricKind,
    /// Baseline value, shown.
    pub baseline: String,
    /// Current value, shown.
    pub current: String,
    /// current / baseline, when both are positive numbers.
    pub ratio: Option<f64>,
    /// The verdict.
    pub verdict: Verdict,
}

/// The result of a comparison.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Comparison {
    /// Every compared metric.
    pub rows: Vec<Row>,
    /// Things worth knowing that are not verdicts (changed references, configs, machines).
    pub notes: Vec<String>,
    /// (dataset, trainer) pairs of the current report that the baseline does not have: not
    /// gated. `check` fails on them unless told to allow them (`--allow-new`), so a trainer
    /// new to the ci preset cannot join the gate silently.
    pub ungated: Vec<(String, String)>,
    /// Settings that change results and differ between the two reports ([`config_changes`]):
    /// `check` refuses to compare them unless told (`--allow-config-change`).
    pub config_changes: Vec<String>,
}

/// The settings that change results (every field of [`RunConfig::result_json`] and the
/// number of seeds; the test-only knobs `test_handicap` and `test_slowdown` are noted
/// apart) that differ from `baseline` to `current`, as `field old → new`.
pub fn config_changes(
    baseline: &fitbench_report::RunConfig,
    current: &fitbench_report::RunConfig,
) -> Vec<String> {
    let relevant = |c: &fitbench_report::RunConfig| {
        let mut v = c.result_json();
        if let serde_json::Value::Object(m) = &mut v {
            m.remove("test_handicap");
            m.remove("test_slowdown");
            m.insert("seeds".into(), serde_json::json!(c.seeds));
        }
        v
    };
    fitbench_report::config::json_changes(&relevant(baseline), &relevant(current))
}

/// Trainers (or datasets) of the same name whose options differ between the two reports
/// (e.g. `adam:lr=0.01` → `adam:lr=0.02`; a CSV of the same stem and other content): a
/// label only the baseline has and one only the current report has, for one `base` name.
/// A variant only added or only removed is not a change (it is new, or missing).
fn variant_changes(
    kind: &str,
    baseline: &[String],
    current: &[String],
    base: impl Fn(&str) -> &str,
) -> Vec<String> {
    let only = |a: &[String], b: &[String], name: &str| -> Vec<String> {
        a.iter()
            .filter(|l| base(l) == name && !b.contains(l))
            .cloned()
            .collect()
    };
    let mut bases: Vec<&str> = baseline.iter().map(|l| base(l)).collect();
    bases.sort_unstable();
    bases.dedup();
    bases
        .into_iter()
        .filter_map(|name| {
            let (gone, came) = (only(baseline, current, name), only(current, baseline, name));
            (!gone.is_empty() && !came.is_empty())
                .then(|| format!("{kind} {name}: {} → {}", gone.join(", "), came.join(", ")))
        })
        .collect()
}

impl Comparison {
    /// Rows with verdict [`Verdict::Worse`].
    pub fn regressions(&self) -> Vec<&Row> {
        self.rows
            .iter()
            .filter(|r| r.verdict == Verdict::Worse)
            .collect()
    }

    /// Timing rows slower than the time ratio ([`Verdict::Advisory`]): reported, not failing.
    pub fn advisories(&self) -> Vec<&Row> {
        self.rows
            .iter()
            .filter(|r| r.verdict == Verdict::Advisory)
            .collect()
    }

    /// Count of rows per verdict: (better, same, worse, inconclusive); advisory timing rows
    /// are counted by [`Self::advisories`].
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let n = |v| self.rows.iter().filter(|r| r.verdict == v).count();
        (
            n(Verdict::Better),
            n(Verdict::Same),
            n(Verdict::Worse),
            n(Verdict::Inconclusive),
        )
    }

    /// A plain-text table (only rows that are not `same` when `changes_only`), then the
    /// notes and a one-line tally.
    pub fn render(&self, changes_only: bool) -> String {
        let mut s = String::new();
        let header = [
            "dataset", "trainer", "metric", "baseline", "current", "ratio", "verdict",
        ];
        let rows: Vec<[String; 7]> = self
            .rows
            .iter()
            .filter(|r| !changes_only || r.verdict != Verdict::Same)
            .map(|r| {
                [
                    r.dataset.clone(),
                    r.trainer.clone(),
                    format!(
                        "{}{}",
                        r.metric,
                        if r.kind == MetricKind::Timing {
                            " (timing)"
                        } else {
                            ""
                        }
                    ),
                    r.baseline.clone(),
                    r.current.clone(),
                    r.ratio.map_or("–".into(), |x| format!("{x:.3}")),
                    r.verdict.as_str().into(),
                ]
            })
            .collect();
        let mut width = header.map(|h| h.chars().count());
        for row in &rows {
            for (w, cell) in width.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut l = String::new();
            for (i, (c, w)) in cells.iter().zip(width).enumerate() {
                if i > 0 {
                    l.push_str("  ");
                }
                let pad = w.saturating_sub(c.chars().count());
                l.push_str(c);
                l.push_str(&" ".repeat(pad));
            }
            l.trim_end().to_string()
        };
        let _ = writeln!(s, "{}", line(&header.map(String::from)));
        for row in &rows {
            let _ = writeln!(s, "{}", line(row));
        }
        for n in &self.notes {
            let _ = writeln!(s, "note: {n}");
        }
        if !self.ungated.is_empty() {
            let _ = writeln!(
                s,
                "UNGATED: {} (dataset, trainer) pair(s) are not in the baseline, so nothing checks them:",
                self.ungated.len()
            );
            for (d, t) in &self.ungated {
                let _ = writeln!(s, "UNGATED:   {d} / {t}");
            }
            let _ = writeln!(
                s,
                "UNGATED: gate them with `fitbench check --update` (rewrites the baseline), or pass --allow-new"
            );
        }
        let (b, same, w, i) = self.counts();
        let advisory = self.advisories().len();
        if advisory > 0 {
            let _ = writeln!(
                s,
                "advisory: {advisory} timing metric(s) slower than the committed baseline's; timing against a baseline from another machine and day does not fail the check. For a verdict in time run `fitbench ab` (both builds, interleaved, on this machine)"
            );
        }
        let _ = writeln!(
            s,
            "{b} better, {same} same, {w} worse, {i} inconclusive, {advisory} advisory ({} metrics)",
            self.rows.len()
        );
        s
    }
}

fn compare_values(class: Class, base: Value3, cur: Value3, tol: &Tolerances) -> Verdict {
    use Value3::*;
    match (base, cur) {
        (Unknown, _) | (_, Unknown) => Verdict::Inconclusive,
        (Never, Never) => Verdict::Same,
        (Never, Finite { .. }) => Verdict::Better,
        (Finite { .. }, Never) => Verdict::Worse,
        (Finite { median: b, .. }, Finite { median: c, .. }) => {
            let (worse, better) = match class {
                Class::Count => (c > b, c < b),
                Class::Iterations => (c > b * (1.0 + tol.iter_rel), c * (1.0 + tol.iter_rel) < b),
                Class::Loss => {
                    let slack = tol.loss_rel * b.abs() + tol.loss_abs;
                    (c > b + slack, c < b - slack)
                }
                Class::Time => (c > b * tol.time_ratio, c * tol.time_ratio < b),
                Class::Allocations => (b == 0.0 && c > 0.0, b > 0.0 && c == 0.0),
            };
            if worse {
                Verdict::Worse
            } else if better {
                Verdict::Better
            } else {
                Verdict::Same
            }
        }
    }
}

fn ratio(base: Value3, cur: Value3) -> Option<f64> {
    match (base, cur) {
        (Value3::Finite { median: b, .. }, Value3::Finite { median: c, .. }) if b > 0.0 => {
            Some(c / b)
        }
        _ => None,
    }
}

/// Compares `current` with `baseline`.
pub fn compare(baseline: &Report, current: &Report, tol: &Tolerances) -> Comparison {
    let (base, cur) = (
        crate::aggregate::aggregate_with(baseline, tol.time_basis),
        crate::aggregate::aggregate_with(current, tol.time_basis),
    );
    let moved: std::collections::BTreeSet<String> = moved_references(baseline, current)
        .into_iter()
        .map(|((dataset, _), _, _)| dataset)
        .collect();
    let mut out = Comparison::default();
    for ((dataset, trainer), base_metrics) in &base {
        let Some(cur_metrics) = cur.get(&(dataset.clone(), trainer.clone())) else {
            out.rows.push(Row {
                dataset: dataset.clone(),
                trainer: trainer.clone(),
                metric: "runs".into(),
                unit: "runs".into(),
                kind: MetricKind::Deterministic,
                baseline: "present".into(),
                current: "missing".into(),
                ratio: None,
                verdict: Verdict::Worse,
            });
            continue;
        };
        for bm in base_metrics {
            if bm.kind() == MetricKind::Timing && !tol.timing {
                continue;
            }
            let cm = cur_metrics.iter().find(|m| m.name == bm.name);
            let cur_value = cm.map_or(Value3::Unknown, |m| m.value);
            out.rows.push(Row {
                dataset: dataset.clone(),
                trainer: trainer.clone(),
                metric: bm.name.clone(),
                unit: bm.unit.into(),
                kind: bm.kind(),
                baseline: bm.shown(),
                current: cm.map_or("missing".into(), Metric::shown),
                ratio: ratio(bm.value, cur_value),
                verdict: if bm.seconds.is_some_and(|s| s < tol.min_time_s) {
                    Verdict::Inconclusive
                } else {
                    match compare_values(bm.class, bm.value, cur_value, tol) {
                        // A relative level measured against a best observed loss that moved
                        // (another trainer's time-budgeted run got further or less far)
                        // says nothing about this trainer.
                        Verdict::Worse | Verdict::Better
                            if bm.relative_to_reference() && moved.contains(dataset) =>
                        {
                            Verdict::Inconclusive
                        }
                        Verdict::Worse if bm.kind() == MetricKind::Timing => Verdict::Advisory,
                        v => v,
                    }
                },
            });
        }
    }
    // A run without metrics cannot be judged: that fails the gate (it is not "inconclusive").
    let annotated = current.runs.iter().any(|r| r.metrics.is_some());
    let mut missing: BTreeMap<(String, String), usize> = BTreeMap::new();
    for r in current
        .runs
        .iter()
        .filter(|r| r.status.is_ok() && r.metrics.is_none())
    {
        if annotated {
            *missing
                .entry((r.dataset.clone(), r.trainer.clone()))
                .or_default() += 1;
        }
    }
    for ((dataset, trainer), n) in missing {
        out.rows.push(Row {
            dataset,
            trainer,
            metric: "metrics".into(),
            unit: "runs".into(),
            kind: MetricKind::Deterministic,
            baseline: "present".into(),
            current: format!("missing in {n} run(s)"),
            ratio: None,
            verdict: Verdict::Worse,
        });
    }
    out.ungated = cur
        .keys()
        .filter(|k| !base.contains_key(*k))
        .cloned()
        .collect();
    let (bc, cc) = (&baseline.config, &current.config);
    out.config_changes = config_changes(bc, cc);
    out.config_changes.extend(variant_changes(
        "trainer",
        &bc.trainers,
        &cc.trainers,
        |l| l.split(':').next().unwrap_or(l),
    ));
    let names = |r: &Report| -> Vec<String> { r.datasets.iter().map(|d| d.name.clone()).collect() };
    out.config_changes.extend(variant_changes(
        "dataset",
        &names(baseline),
        &names(current),
        |n| n.split(['@', ':']).next().unwrap_or(n),
    ));
    for change in &out.config_changes {
        out.notes.push(format!(
            "config changed: {change}; the comparison is not like for like"
        ));
    }
    if bc.test_handicap.is_some() || cc.test_handicap.is_some() {
        out.notes.push(format!(
            "test handicap: baseline {:?}, current {:?}",
            bc.test_handicap, cc.test_handicap
        ));
    }
    reference_notes(baseline, current, &mut out.notes);
    if tol.timing && tol.time_basis != fitbench_report::charge::TimeBasis::SelectionHonest {
        out.notes.push(format!(
            "times to each level are {} (docs/report-schema.md, \"Tuning charged\")",
            tol.time_basis.as_str()
        ));
    }
    let cal = |r: &Report| {
        r.environment
            .calibration
            .as_ref()
            .map_or("none".to_string(), |c| format!("{:.1} GFLOP/s", c.gflops))
    };
    let per_run = |r: &Report| {
        let mut machines: Vec<(&str, &str)> = r
            .runs
            .iter()
            .filter_map(|x| x.provenance.as_ref())
            .map(|p| (p.hostname.as_str(), p.git_commit.as_str()))
            .collect();
        machines.sort_unstable();
        machines.dedup();
        machines.len()
    };
    for (name, r) in [("baseline", baseline), ("current", current)] {
        if r.merge.is_some() || per_run(r) > 1 || r.environment.jobs > 1 {
            out.notes.push(format!(
                "{name}: {} run(s) from {} (host, commit) pair(s), {} at once; each run's timings are normalised by the calibration its own process measured",
                r.runs.len(),
                per_run(r),
                r.environment.jobs
            ));
        }
    }
    out.notes.push(format!(
        "calibration: baseline {} ({} @ {}), current {} ({} @ {}); timing ratios use each run's own calibration (the report's for runs that do not record one)",
        cal(baseline),
        baseline.environment.cpu,
        short(&baseline.environment.git_commit),
        cal(current),
        current.environment.cpu,
        short(&current.environment.git_commit),
    ));
    out
}

fn short(commit: &str) -> &str {
    commit.get(..10).unwrap_or(commit)
}

/// The best observed reference of each (dataset, repetition) of a report.
fn best_observed(report: &Report) -> BTreeMap<(String, usize), f64> {
    let mut m: BTreeMap<(String, usize), f64> = BTreeMap::new();
    for run in &report.runs {
        if let Some(x) = &run.metrics
            && x.reference.kind == fitbench_report::metrics::ReferenceKind::BestObserved
        {
            m.insert((run.dataset.clone(), run.repetition), x.reference.train_mse);
        }
    }
    m
}

/// Every (dataset, repetition) whose best observed reference moved between the two reports
/// (beyond float noise), with its value before and after. A moved reference shifts every
/// relative level of that split: [`compare`] judges them inconclusive and the notes say why.
fn moved_references(baseline: &Report, current: &Report) -> Vec<((String, usize), f64, f64)> {
    let current = best_observed(current);
    best_observed(baseline)
        .into_iter()
        .filter_map(|(key, before)| {
            let after = *current.get(&key)?;
            ((after - before).abs() > 1e-9 * before.abs().max(1e-12))
                .then_some((key, before, after))
        })
        .collect()
}

/// Notes where a best observed reference moved.
fn reference_notes(baseline: &Report, current: &Report, notes: &mut Vec<String>) {
    for ((dataset, repetition), before, after) in moved_references(baseline, current) {
        notes.push(format!(
            "{dataset} rep {repetition}: best observed reference moved from {before:.6e} to {after:.6e} (time-budgeted runs got further or less far): the dataset's iters_to/time_to levels are inconclusive"
        ));
    }
}

fn export_name(report: &Report, dataset: &str, trainer: &str) -> String {
    format!("{}/{dataset}/{trainer}", report.config.name)
}

/// The report's finite metrics as github-action-benchmark `customSmallerIsBetter` JSON: an
/// array of `{name, unit, value, range, extra}`.
pub fn github_benchmark_json(report: &Report) -> Value {
    let commit = short(&report.environment.git_commit).to_string();
    let mut out = Vec::new();
    for ((dataset, trainer), ms) in aggregate(report) {
        for m in ms {
            if let Value3::Finite { median, min, max } = m.value {
                out.push(json!({
                    "name": format!("{}/{}", export_name(report, &dataset, &trainer), m.name),
                    "unit": m.unit,
                    "value": median,
                    "range": format!("{} … {}", fitbench_report::format::number(min), fitbench_report::format::number(max)),
                    "extra": format!(
                        "median over {} seeds; {}; commit {commit}",
                        report.config.seeds,
                        match m.kind() {
                            MetricKind::Deterministic => "deterministic",
                            MetricKind::Timing => "timing, normalised by the calibration kernel",
                        }
                    ),
                }));
            }
        }
    }
    Value::Array(out)
}

/// The report's finite metrics in Bencher Metric Format: `{benchmark: {measure: {value,
/// lower_value, upper_value}}}` with benchmark = `preset/dataset/trainer` and measure = the
/// metric name in kebab case.
pub fn bencher_json(report: &Report) -> Value {
    let mut out = serde_json::Map::new();
    for ((dataset, trainer), ms) in aggregate(report) {
        let mut measures = serde_json::Map::new();
        for m in ms {
            if let Value3::Finite { median, min, max } = m.value {
                measures.insert(
                    m.name.replace('_', "-"),
                    json!({"value": median, "lower_value": min, "upper_value": max}),
                );
            }
        }
        out.insert(
            export_name(report, &dataset, &trainer),
            Value::Object(measures),
        );
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::aggregate_values;

    fn f(v: f64) -> Value3 {
        Value3::Finite {
            median: v,
            min: v,
            max: v,
        }
    }

    #[test]
    fn verdicts_follow_the_tolerances() {
        let t = Tolerances::default();
        use Verdict::*;
        assert_eq!(
            compare_values(Class::Iterations, f(100.0), f(120.0), &t),
            Same
        );
        assert_eq!(
            compare_values(Class::Iterations, f(100.0), f(130.0), &t),
            Worse
        );
        assert_eq!(
            compare_values(Class::Iterations, f(100.0), f(70.0), &t),
            Better
        );
        assert_eq!(compare_values(Class::Loss, f(0.1), f(0.104), &t), Same);
        assert_eq!(compare_values(Class::Loss, f(0.1), f(0.11), &t), Worse);
        assert_eq!(compare_values(Class::Loss, f(0.0), f(1e-10), &t), Same);
        assert_eq!(compare_values(Class::Time, f(1.0), f(1.9), &t), Same);
        assert_eq!(compare_values(Class::Time, f(1.0), f(2.1), &t), Worse);
        assert_eq!(compare_values(Class::Count, f(0.0), f(1.0), &t), Worse);
        assert_eq!(
            compare_values(Class::Iterations, f(10.0), Value3::Never, &t),
            Worse
        );
        assert_eq!(
            compare_values(Class::Iterations, Value3::Never, f(10.0), &t),
            Better
        );
        assert_eq!(
            compare_values(Class::Iterations, f(10.0), Value3::Unknown, &t),
            Inconclusive
        );
    }

    #[test]
    fn aggregation_is_a_median_with_never_as_infinity() {
        assert_eq!(
            aggregate_values(&[Ok(Some(3.0)), Ok(Some(1.0)), Ok(None)]),
            Value3::Finite {
                median: 3.0,
                min: 1.0,
                max: 3.0
            }
        );
        assert_eq!(
            aggregate_values(&[Ok(Some(3.0)), Ok(None), Ok(None)]),
            Value3::Never
        );
        assert_eq!(aggregate_values(&[Ok(Some(3.0)), Err(())]), Value3::Unknown);
    }

    #[test]
    fn invalid_tolerances_are_rejected() {
        let bad = Tolerances {
            time_ratio: 0.5,
            ..Tolerances::default()
        };
        assert!(bad.validate().unwrap_err().contains("time ratio"));
        let bad = Tolerances {
            iter_rel: f64::NAN,
            ..Tolerances::default()
        };
        assert!(bad.validate().unwrap_err().contains("iter"));
    }
}
