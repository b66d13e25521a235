//! # fitbench-lnn
//!
//! fitbench's reproduction of Lakkapragada 2024 (arXiv 2401.00186), "deep linear networks
//! are harder to optimise than linear regression": chains of k width-1 affine layers
//! `h_j = w_j·h_{j−1} + b_j`, trained by full-batch plain SGD on one-dimensional linear data,
//! compared with the closed-form least-squares line through the *optimal-parameter
//! deviation* D = |Π w − w_OLS| + |b_eff − b_OLS| of the chain's effective affine map.
//!
//! - [`model`]: the f64 computation — one trial's data ([`draw_trial`], reduced to five
//!   moments), the chain and its exact gradients, [`train_chain`], the settings
//!   [`LnnConfig`], the seeds of each trial ([`trial_seeds`]).
//! - [`study`]: the grid of (lr, c, k) cells over many trials ([`run`]), its report
//!   [`LnnReport`] (`results/lnn/report.json`, [`write_all`] / [`read`]), `summary.md`
//!   ([`summary`]), the `results/REPRODUCTION.md` section ([`reproduction_section`]), and
//!   [`run_study`], the entry point of the `fitbench lnn` command.
//! - [`mod@reference`]: the independent reference the study is compared against
//!   (`crates/lnn/data/reference.json`, made by `scripts/lnn-reference.py`, with its
//!   provenance), compiled in and parsed by [`reference()`].
//! - [`error`]: [`LnnError`], the crate's one error type.
//!
//! Everything is deterministic given the seed: the only clock is the one the caller passes
//! in, and it only measures wall time.
//!
//! ## Example
//!
//! A small grid: three depths, one noise level, one learning rate, eight trials each.
//! Linear regression trained by gradient descent (k = 1) reaches the OLS solution; deeper
//! chains are compared with it cell by cell.
//!
//! ```
//! use fitbench_core::Clock;
//! use fitbench_lnn::{LnnConfig, run, summary};
//!
//! /// Any monotonic clock will do; this one ticks one second per reading.
//! struct Ticks(f64);
//! impl Clock for Ticks {
//!     fn now(&mut self) -> f64 {
//!         self.0 += 1.0;
//!         self.0
//!     }
//! }
//!
//! let config = LnnConfig {
//!     depths: vec![1, 2, 5],
//!     noises: vec![0.05],
//!     lrs: vec![1e-2],
//!     trials: 8,
//!     steps: 3000,
//!     ..LnnConfig::default()
//! };
//! let report = run(&config, &mut Ticks(0.0), 1, &mut |cell| {
//!     eprintln!("k = {}: mean D {:.3}", cell.k, cell.deviation.mean);
//! })?;
//!
//! // One cell per (lr, c, k), in that order.
//! assert_eq!(report.cells.len(), 3);
//! let linreg = &report.cells[0];
//! assert_eq!(linreg.k, 1);
//! assert!(linreg.deviation.mean < 1e-3 && linreg.frac_converged == 1.0);
//! // No chain beats OLS, the exact minimiser, on training MSE.
//! assert!(report.cells.iter().all(|c| c.train_mse.mean >= c.ols_train_mse.mean * (1.0 - 1e-12)));
//!
//! // The markdown table of the study.
//! assert!(summary(&report).contains("| LNN-5 |"));
//! # Ok::<(), fitbench_lnn::LnnError>(())
//! ```
//!
//! The `fitbench lnn` command runs the full default grid (10 depths × 4 noise levels × 2
//! learning rates × 100 trials × 10 000 steps, a few seconds in a release build) and writes
//! `results/lnn`:
//!
//! ```no_run
//! # use fitbench_core::Clock;
//! # struct Ticks(f64);
//! # impl Clock for Ticks { fn now(&mut self) -> f64 { self.0 += 1.0; self.0 } }
//! use fitbench_lnn::{LnnRequest, read, reproduction_section, run_study};
//! use std::path::PathBuf;
//!
//! let request = LnnRequest {
//!     trials: None, // the defaults of `LnnConfig::default()`
//!     steps: None,
//!     seed: Some(1),
//!     threads: 1,
//!     out: PathBuf::from("results/lnn"),
//! };
//! let (report, files) = run_study(&request, &mut Ticks(0.0), &mut |_| {})?;
//! println!("wrote {} files", files.len());
//!
//! // Later, e.g. when rendering results/REPRODUCTION.md:
//! let saved = read(&request.out.join("report.json"))?;
//! assert_eq!(saved.cells, report.cells);
//! print!("{}", reproduction_section(&saved));
//! # Ok::<(), fitbench_lnn::LnnError>(())
//! ```

#![deny(missing_docs)]

pub mod error;
pub mod model;
pub mod reference;
pub mod study;

pub use error::{LnnError, Result};
pub use model::{LnnConfig, TrialResult, draw_trial, train_chain, trial_seeds};
pub use reference::{Reference, ReferenceDepth, reference};
pub use study::{
    CONVERGED_BELOW, LNN_KIND, LNN_SCHEMA_VERSION, LnnCell, LnnReport, LnnRequest, Stats, read,
    reproduction_section, run, run_study, summary, write_all,
};
