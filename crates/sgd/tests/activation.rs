//! Tests of the fused smooth activations (`fitbench_sgd::activation`): values, derivatives,
//! copy-on-write, and agreement with burn's own operations inside a training run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use burn::tensor::{DType, Device, Tensor, TensorData};
use fitbench_core::{Activation, Architecture, Mlp, Split, TrainerConfig, synthetic, vmath};
use fitbench_sgd::activation::{Fused, smooth};
use fitbench_sgd::{AdamConfig, Backend, Kernels, Precision};

/// The fused f64 derivative against the analytic one (both from rounded values).
const DERIV_F64_TOL: f64 = 1e-14;
/// The fused f32 derivative against the f64 analytic one: one f32 rounding of y and of the
/// result.
const DERIV_F32_TOL: f64 = 1e-6;
/// Weights after three Adam epochs, fused against burn's kernels, f64: the two compute tanh,
/// sigmoid and softplus by different formulas (a few ulp apart).
const RUN_F64_TOL: f64 = 1e-9;
/// The same in f32.
const RUN_F32_TOL: f64 = 1e-4;

const ALPHA: f64 = 0.1;
const KINDS: [Fused; 4] = [
    Fused::Tanh,
    Fused::Sigmoid,
    Fused::Softplus,
    Fused::LeakyRelu { alpha: ALPHA },
];

/// The burn devices of this build, plain and with autodiff.
fn devices() -> Vec<(&'static str, Device)> {
    let mut out = vec![];
    #[cfg(feature = "flex")]
    out.extend([
        ("flex", Device::flex()),
        ("flex+autodiff", Device::flex().autodiff()),
    ]);
    #[cfg(feature = "ndarray")]
    #[allow(deprecated)]
    out.extend([
        ("ndarray", Device::ndarray()),
        ("ndarray+autodiff", Device::ndarray().autodiff()),
    ]);
    assert!(!out.is_empty(), "no burn backend is compiled in");
    out
}

fn backends() -> Vec<Backend> {
    [Backend::Flex, Backend::Ndarray]
        .into_iter()
        .filter(|b| b.is_available())
        .collect()
}

fn f(kind: Fused, x: f64) -> f64 {
    match kind {
        Fused::Tanh => vmath::tanh(x),
        Fused::Sigmoid => vmath::sigmoid(x),
        Fused::Softplus => vmath::softplus(x),
        Fused::LeakyRelu { alpha } => {
            if x > 0.0 {
                x
            } else {
                alpha * x
            }
        }
    }
}

fn f_prime(kind: Fused, x: f64) -> f64 {
    match kind {
        Fused::Tanh => 1.0 - x.tanh().powi(2),
        Fused::Sigmoid => {
            let s = 1.0 / (1.0 + (-x).exp());
            s * (1.0 - s)
        }
        Fused::Softplus => 1.0 / (1.0 + (-x).exp()),
        Fused::LeakyRelu { alpha } => {
            if x > 0.0 {
                1.0
            } else {
                alpha
            }
        }
    }
}

/// Points across the activations' whole range, saturated ends included.
fn points() -> Vec<f64> {
    (0..400).map(|i| -40.0 + 0.2 * i as f64).collect()
}

fn tensor(xs: &[f64], dtype: DType, device: &Device) -> Tensor<2> {
    Tensor::<2>::from_data(
        TensorData::new(xs.to_vec(), [xs.len() / 2, 2]),
        (device, dtype),
    )
}

#[test]
fn the_fused_forward_is_the_vmath_kernel_on_every_backend_and_dtype() {
    let xs = points();
    for (name, device) in devices() {
        for kind in KINDS {
            let y64: Vec<f64> = smooth(tensor(&xs, DType::F64, &device), kind)
                .into_data()
                .iter::<f64>()
                .collect();
            let y32: Vec<f32> = smooth(tensor(&xs, DType::F32, &device), kind)
                .into_data()
                .iter::<f32>()
                .collect();
            for (i, x) in xs.iter().enumerate() {
                assert_eq!(
                    y64[i].to_bits(),
                    f(kind, *x).to_bits(),
                    "{name} {kind:?} f64 at {x}"
                );
                // f32: the f64 kernel of the f32 input, rounded once; leaky ReLU's slope is
                // rounded to f32 first, as burn does (then the product is burn's f32 one).
                let x32 = f64::from(*x as f32);
                let kind32 = match kind {
                    Fused::LeakyRelu { alpha } => Fused::LeakyRelu {
                        alpha: f64::from(alpha as f32),
                    },
                    other => other,
                };
                assert_eq!(y32[i], f(kind32, x32) as f32, "{name} {kind:?} f32 at {x}");
            }
        }
    }
}

