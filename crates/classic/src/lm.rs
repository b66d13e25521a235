//! The Levenberg–Marquardt trainer `lm`.
//!
//! Minimises the training MSE `L(θ) = ‖r(θ)‖²/(n·k)`, `r = f(X) − Y`, over the flat
//! parameters θ of any [`Mlp`] (the [`engine`]'s order). One
//! [`step`](Trainer::step) is one LM iteration:
//!
//! 1. the residuals r and their Jacobian J ((n·k)×p) at θ ([`engine::residuals_and_jacobian`]);
//! 2. A = JᵀJ (one triangle, in place) and g = Jᵀr;
//! 3. solve `(A + μD) δ = −g` by an in-place Cholesky, D = I (`scaling = identity`) or
//!    D = diag(JᵀJ) (`scaling = marquardt`, floored at 10⁻¹² × its largest entry);
//! 4. the trial θ' = θ + δ is accepted only if `L(θ') < L(θ)`, with Nielsen's damping
//!    update: ρ = actual / predicted reduction; on acceptance μ ← μ·max(1/3, 1 − (2ρ − 1)³),
//!    ν ← 2; on rejection (or a failed factorisation) μ ← μ·ν, ν ← 2ν and the solve is
//!    retried within the same step, at most [`MAX_RETRIES`] times.
//!
//! The loss never increases. A step returns [`StepOutcome::Converged`] when the gradient is
//! exactly zero, when μ overflows, or when a rejected trial's predicted reduction is below
//! rounding (ε·L): nothing representable is left to gain. A non-finite loss at the current
//! parameters is [`Error::NonFinite`].
//!
//! Memory: the Jacobian (n·k·p·8 bytes), JᵀJ and its Cholesky factor (2·p²·8 bytes) and the
//! factorisation's workspace; [`TrainerConfig::memory_bytes`] counts them all, so the
//! harness refuses a run that does not fit its memory limit before `init`, and `init` itself
//! refuses (before allocating) a Jacobian above `max_jacobian_mb` MiB. Everything `step`
//! needs is allocated once in `init`.
//!
//! Time: one step costs about n·k·p² (JᵀJ) + p³/3 (each Cholesky) flops
//! ([`TrainerConfig::step_cost`]), so that the harness refuses a network whose single step
//! would take far longer than the time budget. A step polls its [`CancelToken`] between the
//! stages of the iteration, every block of columns of JᵀJ and every panel of the Cholesky
//! ([`fitbench_core::linalg::POLL_FLOPS`] of work), and before every damped trial, and then
//! returns [`Error::Cancelled`] with θ unchanged (μ may have grown by the trials rejected
//! before).

use crate::engine::{self, Workspace};
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt::solve::solve_in_place;
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};
use fitbench_core::linalg::{
    cholesky_mem, cholesky_mem_bytes, cholesky_pivot_ratio_cancellable, gram_lower,
};
use fitbench_core::mlp::mse_of;
use fitbench_core::registry::{Capabilities, TrainerEntry};
use fitbench_core::{
    Architecture, CancelToken, Dataset, Error, ForwardBuffers, Mlp, Result, StepCost, StepOutcome,
    Trainer, TrainerConfig, flops,
};
use serde::{Deserialize, Serialize};

/// Most damped solves one step tries before it gives up (returning with μ increased).
pub const MAX_RETRIES: usize = 20;

/// Marquardt scaling entries are floored at this fraction of the largest one, so that a
/// parameter with a zero Jacobian column (a dead unit) is still damped.
const MARQUARDT_FLOOR: f64 = 1e-12;

/// The damping matrix D of `(JᵀJ + μD) δ = −Jᵀr`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scaling {
    /// D = I (Levenberg).
    #[default]
    Identity,
    /// D = diag(JᵀJ) (Marquardt), floored at 10⁻¹² × its largest entry.
    Marquardt,
}

/// Configuration of the `lm` trainer.
///
/// | name | default | purpose | range |
/// |---|---|---|---|
/// | `mu0` | 1e-3 | initial damping μ | finite, > 0 |
/// | `scaling` | `identity` | damping matrix D: `identity` or `marquardt` (diag(JᵀJ)) | |
/// | `max_jacobian_mb` | 1024 | largest Jacobian (n·k·p·8 bytes) `init` allocates, in MiB | ≥ 1 |
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LmConfig {
    /// Initial damping μ₀ > 0.
    pub mu0: f64,
    /// The damping matrix D.
    pub scaling: Scaling,
    /// Largest Jacobian allowed, in MiB (2²⁰ bytes).
    pub max_jacobian_mb: u64,
}

