//! Heap accounting ([`fitbench_harness::alloc`]): every run records its peak bytes and the
//! allocations made inside its timed steps; the faer trainers make none (one thread); a
//! trainer that allocates in `step` is caught by `fitbench check`; each trainer's estimate
//! ([`TrainerConfig::memory_bytes`]) is within a factor of 2 of what it measurably uses.
//!
//! This test binary installs the counting allocator around the system allocator, as the
//! `fitbench` binary does around mimalloc. The tests of this file share the process-wide
//! counters, so they run one at a time (a mutex).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fitbench_core::{Architecture, Dataset, Mlp, StepOutcome, Trainer, TrainerConfig};
use fitbench_harness::alloc::{self, Counting, Window};
use fitbench_harness::registry;
use fitbench_harness::runner::{self, Plan, PlannedTrainer};
use fitbench_render::check::{self, Tolerances, Verdict};
use fitbench_report::config::RunConfig;
use fitbench_report::schema::Report;
use std::sync::Mutex;

#[global_allocator]
static ALLOCATOR: Counting<std::alloc::System> = Counting::new(std::alloc::System);

/// The counters are process-wide: one test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `body` alone, on a thread of its own that has exited (thread-local buffers freed)
/// before the next test starts: libtest frees a finished test thread's thread-locals (faer's
/// packing buffers, tens of MB) while the next test may already run, and the counters would
/// see those frees.
fn serial(body: fn()) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(panic) = std::thread::spawn(body).join() {
        std::panic::resume_unwind(panic);
    }
}

/// Estimates and measurements may differ by this factor either way (the bound).
const ESTIMATE_FACTOR: f64 = 2.0;

fn config(n: usize, trainers: &[&str]) -> RunConfig {
    RunConfig {
        name: "memory".into(),
        datasets: vec![format!("teacher:n={n},d=16,h=8,noise=0.1")],
        trainers: trainers.iter().map(|t| t.to_string()).collect(),
        seeds: 1,
        budget_s: 60.0,
        max_iters: 3,
        hidden: vec![32],
        activation: "leaky_relu:0.01".into(),
        threads: 1,
        ..RunConfig::default()
    }
}

/// One thread, as `fitbench run` sets it (faer's default is every core, and its parallel
/// matrix products allocate their packing buffers on every call).
fn sweep(plan: &Plan, jobs: usize) -> Report {
    fitbench_harness::environment::set_threads(1);
    let output = runner::run_sweep_parallel(plan, jobs, &mut |_| Ok(()), &mut |_| {}).unwrap();
    fitbench_harness::build_report(plan, output)
}

#[test]
fn a_window_counts_the_bytes_and_calls_inside_it() {
    serial(a_window_counts_the_bytes_and_calls_inside_it_body);
}

fn a_window_counts_the_bytes_and_calls_inside_it_body() {
    assert!(alloc::installed());
    // 32 + 16 MiB: far above what the test harness's own threads (libtest) allocate or free
    // meanwhile, which the process-wide counters see too.
    const MIB: u64 = 1 << 20;
    const NOISE: u64 = 4 * MIB;
    let window = Window::open();
    let a = vec![1u8; 32 << 20];
    let b = vec![2u8; 16 << 20];
    drop(a);
    let usage = window.close();
    drop(b);
    assert!(usage.allocations >= 2, "{usage:?}");
    assert!(usage.allocated_bytes >= 48 * MIB, "{usage:?}");
    // Both vectors were live at once: the peak holds 48 MiB above the start, the end 16.
    let above = |bytes: u64| bytes as i128 - usage.start_bytes as i128;
    assert!(
        above(usage.peak_bytes) >= (48 * MIB - NOISE) as i128,
        "{usage:?}"
    );
    let end = above(usage.live_bytes);
    assert!(
        (end - (16 * MIB) as i128).unsigned_abs() < NOISE as u128,
        "{usage:?}"
    );
}

