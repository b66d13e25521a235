//! The run configuration as recorded in every report (the harness resolves presets, TOML
//! files and command-line overrides into it) and its validation.

use crate::error::{ReportError, Result};
use serde::{Deserialize, Serialize};

/// When the harness evaluates the model (outside the timed region).
///
/// Every step up to `every_step_until`, then geometrically (next = ⌈iter·growth⌉), and in
/// any case once at least `max_interval_s` seconds of training time have passed since the
/// last evaluation, and at the end of every run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalSchedule {
    /// Evaluate after every step up to this iteration.
    pub every_step_until: usize,
    /// Geometric growth factor of the evaluation iterations afterwards (> 1).
    pub growth: f64,
    /// Longest stretch of training time without an evaluation, in seconds.
    pub max_interval_s: f64,
}

impl Default for EvalSchedule {
    fn default() -> Self {
        Self {
            every_step_until: 20,
            growth: 1.15,
            max_interval_s: 1.0,
        }
    }
}

/// Everything that defines a sweep. Serialised into every report as the resolved config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// Preset or config name (used for the output folder).
    pub name: String,
    /// Registry names of datasets (`fitbench list datasets`).
    pub datasets: Vec<String>,
    /// User CSV datasets.
    pub csv: Vec<CsvSpec>,
    /// Trainers as `NAME[:key=value,…]` (`fitbench list trainers`).
    pub trainers: Vec<String>,
    /// Repetitions per (dataset, trainer): each has its own split and initial weights.
    pub seeds: usize,
    /// Base seed from which every run's seeds are derived.
    pub base_seed: u64,
    /// Training-time budget per run, in seconds (only `step` counts).
    pub budget_s: f64,
    /// Iteration cap per run.
    pub max_iters: usize,
    /// Stop a run once its training MSE reaches this value (standardised units).
    pub target_train_mse: Option<f64>,
    /// Stop after this many evaluations without a relative improvement of
    /// `min_rel_improvement` in the best training MSE (`None`: never).
    pub patience: Option<usize>,
    /// Relative improvement that resets the patience counter.
    pub min_rel_improvement: f64,
    /// Hidden widths of the network every trainer shares.
    pub hidden: Vec<usize>,
    /// Hidden activation (`identity`, `relu`, `leaky_relu[:α]`, `tanh`, `sigmoid`, `softplus`).
    pub activation: String,
    /// Fraction of rows held out for testing.
    pub test_fraction: f64,
    /// Threads for faer and rayon (1 = fair single-thread timing).
    pub threads: usize,
    /// Memory limit in bytes for the pre-run estimates (`--max-memory`): a run whose
    /// estimated peak exceeds it is refused with its estimate. `None`: the
    /// `FITBENCH_MEMORY_LIMIT` variable, else the machine's available memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_memory: Option<u64>,
    /// Training-MSE levels (standardised units) whose first-hit time and iteration are reported.
    pub targets: Vec<f64>,
    /// Evaluation schedule.
    pub eval: EvalSchedule,
    /// burn backend for every gradient trainer that does not name one (`flex` or `ndarray`).
    pub backend: Option<String>,
    /// Tune the learning rate of every gradient trainer per dataset before the runs.
    pub lr_grid: Option<LrGrid>,
    /// Relative-suboptimality levels (see [`crate::metrics`]) whose first iteration, flops
    /// and time are reported in every run's deterministic metrics.
    pub suboptimality_targets: Vec<f64>,
    /// Iteration counts at which every run's train MSE is recorded (they are added to the
    /// evaluation schedule).
    pub iteration_budgets: Vec<usize>,
    /// Test-only: hobbles one trainer so that it converges more slowly (see [`Handicap`]).
    /// Exists to prove that `fitbench check` catches a regression; recorded in the report
    /// whenever it is set.
    #[doc(hidden)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_handicap: Option<Handicap>,
    /// Test-only: makes one trainer slower per step without changing its numerics (see
    /// [`Slowdown`]). Exists to prove that `fitbench ab` catches a slowdown; recorded in the
    /// report whenever it is set.
    #[doc(hidden)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_slowdown: Option<Slowdown>,
    /// Trainers in other processes, declared by name (a config file's `[[external]]`
    /// tables); `trainers` then names them like built-ins (`torch-adam:lr=1e-2`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external: Vec<ExternalDecl>,
    /// Declared trainers left out of this sweep because their `requires` command failed,
    /// one line each saying why (filled when the sweep is resolved).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
}

