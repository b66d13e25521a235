//! The backprop engine checked against central finite differences, the Gauss–Newton identity
//! ∇L = (2/(n·k))·Jᵀr, the shared `Mlp::mse`, and on its bad inputs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use faer::Mat;
use fitbench_classic::engine::{self, Workspace};
use fitbench_core::{Activation, Architecture, Mlp, flops, rng};

/// Central-difference step in parameter space (error ≈ h²·f''' + ε/h ≈ 1e-10).
const FD_STEP: f64 = 1e-5;
/// Finite differences agree with the analytic derivative to this fraction of its max-norm.
const FD_REL: f64 = 1e-6;
/// The identity ∇L = (2/(n·k))·Jᵀr holds to this fraction of the gradient's max-norm
/// (two summation orders of the same products).
const IDENTITY_REL: f64 = 1e-12;
/// Pre-activations of (leaky) ReLU nets stay this far from the kink, so that a finite
/// difference never crosses it.
const KINK_MARGIN: f64 = 1e-3;

const N: usize = 9;
const D: usize = 3;
const K: usize = 2;

fn activations() -> [Activation; 6] {
    [
        Activation::Identity,
        Activation::Relu,
        Activation::LeakyRelu { alpha: 0.1 },
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Softplus,
    ]
}

/// Hidden widths for networks of 1, 2 and 3 layers.
fn depths() -> [Vec<usize>; 3] {
    [vec![], vec![4], vec![5, 4]]
}

fn data(seed: u64) -> (Mat<f64>, Mat<f64>) {
    let mut r = rng::rng(seed);
    let x = Mat::from_fn(N, D, |_, _| rng::uniform(&mut r, -1.5, 1.5));
    let y = Mat::from_fn(N, K, |_, _| rng::uniform(&mut r, -1.0, 1.0));
    (x, y)
}

/// Smallest |pre-activation| over every layer and row.
fn min_abs_pre(net: &Mlp, x: &Mat<f64>) -> f64 {
    let mut buf = fitbench_core::ForwardBuffers::new(net, x.nrows());
    net.forward_into(x.as_ref(), &mut buf, faer::Par::Seq)
        .unwrap();
    (0..net.n_layers())
        .flat_map(|l| {
            let z = buf.pre_activations(l);
            (0..z.ncols())
                .flat_map(move |j| (0..z.nrows()).map(move |i| z[(i, j)].abs()))
                .collect::<Vec<_>>()
        })
        .fold(f64::INFINITY, f64::min)
}

/// A network with `act` on every layer (the output too) and data on which, for (leaky) ReLU,
/// no pre-activation lies within `KINK_MARGIN` of the kink.
fn case(act: Activation, hidden: &[usize]) -> (Mlp, Mat<f64>, Mat<f64>) {
    let mut arch = Architecture::new(hidden.to_vec(), act);
    arch.output = act;
    let kinked = matches!(act, Activation::Relu | Activation::LeakyRelu { .. });
    for seed in 0..1000 {
        let net = Mlp::init(&arch, D, K, seed).unwrap();
        let (x, y) = data(seed + 10_000);
        if !kinked || min_abs_pre(&net, &x) > KINK_MARGIN {
            return (net, x, y);
        }
    }
    panic!("no seed keeps {act} away from its kink");
}

/// The loss by an independent route: `Mlp::mse` plus ½·l2·Σ‖W‖².
fn reference_loss(net: &Mlp, x: &Mat<f64>, y: &Mat<f64>, l2: f64) -> f64 {
    let penalty: f64 = net.weights.iter().map(|w| w.squared_norm_l2()).sum::<f64>();
    net.mse(x.as_ref(), y.as_ref()).unwrap() + 0.5 * l2 * penalty
}

fn max_abs(v: impl IntoIterator<Item = f64>) -> f64 {
    v.into_iter().fold(0.0, |m, x| m.max(x.abs()))
}

