//! The contract between trainers and the harness.
//!
//! A [`TrainerConfig`] is validated before any clock starts and turned into a [`Trainer`] by
//! `init` (untimed). The harness then calls [`Trainer::step`] in a loop and times only that
//! call; it scores [`Trainer::params`] with the shared f64 [`Mlp::mse`](crate::Mlp::mse)
//! outside the timed region. Trainers never read the clock (only a [`CancelToken`] with a
//! deadline reads the time, to decide whether to stop, never to measure), never touch files,
//! and never compute the reported loss themselves.
//!
//! A step can be cut short: the harness hands every trainer a [`CancelToken`] before its
//! first step ([`Trainer::set_cancel`]); a trainer with long steps polls it and returns
//! [`Error::Cancelled`](crate::Error::Cancelled), which discards the step (see
//! [`crate::cancel`]).

use crate::cancel::CancelToken;
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
///
/// A trainer has no name of its own: its name is its registry entry's
/// ([`TrainerEntry::name`](crate::registry::TrainerEntry::name)), written once.
pub trait Trainer: Send {
    /// One unit of work (documented per trainer: one closed-form solve, one sweep of
    /// least-squares refits, one alternation, one epoch). The only code the harness times.
    /// Must not return before all of its computation has finished.
    fn step(&mut self) -> Result<StepOutcome>;

    /// The current model, copied out as an f64 [`Mlp`] (called outside the timed region).
    fn params(&self) -> Mlp;

    /// [`Trainer::params`], or why they cannot be had: a trainer whose parameters live
    /// elsewhere (another process, `fitbench_external`) can fail to give them. The harness
    /// calls this one; the default never fails.
    fn try_params(&self) -> Result<Mlp> {
        Ok(self.params())
    }

    /// What the trainer says of itself once it has started, beyond its config (an external
    /// trainer's name, versions and measured protocol overhead), written into the run's
    /// record as `trainer_info`; `None` by default.
    fn info(&self) -> Option<serde_json::Value> {
        None
    }

    /// Whether the parameters live in another process, so that [`Trainer::try_params`] costs
    /// a round trip: the harness then skips what would copy them between steps (the
    /// certificate's ReLU pattern change). `false` by default.
    fn remote(&self) -> bool {
        false
    }

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

    /// Receives the token that says when a step in progress should stop (a signal, or the
    /// run's time budget); the harness calls this once, after `init` and before the first
    /// step, and moves the token's deadline before every step. The default ignores it: the
    /// trainer's steps then always run to the end.
    ///
    /// A trainer that keeps the token polls [`CancelToken::check`] in its long loops (every
    /// block of rows, Cholesky panel, line-search evaluation or mini-batch — not per element)
    /// and returns its [`Error::Cancelled`](crate::Error::Cancelled) at once. Such a step is
    /// discarded: afterwards [`Trainer::params`] and [`Trainer::current_params`] must return
    /// what they returned before it (the run ends there; a later `step` may redo work).
    fn set_cancel(&mut self, token: CancelToken) {
        let _ = token;
    }
}

/// The estimated cost of one step of a trainer, from the data size and the network alone
/// ([`TrainerConfig::step_cost`]): the harness refuses, before `init`, a run whose every
/// step would take far longer than the time budget.
#[derive(Clone, Debug, PartialEq)]
pub struct StepCost {
    /// Model flops of one step ([`crate::flops`]' convention).
    pub flops: f64,
    /// What the step is made of, with its sizes, for the refusal message (e.g. the number of
    /// parameters, the bytes of the matrices it forms, the flops of its factorisation).
    pub detail: String,
}

/// A validated, serialisable description of a trainer that builds it for one training set.
///
/// Implementations are plain serde structs (the harness writes them into every report);
/// this trait stays object-safe so the harness can keep a list of heterogeneous configs.
///
/// The trainer's name is not part of its config: it is its registry entry's
/// ([`TrainerEntry::name`](crate::registry::TrainerEntry::name)), and the entry adds it to the
/// serialised config ([`TrainerEntry::to_json`](crate::registry::TrainerEntry::to_json)).
pub trait TrainerConfig {
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

    /// The cost of one step for `n` training rows and a network of layer `widths` (input,
    /// hidden…, output), estimated before anything is allocated, for trainers whose steps
    /// can be too expensive for any budget (e.g. `lm`, whose Cholesky costs p³/3 flops for
    /// p parameters). `None` (the default): no estimate, no refusal.
    fn step_cost(&self, n: usize, widths: &[usize]) -> Option<StepCost> {
        let _ = (n, widths);
        None
    }

    /// The name this trainer was declared under at run time, for configs that are not one
    /// registry entry each (external trainers: `ext:name=torch-adam,…`); the report's
    /// `"trainer"` tag then carries it. `None` (the default): the entry's name.
    fn declared_name(&self) -> Option<&str> {
        None
    }

    /// Builds the trainer (untimed): allocates every buffer `step` needs. `initial` is the
    /// shared initial network for [`TrainerConfig::architecture`]; `seed` drives any other
    /// random choice (e.g. mini-batch order).
    fn init(&self, train: &Dataset, initial: Mlp, seed: u64) -> Result<Box<dyn Trainer>>;
}
