//! `results/REPRODUCTION.md`, rendered from the committed reports (never written by hand):
//! one section per reproduction preset (a [`Preset`] with [`Reproduction`] roles, in the order
//! of [`PRESETS`]), then "Classical baselines" ([`classical_section`]: every trainer of those
//! sweeps side by side, reconstructions and classical methods alike), then the lnn study
//! (`fitbench_lnn::reproduction_section`).
//!
//! The preset says who is compared with whom (the trainer under test, its baselines); this
//! module computes the figures of each section into a serialisable context, and the minijinja
//! templates under `crates/harness/templates/reproduction/` word them.

use crate::error::{HarnessError, Result};
use crate::presets::{Claim, PEER_PAIRS, PRESETS, Preset, Reproduction};
use fitbench_report::format::duration;
use fitbench_report::schema::{Report, RunRecord, Status};
use fitbench_report::stats::median;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The templates, by name: the document, one per [`Claim`], the classical section and the
/// performance-profile figures.
const TEMPLATES: [(&str, &str); 6] = [
    (
        "peers.md.j2",
        include_str!("../templates/reproduction/peers.md.j2"),
    ),
    (
        "document.md.j2",
        include_str!("../templates/reproduction/document.md.j2"),
    ),
    (
        "khadilkar.md.j2",
        include_str!("../templates/reproduction/khadilkar.md.j2"),
    ),
    (
        "barbu.md.j2",
        include_str!("../templates/reproduction/barbu.md.j2"),
    ),
    (
        "classical.md.j2",
        include_str!("../templates/reproduction/classical.md.j2"),
    ),
    (
        "profile.md.j2",
        include_str!("../templates/reproduction/profile.md.j2"),
    ),
];

/// Relative suboptimality the "Classical baselines" section times every trainer to.
pub const CLASSICAL_LEVEL: f64 = 1e-2;

/// Relative suboptimality of the performance profiles each reproduction section links.
const PROFILE_LEVEL: f64 = 1e-2;

/// The reports of one reproduction preset, as found under `results/`.
#[derive(Clone, Debug)]
pub struct Reproduced {
    /// The preset that wrote them.
    pub preset: &'static Preset,
    /// Who is compared with whom (the preset's roles).
    pub roles: Reproduction,
    /// `(sub-folder, report)` of each sweep, in the preset's order; the sub-folder is `None`
    /// for a preset of one sweep.
    pub sweeps: Vec<(Option<String>, Report)>,
}

impl Reproduced {
    /// The reports `sweeps` of `preset`; an error when the preset reproduces no paper.
    pub fn new(preset: &'static Preset, sweeps: Vec<(Option<String>, Report)>) -> Result<Self> {
        let roles = preset.reproduction.ok_or_else(|| {
            HarnessError::Config(format!("preset {} reproduces no paper", preset.name))
        })?;
        Ok(Self {
            preset,
            roles,
            sweeps,
        })
    }

    /// Reads the reports of `preset` under `results` (`NAME/report.json`, or
    /// `NAME/SUB/report.json` per sweep of a group); `None` when the preset reproduces no
    /// paper or none of its reports exists.
    pub fn read(preset: &'static Preset, results: &Path) -> Result<Option<Self>> {
        let Some(roles) = preset.reproduction else {
            return Ok(None);
        };
        let mut sweeps = Vec::new();
        for (sub, _) in preset.sweeps() {
            let path = results
                .join(folder(preset, sub.as_deref()))
                .join("report.json");
            if path.exists() {
                sweeps.push((sub, fitbench_report::io::read_report(&path)?));
            }
        }
        Ok((!sweeps.is_empty()).then_some(Self {
            preset,
            roles,
            sweeps,
        }))
    }

    /// The folder under `results/` of every sweep of the preset, found or not.
    fn folders(&self) -> Vec<String> {
        let subs = self.preset.sweeps().into_iter().map(|(sub, _)| sub);
        subs.map(|sub| folder(self.preset, sub.as_deref()))
            .collect()
    }

    /// `(folder under results/, report)` of every sweep found.
    fn reports(&self) -> impl Iterator<Item = (String, &Report)> {
        let folder = |sub: &Option<String>| folder(self.preset, sub.as_deref());
        self.sweeps.iter().map(move |(sub, r)| (folder(sub), r))
    }
}

/// A sweep's folder under `results/`: the preset's name, then its sub-folder if any.
fn folder(preset: &Preset, sub: Option<&str>) -> String {
    match sub {
        Some(sub) => format!("{}/{sub}", preset.name),
        None => preset.name.to_string(),
    }
}

/// The document's context: the rendered sections, in order.
#[derive(Serialize)]
struct DocumentContext {
    sections: Vec<String>,
    /// Whether any reproduction report was found.
    any: bool,
}

/// Renders the whole document from the reports found under `results`.
pub fn render(results: &Path) -> Result<String> {
    let mut found = Vec::new();
    for preset in PRESETS {
        found.extend(Reproduced::read(preset, results)?);
    }
    let mut sections = Vec::new();
    for reproduced in &found {
        sections.push(section(reproduced)?);
        sections.push(profile_figures(results, &reproduced.folders())?);
    }
    let peers = results.join("peers").join("report.json");
    if peers.exists() {
        sections.push(peers_section(&fitbench_report::io::read_report(&peers)?)?);
    }
    let sweeps: Vec<(String, &Report)> = found.iter().flat_map(Reproduced::reports).collect();
    if !sweeps.is_empty() {
        sections.push(classical_section(&sweeps)?);
    }
    let lnn = results.join("lnn").join("report.json");
    if lnn.exists() {
        let report = fitbench_lnn::read(&lnn)?;
        sections.push(fitbench_lnn::reproduction_section(&report));
    }
    let any = !found.is_empty() || lnn.exists() || peers.exists();
    render_template("document.md.j2", &DocumentContext { sections, any })
}

/// The section of one reproduction, as its claim words it.
pub fn section(reproduced: &Reproduced) -> Result<String> {
    match reproduced.roles.claim {
        Claim::Khadilkar2023 => khadilkar_section(reproduced),
        Claim::Barbu2023 => barbu_section(reproduced),
    }
}

#[derive(Serialize)]
struct PeersContext {
    settings: Settings,
    skipped: Vec<String>,
    externals: Vec<PeerExternal>,
    trainers: Vec<String>,
    pairs: Vec<(String, String)>,
    datasets: Vec<PeersDataset>,
    summary: Vec<PeerSummary>,
}

#[derive(Serialize)]
struct PeerExternal {
    name: String,
    command: String,
    versions: String,
    overhead: f64,
}

#[derive(Serialize)]
struct PeersDataset {
    name: String,
    n: usize,
    d: usize,
    per_step: Vec<Option<f64>>,
    best: Vec<Option<f64>>,
    ratios: Vec<Option<f64>>,
}

#[derive(Serialize)]
struct PeerSummary {
    label: String,
    value: Option<f64>,
}

/// Seconds per step of `run` (training time over steps), when it took any step.
pub fn seconds_per_step(run: &RunRecord) -> Option<f64> {
    (run.iterations > 0 && run.status.is_ok()).then(|| run.train_s / run.iterations as f64)
}

