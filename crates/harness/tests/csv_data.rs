//! Regression tests of issue #24's CSV defects: the identity of a CSV dataset (content, not
//! file name), non-regular files, unterminated quotes, messages about columns and missing
//! targets, and duplicate rows (counted, reported, removed with `--dedup`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fitbench_core::Split;
use fitbench_harness::csv_data::{load_csv_file, parse_csv};
use fitbench_harness::datasets::DatasetSpec;
use fitbench_harness::request::{self, Existing, SweepJob};
use fitbench_harness::runner::{self, MonotonicClock, Plan};
use fitbench_report::config::{CsvSpec, RunConfig};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// 40 rows whose target varies; no duplicates.
fn table() -> String {
    let mut t = String::from("a,b,y\n");
    for i in 0..40 {
        let (a, b) = (i as f64 * 0.5, (i * 7 % 11) as f64);
        t.push_str(&format!("{a},{b},{}\n", a - 2.0 * b + (i % 3) as f64));
    }
    t
}

fn spec(path: &Path) -> CsvSpec {
    CsvSpec {
        path: path.display().to_string(),
        target: "y".into(),
        drop: vec![],
        dedup: false,
    }
}

fn plan(csv: Vec<CsvSpec>, seeds: usize) -> Plan {
    Plan::resolve(RunConfig {
        name: "csv".into(),
        csv,
        trainers: vec!["ols".into()],
        seeds,
        budget_s: 1e9,
        ..RunConfig::default()
    })
    .unwrap()
}

fn message(text: &str, target: &str, drop: &[&str]) -> String {
    let drop: Vec<String> = drop.iter().map(|s| s.to_string()).collect();
    parse_csv(text.as_bytes(), "mydata.csv", "t", target, &drop, "test")
        .unwrap_err()
        .to_string()
}

#[test]
fn a_copy_a_rename_and_a_symlink_of_a_csv_get_the_same_split_and_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.csv");
    std::fs::write(&good, table()).unwrap();
    let copy = dir.path().join("copy.csv");
    std::fs::copy(&good, &copy).unwrap();
    let sub = dir.path().join("elsewhere");
    std::fs::create_dir(&sub).unwrap();
    let renamed = sub.join("renamed.csv");
    std::fs::write(&renamed, table()).unwrap();
    let mut paths = vec![good.clone(), copy, renamed];
    #[cfg(unix)]
    {
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink(&good, &link).unwrap();
        paths.push(link);
    }
    let base = fitbench_report::config::RunConfig::default().base_seed;
    let loaded: Vec<_> = paths
        .iter()
        .map(|p| DatasetSpec::Csv(spec(p)).load().unwrap())
        .collect();
    let first = &loaded[0];
    let (split_seed, _) = runner::split_and_init_seeds(base, &first.name, 0);
    let split = Split::new(first, 0.2, split_seed).unwrap();
    for (p, d) in paths.iter().zip(&loaded) {
        assert!(d.provenance.contains(&p.display().to_string()));
        assert_eq!(
            runner::run_seeds(base, &d.name, "ols", 0),
            runner::run_seeds(base, &first.name, "ols", 0),
            "{} vs {}",
            d.name,
            first.name
        );
        let (seed, _) = runner::split_and_init_seeds(base, &d.name, 0);
        let other = Split::new(d, 0.2, seed).unwrap();
        assert_eq!(
            other.train_rows[..5],
            split.train_rows[..5],
            "{}",
            p.display()
        );
        assert_eq!(other.train.x, split.train.x, "{}", p.display());
    }
    // Through the run loop: the same seeds and test MSE under every name.
    let runs: Vec<_> = paths
        .iter()
        .map(|p| {
            let out = runner::run_sweep(
                &plan(vec![spec(p)], 1),
                &mut MonotonicClock::default(),
                &mut |_| Ok(()),
                &mut |_| {},
            )
            .unwrap();
            out.runs[0].clone()
        })
        .collect();
    for r in &runs {
        assert_eq!(r.seeds, runs[0].seeds);
        assert_eq!(
            r.curve.last().map(|p| p.test_mse),
            runs[0].curve.last().map(|p| p.test_mse)
        );
    }
    // The loading options are part of the identity: another target is another dataset.
    let other_target = DatasetSpec::Csv(CsvSpec {
        target: "b".into(),
        ..spec(&good)
    })
    .load()
    .unwrap();
    assert_ne!(
        runner::run_seeds(base, &other_target.name, "ols", 0),
        runner::run_seeds(base, &first.name, "ols", 0)
    );
}

#[test]
fn non_regular_files_are_refused_before_they_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let msg = load_csv_file(&spec(dir.path())).unwrap_err().to_string();
    assert!(
        msg.contains("a directory, not a regular file") && msg.contains("--csv"),
        "{msg}"
    );
    #[cfg(unix)]
    {
        let msg = load_csv_file(&spec(Path::new("/dev/zero")))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("/dev/zero: a character device, not a regular file"),
            "{msg}"
        );
        let fifo = dir.path().join("pipe.csv");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .is_ok_and(|s| s.success());
        if made {
            let msg = load_csv_file(&spec(&fifo)).unwrap_err().to_string();
            assert!(
                msg.contains("FIFO") && msg.contains("not a regular file"),
                "{msg}"
            );
        }
        // A symbolic link to a regular file is fine.
        let file = dir.path().join("data.csv");
        std::fs::write(&file, table()).unwrap();
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(load_csv_file(&spec(&link)).unwrap().n(), 40);
    }
}

