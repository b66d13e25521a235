//! What the `fitbench` binary says: every line a command prints, built here from the
//! libraries' results, so that the binary holds only argument definitions and dispatch.
//!
//! Nothing here decides anything a library does not already decide; these functions turn
//! results into text (and, for a finished sweep, into the [`Outcome`] behind the exit code).
//!
//! ```
//! use fitbench_harness::console::{self, Listing};
//! let text = console::listing(Listing::Trainers);
//! assert!(text.starts_with("Trainers (NAME[:key=value,…], defaults in brackets):"));
//! ```

use crate::ab::AbProgress;
use crate::error::{HarnessError, Result};
use crate::request::{SweepJob, SweepResult};
use crate::runner::{Plan, Progress};
use crate::shard::Merged;
use std::fmt::Write as _;

/// How a sweep (or a merge, or a rebuild) ended, for the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every run ran (some may have diverged or timed out: that is a result, not a failure).
    Finished,
    /// Some run ended in `error` or `panicked`.
    RunsFailed,
    /// The sweep was interrupted; `--resume` continues it.
    Interrupted,
}

impl Outcome {
    /// The process exit code (README, "Failure modes"): 0, 3 for runs that ended in error or
    /// panicked, 130 for an interrupt.
    pub const fn exit_code(self) -> u8 {
        match self {
            Outcome::Finished => 0,
            Outcome::RunsFailed => 3,
            Outcome::Interrupted => 130,
        }
    }
}

/// Refuses a sweep asking for more threads than the machine has cores (timings would measure
/// the scheduler) unless `oversubscribe`; with it, the warning to print.
pub fn check_threads(
    jobs: &[SweepJob],
    cores: usize,
    oversubscribe: bool,
) -> Result<Option<String>> {
    let Some(job) = jobs.iter().find(|j| j.config.threads > cores) else {
        return Ok(None);
    };
    let threads = job.config.threads;
    if !oversubscribe {
        return Err(HarnessError::Config(format!(
            "--threads {threads} (or `threads` in the config) is more than this machine's {cores} cores: timings would measure the scheduler, not the trainers; use --threads {cores} or fewer, or pass --oversubscribe to run anyway"
        )));
    }
    Ok(Some(format!(
        "fitbench: warning: {threads} threads requested but this machine has {cores} cores; timings will be oversubscribed (--oversubscribe)"
    )))
}

/// The lines printed once a sweep's plan is resolved: its size and where it goes, then
/// [`describe_plan`].
pub fn plan_lines(plan: &Plan, job: &SweepJob) -> Vec<String> {
    let shard = plan.shard.map_or_else(String::new, |s| {
        format!(", shard {s}: {} of them", plan.n_owned_runs())
    });
    let at_once = if job.jobs > 1 {
        format!(", {} at once", job.jobs)
    } else {
        String::new()
    };
    vec![
        format!(
            "fitbench: {} runs ({} datasets × {} trainers × {} seeds{shard}{at_once}) → {}",
            plan.n_runs(),
            plan.datasets.len(),
            plan.trainers.len(),
            plan.config.seeds,
            job.out.display()
        ),
        describe_plan(plan),
    ]
}

/// The resolved sweep, as printed before it starts: what runs, on what, for how long.
pub fn describe_plan(plan: &Plan) -> String {
    let c = &plan.config;
    let datasets: Vec<String> = plan
        .datasets
        .iter()
        .map(|d| format!("{} ({} × {})", d.data.name, d.data.n(), d.data.d()))
        .collect();
    let hidden: Vec<String> = c.hidden.iter().map(ToString::to_string).collect();
    format!(
        "  datasets:  {}\n  trainers:  {}\n  network:   hidden [{}], {}\n  per run:   budget {} s, at most {} iterations{}; base seed {}, {} thread(s)",
        datasets.join(", "),
        c.trainers.join(", "),
        hidden.join(", "),
        c.activation,
        c.budget_s,
        c.max_iters,
        c.target_train_mse
            .map_or_else(String::new, |t| format!(", stop at train MSE {t}")),
        c.base_seed,
        c.threads
    )
}

