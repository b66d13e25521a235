//! Tests of the burn gradient baselines: exact updates, shared initial weights, descent,
//! seeded mini-batches and bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use faer::{Col, Mat};
use fitbench_core::{
    Activation, Architecture, Dataset, Mlp, Split, Trainer, TrainerConfig, synthetic,
};
use fitbench_sgd::{Adam, AdamConfig, Backend, Precision, Sgd, SgdConfig};

/// Agreement of f64 burn updates with the hand-computed f64 reference.
const F64_TOL: f64 = 1e-9;
/// Agreement of a gradient step with central finite differences (f64).
const FD_TOL: f64 = 1e-5;

fn tiny() -> (Dataset, Mlp) {
    let x = Mat::from_fn(3, 1, |i, _| [0.5, -1.0, 2.0][i]);
    let y = Mat::from_fn(3, 1, |i, _| [1.0, 0.0, 3.5][i]);
    let data = Dataset::new("tiny", x, y, vec!["x".into()], vec!["y".into()], "").unwrap();
    let net = Mlp::from_parts(
        vec![Activation::Identity],
        vec![Mat::from_fn(1, 1, |_, _| 0.3)],
        vec![Col::from_fn(1, |_| -0.2)],
    )
    .unwrap();
    (data, net)
}

/// The backends compiled into this build. Panics when there is none, so that the tests
/// looping over them cannot pass by looping zero times.
fn backends() -> Vec<Backend> {
    let available: Vec<Backend> = [Backend::Flex, Backend::Ndarray]
        .into_iter()
        .filter(|b| b.is_available())
        .collect();
    assert!(
        !available.is_empty(),
        "no burn backend is compiled in: run these tests with `--features flex` (the default) \
         and/or `--features ndarray`"
    );
    available
}

/// Gradient of mean((w·x + b − y)²) for the tiny problem.
fn grad(w: f64, b: f64) -> (f64, f64) {
    let (xs, ys) = ([0.5, -1.0, 2.0], [1.0, 0.0, 3.5]);
    let r: Vec<f64> = xs.iter().zip(ys).map(|(x, y)| w * x + b - y).collect();
    let gw = 2.0 * r.iter().zip(xs).map(|(r, x)| r * x).sum::<f64>() / 3.0;
    let gb = 2.0 * r.iter().sum::<f64>() / 3.0;
    (gw, gb)
}

fn wb(t: &dyn Trainer) -> (f64, f64) {
    let p = t.params();
    (p.weights[0][(0, 0)], p.biases[0][0])
}

#[test]
fn sgd_with_momentum_matches_a_hand_computed_update() {
    for backend in backends() {
        sgd_hand(backend);
    }
}

fn sgd_hand(backend: Backend) {
    let (data, net) = tiny();
    let config = SgdConfig::default()
        .lr(0.05)
        .precision(Precision::F64)
        .backend(backend)
        .with_own(Sgd {
            momentum: 0.9,
            ..Sgd::default()
        });
    let mut t = config.init(&data, net, 0).unwrap();
    let (mut w, mut b, mut vw, mut vb) = (0.3, -0.2, 0.0, 0.0);
    for step in 0..3 {
        let (gw, gb) = grad(w, b);
        // PyTorch/burn: the first velocity is the gradient itself, then v = μv + (1 − dampening)g;
        // burn keeps μ as f32.
        let mu = 0.9f32 as f64;
        (vw, vb) = if step == 0 {
            (gw, gb)
        } else {
            (mu * vw + gw, mu * vb + gb)
        };
        (w, b) = (w - 0.05 * vw, b - 0.05 * vb);
        t.step().unwrap();
        let (tw, tb) = wb(t.as_ref());
        assert!(
            (tw - w).abs() < F64_TOL && (tb - b).abs() < F64_TOL,
            "{backend:?} step {step}: ({tw}, {tb}) vs ({w}, {b})"
        );
    }
}

#[test]
fn adam_matches_a_hand_computed_update() {
    for backend in backends() {
        adam_hand(backend);
    }
}

