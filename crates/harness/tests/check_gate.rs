//! The regression gate: deterministic metrics are identical for the same seed, and a trainer
//! made deliberately slower to converge (the test-only `test_handicap` knob) makes
//! `fitbench check` fail — through the library and through the binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fitbench_harness::build_report;
use fitbench_harness::runner::{self, MonotonicClock, Plan};
use fitbench_render::check::{self, Tolerances, Verdict};
use fitbench_render::{gate, output};
use fitbench_report::config::{Handicap, RunConfig};
use fitbench_report::schema::Report;
use std::collections::BTreeMap;

fn config() -> RunConfig {
    RunConfig {
        name: "gate".into(),
        datasets: vec![
            "teacher:n=200,d=4,h=8,act=tanh,noise=0".into(),
            "linear:n=200,d=4,noise=0.1".into(),
        ],
        trainers: vec!["ols".into(), "lsq".into(), "adam".into()],
        seeds: 1,
        max_iters: 60,
        // Never binds: the runs stop on iterations, so nothing depends on time.
        budget_s: 1e6,
        hidden: vec![8],
        activation: "leaky_relu:0.1".into(),
        iteration_budgets: vec![10, 60],
        ..RunConfig::default()
    }
}

fn sweep(config: RunConfig) -> Report {
    let plan = Plan::resolve(config).unwrap();
    let out = runner::run_sweep(
        &plan,
        &mut MonotonicClock::default(),
        &mut |_| Ok(()),
        &mut |_| {},
    )
    .unwrap();
    build_report(&plan, out)
}

fn handicapped() -> RunConfig {
    RunConfig {
        test_handicap: Some(Handicap {
            trainer: "adam".into(),
            every: 4,
        }),
        ..config()
    }
}

/// Timing is never asserted in tests: only the deterministic metrics are compared.
fn deterministic_only() -> Tolerances {
    Tolerances {
        timing: false,
        ..Tolerances::default()
    }
}

#[test]
fn same_seed_gives_identical_metrics_and_a_slower_trainer_fails_the_gate() {
    let a = sweep(config());
    let again = sweep(config());
    assert!(a.runs.iter().all(|r| r.metrics.is_some()));
    for (x, y) in a.runs.iter().zip(&again.runs) {
        // Bit for bit: the metrics exclude every time-dependent quantity but `time_s`.
        let strip = |r: &fitbench_report::schema::RunRecord| {
            let mut m = r.metrics.clone().unwrap();
            m.targets.iter_mut().for_each(|t| t.time_s = None);
            m
        };
        assert_eq!(strip(x), strip(y), "{} / {}", x.dataset, x.trainer);
    }
    let same = check::compare(&a, &again, &deterministic_only());
    assert!(same.regressions().is_empty(), "{}", same.render(true));
    assert!(same.rows.iter().all(|r| r.verdict == Verdict::Same));

    // The references: OLS for the linear model, zero on the noise-free teacher.
    let kind = |dataset: &str, trainer: &str| {
        a.runs
            .iter()
            .find(|r| r.dataset.starts_with(dataset) && r.trainer == trainer)
            .and_then(|r| r.metrics.as_ref())
            .map(|m| m.reference.kind.as_str())
    };
    assert_eq!(kind("linear", "ols"), Some("ols"));
    assert_eq!(kind("teacher", "lsq"), Some("zero"));
    assert_eq!(kind("linear", "adam"), Some("best_observed"));

    let slow = sweep(handicapped());
    let gate = check::compare(&a, &slow, &deterministic_only());
    let worse = gate.regressions();
    assert!(!worse.is_empty(), "{}", gate.render(false));
    assert!(
        worse.iter().all(|r| r.trainer == "adam"),
        "only the handicapped trainer regresses: {}",
        gate.render(true)
    );
    assert!(
        worse.iter().any(|r| r.metric == "train_mse_at_10"),
        "{}",
        gate.render(true)
    );
}

/// (dataset, trainer, metric name) → value.
type Metrics = BTreeMap<(String, String, String), f64>;

/// The deterministic metrics the exports carry (timings are scaled by the calibration and
/// left out): iterations to each level reached, train MSE at each budget, failed runs.
fn is_deterministic(metric: &str) -> bool {
    metric.starts_with("iters_to_")
        || metric.starts_with("train_mse_at_")
        || metric == "failed_runs"
}