#[test]
fn gradient_matches_central_differences() {
    for act in activations() {
        for hidden in depths() {
            for l2 in [0.0, 0.1] {
                let (net, x, y) = case(act, &hidden);
                let p = engine::n_params(&net);
                let mut ws = Workspace::new(&net, N);
                let mut grad = vec![0.0; p];
                engine::loss_and_gradient(&net, x.as_ref(), y.as_ref(), l2, &mut ws, &mut grad)
                    .unwrap();

                let mut theta = vec![0.0; p];
                engine::flatten(&net, &mut theta).unwrap();
                let mut probe = net.clone();
                let mut fd = vec![0.0; p];
                for q in 0..p {
                    let mut t = theta.clone();
                    t[q] = theta[q] + FD_STEP;
                    engine::unflatten(&t, &mut probe).unwrap();
                    let plus = reference_loss(&probe, &x, &y, l2);
                    t[q] = theta[q] - FD_STEP;
                    engine::unflatten(&t, &mut probe).unwrap();
                    let minus = reference_loss(&probe, &x, &y, l2);
                    fd[q] = (plus - minus) / (2.0 * FD_STEP);
                }
                let scale = max_abs(grad.iter().copied());
                let err = max_abs(grad.iter().zip(&fd).map(|(g, f)| g - f));
                assert!(scale > 0.0, "{act} {hidden:?}: zero gradient");
                assert!(
                    err <= FD_REL * scale,
                    "{act} hidden {hidden:?} l2 {l2}: max |g − fd| = {err:e}, max |g| = {scale:e}"
                );
            }
        }
    }
}

#[test]
fn jacobian_matches_central_differences() {
    for act in activations() {
        for hidden in depths() {
            let (net, x, y) = case(act, &hidden);
            let p = engine::n_params(&net);
            let mut ws = Workspace::new(&net, N);
            let mut r = vec![0.0; N * K];
            let mut jac = Mat::zeros(N * K, p);
            engine::residuals_and_jacobian(
                &net,
                x.as_ref(),
                y.as_ref(),
                &mut ws,
                &mut r,
                jac.as_mut(),
            )
            .unwrap();

            // Residuals, column-major: r[j·n + i] = f(x)[i, j] − y[i, j].
            let out = net.forward(x.as_ref()).unwrap();
            for j in 0..K {
                for i in 0..N {
                    assert_eq!(
                        r[j * N + i],
                        out[(i, j)] - y[(i, j)],
                        "{act}: residual ({i}, {j})"
                    );
                }
            }

            let mut theta = vec![0.0; p];
            engine::flatten(&net, &mut theta).unwrap();
            let mut probe = net.clone();
            let mut fd = Mat::<f64>::zeros(N * K, p);
            for q in 0..p {
                let mut t = theta.clone();
                t[q] = theta[q] + FD_STEP;
                engine::unflatten(&t, &mut probe).unwrap();
                let plus = probe.forward(x.as_ref()).unwrap();
                t[q] = theta[q] - FD_STEP;
                engine::unflatten(&t, &mut probe).unwrap();
                let minus = probe.forward(x.as_ref()).unwrap();
                for j in 0..K {
                    for i in 0..N {
                        fd[(j * N + i, q)] = (plus[(i, j)] - minus[(i, j)]) / (2.0 * FD_STEP);
                    }
                }
            }
            let scale = max_abs(
                jac.col_iter()
                    .flat_map(|c| c.iter().copied().collect::<Vec<_>>()),
            );
            let err = max_abs(
                (0..p)
                    .flat_map(|q| (0..N * K).map(move |row| (row, q)))
                    .map(|(row, q)| jac[(row, q)] - fd[(row, q)]),
            );
            assert!(scale > 0.0, "{act} {hidden:?}: zero Jacobian");
            assert!(
                err <= FD_REL * scale,
                "{act} hidden {hidden:?}: max |J − fd| = {err:e}, max |J| = {scale:e}"
            );
        }
    }
}

