//! Sharded sweeps: the shards of a sweep run disjoint sets of runs whose union is the
//! sweep, and `merge` puts them back together into the report an unsharded sweep writes
//! (timings aside); inconsistent inputs are refused with precise messages.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fitbench_harness::request::{self, Existing, SweepJob};
use fitbench_harness::shard::{self, Manifest, MergeOptions, Shard};
use fitbench_report::RunConfig;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Shards of the test sweep.
const SHARDS: usize = 3;

const STRICT: MergeOptions = MergeOptions {
    allow_missing: false,
    allow_mixed_commits: false,
};
const ALLOW_MISSING: MergeOptions = MergeOptions {
    allow_missing: true,
    allow_mixed_commits: false,
};

fn config() -> RunConfig {
    RunConfig {
        name: "shards".into(),
        datasets: vec![
            "linear:n=120,d=3,noise=0.1".into(),
            "friedman1:n=100,noise=0.1".into(),
        ],
        trainers: vec!["ols".into(), "adam:lr=0.01".into(), "lbfgs".into()],
        seeds: 2,
        max_iters: 20,
        budget_s: 1e6,
        hidden: vec![4],
        lr_grid: Some(fitbench_report::config::LrGrid {
            grid: vec![1e-3, 1e-2],
            epochs: 5,
            ..Default::default()
        }),
        ..RunConfig::default()
    }
}

fn run(out: &Path, shard: Option<Shard>) -> request::SweepResult {
    run_with(config(), out, shard, 1)
}

fn run_with(
    config: RunConfig,
    out: &Path,
    shard: Option<Shard>,
    jobs: usize,
) -> request::SweepResult {
    let job = SweepJob {
        config,
        out: out.into(),
        shard,
        jobs,
    };
    request::execute(
        &job,
        Existing::Refuse,
        Arc::new(AtomicBool::new(false)),
        &mut |_| {},
        &mut |_| {},
    )
    .unwrap()
}

/// (dataset, trainer, repetition, scheduled (iteration, train MSE bits)), sorted.
type Curve = (String, String, usize, Vec<(usize, u64)>);

fn curves(r: &fitbench_report::Report) -> Vec<Curve> {
    let mut out: Vec<Curve> = r
        .runs
        .iter()
        .map(|run| {
            (
                run.dataset.clone(),
                run.trainer.clone(),
                run.repetition,
                run.curve
                    .iter()
                    .filter(|p| !p.off_schedule)
                    .map(|p| (p.iter, p.train_mse.to_bits()))
                    .collect(),
            )
        })
        .collect();
    out.sort();
    out
}

/// The message of a sweep `execute` must refuse.
fn refused(job: &SweepJob, existing: Existing) -> String {
    request::execute(
        job,
        existing,
        Arc::new(AtomicBool::new(false)),
        &mut |_| {},
        &mut |_| {},
    )
    .unwrap_err()
    .to_string()
}

fn shard_dirs(root: &Path) -> Vec<PathBuf> {
    shard_dirs_of(root, SHARDS)
}

fn shard_dirs_of(root: &Path, n: usize) -> Vec<PathBuf> {
    (0..n).map(|i| root.join(format!("s{i}"))).collect()
}

/// (level, iteration reached) and (budget, train MSE bits) of one run.
type Deterministic = (Vec<(f64, Option<usize>)>, Vec<(usize, Option<u64>)>);

/// "dataset trainer repetition [(level, iteration)…] [(budget, train MSE bits)…]" of every
/// run, sorted: the deterministic metrics, which must not depend on how the sweep was split
/// up or how many runs ran at once.
fn metrics(r: &fitbench_report::Report) -> Vec<String> {
    let mut m: Vec<String> = r
        .runs
        .iter()
        .map(|x| {
            let (hits, budgets): Deterministic = x
                .metrics
                .as_ref()
                .map(|m| {
                    (
                        m.targets.iter().map(|h| (h.level, h.iter)).collect(),
                        m.budgets
                            .iter()
                            .map(|b| (b.iter, b.train_mse.map(f64::to_bits)))
                            .collect(),
                    )
                })
                .unwrap_or_default();
            format!(
                "{} {} {} {:?} {hits:?} {budgets:?}",
                x.dataset, x.trainer, x.repetition, x.status
            )
        })
        .collect();
    m.sort();
    m
}

