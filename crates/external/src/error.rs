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
    /// As the core error of trainer `trainer`.
    pub fn into_core(self, trainer: &str) -> fitbench_core::Error {
        fitbench_core::Error::Trainer {
            trainer: trainer.to_string(),
            source: Box::new(self),
        }
    }
}
