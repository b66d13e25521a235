//! The `report.json` schema. Every struct here is (de)serialised as is; field names carry
//! units (`_s` = seconds of wall time, `_mse` = mean squared error in standardised-target
//! units). Bump [`SCHEMA_VERSION`] on any incompatible change and update `docs/report-schema.md`.

use crate::config::{RunConfig, TuningRecord};
use fitbench_core::{Architecture, Dataset};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of this schema.
pub const SCHEMA_VERSION: u32 = 1;

/// The unit every MSE in a report is measured in.
pub const MSE_UNITS: &str = "standardised target units: the target is centred and scaled by the training split's mean and standard deviation, so predicting the training mean scores about 1";

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The trainer said it had nothing left to do.
    Converged,
    /// The iteration cap was reached.
    MaxIters,
    /// The training-time budget was used up.
    Timeout,
    /// The training MSE reached the configured target.
    TargetReached,
    /// No sufficient improvement within the patience.
    Stalled,
    /// The loss became NaN or infinite.
    Diverged,
    /// `init` or `step` returned an error (or the split failed).
    Error,
    /// `init`, `step` or `params` panicked.
    Panicked,
    /// The sweep was interrupted (SIGINT/SIGTERM) while this run was in flight; what it had
    /// done is kept, but it did not end on its own terms.
    Interrupted,
    /// A trainer running in another process (`fitbench_external`) gave no answer within its
    /// per-message timeout and was killed. Not [`Status::Timeout`], which is a run that used
    /// its training-time budget and ended normally.
    Unresponsive,
}

impl Status {
    /// Whether the run ended normally (not diverged, failed or panicked).
    pub fn is_ok(self) -> bool {
        !matches!(
            self,
            Status::Diverged
                | Status::Error
                | Status::Panicked
                | Status::Interrupted
                | Status::Unresponsive
        )
    }

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Converged => "converged",
            Status::MaxIters => "max_iters",
            Status::Timeout => "timeout",
            Status::TargetReached => "target_reached",
            Status::Stalled => "stalled",
            Status::Diverged => "diverged",
            Status::Error => "error",
            Status::Panicked => "panicked",
            Status::Interrupted => "interrupted",
            Status::Unresponsive => "unresponsive",
        }
    }
}

/// One evaluation of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Steps done (0 = the initial network).
    pub iter: usize,
    /// Training time so far: the sum of the timed `step` calls, in seconds.
    #[serde(with = "crate::float")]
    pub time_s: f64,
    /// Training MSE of the current parameters.
    #[serde(with = "crate::float")]
    pub train_mse: f64,
    /// Test MSE of the current parameters.
    #[serde(with = "crate::float")]
    pub test_mse: f64,
    /// Best training MSE seen so far (over evaluated points).
    #[serde(with = "crate::float")]
    pub best_train_mse: f64,
    /// Train MSE of the latest iterate, for trainers whose parameters are a selection
    /// (e.g. best-so-far); absent otherwise.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::float::option"
    )]
    pub current_train_mse: Option<f64>,
    /// Test MSE of the latest iterate (see `current_train_mse`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::float::option"
    )]
    pub current_test_mse: Option<f64>,
    /// Evaluated because training time had passed (or the time budget ended the run), not
    /// because the iteration schedule asked: present only in some repetitions of a run, so
    /// the deterministic metrics ignore it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub off_schedule: bool,
}

/// The seeds of one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSeeds {
    /// Seed of the train/test split (shared by every trainer of the repetition).
    pub split: u64,
    /// Seed of the initial weights (shared by every trainer of the repetition).
    pub init: u64,
    /// Seed passed to the trainer's `init` (e.g. mini-batch order).
    pub trainer: u64,
}