/// The peers section of `results/REPRODUCTION.md` from the `peers` preset's report: seconds
/// per step of every trainer per dataset, the ratios of [`PEER_PAIRS`], the best train MSE,
/// and what each external trainer reported of itself.
pub fn peers_section(report: &Report) -> Result<String> {
    let trainers: Vec<String> = report.trainers();
    let runs_of = |dataset: &str, trainer: &str| -> Vec<&RunRecord> {
        report
            .runs
            .iter()
            .filter(|r| r.dataset == dataset && r.trainer == trainer)
            .collect()
    };
    let med = median;
    let pairs: Vec<(String, String)> = PEER_PAIRS
        .iter()
        .filter(|(a, b)| trainers.iter().any(|t| t == a) && trainers.iter().any(|t| t == b))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let mut datasets = Vec::new();
    for d in &report.datasets {
        let per_step: Vec<Option<f64>> = trainers
            .iter()
            .map(|t| {
                med(runs_of(&d.name, t)
                    .into_iter()
                    .filter_map(seconds_per_step)
                    .collect())
            })
            .collect();
        let best = trainers
            .iter()
            .map(|t| {
                med(runs_of(&d.name, t)
                    .into_iter()
                    .filter_map(|r| r.summary.best_train_mse)
                    .collect())
            })
            .collect();
        let at = |name: &str| {
            trainers
                .iter()
                .position(|t| t == name)
                .and_then(|i| per_step[i])
        };
        let ratios = pairs
            .iter()
            .map(|(a, b)| at(a).zip(at(b)).map(|(a, b)| a / b))
            .collect();
        datasets.push(PeersDataset {
            name: d.name.clone(),
            n: d.n,
            d: d.d,
            per_step,
            best,
            ratios,
        });
    }
    let summary = pairs
        .iter()
        .enumerate()
        .map(|(i, (a, b))| PeerSummary {
            label: format!("`{a}` / `{b}`"),
            value: med(datasets.iter().filter_map(|d| d.ratios[i]).collect()),
        })
        .collect();
    let externals = report
        .config
        .external
        .iter()
        .filter(|e| trainers.contains(&e.name))
        .map(|e| {
            let runs: Vec<&RunRecord> =
                report.runs.iter().filter(|r| r.trainer == e.name).collect();
            let versions = runs
                .iter()
                .find_map(|r| {
                    r.trainer_info
                        .as_ref()?
                        .get("hello")?
                        .get("versions")
                        .cloned()
                })
                .map(|v| match v {
                    serde_json::Value::Object(m) => m
                        .iter()
                        .map(|(k, v)| format!("{k} {}", v.as_str().unwrap_or(&v.to_string())))
                        .collect::<Vec<_>>()
                        .join(", "),
                    other => other.to_string(),
                })
                .unwrap_or_else(|| "–".into());
            let command = match &e.cmd {
                serde_json::Value::Array(parts) => parts
                    .iter()
                    .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_string))
                    .collect::<Vec<_>>()
                    .join(" "),
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            PeerExternal {
                name: e.name.clone(),
                command,
                versions,
                overhead: med(runs
                    .iter()
                    .filter_map(|r| r.counters.get("protocol_overhead_s").copied())
                    .collect())
                .unwrap_or(f64::NAN),
            }
        })
        .collect();
    render_template(
        "peers.md.j2",
        &PeersContext {
            settings: Settings::of(report),
            skipped: report.config.skipped.clone(),
            externals,
            trainers,
            pairs,
            datasets,
            summary,
        },
    )
}

/// Renders `results/REPRODUCTION.md` ([`render`]) and writes it into `results`; returns its
/// path.
pub fn write(results: &Path) -> Result<PathBuf> {
    let text = render(results)?;
    let path = results.join("REPRODUCTION.md");
    std::fs::write(&path, text).map_err(|e| HarnessError::io("cannot write", &path, e))?;
    Ok(path)
}

// ---------------------------------------------------------------------------------------
// Templates

/// The environment holding every template: block tags on a line of their own leave no
/// trace (trimmed and stripped), nothing is escaped, and an undefined name is an error.
fn environment() -> Result<Environment<'static>> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(true);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.add_filter("sci", sci);
    env.add_filter("fixed", fixed);
    env.add_filter("duration", duration_filter);
    for (name, source) in TEMPLATES {
        env.add_template(name, source)
            .map_err(|e| template_error(name, &e))?;
    }
    Ok(env)
}

/// Renders the template `name` with `context`.
fn render_template<C: Serialize>(name: &str, context: &C) -> Result<String> {
    let env = environment()?;
    env.get_template(name)
        .and_then(|t| t.render(context))
        .map_err(|e| template_error(name, &e))
}

fn template_error(name: &str, e: &minijinja::Error) -> HarnessError {
    HarnessError::Template(format!("{name}: {e:#}"))
}

/// `{{ x | sci(3) }}`: `x` as Rust's `{:.3e}` writes it (`{:e}` without digits); "–" for
/// none.
fn sci(value: Option<f64>, digits: Option<usize>) -> String {
    match (value, digits) {
        (None, _) => "–".into(),
        (Some(v), Some(p)) => format!("{v:.p$e}"),
        (Some(v), None) => format!("{v:e}"),
    }
}

/// `{{ x | fixed(2) }}`: `x` with that many decimals; "–" for none.
fn fixed(value: Option<f64>, digits: usize) -> String {
    value.map_or("–".into(), |v| format!("{v:.digits$}"))
}

/// `{{ t | duration("not reached") }}`: seconds in µs, ms or s; the argument (default "–")
/// for none.
fn duration_filter(value: Option<f64>, missing: Option<String>) -> String {
    match value {
        Some(t) => duration(t),
        None => missing.unwrap_or_else(|| "–".into()),
    }
}

/// A report's settings, as the headings quote them.
#[derive(Serialize)]
struct Settings {
    architecture: String,
    seeds: usize,
    budget_s: String,
    max_iters: usize,
}

impl Settings {
    fn of(report: &Report) -> Self {
        Self {
            architecture: report.architecture.to_string(),
            seeds: report.config.seeds,
            budget_s: report.config.budget_s.to_string(),
            max_iters: report.config.max_iters,
        }
    }
}

/// One linked performance profile.
#[derive(Serialize)]
struct Profile {
    folder: String,
    path: String,
}

/// Links the performance profiles (time to r ≤ [`PROFILE_LEVEL`]) of the given result
/// folders, where they exist.
fn profile_figures(results: &Path, folders: &[String]) -> Result<String> {
    let profiles: Vec<Profile> = folders
        .iter()
        .map(|folder| Profile {
            folder: folder.clone(),
            path: format!("{folder}/plots/performance_profile_{PROFILE_LEVEL:e}.png"),
        })
        .filter(|p| results.join(&p.path).exists())
        .collect();
    render_template(
        "profile.md.j2",
        &minijinja::context! { profiles, level => PROFILE_LEVEL },
    )
}

// ---------------------------------------------------------------------------------------
// Figures shared by the sections

/// First training time at which a run's evaluated train MSE is ≤ `level`.
pub fn time_to(run: &RunRecord, level: f64) -> Option<f64> {
    run.curve
        .iter()
        .find(|p| p.train_mse <= level)
        .map(|p| p.time_s)
}

/// Per-trainer figures on one dataset.
struct TrainerFigures {
    label: String,
    best: Vec<f64>,
    test_at_best: Vec<f64>,
    /// `evaluations` counter / steps, of the runs that keep that counter.
    evaluations_per_step: Vec<f64>,
    /// The trainer's config records `"reconstruction": true`.
    reconstruction: bool,
    failed: usize,
    runs: usize,
}

impl TrainerFigures {
    fn of(label: &str, runs: &[&RunRecord]) -> Self {
        let mine: Vec<&&RunRecord> = runs.iter().filter(|r| r.trainer == label).collect();
        Self {
            label: label.into(),
            best: mine
                .iter()
                .filter_map(|r| r.summary.best_train_mse)
                .collect(),
            test_at_best: mine
                .iter()
                .filter_map(|r| r.summary.test_mse_at_best_train)
                .collect(),
            evaluations_per_step: mine
                .iter()
                .filter(|r| r.iterations > 0)
                .filter_map(|r| Some(r.counters.get("evaluations")? / r.iterations as f64))
                .collect(),
            reconstruction: mine
                .iter()
                .any(|r| r.trainer_config["reconstruction"] == serde_json::Value::Bool(true)),
            failed: mine.iter().filter(|r| !r.status.is_ok()).count(),
            runs: mine.len(),
        }
    }

    fn median_best(&self) -> f64 {
        median(self.best.clone()).unwrap_or(f64::INFINITY)
    }

