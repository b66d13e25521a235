//! Two independent implementations checking each other: the faer-engine twins `adam-faer`
//! and `sgd-faer` against burn's `adam` and `sgd` (f64, flex), from the same initial weights
//! on the same data with the same options, full batch and mini-batch.
//!
//! burn 0.22 keeps β₁, β₂, ε, the momentum and the weight decay as f32 and computes Adam's
//! bias corrections in f32 even on f64 tensors. Adam is compared at its default
//! hyper-parameters with `adam-faer:burn_scalars=true` (the same f32 scalar arithmetic), and
//! plain f64 `adam-faer` is shown to differ from burn by more than the tolerance (the f32
//! rounding is visible) but by less than `F32_SCALARS_REL`. SGD uses f32-exact values.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use faer::Mat;
use fitbench_classic::{AdamFaerConfig, SgdFaerConfig};
use fitbench_core::{Activation, Architecture, Dataset, Mlp, TrainerConfig, rng};
use fitbench_sgd::{Adam, AdamConfig, Precision, Sgd, SgdConfig};

/// Largest relative difference of the train losses allowed at every epoch.
const LOSS_REL: f64 = 1e-9;
/// Epochs compared.
const EPOCHS: usize = 100;
/// Largest relative difference between plain-f64 `adam-faer` and burn's Adam (whose scalars
/// are f32) over the same epochs.
const F32_SCALARS_REL: f64 = 1e-4;

fn data(n: usize, seed: u64) -> Dataset {
    let mut r = rng::rng(seed);
    let x = Mat::from_fn(n, 3, |_, _| rng::uniform(&mut r, -1.0, 1.0));
    let y = Mat::from_fn(n, 1, |i, _| {
        (2.0 * x[(i, 0)]).sin() + x[(i, 1)] * x[(i, 2)] + 0.05 * rng::uniform(&mut r, -1.0, 1.0)
    });
    let names = |m: usize, p: &str| (0..m).map(|j| format!("{p}{j}")).collect();
    Dataset::new("cross-check", x, y, names(3, "x"), names(1, "y"), "test").unwrap()
}

fn net(act: Activation) -> Mlp {
    Mlp::init(&Architecture::new(vec![16, 8], act), 3, 1, 11).unwrap()
}

/// Train MSE after each of `EPOCHS` epochs.
fn curve(config: &dyn TrainerConfig, data: &Dataset, initial: Mlp) -> Vec<f64> {
    let mut t = config.init(data, initial, 5).unwrap();
    (0..EPOCHS)
        .map(|_| {
            t.step().unwrap();
            t.params().mse(data.x.as_ref(), data.y.as_ref()).unwrap()
        })
        .collect()
}

fn assert_agree(what: &str, faer: &[f64], burn: &[f64]) {
    let start = faer[0].max(burn[0]);
    for (e, (a, b)) in faer.iter().zip(burn).enumerate() {
        let rel = (a - b).abs() / b.abs();
        assert!(
            rel <= LOSS_REL,
            "{what}, epoch {}: faer {a} vs burn {b} (relative {rel:.2e})",
            e + 1
        );
    }
    // The comparison is about training, not two frozen models.
    assert!(
        faer[EPOCHS - 1] < 0.9 * start,
        "{what}: the loss barely moved ({start} → {})",
        faer[EPOCHS - 1]
    );
}

#[test]
fn adam_faer_matches_burn_adam_for_100_epochs() {
    let train = data(256, 1);
    for (act, batch) in [
        (Activation::Tanh, 0),
        (Activation::Relu, 0),
        (Activation::Tanh, 48),
    ] {
        let initial = net(act);
        let burn = AdamConfig::default()
            .lr(1e-2)
            .batch(batch)
            .precision(Precision::F64)
            .with_own(Adam::default());
        let faer = AdamFaerConfig {
            lr: 1e-2,
            batch,
            burn_scalars: true,
            ..AdamFaerConfig::default()
        };
        let what = format!("adam, {act:?}, batch {batch}");
        let burn_curve = curve(&burn, &train, initial.clone());
        assert_agree(&what, &curve(&faer, &train, initial.clone()), &burn_curve);

        // Plain f64 scalars: visibly different from burn's f32 ones, but only just.
        let f64_curve = curve(
            &AdamFaerConfig {
                burn_scalars: false,
                ..faer
            },
            &train,
            initial,
        );
        let worst = f64_curve
            .iter()
            .zip(&burn_curve)
            .map(|(a, b)| (a - b).abs() / b.abs())
            .fold(0.0, f64::max);
        assert!(
            worst > LOSS_REL && worst <= F32_SCALARS_REL,
            "{what}: f64 scalars vs burn's f32 ones differ by {worst:.2e}"
        );
    }
}

#[test]
fn sgd_faer_matches_burn_sgd_for_100_epochs() {
    let train = data(256, 2);
    for (momentum, nesterov, batch, wd) in [
        (0.0, false, 0, 0.0),
        (0.875, false, 0, 0.0),
        (0.875, true, 64, 0.0),
        (0.5, false, 0, 0.0625),
    ] {
        let initial = net(Activation::Tanh);
        let burn = SgdConfig::default()
            .lr(5e-2)
            .batch(batch)
            .weight_decay(wd)
            .precision(Precision::F64)
            .with_own(Sgd {
                momentum,
                nesterov,
                ..Sgd::default()
            });
        let faer = SgdFaerConfig {
            lr: 5e-2,
            batch,
            weight_decay: wd,
            momentum,
            nesterov,
            ..SgdFaerConfig::default()
        };
        let what = format!("sgd, momentum {momentum}, nesterov {nesterov}, batch {batch}, wd {wd}");
        assert_agree(
            &what,
            &curve(&faer, &train, initial.clone()),
            &curve(&burn, &train, initial),
        );
    }
}