/// When a training-MSE target was first met (at an evaluated point).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetHit {
    /// The target, in standardised units.
    #[serde(with = "crate::float")]
    pub target: f64,
    /// First evaluated iteration with train MSE ≤ target; `None` if never.
    pub iter: Option<usize>,
    /// Training time at that iteration: the *selection-honest* time to the target
    /// ([`crate::charge`]).
    #[serde(default, with = "crate::float::option")]
    pub time_s: Option<f64>,
    /// `time_s` plus the training time of every other trial of the grid search that picked
    /// this run's configuration (equal to `time_s` without a search).
    #[serde(default, with = "crate::float::option")]
    pub tuning_inclusive_s: Option<f64>,
    /// The fastest way to the target in hindsight: the smaller of `time_s` and any other
    /// grid trial's time to it ([`crate::charge`]).
    #[serde(default, with = "crate::float::option")]
    pub optimistic_s: Option<f64>,
}

/// Summary of a run's curve.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Train MSE of the initial network.
    #[serde(default, with = "crate::float::option")]
    pub initial_train_mse: Option<f64>,
    /// Lowest train MSE over evaluated points.
    #[serde(default, with = "crate::float::option")]
    pub best_train_mse: Option<f64>,
    /// Train MSE at the last evaluated point.
    #[serde(default, with = "crate::float::option")]
    pub final_train_mse: Option<f64>,
    /// Lowest test MSE over evaluated points (an optimistic, test-selected figure).
    #[serde(default, with = "crate::float::option")]
    pub best_test_mse: Option<f64>,
    /// Test MSE at the last evaluated point.
    #[serde(default, with = "crate::float::option")]
    pub final_test_mse: Option<f64>,
    /// Test MSE at the point of lowest train MSE.
    #[serde(default, with = "crate::float::option")]
    pub test_mse_at_best_train: Option<f64>,
    /// First hits of each configured target.
    pub targets: Vec<TargetHit>,
}

fn finite_min(v: impl Iterator<Item = f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
        .fold(None, |m, x| Some(m.map_or(x, |m: f64| m.min(x))))
}

impl RunSummary {
    /// Summarises `curve` against `targets`.
    pub fn from_curve(curve: &[CurvePoint], targets: &[f64]) -> Self {
        let best_point = curve
            .iter()
            .filter(|p| p.train_mse.is_finite())
            .min_by(|a, b| a.train_mse.total_cmp(&b.train_mse));
        Self {
            initial_train_mse: curve.first().map(|p| p.train_mse),
            best_train_mse: finite_min(curve.iter().map(|p| p.train_mse)),
            final_train_mse: curve.last().map(|p| p.train_mse),
            best_test_mse: finite_min(curve.iter().map(|p| p.test_mse)),
            final_test_mse: curve.last().map(|p| p.test_mse),
            test_mse_at_best_train: best_point.map(|p| p.test_mse),
            targets: targets
                .iter()
                .map(|&target| {
                    let hit = curve.iter().find(|p| p.train_mse <= target);
                    TargetHit {
                        target,
                        iter: hit.map(|p| p.iter),
                        time_s: hit.map(|p| p.time_s),
                        tuning_inclusive_s: hit.map(|p| p.time_s),
                        optimistic_s: hit.map(|p| p.time_s),
                    }
                })
                .collect(),
        }
    }
}