impl Default for LmConfig {
    fn default() -> Self {
        Self {
            mu0: 1e-3,
            scaling: Scaling::Identity,
            max_jacobian_mb: 1024,
        }
    }
}

impl LmConfig {
    /// Bytes of JᵀJ for `p` parameters: p²·8 (the Cholesky factor takes as much again).
    pub fn gram_bytes(p: usize) -> u64 {
        (p as u64).saturating_mul(p as u64).saturating_mul(8)
    }

    /// Bytes of the Jacobian for `n` rows, `k` outputs and `p` parameters: n·k·p·8.
    pub fn jacobian_bytes(n: usize, k: usize, p: usize) -> u64 {
        (n as u64)
            .saturating_mul(k as u64)
            .saturating_mul(p as u64)
            .saturating_mul(8)
    }

    /// Fails unless the Jacobian for `n` rows, `k` outputs and `p` parameters fits in
    /// `max_jacobian_mb` MiB.
    pub fn check_jacobian(&self, n: usize, k: usize, p: usize) -> Result<()> {
        let bytes = Self::jacobian_bytes(n, k, p);
        if bytes > self.max_jacobian_mb.saturating_mul(1 << 20) {
            return Err(Error::config(
                "lm.max_jacobian_mb",
                self.max_jacobian_mb,
                format!(
                    "the Jacobian of n = {n} rows × k = {k} outputs × p = {p} parameters needs \
                     {:.1} MiB; raise lm.max_jacobian_mb, or use fewer rows or a smaller network",
                    bytes as f64 / (1u64 << 20) as f64
                ),
            ));
        }
        Ok(())
    }
}

impl TrainerConfig for LmConfig {
    fn validate(&self) -> Result<()> {
        if !(self.mu0.is_finite() && self.mu0 > 0.0) {
            return Err(Error::config(
                "lm.mu0",
                self.mu0,
                "the initial damping must be a finite number > 0, e.g. lm:mu0=1e-3",
            ));
        }
        if self.max_jacobian_mb == 0 {
            return Err(Error::config(
                "lm.max_jacobian_mb",
                self.max_jacobian_mb,
                "the Jacobian memory limit must be at least 1 MiB, e.g. lm:max_jacobian_mb=1024",
            ));
        }
        Ok(())
    }

    /// Any architecture: the requested one.
    fn architecture(&self, requested: &Architecture) -> Result<Architecture> {
        engine::any_architecture(requested)
    }

    /// The Jacobian n·k·p·8, JᵀJ and its Cholesky factor 2·p²·8 and the factorisation's
    /// workspace, the engine workspace and the trial forward pass (5·n·Σₗ mₗ·8 over the
    /// non-input layers), the data and the residuals ((n·(d + 2k))·8), and the
    /// parameter-sized vectors (8·p·8).
    fn memory_bytes(&self, n: usize, widths: &[usize]) -> u64 {
        let engine::NetSize {
            d,
            k,
            units,
            params: p,
        } = engine::NetSize::of(widths);
        let n64 = n as u64;
        let jacobian = Self::jacobian_bytes(n, k as usize, p as usize);
        let gram = Self::gram_bytes(p as usize).saturating_mul(2);
        let cholesky = cholesky_mem_bytes(p as usize, faer::get_global_parallelism());
        let workspace = 5 * n64 * units * 8;
        let data = n64 * (d + 2 * k) * 8;
        let vectors = 8 * p * 8;
        jacobian
            .saturating_add(gram)
            .saturating_add(cholesky)
            .saturating_add(workspace)
            .saturating_add(data)
            .saturating_add(vectors)
    }

    /// [`Lm::flops_per_step`](Trainer::flops_per_step)'s count: the Jacobian, JᵀJ
    /// (n·k·p²) and one Cholesky (p³/3), with the sizes of JᵀJ and its factor.
    fn step_cost(&self, n: usize, widths: &[usize]) -> Option<StepCost> {
        let size = engine::NetSize::of(widths);
        let (k, p) = (size.k as usize, size.params as usize);
        let (gram, cholesky) = (flops::gram(n * k, p), flops::cholesky(p));
        let flops = engine::jacobian_flops(widths, n) + gram + cholesky;
        let par = faer::get_global_parallelism();
        Some(StepCost {
            flops,
            detail: format!(
                "p = {p} parameters, n·k = {} residuals: the Jacobian {}, JᵀJ (p×p f64) {} \
                 bytes ({}) and its Cholesky factor as much again, {} of factorisation \
                 workspace; JᵀJ costs n·k·p² = {gram:.3e} flops and each Cholesky p³/3 = \
                 {cholesky:.3e}",
                n * k,
                mib(Self::jacobian_bytes(n, k, p)),
                Self::gram_bytes(p),
                mib(Self::gram_bytes(p)),
                mib(cholesky_mem_bytes(p, par)),
            ),
        })
    }