/// Every registered trainer allocates in `step` (one thread) exactly when its entry declares
/// it ([`Capabilities::allocates_in_step`](fitbench_core::Capabilities)): the faer trainers
/// but `lbfgs` (argmin allocates its vectors in every iteration) promise none; the others'
/// allocations are recorded, not gated.
#[test]
fn trainers_allocate_in_step_as_declared_and_memory_is_recorded() {
    serial(trainers_allocate_in_step_as_declared_and_memory_is_recorded_body);
}

fn trainers_allocate_in_step_as_declared_and_memory_is_recorded_body() {
    let trainers: Vec<&str> = registry::trainers().map(|e| e.name).collect();
    assert!(
        trainers
            .iter()
            .any(|t| !registry::capabilities(t).unwrap().allocates_in_step)
            && trainers
                .iter()
                .any(|t| registry::capabilities(t).unwrap().allocates_in_step),
        "both kinds are tested"
    );
    let plan = Plan::resolve(config(2000, &trainers)).unwrap();
    let report = sweep(&plan, 1);
    assert!(
        report
            .environment
            .memory_measurement
            .as_deref()
            .is_some_and(|m| m.starts_with("heap bytes")),
        "{:?}",
        report.environment.memory_measurement
    );
    for r in &report.runs {
        assert!(r.status.is_ok(), "{}: {:?}", r.trainer, r.message);
        let m = r.memory.as_ref().expect("memory measured with --jobs 1");
        // Every trainer keeps buffers of at least n·h doubles or n·d doubles.
        assert!(
            m.retained_bytes > 0 && m.peak_bytes() >= m.retained_bytes,
            "{m:?}"
        );
        assert!(m.init_allocations > 0, "{}: {m:?}", r.trainer);
        let declared = registry::capabilities(&r.trainer_id).unwrap();
        if declared.allocates_in_step {
            assert!(
                m.step_allocations > 0,
                "{} declares allocates_in_step but made none: {m:?}",
                r.trainer
            );
        } else {
            assert_eq!(
                m.step_allocations, 0,
                "{} allocates in step but its entry does not declare it",
                r.trainer
            );
        }
    }
    // The summary and the page show the memory columns.
    let summary = fitbench_render::summary::render(&report);
    assert!(summary.contains("| peak memory | allocations/step |"));
    assert!(summary.contains("Memory: heap bytes"));
    // The page's runs table shows each run's peak in human units and sorts by the bytes.
    let page = fitbench_render::html::render_report(&report).unwrap();
    for r in &report.runs {
        let peak = r.memory.as_ref().unwrap().peak_bytes();
        let cell = format!(
            "<td data-sort=\"{peak}\">{}</td>",
            fitbench_report::format::bytes(peak as f64)
        );
        assert!(page.contains(&cell), "{}: no cell {cell}", r.trainer);
    }
}

#[test]
fn concurrent_runs_record_no_memory_and_say_why() {
    serial(concurrent_runs_record_no_memory_and_say_why_body);
}

fn concurrent_runs_record_no_memory_and_say_why_body() {
    let plan = Plan::resolve(config(500, &["ols", "lsq"])).unwrap();
    let report = sweep(&plan, 2);
    assert!(report.runs.iter().all(|r| r.memory.is_none()));
    let why = report.environment.memory_measurement.unwrap();
    assert!(why.contains("--jobs 2"), "{why}");
}

/// A trainer that wraps another and allocates a buffer in every step: what `fitbench check`
/// must catch.
struct Leaky(Box<dyn TrainerConfig + Send + Sync>);

struct LeakyTrainer(Box<dyn Trainer>, Vec<Vec<f64>>);

impl Trainer for LeakyTrainer {
    fn step(&mut self) -> fitbench_core::Result<StepOutcome> {
        self.1.push(vec![0.0; 16]);
        self.0.step()
    }
    fn params(&self) -> Mlp {
        self.0.params()
    }
}

