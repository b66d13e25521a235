//! `fitbench`: the command-line front end. Thin glue over `fitbench_harness`.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use fitbench_harness::config::{PRESETS, RunConfig};
use fitbench_harness::csv_data::CsvSpec;
use fitbench_harness::datasets::{BUILTIN, SYNTHETIC};
use fitbench_harness::output::{self, RunLog};
use fitbench_harness::runner::{self, MonotonicClock, Plan, Progress};
use fitbench_harness::trainers::TRAINERS;
use fitbench_harness::{build_report, environment};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

const EXAMPLES: &str = "\
Examples:
  fitbench run --preset quick
  fitbench run --datasets diabetes,teacher:d=16,h=8,n=5000,noise=0.1 --trainers ols,ols:ridge=1 --seeds 3
  fitbench run --csv my.csv --target price --drop id --trainers ols --out out/mine
  fitbench run --config configs/example.toml --threads 2
  fitbench list datasets
  fitbench plot results/quick/report.json
  fitbench validate results/quick/report.json --require-ok
  fitbench run --preset ci --out target/ci-check
  fitbench check --baseline results/baseline/report.json --current target/ci-check/report.json";

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
    #[command(after_help = EXAMPLES)]
    Run(Box<RunArgs>),
    /// List datasets, trainers or presets.
    List {
        /// What to list (all if omitted).
        what: Option<ListWhat>,
    },
    /// Redraw the plots and summary of a saved report without re-running.
    Plot {
        /// The report.json to draw.
        report: PathBuf,
        /// Output folder (default: the report's folder).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write results/REPRODUCTION.md from the committed reports of the reproduction presets.
    Reproduction {
        /// The results folder.
        #[arg(long, default_value = "results")]
        results: PathBuf,
    },
    /// Compare a report with a baseline: deterministic convergence metrics within tight
    /// tolerances, timing normalised by the calibration kernel; exit 1 on a regression.
    Check(CheckArgs),
    /// Check a report against its schema invariants (and, with --require-ok, that no run failed).
    Validate {
        /// The report.json to check.
        report: PathBuf,
        /// Fail if any run diverged, errored or panicked.
        #[arg(long)]
        require_ok: bool,
        /// Fail unless these files exist for every dataset under plots/.
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
    /// Print only rows that are not "same".
    #[arg(long)]
    changes_only: bool,
    /// Also write the current report's metrics as github-action-benchmark
    /// `customSmallerIsBetter` JSON to this file.
    #[arg(long)]
    github_json: Option<PathBuf>,
    /// Also write the current report's metrics in Bencher Metric Format to this file.
    #[arg(long)]
    bencher_json: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ListWhat {
    Datasets,
    Trainers,
    Presets,
}

#[derive(Clone, Debug, clap::Args)]
struct RunArgs {
    /// Start from a named preset (see `fitbench list presets`).
    #[arg(long, conflicts_with = "config")]
    preset: Option<String>,
    /// Start from a TOML config file (see configs/example.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Datasets, comma-separated: built-in names or GENERATOR:key=value,… (replaces the preset's).
    /// Separate several synthetic specs with ';' or repeat the flag.
    #[arg(long, value_delimiter = ';')]
    datasets: Vec<String>,
    /// Trainers as NAME[:key=value,…], separated by ';' or by repeating the flag.
    #[arg(long, value_delimiter = ';')]
    trainers: Vec<String>,
    /// A CSV file to use as a dataset (header row, numeric columns).
    #[arg(long, requires = "target")]
    csv: Option<String>,
    /// Target column of --csv.
    #[arg(long)]
    target: Option<String>,
    /// Columns of --csv to ignore, comma-separated.
    #[arg(long, value_delimiter = ',')]
    drop: Vec<String>,
    /// Repetitions (splits and initial weights) per dataset and trainer.
    #[arg(long)]
    seeds: Option<usize>,
    /// Base seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Training-time budget per run in seconds.
    #[arg(long)]
    budget_s: Option<f64>,
    /// Iteration cap per run.
    #[arg(long)]
    max_iters: Option<usize>,
    /// Stop a run when its train MSE reaches this (standardised units).
    #[arg(long)]
    target_mse: Option<f64>,
    /// Output folder (default: results/<preset or config name>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Threads for faer and rayon (default 1 for fair timing).
    #[arg(long)]
    threads: Option<usize>,
    /// Hidden widths shared by every trainer, e.g. 64,64.
    #[arg(long, value_delimiter = ',')]
    hidden: Option<Vec<usize>>,
    /// Hidden activation: identity, relu, leaky_relu[:α], tanh, sigmoid, softplus.
    #[arg(long)]
    activation: Option<String>,
    /// burn backend of the gradient trainers (sgd, adam): flex, or ndarray when built with
    /// `--features ndarray`.
    #[arg(long, value_enum)]
    backend: Option<BackendArg>,
    /// Tune the learning rate of sgd/adam per dataset on a validation split (default grid
    /// 1e-4…3e-1, 200 epochs) before the comparison.
    #[arg(long)]
    lr_grid: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum BackendArg {
    Flex,
    Ndarray,
}

/// Splits dataset lists: `a,b` is two names unless a part is a `key=value` continuation of
/// a synthetic spec (e.g. `teacher:d=16,h=8,diabetes` is `teacher:d=16,h=8` and `diabetes`).
fn split_names(items: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in items {
        for part in item.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match out.last_mut() {
                Some(last) if part.contains('=') && !part.contains(':') && last.contains(':') => {
                    last.push(',');
                    last.push_str(part);
                }
                _ => out.push(part.to_string()),
            }
        }
    }
    out
}

fn resolve_config(args: &RunArgs) -> Result<RunConfig> {
    let c = match (&args.preset, &args.config) {
        (Some(p), _) => RunConfig::preset(p)?,
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config file {}", path.display()))?;
            let mut c = RunConfig::from_toml(&text, &path.display().to_string())?;
            if c.name == RunConfig::default().name {
                c.name = path
                    .file_stem()
                    .map_or("custom".into(), |s| s.to_string_lossy().into_owned());
            }
            c
        }
        (None, None) => RunConfig::default(),
    };
    apply_overrides(c, args)
}

/// Applies the command-line options that override a preset or config file.
fn apply_overrides(mut c: RunConfig, args: &RunArgs) -> Result<RunConfig> {
    if !args.datasets.is_empty() {
        c.datasets = split_names(&args.datasets);
    }
    if !args.trainers.is_empty() {
        c.trainers = split_names(&args.trainers);
    }
    if let Some(path) = &args.csv {
        let target = args.target.clone().unwrap_or_default();
        if args.datasets.is_empty() && args.preset.is_none() && args.config.is_none() {
            c.datasets.clear();
        }
        c.csv.push(CsvSpec {
            path: path.clone(),
            target,
            drop: args.drop.clone(),
        });
    } else if !args.drop.is_empty() || args.target.is_some() {
        bail!("--target and --drop apply to --csv, which is missing");
    }
    c.seeds = args.seeds.unwrap_or(c.seeds);
    c.base_seed = args.seed.unwrap_or(c.base_seed);
    c.budget_s = args.budget_s.unwrap_or(c.budget_s);
    c.max_iters = args.max_iters.unwrap_or(c.max_iters);
    c.target_train_mse = args.target_mse.or(c.target_train_mse);
    c.threads = args.threads.unwrap_or(c.threads);
    if let Some(h) = &args.hidden {
        c.hidden = h.clone();
    }
    if let Some(a) = &args.activation {
        c.activation = a.clone();
    }
    if args.lr_grid && c.lr_grid.is_none() {
        c.lr_grid = Some(fitbench_harness::tuning::LrGrid::default());
    }
    if let Some(b) = args.backend {
        c.backend = Some(match b {
            BackendArg::Flex => fitbench_sgd::Backend::Flex,
            BackendArg::Ndarray => fitbench_sgd::Backend::Ndarray,
        });
    }
    Ok(c)
}

fn run_lnn(args: &RunArgs) -> Result<ExitCode> {
    let mut config = fitbench_sgd::lnn::LnnConfig::default();
    config.trials = args.seeds.unwrap_or(config.trials);
    config.steps = args.max_iters.unwrap_or(config.steps);
    config.seed = args.seed.unwrap_or(config.seed);
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("results/lnn"));
    let threads = args.threads.unwrap_or(1);
    environment::set_threads(threads);
    eprintln!(
        "fitbench: lnn study, {} depths × {} noise levels × {} learning rates × {} trials × {} steps → {}",
        config.depths.len(),
        config.noises.len(),
        config.lrs.len(),
        config.trials,
        config.steps,
        out.display()
    );
    let mut clock = MonotonicClock::default();
    let report = fitbench_harness::lnn::run(&config, &mut clock, threads, &mut |c| {
        eprintln!(
            "    lr {} c {} k {:>2}: mean D {:.3}, {:.0} % converged",
            c.lr,
            c.noise,
            c.k,
            c.deviation.mean,
            100.0 * c.frac_converged
        );
    })?;
    let files = fitbench_harness::lnn::write_all(&report, &out)?;
    eprintln!(
        "fitbench: lnn study took {:.1} s; wrote {} files; see {}",
        report.wall_s,
        files.len(),
        out.join("summary.md").display()
    );
    Ok(ExitCode::SUCCESS)
}