#[test]
fn the_fused_forward_leaves_a_tensor_someone_else_holds_unchanged() {
    // burn shares buffers between clones; the in-place kernel must copy a shared one first,
    // on the untracked path and on the tracked one (which also saves a state).
    let xs = points();
    for (name, device) in devices() {
        for dtype in [DType::F32, DType::F64] {
            for kind in KINDS {
                for tracked in [false, true] {
                    let mut x = tensor(&xs, dtype, &device);
                    if tracked && name.contains("autodiff") {
                        x = x.require_grad();
                    }
                    let kept = x.clone();
                    let _ = smooth(x, kind);
                    let after: Vec<f64> = kept.into_data().iter::<f64>().collect();
                    let want: Vec<f64> = tensor(&xs, dtype, &device)
                        .into_data()
                        .iter::<f64>()
                        .collect();
                    assert_eq!(
                        after, want,
                        "{name} {dtype:?} {kind:?}: the held input changed"
                    );
                }
            }
        }
    }
}

#[test]
fn the_fused_backward_is_the_derivative_on_every_backend_and_dtype() {
    let xs = points();
    for (name, device) in devices()
        .into_iter()
        .filter(|(n, _)| n.contains("autodiff"))
    {
        for kind in KINDS {
            for (dtype, tol) in [(DType::F64, DERIV_F64_TOL), (DType::F32, DERIV_F32_TOL)] {
                let x = tensor(&xs, dtype, &device).require_grad();
                let grads = smooth(x.clone(), kind).sum().backward();
                let g: Vec<f64> = x.grad(&grads).unwrap().into_data().iter::<f64>().collect();
                for (i, xv) in xs.iter().enumerate() {
                    let xr = if dtype == DType::F32 {
                        f64::from(*xv as f32)
                    } else {
                        *xv
                    };
                    let want = f_prime(kind, xr);
                    // From the output y, tanh′ = 1 − y² and σ′ = y(1 − y) cancel where y is
                    // near ±1 (as in burn's and torch's backward): absolute there. softplus′ =
                    // σ(x), saved by the forward pass, keeps its relative accuracy everywhere.
                    let scale = match kind {
                        Fused::Softplus | Fused::LeakyRelu { .. } => want.abs(),
                        _ => 1.0,
                    };
                    assert!(
                        (g[i] - want).abs() <= tol * scale,
                        "{name} {kind:?} {dtype:?}: f'({xv}) = {} against {want}",
                        g[i]
                    );
                }
            }
        }
    }
}

#[test]
fn fused_and_burn_kernels_train_the_same_network() {
    let data = Split::new(&synthetic::smooth2d(120, 0.1, 1).unwrap(), 0.2, 0)
        .unwrap()
        .train;
    for backend in backends() {
        for act in [
            Activation::Tanh,
            Activation::Sigmoid,
            Activation::Softplus,
            Activation::LeakyRelu { alpha: ALPHA },
        ] {
            for (precision, tol) in [(Precision::F64, RUN_F64_TOL), (Precision::F32, RUN_F32_TOL)] {
                let run = |kernels: Kernels| {
                    let net = Mlp::init(&Architecture::new(vec![8, 4], act), 2, 1, 3).unwrap();
                    let c = AdamConfig::default()
                        .lr(1e-2)
                        .precision(precision)
                        .backend(backend)
                        .kernels(kernels);
                    let mut t = c.init(&data, net, 5).unwrap();
                    for _ in 0..3 {
                        t.step().unwrap();
                    }
                    t.params()
                };
                let (a, b) = (run(Kernels::Fitbench), run(Kernels::Burn));
                let mut worst = 0.0_f64;
                for l in 0..a.n_layers() {
                    for j in 0..a.weights[l].ncols() {
                        for i in 0..a.weights[l].nrows() {
                            worst = worst.max((a.weights[l][(i, j)] - b.weights[l][(i, j)]).abs());
                        }
                    }
                }
                assert!(
                    worst < tol,
                    "{backend:?} {act} {precision:?}: largest weight difference {worst:e}"
                );
                if let Activation::LeakyRelu { .. } = act {
                    // The same products in the same order: bit for bit (so the gate's
                    // leaky-ReLU cells do not move).
                    assert_eq!(a, b, "{backend:?} {act} {precision:?}");
                } else {
                    assert_ne!(
                        a, b,
                        "{backend:?} {act} {precision:?}: the kernel choice changed nothing"
                    );
                }
            }
        }
    }
}

#[test]
fn the_fused_kernels_are_deterministic() {
    let data = Split::new(&synthetic::smooth2d(120, 0.1, 1).unwrap(), 0.2, 0)
        .unwrap()
        .train;
    let run = || {
        let net = Mlp::init(&Architecture::new(vec![8], Activation::Softplus), 2, 1, 3).unwrap();
        let mut t = AdamConfig::default().lr(1e-2).init(&data, net, 5).unwrap();
        for _ in 0..3 {
            t.step().unwrap();
        }
        t.params()
    };
    assert_eq!(run(), run());
}
