//! `fitbench ab`: relative benchmarking of two builds on one machine. The process driver;
//! the statistics are pure functions in [`fitbench_report::ab`] and
//! [`fitbench_report::paired`], the pages are [`fitbench_render::ab`].
//!
//! 1. The sweep is resolved once, by this (the current) binary, and validated
//!    ([`Plan::resolve`]) before anything runs.
//! 2. It becomes *units* — one (dataset, trainer, repetition) each — and each unit becomes
//!    the `fitbench run` options an older binary understands ([`Unit::args`]): repetition r
//!    is repetition 0 of base seed `seed + r`, so both sides get the same split, initial
//!    weights and trainer seed.
//! 3. The baseline binary is given (`--baseline-bin`), or built from a git revision in a
//!    worktree under `target/ab/<sha>/` ([`build_revision`], reused when it exists); by
//!    default the revision is the commit recorded in `results/baseline/report.json`, the
//!    same base `fitbench check` compares against.
//! 4. Every unit is run by both binaries in K rounds, each run in its own process, in ABBA
//!    blocks whose starting side is drawn from the seed ([`schedule`]).
//! 5. Each pair is checked to be the same run (configuration, seeds, architecture; else the
//!    cell fails as mismatched), its deterministic metrics are compared with `fitbench
//!    check`'s tolerances, and its times are kept. [`fitbench_report::ab::analyse`] gives the
//!    verdicts; `ab.json`, `ab.md` and `ab.html` are written.

use crate::error::{HarnessError, Result};
use crate::request::RunRequest;
use crate::runner::Plan;
use fitbench_core::rng;
use fitbench_render::check::{self, Tolerances, Verdict};
use fitbench_report::ab::{
    AbCell, AbReport, AbSettings, AcceptFile, Acceptance, CellStatus, Difference, Pair, RunTiming,
    Side, SideInfo,
};
use fitbench_report::config::{CsvSpec, LrGrid};
use fitbench_report::{Report, RunConfig};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Where the baseline of an A/B comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum BaselineSource {
    /// A fitbench binary.
    Binary(PathBuf),
    /// A git revision, built by [`build_revision`].
    Revision(String),
    /// The commit recorded in this report (default: `results/baseline/report.json`).
    BaselineReport(PathBuf),
}

/// A `fitbench ab` request.
#[derive(Clone, Debug)]
pub struct AbRequest {
    /// The sweep (the same options as `fitbench run`; `out`, `resume`, `force`, `shard`
    /// and `jobs` do not apply).
    pub run: RunRequest,
    /// The baseline.
    pub baseline: BaselineSource,
    /// The candidate binary (default: this one).
    pub current_bin: Option<PathBuf>,
    /// Rounds, threshold, alpha, seed, test slowdown.
    pub settings: AbSettings,
    /// Output folder (`ab.json`, `ab.md`, `ab.html`, and `runs/` while running).
    pub out: PathBuf,
    /// Accept file (deliberate slowdowns); read when it exists.
    pub accept: Option<PathBuf>,
    /// The git repository that `--baseline-rev` revisions come from and under whose
    /// `target/ab/` they are built.
    pub repo: PathBuf,
    /// Keep every run's output folder under `runs/` (deleted by default once read).
    pub keep_runs: bool,
}

/// Progress events of an A/B.
#[derive(Debug)]
pub enum AbProgress<'a> {
    /// Building the baseline revision (cargo's output goes to the log named).
    Building {
        /// The revision.
        revision: &'a str,
        /// The build log.
        log: &'a Path,
    },
    /// The schedule is fixed.
    Planned {
        /// Units (dataset, trainer, repetition).
        units: usize,
        /// Processes to run.
        processes: usize,
    },
    /// One process finished.
    Ran {
        /// Processes done.
        done: usize,
        /// Processes in all.
        total: usize,
        /// The side.
        side: Side,
        /// `dataset / trainer`.
        cell: &'a str,
        /// Its wall time, seconds.
        wall_s: f64,
    },
}