fn reproduction(results: &std::path::Path) -> Result<ExitCode> {
    let text = fitbench_harness::reproduction::render(results)?;
    let path = results.join("REPRODUCTION.md");
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!("fitbench: wrote {}", path.display());
    Ok(ExitCode::SUCCESS)
}

fn run(args: RunArgs) -> Result<ExitCode> {
    if args.preset.as_deref() == Some("lnn") {
        return run_lnn(&args);
    }
    if let Some(group) = args.preset.as_deref().and_then(RunConfig::preset_group) {
        let name = args.preset.clone().unwrap_or_default();
        let base = args
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from("results").join(name));
        for (sub, config) in group {
            let sub_args = RunArgs {
                preset: None,
                out: Some(base.join(sub)),
                ..args.clone()
            };
            run_sweep_config(apply_overrides(config, &sub_args)?, &sub_args)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    run_sweep_config(resolve_config(&args)?, &args)
}

fn run_sweep_config(config: RunConfig, args: &RunArgs) -> Result<ExitCode> {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("results").join(&config.name));
    environment::set_threads(config.threads);
    let plan = Plan::resolve(config)?;
    eprintln!(
        "fitbench: {} runs ({} datasets × {} trainers × {} seeds) → {}",
        plan.n_runs(),
        plan.datasets.len(),
        plan.trainers.len(),
        plan.config.seeds,
        out.display()
    );
    let mut log = RunLog::create(&out)?;
    let bar = if std::io::stderr().is_terminal() {
        let b = ProgressBar::new(plan.n_runs() as u64);
        b.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed_precise} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Some(b)
    } else {
        None
    };
    let mut clock = MonotonicClock::default();
    let mut progress = |p: Progress<'_>| match p {
        Progress::Started {
            done,
            total,
            dataset,
            trainer,
            repetition,
        } => match &bar {
            Some(b) => b.set_message(format!("{dataset} / {trainer} / seed {repetition}")),
            None => eprintln!(
                "[{}/{total}] {dataset} / {trainer} / seed {repetition}",
                done + 1
            ),
        },
        Progress::Finished(r) => {
            let line = format!(
                "    {} after {} steps, {:.3} s: best train MSE {}",
                r.status.as_str(),
                r.iterations,
                r.train_s,
                r.summary
                    .best_train_mse
                    .map_or("–".into(), |v| format!("{v:.4e}"))
            );
            match &bar {
                Some(b) => {
                    b.inc(1);
                    if !r.status.is_ok() {
                        b.println(format!(
                            "{} / {}: {}",
                            r.dataset,
                            r.trainer,
                            r.message.as_deref().unwrap_or("")
                        ));
                    }
                }
                None => eprintln!(
                    "{line}{}",
                    r.message
                        .as_deref()
                        .map_or(String::new(), |m| format!(" ({m})"))
                ),
            }
        }
    };
    let sweep = runner::run_sweep(&plan, &mut clock, &mut |r| log.append(r), &mut progress)?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let failed = sweep.runs.iter().filter(|r| !r.status.is_ok()).count();
    for t in &sweep.tuning {
        eprintln!(
            "fitbench: tuned {} on {}: lr {} (validation MSE {:?} over grid {:?})",
            t.trainer,
            t.dataset,
            t.picked_lr.map_or("none".into(), |v| v.to_string()),
            t.scores,
            t.settings.grid
        );
    }
    let report = build_report(&plan, sweep);
    let files = output::write_all(&report, &out)?;
    eprintln!(
        "fitbench: wrote {} files; see {}",
        files.len(),
        out.join("summary.md").display()
    );
    if failed > 0 {
        eprintln!("fitbench: {failed} run(s) failed; their status and message are in the report");
    }
    Ok(ExitCode::SUCCESS)
}

