//! `fitbench check` as a command: reads the two reports, runs [`crate::check::compare`],
//! writes the exports and the HTML page, and updates the baseline on request.

use crate::check::{Comparison, Tolerances, bencher_json, compare, github_benchmark_json};
use fitbench_report::schema::Report;

/// What `fitbench check` is asked to do.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckRequest {
    /// The baseline report (its file, or its folder: `DIR` → `DIR/report.json`).
    pub baseline: std::path::PathBuf,
    /// The report to check (its file, or its folder).
    pub current: std::path::PathBuf,
    /// Rewrite the baseline's folder with the current report (report, runs.jsonl, summary,
    /// plots) after comparing; never fails on regressions.
    pub update: bool,
    /// Do not fail on (dataset, trainer) pairs missing from the baseline.
    pub allow_new: bool,
    /// The tolerances.
    pub tolerances: Tolerances,
    /// Print only rows that are not "same".
    pub changes_only: bool,
    /// Compare reports whose result-changing settings differ ([`config_changes`]); refused
    /// otherwise (the CLI exits 2). The changes are noted in the output either way.
    pub allow_config_change: bool,
    /// Also write github-action-benchmark JSON here.
    pub github_json: Option<std::path::PathBuf>,
    /// Also write Bencher Metric Format JSON here.
    pub bencher_json: Option<std::path::PathBuf>,
    /// Also write the comparison as a self-contained HTML page here ([`crate::html`]).
    pub html: Option<std::path::PathBuf>,
}

/// What `fitbench check` did.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckOutcome {
    /// The comparison (`None` when `update` found no baseline yet).
    pub comparison: Option<Comparison>,
    /// The rendered table and notes.
    pub text: String,
    /// Why the check fails (empty: it passes).
    pub failures: Vec<String>,
    /// Files written (exports, and the baseline's files on `update`).
    pub written: Vec<std::path::PathBuf>,
}

/// Runs `fitbench check`: reads both reports, writes the requested exports, compares, and on
/// `update` rewrites the baseline folder. Fails ([`CheckOutcome::failures`]) on a regression
/// or, unless `allow_new`, on ungated pairs.
pub fn run(request: &CheckRequest) -> crate::error::Result<CheckOutcome> {
    use fitbench_report::io;
    let request = &CheckRequest {
        baseline: io::report_path(&request.baseline),
        current: io::report_path(&request.current),
        ..request.clone()
    };
    let current = io::read_report(&request.current)?;
    let mut written = Vec::new();
    if let Some(p) = &request.github_json {
        io::write_json(&github_benchmark_json(&current), p)?;
        written.push(p.clone());
    }
    if let Some(p) = &request.bencher_json {
        io::write_json(&bencher_json(&current), p)?;
        written.push(p.clone());
    }
    let mut outcome = CheckOutcome {
        comparison: None,
        text: String::new(),
        failures: vec![],
        written,
    };
    if request.update && !request.baseline.exists() {
        outcome.text = format!("no baseline at {} yet\n", request.baseline.display());
    } else {
        let baseline = io::read_report(&request.baseline)?;
        if request.tolerances.timing {
            for (which, report) in [("baseline", &baseline), ("current", &current)] {
                if let Some(why) =
                    fitbench_report::charge::unsupported(report, request.tolerances.time_basis)
                {
                    return Err(crate::error::RenderError::NotComparable(format!(
                        "--time {}: the {which} report cannot give these times: {why}",
                        request.tolerances.time_basis.as_str()
                    )));
                }
            }
        }
        let mut comparison = compare(&baseline, &current, &request.tolerances);
        if !comparison.config_changes.is_empty() {
            if !(request.allow_config_change || request.update) {
                return Err(crate::error::RenderError::NotComparable(format!(
                    "{} and {} were run with different settings that change results: {}; compare like with like (rerun one with the other's settings), or pass --allow-config-change to compare anyway (recorded in the output)",
                    request.baseline.display(),
                    request.current.display(),
                    comparison.config_changes.join(", ")
                )));
            }
            comparison.notes.insert(
                0,
                format!(
                    "compared despite changed settings ({}): {}",
                    if request.update {
                        "--update"
                    } else {
                        "--allow-config-change"
                    },
                    comparison.config_changes.join(", ")
                ),
            );
        }
        outcome.text = format!(
            "fitbench check: {} (baseline) vs {} (current)\n{}",
            request.baseline.display(),
            request.current.display(),
            comparison.render(request.changes_only)
        );
        if let Some(p) = &request.html {
            let page = crate::html::render_check(&baseline, &current, &comparison)?;
            io::write_atomic(p, page.as_bytes())?;
            outcome.written.push(p.clone());
        }
        if !request.update {
            let regressions = comparison.regressions();
            if let Some(r) = regressions.first() {
                outcome.failures.push(format!(
                    "{} regression(s), e.g. {} / {} / {}: {} → {}; if intended, accept with --update",
                    regressions.len(),
                    r.dataset,
                    r.trainer,
                    r.metric,
                    r.baseline,
                    r.current
                ));
            }
            if !comparison.ungated.is_empty() && !request.allow_new {
                outcome.failures.push(format!(
                    "{} (dataset, trainer) pair(s) are new and not gated, e.g. {} / {}; gate them with --update or pass --allow-new",
                    comparison.ungated.len(),
                    comparison.ungated[0].0,
                    comparison.ungated[0].1
                ));
            }
        }
        outcome.comparison = Some(comparison);
    }
    if request.update {
        let problems = current.check();
        if problems.is_empty() {
            outcome.written.extend(update_baseline(
                &request.baseline,
                &request.current,
                &current,
            )?);
            outcome
                .written
                .extend(retire_accepted(&request.baseline, &current)?);
        } else {
            outcome.failures.push(format!(
                "refusing to install {} as the baseline: it fails validation ({} problem(s), e.g. {}); run `fitbench validate` on it",
                request.current.display(),
                problems.len(),
                problems[0]
            ));
        }
    }
    Ok(outcome)
}

