//! What `fitbench run` is asked to do, as plain data ([`RunRequest`]), and how a request
//! becomes sweeps ([`RunRequest::sweeps`]) and results ([`execute`]). The CLI only parses
//! arguments into a [`RunRequest`] and shows progress.

use crate::error::{HarnessError, Result};
use crate::partition::Shard;
use crate::presets;
use crate::runner::{self, Plan, Progress};
use fitbench_report::config::{CsvSpec, LrGrid};
use fitbench_report::io::{JsonLines, RunLog};
use fitbench_report::{Report, RunConfig, Status};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// A `fitbench run` request: a starting point (preset, TOML file or defaults) and overrides.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunRequest {
    /// Start from this preset.
    pub preset: Option<String>,
    /// Start from this TOML config file.
    pub config_file: Option<PathBuf>,
    /// Datasets (replace the preset's); items may hold several comma-separated names.
    pub datasets: Vec<String>,
    /// Trainers as `NAME[:key=value,…]` (replace the preset's).
    pub trainers: Vec<String>,
    /// A user CSV file as a dataset.
    pub csv: Option<CsvSpec>,
    /// Repetitions.
    pub seeds: Option<usize>,
    /// Base seed.
    pub seed: Option<u64>,
    /// Training-time budget per run, in seconds.
    pub budget_s: Option<f64>,
    /// Iteration cap per run.
    pub max_iters: Option<usize>,
    /// Stop a run when its train MSE reaches this.
    pub target_mse: Option<f64>,
    /// Output folder (default `out/<preset or config name>`; the committed `results/` are
    /// written only by `scripts/regenerate-figures.sh`, which names them).
    pub out: Option<PathBuf>,
    /// Threads for faer and rayon.
    pub threads: Option<usize>,
    /// Memory limit in bytes for the pre-run estimates (`--max-memory`).
    pub max_memory: Option<u64>,
    /// Hidden widths.
    pub hidden: Option<Vec<usize>>,
    /// Hidden activation.
    pub activation: Option<String>,
    /// burn backend of every trainer that has one and does not name one.
    pub backend: Option<String>,
    /// Tune learning rates with the default grid.
    pub lr_grid: bool,
    /// The output folder may hold an earlier sweep: reuse its finished runs whose
    /// fingerprint matches, run the rest.
    pub resume: bool,
    /// The output folder may hold an earlier sweep: move its files aside first.
    pub force: bool,
    /// Run only one shard of the sweep: `I/N`, or `auto` (from the batch scheduler's
    /// environment, see [`crate::partition::Shard::from_env`]).
    pub shard: Option<String>,
    /// Runs at once, each single-threaded (default 1); see [`runner::run_sweep_parallel`].
    pub jobs: Option<usize>,
    /// Test only: slow one trainer down per step (see
    /// [`fitbench_report::config::Slowdown`]).
    pub test_slowdown: Option<fitbench_report::config::Slowdown>,
}

/// One sweep to run: its configuration and output folder.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepJob {
    /// The resolved configuration.
    pub config: RunConfig,
    /// Where its files go.
    pub out: PathBuf,
    /// The shard of the sweep to run (all of it when `None`).
    pub shard: Option<Shard>,
    /// Runs at once (`--jobs`), each single-threaded.
    pub jobs: usize,
}

