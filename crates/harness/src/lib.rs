//! # fitbench-harness
//!
//! Runs every trainer on every dataset under one clock and writes what happened. The run
//! loop is the only code that reads the clock while trainers run.
//!
//! - [`registry`]: every trainer (chained from the trainer crates' `TRAINERS` slices) and
//!   synthetic generator (`fitbench_core::synthetic::SYNTHETIC`), plus those a program
//!   registers ([`registry::register`]), and [`registry::TrainerSpec`], a trainer as
//!   requested; [`datasets`]: built-in real datasets ([`builtin`]), synthetic datasets and
//!   user CSVs ([`csv_data`]).
//! - [`presets`]: named sweeps and groups of sweeps; [`request`]: what `fitbench run` is
//!   asked ([`request::RunRequest`]), resolved into sweeps and executed.
//! - [`runner`]: resolves a [`runner::Plan`] (everything rejectable is rejected before any
//!   clock starts) and runs it; times only `step`, evaluates with the shared f64 loss outside
//!   the timed region, records failures as statuses. [`tuning`]: the learning-rate grid.
//! - [`shard`]: `--shard I/N` (a deterministic partition of a sweep's runs for batch
//!   schedulers) and merging shards back into one sweep.
//! - [`reproduction`]: renders `results/REPRODUCTION.md` from committed reports.
//!
//! Reports, their schema and metrics live in `fitbench-report`; summaries, plots and
//! `fitbench check` in `fitbench-render`; the lnn study in `fitbench-lnn`.
//!
//! ```no_run
//! use fitbench_harness::request::{self, Existing, RunRequest};
//! use std::sync::{Arc, atomic::AtomicBool};
//!
//! let request = RunRequest {
//!     datasets: vec!["diabetes".into()],
//!     trainers: vec!["ols".into(), "adam:lr=1e-2".into()],
//!     seeds: Some(2),
//!     out: Some("out/example".into()),
//!     ..RunRequest::default()
//! };
//! for job in request.sweeps()? {
//!     let stop = Arc::new(AtomicBool::new(false));
//!     let result = request::execute(&job, Existing::Refuse, stop, &mut |_| {}, &mut |_| {})?;
//!     println!("{} runs, {} failed", result.report.runs.len(), result.failed);
//! }
//! # Ok::<(), fitbench_harness::error::HarnessError>(())
//! ```

#![deny(missing_docs)]

pub mod ab;
pub mod alloc;
pub mod builtin;
pub mod console;
pub mod csv_data;
pub mod datasets;
pub mod environment;
pub mod error;
pub mod external;
pub mod guard;
pub mod lock;
pub mod memory;
pub mod partition;
pub mod presets;
pub mod registry;
pub mod reproduction;
pub mod request;
pub mod resume;
pub mod runner;
pub mod seeds;
pub mod shard;
pub mod stationarity;
pub mod sweep_file;
pub mod tuning;

use fitbench_report::metrics;
use fitbench_report::schema::{MSE_UNITS, Report, SCHEMA_VERSION};

/// Assembles the report of a finished (or interrupted) sweep, with the deterministic
/// convergence metrics of every run ([`metrics::annotate`]).
pub fn build_report(plan: &runner::Plan, output: runner::SweepOutput) -> Report {
    let runner::SweepOutput {
        datasets,
        runs,
        tuning,
        calibration,
        jobs,
        ..
    } = output;
    let mut environment = environment::capture(plan.config.threads);
    environment.calibration = calibration;
    environment.jobs = jobs.max(1);
    environment.memory_measurement = Some(alloc::measurement(environment.jobs));
    let mut report = Report {
        schema_version: SCHEMA_VERSION,
        mse_units: MSE_UNITS.into(),
        environment,
        config: plan.config.clone(),
        architecture: plan.architecture.clone(),
        datasets,
        runs,
        tuning,
        merge: None,
    };
    metrics::annotate(&mut report);
    fitbench_report::charge::annotate(&mut report);
    report
}

/// Runs the lnn study (`fitbench lnn`) on `request.threads` threads, timed by the harness's
/// clock; `progress` sees every cell as it finishes.
pub fn lnn_study(
    request: &fitbench_lnn::LnnRequest,
    progress: &mut dyn FnMut(&fitbench_lnn::LnnCell),
) -> Result<(fitbench_lnn::LnnReport, Vec<std::path::PathBuf>), error::HarnessError> {
    environment::set_threads(request.threads);
    Ok(fitbench_lnn::run_study(
        request,
        &mut runner::MonotonicClock::default(),
        progress,
    )?)
}