/// What a finished sweep's data and tuning call for: constant features dropped, duplicate
/// rows, the learning rate each search picked; then where the files are.
pub fn sweep_lines(result: &SweepResult, job: &SweepJob) -> Vec<String> {
    let mut lines = Vec::new();
    for d in &result.report.datasets {
        let dropped = d.dropped_features();
        if !dropped.is_empty() {
            lines.push(format!(
                "fitbench: {}: feature(s) constant on a training split ({}), dropped by the standardisation: {}",
                d.name,
                fitbench_core::Standardiser::CONSTANT_RULE,
                dropped.join(", ")
            ));
        }
        if d.duplicate_rows > 0 {
            lines.push(format!(
                "fitbench: {}: {} duplicate row(s) (exact copies of another row){}; see summary.md, or pass --dedup to keep one copy of each",
                d.name,
                d.duplicate_rows,
                if d.test_rows_in_train.iter().any(|&n| n > 0) {
                    format!(
                        ", of which test rows with a copy among the training rows: {:?} per repetition",
                        d.test_rows_in_train
                    )
                } else {
                    String::new()
                }
            ));
        }
    }
    for t in &result.report.tuning {
        let scores: Vec<String> = t
            .tried()
            .iter()
            .zip(&t.scores)
            .map(|(lr, score)| {
                score.map_or_else(|| format!("{lr:e}: failed"), |s| format!("{lr:e}: {s:.3e}"))
            })
            .collect();
        lines.push(format!(
            "fitbench: tuned {} on {}: {} {} (validation MSE by {}: {})",
            t.trainer,
            t.dataset,
            t.option,
            t.picked_lr.map_or("none".into(), |v| format!("{v:e}")),
            t.option,
            scores.join(", ")
        ));
    }
    lines.push(format!(
        "fitbench: wrote {} files; see {}",
        result.files.len(),
        job.out.join("summary.md").display()
    ));
    lines
}

/// What a sweep's outcome means (runs reused, failed, an interrupt) and the [`Outcome`].
pub fn outcome(result: &SweepResult) -> (Vec<String>, Outcome) {
    let mut lines = Vec::new();
    if result.reused > 0 {
        lines.push(format!(
            "fitbench: {} run(s) reused from the earlier sweep in this folder (--resume)",
            result.reused
        ));
    }
    if result.failed > 0 {
        lines.push(format!(
            "fitbench: {} run(s) did not end normally; their status and message are in the report",
            result.failed
        ));
    }
    if result.interrupted {
        lines.push(
            "fitbench: the sweep was interrupted; the report holds the runs that finished. Continue with the same command and --resume".into(),
        );
        return (lines, Outcome::Interrupted);
    }
    if result.errored > 0 {
        lines.push(format!(
            "fitbench: {} run(s) ended in error or panicked (exit code {})",
            result.errored,
            Outcome::RunsFailed.exit_code()
        ));
        return (lines, Outcome::RunsFailed);
    }
    (lines, Outcome::Finished)
}

/// What `fitbench report DIR` did.
pub fn rebuild_lines(result: &SweepResult, dir: &std::path::Path) -> Vec<String> {
    let mut lines: Vec<String> = result
        .notes
        .iter()
        .map(|note| format!("fitbench: note: {note}"))
        .collect();
    lines.push(format!(
        "fitbench: rebuilt {} files in {} from {} finished run(s)",
        result.files.len(),
        dir.display(),
        result.report.runs.len()
    ));
    lines
}

/// What `fitbench merge` did: runs missing from every shard, mixed commits, the totals.
pub fn merge_lines(merged: &Merged, result: &SweepResult, out: &std::path::Path) -> Vec<String> {
    let mut lines: Vec<String> = merged
        .missing
        .iter()
        .map(|key| format!("fitbench: missing from every shard: {key}"))
        .collect();
    if merged.record.commits.len() > 1 {
        lines.push(format!(
            "fitbench: warning: runs from {} git commits merged (--allow-mixed-commits): {}",
            merged.record.commits.len(),
            merged.record.commits.join(", ")
        ));
    }
    lines.push(format!(
        "fitbench: merged {} folder(s) into {}: {} run(s), {} file(s){}",
        merged.shards,
        out.display(),
        result.report.runs.len(),
        result.files.len(),
        if merged.missing.is_empty() {
            String::new()
        } else {
            format!(
                "; {} run(s) missing (--allow-missing): run the shards that own them and merge again",
                merged.missing.len()
            )
        }
    ));
    lines
}

/// What a progress event shows: on a progress bar (`bar_message`, a line printed above the
/// bar, how far the bar advances) or, without a bar, as a plain line.
#[derive(Debug, Default, PartialEq)]
pub struct ProgressText {
    /// The bar's new message (the run in flight).
    pub bar_message: Option<String>,
    /// A line printed above the bar.
    pub bar_line: Option<String>,
    /// How many runs the bar advances.
    pub advance: u64,
    /// The line printed when there is no bar.
    pub plain_line: Option<String>,
}

/// The text of one progress event.
pub fn progress(p: &Progress<'_>) -> ProgressText {
    match p {
        Progress::Started {
            done,
            total,
            dataset,
            trainer,
            repetition,
        } => ProgressText {
            bar_message: Some(format!("{dataset} / {trainer} / seed {repetition}")),
            plain_line: Some(format!(
                "[{}/{total}] {dataset} / {trainer} / seed {repetition}",
                done + 1
            )),
            ..ProgressText::default()
        },
        Progress::Tuned(_) => ProgressText::default(),
        Progress::Resume(summary) => {
            let line = format!("fitbench: --resume: {summary}");
            ProgressText {
                bar_line: Some(line.clone()),
                advance: summary.reused as u64,
                plain_line: Some(line),
                ..ProgressText::default()
            }
        }
        Progress::Note(note) => {
            let line = format!("fitbench: note: {note}");
            ProgressText {
                bar_line: Some(line.clone()),
                plain_line: Some(line),
                ..ProgressText::default()
            }
        }
        Progress::Finished(r) => ProgressText {
            bar_line: (!r.status.is_ok()).then(|| {
                format!(
                    "{} / {}: {}",
                    r.dataset,
                    r.trainer,
                    r.message.as_deref().unwrap_or("")
                )
            }),
            advance: 1,
            plain_line: Some(format!(
                "    {} after {} steps, {:.3} s: best train MSE {}{}",
                r.status.as_str(),
                r.iterations,
                r.train_s,
                r.summary
                    .best_train_mse
                    .map_or("–".into(), |v| format!("{v:.4e}")),
                r.message
                    .as_deref()
                    .map_or(String::new(), |m| format!(" ({m})"))
            )),
            ..ProgressText::default()
        },
    }
}

