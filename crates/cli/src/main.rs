//! `fitbench`: the command-line front end. Argument parsing into the library's request
//! types, dispatch, and progress display; the work happens in `fitbench_harness` (sweeps),
//! `fitbench_render` (plots, summaries, `check`), `fitbench_report` (reading and validating
//! reports) and `fitbench_lnn` (the lnn study).

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};
use fitbench_harness::console::{self, Listing, Outcome};
use fitbench_harness::request::{self, RunRequest};
use fitbench_harness::runner::Progress;
use fitbench_render::{check, gate, output};
use fitbench_report::config::CsvSpec;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The process allocator: mimalloc keeps freed memory for reuse. burn allocates every
/// intermediate tensor afresh; with glibc's malloc, tensors of a few MB were mapped from the
/// operating system and unmapped again on every operation, so page faults and page zeroing
/// took most of an Adam epoch (n = 8 000, h = 64: 4.5–4.9 ms per epoch, 1.0 ms with freed
/// memory kept; see the README's Benchmarks section). The faer trainers allocate only in
/// `init`, so their steps are unaffected. Wrapped in the harness's counting allocator, which
/// records each run's peak heap bytes and the allocations made inside timed steps.
#[global_allocator]
static ALLOCATOR: fitbench_harness::alloc::Counting<mimalloc::MiMalloc> =
    fitbench_harness::alloc::Counting::new(mimalloc::MiMalloc);

const EXAMPLES: &str = "\
Examples:
  fitbench run --preset quick
  fitbench run --datasets diabetes,teacher:d=16,h=8,n=5000,noise=0.1 --trainers ols,ols:ridge=1 --seeds 3
  fitbench run --csv my.csv --target price --drop id --trainers ols --out out/mine
  fitbench run --config configs/example.toml --threads 2
  fitbench lnn --trials 20
  fitbench list datasets
  fitbench plot results/quick/report.json
  fitbench validate results/quick/report.json --require-ok
  fitbench run --preset ci --out target/ci-check
  fitbench check --baseline results/baseline/report.json --current target/ci-check/report.json";

const AB_EXAMPLES: &str = "\
Examples:
  fitbench ab --preset ab                       # against the commit of results/baseline
  fitbench ab --preset ab --baseline-rev main~3 --rounds 8
  fitbench ab --preset ab --baseline-bin /tmp/fitbench-old --out out/ab-old
  fitbench ab --datasets diabetes --trainers adam,lbfgs --seeds 4 --max-iters 200";

/// `eprintln!` that never panics: a closed stderr (`fitbench run … 2>&1 | head`) loses the
/// message instead of ending the process with a panic.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// Writes `text` to stdout; a closed pipe (`fitbench list | head -2`) ends the output quietly.
fn emit(text: &str) -> Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// The exit code of an interrupted command (see README "Failure modes").
const EXIT_INTERRUPTED: u8 = Outcome::Interrupted.exit_code();

