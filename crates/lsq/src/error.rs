//! The error type of `fitbench-lsq`.

/// Errors of the least-squares trainers.
#[derive(Debug, thiserror::Error)]
pub enum LsqError {
    /// An error of the shared contract (invalid data, configuration, shapes).
    #[error(transparent)]
    Core(#[from] fitbench_core::Error),
    /// A normal-equations matrix is singular or too ill-conditioned to trust.
    #[error(
        "{context}: the regularised normal equations are singular or ill-conditioned \
         (pivot ratio {pivot_ratio:.2e} below {threshold:.0e}); add a ridge penalty (e.g. ols:ridge=1e-6), \
         drop duplicated or constant columns, or use solver=qr"
    )]
    Singular {
        /// Which solve failed.
        context: String,
        /// Smallest over largest squared Cholesky pivot (0 when the factorisation broke down).
        pivot_ratio: f64,
        /// The ratio below which a system counts as singular.
        threshold: f64,
    },
}

/// `Result` with [`LsqError`].
pub type Result<T, E = LsqError> = std::result::Result<T, E>;

impl From<LsqError> for fitbench_core::Error {
    fn from(e: LsqError) -> Self {
        match e {
            LsqError::Core(c) => c,
            other => fitbench_core::Error::Trainer {
                trainer: "lsq".into(),
                source: Box::new(other),
            },
        }
    }
}
