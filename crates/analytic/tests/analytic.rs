//! Tests of the analytic two-layer solver (reconstruction of Barbu 2023): the two critical
//! points, monotone true loss, recovery of a planted teacher, dead units, bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use faer::Mat;
use fitbench_analytic::{Analytic, AnalyticConfig, HiddenSolve, Safeguard};
use fitbench_core::{
    Activation, Architecture, Dataset, Mlp, Split, Trainer, TrainerConfig, synthetic,
};

/// Gradient tolerance at an exact least-squares critical point (λ = 0, f64).
const GRAD_TOL: f64 = 1e-7;
/// Finite-difference step.
const H: f64 = 1e-6;

fn data(n: usize, d: usize, seed: u64) -> Dataset {
    Split::new(&synthetic::friedman1(n, d, 0.1, seed).unwrap(), 0.2, 0)
        .unwrap()
        .train
}

fn trainer(
    config: AnalyticConfig,
    data: &Dataset,
    act: Activation,
    h: usize,
    seed: u64,
) -> Analytic {
    let arch = config
        .architecture(&Architecture::new(vec![h], act))
        .unwrap();
    Analytic::new(config, data, Mlp::init(&arch, data.d(), 1, seed).unwrap()).unwrap()
}

fn loss(m: &Mlp, d: &Dataset) -> f64 {
    m.mse(d.x.as_ref(), d.y.as_ref()).unwrap()
}

#[test]
fn after_the_output_solve_the_gradient_in_beta_vanishes() {
    let d = data(200, 6, 1);
    let mut t = trainer(
        AnalyticConfig {
            lambda: 0.0,
            ..AnalyticConfig::default()
        },
        &d,
        Activation::LeakyRelu { alpha: 0.1 },
        8,
        2,
    );
    t.solve_output().unwrap();
    let m = t.params();
    for j in 0..8 {
        let (mut a, mut b) = (m.clone(), m.clone());
        a.weights[1][(0, j)] += H;
        b.weights[1][(0, j)] -= H;
        let g = (loss(&a, &d) - loss(&b, &d)) / (2.0 * H);
        assert!(g.abs() < GRAD_TOL, "∂L/∂β{j} = {g}");
    }
    let (mut a, mut b) = (m.clone(), m.clone());
    a.biases[1][0] += H;
    b.biases[1][0] -= H;
    assert!(((loss(&a, &d) - loss(&b, &d)) / (2.0 * H)).abs() < GRAD_TOL);
}

#[test]
fn the_hidden_solve_is_a_critical_point_of_the_fixed_pattern_surrogate() {
    let d = data(200, 5, 3);
    for act in [Activation::Relu, Activation::LeakyRelu { alpha: 0.1 }] {
        let mut t = trainer(
            AnalyticConfig {
                lambda: 0.0,
                hidden_solve: HiddenSolve::Joint,
                ..AnalyticConfig::default()
            },
            &d,
            act,
            6,
            4,
        );
        t.solve_output().unwrap();
        let pattern = t.pattern();
        let w_ls = t.hidden_least_squares().unwrap();
        let m = t.params();
        let (h, q) = (6, d.d() + 1);
        // Surrogate: the pattern D stays fixed while W moves.
        let surrogate = |w: &Mat<f64>| {
            let mut s = 0.0;
            for i in 0..d.n() {
                let mut f = m.biases[1][0];
                for j in 0..h {
                    let z: f64 = (0..q)
                        .map(|c| w[(j, c)] * if c < d.d() { d.x[(i, c)] } else { 1.0 })
                        .sum();
                    f += m.weights[1][(0, j)] * pattern[(i, j)] * z;
                }
                s += (f - d.y[(i, 0)]).powi(2);
            }
            s / d.n() as f64
        };
        for j in 0..h {
            for c in [0, q - 1] {
                let (mut a, mut b) = (w_ls.clone(), w_ls.clone());
                a[(j, c)] += H;
                b[(j, c)] -= H;
                let g = (surrogate(&a) - surrogate(&b)) / (2.0 * H);
                assert!(g.abs() < GRAD_TOL, "{act}: ∂S/∂W[{j},{c}] = {g}");
            }
        }
    }
}

