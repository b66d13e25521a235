//! The `analytic` trainer (see the crate docs for the algorithm).
//!
//! Cancellation: a step polls its [`CancelToken`] every block of `row_block` rows of its
//! passes (output solve, joint Gram and right-hand side, every trial's loss), every unit of
//! the per-neuron path and every panel of a large Cholesky; a cancelled step puts W, β and
//! the loss back to where the step started and returns [`Error::Cancelled`].

use crate::pattern::PatternGram;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt::factor::cholesky_in_place_scratch;
use faer::linalg::cholesky::llt::solve::solve_in_place;
use faer::linalg::matmul::matmul;
use faer::{Accum, Col, Mat, Par};
use fitbench_core::linalg::{CHOLESKY_PANEL, cholesky_pivot_ratio_cancellable};
use fitbench_core::linalg::{NormalEquations, PINV_REL_TOL, PIVOT_RATIO_THRESHOLD, pinv_solve};
use fitbench_core::registry::{Capabilities, TrainerEntry};
use fitbench_core::{
    Activation, Architecture, CancelToken, Dataset, Error, Mlp, Result, StepOutcome, Trainer,
    TrainerConfig, flops,
};
use serde::{Deserialize, Serialize};

/// How a hidden-layer update is accepted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Safeguard {
    /// W ← W + s(W_LS − W), s = 1, ½, ¼, …: the first s whose true loss is not above the loss
    /// before the update; otherwise W is kept (the default; the true loss never increases).
    #[default]
    Backtracking,
    /// W ← (1 − η)W + ηW_LS, unconditionally.
    Damping,
    /// W ← W_LS (the naive alternation; it stalls, see the reference notes).
    None,
}

/// How the hidden layer is solved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HiddenSolve {
    /// Joint below `auto_threshold` unknowns h(d+1), per neuron above.
    #[default]
    Auto,
    /// All h(d+1) weights in one regularised solve.
    Joint,
    /// One unit at a time (block coordinate descent), each update safeguarded.
    PerNeuron,
}

/// How the joint hidden Gram matrix is built (both give the same matrix up to the order of
/// summation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GramMethod {
    /// `pattern` for h ≥ [`PATTERN_MIN_UNITS`] hidden units, else `dense` (measured, n = 3 200,
    /// d = 16: at h = 8 `dense` is 4 % faster, at h = 16 `pattern` 11 %, at h = 64 1.6×).
    #[default]
    Auto,
    /// One matrix product [Dⱼ ⊙ Dₖ]ₖ≥ⱼᵀ T per unit j, zeros of the pattern included.
    Dense,
    /// Sums over the rows where both units are active (`pattern.rs`): no multiplication
    /// by a zero of the pattern.
    Pattern,
}

/// Rows per block of the true-loss evaluation.
const LOSS_BLOCK: usize = 256;

/// Which hidden weights a pass over the rows uses.
#[derive(Clone, Copy, Debug)]
enum Weights {
    /// W.
    Current,
    /// The trial weights of the safeguard.
    Trial,
}

/// Default of [`AnalyticConfig::row_block`].
pub const DEFAULT_ROW_BLOCK: usize = 1024;

/// The hidden width from which `gram = auto` builds the Gram matrix by `pattern`.
pub const PATTERN_MIN_UNITS: usize = 16;

/// Configuration of the `analytic` trainer (a reconstruction; see the crate docs). The
/// activation's α comes from the architecture (`relu` or `leaky_relu:α`).
///
/// | name | default | purpose | range |
/// |---|---|---|---|
/// | `lambda` | 1e-4 | ridge of both solves (keeps dead units finite) | ≥ 0 |
/// | `safeguard` | `backtracking` | `backtracking`, `damping` or `none` | |
/// | `eta` | 0.5 | step of `safeguard=damping` | (0, 1] |
/// | `max_halvings` | 10 | backtracking halvings before keeping W | ≥ 0 |
/// | `hidden_solve` | `auto` | `auto`, `joint` or `per_neuron` | |
/// | `auto_threshold` | 2048 | h(d+1) above which `auto` solves per neuron (the joint Cholesky costs p³/3 flops and 8p² bytes) | ≥ 1 |
/// | `gram` | `auto` | joint Gram by `pattern` sums or `dense` products (`auto`: `pattern` from h = 16) | |
/// | `row_block` | 1024 | rows per block of the joint path's passes: no buffer of it grows with n·h | ≥ 1 |
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalyticConfig {
    /// Ridge λ.
    pub lambda: f64,
    /// Safeguard.
    pub safeguard: Safeguard,
    /// Damping step η.
    pub eta: f64,
    /// Backtracking halvings.
    pub max_halvings: usize,
    /// Hidden-layer solve.
    pub hidden_solve: HiddenSolve,
    /// Size threshold of `auto`.
    pub auto_threshold: usize,
    /// How the joint Gram matrix is built.
    pub gram: GramMethod,
    /// Rows per block of the joint path: pre-activations, [φ(Z) 1], D ⊙ residual (and, for
    /// `gram = dense`, the input products) exist for one block of rows at a time, recomputed
    /// from X̃ and W in each pass, so working memory is O(row_block·(h + q²) + (hq)²) besides
    /// X̃, y and the pattern bits. With n ≤ `row_block` the arithmetic is the same as one
    /// pass over all rows.
    pub row_block: usize,
    /// Always `true`: the algorithm is a reconstruction, not the paper's (recorded in reports;
    /// `false` is rejected).
    #[serde(deserialize_with = "fitbench_core::registry::always_true")]
    pub reconstruction: bool,
}