/// Compare training algorithms by the loss they reach per second of compute.
#[derive(Debug, Parser)]
#[command(name = "fitbench", version, about, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a sweep: every trainer × dataset × seed; writes report.json, summary.md, plots.
    ///
    /// Without --preset or --config, an option not given takes the default shown; with one,
    /// the preset's or file's value. The resolved sweep is printed before it starts.
    #[command(after_help = EXAMPLES)]
    Run(Box<RunArgs>),
    /// Rebuild report.json, summary.md and the plots of a sweep folder from what the sweep
    /// wrote as it went (sweep.json, runs.jsonl, tuning.jsonl): after a crash or kill -9.
    Report {
        /// The sweep's output folder.
        dir: PathBuf,
    },
    /// Run the Lakkapragada 2024 study: width-1 linear chains by full-batch SGD vs OLS.
    Lnn(LnnArgs),
    /// Merge the output folders of a sweep's shards (`fitbench run --shard I/N`) into one
    /// sweep folder: same configuration required, no run twice; writes runs.jsonl,
    /// tuning.jsonl, report.json, summary.md and plots into --out.
    Merge {
        /// The shards' output folders.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Output folder (must not hold a sweep).
        #[arg(long)]
        out: PathBuf,
        /// Write the report even when some runs of the sweep are in no shard (they are
        /// listed in the report's `merge.missing`, and the report counts as incomplete).
        #[arg(long)]
        allow_missing: bool,
        /// Merge runs built from different git commits (listed in the report's
        /// `merge.commits`); refused by default.
        #[arg(long)]
        allow_mixed_commits: bool,
    },
    /// List datasets, trainers or presets.
    List {
        /// What to list (all if omitted).
        what: Option<ListWhat>,
        /// Also list the trainers this TOML config file declares (`[[external]]`), asking
        /// each for its options and versions.
        #[arg(long, conflicts_with = "preset")]
        config: Option<PathBuf>,
        /// Also list the trainers this preset declares (`[[external]]`, e.g. `peers`).
        #[arg(long)]
        preset: Option<String>,
    },
    /// Redraw the plots and summary of a saved report without re-running.
    Plot {
        /// The report.json to draw.
        report: PathBuf,
        /// Output folder (default: the report's folder). A folder holding another sweep's
        /// report is refused unless --force.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Draw into --out even though it holds another sweep's report (its views will then
        /// belong to the report drawn, and `validate --require-plots` says so).
        #[arg(long)]
        force: bool,
    },
    /// Write results/REPRODUCTION.md from the committed reports of the reproduction presets.
    Reproduction {
        /// The results folder.
        #[arg(long, default_value = "results")]
        results: PathBuf,
    },
    /// Compare a report with a baseline: deterministic convergence metrics within tight
    /// tolerances, timing normalised by the calibration kernel; exit 1 on a regression or on
    /// a (dataset, trainer) the baseline does not gate.
    Check(CheckArgs),
    /// Relative benchmark: run a sweep with a baseline build and this one, interleaved on
    /// this machine (every run its own process, ABBA order, K rounds), and test the paired
    /// ratios of seconds per step; writes ab.json, ab.md, ab.html; exit 1 on a WORSE cell.
    #[command(after_help = AB_EXAMPLES)]
    Ab(Box<AbArgs>),
    /// Check a report against its schema invariants (and, with --require-ok, that no run failed).
    Validate {
        /// The report.json to check.
        report: PathBuf,
        /// Fail if any run diverged, errored or panicked.
        #[arg(long)]
        require_ok: bool,
        /// Fail unless every file `fitbench run` writes (summary, plots) exists.
        #[arg(long)]
        require_plots: bool,
    },
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
    /// The baseline report (e.g. results/baseline/report.json).
    #[arg(long)]
    baseline: PathBuf,
    /// The report to check.
    #[arg(long)]
    current: PathBuf,
    /// Rewrite the baseline with the current report (report, summary, plots) after printing
    /// the comparison; exits 0.
    #[arg(long)]
    update: bool,
    /// Do not fail on (dataset, trainer) pairs the baseline does not have.
    #[arg(long)]
    allow_new: bool,
    /// Iterations: relative slack before a level reached later counts as worse.
    #[arg(long, default_value_t = 0.25)]
    iter_tol: f64,
    /// Losses after the iteration budgets: relative slack before worse.
    #[arg(long, default_value_t = 0.05)]
    loss_tol: f64,
    /// Timing (normalised by the calibration kernel): ratio current/baseline above which a
    /// metric counts as worse.
    #[arg(long, default_value_t = 2.0)]
    time_ratio: f64,
    /// Timing metrics shorter than this (seconds, in the baseline) are too short to time:
    /// reported as inconclusive.
    #[arg(long, default_value_t = 1e-3)]
    min_time_s: f64,
    /// Compare deterministic metrics only.
    #[arg(long)]
    no_timing: bool,
    /// Which time to each suboptimality level the timing metrics use: selection-honest (the
    /// run's own), tuning-inclusive (plus every other grid trial's training time) or
    /// optimistic (the fastest trial in hindsight); see docs/report-schema.md.
    #[arg(long, default_value = "selection-honest", value_parser = parse_time_basis)]
    time: fitbench_report::charge::TimeBasis,
    /// Print only rows that are not "same".
    #[arg(long)]
    changes_only: bool,
    /// Compare even when the two reports were run with different settings that change
    /// results (architecture, activation, budgets, seeds, evaluation…); refused (exit 2)
    /// otherwise. The changes are printed and kept in the HTML page's notes.
    #[arg(long)]
    allow_config_change: bool,
    /// Also write the current report's metrics as github-action-benchmark
    /// `customSmallerIsBetter` JSON to this file.
    #[arg(long)]
    github_json: Option<PathBuf>,
    /// Also write the current report's metrics in Bencher Metric Format to this file.
    #[arg(long)]
    bencher_json: Option<PathBuf>,
    /// Also write the comparison as a self-contained HTML page to this file: baseline and
    /// current curves per (dataset, trainer), coloured by verdict, the worst first.
    #[arg(long)]
    html: Option<PathBuf>,
}

