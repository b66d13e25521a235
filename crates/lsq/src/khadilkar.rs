//! The least-squares trainer `lsq` for multi-layer nets: a **reconstruction** of Khadilkar
//! (2023), "Using Linear Regression for Iteratively Training Neural Networks",
//! arXiv 2307.05189.
//!
//! Only the paper's abstract was available. It says: work backwards from the output to the
//! "ideal" total input of every neuron through invertible activations, then each layer's
//! weights and biases solve a linear least-squares problem; iterate between the parameters
//! and the activation values. Everything below that sentence (the target equation, the
//! damping η, the ridges λₐ and λ_w, the clipping ε, the update order, best-so-far
//! tracking) is our reconstruction, not the paper's. Every knob is configurable and is
//! written into every report together with `"reconstruction": true`.
//!
//! Notation: `A₀ = X`, `Zₗ = Aₗ₋₁Wₗᵀ + 1bₗᵀ`, `Aₗ = σₗ(Zₗ)`, `Θₗ = [Wₗᵀ; bₗᵀ]`.
//! One `step` (order [`Order::Sweep`], the default):
//! 1. `Z_L* = σ_L⁻¹(clip(y))` (y itself for an identity output).
//! 2. Backward targets for l = L…2:
//!    `A* = ((Zₗ* − 1bₗᵀ)Wₗ + λₐAₗ₋₁)(WₗᵀWₗ + λₐI)⁻¹`, `A_tgt = (1−η)Aₗ₋₁ + ηA*`, clipped
//!    into the open range of σₗ₋₁ by ε, and `Zₗ₋₁* = σₗ₋₁⁻¹(A_tgt)`.
//! 3. Forward refit for l = 1…L: `Θₗ = argmin ‖[Aₗ₋₁ 1]Θ − Zₗ*‖² + λ_w‖Θ‖²` on the
//!    *refreshed* activations of the layers below, then `Aₗ = σₗ([Aₗ₋₁ 1]Θₗ)`. The last
//!    layer is therefore the exact ridge solution for the current hidden features, and
//!    `A_L` is the network's output, so the step's training MSE costs nothing extra.
//! 4. Best-so-far: the loss is not monotone, so [`Trainer::params`] returns the best
//!    iterate (by training MSE) and [`Trainer::current_params`] the latest.
//!
//! [`Order::Interleaved`] is the literal reading of the abstract: for l = L…1, refit Θₗ on
//! the current Aₗ₋₁, then invert through the *new* Wₗ to get Zₗ₋₁*; a forward pass follows.
//!
//! Flops per step (sweep, Cholesky), in the convention of [`fitbench_core::flops`] (a
//! multiply-add is 2 flops), with pₗ = mₗ₋₁ + 1 (the ones column of `[Aₗ₋₁ 1]`):
//! - backward target, per l ≥ 2: 2mₗ₋₁²mₗ (the Gram WₗᵀWₗ) + 2n·mₗmₗ₋₁ (the right-hand side
//!   Zₗ*Wₗ) + mₗ₋₁³/3 (Cholesky) + 2n·mₗ₋₁² (triangular solves for n right-hand sides);
//! - refit, per l: the normal equations of an n×pₗ design with mₗ right-hand sides,
//!   n·pₗ² + 2n·pₗmₗ + pₗ³/3 + 2pₗ²mₗ ([`flops::normal_equations`]);
//! - refresh, per l: `[Aₗ₋₁ 1]Θₗ`, i.e. the forward pass of layer l ([`flops::forward`],
//!   2n·mₗ₋₁mₗ) plus the bias, which this trainer multiplies in as the ones column
//!   (2n·mₗ more), 2n·pₗmₗ in all;
//!
//! about n·Σ(3mₗ₋₁² + 6mₗ₋₁mₗ) + Σ⅔mₗ₋₁³ in all; O(m²) terms (the bias shift Θ_top·b) and
//! element-wise work (inverses, activations) are not counted. All buffers are allocated in
//! `init`.
//!
//! Cancellation: a step polls its [`CancelToken`] before every layer's solve and, in the
//! solves and products larger than [`fitbench_core::linalg::POLL_FLOPS`], every block of
//! rows, columns or Cholesky panel. A cancelled step restores Θ from a copy taken at its
//! start (the activations are recomputed by the next step) and returns
//! [`Error::Cancelled`]; [`Trainer::params`] (the best iterate) is untouched by a step until
//! it ends.

