//! The `fitbench` binary: exit codes and dispatch (the logic itself is tested in the library
//! crates).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fitbench_harness::build_report;
use fitbench_harness::runner::{self, MonotonicClock, Plan};
use fitbench_render::output;
use fitbench_report::config::{Handicap, RunConfig};
use std::process::{Command, Output};

fn fitbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fitbench"))
        .args(args)
        .output()
        .unwrap()
}

fn text_of(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn sweep_into(config: RunConfig, dir: &std::path::Path) {
    let plan = Plan::resolve(config).unwrap();
    let out = runner::run_sweep(
        &plan,
        &mut MonotonicClock::default(),
        &mut |_| Ok(()),
        &mut |_| {},
    )
    .unwrap();
    output::write_all(&build_report(&plan, out), dir).unwrap();
}

fn config() -> RunConfig {
    RunConfig {
        name: "gate".into(),
        datasets: vec!["teacher:n=200,d=4,h=8,act=tanh,noise=0".into()],
        trainers: vec!["ols".into(), "adam".into()],
        seeds: 1,
        max_iters: 60,
        budget_s: 1e6,
        hidden: vec![8],
        activation: "leaky_relu:0.1".into(),
        iteration_budgets: vec![10, 60],
        ..RunConfig::default()
    }
}

#[test]
fn check_exits_1_on_a_regression_and_0_once_the_baseline_is_updated() {
    let dir = tempfile::tempdir().unwrap();
    let (base, cur) = (dir.path().join("base"), dir.path().join("cur"));
    sweep_into(config(), &base);
    sweep_into(
        RunConfig {
            test_handicap: Some(Handicap {
                trainer: "adam".into(),
                every: 4,
            }),
            ..config()
        },
        &cur,
    );
    let (b, c) = (base.join("report.json"), cur.join("report.json"));
    let check = |extra: &[&str]| {
        let mut args = vec![
            "check",
            "--baseline",
            b.to_str().unwrap(),
            "--current",
            c.to_str().unwrap(),
            "--no-timing",
        ];
        args.extend(extra);
        fitbench(&args)
    };
    let page = dir.path().join("check.html");
    let out = check(&["--html", page.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text_of(&out));
    assert!(text_of(&out).contains("WORSE"), "{}", text_of(&out));
    // The HTML page is written even though the check fails (CI uploads it).
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("class=\"pair verdict-WORSE\""),
        "no WORSE pair in the page"
    );
    assert_eq!(check(&["--update"]).status.code(), Some(0));
    let out = check(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text_of(&out));
    let out = fitbench(&[
        "validate",
        b.to_str().unwrap(),
        "--require-ok",
        "--require-plots",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text_of(&out));
}

#[test]
fn the_lnn_study_is_its_own_command_and_rejects_sweep_options() {
    let out = fitbench(&["run", "--preset", "lnn"]);
    assert_eq!(out.status.code(), Some(2), "{}", text_of(&out));
    assert!(text_of(&out).contains("fitbench lnn"), "{}", text_of(&out));
    let out = fitbench(&["lnn", "--trainers", "foo"]);
    assert_eq!(out.status.code(), Some(2), "{}", text_of(&out));
    assert!(text_of(&out).contains("--trainers"), "{}", text_of(&out));
}

#[test]
fn list_shows_every_registered_trainer_with_its_defaults() {
    let out = fitbench(&["list", "trainers"]);
    assert!(out.status.success());
    let listing = text_of(&out);
    for e in fitbench_harness::registry::trainers() {
        assert!(listing.contains(&e.help_line()), "{listing}");
    }
    let out = fitbench(&["list", "datasets"]);
    assert!(text_of(&out).contains("teacher") && text_of(&out).contains("noise [0.1]"));
}

#[test]
fn run_exits_3_after_writing_everything_when_a_run_errors() {
    let dir = tempfile::tempdir().unwrap();
    // The target varies in one row only: in a repetition whose test row is that one, the
    // training target is constant, the split fails and its run ends in `error` (seeded, so
    // the same repetitions fail every time).
    let csv = dir.path().join("almost-flat.csv");
    std::fs::write(&csv, "x,y\n1,5\n2,5\n3,5\n4,6\n").unwrap();
    let out = dir.path().join("out");
    let res = fitbench(&[
        "run",
        "--csv",
        csv.to_str().unwrap(),
        "--target",
        "y",
        "--trainers",
        "ols",
        "--seeds",
        "8",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(res.status.code(), Some(3), "{}", text_of(&res));
    let report = fitbench_report::io::read_report(&out.join("report.json")).unwrap();
    assert!(
        report
            .runs
            .iter()
            .any(|r| r.status == fitbench_report::Status::Error)
    );
    assert!(report.runs.iter().any(|r| r.status.is_ok()));
    assert!(out.join("report.json").exists() && out.join("summary.md").exists());
}

#[test]
fn a_signal_ends_the_sweep_and_resume_finishes_it_with_every_run_once() {
    use std::collections::BTreeMap;
    type Key = (String, String, usize);
    const SEEDS: usize = 24;
    let key = |r: &fitbench_report::schema::RunRecord| -> Key {
        (r.dataset.clone(), r.trainer.clone(), r.repetition)
    };
    let count = |records: &[fitbench_report::schema::RunRecord]| {
        let mut by_key: BTreeMap<Key, usize> = BTreeMap::new();
        for r in records {
            *by_key.entry(key(r)).or_default() += 1;
        }
        by_key
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let seeds = SEEDS.to_string();
    let args = [
        "run",
        "--datasets",
        "linear:n=400,d=4",
        "--trainers",
        "adam",
        "--seeds",
        &seeds,
        "--max-iters",
        "150",
        "--budget-s",
        "100",
        "--out",
        out.to_str().unwrap(),
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_fitbench"))
        .args(args)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until at least one run has finished, then interrupt.
    let log = out.join("runs.jsonl");
    let started = std::time::Instant::now();
    while std::fs::read_to_string(&log).map_or(0, |t| t.lines().count()) < 1 {
        assert!(started.elapsed().as_secs() < 120, "no run finished");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let report = fitbench_report::io::read_report(&out.join("report.json")).unwrap();
    assert!(!report.runs.is_empty() && report.runs.len() < SEEDS);
    assert!(out.join("summary.md").exists());
    // The runs that finished before the signal (an interrupted one is recorded, not finished).
    let before = fitbench_report::io::RunLog::read(&log).unwrap();
    let finished: BTreeMap<Key, fitbench_report::schema::RunRecord> = before
        .iter()
        .filter(|r| r.status.is_ok())
        .map(|r| (key(r), r.clone()))
        .collect();
    assert!(!finished.is_empty() && finished.len() < SEEDS);

    // The same command with --resume finishes the sweep from there.
    let resumed = fitbench(&[&args[..], &["--resume"]].concat());
    assert_eq!(resumed.status.code(), Some(0), "{}", text_of(&resumed));
    let said = format!("--resume: reusing {} of {SEEDS} runs", finished.len());
    assert!(
        text_of(&resumed).contains(&said),
        "{said:?} not in {}",
        text_of(&resumed)
    );

    // Every planned run exactly once in the report and among runs.jsonl's latest records.
    let (dataset, trainer) = (
        report.runs[0].dataset.clone(),
        report.runs[0].trainer.clone(),
    );
    let planned: BTreeMap<Key, usize> = (0..SEEDS)
        .map(|rep| ((dataset.clone(), trainer.clone(), rep), 1))
        .collect();
    let report = fitbench_report::io::read_report(&out.join("report.json")).unwrap();
    assert_eq!(count(&report.runs), planned, "report.json");
    assert!(report.runs.iter().all(|r| r.status.is_ok()));
    let all = fitbench_report::io::RunLog::read(&log).unwrap();
    let latest = fitbench_report::io::latest_by_key(all.clone());
    assert_eq!(count(&latest), planned, "runs.jsonl's latest records");
    // The runs finished before the signal were reused, not rerun: their one record is the
    // one written before, and the report holds it.
    let records = count(&all);
    for (k, earlier) in &finished {
        assert_eq!(records[k], 1, "{k:?} was rerun");
        let reported = report.runs.iter().find(|r| key(r) == *k).unwrap();
        assert_eq!(
            reported.train_s.to_bits(),
            earlier.train_s.to_bits(),
            "{k:?}"
        );
    }
}

#[test]
fn plot_redraws_the_figures_and_leaves_the_report_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    sweep_into(config(), dir.path());
    let report = dir.path().join("report.json");
    // An unknown field a newer fitbench might have written survives `plot`.
    let text = std::fs::read_to_string(&report).unwrap().replacen(
        '{',
        "{\n  \"written_by_a_newer_fitbench\": true,",
        1,
    );
    std::fs::write(&report, &text).unwrap();
    std::fs::remove_file(dir.path().join("summary.md")).unwrap();
    let out = fitbench(&["plot", report.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text_of(&out));
    assert_eq!(std::fs::read_to_string(&report).unwrap(), text);
    assert!(dir.path().join("summary.md").exists());
}

#[test]
fn bad_values_get_one_precise_message() {
    let out = fitbench(&["run", "--datasets", "diabetes", "--budget-s", "-1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text_of(&out).contains("budget_s = -1"), "{}", text_of(&out));
    let out = fitbench(&["run", "--config", "/no/such/file.toml"]);
    let msg = text_of(&out);
    assert_eq!(msg.matches("No such file").count(), 1, "{msg}");
}

#[test]
fn more_threads_than_cores_are_refused_unless_oversubscribed() {
    let dir = tempfile::tempdir().unwrap();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = (cores + 1).to_string();
    let out_dir = dir.path().join("out");
    let args = [
        "run",
        "--datasets",
        "linear:n=50,d=2",
        "--trainers",
        "ols",
        "--seeds",
        "1",
        "--threads",
        &threads,
        "--out",
        out_dir.to_str().unwrap(),
    ];
    let out = fitbench(&args);
    assert_eq!(out.status.code(), Some(2), "{}", text_of(&out));
    assert!(
        text_of(&out).contains(&format!("--threads {threads}"))
            && text_of(&out).contains(&format!("{cores} cores"))
            && text_of(&out).contains("--oversubscribe"),
        "{}",
        text_of(&out)
    );
    assert!(!out_dir.exists(), "nothing written");
    let mut args = args.to_vec();
    args.push("--oversubscribe");
    let out = fitbench(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text_of(&out));
    assert!(
        text_of(&out).contains(&format!(
            "{threads} threads requested but this machine has {cores} cores"
        )),
        "{}",
        text_of(&out)
    );
}

/// Runs `fitbench args` with stdout (or stderr) a pipe whose reading end is already closed.
fn with_closed_pipe(args: &[&str], stderr: bool) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut command = Command::new(env!("CARGO_BIN_EXE_fitbench"));
    command.args(args);
    if stderr {
        command.stderr(writer).stdout(std::process::Stdio::null());
    } else {
        command.stdout(writer).stderr(std::process::Stdio::piped());
    }
    command.output().unwrap()
}

#[test]
fn every_command_ends_quietly_on_a_closed_pipe() {
    let dir = tempfile::tempdir().unwrap();
    sweep_into(config(), dir.path());
    let report = dir.path().join("report.json");
    for args in [
        vec!["list"],
        vec!["validate", report.to_str().unwrap()],
        vec![
            "check",
            "--baseline",
            report.to_str().unwrap(),
            "--current",
            report.to_str().unwrap(),
            "--no-timing",
        ],
    ] {
        let out = with_closed_pipe(&args, false);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text_of(&out));
        assert!(!text_of(&out).contains("panicked"), "{}", text_of(&out));
    }
    // Progress on a closed stderr (`fitbench run … 2>&1 | head -1`).
    let out_dir = dir.path().join("run");
    let out = with_closed_pipe(
        &[
            "run",
            "--datasets",
            "linear:n=50,d=2",
            "--seeds",
            "1",
            "--out",
            out_dir.to_str().unwrap(),
        ],
        true,
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(out_dir.join("report.json").exists());
}

#[test]
fn reports_are_given_as_files_or_folders_and_a_wrong_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    sweep_into(config(), dir.path());
    let folder = dir.path().to_str().unwrap();
    let out = fitbench(&[
        "check",
        "--baseline",
        folder,
        "--current",
        folder,
        "--no-timing",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text_of(&out));
    let out = fitbench(&["validate", folder]);
    assert_eq!(out.status.code(), Some(0), "{}", text_of(&out));
    let summary = dir.path().join("summary.md");
    let out = fitbench(&[
        "check",
        "--baseline",
        folder,
        "--current",
        summary.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text_of(&out).contains("not a fitbench report") && text_of(&out).contains("summary.md"),
        "{}",
        text_of(&out)
    );
}

#[test]
fn plot_into_another_sweeps_folder_is_refused_and_validate_sees_foreign_views() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    sweep_into(config(), &a);
    sweep_into(
        RunConfig {
            max_iters: 30,
            ..config()
        },
        &b,
    );
    let summary_b = std::fs::read_to_string(b.join("summary.md")).unwrap();
    let report_a = a.join("report.json");
    let out = fitbench(&[
        "plot",
        report_a.to_str().unwrap(),
        "--out",
        b.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text_of(&out));
    assert!(
        text_of(&out).contains("holds another sweep's report") && text_of(&out).contains("--force"),
        "{}",
        text_of(&out)
    );
    assert_eq!(
        std::fs::read_to_string(b.join("summary.md")).unwrap(),
        summary_b
    );
    // Forced, B's views now belong to A's report, and validate says so.
    let out = fitbench(&[
        "plot",
        report_a.to_str().unwrap(),
        "--out",
        b.to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text_of(&out));
    let out = fitbench(&["validate", b.to_str().unwrap(), "--require-plots"]);
    assert_eq!(out.status.code(), Some(1), "{}", text_of(&out));
    assert!(
        text_of(&out).contains("drawn from another report"),
        "{}",
        text_of(&out)
    );
    // Its own folder, or a fresh one, is fine.
    let out = fitbench(&["plot", report_a.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text_of(&out));
    let fresh = dir.path().join("fresh");
    let out = fitbench(&[
        "plot",
        report_a.to_str().unwrap(),
        "--out",
        fresh.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text_of(&out));
}

#[test]
fn shards_run_from_the_command_line_and_merge_into_one_report() {
    let dir = tempfile::tempdir().unwrap();
    let base = [
        "run",
        "--datasets",
        "linear:n=80,d=3,noise=0.1",
        "--trainers",
        "ols,lbfgs",
        "--seeds",
        "2",
        "--max-iters",
        "5",
        "--hidden",
        "3",
    ];
    let s0 = dir.path().join("s0");
    let s1 = dir.path().join("s1");
    for (shard, out) in [("0/2", &s0), ("1/2", &s1)] {
        let mut args = base.to_vec();
        args.extend(["--shard", shard, "--out", out.to_str().unwrap()]);
        let o = fitbench(&args);
        assert!(o.status.success(), "{}", text_of(&o));
        assert!(out.join("shard.json").exists());
    }
    let merged = dir.path().join("merged");
    let o = fitbench(&[
        "merge",
        s0.to_str().unwrap(),
        s1.to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text_of(&o));
    let report = fitbench_report::io::read_report(&merged.join("report.json")).unwrap();
    assert_eq!(report.runs.len(), 4);

    // A shard that does not exist, and a missing one at merge time.
    let mut args = base.to_vec();
    args.extend(["--shard", "2/2", "--out", "unused"]);
    let o = fitbench(&args);
    assert_eq!(o.status.code(), Some(2));
    assert!(text_of(&o).contains("shard 2/2"), "{}", text_of(&o));
    let o = fitbench(&[
        "merge",
        s0.to_str().unwrap(),
        "--out",
        dir.path().join("m2").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text_of(&o).contains("--allow-missing"), "{}", text_of(&o));
    // Allowed: exit 0, with advice that fits a merge (not --resume), and the gap recorded.
    let m3 = dir.path().join("m3");
    let o = fitbench(&[
        "merge",
        s0.to_str().unwrap(),
        "--out",
        m3.to_str().unwrap(),
        "--allow-missing",
    ]);
    assert!(o.status.success(), "{}", text_of(&o));
    assert!(
        text_of(&o).contains("run the shards that own them") && !text_of(&o).contains("--resume"),
        "{}",
        text_of(&o)
    );
    let report = fitbench_report::io::read_report(&m3.join("report.json")).unwrap();
    assert!(!report.merge.unwrap().missing.is_empty());

    // --jobs: two runs at once, recorded; 0 is refused.
    let mut args = base.to_vec();
    let j2 = dir.path().join("j2");
    args.extend(["--jobs", "2", "--out", j2.to_str().unwrap()]);
    let o = fitbench(&args);
    assert!(o.status.success(), "{}", text_of(&o));
    let report = fitbench_report::io::read_report(&j2.join("report.json")).unwrap();
    assert_eq!((report.environment.jobs, report.runs.len()), (2, 4));
    let mut args = base.to_vec();
    args.extend(["--jobs", "0", "--out", "unused"]);
    let o = fitbench(&args);
    assert_eq!(o.status.code(), Some(2));
    assert!(text_of(&o).contains("--jobs 0"), "{}", text_of(&o));
}

#[test]
fn a_bad_memory_limit_variable_and_a_name_leaving_out_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let out = Command::new(env!("CARGO_BIN_EXE_fitbench"))
        .args([
            "run",
            "--datasets",
            "linear:n=50,d=2",
            "--seeds",
            "1",
            "--out",
        ])
        .arg(&out_dir)
        .env("FITBENCH_MEMORY_LIMIT", "banana")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text_of(&out));
    assert!(
        text_of(&out).contains("FITBENCH_MEMORY_LIMIT=\"banana\"")
            && text_of(&out).contains("unset it"),
        "{}",
        text_of(&out)
    );
    assert!(!out_dir.exists());
    // A config whose name would put its output folder outside out/.
    let config = dir.path().join("escape.toml");
    std::fs::write(
        &config,
        "name = \"../../..\"\ndatasets = [\"linear:n=50,d=2\"]\nseeds = 1\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fitbench"))
        .args(["run", "--config"])
        .arg(&config)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text_of(&out));
    assert!(
        text_of(&out).contains("cannot be a folder name inside out/")
            && text_of(&out).contains("--out"),
        "{}",
        text_of(&out)
    );
}

#[test]
fn run_prints_the_resolved_sweep_before_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let out = fitbench(&[
        "run",
        "--datasets",
        "linear:n=50,d=2",
        "--seeds",
        "1",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text_of(&out));
    let text = text_of(&out);
    let d = RunConfig::default();
    for shown in [
        format!("trainers:  {}", d.trainers.join(", ")),
        format!("hidden [{}], {}", d.hidden[0], d.activation),
        format!(
            "budget {} s, at most {} iterations",
            d.budget_s, d.max_iters
        ),
    ] {
        assert!(text.contains(&shown), "{shown} not in {text}");
    }
    assert!(
        text.find("trainers:").unwrap() < text.find("[1/").unwrap(),
        "printed before the first run: {text}"
    );
}

#[test]
fn check_time_charges_tuning_and_refuses_a_report_without_trial_times() {
    use fitbench_report::config::LrGrid;
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base");
    sweep_into(
        RunConfig {
            trainers: vec!["ols".into(), "sgd-faer".into()],
            lr_grid: Some(LrGrid {
                grid: vec![1e-2, 1e-1],
                epochs: 5,
                ..LrGrid::default()
            }),
            ..config()
        },
        &base,
    );
    let b = base.join("report.json");
    let check = |baseline: &std::path::Path, time: &str| {
        fitbench(&[
            "check",
            "--baseline",
            baseline.to_str().unwrap(),
            "--current",
            b.to_str().unwrap(),
            "--time",
            time,
        ])
    };
    let out = check(&b, "tuning-inclusive");
    assert_eq!(out.status.code(), Some(0), "{}", text_of(&out));
    assert!(
        text_of(&out).contains("times to each level are tuning-inclusive"),
        "{}",
        text_of(&out)
    );
    let out = check(&b, "fastest");
    assert_eq!(out.status.code(), Some(2), "{}", text_of(&out));
    assert!(
        text_of(&out).contains("selection-honest, tuning-inclusive, optimistic"),
        "{}",
        text_of(&out)
    );
    // A report written before trial times were recorded cannot be charged.
    let mut old: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&b).unwrap()).unwrap();
    for t in old["tuning"].as_array_mut().unwrap() {
        t.as_object_mut().unwrap().remove("trial_s");
    }
    let old_path = dir.path().join("old.json");
    std::fs::write(&old_path, old.to_string()).unwrap();
    let out = check(&old_path, "tuning-inclusive");
    assert_ne!(out.status.code(), Some(0), "{}", text_of(&out));
    assert!(
        text_of(&out).contains("records no trial times"),
        "{}",
        text_of(&out)
    );
    assert_eq!(check(&old_path, "selection-honest").status.code(), Some(0));
}
