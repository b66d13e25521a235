//! The error type of `fitbench-lsq`.

/// Errors of the least-squares trainers.
#[derive(Debug, thiserror::Error)]
pub enum LsqError {
    /// An error of the shared contract (invalid data, configuration, shapes).
    #[error(transparent)]
    Core(#[from] fitbench_core::Error),
}

/// `Result` with [`LsqError`].
pub type Result<T, E = LsqError> = std::result::Result<T, E>;

impl From<LsqError> for fitbench_core::Error {
    fn from(e: LsqError) -> Self {
        match e {
            LsqError::Core(c) => c,
        }
    }
}