    fn init(&self, train: &Dataset, initial: Mlp, _seed: u64) -> Result<Box<dyn Trainer>> {
        Ok(Box::new(Lm::new(self.clone(), train, initial)?))
    }
}

/// Bytes in MiB or GiB, for messages.
fn mib(bytes: u64) -> String {
    let mib = bytes as f64 / (1u64 << 20) as f64;
    if mib >= 1024.0 {
        format!("{:.2} GiB", mib / 1024.0)
    } else {
        format!("{mib:.1} MiB")
    }
}

/// The `lm` trainer bound to a training set (see the [module docs](self)).
pub struct Lm {
    config: LmConfig,
    x: Mat<f64>,
    y: Mat<f64>,
    /// The current model (θ).
    mlp: Mlp,
    /// The trial model (θ'); after an accepted step it holds the previous θ.
    trial: Mlp,
    theta: Vec<f64>,
    theta_trial: Vec<f64>,
    ws: Workspace,
    trial_fwd: ForwardBuffers,
    residuals: Vec<f64>,
    jac: Mat<f64>,
    /// Lower triangle of JᵀJ.
    gram: Mat<f64>,
    /// Lower triangle of JᵀJ + μD, then its Cholesky factor.
    factor: Mat<f64>,
    /// g = Jᵀr (p×1).
    grad: Mat<f64>,
    /// δ (p×1).
    delta: Mat<f64>,
    /// Diagonal of D.
    damping: Vec<f64>,
    chol_mem: MemBuffer,
    par: Par,
    cancel: CancelToken,
    mu: f64,
    nu: f64,
    flops: f64,
}

impl std::fmt::Debug for Lm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lm")
            .field("config", &self.config)
            .field("widths", &self.mlp.widths)
            .field("n", &self.x.nrows())
            .field("mu", &self.mu)
            .field("nu", &self.nu)
            .finish_non_exhaustive()
    }
}

impl Lm {
    /// Validates `config`, checks the Jacobian against `max_jacobian_mb` (before allocating)
    /// and allocates every buffer for `train` and the shape of `initial`.
    pub fn new(config: LmConfig, train: &Dataset, initial: Mlp) -> Result<Self> {
        config.validate()?;
        let theta = engine::initial_parameters(LM.name, train, &initial)?;
        let (n, k, p) = (train.n(), train.k(), theta.len());
        config.check_jacobian(n, k, p)?;
        let par = faer::get_global_parallelism();
        let flops =
            engine::jacobian_flops(&initial.widths, n) + flops::gram(n * k, p) + flops::cholesky(p);
        Ok(Self {
            x: train.x.clone(),
            y: train.y.clone(),
            ws: Workspace::new(&initial, n),
            trial_fwd: ForwardBuffers::new(&initial, n),
            residuals: vec![0.0; n * k],
            jac: Mat::zeros(n * k, p),
            gram: Mat::zeros(p, p),
            factor: Mat::zeros(p, p),
            grad: Mat::zeros(p, 1),
            delta: Mat::zeros(p, 1),
            damping: vec![1.0; p],
            chol_mem: cholesky_mem(p, par),
            theta_trial: theta.clone(),
            theta,
            trial: initial.clone(),
            mlp: initial,
            par,
            cancel: CancelToken::never(),
            mu: config.mu0,
            nu: 2.0,
            flops,
            config,
        })
    }

    /// The current damping μ.
    pub fn mu(&self) -> f64 {
        self.mu
    }

    /// Rejects a trial: μ ← μ·ν, ν ← 2ν.
    fn reject(&mut self) {
        self.mu *= self.nu;
        self.nu *= 2.0;
    }
}

