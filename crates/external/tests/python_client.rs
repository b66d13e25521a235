//! The Python client's `pure_gd.py` through the protocol (needs `python3`, no NumPy).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fitbench_core::{Activation, Architecture, Mlp, Split, TrainerConfig, synthetic};
use fitbench_external::ExternalConfig;
use std::path::PathBuf;

fn client(example: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = root.join("clients/python/examples").join(example);
    format!("python3 {}", path.display())
}

#[test]
fn pure_gd_lowers_the_loss_through_the_protocol() {
    let train = Split::new(&synthetic::smooth2d(120, 0.1, 1).unwrap(), 0.2, 0)
        .unwrap()
        .train;
    let initial = Mlp::init(&Architecture::new(vec![6], Activation::Tanh), 2, 1, 3).unwrap();
    let before = initial.mse(train.x.as_ref(), train.y.as_ref()).unwrap();
    let config = ExternalConfig::new("pure-gd", &client("pure_gd.py"));
    let mut t = config.init(&train, initial.clone(), 0).unwrap();
    assert_eq!(
        t.params(),
        initial,
        "the child starts from the shared weights, bit for bit"
    );
    for _ in 0..20 {
        t.step().unwrap();
    }
    let after = t.params().mse(train.x.as_ref(), train.y.as_ref()).unwrap();
    assert!(after < before, "{before} -> {after}");
    let overhead = t.counters()[0].1;
    assert!(overhead > 0.0 && overhead.is_finite());
}

#[test]
fn a_missing_command_is_a_clear_error() {
    let train = Split::new(&synthetic::smooth2d(50, 0.1, 1).unwrap(), 0.2, 0)
        .unwrap()
        .train;
    let initial = Mlp::init(&Architecture::new(vec![3], Activation::Tanh), 2, 1, 3).unwrap();
    let e = ExternalConfig::new("ghost", "/no/such/program --flag")
        .init(&train, initial, 0)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("could not start") && e.contains("/no/such/program"),
        "{e}"
    );
}