/// One (dataset, trainer, repetition) run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Dataset name.
    pub dataset: String,
    /// Trainer label (registry string with options).
    pub trainer: String,
    /// Trainer id: the registry entry's name (`TrainerEntry::name`), also the `"trainer"` tag of `trainer_config`.
    pub trainer_id: String,
    /// Full trainer configuration.
    pub trainer_config: serde_json::Value,
    /// Architecture the trainer trained (`None` if it could not say).
    pub architecture: Option<Architecture>,
    /// Repetition index (0-based).
    pub repetition: usize,
    /// Seeds used.
    pub seeds: RunSeeds,
    /// How the run ended.
    pub status: Status,
    /// Why, when there is more to say (errors, panics, divergence, stalls).
    pub message: Option<String>,
    /// Time spent in the trainer's `init`, in seconds (not training time).
    #[serde(with = "crate::float")]
    pub setup_s: f64,
    /// Training time: the sum of the timed `step` calls, in seconds.
    #[serde(with = "crate::float")]
    pub train_s: f64,
    /// Time spent evaluating (untimed for the trainer), in seconds.
    #[serde(with = "crate::float")]
    pub eval_s: f64,
    /// Steps done.
    pub iterations: usize,
    /// Model flops of one step, when the trainer knows.
    #[serde(default, with = "crate::float::option")]
    pub flops_per_step: Option<f64>,
    /// The trainer's own counts of work done (e.g. `evaluations`: loss-and-gradient
    /// evaluations of a trainer with a line search), read after the last step.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counters: BTreeMap<String, f64>,
    /// Evaluated points.
    pub curve: Vec<CurvePoint>,
    /// Summary of the curve.
    pub summary: RunSummary,
    /// Identity of the run (see `fitbench_harness::runner::fingerprint`): `--resume` reuses a
    /// finished run with the same fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Hash of the part of the sweep configuration that changes results (see
    /// `fitbench_harness::runner::config_hash`): `fitbench report` leaves out a record of an
    /// earlier configuration that a `--resume` with changed settings has not yet replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_hash: Option<String>,
    /// Deterministic convergence metrics (filled when the report is built; absent when no
    /// reference could be found, e.g. the split failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<ConvergenceMetrics>,
    /// The machine, build and calibration the run ran with (absent in reports written before
    /// fitbench recorded it per run). Runs of one report can come from different machines
    /// (`fitbench merge`), so `fitbench check` normalises each run's timings by its own
    /// calibration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    /// Heap use of the run, counted by the harness's counting allocator; absent when it was
    /// not measured (several runs at once, or a binary without the counting allocator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryRecord>,
    /// What the trainer said of itself once started (`Trainer::info`): for a trainer in
    /// another process, its name, versions, options and measured protocol overhead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trainer_info: Option<serde_json::Value>,
    /// The stationarity certificate of the run's final parameters (absent for a run that did
    /// not step, or in reports written before fitbench computed it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stationarity: Option<Stationarity>,
}

/// A run's final parameters are called stationary when the gradient norm of the training
/// loss there is at most this fraction of its norm at the initial network.
pub const STATIONARY_RATIO: f64 = 1e-3;

/// The gradient norm of the training MSE (standardised units, no penalty) at a run's final
/// parameters, against the initial network's: computed by the harness after the last step,
/// untimed, with the faer engine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stationarity {
    /// ‖∇L‖₂ at the initial network.
    #[serde(with = "crate::float")]
    pub grad_norm_initial: f64,
    /// ‖∇L‖₂ at the parameters the trainer reports (its best or final iterate).
    #[serde(with = "crate::float")]
    pub grad_norm: f64,
    /// `grad_norm / grad_norm_initial` (0 when both are 0).
    #[serde(with = "crate::float")]
    pub ratio: f64,
    /// The same ratio at the trainer's latest iterate, for a trainer that reports a selection
    /// (e.g. the best iterate so far) apart from it.
    #[serde(default, with = "crate::float::option")]
    pub current_ratio: Option<f64>,
    /// For (leaky) ReLU networks: the fraction of hidden units whose activation pattern on
    /// the training rows changed in the last step (`None` for smooth activations, runs
    /// without a step, and trainers whose parameters live in another process).
    #[serde(default, with = "crate::float::option")]
    pub pattern_changed: Option<f64>,
}

impl Stationarity {
    /// Whether the final parameters are stationary ([`STATIONARY_RATIO`]).
    pub fn is_stationary(&self) -> bool {
        self.ratio <= STATIONARY_RATIO
    }
}

