//! Named presets: each is one sweep or a group of sweeps (one sub-folder each). Every preset
//! names its trainers explicitly, or says it takes all of them (`quick`); the CI gate's
//! preset (`ci`) names its own, so a new trainer never joins the gate silently.

use crate::error::{HarnessError, Result};
use crate::registry;
use fitbench_report::RunConfig;
use fitbench_report::config::{ExternalDecl, LrGrid, OptionGrid};

/// The sweeps of a preset.
#[derive(Clone, Copy, Debug)]
pub enum PresetKind {
    /// One sweep, written into the output folder.
    Sweep(fn() -> RunConfig),
    /// Several sweeps, each into `<output folder>/<sub-folder>`.
    Group(fn() -> Vec<(String, RunConfig)>),
}

/// A named preset.
#[derive(Clone, Copy, Debug)]
pub struct Preset {
    /// Name (`--preset NAME`; also the default output folder `results/NAME`).
    pub name: &'static str,
    /// What it runs.
    pub description: &'static str,
    /// Its sweeps.
    pub kind: PresetKind,
    /// The roles of its trainers when it reproduces a paper (its section of
    /// `results/REPRODUCTION.md`); `None` for the other presets.
    pub reproduction: Option<Reproduction>,
}

/// The paper claim a reproduction preset tests; it decides what its section of
/// `results/REPRODUCTION.md` computes and which template words it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Khadilkar 2023 (arXiv 2307.05189): the trainer under test is "more stable and faster
    /// than gradient-based methods" (one table per dataset of each sweep).
    Khadilkar2023,
    /// Barbu 2023 (arXiv 2304.02972): the trainer under test reaches a significantly smaller
    /// training loss than SGD or Adam (one table per sweep, a row per dataset).
    Barbu2023,
}

/// Who is compared with whom in a reproduction preset.
#[derive(Clone, Copy, Debug)]
pub struct Reproduction {
    /// The claim tested.
    pub claim: Claim,
    /// Label (as in the preset's trainer list) of the trainer under test, the paper's
    /// algorithm as reconstructed; its other configurations appear beside it in the tables.
    pub under_test: &'static str,
    /// Registry names of the baselines the claim is about (the "gradient descent methods"):
    /// every label of the report whose trainer is one of them.
    pub baselines: &'static [&'static str],
}

impl Preset {
    /// `(sub-folder, config)` of every sweep; the sub-folder is `None` for a plain sweep.
    pub fn sweeps(&self) -> Vec<(Option<String>, RunConfig)> {
        match self.kind {
            PresetKind::Sweep(f) => vec![(None, f())],
            PresetKind::Group(f) => f().into_iter().map(|(s, c)| (Some(s), c)).collect(),
        }
    }
}