use crate::error::{LsqError, Result};
use crate::ols::Solver;
use faer::dyn_stack::MemBuffer;
use faer::linalg::cholesky::llt::factor::cholesky_in_place_scratch;
use faer::linalg::matmul::matmul;
use faer::{Accum, Col, Mat, Par};
use fitbench_core::linalg::{
    CHOLESKY_PANEL, NormalEquations, PINV_REL_TOL, PIVOT_RATIO_THRESHOLD,
    cholesky_pivot_ratio_cancellable, llt_solve_cancellable, matmul_cancellable, pinv_solve,
    pivot_ratio, svd_lstsq,
};
use fitbench_core::registry::{Capabilities, TrainerEntry};
use fitbench_core::{
    Activation, Architecture, CancelToken, Dataset, Error, Mlp, StepOutcome, Trainer,
    TrainerConfig, flops,
};
use serde::{Deserialize, Serialize};

/// The order of target computation and refitting within a step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// All backward targets through the current weights, then a forward refit of every layer
    /// on refreshed activations (the default; "variant B").
    #[default]
    Sweep,
    /// Per layer from the output: refit, then invert through the new weights ("variant A").
    Interleaved,
}

/// How each layer's refit weighs its samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weighting {
    /// Plain least squares on the pre-activation targets (the reading of the abstract).
    #[default]
    None,
    /// OUR ADDITION, not in the abstract: unit j of layer l is refitted with sample weights
    /// σ'(zᵢⱼ)² at the current pre-activations, i.e. a first-order fit in activation space
    /// (a Gauss–Newton step). Costs one Gram matrix per unit instead of one per layer.
    Derivative,
}

/// Configuration of the `lsq` trainer (a reconstruction; see the module docs).
///
/// | name | default | purpose | range |
/// |---|---|---|---|
/// | `eta` | 1.0 | mixing of the ideal activations into the current ones | (0, 1] |
/// | `lambda_a` | 1e-2 | proximity ridge of the backward target solve | ≥ 0 |
/// | `lambda_w` | 1e-6 | ridge of every layer's refit (biases included) | ≥ 0 |
/// | `eps` | 1e-3 | clipping margin before inverting a bounded activation | (0, 0.5) |
/// | `order` | `sweep` | `sweep` or `interleaved` | |
/// | `solver` | `cholesky` | refit solver: `cholesky` (in place) or `qr` (allocates per solve) | |
/// | `weighting` | `none` | refit sample weights: `none` or `derivative` (our addition) | |
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LsqConfig {
    /// Mixing η ∈ (0, 1].
    pub eta: f64,
    /// Backward-target ridge λₐ ≥ 0.
    pub lambda_a: f64,
    /// Refit ridge λ_w ≥ 0.
    pub lambda_w: f64,
    /// Clipping margin ε ∈ (0, 0.5).
    pub eps: f64,
    /// Update order.
    pub order: Order,
    /// Refit solver.
    pub solver: Solver,
    /// Refit sample weighting.
    pub weighting: Weighting,
    /// Always `true`: the algorithm is a reconstruction, not the paper's (recorded in reports;
    /// `false` is rejected).
    #[serde(deserialize_with = "fitbench_core::registry::always_true")]
    pub reconstruction: bool,
}

impl Default for LsqConfig {
    fn default() -> Self {
        Self {
            eta: 1.0,
            lambda_a: 1e-2,
            lambda_w: 1e-6,
            eps: 1e-3,
            order: Order::Sweep,
            solver: Solver::Cholesky,
            weighting: Weighting::None,
            reconstruction: true,
        }
    }
}