#[derive(Clone, Debug, clap::Args)]
struct AbArgs {
    #[command(flatten)]
    sweep: SweepArgs,
    /// The baseline binary.
    #[arg(long, conflicts_with = "baseline_rev")]
    baseline_bin: Option<PathBuf>,
    /// The baseline as a git revision of this repository: built once with `cargo build
    /// --release --bin fitbench` in a worktree under target/ab/<sha>/ (reused when it
    /// exists). Default (neither flag): the commit recorded in
    /// results/baseline/report.json, the base `fitbench check` compares against.
    #[arg(long)]
    baseline_rev: Option<String>,
    /// The current binary (default: this one).
    #[arg(long)]
    current_bin: Option<PathBuf>,
    /// Rounds: every (dataset, trainer, repetition) runs this many times on each side.
    #[arg(long, default_value_t = fitbench_report::ab::AbSettings::default().rounds)]
    rounds: usize,
    /// Relative slowdown that counts: WORSE when the ratio is above 1 + F by Holm's test.
    #[arg(long, default_value_t = 0.05, allow_negative_numbers = true)]
    threshold: f64,
    /// Family-wise error rate of the WORSE (and of the better) verdicts over all cells.
    #[arg(long, default_value_t = 0.05, allow_negative_numbers = true)]
    alpha: f64,
    /// Seed of the order of the sides.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder.
    #[arg(long, default_value = "out/ab")]
    out: PathBuf,
    /// Accepted slowdowns (cell, largest accepted ratio, reason), valid for one baseline
    /// commit.
    #[arg(long, default_value = "results/ab-accept.toml")]
    accept: PathBuf,
    /// Keep every run's output folder under OUT/runs/ (deleted once read by default).
    #[arg(long)]
    keep_runs: bool,
    /// Test only: the current side's TRAINER busy-waits to FACTOR× its step time.
    #[arg(long, hide = true, value_parser = parse_slowdown)]
    test_slowdown: Option<fitbench_report::config::Slowdown>,
}

/// A count (`--seeds`): a clear message for a list of seeds or a non-number.
fn parse_count(text: &str) -> std::result::Result<usize, String> {
    text.trim().parse::<usize>().map_err(|_| {
        if text.contains(',') {
            format!(
                "{text:?} is a list, but --seeds is the number of repetitions (e.g. --seeds 3); the seeds themselves derive from the base seed --seed N"
            )
        } else {
            format!("{text:?} is not a count of repetitions (a whole number ≥ 1, e.g. --seeds 3)")
        }
    })
}

