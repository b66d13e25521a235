//! `fitbench ab`'s driver, through the library: the units handed to each binary, refusal of
//! mismatched sweeps and of configurations the options cannot express, a revision that does
//! not build, the test-only slowdown, and the A/B page. (End to end with two binaries:
//! `crates/cli/tests/ab.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fitbench_harness::ab::{self, AbProgress};
use fitbench_harness::build_report;
use fitbench_harness::runner::{self, MonotonicClock, Plan};
use fitbench_report::ab::{AbCell, AbReport, AbSettings, Pair, RunTiming, Side, SideInfo};
use fitbench_report::config::{Handicap, RunConfig, Slowdown};
use fitbench_report::schema::Report;
use scraper::{Html, Selector};
use std::process::Command;

fn config() -> RunConfig {
    RunConfig {
        name: "ab-test".into(),
        datasets: vec!["linear:n=200,d=4,noise=0.1".into(), "diabetes".into()],
        trainers: vec!["ols".into(), "adam".into(), "lsq".into()],
        seeds: 2,
        max_iters: 30,
        budget_s: 1e6,
        hidden: vec![8],
        activation: "leaky_relu:0.1".into(),
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

#[test]
fn every_unit_is_one_run_named_by_options_an_older_binary_knows() {
    let c = config();
    let plan = Plan::resolve(c.clone()).unwrap();
    let ab::SweepUnits { units, cells } = ab::units(&c, &plan).unwrap();
    assert_eq!(units.len(), 2 * 3 * 2);
    assert_eq!(cells.len(), 6);
    assert_eq!(
        cells[0],
        ("linear:n=200,d=4,noise=0.1".into(), "ols".into())
    );
    assert_eq!(cells[5], ("diabetes".into(), "lsq".into()));
    let u = &units[3];
    assert_eq!((u.cell, u.repetition), (1, 1));
    let args = u.args.join(" ");
    for want in [
        "run --datasets linear:n=200,d=4,noise=0.1 --trainers adam",
        "--seed 1",
        "--seeds 1",
        "--max-iters 30",
        "--hidden 8",
        "--activation leaky_relu:0.1",
        "--threads 1",
    ] {
        assert!(args.contains(want), "{want:?} not in {args:?}");
    }
    // Repetition r of the A/B is repetition 0 of base seed `base_seed + r`.
    let other = RunConfig {
        base_seed: 40,
        ..c.clone()
    };
    let units = ab::units(&other, &plan).unwrap().units;
    assert!(units[1].args.join(" ").contains("--seed 41"));
}

#[test]
fn options_cannot_express_every_field_and_ab_says_which() {
    let c = RunConfig {
        patience: None,
        iteration_budgets: vec![5],
        test_handicap: Some(Handicap {
            trainer: "adam".into(),
            every: 2,
        }),
        external: vec![fitbench_report::config::ExternalDecl {
            name: "declared".into(),
            cmd: serde_json::json!("python3 never_started.py"),
            cwd: None,
            timeout_s: None,
            requires: Vec::new(),
            options: serde_json::Map::new(),
        }],
        ..config()
    };
    let plan = Plan::resolve(c.clone()).unwrap();
    let msg = ab::units(&c, &plan).unwrap_err().to_string();
    for want in [
        "patience",
        "iteration_budgets",
        "test_handicap",
        "external (declared trainers",
        "defaults",
    ] {
        assert!(msg.contains(want), "{want}: {msg}");
    }
}

#[test]
fn mismatched_sweeps_are_refused_with_the_field_that_differs() {
    let one = |c: RunConfig| {
        sweep(RunConfig {
            datasets: vec!["linear:n=200,d=4,noise=0.1".into()],
            trainers: vec!["adam".into()],
            seeds: 1,
            ..c
        })
    };
    let a = one(config());
    let b = one(config());
    assert_eq!(ab::mismatch(&a, &b), None);
    // The test-only slowdown of the current side is not a mismatch.
    let slowed = one(RunConfig {
        test_slowdown: Some(Slowdown {
            trainer: "adam".into(),
            factor: 1.5,
        }),
        ..config()
    });
    assert_eq!(ab::mismatch(&a, &slowed), None);
    let longer = one(RunConfig {
        max_iters: 31,
        ..config()
    });
    let why = ab::mismatch(&a, &longer).unwrap();
    assert!(why.contains("max_iters: baseline 30, current 31"), "{why}");
    let other_seed = one(RunConfig {
        base_seed: 9,
        ..config()
    });
    assert!(ab::mismatch(&a, &other_seed).unwrap().contains("base_seed"));
    // Two runs where one was expected.
    let two = sweep(RunConfig {
        datasets: vec!["linear:n=200,d=4,noise=0.1".into()],
        trainers: vec!["adam".into()],
        ..config()
    });
    let mut b2 = b.clone();
    b2.config = two.config.clone();
    let mut a2 = a.clone();
    a2.config = two.config.clone();
    assert!(
        ab::mismatch(&a2, &two)
            .unwrap()
            .contains("expected one run from each side, got 1 and 2")
    );
    // The same configuration, but the run itself differs (here: its seeds).
    let mut c2 = b.clone();
    c2.runs[0].seeds.init ^= 1;
    assert!(ab::mismatch(&a, &c2).unwrap().contains("seeds"));
}

#[test]
fn the_test_slowdown_leaves_every_deterministic_metric_identical_and_is_recorded() {
    let plain = sweep(config());
    let slowed_config = RunConfig {
        test_slowdown: Some(Slowdown {
            trainer: "adam".into(),
            factor: 2.0,
        }),
        ..config()
    };
    let slowed = sweep(slowed_config.clone());
    assert_eq!(slowed.config.test_slowdown, slowed_config.test_slowdown);
    let json = serde_json::to_string(&slowed.config).unwrap();
    assert!(json.contains("\"test_slowdown\""), "recorded in the report");
    let plain_json = serde_json::to_string(&plain.config).unwrap();
    assert!(!plain_json.contains("test_slowdown"), "absent unless set");
    assert_eq!(plain.runs.len(), slowed.runs.len());
    for (p, s) in plain.runs.iter().zip(&slowed.runs) {
        let strip = |r: &fitbench_report::schema::RunRecord| {
            let mut m = r.metrics.clone().unwrap();
            m.targets.iter_mut().for_each(|t| t.time_s = None);
            m
        };
        assert_eq!(strip(p), strip(s), "{} / {}", p.dataset, p.trainer);
        assert_eq!(p.iterations, s.iterations);
        let losses = |r: &fitbench_report::schema::RunRecord| {
            r.curve
                .iter()
                .filter(|x| !x.off_schedule)
                .map(|x| x.train_mse.to_bits())
                .collect::<Vec<_>>()
        };
        assert_eq!(losses(p), losses(s), "bit-identical scheduled losses");
    }
    // Rejected before running when it names no trainer of the sweep, or a factor ≤ 1.
    for bad in [
        Slowdown {
            trainer: "lbfgs".into(),
            factor: 2.0,
        },
        Slowdown {
            trainer: "adam".into(),
            factor: 1.0,
        },
    ] {
        let c = RunConfig {
            test_slowdown: Some(bad),
            ..config()
        };
        let msg = Plan::resolve(c).err().unwrap().to_string();
        assert!(msg.contains("test_slowdown"), "{msg}");
    }
}

/// A git repository with one commit whose `fitbench` binary does not compile.
fn broken_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("src/bin")).unwrap();
    std::fs::write(
        root.join("Cargo.toml"),
        "[package]\nname = \"broken\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(
        root.join("src/bin/fitbench.rs"),
        "fn main() { let x: u32 = \"not a number\"; }\n",
    )
    .unwrap();
    std::fs::write(root.join(".gitignore"), "/target\n").unwrap();
    let git = |args: &[&str]| {
        let ok = Command::new("git")
            .arg("-C")
            .arg(root)
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@example.invalid",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "broken"]);
    // Cargo.lock for --locked.
    let ok = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["generate-lockfile", "--offline"])
        .current_dir(root)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "lock"]);
    dir
}