impl Default for AnalyticConfig {
    fn default() -> Self {
        Self {
            lambda: 1e-4,
            safeguard: Safeguard::Backtracking,
            eta: 0.5,
            max_halvings: 10,
            hidden_solve: HiddenSolve::Auto,
            auto_threshold: 2048,
            gram: GramMethod::Auto,
            row_block: DEFAULT_ROW_BLOCK,
            reconstruction: true,
        }
    }
}

/// φ(z) = max(z, αz) for α ∈ [0, 1) (ReLU, leaky ReLU), written to vectorise.
#[inline(always)]
fn leaky(alpha: f64, z: f64) -> f64 {
    if z > 0.0 { z } else { alpha * z }
}

impl AnalyticConfig {
    /// Whether a joint hidden solve with `h` units builds its Gram matrix by `pattern`.
    fn gram_by_pattern(&self, h: usize) -> bool {
        match self.gram {
            GramMethod::Auto => h >= PATTERN_MIN_UNITS,
            GramMethod::Dense => false,
            GramMethod::Pattern => true,
        }
    }
}

fn alpha_of(act: Activation) -> Option<f64> {
    match act {
        Activation::Relu => Some(0.0),
        Activation::LeakyRelu { alpha } => Some(alpha),
        _ => None,
    }
}

impl TrainerConfig for AnalyticConfig {
    fn validate(&self) -> Result<()> {
        if !(self.lambda.is_finite() && self.lambda >= 0.0) {
            return Err(Error::config(
                "analytic.lambda",
                self.lambda,
                "the ridge must be a finite number ≥ 0, e.g. 1e-4",
            ));
        }
        if !(self.eta > 0.0 && self.eta <= 1.0) {
            return Err(Error::config(
                "analytic.eta",
                self.eta,
                "the damping step must lie in (0, 1], e.g. 0.5",
            ));
        }
        if self.auto_threshold == 0 {
            return Err(Error::config("analytic.auto_threshold", 0, "must be ≥ 1"));
        }
        if self.row_block == 0 {
            return Err(Error::config(
                "analytic.row_block",
                0,
                "rows per block must be ≥ 1, e.g. 1024",
            ));
        }
        Ok(())
    }

    /// One hidden layer with ReLU or leaky ReLU and an identity output.
    fn architecture(&self, requested: &Architecture) -> Result<Architecture> {
        if requested.hidden.len() != 1
            || alpha_of(requested.activation).is_none()
            || requested.output != Activation::Identity
        {
            return Err(Error::Architecture {
                trainer: ANALYTIC.name.into(),
                architecture: requested.to_string(),
                hint: "it trains two-layer networks only: one hidden layer with relu or leaky_relu:ALPHA (e.g. --hidden 32 --activation relu)".into(),
            });
        }
        Ok(requested.clone())
    }

    /// X̃ and y, the joint hidden solve's h(d+1)-square Gram matrix, one row block of the
    /// per-step buffers, and the h(h+1)/2 × q(q+1)/2 pair sums (q = d + 1) with one block of
    /// products (`pattern`, which also keeps h/16 pattern words per row; `dense`); the
    /// per-neuron path keeps Z and one unit's design instead (details in the body).
    fn memory_bytes(&self, n: usize, widths: &[usize]) -> u64 {
        let d = widths.first().copied().unwrap_or(0) as u64;
        let h = widths.get(1).copied().unwrap_or(0) as u64;
        let (n, q) = (n as u64, d + 1);
        let p = h * q;
        let joint = match self.hidden_solve {
            HiddenSolve::Joint => true,
            HiddenSolve::PerNeuron => false,
            HiddenSolve::Auto => p <= self.auto_threshold as u64,
        };
        let gram = if joint { p * p } else { q * q };
        let by_pattern = joint && self.gram_by_pattern(h as usize);
        // `pattern` keeps the pair sums and one block of products; `dense` the products of
        // every row.
        let npairs = q * (q + 1) / 2;
        let b = n.min(self.row_block as u64);
        // Per row: X̃ (q) and y. The joint path keeps one block of Z, [φ(Z) 1] and
        // D ⊙ residual; the pattern method adds its pattern bits (h/16 words per row), its
        // pair sums and one block of products (rows padded to 32 columns); the dense method
        // one block of D, Aⱼ and the products, and the pair sums. The per-neuron path keeps
        // Z, the predictions, one unit's design and target, and one block of [φ(Z) 1].
        let mut per_row = q + 1;
        let mut fixed = gram + b * (3 * h + 1);
        if by_pattern {
            per_row += h.div_ceil(16);
            let ldt = npairs.div_ceil(32) * 32;
            fixed += h * (h + 1) / 2 * ldt + 129 * ldt;
        } else if joint {
            fixed += b * (2 * h + npairs) + h * (h + 1) / 2 * npairs;
        } else {
            per_row += h + 1 + q + 1;
        }
        8 * (n * per_row + fixed)
    }

    fn init(&self, train: &Dataset, initial: Mlp, _seed: u64) -> Result<Box<dyn Trainer>> {
        self.validate()?;
        Ok(Box::new(Analytic::new(self.clone(), train, initial)?))
    }
}