    fn min_best(&self) -> f64 {
        self.best.iter().copied().fold(f64::INFINITY, f64::min)
    }

    fn max_best(&self) -> f64 {
        self.best.iter().copied().fold(0.0_f64, f64::max)
    }

    fn spread(&self) -> f64 {
        self.max_best() / self.min_best()
    }

    /// The median test MSE at the best train point; `None` without one.
    fn median_test(&self) -> Option<f64> {
        median(self.test_at_best.clone())
    }
}

/// Median time to a level, how many runs reached it, of how many.
#[derive(Clone, Copy)]
struct TimeTo {
    median: Option<f64>,
    reached: usize,
    total: usize,
}

/// Median time to `level` over the runs of `label`, and how many of them reached it.
fn median_time_to(runs: &[&RunRecord], label: &str, level: f64) -> TimeTo {
    median_time_to_each(runs, label, |_| Some(level))
}

/// [`median_time_to`] with a level per run (`None`: the run has no level, so cannot reach it):
/// the median over all the trainer's runs, a run that never reached its level counting as
/// infinitely slow (so a trainer that often misses is not favoured by timing only its
/// hits); `None` when that median is infinite, i.e. unless more than half reached it. Then
/// how many did, of how many runs.
fn median_time_to_each(
    runs: &[&RunRecord],
    label: &str,
    level: impl Fn(&RunRecord) -> Option<f64>,
) -> TimeTo {
    let mine: Vec<&&RunRecord> = runs.iter().filter(|r| r.trainer == label).collect();
    let times: Vec<f64> = mine
        .iter()
        .map(|r| {
            level(r)
                .and_then(|l| time_to(r, l))
                .unwrap_or(f64::INFINITY)
        })
        .collect();
    TimeTo {
        reached: times.iter().filter(|t| t.is_finite()).count(),
        median: median_counting_misses(times),
        total: mine.len(),
    }
}

/// The median of `v`, where +∞ (a miss) counts like any value
/// ([`fitbench_report::stats::median_counting_misses`]); `None` when it is infinite or `v` is
/// empty.
fn median_counting_misses(mut v: Vec<f64>) -> Option<f64> {
    let x = fitbench_report::stats::median_counting_misses(&mut v);
    x.is_finite().then_some(x)
}

/// [`median_time_to`] charged with tuning: each run's time to `level` plus the training
/// time of every other trial of the grid search that picked its configuration
/// ([`fitbench_report::charge`]; a trainer without a search pays nothing).
fn median_time_inclusive(report: &Report, runs: &[&RunRecord], label: &str, level: f64) -> TimeTo {
    let mine: Vec<&&RunRecord> = runs.iter().filter(|r| r.trainer == label).collect();
    let times: Vec<f64> = mine
        .iter()
        .map(|r| {
            let search = fitbench_report::charge::search_of(&report.tuning, r);
            time_to(r, level).map_or(f64::INFINITY, |t| {
                t + fitbench_report::charge::other_trials_s(search)
            })
        })
        .collect();
    TimeTo {
        reached: times.iter().filter(|t| t.is_finite()).count(),
        median: median_counting_misses(times),
        total: mine.len(),
    }
}

/// Whether every grid search of `report` recorded its trials' times (reports written before
/// fitbench charged tuning did not: their tuning-inclusive times would be understated).
fn charges_recorded(report: &Report) -> bool {
    report.tuning.iter().all(|t| !t.trial_s.is_empty())
}

/// The stationarity of a trainer's final points: the median ‖∇L‖/‖∇L₀‖ and how many runs
/// are at or below [`fitbench_report::schema::STATIONARY_RATIO`], of how many certified.
#[derive(Serialize, Clone, Copy)]
struct Stationary {
    median: Option<f64>,
    stationary: usize,
    certified: usize,
}

fn stationary(runs: &[&RunRecord], label: &str) -> Stationary {
    let ratios: Vec<f64> = runs
        .iter()
        .filter(|r| r.trainer == label)
        .filter_map(|r| r.stationarity.as_ref().map(|c| c.ratio))
        .collect();
    Stationary {
        median: median(ratios.clone()),
        stationary: ratios
            .iter()
            .filter(|&&r| r <= fitbench_report::schema::STATIONARY_RATIO)
            .count(),
        certified: ratios.len(),
    }
}

/// The runs on `dataset`, and the figures of every trainer of the report on them (in the
/// report's trainer order).
fn dataset_figures<'a>(
    report: &'a Report,
    dataset: &str,
) -> (Vec<&'a RunRecord>, Vec<TrainerFigures>) {
    let runs: Vec<&RunRecord> = report
        .runs
        .iter()
        .filter(|r| r.dataset == dataset)
        .collect();
    let figures = report
        .trainers()
        .iter()
        .map(|t| TrainerFigures::of(t, &runs))
        .collect();
    (runs, figures)
}

/// The trainer id (registry name) of the runs labelled `label`.
fn trainer_id<'a>(report: &'a Report, label: &str) -> Option<&'a str> {
    report
        .runs
        .iter()
        .find(|r| r.trainer == label)
        .map(|r| r.trainer_id.as_str())
}

/// Whether `label` is one of the `roles`' baselines (its trainer is one of them).
fn is_baseline(roles: &Reproduction, report: &Report, label: &str) -> bool {
    trainer_id(report, label).is_some_and(|id| roles.baselines.contains(&id))
}

