//! Criterion benchmarks: per-step cost of every trainer and of the shared kernels.
#![allow(missing_docs, clippy::unwrap_used)]
//!
//! Every trainer is measured on the same problem family at two sizes: a tanh (ReLU for
//! `analytic`) teacher with n = 1 000 and n = 10 000 rows, d = 16 features, a student with one
//! hidden layer of 64 units. Throughput is reported as criterion "elements" per second where
//! one element is one flop of the step's flop count (`Trainer::flops_per_step`, or for
//! `analytic` the flops its step actually performed), so `Gelem/s` reads as GFLOP/s and a
//! slower step can be told apart from more steps.
//!
//! Run all with `cargo bench` (well under a minute after the build: 10 samples, about 1 s per bench), or a subset with
//! `cargo bench --bench bench_main -- NAME` where NAME matches a group or bench id, e.g.
//! `-- calibration`, `-- lsq`, `-- n10000`, `-- 'adam/epoch_n1000'`. `--features ndarray`
//! adds the burn-ndarray backend to `sgd` and `adam`. Everything runs on one thread
//! (`Par::Seq`, a one-thread rayon pool), like the harness default.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use faer::{Mat, Par};
use fitbench_core::{Activation, Architecture, Dataset, Mlp, Trainer, TrainerConfig, synthetic};
use fitbench_lsq::{LsqConfig, OlsConfig};
use std::hint::black_box;

/// Rows of the two problem sizes.
const SIZES: [usize; 2] = [1_000, 10_000];
/// Features.
const D: usize = 16;
/// Hidden width of every student network.
const H: usize = 64;

fn one_thread() {
    faer::set_global_parallelism(Par::Seq);
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global();
}

/// The benchmark problem: a teacher with 8 hidden units of `act`, 10 % noise, seed 0.
fn problem(n: usize, act: Activation) -> (Dataset, Mlp) {
    let data = synthetic::teacher(n, D, &[8], act, 0.1, 0).unwrap();
    let initial = Mlp::init(&Architecture::new(vec![H], act), D, 1, 0).unwrap();
    (data, initial)
}

fn flops(t: &dyn Trainer) -> Throughput {
    Throughput::Elements(t.flops_per_step().unwrap_or(0.0) as u64)
}

/// faer f64 matmul, 256³, one thread: the calibration kernel other throughputs compare to
/// (reports measure the same kernel before and after every sweep).
fn calibration(c: &mut Criterion) {
    use fitbench_core::linalg::{CALIBRATION_N, calibration_kernel, calibration_matrix};
    let a = calibration_matrix();
    let mut out = Mat::zeros(CALIBRATION_N, CALIBRATION_N);
    let mut g = c.benchmark_group("calibration");
    g.throughput(Throughput::Elements(2 * (CALIBRATION_N as u64).pow(3))); // flops
    g.bench_function("faer_matmul_256", |b| {
        b.iter(|| calibration_kernel(out.as_mut(), a.as_ref()));
    });
    g.finish();
}

/// The shared f64 forward + MSE every trainer is scored with (16 → 64 tanh → 1).
fn evaluation(c: &mut Criterion) {
    one_thread();
    let mut g = c.benchmark_group("evaluation");
    for n in SIZES {
        let (data, net) = problem(n, Activation::Tanh);
        g.throughput(Throughput::Elements((2 * n * (D * H + H)) as u64));
        g.bench_function(format!("forward_mse_n{n}_d16_h64"), |b| {
            b.iter(|| black_box(net.mse(data.x.as_ref(), data.y.as_ref()).unwrap()))
        });
    }
    g.finish();
}

