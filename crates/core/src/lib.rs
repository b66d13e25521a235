//! # fitbench-core
//!
//! The shared contract of fitbench, a harness that compares training algorithms by the loss
//! they reach per second of compute. This crate has no file I/O, no clock (a
//! [`CancelToken`]'s deadline check aside) and no burn.
//!
//! - [`Dataset`] (n×d features, n×k targets, names, provenance), [`Split`] (seeded train/test
//!   split) and [`Standardiser`] (fitted on the training split only).
//! - [`Activation`]: value, derivative and inverse (with clipping) of element-wise activations,
//!   per value and vectorised over slices, computed by [`vmath`]'s kernels (exp, log and the
//!   activations built on them, within 4·2⁻⁵² of libm, the same bits on every dispatch path).
//! - [`Architecture`] and [`Mlp`]: the network every trainer returns, its seeded initialiser
//!   and the one f64 [`Mlp::mse`] the harness scores every trainer with.
//! - [`Trainer`] and [`TrainerConfig`]: what a training algorithm implements;
//!   [`CancelToken`]: how the harness stops a step in progress (a signal, the time budget).
//! - [`synthetic`]: planted teacher, noisy linear, Friedman #1 and a smooth 2-D function.
//! - [`registry`]: the entries through which trainer crates offer their trainers to the
//!   harness; [`Options`]: `NAME:key=value,…` strings; [`synthetic::SYNTHETIC`]: the table of
//!   synthetic generators.
//! - [`flops`]: the one flop-count convention every trainer's `flops_per_step` follows
//!   (a multiply-add is 2 flops; forward = 2·n·Σ mₗ₋₁mₗ, backward = 2 × forward);
//!   [`clock`]: the `Clock` trait the harness injects (core never reads a clock).
//! - [`rng`]: seeds and the ChaCha8 generator behind every random choice.
//! - [`simd`]: `vzeroupper` after faer's AVX-512 kernels (the workspace's only `unsafe`).
//!
//! ```
//! use fitbench_core::{synthetic, Activation, Architecture, Mlp, Split};
//!
//! let data = synthetic::smooth2d(200, 0.1, 42)?;
//! let split = Split::new(&data, 0.2, 7)?;
//! let arch = Architecture::new(vec![16, 16], Activation::Tanh);
//! let net = Mlp::init(&arch, split.train.d(), split.train.k(), 1)?;
//! let mse = net.mse(split.train.x.as_ref(), split.train.y.as_ref())?;
//! assert!(mse.is_finite());
//! # Ok::<(), fitbench_core::Error>(())
//! ```

#![deny(missing_docs)]

pub mod activation;
pub mod cancel;
pub mod clock;
pub mod data;
pub mod error;
pub mod flops;
pub mod linalg;
pub mod mlp;
pub mod options;
pub mod registry;
pub mod rng;
pub mod simd;
pub mod synthetic;
pub mod trainer;
pub mod vmath;

pub use activation::Activation;
pub use cancel::{CancelToken, Cancelled};
pub use clock::Clock;
pub use data::{Dataset, Split, Standardiser};
pub use error::{Error, Result};
pub use mlp::{Architecture, ForwardBuffers, Mlp, Parametrisation};
pub use options::Options;
pub use registry::{Capabilities, DynTrainerConfig, TrainerEntry};
pub use trainer::{StepCost, StepOutcome, Trainer, TrainerConfig};
