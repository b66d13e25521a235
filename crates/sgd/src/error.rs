//! The error type of `fitbench-sgd`.

/// Errors of the gradient baselines.
#[derive(Debug, thiserror::Error)]
pub enum SgdError {
    /// An error of the shared contract.
    #[error(transparent)]
    Core(#[from] fitbench_core::Error),
    /// A tensor could not be read back from the backend.
    #[error("cannot read {what} back from the burn backend: {message}")]
    Readback {
        /// What was read.
        what: String,
        /// The backend's message.
        message: String,
    },
}

impl SgdError {
    /// The core error of trainer `trainer` (its registry entry's name: this crate's errors
    /// are shared by its trainers, so the name comes from the one that failed).
    pub fn into_core(self, trainer: &str) -> fitbench_core::Error {
        match self {
            SgdError::Core(c) => c,
            other => fitbench_core::Error::Trainer {
                trainer: trainer.into(),
                source: Box::new(other),
            },
        }
    }
}
