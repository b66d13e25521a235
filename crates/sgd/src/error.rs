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

impl From<SgdError> for fitbench_core::Error {
    fn from(e: SgdError) -> Self {
        match e {
            SgdError::Core(c) => c,
            other => fitbench_core::Error::Trainer {
                trainer: "sgd".into(),
                source: Box::new(other),
            },
        }
    }
}
