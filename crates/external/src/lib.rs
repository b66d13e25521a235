//! # fitbench-external
//!
//! Trainers outside the workspace: a child process that speaks fitbench's protocol
//! (`docs/protocol.md`: JSON lines on its stdin and stdout) is a [`fitbench_core::Trainer`]
//! like any other. The harness's rules reach it: the training data, standardised as every
//! trainer sees them, and the shared initial parameters are handed over as `.npy` files; only
//! the `step` round trip is timed; the loss is evaluated by fitbench from the parameters the
//! child reports.
//!
//! Status: a start (issue #27, branch `wip-27`): the `.npy` files, the child and its
//! timeouts, and the trainer. Not yet in the registry.

#![deny(missing_docs)]

pub mod child;
pub mod error;
pub mod npy;
pub mod trainer;

pub use error::ExternalError;
pub use trainer::{ExternalConfig, ExternalTrainer};