impl TrainerConfig for Leaky {
    fn validate(&self) -> fitbench_core::Result<()> {
        self.0.validate()
    }
    fn architecture(&self, requested: &Architecture) -> fitbench_core::Result<Architecture> {
        self.0.architecture(requested)
    }
    fn init(
        &self,
        train: &Dataset,
        initial: Mlp,
        seed: u64,
    ) -> fitbench_core::Result<Box<dyn Trainer>> {
        Ok(Box::new(LeakyTrainer(
            self.0.init(train, initial, seed)?,
            Vec::new(),
        )))
    }
}

#[test]
fn check_fails_a_trainer_that_starts_allocating_in_step() {
    serial(check_fails_a_trainer_that_starts_allocating_in_step_body);
}

fn check_fails_a_trainer_that_starts_allocating_in_step_body() {
    let baseline = sweep(&Plan::resolve(config(500, &["lsq", "lbfgs"])).unwrap(), 1);
    let mut plan = Plan::resolve(config(500, &["lbfgs"])).unwrap();
    // The same label as the baseline's `lsq`, now allocating in every step.
    let lsq = Plan::resolve(config(500, &["lsq"]))
        .unwrap()
        .trainers
        .pop()
        .unwrap();
    plan.trainers.insert(
        0,
        PlannedTrainer {
            label: lsq.label,
            config: Box::new(Leaky(lsq.config)),
            config_json: lsq.config_json,
            spec: None,
        },
    );
    let current = sweep(&plan, 1);
    let tol = Tolerances {
        timing: false,
        ..Tolerances::default()
    };
    let cmp = check::compare(&baseline, &current, &tol);
    let row = |trainer: &str| {
        cmp.rows
            .iter()
            .find(|r| r.trainer == trainer && r.metric == "allocations_per_step")
            .unwrap_or_else(|| panic!("no allocations row for {trainer}: {:?}", cmp.rows))
    };
    assert_eq!(row("lsq").verdict, Verdict::Worse, "{:?}", row("lsq"));
    assert_eq!(row("lsq").baseline, "0");
    // lbfgs allocates in both (argmin): reported, not gated.
    assert_eq!(row("lbfgs").verdict, Verdict::Same, "{:?}", row("lbfgs"));
    // Against itself, nothing regresses.
    let same = check::compare(&baseline, &baseline, &tol);
    assert!(same.regressions().is_empty(), "{:?}", same.regressions());
}

#[test]
fn estimates_are_within_a_factor_of_two_of_the_measured_peak() {
    serial(estimates_are_within_a_factor_of_two_of_the_measured_peak_body);
}

