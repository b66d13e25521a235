//! Regression tests of issue #11: inputs whose meaning, or whose error, depended on details
//! they should not (how a path is spelled, line endings, delimiters, stray spaces, repeated
//! names, generator arguments, option types).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fitbench_harness::csv_data::parse_csv;
use fitbench_harness::datasets::DatasetSpec;
use fitbench_harness::error::HarnessError;
use fitbench_harness::registry::TrainerSpec;
use fitbench_harness::runner::{self, MonotonicClock, Plan};
use fitbench_report::config::{CsvSpec, RunConfig};

/// A small CSV whose target varies.
const TABLE: &str = "a,b,y\n1,2,3\n4,5,6.5\n7,8,1\n0,1,2\n3,3,3\n9,1,4\n";

fn csv_spec(path: &str) -> CsvSpec {
    CsvSpec {
        path: path.into(),
        target: "y".into(),
        drop: vec![],
        dedup: false,
    }
}

fn parse(
    text: &str,
    target: &str,
    drop: &[&str],
) -> fitbench_harness::error::Result<fitbench_core::Dataset> {
    let drop: Vec<String> = drop.iter().map(|s| s.to_string()).collect();
    parse_csv(text.as_bytes(), "t.csv", "t", target, &drop, "test")
}

fn csv_line(text: &str) -> Option<u64> {
    match parse(text, "y", &[]) {
        Err(HarnessError::Csv { line, .. }) => line,
        other => panic!("expected a CSV error, got {other:?}"),
    }
}

/// A one-repetition OLS sweep over `csv` files.
fn ols_plan(csv: Vec<CsvSpec>) -> fitbench_harness::error::Result<Plan> {
    Plan::resolve(RunConfig {
        name: "csv".into(),
        csv,
        trainers: vec!["ols".into()],
        seeds: 1,
        budget_s: 1e9,
        ..RunConfig::default()
    })
}

#[test]
fn two_spellings_of_a_csv_path_get_the_same_name_seeds_and_results() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/x.csv"), TABLE).unwrap();
    let plain = dir.path().join("data/x.csv").display().to_string();
    let dotted = dir
        .path()
        .join("./data/../data/x.csv")
        .display()
        .to_string();

    let a = DatasetSpec::Csv(csv_spec(&plain)).load().unwrap();
    let b = DatasetSpec::Csv(csv_spec(&dotted)).load().unwrap();
    assert_eq!(a.name, b.name, "the name comes from the content");
    assert!(a.name.starts_with("csv:x@"), "{}", a.name);
    assert_eq!(a.name.len(), "csv:x@".len() + 12, "{}", a.name);
    assert_eq!((&a.x, &a.y), (&b.x, &b.y));
    assert!(a.provenance.contains(&plain), "{}", a.provenance);
    assert!(b.provenance.contains(&dotted), "{}", b.provenance);

    // The run loop uses the loaded name: same dataset name, seeds and MSEs in reports.
    let sweep = |path: &str| {
        let plan = ols_plan(vec![csv_spec(path)]).unwrap();
        runner::run_sweep(
            &plan,
            &mut MonotonicClock::default(),
            &mut |_| Ok(()),
            &mut |_| {},
        )
        .unwrap()
    };
    let (ra, rb) = (sweep(&plain), sweep(&dotted));
    assert_eq!(ra.datasets[0].name, a.name);
    assert_eq!(rb.datasets[0].name, a.name);
    assert!(ra.datasets[0].source.contains(&plain));
    assert_eq!(ra.runs[0].dataset, rb.runs[0].dataset);
    assert_eq!(ra.runs[0].seeds, rb.runs[0].seeds);
    let last = |o: &runner::SweepOutput| o.runs[0].curve.last().map(|p| p.test_mse);
    assert_eq!(last(&ra), last(&rb));
}

#[test]
fn a_one_byte_change_gives_a_csv_file_a_different_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.csv");
    std::fs::write(&path, TABLE).unwrap();
    let before = DatasetSpec::Csv(csv_spec(&path.display().to_string()))
        .load()
        .unwrap();
    std::fs::write(&path, TABLE.replacen("6.5", "6.6", 1)).unwrap();
    let after = DatasetSpec::Csv(csv_spec(&path.display().to_string()))
        .load()
        .unwrap();
    assert_ne!(before.name, after.name);
    assert!(after.name.starts_with("csv:x@"), "{}", after.name);
}

#[test]
fn crlf_files_report_the_right_csv_line_numbers() {
    // Line 4 holds the bad cell, and the ragged row, in each file.
    assert_eq!(
        csv_line("a,b,y\r\n1,2,3\r\n4,5,6\r\n7,x,9\r\n1,1,1\r\n"),
        Some(4)
    );
    assert_eq!(
        csv_line("a,b,y\r\n1,2,3\r\n4,5,6\r\n7,8\r\n1,1,1\r\n"),
        Some(4)
    );
    // Blank lines count too.
    assert_eq!(
        csv_line("a,b,y\r\n\r\n1,2,3\r\n7,x,9\r\n1,1,1\r\n"),
        Some(4)
    );
    let msg = parse("a,b,y\r\n1,2,3\r\n4,5,6\r\n7,x,9\r\n", "y", &[])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("line 4, column 2 (\"b\")"), "{msg}");
}