#[test]
fn gradient_equals_scaled_jacobian_transpose_times_residuals() {
    const L2: f64 = 0.25;
    for act in activations() {
        for hidden in depths() {
            let (net, x, y) = case(act, &hidden);
            let p = engine::n_params(&net);
            let mut ws = Workspace::new(&net, N);
            let mut grad = vec![0.0; p];
            engine::loss_and_gradient(&net, x.as_ref(), y.as_ref(), L2, &mut ws, &mut grad)
                .unwrap();
            let mut r = vec![0.0; N * K];
            let mut jac = Mat::zeros(N * K, p);
            engine::residuals_and_jacobian(
                &net,
                x.as_ref(),
                y.as_ref(),
                &mut ws,
                &mut r,
                jac.as_mut(),
            )
            .unwrap();

            // The penalty's gradient l2·W on the weights, zero on the biases.
            let mut theta = vec![0.0; p];
            engine::flatten(&net, &mut theta).unwrap();
            let mut is_weight = vec![false; p];
            let mut off = 0;
            for w in net.widths.windows(2) {
                is_weight[off..off + w[0] * w[1]].fill(true);
                off += (w[0] + 1) * w[1];
            }

            let scale = 2.0 / (N * K) as f64;
            let expected: Vec<f64> = (0..p)
                .map(|q| {
                    let jtr: f64 = (0..N * K).map(|row| jac[(row, q)] * r[row]).sum();
                    scale * jtr + if is_weight[q] { L2 * theta[q] } else { 0.0 }
                })
                .collect();
            let norm = max_abs(grad.iter().copied());
            let err = max_abs(grad.iter().zip(&expected).map(|(g, e)| g - e));
            assert!(
                err <= IDENTITY_REL * norm,
                "{act} hidden {hidden:?}: max |∇L − (2/nk)Jᵀr − l2·W| = {err:e}, max |∇L| = {norm:e}"
            );
        }
    }
}

#[test]
fn loss_is_the_shared_mse_bit_for_bit() {
    for act in activations() {
        for hidden in depths() {
            let (net, x, y) = case(act, &hidden);
            let mut ws = Workspace::new(&net, N);
            let mut grad = vec![0.0; engine::n_params(&net)];
            let loss =
                engine::loss_and_gradient(&net, x.as_ref(), y.as_ref(), 0.0, &mut ws, &mut grad)
                    .unwrap();
            assert_eq!(
                loss,
                net.mse(x.as_ref(), y.as_ref()).unwrap(),
                "{act} {hidden:?}"
            );
            // With a penalty: + ½·l2·Σ‖W‖² (weights only).
            let with =
                engine::loss_and_gradient(&net, x.as_ref(), y.as_ref(), 0.5, &mut ws, &mut grad)
                    .unwrap();
            let expected = reference_loss(&net, &x, &y, 0.5);
            assert!(
                (with - expected).abs() <= 1e-15 * expected.abs(),
                "{act}: {with} vs {expected}"
            );
        }
    }
}

#[test]
fn flatten_unflatten_round_trips_in_the_documented_order() {
    let arch = Architecture::new(vec![4, 3], Activation::Tanh);
    let net = Mlp::init(&arch, D, K, 5).unwrap();
    let p = engine::n_params(&net);
    assert_eq!(p, (3 + 1) * 4 + (4 + 1) * 3 + (3 + 1) * 2);
    let mut theta = vec![0.0; p];
    engine::flatten(&net, &mut theta).unwrap();
    // Layer 0: W row-major (4×3), then its 4 biases; then layer 1.
    assert_eq!(theta[0], net.weights[0][(0, 0)]);
    assert_eq!(theta[1], net.weights[0][(0, 1)]);
    assert_eq!(theta[3], net.weights[0][(1, 0)]);
    assert_eq!(theta[12], net.biases[0][0]);
    assert_eq!(theta[15], net.biases[0][3]);
    assert_eq!(theta[16], net.weights[1][(0, 0)]);
    assert_eq!(theta[p - 1], net.biases[2][1]);

    let mut back = net.clone();
    engine::unflatten(&vec![0.0; p], &mut back).unwrap();
    assert!(back.weights.iter().all(|w| w.squared_norm_l2() == 0.0));
    engine::unflatten(&theta, &mut back).unwrap();
    assert_eq!(back, net);
}