/// What an A/B produced.
#[derive(Debug)]
pub struct AbOutcome {
    /// The report (also in `ab.json`).
    pub report: AbReport,
    /// Files written.
    pub files: Vec<PathBuf>,
    /// The A/B was interrupted: the report holds the pairs that finished.
    pub interrupted: bool,
}

impl AbOutcome {
    /// Whether `fitbench ab` should fail: a WORSE cell, or a cell that could not be compared
    /// for a reason other than being new to the baseline.
    pub fn failed(&self) -> bool {
        self.report.counts.worse > 0 || self.report.counts.failed > 0
    }
}

/// One (dataset, trainer, repetition) of the sweep and how to ask a binary for it.
#[derive(Clone, Debug, PartialEq)]
pub struct Unit {
    /// Index of its cell (dataset, trainer) in sweep order.
    pub cell: usize,
    /// Repetition.
    pub repetition: usize,
    /// `fitbench run` options (without `--out`).
    pub args: Vec<String>,
}

/// One process of the schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// Round.
    pub round: usize,
    /// Unit index.
    pub unit: usize,
    /// Which binary runs it.
    pub side: Side,
}

/// The order of the A/B: for every round, every unit in sweep order, run by both sides
/// back to back. The sides alternate from one pair to the next (AB BA AB BA …, ABBA blocks),
/// and the side that starts the whole schedule is drawn from `seed`.
pub fn schedule(units: usize, rounds: usize, seed: u64) -> Vec<Slot> {
    let start = if rng::derive_seed(seed, &["ab", "order"]) & 1 == 0 {
        Side::Baseline
    } else {
        Side::Current
    };
    let mut out = Vec::with_capacity(2 * units * rounds);
    let mut first = start;
    for round in 0..rounds {
        for unit in 0..units {
            for side in [first, first.other()] {
                out.push(Slot { round, unit, side });
            }
            first = first.other();
        }
    }
    out
}

/// The units of a sweep and its cells.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepUnits {
    /// Every (dataset, trainer, repetition), in sweep order.
    pub units: Vec<Unit>,
    /// Every (dataset name, trainer label), in sweep order ([`Unit::cell`] indexes it).
    pub cells: Vec<(String, String)>,
}