fn adam_hand(backend: Backend) {
    let (data, net) = tiny();
    let config = AdamConfig::default()
        .lr(0.01)
        .precision(Precision::F64)
        .backend(backend);
    let mut t = config.init(&data, net, 0).unwrap();
    // burn keeps β₁, β₂ and ε as f32 and computes the bias corrections in f32:
    // update = lr · m · (√(1 − β₂ᵗ) / (1 − β₁ᵗ)) / (√v + ε·√(1 − β₂ᵗ)).
    let (b1f, b2f, epsf) = (0.9f32, 0.999f32, 1e-8f32);
    let (b1, b2) = (b1f as f64, b2f as f64);
    let (mut w, mut b) = (0.3, -0.2);
    let (mut m, mut v) = ([0.0; 2], [0.0; 2]);
    for step in 1..=3 {
        let g = grad(w, b);
        let g = [g.0, g.1];
        for k in 0..2 {
            m[k] = b1 * m[k] + (1.0 - b1) * g[k];
            v[k] = b2 * v[k] + (1.0 - b2) * g[k] * g[k];
        }
        let bc2_sqrt = (1.0 - b2f.powi(step)).sqrt();
        let factor = (bc2_sqrt / (1.0 - b1f.powi(step))) as f64;
        let upd = |k: usize| 0.01 * (m[k] * factor) / (v[k].sqrt() + (epsf * bc2_sqrt) as f64);
        (w, b) = (w - upd(0), b - upd(1));
        t.step().unwrap();
        let (tw, tb) = wb(t.as_ref());
        assert!(
            (tw - w).abs() < F64_TOL && (tb - b).abs() < F64_TOL,
            "{backend:?} step {step}: ({tw}, {tb}) vs ({w}, {b})"
        );
    }
}

#[test]
fn a_gradient_step_follows_the_finite_difference_gradient_for_every_activation() {
    const LR: f64 = 1e-3;
    const H: f64 = 1e-6;
    let raw = synthetic::smooth2d(40, 0.1, 1).unwrap();
    let data = Split::new(&raw, 0.2, 0).unwrap().train;
    let activations = [
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Softplus,
        Activation::LeakyRelu { alpha: 0.1 },
        Activation::Identity,
    ];
    for (act, backend) in activations
        .into_iter()
        .flat_map(|a| backends().into_iter().map(move |b| (a, b)))
    {
        let arch = Architecture::new(vec![5, 3], act);
        let net = Mlp::init(&arch, 2, 1, 4).unwrap();
        let config = SgdConfig::default()
            .lr(LR)
            .precision(Precision::F64)
            .backend(backend)
            .with_own(Sgd {
                momentum: 0.0,
                ..Sgd::default()
            });
        let mut t = config.init(&data, net.clone(), 0).unwrap();
        t.step().unwrap();
        let after = t.params();
        let loss = |m: &Mlp| m.mse(data.x.as_ref(), data.y.as_ref()).unwrap();
        for l in 0..net.n_layers() {
            for (i, j) in [
                (0, 0),
                (net.weights[l].nrows() - 1, net.weights[l].ncols() - 1),
            ] {
                let (mut plus, mut minus) = (net.clone(), net.clone());
                plus.weights[l][(i, j)] += H;
                minus.weights[l][(i, j)] -= H;
                let fd = (loss(&plus) - loss(&minus)) / (2.0 * H);
                let step = (net.weights[l][(i, j)] - after.weights[l][(i, j)]) / LR;
                assert!(
                    (fd - step).abs() < FD_TOL * fd.abs().max(1.0),
                    "{act} {backend:?} layer {l} w[{i},{j}]: fd {fd} vs step {step}"
                );
            }
            let (mut plus, mut minus) = (net.clone(), net.clone());
            plus.biases[l][0] += H;
            minus.biases[l][0] -= H;
            let fd = (loss(&plus) - loss(&minus)) / (2.0 * H);
            let step = (net.biases[l][0] - after.biases[l][0]) / LR;
            assert!(
                (fd - step).abs() < FD_TOL * fd.abs().max(1.0),
                "{act} {backend:?} layer {l} b[0]: fd {fd} vs step {step}"
            );
        }
    }
}

