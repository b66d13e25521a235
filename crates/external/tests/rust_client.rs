//! The Rust example client (`fitbench-faer-client`, the faer engine's `sgd-faer` behind the
//! protocol) against the in-process `sgd-faer`: the same curve in iteration space, bit for bit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fitbench_classic::{ADAM_FAER, SGD_FAER};
use fitbench_core::registry::TrainerEntry;
use fitbench_core::{Activation, Architecture, Mlp, Options, Split, TrainerConfig, synthetic};
use fitbench_external::ExternalConfig;

const CLIENT: &str = env!("CARGO_BIN_EXE_fitbench-faer-client");

/// Steps compared.
const STEPS: usize = 25;

fn same_curve(entry: &TrainerEntry, options: &str, activation: Activation) {
    let train = Split::new(&synthetic::smooth2d(300, 0.1, 4).unwrap(), 0.2, 1)
        .unwrap()
        .train;
    let initial = Mlp::init(&Architecture::new(vec![7, 5], activation), 2, 1, 9).unwrap();
    let (_, opts) = Options::parse_named(&format!("x:{options}")).unwrap();
    let inner = entry.parse(&opts).unwrap();
    let mut outer_config =
        ExternalConfig::new("faer-client", CLIENT).with_option("algorithm", entry.name);
    for (k, v) in opts.to_json() {
        outer_config = outer_config.with_option(&k, v);
    }
    let mut inner = inner.init(&train, initial.clone(), 17).unwrap();
    let mut outer = outer_config.init(&train, initial, 17).unwrap();
    for step in 0..STEPS {
        let (a, b) = (inner.params(), outer.try_params().unwrap());
        for (l, (wa, wb)) in a.weights.iter().zip(&b.weights).enumerate() {
            for j in 0..wa.ncols() {
                for i in 0..wa.nrows() {
                    assert_eq!(
                        wa[(i, j)].to_bits(),
                        wb[(i, j)].to_bits(),
                        "{} step {step} layer {l} W[{i},{j}]",
                        entry.name
                    );
                }
            }
        }
        assert_eq!(a.biases, b.biases, "{} step {step}", entry.name);
        assert_eq!(inner.step().unwrap(), outer.step().unwrap());
    }
    let loss = |m: &Mlp| m.mse(train.x.as_ref(), train.y.as_ref()).unwrap();
    assert_eq!(
        loss(&inner.params()).to_bits(),
        loss(&outer.try_params().unwrap()).to_bits()
    );
}

#[test]
fn the_rust_client_is_bit_identical_to_the_in_process_sgd_faer() {
    same_curve(&SGD_FAER, "lr=0.05,momentum=0.9,batch=32", Activation::Tanh);
    same_curve(&SGD_FAER, "lr=0.02", Activation::Relu);
}

#[test]
fn the_rust_client_is_bit_identical_to_the_in_process_adam_faer() {
    same_curve(&ADAM_FAER, "lr=0.01,batch=64", Activation::Softplus);
}

#[test]
fn the_rust_client_refuses_an_unknown_option_clearly() {
    let train = Split::new(&synthetic::smooth2d(60, 0.1, 4).unwrap(), 0.2, 1)
        .unwrap()
        .train;
    let initial = Mlp::init(&Architecture::new(vec![3], Activation::Tanh), 2, 1, 9).unwrap();
    let e = ExternalConfig::new("faer-client", CLIENT)
        .with_option("momentun", 0.9)
        .init(&train, initial, 0)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(e.contains("`init` failed") && e.contains("momentun"), "{e}");
}
