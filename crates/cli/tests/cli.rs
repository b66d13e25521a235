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

fn text(out: &Output) -> String {
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
    let out = check(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("WORSE"), "{}", text(&out));
    assert_eq!(check(&["--update"]).status.code(), Some(0));
    let out = check(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = fitbench(&[
        "validate",
        b.to_str().unwrap(),
        "--require-ok",
        "--require-plots",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn the_lnn_study_is_its_own_command_and_rejects_sweep_options() {
    let out = fitbench(&["run", "--preset", "lnn"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("fitbench lnn"), "{}", text(&out));
    let out = fitbench(&["lnn", "--trainers", "foo"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--trainers"), "{}", text(&out));
}

#[test]
fn list_shows_every_registered_trainer_with_its_defaults() {
    let out = fitbench(&["list", "trainers"]);
    assert!(out.status.success());
    let listing = text(&out);
    for e in fitbench_harness::registry::trainers() {
        assert!(listing.contains(&e.help_line()), "{listing}");
    }
    let out = fitbench(&["list", "datasets"]);
    assert!(text(&out).contains("teacher") && text(&out).contains("noise [0.1]"));
}
