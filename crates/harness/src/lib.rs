//! # fitbench-harness
//!
//! Runs every trainer on every dataset under one clock and writes what happened. This is the
//! only crate that reads the clock or touches files.
//!
//! - [`config::RunConfig`]: a sweep (presets, TOML files, CLI overrides), validated up front.
//! - [`datasets`]: built-in real datasets (embedded), synthetic generators by name, user CSVs
//!   ([`csv_data`]) with precise errors.
//! - [`runner`]: resolves a [`runner::Plan`] and runs it; times only `step`, evaluates with
//!   the shared f64 loss outside the timed region, records failures as statuses.
//! - [`report`]: the `report.json` schema; [`summary`], [`plot`] and [`output`] write it out.
//! - [`metrics`]: deterministic convergence metrics of every run (iterations and flops to
//!   relative-suboptimality levels, loss after iteration budgets); [`check`] compares two
//!   reports on them (and on calibrated timing) and exports them for CI dashboards.
//!
//! ```no_run
//! use fitbench_harness::{config::RunConfig, output, runner};
//!
//! let config = RunConfig { datasets: vec!["diabetes".into()], seeds: 2, ..RunConfig::default() };
//! let plan = runner::Plan::resolve(config)?;
//! let mut clock = runner::MonotonicClock::default();
//! let output = runner::run_sweep(&plan, &mut clock, &mut |_| Ok(()), &mut |_| {})?;
//! let report = fitbench_harness::build_report(&plan, output);
//! output::write_all(&report, std::path::Path::new("out/example"))?;
//! # Ok::<(), fitbench_harness::error::HarnessError>(())
//! ```

#![deny(missing_docs)]

pub mod check;
pub mod config;
pub mod csv_data;
pub mod datasets;
pub mod environment;
pub mod error;
pub mod lnn;
pub mod metrics;
pub mod options;
pub mod output;
pub mod plot;
pub mod report;
pub mod reproduction;
pub mod runner;
pub mod stats;
pub mod summary;
pub mod trainers;
pub mod tuning;

use report::{MSE_UNITS, Report, SCHEMA_VERSION};

/// Assembles the report of a finished (or interrupted) sweep, with the deterministic
/// convergence metrics of every run ([`metrics::annotate`]).
pub fn build_report(plan: &runner::Plan, output: runner::SweepOutput) -> Report {
    let runner::SweepOutput {
        datasets,
        runs,
        tuning,
        calibration,
    } = output;
    let mut environment = environment::capture(plan.config.threads);
    environment.calibration = calibration;
    let mut report = Report {
        schema_version: SCHEMA_VERSION,
        mse_units: MSE_UNITS.into(),
        environment,
        config: plan.config.clone(),
        architecture: plan.architecture.clone(),
        datasets,
        runs,
        tuning,
    };
    metrics::annotate(&mut report);
    report
}