/// The `analytic` trainer bound to a training set.
pub struct Analytic {
    config: AnalyticConfig,
    alpha: f64,
    joint: bool,
    activations: Vec<Activation>,
    /// X̃ = [X 1], n×(d+1).
    xt: Mat<f64>,
    y: Mat<f64>,
    /// Hidden weights with the bias as the last column, h×(d+1).
    w: Mat<f64>,
    /// Output weights β₁…β_h and β₀ last, (h+1)×1.
    beta: Mat<f64>,
    /// Pre-activations X̃Wᵀ, n×h: per-neuron path only (the joint path recomputes them per
    /// block of rows into `zb`).
    z: Mat<f64>,
    /// Rows per block of the joint path's passes ([`AnalyticConfig::row_block`], at most n).
    block: usize,
    /// Pre-activations of one block of rows, block×h.
    zb: Mat<f64>,
    /// [φ(Z) 1] of one block of rows, block×(h+1).
    hb: Mat<f64>,
    output: NormalEquations,
    // Joint hidden solve.
    gram: Mat<f64>,
    rhs: Mat<f64>,
    mem: MemBuffer,
    /// The (c, c') of each distinct input product x̃ᵢ꜀x̃ᵢ꜀' (c ≤ c').
    pairs: Vec<(usize, usize)>,
    /// D ⊙ (y − β₀) of one block of rows, block×h.
    rb: Mat<f64>,
    /// X̃ᵀ(D ⊙ (y − β₀)), q×h.
    xtd: Mat<f64>,
    /// `gram = dense`: the pattern D of one block, block×h.
    db: Mat<f64>,
    /// `gram = dense`: the distinct products T of one block, block × q(q+1)/2.
    tb: Mat<f64>,
    /// `gram = dense`: Aⱼ = [Dⱼ ⊙ Dₖ]ₖ≥ⱼ of one block, block×h (first h − j columns used).
    ab: Mat<f64>,
    /// `gram = dense`: Aⱼᵀ T summed over the blocks, unit after unit: (h − j) rows from row
    /// Σ_{j'<j}(h − j'), h(h+1)/2 × q(q+1)/2.
    msum: Mat<f64>,
    /// The pattern method's sums (`gram = pattern`; then `db`, `tb`, `ab` and `msum` are
    /// empty).
    pattern: Option<PatternGram>,
    // Per-neuron hidden solve.
    unit: NormalEquations,
    unit_design: Mat<f64>,
    unit_target: Mat<f64>,
    unit_w: Mat<f64>,
    /// Candidate weights of one unit.
    cand: Vec<f64>,
    pred: Vec<f64>,
    // Trials.
    w_ls: Mat<f64>,
    w_try: Mat<f64>,
    mse: f64,
    /// Whether β is the output solve's for the current W (and `mse` its loss).
    beta_fresh: bool,
    last_flops: f64,
    /// Joint hidden solves that fell back to the pseudo-inverse.
    pinv_solves: usize,
    par: Par,
    /// W, β, the loss and `beta_fresh` at the start of the step in progress, restored when
    /// it is cancelled.
    start: (Mat<f64>, Mat<f64>, f64, bool),
    /// Z does not match W (a per-neuron step was cancelled): recomputed before the next step.
    z_stale: bool,
    cancel: CancelToken,
}

impl std::fmt::Debug for Analytic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analytic")
            .field("config", &self.config)
            .field("alpha", &self.alpha)
            .field("mse", &self.mse)
            .finish()
    }
}

