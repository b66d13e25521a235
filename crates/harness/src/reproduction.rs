//! `results/REPRODUCTION.md`: one section per reproduction preset, rendered from the
//! committed reports (never written by hand).

use crate::error::Result;
use std::fmt::Write;
use std::path::Path;

/// Renders the whole document from the reports found under `results`.
pub fn render(results: &Path) -> Result<String> {
    let mut out = String::new();
    let _ = writeln!(out, "# Reproductions\n");
    let _ = writeln!(
        out,
        "Written by `fitbench reproduction` from the reports under `results/` (re-run everything with `scripts/regenerate-figures.sh`). Each section states the claim, what was measured, and where the claim does or does not hold; every number comes from the report it cites. Algorithms marked as reconstructions are ours, not the papers': the full texts of those papers were not available.\n"
    );
    let mut any = false;
    let lnn = results.join("lnn").join("report.json");
    if lnn.exists() {
        out.push_str(&crate::lnn::reproduction_section(&crate::lnn::read(&lnn)?));
        any = true;
    }
    if !any {
        let _ = writeln!(out, "No reproduction reports found yet.");
    }
    Ok(out)
}
