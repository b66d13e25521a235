//! Trainers and generators defined outside fitbench ([`registry::register`]): after
//! registering they are listed after the built-ins, parsed, sized and run like built-ins; a
//! name already taken (or not a plain word), or an entry that breaks the rules the built-ins
//! keep, is refused with nothing registered.
//!
//! The registry is process-wide, so every check that registers lives in one test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fitbench_core::registry::{Capabilities, TrainerEntry};
use fitbench_core::synthetic::{Features, SyntheticEntry};
use fitbench_core::{Architecture, Dataset, Mlp, Trainer, TrainerConfig};
use fitbench_harness::datasets::DatasetSpec;
use fitbench_harness::registry::{self, TrainerSpec};
use fitbench_harness::runner::{self, Plan};
use fitbench_lsq::OlsConfig;
use fitbench_report::config::RunConfig;
use serde::{Deserialize, Serialize};

/// `ols` under another name, with only its ridge as an option.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct WrappedConfig {
    ridge: f64,
}

impl WrappedConfig {
    fn ols(&self) -> OlsConfig {
        OlsConfig {
            ridge: self.ridge,
            ..OlsConfig::default()
        }
    }
}

impl TrainerConfig for WrappedConfig {
    fn validate(&self) -> fitbench_core::Result<()> {
        self.ols().validate()
    }
    fn architecture(&self, requested: &Architecture) -> fitbench_core::Result<Architecture> {
        self.ols().architecture(requested)
    }
    fn init(
        &self,
        train: &Dataset,
        initial: Mlp,
        seed: u64,
    ) -> fitbench_core::Result<Box<dyn Trainer>> {
        self.ols().init(train, initial, seed)
    }
}

static TRAINERS: [TrainerEntry; 1] = [TrainerEntry::of::<WrappedConfig>(
    "wrapped-ols",
    "ols under another name (a test of registering)",
    Capabilities::NONE,
)];

/// y = x on one feature, x = 0, 1, …, n − 1.
fn ramp(p: &fitbench_core::synthetic::Params<'_>) -> fitbench_core::Result<Dataset> {
    let n = p.usize("n")?;
    let x = faer::Mat::from_fn(n, 1, |i, _| i as f64);
    let y = x.clone();
    Dataset::new(
        format!("{}:n={n}", p.name()),
        x,
        y,
        vec!["x".into()],
        vec!["y".into()],
        "a ramp",
    )
}

static GENERATORS: [SyntheticEntry; 1] = [SyntheticEntry {
    name: "ramp1d",
    help: "y = x on x = 0, 1, …",
    keys: &[("n", "40"), ("seed", "0")],
    features: Features::Fixed(1),
    planted: false,
    generate: ramp,
    validate_args: |p| {
        p.check_shape(p.usize("n")?, 1, 0.0)?;
        p.u64("seed").map(drop)
    },
}];

/// A trainer called like a built-in one.
static TAKEN_TRAINER: [TrainerEntry; 2] = [
    TrainerEntry::of::<WrappedConfig>("fresh-name", "not registered", Capabilities::NONE),
    TrainerEntry::of::<WrappedConfig>("adam", "taken", Capabilities::NONE),
];

/// The same trainer name twice in one call.
static TWICE: [TrainerEntry; 2] = [
    TrainerEntry::of::<WrappedConfig>("twice", "first", Capabilities::NONE),
    TrainerEntry::of::<WrappedConfig>("twice", "second", Capabilities::NONE),
];

/// A name that option strings could not carry.
static NOT_A_WORD: [TrainerEntry; 1] = [TrainerEntry::of::<WrappedConfig>(
    "a:b",
    "bad",
    Capabilities::NONE,
)];

/// A generator called like a built-in real dataset.
static TAKEN_DATASET: [SyntheticEntry; 1] = [SyntheticEntry {
    name: "diabetes",
    ..GENERATORS[0]
}];

/// A trainer that claims a learning rate it does not have.
static NO_LR: [TrainerEntry; 1] = [TrainerEntry::of::<WrappedConfig>(
    "claims-lr",
    "says it has an lr option",
    Capabilities {
        learning_rate: true,
        ..Capabilities::NONE
    },
)];

/// A generator without a `seed` option.
static NO_SEED: [SyntheticEntry; 1] = [SyntheticEntry {
    name: "seedless",
    keys: &[("n", "40")],
    validate_args: |p| p.check_shape(p.usize("n")?, 1, 0.0),
    ..GENERATORS[0]
}];