#[test]
fn a_revision_that_does_not_build_is_a_clear_error_with_cargo_output() {
    let repo = broken_repo();
    let mut saw_build = false;
    let err = ab::build_revision(repo.path(), "HEAD", &mut |p| {
        saw_build |= matches!(p, AbProgress::Building { .. });
    })
    .unwrap_err()
    .to_string();
    assert!(saw_build);
    assert!(err.contains("--baseline-rev HEAD"), "{err}");
    assert!(err.contains("does not build"), "{err}");
    assert!(err.contains("mismatched types"), "cargo's output: {err}");
    assert!(err.contains("build.log"), "{err}");
    // A revision the repository does not have.
    let err = ab::build_revision(repo.path(), "no-such-rev", &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not a commit") && err.contains("--baseline-bin"),
        "{err}"
    );
}

fn timing(s: f64, position: usize) -> RunTiming {
    RunTiming {
        train_s: 10.0 * s,
        iterations: 10,
        first_step_s: Some(2.0 * s),
        status: "max_iters".into(),
        time_to: vec![Some(s), None, None],
        wall_s: 0.2,
        position,
    }
}

fn ab_report() -> AbReport {
    let mut cells = Vec::new();
    for (t, shift) in [("ols", 1.0), ("adam <b>", 1.3)] {
        let mut c = AbCell::new("diabetes", t);
        for i in 0..12 {
            c.pairs.push(Pair {
                round: i,
                repetition: 0,
                first: if i % 2 == 0 {
                    Side::Baseline
                } else {
                    Side::Current
                },
                baseline: timing(1e-3, 2 * i),
                current: timing(1e-3 * shift * (1.0 + 0.001 * i as f64), 2 * i + 1),
            });
        }
        cells.push(c);
    }
    let settings = AbSettings::default();
    let counts = fitbench_report::ab::analyse(&mut cells, &settings, &[0.1, 0.01, 0.001], &[]);
    AbReport {
        schema_version: fitbench_report::ab::AB_SCHEMA_VERSION,
        settings,
        sweep: config(),
        baseline: SideInfo::default(),
        current: SideInfo::default(),
        machine: "test".into(),
        started_unix_s: 0,
        wall_s: 1.0,
        accept_file: None,
        cells,
        counts,
        notes: vec!["a note".into()],
    }
}