impl TrainerConfig for LsqConfig {
    fn validate(&self) -> fitbench_core::Result<()> {
        if !(self.eta > 0.0 && self.eta <= 1.0) {
            return Err(Error::config(
                "lsq.eta",
                self.eta,
                "the mixing factor must lie in (0, 1], e.g. lsq:eta=1",
            ));
        }
        if !(self.lambda_a.is_finite() && self.lambda_a >= 0.0) {
            return Err(Error::config(
                "lsq.lambda_a",
                self.lambda_a,
                "the target ridge must be a finite number ≥ 0, e.g. 1e-2",
            ));
        }
        if !(self.lambda_w.is_finite() && self.lambda_w >= 0.0) {
            return Err(Error::config(
                "lsq.lambda_w",
                self.lambda_w,
                "the refit ridge must be a finite number ≥ 0, e.g. 1e-6",
            ));
        }
        if self.weighting == Weighting::Derivative && self.solver == Solver::Qr {
            return Err(Error::config(
                "lsq.weighting",
                "derivative",
                "the derivative-weighted refit is implemented with solver=cholesky only",
            ));
        }
        if !(self.eps > 0.0 && self.eps < 0.5) {
            return Err(Error::config(
                "lsq.eps",
                self.eps,
                "the clipping margin must lie in (0, 0.5), e.g. 1e-3",
            ));
        }
        Ok(())
    }

    /// The requested architecture, if every activation is invertible.
    fn architecture(&self, requested: &Architecture) -> fitbench_core::Result<Architecture> {
        for act in [requested.activation, requested.output] {
            if !act.is_invertible() {
                return Err(Error::Architecture {
                    trainer: LSQ.name.into(),
                    architecture: requested.to_string(),
                    hint: format!(
                        "{act} is not invertible; use --activation leaky_relu:0.01, tanh, sigmoid, softplus or identity"
                    ),
                });
            }
        }
        Ok(requested.clone())
    }

    /// Per row: every layer's input [Aₗ 1] (Σ (mₗ + 1) over the widths), every layer's
    /// target pre-activations (Σ mₗ, l ≥ 1), the targets, and with `weighting = derivative`
    /// one unit's weighted design and target per layer; besides, per layer, the weights
    /// twice (current and best) and the normal equations.
    fn memory_bytes(&self, n: usize, widths: &[usize]) -> u64 {
        let (n, w): (u64, Vec<u64>) = (n as u64, widths.iter().map(|&m| m as u64).collect());
        let k = w.last().copied().unwrap_or(1);
        let layers = w.windows(2);
        let inputs: u64 = w.iter().map(|m| m + 1).sum();
        let targets: u64 = w.iter().skip(1).sum();
        let weighted: u64 = if self.weighting == Weighting::Derivative {
            layers.clone().map(|l| l[0] + 2).sum()
        } else {
            0
        };
        let per_layer: u64 = layers
            .map(|l| {
                let p = l[0] + 1;
                2 * p * l[1] + 2 * p * p + 2 * p * l[1] + l[0] * l[0]
            })
            .sum();
        8 * (n * (inputs + targets + k + weighted) + per_layer)
    }

    fn init(
        &self,
        train: &Dataset,
        initial: Mlp,
        _seed: u64,
    ) -> fitbench_core::Result<Box<dyn Trainer>> {
        self.validate()?;
        Ok(Box::new(Lsq::new(self.clone(), train, initial)?))
    }
}