/// The accept file of `fitbench ab` beside the baseline's folder
/// (`results/baseline/report.json` → `results/ab-accept.toml`).
pub fn accept_file_of(baseline: &std::path::Path) -> std::path::PathBuf {
    let dir = baseline
        .parent()
        .and_then(std::path::Path::parent)
        .filter(|d| !d.as_os_str().is_empty())
        .map_or_else(|| std::path::PathBuf::from("."), std::path::PathBuf::from);
    dir.join("ab-accept.toml")
}

/// When the baseline is refreshed, the slowdowns accepted against the old one go: an existing
/// accept file is rewritten empty, valid against the new baseline's commit. Returns it when
/// it was rewritten.
pub fn retire_accepted(
    baseline: &std::path::Path,
    current: &Report,
) -> crate::error::Result<Option<std::path::PathBuf>> {
    use fitbench_report::ab::AcceptFile;
    let path = accept_file_of(baseline);
    if !path.exists() {
        return Ok(None);
    }
    let text = AcceptFile::empty_text(&current.environment.git_commit);
    if std::fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
        return Ok(None);
    }
    fitbench_report::io::write_atomic(&path, text.as_bytes())?;
    Ok(Some(path))
}

/// Rewrites the baseline's folder with `current` (read from `current_path`): report,
/// summary, plots, and the `runs.jsonl` beside the current report. Returns the files written.
pub fn update_baseline(
    baseline: &std::path::Path,
    current_path: &std::path::Path,
    current: &Report,
) -> crate::error::Result<Vec<std::path::PathBuf>> {
    use crate::error::RenderError;
    let dir = baseline
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map_or_else(|| std::path::PathBuf::from("."), std::path::PathBuf::from);
    let mut files = crate::output::write_all(current, &dir)?;
    // The baseline report must be the file named in the request.
    if baseline.file_name() != Some(std::ffi::OsStr::new("report.json")) {
        fitbench_report::io::write_json(current, baseline)?;
        files.push(baseline.to_path_buf());
    }
    let log = current_path.with_file_name("runs.jsonl");
    let target = dir.join("runs.jsonl");
    if log.exists() && log != target {
        std::fs::copy(&log, &target).map_err(|e| RenderError::io("cannot copy", &log, e))?;
        files.push(target);
    }
    Ok(files)
}
