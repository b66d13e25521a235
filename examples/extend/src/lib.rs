//! # fitbench-example-extend
//!
//! A trainer ([`random_features`]) and a dataset generator ([`sine1d`]) defined outside
//! fitbench, registered beside the built-ins and run through the library API. README's
//! "Extending" section shows these files as they are (a test keeps it so).

pub mod random_features;
pub mod sine1d;

use fitbench_core::registry::TrainerEntry;
use fitbench_core::synthetic::SyntheticEntry;
use fitbench_harness::error::Result;
use fitbench_harness::registry;
use fitbench_harness::request::{self, Existing, RunRequest};
use fitbench_report::Report;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// This crate's trainers.
pub const TRAINERS: &[TrainerEntry] = &[random_features::RANDOM_FEATURES];

/// This crate's generators.
pub const GENERATORS: &[SyntheticEntry] = &[sine1d::SINE1D];

/// Registers this crate's trainers and generators beside the built-ins (once per process).
pub fn register() -> Result<()> {
    registry::register(TRAINERS, GENERATORS)
}

/// Runs the example sweep into `out`: `sine1d` and the built-in `diabetes`, each with the
/// `random-features` trainer beside the built-in `ols` and `adam`, `budget_s` seconds per run.
/// Call [`register`] first.
pub fn sweep(out: &Path, budget_s: f64) -> Result<Report> {
    let request = RunRequest {
        datasets: vec!["sine1d:n=400".into(), "diabetes".into()],
        trainers: vec![
            "random-features:ridge=1e-6".into(),
            "ols".into(),
            "adam:lr=1e-2".into(),
        ],
        seeds: Some(2),
        budget_s: Some(budget_s),
        hidden: Some(vec![64]),
        out: Some(out.to_path_buf()),
        ..RunRequest::default()
    };
    let mut reports = Vec::new();
    for job in request.sweeps()? {
        let stop = Arc::new(AtomicBool::new(false));
        let result = request::execute(&job, Existing::Force, stop, &mut |_| {}, &mut |_| {})?;
        reports.push(result.report);
    }
    // One request without a preset group is one sweep.
    Ok(reports.remove(0))
}
