//! Criterion benchmarks: per-step cost of every trainer and of the shared kernels.
#![allow(missing_docs, clippy::unwrap_used)]
//!
//! Every trainer is measured on the same problem family at two sizes: a tanh (ReLU for
//! `analytic`) teacher with n = 1 000 and n = 10 000 rows, d = 16 features, a student with one
//! hidden layer of 64 units. Throughput is reported as criterion "elements" per second where
//! one element is one flop of the step's nominal flop count (`Trainer::flops_per_step`), so
//! `Gelem/s` reads as GFLOP/s and a slower step can be told apart from more steps.
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

/// The allocator of the `fitbench` binary (see `crates/cli/src/main.rs`), so that burn's
/// epochs are measured as the harness runs them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
/// the pattern fixed), with the joint Gram matrix built from the pattern's sums (the default
/// at h = 64) and by dense products. Throughput: the nominal dense-form flop count
/// ([`Trainer::flops_per_step`]), the same for both, so their rates compare as speeds.
fn analytic(c: &mut Criterion) {
    use fitbench_analytic::{Analytic, AnalyticConfig, GramMethod};
    one_thread();
    let mut g = c.benchmark_group("analytic");
    for n in SIZES {
        for (gram, suffix) in [(GramMethod::Pattern, ""), (GramMethod::Dense, "_dense")] {
            let (data, initial) = problem(n, Activation::Relu);
            let config = AnalyticConfig {
                gram,
                ..AnalyticConfig::default()
            };
            let mut t = Analytic::new(config, &data, initial).unwrap();
            t.step().unwrap();
            g.throughput(flops(&t));
            g.bench_function(format!("step_n{n}_d16_h64_relu{suffix}"), |b| {
                b.iter(|| black_box(t.step().unwrap()))
            });
        }
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

/// The faer engine's loss and gradient (f64, ReLU, one thread), the kernel of `lbfgs`,
/// `adam-faer` and `sgd-faer`. Throughput: [`fitbench_core::flops::gradient`].
fn engine(c: &mut Criterion) {
    use fitbench_classic::engine::{self, Workspace};
    one_thread();
    let mut g = c.benchmark_group("engine");
    for n in SIZES {
        let (data, initial) = problem(n, Activation::Relu);
        let mut ws = Workspace::new(&initial, n);
        let mut grad = vec![0.0; initial.n_params()];
        g.throughput(Throughput::Elements(
            engine::gradient_flops(&initial.widths, n) as u64,
        ));
        g.bench_function(format!("loss_gradient_n{n}_d16_h64_relu"), |b| {
            b.iter(|| {
                black_box(
                    engine::loss_and_gradient(
                        &initial,
                        data.x.as_ref(),
                        data.y.as_ref(),
                        0.0,
                        &mut ws,
                        &mut grad,
                    )
                    .unwrap(),
                )
            })
        });
    }
    g.finish();
}

/// One L-BFGS iteration (line search included), the second from the shared initial weights
/// (a fresh trainer that has taken one step is built per sample outside the timed region,
/// so the initial point's evaluation is not in the measurement). Throughput: the
/// evaluations the measured step computed × [`fitbench_core::flops::gradient`], taken from
/// a probe, so that `Gelem/s` set beside `engine/loss_gradient_*` shows the share of a step
/// spent outside the evaluations (argmin's bookkeeping).
fn lbfgs(c: &mut Criterion) {
    use fitbench_classic::LbfgsConfig;
    use fitbench_classic::engine;
    one_thread();
    let mut g = c.benchmark_group("lbfgs");
    for n in SIZES {
        let (data, initial) = problem(n, Activation::Relu);
        let fresh = || {
            let mut t = LbfgsConfig::default()
                .init(&data, initial.clone(), 0)
                .unwrap();
            t.step().unwrap();
            t
        };
        let mut probe = fresh();
        let before = probe.counters()[0].1;
        probe.step().unwrap();
        let evaluations = probe.counters()[0].1 - before;
        g.throughput(Throughput::Elements(
            (evaluations * engine::gradient_flops(&initial.widths, n)) as u64,
        ));
        g.bench_function(format!("step_n{n}_d16_h64_relu"), |b| {
            b.iter_batched(
                fresh,
                |mut t| black_box(t.step().unwrap()),
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

/// JᵀJ (lower triangle) of a random n×p Jacobian, the dominant product of an `lm` step, at
/// p = 1 153 (d = 16, h = 64). Throughput: [`fitbench_core::flops::gram`].
fn gram(c: &mut Criterion) {
    use faer::Accum;
    use faer::linalg::matmul::triangular::{BlockStructure, matmul};
    one_thread();
    let p = (D + 1) * H + H + 1;
    let mut g = c.benchmark_group("lm_gram");
    for n in SIZES {
        let j = Mat::from_fn(n, p, |r, c| {
            (((r * 31 + c * 17) % 101) as f64 - 50.0) / 50.0
        });
        let mut out = Mat::<f64>::zeros(p, p);
        g.throughput(Throughput::Elements(fitbench_core::flops::gram(n, p) as u64));
        g.bench_function(format!("jtj_n{n}_p{p}"), |b| {
            b.iter(|| {
                matmul(
                    out.as_mut(),
                    BlockStructure::TriangularLower,
                    Accum::Replace,
                    j.transpose(),
                    BlockStructure::Rectangular,
                    j.as_ref(),
                    BlockStructure::Rectangular,
                    1.0,
                    Par::Seq,
                );
                black_box(out[(0, 0)])
            })
        });
    }
    g.finish();
}

/// One full-batch f64 epoch of the faer twins `adam-faer` and `sgd-faer` (tanh, one thread).
/// Throughput: [`fitbench_core::flops::gradient`].
fn faer_gradient(c: &mut Criterion) {
    use fitbench_classic::{AdamFaerConfig, SgdFaerConfig};
    one_thread();
    let configs: [(&str, Box<dyn TrainerConfig>); 2] = [
        ("adam-faer", Box::new(AdamFaerConfig::default())),
        ("sgd-faer", Box::new(SgdFaerConfig::default())),
    ];
    for (name, config) in configs {
        let mut g = c.benchmark_group(name);
        for n in SIZES {
            let (data, initial) = problem(n, Activation::Tanh);
            let mut t = config.init(&data, initial, 0).unwrap();
            g.throughput(flops(t.as_ref()));
            g.bench_function(format!("epoch_n{n}_d16_h64_f64"), |b| {
                b.iter(|| black_box(t.step().unwrap()))
            });
        }
        g.finish();
    }
}

/// The activations the framework comparison covers: ReLU, the smooth ones and leaky ReLU
/// (the gate's presets).
const FRAMEWORK_ACTIVATIONS: [Activation; 5] = [
    Activation::Relu,
    Activation::Tanh,
    Activation::Sigmoid,
    Activation::Softplus,
    Activation::LeakyRelu { alpha: 0.01 },
];

/// One full-batch epoch at n = 8 000, d = 16, h = 64 (one thread) per activation: burn f32 and
/// f64 (flex) beside the faer engine's f64 twin, for Adam (`adam_n8000`) and SGD with
/// momentum (`sgd_n8000`) — the framework comparison `../shared/refs/measure.sh` makes
/// against torch. Throughput: [`fitbench_core::flops::gradient`].
fn adam_frameworks(c: &mut Criterion) {
    use fitbench_classic::{AdamFaerConfig, SgdFaerConfig};
    use fitbench_sgd::{AdamConfig, Kernels, Precision, SgdConfig};
    one_thread();
    type Make = fn() -> Box<dyn TrainerConfig>;
    // `burn_kernels`: burn's own smooth activations (`kernels=burn`), for the ratio to
    // fitbench's fused ones in the same run.
    let groups: [(&str, [(&str, Make); 4]); 2] = [
        (
            "adam_n8000",
            [
                ("burn_flex_f32", || Box::new(AdamConfig::default())),
                ("burn_flex_f32_burn_kernels", || {
                    Box::new(AdamConfig::default().kernels(Kernels::Burn))
                }),
                ("burn_flex_f64", || {
                    Box::new(AdamConfig::default().precision(Precision::F64))
                }),
                ("faer_f64", || Box::new(AdamFaerConfig::default())),
            ],
        ),
        (
            "sgd_n8000",
            [
                ("burn_flex_f32", || Box::new(SgdConfig::default())),
                ("burn_flex_f32_burn_kernels", || {
                    Box::new(SgdConfig::default().kernels(Kernels::Burn))
                }),
                ("burn_flex_f64", || {
                    Box::new(SgdConfig::default().precision(Precision::F64))
                }),
                ("faer_f64", || Box::new(SgdFaerConfig::default())),
            ],
        ),
    ];
    for (group, configs) in groups {
        let mut g = c.benchmark_group(group);
        for act in FRAMEWORK_ACTIVATIONS {
            let (data, initial) = problem(8_000, act);
            for (name, make) in configs {
                let mut t = make().init(&data, initial.clone(), 0).unwrap();
                g.throughput(flops(t.as_ref()));
                // `leaky_relu:0.01` → `leaky_relu` in the id.
                let act_name = act.to_string();
                let act_name = act_name.split(':').next().unwrap_or("activation");
                g.bench_function(format!("epoch_{act_name}_{name}"), |b| {
                    b.iter(|| black_box(t.step().unwrap()))
                });
            }
        }
        g.finish();
    }
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

/// One `lsq` sweep of the two-hidden-layer network 16 → 64 → 64 → 1, tanh and leaky ReLU, at
/// n = 10 000 (the speed issue's targets).
fn lsq_deep(c: &mut Criterion) {
    one_thread();
    let mut g = c.benchmark_group("lsq_deep");
    let n = 10_000;
    for (name, act) in [
        ("tanh", Activation::Tanh),
        ("leaky_relu", Activation::LeakyRelu { alpha: 0.1 }),
    ] {
        let data = synthetic::teacher(n, D, &[8], act, 0.1, 0).unwrap();
        let initial = Mlp::init(&Architecture::new(vec![H, H], act), D, 1, 0).unwrap();
        let mut t = LsqConfig::default().init(&data, initial, 0).unwrap();
        g.throughput(flops(t.as_ref()));
        g.bench_function(format!("step_n{n}_d16_h64x2_{name}"), |b| {
            b.iter(|| black_box(t.step().unwrap()))
        });
    }
    g.finish();
}

/// The activation kernels over 640 000 values (n = 10 000 rows × 64 units), in place:
/// fitbench's vectorised kernels ([`fitbench_core::vmath`]) against the scalar libm loop they
/// replaced. Throughput: values per second.
fn activations(c: &mut Criterion) {
    let mut g = c.benchmark_group("activations");
    let len = 640_000;
    let base: Vec<f64> = (0..len)
        .map(|i| ((i as f64) * 0.618_033_988_749_895).fract() * 6.0 - 3.0)
        .collect();
    let unit: Vec<f64> = base.iter().map(|x| x / 3.1).collect();
    g.throughput(Throughput::Elements(len as u64));
    let mut buf = base.clone();
    g.bench_function("tanh_vmath", |b| {
        b.iter(|| {
            buf.copy_from_slice(&base);
            Activation::Tanh.apply_shifted_in_place(&mut buf, 0.0);
            black_box(&buf);
        })
    });
    g.bench_function("tanh_libm", |b| {
        b.iter(|| {
            buf.copy_from_slice(&base);
            buf.iter_mut().for_each(|x| *x = x.tanh());
            black_box(&buf);
        })
    });
    g.bench_function("atanh_vmath", |b| {
        b.iter(|| {
            buf.copy_from_slice(&unit);
            Activation::Tanh.inverse_clipped_in_place(&mut buf, 1e-12);
            black_box(&buf);
        })
    });
    g.bench_function("log1p_vmath", |b| {
        b.iter(|| {
            buf.copy_from_slice(&unit);
            fitbench_core::vmath::map_in_place(&mut buf, fitbench_core::vmath::log1p);
            black_box(&buf);
        })
    });
    g.bench_function("log_vmath", |b| {
        b.iter(|| {
            buf.copy_from_slice(&unit);
            fitbench_core::vmath::map_in_place(&mut buf, |x| fitbench_core::vmath::log(x.abs()));
            black_box(&buf);
        })
    });
    g.bench_function("atanh_libm", |b| {
        b.iter(|| {
            buf.copy_from_slice(&unit);
            buf.iter_mut()
                .for_each(|x| *x = x.clamp(-1.0 + 1e-12, 1.0 - 1e-12).atanh());
            black_box(&buf);
        })
    });
    g.bench_function("sigmoid_vmath", |b| {
        b.iter(|| {
            buf.copy_from_slice(&base);
            Activation::Sigmoid.apply_shifted_in_place(&mut buf, 0.0);
            black_box(&buf);
        })
    });
    g.bench_function("softplus_vmath", |b| {
        b.iter(|| {
            buf.copy_from_slice(&base);
            Activation::Softplus.apply_shifted_in_place(&mut buf, 0.0);
            black_box(&buf);
        })
    });
    g.finish();
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
    targets = calibration, evaluation, activations, engine, ols, lsq, lsq_deep, analytic,
        lbfgs, lm, gram, sgd, adam, faer_gradient, adam_frameworks
}
criterion_main!(benches);