#[test]
fn flops_per_step_is_one_gradient_evaluation_over_the_training_set() {
    // 6·n·Σ mₗ₋₁mₗ (fitbench_core::flops::gradient) per epoch, whatever the batch size.
    let data = Split::new(&synthetic::friedman1(100, 10, 0.1, 2).unwrap(), 0.2, 0)
        .unwrap()
        .train;
    let net = Mlp::init(&Architecture::new(vec![8, 4], Activation::Tanh), 10, 1, 9).unwrap();
    let expected = 6.0 * 80.0 * (10.0 * 8.0 + 8.0 * 4.0 + 4.0 * 1.0);
    assert_eq!(expected, 55680.0);
    for batch in [0, 16] {
        let t = SgdConfig::default()
            .batch(batch)
            .backend(backends()[0])
            .init(&data, net.clone(), 0)
            .unwrap();
        assert_eq!(t.flops_per_step(), Some(expected), "batch {batch}");
    }
}

#[test]
fn trainers_start_from_the_shared_initial_weights() {
    let data = Split::new(&synthetic::friedman1(100, 10, 0.1, 2).unwrap(), 0.2, 0)
        .unwrap()
        .train;
    let net = Mlp::init(&Architecture::new(vec![8], Activation::Tanh), 10, 1, 9).unwrap();
    let f64_trainer = AdamConfig::default()
        .precision(Precision::F64)
        .init(&data, net.clone(), 0)
        .unwrap();
    assert_eq!(f64_trainer.params(), net, "f64: bit-identical");
    let f32_trainer = SgdConfig::default().init(&data, net.clone(), 0).unwrap();
    let p = f32_trainer.params();
    for l in 0..net.n_layers() {
        for j in 0..net.weights[l].ncols() {
            for i in 0..net.weights[l].nrows() {
                let v = net.weights[l][(i, j)];
                assert_eq!(
                    p.weights[l][(i, j)],
                    v as f32 as f64,
                    "f32: the f64 weight rounded once"
                );
            }
        }
    }
}

#[test]
fn loss_goes_down_on_a_learnable_problem() {
    let data = Split::new(
        &synthetic::teacher(400, 4, &[8], Activation::Tanh, 0.05, 3).unwrap(),
        0.2,
        0,
    )
    .unwrap()
    .train;
    let net = Mlp::init(&Architecture::new(vec![8], Activation::Tanh), 4, 1, 1).unwrap();
    let before = net.mse(data.x.as_ref(), data.y.as_ref()).unwrap();
    let configs: Vec<Box<dyn TrainerConfig>> = vec![
        Box::new(AdamConfig::default().lr(1e-2)),
        Box::new(AdamConfig::default().lr(1e-2).batch(32)),
        Box::new(SgdConfig::default().lr(5e-2)),
        Box::new(SgdConfig::default().lr(1e-2).batch(32).with_own(Sgd {
            nesterov: true,
            ..Sgd::default()
        })),
    ];
    for (i, c) in configs.iter().enumerate() {
        let mut t = c.init(&data, net.clone(), 0).unwrap();
        for _ in 0..30 {
            t.step().unwrap();
        }
        let after = t.params().mse(data.x.as_ref(), data.y.as_ref()).unwrap();
        assert!(after < 0.5 * before, "config {i}: {before} → {after}");
    }
}