/// The `lsq` trainer bound to a training set.
pub struct Lsq {
    config: LsqConfig,
    activations: Vec<Activation>,
    widths: Vec<usize>,
    /// `a[l]` = `[Aₗ 1]`, n×(mₗ+1); the last column is ones. `a[0] = [X 1]`.
    a: Vec<Mat<f64>>,
    /// `z_target[l-1]` = Zₗ*, n×mₗ.
    z_target: Vec<Mat<f64>>,
    /// `theta[l-1]` = Θₗ, (mₗ₋₁+1)×mₗ.
    theta: Vec<Mat<f64>>,
    best_theta: Vec<Mat<f64>>,
    /// Targets y, n×k.
    y: Mat<f64>,
    refit: Vec<NormalEquations>,
    /// Backward Gram matrices WₗᵀWₗ + λₐI, mₗ₋₁×mₗ₋₁, for l ≥ 2.
    back_gram: Vec<Mat<f64>>,
    /// Error contexts of the backward-target solves (built in `new`, not in `step`).
    back_context: Vec<String>,
    /// Scratch for the backward-target bias correction Θ_top·b, mₗ₋₁ entries.
    back_shift: Vec<Col<f64>>,
    mem: MemBuffer,
    /// Per layer, buffers of the derivative-weighted refit (when enabled and σₗ ≠ identity).
    weighted: Vec<Option<WeightedRefit>>,
    current_mse: f64,
    best_mse: f64,
    par: Par,
    /// Θ at the start of the step in progress, restored when it is cancelled.
    theta_start: Vec<Mat<f64>>,
    /// The activations do not match Θ (a step was cancelled): recomputed before the next.
    stale: bool,
    cancel: CancelToken,
}

/// Buffers of one layer's derivative-weighted refit: the weighted design and target of one
/// unit at a time, and its solver.
struct WeightedRefit {
    design: Mat<f64>,
    target: Mat<f64>,
    theta: Mat<f64>,
    normal: NormalEquations,
}

impl std::fmt::Debug for Lsq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lsq")
            .field("config", &self.config)
            .field("widths", &self.widths)
            .field("best_mse", &self.best_mse)
            .finish()
    }
}

impl Lsq {
    /// Allocates every buffer and runs the initial forward pass.
    pub fn new(config: LsqConfig, train: &Dataset, initial: Mlp) -> Result<Self> {
        let (n, d, k) = (train.n(), train.d(), train.k());
        if initial.input_width() != d || initial.output_width() != k {
            return Err(LsqError::Core(Error::Shape {
                context: "lsq initial model".into(),
                expected: format!("a network from {d} inputs to {k} outputs"),
                got: format!("{:?}", initial.widths),
            }));
        }
        if let Some(act) = initial.activations.iter().find(|a| !a.is_invertible()) {
            return Err(LsqError::Core(act.not_invertible()));
        }
        let widths = initial.widths.clone();
        let n_layers = initial.n_layers();
        let par = faer::get_global_parallelism();
        let a: Vec<Mat<f64>> = widths
            .iter()
            .enumerate()
            .map(|(l, &m)| {
                Mat::from_fn(n, m + 1, |i, j| {
                    if j == m {
                        1.0
                    } else if l == 0 {
                        train.x[(i, j)]
                    } else {
                        0.0
                    }
                })
            })
            .collect();
        let theta: Vec<Mat<f64>> = (0..n_layers)
            .map(|l| {
                let (w, b) = (&initial.weights[l], &initial.biases[l]);
                Mat::from_fn(widths[l] + 1, widths[l + 1], |i, j| {
                    if i < widths[l] { w[(j, i)] } else { b[j] }
                })
            })
            .collect();
        let mut scratch = cholesky_in_place_scratch::<f64>(1, par, Default::default());
        for &m in &widths[..n_layers] {
            scratch = scratch
                .or(cholesky_in_place_scratch::<f64>(m, par, Default::default()))
                .or(cholesky_in_place_scratch::<f64>(
                    m.min(CHOLESKY_PANEL),
                    par,
                    Default::default(),
                ));
        }
        let mut this = Self {
            activations: initial.activations.clone(),
            z_target: (1..=n_layers).map(|l| Mat::zeros(n, widths[l])).collect(),
            best_theta: theta.clone(),
            theta_start: theta.clone(),
            stale: false,
            cancel: CancelToken::never(),
            theta,
            y: train.y.clone(),
            refit: (1..=n_layers)
                .map(|l| {
                    NormalEquations::new(
                        widths[l - 1] + 1,
                        widths[l],
                        par,
                        format!("lsq refit of layer {l}"),
                    )
                    .with_unknowns(layer_inputs(train, l, widths[l - 1]))
                })
                .collect(),
            back_gram: (1..n_layers)
                .map(|l| Mat::zeros(widths[l], widths[l]))
                .collect(),
            back_context: (1..n_layers)
                .map(|l| format!("lsq backward target of layer {l}"))
                .collect(),
            back_shift: (1..n_layers).map(|l| Col::zeros(widths[l])).collect(),
            mem: MemBuffer::new(scratch),
            weighted: (1..=n_layers)
                .map(|l| {
                    let act = initial.activations[l - 1];
                    (config.weighting == Weighting::Derivative && act != Activation::Identity).then(
                        || WeightedRefit {
                            design: Mat::zeros(n, widths[l - 1] + 1),
                            target: Mat::zeros(n, 1),
                            theta: Mat::zeros(widths[l - 1] + 1, 1),
                            normal: NormalEquations::new(
                                widths[l - 1] + 1,
                                1,
                                par,
                                format!("lsq weighted refit of layer {l}"),
                            )
                            .with_unknowns(layer_inputs(
                                train,
                                l,
                                widths[l - 1],
                            )),
                        },
                    )
                })
                .collect(),
            current_mse: f64::INFINITY,
            best_mse: f64::INFINITY,
            par,
            a,
            widths,
            config,
        };
        // Z_L* = σ_L⁻¹(clip(y)) never changes (no step writes it), so it is computed once here.
        this.output_target();
        this.forward()?;
        this.current_mse = this.output_mse();
        this.best_mse = this.current_mse;
        Ok(this)
    }

