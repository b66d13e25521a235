//! Fuzzes the report parser (what `fitbench_report::io::read_report` does after its schema
//! check: serde into `Report`) and what readers then do with a report (`Report::check`, the
//! deterministic metrics of `metrics::annotate`, writing it back): never a panic.

#![no_main]

use fitbench_report::{Report, metrics};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut report) = serde_json::from_slice::<Report>(data) else {
        return;
    };
    let _problems = report.check();
    metrics::annotate(&mut report);
    // Whatever was read can be written again.
    let _ = serde_json::to_vec(&report);
});