impl Analytic {
    /// Allocates every buffer and fits β for the initial hidden layer's pattern (untimed).
    pub fn new(config: AnalyticConfig, train: &Dataset, initial: Mlp) -> Result<Self> {
        let (n, d) = (train.n(), train.d());
        let arch = Architecture {
            hidden: initial.widths[1..initial.widths.len() - 1].to_vec(),
            activation: initial.activations[0],
            output: *initial.activations.last().unwrap_or(&Activation::Identity),
            parametrisation: fitbench_core::mlp::Parametrisation::Standard,
        };
        config.architecture(&arch)?;
        if train.k() != 1 || initial.output_width() != 1 || initial.input_width() != d {
            return Err(Error::Shape {
                context: "analytic initial model".into(),
                expected: format!("a {d} → h → 1 network and one target column"),
                got: format!(
                    "widths {:?} and {} target columns",
                    initial.widths,
                    train.k()
                ),
            });
        }
        let alpha = alpha_of(initial.activations[0]).unwrap_or(0.0);
        let h = initial.widths[1];
        let p = h * (d + 1);
        let joint = match config.hidden_solve {
            HiddenSolve::Joint => true,
            HiddenSolve::PerNeuron => false,
            HiddenSolve::Auto => p <= config.auto_threshold,
        };
        let by_pattern = joint && config.gram_by_pattern(h);
        let dense = joint && !by_pattern;
        let block = config.row_block.min(n).max(1);
        let par = faer::get_global_parallelism();
        let xt = Mat::from_fn(n, d + 1, |i, j| if j < d { train.x[(i, j)] } else { 1.0 });
        let w = Mat::from_fn(h, d + 1, |i, j| {
            if j < d {
                initial.weights[0][(i, j)]
            } else {
                initial.biases[0][i]
            }
        });
        let beta = Mat::from_fn(h + 1, 1, |i, _| {
            if i < h {
                initial.weights[1][(0, i)]
            } else {
                initial.biases[1][0]
            }
        });
        let (gp, scratch) = if joint {
            (
                p,
                cholesky_in_place_scratch::<f64>(p, par, Default::default()).or(
                    cholesky_in_place_scratch::<f64>(
                        p.min(CHOLESKY_PANEL),
                        par,
                        Default::default(),
                    ),
                ),
            )
        } else {
            (
                0,
                cholesky_in_place_scratch::<f64>(1, par, Default::default()),
            )
        };
        let mut this = Self {
            alpha,
            joint,
            activations: initial.activations.clone(),
            y: train.y.clone(),
            z: Mat::zeros(if joint { 0 } else { n }, h),
            block,
            zb: Mat::zeros(block, h),
            hb: Mat::from_fn(block, h + 1, |_, j| if j == h { 1.0 } else { 0.0 }),
            output: NormalEquations::new(h + 1, 1, par, "analytic output layer").with_unknowns(
                (1..=h)
                    .map(|j| format!("output weight of hidden unit {j}"))
                    .chain(std::iter::once("output bias".to_string()))
                    .collect(),
            ),
            gram: Mat::zeros(gp, gp),
            rhs: Mat::zeros(gp, 1),
            mem: MemBuffer::new(scratch),
            pairs: Vec::new(),
            rb: Mat::zeros(if joint { block } else { 0 }, h),
            xtd: Mat::zeros(d + 1, h),
            db: Mat::zeros(if dense { block } else { 0 }, h),
            tb: Mat::zeros(if dense { block } else { 0 }, (d + 1) * (d + 2) / 2),
            ab: Mat::zeros(if dense { block } else { 0 }, h),
            msum: Mat::zeros(
                if dense { h * (h + 1) / 2 } else { 0 },
                (d + 1) * (d + 2) / 2,
            ),
            pattern: None,
            unit: NormalEquations::new(d + 1, 1, par, "analytic per-neuron solve").with_unknowns(
                train
                    .feature_names
                    .iter()
                    .map(|f| format!("the weight of input {f:?}"))
                    .chain(std::iter::once("the bias".to_string()))
                    .collect(),
            ),
            unit_design: Mat::zeros(if joint { 0 } else { n }, d + 1),
            unit_target: Mat::zeros(if joint { 0 } else { n }, 1),
            unit_w: Mat::zeros(d + 1, 1),
            cand: vec![0.0; d + 1],
            pred: vec![0.0; if joint { 0 } else { n }],
            w_ls: Mat::zeros(h, d + 1),
            w_try: Mat::zeros(h, d + 1),
            mse: f64::INFINITY,
            beta_fresh: false,
            last_flops: 0.0,
            pinv_solves: 0,
            par,
            start: (
                Mat::zeros(h, d + 1),
                Mat::zeros(h + 1, 1),
                f64::INFINITY,
                false,
            ),
            z_stale: false,
            cancel: CancelToken::never(),
            xt,
            w,
            beta,
            config,
        };
        if joint {
            let q = d + 1;
            this.pairs = (0..q).flat_map(|c| (c..q).map(move |c2| (c, c2))).collect();
            if by_pattern {
                this.pattern = Some(PatternGram::new(this.xt.as_ref(), h, &this.pairs));
            }
        }
        this.refresh_z();
        this.mse = this.loss_of(Weights::Current)?;
        Ok(this)
    }

    fn h(&self) -> usize {
        self.w.nrows()
    }

    fn phi(&self, z: f64) -> f64 {
        leaky(self.alpha, z)
    }

    fn slope(&self, z: f64) -> f64 {
        if z > 0.0 { 1.0 } else { self.alpha }
    }

    /// Z = X̃Wᵀ for the per-neuron path, which keeps it (the joint path keeps no n×h buffer).
    fn refresh_z(&mut self) {
        if self.joint {
            return;
        }
        matmul(
            self.z.as_mut(),
            Accum::Replace,
            self.xt.as_ref(),
            self.w.transpose(),
            1.0,
            self.par,
        );
    }

    /// Writes the pre-activations of rows r0..r0+m into the first m rows of `zb`: computed
    /// from X̃ and `which` weights on the joint path, copied from Z on the per-neuron path
    /// (which keeps Z and only ever asks for the current weights).
    fn fill_zb(&mut self, which: Weights, r0: usize, m: usize) {
        let h = self.h();
        if self.joint {
            let w = match which {
                Weights::Current => self.w.as_ref(),
                Weights::Trial => self.w_try.as_ref(),
            };
            matmul(
                self.zb.as_mut().submatrix_mut(0, 0, m, h),
                Accum::Replace,
                self.xt.as_ref().subrows(r0, m),
                w.transpose(),
                1.0,
                self.par,
            );
            self.last_flops += flops::matmul(m, self.xt.ncols(), h);
        } else {
            self.zb
                .as_mut()
                .submatrix_mut(0, 0, m, h)
                .copy_from(self.z.as_ref().subrows(r0, m));
        }
    }