    fn n_layers(&self) -> usize {
        self.theta.len()
    }

    /// Recomputes every activation from the current Θ (used at init, by the interleaved
    /// order and after a cancelled step).
    fn forward(&mut self) -> Result<()> {
        for l in 1..=self.n_layers() {
            self.refresh_layer(l)?;
        }
        Ok(())
    }

    /// `a[l][:, ..mₗ] = σₗ([Aₗ₋₁ 1]Θₗ)`.
    fn refresh_layer(&mut self, l: usize) -> Result<()> {
        let m = self.widths[l];
        let (below, above) = self.a.split_at_mut(l);
        let out = &mut above[0];
        matmul_cancellable(
            out.as_mut().subcols_mut(0, m),
            Accum::Replace,
            below[l - 1].as_ref(),
            self.theta[l - 1].as_ref(),
            1.0,
            self.par,
            &self.cancel,
        )?;
        let act = self.activations[l - 1];
        if act != Activation::Identity {
            fitbench_core::simd::clear_upper_state();
            for j in 0..m {
                act.apply_shifted_in_place(out.col_as_slice_mut(j), 0.0);
            }
        }
        Ok(())
    }

    fn output_mse(&self) -> f64 {
        let l = self.n_layers();
        fitbench_core::mlp::mse_of(
            self.a[l].as_ref().subcols(0, self.widths[l]),
            self.y.as_ref(),
        )
    }

    /// `Z_L* = σ_L⁻¹(clip(y))`.
    fn output_target(&mut self) {
        let l = self.n_layers();
        let (act, eps) = (self.activations[l - 1], self.config.eps);
        let zt = &mut self.z_target[l - 1];
        for j in 0..zt.ncols() {
            for i in 0..zt.nrows() {
                zt[(i, j)] = act.inverse_unchecked(act.clip_to_range(self.y[(i, j)], eps));
            }
        }
    }

