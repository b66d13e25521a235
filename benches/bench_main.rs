//! Criterion benchmarks: per-step cost of the trainers and the shared kernels.
#![allow(missing_docs, clippy::unwrap_used)]
//!
//! Run all with `cargo bench`, or a subset with `cargo bench --bench bench_main -- NAME`
//! (e.g. `-- ols`). Threads: faer runs single-threaded here (`Par::Seq`), like the harness
//! default.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};
use fitbench_core::Trainer;
use fitbench_core::{Activation, Architecture, Mlp, TrainerConfig, synthetic};
use fitbench_lsq::{LsqConfig, OlsConfig};
use std::hint::black_box;

/// faer f64 matmul, 256³, one thread: the calibration kernel other throughputs compare to.
fn calibration(c: &mut Criterion) {
    let n = 256;
    let a = Mat::from_fn(n, n, |i, j| ((i * 7 + j * 3) % 13) as f64 / 13.0);
    let mut out = Mat::zeros(n, n);
    let mut g = c.benchmark_group("calibration");
    g.throughput(Throughput::Elements((2 * n * n * n) as u64)); // flops
    g.bench_function("faer_matmul_256", |b| {
        b.iter(|| {
            matmul(
                out.as_mut(),
                Accum::Replace,
                a.as_ref(),
                a.as_ref(),
                1.0,
                Par::Seq,
            )
        });
    });
    g.finish();
}

/// The shared f64 forward + MSE at n = 10 000, d = 16, hidden 64.
fn evaluation(c: &mut Criterion) {
    faer::set_global_parallelism(Par::Seq);
    let data = synthetic::teacher(10_000, 16, &[8], Activation::Tanh, 0.1, 0).unwrap();
    let net = Mlp::init(&Architecture::new(vec![64], Activation::Tanh), 16, 1, 0).unwrap();
    let mut g = c.benchmark_group("evaluation");
    g.throughput(Throughput::Elements((2 * 10_000 * (16 * 64 + 64)) as u64));
    g.bench_function("forward_mse_n10000_d16_h64", |b| {
        b.iter(|| black_box(net.mse(data.x.as_ref(), data.y.as_ref()).unwrap()))
    });
    g.finish();
}

/// One `ols` step (the whole closed-form solve) at n = 10 000, d = 16.
fn ols(c: &mut Criterion) {
    faer::set_global_parallelism(Par::Seq);
    let data = synthetic::linear(10_000, 16, 0.1, 0).unwrap();
    let config = OlsConfig::default();
    let initial = Mlp::init(&Architecture::linear(), 16, 1, 0).unwrap();
    let mut g = c.benchmark_group("ols");
    let probe = config.init(&data, initial.clone(), 0).unwrap();
    g.throughput(Throughput::Elements(
        probe.flops_per_step().unwrap_or(0.0) as u64
    ));
    g.bench_function("step_n10000_d16", |b| {
        b.iter_batched(
            || config.init(&data, initial.clone(), 0).unwrap(),
            |mut t| black_box(t.step().unwrap()),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

/// One `lsq` sweep (backward targets + refit of every layer), widths 16→64→64→1, tanh, at
/// n = 1 000 and n = 10 000. Throughput is the documented flop count of the step.
fn lsq(c: &mut Criterion) {
    faer::set_global_parallelism(Par::Seq);
    let mut g = c.benchmark_group("lsq");
    let cases = [
        (1_000, Activation::Tanh),
        (10_000, Activation::Tanh),
        (10_000, Activation::LeakyRelu { alpha: 0.1 }),
    ];
    for (n, act) in cases {
        let data = synthetic::teacher(n, 16, &[8], act, 0.1, 0).unwrap();
        let arch = Architecture::new(vec![64, 64], act);
        let initial = Mlp::init(&arch, 16, 1, 0).unwrap();
        let mut t = LsqConfig::default().init(&data, initial, 0).unwrap();
        g.throughput(Throughput::Elements(
            t.flops_per_step().unwrap_or(0.0) as u64
        ));
        let name = format!("step_n{n}_16-64-64-1_{}", act.to_string().replace(':', ""));
        g.bench_function(name, |b| b.iter(|| black_box(t.step().unwrap())));
    }
    g.finish();
}

/// One full-batch Adam epoch (f32, one thread) at n = 8 000, d = 16, hidden 64 (tanh), per
/// burn backend in this build. Throughput: 6·n·Σ mₗ₋₁mₗ matmul flops.
fn adam(c: &mut Criterion) {
    use fitbench_sgd::{AdamConfig, Backend};
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global();
    let data = synthetic::teacher(8_000, 16, &[8], Activation::Tanh, 0.1, 0).unwrap();
    let initial = Mlp::init(&Architecture::new(vec![64], Activation::Tanh), 16, 1, 0).unwrap();
    let mut g = c.benchmark_group("adam");
    for backend in [Backend::Flex, Backend::Ndarray]
        .into_iter()
        .filter(|b| b.is_available())
    {
        let config = AdamConfig {
            backend,
            ..AdamConfig::default()
        };
        let mut t = config.init(&data, initial.clone(), 0).unwrap();
        g.throughput(Throughput::Elements(
            t.flops_per_step().unwrap_or(0.0) as u64
        ));
        g.bench_function(
            format!("epoch_n8000_d16_h64_f32_{backend:?}").to_lowercase(),
            |b| b.iter(|| black_box(t.step().unwrap())),
        );
    }
    g.finish();
}

/// One alternation of the analytic two-layer ReLU solver (joint hidden solve) at n = 3 200,
/// d = 16, h = 64, one thread. Throughput: the flops the step actually performed (pattern
/// sparsity and symmetry exploited), measured on a first step.
fn analytic(c: &mut Criterion) {
    use fitbench_analytic::{Analytic, AnalyticConfig, HiddenSolve};
    faer::set_global_parallelism(Par::Seq);
    let data = synthetic::teacher(3_200, 16, &[8], Activation::Relu, 0.1, 0).unwrap();
    let initial = Mlp::init(&Architecture::new(vec![64], Activation::Relu), 16, 1, 0).unwrap();
    let config = AnalyticConfig {
        hidden_solve: HiddenSolve::Joint,
        ..AnalyticConfig::default()
    };
    let mut t = Analytic::new(config, &data, initial).unwrap();
    t.step().unwrap();
    let mut g = c.benchmark_group("analytic");
    g.throughput(Throughput::Elements(t.last_step_flops() as u64));
    g.bench_function("step_n3200_d16_h64_relu", |b| {
        b.iter(|| black_box(t.step().unwrap()))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = calibration, evaluation, ols, lsq, adam, analytic
}
criterion_main!(benches);
