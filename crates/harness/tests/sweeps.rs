//! Nothing lost, nothing mixed: output folders of earlier sweeps, interrupts, resumption and
//! rebuilding a report from what a sweep wrote as it went.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fitbench_harness::request::{self, Existing, SweepJob};
use fitbench_harness::runner::Progress;
use fitbench_report::{RunConfig, Status};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

fn job(out: &Path) -> SweepJob {
    SweepJob {
        config: RunConfig {
            name: "sweeps".into(),
            datasets: vec!["linear:n=120,d=3,noise=0.1".into()],
            trainers: vec!["ols".into(), "adam:lr=0.01".into()],
            seeds: 2,
            max_iters: 30,
            budget_s: 1e6,
            hidden: vec![4],
            iteration_budgets: vec![10],
            ..RunConfig::default()
        },
        out: out.into(),
        shard: None,
        jobs: 1,
    }
}

fn execute(
    job: &SweepJob,
    existing: Existing,
) -> fitbench_harness::error::Result<request::SweepResult> {
    request::execute(
        job,
        existing,
        Arc::new(AtomicBool::new(false)),
        &mut |_| {},
        &mut |_| {},
    )
}

/// (trainer, repetition, scheduled (iteration, train MSE bits)) of one run.
type Curve = (String, usize, Vec<(usize, u64)>);

