//! # fitbench-report
//!
//! The `report.json` schema of fitbench and everything that only reads or writes reports:
//! a dashboard or the CI gate depends on this crate (and `fitbench-render`), never on the run
//! loop, burn or plotters.
//!
//! - [`schema`]: the report types ([`Report`], [`RunRecord`], …); bump
//!   [`schema::SCHEMA_VERSION`] on any incompatible change.
//! - [`config`]: the resolved run configuration every report records.
//! - [`io`]: [`io::read_report`] (checks the schema version first), [`io::write_json`],
//!   [`io::read_json`], and the `runs.jsonl` log of a sweep in progress.
//! - [`metrics`]: deterministic convergence metrics computed from a report's curves.
//! - [`environment`]: what machine, build and source tree a report comes from.
//! - [`stats`], [`format`]: medians and number formatting shared by every table.
//! - [`ab`], [`paired`]: the `fitbench ab` report and the paired statistics behind its verdicts
//!   (pure functions; the process driver is `fitbench_harness::ab`).
//!
//! ```no_run
//! use fitbench_report::io;
//!
//! let report = io::read_report(std::path::Path::new("results/quick/report.json"))?;
//! for problem in report.check() {
//!     eprintln!("{problem}");
//! }
//! println!("{} runs of {:?}", report.runs.len(), report.trainers());
//! # Ok::<(), fitbench_report::ReportError>(())
//! ```

#![deny(missing_docs)]

pub mod ab;
pub mod charge;
pub mod config;
pub mod environment;
pub mod error;
pub mod float;
pub mod format;
pub mod io;
pub mod metrics;
pub mod paired;
pub mod schema;
pub mod stats;

pub use config::RunConfig;
pub use error::{ReportError, Result};
pub use schema::{Report, RunRecord, Status};
