//! A tiny sweep through the whole pipeline: run, persist, report, summary, plots, re-plot.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fitbench_harness::reproduction::Reproduced;
use fitbench_harness::runner::{self, MonotonicClock, Plan};
use fitbench_render::output;
use fitbench_report::config::RunConfig;
use fitbench_report::io::RunLog;
use fitbench_report::schema::{Report, SCHEMA_VERSION};

fn tiny() -> RunConfig {
    RunConfig {
        name: "tiny".into(),
        datasets: vec!["smooth2d:n=200".into(), "diabetes".into()],
        trainers: vec!["ols".into(), "ols:ridge=10,solver=qr".into()],
        seeds: 2,
        budget_s: 1.0,
        ..RunConfig::default()
    }
}

fn sweep(dir: &std::path::Path) -> Report {
    let plan = Plan::resolve(tiny()).unwrap();
    let mut log = RunLog::create(dir).unwrap();
    let output = runner::run_sweep(
        &plan,
        &mut MonotonicClock::default(),
        &mut |r| Ok(log.append(r)?),
        &mut |_| {},
    )
    .unwrap();
    fitbench_harness::build_report(&plan, output)
}

#[test]
fn a_sweep_writes_a_valid_report_summary_and_plots() {
    let dir = tempfile::tempdir().unwrap();
    let report = sweep(dir.path());
    let files = output::write_all(&report, dir.path()).unwrap();
    assert_eq!(
        files.len(),
        4 + 2 * 4 + 3 * 2,
        "report, summary, report.html, views.json, 4 plot files per dataset, a profile (svg, png) per level"
    );
    // The writer writes exactly the files the validator expects.
    let mut written: Vec<_> = files
        .iter()
        .map(|f| f.strip_prefix(dir.path()).unwrap().to_path_buf())
        .collect();
    let mut expected = output::expected_files(&report);
    written.sort();
    expected.sort();
    assert_eq!(written, expected);
    let problems = output::validate(
        &report,
        dir.path(),
        output::ValidateOptions {
            require_ok: true,
            require_files: true,
        },
    );
    assert!(problems.is_empty(), "{problems:?}");
    let empty = tempfile::tempdir().unwrap();
    let problems = output::validate(
        &report,
        empty.path(),
        output::ValidateOptions {
            require_ok: false,
            require_files: true,
        },
    );
    assert_eq!(problems.len(), expected.len(), "{problems:?}");

    // The report round-trips through JSON, follows the schema and checks clean.
    let back = fitbench_report::io::read_report(&dir.path().join("report.json")).unwrap();
    assert_eq!(back, report);
    assert_eq!(back.schema_version, SCHEMA_VERSION);
    assert!(back.check().is_empty(), "{:?}", back.check());
    assert_eq!(back.runs.len(), 2 * 2 * 2);
    assert!(
        back.runs.iter().all(|r| r.status.is_ok()),
        "{:?}",
        back.runs.iter().map(|r| &r.message).collect::<Vec<_>>()
    );
    assert!(back.mse_units.contains("standardised"));
    assert_eq!(back.environment.threads, 1);

    // OLS is the linear reference: its best train MSE equals the recorded reference.
    for d in &back.datasets {
        assert_eq!(d.linear_reference.len(), 2);
        for r in back
            .runs
            .iter()
            .filter(|r| r.dataset == d.name && r.trainer == "ols")
        {
            let reference = d
                .linear_reference
                .iter()
                .find(|l| l.repetition == r.repetition)
                .unwrap();
            assert!(
                (r.summary.best_train_mse.unwrap() - reference.train_mse).abs()
                    <= 1e-12 * reference.train_mse
            );
        }
    }

    // Runs were persisted one by one (before the cross-run metrics existed).
    let mut raw = report.runs.clone();
    raw.iter_mut().for_each(|r| r.metrics = None);
    assert_eq!(RunLog::read(&dir.path().join("runs.jsonl")).unwrap(), raw);
    assert!(report.runs.iter().all(|r| r.metrics.is_some()));

    // The summary names every dataset and trainer; the plots are real images.
    let summary = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    for needle in [
        "smooth2d:n=200",
        "diabetes",
        "`ols`",
        "`ols:ridge=10,solver=qr`",
        "Linear reference",
        "Deterministic convergence metrics",
    ] {
        assert!(summary.contains(needle), "summary lacks {needle}");
    }
    for f in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "png"))
    {
        let bytes = std::fs::read(f).unwrap();
        assert!(
            bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000,
            "{}",
            f.display()
        );
    }
    for f in files.iter().filter(|f| {
        f.extension().is_some_and(|e| e == "svg")
            && !f.to_string_lossy().contains("performance_profile")
    }) {
        let text = std::fs::read_to_string(f).unwrap();
        assert!(
            text.contains("<svg")
                && text.contains("linear reference (OLS)")
                && text.contains("training"),
            "{}",
            f.display()
        );
    }

    // Two datasets: a performance profile per suboptimality level. Each trainer's profile is
    // a non-decreasing step function in [0, 1]; on every dataset that some trainer reached the
    // level, the fastest one counts at τ = 1 (log₂ τ = 0).
    for level in &back.config.suboptimality_targets {
        let svg = dir
            .path()
            .join("plots")
            .join(format!("performance_profile_{level:e}.svg"));
        assert!(files.contains(&svg), "{}", svg.display());
        let series = fitbench_render::plot::performance_profile(&back, *level).unwrap();
        assert_eq!(series.len(), 2);
        for (_, points) in &series {
            assert!(
                points
                    .windows(2)
                    .all(|w| w[1].0 >= w[0].0 && w[1].1 >= w[0].1)
            );
            assert!(points.iter().all(|p| (0.0..=1.0).contains(&p.1)));
        }
        let at_one: f64 = series
            .iter()
            .map(|(_, p)| {
                p.iter()
                    .filter(|q| q.0 == 0.0)
                    .map(|q| q.1)
                    .fold(0.0, f64::max)
            })
            .fold(0.0, f64::max);
        assert!(at_one > 0.0, "some trainer is the fastest somewhere");
    }

    // Redrawing from the saved report gives the same files again.
    let redrawn = output::write_all(&back, &dir.path().join("again")).unwrap();
    assert_eq!(redrawn.len(), files.len());
}