#[test]
fn shards_partition_the_sweep_and_merge_back_into_the_same_report() {
    let root = tempfile::tempdir().unwrap();
    let whole = run(&root.path().join("whole"), None);
    let dirs = shard_dirs(root.path());
    let mut total = 0;
    for (i, dir) in dirs.iter().enumerate() {
        let r = run(dir, Some(Shard::new(i, SHARDS).unwrap()));
        let manifest: Manifest =
            fitbench_report::io::read_json(&dir.join(shard::MANIFEST), "manifest").unwrap();
        assert_eq!(manifest.shard, Shard::new(i, SHARDS).unwrap());
        assert_eq!(manifest.runs.len(), r.report.runs.len());
        assert!(
            !r.interrupted,
            "a complete shard is not an interrupted sweep"
        );
        total += r.report.runs.len();
    }
    assert_eq!(total, whole.report.runs.len(), "the shards are a partition");

    let out = root.path().join("merged");
    let merged = shard::merge(&dirs, &out, STRICT).unwrap();
    assert!(merged.missing.is_empty());
    let rebuilt = request::rebuild(&out).unwrap();
    assert!(!rebuilt.interrupted);
    assert_eq!(curves(&rebuilt.report), curves(&whole.report));
    assert_eq!(rebuilt.report.tuning.len(), whole.report.tuning.len());
    for t in &whole.report.tuning {
        let m = rebuilt
            .report
            .tuning
            .iter()
            .find(|m| m.dataset == t.dataset && m.trainer == t.trainer)
            .unwrap();
        assert_eq!(m.picked_lr, t.picked_lr, "{} / {}", t.dataset, t.trainer);
    }
    // The deterministic metrics agree too (the iteration each level is reached at, the loss
    // after each budget; the time it took is a timing figure).
    assert_eq!(metrics(&rebuilt.report), metrics(&whole.report));
}

#[test]
fn missing_duplicated_and_foreign_shards_are_refused_clearly() {
    let root = tempfile::tempdir().unwrap();
    let dirs = shard_dirs(root.path());
    for (i, dir) in dirs.iter().enumerate().take(2) {
        run(dir, Some(Shard::new(i, SHARDS).unwrap()));
    }
    // Shard 2 never ran.
    let msg = shard::merge(&dirs[..2], &root.path().join("m1"), STRICT)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("in no shard") && msg.contains("--allow-missing"),
        "{msg}"
    );
    let merged = shard::merge(&dirs[..2], &root.path().join("m2"), ALLOW_MISSING).unwrap();
    assert!(!merged.missing.is_empty());
    let rebuilt = request::rebuild(&root.path().join("m2")).unwrap();
    assert!(rebuilt.interrupted, "runs are missing");

    // The same shard twice.
    let twice = vec![dirs[0].clone(), dirs[0].clone()];
    let msg = shard::merge(&twice, &root.path().join("m3"), ALLOW_MISSING)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("appears in both"), "{msg}");

    // A folder of another sweep.
    let other = root.path().join("other");
    let job = SweepJob {
        config: RunConfig {
            seeds: 1,
            ..config()
        },
        out: other.clone(),
        shard: None,
        jobs: 1,
    };
    request::execute(
        &job,
        Existing::Refuse,
        Arc::new(AtomicBool::new(false)),
        &mut |_| {},
        &mut |_| {},
    )
    .unwrap();
    let msg = shard::merge(
        &[dirs[0].clone(), other],
        &root.path().join("m4"),
        ALLOW_MISSING,
    )
    .unwrap_err()
    .to_string();
    assert!(msg.contains("different sweep configurations"), "{msg}");

    // A shard of another count (a resubmitted array task that ran as 0/1: the whole sweep).
    let whole = root.path().join("whole");
    run(&whole, Some(Shard::new(0, 1).unwrap()));
    let msg = shard::merge(&[dirs[0].clone(), whole], &root.path().join("m5"), STRICT)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("shards of different counts") && msg.contains("0/1"),
        "{msg}"
    );

    // The folder of a preset group, holding one sweep per sub-folder.
    let group = root.path().join("group");
    std::fs::create_dir_all(group.join("h32")).unwrap();
    std::fs::copy(dirs[0].join("sweep.json"), group.join("h32/sweep.json")).unwrap();
    let msg = shard::merge(&[group], &root.path().join("m6"), STRICT)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("preset group") && msg.contains("h32"), "{msg}");

    // Merging into a folder that holds a sweep.
    let msg = shard::merge(&dirs[..2], &dirs[0], ALLOW_MISSING)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("already holds a sweep"), "{msg}");
}

