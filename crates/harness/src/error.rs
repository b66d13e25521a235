//! The error type of `fitbench-harness`.

use std::path::PathBuf;

/// Everything that can go wrong in the harness before or around the runs. Failures *inside*
/// a run (a trainer's error, a panic, divergence) are not errors: they are recorded as the
/// run's status and the sweep goes on.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// An error of the shared contract.
    #[error(transparent)]
    Core(#[from] fitbench_core::Error),
    /// Reading or writing a report failed, or its configuration is invalid.
    #[error(transparent)]
    Report(#[from] fitbench_report::ReportError),
    /// Writing summaries, plots or comparisons failed.
    #[error(transparent)]
    Render(#[from] fitbench_render::RenderError),
    /// The lnn study failed.
    #[error(transparent)]
    Lnn(#[from] fitbench_lnn::LnnError),
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
    /// A CSV file is malformed; `line` and `column` locate the problem.
    #[error("{path}{}: {message}; {hint}", location(*line, column.as_deref()))]
    Csv {
        /// The file (or embedded dataset name).
        path: String,
        /// 1-based line, if the problem has one.
        line: Option<u64>,
        /// Column name (and 1-based index), if the problem has one.
        column: Option<String>,
        /// What is wrong.
        message: String,
        /// How to fix it.
        hint: String,
    },
    /// A column named by `--target` or `--drop` is not in the CSV file's header.
    #[error("unknown {kind} {name:?} in {path}; the columns are: {known}")]
    UnknownColumn {
        /// "target column" or "column to drop".
        kind: &'static str,
        /// The name given.
        name: String,
        /// The file.
        path: String,
        /// The header's column names, comma-separated.
        known: String,
    },
    /// A run configuration or option string is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A built-in template (of `results/REPRODUCTION.md`) failed to render.
    #[error("cannot render template {0}")]
    Template(String),
    /// An extension's trainers or generators could not be registered (a name taken or not a
    /// plain word; [`crate::registry::register`]).
    #[error("{0}")]
    Registry(String),
    /// The output folder is locked by another writer.
    #[error("{0}")]
    Busy(String),
    /// Writing a sweep's files failed part-way (e.g. a full disk); what finished is kept on
    /// disk and `hint` says how to recover it.
    #[error("{error}; {hint}")]
    WriteFailed {
        /// What failed.
        error: Box<HarnessError>,
        /// How to recover (free space, then the command that finishes or rebuilds the sweep).
        hint: String,
    },
}

fn location(line: Option<u64>, column: Option<&str>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(", line {l}, column {c}"),
        (Some(l), None) => format!(", line {l}"),
        (None, Some(c)) => format!(", column {c}"),
        (None, None) => String::new(),
    }
}

/// `Result` with [`HarnessError`].
pub type Result<T, E = HarnessError> = std::result::Result<T, E>;

impl HarnessError {
    /// An I/O error with its path.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        HarnessError::Io {
            action,
            path: path.into(),
            error: source,
        }
    }
}
