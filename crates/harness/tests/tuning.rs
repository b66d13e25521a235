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
            options: vec![],
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
    let untimed = |mut t: Vec<fitbench_report::config::TuningRecord>| {
        for r in &mut t {
            r.trial_s.clear();
            r.trial_target_s.clear();
            // The descents' losses are deterministic, their times are not.
            for p in r.trial_envelope.iter_mut().flatten() {
                p[0] = 0.0;
            }
        }
        t
    };
    assert_eq!(untimed(again.tuning), untimed(out.tuning));
}

/// A clock that advances one second at every reading: a step timed by two readings takes
/// exactly one second.
struct Ticks(f64);

impl fitbench_core::Clock for Ticks {
    fn now(&mut self) -> f64 {
        self.0 += 1.0;
        self.0
    }
}

/// Exact sums of a few seconds.
const EXACT: f64 = 1e-12;

#[test]
fn tuning_is_charged_to_the_tuned_trainer_only_and_a_two_point_grid_adds_the_other_trial() {
    let epochs = 3;
    let config = RunConfig {
        datasets: vec!["teacher:n=200,d=3,h=4,noise=0.05".into()],
        trainers: vec!["sgd-faer".into(), "ols".into()],
        seeds: 2,
        max_iters: 5,
        budget_s: 1e9,
        // Loose enough that every run meets it at its first point, tight enough to be a
        // target: the charges are then exactly the other trial's ticks.
        targets: vec![10.0],
        lr_grid: Some(LrGrid {
            grid: vec![1e-3, 1e-2],
            epochs,
            validation_fraction: 0.25,
            options: vec![],
        }),
        ..RunConfig::default()
    };
    let plan = Plan::resolve(config).unwrap();
    let out = runner::run_sweep(&plan, &mut Ticks(0.0), &mut |_| Ok(()), &mut |_| {}).unwrap();
    let report = fitbench_harness::build_report(&plan, out);
    assert_eq!(report.tuning.len(), 1);
    let t = &report.tuning[0];
    // Every trial's steps were timed, one tick each.
    assert_eq!(t.trial_s, vec![Some(epochs as f64); 2]);
    // A trial meets the loose target after its first step.
    assert_eq!(t.trial_target_s, vec![vec![Some(1.0)]; 2]);
    for r in &report.runs {
        let hit = &r.summary.targets[0];
        let own = hit.time_s.expect("the loose target is met");
        let inclusive = hit.tuning_inclusive_s.unwrap();
        let optimistic = hit.optimistic_s.unwrap();
        if r.trainer == "ols" {
            assert_eq!((inclusive, optimistic), (own, own), "untuned: {hit:?}");
        } else {
            assert!(
                (inclusive - own - epochs as f64).abs() < EXACT,
                "one other trial of {epochs} ticks: {hit:?}"
            );
            assert_eq!(optimistic, own.min(1.0), "{hit:?}");
        }
    }
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

#[test]
fn check_and_profiles_can_charge_tuning_and_refuse_reports_without_trial_times() {
    use fitbench_render::aggregate::{Value3, aggregate_with};
    use fitbench_report::charge::{TimeBasis, unsupported};
    let epochs = 4;
    let config = RunConfig {
        datasets: vec![
            "linear:n=200,d=3,noise=0.1".into(),
            "linear:n=150,d=2,noise=0.1".into(),
        ],
        trainers: vec!["sgd-faer".into(), "ols".into()],
        seeds: 1,
        max_iters: 60,
        budget_s: 1e9,
        suboptimality_targets: vec![0.9],
        lr_grid: Some(LrGrid {
            grid: vec![1e-2, 1e-1],
            epochs,
            validation_fraction: 0.25,
            options: vec![],
        }),
        ..RunConfig::default()
    };
    let plan = Plan::resolve(config).unwrap();
    let out = runner::run_sweep(&plan, &mut Ticks(0.0), &mut |_| Ok(()), &mut |_| {}).unwrap();
    let mut report = fitbench_harness::build_report(&plan, out);
    let seconds = |basis| {
        let a = aggregate_with(&report, basis);
        let key = (
            "linear:n=200,d=3,noise=0.1".to_string(),
            "sgd-faer".to_string(),
        );
        let m = a[&key].iter().find(|m| m.name == "time_to_9e-1").cloned();
        let m = m.expect("a time_to metric");
        assert!(matches!(m.value, Value3::Finite { .. }), "{m:?}");
        m.seconds.unwrap()
    };
    let own = seconds(TimeBasis::SelectionHonest);
    let inclusive = seconds(TimeBasis::TuningInclusive);
    assert!(
        (inclusive - own - epochs as f64).abs() < EXACT,
        "{inclusive} = {own} + {epochs}"
    );
    assert!(seconds(TimeBasis::Optimistic) <= own);
    for basis in TimeBasis::ALL {
        assert_eq!(unsupported(&report, basis), None);
    }
    // Profiles charge the tuned trainer: against the untuned OLS, sgd-faer needs a larger τ.
    use fitbench_render::plot::performance_profile_with;
    let tau_of = |basis| {
        let series = performance_profile_with(&report, 0.9, basis).expect("two datasets");
        let (_, points) = series.into_iter().find(|(t, _)| t == "sgd-faer").unwrap();
        // log₂ τ at which it is within τ of the fastest on every dataset
        points
            .iter()
            .find(|p| p.1 >= 1.0)
            .map_or(f64::INFINITY, |p| p.0)
    };
    assert!(
        tau_of(TimeBasis::TuningInclusive) > tau_of(TimeBasis::SelectionHonest),
        "the profile under tuning-inclusive time must move sgd-faer right"
    );
    assert_eq!(
        fitbench_render::verdict::ranked_basis(&report),
        TimeBasis::TuningInclusive
    );
    // A report written before trial times were recorded: only selection-honest.
    report.tuning[0].trial_s.clear();
    report.tuning[0].trial_envelope.clear();
    assert_eq!(unsupported(&report, TimeBasis::SelectionHonest), None);
    let why = unsupported(&report, TimeBasis::TuningInclusive).unwrap();
    assert!(why.contains("records no trial times"), "{why}");
    assert!(unsupported(&report, TimeBasis::Optimistic).is_some());
    // Its summary ranks selection-honest time rather than claim a charge it cannot make.
    assert_eq!(
        fitbench_render::verdict::ranked_basis(&report),
        TimeBasis::SelectionHonest
    );
}

#[test]
fn an_option_grid_searches_a_trainer_without_a_learning_rate() {
    use fitbench_report::config::OptionGrid;
    let grid = |option: &str| LrGrid {
        epochs: 5,
        options: vec![OptionGrid {
            trainer: "analytic".into(),
            option: option.into(),
            grid: vec![1e-6, 1e3],
            epochs: Some(3),
        }],
        ..LrGrid::default()
    };
    let config = RunConfig {
        datasets: vec!["teacher:n=300,d=3,h=4,act=relu,noise=0.05".into()],
        trainers: vec!["analytic".into(), "analytic:lambda=0.01".into()],
        seeds: 1,
        max_iters: 5,
        budget_s: 1e9,
        hidden: vec![8],
        activation: "relu".into(),
        lr_grid: Some(grid("lambda")),
        ..RunConfig::default()
    };
    let plan = Plan::resolve(config.clone()).unwrap();
    let out = runner::run_sweep(&plan, &mut Ticks(0.0), &mut |_| Ok(()), &mut |_| {}).unwrap();
    // The label that sets λ itself is not searched.
    assert_eq!(out.tuning.len(), 1, "{:?}", out.tuning);
    let t = &out.tuning[0];
    assert_eq!(
        (t.trainer.as_str(), t.option.as_str()),
        ("analytic", "lambda")
    );
    assert_eq!(t.values, vec![1e-6, 1e3]);
    // Three steps of one tick each per trial.
    assert_eq!(t.trial_s, vec![Some(3.0); 2]);
    // A ridge of 1000 on standardised data cannot fit: the small one wins.
    assert_eq!(t.picked_lr, Some(1e-6), "{:?}", t.scores);
    let run = out.runs.iter().find(|r| r.trainer == "analytic").unwrap();
    assert_eq!(run.trainer_config["lambda"], serde_json::json!(1e-6));
    // An option the trainer does not have is refused before anything runs.
    let bad = RunConfig {
        lr_grid: Some(grid("lamda")),
        ..config.clone()
    };
    let err = Plan::resolve(bad).err().expect("refused").to_string();
    assert!(err.contains("lr_grid.options: analytic lamda"), "{err}");
    // So is an option grid for a trainer whose learning rate the grid already searches.
    let mut with_lr = grid("beta1");
    with_lr.options[0].trainer = "adam".into();
    let bad = RunConfig {
        lr_grid: Some(with_lr),
        ..config
    };
    let err = Plan::resolve(bad).err().expect("refused").to_string();
    assert!(err.contains("adam has a learning rate"), "{err}");
}