/// Every preset.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "quick",
        description: "ALL registered trainers × 2 synthetic + 2 real datasets × 3 seeds, 2 s budget per run, learning rates tuned per dataset on a validation carve-out (the default grid); the README's first command",
        kind: PresetKind::Sweep(quick),
        reproduction: None,
    },
    Preset {
        name: "khadilkar",
        description: "Khadilkar 2023 reproduction: lsq (both orders, plus derivative weighting) vs tuned SGD and Adam, L-BFGS and Levenberg–Marquardt on smooth2d, a tanh teacher (d = 8) and Friedman #1, net [16, 16] tanh, 5 seeds, 5 s per run; lsq's mixing η is searched on a grid too (charged in tuning-inclusive times)",
        kind: PresetKind::Sweep(khadilkar),
        reproduction: Some(Reproduction {
            claim: Claim::Khadilkar2023,
            under_test: "lsq",
            baselines: &["sgd", "adam"],
        }),
    },
    Preset {
        name: "barbu",
        description: "Barbu 2023 reproduction: analytic vs tuned SGD and Adam (burn and faer), L-BFGS and Levenberg–Marquardt on the seven real datasets, one hidden ReLU layer of 32 and of 64 units (results/barbu/h32, h64), 5 seeds, 3 s per run; analytic's ridge λ is searched on a grid too (charged in tuning-inclusive times), and analytic:lambda=0.0001 runs at the default λ beside it",
        kind: PresetKind::Group(barbu),
        reproduction: Some(Reproduction {
            claim: Claim::Barbu2023,
            under_test: "analytic",
            baselines: &["sgd", "adam", "adam-faer"],
        }),
    },
    Preset {
        name: "ci",
        description: "the regression gate: ols, lsq, analytic, sgd, adam, lbfgs, lm, adam-faer, sgd-faer × 4 small problems (noise-free teacher, linear, Friedman #1, diabetes) × 3 seeds, 500 iterations per run; `.ci/run` runs it and `fitbench check`s it against results/baseline",
        kind: PresetKind::Sweep(ci),
        reproduction: None,
    },
    Preset {
        name: "ab",
        description: "the relative benchmark of `fitbench ab`: ALL registered trainers × 2 synthetic problems (Friedman #1 and a tanh teacher, n = 12 000, where a step of every iterative trainer takes about 1 ms or more) × 4 seeds, 30 iterations per run, hidden 16 leaky_relu:0.1; with the default 6 rounds, 24 pairs per cell",
        kind: PresetKind::Sweep(ab),
        reproduction: None,
    },
    Preset {
        name: "peers",
        description: "fitbench's trainers beside their references in other processes: burn and faer Adam, L-BFGS and analytic vs torch-adam, torch-lbfgs and numpy-als (clients/python/examples, run from the repository root with $FITBENCH_PYTHON or python3; each is skipped with one line where torch or NumPy/SciPy is missing) on the seven real datasets, hidden 64 relu, 3 seeds, 3 s per run",
        kind: PresetKind::Sweep(peers),
        reproduction: None,
    },
    Preset {
        name: "scaling",
        description: "cost against n: ALL registered trainers × one teacher problem (d = 16) at n = 10³, 10⁴, 10⁵, 10⁶, hidden 64 leaky_relu:0.01, 3 steps each, 1 seed; plots seconds per step and peak memory against n (log–log, fitted slopes)",
        kind: PresetKind::Sweep(scaling),
        reproduction: None,
    },
];

/// The preset called `name`.
pub fn preset(name: &str) -> Result<&'static Preset> {
    if name == "lnn" {
        return Err(HarnessError::Config(
            "lnn is a study of its own, not a sweep: run it with `fitbench lnn` (see `fitbench lnn --help`)".into(),
        ));
    }
    PRESETS.iter().find(|p| p.name == name).ok_or_else(|| {
        fitbench_core::Error::Unknown {
            kind: "preset",
            name: name.into(),
            known: PRESETS
                .iter()
                .map(|p| p.name)
                .collect::<Vec<_>>()
                .join(", "),
        }
        .into()
    })
}

fn quick() -> RunConfig {
    RunConfig {
        name: "quick".into(),
        datasets: vec![
            "teacher:n=2000,d=8,h=16,act=tanh,noise=0.1".into(),
            "friedman1:n=2000,noise=0.1".into(),
            "diabetes".into(),
            "wine-red".into(),
        ],
        // All registered trainers.
        trainers: registry::trainers().map(|e| e.name.to_string()).collect(),
        seeds: 3,
        budget_s: 2.0,
        max_iters: 2000,
        hidden: vec![32],
        // Every trainer can train a leaky-ReLU net (lsq needs an invertible activation,
        // analytic a ReLU-like one).
        activation: "leaky_relu:0.1".into(),
        // No trainer is handicapped silently: SGD and Adam get their learning rate tuned,
        // and the verdict charges the search to them (tuning-inclusive time).
        lr_grid: Some(LrGrid::default()),
        ..RunConfig::default()
    }
}

fn khadilkar() -> RunConfig {
    RunConfig {
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
            "lbfgs".into(),
            "lm".into(),
        ],
        seeds: 5,
        budget_s: 5.0,
        max_iters: 50_000,
        hidden: vec![16, 16],
        activation: "tanh".into(),
        // lsq's mixing η (its damping; default 1) gets a grid too, charged like a learning
        // rate, so that "no tuning" is tested rather than assumed.
        lr_grid: Some(LrGrid {
            options: vec![OptionGrid {
                trainer: "lsq".into(),
                option: "eta".into(),
                grid: vec![0.25, 0.5, 1.0],
                epochs: Some(50),
            }],
            ..LrGrid::default()
        }),
        ..RunConfig::default()
    }
}

/// The trainers of the CI gate.
const CI_TRAINERS: [&str; 9] = [
    "ols",
    "lsq",
    "analytic",
    "sgd",
    "adam",
    "lbfgs",
    "lm",
    "adam-faer",
    "sgd-faer",
];

