//! Tests of the `ols` reference trainer: known answers, identities and bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use faer::Mat;
use fitbench_core::{Architecture, Dataset, Mlp, StepOutcome, TrainerConfig, synthetic};
use fitbench_lsq::{OlsConfig, Solver};

/// Exact least-squares identities in f64.
const STRICT: f64 = 1e-10;

fn fit(config: &OlsConfig, data: &Dataset) -> fitbench_core::Result<Mlp> {
    config.validate()?;
    let arch = config.architecture(&Architecture::new(vec![8], fitbench_core::Activation::Tanh))?;
    let initial = Mlp::init(&arch, data.d(), data.k(), 0)?;
    let mut t = config.init(data, initial, 0)?;
    assert_eq!(t.step()?, StepOutcome::Converged);
    Ok(t.params())
}

fn planted() -> Dataset {
    // y = 2·x1 − 3·x2 + 1, no noise.
    let x = Mat::from_fn(20, 2, |i, j| {
        ((i * 7 + j * 3) % 11) as f64 - 5.0 + (j as f64) * 0.5 * (i as f64).sin()
    });
    let y = Mat::from_fn(20, 1, |i, _| 2.0 * x[(i, 0)] - 3.0 * x[(i, 1)] + 1.0);
    Dataset::new(
        "planted",
        x,
        y,
        vec!["x1".into(), "x2".into()],
        vec!["y".into()],
        "test",
    )
    .unwrap()
}

#[test]
fn recovers_a_known_linear_model_with_both_solvers() {
    for solver in [Solver::Cholesky, Solver::Qr] {
        let net = fit(&OlsConfig { ridge: 0.0, solver }, &planted()).unwrap();
        assert_eq!(net.widths, vec![2, 1], "ols is always linear");
        let w = &net.weights[0];
        assert!(
            (w[(0, 0)] - 2.0).abs() < STRICT,
            "{solver:?}: w1 = {}",
            w[(0, 0)]
        );
        assert!(
            (w[(0, 1)] + 3.0).abs() < STRICT,
            "{solver:?}: w2 = {}",
            w[(0, 1)]
        );
        assert!(
            (net.biases[0][0] - 1.0).abs() < STRICT,
            "{solver:?}: b = {}",
            net.biases[0][0]
        );
    }
}

#[test]
fn residual_is_orthogonal_to_the_design_and_solvers_agree() {
    let data = synthetic::friedman1(300, 10, 0.3, 11).unwrap();
    let chol = fit(&OlsConfig::default(), &data).unwrap();
    let qr = fit(
        &OlsConfig {
            ridge: 0.0,
            solver: Solver::Qr,
        },
        &data,
    )
    .unwrap();
    let pred = chol.forward(data.x.as_ref()).unwrap();
    let r: Vec<f64> = (0..data.n())
        .map(|i| data.y[(i, 0)] - pred[(i, 0)])
        .collect();
    let scale: f64 = r.iter().map(|v| v.abs()).sum::<f64>();
    for j in 0..data.d() {
        let dot: f64 = (0..data.n()).map(|i| data.x[(i, j)] * r[i]).sum();
        assert!(
            dot.abs() < STRICT * scale.max(1.0) * 100.0,
            "column {j}: xᵀr = {dot}"
        );
    }
    assert!(
        r.iter().sum::<f64>().abs() < STRICT * scale * 100.0,
        "intercept: 1ᵀr ≠ 0"
    );
    for j in 0..data.d() {
        assert!((chol.weights[0][(0, j)] - qr.weights[0][(0, j)]).abs() < 1e-8);
    }
}

#[test]
fn ridge_shrinks_weights_but_not_the_intercept() {
    let data = planted();
    let net = fit(
        &OlsConfig {
            ridge: 1e12,
            solver: Solver::Cholesky,
        },
        &data,
    )
    .unwrap();
    let mean_y = data.y.col_as_slice(0).iter().sum::<f64>() / data.n() as f64;
    assert!(net.weights[0][(0, 0)].abs() < 1e-6);
    assert!((net.biases[0][0] - mean_y).abs() < 1e-4);
    let qr = fit(
        &OlsConfig {
            ridge: 0.5,
            solver: Solver::Qr,
        },
        &data,
    )
    .unwrap();
    let chol = fit(
        &OlsConfig {
            ridge: 0.5,
            solver: Solver::Cholesky,
        },
        &data,
    )
    .unwrap();
    assert!((qr.weights[0][(0, 1)] - chol.weights[0][(0, 1)]).abs() < 1e-9);
}

#[test]
fn duplicated_columns_give_a_clear_error_or_a_finite_ridge_answer() {
    let base = planted();
    let x = Mat::from_fn(20, 3, |i, j| base.x[(i, j.min(1))]);
    let data = Dataset::new(
        "dup",
        x,
        base.y.clone(),
        vec!["a".into(), "b".into(), "b2".into()],
        vec!["y".into()],
        "",
    )
    .unwrap();
    for solver in [Solver::Cholesky, Solver::Qr] {
        let err = fit(&OlsConfig { ridge: 0.0, solver }, &data)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("singular") && err.contains("ridge"),
            "{solver:?}: {err}"
        );
    }
    let net = fit(
        &OlsConfig {
            ridge: 1e-6,
            solver: Solver::Cholesky,
        },
        &data,
    )
    .unwrap();
    assert!(net.is_finite());
    let mse = net.mse(data.x.as_ref(), data.y.as_ref()).unwrap();
    assert!(
        mse < 1e-6,
        "ridge fit of a noiseless planted model: mse {mse}"
    );
}

#[test]
fn invalid_ridge_is_rejected() {
    for ridge in [-1.0, f64::NAN, f64::INFINITY] {
        let err = OlsConfig {
            ridge,
            solver: Solver::Cholesky,
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(err.contains("ols.ridge"), "{err}");
    }
}

#[test]
fn flops_per_step_is_one_normal_equations_solve() {
    // n·p² + 2·n·p·k + p³/3 + 2·p²·k with p = d + 1 = 3, n = 20, k = 1.
    let data = planted();
    let t = OlsConfig::default()
        .init(
            &data,
            Mlp::init(&Architecture::linear(), 2, 1, 0).unwrap(),
            0,
        )
        .unwrap();
    let (n, p, k) = (20.0, 3.0, 1.0);
    let expected = n * p * p + 2.0 * n * p * k + p * p * p / 3.0 + 2.0 * p * p * k;
    assert_eq!(expected, 327.0);
    assert_eq!(t.flops_per_step(), Some(expected));
}