/// The deterministic metrics of a one-seed report, read from its runs' own records.
fn deterministic_metrics(report: &Report) -> Metrics {
    assert_eq!(report.config.seeds, 1, "one run per (dataset, trainer)");
    let mut out = Metrics::new();
    for r in &report.runs {
        let key = |metric: String| (r.dataset.clone(), r.trainer.clone(), metric);
        let failed = if r.status.is_ok() { 0.0 } else { 1.0 };
        out.insert(key("failed_runs".into()), failed);
        let m = r.metrics.as_ref().unwrap();
        for hit in &m.targets {
            if let Some(iter) = hit.iter {
                out.insert(key(format!("iters_to_{:e}", hit.level)), iter as f64);
            }
        }
        for b in &m.budgets {
            if let Some(v) = b.train_mse.filter(|v| v.is_finite()) {
                out.insert(key(format!("train_mse_at_{}", b.iter)), v);
            }
        }
    }
    out
}

/// The (dataset, trainer, metric) of an exported benchmark `preset/dataset/trainer`.
fn export_key(report: &Report, bench: &str, metric: &str) -> (String, String, String) {
    let rest = bench
        .strip_prefix(&format!("{}/", report.config.name))
        .unwrap_or_else(|| panic!("{bench} does not start with the preset's name"));
    let (dataset, trainer) = rest.rsplit_once('/').unwrap();
    (dataset.into(), trainer.into(), metric.into())
}

fn request(base: &std::path::Path, cur: &std::path::Path) -> gate::CheckRequest {
    gate::CheckRequest {
        baseline: base.join("report.json"),
        current: cur.join("report.json"),
        update: false,
        allow_new: false,
        tolerances: deterministic_only(),
        changes_only: false,
        allow_config_change: false,
        github_json: None,
        bencher_json: None,
        html: None,
    }
}

#[test]
fn check_fails_on_a_regression_exports_metrics_and_update_accepts_it() {
    let dir = tempfile::tempdir().unwrap();
    let (base, cur) = (dir.path().join("base"), dir.path().join("cur"));
    output::write_all(&sweep(config()), &base).unwrap();
    output::write_all(&sweep(handicapped()), &cur).unwrap();
    let gh = dir.path().join("gh.json");
    let bmf = dir.path().join("bmf.json");
    let outcome = gate::run(&gate::CheckRequest {
        github_json: Some(gh.clone()),
        bencher_json: Some(bmf.clone()),
        ..request(&base, &cur)
    })
    .unwrap();
    assert_eq!(outcome.failures.len(), 1, "{}", outcome.text);
    assert!(
        outcome.failures[0].contains("regression"),
        "{:?}",
        outcome.failures
    );
    assert!(
        outcome.text.contains("WORSE") && outcome.text.contains("adam"),
        "{}",
        outcome.text
    );

    // The exports: github-action-benchmark's array and Bencher's nested object, each holding
    // the current report's deterministic metrics for every (dataset, trainer, metric).
    let current = fitbench_report::io::read_report(&cur.join("report.json")).unwrap();
    let expected = deterministic_metrics(&current);
    assert!(
        expected
            .keys()
            .any(|(_, t, m)| t == "adam" && m == "train_mse_at_10"),
        "{expected:?}"
    );
    let gh: serde_json::Value = serde_json::from_slice(&std::fs::read(&gh).unwrap()).unwrap();
    let mut from_gh = BTreeMap::new();
    for entry in gh.as_array().unwrap() {
        let name = entry["name"].as_str().unwrap();
        let (bench, metric) = name.rsplit_once('/').unwrap();
        if is_deterministic(metric) {
            assert!(entry["unit"].is_string(), "{entry}");
            from_gh.insert(
                export_key(&current, bench, metric),
                entry["value"].as_f64().unwrap(),
            );
        }
    }
    assert_eq!(from_gh, expected, "github-benchmark export");
    let bmf: serde_json::Value = serde_json::from_slice(&std::fs::read(&bmf).unwrap()).unwrap();
    let mut from_bmf = BTreeMap::new();
    for (bench, measures) in bmf.as_object().unwrap() {
        for (measure, v) in measures.as_object().unwrap() {
            if is_deterministic(&measure.replace('-', "_")) {
                let value = v["value"].as_f64().unwrap();
                // One seed: the range is the value itself.
                assert_eq!(
                    (v["lower_value"].as_f64(), v["upper_value"].as_f64()),
                    (Some(value), Some(value)),
                    "{bench} {measure}"
                );
                from_bmf.insert(export_key(&current, bench, measure), value);
            }
        }
    }
    // Bencher's measures are the metric names in kebab case.
    let kebab: Metrics = expected
        .into_iter()
        .map(|((d, t, m), v)| ((d, t, m.replace('_', "-")), v))
        .collect();
    assert_eq!(from_bmf, kebab, "bencher export");

    // --update accepts the change; the same comparison then passes.
    let updated = gate::run(&gate::CheckRequest {
        update: true,
        ..request(&base, &cur)
    })
    .unwrap();
    assert!(updated.failures.is_empty());
    let again = gate::run(&request(&base, &cur)).unwrap();
    assert!(again.failures.is_empty(), "{}", again.text);
    assert!(base.join("summary.md").exists());
}