fn parse_slowdown(text: &str) -> std::result::Result<fitbench_report::config::Slowdown, String> {
    fitbench_report::config::Slowdown::parse(text)
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ListWhat {
    Datasets,
    Trainers,
    Presets,
}

#[derive(Clone, Debug, clap::Args)]
struct LnnArgs {
    /// Trials per (depth, noise, learning rate).
    #[arg(long)]
    trials: Option<usize>,
    /// Full-batch SGD steps per trial.
    #[arg(long)]
    steps: Option<usize>,
    /// Base seed.
    #[arg(long, allow_negative_numbers = true)]
    seed: Option<u64>,
    /// Output folder.
    #[arg(long, default_value = "out/lnn")]
    out: PathBuf,
    /// Threads (recorded; the study runs on one).
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

#[derive(Clone, Debug, clap::Args)]
struct RunArgs {
    #[command(flatten)]
    sweep: SweepArgs,
    /// A CSV file to use as a dataset (header row, numeric columns).
    #[arg(long, requires = "target")]
    csv: Option<String>,
    /// Target column of --csv.
    #[arg(long, requires = "csv")]
    target: Option<String>,
    /// Columns of --csv to ignore, comma-separated.
    #[arg(long, value_delimiter = ',', requires = "csv")]
    drop: Vec<String>,
    /// Remove exact duplicate rows of --csv (same features and target), keeping the first
    /// copy of each; without it they are counted in the summary.
    #[arg(long, requires = "csv")]
    dedup: bool,
    /// Base seed: repetition r of every run uses seeds derived from it [default: 0]
    #[arg(long)]
    seed: Option<u64>,
    /// Stop a run when its train MSE reaches this (standardised units).
    #[arg(long, allow_negative_numbers = true)]
    target_mse: Option<f64>,
    /// Output folder (default: out/<preset or config name>). A folder that already holds a
    /// sweep is refused unless --resume or --force.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Threads for faer and rayon, at most this machine's cores unless --oversubscribe
    /// [default: 1, for fair timing]
    #[arg(long, allow_negative_numbers = true)]
    threads: Option<usize>,
    /// Allow --threads above this machine's core count (timings are then oversubscribed).
    #[arg(long)]
    oversubscribe: bool,
    /// Refuse any run whose estimated peak memory (data plus the trainer's buffers) exceeds
    /// this, e.g. 8G, 512M or a byte count (default: FITBENCH_MEMORY_LIMIT, else the
    /// machine's available memory). A refused run is recorded with its estimate; the others
    /// run.
    #[arg(long, value_parser = fitbench_harness::memory::parse_bytes)]
    max_memory: Option<u64>,
    /// burn backend of every trainer that has one (sgd, adam) and does not name one: flex,
    /// or ndarray when built with `--features ndarray`.
    #[arg(long)]
    backend: Option<String>,
    /// Tune the learning rate of every trainer that has one, per dataset, on a validation
    /// split (default grid 1e-4…3e-1, 200 epochs) before the comparison.
    #[arg(long)]
    lr_grid: bool,
    /// The output folder holds an earlier (e.g. interrupted) sweep: reuse its finished runs
    /// whose fingerprint matches, rerun those whose settings changed and retry those that
    /// were interrupted, refused or failed (new records are appended; nothing is deleted).
    #[arg(long, conflicts_with = "force")]
    resume: bool,
    /// The output folder holds an earlier sweep: move its files to OUT/previous/<UTC time>/
    /// first (nothing is deleted).
    #[arg(long)]
    force: bool,
    /// Run one shard of the sweep: I/N (0-based), or `auto` to read it from the batch
    /// scheduler (SLURM_ARRAY_TASK_ID + SLURM_ARRAY_TASK_COUNT or _MIN/_MAX; Kubernetes
    /// JOB_COMPLETION_INDEX + FITBENCH_SHARD_COUNT; or FITBENCH_SHARD_INDEX +
    /// FITBENCH_SHARD_COUNT). Combine the shards' folders with `fitbench merge`.
    #[arg(long)]
    shard: Option<String>,
    /// Run J runs at once, each single-threaded (default 1). Results are the same as with
    /// --jobs 1; timings are not: concurrent runs share memory bandwidth and caches (the
    /// report records J and the summary says so).
    #[arg(long, value_name = "J")]
    jobs: Option<usize>,
    /// Test only: TRAINER busy-waits inside the timed region to FACTOR× its step time
    /// (numerics unchanged; recorded in the report).
    #[arg(long, hide = true, value_parser = parse_slowdown)]
    test_slowdown: Option<fitbench_report::config::Slowdown>,
}

/// The options that choose a sweep, shared by `run` and `ab`.
#[derive(Clone, Debug, clap::Args)]
struct SweepArgs {
    /// Start from a named preset (see `fitbench list presets`; `ab` is made for `fitbench ab`).
    #[arg(long, conflicts_with = "config")]
    preset: Option<String>,
    /// Start from a TOML config file (see configs/example.toml; for `fitbench ab`, only
    /// fields that `fitbench run` options can express).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Datasets, comma-separated: built-in names or GENERATOR:key=value,… (replaces the preset's).
    /// Separate several synthetic specs with ';' or repeat the flag.
    #[arg(long, value_delimiter = ';')]
    datasets: Vec<String>,
    /// Trainers as NAME[:key=value,…], separated by ';' or by repeating the flag (see
    /// `fitbench list trainers`) [default: ols]
    #[arg(long, value_delimiter = ';')]
    trainers: Vec<String>,
    /// How many repetitions (splits and initial weights) per dataset and trainer: a count,
    /// not a list; the base seed is --seed (in `fitbench ab`, each round gives one pair per
    /// repetition) [default: 5]
    #[arg(long, value_parser = parse_count, value_name = "COUNT")]
    seeds: Option<usize>,
    /// Training-time budget per run in seconds [default: 10]
    #[arg(long, allow_negative_numbers = true)]
    budget_s: Option<f64>,
    /// Iteration cap per run [default: 10000]
    #[arg(long, allow_negative_numbers = true)]
    max_iters: Option<usize>,
    /// Hidden widths shared by every trainer, e.g. 64,64 [default: 32]
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
    hidden: Option<Vec<usize>>,
    /// Hidden activation: identity, relu, leaky_relu[:α], tanh, sigmoid, softplus
    /// [default: tanh]
    #[arg(long)]
    activation: Option<String>,
}

impl SweepArgs {
    /// The request these options make, every other field at its default.
    fn into_request(self) -> RunRequest {
        RunRequest {
            preset: self.preset,
            config_file: self.config,
            datasets: self.datasets,
            trainers: self.trainers,
            seeds: self.seeds,
            budget_s: self.budget_s,
            max_iters: self.max_iters,
            hidden: self.hidden,
            activation: self.activation,
            ..RunRequest::default()
        }
    }
}

impl RunArgs {
    fn into_request(self) -> RunRequest {
        // clap makes --csv and --target come together, and --drop/--dedup need --csv.
        let csv = self.csv.zip(self.target).map(|(path, target)| CsvSpec {
            path,
            target,
            drop: self.drop,
            dedup: self.dedup,
        });
        RunRequest {
            csv,
            seed: self.seed,
            target_mse: self.target_mse,
            out: self.out,
            threads: self.threads,
            max_memory: self.max_memory,
            backend: self.backend,
            lr_grid: self.lr_grid,
            resume: self.resume,
            force: self.force,
            shard: self.shard,
            jobs: self.jobs,
            test_slowdown: self.test_slowdown,
            ..self.sweep.into_request()
        }
    }
}

/// Installs the SIGINT/SIGTERM handler: the first signal asks the sweep to stop (the run in
/// flight ends as `interrupted`, what finished is written), a second one exits at once.
fn interrupt_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let handler = flag.clone();
    let installed = ctrlc::set_handler(move || {
        if handler.swap(true, Ordering::SeqCst) {
            say!("fitbench: second signal, exiting now");
            std::process::exit(i32::from(EXIT_INTERRUPTED));
        }
        say!(
            "fitbench: interrupted; stopping the current run and writing what finished (signal again to exit at once)"
        );
    });
    if let Err(e) = installed {
        say!(
            "fitbench: warning: cannot handle interrupts ({e}); an interrupt will lose the run in flight"
        );
    }
    flag
}

fn run(args: RunArgs) -> Result<ExitCode> {
    let oversubscribe = args.oversubscribe;
    let request = args.into_request();
    let existing = request.existing()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = request.sweeps()?;
    if let Some(warning) = console::check_threads(&jobs, cores, oversubscribe)? {
        say!("{warning}");
    }
    let interrupt = interrupt_flag();
    let mut code = ExitCode::SUCCESS;
    for job in jobs {
        let bar = std::io::stderr().is_terminal().then(|| {
            ProgressBar::new(0).with_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed_precise} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            )
        });
        let mut on_plan = |plan: &fitbench_harness::runner::Plan| {
            for line in console::plan_lines(plan, &job) {
                say!("{line}");
            }
            if let Some(b) = &bar {
                b.set_length(plan.n_owned_runs() as u64);
            }
        };
        let mut progress = |p: Progress<'_>| show_progress(&console::progress(&p), bar.as_ref());
        let result = request::execute(
            &job,
            existing,
            interrupt.clone(),
            &mut on_plan,
            &mut progress,
        )?;
        if let Some(b) = &bar {
            b.finish_and_clear();
        }
        for line in console::sweep_lines(&result, &job) {
            say!("{line}");
        }
        if let Some(c) = report_outcome(&result) {
            code = c;
        }
        if result.interrupted {
            break;
        }
    }
    Ok(code)
}