/// A trainer in another process, declared by name (`[[external]]` in a config file; see
/// `docs/protocol.md`). Every key but `requires` becomes the `ext` trainer's config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalDecl {
    /// The name the trainer is used and reported by.
    pub name: String,
    /// The command: one string split at whitespace, or an array (program, arguments).
    /// Never run by a shell.
    pub cmd: serde_json::Value,
    /// The child's working directory (default: the harness's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Seconds to wait for any one reply before the child is killed (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<f64>,
    /// A command (program and arguments) that must exit with status 0 for the trainer to
    /// run, e.g. `["python3", "-c", "import torch"]`; when it fails, the trainer is left out
    /// of the sweep with one line saying why (`RunConfig::skipped`) and the rest runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<String>,
    /// The trainer's own options and their values (passed to its `init`).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub options: serde_json::Map<String, serde_json::Value>,
}

/// Test-only knob: the trainer labelled `trainer` only really steps on every `every`-th call
/// of `step` (the other calls do nothing), so it needs `every` times as many iterations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Handicap {
    /// Trainer label (as in `trainers`).
    pub trainer: String,
    /// Only every `every`-th step is real (≥ 2).
    pub every: usize,
}

impl RunConfig {
    /// Fields that select runs or only bound resources, not what a run computes: left out of
    /// [`RunConfig::result_json`] (so `--resume` does not rerun a run for them).
    pub const NOT_RESULT_FIELDS: &'static [&'static str] =
        &["name", "datasets", "csv", "trainers", "seeds", "max_memory"];

    /// The part of the configuration that determines what a run computes, as JSON: every
    /// field except [`RunConfig::NOT_RESULT_FIELDS`].
    pub fn result_json(&self) -> serde_json::Value {
        let mut c = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let serde_json::Value::Object(m) = &mut c {
            for k in Self::NOT_RESULT_FIELDS {
                m.remove(*k);
            }
        }
        c
    }
}

/// The differences between two JSON values, as `field old → new` (nested fields dotted), in
/// field order.
pub fn json_changes(a: &serde_json::Value, b: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    diff_into("", a, b, &mut out);
    out
}

fn diff_into(prefix: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort_unstable();
            keys.dedup();
            for k in keys {
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                diff_into(
                    &name,
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        _ if a != b => out.push(format!("{prefix} {a} → {b}")),
        _ => {}
    }
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            name: "custom".into(),
            datasets: vec![],
            csv: vec![],
            trainers: vec!["ols".into()],
            seeds: 5,
            base_seed: 0,
            budget_s: 10.0,
            max_iters: 10_000,
            target_train_mse: None,
            patience: Some(30),
            min_rel_improvement: 1e-6,
            hidden: vec![32],
            activation: "tanh".into(),
            test_fraction: fitbench_core::Split::DEFAULT_TEST_FRACTION,
            threads: 1,
            max_memory: None,
            targets: vec![0.5, 0.2, 0.1, 0.05, 0.02, 0.01],
            eval: EvalSchedule::default(),
            backend: None,
            lr_grid: None,
            suboptimality_targets: vec![1e-1, 1e-2, 1e-3],
            iteration_budgets: vec![10, 100, 1000],
            test_handicap: None,
            test_slowdown: None,
            external: Vec::new(),
            skipped: Vec::new(),
        }
    }
}

/// Test-only: make one trainer `factor` times slower per step by busy-waiting inside the
/// timed region after each real step (numerics unchanged). Recorded whenever set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slowdown {
    /// Trainer label (as in the sweep's `trainers`).
    pub trainer: String,
    /// Seconds per step are multiplied by this (> 1).
    pub factor: f64,
}