fn ci() -> RunConfig {
    RunConfig {
        name: "ci".into(),
        datasets: vec![
            // noise-free planted teacher: the exact reference is 0
            "teacher:n=500,d=4,h=8,act=tanh,noise=0".into(),
            // linear problem: OLS is the exact reference of the linear model
            "linear:n=500,d=8,noise=0.1".into(),
            "friedman1:n=500,noise=0.1".into(),
            "diabetes".into(),
        ],
        // Named explicitly: a trainer joins the gate only when it is added here and the
        // baseline is updated (`fitbench check` fails on ungated trainers).
        trainers: CI_TRAINERS.map(String::from).to_vec(),
        seeds: 3,
        max_iters: 500,
        // A cap that should never bind: the runs stop on iterations, so every
        // deterministic metric is comparable with the baseline.
        budget_s: 60.0,
        hidden: vec![16],
        activation: "leaky_relu:0.1".into(),
        iteration_budgets: vec![10, 100, 500],
        ..RunConfig::default()
    }
}

/// The sweep of `fitbench ab --preset ab`. Only fields that `fitbench run` options can
/// express differ from the defaults (the A/B hands the sweep to an older binary as options).
/// Rows: 12 000 (9 600 training rows) so that a step of every iterative trainer takes about a
/// millisecond or more, well above the clock's resolution and the per-process noise; `ols`
/// is one closed-form step (about 0.15 ms) and the noisiest cell.
fn ab() -> RunConfig {
    RunConfig {
        name: "ab".into(),
        datasets: vec![
            "friedman1:n=12000,noise=0.1".into(),
            "teacher:n=12000,d=8,h=16,act=tanh,noise=0.1".into(),
        ],
        trainers: registry::trainers().map(|e| e.name.to_string()).collect(),
        // 4 repetitions × the default 6 rounds = 24 pairs per cell: enough for the exact
        // signed-rank test to see a 10 % slowdown above the 5 % threshold through
        // process-to-process noise of about 5 % (sd of the paired log-ratio, measured in
        // A/A runs), after Holm's correction over the 18 cells.
        seeds: 4,
        max_iters: 30,
        // Never binds: every run stops on iterations (or converges), so both sides do the
        // same steps.
        budget_s: 60.0,
        hidden: vec![16],
        activation: "leaky_relu:0.1".into(),
        ..RunConfig::default()
    }
}

/// Training-set sizes of the `scaling` preset (before the test split).
pub const SCALING_SIZES: [usize; 4] = [1_000, 10_000, 100_000, 1_000_000];

fn scaling() -> RunConfig {
    RunConfig {
        name: "scaling".into(),
        datasets: SCALING_SIZES
            .iter()
            .map(|n| format!("teacher:n={n},d=16,h=8,noise=0.1"))
            .collect(),
        trainers: registry::trainers().map(|e| e.name.to_string()).collect(),
        seeds: 1,
        max_iters: 3,
        // Cost per step, not convergence: three steps each, never cut off by time.
        budget_s: 600.0,
        hidden: vec![64],
        // Invertible (lsq) and piecewise linear (analytic): every trainer can run it.
        activation: "leaky_relu:0.01".into(),
        ..RunConfig::default()
    }
}

/// The pairs of the `peers` preset compared in `results/REPRODUCTION.md` (seconds per step):
/// (fitbench's trainer, its reference in another process).
pub const PEER_PAIRS: [(&str, &str); 4] = [
    ("adam", "torch-adam"),
    ("adam-faer", "torch-adam"),
    ("lbfgs", "torch-lbfgs"),
    ("analytic", "numpy-als"),
];

/// The Python interpreter of the `peers` preset's external trainers: `$FITBENCH_PYTHON`,
/// else `python3`.
pub fn peers_python() -> String {
    std::env::var("FITBENCH_PYTHON")
        .ok()
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| "python3".into())
}

fn peers() -> RunConfig {
    let python = peers_python();
    let declare = |name: &str, script: &str, import: &str| ExternalDecl {
        name: name.into(),
        cmd: serde_json::json!([python, format!("clients/python/examples/{script}")]),
        cwd: None,
        timeout_s: Some(120.0),
        requires: vec![python.clone(), "-c".into(), format!("import {import}")],
        options: serde_json::Map::new(),
    };
    RunConfig {
        name: "peers".into(),
        datasets: crate::datasets::BUILTIN
            .iter()
            .map(|b| b.name.to_string())
            .collect(),
        trainers: [
            "adam",
            "adam-faer",
            "torch-adam",
            "lbfgs",
            "torch-lbfgs",
            "analytic",
            "numpy-als",
        ]
        .map(String::from)
        .to_vec(),
        seeds: 3,
        budget_s: 3.0,
        max_iters: 50_000,
        hidden: vec![64],
        activation: "relu".into(),
        external: vec![
            declare("torch-adam", "torch_adam.py", "torch"),
            declare("torch-lbfgs", "torch_lbfgs.py", "torch"),
            declare("numpy-als", "numpy_als.py", "numpy, scipy"),
        ],
        ..RunConfig::default()
    }
}