#[test]
fn seeded_mini_batch_order_is_reproducible() {
    let data = Split::new(&synthetic::friedman1(200, 10, 0.1, 2).unwrap(), 0.2, 0)
        .unwrap()
        .train;
    let net = Mlp::init(&Architecture::new(vec![8], Activation::Tanh), 10, 1, 9).unwrap();
    let config = SgdConfig::default().batch(16).precision(Precision::F64);
    let run = |seed: u64| {
        let mut t = config.init(&data, net.clone(), seed).unwrap();
        for _ in 0..3 {
            t.step().unwrap();
        }
        t.params()
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}

#[test]
fn invalid_hyper_parameters_are_rejected() {
    let sgd = [
        (SgdConfig::default().lr(0.0), "sgd.lr"),
        (SgdConfig::default().lr(f64::NAN), "sgd.lr"),
        (
            SgdConfig::default().with_own(Sgd {
                momentum: 1.0,
                ..Sgd::default()
            }),
            "sgd.momentum",
        ),
        (
            SgdConfig::default().with_own(Sgd {
                dampening: -0.1,
                ..Sgd::default()
            }),
            "sgd.dampening",
        ),
        (
            SgdConfig::default().with_own(Sgd {
                nesterov: true,
                momentum: 0.0,
                ..Sgd::default()
            }),
            "sgd.nesterov",
        ),
        (SgdConfig::default().weight_decay(-1.0), "sgd.weight_decay"),
    ];
    for (c, what) in sgd {
        let msg = c.validate().unwrap_err().to_string();
        assert!(msg.contains(what), "{msg} should name {what}");
    }
    let adam = [
        (AdamConfig::default().lr(-1.0), "adam.lr"),
        (
            AdamConfig::default().with_own(Adam {
                beta1: 1.0,
                ..Adam::default()
            }),
            "adam.beta1",
        ),
        (
            AdamConfig::default().with_own(Adam {
                beta2: -0.5,
                ..Adam::default()
            }),
            "adam.beta2",
        ),
        (
            AdamConfig::default().with_own(Adam {
                eps: 0.0,
                ..Adam::default()
            }),
            "adam.eps",
        ),
    ];
    for (c, what) in adam {
        let msg = c.validate().unwrap_err().to_string();
        assert!(msg.contains(what), "{msg} should name {what}");
    }
}

#[cfg(feature = "ndarray")]
#[test]
fn ndarray_and_flex_backends_agree() {
    // Different summation orders in the two backends' kernels; f64 throughout.
    const BACKEND_TOL: f64 = 1e-9;
    let data = Split::new(&synthetic::smooth2d(100, 0.1, 1).unwrap(), 0.2, 0)
        .unwrap()
        .train;
    let run = |backend: Backend, act: Activation| {
        let net = Mlp::init(&Architecture::new(vec![6], act), 2, 1, 3).unwrap();
        let c = AdamConfig::default()
            .lr(1e-2)
            .batch(16)
            .precision(Precision::F64)
            .backend(backend);
        let mut t = c.init(&data, net, 5).unwrap();
        for _ in 0..3 {
            t.step().unwrap();
        }
        t.params()
    };
    let net = Mlp::init(&Architecture::new(vec![6], Activation::Tanh), 2, 1, 3).unwrap();
    let init_nd = SgdConfig::default()
        .precision(Precision::F64)
        .backend(Backend::Ndarray)
        .init(&data, net.clone(), 0)
        .unwrap()
        .params();
    assert_eq!(
        init_nd, net,
        "ndarray f64 starts from the shared weights bit for bit"
    );
    for act in [
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Softplus,
        Activation::LeakyRelu { alpha: 0.1 },
    ] {
        let (a, b) = (run(Backend::Flex, act), run(Backend::Ndarray, act));
        let mut worst = 0.0_f64;
        for l in 0..a.n_layers() {
            for j in 0..a.weights[l].ncols() {
                for i in 0..a.weights[l].nrows() {
                    worst = worst.max((a.weights[l][(i, j)] - b.weights[l][(i, j)]).abs());
                }
            }
        }
        assert!(
            worst < BACKEND_TOL,
            "{act}: largest weight difference {worst:e}"
        );
    }
}

#[cfg(not(feature = "ndarray"))]
#[test]
fn a_missing_backend_is_a_clear_error() {
    let msg = AdamConfig::default()
        .backend(fitbench_sgd::Backend::Ndarray)
        .validate()
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("adam.backend") && msg.contains("--features ndarray"),
        "{msg}"
    );
}

#[test]
fn a_step_with_a_cancelled_token_returns_at_once_and_changes_nothing() {
    use fitbench_core::{CancelToken, Cancelled, Error};
    let data = Split::new(&synthetic::friedman1(200, 5, 0.1, 2).unwrap(), 0.2, 0)
        .unwrap()
        .train;
    let arch = Architecture::new(vec![8], Activation::Tanh);
    let initial = Mlp::init(&arch, data.d(), data.k(), 1).unwrap();
    let mut config = AdamConfig::default();
    config.common.batch = 16;
    let mut t = config.init(&data, initial, 0).unwrap();
    t.step().unwrap();
    let before = t.params();
    t.set_cancel(CancelToken::new(std::sync::Arc::new(
        std::sync::atomic::AtomicBool::new(true),
    )));
    assert!(matches!(
        t.step(),
        Err(Error::Cancelled(Cancelled::Interrupted))
    ));
    assert_eq!(t.params(), before);
    // Cancelled between two mini-batches: the model is put back to where the epoch began.
    t.set_cancel(CancelToken::after_polls(4, Cancelled::Deadline));
    assert!(matches!(t.step(), Err(Error::Cancelled(_))));
    assert_eq!(t.params(), before);
}
