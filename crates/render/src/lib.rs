//! # fitbench-render
//!
//! Everything fitbench draws or compares from saved reports, and nothing that runs a trainer:
//! this crate depends on `fitbench-report` (and plotters), never on the run loop or burn.
//!
//! - [`summary`]: `summary.md` (per dataset, one row per trainer, and the deterministic
//!   metrics table).
//! - [`plot`]: loss-vs-time and loss-vs-iteration figures, performance profiles, line plots
//!   for studies (embedded DejaVu Sans, no system fonts).
//! - [`html`]: `report.html` beside every summary and the `fitbench check --html` page:
//!   self-contained, interactive (uPlot, vendored), no network access.
//! - [`output`]: [`output::write_all`] and the one list of files it writes,
//!   [`output::expected_files`], which `fitbench validate` checks.
//! - [`check`]: `fitbench check` — compares a report with a baseline on deterministic
//!   metrics and calibrated timing, renders the table, exports github-action-benchmark and
//!   Bencher JSON, and updates the baseline. Its timing verdicts are advisory.
//! - [`ab`]: the pages of `fitbench ab` (`ab.md`, `ab.html`, and `ab.json` written beside
//!   them), the verdict in time of two builds compared side by side.
//!
//! ```no_run
//! use fitbench_render::{check, output};
//! use fitbench_report::io;
//! use std::path::Path;
//!
//! let report = io::read_report(Path::new("results/quick/report.json"))?;
//! output::write_all(&report, Path::new("out/redrawn"))?;
//! let baseline = io::read_report(Path::new("results/baseline/report.json"))?;
//! let comparison = check::compare(&baseline, &report, &check::Tolerances::default());
//! print!("{}", comparison.render(true));
//! # Ok::<(), fitbench_render::RenderError>(())
//! ```

#![deny(missing_docs)]

pub mod ab;
pub mod aggregate;
pub mod check;
pub mod error;
pub mod gate;
pub mod html;
pub mod output;
pub mod plot;
pub mod scaling;
pub mod summary;
pub mod verdict;

pub use error::{RenderError, Result};
