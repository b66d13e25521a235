//! The multi-layer perceptron every trainer produces, its seeded initialiser, and the ONE
//! f64 forward pass and mean-squared error the harness uses for every trainer.

use crate::activation::Activation;
use crate::error::{Error, Result};
use crate::rng;
use faer::linalg::matmul::matmul;
use faer::{Accum, Col, Mat, MatRef, Par};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The shape of a network, independent of the input and output widths of a dataset:
/// hidden widths, the activation of every hidden layer, and the output activation.
///
/// `hidden = []` is a linear (affine) model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Architecture {
    /// Widths of the hidden layers, input side first.
    pub hidden: Vec<usize>,
    /// Activation of every hidden layer.
    pub activation: Activation,
    /// Activation of the output layer (identity for regression).
    pub output: Activation,
}

impl Architecture {
    /// A linear model `y = xWᵀ + b`.
    pub fn linear() -> Self {
        Self {
            hidden: vec![],
            activation: Activation::Identity,
            output: Activation::Identity,
        }
    }

    /// Hidden widths with one activation and an identity output.
    pub fn new(hidden: Vec<usize>, activation: Activation) -> Self {
        Self {
            hidden,
            activation,
            output: Activation::Identity,
        }
    }

    /// Rejects zero widths and invalid activation parameters.
    pub fn validate(&self) -> Result<()> {
        if let Some(i) = self.hidden.iter().position(|&w| w == 0) {
            return Err(Error::config(
                format!("hidden width {}", i + 1),
                0,
                "every hidden layer needs width ≥ 1",
            ));
        }
        self.activation.validate()?;
        self.output.validate()
    }

    /// Layer widths `[d, h₁, …, k]` for inputs of width `d` and `k` outputs.
    pub fn widths(&self, d: usize, k: usize) -> Vec<usize> {
        std::iter::once(d)
            .chain(self.hidden.iter().copied())
            .chain(std::iter::once(k))
            .collect()
    }

    /// Per-layer activations (`hidden.len() + 1` entries).
    pub fn activations(&self) -> Vec<Activation> {
        let mut a = vec![self.activation; self.hidden.len()];
        a.push(self.output);
        a
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.hidden.is_empty() {
            return write!(f, "linear");
        }
        let h: Vec<String> = self.hidden.iter().map(|w| w.to_string()).collect();
        write!(f, "hidden [{}] {}", h.join(","), self.activation)?;
        if self.output != Activation::Identity {
            write!(f, ", output {}", self.output)?;
        }
        Ok(())
    }
}

/// A fully connected network: `A₀ = X`, `Zₗ = Aₗ₋₁Wₗᵀ + 1bₗᵀ`, `Aₗ = σₗ(Zₗ)`.
///
/// `weights[l]` is `widths[l+1] × widths[l]`, `biases[l]` has `widths[l+1]` entries.
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp {
    /// Layer widths `[d, h₁, …, k]`.
    pub widths: Vec<usize>,
    /// One activation per layer.
    pub activations: Vec<Activation>,
    /// Weight matrices, input side first.
    pub weights: Vec<Mat<f64>>,
    /// Bias vectors, input side first.
    pub biases: Vec<Col<f64>>,
}

impl Mlp {
    /// The shared seeded initialiser: every weight and bias of layer `l` is drawn from
    /// U(−1/√fan_in, 1/√fan_in) (PyTorch's `nn.Linear` default), layer by layer from the input
    /// side, weights row by row and then the biases, from one `ChaCha8Rng` seeded with `seed`.
    ///
    /// Every trainer of a run that trains the same architecture receives a clone of this
    /// network, so they all start from bit-identical weights.
    pub fn init(arch: &Architecture, d: usize, k: usize, seed: u64) -> Result<Self> {
        arch.validate()?;
        if d == 0 || k == 0 {
            return Err(Error::config(
                "network input/output width",
                format!("{d}/{k}"),
                "must be ≥ 1",
            ));
        }
        let widths = arch.widths(d, k);
        let mut r = rng::rng(seed);
        let mut weights = Vec::with_capacity(widths.len() - 1);
        let mut biases = Vec::with_capacity(widths.len() - 1);
        for l in 0..widths.len() - 1 {
            let (fan_in, fan_out) = (widths[l], widths[l + 1]);
            let bound = 1.0 / (fan_in as f64).sqrt();
            let mut w = Mat::zeros(fan_out, fan_in);
            for i in 0..fan_out {
                for j in 0..fan_in {
                    w[(i, j)] = rng::uniform(&mut r, -bound, bound);
                }
            }
            let b = Col::from_fn(fan_out, |_| rng::uniform(&mut r, -bound, bound));
            weights.push(w);
            biases.push(b);
        }
        Ok(Self {
            widths,
            activations: arch.activations(),
            weights,
            biases,
        })
    }

