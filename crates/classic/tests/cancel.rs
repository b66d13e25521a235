//! Cancellation of a step in progress: with a token already cancelled, a step of every
//! classic trainer returns at once with [`Error::Cancelled`] and changes nothing; `lm`'s
//! estimates name JᵀJ and its factorisation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fitbench_classic::lm::LmConfig;
use fitbench_classic::{
    ADAM_FAER, AdamFaerConfig, LBFGS, LM, LbfgsConfig, SGD_FAER, SgdFaerConfig,
};
use fitbench_core::linalg::cholesky_mem_bytes;
use fitbench_core::{CancelToken, Cancelled, Error, TrainerConfig};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

mod common;
use common::{tanh_data, tanh_net};

#[test]
fn a_step_with_a_cancelled_token_returns_at_once_and_changes_nothing() {
    let data = tanh_data(120, 2);
    let configs: Vec<(&str, Box<dyn TrainerConfig>)> = vec![
        (LM.name, Box::new(LmConfig::default())),
        (LBFGS.name, Box::new(LbfgsConfig::default())),
        (
            ADAM_FAER.name,
            Box::new(AdamFaerConfig {
                batch: 16,
                ..AdamFaerConfig::default()
            }),
        ),
        (
            SGD_FAER.name,
            Box::new(SgdFaerConfig {
                batch: 16,
                ..SgdFaerConfig::default()
            }),
        ),
    ];
    for (name, config) in configs {
        let mut t = config.init(&data, tanh_net(4), 0).unwrap();
        t.step().unwrap();
        let before = t.params();
        let flag = Arc::new(AtomicBool::new(true));
        t.set_cancel(CancelToken::new(flag));
        for _ in 0..3 {
            match t.step() {
                Err(Error::Cancelled(Cancelled::Interrupted)) => {}
                other => panic!("{}: {other:?}", name),
            }
        }
        assert_eq!(t.params(), before, "{}", name);
        // A deadline already past cancels too.
        let token = CancelToken::new(Arc::new(AtomicBool::new(false)));
        token.set_deadline(Some(std::time::Instant::now()));
        t.set_cancel(token);
        assert!(matches!(
            t.step(),
            Err(Error::Cancelled(Cancelled::Deadline))
        ));
        assert_eq!(t.params(), before, "{}", name);
    }
}

#[test]
fn lm_estimates_count_jtj_its_factor_and_workspace_and_name_them() {
    let config = LmConfig::default();
    // d = 10, 1 500 hidden units, 1 output: p = 11·1500 + 1501 = 18 001 (the case).
    let widths = [10, 1500, 1];
    let p = 18_001usize;
    let gram = LmConfig::gram_bytes(p);
    assert_eq!(gram, (p * p * 8) as u64);
    let par = faer::get_global_parallelism();
    let bytes = config.memory_bytes(353, &widths);
    assert!(
        bytes >= 2 * gram + cholesky_mem_bytes(p, par) + LmConfig::jacobian_bytes(353, 1, p),
        "{bytes}"
    );
    let cost = config.step_cost(353, &widths).unwrap();
    // The Cholesky alone is p³/3.
    assert!(cost.flops >= (p as f64).powi(3) / 3.0, "{}", cost.flops);
    for part in [
        format!("p = {p} parameters"),
        format!("JᵀJ (p×p f64) {gram} bytes"),
        "Cholesky".into(),
    ] {
        assert!(cost.detail.contains(&part), "{part:?}: {}", cost.detail);
    }
}
