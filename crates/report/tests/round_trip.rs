//! Every report fitbench writes can be read back by every fitbench command: arbitrary
//! statuses, losses including NaN and ±inf, empty curves → write → read → identical.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fitbench_core::{Activation, Architecture};
use fitbench_report::schema::{
    BudgetLoss, ConvergenceMetrics, CurvePoint, DatasetInfo, Environment, LinearReference,
    MSE_UNITS, Reference, ReferenceKind, Report, RunRecord, RunSeeds, RunSummary, SCHEMA_VERSION,
    Status, SuboptimalityHit, TargetHit,
};
use fitbench_report::{RunConfig, io};
use proptest::prelude::*;

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => any::<f64>(),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(0.0),
    ]
}

fn opt_float() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![1 => Just(None), 3 => float().prop_map(Some)]
}

fn status() -> impl Strategy<Value = Status> {
    prop_oneof![
        Just(Status::Converged),
        Just(Status::MaxIters),
        Just(Status::Timeout),
        Just(Status::TargetReached),
        Just(Status::Stalled),
        Just(Status::Diverged),
        Just(Status::Error),
        Just(Status::Panicked),
        Just(Status::Interrupted),
    ]
}

fn point() -> impl Strategy<Value = CurvePoint> {
    (
        0usize..1000,
        float(),
        float(),
        float(),
        float(),
        opt_float(),
        opt_float(),
        any::<bool>(),
    )
        .prop_map(|(iter, time_s, a, b, c, d, e, off)| CurvePoint {
            iter,
            time_s,
            train_mse: a,
            test_mse: b,
            best_train_mse: c,
            current_train_mse: d,
            current_test_mse: e,
            off_schedule: off,
        })
}

fn metrics() -> impl Strategy<Value = Option<ConvergenceMetrics>> {
    prop_oneof![
        Just(None),
        (float(), float(), opt_float(), opt_float(), any::<bool>()).prop_map(
            |(l, l0, f, t, censored)| Some(ConvergenceMetrics {
                reference: Reference {
                    kind: ReferenceKind::BestObserved,
                    train_mse: l,
                    null_train_mse: l0,
                },
                horizon: 10,
                censored,
                targets: vec![SuboptimalityHit {
                    level: 0.1,
                    iter: None,
                    flops: f,
                    time_s: t,
                }],
                budgets: vec![BudgetLoss {
                    iter: 10,
                    train_mse: t,
                }],
            })
        ),
    ]
}

fn run() -> impl Strategy<Value = RunRecord> {
    (
        status(),
        proptest::collection::vec(point(), 0..4),
        (opt_float(), opt_float(), opt_float(), float(), float()),
        metrics(),
        opt_float(),
    )
        .prop_map(|(status, curve, (a, b, c, setup, train), metrics, flops)| {
            let mut r = RunRecord::pending(
                "d",
                "adam:lr=1e300",
                "adam",
                serde_json::json!({"trainer": "adam", "lr": 1e300}),
                0,
                RunSeeds {
                    split: 1,
                    init: 2,
                    trainer: u64::MAX,
                },
            );
            r.status = status;
            r.curve = curve;
            r.summary = RunSummary {
                initial_train_mse: a,
                best_train_mse: b,
                final_train_mse: c,
                best_test_mse: a,
                final_test_mse: b,
                test_mse_at_best_train: c,
                targets: vec![TargetHit {
                    target: 0.5,
                    iter: None,
                    time_s: a,
                    tuning_inclusive_s: b,
                    optimistic_s: c,
                }],
            };
            r.setup_s = setup;
            r.train_s = train;
            r.flops_per_step = flops;
            r.metrics = metrics;
            r
        })
}

fn report(runs: Vec<RunRecord>, reference: f64) -> Report {
    let mut info = DatasetInfo {
        name: "d".into(),
        source: "test".into(),
        n: 10,
        n_train: 8,
        n_test: 2,
        d: 1,
        k: 1,
        feature_names: vec!["x".into()],
        target_names: vec!["y".into()],
        linear_reference: vec![],
        noise_free_teacher: false,
        duplicate_rows: 0,
        test_rows_in_train: vec![],
    };
    info.linear_reference.push(LinearReference {
        repetition: 0,
        ridge: 0.0,
        train_mse: reference,
        test_mse: reference,
        null_train_mse: 1.0,
        rank: Some(2),
        dropped_features: vec!["z".into()],
    });
    Report {
        schema_version: SCHEMA_VERSION,
        mse_units: MSE_UNITS.into(),
        environment: Environment {
            fitbench_version: "0".into(),
            git_commit: "x".into(),
            git_dirty: None,
            rustc: "r".into(),
            profile: "p".into(),
            os: "o".into(),
            cpu: "c".into(),
            cores: 1,
            threads: 1,
            jobs: 1,
            hostname: "h".into(),
            faer_version: "f".into(),
            burn_version: None,
            started_unix_s: 0,
            calibration: None,
            memory_measurement: None,
        },
        config: RunConfig::default(),
        architecture: Architecture::new(vec![4], Activation::Tanh),
        datasets: vec![info],
        runs,
        tuning: vec![],
        merge: None,
    }
}

