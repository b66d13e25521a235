//! Adam and SGD (with momentum; plain gradient descent at `momentum=0`) on the faer engine:
//! `adam-faer` and `sgd-faer`, the f64 twins of the burn trainers `adam` and `sgd`.
//!
//! They take the burn trainers' options and follow their semantics, so that a difference
//! in speed between the two is the framework's, not the algorithm's:
//!
//! - one [`step`](Trainer::step) is one epoch: a full-batch update (`batch = 0` or
//!   `batch ≥ n`), or one update per mini-batch of a seeded reshuffle of the rows (the same
//!   [`rng::permutation`] draws as the burn trainers, so the same seed visits the same
//!   batches in the same order; the last batch holds the remainder);
//! - the loss of a batch is its mean squared error over rows and outputs;
//! - `weight_decay` adds `weight_decay·θ` to the gradient of **every** parameter, biases
//!   included (burn's `WeightDecay`);
//! - Adam: `m ← β₁m + (1 − β₁)g`, `v ← β₂v + (1 − β₂)g²` (zero at the start),
//!   `θ ← θ − lr·m·c/(√v + ε·√(1 − β₂ᵗ))` with `c = √(1 − β₂ᵗ)/(1 − β₁ᵗ)`, burn's (and
//!   PyTorch's) bias-corrected update;
//! - SGD: `u ← g` on the first update, then `u ← μu + (1 − dampening)g`; the step uses `u`,
//!   or `g + μu` with Nesterov momentum; `θ ← θ − lr·step`.
//!
//! One difference is kept on purpose: every scalar here is f64, while burn 0.22 stores β₁,
//! β₂, ε, the momentum and the weight decay as f32 and computes Adam's bias corrections in
//! f32 (β₁ = 0.9 becomes 0.899999976…, and √(1 − β₂ᵗ) is rounded to f32 at every update),
//! even when its tensors are f64. `adam-faer:burn_scalars=true` reproduces that arithmetic
//! exactly, for the cross-check against burn (default `false`: plain f64).
//!
//! Everything `step` needs (the gradient, the optimiser's state, the batch buffers and the
//! engine's workspaces) is allocated in `init`.
//!
//! With mini-batches a step polls its [`CancelToken`] before every batch; a cancelled step
//! puts θ back to where the epoch started (a copy taken at its start) and returns
//! [`Error::Cancelled`]; the optimiser's state is not rolled back (the harness ends the run).

use crate::engine::{self, Workspace};
use faer::Mat;
use fitbench_core::registry::{Capabilities, TrainerEntry};
use fitbench_core::{
    Architecture, CancelToken, Dataset, Error, Mlp, Result, StepOutcome, Trainer, TrainerConfig,
    flops, rng,
};
use serde::{Deserialize, Serialize};

/// Configuration of `adam-faer` (defaults are the burn `adam`'s).
///
/// | name | default | purpose | range |
/// |---|---|---|---|
/// | `lr` | 1e-3 | learning rate | > 0 |
/// | `weight_decay` | 0 | L2 penalty added to the gradient (all parameters) | ≥ 0 |
/// | `batch` | 0 | mini-batch size; 0 = full batch | ≥ 0 |
/// | `beta1` | 0.9 | first-moment decay | [0, 1) |
/// | `beta2` | 0.999 | second-moment decay | [0, 1) |
/// | `eps` | 1e-8 | denominator offset | > 0 |
/// | `burn_scalars` | false | round β₁, β₂, ε and the bias corrections to f32 as burn 0.22 does | |
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdamFaerConfig {
    /// Learning rate.
    pub lr: f64,
    /// Weight decay (L2, every parameter).
    pub weight_decay: f64,
    /// Mini-batch size; 0 = full batch.
    pub batch: usize,
    /// β₁.
    pub beta1: f64,
    /// β₂.
    pub beta2: f64,
    /// ε.
    pub eps: f64,
    /// Compute the optimiser's scalars in f32, as burn 0.22 does (for cross-checks).
    pub burn_scalars: bool,
}

impl Default for AdamFaerConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            weight_decay: 0.0,
            batch: 0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            burn_scalars: false,
        }
    }
}