impl Slowdown {
    /// Parses `TRAINER=FACTOR` (FACTOR > 1, finite).
    pub fn parse(text: &str) -> Result<Self, String> {
        let (trainer, factor) = text.rsplit_once('=').ok_or_else(|| {
            format!("--test-slowdown {text:?}: expected TRAINER=FACTOR, e.g. adam=1.10")
        })?;
        let factor: f64 = factor.trim().parse().map_err(|_| {
            format!("--test-slowdown {text:?}: FACTOR {factor:?} is not a number (e.g. adam=1.10)")
        })?;
        if !(factor.is_finite() && factor > 1.0) {
            return Err(format!(
                "--test-slowdown {text:?}: FACTOR must be a finite number > 1 (1.10 = 10 % slower per step)"
            ));
        }
        if trainer.trim().is_empty() {
            return Err(format!("--test-slowdown {text:?}: the trainer is missing"));
        }
        Ok(Self {
            trainer: trainer.trim().to_string(),
            factor,
        })
    }
}

/// Which columns of a CSV to use.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CsvSpec {
    /// Path of the file (`.csv` or `.csv.gz`).
    pub path: String,
    /// Name of the target column.
    pub target: String,
    /// Columns to ignore.
    #[serde(default)]
    pub drop: Vec<String>,
    /// Remove exact duplicate rows (same features and target), keeping the first copy of
    /// each (`--dedup`). Absent in configurations written before it existed: false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dedup: bool,
}

/// Learning-rate grid search settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LrGrid {
    /// Learning rates to try.
    pub grid: Vec<f64>,
    /// Steps (epochs) per candidate.
    pub epochs: usize,
    /// Fraction of the training split held out for validation.
    pub validation_fraction: f64,
    /// Grids over another option of trainers without a learning rate (e.g. the analytic
    /// solver's ridge λ, lsq's mixing η), searched the same way, so that "needs no tuning"
    /// is tested rather than assumed. Empty by default.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<OptionGrid>,
}

/// A grid over one numeric option of one trainer ([`LrGrid::options`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptionGrid {
    /// The trainer's registered name (`analytic`, `lsq`): every label of that trainer
    /// without the option given explicitly is searched.
    pub trainer: String,
    /// The option (`lambda`, `eta`).
    pub option: String,
    /// Values to try; the search picks the one with the lowest validation MSE.
    pub grid: Vec<f64>,
    /// Steps per candidate (default: [`LrGrid::epochs`]).
    #[serde(default)]
    pub epochs: Option<usize>,
}

impl Default for LrGrid {
    fn default() -> Self {
        Self {
            grid: vec![1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1],
            epochs: 200,
            validation_fraction: 0.2,
            options: Vec::new(),
        }
    }
}

impl LrGrid {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), String> {
        if self.grid.is_empty() || self.grid.iter().any(|lr| !(lr.is_finite() && *lr > 0.0)) {
            return Err(format!(
                "lr_grid.grid = {:?}: give at least one positive learning rate",
                self.grid
            ));
        }
        if self.epochs == 0 {
            return Err("lr_grid.epochs = 0: need at least one epoch per candidate".into());
        }
        if !(self.validation_fraction > 0.0 && self.validation_fraction < 1.0) {
            return Err(format!(
                "lr_grid.validation_fraction = {}: must lie in (0, 1)",
                self.validation_fraction
            ));
        }
        for g in &self.options {
            if g.grid.is_empty() || g.grid.iter().any(|v| !v.is_finite()) {
                return Err(format!(
                    "lr_grid.options: {} {} grid = {:?}: give at least one finite value",
                    g.trainer, g.option, g.grid
                ));
            }
            if g.epochs == Some(0) {
                return Err(format!(
                    "lr_grid.options: {} {} epochs = 0: need at least one epoch per candidate",
                    g.trainer, g.option
                ));
            }
            if g.option == "lr" {
                return Err(format!(
                    "lr_grid.options: {} lr: the learning rate has its own grid (lr_grid.grid)",
                    g.trainer
                ));
            }
        }
        Ok(())
    }
}

fn lr_option() -> String {
    "lr".into()
}

impl TuningRecord {
    /// The values tried, in order.
    pub fn tried(&self) -> &[f64] {
        if self.values.is_empty() {
            &self.settings.grid
        } else {
            &self.values
        }
    }
}