/// Prints what a sweep's outcome means and returns a non-zero exit code when it calls for one.
fn report_outcome(result: &request::SweepResult) -> Option<ExitCode> {
    let (lines, outcome) = console::outcome(result);
    for line in lines {
        say!("{line}");
    }
    (outcome != Outcome::Finished).then(|| ExitCode::from(outcome.exit_code()))
}

fn ab(args: AbArgs) -> Result<ExitCode> {
    use fitbench_harness::ab::{AbProgress, AbRequest, BaselineSource};
    let run = args.sweep.into_request();
    let baseline = match (args.baseline_bin, args.baseline_rev) {
        (Some(bin), _) => BaselineSource::Binary(bin),
        (None, Some(rev)) => BaselineSource::Revision(rev),
        (None, None) => {
            BaselineSource::BaselineReport(PathBuf::from("results/baseline/report.json"))
        }
    };
    let request = AbRequest {
        run,
        baseline,
        current_bin: args.current_bin,
        settings: fitbench_report::ab::AbSettings {
            rounds: args.rounds,
            threshold: args.threshold,
            alpha: args.alpha,
            seed: args.seed,
            test_slowdown: args.test_slowdown,
        },
        out: args.out,
        accept: Some(args.accept),
        repo: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
        keep_runs: args.keep_runs,
    };
    let interrupt = interrupt_flag();
    let mut progress = |p: AbProgress<'_>| {
        if let Some(line) = console::ab_progress(&p, request.settings.rounds, &request.out) {
            say!("{line}");
        }
    };
    let outcome = fitbench_harness::ab::run(&request, interrupt, &mut progress)?;
    emit(&fitbench_render::ab::markdown(&outcome.report))?;
    for f in &outcome.files {
        say!("fitbench: wrote {}", f.display());
    }
    Ok(if outcome.interrupted {
        ExitCode::from(EXIT_INTERRUPTED)
    } else if outcome.failed() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn merge(
    dirs: &[PathBuf],
    out: &Path,
    options: fitbench_harness::shard::MergeOptions,
) -> Result<ExitCode> {
    let (merged, result) = request::merge(dirs, out, options)?;
    for line in console::merge_lines(&merged, &result, out) {
        say!("{line}");
    }
    Ok(report_outcome(&result).unwrap_or(ExitCode::SUCCESS))
}

fn rebuild(dir: &Path) -> Result<ExitCode> {
    let result = request::rebuild(dir)?;
    for line in console::rebuild_lines(&result, dir) {
        say!("{line}");
    }
    Ok(report_outcome(&result).unwrap_or(ExitCode::SUCCESS))
}

fn show_progress(text: &console::ProgressText, bar: Option<&ProgressBar>) {
    match bar {
        Some(b) => {
            if let Some(m) = &text.bar_message {
                b.set_message(m.clone());
            }
            b.inc(text.advance);
            if let Some(line) = &text.bar_line {
                b.println(line);
            }
        }
        None => {
            if let Some(line) = &text.plain_line {
                say!("{line}");
            }
        }
    }
}

fn lnn(args: &LnnArgs) -> Result<ExitCode> {
    let request = fitbench_lnn::LnnRequest {
        trials: args.trials,
        steps: args.steps,
        seed: args.seed,
        threads: args.threads,
        out: args.out.clone(),
    };
    say!("fitbench: lnn study → {}", args.out.display());
    let (report, files) =
        fitbench_harness::lnn_study(&request, &mut |c| say!("{}", console::lnn_cell(c)))?;
    say!(
        "fitbench: lnn study took {:.1} s; wrote {} files; see {}",
        report.wall_s,
        files.len(),
        args.out.join("summary.md").display()
    );
    Ok(ExitCode::SUCCESS)
}

fn list(what: Option<ListWhat>, config: Option<PathBuf>, preset: Option<String>) -> Result<()> {
    let listing = match what {
        None => Listing::All,
        Some(ListWhat::Datasets) => Listing::Datasets,
        Some(ListWhat::Trainers) => Listing::Trainers,
        Some(ListWhat::Presets) => Listing::Presets,
    };
    let external = match (&config, &preset) {
        (Some(path), _) => fitbench_harness::request::read_config_file(path)?.external,
        (None, Some(name)) => fitbench_harness::presets::preset(name)?
            .sweeps()
            .into_iter()
            .flat_map(|(_, c)| c.external)
            .collect(),
        (None, None) => Vec::new(),
    };
    emit(&console::listing_with(listing, &external))
}

fn validate(path: &Path, require_ok: bool, require_plots: bool) -> Result<ExitCode> {
    let options = output::ValidateOptions {
        require_ok,
        require_files: require_plots,
    };
    let (report, path, problems) = output::validate_file(path, options)?;
    if problems.is_empty() {
        emit(&format!(
            "{}: ok ({} runs, {} datasets)\n",
            path.display(),
            report.runs.len(),
            report.datasets.len()
        ))?;
        return Ok(ExitCode::SUCCESS);
    }
    for p in &problems {
        say!("{}: {p}", path.display());
    }
    say!("{}: {} problem(s)", path.display(), problems.len());
    Ok(ExitCode::FAILURE)
}

fn parse_time_basis(s: &str) -> std::result::Result<fitbench_report::charge::TimeBasis, String> {
    fitbench_report::charge::TimeBasis::parse(s)
}

fn check_cmd(args: CheckArgs) -> Result<ExitCode> {
    let tolerances = check::Tolerances {
        iter_rel: args.iter_tol,
        loss_rel: args.loss_tol,
        time_ratio: args.time_ratio,
        timing: !args.no_timing,
        min_time_s: args.min_time_s,
        time_basis: args.time,
        ..check::Tolerances::default()
    };
    tolerances.validate().map_err(anyhow::Error::msg)?;
    let outcome = gate::run(&gate::CheckRequest {
        baseline: args.baseline,
        current: args.current,
        update: args.update,
        allow_new: args.allow_new,
        tolerances,
        changes_only: args.changes_only,
        allow_config_change: args.allow_config_change,
        github_json: args.github_json,
        bencher_json: args.bencher_json,
        html: args.html,
    })?;
    emit(&outcome.text)?;
    for f in &outcome.written {
        say!("fitbench: wrote {}", f.display());
    }
    for f in &outcome.failures {
        say!("fitbench check: {f}");
    }
    Ok(if outcome.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn plot(report: &Path, out: Option<PathBuf>, force: bool) -> Result<ExitCode> {
    let redrawn = output::redraw(report, out.as_deref(), force)?;
    if redrawn.computed_metrics {
        say!(
            "fitbench: {} predates the convergence metrics; computed them for the plots (every point counts as scheduled)",
            report.display()
        );
    }
    say!(
        "fitbench: redrew {} files in {} (the report itself is left as it was)",
        redrawn.files.len(),
        redrawn.dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn reproduction(results: &Path) -> Result<ExitCode> {
    let path = fitbench_harness::reproduction::write(results)?;
    say!("fitbench: wrote {}", path.display());
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(*args),
        Command::Lnn(args) => lnn(&args),
        Command::Report { dir } => rebuild(&dir),
        Command::Merge {
            dirs,
            out,
            allow_missing,
            allow_mixed_commits,
        } => merge(
            &dirs,
            &out,
            fitbench_harness::shard::MergeOptions {
                allow_missing,
                allow_mixed_commits,
            },
        ),
        Command::List {
            what,
            config,
            preset,
        } => list(what, config, preset).map(|()| ExitCode::SUCCESS),
        Command::Plot { report, out, force } => plot(&report, out, force),
        Command::Reproduction { results } => reproduction(&results),
        Command::Check(args) => check_cmd(args),
        Command::Ab(args) => ab(*args),
        Command::Validate {
            report,
            require_ok,
            require_plots,
        } => validate(&report, require_ok, require_plots),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            say!("fitbench: error: {err:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_help_shows_the_defaults_a_sweep_without_preset_uses() {
        let mut cli = Cli::command();
        let help = cli
            .find_subcommand_mut("run")
            .unwrap()
            .render_help()
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let d = fitbench_report::RunConfig::default();
        let hidden: Vec<String> = d.hidden.iter().map(ToString::to_string).collect();
        for shown in [
            format!("[default: {}]", d.trainers.join(";")),
            format!("[default: {}]", d.seeds),
            format!("[default: {}]", d.budget_s),
            format!("[default: {}]", d.max_iters),
            format!("[default: {}]", hidden.join(",")),
            format!("[default: {}]", d.activation),
            format!("[default: {}]", d.base_seed),
            format!("[default: {}, for fair timing]", d.threads),
        ] {
            assert!(help.contains(&shown), "{shown} not in: {help}");
        }
    }

    #[test]
    fn seeds_is_a_count_and_says_so() {
        assert_eq!(parse_count("3"), Ok(3));
        let msg = parse_count("0,1,2").unwrap_err();
        assert!(
            msg.contains("number of repetitions") && msg.contains("--seed"),
            "{msg}"
        );
        assert!(parse_count("x").unwrap_err().contains("not a count"));
    }
}