/// Configuration of `sgd-faer` (defaults are the burn `sgd`'s).
///
/// | name | default | purpose | range |
/// |---|---|---|---|
/// | `lr` | 1e-2 | learning rate | > 0 |
/// | `weight_decay` | 0 | L2 penalty added to the gradient (all parameters) | ≥ 0 |
/// | `batch` | 0 | mini-batch size; 0 = full batch | ≥ 0 |
/// | `momentum` | 0.9 | heavy-ball momentum (0 = plain gradient descent) | [0, 1) |
/// | `dampening` | 0 | momentum dampening | [0, 1) |
/// | `nesterov` | false | Nesterov momentum (needs momentum > 0, dampening 0) | |
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SgdFaerConfig {
    /// Learning rate.
    pub lr: f64,
    /// Weight decay (L2, every parameter).
    pub weight_decay: f64,
    /// Mini-batch size; 0 = full batch.
    pub batch: usize,
    /// Momentum μ.
    pub momentum: f64,
    /// Dampening.
    pub dampening: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
}

impl Default for SgdFaerConfig {
    fn default() -> Self {
        Self {
            lr: 1e-2,
            weight_decay: 0.0,
            batch: 0,
            momentum: 0.9,
            dampening: 0.0,
            nesterov: false,
        }
    }
}

/// Checks the options both trainers share.
fn validate_common(name: &str, lr: f64, weight_decay: f64) -> Result<()> {
    if !(lr.is_finite() && lr > 0.0) {
        return Err(Error::config(
            format!("{name}.lr"),
            lr,
            format!("the learning rate must be a positive number, e.g. {name}:lr=1e-3"),
        ));
    }
    if !(weight_decay.is_finite() && weight_decay >= 0.0) {
        return Err(Error::config(
            format!("{name}.weight_decay"),
            weight_decay,
            "must be a finite number ≥ 0",
        ));
    }
    Ok(())
}

/// Checks that `v` lies in [0, 1).
fn unit_interval(what: &str, v: f64, example: &str) -> Result<()> {
    if !(0.0..1.0).contains(&v) {
        return Err(Error::config(
            what,
            v,
            format!("must lie in [0, 1), e.g. {example}"),
        ));
    }
    Ok(())
}

/// The engine's memory for one epoch: the workspace of the full set or of one batch and of
/// the remainder (3·rows·Σₗ mₗ·8 each), the data and a batch copy ((n + b)·(d + k)·8), and
/// four parameter-sized vectors (θ, g and the optimiser's two).
fn gradient_memory(n: usize, batch: usize, widths: &[usize]) -> u64 {
    let engine::NetSize {
        d,
        k,
        units,
        params: p,
    } = engine::NetSize::of(widths);
    let rows = if batch == 0 || batch >= n {
        n as u64
    } else {
        2 * batch as u64
    };
    let b = if batch == 0 { 0 } else { batch.min(n) as u64 };
    (3 * rows * units * 8)
        .saturating_add((n as u64 + b) * (d + k) * 8)
        .saturating_add(4 * p * 8)
}

impl TrainerConfig for AdamFaerConfig {
    fn validate(&self) -> Result<()> {
        validate_common(ADAM_FAER.name, self.lr, self.weight_decay)?;
        unit_interval("adam-faer.beta1", self.beta1, "beta1=0.9")?;
        unit_interval("adam-faer.beta2", self.beta2, "beta2=0.999")?;
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(Error::config(
                "adam-faer.eps",
                self.eps,
                "must be a positive number, e.g. 1e-8",
            ));
        }
        Ok(())
    }

    /// Any architecture: the requested one.
    fn architecture(&self, requested: &Architecture) -> Result<Architecture> {
        engine::any_architecture(requested)
    }

    fn memory_bytes(&self, n: usize, widths: &[usize]) -> u64 {
        gradient_memory(n, self.batch, widths)
    }

    fn init(&self, train: &Dataset, initial: Mlp, seed: u64) -> Result<Box<dyn Trainer>> {
        self.validate()?;
        let rule = Rule::Adam {
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.eps,
            burn_scalars: self.burn_scalars,
        };
        let shared = Shared {
            lr: self.lr,
            weight_decay: self.weight_decay,
            batch: self.batch,
        };
        Ok(Box::new(FaerGradient::new(
            ADAM_FAER.name,
            rule,
            shared,
            train,
            initial,
            seed,
        )?))
    }
}