/// The configuration of the trainer under test (its first run's), as JSON; empty without
/// such a run.
fn under_test_config(roles: &Reproduction, report: &Report) -> String {
    report
        .runs
        .iter()
        .find(|r| r.trainer == roles.under_test)
        .map(|r| r.trainer_config.to_string())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// Khadilkar 2023: faster and more stable than gradient methods

/// The context of `khadilkar.md.j2` (one sweep).
#[derive(Serialize)]
struct KhadilkarContext {
    folder: String,
    preset: &'static str,
    /// Label of the trainer under test.
    under_test: &'static str,
    /// Its registry name.
    trainer: String,
    config: String,
    settings: Settings,
    datasets: Vec<KhadilkarDataset>,
    verdict: KhadilkarVerdict,
    /// The report records every grid trial's time (tuning-inclusive times are complete).
    charged: bool,
}

/// One dataset's table, and how the trainer under test compares on it.
#[derive(Serialize)]
struct KhadilkarDataset {
    name: String,
    n: usize,
    d: usize,
    tuned: Vec<Tuned>,
    ols_train_mse: f64,
    /// The median best train MSE of the trainer under test: the level every trainer is
    /// timed to.
    level: f64,
    rows: Vec<KhadilkarRow>,
    /// `None` when the report has no baseline.
    comparison: Option<KhadilkarComparison>,
}

/// A learning rate picked by the grid search.
#[derive(Serialize)]
struct Tuned {
    trainer: String,
    /// The option searched (`lr`, `lambda`, `eta`).
    option: String,
    lr: String,
}

/// A trainer's row.
#[derive(Serialize)]
struct KhadilkarRow {
    label: String,
    median_best: f64,
    min_best: f64,
    max_best: f64,
    spread: f64,
    failed: usize,
    runs: usize,
    time: Option<f64>,
    reached: usize,
    total: usize,
    /// Median time to the level, charged with the trainer's other grid trials.
    time_inclusive: Option<f64>,
    test: f64,
    /// Stationarity of its final points.
    stationary: Stationary,
}

/// The trainer under test against the baselines on one dataset.
#[derive(Serialize)]
struct KhadilkarComparison {
    /// Reaches its own median best before the fastest baseline does.
    faster: bool,
    time: Option<f64>,
    baseline_time: Option<f64>,
    /// Its median best train MSE is below the best baseline's.
    lower: bool,
    /// The baseline with the lowest median best train MSE.
    baseline: String,
    baseline_best: f64,
    /// Its median best / the best baseline's.
    ratio: f64,
    /// max(ratio, 1 / ratio).
    factor: f64,
    /// Fewer failed runs than the baselines together, or as many and a smaller spread than
    /// the best baseline.
    stabler: bool,
    /// `faster` with every trainer charged its other grid trials (tuning-inclusive).
    faster_inclusive: bool,
    time_inclusive: Option<f64>,
    baseline_time_inclusive: Option<f64>,
}

/// Counts over the datasets.
#[derive(Serialize)]
struct KhadilkarVerdict {
    datasets: usize,
    faster: usize,
    /// Faster under tuning-inclusive time.
    faster_inclusive: usize,
    lower: usize,
    stabler: usize,
    /// Runs of the trainer under test (any configuration) that diverged.
    diverged: usize,
    /// The smallest and largest ratio, when some is positive.
    ratios: Option<[f64; 2]>,
}

/// The Khadilkar section: the trainer under test (a reconstruction) against tuned SGD and
/// Adam, one part per sweep of the preset.
pub fn khadilkar_section(reproduced: &Reproduced) -> Result<String> {
    let mut out = String::new();
    for (folder, report) in reproduced.reports() {
        let context = khadilkar_context(reproduced, folder, report);
        out.push_str(&render_template("khadilkar.md.j2", &context)?);
    }
    Ok(out)
}

fn khadilkar_context(reproduced: &Reproduced, folder: String, report: &Report) -> KhadilkarContext {
    let roles = &reproduced.roles;
    let trainer = trainer_id(report, roles.under_test).unwrap_or(roles.under_test);
    let datasets: Vec<KhadilkarDataset> = report
        .datasets
        .iter()
        .filter_map(|d| khadilkar_dataset(roles, report, d))
        .collect();
    let diverged = report
        .runs
        .iter()
        .filter(|r| r.trainer_id == trainer && r.status == Status::Diverged)
        .count();
    KhadilkarContext {
        folder,
        preset: reproduced.preset.name,
        under_test: roles.under_test,
        trainer: trainer.to_string(),
        config: under_test_config(roles, report),
        settings: Settings::of(report),
        verdict: khadilkar_verdict(report.datasets.len(), &datasets, diverged),
        datasets,
        charged: charges_recorded(report),
    }
}

/// One dataset's part; `None` when the trainer under test did not run on it.
fn khadilkar_dataset(
    roles: &Reproduction,
    report: &Report,
    d: &fitbench_report::schema::DatasetInfo,
) -> Option<KhadilkarDataset> {
    let (runs, figures) = dataset_figures(report, &d.name);
    let under = figures.iter().find(|f| f.label == roles.under_test)?;
    let level = under.median_best();
    let rows = figures
        .iter()
        .map(|f| {
            khadilkar_row(
                f,
                median_time_to(&runs, &f.label, level),
                median_time_inclusive(report, &runs, &f.label, level),
                stationary(&runs, &f.label),
            )
        })
        .collect();
    let baselines: Vec<&TrainerFigures> = figures
        .iter()
        .filter(|f| is_baseline(roles, report, &f.label))
        .collect();
    Some(KhadilkarDataset {
        name: d.name.clone(),
        n: d.n,
        d: d.d,
        tuned: tuned(report, &d.name),
        ols_train_mse: d.reference_train_mse().unwrap_or(f64::NAN),
        level,
        rows,
        comparison: khadilkar_comparison(report, under, &baselines, &runs),
    })
}

/// The learning rates picked on `dataset`.
fn tuned(report: &Report, dataset: &str) -> Vec<Tuned> {
    report
        .tuning
        .iter()
        .filter(|t| t.dataset == dataset)
        .map(|t| Tuned {
            trainer: t.trainer.clone(),
            option: t.option.clone(),
            lr: t.picked_lr.map_or("none".into(), |v| v.to_string()),
        })
        .collect()
}

fn khadilkar_row(
    f: &TrainerFigures,
    time: TimeTo,
    inclusive: TimeTo,
    stationary: Stationary,
) -> KhadilkarRow {
    KhadilkarRow {
        label: f.label.clone(),
        median_best: f.median_best(),
        min_best: f.min_best(),
        max_best: f.max_best(),
        spread: f.spread(),
        failed: f.failed,
        runs: f.runs,
        time: time.median,
        reached: time.reached,
        total: time.total,
        time_inclusive: inclusive.median,
        test: f.median_test().unwrap_or(f64::NAN),
        stationary,
    }
}

/// The trainer under test against the best of `baselines`; `None` without baselines.
fn khadilkar_comparison(
    report: &Report,
    under: &TrainerFigures,
    baselines: &[&TrainerFigures],
    runs: &[&RunRecord],
) -> Option<KhadilkarComparison> {
    let best = baselines
        .iter()
        .min_by(|a, b| a.median_best().total_cmp(&b.median_best()))?;
    let level = under.median_best();
    let time = median_time_to(runs, &under.label, level).median;
    let baseline_time = baselines
        .iter()
        .filter_map(|f| median_time_to(runs, &f.label, level).median)
        .fold(f64::INFINITY, f64::min);
    let failed: usize = baselines.iter().map(|f| f.failed).sum();
    let ratio = level / best.median_best();
    let time_inclusive = median_time_inclusive(report, runs, &under.label, level).median;
    let baseline_time_inclusive = baselines
        .iter()
        .filter_map(|f| median_time_inclusive(report, runs, &f.label, level).median)
        .fold(f64::INFINITY, f64::min);
    Some(KhadilkarComparison {
        faster_inclusive: time_inclusive.is_some_and(|t| t < baseline_time_inclusive),
        time_inclusive,
        baseline_time_inclusive: baseline_time_inclusive
            .is_finite()
            .then_some(baseline_time_inclusive),
        faster: time.is_some_and(|t| t < baseline_time),
        time,
        baseline_time: baseline_time.is_finite().then_some(baseline_time),
        lower: level < best.median_best(),
        baseline: best.label.clone(),
        baseline_best: best.median_best(),
        ratio,
        factor: ratio.max(best.median_best() / level),
        stabler: under.failed < failed
            || (under.failed == failed && under.spread() < best.spread()),
    })
}

fn khadilkar_verdict(
    datasets: usize,
    parts: &[KhadilkarDataset],
    diverged: usize,
) -> KhadilkarVerdict {
    let comparisons: Vec<&KhadilkarComparison> =
        parts.iter().filter_map(|d| d.comparison.as_ref()).collect();
    let count = |f: fn(&KhadilkarComparison) -> bool| comparisons.iter().filter(|c| f(c)).count();
    let (lo, hi) = comparisons
        .iter()
        .fold((f64::INFINITY, 0.0_f64), |(a, b), c| {
            (a.min(c.ratio), b.max(c.ratio))
        });
    KhadilkarVerdict {
        datasets,
        faster: count(|c| c.faster),
        faster_inclusive: count(|c| c.faster_inclusive),
        lower: count(|c| c.lower),
        stabler: count(|c| c.stabler),
        diverged,
        ratios: (hi > 0.0).then_some([lo, hi]),
    }
}

// ---------------------------------------------------------------------------------------
// Barbu 2023: significantly smaller training loss than SGD and Adam

/// The context of `barbu.md.j2`.
#[derive(Serialize)]
struct BarbuContext {
    preset: &'static str,
    /// Label of the trainer under test.
    under_test: &'static str,
    /// The folders of the reports, under `results/`.
    sources: Vec<String>,
    config: String,
    widths: Vec<BarbuWidth>,
}

/// One sweep (one hidden width): a row per dataset.
#[derive(Serialize)]
struct BarbuWidth {
    settings: Settings,
    /// The sweep's sub-folder (the preset's name for a preset of one sweep).
    sub: String,
    rows: Vec<BarbuRow>,
    /// Datasets where the trainer under test is significantly smaller.
    smaller: usize,
    datasets: usize,
    /// Datasets where it reaches the best baseline's median best first, selection-honest and
    /// tuning-inclusive.
    faster: usize,
    faster_inclusive: usize,
    /// The report records every grid trial's time.
    charged: bool,
    /// The same comparison for the solver at its default λ (not searched), when the report
    /// has that label ([`crate::presets::BARBU_DEFAULT_LAMBDA`]).
    default: Option<BarbuDefault>,
}

/// The counts of [`BarbuWidth`] for the untuned solver.
#[derive(Serialize)]
struct BarbuDefault {
    label: &'static str,
    smaller: usize,
    faster: usize,
    faster_inclusive: usize,
    /// Datasets where its median best train MSE is below the searched solver's.
    below_searched: usize,
}

/// The trainer under test against the best baseline on one dataset.
#[derive(Serialize)]
struct BarbuRow {
    dataset: String,
    median_best: f64,
    baseline: String,
    baseline_best: f64,
    /// Every seed's best train MSE below every seed's of the best baseline.
    significant: bool,
    time: Option<f64>,
    reached: usize,
    total: usize,
    test: f64,
    baseline_test: f64,
    ols_test: f64,
    /// The best baseline's time to its own median best.
    baseline_time: Option<f64>,
    /// Under tuning-inclusive time: the trainer under test's time to the baseline's median
    /// best and the baseline's, each with its other grid trials (λ's grid, the lr grid).
    time_inclusive: Option<f64>,
    baseline_time_inclusive: Option<f64>,
    /// The trainer under test gets there first, selection-honest and tuning-inclusive.
    faster: bool,
    faster_inclusive: bool,
    /// Stationarity of the final points.
    stationary: Stationary,
    baseline_stationary: Stationary,
    /// What the grid searches picked on this dataset.
    tuned: Vec<Tuned>,
}

/// The Barbu section: the trainer under test (a reconstruction) against tuned SGD and Adam
/// on the real datasets, one table per sweep (hidden width).
pub fn barbu_section(reproduced: &Reproduced) -> Result<String> {
    let roles = &reproduced.roles;
    let config = reproduced
        .sweeps
        .first()
        .map(|(_, r)| under_test_config(roles, r))
        .unwrap_or_default();
    let widths = reproduced
        .sweeps
        .iter()
        .map(|(sub, report)| barbu_width(reproduced, sub.as_deref(), report))
        .collect();
    let context = BarbuContext {
        preset: reproduced.preset.name,
        under_test: roles.under_test,
        sources: reproduced.reports().map(|(folder, _)| folder).collect(),
        config,
        widths,
    };
    render_template("barbu.md.j2", &context)
}

/// One sweep's table.
fn barbu_width(reproduced: &Reproduced, sub: Option<&str>, report: &Report) -> BarbuWidth {
    let rows = barbu_rows(&reproduced.roles, report);
    let label = crate::presets::BARBU_DEFAULT_LAMBDA;
    let default = report.trainers().iter().any(|t| t == label).then(|| {
        let roles = Reproduction {
            under_test: label,
            ..reproduced.roles
        };
        let theirs = barbu_rows(&roles, report);
        BarbuDefault {
            label,
            smaller: theirs.iter().filter(|r| r.significant).count(),
            faster: theirs.iter().filter(|r| r.faster).count(),
            faster_inclusive: theirs.iter().filter(|r| r.faster_inclusive).count(),
            below_searched: theirs
                .iter()
                .zip(&rows)
                .filter(|(d, s)| d.median_best < s.median_best)
                .count(),
        }
    });
    BarbuWidth {
        settings: Settings::of(report),
        sub: sub.unwrap_or(reproduced.preset.name).to_string(),
        smaller: rows.iter().filter(|r| r.significant).count(),
        faster: rows.iter().filter(|r| r.faster).count(),
        faster_inclusive: rows.iter().filter(|r| r.faster_inclusive).count(),
        charged: charges_recorded(report),
        default,
        rows,
        datasets: report.datasets.len(),
    }
}

/// The rows of one report: the datasets that have a baseline.
fn barbu_rows(roles: &Reproduction, report: &Report) -> Vec<BarbuRow> {
    if trainer_id(report, roles.under_test).is_none() {
        return Vec::new();
    }
    let baselines: Vec<String> = report
        .trainers()
        .into_iter()
        .filter(|t| is_baseline(roles, report, t))
        .collect();
    report
        .datasets
        .iter()
        .filter_map(|d| barbu_row(roles.under_test, &baselines, report, d))
        .collect()
}

fn barbu_row(
    under_test: &str,
    baselines: &[String],
    report: &Report,
    d: &fitbench_report::schema::DatasetInfo,
) -> Option<BarbuRow> {
    let runs: Vec<&RunRecord> = report.runs.iter().filter(|r| r.dataset == d.name).collect();
    let under = TrainerFigures::of(under_test, &runs);
    let best = baselines
        .iter()
        .map(|t| TrainerFigures::of(t, &runs))
        .filter(|f| f.runs > 0)
        .min_by(|x, y| x.median_best().total_cmp(&y.median_best()))?;
    let level = best.median_best();
    let time = median_time_to(&runs, under_test, level);
    let baseline_time = median_time_to(&runs, &best.label, level).median;
    let time_inclusive = median_time_inclusive(report, &runs, under_test, level).median;
    let baseline_time_inclusive = median_time_inclusive(report, &runs, &best.label, level).median;
    let first = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => a < b,
        (Some(_), None) => true,
        _ => false,
    };
    Some(BarbuRow {
        baseline_time,
        time_inclusive,
        baseline_time_inclusive,
        faster: first(time.median, baseline_time),
        faster_inclusive: first(time_inclusive, baseline_time_inclusive),
        stationary: stationary(&runs, under_test),
        baseline_stationary: stationary(&runs, &best.label),
        tuned: tuned(report, &d.name),
        dataset: d.name.clone(),
        median_best: under.median_best(),
        baseline: best.label.clone(),
        baseline_best: best.median_best(),
        significant: !under.best.is_empty() && under.max_best() < best.min_best(),
        time: time.median,
        reached: time.reached,
        total: time.total,
        test: under.median_test().unwrap_or(f64::NAN),
        baseline_test: best.median_test().unwrap_or(f64::NAN),
        ols_test: d.reference_test_mse().unwrap_or(f64::NAN),
    })
}