/// Splits dataset or trainer lists: `a,b` is two names unless a part is a `key=value`
/// continuation of an option string (e.g. `teacher:d=16,h=8,diabetes` is `teacher:d=16,h=8`
/// and `diabetes`).
pub fn split_names(items: &[String]) -> Vec<String> {
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

impl RunRequest {
    /// The sweeps this request runs (several for a preset group such as `barbu`), each with
    /// the overrides applied. Nothing is validated beyond names here; [`Plan::resolve`] does
    /// the rest before any clock starts.
    pub fn sweeps(&self) -> Result<Vec<SweepJob>> {
        let (name, bases): (Option<&str>, Vec<(Option<String>, RunConfig)>) =
            match (&self.preset, &self.config_file) {
                (Some(_), Some(_)) => {
                    return Err(HarnessError::Config(
                        "--preset and --config both given; choose one".into(),
                    ));
                }
                (Some(p), None) => {
                    let preset = presets::preset(p)?;
                    (Some(preset.name), preset.sweeps())
                }
                (None, Some(path)) => (None, vec![(None, read_config_file(path)?)]),
                (None, None) => (None, vec![(None, RunConfig::default())]),
            };
        let jobs = match self.jobs {
            None => 1,
            Some(0) => {
                return Err(HarnessError::Config(
                    "--jobs 0: need at least 1 (runs at once, each single-threaded)".into(),
                ));
            }
            Some(j) => j,
        };
        let shard = match self.shard.as_deref() {
            None => None,
            Some("auto") => Some(Shard::from_env(&|k| std::env::var(k).ok())?),
            Some(text) => Some(Shard::parse(text)?),
        };
        bases
            .into_iter()
            .map(|(sub, base)| {
                let config = self.apply(base)?;
                if self.out.is_none() {
                    check_folder_name(&config.name)?;
                }
                let root = self.out.clone().unwrap_or_else(|| {
                    PathBuf::from("out").join(name.unwrap_or(config.name.as_str()))
                });
                let out = match sub {
                    Some(s) => root.join(s),
                    None => root,
                };
                Ok(SweepJob {
                    config,
                    out,
                    shard,
                    jobs,
                })
            })
            .collect()
    }

    /// Applies the overrides to a preset's or file's configuration.
    fn apply(&self, mut c: RunConfig) -> Result<RunConfig> {
        if !self.datasets.is_empty() {
            c.datasets = split_names(&self.datasets);
        }
        if !self.trainers.is_empty() {
            c.trainers = split_names(&self.trainers);
        }
        if let Some(csv) = &self.csv {
            if self.datasets.is_empty() && self.preset.is_none() && self.config_file.is_none() {
                c.datasets.clear();
            }
            c.csv.push(csv.clone());
        }
        c.seeds = self.seeds.unwrap_or(c.seeds);
        c.base_seed = self.seed.unwrap_or(c.base_seed);
        c.budget_s = self.budget_s.unwrap_or(c.budget_s);
        c.max_iters = self.max_iters.unwrap_or(c.max_iters);
        c.target_train_mse = self.target_mse.or(c.target_train_mse);
        c.threads = self.threads.unwrap_or(c.threads);
        c.max_memory = self.max_memory.or(c.max_memory);
        if let Some(h) = &self.hidden {
            c.hidden = h.clone();
        }
        if let Some(a) = &self.activation {
            c.activation = a.clone();
        }
        if self.lr_grid && c.lr_grid.is_none() {
            c.lr_grid = Some(LrGrid::default());
        }
        if let Some(b) = &self.backend {
            c.backend = Some(b.clone());
        }
        if let Some(s) = &self.test_slowdown {
            c.test_slowdown = Some(s.clone());
        }
        Ok(c)
    }
}

/// A sweep's name becomes its output folder `out/<name>` when no `--out` is given: it must be
/// one plain folder name, so that the sweep's files stay inside `out/`.
fn check_folder_name(name: &str) -> Result<()> {
    let plain = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && !name.starts_with('-');
    if plain {
        Ok(())
    } else {
        Err(HarnessError::Config(format!(
            "sweep name {name:?} cannot be a folder name inside out/ (it must be one plain name: no '/', '\\', '..' or leading '-'); rename it in the config (e.g. name = \"{}\") or give --out",
            Some(fitbench_report::schema::slug(name))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "my-sweep".into())
        )))
    }
}

/// Reads a TOML config file; its name defaults to the file's stem.
pub fn read_config_file(path: &Path) -> Result<RunConfig> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| HarnessError::io("cannot read config file", path, e))?;
    let mut c = RunConfig::from_toml(&text, &path.display().to_string())?;
    if c.name == RunConfig::default().name {
        c.name = path
            .file_stem()
            .map_or("custom".into(), |s| s.to_string_lossy().into_owned());
    }
    Ok(c)
}

pub use crate::sweep_file::SWEEP_FILES;

/// What to do with an output folder that already holds a sweep.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Existing {
    /// Refuse (the default: finished work is never overwritten silently).
    #[default]
    Refuse,
    /// Reuse its finished runs with matching fingerprints.
    Resume,
    /// Move its files to `previous/<UTC time>/` first.
    Force,
}

impl RunRequest {
    /// What the request says to do with an existing sweep in the output folder.
    pub fn existing(&self) -> Result<Existing> {
        match (self.resume, self.force) {
            (true, true) => Err(HarnessError::Config(
                "--resume and --force both given; choose one".into(),
            )),
            (true, false) => Ok(Existing::Resume),
            (false, true) => Ok(Existing::Force),
            (false, false) => Ok(Existing::Refuse),
        }
    }
}