    /// Builds a network from parts, checking every shape.
    pub fn from_parts(
        activations: Vec<Activation>,
        weights: Vec<Mat<f64>>,
        biases: Vec<Col<f64>>,
    ) -> Result<Self> {
        if weights.is_empty() || weights.len() != biases.len() || weights.len() != activations.len()
        {
            return Err(Error::Shape {
                context: "Mlp::from_parts".into(),
                expected: "equal, non-zero numbers of weights, biases and activations".into(),
                got: format!("{}, {}, {}", weights.len(), biases.len(), activations.len()),
            });
        }
        let mut widths = vec![weights[0].ncols()];
        for (l, (w, b)) in weights.iter().zip(&biases).enumerate() {
            if w.ncols() != widths[l] || b.nrows() != w.nrows() {
                return Err(Error::Shape {
                    context: format!("layer {}", l + 1),
                    expected: format!(
                        "weights with {} columns and a bias of {} entries",
                        widths[l],
                        w.nrows()
                    ),
                    got: format!(
                        "{}×{} weights and {} biases",
                        w.nrows(),
                        w.ncols(),
                        b.nrows()
                    ),
                });
            }
            widths.push(w.nrows());
        }
        Ok(Self {
            widths,
            activations,
            weights,
            biases,
        })
    }

    /// Number of layers L (weight matrices).
    pub fn n_layers(&self) -> usize {
        self.weights.len()
    }

    /// Input width d.
    pub fn input_width(&self) -> usize {
        self.widths[0]
    }

    /// Output width k.
    pub fn output_width(&self) -> usize {
        self.widths[self.widths.len() - 1]
    }

    /// Total number of weights and biases.
    pub fn n_params(&self) -> usize {
        self.widths.windows(2).map(|w| (w[0] + 1) * w[1]).sum()
    }

    /// Whether every parameter is finite.
    pub fn is_finite(&self) -> bool {
        self.weights
            .iter()
            .all(|w| crate::data::first_non_finite(w.as_ref()).is_none())
            && self.biases.iter().all(|b| b.iter().all(|v| v.is_finite()))
    }

    /// The network output for inputs `x` (n×d), computed in f64 with `par`.
    pub fn forward_with(&self, x: MatRef<'_, f64>, par: Par) -> Result<Mat<f64>> {
        if x.ncols() != self.input_width() {
            return Err(Error::Shape {
                context: "Mlp::forward".into(),
                expected: format!("{} input columns", self.input_width()),
                got: format!("{}", x.ncols()),
            });
        }
        let mut a: Option<Mat<f64>> = None;
        for l in 0..self.n_layers() {
            let input = a.as_ref().map_or(x, |m| m.as_ref());
            let mut z = Mat::zeros(x.nrows(), self.widths[l + 1]);
            matmul(
                z.as_mut(),
                Accum::Replace,
                input,
                self.weights[l].transpose(),
                1.0,
                par,
            );
            let act = self.activations[l];
            crate::simd::clear_upper_state();
            for j in 0..z.ncols() {
                let b = self.biases[l][j];
                for v in z.col_as_slice_mut(j) {
                    *v = act.value(*v + b);
                }
            }
            a = Some(z);
        }
        // n_layers ≥ 1 by construction, so `a` is set.
        a.ok_or_else(|| Error::InvalidData("network has no layers".into()))
    }

