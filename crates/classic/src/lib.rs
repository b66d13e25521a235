//! # fitbench-classic
//!
//! Classical baselines (L-BFGS, Levenberg–Marquardt) on a faer f64 backprop engine.
//!
//! This first building block is the [`engine`]: for the shared [`fitbench_core::Mlp`] of any
//! depth and every [`fitbench_core::Activation`], it flattens the parameters into one vector
//! ([`engine::flatten`], [`engine::unflatten`]), computes the mean-squared-error loss (with an
//! optional weight penalty) and its gradient ([`engine::loss_and_gradient`]), and the
//! residuals and their Jacobian ([`engine::residuals_and_jacobian`]), all in caller-owned
//! buffers allocated once ([`engine::Workspace`]). Flops follow [`fitbench_core::flops`].
//! Errors are the core [`Error`](fitbench_core::Error).
//!
//! Trainers, registered with the harness through [`TRAINERS`]:
//! - [`lbfgs`]: L-BFGS (`LbfgsConfig` → `Lbfgs`; argmin's solver driven one iteration per
//!   step, Moré–Thuente, Hager–Zhang or backtracking line search);
//! - [`lm`]: Levenberg–Marquardt (`LmConfig` → `Lm`; JᵀJ + μD solved by Cholesky, Nielsen's
//!   damping update);
//! - [`gradient`]: `adam-faer` and `sgd-faer` (`AdamFaerConfig`, `SgdFaerConfig` →
//!   `FaerGradient`), the f64 twins of the burn trainers `adam` and `sgd`, with their options
//!   and semantics, so that burn and the algorithm can be told apart.
//!
//! ```
//! use faer::Mat;
//! use fitbench_classic::engine::{self, Workspace};
//! use fitbench_core::{Activation, Architecture, Mlp};
//!
//! let net = Mlp::init(&Architecture::new(vec![8], Activation::Tanh), 2, 1, 0)?;
//! let x = Mat::from_fn(50, 2, |i, j| ((i * 7 + j * 3) % 11) as f64 / 11.0 - 0.5);
//! let y = Mat::from_fn(50, 1, |i, _| (x[(i, 0)] * 3.0).sin() + x[(i, 1)]);
//!
//! let mut ws = Workspace::new(&net, 50);
//! let mut grad = vec![0.0; engine::n_params(&net)];
//! let loss = engine::loss_and_gradient(&net, x.as_ref(), y.as_ref(), 0.0, &mut ws, &mut grad)?;
//! assert_eq!(loss, net.mse(x.as_ref(), y.as_ref())?);
//! assert!(grad.iter().all(|g| g.is_finite()));
//! # Ok::<(), fitbench_core::Error>(())
//! ```

#![deny(missing_docs)]

pub mod engine;
pub mod gradient;
pub mod lbfgs;
pub mod lm;

pub use engine::Workspace;
pub use gradient::{ADAM_FAER, AdamFaerConfig, FaerGradient, SGD_FAER, SgdFaerConfig};
pub use lbfgs::{LBFGS, Lbfgs, LbfgsConfig};
pub use lm::{LM, Lm, LmConfig};

use fitbench_core::registry::TrainerEntry;

/// The trainers of this crate, for the harness's registry.
pub const TRAINERS: &[TrainerEntry] = &[LBFGS, ADAM_FAER, SGD_FAER, LM];