impl Trainer for Lm {
    /// One Levenberg–Marquardt iteration (with up to [`MAX_RETRIES`] damped solves); polls
    /// the cancel token (see the [module docs](self)).
    fn step(&mut self) -> Result<StepOutcome> {
        let par = self.par;
        let (n, k) = (self.x.nrows(), self.y.ncols());
        let nk = (n * k) as f64;
        self.cancel.check()?;
        engine::residuals_and_jacobian(
            &self.mlp,
            self.x.as_ref(),
            self.y.as_ref(),
            &mut self.ws,
            &mut self.residuals,
            self.jac.as_mut(),
        )?;
        let loss = mse_of(self.ws.forward_buffers().output(), self.y.as_ref());
        if !loss.is_finite() {
            return Err(Error::NonFinite(format!(
                "{}: the training loss at the current parameters is {loss}",
                LM.name
            )));
        }
        gram_lower(
            self.gram.as_mut(),
            self.jac.as_ref(),
            Accum::Replace,
            par,
            &self.cancel,
        )?;
        let r = MatRef::from_column_major_slice(&self.residuals, n * k, 1);
        matmul(
            self.grad.as_mut(),
            Accum::Replace,
            self.jac.transpose(),
            r,
            1.0,
            par,
        );
        let p = self.theta.len();
        let grad_max = (0..p).map(|j| self.grad[(j, 0)].abs()).fold(0.0, f64::max);
        if !grad_max.is_finite() {
            return Err(Error::NonFinite(format!("{}: the gradient Jᵀr", LM.name)));
        }
        if grad_max == 0.0 {
            return Ok(StepOutcome::Converged);
        }
        if self.config.scaling == Scaling::Marquardt {
            let top = (0..p).map(|j| self.gram[(j, j)]).fold(0.0, f64::max);
            let floor = (MARQUARDT_FLOOR * top).max(f64::MIN_POSITIVE);
            for (j, dj) in self.damping.iter_mut().enumerate() {
                *dj = self.gram[(j, j)].max(floor);
            }
        }

        for _ in 0..MAX_RETRIES {
            if !self.mu.is_finite() {
                return Ok(StepOutcome::Converged);
            }
            // Lower triangle of JᵀJ + μD, factorised in place.
            for j in 0..p {
                for i in j..p {
                    self.factor[(i, j)] = self.gram[(i, j)];
                }
                self.factor[(j, j)] += self.mu * self.damping[j];
            }
            let ratio = cholesky_pivot_ratio_cancellable(
                self.factor.as_mut(),
                par,
                &mut self.chol_mem,
                &self.cancel,
            )?;
            if ratio.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
                self.reject();
                continue;
            }
            for j in 0..p {
                self.delta[(j, 0)] = -self.grad[(j, 0)];
            }
            solve_in_place(
                self.factor.as_ref(),
                self.delta.as_mut(),
                par,
                MemStack::new(&mut []),
            );
            // Predicted reduction of the Gauss–Newton model: δᵀ(μDδ − g)/(n·k).
            let mut predicted = 0.0;
            for j in 0..p {
                let dj = self.delta[(j, 0)];
                predicted += dj * (self.mu * self.damping[j] * dj - self.grad[(j, 0)]);
                self.theta_trial[j] = self.theta[j] + dj;
            }
            predicted /= nk;
            self.cancel.check()?;
            engine::unflatten(&self.theta_trial, &mut self.trial)?;
            self.trial
                .forward_into(self.x.as_ref(), &mut self.trial_fwd, par)?;
            let trial_loss = mse_of(self.trial_fwd.output(), self.y.as_ref());
            if trial_loss.is_finite() && trial_loss < loss && predicted > 0.0 {
                let rho = (loss - trial_loss) / predicted;
                self.mu *= (1.0 - (2.0 * rho - 1.0).powi(3)).max(1.0 / 3.0);
                self.nu = 2.0;
                std::mem::swap(&mut self.theta, &mut self.theta_trial);
                std::mem::swap(&mut self.mlp, &mut self.trial);
                return Ok(StepOutcome::Continue);
            }
            if predicted.is_finite() && predicted <= f64::EPSILON * loss {
                // The model promises nothing above rounding: θ is a stationary point.
                return Ok(StepOutcome::Converged);
            }
            self.reject();
        }
        if self.mu.is_finite() {
            Ok(StepOutcome::Continue)
        } else {
            Ok(StepOutcome::Converged)
        }
    }

    fn params(&self) -> Mlp {
        self.mlp.clone()
    }

    /// [`engine::jacobian_flops`] + [`flops::gram`]`(n·k, p)` (JᵀJ) + [`flops::cholesky`]`(p)`
    /// for one damped solve (retries, Jᵀr, the triangular solves and the trial's forward pass
    /// are not counted).
    fn flops_per_step(&self) -> Option<f64> {
        Some(self.flops)
    }

    fn set_cancel(&mut self, token: CancelToken) {
        self.cancel = token;
    }
}

/// Levenberg–Marquardt ([`Lm`]): its name, help and capabilities.
pub const LM: TrainerEntry = TrainerEntry::of::<LmConfig>(
    "lm",
    "Levenberg–Marquardt on the faer backprop engine, one iteration (with its retries) per step",
    Capabilities {
        gradient_based: true,
        deterministic: true,
        ..Capabilities::NONE
    },
);