#[test]
fn a_trainer_new_to_the_gate_fails_loudly_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let (base, cur) = (dir.path().join("base"), dir.path().join("cur"));
    output::write_all(&sweep(config()), &base).unwrap();
    let mut more = config();
    more.trainers.push("sgd".into());
    output::write_all(&sweep(more), &cur).unwrap();
    let outcome = gate::run(&request(&base, &cur)).unwrap();
    assert_eq!(outcome.failures.len(), 1, "{}", outcome.text);
    assert!(
        outcome.failures[0].contains("not gated"),
        "{:?}",
        outcome.failures
    );
    assert!(
        outcome.text.contains("UNGATED") && outcome.text.contains("/ sgd"),
        "{}",
        outcome.text
    );
    let comparison = outcome.comparison.unwrap();
    assert_eq!(comparison.ungated.len(), 2, "two datasets");
    assert!(comparison.regressions().is_empty());
    let allowed = gate::run(&gate::CheckRequest {
        allow_new: true,
        ..request(&base, &cur)
    })
    .unwrap();
    assert!(allowed.failures.is_empty(), "{:?}", allowed.failures);
}

#[test]
fn invalid_handicaps_are_rejected_before_running() {
    let mut c = handicapped();
    c.test_handicap = Some(Handicap {
        trainer: "sgd".into(),
        every: 4,
    });
    let msg = Plan::resolve(c).err().unwrap().to_string();
    assert!(msg.contains("test_handicap.trainer"), "{msg}");
}

#[test]
fn check_update_refuses_a_report_that_fails_validation() {
    let dir = tempfile::tempdir().unwrap();
    let (base, cur) = (dir.path().join("base"), dir.path().join("cur"));
    output::write_all(&sweep(config()), &base).unwrap();
    let mut broken = sweep(config());
    broken.runs.pop(); // fewer runs than datasets × seeds × trainers
    output::write_all(&broken, &cur).unwrap();
    let before = std::fs::read_to_string(base.join("report.json")).unwrap();
    let outcome = gate::run(&gate::CheckRequest {
        update: true,
        ..request(&base, &cur)
    })
    .unwrap();
    assert!(
        outcome
            .failures
            .iter()
            .any(|f| f.contains("refusing to install")),
        "{:?}",
        outcome.failures
    );
    assert_eq!(
        std::fs::read_to_string(base.join("report.json")).unwrap(),
        before
    );
}

#[test]
fn a_run_without_metrics_fails_the_gate_instead_of_being_inconclusive() {
    let dir = tempfile::tempdir().unwrap();
    let (base, cur) = (dir.path().join("base"), dir.path().join("cur"));
    output::write_all(&sweep(config()), &base).unwrap();
    let mut current = sweep(config());
    current.runs[0].metrics = None;
    output::write_all(&current, &cur).unwrap();
    let outcome = gate::run(&request(&base, &cur)).unwrap();
    assert!(!outcome.failures.is_empty(), "{}", outcome.text);
    assert!(
        outcome.text.contains("missing in 1 run(s)"),
        "{}",
        outcome.text
    );
}

#[test]
fn check_rejects_a_report_of_another_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let (base, cur) = (dir.path().join("base"), dir.path().join("cur"));
    output::write_all(&sweep(config()), &base).unwrap();
    let mut future = sweep(config());
    future.schema_version = 999;
    output::write_all(&future, &cur).unwrap();
    let msg = gate::run(&gate::CheckRequest {
        update: true,
        ..request(&base, &cur)
    })
    .unwrap_err()
    .to_string();
    assert!(msg.contains("schema_version 999"), "{msg}");
}