fn estimates_are_within_a_factor_of_two_of_the_measured_peak_body() {
    let trainers = [
        "ols",
        "lsq",
        "analytic",
        "lbfgs",
        "lm",
        "adam-faer",
        "sgd-faer",
        "adam-faer:batch=64",
    ];
    let mut failures = Vec::new();
    for n in [1000, 4000, 16000] {
        let plan = Plan::resolve(config(n, &trainers)).unwrap();
        let report = sweep(&plan, 1);
        let info = &report.datasets[0];
        for (r, t) in report.runs.iter().zip(&plan.trainers) {
            assert_eq!(r.trainer, t.label);
            let arch = t.config.architecture(&plan.architecture).unwrap();
            let estimate = t.config.memory_bytes(info.n_train, &arch.widths(info.d, 1)) as f64;
            let measured = r.memory.as_ref().unwrap().peak_bytes() as f64;
            let ratio = estimate / measured;
            eprintln!(
                "n = {n}: {:<20} estimate {estimate:>12.0} measured {measured:>12.0} ratio {ratio:.2}",
                r.trainer
            );
            if !(1.0 / ESTIMATE_FACTOR..=ESTIMATE_FACTOR).contains(&ratio) {
                failures.push(format!("{} at n = {n}: ratio {ratio:.2}", r.trainer));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn a_run_whose_estimate_exceeds_the_limit_is_refused_and_the_others_run() {
    serial(a_run_whose_estimate_exceeds_the_limit_is_refused_and_the_others_run_body);
}

fn a_run_whose_estimate_exceeds_the_limit_is_refused_and_the_others_run_body() {
    let mut c = config(4000, &["ols", "lm"]);
    // lm's Jacobian (3 200 × 577 doubles) does not fit in 8 MiB; ols's design does.
    c.max_memory = Some(8 << 20);
    let plan = Plan::resolve(c).unwrap();
    let report = sweep(&plan, 1);
    let (ols, lm) = (&report.runs[0], &report.runs[1]);
    assert!(ols.status.is_ok(), "{:?}", ols.message);
    assert_eq!(lm.status, fitbench_report::schema::Status::Error);
    let msg = lm.message.as_deref().unwrap();
    assert!(
        msg.contains("refused before init")
            && msg.contains("trainer lm")
            && msg.contains("0.01 GiB (--max-memory)"),
        "{msg}"
    );
    assert_eq!(lm.iterations, 0);
}

#[test]
fn the_scaling_view_fits_how_memory_grows_with_n() {
    serial(the_scaling_view_fits_how_memory_grows_with_n_body);
}

fn the_scaling_view_fits_how_memory_grows_with_n_body() {
    let mut c = config(1000, &["ols", "lsq", "adam-faer"]);
    c.datasets = [1000, 4000, 16000]
        .map(|n| format!("teacher:n={n},d=16,h=8,noise=0.1"))
        .to_vec();
    let report = sweep(&Plan::resolve(c).unwrap(), 1);
    let series = fitbench_render::scaling::scaling(&report).expect("three sizes of one width");
    assert_eq!(series.len(), 3);
    for s in &series {
        assert_eq!(
            s.points.iter().map(|p| p.n_train).collect::<Vec<_>>(),
            vec![800, 3200, 12800]
        );
        // Every buffer of these trainers is O(n): memory grows linearly (heap bytes are
        // deterministic, so this is not a timing assertion).
        let slope = s.memory_slope.unwrap();
        assert!(
            (slope - 1.0).abs() < 0.1,
            "{}: memory slope {slope}",
            s.trainer
        );
        assert!(s.time_slope.is_some());
    }
    let dir = tempfile::tempdir().unwrap();
    let files = fitbench_render::output::write_views(&report, dir.path()).unwrap();
    assert!(files.iter().any(|f| f.ends_with("plots/scaling.png")));
    let summary = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(summary.contains("## Scaling with n"), "{summary}");
    // Without three sizes there is no scaling view.
    let one = sweep(&Plan::resolve(config(500, &["ols"])).unwrap(), 1);
    assert!(fitbench_render::scaling::scaling(&one).is_none());
}

#[test]
fn analytic_keeps_no_buffer_of_n_times_h() {
    serial(analytic_keeps_no_buffer_of_n_times_h_body);
}

fn analytic_keeps_no_buffer_of_n_times_h_body() {
    // h = 64, q = d + 1 = 17: an n×h buffer would add 64 doubles per row; the joint path
    // keeps X̃ (17), y (1) and the pattern bits (h/16 = 4 words) per row.
    const PER_ROW_BOUND: u64 = 8 * (17 + 1 + 4 + 1);
    let peak = |n: usize| {
        let mut c = config(n, &["analytic", "analytic:gram=dense"]);
        c.hidden = vec![64];
        let report = sweep(&Plan::resolve(c).unwrap(), 1);
        let rows = report.datasets[0].n_train as u64;
        let peaks: Vec<u64> = report
            .runs
            .iter()
            .map(|r| r.memory.as_ref().unwrap().peak_bytes())
            .collect();
        (rows, peaks)
    };
    let (small_rows, small) = peak(4000);
    let (large_rows, large) = peak(16000);
    for (i, name) in ["pattern", "dense"].iter().enumerate() {
        let per_row = (large[i] - small[i]) / (large_rows - small_rows);
        assert!(
            per_row <= PER_ROW_BOUND,
            "gram = {name}: {per_row} bytes per row (bound {PER_ROW_BOUND})"
        );
    }
}