/// Heap use of one run, in bytes above what was live when the run started (the data, its
/// split and the harness's own state), counted by `fitbench_harness::alloc::Counting`: heap
/// bytes requested, not resident memory. Counts are of allocation calls (reallocations
/// included).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryRecord {
    /// Bytes live when the run started, which the other figures are measured above.
    pub baseline_bytes: u64,
    /// Peak during the trainer's `init`.
    pub init_peak_bytes: u64,
    /// Live after `init`: the trainer's buffers.
    pub retained_bytes: u64,
    /// Peak during any timed `step` call.
    pub step_peak_bytes: u64,
    /// Peak during the harness's evaluations above the bytes live when each began: the
    /// shared f64 loss's own buffers, not the trainer's.
    pub eval_peak_bytes: u64,
    /// Allocation calls during `init`.
    pub init_allocations: u64,
    /// Allocation calls during all timed `step` calls together.
    pub step_allocations: u64,
    /// Bytes those calls requested.
    pub step_allocated_bytes: u64,
}

impl MemoryRecord {
    /// The trainer's peak: the larger of its `init` and `step` peaks (evaluation excluded).
    pub fn peak_bytes(&self) -> u64 {
        self.init_peak_bytes.max(self.step_peak_bytes)
    }

    /// Allocation calls per timed step (`None` before any step).
    pub fn allocations_per_step(&self, iterations: usize) -> Option<f64> {
        (iterations > 0).then(|| self.step_allocations as f64 / iterations as f64)
    }
}

/// Where one run ran: the per-run part of [`Environment`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// Host name.
    pub hostname: String,
    /// CPU model.
    pub cpu: String,
    /// Git commit of the source tree the binary was built from (or "unknown").
    pub git_commit: String,
    /// Whether tracked files differed from the commit.
    pub git_dirty: Option<bool>,
    /// fitbench version.
    pub fitbench_version: String,
    /// Threads the run was allowed (faer and rayon).
    pub threads: usize,
    /// Runs the process ran at once (`--jobs`); above 1 they shared memory bandwidth and
    /// caches, which slows each of them down.
    pub jobs: usize,
    /// The calibration kernel's throughput (GFLOP/s) measured by the process that ran the run,
    /// before its first run.
    #[serde(default, with = "crate::float::option")]
    pub calibration_gflops: Option<f64>,
}

impl Provenance {
    /// The per-run part of `environment`, with the calibration `gflops`.
    pub fn of(environment: &Environment, gflops: Option<f64>) -> Self {
        Self {
            hostname: environment.hostname.clone(),
            cpu: environment.cpu.clone(),
            git_commit: environment.git_commit.clone(),
            git_dirty: environment.git_dirty,
            fitbench_version: environment.fitbench_version.clone(),
            threads: environment.threads,
            jobs: environment.jobs,
            calibration_gflops: gflops,
        }
    }
}

impl RunRecord {
    /// A run that says it converged although its final parameters are not stationary
    /// ([`Stationarity::is_stationary`]): "stopped, not stationary".
    pub fn stopped_not_stationary(&self) -> bool {
        self.status == Status::Converged
            && self
                .stationarity
                .as_ref()
                .is_some_and(|s| !s.is_stationary())
    }

    /// A run that has not started yet: no curve, status `error` until the run loop sets one.
    pub fn pending(
        dataset: &str,
        trainer: &str,
        trainer_id: &str,
        trainer_config: serde_json::Value,
        repetition: usize,
        seeds: RunSeeds,
    ) -> Self {
        Self {
            dataset: dataset.into(),
            trainer: trainer.into(),
            trainer_id: trainer_id.into(),
            trainer_config,
            architecture: None,
            repetition,
            seeds,
            status: Status::Error,
            message: None,
            setup_s: 0.0,
            train_s: 0.0,
            eval_s: 0.0,
            iterations: 0,
            flops_per_step: None,
            counters: BTreeMap::new(),
            curve: vec![],
            summary: RunSummary::default(),
            fingerprint: None,
            config_hash: None,
            metrics: None,
            provenance: None,
            memory: None,
            trainer_info: None,
            stationarity: None,
        }
    }
}

