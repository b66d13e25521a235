//! The stationarity certificate (issue #28): the engine's gradient norm against finite
//! differences (across row blocks), an exact OLS run certified stationary, a run stopped
//! after one step of a tiny learning rate not, and "stopped, not stationary" for a
//! `converged` run whose gradient is still large; the ReLU pattern change of the last step.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fitbench_core::{Activation, Architecture, Mlp, Split, synthetic};
use fitbench_harness::runner::{self, MonotonicClock, Plan};
use fitbench_harness::stationarity::{BLOCK_ROWS, certificate, gradient_norm, pattern_change};
use fitbench_report::config::RunConfig;
use fitbench_report::schema::{RunRecord, Stationarity, Status};

/// Relative agreement of the engine's gradient norm with central differences.
const FD_REL_TOL: f64 = 1e-6;
/// Certificate ratio an exact least-squares solve must reach.
const OLS_RATIO: f64 = 1e-10;

#[test]
fn the_gradient_norm_matches_central_differences_across_row_blocks() {
    let n = BLOCK_ROWS + 904; // two blocks of unequal size
    let train = Split::new(&synthetic::smooth2d(n * 5 / 4, 0.1, 3).unwrap(), 0.2, 0)
        .unwrap()
        .train;
    assert!(train.n() > BLOCK_ROWS, "{}", train.n());
    let mlp = Mlp::init(&Architecture::new(vec![3], Activation::Tanh), 2, 1, 5).unwrap();
    let mut theta = vec![0.0; mlp.n_params()];
    fitbench_classic::engine::flatten(&mlp, &mut theta).unwrap();
    let loss = |t: &[f64]| {
        let mut m = mlp.clone();
        fitbench_classic::engine::unflatten(t, &mut m).unwrap();
        m.mse(train.x.as_ref(), train.y.as_ref()).unwrap()
    };
    let h = 1e-5;
    let mut sq = 0.0;
    for i in 0..theta.len() {
        let (mut up, mut down) = (theta.clone(), theta.clone());
        up[i] += h;
        down[i] -= h;
        let g = (loss(&up) - loss(&down)) / (2.0 * h);
        sq += g * g;
    }
    let fd = sq.sqrt();
    let engine = gradient_norm(&mlp, &train).unwrap();
    assert!(
        ((engine - fd) / fd).abs() < FD_REL_TOL,
        "engine {engine} vs central differences {fd}"
    );
    // At the initial network itself the ratio is exactly 1.
    let c = certificate(&mlp, &mlp, None, &train).unwrap();
    assert_eq!(c.ratio, 1.0);
    assert!(!c.is_stationary());
}

fn run(trainers: &[&str], max_iters: usize) -> Vec<RunRecord> {
    let plan = Plan::resolve(RunConfig {
        datasets: vec!["linear:n=300,d=4,noise=0.1".into()],
        trainers: trainers.iter().map(|t| t.to_string()).collect(),
        seeds: 1,
        max_iters,
        budget_s: 60.0,
        hidden: vec![5],
        activation: "tanh".into(),
        ..RunConfig::default()
    })
    .unwrap();
    runner::run_sweep(
        &plan,
        &mut MonotonicClock::default(),
        &mut |_| Ok(()),
        &mut |_| {},
    )
    .unwrap()
    .runs
}

#[test]
fn an_exact_least_squares_run_is_stationary_and_one_tiny_step_is_not() {
    let runs = run(&["ols", "sgd-faer:lr=1e-12"], 1);
    let ols = runs.iter().find(|r| r.trainer_id == "ols").unwrap();
    let c = ols.stationarity.as_ref().unwrap();
    assert!(c.ratio <= OLS_RATIO, "{c:?}");
    assert!(c.is_stationary());
    let sgd = runs.iter().find(|r| r.trainer_id == "sgd-faer").unwrap();
    assert_eq!(sgd.iterations, 1);
    let c = sgd.stationarity.as_ref().unwrap();
    assert!(!c.is_stationary(), "{c:?}");
    assert!(
        (c.ratio - 1.0).abs() < 1e-6,
        "one step of lr 1e-12 moves nothing: {c:?}"
    );
}

