//! Tests of the `ols` reference trainer: known answers, identities and bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use faer::Mat;
use fitbench_core::linalg::min_norm_lstsq;
use fitbench_core::{
    Architecture, Dataset, Mlp, Split, StepOutcome, Trainer, TrainerConfig, synthetic,
};
use fitbench_lsq::{Ols, OlsConfig, Solver};

/// Exact least-squares identities in f64.
const STRICT: f64 = 1e-10;
/// Agreement of a rank-deficient fit with the independently computed minimum-norm answer
/// (planted data of magnitude ~10, 20 rows).
const MIN_NORM_TOL: f64 = 1e-9;

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
        let net = fit(
            &OlsConfig {
                ridge: 0.0,
                solver,
                ..OlsConfig::default()
            },
            &planted(),
        )
        .unwrap();
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
            ..OlsConfig::default()
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
            ..OlsConfig::default()
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
            ..OlsConfig::default()
        },
        &data,
    )
    .unwrap();
    let chol = fit(
        &OlsConfig {
            ridge: 0.5,
            solver: Solver::Cholesky,
            ..OlsConfig::default()
        },
        &data,
    )
    .unwrap();
    assert!((qr.weights[0][(0, 1)] - chol.weights[0][(0, 1)]).abs() < 1e-9);
}