    /// Adds the squared residuals of rows r0..r0+m (pre-activations in `zb`, the current β)
    /// to `s`, row after row. Rows are taken [`LOSS_BLOCK`] at a time so that the loop over
    /// units runs down contiguous columns; each row's sum keeps the order
    /// β₀ + β₁φ(z₁) + … + β_hφ(z_h).
    fn add_loss(&self, r0: usize, m: usize, s: &mut f64) {
        let (h, alpha) = (self.h(), self.alpha);
        let y = &self.y.col_as_slice(0)[r0..r0 + m];
        let mut f = [0.0; LOSS_BLOCK];
        for b0 in (0..m).step_by(LOSS_BLOCK) {
            let mb = LOSS_BLOCK.min(m - b0);
            f[..mb].fill(self.beta[(h, 0)]);
            for j in 0..h {
                let bj = self.beta[(j, 0)];
                for (f, &z) in f[..mb]
                    .iter_mut()
                    .zip(&self.zb.col_as_slice(j)[b0..b0 + mb])
                {
                    *f += bj * leaky(alpha, z);
                }
            }
            for (f, &y) in f[..mb].iter().zip(&y[b0..b0 + mb]) {
                let r = f - y;
                *s += r * r;
            }
        }
    }

    /// True training MSE of `which` weights and the current β, one block of rows at a time
    /// (polling the cancel token before each).
    fn loss_of(&mut self, which: Weights) -> Result<f64> {
        let n = self.xt.nrows();
        let mut s = 0.0;
        for r0 in (0..n).step_by(self.block) {
            self.cancel.check()?;
            let m = self.block.min(n - r0);
            self.fill_zb(which, r0, m);
            self.add_loss(r0, m, &mut s);
        }
        Ok(s / n as f64)
    }

    /// Step 1: β = (HᵀH + λI)⁻¹Hᵀy for the current W (the intercept β₀ is not penalised),
    /// HᵀH and Hᵀy accumulated one block of rows of H = [φ(Z) 1] at a time.
    /// Returns the training MSE after the solve.
    pub fn solve_output(&mut self) -> Result<f64> {
        let (n, h, alpha) = (self.xt.nrows(), self.h(), self.alpha);
        self.output.clear();
        for r0 in (0..n).step_by(self.block) {
            self.cancel.check()?;
            let m = self.block.min(n - r0);
            self.fill_zb(Weights::Current, r0, m);
            for j in 0..h {
                let (dst, z) = (self.hb.col_as_slice_mut(j), self.zb.col_as_slice(j));
                for (o, &z) in dst[..m].iter_mut().zip(&z[..m]) {
                    *o = leaky(alpha, z);
                }
            }
            self.output.add_rows(
                self.hb.as_ref().subrows(0, m),
                self.y.as_ref().subrows(r0, m),
            );
        }
        self.output
            .solve_accumulated(self.config.lambda, 1, self.beta.as_mut())?;
        self.last_flops += flops::normal_equations(n, h + 1, 1);
        self.mse = self.loss_of(Weights::Current)?;
        self.beta_fresh = true;
        Ok(self.mse)
    }

    /// Step 2 (joint): the least-squares hidden weights W_LS for the current β and pattern,
    /// written into the internal buffer and returned as h×(d+1) (bias last).
    pub fn hidden_least_squares(&mut self) -> Result<Mat<f64>> {
        self.solve_hidden_joint()?;
        Ok(self.w_ls.clone())
    }

    /// Joint hidden solve. Block (k, j) of the Gram matrix is
    /// βⱼβₖ Σᵢ DᵢⱼDᵢₖ x̃ᵢx̃ᵢᵀ, built by [`Analytic::fill_hidden_joint`] in one pass over the
    /// rows a block at a time: by the pattern's sums (`pattern`), or with T the block's
    /// distinct products x̃ᵢ꜀x̃ᵢ꜀', by one matmul Aⱼᵀ T per unit j and block with
    /// Aⱼ = [Dⱼ ⊙ Dₖ]ₖ≥ⱼ (`dense`). Both use both symmetries (k ≥ j, c ≤ c') and never form
    /// the n × h(d+1) design matrix.
    ///
    /// When the system is singular or ill-conditioned (λ = 0 with a unit that is never
    /// active, or βⱼ = 0), it is solved by the pseudo-inverse instead (the minimum-norm
    /// solution, the λ → 0 limit of ridge; [`PINV_REL_TOL`]).
    fn solve_hidden_joint(&mut self) -> Result<()> {
        let (h, q) = (self.h(), self.xt.ncols());
        let p = h * q;
        self.fill_hidden_joint()?;
        let ratio = cholesky_pivot_ratio_cancellable(
            self.gram.as_mut(),
            self.par,
            &mut self.mem,
            &self.cancel,
        )?;
        if ratio >= PIVOT_RATIO_THRESHOLD {
            solve_in_place(
                self.gram.as_ref(),
                self.rhs.as_mut(),
                self.par,
                MemStack::new(&mut []),
            );
            self.last_flops += flops::cholesky(p) + flops::triangular_solves(p, 1);
        } else {
            // The factorisation overwrote the Gram matrix: build it again (the flops are
            // counted again, since they are performed again).
            self.fill_hidden_joint()?;
            let d = q - 1;
            pinv_solve(
                self.gram.as_mut(),
                self.rhs.as_mut(),
                None,
                PINV_REL_TOL,
                self.par,
                "analytic hidden layer (joint)",
                &|i| {
                    let (unit, c) = (i / q + 1, i % q);
                    if c < d {
                        format!("weight {} of hidden unit {unit}", c + 1)
                    } else {
                        format!("bias of hidden unit {unit}")
                    }
                },
            )?;
            self.pinv_solves += 1;
        }
        for j in 0..h {
            for c in 0..q {
                self.w_ls[(j, c)] = self.rhs[(j * q + c, 0)];
            }
        }
        Ok(())
    }