#[test]
fn the_ab_page_is_self_contained_valid_html_worst_first() {
    let report = ab_report();
    let dir = tempfile::tempdir().unwrap();
    let files = fitbench_render::ab::write(&report, dir.path()).unwrap();
    assert_eq!(files.len(), 3);
    let page = std::fs::read_to_string(dir.path().join("ab.html")).unwrap();
    let doc = Html::parse_document(&page);
    assert!(
        doc.errors.is_empty(),
        "HTML5 parse errors: {:?}",
        doc.errors
    );
    let sel = |s: &str| Selector::parse(s).unwrap();
    assert_eq!(doc.select(&sel("script[src], link")).count(), 0);
    let sections: Vec<_> = doc.select(&sel("section.pair")).collect();
    assert_eq!(sections.len(), 2);
    // The slowed cell first, coloured WORSE; the label is escaped, not markup.
    assert_eq!(sections[0].value().attr("data-trainer"), Some("adam <b>"));
    assert!(sections[0].value().classes().any(|c| c == "verdict-WORSE"));
    assert_eq!(doc.select(&sel("section b")).count(), 0);
    // Every pair has its row.
    assert_eq!(sections[1].select(&sel("tbody tr")).count(), 12);
    // ab.md ends with the counts, and ab.json reads back.
    let md = std::fs::read_to_string(dir.path().join("ab.md")).unwrap();
    assert_eq!(md.trim_end().lines().last().unwrap(), report.tally());
    let back: AbReport =
        fitbench_report::io::read_json(&dir.path().join("ab.json"), "an A/B report").unwrap();
    assert_eq!(back, report);
}
