//! The `analytic` trainer (see the crate docs for the algorithm).

use crate::pattern::PatternGram;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt::factor::cholesky_in_place_scratch;
use faer::linalg::cholesky::llt::solve::solve_in_place;
use faer::linalg::matmul::matmul;
use faer::{Accum, Col, Mat, Par};
use fitbench_core::linalg::{
    NormalEquations, PINV_REL_TOL, PIVOT_RATIO_THRESHOLD, cholesky_pivot_ratio, pinv_solve,
};
use fitbench_core::{
    Activation, Architecture, Dataset, Error, Mlp, Result, StepOutcome, Trainer, TrainerConfig,
    flops,
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
    /// Sums over the rows where both units are active ([`crate::pattern`]): no multiplication
    /// by a zero of the pattern.
    Pattern,
}

/// Rows per block of the true-loss evaluation.
const LOSS_BLOCK: usize = 256;

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
    fn name(&self) -> &str {
        "analytic"
    }

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
        Ok(())
    }

    /// One hidden layer with ReLU or leaky ReLU and an identity output.
    fn architecture(&self, requested: &Architecture) -> Result<Architecture> {
        if requested.hidden.len() != 1
            || alpha_of(requested.activation).is_none()
            || requested.output != Activation::Identity
        {
            return Err(Error::Architecture {
                trainer: "analytic".into(),
                architecture: requested.to_string(),
                hint: "it trains two-layer networks only: one hidden layer with relu or leaky_relu:ALPHA (e.g. --hidden 32 --activation relu)".into(),
            });
        }
        Ok(requested.clone())
    }

    /// The O(n·h) buffers of every step, the joint hidden solve's h(d+1)-square Gram matrix,
    /// and either the n × q(q+1)/2 matrix of distinct input products (q = d + 1; `dense`) or
    /// the h(h+1)/2 × q(q+1)/2 pair sums and one block of products (`pattern`).
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
        // Per row: X̃ (q), y, Z, [φ(Z) 1], the trial Z and the predictions; the joint solve
        // adds D ⊙ residual, the pattern method its pattern bits (h/16 words), the dense
        // method D, Aⱼ and the products; the per-neuron solve one unit's design and target.
        let mut per_row = q + 1 + h + (h + 1) + h + 1;
        let (pair_sums, block) = if by_pattern {
            per_row += h + h.div_ceil(16);
            // Pair sums and one block of products, both with rows padded to 32 columns.
            let ldt = npairs.div_ceil(32) * 32;
            (h * (h + 1) / 2 * ldt, 129 * ldt)
        } else if joint {
            per_row += 3 * h + npairs;
            (0, h * npairs)
        } else {
            per_row += q + 1;
            (0, 0)
        };
        8 * (n * per_row + gram + pair_sums + block)
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
    /// Pre-activations X̃Wᵀ, n×h.
    z: Mat<f64>,
    /// [φ(Z) 1], n×(h+1).
    h_mat: Mat<f64>,
    output: NormalEquations,
    // Joint hidden solve.
    gram: Mat<f64>,
    rhs: Mat<f64>,
    mem: MemBuffer,
    /// Distinct products x̃ᵢ꜀x̃ᵢ꜀' (c ≤ c'), n × q(q+1)/2, fixed for the training set.
    tprod: Mat<f64>,
    /// The (c, c') of each column of `tprod`.
    pairs: Vec<(usize, usize)>,
    /// The pattern D, n×h.
    dmask: Mat<f64>,
    /// D ⊙ (y − β₀), n×h.
    dres: Mat<f64>,
    /// X̃ᵀ(D ⊙ (y − β₀)), q×h.
    xtd: Mat<f64>,
    /// Aⱼ = [Dⱼ ⊙ Dₖ]ₖ≥ⱼ, n×h (first h − j columns used).
    aj: Mat<f64>,
    /// Aⱼᵀ T, h × q(q+1)/2.
    mblk: Mat<f64>,
    /// The pattern method's sums (`gram = pattern`; then `tprod`, `aj` and `mblk` are empty).
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
    z_try: Mat<f64>,
    mse: f64,
    /// Whether β is the output solve's for the current W (and `mse` its loss).
    beta_fresh: bool,
    last_flops: f64,
    /// Joint hidden solves that fell back to the pseudo-inverse.
    pinv_solves: usize,
    par: Par,
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
                cholesky_in_place_scratch::<f64>(p, par, Default::default()),
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
            z: Mat::zeros(n, h),
            h_mat: Mat::from_fn(n, h + 1, |_, j| if j == h { 1.0 } else { 0.0 }),
            output: NormalEquations::new(h + 1, 1, par, "analytic output layer").with_unknowns(
                (1..=h)
                    .map(|j| format!("output weight of hidden unit {j}"))
                    .chain(std::iter::once("output bias".to_string()))
                    .collect(),
            ),
            gram: Mat::zeros(gp, gp),
            rhs: Mat::zeros(gp, 1),
            mem: MemBuffer::new(scratch),
            tprod: Mat::zeros(0, 0),
            pairs: Vec::new(),
            dmask: Mat::zeros(if dense { n } else { 0 }, h),
            dres: Mat::zeros(if joint { n } else { 0 }, h),
            xtd: Mat::zeros(d + 1, h),
            aj: Mat::zeros(if dense { n } else { 0 }, h),
            mblk: Mat::zeros(if dense { h } else { 0 }, (d + 1) * (d + 2) / 2),
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
            pred: vec![0.0; n],
            w_ls: Mat::zeros(h, d + 1),
            w_try: Mat::zeros(h, d + 1),
            z_try: Mat::zeros(n, h),
            mse: f64::INFINITY,
            beta_fresh: false,
            last_flops: 0.0,
            pinv_solves: 0,
            par,
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
            } else {
                let xt = &this.xt;
                this.tprod = Mat::from_fn(n, this.pairs.len(), |i, pi| {
                    let (c, c2) = this.pairs[pi];
                    xt[(i, c)] * xt[(i, c2)]
                });
            }
        }
        this.refresh_z();
        this.mse = this.true_loss_of_z(&this.z);
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

    fn refresh_z(&mut self) {
        matmul(
            self.z.as_mut(),
            Accum::Replace,
            self.xt.as_ref(),
            self.w.transpose(),
            1.0,
            self.par,
        );
    }

    /// True training MSE for pre-activations `z` and the current β.
    /// Rows are taken [`LOSS_BLOCK`] at a time so that the loop over units runs down contiguous
    /// columns; each row's sum keeps the order β₀ + β₁φ(z₁) + … + β_hφ(z_h).
    fn true_loss_of_z(&self, z: &Mat<f64>) -> f64 {
        let (n, h, alpha) = (z.nrows(), self.h(), self.alpha);
        let y = self.y.col_as_slice(0);
        let mut s = 0.0;
        let mut f = [0.0; LOSS_BLOCK];
        for r0 in (0..n).step_by(LOSS_BLOCK) {
            let m = LOSS_BLOCK.min(n - r0);
            f[..m].fill(self.beta[(h, 0)]);
            for j in 0..h {
                let bj = self.beta[(j, 0)];
                for (f, &z) in f[..m].iter_mut().zip(&z.col_as_slice(j)[r0..r0 + m]) {
                    *f += bj * leaky(alpha, z);
                }
            }
            for (f, &y) in f[..m].iter().zip(&y[r0..r0 + m]) {
                let r = f - y;
                s += r * r;
            }
        }
        s / n as f64
    }

    /// Step 1: β = (HᵀH + λI)⁻¹Hᵀy for the current W (the intercept β₀ is not penalised).
    /// Returns the training MSE after the solve.
    pub fn solve_output(&mut self) -> Result<f64> {
        let (h, alpha) = (self.h(), self.alpha);
        for j in 0..h {
            let (dst, z) = (self.h_mat.col_as_slice_mut(j), self.z.col_as_slice(j));
            for (o, &z) in dst.iter_mut().zip(z) {
                *o = leaky(alpha, z);
            }
        }
        self.output.solve(
            self.h_mat.as_ref(),
            self.y.as_ref(),
            self.config.lambda,
            1,
            self.beta.as_mut(),
        )?;
        self.last_flops += flops::normal_equations(self.z.nrows(), h + 1, 1);
        self.mse = self.true_loss_of_z(&self.z);
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
    /// βⱼβₖ Σᵢ DᵢⱼDᵢₖ x̃ᵢx̃ᵢᵀ; with T the n × q(q+1)/2 matrix of the distinct products
    /// x̃ᵢ꜀x̃ᵢ꜀' (computed once in `new`, X̃ being fixed), the whole lower block column j is
    /// one matmul Aⱼᵀ T with Aⱼ = [Dⱼ ⊙ Dₖ]ₖ≥ⱼ. This uses both symmetries (k ≥ j, c ≤ c'),
    /// runs as large gemms, and never forms the n × h(d+1) design matrix.
    ///
    /// When the system is singular or ill-conditioned (λ = 0 with a unit that is never
    /// active, or βⱼ = 0), it is solved by the pseudo-inverse instead (the minimum-norm
    /// solution, the λ → 0 limit of ridge; [`PINV_REL_TOL`]).
    fn solve_hidden_joint(&mut self) -> Result<()> {
        let (h, q) = (self.h(), self.xt.ncols());
        let p = h * q;
        self.fill_hidden_joint();
        let ratio = cholesky_pivot_ratio(self.gram.as_mut(), self.par, &mut self.mem);
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
            self.fill_hidden_joint();
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

    /// Builds the lower triangle of the joint hidden system (Gram + λI) and its right-hand side.
    fn fill_hidden_joint(&mut self) {
        let (n, h, q) = (self.xt.nrows(), self.h(), self.xt.ncols());
        let beta0 = self.beta[(h, 0)];
        // Pattern D and D ⊙ (y − β₀).
        let (alpha, dense) = (self.alpha, self.pattern.is_none());
        for j in 0..h {
            let (z, y) = (self.z.col_as_slice(j), self.y.col_as_slice(0));
            let dres = self.dres.col_as_slice_mut(j);
            for ((r, &z), &y) in dres.iter_mut().zip(z).zip(y) {
                *r = if z > 0.0 {
                    y - beta0
                } else {
                    alpha * (y - beta0)
                };
            }
            if dense {
                for (m, &z) in self.dmask.col_as_slice_mut(j).iter_mut().zip(z) {
                    *m = if z > 0.0 { 1.0 } else { alpha };
                }
            }
        }
        // Right-hand side: block j = βⱼ X̃ᵀ(Dⱼ ⊙ (y − β₀)).
        matmul(
            self.xtd.as_mut(),
            Accum::Replace,
            self.xt.transpose(),
            self.dres.as_ref(),
            1.0,
            self.par,
        );
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
    }

    /// The Gram blocks by sums over the rows where both units are active ([`crate::pattern`]).
    /// With α ≠ 0, block (k, j) is α²S + α(1 − α)(Q_jj + Q_kk) + (1 − α)²Q_jk.
    fn fill_gram_by_pattern(&mut self) {
        let (h, q, alpha) = (self.h(), self.xt.ncols(), self.alpha);
        let Some(pg) = self.pattern.as_mut() else {
            return;
        };
        pg.set_pattern(self.z.as_ref());
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

    /// The Gram blocks by one matrix product per unit (zeros of the pattern included).
    fn fill_gram_dense(&mut self) {
        let (n, h, q) = (self.xt.nrows(), self.h(), self.xt.ncols());
        let npairs = self.pairs.len();
        for j in 0..h {
            let width = h - j;
            for kk in 0..width {
                let (dst, dj) = (self.aj.col_as_slice_mut(kk), self.dmask.col_as_slice(j));
                let dk = self.dmask.col_as_slice(j + kk);
                for ((a, x), y) in dst.iter_mut().zip(dj).zip(dk) {
                    *a = x * y;
                }
            }
            matmul(
                self.mblk.as_mut().submatrix_mut(0, 0, width, npairs),
                Accum::Replace,
                self.aj.as_ref().submatrix(0, 0, n, width).transpose(),
                self.tprod.as_ref(),
                1.0,
                self.par,
            );
            // Aⱼ (n·width products) and Aⱼᵀ T.
            self.last_flops += (n * width) as f64 + flops::matmul(width, n, npairs);
            let bj = self.beta[(j, 0)];
            for kk in 0..width {
                let k = j + kk;
                let s = bj * self.beta[(k, 0)];
                for (pi, &(c, c2)) in self.pairs.iter().enumerate() {
                    let v = s * self.mblk[(kk, pi)];
                    self.gram[(k * q + c, j * q + c2)] = v;
                    self.gram[(k * q + c2, j * q + c)] = v;
                }
            }
        }
    }

    /// Applies W ← W + s(W_LS − W) with the configured safeguard, given the loss before.
    fn accept_joint(&mut self, loss_before: f64) {
        let (n, h, q) = (self.xt.nrows(), self.h(), self.xt.ncols());
        for s in self.step_sizes() {
            for j in 0..h {
                for c in 0..q {
                    self.w_try[(j, c)] = self.w[(j, c)] + s * (self.w_ls[(j, c)] - self.w[(j, c)]);
                }
            }
            matmul(
                self.z_try.as_mut(),
                Accum::Replace,
                self.xt.as_ref(),
                self.w_try.transpose(),
                1.0,
                self.par,
            );
            self.last_flops += flops::matmul(n, q, h);
            let loss = self.true_loss_of_z(&self.z_try);
            if self.config.safeguard != Safeguard::Backtracking || loss <= loss_before {
                std::mem::swap(&mut self.w, &mut self.w_try);
                std::mem::swap(&mut self.z, &mut self.z_try);
                return;
            }
        }
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

    /// The current hidden pattern: `true` where unit j is active on sample i.
    pub fn pattern(&self) -> Mat<f64> {
        Mat::from_fn(self.z.nrows(), self.h(), |i, j| self.slope(self.z[(i, j)]))
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

    /// Replaces the hidden weights (h×(d+1), bias last) and recomputes the pattern.
    pub fn set_hidden(&mut self, w: &Mat<f64>) {
        self.w.copy_from(w);
        self.refresh_z();
        self.beta_fresh = false;
    }
}

impl Trainer for Analytic {
    fn name(&self) -> &str {
        "analytic"
    }

    /// One alternation: output solve, hidden solve with the pattern fixed, safeguarded
    /// acceptance, output refit.
    fn step(&mut self) -> Result<StepOutcome> {
        self.last_flops = 0.0;
        // The previous step ended with the output solve for the same W: its β and loss stand.
        let loss_a = if self.beta_fresh {
            self.mse
        } else {
            self.solve_output()?
        };
        if self.joint {
            self.solve_hidden_joint()?;
            self.accept_joint(loss_a);
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