/// One `ols` step: the whole closed-form solve (Gram, Cholesky, solve), rebuilt per sample.
fn ols(c: &mut Criterion) {
    one_thread();
    let config = OlsConfig::default();
    let mut g = c.benchmark_group("ols");
    for n in SIZES {
        let (data, _) = problem(n, Activation::Tanh);
        let initial = Mlp::init(&Architecture::linear(), D, 1, 0).unwrap();
        g.throughput(flops(
            config.init(&data, initial.clone(), 0).unwrap().as_ref(),
        ));
        g.bench_function(format!("step_n{n}_d16"), |b| {
            b.iter_batched(
                || config.init(&data, initial.clone(), 0).unwrap(),
                |mut t| black_box(t.step().unwrap()),
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

/// One `lsq` sweep (backward targets through tanh⁻¹, then a ridge refit of both layers).
fn lsq(c: &mut Criterion) {
    one_thread();
    let mut g = c.benchmark_group("lsq");
    for n in SIZES {
        let (data, initial) = problem(n, Activation::Tanh);
        let mut t = LsqConfig::default().init(&data, initial, 0).unwrap();
        g.throughput(flops(t.as_ref()));
        g.bench_function(format!("step_n{n}_d16_h64_tanh"), |b| {
            b.iter(|| black_box(t.step().unwrap()))
        });
    }
    g.finish();
}

/// One alternation of the analytic two-layer ReLU solver (output solve + hidden solve with
/// the pattern fixed). Throughput: the flops the step actually performed (symmetry and the
/// pattern exploited), measured on a first step.
fn analytic(c: &mut Criterion) {
    use fitbench_analytic::{Analytic, AnalyticConfig};
    one_thread();
    let mut g = c.benchmark_group("analytic");
    for n in SIZES {
        let (data, initial) = problem(n, Activation::Relu);
        let mut t = Analytic::new(AnalyticConfig::default(), &data, initial).unwrap();
        t.step().unwrap();
        g.throughput(Throughput::Elements(t.last_step_flops() as u64));
        g.bench_function(format!("step_n{n}_d16_h64_relu"), |b| {
            b.iter(|| black_box(t.step().unwrap()))
        });
    }
    g.finish();
}

/// One Levenberg–Marquardt iteration (Jacobian, JᵀJ, damped Cholesky solve, trial loss),
/// always the first from the shared initial weights (a fresh trainer per sample, built
/// outside the timed region), so convergence cannot make later samples cheaper.
/// Throughput: the step's flop count.
fn lm(c: &mut Criterion) {
    use fitbench_classic::LmConfig;
    one_thread();
    let mut g = c.benchmark_group("lm");
    for n in SIZES {
        let (data, initial) = problem(n, Activation::Tanh);
        let probe = LmConfig::default().init(&data, initial.clone(), 0).unwrap();
        g.throughput(flops(probe.as_ref()));
        drop(probe);
        g.bench_function(format!("step_n{n}_d16_h64_tanh"), |b| {
            b.iter_batched(
                || LmConfig::default().init(&data, initial.clone(), 0).unwrap(),
                |mut t| black_box(t.step().unwrap()),
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

/// One full-batch epoch of a burn gradient trainer (f32, one thread) per backend in the
/// build. Throughput: 6·n·Σ mₗ₋₁mₗ matmul flops (forward, and two products backward).
fn gradient(
    c: &mut Criterion,
    name: &str,
    make: &dyn Fn(fitbench_sgd::Backend) -> Box<dyn TrainerConfig>,
) {
    use fitbench_sgd::Backend;
    one_thread();
    let mut g = c.benchmark_group(name);
    for n in SIZES {
        let (data, initial) = problem(n, Activation::Tanh);
        for backend in [Backend::Flex, Backend::Ndarray]
            .into_iter()
            .filter(|b| b.is_available())
        {
            let mut t = make(backend).init(&data, initial.clone(), 0).unwrap();
            g.throughput(flops(t.as_ref()));
            g.bench_function(
                format!("epoch_n{n}_d16_h64_f32_{backend:?}").to_lowercase(),
                |b| b.iter(|| black_box(t.step().unwrap())),
            );
        }
    }
    g.finish();
}

fn sgd(c: &mut Criterion) {
    gradient(c, "sgd", &|backend| {
        Box::new(fitbench_sgd::SgdConfig::default().backend(backend))
    });
}

fn adam(c: &mut Criterion) {
    gradient(c, "adam", &|backend| {
        Box::new(fitbench_sgd::AdamConfig::default().backend(backend))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(std::time::Duration::from_millis(300))
        .measurement_time(std::time::Duration::from_secs(1));
    targets = calibration, evaluation, ols, lsq, analytic, lm, sgd, adam
}
criterion_main!(benches);