/// The `fitbench run` options of every unit of `config`, and the cells' (dataset, trainer)
/// names. Refuses a configuration that the options cannot express, naming the fields.
pub fn units(config: &RunConfig, plan: &Plan) -> Result<SweepUnits> {
    let defaults = RunConfig::default();
    let mut inexpressible = Vec::new();
    let mut field = |name: &str, same: bool| {
        if !same {
            inexpressible.push(name.to_string());
        }
    };
    field("patience", config.patience == defaults.patience);
    field(
        "min_rel_improvement",
        config.min_rel_improvement == defaults.min_rel_improvement,
    );
    field(
        "test_fraction",
        config.test_fraction == defaults.test_fraction,
    );
    field("targets", config.targets == defaults.targets);
    field("eval", config.eval == defaults.eval);
    field(
        "suboptimality_targets",
        config.suboptimality_targets == defaults.suboptimality_targets,
    );
    field(
        "iteration_budgets",
        config.iteration_budgets == defaults.iteration_budgets,
    );
    field(
        "lr_grid",
        config.lr_grid.is_none() || config.lr_grid == Some(LrGrid::default()),
    );
    field("test_handicap", config.test_handicap.is_none());
    field("hidden (empty)", !config.hidden.is_empty());
    field(
        "external (declared trainers; use the quick form ext:name=…,cmd=…)",
        config.external.is_empty(),
    );
    if !inexpressible.is_empty() {
        return Err(HarnessError::Config(format!(
            "fitbench ab hands the sweep to both binaries as `fitbench run` options, which cannot express {}: leave them at their defaults (or run `fitbench run` on each build and compare with `fitbench check`)",
            inexpressible.join(", ")
        )));
    }
    let mut common: Vec<String> = vec![
        "--seeds".into(),
        "1".into(),
        "--max-iters".into(),
        config.max_iters.to_string(),
        "--budget-s".into(),
        format!("{:?}", config.budget_s),
        "--hidden".into(),
        config
            .hidden
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(","),
        "--activation".into(),
        config.activation.clone(),
        "--threads".into(),
        config.threads.to_string(),
    ];
    if let Some(t) = config.target_train_mse {
        common.extend(["--target-mse".into(), format!("{t:?}")]);
    }
    if let Some(b) = &config.backend {
        common.extend(["--backend".into(), b.clone()]);
    }
    if config.lr_grid.is_some() {
        common.push("--lr-grid".into());
    }
    if let Some(m) = config.max_memory {
        common.extend(["--max-memory".into(), m.to_string()]);
    }
    let mut data_args: Vec<Vec<String>> = config
        .datasets
        .iter()
        .map(|d| vec!["--datasets".into(), d.clone()])
        .collect();
    data_args.extend(config.csv.iter().map(csv_args));
    let mut cells = Vec::new();
    let mut out = Vec::new();
    for (d, (dataset, dargs)) in plan.datasets.iter().zip(&data_args).enumerate() {
        for (t, trainer) in config.trainers.iter().enumerate() {
            let cell = d * config.trainers.len() + t;
            cells.push((dataset.data.name.clone(), trainer.clone()));
            for repetition in 0..config.seeds {
                let mut args = vec!["run".to_string()];
                args.extend(dargs.iter().cloned());
                args.extend(["--trainers".into(), trainer.clone()]);
                args.extend([
                    "--seed".into(),
                    config.base_seed.wrapping_add(repetition as u64).to_string(),
                ]);
                args.extend(common.iter().cloned());
                out.push(Unit {
                    cell,
                    repetition,
                    args,
                });
            }
        }
    }
    Ok(SweepUnits { units: out, cells })
}

fn csv_args(c: &CsvSpec) -> Vec<String> {
    let mut a = vec![
        "--csv".into(),
        c.path.clone(),
        "--target".into(),
        c.target.clone(),
    ];
    if !c.drop.is_empty() {
        a.extend(["--drop".into(), c.drop.join(",")]);
    }
    if c.dedup {
        a.push("--dedup".into());
    }
    a
}

/// Builds `fitbench` at git revision `rev` of the repository `repo`: a detached worktree at
/// `repo/target/ab/<sha>/src`, `cargo build --release --locked --bin fitbench` with the
/// shared target folder `repo/target/ab/target` (dependencies are compiled once for every
/// revision), the binary copied to `repo/target/ab/<sha>/fitbench`. Reused when that binary
/// exists. `progress` sees the build before it starts.
pub fn build_revision(
    repo: &Path,
    rev: &str,
    progress: &mut dyn FnMut(AbProgress<'_>),
) -> Result<PathBuf> {
    let sha = git(repo, &["rev-parse", "--verify", "--quiet", &format!("{rev}^{{commit}}")])
        .map_err(|e| {
            HarnessError::Config(format!(
                "--baseline-rev {rev}: not a commit of the repository at {} ({e}); fetch it (git fetch origin {rev}) or pass --baseline-bin PATH",
                repo.display()
            ))
        })?;
    // Absolute: cargo runs in the worktree, and a relative target folder would be read from
    // there.
    let repo =
        &std::path::absolute(repo).map_err(|e| HarnessError::io("cannot resolve", repo, e))?;
    let root = repo.join("target").join("ab");
    let dir = root.join(&sha);
    let bin = dir.join("fitbench");
    if bin.is_file() {
        return Ok(bin);
    }
    let src = dir.join("src");
    std::fs::create_dir_all(&dir).map_err(|e| HarnessError::io("cannot create", &dir, e))?;
    if !src.join("Cargo.toml").exists() {
        if src.exists() {
            std::fs::remove_dir_all(&src).map_err(|e| HarnessError::io("cannot clear", &src, e))?;
        }
        let _ = git(repo, &["worktree", "prune"]);
        git(
            repo,
            &[
                "worktree",
                "add",
                "--detach",
                "--force",
                &src.to_string_lossy(),
                &sha,
            ],
        )
        .map_err(|e| {
            HarnessError::Config(format!(
                "--baseline-rev {rev}: cannot check out {sha} into {}: {e}",
                src.display()
            ))
        })?;
    }
    let log = dir.join("build.log");
    progress(AbProgress::Building {
        revision: rev,
        log: &log,
    });
    let output = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["build", "--release", "--locked", "--bin", "fitbench"])
        .current_dir(&src)
        .env("CARGO_TARGET_DIR", root.join("target"))
        .output()
        .map_err(|e| HarnessError::io("cannot run cargo in", &src, e))?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    std::fs::write(&log, &text).map_err(|e| HarnessError::io("cannot write", &log, e))?;
    if !output.status.success() {
        return Err(HarnessError::Config(format!(
            "--baseline-rev {rev} ({sha}) does not build (`cargo build --release --locked --bin fitbench` in {} failed, {}); the end of cargo's output:\n{}\nfull log: {}",
            src.display(),
            output.status,
            tail(&text, 30),
            log.display()
        )));
    }
    let built = root.join("target").join("release").join("fitbench");
    std::fs::copy(&built, &bin).map_err(|e| HarnessError::io("cannot copy", &built, e))?;
    Ok(bin)
}