#[test]
fn cr_only_files_report_the_right_csv_line_numbers() {
    assert_eq!(csv_line("a,b,y\r1,2,3\r4,5,6\r7,x,9\r1,1,1\r"), Some(4));
    assert_eq!(csv_line("a,b,y\r1,2,3\r4,5,6\r7,8\r1,1,1\r"), Some(4));
    assert_eq!(csv_line("a,b,y\r\r1,2,3\r7,x,9\r1,1,1\r"), Some(4));
    // Unix files keep their numbers.
    assert_eq!(csv_line("a,b,y\n1,2,3\n4,5,6\n7,x,9\n1,1,1\n"), Some(4));
}

#[test]
fn a_bad_row_right_after_blank_lines_reports_its_own_line() {
    // Found by the property tests: the reader's record position includes skipped blank lines.
    for ending in ["\n", "\r\n", "\r"] {
        let text = ["a,b,y", "", "", "7,x,9", "1,2,3", "4,4,4", ""].join(ending);
        assert_eq!(csv_line(&text), Some(4), "{ending:?}");
    }
}

#[test]
fn a_semicolon_separated_file_says_the_delimiter_is_wrong() {
    let semicolons = "a;b;y\n1;2;3\n4;5;6\n7;8;1\n";
    let msg = parse(semicolons, "y", &[]).unwrap_err().to_string();
    assert!(
        msg.contains("line 1")
            && msg.contains("';'")
            && msg.contains("comma-separated")
            && !msg.contains("unknown target column"),
        "{msg}"
    );
    let tabs = "a\tb\ty\n1\t2\t3\n4\t5\t6\n7\t8\t1\n";
    let msg = parse(tabs, "y", &[]).unwrap_err().to_string();
    assert!(
        msg.contains("tab") && msg.contains("comma-separated"),
        "{msg}"
    );
}

#[test]
fn drop_and_target_names_with_spaces_are_trimmed() {
    // As `--drop 'a, b'` arrives: split at commas, not trimmed.
    let text = "a,b,c,y\n1,2,3,4\n4,5,6,7\n7,8,9,1\n0,1,2,3\n";
    let d = parse(text, " y ", &["a", " b"]).unwrap();
    assert_eq!(d.feature_names, vec!["c".to_string()]);
    assert_eq!(d.target_names, vec!["y".to_string()]);
}

#[test]
fn duplicate_datasets_are_rejected_before_any_run() {
    let config = RunConfig {
        name: "dup".into(),
        datasets: vec!["diabetes".into(), "smooth2d:n=50".into(), "diabetes".into()],
        trainers: vec!["ols".into()],
        seeds: 1,
        ..RunConfig::default()
    };
    let msg = Plan::resolve(config).err().unwrap().to_string();
    assert!(
        msg.contains("dataset \"diabetes\" is listed twice"),
        "{msg}"
    );

    // The same CSV file under two spellings is the same dataset.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.csv");
    std::fs::write(&path, TABLE).unwrap();
    let plain = path.display().to_string();
    let dotted = dir.path().join(".").join("x.csv").display().to_string();
    let msg = ols_plan(vec![csv_spec(&plain), csv_spec(&dotted)])
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("csv:x@") && msg.contains("listed twice"),
        "{msg}"
    );
}

#[test]
fn teacher_n_1_is_rejected_when_the_name_is_parsed() {
    // (name, fragments the message must contain)
    let cases: &[(&str, &[&str])] = &[
        ("teacher:n=1", &["teacher", "n = 1", "at least 3"]),
        ("linear:n=2", &["linear", "n = 2", "at least 3"]),
        ("smooth2d:n=0", &["smooth2d", "n = 0", "at least 3"]),
        ("teacher:d=0", &["teacher", "d = 0", "at least 1"]),
        ("friedman1:d=4", &["friedman1", "d = 4", "at least 5"]),
        ("teacher:h=8/0", &["teacher", "h", "at least 1"]),
        ("linear:noise=-1", &["linear", "noise", "≥ 0"]),
        ("teacher:act=nope", &["nope"]),
        ("linear:n=abc", &["n=\"abc\""]),
    ];
    for (name, fragments) in cases {
        let msg = DatasetSpec::parse(name).unwrap_err().to_string();
        for f in *fragments {
            assert!(msg.contains(f), "{name}: message {msg:?} lacks {f:?}");
        }
    }
    // The smallest usable n splits 80/20 into 2 training rows and 1 test row.
    let d = DatasetSpec::parse("teacher:n=3").unwrap().load().unwrap();
    assert_eq!(d.n(), 3);
    assert!(fitbench_core::Split::new(&d, fitbench_core::Split::DEFAULT_TEST_FRACTION, 0).is_ok());
}

#[test]
fn a_type_error_in_a_trainer_option_names_the_key() {
    let msg = TrainerSpec::parse("adam:lr=1e-3,beta1=abc")
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("beta1") && msg.contains("\"abc\"") && msg.contains("a number"),
        "{msg}"
    );
    let msg = TrainerSpec::parse("sgd:nesterov=3")
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("nesterov") && msg.contains("true or false"),
        "{msg}"
    );
    let msg = TrainerSpec::parse("ols:ridge=big")
        .err()
        .unwrap()
        .to_string();
    assert!(msg.contains("ridge") && msg.contains("\"big\""), "{msg}");
}