/// The line an A/B progress event prints, if any (`rounds` and `out` from the request).
pub fn ab_progress(p: &AbProgress<'_>, rounds: usize, out: &std::path::Path) -> Option<String> {
    match p {
        AbProgress::Building { revision, log } => Some(format!(
            "fitbench ab: building the baseline {revision} (cargo build --release; log {})",
            log.display()
        )),
        AbProgress::Planned { units, processes } => Some(format!(
            "fitbench ab: {units} runs × 2 sides × {rounds} rounds = {processes} processes → {}",
            out.display()
        )),
        AbProgress::Ran {
            done,
            total,
            side,
            cell,
            wall_s,
        } => (done % 50 == 0 || done == total).then(|| {
            format!(
                "fitbench ab: [{done}/{total}] {cell} ({}, {wall_s:.2} s)",
                side.as_str()
            )
        }),
    }
}

/// The line one cell of the lnn study prints as it finishes.
pub fn lnn_cell(c: &fitbench_lnn::LnnCell) -> String {
    format!(
        "    lr {} c {} k {:>2}: mean D {:.3}, {:.0} % converged",
        c.lr,
        c.noise,
        c.k,
        c.deviation.mean,
        100.0 * c.frac_converged
    )
}

/// What `fitbench list` shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listing {
    /// Everything below.
    All,
    /// Built-in datasets, synthetic generators, user data.
    Datasets,
    /// Every registered trainer with its options.
    Trainers,
    /// Presets and studies.
    Presets,
}

/// The text of `fitbench list`: generated from the registries (registered extensions after
/// the built-ins), never retyped.
pub fn listing(what: Listing) -> String {
    listing_with(what, &[])
}

/// [`listing`], and the trainers `external` declares (each asked for its `hello`: options
/// and versions).
pub fn listing_with(what: Listing, external: &[fitbench_report::config::ExternalDecl]) -> String {
    let mut text = String::new();
    let all = what == Listing::All;
    if all || what == Listing::Datasets {
        let _ = writeln!(
            text,
            "Built-in real datasets (embedded; see data/README.md):"
        );
        for b in crate::builtin::BUILTIN {
            let _ = writeln!(
                text,
                "  {:<10} target {:<12} {}",
                b.name, b.target, b.description
            );
        }
        let _ = writeln!(
            text,
            "Synthetic generators (NAME[:key=value,…], defaults in brackets):"
        );
        for g in crate::registry::generators() {
            let _ = writeln!(text, "  {:<10} {}", g.name, g.help_line());
        }
        let _ = writeln!(
            text,
            "User data: --csv PATH --target COLUMN [--drop COL,…] [--dedup]"
        );
    }
    if all || what == Listing::Trainers {
        let _ = writeln!(text, "Trainers (NAME[:key=value,…], defaults in brackets):");
        for e in crate::registry::trainers() {
            let _ = writeln!(text, "  {:<10} {}", e.name, e.help_line());
        }
        let ext = &fitbench_external::EXT;
        let _ = writeln!(text, "  {:<10} {}", ext.name, ext.help);
        if !external.is_empty() {
            let _ = writeln!(
                text,
                "Declared ([[external]]; use them by name, NAME[:option=value,…]):"
            );
            for line in crate::external::describe(external) {
                let _ = writeln!(text, "{line}");
            }
        }
    }
    if all || what == Listing::Presets {
        let _ = writeln!(text, "Presets:");
        for p in crate::presets::PRESETS {
            let _ = writeln!(text, "  {:<10} {}", p.name, p.description);
        }
        let _ = writeln!(
            text,
            "Studies: `fitbench lnn` (Lakkapragada 2024, deep linear chains vs OLS)"
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_names_every_registered_trainer_and_generator_once() {
        let text = listing(Listing::All);
        for e in crate::registry::trainers() {
            let line = format!("  {:<10} {}", e.name, e.help_line());
            assert_eq!(text.matches(&line).count(), 1, "{line}");
        }
        for g in crate::registry::generators() {
            assert!(text.contains(&g.help_line()), "{}", g.name);
        }
        assert!(!listing(Listing::Presets).contains("Trainers"));
    }
}