/// The files of a sweep folder drawn from its report (and the report): what a `--resume`
/// with changed settings moves aside, since they describe the earlier sweep.
const VIEW_FILES: &[&str] = &[
    "report.json",
    "summary.md",
    "report.html",
    "plots",
    fitbench_render::output::VIEWS_FILE,
];

/// Moves `files` of `dir` into a new `dir/previous/<UTC time>/`, returned.
fn move_aside(dir: &Path, files: &[&str]) -> Result<PathBuf> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let stamp = fitbench_report::format::utc_stamp(now);
    let mut target = dir.join("previous").join(&stamp);
    let mut n = 1;
    while target.exists() {
        n += 1;
        target = dir.join("previous").join(format!("{stamp}-{n}"));
    }
    std::fs::create_dir_all(&target).map_err(|e| HarnessError::io("cannot create", &target, e))?;
    for f in files {
        let from = dir.join(f);
        std::fs::rename(&from, target.join(f))
            .map_err(|e| HarnessError::io("cannot move aside", &from, e))?;
    }
    Ok(target)
}

/// What [`prepare_output`] found in a sweep folder.
#[derive(Debug, Default)]
pub struct Prepared {
    /// `--resume`: the latest record of each run in `runs.jsonl`.
    pub previous: Vec<fitbench_report::RunRecord>,
    /// `--resume`: the earlier sweep's configuration (`sweep.json`), if readable.
    pub previous_config: Option<RunConfig>,
    /// `--resume`: the earlier sweep's dataset identities (`sweep.json`).
    pub previous_data: Vec<crate::sweep_file::DatasetIdentity>,
    /// `--force`: where the earlier sweep's files were moved; `--resume` with changed
    /// settings: where its report and views were moved.
    pub moved_to: Option<PathBuf>,
}

/// Prepares `dir` for a sweep (the caller holds its [`crate::lock::FolderLock`]): refuses an
/// earlier sweep's files unless told, moves them to `previous/<UTC time>/` (`Force`: nothing
/// is deleted) or reads the latest record of each of its runs (`Resume`).
pub fn prepare_output(dir: &Path, existing: Existing, config: &RunConfig) -> Result<Prepared> {
    let found: Vec<&str> = SWEEP_FILES
        .iter()
        .copied()
        .filter(|f| dir.join(f).exists())
        .collect();
    if found.is_empty() {
        return Ok(Prepared::default());
    }
    match existing {
        Existing::Refuse => Err(HarnessError::Config(format!(
            "output folder {} already holds a sweep ({}); pass --resume to keep its finished runs and run the rest, --force to move them to {}/previous/ first, or choose another --out",
            dir.display(),
            found.join(", "),
            dir.display()
        ))),
        Existing::Force => {
            let target = move_aside(dir, &found)?;
            // A torn line moved aside earlier belongs with the log it came from.
            let torn = fitbench_report::io::torn_path(&dir.join("runs.jsonl"));
            if torn.exists() {
                let _ = std::fs::rename(&torn, target.join("runs.jsonl.torn"));
            }
            Ok(Prepared {
                moved_to: Some(target),
                ..Prepared::default()
            })
        }
        Existing::Resume => {
            let sweep = dir.join("sweep.json");
            let previous_file = if sweep.exists() {
                crate::sweep_file::SweepFile::read(dir).ok()
            } else {
                None
            };
            // With settings that change results, the earlier report describes another sweep:
            // it is moved aside whole (its records stay in the append-only logs), so that an
            // interrupt before the first new run cannot leave an empty report in its place.
            let changed = previous_file
                .as_ref()
                .is_some_and(|f| !crate::resume::config_changes(&f.config, config).is_empty());
            let views: Vec<&str> = VIEW_FILES
                .iter()
                .copied()
                .filter(|f| dir.join(f).exists())
                .collect();
            let moved_to = if changed && !views.is_empty() {
                let target = move_aside(dir, &views)?;
                std::fs::copy(&sweep, target.join("sweep.json"))
                    .map_err(|e| HarnessError::io("cannot copy", &sweep, e))?;
                Some(target)
            } else {
                None
            };
            Ok(Prepared {
                previous: RunLog::read_latest(&dir.join("runs.jsonl"))?,
                previous_data: previous_file
                    .as_ref()
                    .map(|f| f.data_identity.clone())
                    .unwrap_or_default(),
                previous_config: previous_file.map(|f| f.config),
                moved_to,
            })
        }
    }
}

