//! Behaviour of the run loop: what is timed, seeds, shared initial weights, failures.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use faer::{Col, Mat};
use fitbench_core::{Architecture, Dataset, Error, Mlp, StepOutcome, Trainer, TrainerConfig};
use fitbench_harness::runner::{self, Clock, Plan, PlannedTrainer};
use fitbench_report::config::RunConfig;
use fitbench_report::schema::Status;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A clock the test trainers advance: `step` costs [`STEP_COST`] seconds, every `params`
/// call (evaluation) costs [`EVAL_COST`] seconds.
#[derive(Clone, Default)]
struct FakeClock(Arc<AtomicU64>);

const STEP_COST: f64 = 1.0;
const EVAL_COST: f64 = 1000.0;

impl FakeClock {
    fn advance(&self, s: f64) {
        let t = f64::from_bits(self.0.load(Ordering::SeqCst)) + s;
        self.0.store(t.to_bits(), Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn now(&mut self) -> f64 {
        f64::from_bits(self.0.load(Ordering::SeqCst))
    }
}

/// What a test trainer does at each step.
#[derive(Clone, Copy, PartialEq)]
enum Behaviour {
    /// Gradient descent on the linear model with step size 0.1.
    Descend,
    /// Panics at step 2.
    Panic,
    /// Returns an error at step 2.
    Fail,
    /// Multiplies the weights by 1e200 at step 2 (the loss becomes infinite).
    Explode,
    /// Reports non-finite values at step 2.
    NonFinite,
    /// Does nothing.
    Idle,
}

#[derive(Clone)]
struct TestConfig {
    name: &'static str,
    behaviour: Behaviour,
    clock: FakeClock,
    seen_initial: Arc<Mutex<Vec<Mlp>>>,
}

struct TestTrainer {
    cfg: TestConfig,
    x: Mat<f64>,
    y: Mat<f64>,
    model: Mlp,
    steps: usize,
}

impl TrainerConfig for TestConfig {
    fn validate(&self) -> fitbench_core::Result<()> {
        Ok(())
    }
    fn architecture(&self, _requested: &Architecture) -> fitbench_core::Result<Architecture> {
        Ok(Architecture::linear())
    }
    fn init(
        &self,
        train: &Dataset,
        initial: Mlp,
        _seed: u64,
    ) -> fitbench_core::Result<Box<dyn Trainer>> {
        self.seen_initial.lock().unwrap().push(initial.clone());
        Ok(Box::new(TestTrainer {
            cfg: self.clone(),
            x: train.x.clone(),
            y: train.y.clone(),
            model: initial,
            steps: 0,
        }))
    }
}

impl Trainer for TestTrainer {
    fn step(&mut self) -> fitbench_core::Result<StepOutcome> {
        self.cfg.clock.advance(STEP_COST);
        self.steps += 1;
        match self.cfg.behaviour {
            Behaviour::Panic if self.steps == 2 => panic!("deliberate test panic"),
            Behaviour::Fail if self.steps == 2 => {
                return Err(Error::InvalidData("deliberate test failure".into()));
            }
            Behaviour::NonFinite if self.steps == 2 => {
                return Err(Error::NonFinite("deliberate test blow-up".into()));
            }
            Behaviour::Explode if self.steps == 2 => {
                self.model.weights[0] = Mat::from_fn(1, self.x.ncols(), |_, _| 1e200);
            }
            Behaviour::Descend => {
                let pred = self.model.forward(self.x.as_ref())?;
                let n = self.x.nrows() as f64;
                let r: Vec<f64> = (0..self.x.nrows())
                    .map(|i| pred[(i, 0)] - self.y[(i, 0)])
                    .collect();
                let w = &mut self.model.weights[0];
                for j in 0..w.ncols() {
                    let g: f64 = (0..r.len()).map(|i| r[i] * self.x[(i, j)]).sum::<f64>() * 2.0 / n;
                    w[(0, j)] -= 0.1 * g;
                }
                let gb = r.iter().sum::<f64>() * 2.0 / n;
                self.model.biases[0] = Col::from_fn(1, |_| self.model.biases[0][0] - 0.1 * gb);
            }
            _ => {}
        }
        Ok(StepOutcome::Continue)
    }
    fn params(&self) -> Mlp {
        self.cfg.clock.advance(EVAL_COST);
        self.model.clone()
    }
}

fn base_config() -> RunConfig {
    RunConfig {
        datasets: vec!["linear:n=200,d=3,noise=0.1".into()],
        trainers: vec!["ols".into()],
        seeds: 2,
        budget_s: 1e9,
        max_iters: 30,
        patience: None,
        ..RunConfig::default()
    }
}

fn plan_with(config: RunConfig, extra: Vec<TestConfig>) -> Plan {
    let mut plan = Plan::resolve(config).unwrap();
    for cfg in extra {
        plan.config.trainers.push(cfg.name.to_string());
        plan.trainers.push(PlannedTrainer {
            label: cfg.name.into(),
            config: Box::new(cfg),
            config_json: serde_json::Value::Null,
            spec: None,
        });
    }
    plan
}

fn test_config(name: &'static str, behaviour: Behaviour, clock: &FakeClock) -> TestConfig {
    TestConfig {
        name,
        behaviour,
        clock: clock.clone(),
        seen_initial: Arc::default(),
    }
}

#[test]
fn only_step_is_timed() {
    let clock = FakeClock::default();
    let mut plan = plan_with(
        base_config(),
        vec![test_config("gd", Behaviour::Descend, &clock)],
    );
    plan.trainers.retain(|t| t.label == "gd");
    plan.config.trainers.retain(|t| t == "gd");
    let runs = runner::run_sweep(&plan, &mut clock.clone(), &mut |_| Ok(()), &mut |_| {})
        .unwrap()
        .runs;
    for r in &runs {
        assert_eq!(r.status, Status::MaxIters);
        assert_eq!(r.iterations, 30);
        // Training time is exactly the steps' cost although every evaluation cost 1000 s.
        assert_eq!(r.train_s, 30.0 * STEP_COST);
        assert_eq!(r.eval_s, r.curve.len() as f64 * EVAL_COST);
        for p in &r.curve {
            assert_eq!(p.time_s, p.iter as f64 * STEP_COST);
        }
        // The loss goes down under gradient descent, and the curve is recorded from iteration 0.
        assert_eq!(r.curve[0].iter, 0);
        assert!(r.summary.final_train_mse.unwrap() < r.summary.initial_train_mse.unwrap());
    }
}

#[test]
fn budget_counts_training_time_only() {
    let clock = FakeClock::default();
    let config = RunConfig {
        budget_s: 3.5 * STEP_COST,
        max_iters: 1000,
        seeds: 1,
        ..base_config()
    };
    let mut plan = plan_with(config, vec![test_config("gd", Behaviour::Descend, &clock)]);
    plan.trainers.retain(|t| t.label == "gd");
    plan.config.trainers.retain(|t| t == "gd");
    let runs = runner::run_sweep(&plan, &mut clock.clone(), &mut |_| Ok(()), &mut |_| {})
        .unwrap()
        .runs;
    assert_eq!(runs[0].status, Status::Timeout);
    assert_eq!(runs[0].iterations, 4);
}

#[test]
fn every_trainer_gets_the_same_initial_weights_and_split() {
    let clock = FakeClock::default();
    let a = test_config("a", Behaviour::Idle, &clock);
    let b = test_config("b", Behaviour::Idle, &clock);
    let (seen_a, seen_b) = (a.seen_initial.clone(), b.seen_initial.clone());
    let plan = plan_with(base_config(), vec![a, b]);
    let runs = runner::run_sweep(&plan, &mut clock.clone(), &mut |_| Ok(()), &mut |_| {})
        .unwrap()
        .runs;
    let (seen_a, seen_b) = (seen_a.lock().unwrap(), seen_b.lock().unwrap());
    assert_eq!(seen_a.len(), 2);
    assert_eq!(
        *seen_a, *seen_b,
        "same repetition ⇒ bit-identical initial weights"
    );
    assert_ne!(
        seen_a[0], seen_a[1],
        "different repetitions ⇒ different initial weights"
    );
    for rep in 0..2 {
        let of_rep: Vec<_> = runs.iter().filter(|r| r.repetition == rep).collect();
        assert!(of_rep.windows(2).all(|w| w[0].seeds.split == w[1].seeds.split && w[0].seeds.init == w[1].seeds.init));
        assert!(
            of_rep
                .windows(2)
                .all(|w| w[0].seeds.trainer != w[1].seeds.trainer)
        );
        // Same split ⇒ same initial train MSE for the same initial network.
        let a0 = of_rep.iter().find(|r| r.trainer == "a").unwrap().curve[0].train_mse;
        let b0 = of_rep.iter().find(|r| r.trainer == "b").unwrap().curve[0].train_mse;
        assert_eq!(a0.to_bits(), b0.to_bits());
    }
}

#[test]
fn same_seed_gives_the_same_iteration_space_curve() {
    let run = |seed: u64| {
        let clock = FakeClock::default();
        let config = RunConfig {
            base_seed: seed,
            ..base_config()
        };
        let plan = plan_with(config, vec![test_config("gd", Behaviour::Descend, &clock)]);
        let runs = runner::run_sweep(
            &plan,
            &mut runner::MonotonicClock::default(),
            &mut |_| Ok(()),
            &mut |_| {},
        )
        .unwrap()
        .runs;
        runs.iter()
            .map(|r| {
                r.curve
                    .iter()
                    .map(|p| (p.iter, p.train_mse.to_bits(), p.test_mse.to_bits()))
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5), run(6));
}

#[test]
fn failures_are_recorded_and_the_sweep_goes_on() {
    let clock = FakeClock::default();
    let extra = vec![
        test_config("panics", Behaviour::Panic, &clock),
        test_config("fails", Behaviour::Fail, &clock),
        test_config("explodes", Behaviour::Explode, &clock),
        test_config("blows-up", Behaviour::NonFinite, &clock),
        test_config("gd", Behaviour::Descend, &clock),
    ];
    let plan = plan_with(base_config(), extra);
    let mut persisted = Vec::new();
    let runs = runner::run_sweep(
        &plan,
        &mut clock.clone(),
        &mut |r| {
            persisted.push(r.trainer.clone());
            Ok(())
        },
        &mut |_| {},
    )
    .unwrap()
    .runs;
    assert_eq!(runs.len(), 2 * 6, "every run of every trainer is recorded");
    assert_eq!(
        persisted.len(),
        runs.len(),
        "every run is handed to the persister as it finishes"
    );
    for r in &runs {
        let (status, fragment) = match r.trainer.as_str() {
            "panics" => (Status::Panicked, "deliberate test panic"),
            "fails" => (Status::Error, "deliberate test failure"),
            "explodes" => (Status::Diverged, "non-finite loss at iteration 2"),
            "blows-up" => (Status::Diverged, "deliberate test blow-up"),
            "gd" => (Status::MaxIters, ""),
            _ => (Status::Converged, ""),
        };
        assert_eq!(r.status, status, "{}", r.trainer);
        assert!(
            r.message.as_deref().unwrap_or("").contains(fragment),
            "{}: {:?}",
            r.trainer,
            r.message
        );
        // The partial curve is kept.
        assert!(!r.curve.is_empty(), "{}", r.trainer);
    }
}

#[test]
fn stalled_runs_stop_on_patience() {
    let clock = FakeClock::default();
    let config = RunConfig {
        patience: Some(3),
        max_iters: 1000,
        seeds: 1,
        ..base_config()
    };
    let mut plan = plan_with(config, vec![test_config("idle", Behaviour::Idle, &clock)]);
    plan.trainers.retain(|t| t.label == "idle");
    plan.config.trainers.retain(|t| t == "idle");
    let runs = runner::run_sweep(&plan, &mut clock.clone(), &mut |_| Ok(()), &mut |_| {})
        .unwrap()
        .runs;
    assert_eq!(runs[0].status, Status::Stalled);
    assert_eq!(runs[0].iterations, 3);
}

#[test]
fn target_mse_stops_the_run() {
    let clock = FakeClock::default();
    let config = RunConfig {
        target_train_mse: Some(0.5),
        max_iters: 1000,
        seeds: 1,
        ..base_config()
    };
    let plan = plan_with(config, vec![test_config("gd", Behaviour::Descend, &clock)]);
    let runs = runner::run_sweep(&plan, &mut clock.clone(), &mut |_| Ok(()), &mut |_| {})
        .unwrap()
        .runs;
    let gd = runs.iter().find(|r| r.trainer == "gd").unwrap();
    assert_eq!(gd.status, Status::TargetReached);
    assert!(gd.summary.final_train_mse.unwrap() <= 0.5);
    let hit = &gd.summary.targets.iter().find(|t| t.target == 0.5).unwrap();
    assert_eq!(hit.iter, Some(gd.iterations));
}

#[test]
fn a_trainer_that_cannot_train_the_architecture_is_rejected_before_running() {
    struct LinearOnly;
    impl TrainerConfig for LinearOnly {
        fn validate(&self) -> fitbench_core::Result<()> {
            Ok(())
        }
        fn architecture(&self, requested: &Architecture) -> fitbench_core::Result<Architecture> {
            Err(Error::Architecture {
                trainer: "linear-only".into(),
                architecture: requested.to_string(),
                hint: "use --hidden with no layers".into(),
            })
        }
        fn init(&self, _: &Dataset, _: Mlp, _: u64) -> fitbench_core::Result<Box<dyn Trainer>> {
            unreachable!()
        }
    }
    let mut plan = Plan::resolve(base_config()).unwrap();
    plan.trainers.push(PlannedTrainer {
        label: "linear-only".into(),
        config: Box::new(LinearOnly),
        config_json: serde_json::Value::Null,
        spec: None,
    });
    let msg = plan.check_trainers().unwrap_err().to_string();
    assert!(
        msg.contains("cannot train architecture hidden [32] tanh"),
        "{msg}"
    );
}

#[test]
fn time_triggered_points_change_neither_stops_nor_metrics() {
    let run = |max_interval_s: f64| {
        let clock = FakeClock::default();
        let mut config = RunConfig {
            patience: Some(4),
            min_rel_improvement: 1e-3,
            max_iters: 2000,
            seeds: 1,
            iteration_budgets: vec![7, 50],
            ..base_config()
        };
        config.eval.every_step_until = 2;
        config.eval.max_interval_s = max_interval_s;
        let mut plan = plan_with(config, vec![test_config("gd", Behaviour::Descend, &clock)]);
        plan.trainers.retain(|t| t.label == "gd");
        plan.config.trainers.retain(|t| t == "gd");
        let out =
            runner::run_sweep(&plan, &mut clock.clone(), &mut |_| Ok(()), &mut |_| {}).unwrap();
        fitbench_harness::build_report(&plan, out).runs.remove(0)
    };
    // Every step costs 1 s of fake time: with a 0.5 s interval every step is also evaluated.
    let (dense, sparse) = (run(0.5), run(1e9));
    assert!(dense.curve.iter().any(|p| p.off_schedule));
    assert!(sparse.curve.iter().all(|p| !p.off_schedule));
    let scheduled = |r: &fitbench_report::schema::RunRecord| {
        r.curve
            .iter()
            .filter(|p| !p.off_schedule)
            .map(|p| (p.iter, p.train_mse.to_bits()))
            .collect::<Vec<_>>()
    };
    assert_eq!(scheduled(&dense), scheduled(&sparse));
    assert_eq!(
        (dense.status, dense.iterations),
        (sparse.status, sparse.iterations)
    );
    // The budgets are evaluated even off the geometric grid.
    assert!(sparse.curve.iter().any(|p| p.iter == 7));
    let strip = |r: &fitbench_report::schema::RunRecord| {
        let mut m = r.metrics.clone().unwrap();
        m.targets.iter_mut().for_each(|t| t.time_s = None);
        m
    };
    assert_eq!(strip(&dense), strip(&sparse));
}

/// A clock that also moves by [`TICK`] at every reading, so that a busy-wait on it ends.
#[derive(Clone, Default)]
struct TickingClock(FakeClock);

const TICK: f64 = 1e-4;

impl Clock for TickingClock {
    fn now(&mut self) -> f64 {
        self.0.advance(TICK);
        self.0.now()
    }
}

#[test]
fn the_test_slowdown_busy_waits_inside_the_timed_region_of_its_trainer_only() {
    let clock = FakeClock::default();
    let mut plan = plan_with(
        base_config(),
        vec![
            test_config("gd", Behaviour::Descend, &clock),
            test_config("idle", Behaviour::Idle, &clock),
        ],
    );
    plan.trainers.retain(|t| t.label != "ols");
    plan.config.trainers.retain(|t| t != "ols");
    const FACTOR: f64 = 3.0;
    plan.config.test_slowdown = Some(fitbench_report::config::Slowdown {
        trainer: "gd".into(),
        factor: FACTOR,
    });
    let runs = runner::run_sweep(
        &plan,
        &mut TickingClock(clock.clone()),
        &mut |_| Ok(()),
        &mut |_| {},
    )
    .unwrap()
    .runs;
    // Every step costs STEP_COST (plus a few clock readings of TICK each); the slowed
    // trainer's steps take FACTOR times as long, evaluation still not counted.
    let slack = 10.0 * TICK * FACTOR;
    for r in &runs {
        let per_step = r.train_s / r.iterations as f64;
        let want = if r.trainer == "gd" { FACTOR } else { 1.0 } * STEP_COST;
        assert!(
            per_step >= want && per_step < want + slack,
            "{}: {per_step} s per step, want {want}",
            r.trainer
        );
    }
    assert_eq!(runs.iter().filter(|r| r.trainer == "gd").count(), 2);
}