impl TrainerConfig for SgdFaerConfig {
    fn validate(&self) -> Result<()> {
        validate_common(SGD_FAER.name, self.lr, self.weight_decay)?;
        unit_interval("sgd-faer.momentum", self.momentum, "momentum=0.9")?;
        unit_interval("sgd-faer.dampening", self.dampening, "dampening=0")?;
        if self.nesterov && (self.momentum == 0.0 || self.dampening != 0.0) {
            return Err(Error::config(
                "sgd-faer.nesterov",
                true,
                "Nesterov momentum needs momentum > 0 and dampening = 0",
            ));
        }
        Ok(())
    }

    /// Any architecture: the requested one.
    fn architecture(&self, requested: &Architecture) -> Result<Architecture> {
        engine::any_architecture(requested)
    }

    fn memory_bytes(&self, n: usize, widths: &[usize]) -> u64 {
        gradient_memory(n, self.batch, widths)
    }

    fn init(&self, train: &Dataset, initial: Mlp, seed: u64) -> Result<Box<dyn Trainer>> {
        self.validate()?;
        let rule = if self.momentum > 0.0 {
            Rule::Momentum {
                momentum: self.momentum,
                dampening: self.dampening,
                nesterov: self.nesterov,
            }
        } else {
            Rule::Plain
        };
        let shared = Shared {
            lr: self.lr,
            weight_decay: self.weight_decay,
            batch: self.batch,
        };
        Ok(Box::new(FaerGradient::new(
            SGD_FAER.name,
            rule,
            shared,
            train,
            initial,
            seed,
        )?))
    }
}

/// The options both trainers share.
#[derive(Clone, Copy, Debug)]
struct Shared {
    lr: f64,
    weight_decay: f64,
    batch: usize,
}

/// The update rule.
#[derive(Clone, Copy, Debug)]
enum Rule {
    Plain,
    Momentum {
        momentum: f64,
        dampening: f64,
        nesterov: bool,
    },
    Adam {
        beta1: f64,
        beta2: f64,
        eps: f64,
        burn_scalars: bool,
    },
}

/// Adam's scalars for update `time`: (β₁, 1 − β₁, β₂, 1 − β₂, c, ε·√(1 − β₂ᵗ)).
fn adam_scalars(
    beta1: f64,
    beta2: f64,
    eps: f64,
    time: i32,
    burn_scalars: bool,
) -> (f64, f64, f64, f64, f64, f64) {
    if burn_scalars {
        // burn 0.22's `AdaptiveMomentum::transform`, operation for operation, in f32.
        let (b1, b2, e) = (beta1 as f32, beta2 as f32, eps as f32);
        let bc2 = (1.0f32 - b2.powi(time)).sqrt();
        let factor = bc2 / (1.0f32 - b1.powi(time));
        (
            f64::from(b1),
            f64::from(1.0f32 - b1),
            f64::from(b2),
            f64::from(1.0f32 - b2),
            f64::from(factor),
            f64::from(e * bc2),
        )
    } else {
        let bc2 = (1.0 - beta2.powi(time)).sqrt();
        (
            beta1,
            1.0 - beta1,
            beta2,
            1.0 - beta2,
            bc2 / (1.0 - beta1.powi(time)),
            eps * bc2,
        )
    }
}

/// A batch's rows gathered into contiguous matrices, with the engine's workspace for them.
#[derive(Debug)]
struct Batch {
    x: Mat<f64>,
    y: Mat<f64>,
    ws: Workspace,
}

impl Batch {
    fn new(mlp: &Mlp, rows: usize, d: usize, k: usize) -> Self {
        Self {
            x: Mat::zeros(rows, d),
            y: Mat::zeros(rows, k),
            ws: Workspace::new(mlp, rows),
        }
    }
}