/// What the grid search did for one (dataset, trainer).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TuningRecord {
    /// Dataset name.
    pub dataset: String,
    /// Trainer label as given.
    pub trainer: String,
    /// The settings used.
    pub settings: LrGrid,
    /// Validation MSE (standardised units) after the search's steps per candidate
    /// (`settings.epochs`, or the option grid's `epochs`), per value tried; `None` where the
    /// candidate failed or diverged.
    pub scores: Vec<Option<f64>>,
    /// The value picked (lowest validation MSE), if any candidate succeeded: a learning rate,
    /// or a value of `option` for an option grid.
    pub picked_lr: Option<f64>,
    /// The option searched (`lr` unless an [`OptionGrid`] searched another).
    #[serde(default = "lr_option")]
    pub option: String,
    /// The values tried, in order (empty in reports written before option grids: then
    /// `settings.grid`).
    #[serde(default)]
    pub values: Vec<f64>,
    /// Rows used to fit and to validate.
    pub n_fit: usize,
    /// Validation rows.
    pub n_validation: usize,
    /// Training time of each grid trial: the sum of its timed `step` calls on one thread,
    /// up to where it failed if it did (`None` where the candidate's options were refused). Empty in reports written before
    /// fitbench charged tuning ([`crate::charge`]).
    #[serde(default)]
    pub trial_s: Vec<Option<f64>>,
    /// Per grid trial, per configured train-MSE target (`config.targets`), the training time
    /// at which the trial's train MSE on its fitting rows first met the target (evaluated
    /// after every step, untimed); `None` if it never did within `settings.epochs` steps.
    #[serde(default)]
    pub trial_target_s: Vec<Vec<Option<f64>>>,
    /// Per grid trial, the descent of its train MSE on the fitting rows as `[time_s, mse]`
    /// points: the first step, then every step whose MSE is below the last kept one by more
    /// than [`crate::charge::ENVELOPE_REL`] (relative), then the last step if it set a new
    /// minimum. The first time a trial got below any level can be read from it (late by
    /// at most that margin, never early): the optimistic time to a relative-suboptimality
    /// level.
    #[serde(default)]
    pub trial_envelope: Vec<Vec<[f64; 2]>>,
}

