//! The errors of this crate.

use std::path::PathBuf;

/// What went wrong with an external trainer.
#[derive(Debug, thiserror::Error)]
pub enum ExternalError {
    /// The command could not be started.
    #[error("could not start `{command}`: {source}; check the command and its working directory")]
    Spawn {
        /// The command line.
        command: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The child did not answer within the per-message timeout (it was killed).
    #[error(
        "{trainer}: no answer to `{op}` within {timeout_s} s (the child was killed); stderr ends with: {stderr_tail}"
    )]
    Timeout {
        /// The trainer's name.
        trainer: String,
        /// The request.
        op: String,
        /// The timeout.
        timeout_s: f64,
        /// The last lines of the child's stderr.
        stderr_tail: String,
    },
    /// The child exited (or closed its stdout) before answering.
    #[error(
        "{trainer}: the child exited before answering `{op}` ({status}); stderr ends with: {stderr_tail}"
    )]
    Exited {
        /// The trainer's name.
        trainer: String,
        /// The request.
        op: String,
        /// Its exit status, as far as known.
        status: String,
        /// The last lines of the child's stderr.
        stderr_tail: String,
    },
    /// The child answered something that is not the protocol.
    #[error("{trainer}: malformed answer to `{op}`: {detail}")]
    Malformed {
        /// The trainer's name.
        trainer: String,
        /// The request.
        op: String,
        /// What was wrong.
        detail: String,
    },
    /// The child answered `ok: false`.
    #[error("{trainer}: `{op}` failed: {message}")]
    Refused {
        /// The trainer's name.
        trainer: String,
        /// The request.
        op: String,
        /// The child's message.
        message: String,
    },
    /// A `.npy` file could not be written or read.
    #[error("{path}: {message}")]
    Npy {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The harness cancelled the request (a signal, or the run's time budget): the child
    /// was killed.
    #[error("{trainer}: `{op}` cancelled ({why}); the child was killed")]
    Cancelled {
        /// The trainer's name.
        trainer: String,
        /// The request.
        op: String,
        /// Why.
        why: fitbench_core::Cancelled,
    },
    /// The child's parameters contain a NaN or an infinity.
    #[error("{trainer}: parameter {index} of {len} is {value}")]
    NonFinite {
        /// The trainer's name.
        trainer: String,
        /// The first non-finite parameter's index in the flat layout.
        index: usize,
        /// How many there are.
        len: usize,
        /// Its value.
        value: f64,
    },
    /// An earlier request failed and the child is gone; nothing more can be asked of it.
    #[error("{trainer}: the child is gone after an earlier failure ({first})")]
    Gone {
        /// The trainer's name.
        trainer: String,
        /// The first failure.
        first: String,
    },
    /// An I/O error talking to the child.
    #[error("{trainer}: {context}: {source}")]
    Io {
        /// The trainer's name.
        trainer: String,
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
}

impl ExternalError {
    /// As a core error: a timeout is [`fitbench_core::Error::Unresponsive`] (status
    /// `unresponsive`), a cancellation [`fitbench_core::Error::Cancelled`], non-finite
    /// parameters [`fitbench_core::Error::NonFinite`] (status `diverged`); the rest are
    /// [`fitbench_core::Error::Trainer`] errors of trainer `trainer` (status `error`).
    pub fn into_core(self, trainer: &str) -> fitbench_core::Error {
        match self {
            ExternalError::Timeout { .. } => fitbench_core::Error::Unresponsive(self.to_string()),
            ExternalError::Cancelled { why, .. } => fitbench_core::Error::Cancelled(why),
            ExternalError::NonFinite { .. } => fitbench_core::Error::NonFinite(self.to_string()),
            other => fitbench_core::Error::Trainer {
                trainer: trainer.to_string(),
                source: Box::new(other),
            },
        }
    }
}
