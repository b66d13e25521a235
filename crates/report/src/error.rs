//! The error type of `fitbench-report`.

use std::path::PathBuf;

/// What can go wrong reading, writing or validating reports and their configuration.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// An error of the shared contract.
    #[error(transparent)]
    Core(#[from] fitbench_core::Error),
    /// A file could not be read or written.
    #[error("{action} {path}: {error}")]
    Io {
        /// What was being done, e.g. "cannot read".
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        error: std::io::Error,
    },
    /// A JSON file could not be (de)serialised, or is of another schema version.
    #[error("report {path}: {message}")]
    Json {
        /// The file.
        path: PathBuf,
        /// What went wrong (and how to fix it).
        message: String,
    },
    /// A run configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// `Result` with [`ReportError`].
pub type Result<T, E = ReportError> = std::result::Result<T, E>;

impl ReportError {
    /// An I/O error with its path.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ReportError::Io {
            action,
            path: path.into(),
            error: source,
        }
    }
}