/// With `--resume`, the folder's shard (its `shard.json`, or none) must be the requested one:
/// resuming another shard would rewrite `runs.jsonl` without the runs it does not own.
fn check_shard_of_folder(dir: &Path, existing: Existing, shard: Option<Shard>) -> Result<()> {
    let manifest = dir.join(crate::sweep_file::MANIFEST);
    if existing != Existing::Resume || !dir.join("runs.jsonl").exists() {
        return Ok(());
    }
    let found = if manifest.exists() {
        let m: crate::sweep_file::Manifest =
            fitbench_report::io::read_json(&manifest, "a shard manifest")?;
        Some(m.shard)
    } else {
        None
    };
    if found == shard {
        return Ok(());
    }
    let name = |s: Option<Shard>| {
        s.map_or_else(|| "the whole sweep".to_string(), |s| format!("shard {s}"))
    };
    Err(HarnessError::Config(format!(
        "--resume: {} holds {}, but this command runs {}; resume it with the same --shard (or none), or choose another --out",
        dir.display(),
        name(found),
        name(shard)
    )))
}

/// What a finished sweep produced.
#[derive(Debug)]
pub struct SweepResult {
    /// The report (also written to `report.json`).
    pub report: Report,
    /// Every file written.
    pub files: Vec<PathBuf>,
    /// Runs that diverged, failed, panicked or were interrupted.
    pub failed: usize,
    /// Runs that ended in `error` or `panicked` (the CLI exits non-zero on them).
    pub errored: usize,
    /// The sweep was interrupted: runs not started are missing from the report.
    pub interrupted: bool,
    /// Runs reused from the folder's earlier sweep (`--resume`).
    pub reused: usize,
    /// Things the user should know that did not stop the sweep (a torn line moved aside, a
    /// lock taken over from a dead process, files moved aside by `--force`).
    pub notes: Vec<String>,
}

impl SweepResult {
    fn of(report: Report, files: Vec<PathBuf>, interrupted: bool, reused: usize) -> Self {
        let failed = report.runs.iter().filter(|r| !r.status.is_ok()).count();
        let errored = report
            .runs
            .iter()
            .filter(|r| {
                matches!(
                    r.status,
                    Status::Error | Status::Panicked | Status::Unresponsive
                )
            })
            .count();
        Self {
            report,
            files,
            failed,
            errored,
            interrupted,
            reused,
            notes: Vec::new(),
        }
    }
}

/// How to recover a sweep in `dir` whose writing failed part-way.
fn recovery_hint(dir: &Path) -> String {
    format!(
        "every run that finished before is kept in {}; free space (or fix the cause), then rerun the same command with --resume to finish the sweep, or run `fitbench report {}` to rebuild its report from the runs kept",
        dir.join("runs.jsonl").display(),
        dir.display()
    )
}

/// Wraps a write error of the sweep in `dir` with [`recovery_hint`].
fn recoverable<E: Into<HarnessError>>(dir: &Path) -> impl Fn(E) -> HarnessError + '_ {
    move |e| HarnessError::WriteFailed {
        error: Box::new(e.into()),
        hint: recovery_hint(dir),
    }
}

