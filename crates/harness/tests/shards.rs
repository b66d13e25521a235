//! Sharded sweeps: the shards of a sweep run disjoint sets of runs whose union is the
//! sweep, and `merge` puts them back together into the report an unsharded sweep writes
//! (timings aside); inconsistent inputs are refused with precise messages.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fitbench_harness::request::{self, Existing, SweepJob};
use fitbench_harness::shard::{self, Manifest, Shard};
use fitbench_report::RunConfig;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Shards of the test sweep.
const SHARDS: usize = 3;

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
    let job = SweepJob {
        config: config(),
        out: out.into(),
        shard,
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

fn shard_dirs(root: &Path) -> Vec<PathBuf> {
    (0..SHARDS).map(|i| root.join(format!("s{i}"))).collect()
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
    let merged = shard::merge(&dirs, &out, false).unwrap();
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
    // The deterministic metrics agree too (the iteration each level is reached at; the
    // time it took is a timing figure).
    let metrics = |r: &fitbench_report::Report| {
        let mut m: Vec<String> = r
            .runs
            .iter()
            .map(|x| {
                let hits: Vec<(f64, Option<usize>)> = x
                    .metrics
                    .as_ref()
                    .map(|m| m.targets.iter().map(|h| (h.level, h.iter)).collect())
                    .unwrap_or_default();
                format!("{} {} {} {hits:?}", x.dataset, x.trainer, x.repetition)
            })
            .collect();
        m.sort();
        m
    };
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
    let msg = shard::merge(&dirs[..2], &root.path().join("m1"), false)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("in no shard") && msg.contains("--allow-missing"),
        "{msg}"
    );
    let merged = shard::merge(&dirs[..2], &root.path().join("m2"), true).unwrap();
    assert!(!merged.missing.is_empty());
    let rebuilt = request::rebuild(&root.path().join("m2")).unwrap();
    assert!(rebuilt.interrupted, "runs are missing");

    // The same shard twice.
    let twice = vec![dirs[0].clone(), dirs[0].clone()];
    let msg = shard::merge(&twice, &root.path().join("m3"), true)
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
    };
    request::execute(
        &job,
        Existing::Refuse,
        Arc::new(AtomicBool::new(false)),
        &mut |_| {},
        &mut |_| {},
    )
    .unwrap();
    let msg = shard::merge(&[dirs[0].clone(), other], &root.path().join("m4"), true)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("different sweep configurations"), "{msg}");

    // Merging into a folder that holds a sweep.
    let msg = shard::merge(&dirs[..2], &dirs[0], true)
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
        };
        let msg = request::execute(
            &job,
            Existing::Resume,
            Arc::new(AtomicBool::new(false)),
            &mut |_| {},
            &mut |_| {},
        )
        .unwrap_err()
        .to_string();
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
    let msg = shard::merge(&dirs, &root.path().join("m"), false)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("1 of 12 runs are in no shard"), "{msg}");
}