/// The minimum-norm answer computed independently: OLS by the normal equations (solved by
/// Cramer's rule) on the de-duplicated design `[x1 x2 1]` of `planted()`.
fn reference_on_deduplicated_design(data: &Dataset) -> (f64, f64, f64) {
    let n = data.n();
    let cols = |i: usize| [data.x[(i, 0)], data.x[(i, 1)], 1.0];
    let mut g = [[0.0; 3]; 3];
    let mut r = [0.0; 3];
    for i in 0..n {
        let (c, y) = (cols(i), data.y[(i, 0)]);
        for a in 0..3 {
            r[a] += c[a] * y;
            for b in 0..3 {
                g[a][b] += c[a] * c[b];
            }
        }
    }
    // Cramer's rule on the 3×3 normal equations.
    let det = |m: [[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det(g);
    let t: Vec<f64> = (0..3)
        .map(|c| {
            let mut m = g;
            for (row, rhs) in m.iter_mut().zip(r) {
                row[c] = rhs;
            }
            det(m) / d
        })
        .collect();
    (t[0], t[1], t[2])
}

/// `planted()` with extra columns: `extra(i, x)` gives row i's extra values from its (x1, x2).
fn planted_with(names: &[&str], extra: impl Fn(usize, [f64; 2]) -> Vec<f64>) -> Dataset {
    let base = planted();
    let rows: Vec<Vec<f64>> = (0..base.n())
        .map(|i| {
            let x = [base.x[(i, 0)], base.x[(i, 1)]];
            let mut row = x.to_vec();
            row.extend(extra(i, x));
            row
        })
        .collect();
    let d = rows[0].len();
    let mut feature_names = vec!["x1".to_string(), "x2".to_string()];
    feature_names.extend(names.iter().map(|s| s.to_string()));
    Dataset::new(
        "planted-extra",
        Mat::from_fn(base.n(), d, |i, j| rows[i][j]),
        base.y.clone(),
        feature_names,
        vec!["y".into()],
        "test",
    )
    .unwrap()
}

fn trained(config: &OlsConfig, data: &Dataset) -> Ols {
    config.validate().unwrap();
    let mut t = Ols::new(
        config.clone(),
        data,
        Mlp::init(&Architecture::linear(), data.d(), data.k(), 0).unwrap(),
    )
    .unwrap();
    assert_eq!(t.step().unwrap(), StepOutcome::Converged);
    t
}

#[test]
fn a_constant_column_in_the_training_split_gives_the_min_norm_solution() {
    // Column "c" is 3.0 on every row: collinear with the intercept. OLS used to fail with
    // "singular system" (and its hint solver=qr failed the same way).
    let data = planted_with(&["c"], |_, _| vec![3.0]);
    let (w1, w2, b) = reference_on_deduplicated_design(&planted());
    for solver in [Solver::Cholesky, Solver::Qr] {
        let config = OlsConfig {
            solver,
            ..OlsConfig::default()
        };
        let t = trained(&config, &data);
        let net = t.params();
        assert!(net.is_finite(), "{solver:?}");
        let w = &net.weights[0];
        // Minimum norm: the constant column's weight is 0 (the intercept absorbs it).
        assert!(
            w[(0, 2)].abs() < MIN_NORM_TOL,
            "{solver:?}: w_c = {}",
            w[(0, 2)]
        );
        for (got, want) in [(w[(0, 0)], w1), (w[(0, 1)], w2), (net.biases[0][0], b)] {
            assert!(
                (got - want).abs() < MIN_NORM_TOL,
                "{solver:?}: {got} vs {want}"
            );
        }
        assert_eq!(t.rank(), Some(3), "{solver:?}: rank of [x1 x2 c 1]");
        assert_eq!(t.dependent_features(), ["c"], "{solver:?}");
        let pred = net.forward(data.x.as_ref()).unwrap();
        for i in 0..data.n() {
            let want = w1 * data.x[(i, 0)] + w2 * data.x[(i, 1)] + b;
            assert!(
                (pred[(i, 0)] - want).abs() < MIN_NORM_TOL,
                "{solver:?}: row {i}"
            );
        }
    }
    // The same through a standardised split (the real path): the constant column is dropped
    // by the standardiser (all zeros) and the reference still fits.
    let split = Split::new(&data, 0.2, 4).unwrap();
    assert_eq!(split.dropped_features(), ["c"]);
    let t = trained(&OlsConfig::default(), &split.train);
    let mse = t
        .params()
        .mse(split.test.x.as_ref(), split.test.y.as_ref())
        .unwrap();
    assert!(mse < 1e-18, "noiseless planted model, test mse {mse}");
    assert_eq!(t.rank(), Some(3));
}

#[test]
fn two_identical_columns_give_equal_weights_and_the_min_norm_solution() {
    // "x2b" duplicates x2: y = 2·x1 − 3·x2 + 1 has infinitely many solutions; the minimum-norm
    // one splits −3 equally between the two copies.
    let data = planted_with(&["x2b"], |_, x| vec![x[1]]);
    let (w1, w2, b) = reference_on_deduplicated_design(&planted());
    for solver in [Solver::Cholesky, Solver::Qr] {
        let config = OlsConfig {
            solver,
            ..OlsConfig::default()
        };
        let t = trained(&config, &data);
        let net = t.params();
        let w = &net.weights[0];
        assert!(
            (w[(0, 1)] - w[(0, 2)]).abs() < MIN_NORM_TOL,
            "{solver:?}: {w:?}"
        );
        for (got, want) in [
            (w[(0, 0)], w1),
            (w[(0, 1)], w2 / 2.0),
            (w[(0, 2)], w2 / 2.0),
            (net.biases[0][0], b),
        ] {
            assert!(
                (got - want).abs() < MIN_NORM_TOL,
                "{solver:?}: {got} vs {want}"
            );
        }
        assert_eq!(t.rank(), Some(3), "{solver:?}");
        assert_eq!(t.dependent_features(), ["x2", "x2b"], "{solver:?}");
        let mse = net.mse(data.x.as_ref(), data.y.as_ref()).unwrap();
        assert!(mse < 1e-20, "{solver:?}: noiseless fit, mse {mse}");
    }
    // With a ridge the Cholesky solve is certified, and its answer is the ridge solution.
    let net = fit(
        &OlsConfig {
            ridge: 1e-6,
            ..OlsConfig::default()
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
fn a_full_rank_design_keeps_the_configured_solver_and_reports_full_rank() {
    let data = synthetic::friedman1(300, 10, 0.3, 11).unwrap();
    for solver in [Solver::Cholesky, Solver::Qr] {
        let t = trained(
            &OlsConfig {
                solver,
                ..OlsConfig::default()
            },
            &data,
        );
        assert_eq!(t.rank(), Some(11));
        assert!(t.dependent_features().is_empty());
        let svd = min_norm_lstsq(data.x.as_ref(), data.y.as_ref(), None).unwrap();
        assert_eq!(svd.rank, 11);
        for j in 0..10 {
            let (a, b) = (t.params().weights[0][(0, j)], svd.theta[(j, 0)]);
            assert!(
                (a - b).abs() < 1e-8 * b.abs().max(1.0),
                "{solver:?} w{j}: {a} vs {b}"
            );
        }
    }
    // A ridge solve does not reveal the rank.
    let t = trained(
        &OlsConfig {
            ridge: 1.0,
            ..OlsConfig::default()
        },
        &data,
    );
    assert_eq!(t.rank(), None);
}

#[test]
fn rank_tol_is_an_option_recorded_in_the_config_and_decides_the_rank() {
    use fitbench_core::registry::DynTrainerConfig;
    let defaults = OlsConfig::default().to_json();
    assert!(defaults["rank_tol"].is_null(), "{defaults}");
    let config = OlsConfig {
        rank_tol: Some(1e-10),
        ..OlsConfig::default()
    };
    assert_eq!(config.to_json()["rank_tol"], 1e-10);
    // x3 = x1 + 1e-7·noise: nearly collinear. At the default tolerance it is full rank; at
    // rank_tol = 1e-3 it counts as a dependence and the minimum-norm path runs.
    let data = planted_with(&["x3"], |i, x| {
        vec![x[0] + 1e-7 * ((i * 5 % 7) as f64 - 3.0)]
    });
    let t = trained(&OlsConfig::default(), &data);
    assert_eq!(t.rank(), Some(4));
    let loose = trained(
        &OlsConfig {
            rank_tol: Some(1e-3),
            ..OlsConfig::default()
        },
        &data,
    );
    assert_eq!(loose.rank(), Some(3));
    assert_eq!(loose.dependent_features(), ["x1", "x3"]);
    let w = &loose.params().weights[0];
    assert!((w[(0, 0)] - w[(0, 2)]).abs() < 1e-4, "{w:?}");
    for tol in [-1e-3, 1.0, f64::NAN] {
        let err = OlsConfig {
            rank_tol: Some(tol),
            ..OlsConfig::default()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(err.contains("ols.rank_tol"), "{err}");
    }
}

#[test]
fn invalid_ridge_is_rejected() {
    for ridge in [-1.0, f64::NAN, f64::INFINITY] {
        let err = OlsConfig {
            ridge,
            ..OlsConfig::default()
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