#[test]
fn with_the_safeguard_the_true_loss_never_increases() {
    let d = data(300, 10, 5);
    for (act, solve) in [
        (Activation::Relu, HiddenSolve::Joint),
        (Activation::LeakyRelu { alpha: 0.1 }, HiddenSolve::Joint),
        (Activation::Relu, HiddenSolve::PerNeuron),
    ] {
        let mut t = trainer(
            AnalyticConfig {
                hidden_solve: solve,
                ..AnalyticConfig::default()
            },
            &d,
            act,
            16,
            6,
        );
        let mut last = loss(&t.params(), &d);
        let first = last;
        for s in 0..25 {
            t.step().unwrap();
            let now = loss(&t.params(), &d);
            assert!(
                now <= last * (1.0 + 1e-12),
                "{act} {solve:?} step {s}: {last} → {now}"
            );
            last = now;
        }
        assert!(last < 0.5 * first, "{act} {solve:?}: {first} → {last}");
    }
}

#[test]
fn a_perturbed_planted_teacher_is_recovered() {
    // Teacher 4 → 6 → 1 ReLU without noise; start from its weights plus a small perturbation.
    let raw = synthetic::teacher(600, 4, &[6], Activation::Relu, 0.0, 9).unwrap();
    let arch = Architecture::new(vec![6], Activation::Relu);
    let mut teacher = Mlp::init(&arch, 4, 1, 0).unwrap();
    let data = raw;
    let exact = fitbench_core::synthetic::teacher_network(4, &[6], Activation::Relu, 9).unwrap();
    let mut r = fitbench_core::rng::rng(1);
    for l in 0..2 {
        for i in 0..exact.weights[l].nrows() {
            for j in 0..exact.weights[l].ncols() {
                teacher.weights[l][(i, j)] =
                    exact.weights[l][(i, j)] + 0.05 * fitbench_core::rng::normal(&mut r);
            }
            teacher.biases[l][i] = exact.biases[l][i] + 0.05 * fitbench_core::rng::normal(&mut r);
        }
    }
    let before = loss(&teacher, &data);
    let mut t = Analytic::new(
        AnalyticConfig {
            lambda: 1e-10,
            ..AnalyticConfig::default()
        },
        &data,
        teacher,
    )
    .unwrap();
    for _ in 0..30 {
        t.step().unwrap();
    }
    let after = loss(&t.params(), &data);
    assert!(after < 1e-6, "{before} → {after}");
}

#[test]
fn dead_units_stay_finite() {
    let d = data(150, 5, 7);
    let arch = Architecture::new(vec![4], Activation::Relu);
    let mut m = Mlp::init(&arch, 5, 1, 1).unwrap();
    // Unit 0 is dead on every sample: a huge negative bias.
    m.biases[0][0] = -1e3;
    let mut t = Analytic::new(AnalyticConfig::default(), &d, m).unwrap();
    for _ in 0..5 {
        t.step().unwrap();
    }
    assert!(t.params().is_finite());
}

#[test]
fn invalid_knobs_and_architectures_are_rejected() {
    for (c, what) in [
        (
            AnalyticConfig {
                lambda: -1.0,
                ..AnalyticConfig::default()
            },
            "analytic.lambda",
        ),
        (
            AnalyticConfig {
                eta: 0.0,
                ..AnalyticConfig::default()
            },
            "analytic.eta",
        ),
        (
            AnalyticConfig {
                auto_threshold: 0,
                ..AnalyticConfig::default()
            },
            "analytic.auto_threshold",
        ),
    ] {
        let msg = c.validate().unwrap_err().to_string();
        assert!(msg.contains(what), "{msg}");
    }
    let c = AnalyticConfig::default();
    for arch in [
        Architecture::new(vec![8, 8], Activation::Relu),
        Architecture::new(vec![8], Activation::Tanh),
    ] {
        let msg = c.architecture(&arch).unwrap_err().to_string();
        assert!(msg.contains("two-layer") && msg.contains("relu"), "{msg}");
    }
    let _ = Safeguard::Damping;
}