#[test]
fn an_unterminated_quote_names_the_line_it_starts_on() {
    // Formerly "ragged row: 2 cells": the reader takes the rest of the file as one cell.
    let msg = message("a,b,y\n1,2,3\n4,\"5,6\n7,8,9\n1,1,1\n", "y", &[]);
    assert!(
        msg.contains("unterminated quote starting at line 3") && !msg.contains("ragged"),
        "{msg}"
    );
    let msg = message("a,b,y\n1,2,3\n4,5,\"6\n7,8,9\n", "y", &[]);
    assert!(
        msg.contains("unterminated quote starting at line 3"),
        "{msg}"
    );
    let msg = message("a,\"b,y\n1,2,3\n", "y", &[]);
    assert!(
        msg.contains("unterminated quote starting at line 1"),
        "{msg}"
    );
    // Closed quotes, escaped quotes and a quote inside an unquoted cell are fine.
    let ok = "\"a\",\"b \"\"x\"\"\",y\n\"1\",2,3\n4,5,6\n7,8,1\n";
    let d = parse_csv(ok.as_bytes(), "ok.csv", "t", "y", &[], "").unwrap();
    assert_eq!(d.feature_names, ["a", "b \"x\""]);
    let msg = message("a,b,y\n1,2,3\n4,5\"x,6\n7,8,9\n", "y", &[]);
    assert!(
        msg.contains("non-numeric") && !msg.contains("quote"),
        "{msg}"
    );
}

#[test]
fn unknown_target_and_drop_columns_are_quoted_alone_and_the_columns_listed() {
    let text = "a,b,y\n1,2,3\n4,5,6\n7,8,1\n";
    let msg = message(text, "price", &[]);
    assert!(
        msg.contains("unknown target column \"price\" in mydata.csv; the columns are: a, b, y"),
        "{msg}"
    );
    let msg = message(text, "y", &["id"]);
    assert!(
        msg.contains("unknown column to drop \"id\" in mydata.csv; the columns are: a, b, y"),
        "{msg}"
    );
}

#[test]
fn a_missing_target_value_does_not_suggest_dropping_the_target() {
    for cell in ["NA", "", "n/a"] {
        let text = format!("a,b,y\n1,2,3\n4,5,{cell}\n7,8,1\n");
        let msg = message(&text, "y", &[]);
        assert!(
            msg.contains("line 3, column 3 (\"y\")")
                && msg.contains("--target")
                && !msg.contains("--drop"),
            "{cell:?}: {msg}"
        );
    }
    // In a feature column, dropping the column is a fix.
    let msg = message("a,b,y\n1,2,3\n4,NA,6\n7,8,1\n", "y", &[]);
    assert!(msg.contains("--drop"), "{msg}");
}

/// 30 distinct rows, then rows 0..10 again.
fn with_duplicates() -> String {
    let mut t = table();
    let rows: Vec<String> = t.lines().skip(1).take(10).map(str::to_string).collect();
    for r in rows {
        t.push_str(&r);
        t.push('\n');
    }
    t
}

#[test]
fn duplicate_rows_are_counted_in_the_report_and_summary_and_removed_by_dedup() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dups.csv");
    std::fs::write(&path, with_duplicates()).unwrap();

    let p = plan(vec![spec(&path)], 3);
    let infos = runner::dataset_infos(&p);
    assert_eq!((infos[0].n, infos[0].duplicate_rows), (50, 10));
    // Each split holds some copies on both sides (10 copy pairs over 50 rows, 10 test rows).
    assert_eq!(infos[0].test_rows_in_train.len(), 3);
    assert!(infos[0].test_rows_in_train.iter().all(|&k| k <= 10));
    assert!(infos[0].test_rows_in_train.iter().any(|&k| k > 0));
    // The whole sweep: report.json and summary.md.
    let job = SweepJob {
        config: p.config.clone(),
        out: dir.path().join("out"),
        shard: None,
        jobs: 1,
    };
    let result = request::execute(
        &job,
        Existing::Refuse,
        Arc::new(AtomicBool::new(false)),
        &mut |_| {},
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(result.report.datasets[0].duplicate_rows, 10);
    assert_eq!(result.report.datasets[0].test_rows_in_train.len(), 3);
    let summary = std::fs::read_to_string(dir.path().join("out/summary.md")).unwrap();
    assert!(
        summary.contains("Duplicate rows: 10 of the 50 rows repeat an earlier row exactly")
            && summary.contains("test rows per split have a copy among that split's training rows")
            && summary.contains("`--dedup`"),
        "{summary}"
    );

    // --dedup keeps the first copy of each: 40 rows, none duplicated, a dataset of its own.
    let dedup = CsvSpec {
        dedup: true,
        ..spec(&path)
    };
    let p = plan(vec![dedup.clone()], 3);
    let infos = runner::dataset_infos(&p);
    assert_eq!((infos[0].n, infos[0].duplicate_rows), (40, 0));
    assert!(infos[0].test_rows_in_train.is_empty());
    assert!(
        infos[0]
            .source
            .contains("--dedup removed 10 duplicate row(s)"),
        "{}",
        infos[0].source
    );
    let all = DatasetSpec::Csv(spec(&path)).load().unwrap();
    let unique = DatasetSpec::Csv(dedup).load().unwrap();
    assert_ne!(all.name, unique.name);
    assert_eq!(unique.y.col_as_slice(0), &all.y.col_as_slice(0)[..40]);

    // Data without duplicates record none.
    let clean = dir.path().join("clean.csv");
    std::fs::write(&clean, table()).unwrap();
    let infos = runner::dataset_infos(&plan(vec![spec(&clean)], 2));
    assert_eq!(infos[0].duplicate_rows, 0);
    assert!(infos[0].test_rows_in_train.is_empty());
}
