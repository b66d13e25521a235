//! # fitbench-lsq
//!
//! Least-squares trainers written with faer:
//! - [`OlsConfig`] / [`Ols`]: the closed-form linear reference, which every fitbench plot draws
//!   as the dashed "linear reference";
//! - [`LsqConfig`] / [`Lsq`]: layer-wise least-squares training of multi-layer nets through
//!   invertible activations, a **reconstruction** of Khadilkar (2023, arXiv 2307.05189) whose
//!   every knob is configurable (see [`khadilkar`]);
//! - both are built on [`NormalEquations`], the in-place ridge solver of `fitbench_core::linalg`.
//!
//! ```
//! use fitbench_core::{synthetic, Architecture, Mlp, Split, TrainerConfig};
//! use fitbench_lsq::OlsConfig;
//!
//! let split = Split::new(&synthetic::linear(500, 4, 0.1, 3)?, 0.2, 1)?;
//! let config = OlsConfig::default();
//! config.validate()?;
//! let arch = config.architecture(&Architecture::linear())?;
//! let initial = Mlp::init(&arch, split.train.d(), split.train.k(), 0)?;
//! let mut ols = config.init(&split.train, initial, 0)?;
//! ols.step()?;
//! let mse = ols.params().mse(split.train.x.as_ref(), split.train.y.as_ref())?;
//! assert!(mse < 0.05); // noise is 10 % of the signal's std
//! # Ok::<(), fitbench_core::Error>(())
//! ```

#![deny(missing_docs)]

pub mod error;
pub mod khadilkar;
pub mod ols;

pub use error::{LsqError, Result};
pub use fitbench_core::linalg::NormalEquations;
pub use khadilkar::{LSQ, Lsq, LsqConfig, Order, Weighting};
pub use ols::{OLS, Ols, OlsConfig, Solver};

use fitbench_core::registry::TrainerEntry;

/// The trainers of this crate, for the harness's registry (options and defaults come from
/// each config's serde fields and `Default`).
pub const TRAINERS: &[TrainerEntry] = &[OLS, LSQ];
