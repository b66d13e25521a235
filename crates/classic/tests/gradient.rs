//! `adam-faer` and `sgd-faer` on their own: descent, seeded mini-batch determinism, flops,
//! and the validation of every knob (their agreement with burn is checked in
//! `crates/harness/tests/faer_vs_burn.rs`, where both implementations are available).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::{losses, tanh_data, tanh_net};

use fitbench_classic::{AdamFaerConfig, SgdFaerConfig};
use fitbench_core::{TrainerConfig, flops};

/// Epochs of the descent checks.
const EPOCHS: usize = 200;
/// The loss falls by at least this factor over them.
const DESCENT_FACTOR: f64 = 3.0;

fn configs() -> Vec<(&'static str, Box<dyn TrainerConfig>)> {
    vec![
        (
            "adam full",
            Box::new(AdamFaerConfig {
                lr: 1e-2,
                ..AdamFaerConfig::default()
            }),
        ),
        (
            "adam batch 32",
            Box::new(AdamFaerConfig {
                lr: 1e-2,
                batch: 32,
                ..AdamFaerConfig::default()
            }),
        ),
        (
            "sgd momentum",
            Box::new(SgdFaerConfig {
                lr: 0.1,
                ..SgdFaerConfig::default()
            }),
        ),
        (
            "plain gd",
            Box::new(SgdFaerConfig {
                lr: 0.2,
                momentum: 0.0,
                ..SgdFaerConfig::default()
            }),
        ),
        (
            "sgd nesterov batch 50, wd",
            Box::new(SgdFaerConfig {
                lr: 0.05,
                batch: 50,
                nesterov: true,
                weight_decay: 1e-4,
                ..SgdFaerConfig::default()
            }),
        ),
    ]
}

#[test]
fn every_variant_descends() {
    let data = tanh_data(200, 3);
    let start = tanh_net(4).mse(data.x.as_ref(), data.y.as_ref()).unwrap();
    for (what, config) in configs() {
        let curve = losses(config.as_ref(), &data, tanh_net(4), EPOCHS);
        let end = *curve.last().unwrap();
        assert!(start / end >= DESCENT_FACTOR, "{what}: {start} → {end}");
    }
}

#[test]
fn same_seed_gives_identical_curves_and_another_seed_other_batches() {
    let data = tanh_data(150, 1);
    let config = AdamFaerConfig {
        batch: 16,
        lr: 1e-2,
        ..AdamFaerConfig::default()
    };
    let run = |seed: u64| {
        let mut t = config.init(&data, tanh_net(2), seed).unwrap();
        (0..10)
            .map(|_| {
                t.step().unwrap();
                t.params().mse(data.x.as_ref(), data.y.as_ref()).unwrap()
            })
            .collect::<Vec<f64>>()
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
}

#[test]
fn flops_are_one_gradient_over_the_training_set_per_epoch() {
    let data = tanh_data(90, 2);
    let net = tanh_net(1);
    let expected = flops::gradient(&net.widths, data.n());
    for batch in [0, 7] {
        let t = SgdFaerConfig {
            batch,
            ..SgdFaerConfig::default()
        }
        .init(&data, net.clone(), 0)
        .unwrap();
        assert_eq!(t.flops_per_step(), Some(expected));
    }
}

#[test]
fn invalid_knobs_are_rejected_with_their_own_messages() {
    let adam = AdamFaerConfig::default;
    let sgd = SgdFaerConfig::default;
    let cases: Vec<(Box<dyn TrainerConfig>, &str)> = vec![
        (
            Box::new(AdamFaerConfig { lr: 0.0, ..adam() }),
            "adam-faer.lr",
        ),
        (
            Box::new(AdamFaerConfig {
                weight_decay: -1.0,
                ..adam()
            }),
            "adam-faer.weight_decay",
        ),
        (
            Box::new(AdamFaerConfig {
                beta1: 1.0,
                ..adam()
            }),
            "adam-faer.beta1",
        ),
        (
            Box::new(AdamFaerConfig {
                beta2: -0.1,
                ..adam()
            }),
            "adam-faer.beta2",
        ),
        (
            Box::new(AdamFaerConfig { eps: 0.0, ..adam() }),
            "adam-faer.eps",
        ),
        (
            Box::new(SgdFaerConfig {
                lr: f64::NAN,
                ..sgd()
            }),
            "sgd-faer.lr",
        ),
        (
            Box::new(SgdFaerConfig {
                momentum: 1.5,
                ..sgd()
            }),
            "sgd-faer.momentum",
        ),
        (
            Box::new(SgdFaerConfig {
                dampening: 1.0,
                ..sgd()
            }),
            "sgd-faer.dampening",
        ),
        (
            Box::new(SgdFaerConfig {
                nesterov: true,
                momentum: 0.0,
                ..sgd()
            }),
            "sgd-faer.nesterov",
        ),
    ];
    let data = tanh_data(20, 1);
    for (config, field) in cases {
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains(field), "{field}: {err}");
        assert!(config.init(&data, tanh_net(1), 0).is_err(), "{field}");
    }
}