/// Equality that treats every NaN as equal: compares the JSON text.
fn text(r: &Report) -> String {
    serde_json::to_string(r).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_report_with_non_finite_losses_round_trips(runs in proptest::collection::vec(run(), 0..4), reference in float()) {
        // Reports are written with their metrics (computed when built); one without them
        // gets them on load, so the round trip starts from an annotated report.
        let mut report = report(runs, reference);
        fitbench_report::metrics::annotate_if_missing(&mut report);
        let dir = tempfile::tempdir().unwrap();
        let path = io::write_report(&report, dir.path()).unwrap();
        let back = io::read_report(&path).unwrap();
        prop_assert_eq!(text(&back), text(&report));
        // Bit-identical where the value is not NaN.
        for (a, b) in back.runs.iter().zip(&report.runs) {
            for (p, q) in a.curve.iter().zip(&b.curve) {
                prop_assert!(p.train_mse.to_bits() == q.train_mse.to_bits() || (p.train_mse.is_nan() && q.train_mse.is_nan()));
            }
        }
    }
}

#[test]
fn a_non_finite_evaluated_loss_is_written_readably_not_as_null() {
    let mut r = report(vec![], f64::NAN);
    let mut run = RunRecord::pending(
        "d",
        "adam",
        "adam",
        serde_json::Value::Null,
        0,
        RunSeeds {
            split: 0,
            init: 0,
            trainer: 0,
        },
    );
    run.status = Status::Diverged;
    run.curve.push(CurvePoint {
        iter: 1,
        time_s: 0.1,
        train_mse: f64::INFINITY,
        test_mse: f64::NAN,
        best_train_mse: f64::NEG_INFINITY,
        current_train_mse: Some(f64::NAN),
        current_test_mse: None,
        off_schedule: false,
    });
    r.runs.push(run);
    let json = serde_json::to_string(&r).unwrap();
    assert!(
        json.contains("\"train_mse\":\"inf\"") && json.contains("\"test_mse\":\"NaN\""),
        "{json}"
    );
    let dir = tempfile::tempdir().unwrap();
    let back = io::read_report(&io::write_report(&r, dir.path()).unwrap()).unwrap();
    assert_eq!(back.runs[0].curve[0].train_mse, f64::INFINITY);
    assert!(back.runs[0].curve[0].test_mse.is_nan());
    // Reports written before (null for a non-finite loss) are read too.
    let old = json.replace("\"NaN\"", "null");
    let parsed: Report = serde_json::from_str(&old).unwrap();
    assert!(parsed.runs[0].curve[0].test_mse.is_nan());
}

#[test]
fn duplicate_row_counts_round_trip_and_older_reports_without_them_still_read() {
    let mut r = report(vec![], 0.5);
    // Absent when there is nothing to say, so a report without duplicates is unchanged.
    let plain = serde_json::to_value(&r.datasets[0]).unwrap();
    assert!(plain.get("duplicate_rows").is_none() && plain.get("test_rows_in_train").is_none());
    let back: DatasetInfo = serde_json::from_value(plain).unwrap();
    assert_eq!((back.duplicate_rows, back.test_rows_in_train.len()), (0, 0));
    r.datasets[0].duplicate_rows = 3;
    r.datasets[0].test_rows_in_train = vec![1, 0, 2];
    let back: DatasetInfo =
        serde_json::from_value(serde_json::to_value(&r.datasets[0]).unwrap()).unwrap();
    assert_eq!(back, r.datasets[0]);
    // A CSV spec written before `dedup` existed reads as dedup = false, and false is not
    // written.
    let spec: fitbench_report::config::CsvSpec =
        serde_json::from_str(r#"{"path": "x.csv", "target": "y"}"#).unwrap();
    assert!(!spec.dedup);
    assert!(!serde_json::to_string(&spec).unwrap().contains("dedup"));
}

/// Metrics are computed in one place for old reports: on load. A report written without them
/// comes back with them (and says so); one written with them comes back unchanged.
#[test]
fn a_report_without_metrics_gets_them_on_load_and_only_then() {
    let mut run = RunRecord::pending(
        "d",
        "adam",
        "adam",
        serde_json::Value::Null,
        0,
        RunSeeds {
            split: 0,
            init: 0,
            trainer: 0,
        },
    );
    run.status = Status::Converged;
    for (iter, mse) in [(0, 1.0), (1, 0.5), (2, 0.25)] {
        run.curve.push(CurvePoint {
            iter,
            time_s: iter as f64,
            train_mse: mse,
            test_mse: mse,
            best_train_mse: mse,
            current_train_mse: None,
            current_test_mse: None,
            off_schedule: false,
        });
    }
    let old = report(vec![run], 0.125);
    assert!(old.runs[0].metrics.is_none());
    let dir = tempfile::tempdir().unwrap();
    let path = io::write_report(&old, dir.path()).unwrap();
    let loaded = io::load_report(&path).unwrap();
    assert!(
        loaded.computed_metrics,
        "an old report is annotated on load"
    );
    let mut expected = old.clone();
    fitbench_report::metrics::annotate(&mut expected);
    assert!(expected.runs[0].metrics.is_some());
    assert_eq!(text(&loaded.report), text(&expected));
    // Written again, it reads back as written: nothing is computed twice.
    let path = io::write_report(&loaded.report, dir.path()).unwrap();
    let again = io::load_report(&path).unwrap();
    assert!(!again.computed_metrics);
    assert_eq!(text(&again.report), text(&expected));
}