/// Runs of one report can come from machines of different speeds (`fitbench merge`): each
/// run's timings are normalised by the calibration its own process measured, not by the
/// report's.
#[test]
fn timings_are_normalised_by_each_runs_own_calibration() {
    let a = sweep(config());
    assert!(a.runs.iter().all(|r| r.provenance.is_some()));
    // The same report, but repetition 0 of every `adam` run "ran on a machine twice as fast":
    // half the seconds, twice the calibration throughput. In calibration units nothing moved.
    let mut merged = a.clone();
    merged.environment.calibration = None;
    for r in merged.runs.iter_mut().filter(|r| r.trainer == "adam") {
        r.train_s /= 2.0;
        r.curve.iter_mut().for_each(|p| p.time_s /= 2.0);
        if let Some(m) = &mut r.metrics {
            m.targets
                .iter_mut()
                .for_each(|t| t.time_s = t.time_s.map(|s| s / 2.0));
        }
        let p = r.provenance.as_mut().unwrap();
        p.calibration_gflops = p.calibration_gflops.map(|g| g * 2.0);
    }
    let before = fitbench_render::aggregate::aggregate(&a);
    let after = fitbench_render::aggregate::aggregate(&merged);
    let mut compared = 0;
    for (key, metrics) in &before {
        let others = &after[key];
        for (m, o) in metrics.iter().zip(others) {
            if let (
                fitbench_render::check::Value3::Finite { median: x, .. },
                fitbench_render::check::Value3::Finite { median: y, .. },
            ) = (m.value, o.value)
                && m.unit == "calibration GFLOP"
            {
                assert_eq!(o.unit, m.unit);
                assert!(
                    (x - y).abs() <= TIME_REL_TOL * x.abs(),
                    "{key:?} {}: {x} vs {y}",
                    m.name
                );
                compared += 1;
            }
        }
    }
    assert!(compared > 0, "some timing metric was compared");
}

/// Relative tolerance of the normalisation identity (floating-point rounding only).
const TIME_REL_TOL: f64 = 1e-12;

/// `report` with every training time multiplied by `factor` (the numerics untouched).
fn slowed(report: &Report, factor: f64) -> Report {
    let mut r = report.clone();
    for run in &mut r.runs {
        run.train_s *= factor;
        run.curve.iter_mut().for_each(|p| p.time_s *= factor);
        if let Some(m) = &mut run.metrics {
            m.targets
                .iter_mut()
                .for_each(|t| t.time_s = t.time_s.map(|s| s * factor));
        }
    }
    r
}

#[test]
fn timing_verdicts_are_advisory_and_point_to_fitbench_ab() {
    let base = sweep(config());
    let slow = slowed(&base, 3.0);
    let tol = Tolerances {
        min_time_s: 0.0,
        ..Tolerances::default()
    };
    let cmp = check::compare(&base, &slow, &tol);
    let advisory = cmp.advisories();
    assert!(!advisory.is_empty(), "{}", cmp.render(false));
    assert!(advisory.iter().all(|r| r.kind == check::MetricKind::Timing));
    // 3× slower everywhere, and still no regression: time does not fail the check.
    assert!(cmp.regressions().is_empty(), "{}", cmp.render(true));
    let text = cmp.render(true);
    assert!(text.contains("fitbench ab"), "{text}");
    assert!(
        text.contains(&format!("{} advisory", advisory.len())),
        "{text}"
    );
    // Through `check::run` too: no failure.
    let dir = tempfile::tempdir().unwrap();
    let (b, c) = (dir.path().join("base"), dir.path().join("cur"));
    output::write_all(&base, &b).unwrap();
    output::write_all(&slow, &c).unwrap();
    let outcome = gate::run(&gate::CheckRequest {
        tolerances: tol,
        ..request(&b, &c)
    })
    .unwrap();
    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
}

#[test]
fn refreshing_the_baseline_retires_the_accepted_slowdowns() {
    use fitbench_report::ab::AcceptFile;
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let (base, cur) = (results.join("baseline"), dir.path().join("cur"));
    output::write_all(&sweep(config()), &base).unwrap();
    let current = sweep(config());
    output::write_all(&current, &cur).unwrap();
    let accept = results.join("ab-accept.toml");
    std::fs::write(
        &accept,
        "baseline_commit = \"0ld\"\n[[accept]]\ncell = \"diabetes / adam\"\nmax_ratio = 1.3\nreason = \"r\"\n",
    )
    .unwrap();
    // A check that does not update leaves it alone.
    gate::run(&request(&base, &cur)).unwrap();
    assert_eq!(
        AcceptFile::parse(&std::fs::read_to_string(&accept).unwrap(), "a")
            .unwrap()
            .accept
            .len(),
        1
    );
    let outcome = gate::run(&gate::CheckRequest {
        update: true,
        ..request(&base, &cur)
    })
    .unwrap();
    assert!(outcome.written.contains(&accept), "{:?}", outcome.written);
    let after = AcceptFile::parse(&std::fs::read_to_string(&accept).unwrap(), "a").unwrap();
    assert!(after.accept.is_empty());
    assert_eq!(after.baseline_commit, current.environment.git_commit);
}