/// `adam-faer` or `sgd-faer` bound to a training set (see the [module docs](self)).
#[derive(Debug)]
pub struct FaerGradient {
    name: &'static str,
    rule: Rule,
    lr: f64,
    weight_decay: f64,
    x: Mat<f64>,
    y: Mat<f64>,
    mlp: Mlp,
    theta: Vec<f64>,
    grad: Vec<f64>,
    /// Adam's first moment, or the momentum velocity.
    state1: Vec<f64>,
    /// Adam's second moment.
    state2: Vec<f64>,
    /// Updates done (Adam's t).
    updates: u64,
    /// The whole training set's workspace (full batch), or `None` with mini-batches.
    full: Option<Workspace>,
    /// Mini-batch size b < n and its buffers: a full batch and the remainder n mod b.
    batches: Option<(usize, Batch, Option<Batch>)>,
    perm: Vec<usize>,
    rng: rng::Rng,
    flops: f64,
    /// θ at the start of the epoch (mini-batches only), restored by a cancelled step.
    theta_start: Vec<f64>,
    cancel: CancelToken,
}

impl FaerGradient {
    fn new(
        name: &'static str,
        rule: Rule,
        shared: Shared,
        train: &Dataset,
        initial: Mlp,
        seed: u64,
    ) -> Result<Self> {
        let Shared {
            lr,
            weight_decay,
            batch,
        } = shared;
        let theta = engine::initial_parameters(name, train, &initial)?;
        let (n, d, k, p) = (train.n(), train.d(), train.k(), theta.len());
        let mini = batch > 0 && batch < n;
        let (full, batches, perm) = if mini {
            let rem = n % batch;
            let last = (rem > 0).then(|| Batch::new(&initial, rem, d, k));
            (
                None,
                Some((batch, Batch::new(&initial, batch, d, k), last)),
                vec![0; n],
            )
        } else {
            (Some(Workspace::new(&initial, n)), None, Vec::new())
        };
        Ok(Self {
            name,
            rule,
            lr,
            weight_decay,
            x: train.x.clone(),
            y: train.y.clone(),
            theta,
            grad: vec![0.0; p],
            state1: vec![0.0; p],
            state2: vec![
                0.0;
                if matches!(rule, Rule::Adam { .. }) {
                    p
                } else {
                    0
                }
            ],
            updates: 0,
            full,
            batches,
            perm,
            rng: rng::rng(seed),
            flops: flops::gradient(&initial.widths, n),
            theta_start: vec![0.0; if mini { p } else { 0 }],
            cancel: CancelToken::never(),
            mlp: initial,
        })
    }

    /// One optimiser update from `self.grad`, then the model is refreshed from θ.
    fn update(&mut self) -> Result<()> {
        self.updates += 1;
        let (lr, wd) = (self.lr, self.weight_decay);
        let first = self.updates == 1;
        match self.rule {
            Rule::Plain => {
                for (t, &g) in self.theta.iter_mut().zip(&self.grad) {
                    let g = if wd > 0.0 { g + wd * *t } else { g };
                    *t -= lr * g;
                }
            }
            Rule::Momentum {
                momentum,
                dampening,
                nesterov,
            } => {
                for ((t, &g), u) in self.theta.iter_mut().zip(&self.grad).zip(&mut self.state1) {
                    let g = if wd > 0.0 { g + wd * *t } else { g };
                    *u = if first {
                        g
                    } else {
                        g * (1.0 - dampening) + *u * momentum
                    };
                    let step = if nesterov { *u * momentum + g } else { *u };
                    *t -= lr * step;
                }
            }
            Rule::Adam {
                beta1,
                beta2,
                eps,
                burn_scalars,
            } => {
                let time = i32::try_from(self.updates).unwrap_or(i32::MAX);
                let (beta1, one_minus_beta1, beta2, one_minus_beta2, factor, offset) =
                    adam_scalars(beta1, beta2, eps, time, burn_scalars);
                for (((t, &g), m), v) in self
                    .theta
                    .iter_mut()
                    .zip(&self.grad)
                    .zip(&mut self.state1)
                    .zip(&mut self.state2)
                {
                    let g = if wd > 0.0 { g + wd * *t } else { g };
                    *m = *m * beta1 + g * one_minus_beta1;
                    *v = *v * beta2 + g * g * one_minus_beta2;
                    *t -= lr * (*m * factor / (v.sqrt() + offset));
                }
            }
        }
        engine::unflatten(&self.theta, &mut self.mlp)
    }