#[test]
fn repeated_calls_with_one_workspace_are_identical() {
    let (net, x, y) = case(Activation::Tanh, &[5, 4]);
    let other = Mlp::init(&Architecture::new(vec![5, 4], Activation::Tanh), D, K, 77).unwrap();
    let p = engine::n_params(&net);
    let mut ws = Workspace::new(&net, N);
    let (mut g1, mut g2) = (vec![0.0; p], vec![0.0; p]);
    let l1 =
        engine::loss_and_gradient(&net, x.as_ref(), y.as_ref(), 0.1, &mut ws, &mut g1).unwrap();
    // A call on other parameters in between must leave nothing behind.
    engine::loss_and_gradient(&other, x.as_ref(), y.as_ref(), 0.1, &mut ws, &mut g2).unwrap();
    let l2 =
        engine::loss_and_gradient(&net, x.as_ref(), y.as_ref(), 0.1, &mut ws, &mut g2).unwrap();
    assert_eq!(l1.to_bits(), l2.to_bits());
    assert_eq!(g1, g2);

    let (mut r1, mut r2) = (vec![0.0; N * K], vec![0.0; N * K]);
    let (mut j1, mut j2) = (Mat::zeros(N * K, p), Mat::zeros(N * K, p));
    engine::residuals_and_jacobian(&net, x.as_ref(), y.as_ref(), &mut ws, &mut r1, j1.as_mut())
        .unwrap();
    engine::residuals_and_jacobian(
        &other,
        x.as_ref(),
        y.as_ref(),
        &mut ws,
        &mut r2,
        j2.as_mut(),
    )
    .unwrap();
    engine::residuals_and_jacobian(&net, x.as_ref(), y.as_ref(), &mut ws, &mut r2, j2.as_mut())
        .unwrap();
    assert_eq!(r1, r2);
    assert_eq!(j1, j2);
}

#[test]
fn activation_loops_clear_the_upper_vector_state() {
    let (net, x, y) = case(Activation::Tanh, &[5, 4]);
    let mut ws = Workspace::new(&net, N);
    let mut grad = vec![0.0; engine::n_params(&net)];
    let before = fitbench_core::simd::guard_calls();
    engine::loss_and_gradient(&net, x.as_ref(), y.as_ref(), 0.0, &mut ws, &mut grad).unwrap();
    // 3 in the forward pass, 1 for the output delta, 2 for the hidden deltas.
    assert_eq!(fitbench_core::simd::guard_calls() - before, 6);
}

#[test]
fn flop_counts_follow_the_core_convention() {
    let widths = [3, 4, 2];
    assert_eq!(
        engine::gradient_flops(&widths, 10),
        flops::gradient(&widths, 10)
    );
    assert_eq!(engine::gradient_flops(&widths, 10), 6.0 * 10.0 * 20.0);
    // forward 400 + k·forward 800 + n·k·p = 10·2·26 = 520.
    assert_eq!(engine::jacobian_flops(&widths, 10), 400.0 + 800.0 + 520.0);
}

#[test]
fn bad_inputs_are_rejected_with_a_message() {
    let (net, x, y) = case(Activation::Tanh, &[4]);
    let p = engine::n_params(&net);
    let mut ws = Workspace::new(&net, N);
    let mut grad = vec![0.0; p];

    let err = engine::flatten(&net, &mut vec![0.0; p + 1])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("flatten") && err.contains(&format!("{p} parameters")),
        "{err}"
    );
    let mut copy = net.clone();
    let err = engine::unflatten(&vec![1.0; p - 1], &mut copy)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unflatten"), "{err}");
    assert_eq!(copy, net, "a failed unflatten leaves the network unchanged");

    let err = engine::loss_and_gradient(
        &net,
        x.as_ref(),
        y.as_ref(),
        0.0,
        &mut ws,
        &mut vec![0.0; p - 1],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("gradient"), "{err}");

    let short_y = Mat::zeros(N - 1, K);
    let err =
        engine::loss_and_gradient(&net, x.as_ref(), short_y.as_ref(), 0.0, &mut ws, &mut grad)
            .unwrap_err()
            .to_string();
    assert!(err.contains("targets"), "{err}");

    let mut wrong_ws = Workspace::new(&net, N + 1);
    let err =
        engine::loss_and_gradient(&net, x.as_ref(), y.as_ref(), 0.0, &mut wrong_ws, &mut grad)
            .unwrap_err()
            .to_string();
    assert!(
        err.contains("workspace") && err.contains(&format!("{N} rows")),
        "{err}"
    );

    for l2 in [-1.0, f64::NAN] {
        let err = engine::loss_and_gradient(&net, x.as_ref(), y.as_ref(), l2, &mut ws, &mut grad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("l2"), "{err}");
    }

    let mut r = vec![0.0; N * K];
    let mut jac = Mat::zeros(N * K, p + 1);
    let err =
        engine::residuals_and_jacobian(&net, x.as_ref(), y.as_ref(), &mut ws, &mut r, jac.as_mut())
            .unwrap_err()
            .to_string();
    assert!(err.contains("Jacobian"), "{err}");
}