fn git(repo: &Path, args: &[&str]) -> std::result::Result<String, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
        Err(if err.is_empty() {
            format!("git {} failed", args.join(" "))
        } else {
            err
        })
    }
}

/// The last `lines` lines of `text`.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The git commit a report records (`environment.git_commit`).
pub fn baseline_commit(report: &Path) -> Result<String> {
    let r = fitbench_report::io::read_report(report)?;
    let commit = r.environment.git_commit;
    if commit == "unknown" || commit.is_empty() {
        return Err(HarnessError::Config(format!(
            "{} records no git commit; pass --baseline-rev REV or --baseline-bin PATH",
            report.display()
        )));
    }
    Ok(commit)
}

/// What one process left behind.
struct Ran {
    report: Option<Report>,
    timing: Option<RunTiming>,
    /// Exit code and the end of its output, when it failed.
    failure: Option<(Option<i32>, String)>,
}

fn run_process(bin: &Path, args: &[String], dir: &Path, position: usize) -> Result<Ran> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| HarnessError::io("cannot clear", dir, e))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| HarnessError::io("cannot create", dir, e))?;
    let t0 = Instant::now();
    let output = Command::new(bin)
        .args(args)
        .arg("--out")
        .arg(dir)
        .env_remove("FITBENCH_SHARD_INDEX")
        .env_remove("FITBENCH_SHARD_COUNT")
        .output()
        .map_err(|e| HarnessError::io("cannot run", bin, e))?;
    let wall_s = t0.elapsed().as_secs_f64();
    let text = String::from_utf8_lossy(&output.stderr).into_owned();
    let path = dir.join("report.json");
    // A process that leaves no readable report failed, whatever its exit status says; the
    // message names why (the report's read error, else the end of its output).
    let (report, unreadable) = if path.exists() {
        match fitbench_report::io::read_report(&path) {
            Ok(r) => (Some(r), None),
            Err(e) => (None, Some(format!("its report could not be read: {e}"))),
        }
    } else {
        (None, None)
    };
    let run = report.as_ref().and_then(|r| r.runs.first());
    let timing = run.map(|run| RunTiming {
        train_s: run.train_s,
        iterations: run.iterations,
        first_step_s: run.curve.iter().find(|p| p.iter == 1).map(|p| p.time_s),
        status: run.status.as_str().to_string(),
        time_to: run
            .metrics
            .as_ref()
            .map_or_else(Vec::new, |m| m.targets.iter().map(|h| h.time_s).collect()),
        wall_s,
        position,
    });
    let failure = report.is_none().then(|| {
        let why = unreadable.unwrap_or_else(|| {
            let end = tail(&text, 8);
            if end.trim().is_empty() {
                "it wrote no report.json".into()
            } else {
                end
            }
        });
        (output.status.code(), why)
    });
    Ok(Ran {
        report,
        timing,
        failure,
    })
}

