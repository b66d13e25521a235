//! The error type of `fitbench-render`.

use std::path::PathBuf;

/// What can go wrong writing summaries, plots and comparison outputs.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// Reading or writing a report or another JSON file failed.
    #[error(transparent)]
    Report(#[from] fitbench_report::ReportError),
    /// A file could not be read or written.
    #[error("{action} {path}: {error}")]
    Io {
        /// What was being done, e.g. "cannot write".
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        error: std::io::Error,
    },
    /// A plot could not be drawn.
    #[error("cannot draw {path}: {message}")]
    Plot {
        /// The image file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Two reports cannot be compared as asked (e.g. their settings differ).
    #[error("{0}")]
    NotComparable(String),
    /// An HTML page could not be rendered (a template or serialisation error: a bug).
    #[error("cannot render the HTML page: {0}")]
    Html(String),
}

/// `Result` with [`RenderError`].
pub type Result<T, E = RenderError> = std::result::Result<T, E>;

impl RenderError {
    /// An I/O error with its path.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        RenderError::Io {
            action,
            path: path.into(),
            error: source,
        }
    }
}
