//! The learning-rate grid search: validation carved from the training split, best pick used.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fitbench_harness::runner::{self, MonotonicClock, Plan};
use fitbench_report::config::LrGrid;
use fitbench_report::config::RunConfig;

#[test]
fn the_grid_picks_the_best_validation_loss_and_the_runs_use_it() {
    let config = RunConfig {
        datasets: vec!["teacher:n=300,d=3,h=4,noise=0.05".into()],
        trainers: vec!["adam".into(), "ols".into()],
        seeds: 2,
        max_iters: 20,
        budget_s: 1e9,
        lr_grid: Some(LrGrid {
            grid: vec![1e-6, 3e-2],
            epochs: 30,
            validation_fraction: 0.25,
        }),
        ..RunConfig::default()
    };
    let plan = Plan::resolve(config).unwrap();
    let out = runner::run_sweep(
        &plan,
        &mut MonotonicClock::default(),
        &mut |_| Ok(()),
        &mut |_| {},
    )
    .unwrap();
    // Only the trainer with a learning rate is tuned.
    assert_eq!(out.tuning.len(), 1);
    let t = &out.tuning[0];
    assert_eq!(t.trainer, "adam");
    // 240 training rows of the 300; a quarter of them validate.
    assert_eq!((t.n_fit, t.n_validation), (180, 60));
    let (tiny, useful) = (t.scores[0].unwrap(), t.scores[1].unwrap());
    assert!(
        useful < tiny,
        "30 epochs at lr 3e-2 must beat lr 1e-6: {useful} vs {tiny}"
    );
    assert_eq!(t.picked_lr, Some(3e-2));
    for r in out.runs.iter().filter(|r| r.trainer == "adam") {
        assert_eq!(
            r.trainer_config["lr"],
            serde_json::json!(3e-2),
            "runs use the pick"
        );
    }
    // Deterministic: the same config tunes the same way.
    let again = runner::run_sweep(
        &plan,
        &mut MonotonicClock::default(),
        &mut |_| Ok(()),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(again.tuning, out.tuning);
}

#[test]
fn invalid_grids_are_rejected_before_running() {
    for grid in [
        LrGrid {
            grid: vec![],
            ..LrGrid::default()
        },
        LrGrid {
            grid: vec![-1.0],
            ..LrGrid::default()
        },
        LrGrid {
            epochs: 0,
            ..LrGrid::default()
        },
        LrGrid {
            validation_fraction: 1.0,
            ..LrGrid::default()
        },
    ] {
        let config = RunConfig {
            datasets: vec!["diabetes".into()],
            lr_grid: Some(grid),
            ..RunConfig::default()
        };
        let msg = Plan::resolve(config).err().unwrap().to_string();
        assert!(msg.contains("lr_grid"), "{msg}");
    }
}