/// Why the two reports of a pair are not the same run, if they are not: the configuration
/// (apart from its name and the test-only knobs), the run's dataset, trainer, seeds and
/// architecture must agree.
pub fn mismatch(baseline: &Report, current: &Report) -> Option<String> {
    let strip = |c: &RunConfig| {
        let mut c = c.clone();
        c.name.clear();
        c.test_slowdown = None;
        c.test_handicap = None;
        serde_json::to_value(&c).unwrap_or_default()
    };
    let (b, c) = (strip(&baseline.config), strip(&current.config));
    if b != c {
        let (Some(bo), Some(co)) = (b.as_object(), c.as_object()) else {
            return Some("the configurations differ".into());
        };
        let fields: Vec<String> = co
            .iter()
            .filter(|(k, v)| bo.get(*k) != Some(*v))
            .map(|(k, v)| {
                format!(
                    "{k}: baseline {}, current {v}",
                    bo.get(k).map_or("(absent)".into(), ToString::to_string)
                )
            })
            .collect();
        return Some(format!(
            "the two binaries resolved the same options into different sweeps ({})",
            fields.join("; ")
        ));
    }
    match (baseline.runs.as_slice(), current.runs.as_slice()) {
        ([b], [c]) => {
            let mut why = Vec::new();
            if b.dataset != c.dataset {
                why.push(format!("dataset {} vs {}", b.dataset, c.dataset));
            }
            if b.trainer != c.trainer {
                why.push(format!("trainer {} vs {}", b.trainer, c.trainer));
            }
            if b.seeds != c.seeds {
                why.push(format!("seeds {:?} vs {:?}", b.seeds, c.seeds));
            }
            if b.architecture != c.architecture {
                why.push(format!(
                    "architecture {:?} vs {:?}",
                    b.architecture, c.architecture
                ));
            }
            (!why.is_empty()).then(|| format!("not the same run: {}", why.join("; ")))
        }
        (b, c) => Some(format!(
            "expected one run from each side, got {} and {}",
            b.len(),
            c.len()
        )),
    }
}

/// The deterministic metrics that differ between the two runs of a pair (`fitbench check`'s
/// tolerances, timing left out).
pub fn differences(baseline: &Report, current: &Report, round: usize) -> Vec<Difference> {
    let tol = Tolerances {
        timing: false,
        ..Tolerances::default()
    };
    let repetition = current.runs.first().map_or(0, |r| r.repetition);
    check::compare(baseline, current, &tol)
        .rows
        .into_iter()
        .filter(|r| matches!(r.verdict, Verdict::Worse | Verdict::Better))
        .map(|r| Difference {
            repetition,
            round,
            metric: r.metric,
            baseline: r.baseline,
            current: r.current,
        })
        .collect()
}