    /// Gathers rows `perm[start..start + rows]` into `batch` and evaluates the gradient there.
    fn batch_gradient(
        mlp: &Mlp,
        x: &Mat<f64>,
        y: &Mat<f64>,
        rows: &[usize],
        batch: &mut Batch,
        grad: &mut [f64],
    ) -> Result<f64> {
        for (j, col) in (0..x.ncols()).map(|j| (j, x.col(j))) {
            for (i, &r) in rows.iter().enumerate() {
                batch.x[(i, j)] = col[r];
            }
        }
        for j in 0..y.ncols() {
            for (i, &r) in rows.iter().enumerate() {
                batch.y[(i, j)] = y[(r, j)];
            }
        }
        engine::loss_and_gradient(
            mlp,
            batch.x.as_ref(),
            batch.y.as_ref(),
            0.0,
            &mut batch.ws,
            grad,
        )
    }
}

impl Trainer for FaerGradient {
    /// One epoch: a full-batch update, or one update per mini-batch of a seeded reshuffle
    /// (polling the cancel token before every batch).
    fn step(&mut self) -> Result<StepOutcome> {
        self.cancel.check()?;
        let last_loss = if let Some(ws) = self.full.as_mut() {
            let loss = engine::loss_and_gradient(
                &self.mlp,
                self.x.as_ref(),
                self.y.as_ref(),
                0.0,
                ws,
                &mut self.grad,
            )?;
            if loss.is_finite() {
                self.update()?;
            }
            loss
        } else {
            rng::permutation_into(&mut self.rng, &mut self.perm);
            self.theta_start.copy_from_slice(&self.theta);
            let n = self.perm.len();
            let mut start = 0;
            let mut loss = f64::NAN;
            while start < n {
                if let Err(e) = self.cancel.check() {
                    self.theta.copy_from_slice(&self.theta_start);
                    engine::unflatten(&self.theta, &mut self.mlp)?;
                    return Err(e);
                }
                let Some((b, full, rem)) = self.batches.as_mut() else {
                    break;
                };
                let len = (*b).min(n - start);
                let buf = if len == *b {
                    full
                } else {
                    rem.as_mut().unwrap_or(full)
                };
                loss = Self::batch_gradient(
                    &self.mlp,
                    &self.x,
                    &self.y,
                    &self.perm[start..start + len],
                    buf,
                    &mut self.grad,
                )?;
                if !loss.is_finite() {
                    break;
                }
                self.update()?;
                start += len;
            }
            loss
        };
        if !last_loss.is_finite() {
            return Err(Error::NonFinite(format!(
                "the {} batch loss ({last_loss})",
                self.name
            )));
        }
        Ok(StepOutcome::Continue)
    }

    fn params(&self) -> Mlp {
        self.mlp.clone()
    }

    /// One gradient evaluation over the whole training set per epoch, whatever the batch
    /// size: [`flops::gradient`] (the optimiser's element-wise update is not counted).
    fn flops_per_step(&self) -> Option<f64> {
        Some(self.flops)
    }

    fn set_cancel(&mut self, token: CancelToken) {
        self.cancel = token;
    }
}

/// What the faer gradient trainers can do: tune `lr` (no burn backend to choose).
const FAER_GRADIENT: Capabilities = Capabilities {
    learning_rate: true,
    gradient_based: true,
    deterministic: true,
    ..Capabilities::NONE
};

/// Adam on the faer engine ([`FaerGradient`]): its name, help and capabilities.
pub const ADAM_FAER: TrainerEntry = TrainerEntry::of::<AdamFaerConfig>(
    "adam-faer",
    "Adam on the faer engine (f64), one epoch per step (batch 0 = full batch); the burn adam's twin",
    FAER_GRADIENT,
);

/// SGD on the faer engine ([`FaerGradient`]): its name, help and capabilities.
pub const SGD_FAER: TrainerEntry = TrainerEntry::of::<SgdFaerConfig>(
    "sgd-faer",
    "SGD with momentum (momentum=0: plain gradient descent) on the faer engine (f64), one epoch per step; the burn sgd's twin",
    FAER_GRADIENT,
);