    /// `Zₗ₋₁*` from `Zₗ*`, the current `Aₗ₋₁` and Θₗ (l ≥ 2), written into `z_target[l-2]`.
    fn backward_target(&mut self, l: usize) -> Result<()> {
        self.cancel.check()?;
        let m_prev = self.widths[l - 1];
        let (lambda_a, eta, eps) = (self.config.lambda_a, self.config.eta, self.config.eps);
        let theta = self.theta[l - 1].as_ref();
        let theta_top = theta.subrows(0, m_prev); // Wₗᵀ, mₗ₋₁×mₗ
        let bias = theta.row(m_prev); // bₗᵀ
        // Gram WₗᵀWₗ + λₐI = Θ_top Θ_topᵀ + λₐI.
        let gram = &mut self.back_gram[l - 2];
        back_gram(gram, theta_top, lambda_a, self.par);
        // Right-hand side (Zₗ* − 1bₗᵀ)Wₗ + λₐAₗ₋₁, built in the target buffer of layer l−1.
        let (lower, upper) = self.z_target.split_at_mut(l - 1);
        let rhs = &mut lower[l - 2];
        let z_l = upper[0].as_ref();
        let a_prev = self.a[l - 1].as_ref().subcols(0, m_prev);
        matmul_cancellable(
            rhs.as_mut(),
            Accum::Replace,
            z_l,
            theta_top.transpose(),
            1.0,
            self.par,
            &self.cancel,
        )?;
        let shift = &mut self.back_shift[l - 2];
        matmul(
            shift.as_mut().as_mat_mut(),
            Accum::Replace,
            theta_top,
            bias.transpose().as_mat(),
            1.0,
            self.par,
        );
        for j in 0..m_prev {
            let s = shift[j];
            let col = rhs.col_as_slice_mut(j);
            for (i, v) in col.iter_mut().enumerate() {
                *v += lambda_a * a_prev[(i, j)] - s;
            }
        }
        // A* = rhs · Gram⁻¹  ⇔  Gram · A*ᵀ = rhsᵀ. Singular or ill-conditioned Gram (λₐ = 0
        // and a layer narrower than the one below, or dead units): the λₐ → 0 limit, the
        // least-squares A* closest to the current Aₗ₋₁ (pseudo-inverse, PINV_REL_TOL).
        let ratio =
            cholesky_pivot_ratio_cancellable(gram.as_mut(), self.par, &mut self.mem, &self.cancel)?;
        if ratio >= PIVOT_RATIO_THRESHOLD {
            llt_solve_cancellable(
                gram.as_ref(),
                rhs.as_mut().transpose_mut(),
                self.par,
                &self.cancel,
            )?;
        } else {
            back_gram(gram, theta_top, lambda_a, self.par);
            pinv_solve(
                gram.as_mut(),
                rhs.as_mut().transpose_mut(),
                Some(a_prev.transpose()),
                PINV_REL_TOL,
                self.par,
                &self.back_context[l - 2],
                &|i| format!("unit {} of layer {}", i + 1, l - 1),
            )?;
        }
        // Mix, clip, invert (libm inverses: clear faer's AVX-512 state first).
        let act = self.activations[l - 2];
        fitbench_core::simd::clear_upper_state();
        for j in 0..m_prev {
            act.inverse_of_mix_in_place(
                rhs.col_as_slice_mut(j),
                fitbench_core::linalg::col_slice(a_prev, j),
                eta,
                eps,
            );
        }
        Ok(())
    }

    /// Unit by unit: θⱼ = argmin Σᵢ σ'(zᵢⱼ)²([aᵢ 1]θ − zᵢⱼ*)² + λ_w‖θ‖², with σ' taken at the
    /// current activations `a[l]`.
    fn refit_weighted(&mut self, l: usize) -> Result<()> {
        let Some(w) = self.weighted[l - 1].as_mut() else {
            return Ok(());
        };
        let act = self.activations[l - 1];
        let (design, target, current) = (
            self.a[l - 1].as_ref(),
            self.z_target[l - 1].as_ref(),
            self.a[l].as_ref(),
        );
        for j in 0..self.widths[l] {
            self.cancel.check()?;
            for i in 0..design.nrows() {
                let s = act.derivative_from_value(current[(i, j)]);
                w.target[(i, 0)] = s * target[(i, j)];
            }
            for c in 0..design.ncols() {
                let col = w.design.col_as_slice_mut(c);
                for (i, v) in col.iter_mut().enumerate() {
                    *v = act.derivative_from_value(current[(i, j)]) * design[(i, c)];
                }
            }
            w.normal.solve(
                w.design.as_ref(),
                w.target.as_ref(),
                self.config.lambda_w,
                0,
                w.theta.as_mut(),
            )?;
            for c in 0..design.ncols() {
                self.theta[l - 1][(c, j)] = w.theta[(c, 0)];
            }
        }
        Ok(())
    }

