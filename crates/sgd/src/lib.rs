//! # fitbench-sgd
//!
//! The gradient baselines every other fitbench trainer is judged against, on
//! [burn](https://burn.dev) 0.22 with autodiff: SGD (learning rate, momentum, dampening,
//! Nesterov, weight decay) and Adam (learning rate, β₁, β₂, ε, weight decay), full-batch or
//! mini-batch with a seeded reshuffle every epoch. One `step` is one epoch.
//!
//! The network is the shared [`Mlp`](fitbench_core::Mlp): its weights are copied in from the
//! shared initialiser, so every trainer starts from the same point, and copied out to f64 by
//! `params` outside the timed region. Computation is f32 by default (`precision=f64`
//! selectable) on the `flex` backend (burn's pure-Rust CPU backend); `backend=ndarray` needs
//! the `ndarray` cargo feature. burn appears in no other fitbench crate.
//!
//! ```
//! use fitbench_core::{synthetic, Activation, Architecture, Mlp, Split, TrainerConfig};
//! use fitbench_sgd::AdamConfig;
//!
//! let split = Split::new(&synthetic::smooth2d(300, 0.05, 1)?, 0.2, 0)?;
//! let config = AdamConfig::default().lr(1e-2);
//! config.validate()?;
//! let arch = config.architecture(&Architecture::new(vec![16], Activation::Tanh))?;
//! let initial = Mlp::init(&arch, 2, 1, 0)?;
//! let before = initial.mse(split.train.x.as_ref(), split.train.y.as_ref())?;
//! let mut adam = config.init(&split.train, initial, 0)?;
//! for _ in 0..50 {
//!     adam.step()?;
//! }
//! let after = adam.params().mse(split.train.x.as_ref(), split.train.y.as_ref())?;
//! assert!(after < before);
//! # Ok::<(), fitbench_core::Error>(())
//! ```

#![deny(missing_docs)]

pub mod activation;
pub mod config;
pub mod error;
pub mod trainer;

pub use activation::Kernels;
pub use config::{
    ADAM, Adam, AdamConfig, Backend, GradientConfig, GradientOptions, Optimiser, Precision, SGD,
    Sgd, SgdConfig,
};
pub use error::SgdError;
pub use trainer::GradientTrainer;

use fitbench_core::registry::TrainerEntry;

/// The trainers of this crate, for the harness's registry.
pub const TRAINERS: &[TrainerEntry] = &[SGD, ADAM];
