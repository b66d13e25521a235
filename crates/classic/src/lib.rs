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
//! Trainers: [`lm`], Levenberg–Marquardt (`LmConfig` → `Lm`; JᵀJ + μD solved by Cholesky,
//! Nielsen's damping update; not yet registered with the harness).
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
pub mod lm;

pub use engine::Workspace;
pub use lm::{Lm, LmConfig};

use fitbench_core::registry::{Capabilities, TrainerEntry};

/// The trainers of this crate, for the harness's registry.
pub const TRAINERS: &[TrainerEntry] = &[TrainerEntry::of::<LmConfig>(
    "lm",
    "Levenberg–Marquardt on the faer backprop engine, one iteration (with its retries) per step",
    Capabilities {
        gradient_based: true,
        deterministic: true,
        ..Capabilities::NONE
    },
)];