#[test]
fn the_khadilkar_section_is_rendered_from_a_report() {
    let config = RunConfig {
        name: "k".into(),
        datasets: vec!["smooth2d:n=200".into()],
        trainers: vec!["lsq".into(), "adam:lr=0.01".into()],
        seeds: 2,
        max_iters: 15,
        budget_s: 1e9,
        hidden: vec![8],
        ..RunConfig::default()
    };
    let plan = Plan::resolve(config).unwrap();
    let output = runner::run_sweep(
        &plan,
        &mut MonotonicClock::default(),
        &mut |_| Ok(()),
        &mut |_| {},
    )
    .unwrap();
    let report = fitbench_harness::build_report(&plan, output);
    let preset = fitbench_harness::presets::preset("khadilkar").unwrap();
    let reproduced = Reproduced::new(preset, vec![(None, report)]).unwrap();
    let section = fitbench_harness::reproduction::khadilkar_section(&reproduced).unwrap();
    for needle in [
        "OUR RECONSTRUCTION",
        "| `lsq` |",
        "| `adam:lr=0.01` |",
        "**Verdict.** Across 1 small problems",
        "\"reconstruction\":true",
    ] {
        assert!(
            section.contains(needle),
            "section lacks {needle}:\n{section}"
        );
    }
}

#[test]
fn the_barbu_section_is_rendered_from_reports() {
    let config = RunConfig {
        name: "b".into(),
        datasets: vec!["diabetes".into()],
        trainers: vec!["analytic".into(), "adam:lr=0.01".into()],
        seeds: 2,
        max_iters: 10,
        budget_s: 1e9,
        hidden: vec![8],
        activation: "relu".into(),
        ..RunConfig::default()
    };
    let plan = Plan::resolve(config).unwrap();
    let output = runner::run_sweep(
        &plan,
        &mut MonotonicClock::default(),
        &mut |_| Ok(()),
        &mut |_| {},
    )
    .unwrap();
    let report = fitbench_harness::build_report(&plan, output);
    assert!(report.runs.iter().all(|r| r.status.is_ok()));
    let preset = fitbench_harness::presets::preset("barbu").unwrap();
    let reproduced = Reproduced::new(preset, vec![(Some("h8".into()), report)]).unwrap();
    let section = fitbench_harness::reproduction::barbu_section(&reproduced).unwrap();
    for needle in [
        "OUR RECONSTRUCTION",
        "| diabetes |",
        "of 1 datasets",
        "results/barbu/h8/report.json",
    ] {
        assert!(
            section.contains(needle),
            "section lacks {needle}:\n{section}"
        );
    }
}
