//! The contract between trainers and the harness.
//!
//! A [`TrainerConfig`] is validated before any clock starts and turned into a [`Trainer`] by
//! `init` (untimed). The harness then calls [`Trainer::step`] in a loop and times only that
//! call; it scores [`Trainer::params`] with the shared f64 [`Mlp::mse`](crate::Mlp::mse)
//! outside the timed region. Trainers never read the clock, never touch files, and never
//! compute the reported loss themselves.

use crate::data::Dataset;
use crate::error::Result;
use crate::mlp::{Architecture, Mlp};

/// What a step reports besides its side effects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepOutcome {
    /// More steps may improve the model.
    Continue,
    /// The trainer has nothing left to do (e.g. a closed-form solve is complete).
    Converged,
}

/// One optimisation algorithm bound to one training set.
///
/// Object-safe: the harness holds `Box<dyn Trainer>`.
pub trait Trainer: Send {
    /// Stable kebab-case id used in reports and legends, e.g. `ols`, `lsq`, `adam`.
    fn name(&self) -> &str;

    /// One unit of work (documented per trainer: one closed-form solve, one sweep of
    /// least-squares refits, one alternation, one epoch). The only code the harness times.
    /// Must not return before all of its computation has finished.
    fn step(&mut self) -> Result<StepOutcome>;

    /// The current model, copied out as an f64 [`Mlp`] (called outside the timed region).
    fn params(&self) -> Mlp;

    /// The latest iterate, for trainers whose [`Trainer::params`] returns a selection (e.g. the
    /// best iterate so far) rather than the iterate itself; `None` otherwise. The harness
    /// records its losses as the "current" curve (outside the timed region).
    fn current_params(&self) -> Option<Mlp> {
        None
    }

    /// Model flops performed by one `step`, when known. The harness asks once after `init`
    /// and again after the last step, so a trainer whose steps vary in cost (a line search)
    /// can report its mean over the run.
    fn flops_per_step(&self) -> Option<f64> {
        None
    }

    /// Named counts of the work done so far (e.g. `evaluations` for a trainer with a line
    /// search), written into the run's report after the last step; empty by default.
    fn counters(&self) -> Vec<(&'static str, f64)> {
        Vec::new()
    }
}

/// A validated, serialisable description of a trainer that builds it for one training set.
///
/// Implementations are plain serde structs (the harness writes them into every report);
/// this trait stays object-safe so the harness can keep a list of heterogeneous configs.
pub trait TrainerConfig {
    /// The trainer's id (same as [`Trainer::name`]).
    fn name(&self) -> &str;

    /// Checks every hyper-parameter; called before any run starts.
    fn validate(&self) -> Result<()>;

    /// The architecture this trainer will train when the run asks for `requested`: the same
    /// one, a fixed one it is defined by (the linear reference), or an
    /// [`Error::Architecture`](crate::Error::Architecture) explaining what it can train.
    fn architecture(&self, requested: &Architecture) -> Result<Architecture>;

    /// Bytes this trainer will allocate for `n` training rows and a network of layer
    /// `widths` (input, hidden…, output), estimated before anything is allocated so that a
    /// sweep too large for the machine is refused up front. The default counts a
    /// backpropagation trainer: the parameters three times (values, gradients, optimiser
    /// state) and, per layer, pre-activations, activations and their gradients.
    fn memory_bytes(&self, n: usize, widths: &[usize]) -> u64 {
        let params: usize = widths.windows(2).map(|w| (w[0] + 1) * w[1]).sum();
        let units: usize = widths.iter().sum();
        8 * (3 * params as u64 + 3 * (n as u64) * units as u64)
    }

    /// Builds the trainer (untimed): allocates every buffer `step` needs. `initial` is the
    /// shared initial network for [`TrainerConfig::architecture`]; `seed` drives any other
    /// random choice (e.g. mini-batch order).
    fn init(&self, train: &Dataset, initial: Mlp, seed: u64) -> Result<Box<dyn Trainer>>;
}