#[test]
fn the_committed_accept_file_belongs_to_the_committed_baseline() {
    use fitbench_report::ab::AcceptFile;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let base =
        fitbench_report::io::read_report(&root.join("results/baseline/report.json")).unwrap();
    let path = gate::accept_file_of(&root.join("results/baseline/report.json"));
    let file = AcceptFile::parse(
        &std::fs::read_to_string(&path).unwrap(),
        "results/ab-accept.toml",
    )
    .unwrap();
    assert_eq!(
        file.baseline_commit, base.environment.git_commit,
        "results/baseline was refreshed without `fitbench check --update`, which retires the accepted slowdowns"
    );
}

#[test]
fn reports_run_with_different_settings_are_not_compared_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let (base, cur) = (dir.path().join("base"), dir.path().join("cur"));
    output::write_all(&sweep(config()), &base).unwrap();
    let mut other = config();
    other.max_iters += 7;
    other.activation = "tanh".into();
    output::write_all(&sweep(other.clone()), &cur).unwrap();
    let msg = gate::run(&request(&base, &cur)).unwrap_err().to_string();
    assert!(
        msg.contains("different settings")
            && msg.contains(&format!(
                "max_iters {} → {}",
                config().max_iters,
                other.max_iters
            ))
            && msg.contains("activation")
            && msg.contains("--allow-config-change"),
        "{msg}"
    );
    let allowed = gate::run(&gate::CheckRequest {
        allow_config_change: true,
        ..request(&base, &cur)
    })
    .unwrap();
    assert!(
        allowed
            .text
            .contains("compared despite changed settings (--allow-config-change)"),
        "{}",
        allowed.text
    );
    // Other options of the same trainer are a change too, not a missing and a new trainer.
    let mut retuned = config();
    retuned.trainers = vec!["ols".into(), "lsq".into(), "adam:lr=0.02".into()];
    output::write_all(&sweep(retuned), &cur).unwrap();
    let msg = gate::run(&request(&base, &cur)).unwrap_err().to_string();
    assert!(msg.contains("trainer adam: adam → adam:lr=0.02"), "{msg}");
    // A limit that does not change results is no obstacle.
    let mut limited = config();
    limited.max_memory = Some(1 << 33);
    output::write_all(&sweep(limited), &cur).unwrap();
    assert!(gate::run(&request(&base, &cur)).is_ok());
}

/// A relative level is measured against its split's best observed loss; when that moved
/// (another trainer's time-budgeted run got further), the level's verdict says nothing about
/// the trainer: inconclusive, not WORSE. With the reference unchanged the same slowdown is
/// WORSE, and absolute metrics are judged as before.
#[test]
fn a_moved_best_observed_reference_makes_relative_levels_inconclusive() {
    use fitbench_report::metrics::ReferenceKind;
    let baseline = sweep(config());
    // A (dataset, trainer) whose runs reach a level against a best observed reference.
    let (dataset, trainer, level) = baseline
        .runs
        .iter()
        .find_map(|r| {
            let m = r.metrics.as_ref()?;
            (m.reference.kind == ReferenceKind::BestObserved)
                .then(|| {
                    m.targets
                        .iter()
                        .position(|h| h.iter.is_some_and(|i| i >= 10))
                })
                .flatten()
                .map(|i| (r.dataset.clone(), r.trainer.clone(), i))
        })
        .expect("a run that reaches a level against a best observed reference");
    let slower = |move_reference: bool| {
        let mut current = baseline.clone();
        for r in current.runs.iter_mut().filter(|r| r.dataset == dataset) {
            let m = r.metrics.as_mut().unwrap();
            if move_reference {
                m.reference.train_mse *= 0.5;
            }
            if r.trainer == trainer {
                m.targets[level].iter = m.targets[level].iter.map(|i| 3 * i);
            }
        }
        current
    };
    let name = format!("iters_to_{:e}", config().suboptimality_targets[level]);
    let verdict = |current: &Report| {
        check::compare(&baseline, current, &deterministic_only())
            .rows
            .into_iter()
            .find(|row| row.dataset == dataset && row.trainer == trainer && row.metric == name)
            .map(|row| row.verdict)
            .unwrap()
    };
    assert_eq!(verdict(&slower(false)), Verdict::Worse);
    assert_eq!(verdict(&slower(true)), Verdict::Inconclusive);
    // Nothing else of the dataset became inconclusive: absolute metrics are judged.
    let moved = check::compare(&baseline, &slower(true), &deterministic_only());
    assert!(
        moved
            .rows
            .iter()
            .filter(|r| r.dataset == dataset && r.metric.starts_with("train_mse_at_"))
            .all(|r| r.verdict == Verdict::Same)
    );
}