/// A generator whose feature count names an option it does not list.
static BAD_FEATURES: [SyntheticEntry; 1] = [SyntheticEntry {
    name: "badfeatures",
    features: Features::Option("dd"),
    ..GENERATORS[0]
}];

/// A generator that accepts too few rows for a split.
static FEW_ROWS: [SyntheticEntry; 1] = [SyntheticEntry {
    name: "fewrows",
    validate_args: |p| p.u64("seed").map(drop),
    ..GENERATORS[0]
}];

#[test]
fn registered_entries_work_like_built_ins_and_names_stay_unique() {
    let before: Vec<&str> = registry::trainers().map(|e| e.name).collect();
    assert!(registry::generator("ramp1d").is_none());
    registry::register(&TRAINERS, &GENERATORS).unwrap();

    // Listed after the built-ins, found by name.
    let after: Vec<&str> = registry::trainers().map(|e| e.name).collect();
    assert_eq!(after[..before.len()], before[..]);
    assert_eq!(after[before.len()..], ["wrapped-ols"]);
    assert_eq!(registry::generators().last().unwrap().name, "ramp1d");
    let spec = TrainerSpec::parse("wrapped-ols:ridge=0.5").unwrap();
    assert_eq!(spec.to_json()["trainer"], "wrapped-ols");
    assert_eq!(spec.to_json()["ridge"], 0.5);
    let msg = TrainerSpec::parse("wrapped-ols:ridge=-1")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("ridge"), "{msg}");

    // A 1-D generator is sized 1-D before generating, and generates 1 feature.
    let ramp = DatasetSpec::parse("ramp1d:n=30").unwrap();
    assert_eq!(ramp.synthetic_shape(), Some((30, 1)));
    assert_eq!(ramp.load().unwrap().d(), 1);
    let msg = DatasetSpec::parse("ramp1d:n=2").unwrap_err().to_string();
    assert!(msg.contains("dataset ramp1d option n"), "{msg}");

    // Refusals name the culprit and register nothing.
    for (trainers, generators, culprit) in [
        (&TAKEN_TRAINER[..], &[][..], "\"adam\""),
        (&TWICE[..], &[][..], "\"twice\""),
        (&NOT_A_WORD[..], &[][..], "\"a:b\""),
        (&[][..], &TAKEN_DATASET[..], "\"diabetes\""),
        (&TRAINERS[..], &[][..], "\"wrapped-ols\""),
        (&[][..], &GENERATORS[..], "\"ramp1d\""),
    ] {
        let msg = registry::register(trainers, generators)
            .unwrap_err()
            .to_string();
        assert!(msg.contains(culprit), "{msg}");
        assert!(
            msg.contains("already") || msg.contains("plain") || msg.contains("word"),
            "{msg}"
        );
    }
    // Entries that break the rules the built-ins keep are refused when registered, not when
    // a run trips over them.
    for (trainers, generators, rule) in [
        (
            &NO_LR[..],
            &[][..],
            "capability learning_rate is true but the config has no `lr`",
        ),
        (&[][..], &NO_SEED[..], "needs an option `seed`"),
        (
            &[][..],
            &BAD_FEATURES[..],
            "option `dd`, which it does not list",
        ),
        (&[][..], &FEW_ROWS[..], "accepts n = 2"),
    ] {
        let msg = registry::register(trainers, generators)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("cannot register") && msg.contains(rule),
            "{msg}"
        );
    }
    assert!(registry::trainer("claims-lr").is_err());
    assert!(registry::generator("seedless").is_none());
    assert!(
        registry::trainer("fresh-name").is_err(),
        "nothing of a refused call"
    );
    assert_eq!(
        registry::trainers().filter(|e| e.name == "twice").count(),
        0
    );

    // A sweep runs them beside a built-in, and records them by name.
    let config = RunConfig {
        name: "extension".into(),
        datasets: vec!["ramp1d:n=40".into()],
        trainers: vec!["wrapped-ols".into(), "ols".into()],
        seeds: 1,
        max_iters: 2,
        ..RunConfig::default()
    };
    let plan = Plan::resolve(config).unwrap();
    let output = runner::run_sweep_parallel(&plan, 1, &mut |_| Ok(()), &mut |_| {}).unwrap();
    let report = fitbench_harness::build_report(&plan, output);
    assert_eq!(report.runs.len(), 2);
    for r in &report.runs {
        assert!(r.status.is_ok(), "{}: {:?}", r.trainer, r.message);
        assert_eq!(r.dataset, "ramp1d:n=40");
    }
    assert_eq!(report.runs[0].trainer_id, "wrapped-ols");
    assert_eq!(report.runs[0].trainer_config["trainer"], "wrapped-ols");
}
