//! The error type of `fitbench-lnn`.

use std::path::PathBuf;

/// Everything that can go wrong running, writing, reading or comparing the `lnn` study.
#[derive(Debug, thiserror::Error)]
pub enum LnnError {
    /// An invalid setting (from the shared contract's error type).
    #[error(transparent)]
    Core(#[from] fitbench_core::Error),
    /// Reading or writing a JSON file failed.
    #[error(transparent)]
    Report(#[from] fitbench_report::ReportError),
    /// Drawing a plot failed.
    #[error(transparent)]
    Render(#[from] fitbench_render::RenderError),
    /// A file other than JSON (`summary.md`) could not be written.
    #[error("{action} {path}: {error}")]
    Io {
        /// What was being done, e.g. "cannot write".
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        error: std::io::Error,
    },
    /// A report's `kind` or `schema_version` is not the one this crate reads.
    #[error("{path}: {field} is {found}, expected {expected}; {hint}")]
    Incompatible {
        /// The report file.
        path: PathBuf,
        /// The field that differs (`kind` or `schema_version`).
        field: &'static str,
        /// What the file holds (`missing` when absent), as JSON.
        found: String,
        /// What this crate reads, as JSON.
        expected: String,
        /// How to fix it.
        hint: String,
    },
    /// A report of the right kind and schema version whose content does not deserialise.
    #[error("{path}: {message}")]
    Malformed {
        /// The report file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The reference data compiled into the crate (`crates/lnn/data/reference.json`) is
    /// unusable.
    #[error("reference data crates/lnn/data/reference.json: {0}")]
    Reference(String),
}

/// `Result` with [`LnnError`].
pub type Result<T, E = LnnError> = std::result::Result<T, E>;

impl LnnError {
    /// An I/O error with its path.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        LnnError::Io {
            action,
            path: path.into(),
            error: source,
        }
    }
}