// ---------------------------------------------------------------------------------------
// Classical baselines: every trainer side by side

/// The context of `classical.md.j2`.
#[derive(Serialize)]
struct ClassicalContext {
    level: f64,
    /// The folders of the reports, under `results/`.
    sources: Vec<String>,
    reports: Vec<ClassicalReport>,
}

/// One report's tables.
#[derive(Serialize)]
struct ClassicalReport {
    folder: String,
    settings: Settings,
    /// The datasets some trainer ran on.
    datasets: Vec<ClassicalDataset>,
    /// L-BFGS runs that ended `converged`, and how many of them have a certified stationary
    /// final point (‖∇L‖/‖∇L₀‖ ≤ [`fitbench_report::schema::STATIONARY_RATIO`]), of how many
    /// carry a certificate.
    lbfgs_converged: usize,
    lbfgs_stationary: usize,
    lbfgs_certified: usize,
}

/// One dataset's table and winners.
#[derive(Serialize)]
struct ClassicalDataset {
    name: String,
    n: usize,
    d: usize,
    rows: Vec<ClassicalRow>,
    /// The lowest finite median best train MSE.
    lowest: Option<Winner>,
    /// The lowest median time to the level.
    first: Option<Winner>,
}

/// One trainer's row.
#[derive(Serialize)]
struct ClassicalRow {
    label: String,
    reconstruction: bool,
    best: Option<f64>,
    test: Option<f64>,
    time: Option<f64>,
    reached: usize,
    total: usize,
    evaluations: Option<f64>,
}

/// A trainer that wins on a dataset, by `value` (a train MSE or a time).
#[derive(Serialize)]
struct Winner {
    label: String,
    reconstruction: bool,
    value: f64,
    test: Option<f64>,
}