/// The closed-form linear model's MSE on one split (the dashed line of every plot).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinearReference {
    /// Repetition (split) it belongs to.
    pub repetition: usize,
    /// Ridge used (always 0: the reference is the minimum-norm least-squares solution).
    #[serde(with = "crate::float")]
    pub ridge: f64,
    /// Train MSE.
    #[serde(with = "crate::float")]
    pub train_mse: f64,
    /// Test MSE.
    #[serde(with = "crate::float")]
    pub test_mse: f64,
    /// Train MSE of predicting the training mean (`L₀` of [`crate::metrics`]).
    #[serde(default = "one", with = "crate::float")]
    pub null_train_mse: f64,
    /// Numerical rank of the training design `[X 1]` (full rank = features + 1), decided
    /// with the relative tolerance max(n, d + 1)·ε on its singular values (see
    /// `fitbench_core::linalg::min_norm_lstsq`); absent in reports written before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rank: Option<usize>,
    /// Features constant on this training split, dropped by the standardisation (they are
    /// all zeros for every trainer).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped_features: Vec<String>,
}

fn one() -> f64 {
    1.0
}

/// A dataset of the sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetInfo {
    /// Name.
    pub name: String,
    /// Provenance (package, file, generator and seed, licence).
    pub source: String,
    /// Rows.
    pub n: usize,
    /// Training rows per split.
    pub n_train: usize,
    /// Test rows per split.
    pub n_test: usize,
    /// Features.
    pub d: usize,
    /// Targets.
    pub k: usize,
    /// Feature names.
    pub feature_names: Vec<String>,
    /// Target names.
    pub target_names: Vec<String>,
    /// Linear reference per repetition.
    pub linear_reference: Vec<LinearReference>,
    /// A noise-free planted teacher: the infimum of the train MSE is exactly 0.
    #[serde(default)]
    pub noise_free_teacher: bool,
    /// Rows that are exact copies (same features and targets) of an earlier row
    /// ([`Dataset::duplicate_rows`]); 0, and absent from the file, when there are none or the
    /// report predates the count.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub duplicate_rows: usize,
    /// Per repetition (whose split could be made), the test rows that have an exact copy among
    /// the training rows (their
    /// test error is not out-of-sample). Filled by the sweep only when
    /// [`DatasetInfo::duplicate_rows`] > 0; empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test_rows_in_train: Vec<usize>,
}

fn is_zero(v: &usize) -> bool {
    *v == 0
}

impl DatasetInfo {
    /// The feature columns that some split's standardisation dropped as constant, sorted,
    /// each once.
    pub fn dropped_features(&self) -> Vec<&str> {
        let mut dropped: Vec<&str> = self
            .linear_reference
            .iter()
            .flat_map(|r| r.dropped_features.iter().map(String::as_str))
            .collect();
        dropped.sort_unstable();
        dropped.dedup();
        dropped
    }

    /// Describes `data` (and counts its duplicate rows); split sizes and the duplicates that
    /// cross each split are filled in by the sweep.
    pub fn new(name: &str, data: &Dataset, test_fraction: f64) -> Self {
        let n_test = ((data.n() as f64 * test_fraction).round() as usize).max(1);
        Self {
            name: name.into(),
            source: data.provenance.clone(),
            n: data.n(),
            n_train: data.n().saturating_sub(n_test),
            n_test,
            d: data.d(),
            k: data.k(),
            feature_names: data.feature_names.clone(),
            target_names: data.target_names.clone(),
            linear_reference: vec![],
            noise_free_teacher: false,
            duplicate_rows: data.duplicate_rows(),
            test_rows_in_train: vec![],
        }
    }

    /// Median linear-reference train MSE over repetitions.
    pub fn reference_train_mse(&self) -> Option<f64> {
        crate::stats::median(self.linear_reference.iter().map(|r| r.train_mse).collect())
    }

    /// Median linear-reference test MSE over repetitions.
    pub fn reference_test_mse(&self) -> Option<f64> {
        crate::stats::median(self.linear_reference.iter().map(|r| r.test_mse).collect())
    }
}