    /// Builds the lower triangle of the joint hidden system (Gram + λI) and its right-hand
    /// side, in one pass over the rows, a block at a time: the block's pre-activations give
    /// its pattern (bits, or D for `dense`) and D ⊙ (y − β₀), whose products with X̃ are
    /// summed into X̃ᵀ(D ⊙ (y − β₀)) (and Aⱼᵀ T for `dense`).
    fn fill_hidden_joint(&mut self) -> Result<()> {
        let (n, h, q) = (self.xt.nrows(), self.h(), self.xt.ncols());
        let beta0 = self.beta[(h, 0)];
        let alpha = self.alpha;
        self.xtd.fill(0.0);
        self.msum.fill(0.0);
        for r0 in (0..n).step_by(self.block) {
            self.cancel.check()?;
            let m = self.block.min(n - r0);
            self.fill_zb(Weights::Current, r0, m);
            let (dense, y) = (self.pattern.is_none(), &self.y.col_as_slice(0)[r0..r0 + m]);
            for j in 0..h {
                let z = &self.zb.col_as_slice(j)[..m];
                for ((r, &z), &y) in self.rb.col_as_slice_mut(j)[..m].iter_mut().zip(z).zip(y) {
                    *r = if z > 0.0 {
                        y - beta0
                    } else {
                        alpha * (y - beta0)
                    };
                }
                if dense {
                    for (d, &z) in self.db.col_as_slice_mut(j)[..m].iter_mut().zip(z) {
                        *d = if z > 0.0 { 1.0 } else { alpha };
                    }
                }
            }
            // Right-hand side: block j = βⱼ X̃ᵀ(Dⱼ ⊙ (y − β₀)), summed over the row blocks.
            matmul(
                self.xtd.as_mut(),
                Accum::Add,
                self.xt.as_ref().subrows(r0, m).transpose(),
                self.rb.as_ref().subrows(0, m),
                1.0,
                self.par,
            );
            match self.pattern.as_mut() {
                Some(pg) => pg.set_pattern_rows(r0, self.zb.as_ref().subrows(0, m)),
                None => self.add_dense_block(r0, m),
            }
        }
        for j in 0..h {
            for c in 0..q {
                self.rhs[(j * q + c, 0)] = self.beta[(j, 0)] * self.xtd[(c, j)];
            }
        }
        self.last_flops += flops::matmul(q, n, h);
        if self.pattern.is_some() {
            self.fill_gram_by_pattern();
        } else {
            self.fill_gram_dense();
        }
        for i in 0..self.gram.nrows() {
            self.gram[(i, i)] += self.config.lambda;
        }
        Ok(())
    }

    /// The Gram blocks by sums over the rows where both units are active ([`crate::pattern`]),
    /// for the pattern set by [`Analytic::fill_hidden_joint`].
    /// With α ≠ 0, block (k, j) is α²S + α(1 − α)(Q_jj + Q_kk) + (1 − α)²Q_jk.
    fn fill_gram_by_pattern(&mut self) {
        let (h, q, alpha) = (self.h(), self.xt.ncols(), self.alpha);
        let Some(pg) = self.pattern.as_mut() else {
            return;
        };
        let mut adds = pg.fill(self.xt.as_ref());
        let pg = &*pg;
        let (ld, total) = (pg.stride(), pg.total());
        let (a2, ab, b2) = (alpha * alpha, alpha * (1.0 - alpha), (1.0 - alpha).powi(2));
        for j in 0..h {
            // Row 0 of unit j's sums is Q_jj.
            let sums = pg.unit_sums(j);
            let bj = self.beta[(j, 0)];
            for k in j..h {
                let s = bj * self.beta[(k, 0)];
                let row = &sums[(k - j) * ld..];
                let qkk = pg.unit_sums(k);
                for (pi, &(c, c2)) in self.pairs.iter().enumerate() {
                    let qjk = if alpha == 0.0 {
                        row[pi]
                    } else {
                        a2 * total[pi] + ab * (sums[pi] + qkk[pi]) + b2 * row[pi]
                    };
                    let v = s * qjk;
                    self.gram[(k * q + c, j * q + c2)] = v;
                    self.gram[(k * q + c2, j * q + c)] = v;
                }
            }
            if alpha != 0.0 {
                adds += 6.0 * ((h - j) * self.pairs.len()) as f64;
            }
        }
        self.last_flops += adds;
    }

    /// `gram = dense`, one block of rows r0..r0+m (D in `db`): the block's products T and,
    /// for every unit j, Aⱼᵀ T added to unit j's rows of `msum` (zeros of the pattern
    /// included).
    fn add_dense_block(&mut self, r0: usize, m: usize) {
        let (h, npairs) = (self.h(), self.pairs.len());
        for (pi, &(c, c2)) in self.pairs.iter().enumerate() {
            let (a, b) = (self.xt.col_as_slice(c), self.xt.col_as_slice(c2));
            for ((t, &x), &y) in self.tb.col_as_slice_mut(pi)[..m]
                .iter_mut()
                .zip(&a[r0..r0 + m])
                .zip(&b[r0..r0 + m])
            {
                *t = x * y;
            }
        }
        let mut off = 0;
        for j in 0..h {
            let width = h - j;
            for kk in 0..width {
                let (dst, dj) = (self.ab.col_as_slice_mut(kk), self.db.col_as_slice(j));
                let dk = self.db.col_as_slice(j + kk);
                for ((a, x), y) in dst[..m].iter_mut().zip(&dj[..m]).zip(&dk[..m]) {
                    *a = x * y;
                }
            }
            matmul(
                self.msum.as_mut().submatrix_mut(off, 0, width, npairs),
                Accum::Add,
                self.ab.as_ref().submatrix(0, 0, m, width).transpose(),
                self.tb.as_ref().subrows(0, m),
                1.0,
                self.par,
            );
            // Aⱼ (m·width products) and Aⱼᵀ T.
            self.last_flops += (m * width) as f64 + flops::matmul(width, m, npairs);
            off += width;
        }
    }