/// Resolves, runs and writes one sweep, holding the folder's lock throughout: `sweep.json`
/// (its configuration) first, then `runs.jsonl` and `tuning.jsonl` as runs and grid searches
/// finish (appended, never truncated), then `report.json`, `summary.md` and the plots — also
/// when the sweep is interrupted (`interrupt` set), with the runs that finished. `on_plan`
/// sees the resolved plan before the first run, and `notes` anything worth saying before it.
pub fn execute(
    job: &SweepJob,
    existing: Existing,
    interrupt: Arc<AtomicBool>,
    on_plan: &mut dyn FnMut(&Plan),
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<SweepResult> {
    crate::environment::set_threads(job.config.threads);
    let mut plan = Plan::resolve(job.config.clone())?;
    let lock = crate::lock::FolderLock::acquire(&job.out)?;
    let mut notes: Vec<String> = lock.takeover_note().into_iter().collect();
    notes.extend(plan.config.skipped.iter().cloned());
    check_shard_of_folder(&job.out, existing, job.shard)?;
    let prepared = prepare_output(&job.out, existing, &plan.config)?;
    if let Some(to) = &prepared.moved_to {
        notes.push(match existing {
            Existing::Force => format!(
                "--force: the earlier sweep's files were moved to {}",
                to.display()
            ),
            _ => format!(
                "--resume with changed settings: the earlier report and its views were moved to {} (every record stays in runs.jsonl)",
                to.display()
            ),
        });
    }
    let identity = crate::sweep_file::SweepFile::of(
        &plan.config,
        plan.datasets.iter().map(|pd| (&pd.spec, &pd.data)),
    );
    notes.extend(identity.changed_data(&prepared.previous_data));
    plan.previous = prepared.previous;
    plan.previous_config = prepared.previous_config;
    plan.interrupt = interrupt;
    plan.shard = job.shard;
    let (mut log, torn) = RunLog::open_append(&job.out).map_err(recoverable(&job.out))?;
    let (mut tuning_log, tuning_torn) =
        JsonLines::open_append(&job.out.join("tuning.jsonl")).map_err(recoverable(&job.out))?;
    notes.extend(torn.iter().chain(&tuning_torn).map(ToString::to_string));
    for n in &notes {
        progress(Progress::Note(n));
    }
    on_plan(&plan);
    identity.write(&job.out).map_err(recoverable(&job.out))?;
    if let Some(shard) = job.shard {
        fitbench_report::io::write_json(
            &crate::sweep_file::Manifest::of(&plan, shard),
            &job.out.join(crate::sweep_file::MANIFEST),
        )
        .map_err(recoverable(&job.out))?;
    }
    let mut tuning_error = None;
    let sweep = runner::run_sweep_parallel(
        &plan,
        job.jobs,
        &mut |r| log.append(r).map_err(recoverable(&job.out)),
        &mut |p| {
            if let Progress::Tuned(t) = &p
                && let Err(e) = tuning_log.append(t)
            {
                tuning_error.get_or_insert(e);
            }
            progress(p);
        },
    )?;
    if let Some(e) = tuning_error {
        return Err(recoverable(&job.out)(e));
    }
    let (interrupted, reused) = (sweep.interrupted, sweep.reused);
    let report = crate::build_report(&plan, sweep);
    let files =
        fitbench_render::output::write_all(&report, &job.out).map_err(recoverable(&job.out))?;
    drop(lock);
    let mut result = SweepResult::of(report, files, interrupted, reused);
    result.notes = notes;
    Ok(result)
}

/// `fitbench merge`: merges the sweep folders `dirs` into `out` ([`crate::shard::merge`]),
/// then writes the report, summary and plots there ([`rebuild`]). Missing runs were allowed
/// by `options` and are listed in the [`crate::shard::Merged`]; the result is never
/// "interrupted".
pub fn merge(
    dirs: &[PathBuf],
    out: &Path,
    options: crate::shard::MergeOptions,
) -> Result<(crate::shard::Merged, SweepResult)> {
    let merged = crate::shard::merge(dirs, out, options)?;
    let mut result = rebuild(out)?;
    result.interrupted = false;
    Ok((merged, result))
}

/// Rebuilds `report.json`, `summary.md` and the plots of the sweep in `dir` from what it
/// wrote as it went (`sweep.json`, `runs.jsonl`, `tuning.jsonl`): the recovery path after a
/// crash or `kill -9`. The datasets are loaded again to recompute their splits and linear
/// references (no trainer runs); the calibration of the lost process is not recoverable.
pub fn rebuild(dir: &Path) -> Result<SweepResult> {
    if !dir.join("sweep.json").exists() {
        return Err(HarnessError::Config(format!(
            "{} has no sweep.json: not the output folder of a sweep (`fitbench report` takes the folder given to `run --out`)",
            dir.display()
        )));
    }
    let lock = crate::lock::FolderLock::acquire(dir)?;
    let mut notes: Vec<String> = lock.takeover_note().into_iter().collect();
    let sweep_file = crate::sweep_file::SweepFile::read(dir)?;
    sweep_file.check_data_unchanged(dir)?;
    let mut plan = Plan::resolve(sweep_file.config)?;
    let manifest = dir.join(crate::sweep_file::MANIFEST);
    if manifest.exists() {
        let m: crate::sweep_file::Manifest =
            fitbench_report::io::read_json(&manifest, "a shard manifest")?;
        plan.shard = Some(m.shard);
    }
    let log = dir.join("runs.jsonl");
    if !log.exists() {
        return Err(HarnessError::Config(format!(
            "{} has no runs.jsonl: not the output folder of a sweep (or none of its runs finished)",
            dir.display()
        )));
    }
    notes.extend(
        fitbench_report::io::JsonLines::repair(&log)?
            .iter()
            .chain(&fitbench_report::io::JsonLines::repair(
                &dir.join("tuning.jsonl"),
            )?)
            .map(ToString::to_string),
    );
    // The latest record of each run, of this configuration: a `--resume` with changed
    // settings that was stopped part-way left records of the earlier settings behind.
    let hash = runner::config_hash(&plan.config);
    let (mut runs, stale): (Vec<_>, Vec<_>) = RunLog::read_latest(&log)?
        .into_iter()
        .partition(|r| r.config_hash.as_deref().is_none_or(|h| h == hash));
    if !stale.is_empty() {
        notes.push(format!(
            "{} run(s) in runs.jsonl are of an earlier configuration than sweep.json (a --resume with changed settings stopped before rerunning them): left out; finish with --resume",
            stale.len()
        ));
    }
    // Plan order, whatever order the runs finished in (`--jobs`).
    let order: std::collections::HashMap<crate::partition::RunKey, usize> =
        runner::plan_keys(&plan)
            .into_iter()
            .enumerate()
            .map(|(i, k)| (k, i))
            .collect();
    runs.sort_by_key(|r| {
        order
            .get(&crate::partition::RunKey::of(r))
            .copied()
            .unwrap_or(usize::MAX)
    });
    let tuning = latest_tuning(JsonLines::read(&dir.join("tuning.jsonl"))?);
    let planned = plan.n_owned_runs();
    let merge_file = dir.join(crate::sweep_file::MERGE_FILE);
    let merge = if merge_file.exists() {
        Some(fitbench_report::io::read_json(
            &merge_file,
            "a merge record",
        )?)
    } else {
        None
    };
    let output = runner::SweepOutput {
        datasets: runner::dataset_infos(&plan),
        interrupted: runs.len() < planned,
        jobs: runs
            .iter()
            .filter_map(|r| r.provenance.as_ref().map(|p| p.jobs))
            .max()
            .unwrap_or(1),
        runs,
        tuning,
        calibration: None,
        reused: 0,
    };
    let interrupted = output.interrupted;
    let mut report = crate::build_report(&plan, output);
    report.merge = merge;
    let files = fitbench_render::output::write_all(&report, dir)?;
    drop(lock);
    let mut result = SweepResult::of(report, files, interrupted, 0);
    result.notes = notes;
    Ok(result)
}

/// The latest grid search of each (dataset, trainer): a `--resume` tunes again and appends.
fn latest_tuning(
    records: Vec<fitbench_report::config::TuningRecord>,
) -> Vec<fitbench_report::config::TuningRecord> {
    let mut out: Vec<fitbench_report::config::TuningRecord> = Vec::new();
    for t in records {
        match out
            .iter_mut()
            .find(|o| o.dataset == t.dataset && o.trainer == t.trainer)
        {
            Some(o) => *o = t,
            None => out.push(t),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_names_what_is_kept_and_the_commands_that_recover() {
        let full = std::io::Error::from_raw_os_error(28);
        let e = recoverable(Path::new("out/x"))(HarnessError::io(
            "cannot append to",
            "out/x/runs.jsonl",
            full,
        ));
        let msg = e.to_string();
        for part in [
            "cannot append to out/x/runs.jsonl",
            "every run that finished before is kept",
            "--resume",
            "`fitbench report out/x`",
        ] {
            assert!(msg.contains(part), "{part}: {msg}");
        }
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

    #[test]
    fn preset_groups_become_one_sweep_per_sub_folder_with_overrides() {
        let request = RunRequest {
            preset: Some("barbu".into()),
            seeds: Some(1),
            out: Some("x".into()),
            ..RunRequest::default()
        };
        let jobs = request.sweeps().unwrap();
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[0].out, PathBuf::from("x/h32"));
        assert_eq!(jobs[1].out, PathBuf::from("x/h64"));
        assert!(jobs.iter().all(|j| j.config.seeds == 1));
        let quick = RunRequest {
            preset: Some("quick".into()),
            ..RunRequest::default()
        };
        assert_eq!(quick.sweeps().unwrap()[0].out, PathBuf::from("out/quick"));
    }
}