impl RunConfig {
    /// Parses a TOML config file's text (unknown keys are errors).
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| ReportError::Config(format!("{origin}: {e}")))
    }

    /// Checks every scalar option (names are checked when the plan is resolved).
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str, v: &dyn std::fmt::Display, hint: &str| {
            Err(ReportError::Config(format!("{what} = {v}: {hint}")))
        };
        if self.datasets.is_empty() && self.csv.is_empty() {
            return bad(
                "datasets",
                &"[]",
                "name at least one dataset (fitbench list datasets) or a --csv file",
            );
        }
        if self.trainers.is_empty() {
            return bad(
                "trainers",
                &"[]",
                "name at least one trainer (fitbench list trainers)",
            );
        }
        if self.seeds == 0 {
            return bad("seeds", &0, "need at least 1 repetition");
        }
        if !(self.budget_s.is_finite() && self.budget_s > 0.0) {
            return bad(
                "budget_s",
                &self.budget_s,
                "must be a positive number of seconds",
            );
        }
        if self.max_iters == 0 {
            return bad("max_iters", &0, "need at least 1 iteration");
        }
        if let Some(t) = self.target_train_mse
            && !(t.is_finite() && t >= 0.0)
        {
            return bad("target_train_mse", &t, "must be a finite number ≥ 0");
        }
        if self.patience == Some(0) {
            return bad(
                "patience",
                &0,
                "must be ≥ 1 (or absent to disable stall detection)",
            );
        }
        if !(self.min_rel_improvement.is_finite() && self.min_rel_improvement >= 0.0) {
            return bad(
                "min_rel_improvement",
                &self.min_rel_improvement,
                "must be a finite number ≥ 0",
            );
        }
        if !(self.test_fraction > 0.0 && self.test_fraction < 1.0) {
            return bad(
                "test_fraction",
                &self.test_fraction,
                "must lie in (0, 1), e.g. 0.2",
            );
        }
        if self.threads == 0 {
            return bad("threads", &0, "need at least 1 thread");
        }
        if let Some(t) = self.targets.iter().find(|t| !(t.is_finite() && **t > 0.0)) {
            return bad("targets", t, "every target must be a positive number");
        }
        if let Some(g) = &self.lr_grid {
            g.validate().map_err(ReportError::Config)?;
        }
        if let Some(t) = self
            .suboptimality_targets
            .iter()
            .find(|t| !(t.is_finite() && **t > 0.0 && **t < 1.0))
        {
            return bad(
                "suboptimality_targets",
                t,
                "every level must lie in (0, 1), e.g. [0.1, 0.01, 0.001]",
            );
        }
        if self.iteration_budgets.contains(&0) {
            return bad(
                "iteration_budgets",
                &0,
                "every budget must be at least 1 iteration",
            );
        }
        if let Some(h) = &self.test_handicap {
            if h.every < 2 {
                return bad("test_handicap.every", &h.every, "must be ≥ 2");
            }
            if !self.trainers.contains(&h.trainer) {
                return bad(
                    "test_handicap.trainer",
                    &h.trainer,
                    "must be one of the trainers of the sweep",
                );
            }
        }
        if let Some(s) = &self.test_slowdown {
            if !(s.factor.is_finite() && s.factor > 1.0) {
                return bad(
                    "test_slowdown.factor",
                    &s.factor,
                    "must be a finite number > 1",
                );
            }
            if !self.trainers.contains(&s.trainer) {
                return bad(
                    "test_slowdown.trainer",
                    &s.trainer,
                    "must be one of the trainers of the sweep",
                );
            }
        }
        if !(self.eval.growth.is_finite() && self.eval.growth > 1.0) {
            return bad("eval.growth", &self.eval.growth, "must be > 1, e.g. 1.15");
        }
        if !(self.eval.max_interval_s.is_finite() && self.eval.max_interval_s > 0.0) {
            return bad(
                "eval.max_interval_s",
                &self.eval.max_interval_s,
                "must be a positive number of seconds",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_round_trips_and_rejects_unknown_keys() {
        let c = RunConfig {
            datasets: vec!["diabetes".into()],
            backend: Some("flex".into()),
            lr_grid: Some(LrGrid::default()),
            ..RunConfig::default()
        };
        let text = toml::to_string(&c).unwrap();
        assert_eq!(RunConfig::from_toml(&text, "x.toml").unwrap(), c);
        let msg = RunConfig::from_toml("datasets = [\"diabetes\"]\nbudget = 3\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("x.toml") && msg.contains("budget"), "{msg}");
    }

    #[test]
    fn each_invalid_option_has_its_own_message() {
        let base = RunConfig {
            datasets: vec!["diabetes".into()],
            ..RunConfig::default()
        };
        let cases: Vec<(RunConfig, &str)> = vec![
            (
                RunConfig {
                    datasets: vec![],
                    ..base.clone()
                },
                "datasets",
            ),
            (
                RunConfig {
                    trainers: vec![],
                    ..base.clone()
                },
                "trainers",
            ),
            (
                RunConfig {
                    seeds: 0,
                    ..base.clone()
                },
                "seeds",
            ),
            (
                RunConfig {
                    budget_s: -1.0,
                    ..base.clone()
                },
                "budget_s",
            ),
            (
                RunConfig {
                    max_iters: 0,
                    ..base.clone()
                },
                "max_iters",
            ),
            (
                RunConfig {
                    target_train_mse: Some(f64::NAN),
                    ..base.clone()
                },
                "target_train_mse",
            ),
            (
                RunConfig {
                    patience: Some(0),
                    ..base.clone()
                },
                "patience",
            ),
            (
                RunConfig {
                    test_fraction: 1.0,
                    ..base.clone()
                },
                "test_fraction",
            ),
            (
                RunConfig {
                    threads: 0,
                    ..base.clone()
                },
                "threads",
            ),
            (
                RunConfig {
                    targets: vec![0.1, -1.0],
                    ..base.clone()
                },
                "targets",
            ),
            (
                RunConfig {
                    eval: EvalSchedule {
                        growth: 1.0,
                        ..EvalSchedule::default()
                    },
                    ..base.clone()
                },
                "eval.growth",
            ),
        ];
        for (c, what) in cases {
            let msg = c.validate().unwrap_err().to_string();
            assert!(msg.contains(what), "{msg} should name {what}");
        }
    }
}