    /// `gram = dense`: the Gram blocks from the sums Aⱼᵀ T of every unit.
    fn fill_gram_dense(&mut self) {
        let (h, q) = (self.h(), self.xt.ncols());
        let mut off = 0;
        for j in 0..h {
            let bj = self.beta[(j, 0)];
            for kk in 0..h - j {
                let k = j + kk;
                let s = bj * self.beta[(k, 0)];
                for (pi, &(c, c2)) in self.pairs.iter().enumerate() {
                    let v = s * self.msum[(off + kk, pi)];
                    self.gram[(k * q + c, j * q + c2)] = v;
                    self.gram[(k * q + c2, j * q + c)] = v;
                }
            }
            off += h - j;
        }
    }

    /// Applies W ← W + s(W_LS − W) with the configured safeguard, given the loss before;
    /// each trial's loss is computed a block of rows at a time.
    fn accept_joint(&mut self, loss_before: f64) -> Result<()> {
        let (h, q) = (self.h(), self.xt.ncols());
        for s in self.step_sizes() {
            for j in 0..h {
                for c in 0..q {
                    self.w_try[(j, c)] = self.w[(j, c)] + s * (self.w_ls[(j, c)] - self.w[(j, c)]);
                }
            }
            let loss = self.loss_of(Weights::Trial)?;
            if self.config.safeguard != Safeguard::Backtracking || loss <= loss_before {
                std::mem::swap(&mut self.w, &mut self.w_try);
                return Ok(());
            }
        }
        Ok(())
    }

    /// The step sizes s tried for W ← W + s(W_LS − W): 1, ½, ¼, … for backtracking (the
    /// first acceptable one is taken), η for damping, 1 without a safeguard.
    fn step_sizes(&self) -> impl Iterator<Item = f64> + use<> {
        let (first, n) = match self.config.safeguard {
            Safeguard::Backtracking => (1.0, self.config.max_halvings + 1),
            Safeguard::Damping => (self.config.eta, 1),
            Safeguard::None => (1.0, 1),
        };
        (0..n).map(move |i| first * 0.5f64.powi(i as i32))
    }

    /// Per-neuron hidden updates (Gauss–Seidel over units), each safeguarded.
    fn step_per_neuron(&mut self) -> Result<()> {
        let (n, h, q) = (self.xt.nrows(), self.h(), self.xt.ncols());
        for i in 0..n {
            let mut f = self.beta[(h, 0)];
            for j in 0..h {
                f += self.beta[(j, 0)] * self.phi(self.z[(i, j)]);
            }
            self.pred[i] = f;
        }
        let mut loss = (0..n)
            .map(|i| (self.pred[i] - self.y[(i, 0)]).powi(2))
            .sum::<f64>()
            / n as f64;
        for j in 0..h {
            self.cancel.check()?;
            let bj = self.beta[(j, 0)];
            // Residual without unit j, and the weighted design diag(βⱼDⱼ)X̃.
            for i in 0..n {
                let zj = self.z[(i, j)];
                let dj = bj * self.slope(zj);
                self.unit_target[(i, 0)] = self.y[(i, 0)] - (self.pred[i] - bj * self.phi(zj));
                for c in 0..q {
                    self.unit_design[(i, c)] = dj * self.xt[(i, c)];
                }
            }
            self.unit.solve(
                self.unit_design.as_ref(),
                self.unit_target.as_ref(),
                self.config.lambda,
                0,
                self.unit_w.as_mut(),
            )?;
            self.last_flops += flops::normal_equations(n, q, 1);
            for s in self.step_sizes() {
                for c in 0..q {
                    self.cand[c] = self.w[(j, c)] + s * (self.unit_w[(c, 0)] - self.w[(j, c)]);
                }
                let cand = &self.cand;
                let mut new_loss = 0.0;
                for i in 0..n {
                    let zn: f64 = (0..q).map(|c| self.xt[(i, c)] * cand[c]).sum();
                    let f = self.pred[i] - bj * self.phi(self.z[(i, j)]) + bj * self.phi(zn);
                    new_loss += (f - self.y[(i, 0)]).powi(2);
                }
                new_loss /= n as f64;
                // The trial's pre-activations X̃w, and again on acceptance.
                self.last_flops += 2.0 * flops::matmul(n, q, 1);
                if self.config.safeguard != Safeguard::Backtracking || new_loss <= loss {
                    for c in 0..q {
                        self.w[(j, c)] = self.cand[c];
                    }
                    for i in 0..n {
                        let zn: f64 = (0..q).map(|c| self.xt[(i, c)] * self.cand[c]).sum();
                        self.pred[i] += bj * (self.phi(zn) - self.phi(self.z[(i, j)]));
                        self.z[(i, j)] = zn;
                    }
                    loss = new_loss;
                    break;
                }
            }
        }
        Ok(())
    }

