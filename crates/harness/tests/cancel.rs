//! Bounded steps: a step in progress sees the interrupt and the time budget through its
//! [`CancelToken`], is discarded when cancelled (the parameters from before it are kept), and
//! `lm` refuses a network whose single step could never fit the budget, naming JᵀJ.
//!
//! No assertion here is on wall time: the runs are checked by their status, message and
//! iteration count (a step that ran to the end would have been counted).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fitbench_core::{
    Architecture, CancelToken, Cancelled, Dataset, Error, Mlp, StepCost, StepOutcome, Trainer,
    TrainerConfig, synthetic,
};
use fitbench_harness::registry::TrainerSpec;
use fitbench_harness::runner::{self, Clock, MonotonicClock, Plan, STEP_OVERRUN_GRACE_S};
use fitbench_report::config::RunConfig;
use fitbench_report::schema::{RunRecord, Status};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Every trainer that polls its token, in the variants whose steps poll differently.
const POLLING: [&str; 14] = [
    "lm",
    "lm:scaling=marquardt",
    "lbfgs",
    "lbfgs:line_search=hager_zhang",
    "lbfgs:line_search=backtracking",
    "lsq",
    "lsq:order=interleaved",
    "lsq:weighting=derivative",
    "analytic",
    "analytic:hidden_solve=per_neuron",
    "adam-faer:batch=32",
    "sgd-faer:batch=32",
    "adam:batch=32",
    "sgd:batch=32",
];

fn trainer(spec: &str, data: &Dataset) -> Box<dyn Trainer> {
    let spec = TrainerSpec::parse(spec).unwrap();
    let config = spec.config();
    let requested = Architecture::new(vec![8], "leaky_relu:0.05".parse().unwrap());
    let arch = config.architecture(&requested).unwrap();
    let initial = Mlp::init(&arch, data.d(), data.k(), 3).unwrap();
    config.init(data, initial, 5).unwrap()
}

#[test]
fn every_polling_trainer_discards_a_step_cancelled_at_any_of_its_polls() {
    let data = synthetic::friedman1(200, 5, 0.1, 1).unwrap();
    let mse = |t: &dyn Trainer| t.params().mse(data.x.as_ref(), data.y.as_ref()).unwrap();
    for spec in POLLING {
        // A token cancelled before the step: it returns at once, having changed nothing.
        let mut t = trainer(spec, &data);
        let before = (t.params(), t.current_params());
        t.set_cancel(CancelToken::new(Arc::new(AtomicBool::new(true))));
        match t.step() {
            Err(Error::Cancelled(Cancelled::Interrupted)) => {}
            other => panic!("{spec}: an interrupted step returned {other:?}"),
        }
        assert_eq!((t.params(), t.current_params()), before, "{spec}");

        // Cancelled at the 1st, 2nd, … poll of its second step in turn, until the step
        // polls no more and finishes.
        let mut cancelled_at = 0;
        for polls in 0u64.. {
            assert!(polls < 100_000, "{spec}: the step never finished");
            let mut t = trainer(spec, &data);
            assert_eq!(t.step().unwrap(), StepOutcome::Continue, "{spec}");
            let before = (t.params(), t.current_params());
            t.set_cancel(CancelToken::after_polls(polls, Cancelled::Deadline));
            match t.step() {
                Ok(_) => break,
                Err(Error::Cancelled(Cancelled::Deadline)) => {
                    cancelled_at += 1;
                    let after = (t.params(), t.current_params());
                    assert_eq!(after, before, "{spec}: poll {polls} changed the parameters");
                    // The trainer is still usable.
                    t.set_cancel(CancelToken::never());
                    t.step().unwrap();
                    assert!(mse(t.as_ref()).is_finite(), "{spec} after poll {polls}");
                }
                Err(e) => panic!("{spec}: poll {polls}: {e}"),
            }
        }
        assert!(
            cancelled_at >= 2,
            "{spec}: a step polls at its start and at least once within ({cancelled_at})"
        );
    }
}

/// A registry trainer whose first `step` starts a thread that sets `interrupt` 50 ms later.
struct InterruptDuringFirstStep {
    inner: Box<dyn TrainerConfig + Send + Sync>,
    interrupt: Arc<AtomicBool>,
}

struct Interrupting {
    inner: Box<dyn Trainer>,
    interrupt: Option<Arc<AtomicBool>>,
}

impl TrainerConfig for InterruptDuringFirstStep {
    fn validate(&self) -> fitbench_core::Result<()> {
        self.inner.validate()
    }
    fn architecture(&self, requested: &Architecture) -> fitbench_core::Result<Architecture> {
        self.inner.architecture(requested)
    }
    fn memory_bytes(&self, n: usize, widths: &[usize]) -> u64 {
        self.inner.memory_bytes(n, widths)
    }
    fn step_cost(&self, n: usize, widths: &[usize]) -> Option<StepCost> {
        self.inner.step_cost(n, widths)
    }
    fn init(
        &self,
        train: &Dataset,
        initial: Mlp,
        seed: u64,
    ) -> fitbench_core::Result<Box<dyn Trainer>> {
        Ok(Box::new(Interrupting {
            inner: self.inner.init(train, initial, seed)?,
            interrupt: Some(self.interrupt.clone()),
        }))
    }
}