fn version(bin: &Path) -> Option<String> {
    let out = Command::new(bin).arg("--version").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn machine() -> String {
    let env = fitbench_report::environment::capture(1);
    format!("{} ({} cores), host {}", env.cpu, env.cores, env.hostname)
}

/// Reads the accept file, keeping its lines only when they were written against `commit`.
fn read_accept(
    path: &Path,
    commit: Option<&str>,
    notes: &mut Vec<String>,
) -> Result<Vec<Acceptance>> {
    if !path.exists() {
        return Ok(vec![]);
    }
    let text =
        std::fs::read_to_string(path).map_err(|e| HarnessError::io("cannot read", path, e))?;
    let file =
        AcceptFile::parse(&text, &path.display().to_string()).map_err(HarnessError::Config)?;
    if file.accept.is_empty() {
        return Ok(vec![]);
    }
    match commit {
        Some(c)
            if c.starts_with(file.baseline_commit.trim())
                || file.baseline_commit.trim().starts_with(c) =>
        {
            Ok(file.accept)
        }
        _ => {
            notes.push(format!(
                "{}: {} accepted slowdown(s) written against baseline {} ignored: this A/B's baseline is {}; delete them (the baseline was refreshed)",
                path.display(),
                file.accept.len(),
                file.baseline_commit,
                commit.unwrap_or("unknown")
            ));
            Ok(vec![])
        }
    }
}

/// The sweep of an A/B, resolved and validated before anything runs, and its units.
fn resolve_sweep(request: &AbRequest) -> Result<(RunConfig, SweepUnits)> {
    let mut jobs = request.run.sweeps()?;
    if jobs.len() != 1 {
        return Err(HarnessError::Config(format!(
            "fitbench ab compares one sweep; this preset is a group of {} ({}): pass one of them with --config or name --datasets and --trainers",
            jobs.len(),
            jobs.iter()
                .map(|j| j.config.name.clone())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let config = jobs.remove(0).config;
    if let Some(s) = &request.settings.test_slowdown
        && !config.trainers.contains(&s.trainer)
    {
        return Err(HarnessError::Config(format!(
            "--test-slowdown {}={}: {} is not a trainer of the sweep ({})",
            s.trainer,
            s.factor,
            s.trainer,
            config.trainers.join(", ")
        )));
    }
    let plan = Plan::resolve(config.clone())?;
    let units = units(&config, &plan)?;
    Ok((config, units))
}

/// The baseline and current binaries (building the baseline's revision if asked), with what
/// is known of each before it runs.
fn binaries(
    request: &AbRequest,
    progress: &mut dyn FnMut(AbProgress<'_>),
) -> Result<[(PathBuf, SideInfo); 2]> {
    let current = match &request.current_bin {
        Some(p) => p.clone(),
        None => std::env::current_exe()
            .map_err(|e| HarnessError::io("cannot locate this binary", "fitbench", e))?,
    };
    let (baseline, revision) = match &request.baseline {
        BaselineSource::Binary(p) => (p.clone(), None),
        BaselineSource::Revision(rev) => (
            build_revision(&request.repo, rev, progress)?,
            Some(rev.clone()),
        ),
        BaselineSource::BaselineReport(path) => {
            let commit = baseline_commit(path)?;
            (
                build_revision(&request.repo, &commit, progress)?,
                Some(commit),
            )
        }
    };
    let info = |bin: &PathBuf, side: &str, revision: Option<String>| {
        if !bin.is_file() {
            return Err(HarnessError::Config(format!(
                "the {side} binary {} does not exist",
                bin.display()
            )));
        }
        Ok(SideInfo {
            binary: bin.display().to_string(),
            revision,
            version: version(bin),
            ..SideInfo::default()
        })
    };
    let baseline_info = info(&baseline, "baseline", revision)?;
    let current_info = info(&current, "current", None)?;
    Ok([(baseline, baseline_info), (current, current_info)])
}

/// A process that failed without a report: the cell is new when the baseline refused the
/// options before running (exit 2: a trainer, option or dataset it does not know), else failed.
fn fail_cell(cell: &mut AbCell, side: Side, code: Option<i32>, text: &str) {
    let new = side == Side::Baseline && code == Some(2);
    cell.status = if new {
        CellStatus::New
    } else {
        CellStatus::Failed
    };
    cell.message = Some(format!(
        "{} binary {} ({}): {text}",
        side.as_str(),
        if new { "refused the cell" } else { "failed" },
        code.map_or("killed by a signal".into(), |c| format!("exit {c}"))
    ));
}

/// Adds the pair of runs `baseline` and `current` (the unit's `repetition`, `round`; `first`
/// ran first) to `cell`, after checking that they are the same run; records each side's
/// commit from its first report. Returns `false` when a signal interrupted a run of the pair
/// (the pair is dropped).
fn record_pair(
    cell: &mut AbCell,
    (round, repetition, first): (usize, usize, Side),
    baseline: Ran,
    current: Ran,
    sides: &mut [SideInfo; 2],
) -> bool {
    let (Some(br), Some(cr), Some(bt), Some(ct)) = (
        baseline.report,
        current.report,
        baseline.timing,
        current.timing,
    ) else {
        cell.status = CellStatus::Failed;
        cell.message = Some("a side wrote a report without a run".into());
        return true;
    };
    if bt.status == "interrupted" || ct.status == "interrupted" {
        return false;
    }
    if let Some(why) = mismatch(&br, &cr) {
        cell.status = CellStatus::Failed;
        cell.message = Some(format!("mismatched sweep: {why}"));
        return true;
    }
    for (info, report) in sides.iter_mut().zip([&br, &cr]) {
        if info.git_commit.is_none() {
            info.git_commit = Some(report.environment.git_commit.clone());
            info.git_dirty = report.environment.git_dirty;
        }
    }
    cell.differences.extend(differences(&br, &cr, round));
    cell.pairs.push(Pair {
        round,
        repetition,
        first,
        baseline: bt,
        current: ct,
    });
    true
}

/// Runs an A/B: resolves and validates the sweep, finds or builds the baseline, runs the
/// schedule, analyses and writes `ab.json`, `ab.md` and `ab.html` into `request.out` — also
/// when interrupted (`interrupt` set), with the pairs that finished.
pub fn run(
    request: &AbRequest,
    interrupt: Arc<AtomicBool>,
    progress: &mut dyn FnMut(AbProgress<'_>),
) -> Result<AbOutcome> {
    let started = Instant::now();
    let started_unix_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let settings = request.settings.clone();
    settings.validate().map_err(HarnessError::Config)?;
    let (config, SweepUnits { units, cells }) = resolve_sweep(request)?;
    let [(baseline_bin, baseline), (current_bin, current)] = binaries(request, progress)?;
    let mut sides = [baseline, current];
    std::fs::create_dir_all(&request.out)
        .map_err(|e| HarnessError::io("cannot create", &request.out, e))?;

    let slots = schedule(units.len(), settings.rounds, settings.seed);
    progress(AbProgress::Planned {
        units: units.len(),
        processes: slots.len(),
    });
    let mut cells: Vec<AbCell> = cells.iter().map(|(d, t)| AbCell::new(d, t)).collect();
    let runs_dir = request.out.join("runs");
    let slowdown_args: Vec<String> = settings
        .test_slowdown
        .as_ref()
        .map(|s| {
            vec![
                "--test-slowdown".to_string(),
                format!("{}={}", s.trainer, s.factor),
            ]
        })
        .unwrap_or_default();
    let mut pending: Option<(Slot, Ran)> = None;
    let mut interrupted = false;
    for (position, slot) in slots.iter().enumerate() {
        if interrupt.load(Ordering::Relaxed) {
            interrupted = true;
            break;
        }
        let unit = &units[slot.unit];
        let cell = &mut cells[unit.cell];
        if cell.status != CellStatus::Compared {
            pending = None;
            continue;
        }
        // The slowdown goes to the current side's runs of its trainer only (a sweep without
        // that trainer would refuse it).
        let slowed = settings
            .test_slowdown
            .as_ref()
            .is_some_and(|s| s.trainer == cell.trainer);
        let (bin, extra) = match slot.side {
            Side::Current if slowed => (&current_bin, slowdown_args.as_slice()),
            Side::Current => (&current_bin, &[][..]),
            Side::Baseline => (&baseline_bin, &[][..]),
        };
        let dir = runs_dir.join(format!(
            "r{}-u{}-{}",
            slot.round,
            slot.unit,
            slot.side.as_str()
        ));
        let mut args = unit.args.clone();
        args.extend(extra.iter().cloned());
        let ran = run_process(bin, &args, &dir, position)?;
        if !request.keep_runs {
            let _ = std::fs::remove_dir_all(&dir);
        }
        progress(AbProgress::Ran {
            done: position + 1,
            total: slots.len(),
            side: slot.side,
            cell: &cell.key(),
            wall_s: ran.timing.as_ref().map_or(0.0, |t| t.wall_s),
        });
        if let Some((code, text)) = &ran.failure {
            fail_cell(cell, slot.side, *code, text);
            pending = None;
            continue;
        }
        let Some((first, first_ran)) = pending
            .take()
            .filter(|(s, _)| s.unit == slot.unit && s.round == slot.round)
        else {
            pending = Some((*slot, ran));
            continue;
        };
        let (b, c) = match first.side {
            Side::Baseline => (first_ran, ran),
            Side::Current => (ran, first_ran),
        };
        let key = (slot.round, unit.repetition, first.side);
        if !record_pair(cell, key, b, c, &mut sides) {
            // A signal reached the runs too: the pair is incomplete, and the loop ends.
            interrupted = true;
        }
    }
    let _ = std::fs::remove_dir(&runs_dir);
    let [baseline, current] = sides;

    let mut notes = Vec::new();
    let accept = match &request.accept {
        Some(path) => read_accept(
            path,
            baseline
                .git_commit
                .as_deref()
                .or(baseline.revision.as_deref()),
            &mut notes,
        )?,
        None => vec![],
    };
    for a in &accept {
        if !cells.iter().any(|c| c.key() == a.cell) {
            notes.push(format!(
                "accept line for {} matches no cell of this sweep",
                a.cell
            ));
        }
    }
    if interrupted {
        notes.push("interrupted: the report holds the pairs that finished".into());
    }
    if baseline.git_dirty == Some(true) || current.git_dirty == Some(true) {
        notes.push(format!(
            "uncommitted changes: baseline dirty {:?}, current dirty {:?}",
            baseline.git_dirty, current.git_dirty
        ));
    }
    let counts = fitbench_report::ab::analyse(
        &mut cells,
        &settings,
        &config.suboptimality_targets,
        &accept,
    );
    let report = AbReport {
        schema_version: fitbench_report::ab::AB_SCHEMA_VERSION,
        settings,
        sweep: config,
        baseline,
        current,
        machine: machine(),
        started_unix_s,
        wall_s: started.elapsed().as_secs_f64(),
        accept_file: request
            .accept
            .as_ref()
            .filter(|p| p.exists())
            .map(|p| p.display().to_string()),
        cells,
        counts,
        notes,
    };
    let files = fitbench_render::ab::write(&report, &request.out)?;
    Ok(AbOutcome {
        report,
        files,
        interrupted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_is_abba_blocks_with_a_seeded_start() {
        let s = schedule(3, 2, 7);
        assert_eq!(s.len(), 12);
        // Every unit of every round: both sides, back to back.
        for (i, pair) in s.chunks(2).enumerate() {
            assert_eq!(pair[0].unit, pair[1].unit);
            assert_eq!(pair[0].round, pair[1].round);
            assert_ne!(pair[0].side, pair[1].side);
            assert_eq!(pair[0].unit, i % 3);
            assert_eq!(pair[0].round, i / 3);
        }
        // ABBA: the side of position k is the start for k mod 4 ∈ {0, 3}.
        let start = s[0].side;
        for (k, slot) in s.iter().enumerate() {
            let want = if matches!(k % 4, 0 | 3) {
                start
            } else {
                start.other()
            };
            assert_eq!(slot.side, want, "position {k}");
        }
        // The start is drawn from the seed, and the same seed gives the same schedule.
        assert_eq!(schedule(3, 2, 7), s);
        let starts: std::collections::HashSet<Side> =
            (0..16).map(|seed| schedule(1, 1, seed)[0].side).collect();
        assert_eq!(starts.len(), 2, "both starting sides occur over 16 seeds");
    }
}
