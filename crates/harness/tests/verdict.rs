//! Verdicts (issue #28): the ranking with ratios and their significance comes first in
//! `summary.md` and `report.html`, "overfits" flags a trainer that beats least squares on
//! the training rows and loses on the test rows, tables drop the columns that repeat, and the
//! page's charts open with the leaders.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fitbench_harness::runner::{self, MonotonicClock, Plan};
use fitbench_render::verdict::{self, Standing};
use fitbench_report::config::RunConfig;
use fitbench_report::schema::Report;

fn sweep() -> Report {
    let plan = Plan::resolve(RunConfig {
        name: "verdict".into(),
        datasets: vec!["diabetes".into(), "linear:n=300,d=4,noise=0.1".into()],
        // ols: the exact linear fit; analytic (64 ReLU units, 442 rows): fits the training
        // rows far better and overfits; lbfgs too; a learning rate of 1e-9 barely moves
        // (underfits) and ranks last.
        trainers: vec![
            "ols".into(),
            "analytic".into(),
            "lbfgs".into(),
            "sgd-faer:lr=1e-9".into(),
        ],
        seeds: 3,
        max_iters: 60,
        budget_s: 60.0,
        hidden: vec![64],
        activation: "relu".into(),
        ..RunConfig::default()
    })
    .unwrap();
    let out = runner::run_sweep(
        &plan,
        &mut MonotonicClock::default(),
        &mut |_| Ok(()),
        &mut |_| {},
    )
    .unwrap();
    fitbench_harness::build_report(&plan, out)
}

#[test]
fn the_verdict_ranks_flags_and_comes_first() {
    let report = sweep();
    let v = verdict::dataset_verdict(&report, "diabetes").unwrap();
    // analytic fits the training rows best; the barely moving run is worse on every seed.
    assert_eq!(v.train[0].trainer, "analytic", "{:?}", v.train);
    let slow = v
        .train
        .iter()
        .find(|e| e.trainer == "sgd-faer:lr=1e-9")
        .unwrap();
    assert_eq!(slow.standing, Standing::Worse, "{slow:?}");
    assert!(
        slow.ratio > 1.0 && slow.interval.unwrap().0 > 1.0,
        "{slow:?}"
    );
    assert_eq!(v.train.last().unwrap().trainer, "sgd-faer:lr=1e-9");
    // Overfitting is flagged; underfitting is not.
    assert!(v.overfits.contains(&"analytic".to_string()), "{:?}", v.test);
    assert!(
        !v.overfits.contains(&"sgd-faer:lr=1e-9".to_string()),
        "{:?}",
        v.test
    );
    assert!(!v.overfits.contains(&"ols".to_string()));
    // A time ranking exists for the common target.
    assert!(v.target.is_some());

    let summary = fitbench_render::summary::render(&report);
    let verdict_at = summary.find("## Verdict").expect("a verdict section");
    let first_dataset = summary.find("\n## diabetes").unwrap();
    assert!(verdict_at < first_dataset, "the verdict comes first");
    let section = &summary[verdict_at..first_dataset];
    assert!(section.contains("**worse**"), "{section}");
    assert!(section.contains("**overfits**"), "{section}");
    assert!(
        section.contains("95 % paired percentile bootstrap"),
        "{section}"
    );
    assert!(section.contains("### Across 2 datasets"), "{section}");
    // The detail table drops a column equal to another (OLS and analytic report their best
    // point last, so final = best train MSE for every trainer here, or another pair).
    assert!(
        summary.contains("Not shown, equal for every trainer"),
        "{summary}"
    );

    let page = fitbench_render::html::report_page(&report);
    assert_eq!(page.verdicts.len(), 2);
    // The chart opens with the leaders: the best three here; the last, worse one is hidden.
    let diabetes = page.datasets.iter().find(|d| d.name == "diabetes").unwrap();
    assert_eq!(diabetes.series.len(), 4);
    assert!(diabetes.leaders.contains(&"analytic".to_string()));
    assert!(
        !diabetes.leaders.contains(&"sgd-faer:lr=1e-9".to_string()),
        "{:?}",
        diabetes.leaders
    );
    let html = fitbench_render::html::render_report(&report).unwrap();
    let (at_verdict, at_curves) = (
        html.find("id=\"verdict-section\"").unwrap(),
        html.find("id=\"datasets\"").unwrap(),
    );
    assert!(at_verdict < at_curves, "the page opens on the verdict");
    // The bootstrap is seeded: the same report gives the same intervals.
    assert_eq!(verdict::verdicts(&report), verdict::verdicts(&report));
}
