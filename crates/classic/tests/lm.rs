//! The Levenberg–Marquardt trainer: the OLS solution on a linear model, monotone descent on a
//! small tanh net, determinism (across processes and thread counts), the Jacobian memory guard
//! and the validation of every knob.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fitbench_classic::engine;
use fitbench_classic::lm::{LmConfig, Scaling};
use fitbench_core::{Activation, Architecture, Error, Mlp, StepOutcome, TrainerConfig, flops};

/// `lm` on a linear model matches the OLS train MSE to this relative error.
const OLS_REL: f64 = 1e-10;
/// … within this many steps.
const OLS_STEPS: usize = 3;
/// LM steps on the tanh net.
const TANH_STEPS: usize = 30;
/// The tanh net's loss falls by at least this factor over those steps.
const TANH_FACTOR: f64 = 100.0;

/// Rows of the determinism test's data (the other tests use 120–200): larger products, which
/// faer's parallel kernels may split over threads.
const DETERMINISM_N: usize = 4000;

mod common;
use common::{
    linear_data, losses, losses_and_params, ols_train_mse,
    same_bits_in_other_processes_and_thread_counts, tanh_data, tanh_net,
};

#[test]
fn linear_model_reaches_the_ols_train_mse() {
    for (k, scaling) in [(1, Scaling::Identity), (2, Scaling::Marquardt)] {
        let data = linear_data(120, 4, k, 7);
        let ols = ols_train_mse(&data);
        let d = data.d();
        let net = Mlp::init(&Architecture::linear(), d, k, 3).unwrap();
        let config = LmConfig {
            scaling,
            ..LmConfig::default()
        };
        let curve = losses(&config, &data, net, OLS_STEPS);
        let last = *curve.last().unwrap();
        assert!(
            ((last - ols) / ols).abs() <= OLS_REL,
            "k = {k}, {scaling:?}: lm {curve:?} vs OLS {ols}"
        );
    }
}

#[test]
fn linear_model_converges_at_the_minimum() {
    let data = linear_data(60, 3, 1, 4);
    let net = Mlp::init(&Architecture::linear(), 3, 1, 2).unwrap();
    let mut trainer = LmConfig::default().init(&data, net, 0).unwrap();
    let mut prev = f64::INFINITY;
    let mut converged = false;
    for _ in 0..20 {
        let outcome = trainer.step().unwrap();
        let l = trainer
            .params()
            .mse(data.x.as_ref(), data.y.as_ref())
            .unwrap();
        assert!(l <= prev, "the loss rose {prev} → {l}");
        prev = l;
        if outcome == StepOutcome::Converged {
            converged = true;
            break;
        }
    }
    assert!(converged, "no convergence reported in 20 steps");
}

#[test]
fn non_finite_loss_is_an_error() {
    let data = tanh_data(50, 3);
    let mut net = tanh_net(1);
    net.weights[1][(0, 0)] = f64::NAN;
    let mut trainer = LmConfig::default().init(&data, net, 0).unwrap();
    let err = trainer.step().err().unwrap();
    assert!(matches!(err, Error::NonFinite(_)), "{err}");
}

#[test]
fn tanh_net_loss_never_increases_and_falls() {
    let data = tanh_data(200, 11);
    for scaling in [Scaling::Identity, Scaling::Marquardt] {
        let net = tanh_net(5);
        let initial = net.mse(data.x.as_ref(), data.y.as_ref()).unwrap();
        let config = LmConfig {
            scaling,
            ..LmConfig::default()
        };
        let curve = losses(&config, &data, net, TANH_STEPS);
        let mut prev = initial;
        for (s, &l) in curve.iter().enumerate() {
            assert!(
                l <= prev,
                "{scaling:?}: step {s} raised the loss {prev} → {l}"
            );
            prev = l;
        }
        assert!(
            prev * TANH_FACTOR <= initial,
            "{scaling:?}: loss only fell from {initial} to {prev}"
        );
    }
}

#[test]
fn same_seed_same_data_gives_the_same_bits_in_other_processes_and_thread_counts() {
    same_bits_in_other_processes_and_thread_counts(
        "same_seed_same_data_gives_the_same_bits_in_other_processes_and_thread_counts",
        || {
            let data = tanh_data(DETERMINISM_N, 11);
            losses_and_params(&LmConfig::default(), &data, tanh_net(9), TANH_STEPS)
        },
    );
}

#[test]
fn flops_and_memory_follow_the_jacobian() {
    let data = tanh_data(200, 11);
    let net = tanh_net(1);
    let p = net.n_params();
    let widths = net.widths.clone();
    let config = LmConfig::default();
    let trainer = config.init(&data, net, 0).unwrap();
    assert_eq!(
        trainer.flops_per_step(),
        Some(engine::jacobian_flops(&widths, 200) + flops::gram(200, p) + flops::cholesky(p))
    );
    let bytes = config.memory_bytes(200, &widths);
    let jacobian_and_gram = (200 * p * 8 + p * p * 8) as u64;
    assert!(bytes >= jacobian_and_gram, "{bytes} < {jacobian_and_gram}");
    let arch = Architecture::new(vec![3, 2], Activation::Relu);
    assert_eq!(config.architecture(&arch).unwrap(), arch);
}

#[test]
fn jacobian_over_the_limit_is_refused_naming_n_p_and_the_limit() {
    // p = 3·8 + 9 = 33; 5 000 · 33 · 8 bytes = 1.26 MiB > 1 MiB.
    let data = tanh_data(5000, 2);
    let config = LmConfig {
        max_jacobian_mb: 1,
        ..LmConfig::default()
    };
    let err = config
        .init(&data, tanh_net(1), 0)
        .err()
        .unwrap()
        .to_string();
    for part in ["n = 5000", "p = 33", "lm.max_jacobian_mb"] {
        assert!(err.contains(part), "{part:?} missing from: {err}");
    }
    // 3 900 · 33 · 8 = 1 029 600 bytes fit.
    let small = tanh_data(3900, 2);
    assert!(config.init(&small, tanh_net(1), 0).is_ok());
}

#[test]
fn invalid_knobs_are_rejected_with_their_own_messages() {
    for mu0 in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let config = LmConfig {
            mu0,
            ..LmConfig::default()
        };
        let err = config.validate().unwrap_err().to_string();
        assert!(
            err.contains("lm.mu0") && err.contains("initial damping"),
            "{err}"
        );
    }
    let config = LmConfig {
        max_jacobian_mb: 0,
        ..LmConfig::default()
    };
    let err = config.validate().unwrap_err().to_string();
    assert!(
        err.contains("lm.max_jacobian_mb") && err.contains("at least 1 MiB"),
        "{err}"
    );
    // init validates too.
    let data = tanh_data(20, 2);
    assert!(config.init(&data, tanh_net(1), 0).is_err());
    assert!(LmConfig::default().validate().is_ok());
}

#[test]
fn config_parses_with_defaults_and_rejects_unknown_fields() {
    let c: LmConfig = serde_json::from_str(r#"{"scaling": "marquardt"}"#).unwrap();
    assert_eq!(
        c,
        LmConfig {
            scaling: Scaling::Marquardt,
            ..LmConfig::default()
        }
    );
    assert_eq!(LmConfig::default().mu0, 1e-3);
    assert_eq!(LmConfig::default().max_jacobian_mb, 1024);
    assert!(serde_json::from_str::<LmConfig>(r#"{"lambda": 1}"#).is_err());
}