fn list(what: Option<ListWhat>) {
    let all = what.is_none();
    if all || matches!(what, Some(ListWhat::Datasets)) {
        println!("Built-in real datasets (embedded; see data/README.md):");
        for b in BUILTIN {
            println!("  {:<10} target {:<12} {}", b.name, b.target, b.description);
        }
        println!("Synthetic generators (NAME[:key=value,…]):");
        for (n, d) in SYNTHETIC {
            println!("  {n:<10} {d}");
        }
        println!("User data: --csv PATH --target COLUMN [--drop COL,…]");
    }
    if all || matches!(what, Some(ListWhat::Trainers)) {
        println!("Trainers (NAME[:key=value,…]):");
        for (n, d) in TRAINERS {
            println!("  {n:<10} {d}");
        }
    }
    if all || matches!(what, Some(ListWhat::Presets)) {
        println!("Presets:");
        for (n, d) in PRESETS {
            println!("  {n:<10} {d}");
        }
    }
}

fn validate(path: &std::path::Path, require_ok: bool, require_plots: bool) -> Result<ExitCode> {
    let report = output::read_report(path)?;
    let mut problems = report.check();
    if require_ok {
        problems.extend(report.runs.iter().filter(|r| !r.status.is_ok()).map(|r| {
            format!(
                "run {} / {} / rep {}: {} ({})",
                r.dataset,
                r.trainer,
                r.repetition,
                r.status.as_str(),
                r.message.as_deref().unwrap_or("")
            )
        }));
    }
    if require_plots {
        let dir = path.parent().unwrap_or(std::path::Path::new("."));
        for d in &report.datasets {
            for f in [
                "loss_vs_time.svg",
                "loss_vs_time.png",
                "loss_vs_iter.svg",
                "loss_vs_iter.png",
            ] {
                let p = dir
                    .join("plots")
                    .join(fitbench_harness::plot::slug(&d.name))
                    .join(f);
                if std::fs::metadata(&p).map_or(true, |m| m.len() == 0) {
                    problems.push(format!("missing or empty plot {}", p.display()));
                }
            }
        }
        if report.datasets.len() >= 2 {
            for level in &report.config.suboptimality_targets {
                let p = dir
                    .join("plots")
                    .join(format!("performance_profile_{level:e}.svg"));
                if !p.exists() {
                    problems.push(format!("missing performance profile {}", p.display()));
                }
            }
        }
        if !dir.join("summary.md").exists() {
            problems.push("missing summary.md".into());
        }
    }
    if problems.is_empty() {
        println!(
            "{}: ok ({} runs, {} datasets)",
            path.display(),
            report.runs.len(),
            report.datasets.len()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        for p in &problems {
            eprintln!("{}: {p}", path.display());
        }
        eprintln!("{}: {} problem(s)", path.display(), problems.len());
        Ok(ExitCode::FAILURE)
    }
}

fn write_json(path: &std::path::Path, value: &serde_json::Value) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text + "\n").with_context(|| format!("cannot write {}", path.display()))
}