/// The train MSE at every scheduled point of every run: what must not change.
fn curves(r: &fitbench_report::Report) -> Vec<Curve> {
    r.runs
        .iter()
        .map(|run| {
            (
                run.trainer.clone(),
                run.repetition,
                run.curve
                    .iter()
                    .filter(|p| !p.off_schedule)
                    .map(|p| (p.iter, p.train_mse.to_bits()))
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn running_again_into_the_same_folder_is_refused_without_resume_or_force() {
    let dir = tempfile::tempdir().unwrap();
    let j = job(dir.path());
    execute(&j, Existing::Refuse).unwrap();
    let before = std::fs::read_to_string(dir.path().join("runs.jsonl")).unwrap();
    let msg = execute(&j, Existing::Refuse).unwrap_err().to_string();
    assert!(
        msg.contains("already holds a sweep")
            && msg.contains("--resume")
            && msg.contains("--force"),
        "{msg}"
    );
    // Nothing was touched.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("runs.jsonl")).unwrap(),
        before
    );
    // --force starts over.
    let again = execute(&j, Existing::Force).unwrap();
    assert_eq!(again.report.runs.len(), 4);
    assert_eq!(again.reused, 0);
}

#[test]
fn resume_reuses_finished_runs_with_matching_fingerprints_and_runs_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let j = job(dir.path());
    let full = execute(&j, Existing::Refuse).unwrap();
    // Simulate a sweep killed after two runs: only two lines of runs.jsonl survive.
    let log = dir.path().join("runs.jsonl");
    let kept: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .take(2)
        .map(String::from)
        .collect();
    std::fs::write(&log, kept.join("\n") + "\n").unwrap();
    std::fs::remove_file(dir.path().join("report.json")).unwrap();
    let resumed = execute(&j, Existing::Resume).unwrap();
    assert_eq!(resumed.reused, 2);
    assert_eq!(resumed.report.runs.len(), 4);
    assert_eq!(curves(&resumed.report), curves(&full.report));
    // A changed setting changes the fingerprints: nothing is reused.
    let mut other = job(dir.path());
    other.config.max_iters = 20;
    let changed = execute(&other, Existing::Resume).unwrap();
    assert_eq!(changed.reused, 0);
}

#[test]
fn an_interrupt_ends_the_run_in_flight_as_interrupted_and_writes_what_finished() {
    let dir = tempfile::tempdir().unwrap();
    let j = job(dir.path());
    let flag = Arc::new(AtomicBool::new(false));
    let signal = flag.clone();
    let mut started = 0;
    let result = request::execute(&j, Existing::Refuse, flag, &mut |_| {}, &mut |p| {
        if let Progress::Started { .. } = p {
            started += 1;
            if started == 2 {
                // The signal arrives while the second run is starting.
                signal.store(true, Ordering::SeqCst);
            }
        }
    })
    .unwrap();
    assert!(result.interrupted);
    assert_eq!(result.report.runs.len(), 2);
    assert_eq!(result.report.runs[1].status, Status::Interrupted);
    assert!(result.report.runs[0].status.is_ok());
    // Everything was written, and the report says it is incomplete.
    let back = fitbench_report::io::read_report(&dir.path().join("report.json")).unwrap();
    assert_eq!(back.runs.len(), 2);
    assert!(
        !back.check().is_empty(),
        "an incomplete sweep must not validate"
    );
    assert!(dir.path().join("summary.md").exists());
    // --resume then finishes it.
    let resumed = execute(&j, Existing::Resume).unwrap();
    assert_eq!((resumed.reused, resumed.report.runs.len()), (1, 4));
    assert!(
        resumed.report.check().is_empty(),
        "{:?}",
        resumed.report.check()
    );
}

#[test]
fn report_rebuilds_a_sweep_from_what_it_wrote_as_it_went() {
    let dir = tempfile::tempdir().unwrap();
    let full = execute(&job(dir.path()), Existing::Refuse).unwrap();
    for f in ["report.json", "summary.md"] {
        std::fs::remove_file(dir.path().join(f)).unwrap();
    }
    std::fs::remove_dir_all(dir.path().join("plots")).unwrap();
    let rebuilt = request::rebuild(dir.path()).unwrap();
    assert!(!rebuilt.interrupted);
    assert_eq!(rebuilt.report.runs, full.report.runs);
    assert_eq!(rebuilt.report.datasets, full.report.datasets);
    assert!(rebuilt.report.check().is_empty());
    // Every file of the sweep is back, plots included, and belongs to the rebuilt report.
    let problems = fitbench_render::output::validate(
        &rebuilt.report,
        dir.path(),
        fitbench_render::output::ValidateOptions {
            require_ok: true,
            require_files: true,
        },
    );
    assert!(problems.is_empty(), "{problems:?}");
    assert!(
        dir.path()
            .join("plots")
            .read_dir()
            .unwrap()
            .next()
            .is_some()
    );
}

#[test]
fn the_linear_reference_of_rank_deficient_real_data_is_recorded_with_its_rank() {
    let dir = tempfile::tempdir().unwrap();
    // `c` is constant, `b2` duplicates `b`: ordinary defects of public regression sets.
    let mut text = String::from("a,b,b2,c,y\n");
    for i in 0..40 {
        let (a, b) = (i as f64 * 0.37 % 5.0, (i * i) as f64 % 7.0);
        text.push_str(&format!("{a},{b},{b},3,{}\n", 2.0 * a - b + (i % 3) as f64));
    }
    let csv = dir.path().join("defects.csv");
    std::fs::write(&csv, text).unwrap();
    let mut j = job(&dir.path().join("out"));
    j.config.datasets.clear();
    j.config.csv.push(fitbench_report::config::CsvSpec {
        path: csv.to_string_lossy().into_owned(),
        target: "y".into(),
        drop: vec![],
        dedup: false,
    });
    j.config.trainers = vec!["ols".into()];
    let result = execute(&j, Existing::Refuse).unwrap();
    assert!(
        result.report.runs.iter().all(|r| r.status.is_ok()),
        "{:?}",
        result.report.runs[0].message
    );
    let info = &result.report.datasets[0];
    for reference in &info.linear_reference {
        // 4 features + intercept = 5 columns; c is constant and b2 = b: rank 3.
        assert_eq!(reference.rank, Some(3), "{reference:?}");
        assert_eq!(reference.dropped_features, vec!["c".to_string()]);
        assert_eq!(reference.ridge, 0.0);
        assert!(reference.train_mse.is_finite());
    }
    // The summary names the dropped column and the test that called it constant.
    let summary = std::fs::read_to_string(j.out.join("summary.md")).unwrap();
    assert!(
        summary.contains(
            "Dropped as constant on a training split (all training values equal to within 4 ulps"
        ) && summary.contains("|value|): c."),
        "{summary}"
    );
}

#[test]
fn a_huge_synthetic_size_is_refused_before_generating_it() {
    let config = RunConfig {
        datasets: vec!["teacher:n=1000000000000,d=8".into()],
        trainers: vec!["ols".into(), "analytic".into()],
        activation: "relu".into(),
        ..RunConfig::default()
    };
    let msg = fitbench_harness::runner::Plan::resolve(config)
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("n = 1000000000000") && msg.contains("d = 8") && msg.contains("GiB"),
        "{msg}"
    );
}

#[test]
fn trainers_declare_their_memory_and_the_registry_passes_it_on() {
    use fitbench_harness::registry::TrainerSpec;
    let widths = [100, 64, 1];
    let adam = TrainerSpec::parse("adam")
        .unwrap()
        .boxed()
        .memory_bytes(10_000, &widths);
    let analytic = TrainerSpec::parse("analytic:hidden_solve=joint")
        .unwrap()
        .boxed()
        .memory_bytes(10_000, &widths);
    // analytic's joint solve holds an h(d+1)-square Gram matrix: 8·(64·101)² bytes alone.
    assert!(analytic > 8 * (64 * 101u64).pow(2), "{analytic}");
    assert!(analytic > adam);
}