impl Trainer for Interrupting {
    fn step(&mut self) -> fitbench_core::Result<StepOutcome> {
        if let Some(flag) = self.interrupt.take() {
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                flag.store(true, Ordering::SeqCst);
            });
        }
        self.inner.step()
    }
    fn params(&self) -> Mlp {
        self.inner.params()
    }
    fn current_params(&self) -> Option<Mlp> {
        self.inner.current_params()
    }
    fn set_cancel(&mut self, token: CancelToken) {
        self.inner.set_cancel(token);
    }
}

/// One `trainer` run on a planted teacher of `n` rows (80 % train) with `hidden` units.
fn config(trainer: &str, n: usize, hidden: usize) -> RunConfig {
    RunConfig {
        name: "cancel".into(),
        datasets: vec![format!("teacher:n={n},d=16,h=8,noise=0.1")],
        trainers: vec![trainer.into()],
        seeds: 1,
        budget_s: 600.0,
        max_iters: 5,
        hidden: vec![hidden],
        activation: "leaky_relu:0.05".into(),
        threads: 1,
        ..RunConfig::default()
    }
}

fn run(plan: &Plan, clock: &mut dyn Clock) -> RunRecord {
    let mut runs = runner::run_sweep(plan, clock, &mut |_| Ok(()), &mut |_| {})
        .unwrap()
        .runs;
    assert_eq!(runs.len(), 1);
    runs.remove(0)
}

#[test]
fn an_interrupt_during_a_long_lm_step_ends_the_run_without_counting_the_step() {
    // p = 17·150 + 151 = 2 701 parameters, n·k = 2 000 residuals: JᵀJ is 1.5·10¹⁰ flops and
    // each Cholesky 6.6·10⁹, far more than 50 ms on any machine.
    let mut plan = Plan::resolve(config("lm", 2500, 150)).unwrap();
    let interrupt = plan.interrupt.clone();
    plan.trainers[0].config = Box::new(InterruptDuringFirstStep {
        inner: TrainerSpec::parse("lm").unwrap().boxed(),
        interrupt,
    });
    let r = run(&plan, &mut MonotonicClock::default());
    assert_eq!(r.status, Status::Interrupted, "{:?}", r.message);
    assert_eq!(r.iterations, 0, "the interrupted step was counted");
    let msg = r.message.unwrap();
    assert!(
        msg.contains("during step 1") && msg.contains("discarded"),
        "{msg}"
    );
    // The curve holds the initial evaluation only.
    assert_eq!(r.curve.len(), 1);
}

/// The real clock, but a step's deadline is the end of the budget itself (no grace), so
/// the test does not depend on how long a step takes beyond a few milliseconds.
struct NoGrace(MonotonicClock);

impl Clock for NoGrace {
    fn now(&mut self) -> f64 {
        self.0.now()
    }
    fn instant_after(&mut self, after_s: f64) -> Option<Instant> {
        self.0.instant_after(after_s - STEP_OVERRUN_GRACE_S)
    }
}

#[test]
fn a_long_lsq_step_past_the_budget_is_abandoned_and_the_run_times_out() {
    // The backward target of the 1 500-unit layer alone: 2·h²·n = 2.2·10¹⁰ flops.
    let mut c = config("lsq", 6000, 1500);
    c.activation = "tanh".into();
    c.budget_s = 0.02;
    let plan = Plan::resolve(c).unwrap();
    let r = run(&plan, &mut NoGrace(MonotonicClock::default()));
    assert_eq!(r.status, Status::Timeout, "{:?}", r.message);
    assert_eq!(r.iterations, 0, "the abandoned step was counted");
    let msg = r.message.unwrap();
    assert!(msg.contains("step 1 was abandoned"), "{msg}");
    assert!(
        r.train_s > 0.01,
        "the abandoned step's time counts: {}",
        r.train_s
    );
    // The curve ends with the parameters from before the step.
    assert_eq!(r.curve.last().unwrap().iter, 0);
}

#[test]
fn lm_with_a_wide_network_is_refused_before_init_naming_jtj_and_the_budget() {
    // p = 17·2000 + 2001 = 36 001: a Cholesky of 1.6·10¹³ flops, JᵀJ of 10.4 GB.
    let mut c = config("lm", 250, 2000);
    c.budget_s = 0.5;
    let r = run(&Plan::resolve(c).unwrap(), &mut MonotonicClock::default());
    assert_eq!((r.status, r.iterations), (Status::Error, 0));
    let msg = r.message.unwrap();
    let p = 36_001u64;
    for part in [
        "refused before init".to_string(),
        format!("p = {p} parameters"),
        format!("JᵀJ (p×p f64) {} bytes", p * p * 8),
        "time budget of 0.5 s".into(),
        "--hidden".into(),
        "--budget-s".into(),
    ] {
        assert!(msg.contains(&part), "{part:?} missing: {msg}");
    }
    assert!(r.curve.is_empty(), "nothing ran");

    // Over the memory limit, the refusal names JᵀJ too.
    let mut c = config("lm", 250, 100);
    c.max_memory = Some(8 << 20);
    let r = run(&Plan::resolve(c).unwrap(), &mut MonotonicClock::default());
    assert_eq!(r.status, Status::Error);
    let msg = r.message.unwrap();
    let p = 17 * 100 + 101u64;
    assert!(
        msg.contains("--max-memory") && msg.contains(&format!("JᵀJ (p×p f64) {} bytes", p * p * 8)),
        "{msg}"
    );
}