#[test]
fn a_converged_run_with_a_large_gradient_is_stopped_not_stationary() {
    let mut r = run(&["ols"], 1).remove(0);
    assert_eq!(r.status, Status::Converged);
    assert!(!r.stopped_not_stationary());
    r.stationarity = Some(Stationarity {
        grad_norm_initial: 1.0,
        grad_norm: 0.5,
        ratio: 0.5,
        current_ratio: None,
        pattern_changed: None,
    });
    assert!(r.stopped_not_stationary());
    r.status = Status::MaxIters;
    assert!(
        !r.stopped_not_stationary(),
        "only a `converged` run claims a minimum"
    );
}

#[test]
fn the_summary_shows_the_certificate_and_says_which_learning_rates_were_not_tuned() {
    let plan = Plan::resolve(RunConfig {
        datasets: vec!["linear:n=300,d=4,noise=0.1".into()],
        trainers: vec!["ols".into(), "adam-faer:lr=0.02".into()],
        seeds: 1,
        max_iters: 3,
        hidden: vec![5],
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
    let report = fitbench_harness::build_report(&plan, out);
    let summary = fitbench_render::summary::render(&report);
    assert!(summary.contains("| ‖∇L‖ / ‖∇L₀‖ |"), "{summary}");
    assert!(
        summary.contains("`adam-faer:lr=0.02` lr 0.02 as given, **not tuned**"),
        "{summary}"
    );
    assert!(!summary.contains("`ols` lr"), "ols has no learning rate");
}

#[test]
fn the_pattern_change_counts_the_relu_units_whose_signs_moved() {
    let n = BLOCK_ROWS + 100; // two row blocks
    let train = Split::new(&synthetic::smooth2d(n * 5 / 4, 0.1, 3).unwrap(), 0.2, 0)
        .unwrap()
        .train;
    let before = Mlp::init(&Architecture::new(vec![4, 3], Activation::Relu), 2, 1, 5).unwrap();
    assert_eq!(pattern_change(&before, &before, &train).unwrap(), Some(0.0));
    // A last-layer unit whose bias becomes huge is active on every row: its pattern
    // changed (the initial weights make it active on some rows only), no other did.
    let mut last = before.clone();
    last.biases[1][2] = 1e6;
    assert_eq!(
        pattern_change(&before, &last, &train).unwrap(),
        Some(1.0 / 7.0)
    );
    // A first-layer unit moves the units it feeds as well.
    let mut first = before.clone();
    first.biases[0][1] = 1e6;
    let f = pattern_change(&before, &first, &train).unwrap().unwrap();
    assert!(f > 1.0 / 7.0, "{f}");
    let smooth = Mlp::init(&Architecture::new(vec![4], Activation::Tanh), 2, 1, 5).unwrap();
    assert_eq!(pattern_change(&smooth, &smooth, &train).unwrap(), None);
}

#[test]
fn relu_runs_record_their_last_steps_pattern_change_and_smooth_ones_do_not() {
    let records = |activation: &str| {
        let plan = Plan::resolve(RunConfig {
            datasets: vec!["smooth2d:n=300,noise=0.05".into()],
            trainers: if activation == "relu" {
                vec!["sgd-faer:lr=0.05".into(), "analytic".into()]
            } else {
                vec!["sgd-faer:lr=0.05".into()]
            },
            seeds: 1,
            max_iters: 5,
            hidden: vec![8],
            activation: activation.into(),
            ..RunConfig::default()
        })
        .unwrap();
        runner::run_sweep(
            &plan,
            &mut MonotonicClock::default(),
            &mut |_| Ok(()),
            &mut |_| {},
        )
        .unwrap()
        .runs
    };
    for r in records("relu") {
        let c = r.stationarity.as_ref().expect("certificate");
        let f = c
            .pattern_changed
            .unwrap_or_else(|| panic!("{}: no pattern change", r.trainer));
        assert!((0.0..=1.0).contains(&f), "{}: {f}", r.trainer);
    }
    for r in records("tanh")
        .iter()
        .filter(|r| r.trainer == "sgd-faer:lr=0.05")
    {
        assert_eq!(r.stationarity.as_ref().unwrap().pattern_changed, None);
    }
}
