//! The error type of `fitbench-core`.

/// Everything that can go wrong in the core crate and in trainers built on it.
///
/// Messages say what is wrong, where, and how to fix it; they are lowercase with no trailing
/// period so they compose under `anyhow` context chains.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A hyper-parameter or option is outside its valid range.
    #[error("invalid {what} = {value}: {hint}")]
    InvalidConfig {
        /// The option, e.g. `ols.ridge`.
        what: String,
        /// The offending value, formatted.
        value: String,
        /// What the valid range is or how to fix it.
        hint: String,
    },
    /// Data is unusable: empty, non-finite, inconsistent shapes, constant target, …
    #[error("invalid data: {0}")]
    InvalidData(String),
    /// Two shapes that must agree do not.
    #[error("shape mismatch in {context}: expected {expected}, got {got}")]
    Shape {
        /// Where the mismatch was found.
        context: String,
        /// The shape that was required.
        expected: String,
        /// The shape that was given.
        got: String,
    },
    /// An activation without an inverse was asked to invert.
    #[error("activation {activation} is not invertible: {hint}")]
    NotInvertible {
        /// The activation's name.
        activation: String,
        /// Which invertible activation to use instead.
        hint: String,
    },
    /// A linear system that must be solved is singular (or numerically so).
    #[error("singular system in {context}: {hint}")]
    Singular {
        /// Which solve failed.
        context: String,
        /// How to make it solvable.
        hint: String,
    },
    /// A trainer cannot train the requested architecture.
    #[error("trainer {trainer} cannot train architecture {architecture}: {hint}")]
    Architecture {
        /// The trainer's name.
        trainer: String,
        /// The architecture asked for.
        architecture: String,
        /// What the trainer can train instead.
        hint: String,
    },
    /// A name (dataset, trainer, option) is not known.
    #[error("unknown {kind} {name:?}; known: {known}")]
    Unknown {
        /// What kind of name, e.g. "trainer".
        kind: &'static str,
        /// The name given.
        name: String,
        /// The valid names.
        known: String,
    },
    /// An option string or configuration is malformed (not `NAME:key=value,…`, a value of
    /// the wrong type, an unknown field).
    #[error("invalid configuration: {0}")]
    Parse(String),
    /// The iteration produced NaN or infinity.
    #[error("non-finite values in {0}")]
    NonFinite(String),
    /// The step was cancelled through its [`CancelToken`](crate::CancelToken) (a signal, or
    /// the time budget) before it finished; the trainer's parameters are those from before
    /// the step, and the harness ends the run (as interrupted, or as out of time).
    #[error("step cancelled: {0}")]
    Cancelled(Cancelled),
    /// A trainer in another process gave no answer within its per-message timeout and was
    /// killed (the harness records the run as `unresponsive`).
    #[error("{0}")]
    Unresponsive(String),
    /// An error from a trainer crate's own error type (e.g. a numeric backend's).
    #[error("{trainer}: {source}")]
    Trainer {
        /// The trainer that failed.
        trainer: String,
        /// The trainer's own error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// `Result` with the core [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Shorthand for [`Error::InvalidConfig`].
    pub fn config(
        what: impl Into<String>,
        value: impl std::fmt::Display,
        hint: impl Into<String>,
    ) -> Self {
        Error::InvalidConfig {
            what: what.into(),
            value: value.to_string(),
            hint: hint.into(),
        }
    }
}

/// Why a step was cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cancelled {
    /// The interrupt flag was set (SIGINT/SIGTERM): the sweep is stopping.
    Interrupted,
    /// The step ran past its deadline (the run's time budget, plus the harness's grace).
    Deadline,
}

impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Cancelled::Interrupted => "interrupted by a signal",
            Cancelled::Deadline => "the time budget ran out",
        })
    }
}
