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
    /// How the network is parametrised and initialised (reports before it was recorded read
    /// as [`Parametrisation::Standard`], the only one fitbench has had).
    #[serde(default)]
    pub parametrisation: Parametrisation,
}

/// How a network is parametrised and initialised: design choices that decide whether
/// gradient descent trains well (Welper 2020, arXiv 2007.13664), so every report names them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Parametrisation {
    /// Standard parametrisation (`Z = A Wᵀ + b`, no width scaling); weights and biases drawn
    /// i.i.d. from U(−1/√fan_in, 1/√fan_in), as PyTorch's `nn.Linear`, from the init seed
    /// ([`Mlp::init`]).
    #[default]
    Standard,
}

impl Parametrisation {
    /// One sentence for reports.
    pub fn describe(self) -> &'static str {
        match self {
            Parametrisation::Standard => {
                "standard parametrisation (Z = A Wᵀ + b, no width scaling); weights and biases U(±1/√fan_in) as PyTorch's nn.Linear, drawn from the init seed"
            }
        }
    }
}

impl Architecture {
    /// A linear model `y = xWᵀ + b`.
    pub fn linear() -> Self {
        Self {
            hidden: vec![],
            activation: Activation::Identity,
            output: Activation::Identity,
            parametrisation: Parametrisation::Standard,
        }
    }