#[test]
fn resuming_a_shard_folder_needs_the_same_shard_and_interrupted_runs_count_as_missing() {
    let root = tempfile::tempdir().unwrap();
    let dirs = shard_dirs(root.path());
    for (i, dir) in dirs.iter().enumerate() {
        run(dir, Some(Shard::new(i, SHARDS).unwrap()));
    }
    let before = std::fs::read_to_string(dirs[0].join("runs.jsonl")).unwrap();
    for other in [Some(Shard::new(1, SHARDS).unwrap()), None] {
        let job = SweepJob {
            config: config(),
            out: dirs[0].clone(),
            shard: other,
            jobs: 1,
        };
        let msg = refused(&job, Existing::Resume);
        assert!(
            msg.contains("--resume") && msg.contains("shard 0/3"),
            "{msg}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(dirs[0].join("runs.jsonl")).unwrap(),
        before,
        "nothing was lost"
    );

    // Mark one finished run of shard 1 as interrupted: merge must not count it as present.
    let log = dirs[1].join("runs.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let mut first: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    first["status"] = serde_json::json!("interrupted");
    lines[0] = first.to_string();
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let msg = shard::merge(&dirs, &root.path().join("m"), STRICT)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("1 of 12 runs are in no shard"), "{msg}");
}

#[test]
fn more_shards_than_runs_leaves_some_empty_and_still_merges_into_the_sweep() {
    let root = tempfile::tempdir().unwrap();
    let config = RunConfig {
        seeds: 1,
        lr_grid: None,
        ..config()
    };
    let whole = run_with(config.clone(), &root.path().join("whole"), None, 1);
    let n = 20; // 6 runs
    let dirs = shard_dirs_of(root.path(), n);
    let mut empty = 0;
    for (i, dir) in dirs.iter().enumerate() {
        let r = run_with(config.clone(), dir, Some(Shard::new(i, n).unwrap()), 1);
        empty += usize::from(r.report.runs.is_empty());
        assert!(
            !r.interrupted,
            "shard {i}: a shard with nothing to do is complete"
        );
    }
    assert!(empty > 0, "20 shards of 6 runs: some are empty");
    let out = root.path().join("merged");
    shard::merge(&dirs, &out, STRICT).unwrap();
    let rebuilt = request::rebuild(&out).unwrap();
    assert_eq!(curves(&rebuilt.report), curves(&whole.report));
    assert_eq!(metrics(&rebuilt.report), metrics(&whole.report));
    assert_eq!(rebuilt.report.datasets.len(), whole.report.datasets.len());
    let merge = rebuilt
        .report
        .merge
        .expect("the merged report records its merge");
    assert_eq!(merge.folders.len(), n);
    assert_eq!(merge.commits.len(), 1, "{:?}", merge.commits);
    assert!(merge.missing.is_empty());
}

#[test]
fn adding_a_trainer_moves_no_run_to_another_shard() {
    let mut grown = config();
    grown.trainers.insert(1, "sgd:lr=0.01".into());
    let n = 4;
    for i in 0..n {
        let shard = Shard::new(i, n).unwrap();
        // Plan only: a shard's manifest is known before any run starts.
        let keys = |config: RunConfig| {
            let plan = fitbench_harness::runner::Plan::resolve(config).unwrap();
            Manifest::of(&plan, shard).runs
        };
        let old = keys(config());
        let new = keys(grown.clone());
        let kept: Vec<_> = new
            .iter()
            .filter(|k| k.trainer != "sgd:lr=0.01")
            .cloned()
            .collect();
        assert_eq!(kept, old, "shard {i}: the old runs stay where they were");
    }
}

#[test]
fn two_jobs_give_the_same_runs_and_metrics_as_one() {
    let root = tempfile::tempdir().unwrap();
    let one = run_with(config(), &root.path().join("one"), None, 1);
    let two = run_with(config(), &root.path().join("two"), None, 2);
    assert_eq!(curves(&two.report), curves(&one.report));
    assert_eq!(metrics(&two.report), metrics(&one.report));
    // Plan order in the report, whatever order the runs finished in.
    let order = |r: &fitbench_report::Report| {
        r.runs
            .iter()
            .map(|x| (x.dataset.clone(), x.repetition, x.trainer.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(order(&two.report), order(&one.report));
    assert_eq!(two.report.environment.jobs, 2);
    assert_eq!(one.report.environment.jobs, 1);
    assert!(
        two.report
            .runs
            .iter()
            .all(|r| r.provenance.as_ref().is_some_and(|p| p.jobs == 2))
    );
    let summary = std::fs::read_to_string(root.path().join("two/summary.md")).unwrap();
    assert!(summary.contains("--jobs 2"), "the timing caveat is stated");
    let summary = std::fs::read_to_string(root.path().join("one/summary.md")).unwrap();
    assert!(!summary.contains("--jobs"));
    // Rebuilding from runs.jsonl (written in finishing order) gives the report again.
    let rebuilt = request::rebuild(&root.path().join("two")).unwrap();
    assert_eq!(order(&rebuilt.report), order(&one.report));
    assert_eq!(rebuilt.report.environment.jobs, 2);
    // Each run is single-threaded: more threads per run are refused with --jobs.
    let job = SweepJob {
        config: RunConfig {
            threads: 2,
            ..config()
        },
        out: root.path().join("threads"),
        shard: None,
        jobs: 2,
    };
    let msg = refused(&job, Existing::Refuse);
    assert!(
        msg.contains("--jobs 2") && msg.contains("--threads 1"),
        "{msg}"
    );
}

/// Rewrites every run of a folder's runs.jsonl with `edit`.
fn edit_runs(dir: &Path, edit: &dyn Fn(&mut serde_json::Value)) {
    let log = dir.join("runs.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            edit(&mut v);
            v.to_string()
        })
        .collect();
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
}

#[test]
fn runs_carry_their_machine_and_shards_of_different_commits_are_refused_unless_allowed() {
    let root = tempfile::tempdir().unwrap();
    let dirs = shard_dirs(root.path());
    for (i, dir) in dirs.iter().enumerate() {
        let r = run(dir, Some(Shard::new(i, SHARDS).unwrap()));
        for x in &r.report.runs {
            let p = x
                .provenance
                .as_ref()
                .expect("every run records where it ran");
            assert_eq!(p.git_commit, r.report.environment.git_commit);
            assert_eq!(p.hostname, r.report.environment.hostname);
            assert!(p.calibration_gflops.is_some_and(|g| g > 0.0));
        }
    }
    // Shard 1 "ran on another machine, from another commit, at half the speed".
    edit_runs(&dirs[1], &|v| {
        v["provenance"]["git_commit"] = serde_json::json!("0123abc");
        v["provenance"]["hostname"] = serde_json::json!("elsewhere");
        let g = v["provenance"]["calibration_gflops"].as_f64().unwrap();
        v["provenance"]["calibration_gflops"] = serde_json::json!(g / 2.0);
    });
    let msg = shard::merge(&dirs, &root.path().join("m1"), STRICT)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("2 different git commits")
            && msg.contains("0123abc")
            && msg.contains("--allow-mixed-commits"),
        "{msg}"
    );
    let options = MergeOptions {
        allow_mixed_commits: true,
        ..STRICT
    };
    let out = root.path().join("m2");
    shard::merge(&dirs, &out, options).unwrap();
    let rebuilt = request::rebuild(&out).unwrap();
    let merge = rebuilt.report.merge.as_ref().unwrap();
    assert!(merge.allow_mixed_commits);
    assert!(merge.commits.contains(&"0123abc".to_string()));
    // Each run keeps its own machine.
    let hosts: std::collections::BTreeSet<&str> = rebuilt
        .report
        .runs
        .iter()
        .map(|r| r.provenance.as_ref().unwrap().hostname.as_str())
        .collect();
    assert!(hosts.contains("elsewhere") && hosts.len() == 2, "{hosts:?}");
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("0123abc"), "the summary names the commits");
}
