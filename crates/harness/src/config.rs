//! The run configuration (TOML files, presets, command-line overrides) and its validation.

use crate::csv_data::CsvSpec;
use crate::error::{HarnessError, Result};
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
    /// Training-MSE levels (standardised units) whose first-hit time and iteration are reported.
    pub targets: Vec<f64>,
    /// Evaluation schedule.
    pub eval: EvalSchedule,
    /// burn backend for every gradient trainer that does not name one (`flex` or `ndarray`).
    pub backend: Option<fitbench_sgd::Backend>,
    /// Tune the learning rate of every gradient trainer per dataset before the runs.
    pub lr_grid: Option<crate::tuning::LrGrid>,
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
            targets: vec![0.5, 0.2, 0.1, 0.05, 0.02, 0.01],
            eval: EvalSchedule::default(),
            backend: None,
            lr_grid: None,
            suboptimality_targets: vec![1e-1, 1e-2, 1e-3],
            iteration_budgets: vec![10, 100, 1000],
            test_handicap: None,
        }
    }
}

/// Named presets: `(name, description)`.
pub const PRESETS: &[(&str, &str)] = &[
    (
        "quick",
        "every available trainer × 2 synthetic + 2 real datasets × 3 seeds, 2 s budget per run; the README's first command",
    ),
    (
        "khadilkar",
        "Khadilkar 2023 reproduction: lsq (both orders, plus derivative weighting) vs tuned SGD and Adam on smooth2d, a tanh teacher (d = 8) and Friedman #1, net [16, 16] tanh, 5 seeds, 5 s per run",
    ),
    (
        "barbu",
        "Barbu 2023 reproduction: analytic vs tuned SGD and Adam on the five real datasets, one hidden ReLU layer of 32 and of 64 units (results/barbu/h32, h64), 5 seeds, 3 s per run",
    ),
    (
        "ci",
        "the regression gate: every trainer × 4 small problems (noise-free teacher, linear, Friedman #1, diabetes) × 3 seeds, 500 iterations per run; `.ci/run` runs it and `fitbench check`s it against results/baseline",
    ),
    (
        "lnn",
        "Lakkapragada 2024: width-1 linear chains k = 1…10 by full-batch SGD vs OLS, 100 trials × 4 noise levels × lr {1e-3, 1e-2}, 10 000 steps (--seeds sets trials, --max-iters steps)",
    ),
];

impl RunConfig {
    /// A named preset.
    pub fn preset(name: &str) -> Result<Self> {
        match name {
            "quick" => Ok(Self {
                name: "quick".into(),
                datasets: vec![
                    "teacher:n=2000,d=8,h=16,act=tanh,noise=0.1".into(),
                    "friedman1:n=2000,noise=0.1".into(),
                    "diabetes".into(),
                    "wine-red".into(),
                ],
                trainers: crate::trainers::TRAINERS
                    .iter()
                    .map(|(n, _)| n.to_string())
                    .collect(),
                seeds: 3,
                budget_s: 2.0,
                max_iters: 2000,
                hidden: vec![32],
                // Every trainer can train a leaky-ReLU net (lsq needs an invertible activation,
                // analytic a ReLU-like one).
                activation: "leaky_relu:0.1".into(),
                ..Self::default()
            }),
            "khadilkar" => Ok(Self {
                name: "khadilkar".into(),
                datasets: vec![
                    "smooth2d:n=1000,noise=0.05".into(),
                    "teacher:n=1000,d=8,h=16,act=tanh,noise=0.05".into(),
                    "friedman1:n=1000,noise=0.1".into(),
                ],
                trainers: vec![
                    "lsq".into(),
                    "lsq:order=interleaved".into(),
                    "lsq:weighting=derivative".into(),
                    "sgd".into(),
                    "adam".into(),
                ],
                seeds: 5,
                budget_s: 5.0,
                max_iters: 50_000,
                hidden: vec![16, 16],
                activation: "tanh".into(),
                lr_grid: Some(crate::tuning::LrGrid::default()),
                ..Self::default()
            }),
            "ci" => Ok(Self {
                name: "ci".into(),
                datasets: vec![
                    // noise-free planted teacher: the exact reference is 0
                    "teacher:n=500,d=4,h=8,act=tanh,noise=0".into(),
                    // linear problem: OLS is the exact reference of the linear model
                    "linear:n=500,d=8,noise=0.1".into(),
                    "friedman1:n=500,noise=0.1".into(),
                    "diabetes".into(),
                ],
                trainers: crate::trainers::TRAINERS
                    .iter()
                    .map(|(n, _)| n.to_string())
                    .collect(),
                seeds: 3,
                max_iters: 500,
                // A cap that should never bind: the runs stop on iterations, so every
                // deterministic metric is comparable with the baseline.
                budget_s: 60.0,
                hidden: vec![16],
                activation: "leaky_relu:0.1".into(),
                iteration_budgets: vec![10, 100, 500],
                ..Self::default()
            }),
            "barbu" => Err(HarnessError::Config(
                "the barbu preset runs two sweeps (hidden 32 and 64): use `fitbench run --preset barbu` or RunConfig::preset_group".into(),
            )),
            "lnn" => Err(HarnessError::Config(
                "the lnn preset is a study of its own, not a sweep: run it with `fitbench run --preset lnn`".into(),
            )),
            _ => Err(HarnessError::Unknown {
                kind: "preset",
                name: name.into(),
                known: PRESETS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// Presets made of several sweeps: `(sub-folder, config)` pairs (`None` for plain presets).
    pub fn preset_group(name: &str) -> Option<Vec<(String, Self)>> {
        match name {
            "barbu" => Some(
                [32, 64]
                    .into_iter()
                    .map(|h| {
                        let c = Self {
                            name: format!("barbu-h{h}"),
                            datasets: crate::datasets::BUILTIN
                                .iter()
                                .map(|b| b.name.to_string())
                                .collect(),
                            trainers: vec!["analytic".into(), "sgd".into(), "adam".into()],
                            seeds: 5,
                            budget_s: 3.0,
                            max_iters: 50_000,
                            hidden: vec![h],
                            activation: "relu".into(),
                            lr_grid: Some(crate::tuning::LrGrid::default()),
                            ..Self::default()
                        };
                        (format!("h{h}"), c)
                    })
                    .collect(),
            ),
            _ => None,
        }
    }

    /// Parses a TOML config file's text (unknown keys are errors).
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| HarnessError::Config(format!("{origin}: {e}")))
    }

    /// Checks every scalar option (names are checked when the plan is resolved).
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str, v: &dyn std::fmt::Display, hint: &str| {
            Err(HarnessError::Config(format!("{what} = {v}: {hint}")))
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
            g.validate().map_err(HarnessError::Config)?;
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
    fn presets_validate_and_unknown_presets_are_listed() {
        RunConfig::preset("quick").unwrap().validate().unwrap();
        RunConfig::preset("khadilkar").unwrap().validate().unwrap();
        RunConfig::preset("ci").unwrap().validate().unwrap();
        for (_, c) in RunConfig::preset_group("barbu").unwrap() {
            c.validate().unwrap();
        }
        let msg = RunConfig::preset("slow").unwrap_err().to_string();
        assert!(msg.contains("quick"), "{msg}");
    }

    #[test]
    fn toml_round_trips_and_rejects_unknown_keys() {
        let c = RunConfig::preset("quick").unwrap();
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