/// The analytic solver at its default ridge λ, beside the searched one in the barbu preset.
pub const BARBU_DEFAULT_LAMBDA: &str = "analytic:lambda=0.0001";

fn barbu() -> Vec<(String, RunConfig)> {
    [32, 64]
        .into_iter()
        .map(|h| {
            let c = RunConfig {
                name: format!("barbu-h{h}"),
                datasets: crate::datasets::BUILTIN
                    .iter()
                    .map(|b| b.name.to_string())
                    .collect(),
                // `analytic` has its λ searched (below); the label that sets λ to its default
                // is not searched: the untuned solver beside the tuned one.
                trainers: [
                    "analytic",
                    BARBU_DEFAULT_LAMBDA,
                    "sgd",
                    "adam",
                    "adam-faer",
                    "lbfgs",
                    "lm",
                ]
                .map(String::from)
                .to_vec(),
                seeds: 5,
                budget_s: 3.0,
                max_iters: 50_000,
                hidden: vec![h],
                activation: "relu".into(),
                // "Virtually no tuning parameters" tested, not assumed: the ridge λ gets a
                // grid around its default (1e-4) and is charged like a learning rate.
                lr_grid: Some(LrGrid {
                    options: vec![OptionGrid {
                        trainer: "analytic".into(),
                        option: "lambda".into(),
                        grid: vec![1e-6, 1e-4, 1e-2, 1.0],
                        epochs: Some(50),
                    }],
                    ..LrGrid::default()
                }),
                ..RunConfig::default()
            };
            (format!("h{h}"), c)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_validate_and_resolve() {
        for p in PRESETS {
            for (_, c) in p.sweeps() {
                c.validate().unwrap();
                crate::runner::Plan::resolve(c).unwrap();
            }
        }
        let msg = preset("slow").unwrap_err().to_string();
        assert!(msg.contains("quick") && msg.contains("ci"), "{msg}");
        let msg = preset("lnn").unwrap_err().to_string();
        assert!(msg.contains("fitbench lnn"), "{msg}");
    }

    #[test]
    fn quick_takes_every_registered_trainer_and_ci_names_its_own() {
        let names: Vec<String> = registry::trainers().map(|e| e.name.to_string()).collect();
        assert_eq!(quick().trainers, names);
        assert_eq!(ab().trainers, names);
        assert_eq!(ci().trainers, CI_TRAINERS);
    }

    #[test]
    fn reproduction_roles_name_trainers_of_every_sweep() {
        let reproductions: Vec<(&Preset, Reproduction)> = PRESETS
            .iter()
            .filter_map(|p| Some((p, p.reproduction?)))
            .collect();
        let claims: Vec<Claim> = reproductions.iter().map(|(_, r)| r.claim).collect();
        assert_eq!(claims, [Claim::Khadilkar2023, Claim::Barbu2023]);
        for (p, roles) in reproductions {
            let id = |label: &str| label.split(':').next().unwrap_or(label).to_string();
            for (_, c) in p.sweeps() {
                let ids: Vec<String> = c.trainers.iter().map(|t| id(t)).collect();
                assert!(
                    c.trainers.iter().any(|t| t == roles.under_test),
                    "{}",
                    p.name
                );
                for b in roles.baselines {
                    assert!(
                        ids.iter().any(|i| i == b),
                        "{}: {b} not in the sweep",
                        p.name
                    );
                }
            }
            // The claims compare with gradient methods that have a learning rate (tuned by
            // the grid search); the trainer under test is not one of them.
            for b in roles.baselines {
                let caps = registry::capabilities(b).unwrap();
                assert!(caps.gradient_based && caps.learning_rate, "{}: {b}", p.name);
            }
            let under = registry::capabilities(&id(roles.under_test)).unwrap();
            assert!(!under.gradient_based, "{}", p.name);
        }
    }
}