/// Where and with what the report was made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    /// fitbench version.
    pub fitbench_version: String,
    /// Git commit of the source tree (or "unknown").
    pub git_commit: String,
    /// Whether tracked files differed from the commit.
    pub git_dirty: Option<bool>,
    /// Compiler that built the binary.
    pub rustc: String,
    /// Cargo profile (`release` or `debug`).
    pub profile: String,
    /// Operating system and architecture.
    pub os: String,
    /// CPU model.
    pub cpu: String,
    /// Logical cores available.
    pub cores: usize,
    /// Threads fitbench was allowed (faer and rayon).
    pub threads: usize,
    /// Runs at once (`fitbench run --jobs`, each single-threaded); 1 unless asked. Concurrent
    /// runs share memory bandwidth and caches, so their timings are slower than alone.
    #[serde(default = "one_job")]
    pub jobs: usize,
    /// Host name.
    pub hostname: String,
    /// faer version.
    pub faer_version: String,
    /// burn version, when the burn baseline is built in.
    pub burn_version: Option<String>,
    /// Seconds since the Unix epoch when the sweep started.
    pub started_unix_s: u64,
    /// The calibration kernel, measured in the process that ran the sweep; timing metrics
    /// are compared across reports in units of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
    /// How heap use was measured (the runs' `memory`), or why it was not; absent in reports
    /// written before fitbench measured it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_measurement: Option<String>,
}

/// Speed of a fixed compute kernel, measured in the same process as the runs it calibrates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// What was measured.
    pub kernel: String,
    /// Throughput of the best repetition, in GFLOP/s (best of the measurements before and
    /// after the sweep).
    #[serde(with = "crate::float")]
    pub gflops: f64,
    /// Every measurement (GFLOP/s): before the sweep, then after.
    pub measurements: Vec<f64>,
}

/// The whole report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Units of every MSE ([`MSE_UNITS`]).
    pub mse_units: String,
    /// Environment.
    pub environment: Environment,
    /// The resolved configuration.
    pub config: RunConfig,
    /// The network the run asked for.
    pub architecture: Architecture,
    /// Datasets.
    pub datasets: Vec<DatasetInfo>,
    /// Runs, in execution order.
    pub runs: Vec<RunRecord>,
    /// Learning-rate grid searches run before the comparison (empty when disabled).
    #[serde(default)]
    pub tuning: Vec<TuningRecord>,
    /// How the report was merged from shards (`fitbench merge`); absent for a sweep run in
    /// one process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<MergeRecord>,
}

fn one_job() -> usize {
    1
}

/// One run of a sweep, named by what identifies it within the sweep.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RunKey {
    /// Dataset name.
    pub dataset: String,
    /// Trainer label as written in the sweep.
    pub trainer: String,
    /// Repetition.
    pub repetition: usize,
}

impl RunKey {
    /// The key of `run`.
    pub fn of(run: &RunRecord) -> Self {
        Self {
            dataset: run.dataset.clone(),
            trainer: run.trainer.clone(),
            repetition: run.repetition,
        }
    }
}

impl std::fmt::Display for RunKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} / {} / rep {}",
            self.dataset, self.trainer, self.repetition
        )
    }
}

/// What `fitbench merge` put together.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MergeRecord {
    /// The folders merged, as given.
    pub folders: Vec<String>,
    /// Distinct git commits the merged runs were built from (sorted; "unknown" for runs
    /// that do not record one).
    pub commits: Vec<String>,
    /// Runs from different commits were merged on purpose (`--allow-mixed-commits`).
    pub allow_mixed_commits: bool,
    /// Runs of the sweep that no folder held, merged anyway (`--allow-missing`).
    pub missing: Vec<RunKey>,
}

impl Report {
    /// Trainer labels in the order they first appear in the runs.
    pub fn trainers(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in &self.runs {
            if !out.contains(&r.trainer) {
                out.push(r.trainer.clone());
            }
        }
        out
    }