fn check(args: &CheckArgs) -> Result<ExitCode> {
    use fitbench_harness::check;
    let tol = check::Tolerances {
        iter_rel: args.iter_tol,
        loss_rel: args.loss_tol,
        time_ratio: args.time_ratio,
        timing: !args.no_timing,
        min_time_s: args.min_time_s,
        ..check::Tolerances::default()
    };
    tol.validate().map_err(anyhow::Error::msg)?;
    let current = output::read_report(&args.current)?;
    if let Some(p) = &args.github_json {
        write_json(p, &check::github_benchmark_json(&current))?;
        eprintln!("fitbench: wrote {}", p.display());
    }
    if let Some(p) = &args.bencher_json {
        write_json(p, &check::bencher_json(&current))?;
        eprintln!("fitbench: wrote {}", p.display());
    }
    if args.update && !args.baseline.exists() {
        eprintln!("fitbench: no baseline at {} yet", args.baseline.display());
    } else {
        let baseline = output::read_report(&args.baseline)?;
        let comparison = check::compare(&baseline, &current, &tol);
        println!(
            "fitbench check: {} (baseline) vs {} (current)",
            args.baseline.display(),
            args.current.display()
        );
        print!("{}", comparison.render(args.changes_only));
        let regressions = comparison.regressions();
        if !args.update && !regressions.is_empty() {
            eprintln!(
                "fitbench check: {} regression(s), e.g. {} / {} / {}: {} → {}; if intended, accept with --update",
                regressions.len(),
                regressions[0].dataset,
                regressions[0].trainer,
                regressions[0].metric,
                regressions[0].baseline,
                regressions[0].current
            );
            return Ok(ExitCode::from(1));
        }
    }
    if args.update {
        let dir = args
            .baseline
            .parent()
            .map_or_else(|| PathBuf::from("."), PathBuf::from);
        let files = output::write_all(&current, &dir)?;
        // The baseline report must be the one named on the command line.
        if args.baseline.file_name() != Some(std::ffi::OsStr::new("report.json")) {
            std::fs::copy(dir.join("report.json"), &args.baseline)
                .with_context(|| format!("cannot write {}", args.baseline.display()))?;
        }
        let log = args.current.with_file_name("runs.jsonl");
        if log.exists() && log != dir.join("runs.jsonl") {
            std::fs::copy(&log, dir.join("runs.jsonl"))
                .with_context(|| format!("cannot copy {}", log.display()))?;
        }
        eprintln!(
            "fitbench check: baseline {} updated ({} files)",
            args.baseline.display(),
            files.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(*args),
        Command::List { what } => {
            list(what);
            Ok(ExitCode::SUCCESS)
        }
        Command::Plot { report, out } => (|| {
            let mut r = output::read_report(&report)?;
            if r.runs.iter().all(|run| run.metrics.is_none()) {
                eprintln!(
                    "fitbench: {} predates the convergence metrics; computing them for the plots (every point counts as scheduled)",
                    report.display()
                );
                fitbench_harness::metrics::annotate(&mut r);
            }
            let dir = out.unwrap_or_else(|| {
                report
                    .parent()
                    .map_or_else(|| PathBuf::from("."), PathBuf::from)
            });
            let files = output::write_all(&r, &dir)?;
            eprintln!(
                "fitbench: redrew {} files in {}",
                files.len(),
                dir.display()
            );
            Ok(ExitCode::SUCCESS)
        })(),
        Command::Reproduction { results } => reproduction(&results),
        Command::Check(args) => check(&args),
        Command::Validate {
            report,
            require_ok,
            require_plots,
        } => validate(&report, require_ok, require_plots),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("fitbench: error: {err:#}");
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
    fn dataset_lists_keep_synthetic_options_together() {
        let got = split_names(&["teacher:d=16,h=8,n=5000,diabetes,smooth2d:n=100,noise=0".into()]);
        assert_eq!(
            got,
            vec![
                "teacher:d=16,h=8,n=5000",
                "diabetes",
                "smooth2d:n=100,noise=0"
            ]
        );
        assert_eq!(
            split_names(&["ols,ols:ridge=1,solver=qr".into()]),
            vec!["ols", "ols:ridge=1,solver=qr"]
        );
    }
}