    /// Hidden widths with one activation and an identity output.
    pub fn new(hidden: Vec<usize>, activation: Activation) -> Self {
        Self {
            hidden,
            activation,
            output: Activation::Identity,
            parametrisation: Parametrisation::Standard,
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

    /// Fails unless `x` has one column per input of the network.
    fn check_input(&self, x: MatRef<'_, f64>, context: &str) -> Result<()> {
        if x.ncols() != self.input_width() {
            return Err(Error::Shape {
                context: context.into(),
                expected: format!("{} input columns", self.input_width()),
                got: format!("{}", x.ncols()),
            });
        }
        Ok(())
    }

    /// Layer `l` (0-based: `weights[l]`) of the forward pass, shared by every forward pass:
    /// `pre = input·Wₗᵀ + 1bₗᵀ` and `σₗ(pre)`, written into `out`, or over `pre` itself when
    /// `out` is `None`. `pre` (and `out`) must be n×`widths[l + 1]`.
    ///
    /// The activation loop follows a faer matmul, so it clears the upper vector state first
    /// (see [`crate::simd`]).
    fn layer_into(
        &self,
        l: usize,
        input: MatRef<'_, f64>,
        pre: &mut Mat<f64>,
        out: Option<&mut Mat<f64>>,
        par: Par,
    ) {
        matmul(
            pre.as_mut(),
            Accum::Replace,
            input,
            self.weights[l].transpose(),
            1.0,
            par,
        );
        let act = self.activations[l];
        crate::simd::clear_upper_state();
        match out {
            None => {
                for j in 0..pre.ncols() {
                    act.apply_shifted_in_place(pre.col_as_slice_mut(j), self.biases[l][j]);
                }
            }
            Some(out) => {
                for j in 0..pre.ncols() {
                    act.shift_and_apply_into(
                        pre.col_as_slice_mut(j),
                        self.biases[l][j],
                        out.col_as_slice_mut(j),
                    );
                }
            }
        }
    }

    /// The network output for inputs `x` (n×d), computed in f64 with `par`.
    ///
    /// Allocates one n×mₗ matrix per layer and keeps only the output; to keep every layer's
    /// pre-activations and activations in buffers allocated once, use [`Mlp::forward_into`]
    /// (same arithmetic, bit-identical output).
    pub fn forward_with(&self, x: MatRef<'_, f64>, par: Par) -> Result<Mat<f64>> {
        self.check_input(x, "Mlp::forward")?;
        let n = x.nrows();
        let n_layers = self.n_layers();
        if n_layers == 0 {
            return Err(Error::InvalidData("network has no layers".into()));
        }
        // Blocks of rows: the hidden layers' buffers (FORWARD_BLOCK rows each) stay in cache
        // and are reused, instead of n×h matrices allocated (and page-faulted) per layer.
        // Every output row is computed from its own input row only, so blocking changes no
        // value (tested against the unblocked pass).
        let block = n.clamp(1, FORWARD_BLOCK);
        let mut hidden: Vec<Mat<f64>> = self.widths[1..n_layers]
            .iter()
            .map(|&m| Mat::zeros(block, m))
            .collect();
        let mut out = Mat::zeros(n, self.output_width());
        let mut last = Mat::zeros(block, self.output_width());
        let mut r0 = 0;
        while r0 < n {
            let len = block.min(n - r0);
            let rows = x.subrows(r0, len);
            for l in 0..n_layers {
                let (done, rest) = hidden.split_at_mut(l);
                let input = done.last().map_or(rows, |m| m.as_ref().subrows(0, len));
                let target = match rest.first_mut() {
                    Some(h) => h,
                    None => &mut last,
                };
                if target.nrows() != len {
                    target.resize_with(len, target.ncols(), |_, _| 0.0);
                }
                self.layer_into(l, input, target, None, par);
            }
            out.as_mut().subrows_mut(r0, len).copy_from(last.as_ref());
            r0 += len;
        }
        Ok(out)
    }

    /// The forward pass over the n rows of `x` with `par`, writing every layer's
    /// pre-activations `Zₗ = Aₗ₋₁Wₗᵀ + 1bₗᵀ` and activations `Aₗ = σₗ(Zₗ)` into `buffers`
    /// (built by [`ForwardBuffers::new`] for this network's widths and n rows). Allocates
    /// nothing; the output is [`ForwardBuffers::output`], bit-identical to [`Mlp::forward_with`].
    ///
    /// Pass `faer::get_global_parallelism()` for the setting [`Mlp::forward`] uses.
    pub fn forward_into(
        &self,
        x: MatRef<'_, f64>,
        buffers: &mut ForwardBuffers,
        par: Par,
    ) -> Result<()> {
        self.check_input(x, "Mlp::forward_into")?;
        if buffers.widths != self.widths || buffers.n != x.nrows() {
            return Err(Error::Shape {
                context: "Mlp::forward_into buffers".into(),
                expected: format!(
                    "buffers for widths {:?} and {} rows",
                    self.widths,
                    x.nrows()
                ),
                got: format!("widths {:?} and {} rows", buffers.widths, buffers.n),
            });
        }
        for l in 0..self.n_layers() {
            let (done, rest) = buffers.activations.split_at_mut(l);
            let input = done.last().map_or(x, |m| m.as_ref());
            self.layer_into(l, input, &mut buffers.pre[l], Some(&mut rest[0]), par);
        }
        Ok(())
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

/// Rows per block of [`Mlp::forward_with`]: 256 rows × 64 units of f64 are 128 KiB, inside
/// the L2 cache of current x86 cores.
pub const FORWARD_BLOCK: usize = 256;

/// Caller-owned buffers of one forward pass over n rows: every layer's pre-activations and
/// activations, allocated once by [`ForwardBuffers::new`] and filled by [`Mlp::forward_into`].
///
/// Layers are numbered from 0 like [`Mlp::weights`]: layer `l` maps `Aₗ` (with `A₀ = X`) to
/// [`ForwardBuffers::pre_activations`]`(l)` = `AₗWᵀ + 1bᵀ` (with `weights[l]`, `biases[l]`)
/// and [`ForwardBuffers::activations`]`(l)` = σ of it.
#[derive(Clone, Debug)]
pub struct ForwardBuffers {
    n: usize,
    widths: Vec<usize>,
    /// `pre[l]`: pre-activations of layer `l`, n×`widths[l + 1]`.
    pre: Vec<Mat<f64>>,
    /// `activations[l]`: activations of layer `l`, n×`widths[l + 1]`.
    activations: Vec<Mat<f64>>,
}

impl ForwardBuffers {
    /// Zeroed buffers for a forward pass of `mlp` (or any network with its widths) over `n` rows.
    pub fn new(mlp: &Mlp, n: usize) -> Self {
        let layers = || mlp.widths[1..].iter().map(|&m| Mat::zeros(n, m));
        Self {
            n,
            widths: mlp.widths.clone(),
            pre: layers().collect(),
            activations: layers().collect(),
        }
    }

    /// Number of rows n.
    pub fn n_rows(&self) -> usize {
        self.n
    }

    /// Layer widths `[d, h₁, …, k]` the buffers were built for.
    pub fn widths(&self) -> &[usize] {
        &self.widths
    }

    /// Pre-activations of layer `l` (0-based), n×`widths[l + 1]`. Panics if `l` is not a layer.
    pub fn pre_activations(&self, l: usize) -> MatRef<'_, f64> {
        self.pre[l].as_ref()
    }

    /// Activations of layer `l` (0-based), n×`widths[l + 1]`. Panics if `l` is not a layer.
    pub fn activations(&self, l: usize) -> MatRef<'_, f64> {
        self.activations[l].as_ref()
    }

    /// The network output (the last layer's activations), n×k.
    pub fn output(&self) -> MatRef<'_, f64> {
        self.activations(self.activations.len() - 1)
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

    /// A 4 → 5 → 3 → 2 tanh network and 7 rows of inputs.
    fn small_case() -> (Mlp, Mat<f64>) {
        let arch = Architecture::new(vec![5, 3], Activation::Tanh);
        let net = Mlp::init(&arch, 4, 2, 3).unwrap();
        let x = Mat::from_fn(7, 4, |i, j| ((i * 4 + j) as f64 * 0.37).sin() * 2.0);
        (net, x)
    }

    fn bits(m: MatRef<'_, f64>) -> Vec<u64> {
        m.col_iter()
            .flat_map(|c| c.iter().map(|v| v.to_bits()).collect::<Vec<_>>())
            .collect()
    }

    #[test]
    fn forward_into_matches_forward_and_keeps_every_layer() {
        let (net, x) = small_case();
        let mut buffers = ForwardBuffers::new(&net, x.nrows());
        assert_eq!((buffers.n_rows(), buffers.widths()), (7, &[4, 5, 3, 2][..]));
        net.forward_into(x.as_ref(), &mut buffers, Par::Seq)
            .unwrap();
        let out = net.forward_with(x.as_ref(), Par::Seq).unwrap();
        assert_eq!(bits(buffers.output()), bits(out.as_ref()), "bit-identical");
        // Zₗ = Aₗ₋₁Wₗᵀ + 1bₗᵀ by hand, and Aₗ = σ(Zₗ), for every layer.
        for l in 0..net.n_layers() {
            let input = if l == 0 {
                x.as_ref()
            } else {
                buffers.activations(l - 1)
            };
            let (z, a) = (buffers.pre_activations(l), buffers.activations(l));
            assert_eq!((z.nrows(), z.ncols()), (7, net.widths[l + 1]));
            for i in 0..7 {
                for j in 0..net.widths[l + 1] {
                    let expected = net.biases[l][j]
                        + (0..net.widths[l])
                            .map(|c| input[(i, c)] * net.weights[l][(j, c)])
                            .sum::<f64>();
                    assert!(
                        (z[(i, j)] - expected).abs() < TOL,
                        "layer {l} z[{i},{j}] = {} vs {expected}",
                        z[(i, j)]
                    );
                    assert_eq!(a[(i, j)], net.activations[l].value(z[(i, j)]));
                }
            }
        }
        // The buffers are reused: a second pass overwrites every entry.
        let x2 = Mat::from_fn(7, 4, |i, j| (i as f64 - j as f64) * 0.25);
        net.forward_into(x2.as_ref(), &mut buffers, Par::Seq)
            .unwrap();
        let out2 = net.forward_with(x2.as_ref(), Par::Seq).unwrap();
        assert_eq!(bits(buffers.output()), bits(out2.as_ref()));
    }

    #[test]
    fn the_blocked_forward_pass_gives_the_unblocked_one_bit_for_bit() {
        // Row counts around the block size, with remainders; two hidden layers.
        for act in [Activation::Tanh, Activation::LeakyRelu { alpha: 0.1 }] {
            let net = Mlp::init(&Architecture::new(vec![64, 9], act), 16, 3, 5).unwrap();
            for n in [
                1,
                FORWARD_BLOCK - 1,
                FORWARD_BLOCK,
                FORWARD_BLOCK + 1,
                1_000,
                2_900,
            ] {
                let x = Mat::from_fn(n, 16, |i, j| ((i * 16 + j) as f64 * 0.013).sin() * 3.0);
                let mut buffers = ForwardBuffers::new(&net, n);
                net.forward_into(x.as_ref(), &mut buffers, Par::Seq)
                    .unwrap();
                let blocked = net.forward_with(x.as_ref(), Par::Seq).unwrap();
                assert_eq!(
                    bits(blocked.as_ref()),
                    bits(buffers.output()),
                    "{act}, n = {n}"
                );
            }
        }
    }

    #[test]
    fn forward_into_rejects_mismatched_buffers() {
        let (net, x) = small_case();
        let mut wrong_rows = ForwardBuffers::new(&net, 6);
        assert!(
            net.forward_into(x.as_ref(), &mut wrong_rows, Par::Seq)
                .is_err()
        );
        let other = Mlp::init(&Architecture::new(vec![6, 3], Activation::Tanh), 4, 2, 0).unwrap();
        let mut wrong_widths = ForwardBuffers::new(&other, 7);
        assert!(
            net.forward_into(x.as_ref(), &mut wrong_widths, Par::Seq)
                .is_err()
        );
        let mut buffers = ForwardBuffers::new(&net, 7);
        let narrow = Mat::<f64>::zeros(7, 3);
        assert!(
            net.forward_into(narrow.as_ref(), &mut buffers, Par::Seq)
                .is_err()
        );
    }

    #[test]
    fn every_forward_pass_clears_the_upper_state_before_each_activation_loop() {
        // The values cannot show a missing `vzeroupper` (only the speed of libm can), so count
        // the calls: one per layer, each between the layer's matmul and its activation loop.
        let (net, x) = small_case();
        let layers = net.n_layers() as u64;
        let mut buffers = ForwardBuffers::new(&net, x.nrows());
        let before = crate::simd::guard_calls();
        net.forward_into(x.as_ref(), &mut buffers, Par::Seq)
            .unwrap();
        assert_eq!(crate::simd::guard_calls() - before, layers, "forward_into");
        let before = crate::simd::guard_calls();
        net.forward(x.as_ref()).unwrap();
        assert_eq!(crate::simd::guard_calls() - before, layers, "forward");
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