    /// Θₗ = argmin ‖[Aₗ₋₁ 1]Θ − Zₗ*‖² + λ_w‖Θ‖² (or the weighted form, when enabled).
    fn refit(&mut self, l: usize) -> Result<()> {
        if self.weighted[l - 1].is_some() {
            return self.refit_weighted(l);
        }
        self.cancel.check()?;
        let design = self.a[l - 1].as_ref();
        let target = self.z_target[l - 1].as_ref();
        match self.config.solver {
            Solver::Cholesky => {
                self.refit[l - 1].solve(
                    design,
                    target,
                    self.config.lambda_w,
                    0,
                    self.theta[l - 1].as_mut(),
                )?;
                Ok(())
            }
            Solver::Qr => {
                use faer::linalg::solvers::SolveLstsq;
                let p = design.ncols();
                let s = self.config.lambda_w.sqrt();
                let n = design.nrows();
                let augmented = Mat::from_fn(n + p, p, |i, j| {
                    if i < n {
                        design[(i, j)]
                    } else if i - n == j {
                        s
                    } else {
                        0.0
                    }
                });
                let rhs = Mat::from_fn(n + p, target.ncols(), |i, j| {
                    if i < n { target[(i, j)] } else { 0.0 }
                });
                let qr = augmented.qr();
                if pivot_ratio((0..p).map(|j| qr.R()[(j, j)])) >= PIVOT_RATIO_THRESHOLD {
                    self.theta[l - 1].copy_from(qr.solve_lstsq(&rhs));
                } else {
                    // Rank-deficient (λ_w = 0 with a constant or duplicated column, a dead
                    // unit): the minimum-norm solution.
                    let (theta, _rank) = svd_lstsq(augmented.as_ref(), rhs.as_ref(), None)?;
                    self.theta[l - 1].copy_from(theta);
                }
                Ok(())
            }
        }
    }

    fn step_sweep(&mut self) -> Result<()> {
        for l in (2..=self.n_layers()).rev() {
            self.backward_target(l)?;
        }
        for l in 1..=self.n_layers() {
            self.refit(l)?;
            self.refresh_layer(l)?;
        }
        Ok(())
    }

    fn step_interleaved(&mut self) -> Result<()> {
        for l in (1..=self.n_layers()).rev() {
            self.refit(l)?;
            if l >= 2 {
                self.backward_target(l)?;
            }
        }
        self.forward()
    }

    fn to_mlp(&self, theta: &[Mat<f64>]) -> Mlp {
        let w = &self.widths;
        Mlp {
            widths: w.clone(),
            activations: self.activations.clone(),
            weights: theta
                .iter()
                .enumerate()
                .map(|(l, t)| Mat::from_fn(w[l + 1], w[l], |i, j| t[(j, i)]))
                .collect(),
            biases: theta
                .iter()
                .enumerate()
                .map(|(l, t)| Col::from_fn(w[l + 1], |i| t[(w[l], i)]))
                .collect(),
        }
    }

    /// Training MSE of the latest iterate.
    pub fn current_mse(&self) -> f64 {
        self.current_mse
    }

    /// Lowest training MSE so far (including the initial network).
    pub fn best_mse(&self) -> f64 {
        self.best_mse
    }
}