/// The "Classical baselines" section: every trainer of each sweep report side by side, one
/// table per dataset, then per dataset which trainer reached the lowest median train MSE and
/// which reached relative suboptimality [`CLASSICAL_LEVEL`] first. `reports` pairs each report
/// with its folder under `results/` (e.g. `barbu/h32`). Everything is computed from the
/// reports, whatever trainers they hold.
pub fn classical_section(reports: &[(String, &Report)]) -> Result<String> {
    let context = ClassicalContext {
        level: CLASSICAL_LEVEL,
        sources: reports.iter().map(|(folder, _)| folder.clone()).collect(),
        reports: reports
            .iter()
            .map(|(folder, report)| ClassicalReport {
                lbfgs_converged: lbfgs_converged(report).count(),
                lbfgs_stationary: lbfgs_converged(report)
                    .filter(|r| r.stationarity.as_ref().is_some_and(|c| c.is_stationary()))
                    .count(),
                lbfgs_certified: lbfgs_converged(report)
                    .filter(|r| r.stationarity.is_some())
                    .count(),
                folder: folder.clone(),
                settings: Settings::of(report),
                datasets: report
                    .datasets
                    .iter()
                    .filter_map(|d| classical_dataset(report, d))
                    .collect(),
            })
            .collect(),
    };
    render_template("classical.md.j2", &context)
}

/// The L-BFGS runs of `report` that ended `converged`.
fn lbfgs_converged(report: &Report) -> impl Iterator<Item = &RunRecord> {
    report
        .runs
        .iter()
        .filter(|r| r.trainer_id == fitbench_classic::LBFGS.name && r.status == Status::Converged)
}