    /// [`Mlp::forward_with`] using faer's global parallelism setting.
    pub fn forward(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        self.forward_with(x, faer::get_global_parallelism())
    }

    /// Mean squared error `‖f(X) − Y‖²_F / (n·k)` in f64: the one loss every trainer is
    /// scored with. Returns NaN or infinity (not an error) when the network's output is
    /// non-finite, so a diverging run can be recorded as such.
    pub fn mse(&self, x: MatRef<'_, f64>, y: MatRef<'_, f64>) -> Result<f64> {
        if y.nrows() != x.nrows() || y.ncols() != self.output_width() {
            return Err(Error::Shape {
                context: "Mlp::mse".into(),
                expected: format!("{}×{} targets", x.nrows(), self.output_width()),
                got: format!("{}×{}", y.nrows(), y.ncols()),
            });
        }
        let out = self.forward(x)?;
        Ok(mse_of(out.as_ref(), y))
    }
}

/// `‖a − b‖²_F / (rows·cols)` for equally shaped matrices.
pub fn mse_of(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> f64 {
    let mut s = 0.0;
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            let r = a[(i, j)] - b[(i, j)];
            s += r * r;
        }
    }
    s / (a.nrows() * a.ncols()) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOL: f64 = 1e-12;

    #[test]
    fn init_is_deterministic_and_bounded() {
        let arch = Architecture::new(vec![5, 3], Activation::Tanh);
        let a = Mlp::init(&arch, 4, 1, 9).unwrap();
        assert_eq!(a, Mlp::init(&arch, 4, 1, 9).unwrap());
        assert_ne!(a, Mlp::init(&arch, 4, 1, 10).unwrap());
        assert_eq!(a.widths, vec![4, 5, 3, 1]);
        assert_eq!(a.n_params(), 5 * 5 + 3 * 6 + 4);
        for (l, w) in a.weights.iter().enumerate() {
            let bound = 1.0 / (a.widths[l] as f64).sqrt();
            assert!(
                w.col_iter()
                    .flat_map(|c| c.iter().copied().collect::<Vec<_>>())
                    .all(|v| v.abs() <= bound)
            );
        }
    }

    #[test]
    fn forward_matches_hand_computation() {
        // 1 → 2 (relu) → 1: f(x) = 1·relu(2x − 1) − 3·relu(−x + 0.5) + 0.25
        let w1 = Mat::from_fn(2, 1, |i, _| [2.0, -1.0][i]);
        let b1 = Col::from_fn(2, |i| [-1.0, 0.5][i]);
        let w2 = Mat::from_fn(1, 2, |_, j| [1.0, -3.0][j]);
        let b2 = Col::from_fn(1, |_| 0.25);
        let net = Mlp::from_parts(
            vec![Activation::Relu, Activation::Identity],
            vec![w1, w2],
            vec![b1, b2],
        )
        .unwrap();
        let x = Mat::from_fn(3, 1, |i, _| [0.0, 1.0, 2.0][i]);
        let out = net.forward(x.as_ref()).unwrap();
        let expected = [0.25 - 1.5, 1.0 + 0.25, 3.0 + 0.25];
        for i in 0..3 {
            assert!((out[(i, 0)] - expected[i]).abs() < TOL);
        }
        let y = Mat::from_fn(3, 1, |i, _| expected[i] + 1.0);
        assert!((net.mse(x.as_ref(), y.as_ref()).unwrap() - 1.0).abs() < TOL);
    }

    #[test]
    fn shape_errors_are_reported() {
        let net = Mlp::init(&Architecture::linear(), 3, 1, 0).unwrap();
        assert!(net.forward(Mat::<f64>::zeros(2, 4).as_ref()).is_err());
        assert!(
            net.mse(
                Mat::<f64>::zeros(2, 3).as_ref(),
                Mat::<f64>::zeros(3, 1).as_ref()
            )
            .is_err()
        );
        assert!(Mlp::init(&Architecture::new(vec![0], Activation::Tanh), 3, 1, 0).is_err());
    }
}
