//! The L-BFGS trainer: the OLS solution on a linear model with every line search, monotone
//! descent on a small tanh net, determinism (across processes and thread counts), evaluation
//! counts and the validation of every knob.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::{
    linear_data, losses, losses_and_params, ols_train_mse,
    same_bits_in_other_processes_and_thread_counts, tanh_data, tanh_net,
};

use fitbench_classic::engine;
use fitbench_classic::lbfgs::{LbfgsConfig, LineSearch};
use fitbench_core::{Architecture, Error, Mlp, StepOutcome, TrainerConfig};

/// `lbfgs` on a linear model matches the OLS train MSE to this relative error …
const OLS_REL: f64 = 1e-8;
/// … within this many steps.
const OLS_STEPS: usize = 50;
/// Steps on the tanh net.
const TANH_STEPS: usize = 60;
/// The tanh net's loss falls by at least this factor over those steps.
const TANH_FACTOR: f64 = 20.0;

/// Rows of the determinism test's data (the other tests use 120–200): larger products, which
/// faer's parallel kernels may split over threads.
const DETERMINISM_N: usize = 4000;

const ALL: [LineSearch; 3] = [
    LineSearch::MoreThuente,
    LineSearch::HagerZhang,
    LineSearch::Backtracking,
];

fn config(line_search: LineSearch) -> LbfgsConfig {
    LbfgsConfig {
        line_search,
        ..LbfgsConfig::default()
    }
}

#[test]
fn linear_model_reaches_the_ols_train_mse_with_every_line_search() {
    for (k, ls) in [
        (1, LineSearch::MoreThuente),
        (2, LineSearch::MoreThuente),
        (1, LineSearch::HagerZhang),
        (1, LineSearch::Backtracking),
    ] {
        let data = linear_data(120, 4, k, 7);
        let ols = ols_train_mse(&data);
        let net = Mlp::init(&Architecture::linear(), data.d(), k, 3).unwrap();
        let curve = losses(&config(ls), &data, net, OLS_STEPS);
        let last = *curve.last().unwrap();
        assert!(
            ((last - ols) / ols).abs() <= OLS_REL,
            "k = {k}, {ls:?}: lbfgs ended at {last} after {} steps vs OLS {ols}",
            curve.len()
        );
    }
}

#[test]
fn tanh_net_loss_never_increases_and_falls() {
    let data = tanh_data(200, 5);
    let net = tanh_net(9);
    let start = net.mse(data.x.as_ref(), data.y.as_ref()).unwrap();
    for ls in ALL {
        let curve = losses(&config(ls), &data, net.clone(), TANH_STEPS);
        let mut prev = start;
        for (i, &l) in curve.iter().enumerate() {
            assert!(
                l <= prev,
                "{ls:?}: the loss rose at step {}: {prev} → {l}",
                i + 1
            );
            prev = l;
        }
        assert!(
            start / prev >= TANH_FACTOR,
            "{ls:?}: the loss fell only {start} → {prev}"
        );
    }
}

#[test]
fn same_seed_same_data_gives_the_same_bits_in_other_processes_and_thread_counts() {
    same_bits_in_other_processes_and_thread_counts(
        "same_seed_same_data_gives_the_same_bits_in_other_processes_and_thread_counts",
        || {
            let data = tanh_data(DETERMINISM_N, 2);
            ALL.iter()
                .flat_map(|&ls| losses_and_params(&config(ls), &data, tanh_net(4), 25))
                .collect()
        },
    );
}

#[test]
fn evaluations_are_counted_and_priced() {
    let data = tanh_data(80, 1);
    let net = tanh_net(2);
    let per_eval = engine::gradient_flops(&net.widths, data.n());
    let mut trainer = LbfgsConfig::default().init(&data, net, 0).unwrap();
    assert_eq!(
        trainer.counters(),
        vec![("evaluations", 0.0), ("restarts", 0.0)]
    );
    let steps = 10;
    for _ in 0..steps {
        assert_eq!(trainer.step().unwrap(), StepOutcome::Continue);
    }
    let evaluations = trainer.counters()[0].1;
    // The initial point, then at least one line-search evaluation per step.
    assert!(
        evaluations >= (steps + 1) as f64,
        "{evaluations} evaluations in {steps} steps"
    );
    let flops = trainer.flops_per_step().unwrap();
    assert!(
        (flops - per_eval * evaluations / steps as f64).abs() <= 1e-9 * flops,
        "{flops} vs {per_eval} × {evaluations} / {steps}"
    );
}