/// The table and winners of `d`; `None` when no trainer ran on it.
fn classical_dataset(
    report: &Report,
    d: &fitbench_report::schema::DatasetInfo,
) -> Option<ClassicalDataset> {
    let rows = classical_rows(report, &d.name);
    if rows.is_empty() {
        return None;
    }
    let lowest = rows
        .iter()
        .filter(|(f, _)| f.median_best().is_finite())
        .min_by(|a, b| a.0.median_best().total_cmp(&b.0.median_best()))
        .map(|(f, _)| winner(f, f.median_best()));
    let first = rows
        .iter()
        .filter_map(|(f, time)| time.median.map(|t| (f, t)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(f, t)| winner(f, t));
    Some(ClassicalDataset {
        name: d.name.clone(),
        n: d.n,
        d: d.d,
        rows: rows
            .iter()
            .map(|(f, time)| classical_row(f, *time))
            .collect(),
        lowest,
        first,
    })
}

/// The figures of every trainer that ran on `dataset`, with its time to the level.
fn classical_rows(report: &Report, dataset: &str) -> Vec<(TrainerFigures, TimeTo)> {
    let (runs, figures) = dataset_figures(report, dataset);
    let level = |run: &RunRecord| {
        fitbench_report::metrics::split_reference(report, &run.dataset, run.repetition)
            .map(|r| r.train_mse + CLASSICAL_LEVEL * (r.null_train_mse - r.train_mse))
    };
    figures
        .into_iter()
        .filter(|f| f.runs > 0)
        .map(|f| {
            let time = median_time_to_each(&runs, &f.label, level);
            (f, time)
        })
        .collect()
}

fn classical_row(f: &TrainerFigures, time: TimeTo) -> ClassicalRow {
    ClassicalRow {
        label: f.label.clone(),
        reconstruction: f.reconstruction,
        best: median(f.best.clone()),
        test: f.median_test(),
        time: time.median,
        reached: time.reached,
        total: time.total,
        evaluations: median(f.evaluations_per_step.clone()),
    }
}

fn winner(f: &TrainerFigures, value: f64) -> Winner {
    Winner {
        label: f.label.clone(),
        reconstruction: f.reconstruction,
        value,
        test: f.median_test(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fitbench_core::{Activation, Architecture};
    use fitbench_report::RunConfig;
    use fitbench_report::schema::{CurvePoint, MSE_UNITS, RunSeeds, RunSummary, SCHEMA_VERSION};
    use serde_json::json;

    /// The label of the made-up reconstruction of the tests.
    const RECON: &str = "recon";

    /// A finished run of `trainer` on dataset `d`, split `rep`: `(time_s, train_mse)` per
    /// evaluated point (test MSE = 2 × train MSE); a trainer called `recon` records itself as a
    /// reconstruction. The labels are made up: nothing here depends on a trainer's name.
    fn run(trainer: &str, rep: usize, curve: &[(f64, f64)]) -> RunRecord {
        let id = trainer.split(':').next().unwrap_or(trainer);
        let mut config = json!({ "trainer": id });
        if id == RECON {
            config["reconstruction"] = json!(true);
        }
        let seeds = RunSeeds {
            split: rep as u64,
            init: 7,
            trainer: 7,
        };
        let mut r = RunRecord::pending("d", trainer, id, config, rep, seeds);
        let mut best = f64::INFINITY;
        r.curve = curve
            .iter()
            .enumerate()
            .map(|(iter, &(time_s, train_mse))| {
                best = best.min(train_mse);
                CurvePoint {
                    iter,
                    time_s,
                    train_mse,
                    test_mse: 2.0 * train_mse,
                    best_train_mse: best,
                    current_train_mse: None,
                    current_test_mse: None,
                    off_schedule: false,
                }
            })
            .collect();
        r.summary = RunSummary::from_curve(&r.curve, &[]);
        r.iterations = curve.len() - 1;
        r.status = Status::MaxIters;
        r
    }

    /// A report of one dataset `d` (three splits, L₀ = 1) holding `runs`.
    fn report(runs: Vec<RunRecord>) -> Report {
        let splits: Vec<_> = (0..3)
            .map(|rep| json!({ "repetition": rep, "ridge": 0.0, "train_mse": 0.5, "test_mse": 0.6, "null_train_mse": 1.0 }))
            .collect();
        let dataset = json!({ "name": "d", "source": "unit test", "n": 10, "n_train": 8, "n_test": 2, "d": 1, "k": 1, "feature_names": ["x"], "target_names": ["y"], "linear_reference": splits });
        let environment = json!({ "fitbench_version": "0", "git_commit": "none", "git_dirty": null, "rustc": "-", "profile": "test", "os": "-", "cpu": "-", "cores": 1, "threads": 1, "hostname": "-", "faer_version": "-", "burn_version": null, "started_unix_s": 0 });
        Report {
            schema_version: SCHEMA_VERSION,
            mse_units: MSE_UNITS.into(),
            environment: serde_json::from_value(environment).unwrap(),
            config: RunConfig {
                seeds: 3,
                ..RunConfig::default()
            },
            architecture: Architecture::new(vec![4], Activation::Tanh),
            datasets: vec![serde_json::from_value(dataset).unwrap()],
            runs,
            tuning: vec![],
            merge: None,
        }
    }

    /// Three seeds of `fast` (fast to 1e-2, best 9e-3), `precise` (slow, best 1e-3, 1.5
    /// evaluations per step) and `recon` (best 0.2). L* = 1e-3, so the level is 1.099e-2.
    fn three_trainers() -> Report {
        let mut runs = Vec::new();
        for rep in 0..3 {
            runs.push(run(RECON, rep, &[(0.0, 1.0), (0.001, 0.2)]));
            runs.push(run("fast", rep, &[(0.0, 1.0), (0.01, 0.01), (0.1, 0.009)]));
            let mut precise = run("precise", rep, &[(0.0, 1.0), (0.05, 0.012), (0.2, 0.001)]);
            precise.counters.insert("evaluations".into(), 3.0);
            runs.push(precise);
        }
        report(runs)
    }

    fn section(report: &Report) -> String {
        classical_section(&[("khadilkar".to_string(), report)]).unwrap()
    }

    #[test]
    fn the_classical_table_has_a_row_per_trainer() {
        let text = section(&three_trainers());
        assert!(text.starts_with("## Classical baselines\n"), "{text}");
        let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("| `")).collect();
        assert_eq!(rows.len(), 3, "{text}");
        assert!(
            rows[0].starts_with(
                "| `recon` *(our reconstruction)* | 2.000e-1 | 4.000e-1 | n/a (0 of 3 runs) | – |"
            ),
            "{text}"
        );
        assert!(
            rows[1].starts_with("| `fast` | 9.000e-3 | 1.800e-2 | 10.0 ms | – |"),
            "{text}"
        );
        assert!(
            rows[2].starts_with("| `precise` | 1.000e-3 | 2.000e-3 | 200.0 ms | 1.50 |"),
            "{text}"
        );
    }

    #[test]
    fn the_classical_winners_are_the_lowest_and_the_fastest() {
        let text = section(&three_trainers());
        let line = "- d: lowest median train MSE `precise` (1.000e-3, test MSE 2.000e-3); first to r ≤ 1e-2 `fast` (10.0 ms, test MSE 1.800e-2).";
        assert!(text.contains(line), "{text}");
    }

    #[test]
    fn the_classical_time_is_na_when_fewer_than_half_reach_the_level() {
        let mut runs = Vec::new();
        for rep in 0..3 {
            runs.push(run("fast", rep, &[(0.0, 1.0), (0.01, 0.001)]));
            let erratic = if rep == 0 { 0.001 } else { 0.5 };
            runs.push(run("erratic", rep, &[(0.0, 1.0), (0.02, erratic)]));
            let late = if rep == 2 { 0.5 } else { 0.001 };
            runs.push(run("late", rep, &[(0.0, 1.0), (0.03, late)]));
        }
        let text = section(&report(runs));
        assert!(
            text.contains("| `erratic` | 5.000e-1 | 1.000e0 | n/a (1 of 3 runs) |"),
            "{text}"
        );
        assert!(
            text.contains("| `late` | 1.000e-3 | 2.000e-3 | 30.0 ms (2 of 3 runs) |"),
            "{text}"
        );
        assert!(text.contains("first to r ≤ 1e-2 `fast` (10.0 ms"), "{text}");
    }

    #[test]
    fn a_trainer_that_misses_the_level_is_not_favoured_by_timing_only_its_hits() {
        // precise: 10 and 30 ms and one miss (median of its hits 20 ms, of all runs 30 ms);
        // fast: 22 ms in every run.
        let precise_times = [0.010, 0.030, 0.010];
        let runs = (0..3)
            .flat_map(|rep| {
                let precise_loss = if rep == 2 { 0.5 } else { 0.001 };
                [
                    run("fast", rep, &[(0.0, 1.0), (0.022, 0.001)]),
                    run(
                        "precise",
                        rep,
                        &[(0.0, 1.0), (precise_times[rep], precise_loss)],
                    ),
                ]
            })
            .collect();
        let text = section(&report(runs));
        assert!(text.contains("first to r ≤ 1e-2 `fast` (22.0 ms"), "{text}");
        assert!(text.contains("30.0 ms (2 of 3 runs)"), "{text}");
    }

    #[test]
    fn no_trainer_is_first_when_none_reaches_the_level_in_half_its_runs() {
        // Each trainer is the best on one split only, so reaches the level once in three.
        let trainers = ["fast", "erratic", "late"];
        let runs = (0..3)
            .flat_map(|rep| {
                trainers.iter().enumerate().map(move |(i, t)| {
                    let loss = if i == rep { 0.001 } else { 0.5 };
                    run(t, rep, &[(0.0, 1.0), (0.01, loss)])
                })
            })
            .collect();
        let text = section(&report(runs));
        assert_eq!(text.matches("| n/a (1 of 3 runs) |").count(), 3, "{text}");
        assert!(
            text.contains(
                "first to r ≤ 1e-2 no trainer (none reached it in more than half its runs)."
            ),
            "{text}"
        );
    }

    /// The roles of the preset `name`.
    fn roles(name: &str) -> (&'static Preset, Reproduction) {
        let preset = crate::presets::preset(name).unwrap();
        (preset, preset.reproduction.unwrap())
    }

    /// `report` with the runs labelled `from` relabelled `to` (a label that is its trainer's
    /// registry name).
    fn relabel(mut report: Report, from: &str, to: &str) -> Report {
        for r in report.runs.iter_mut().filter(|r| r.trainer == from) {
            r.trainer = to.into();
            r.trainer_id = to.into();
        }
        report
    }

    #[test]
    fn render_puts_the_classical_section_after_barbu() {
        let dir = tempfile::tempdir().unwrap();
        let (_, barbu) = roles("barbu");
        let report = relabel(three_trainers(), RECON, barbu.under_test);
        let report = relabel(report, "fast", barbu.baselines[0]);
        let folder = dir.path().join("barbu").join("h32");
        std::fs::create_dir_all(&folder).unwrap();
        fitbench_report::io::write_report(&report, &folder).unwrap();
        let text = render(dir.path()).unwrap();
        let barbu_at = text.find("## Barbu 2023").unwrap();
        let classical_at = text.find("## Classical baselines").unwrap();
        assert!(barbu_at < classical_at, "{text}");
        assert!(text.contains("### `results/barbu/h32`:"), "{text}");
        // The roles come from the preset: its baseline is compared, `precise` (the lowest
        // loss, but no baseline of the preset) is not.
        let row = format!("| d | 2.000e-1 | `{}` 9.000e-3 | no |", barbu.baselines[0]);
        assert!(text.contains(&row), "{text}");
        assert!(!text.contains("Khadilkar"), "{text}");
    }

    #[test]
    fn the_khadilkar_comparison_is_with_the_presets_baselines_only() {
        let (preset, khadilkar) = roles("khadilkar");
        let report = relabel(three_trainers(), RECON, khadilkar.under_test);
        let report = relabel(report, "fast", khadilkar.baselines[0]);
        let reproduced = Reproduced::new(preset, vec![(None, report)]).unwrap();
        let text = khadilkar_section(&reproduced).unwrap();
        let under = khadilkar.under_test;
        let baseline = khadilkar.baselines[0];
        for line in [
            format!(
                "| trainer | best train MSE, median [min, max] | spread max/min | failed runs | time to {under}'s median best (2.000e-1) | tuning-inclusive | test MSE at best train (median) | ‖∇L‖/‖∇L₀‖ (median; stationary runs) |"
            ),
            format!(
                "| `{under}` | 2.000e-1 [2.00e-1, 2.00e-1] | 1.00 | 0/3 | 1.0 ms (3/3) | 1.0 ms | 4.000e-1 | – (0/0) |"
            ),
            format!(
                "| `{baseline}` | 9.000e-3 [9.00e-3, 9.00e-3] | 1.00 | 0/3 | 10.0 ms (3/3) | 10.0 ms | 1.800e-2 | – (0/0) |"
            ),
            format!(
                "On this dataset: {under} reaches its own median best faster than the fastest gradient method (1.0 ms vs 10.0 ms), and faster with tuning charged (1.0 ms vs 10.0 ms); its final loss is higher than the best gradient method's (`{baseline}`: 9.000e-3, 22.2× higher for {under}); it is not more stable by the measures above."
            ),
            format!(
                "**Verdict.** Across 1 small problems the reconstruction is faster to its own final loss on 1 (on 1 with every trainer charged its tuning), reaches a lower final training loss than the best tuned gradient method on 0, and is more stable on 0; 0 {under} runs diverged. Its median best train MSE is 22.2× to 22.2× that of the best tuned gradient method. Where it is faster, it is faster only to the loose level it reaches itself. This tests"
            ),
        ] {
            assert!(text.contains(&line), "lacks {line}:\n{text}");
        }
    }

    #[test]
    fn the_khadilkar_template_words_a_hand_built_context() {
        let row = |label: &str, median_best: f64, time: Option<f64>| KhadilkarRow {
            label: label.into(),
            median_best,
            min_best: median_best / 2.0,
            max_best: median_best * 2.0,
            spread: 4.0,
            failed: 0,
            runs: 2,
            time,
            reached: usize::from(time.is_some()) * 2,
            total: 2,
            time_inclusive: time.map(|t| t + 1.0),
            test: f64::NAN,
            stationary: Stationary {
                median: Some(2e-4),
                stationary: 1,
                certified: 2,
            },
        };
        let comparison = KhadilkarComparison {
            faster: false,
            time: None,
            baseline_time: Some(0.5),
            lower: true,
            baseline: "base".into(),
            baseline_best: 0.2,
            ratio: 0.5,
            factor: 2.0,
            stabler: true,
            faster_inclusive: false,
            time_inclusive: None,
            baseline_time_inclusive: Some(1.5),
        };
        let context = KhadilkarContext {
            charged: true,
            folder: "k".into(),
            preset: "kp",
            under_test: "tested",
            trainer: "tested".into(),
            config: r#"{"knob":1}"#.into(),
            settings: Settings::of(&three_trainers()),
            datasets: vec![KhadilkarDataset {
                name: "toy".into(),
                n: 10,
                d: 2,
                tuned: vec![Tuned {
                    trainer: "base".into(),
                    option: "lr".into(),
                    lr: "0.1".into(),
                }],
                ols_train_mse: 0.25,
                level: 0.1,
                rows: vec![row("tested", 0.1, None), row("base", 0.2, Some(0.5))],
                comparison: Some(comparison),
            }],
            verdict: KhadilkarVerdict {
                datasets: 3,
                faster: 0,
                faster_inclusive: 0,
                lower: 1,
                stabler: 1,
                diverged: 2,
                ratios: None,
            },
        };
        let text = render_template("khadilkar.md.j2", &context).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "## Khadilkar 2023 (arXiv 2307.05189): least-squares training vs gradient descent"
        );
        for line in [
            "Source: `results/k/report.json` and `results/k/summary.md` (written by `fitbench run --preset kp`).",
            "### toy (10×2)",
            "Tuned: base lr 0.1. Linear reference (OLS) train MSE 2.500e-1.",
            "| `tested` | 1.000e-1 [5.00e-2, 2.00e-1] | 4.00 | 0/2 | not reached (0/2) | not reached | NaN | 2.00e-4 (1/2) |",
            "| `base` | 2.000e-1 [1.00e-1, 4.00e-1] | 4.00 | 0/2 | 500.0 ms (2/2) | 1.50 s | NaN | 2.00e-4 (1/2) |",
            "On this dataset: tested reaches its own median best no faster than the fastest gradient method (not reached vs 500.0 ms), and no faster with tuning charged (not reached vs 1.50 s); its final loss is lower than the best gradient method's (`base`: 2.000e-1, 2.0× lower for tested); it is more stable by the measures above.",
            "**Verdict.** Across 3 small problems the reconstruction is faster to its own final loss on 0 (on 0 with every trainer charged its tuning), reaches a lower final training loss than the best tuned gradient method on 1, and is more stable on 1; 2 tested runs diverged. This tests our reconstruction, not the paper's unpublished algorithm: a different update order, damping or regularisation could behave differently, which is why every knob is recorded.",
        ] {
            assert!(lines.contains(&line), "lacks {line}:\n{text}");
        }
        assert!(text.contains("(knobs: `{\"knob\":1}`)"), "{text}");
        assert!(
            text.contains(
                "Network hidden [4] tanh, the same initial weights for every trainer, 3 seeds, "
            ),
            "{text}"
        );
        // The table follows its heading after one blank line; the section ends in one.
        let table = lines
            .iter()
            .position(|l| l.starts_with("| trainer |"))
            .unwrap();
        assert_eq!(lines[table - 1], "");
        assert!(lines[table - 2].starts_with("Tuned: "), "{text}");
        assert!(text.ends_with("recorded.\n\n"), "{text:?}");
    }

    #[test]
    fn the_barbu_template_words_a_hand_built_context() {
        let context = BarbuContext {
            preset: "bp",
            under_test: "tested",
            sources: vec!["bp/h1".into(), "bp/h2".into()],
            config: "{}".into(),
            widths: vec![BarbuWidth {
                settings: Settings::of(&three_trainers()),
                sub: "h1".into(),
                rows: vec![BarbuRow {
                    dataset: "toy".into(),
                    median_best: 0.01,
                    baseline: "base".into(),
                    baseline_best: 0.02,
                    significant: true,
                    time: Some(0.002),
                    reached: 3,
                    total: 5,
                    test: 0.5,
                    baseline_test: 0.25,
                    ols_test: 1.0,
                    baseline_time: Some(0.004),
                    time_inclusive: Some(0.012),
                    baseline_time_inclusive: Some(0.009),
                    faster: true,
                    faster_inclusive: false,
                    stationary: Stationary {
                        median: Some(0.5),
                        stationary: 0,
                        certified: 5,
                    },
                    baseline_stationary: Stationary {
                        median: None,
                        stationary: 0,
                        certified: 0,
                    },
                    tuned: vec![Tuned {
                        trainer: "tested".into(),
                        option: "lambda".into(),
                        lr: "0.01".into(),
                    }],
                }],
                smaller: 1,
                datasets: 4,
                faster: 1,
                faster_inclusive: 0,
                charged: false,
                default: None,
            }],
        };
        let text = render_template("barbu.md.j2", &context).unwrap();
        for line in [
            "Source: `results/bp/h1/report.json`, `results/bp/h2/report.json` (written by `fitbench run --preset bp`).",
            "### hidden [4] tanh (h1, 3 seeds, 10 s per run)",
            "| dataset | tested best train MSE | best gradient (median) | significantly smaller? | time to the gradient method's median best: tested / gradient | tuning-inclusive: tested / gradient | tested test MSE at best train | gradient test MSE at best train | OLS test MSE | ‖∇L‖/‖∇L₀‖ tested / gradient (median; stationary runs) | picked |",
            "| toy | 1.000e-2 | `base` 2.000e-2 | yes | 2.0 ms (3/5) / 4.0 ms | 12.0 ms / 9.0 ms | 5.000e-1 | 2.500e-1 | 1.000e0 | 5.00e-1 (0/5) / – (0/0) | tested lambda 0.01 |",
            "At this width the analytic solver reaches a significantly smaller training loss on 1 of 4 datasets (the paper: 4 of 5). It reaches the best gradient method's median best before that method on 1 of 4 datasets, and on 0 with every trainer charged its tuning. **This report was written before fitbench recorded each grid trial's time: its tuning-inclusive times omit the search and are not a verdict.** Compare the test columns: a lower training loss that comes with a higher test loss than OLS is overfitting, not a better model.",
        ] {
            assert!(text.lines().any(|l| l == line), "lacks {line}:\n{text}");
        }
    }

    #[test]
    fn the_filters_write_numbers_as_rust_does() {
        assert_eq!(sci(Some(0.01), None), "1e-2");
        assert_eq!(sci(Some(1234.5), Some(2)), "1.23e3");
        assert_eq!(sci(None, Some(3)), "–");
        assert_eq!(fixed(Some(2.345), 1), "2.3");
        assert_eq!(fixed(None, 2), "–");
        assert_eq!(duration_filter(Some(0.0123), None), "12.3 ms");
        assert_eq!(
            duration_filter(None, Some("not reached".into())),
            "not reached"
        );
    }

    #[test]
    fn the_committed_reproduction_document_is_what_the_committed_reports_render() {
        let results = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../results");
        let committed = std::fs::read_to_string(results.join("REPRODUCTION.md")).unwrap();
        let rendered = render(&results).unwrap();
        if rendered != committed {
            let line = rendered
                .lines()
                .zip(committed.lines())
                .position(|(a, b)| a != b)
                .map_or("the length".into(), |i| format!("line {}", i + 1));
            panic!(
                "results/REPRODUCTION.md differs from what `fitbench reproduction` renders (first at {line}); regenerate it with `fitbench reproduction`"
            );
        }
    }
}
