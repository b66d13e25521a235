//! Data sets, networks and loops shared by the trainer tests.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use faer::Mat;
use fitbench_core::linalg::min_norm_lstsq;
use fitbench_core::{Activation, Architecture, Dataset, Mlp, StepOutcome, TrainerConfig, rng};

/// A data set named `test` with inputs `x` and targets `y`.
pub fn dataset(x: Mat<f64>, y: Mat<f64>) -> Dataset {
    let names = |m: usize, p: &str| (0..m).map(|j| format!("{p}{j}")).collect();
    let (d, k) = (x.ncols(), y.ncols());
    Dataset::new("test", x, y, names(d, "x"), names(k, "y"), "trainer test").unwrap()
}

/// y = x·B + c + noise, n×d inputs, k outputs.
pub fn linear_data(n: usize, d: usize, k: usize, seed: u64) -> Dataset {
    let mut r = rng::rng(seed);
    let x = Mat::from_fn(n, d, |_, _| rng::uniform(&mut r, -2.0, 2.0));
    let b = Mat::from_fn(d, k, |_, _| rng::uniform(&mut r, -1.0, 1.0));
    let y = Mat::from_fn(n, k, |i, j| {
        let mut v = 0.5 * j as f64 - 0.3;
        for c in 0..d {
            v += x[(i, c)] * b[(c, j)];
        }
        v + 0.3 * rng::uniform(&mut r, -1.0, 1.0)
    });
    dataset(x, y)
}

/// A smooth 2-input target with a little noise.
pub fn tanh_data(n: usize, seed: u64) -> Dataset {
    let mut r = rng::rng(seed);
    let x = Mat::from_fn(n, 2, |_, _| rng::uniform(&mut r, -1.5, 1.5));
    let y = Mat::from_fn(n, 1, |i, _| {
        (2.0 * x[(i, 0)]).sin() + x[(i, 0)] * x[(i, 1)] + 0.05 * rng::uniform(&mut r, -1.0, 1.0)
    });
    dataset(x, y)
}

pub fn tanh_net(seed: u64) -> Mlp {
    Mlp::init(&Architecture::new(vec![8], Activation::Tanh), 2, 1, seed).unwrap()
}

/// The train MSE after each step (stops early at `Converged`).
pub fn losses(config: &dyn TrainerConfig, data: &Dataset, net: Mlp, steps: usize) -> Vec<f64> {
    let mut trainer = config.init(data, net, 0).unwrap();
    let mut out = Vec::new();
    for _ in 0..steps {
        let outcome = trainer.step().unwrap();
        out.push(
            trainer
                .params()
                .mse(data.x.as_ref(), data.y.as_ref())
                .unwrap(),
        );
        if outcome == StepOutcome::Converged {
            break;
        }
    }
    out
}

/// The train MSE of the ordinary-least-squares fit (with intercept) of `data`.
pub fn ols_train_mse(data: &Dataset) -> f64 {
    let fit = min_norm_lstsq(data.x.as_ref(), data.y.as_ref(), None).unwrap();
    let (d, k) = (data.d(), data.k());
    let pred = Mat::from_fn(data.n(), k, |i, j| {
        (0..d)
            .map(|c| data.x[(i, c)] * fit.theta[(c, j)])
            .sum::<f64>()
            + fit.theta[(d, j)]
    });
    fitbench_core::mlp::mse_of(pred.as_ref(), data.y.as_ref())
}