/// Names of the rows of Θₗ (the inputs of layer l, then its bias), for error messages.
fn layer_inputs(train: &Dataset, l: usize, m_prev: usize) -> Vec<String> {
    (0..m_prev)
        .map(|i| match (l, train.feature_names.get(i)) {
            (1, Some(f)) => format!("the weights of input {f:?}"),
            _ => format!("the weights of unit {} of layer {}", i + 1, l - 1),
        })
        .chain(std::iter::once(format!("the bias of layer {l}")))
        .collect()
}

/// `gram = Θ_top Θ_topᵀ + λₐI` (= WₗᵀWₗ + λₐI), the backward-target system of one layer.
fn back_gram(gram: &mut Mat<f64>, theta_top: faer::MatRef<'_, f64>, lambda_a: f64, par: Par) {
    matmul(
        gram.as_mut(),
        Accum::Replace,
        theta_top,
        theta_top.transpose(),
        1.0,
        par,
    );
    for j in 0..gram.nrows() {
        gram[(j, j)] += lambda_a;
    }
}

impl Trainer for Lsq {
    /// One sweep: backward targets for every layer and a least-squares refit of every layer
    /// (or the interleaved order). Fails with a non-finite-values error if the iterate blows up.
    fn step(&mut self) -> fitbench_core::Result<StepOutcome> {
        self.cancel.check()?;
        if self.stale {
            self.forward()?;
            self.stale = false;
        }
        for (start, cur) in self.theta_start.iter_mut().zip(&self.theta) {
            start.copy_from(cur);
        }
        let done = match self.config.order {
            Order::Sweep => self.step_sweep(),
            Order::Interleaved => self.step_interleaved(),
        };
        if let Err(LsqError::Core(e @ Error::Cancelled(_))) = done {
            for (cur, start) in self.theta.iter_mut().zip(&self.theta_start) {
                cur.copy_from(start);
            }
            self.stale = true;
            return Err(e);
        }
        done?;
        self.current_mse = self.output_mse();
        if !self.current_mse.is_finite() {
            return Err(Error::NonFinite(format!(
                "the lsq iterate (training MSE {})",
                self.current_mse
            )));
        }
        if self.current_mse < self.best_mse {
            self.best_mse = self.current_mse;
            for (best, cur) in self.best_theta.iter_mut().zip(&self.theta) {
                best.copy_from(cur);
            }
        }
        Ok(StepOutcome::Continue)
    }

    /// The best iterate so far (by training MSE).
    fn params(&self) -> Mlp {
        self.to_mlp(&self.best_theta)
    }

    fn current_params(&self) -> Option<Mlp> {
        Some(self.to_mlp(&self.theta))
    }

    fn set_cancel(&mut self, token: CancelToken) {
        for normal in &mut self.refit {
            normal.set_cancel(token.clone());
        }
        for w in self.weighted.iter_mut().flatten() {
            w.normal.set_cancel(token.clone());
        }
        self.cancel = token;
    }

    /// The count of the module docs (sweep order, Cholesky solver, no weighting), per layer
    /// from the input side.
    fn flops_per_step(&self) -> Option<f64> {
        let n = self.y.nrows();
        let w = &self.widths;
        let mut total = 0.0;
        for l in 1..w.len() {
            let (m_prev, m, p) = (w[l - 1], w[l], w[l - 1] + 1);
            if l >= 2 {
                total += flops::matmul(m_prev, m, m_prev)
                    + flops::matmul(n, m, m_prev)
                    + flops::cholesky(m_prev)
                    + flops::triangular_solves(m_prev, n);
            }
            let refresh = flops::forward(&w[l - 1..=l], n) + flops::matmul(n, 1, m);
            total += flops::normal_equations(n, p, m) + refresh;
        }
        Some(total)
    }
}

/// The layer-wise least-squares trainer ([`Lsq`]): its name, help and capabilities.
pub const LSQ: TrainerEntry = TrainerEntry::of::<LsqConfig>(
    "lsq",
    "layer-wise least squares through invertible activations (RECONSTRUCTION of Khadilkar 2023)",
    Capabilities {
        deterministic: true,
        ..Capabilities::NONE
    },
);