    /// Checks the invariants a consumer relies on; returns every problem found.
    pub fn check(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.schema_version != SCHEMA_VERSION {
            problems.push(format!(
                "schema_version {} (expected {SCHEMA_VERSION})",
                self.schema_version
            ));
        }
        let expected = self.datasets.len() * self.config.seeds * self.config.trainers.len();
        if self.runs.len() != expected {
            problems.push(format!(
                "{} runs, expected datasets × seeds × trainers = {expected}",
                self.runs.len()
            ));
        }
        for r in &self.runs {
            let id = format!("run {} / {} / rep {}", r.dataset, r.trainer, r.repetition);
            if !self.datasets.iter().any(|d| d.name == r.dataset) {
                problems.push(format!("{id}: unknown dataset"));
            }
            if r.curve
                .windows(2)
                .any(|w| w[1].iter <= w[0].iter || w[1].time_s < w[0].time_s)
            {
                problems.push(format!(
                    "{id}: curve iterations or times are not increasing"
                ));
            }
            if r.curve
                .iter()
                .any(|p| p.best_train_mse > p.train_mse && p.train_mse.is_finite())
            {
                problems.push(format!("{id}: best_train_mse above train_mse"));
            }
            if r.status.is_ok() && r.curve.is_empty() {
                problems.push(format!("{id}: status {} but no curve", r.status.as_str()));
            }
        }
        problems
    }
}

/// A file-system-safe version of a dataset name.
pub fn slug(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    s.trim_matches('_').to_string()
}

// The deterministic convergence metrics of a run (computed by `crate::metrics`).

/// Where the best known loss comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferenceKind {
    /// Exact: the ordinary-least-squares optimum (runs of linear models).
    Ols,
    /// Exact: zero, the infimum of the MSE on a noise-free planted teacher.
    Zero,
    /// The lowest scheduled train MSE observed on the split by any run of the report.
    BestObserved,
}

impl ReferenceKind {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReferenceKind::Ols => "ols",
            ReferenceKind::Zero => "zero",
            ReferenceKind::BestObserved => "best_observed",
        }
    }
}

/// The loss scale a run's relative suboptimality is measured on.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    /// Where `train_mse` comes from.
    pub kind: ReferenceKind,
    /// `L*`: the best known train MSE on the split.
    #[serde(with = "crate::float")]
    pub train_mse: f64,
    /// `L₀`: train MSE of predicting the training mean.
    #[serde(with = "crate::float")]
    pub null_train_mse: f64,
}

impl Reference {
    /// `r(L) = (L − L*) / (L₀ − L*)`; the denominator is floored at 1e-300 so that a split
    /// with nothing to explain gives a finite value.
    pub fn relative_suboptimality(&self, loss: f64) -> f64 {
        (loss - self.train_mse) / (self.null_train_mse - self.train_mse).max(1e-300)
    }
}

/// When a run first reached a relative-suboptimality level (at a scheduled point).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SuboptimalityHit {
    /// The level (e.g. 0.01).
    #[serde(with = "crate::float")]
    pub level: f64,
    /// First scheduled iteration with `r ≤ level`; `None` if not reached.
    pub iter: Option<usize>,
    /// `iter × flops_per_step`, when the trainer counts its flops.
    #[serde(default, with = "crate::float::option")]
    pub flops: Option<f64>,
    /// Training time at that point (a timing figure, not deterministic).
    #[serde(default, with = "crate::float::option")]
    pub time_s: Option<f64>,
}

/// The train MSE after a fixed number of iterations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BudgetLoss {
    /// The iteration budget.
    pub iter: usize,
    /// Train MSE after exactly `iter` steps; for a run that converged earlier (its model no
    /// longer changes) the final train MSE; `None` if the run ended before `iter` otherwise.
    #[serde(default, with = "crate::float::option")]
    pub train_mse: Option<f64>,
}

/// The deterministic metrics of one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConvergenceMetrics {
    /// The loss scale.
    pub reference: Reference,
    /// Last scheduled iteration evaluated.
    pub horizon: usize,
    /// The time budget ended the run: levels not reached and budgets beyond `horizon` are
    /// unknown rather than missed.
    pub censored: bool,
    /// One entry per level of `RunConfig::suboptimality_targets`.
    pub targets: Vec<SuboptimalityHit>,
    /// One entry per `RunConfig::iteration_budgets`.
    pub budgets: Vec<BudgetLoss>,
}
