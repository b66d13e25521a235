//! Data sets, networks and loops shared by the trainer tests.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use faer::Mat;
use fitbench_core::linalg::min_norm_lstsq;
use fitbench_core::{Activation, Architecture, Dataset, Mlp, StepOutcome, TrainerConfig, rng};

/// A data set named `test` with inputs `x` and targets `y`.
pub fn dataset(x: Mat<f64>, y: Mat<f64>) -> Dataset {
    let names = |m: usize, p: &str| (0..m).map(|j| format!("{p}{j}")).collect();
    let (d, k) = (x.ncols(), y.ncols());
    Dataset::new("test", x, y, names(d, "x"), names(k, "y"), "trainer test").unwrap()
}

/// y = x·B + c + noise, n×d inputs, k outputs.
pub fn linear_data(n: usize, d: usize, k: usize, seed: u64) -> Dataset {
    let mut r = rng::rng(seed);
    let x = Mat::from_fn(n, d, |_, _| rng::uniform(&mut r, -2.0, 2.0));
    let b = Mat::from_fn(d, k, |_, _| rng::uniform(&mut r, -1.0, 1.0));
    let y = Mat::from_fn(n, k, |i, j| {
        let mut v = 0.5 * j as f64 - 0.3;
        for c in 0..d {
            v += x[(i, c)] * b[(c, j)];
        }
        v + 0.3 * rng::uniform(&mut r, -1.0, 1.0)
    });
    dataset(x, y)
}

/// A smooth 2-input target with a little noise.
pub fn tanh_data(n: usize, seed: u64) -> Dataset {
    let mut r = rng::rng(seed);
    let x = Mat::from_fn(n, 2, |_, _| rng::uniform(&mut r, -1.5, 1.5));
    let y = Mat::from_fn(n, 1, |i, _| {
        (2.0 * x[(i, 0)]).sin() + x[(i, 0)] * x[(i, 1)] + 0.05 * rng::uniform(&mut r, -1.0, 1.0)
    });
    dataset(x, y)
}

pub fn tanh_net(seed: u64) -> Mlp {
    Mlp::init(&Architecture::new(vec![8], Activation::Tanh), 2, 1, seed).unwrap()
}

/// The train MSE after each step (stops early at `Converged`).
pub fn losses(config: &dyn TrainerConfig, data: &Dataset, net: Mlp, steps: usize) -> Vec<f64> {
    let mut trainer = config.init(data, net, 0).unwrap();
    let mut out = Vec::new();
    for _ in 0..steps {
        let outcome = trainer.step().unwrap();
        out.push(
            trainer
                .params()
                .mse(data.x.as_ref(), data.y.as_ref())
                .unwrap(),
        );
        if outcome == StepOutcome::Converged {
            break;
        }
    }
    out
}

/// The train MSE of the ordinary-least-squares fit (with intercept) of `data`.
pub fn ols_train_mse(data: &Dataset) -> f64 {
    let fit = min_norm_lstsq(data.x.as_ref(), data.y.as_ref(), None).unwrap();
    let (d, k) = (data.d(), data.k());
    let pred = Mat::from_fn(data.n(), k, |i, j| {
        (0..d)
            .map(|c| data.x[(i, c)] * fit.theta[(c, j)])
            .sum::<f64>()
            + fit.theta[(d, j)]
    });
    fitbench_core::mlp::mse_of(pred.as_ref(), data.y.as_ref())
}

/// Set in the child processes of [`same_bits_in_other_processes_and_thread_counts`]: the
/// thread count (faer's global parallelism) the child runs with.
const THREADS_VAR: &str = "FITBENCH_TEST_DETERMINISM_THREADS";

/// The thread counts the child processes run with.
pub const THREAD_COUNTS: [usize; 3] = [1, 2, 4];

/// The train MSE after each step, then every weight and bias of the final network.
pub fn losses_and_params(
    config: &dyn TrainerConfig,
    data: &Dataset,
    net: Mlp,
    steps: usize,
) -> Vec<f64> {
    let mut trainer = config.init(data, net, 0).unwrap();
    let mut out = Vec::new();
    for _ in 0..steps {
        let outcome = trainer.step().unwrap();
        out.push(
            trainer
                .params()
                .mse(data.x.as_ref(), data.y.as_ref())
                .unwrap(),
        );
        if outcome == StepOutcome::Converged {
            break;
        }
    }
    let m = trainer.params();
    for (w, b) in m.weights.iter().zip(&m.biases) {
        out.extend((0..w.nrows()).flat_map(|i| (0..w.ncols()).map(move |j| w[(i, j)])));
        out.extend(b.iter().copied());
    }
    out
}

fn hex(values: &[f64]) -> String {
    values
        .iter()
        .map(|v| format!("{:016x}", v.to_bits()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Determinism across processes and thread counts: `compute` runs here and, in fresh runs of
/// this test binary (`test` is the calling test's name), once per [`THREAD_COUNTS`] with
/// faer's global parallelism set to it; every run must give the same bits. In a child run
/// (the variable set) it prints its bits and returns.
pub fn same_bits_in_other_processes_and_thread_counts(test: &str, compute: impl Fn() -> Vec<f64>) {
    if let Ok(threads) = std::env::var(THREADS_VAR) {
        let threads: usize = threads.parse().unwrap();
        faer::set_global_parallelism(if threads <= 1 {
            faer::Par::Seq
        } else {
            faer::Par::rayon(threads)
        });
        println!("bits: {}", hex(&compute()));
        return;
    }
    let here = hex(&compute());
    for threads in THREAD_COUNTS {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env(THREADS_VAR, threads.to_string())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{test} with {threads} thread(s): {stdout}"
        );
        let bits = stdout
            .lines()
            .find_map(|l| l.split_once("bits: ").map(|(_, bits)| bits))
            .unwrap_or_else(|| panic!("{test} with {threads} thread(s) printed no bits: {stdout}"));
        assert_eq!(
            bits, here,
            "{test}: another process with {threads} thread(s) gave other bits"
        );
    }
}