    /// The current hidden pattern: φ'(z) (1 where unit j is active on sample i, else α).
    pub fn pattern(&self) -> Mat<f64> {
        let z = if self.joint {
            &self.xt * self.w.transpose()
        } else {
            self.z.clone()
        };
        Mat::from_fn(z.nrows(), self.h(), |i, j| self.slope(z[(i, j)]))
    }

    /// Flops actually performed by the last step (sparsity and backtracking included), in the
    /// convention of [`fitbench_core::flops`]: every solve and matrix product, and the
    /// element-wise products that build the joint Gram matrix.
    pub fn last_step_flops(&self) -> f64 {
        self.last_flops
    }

    /// How many solves so far were singular or ill-conditioned and fell back to the
    /// pseudo-inverse (minimum-norm) solution: output, joint hidden and per-neuron solves.
    pub fn pseudo_inverse_solves(&self) -> usize {
        self.pinv_solves + self.output.pseudo_inverse_solves() + self.unit.pseudo_inverse_solves()
    }

    /// Whether the hidden layer is solved jointly (else per neuron).
    pub fn is_joint(&self) -> bool {
        self.joint
    }

    /// Whether the joint Gram matrix is built from the pattern's sums (else dense products).
    pub fn gram_by_pattern(&self) -> bool {
        self.pattern.is_some()
    }

    /// One alternation (the body of [`Trainer::step`]).
    fn alternate(&mut self) -> Result<StepOutcome> {
        self.last_flops = 0.0;
        // The previous step ended with the output solve for the same W: its β and loss stand.
        let loss_a = if self.beta_fresh {
            self.mse
        } else {
            self.solve_output()?
        };
        if self.joint {
            self.solve_hidden_joint()?;
            self.accept_joint(loss_a)?;
        } else {
            self.step_per_neuron()?;
        }
        self.mse = self.solve_output()?;
        if !self.mse.is_finite() {
            return Err(Error::NonFinite(format!(
                "the analytic iterate (training MSE {})",
                self.mse
            )));
        }
        Ok(StepOutcome::Continue)
    }

    /// Replaces the hidden weights (h×(d+1), bias last) and recomputes the pattern.
    pub fn set_hidden(&mut self, w: &Mat<f64>) {
        self.w.copy_from(w);
        self.refresh_z();
        self.beta_fresh = false;
    }
}

impl Trainer for Analytic {
    /// One alternation: output solve, hidden solve with the pattern fixed, safeguarded
    /// acceptance, output refit.
    fn step(&mut self) -> Result<StepOutcome> {
        self.cancel.check()?;
        if self.z_stale {
            self.refresh_z();
            self.z_stale = false;
        }
        self.start.0.copy_from(&self.w);
        self.start.1.copy_from(&self.beta);
        (self.start.2, self.start.3) = (self.mse, self.beta_fresh);
        match self.alternate() {
            Err(e @ Error::Cancelled(_)) => {
                self.w.copy_from(&self.start.0);
                self.beta.copy_from(&self.start.1);
                (self.mse, self.beta_fresh) = (self.start.2, self.start.3);
                self.z_stale = !self.joint;
                Err(e)
            }
            done => done,
        }
    }

    fn params(&self) -> Mlp {
        let (h, q) = (self.h(), self.xt.ncols());
        let d = q - 1;
        Mlp {
            widths: vec![d, h, 1],
            activations: self.activations.clone(),
            weights: vec![
                Mat::from_fn(h, d, |i, j| self.w[(i, j)]),
                Mat::from_fn(1, h, |_, j| self.beta[(j, 0)]),
            ],
            biases: vec![
                Col::from_fn(h, |i| self.w[(i, d)]),
                Col::from_fn(1, |_| self.beta[(h, 0)]),
            ],
        }
    }

    fn set_cancel(&mut self, token: CancelToken) {
        self.output.set_cancel(token.clone());
        self.unit.set_cancel(token.clone());
        self.cancel = token;
    }

    /// The nominal dense-form count, in the convention of [`fitbench_core::flops`]: the
    /// leading terms of the joint hidden solve, one Gram triangle of the n × p design
    /// (p = h(d+1)) and its Cholesky, n·p² + p³/3 ([`flops::gram`], [`flops::cholesky`]),
    /// plus the Gram triangles of the two output solves, 2·n·(h+1)². Lower-order terms (the
    /// right-hand sides, the triangular solves, the trial forward passes) are left out. The
    /// flops actually performed (fewer, thanks to the pattern's zeros and symmetry; lower-order
    /// terms included) are in [`Analytic::last_step_flops`].
    fn flops_per_step(&self) -> Option<f64> {
        let (n, h, q) = (self.xt.nrows(), self.h(), self.xt.ncols());
        let p = h * q;
        Some(flops::gram(n, p) + flops::cholesky(p) + 2.0 * flops::gram(n, h + 1))
    }
}

/// The analytic trainer ([`Analytic`]): its name, help and capabilities.
pub const ANALYTIC: TrainerEntry = TrainerEntry::of::<AnalyticConfig>(
    "analytic",
    "alternating exact solves for one-hidden-layer relu/leaky_relu nets (RECONSTRUCTION of Barbu 2023)",
    Capabilities {
        deterministic: true,
        ..Capabilities::NONE
    },
);