#[test]
fn non_finite_loss_is_an_error() {
    let data = tanh_data(50, 3);
    let mut net = tanh_net(1);
    net.biases[1][0] = f64::NAN;
    let mut trainer = LbfgsConfig::default().init(&data, net, 0).unwrap();
    match trainer.step() {
        Err(Error::NonFinite(msg)) => assert!(msg.contains("lbfgs"), "{msg}"),
        other => panic!("expected a non-finite error, got {other:?}"),
    }
}

#[test]
fn invalid_knobs_are_rejected_with_their_own_messages() {
    let cases: [(LbfgsConfig, &str); 5] = [
        (
            LbfgsConfig {
                max_evals: 0,
                ..LbfgsConfig::default()
            },
            "lbfgs.max_evals",
        ),
        (
            LbfgsConfig {
                m: 0,
                ..LbfgsConfig::default()
            },
            "lbfgs.m",
        ),
        (
            LbfgsConfig {
                m: 5000,
                ..LbfgsConfig::default()
            },
            "lbfgs.m",
        ),
        (
            LbfgsConfig {
                l2: -1.0,
                ..LbfgsConfig::default()
            },
            "lbfgs.l2",
        ),
        (
            LbfgsConfig {
                l2: f64::NAN,
                ..LbfgsConfig::default()
            },
            "lbfgs.l2",
        ),
    ];
    for (config, field) in cases {
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains(field), "{err}");
        let data = tanh_data(20, 1);
        assert!(config.init(&data, tanh_net(1), 0).is_err());
    }
}

#[test]
fn config_parses_with_defaults_and_rejects_unknown_fields() {
    let c: LbfgsConfig = serde_json::from_str(r#"{"line_search": "hager_zhang"}"#).unwrap();
    assert_eq!(c.m, 10);
    assert_eq!(c.line_search, LineSearch::HagerZhang);
    assert!(serde_json::from_str::<LbfgsConfig>(r#"{"memory": 5}"#).is_err());
    assert!(serde_json::from_str::<LbfgsConfig>(r#"{"line_search": "wolfe"}"#).is_err());
}

/// A ReLU net, where Moré–Thuente line searches fail on kinks long before a minimum.
fn relu_net(seed: u64) -> Mlp {
    Mlp::init(
        &Architecture::new(vec![8], fitbench_core::Activation::Relu),
        2,
        1,
        seed,
    )
    .unwrap()
}

/// Runs `config` for up to `steps` steps; returns (losses, restarts, converged).
fn run_counting(config: &LbfgsConfig, steps: usize) -> (Vec<f64>, f64, bool) {
    let data = tanh_data(300, 8);
    let mut t = config.init(&data, relu_net(1), 0).unwrap();
    let mut losses = Vec::new();
    let mut converged = false;
    for _ in 0..steps {
        let outcome = t.step().unwrap();
        losses.push(t.params().mse(data.x.as_ref(), data.y.as_ref()).unwrap());
        if outcome == StepOutcome::Converged {
            converged = true;
            break;
        }
    }
    (losses, t.counters()[1].1, converged)
}

#[test]
fn a_failed_line_search_restarts_from_the_current_point_without_raising_the_loss() {
    let steps = 600;
    let (with, restarts, _) = run_counting(&LbfgsConfig::default(), steps);
    let (without, none, stopped) = run_counting(
        &LbfgsConfig {
            restart: false,
            ..LbfgsConfig::default()
        },
        steps,
    );
    assert_eq!(none, 0.0);
    assert!(
        stopped,
        "without restarts the first failed line search ends the run"
    );
    assert!(restarts >= 1.0, "no restart in {steps} steps");
    assert!(with.len() > without.len());
    assert!(with.last().unwrap() < without.last().unwrap());
    for w in with.windows(2) {
        assert!(w[1] <= w[0], "the loss rose: {} → {}", w[0], w[1]);
    }
}
