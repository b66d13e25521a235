//! The run loop: the one place that reads the clock.
//!
//! For each (dataset, repetition) the harness makes one split and one initial network per
//! architecture (untimed, shared by every trainer); for each trainer it calls `init`
//! (untimed, recorded as `setup_s`) and then `step` in a loop. Only `step` is timed. The
//! model is scored with the shared f64 [`Mlp::mse`] outside the timed region on the
//! [`EvalSchedule`], and that time is recorded as `eval_s`. A run that fails, panics or
//! diverges is recorded with its status and message; the sweep goes on.

use crate::datasets::DatasetSpec;
use crate::error::{HarnessError, Result};
use crate::registry::TrainerSpec;
pub use crate::seeds::{run_seeds, split_and_init_seeds};
use fitbench_core::registry::tag;
use fitbench_core::{
    Activation, Architecture, Dataset, Mlp, Split, StepOutcome, Trainer, TrainerConfig,
};
use fitbench_report::config::{EvalSchedule, RunConfig, TuningRecord};
use fitbench_report::schema::{
    Calibration, CurvePoint, DatasetInfo, LinearReference, MemoryRecord, RunRecord, RunSummary,
    Status,
};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

pub use fitbench_core::Clock;

/// The real clock: `std::time::Instant`.
#[derive(Debug)]
pub struct MonotonicClock(Instant);

impl Default for MonotonicClock {
    fn default() -> Self {
        Self(Instant::now())
    }
}

impl Clock for MonotonicClock {
    fn now(&mut self) -> f64 {
        self.0.elapsed().as_secs_f64()
    }

    fn instant_after(&mut self, after_s: f64) -> Option<Instant> {
        Instant::now().checked_add(std::time::Duration::try_from_secs_f64(after_s.max(0.0)).ok()?)
    }
}

/// When a run stops.
#[derive(Clone, Debug, PartialEq)]
pub struct StopRules {
    /// Iteration cap.
    pub max_iters: usize,
    /// Training-time budget in seconds.
    pub budget_s: f64,
    /// Stop when the training MSE reaches this.
    pub target_train_mse: Option<f64>,
    /// Evaluations without sufficient improvement before the run counts as stalled.
    pub patience: Option<usize>,
    /// Relative improvement of the best training MSE that counts as progress.
    pub min_rel_improvement: f64,
}

impl From<&RunConfig> for StopRules {
    fn from(c: &RunConfig) -> Self {
        Self {
            max_iters: c.max_iters,
            budget_s: c.budget_s,
            target_train_mse: c.target_train_mse,
            patience: c.patience,
            min_rel_improvement: c.min_rel_improvement,
        }
    }
}

/// One trainer of a plan.
pub struct PlannedTrainer {
    /// Label in reports and legends (the registry string, e.g. `ols:ridge=1e-6`).
    pub label: String,
    /// The validated config.
    pub config: Box<dyn TrainerConfig + Send + Sync>,
    /// The config as JSON (written into every run record); its `"trainer"` tag
    /// ([`fitbench_core::registry::TAG`]) is the records' trainer id (the label otherwise).
    pub config_json: serde_json::Value,
    /// The registry spec it came from (`None` for trainers injected by tests or embedders);
    /// needed to re-tune it.
    pub spec: Option<TrainerSpec>,
}

/// One dataset of a plan.
#[derive(Debug)]
pub struct PlannedDataset {
    /// The request it was resolved from.
    pub spec: DatasetSpec,
    /// The loaded data (raw units).
    pub data: Dataset,
}

/// A fully validated sweep: everything that could be rejected has been, before any clock runs.
pub struct Plan {
    /// The resolved configuration.
    pub config: RunConfig,
    /// Datasets, loaded.
    pub datasets: Vec<PlannedDataset>,
    /// Trainers, validated, with the architecture each will train.
    pub trainers: Vec<PlannedTrainer>,
    /// The network the run asks for.
    pub architecture: Architecture,
    /// Set (e.g. by a signal handler) to stop the sweep: the run in flight ends as
    /// [`Status::Interrupted`] and no further run starts.
    pub interrupt: Arc<AtomicBool>,
    /// The latest record of each run of an earlier sweep into the same folder (`--resume`):
    /// a planned run is taken from here instead of re-run when [`crate::resume::decide`]
    /// says so.
    pub previous: Vec<RunRecord>,
    /// The configuration of that earlier sweep (its `sweep.json`), to name what changed.
    pub previous_config: Option<RunConfig>,
    /// Run only this shard's runs ([`crate::shard`]); all of them when `None`.
    pub shard: Option<crate::partition::Shard>,
}

impl Plan {
    /// Validates `config`, loads every dataset and parses every trainer.
    pub fn resolve(mut config: RunConfig) -> Result<Self> {
        config.validate()?;
        crate::registry::check_declarations(&config.external)?;
        crate::external::apply_requires(&mut config);
        if config.trainers.is_empty() {
            return Err(HarnessError::Config(format!(
                "no trainer is left to run: {}",
                config.skipped.join("; ")
            )));
        }
        crate::memory::env_limit()?;
        let activation: Activation = config.activation.parse()?;
        let architecture = Architecture::new(config.hidden.clone(), activation);
        architecture.validate()?;
        // Option grids name a registered trainer and an option it takes, checked before
        // any clock starts.
        for g in config.lr_grid.iter().flat_map(|g| &g.options) {
            let spec = TrainerSpec::parse_with(&g.trainer, &config.external)?;
            if spec.entry.capabilities.learning_rate {
                return Err(HarnessError::Config(format!(
                    "lr_grid.options: {} has a learning rate, which lr_grid.grid searches; an option grid is for a trainer without one",
                    g.trainer
                )));
            }
            for v in &g.grid {
                spec.with_option(&g.option, v).map_err(|e| {
                    HarnessError::Config(format!(
                        "lr_grid.options: {} {} = {v}: {e}",
                        g.trainer, g.option
                    ))
                })?;
            }
        }
        let mut trainers = Vec::new();
        for label in &config.trainers {
            let mut spec = TrainerSpec::parse_with(label, &config.external)?;
            if let Some(backend) = &config.backend {
                spec = spec.with_default_backend(backend)?;
            }
            let config_json = spec.to_json();
            let boxed = spec.boxed();
            trainers.push(PlannedTrainer {
                label: label.clone(),
                config: boxed,
                config_json,
                spec: Some(spec),
            });
        }
        let mut specs: Vec<DatasetSpec> = config
            .datasets
            .iter()
            .map(|n| DatasetSpec::parse(n))
            .collect::<Result<_>>()?;
        specs.extend(config.csv.iter().cloned().map(DatasetSpec::Csv));
        // Refuse generated data too large for the machine before generating it; a run whose
        // trainer would not fit is refused on its own, when it comes (`run_one`).
        let limit = crate::memory::limit(config.max_memory);
        for spec in &specs {
            if let Some((n, d)) = spec.synthetic_shape() {
                let need = crate::memory::dataset_bytes(n, d, 1);
                crate::memory::check(&spec.name(), n, d, need, limit)?;
            }
        }
        let datasets = specs
            .into_iter()
            .map(|spec| {
                Ok(PlannedDataset {
                    data: spec.load()?,
                    spec,
                })
            })
            .collect::<Result<_>>()?;
        let plan = Self {
            config,
            datasets,
            trainers,
            architecture,
            interrupt: Arc::new(AtomicBool::new(false)),
            previous: Vec::new(),
            previous_config: None,
            shard: None,
        };
        crate::datasets::reject_duplicates(plan.datasets.iter().map(|d| d.data.name.as_str()))?;
        plan.check_trainers()?;
        Ok(plan)
    }

    /// Checks that every trainer can train the requested architecture (before any run).
    pub fn check_trainers(&self) -> Result<()> {
        for t in &self.trainers {
            t.config.validate()?;
            t.config.architecture(&self.architecture)?;
        }
        let mut labels: Vec<&str> = self.trainers.iter().map(|t| t.label.as_str()).collect();
        labels.sort_unstable();
        if let Some(w) = labels.windows(2).find(|w| w[0] == w[1]) {
            return Err(HarnessError::Config(format!(
                "trainer {:?} is listed twice",
                w[0]
            )));
        }
        Ok(())
    }

    /// Number of runs in the sweep.
    pub fn n_runs(&self) -> usize {
        self.datasets.len() * self.config.seeds * self.trainers.len()
    }

    /// Whether the plan's shard (if any) runs `trainer` on `dataset`, repetition `repetition`.
    pub fn owns(&self, dataset: &str, trainer: &str, repetition: usize) -> bool {
        self.shard.is_none_or(|s| {
            s.owns(&crate::partition::RunKey {
                dataset: dataset.to_string(),
                trainer: trainer.to_string(),
                repetition,
            })
        })
    }

    /// Runs this process will do: [`Plan::n_runs`], or the shard's share of them.
    pub fn n_owned_runs(&self) -> usize {
        match self.shard {
            None => self.n_runs(),
            Some(s) => plan_keys(self).iter().filter(|k| s.owns(k)).count(),
        }
    }
}

/// Every run key of a plan, in the order the sweep runs them.
pub fn plan_keys(plan: &Plan) -> Vec<crate::partition::RunKey> {
    let mut keys = Vec::with_capacity(plan.n_runs());
    for d in &plan.datasets {
        for repetition in 0..plan.config.seeds {
            for t in &plan.trainers {
                keys.push(crate::partition::RunKey {
                    dataset: d.data.name.clone(),
                    trainer: t.label.clone(),
                    repetition,
                });
            }
        }
    }
    keys
}

/// The record of a run that could not start because its split failed.
pub fn failed_split(
    dataset: &str,
    t: &PlannedTrainer,
    repetition: usize,
    c: &RunConfig,
    message: String,
) -> RunRecord {
    let seeds = run_seeds(c.base_seed, dataset, &t.label, repetition);
    let mut r = RunRecord::pending(
        dataset,
        &t.label,
        tag(&t.config_json).unwrap_or(&t.label),
        t.config_json.clone(),
        repetition,
        seeds,
    );
    r.message = Some(format!("split failed: {message}"));
    r.summary = RunSummary::from_curve(&[], &c.targets);
    r
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-string payload".into())
}

/// What `run_one` needs besides the trainer.
pub struct RunContext<'a> {
    /// Dataset name.
    pub dataset: &'a str,
    /// The split shared by all trainers of this repetition.
    pub split: &'a Split,
    /// The architecture the run asks for.
    pub requested: &'a Architecture,
    /// Repetition index.
    pub repetition: usize,
    /// Base seed of the sweep.
    pub base_seed: u64,
    /// Stop rules.
    pub rules: &'a StopRules,
    /// Evaluation schedule.
    pub schedule: &'a EvalSchedule,
    /// Reported training-MSE targets.
    pub targets: &'a [f64],
    /// Iterations always evaluated (the iteration budgets of the deterministic metrics).
    pub budgets: &'a [usize],
    /// Test-only handicap: only every n-th `step` call really steps.
    pub handicap_every: Option<usize>,
    /// Test-only slowdown factor: after each real step the run busy-waits inside the timed
    /// region until the step has taken this many times its measured time
    /// ([`fitbench_report::config::Slowdown`]).
    pub slowdown: Option<f64>,
    /// When set, the run stops with [`Status::Interrupted`]: before its next step, or within
    /// the step in progress when the trainer polls its [`fitbench_core::CancelToken`].
    pub interrupt: &'a Arc<AtomicBool>,
    /// Count the run's heap use ([`crate::alloc`]) into [`RunRecord::memory`]: only when
    /// this is the only run in the process and the counting allocator is installed.
    pub measure_memory: bool,
    /// Refuse the run before `init` when the data plus the trainer's estimate
    /// ([`TrainerConfig::memory_bytes`]) exceed this.
    pub memory_limit: Option<crate::memory::Limit>,
}

/// Heap accounting of one run: the windows of [`crate::alloc`] around `init`, each timed
/// `step` and each evaluation, accumulated into a [`MemoryRecord`]. Does nothing unless
/// enabled.
struct MemoryMeter {
    record: Option<MemoryRecord>,
}

impl MemoryMeter {
    fn new(enabled: bool) -> Self {
        Self {
            record: enabled.then(|| MemoryRecord {
                baseline_bytes: crate::alloc::live_bytes(),
                ..MemoryRecord::default()
            }),
        }
    }

    fn open(&self) -> Option<crate::alloc::Window> {
        self.record.as_ref().map(|_| crate::alloc::Window::open())
    }

    /// Closes `window` and folds it into the record with `fold(record, usage, peak above
    /// the run's baseline)`.
    fn close(
        &mut self,
        window: Option<crate::alloc::Window>,
        fold: impl FnOnce(&mut MemoryRecord, crate::alloc::Usage, u64),
    ) {
        if let (Some(record), Some(window)) = (self.record.as_mut(), window) {
            let usage = window.close();
            let peak = usage.peak_bytes.saturating_sub(record.baseline_bytes);
            fold(record, usage, peak);
        }
    }
}

/// Test-only wrapper behind [`fitbench_report::config::Handicap`]: forwards only every `every`-th
/// `step` call, so the wrapped trainer needs `every` times as many iterations.
struct Handicapped {
    inner: Box<dyn Trainer>,
    every: usize,
    calls: usize,
}

impl Trainer for Handicapped {
    fn step(&mut self) -> fitbench_core::Result<StepOutcome> {
        self.calls += 1;
        if self.calls.is_multiple_of(self.every) {
            self.inner.step()
        } else {
            Ok(StepOutcome::Continue)
        }
    }
    fn params(&self) -> Mlp {
        self.inner.params()
    }
    fn try_params(&self) -> fitbench_core::Result<Mlp> {
        self.inner.try_params()
    }
    fn info(&self) -> Option<serde_json::Value> {
        self.inner.info()
    }
    fn remote(&self) -> bool {
        self.inner.remote()
    }
    fn current_params(&self) -> Option<Mlp> {
        self.inner.current_params()
    }
    fn flops_per_step(&self) -> Option<f64> {
        self.inner.flops_per_step()
    }
    fn counters(&self) -> Vec<(&'static str, f64)> {
        self.inner.counters()
    }
    fn set_cancel(&mut self, token: fitbench_core::CancelToken) {
        self.inner.set_cancel(token);
    }
}

/// Test-only ([`RunContext::slowdown`]): busy-waits until `factor` times the time since
/// `start` has passed, reading only the injected clock (no sleep: the core stays busy, as a
/// slower step would keep it).
fn slow_down(clock: &mut dyn Clock, start: f64, factor: f64) {
    let until = start + factor * (clock.now() - start);
    while clock.now() < until {
        std::hint::spin_loop();
    }
}

/// One evaluation of a trainer's parameters.
struct Evaluation {
    train_mse: f64,
    test_mse: f64,
    /// Train and test MSE of `current_params()`, when the trainer has one.
    current: Option<(f64, f64)>,
}

impl Evaluation {
    /// Scores `trainer`'s parameters (and its current ones, if any) on both halves of `split`;
    /// a panic or a failed evaluation becomes the status and message that end the run.
    fn of(trainer: &dyn Trainer, split: &Split) -> std::result::Result<Self, (Status, String)> {
        let model = catch_unwind(AssertUnwindSafe(|| trainer.try_params()))
            .map_err(|p| {
                (
                    Status::Panicked,
                    format!("panic in params(): {}", panic_message(p)),
                )
            })?
            .map_err(|e| {
                let status = match e {
                    fitbench_core::Error::NonFinite(_) => Status::Diverged,
                    fitbench_core::Error::Unresponsive(_) => Status::Unresponsive,
                    fitbench_core::Error::Cancelled(fitbench_core::Cancelled::Deadline) => {
                        Status::Timeout
                    }
                    fitbench_core::Error::Cancelled(fitbench_core::Cancelled::Interrupted) => {
                        Status::Interrupted
                    }
                    _ => Status::Error,
                };
                (status, format!("params failed: {e}"))
            })?;
        let current = catch_unwind(AssertUnwindSafe(|| trainer.current_params())).map_err(|p| {
            (
                Status::Panicked,
                format!("panic in current_params(): {}", panic_message(p)),
            )
        })?;
        let mse = |m: &Mlp, d: &Dataset| {
            m.mse(d.x.as_ref(), d.y.as_ref())
                .map_err(|e| (Status::Error, format!("evaluation failed: {e}")))
        };
        let current = match current {
            Some(c) => Some((mse(&c, &split.train)?, mse(&c, &split.test)?)),
            None => None,
        };
        Ok(Self {
            train_mse: mse(&model, &split.train)?,
            test_mse: mse(&model, &split.test)?,
            current,
        })
    }

    /// The status that ends the run when a loss of this evaluation is not finite.
    fn divergence(&self, iter: usize) -> Option<(Status, String)> {
        let (cur_train, cur_test) = self.current.unwrap_or((self.train_mse, self.test_mse));
        [self.train_mse, self.test_mse, cur_train, cur_test]
            .iter()
            .any(|v| !v.is_finite())
            .then(|| {
                (
                    Status::Diverged,
                    format!(
                        "non-finite loss at iteration {iter} (train {cur_train}, test {cur_test})"
                    ),
                )
            })
    }
}

/// The evaluations of one run: each scores the trainer on the split (timed into `eval_s`, its
/// heap use metered), appends a curve point and applies the stop rules that look at
/// evaluations. The target and patience rules look only at scheduled points, whose
/// iterations do not depend on time; time-triggered points are marked `off_schedule` and only
/// add detail.
struct Evaluator<'a> {
    split: &'a Split,
    rules: &'a StopRules,
    /// Best train MSE over every point so far.
    best: f64,
    /// Best train MSE over the scheduled points so far …
    best_scheduled: f64,
    /// … and its value after each of them (for the patience rule).
    best_history: Vec<f64>,
}

impl<'a> Evaluator<'a> {
    fn new(split: &'a Split, rules: &'a StopRules) -> Self {
        Self {
            split,
            rules,
            best: f64::INFINITY,
            best_scheduled: f64::INFINITY,
            best_history: Vec::new(),
        }
    }

    /// Evaluates `trainer` after `iter` steps and adds the point to `record`'s curve; returns
    /// the status and message that end the run, if a rule fires.
    fn evaluate(
        &mut self,
        record: &mut RunRecord,
        meter: &mut MemoryMeter,
        trainer: &dyn Trainer,
        iter: usize,
        scheduled: bool,
        clock: &mut dyn Clock,
    ) -> Option<(Status, String)> {
        let ev = match self.measure(record, meter, trainer, clock) {
            Ok(ev) => ev,
            Err(failure) => return Some(failure),
        };
        self.add_point(record, &ev, iter, scheduled);
        if let Some(diverged) = ev.divergence(iter) {
            return Some(diverged);
        }
        if !scheduled {
            return None;
        }
        self.scheduled_stop(ev.train_mse, iter)
    }

    /// [`Evaluation::of`], its time added to `record.eval_s` and its heap peak metered.
    fn measure(
        &self,
        record: &mut RunRecord,
        meter: &mut MemoryMeter,
        trainer: &dyn Trainer,
        clock: &mut dyn Clock,
    ) -> std::result::Result<Evaluation, (Status, String)> {
        let window = meter.open();
        let e0 = clock.now();
        let ev = Evaluation::of(trainer, self.split);
        record.eval_s += clock.now() - e0;
        meter.close(window, |m, usage, _| {
            let own = usage.peak_bytes.saturating_sub(usage.start_bytes);
            m.eval_peak_bytes = m.eval_peak_bytes.max(own)
        });
        ev
    }

    /// Appends the curve point of `ev` at `iter` (at the training time so far).
    fn add_point(&mut self, record: &mut RunRecord, ev: &Evaluation, iter: usize, scheduled: bool) {
        if ev.train_mse.is_finite() {
            self.best = self.best.min(ev.train_mse);
        }
        record.curve.push(CurvePoint {
            iter,
            time_s: record.train_s,
            train_mse: ev.train_mse,
            test_mse: ev.test_mse,
            best_train_mse: self.best,
            current_train_mse: ev.current.map(|c| c.0),
            current_test_mse: ev.current.map(|c| c.1),
            off_schedule: !scheduled,
        });
    }

    /// The target and patience rules at a scheduled point of train MSE `train_mse`.
    fn scheduled_stop(&mut self, train_mse: f64, iter: usize) -> Option<(Status, String)> {
        let rules = self.rules;
        self.best_scheduled = self.best_scheduled.min(train_mse);
        self.best_history.push(self.best_scheduled);
        if rules.target_train_mse.is_some_and(|t| train_mse <= t) {
            return Some((
                Status::TargetReached,
                format!("train MSE {train_mse:.3e} reached the target at iteration {iter}"),
            ));
        }
        if let Some(p) = rules.patience
            && self.best_history.len() > p
        {
            let then = self.best_history[self.best_history.len() - 1 - p];
            if then - self.best_scheduled <= rules.min_rel_improvement * then.abs() {
                return Some((
                    Status::Stalled,
                    format!(
                        "best train MSE improved by less than {:.0e} (relative) over the last {p} evaluations",
                        rules.min_rel_improvement
                    ),
                ));
            }
        }
        None
    }
}

/// How long a step may run past the end of the time budget before it is abandoned, in
/// seconds (see [`run_one`]).
pub const STEP_OVERRUN_GRACE_S: f64 = 1.0;

/// Runs one trainer on one split until a stop rule fires. Never panics and never returns an
/// error: every failure becomes the record's status and message.
///
/// Before `init`, a run is refused (as [`Status::Error`], naming the sizes) when the data plus
/// [`TrainerConfig::memory_bytes`] exceed the memory limit, or when one step's
/// [`TrainerConfig::step_cost`] would take more than [`crate::guard::REFUSAL_FACTOR`] times
/// the time budget even at an optimistic flop rate ([`crate::guard`]).
///
/// The stop rules are checked between steps; within a step, the trainer's
/// [`fitbench_core::CancelToken`] carries the interrupt flag and a deadline
/// [`STEP_OVERRUN_GRACE_S`] after the end of the budget (on the real clock only). A step
/// cancelled through it is discarded: it is not counted, the parameters from before it are
/// kept, and the run ends as [`Status::Interrupted`], or as [`Status::Timeout`] after an
/// off-schedule evaluation of those parameters (unless the curve already ends with them); its
/// time is added to `train_s`.
pub fn run_one(
    ctx: &RunContext<'_>,
    label: &str,
    config: &dyn TrainerConfig,
    config_json: serde_json::Value,
    clock: &mut dyn Clock,
) -> RunRecord {
    let trainer_id = tag(&config_json).unwrap_or(label).to_string();
    let mut record = RunRecord::pending(
        ctx.dataset,
        label,
        &trainer_id,
        config_json,
        ctx.repetition,
        run_seeds(ctx.base_seed, ctx.dataset, label, ctx.repetition),
    );
    let initial = match prepare(ctx, label, config, &mut record) {
        Ok(initial) => initial,
        Err((status, message)) => return end_early(record, status, message, ctx.targets),
    };
    let mut meter = MemoryMeter::new(ctx.measure_memory);
    let start = initial.clone();
    let (trainer, cancel) = match init(ctx, config, initial, &mut record, &mut meter, clock) {
        Ok(built) => built,
        Err((status, message)) => return end_early(record, status, message, ctx.targets),
    };
    let track_pattern = !trainer.remote()
        && start.activations[..start.n_layers().saturating_sub(1)]
            .iter()
            .any(|a| matches!(a, Activation::Relu | Activation::LeakyRelu { .. }));
    Training {
        ctx,
        record,
        meter,
        evaluator: Evaluator::new(ctx.split, ctx.rules),
        trainer,
        cancel,
        iter: 0,
        next_eval_iter: 1,
        last_eval_train_s: 0.0,
        track_pattern,
        initial: start,
        before_step: None,
    }
    .run(clock)
}

/// Ends a run that did not get to its loop (or failed its first evaluation) with `status`
/// and `message`, summarising the curve so far.
fn end_early(mut record: RunRecord, status: Status, message: String, targets: &[f64]) -> RunRecord {
    record.status = status;
    record.message = Some(message);
    record.summary = RunSummary::from_curve(&record.curve, targets);
    record
}

/// Before `init`: the architecture the trainer trains (into `record`), the refusals (memory
/// limit, step cost) and the seeded initial network.
fn prepare(
    ctx: &RunContext<'_>,
    label: &str,
    config: &dyn TrainerConfig,
    record: &mut RunRecord,
) -> std::result::Result<Mlp, (Status, String)> {
    let arch = config
        .architecture(ctx.requested)
        .map_err(|e| (Status::Error, e.to_string()))?;
    record.architecture = Some(arch.clone());
    let train = &ctx.split.train;
    let widths = arch.widths(train.d(), train.k());
    let cost = config.step_cost(train.n(), &widths);
    let need = crate::memory::dataset_bytes(train.n() + ctx.split.test.n(), train.d(), train.k())
        .saturating_add(config.memory_bytes(train.n(), &widths));
    if let Some(why) = crate::memory::refusal(label, ctx.dataset, need, ctx.memory_limit) {
        let why = match &cost {
            Some(c) => format!(
                "{why}; {} needs for one step: {} (a smaller network, --hidden, needs less)",
                record.trainer_id, c.detail
            ),
            None => why,
        };
        return Err((Status::Error, why));
    }
    if let Some(why) = cost
        .as_ref()
        .and_then(|c| crate::guard::step_cost_refusal(label, ctx.dataset, c, ctx.rules.budget_s))
    {
        return Err((Status::Error, why));
    }
    Mlp::init(&arch, train.d(), train.k(), record.seeds.init)
        .map_err(|e| (Status::Error, e.to_string()))
}

/// `init` (timed into `setup_s`, its heap use metered), the test-only handicap around the
/// trainer, and the token through which a step in progress sees the interrupt and its
/// deadline.
fn init(
    ctx: &RunContext<'_>,
    config: &dyn TrainerConfig,
    initial: Mlp,
    record: &mut RunRecord,
    meter: &mut MemoryMeter,
    clock: &mut dyn Clock,
) -> std::result::Result<(Box<dyn Trainer>, fitbench_core::CancelToken), (Status, String)> {
    let trainer_seed = record.seeds.trainer;
    let window = meter.open();
    let t0 = clock.now();
    let built = catch_unwind(AssertUnwindSafe(|| {
        config.init(&ctx.split.train, initial, trainer_seed)
    }));
    record.setup_s = clock.now() - t0;
    meter.close(window, |m, usage, peak| {
        m.init_peak_bytes = peak;
        m.retained_bytes = usage.live_bytes.saturating_sub(m.baseline_bytes);
        m.init_allocations = usage.allocations;
    });
    let mut trainer = match built {
        Ok(Ok(t)) => match ctx.handicap_every {
            Some(every) => Box::new(Handicapped {
                inner: t,
                every,
                calls: 0,
            }),
            None => t,
        },
        Ok(Err(e @ fitbench_core::Error::Unresponsive(_))) => {
            return Err((Status::Unresponsive, format!("init failed: {e}")));
        }
        Ok(Err(e)) => return Err((Status::Error, format!("init failed: {e}"))),
        Err(p) => {
            return Err((
                Status::Panicked,
                format!("panic in init(): {}", panic_message(p)),
            ));
        }
    };
    record.flops_per_step = trainer.flops_per_step();
    record.trainer_info = trainer.info();
    let cancel = fitbench_core::CancelToken::new(Arc::clone(ctx.interrupt));
    if let Err(p) = catch_unwind(AssertUnwindSafe(|| trainer.set_cancel(cancel.clone()))) {
        return Err((
            Status::Panicked,
            format!("panic in set_cancel(): {}", panic_message(p)),
        ));
    }
    Ok((trainer, cancel))
}

/// What one timed `step` call did.
struct TimedStep {
    outcome: std::thread::Result<fitbench_core::Result<StepOutcome>>,
    /// The step was cancelled through the token (and is to be discarded).
    cancelled: Option<fitbench_core::Cancelled>,
    /// Its time, the test-only slowdown included.
    seconds: f64,
}

/// How a run ends: its status and message.
type Ending = (Status, Option<String>);

/// A run after `init`: the step loop with its evaluation schedule and stop rules.
struct Training<'c, 'a> {
    ctx: &'c RunContext<'a>,
    record: RunRecord,
    meter: MemoryMeter,
    evaluator: Evaluator<'a>,
    trainer: Box<dyn Trainer>,
    cancel: fitbench_core::CancelToken,
    /// Steps done.
    iter: usize,
    /// The next iteration of the growing schedule.
    next_eval_iter: usize,
    /// `train_s` at the last evaluation after a step.
    last_eval_train_s: f64,
    /// The network the trainer started from (for the stationarity certificate).
    initial: Mlp,
    /// For (leaky) ReLU nets, the iterate before the last completed step (copied between
    /// steps, untimed), for the certificate's pattern change; `None` otherwise.
    before_step: Option<Mlp>,
    /// Whether to keep `before_step`: the hidden layers are (leaky) ReLU and the parameters
    /// are in this process (an external trainer's would cost a round trip per step).
    track_pattern: bool,
}

impl Training<'_, '_> {
    /// Evaluates the initial network, steps until a rule fires, and completes the record.
    fn run(mut self, clock: &mut dyn Clock) -> RunRecord {
        if let Some((status, message)) = self.evaluate(true, clock) {
            self.record.iterations = 0;
            self.record.memory = self.meter.record;
            return end_early(self.record, status, message, self.ctx.targets);
        }
        let (status, message) = self.train(clock);
        self.finish(status, message)
    }

    /// [`Evaluator::evaluate`] of the trainer after the steps so far.
    fn evaluate(&mut self, scheduled: bool, clock: &mut dyn Clock) -> Option<(Status, String)> {
        self.evaluator.evaluate(
            &mut self.record,
            &mut self.meter,
            self.trainer.as_ref(),
            self.iter,
            scheduled,
            clock,
        )
    }

    /// The step loop: returns how the run ended.
    fn train(&mut self, clock: &mut dyn Clock) -> Ending {
        loop {
            if let Some(ending) = self.stop_before_step() {
                return ending;
            }
            // Kept only once the step completes: a cancelled step is discarded, and the
            // iterate before the last *completed* step is what the pattern change needs.
            let before = if self.track_pattern {
                self.latest_params()
            } else {
                None
            };
            let step = self.timed_step(clock);
            if let Some(why) = step.cancelled {
                return self.end_cancelled(why, step.seconds, clock);
            }
            if before.is_some() {
                self.before_step = before;
            }
            self.record.train_s += step.seconds;
            self.iter += 1;
            self.record.iterations = self.iter;
            let converged = match step_result(step.outcome, self.iter) {
                Ok(converged) => converged,
                Err(ending) => return ending,
            };
            if let Some((status, message)) = self.evaluate_if_due(converged, clock) {
                return (status, Some(message));
            }
            if converged {
                return (Status::Converged, None);
            }
        }
    }

    /// The rules checked between steps: the interrupt, the iteration limit, the time budget.
    fn stop_before_step(&self) -> Option<Ending> {
        let rules = self.ctx.rules;
        if self.ctx.interrupt.load(Ordering::Relaxed) {
            return Some((
                Status::Interrupted,
                Some(format!(
                    "interrupted by a signal after {} steps (its curve so far is kept)",
                    self.iter
                )),
            ));
        }
        if self.iter >= rules.max_iters {
            return Some((Status::MaxIters, None));
        }
        if self.record.train_s >= rules.budget_s {
            return Some((Status::Timeout, None));
        }
        None
    }

    /// One `step` call, timed and metered, with the cancel token's deadline set for it.
    fn timed_step(&mut self, clock: &mut dyn Clock) -> TimedStep {
        let rules = self.ctx.rules;
        // A step still running this long after the budget ended is abandoned (on the real
        // clock only: a fake clock gives no instant, hence no deadline).
        self.cancel.set_deadline(
            clock.instant_after(rules.budget_s - self.record.train_s + STEP_OVERRUN_GRACE_S),
        );
        let window = self.meter.open();
        let s0 = clock.now();
        let outcome = catch_unwind(AssertUnwindSafe(|| self.trainer.step()));
        let cancelled = match &outcome {
            Ok(Err(fitbench_core::Error::Cancelled(why))) => Some(*why),
            _ => None,
        };
        if let Some(factor) = self.ctx.slowdown.filter(|_| cancelled.is_none()) {
            slow_down(clock, s0, factor);
        }
        let seconds = clock.now() - s0;
        self.meter.close(window, |m, usage, peak| {
            m.step_peak_bytes = m.step_peak_bytes.max(peak);
            m.step_allocations += usage.allocations;
            m.step_allocated_bytes += usage.allocated_bytes;
        });
        TimedStep {
            outcome,
            cancelled,
            seconds,
        }
    }

    /// Ends the run after a step cancelled through the token (`why`) that took `step_s`: the
    /// unfinished step is discarded and not counted; the trainer's parameters are those after
    /// step `iter`.
    fn end_cancelled(
        &mut self,
        why: fitbench_core::Cancelled,
        step_s: f64,
        clock: &mut dyn Clock,
    ) -> Ending {
        let (iter, next) = (self.iter, self.iter + 1);
        match why {
            fitbench_core::Cancelled::Interrupted => {
                self.record.train_s += step_s;
                (
                    Status::Interrupted,
                    Some(format!(
                        "interrupted by a signal during step {next}, after {iter} steps; the unfinished step is discarded (its curve so far is kept)"
                    )),
                )
            }
            fitbench_core::Cancelled::Deadline => {
                // Those parameters close the curve (at the time they were reached), unless
                // they already do.
                if self.record.curve.last().is_some_and(|p| p.iter < iter)
                    && let Some((status, msg)) = self.evaluate(false, clock)
                {
                    self.record.train_s += step_s;
                    return (status, Some(msg));
                }
                self.record.train_s += step_s;
                let budget_s = self.ctx.rules.budget_s;
                (
                    Status::Timeout,
                    Some(format!(
                        "step {next} was abandoned {:.2} s after the time budget of {} s ended (a step may overrun it by at most {STEP_OVERRUN_GRACE_S} s); it is not counted: the run ends after {iter} steps",
                        self.record.train_s - budget_s,
                        budget_s
                    )),
                )
            }
        }
    }

    /// After step `iter` (converged or not): evaluates when the point is scheduled, the time
    /// budget ended or the last evaluation is overdue, and returns a rule that fired.
    ///
    /// The iteration schedule does not depend on time, so the scheduled points of a curve are
    /// the same in every repetition of a run; time-triggered points only add to them. The last
    /// point of a run is scheduled unless the time budget ended it.
    fn evaluate_if_due(
        &mut self,
        converged: bool,
        clock: &mut dyn Clock,
    ) -> Option<(Status, String)> {
        let (ctx, iter) = (self.ctx, self.iter);
        let timed_out = self.record.train_s >= ctx.rules.budget_s;
        let scheduled = iter <= ctx.schedule.every_step_until
            || iter >= self.next_eval_iter
            || ctx.budgets.contains(&iter)
            || converged
            || iter >= ctx.rules.max_iters;
        if iter >= self.next_eval_iter {
            self.next_eval_iter =
                (iter + 1).max((iter as f64 * ctx.schedule.growth).ceil() as usize);
        }
        let overdue = self.record.train_s - self.last_eval_train_s >= ctx.schedule.max_interval_s;
        if timed_out || scheduled || overdue {
            self.last_eval_train_s = self.record.train_s;
            return self.evaluate(scheduled, clock);
        }
        None
    }

    /// The trainer's latest iterate (its current one where it keeps a selection apart).
    fn latest_params(&self) -> Option<Mlp> {
        catch_unwind(AssertUnwindSafe(|| {
            self.trainer
                .current_params()
                .or_else(|| self.trainer.try_params().ok())
        }))
        .ok()
        .flatten()
    }

    /// The stationarity certificate of the trainer's final parameters ([`crate::stationarity`]),
    /// untimed; `None` when the parameters cannot be had or scored (the run's status already
    /// says why) or a panic.
    fn certificate(&self) -> Option<fitbench_report::schema::Stationarity> {
        let train = &self.ctx.split.train;
        catch_unwind(AssertUnwindSafe(|| {
            let last = self.trainer.try_params().ok()?;
            let current = self.trainer.current_params();
            let mut c =
                crate::stationarity::certificate(&self.initial, &last, current.as_ref(), train)
                    .ok()?;
            if let Some(before) = &self.before_step {
                let after = current.as_ref().unwrap_or(&last);
                c.pattern_changed = crate::stationarity::pattern_change(before, after, train)
                    .ok()
                    .flatten();
            }
            // Non-finite parameters (a diverged run's) have no meaningful gradient.
            (!c.ratio.is_nan()).then_some(c)
        }))
        .ok()
        .flatten()
    }

    /// Completes the record: status, message, memory, the trainer's final flops and
    /// counters, the summary.
    fn finish(self, status: Status, message: Option<String>) -> RunRecord {
        let stationarity = if self.iter > 0 {
            self.certificate()
        } else {
            None
        };
        let mut record = self.record;
        record.stationarity = stationarity;
        record.status = status;
        record.message = message;
        record.memory = self.meter.record;
        record.trainer_info = self.trainer.info();
        if let Some(flops) = self.trainer.flops_per_step() {
            record.flops_per_step = Some(flops);
        }
        record.counters = self
            .trainer
            .counters()
            .into_iter()
            .map(|(name, value)| (name.to_string(), value))
            .collect();
        record.summary = RunSummary::from_curve(&record.curve, self.ctx.targets);
        record
    }
}

/// Whether a finished (not cancelled) step `iter` converged, or how it ended the run.
fn step_result(
    outcome: std::thread::Result<fitbench_core::Result<StepOutcome>>,
    iter: usize,
) -> std::result::Result<bool, Ending> {
    match outcome {
        Ok(Ok(StepOutcome::Continue)) => Ok(false),
        Ok(Ok(StepOutcome::Converged)) => Ok(true),
        Ok(Err(e @ fitbench_core::Error::NonFinite(_))) => {
            Err((Status::Diverged, Some(format!("step {iter} diverged: {e}"))))
        }
        Ok(Err(e @ fitbench_core::Error::Unresponsive(_))) => Err((
            Status::Unresponsive,
            Some(format!("step {iter} got no answer: {e}")),
        )),
        Ok(Err(e)) => Err((Status::Error, Some(format!("step {iter} failed: {e}")))),
        Err(p) => Err((
            Status::Panicked,
            Some(format!("panic in step {iter}: {}", panic_message(p))),
        )),
    }
}

/// Progress events for the binary's progress display.
#[derive(Debug)]
pub enum Progress<'a> {
    /// A run is about to start.
    Started {
        /// Runs finished so far.
        done: usize,
        /// Runs in the sweep.
        total: usize,
        /// Dataset name.
        dataset: &'a str,
        /// Trainer label.
        trainer: &'a str,
        /// Repetition.
        repetition: usize,
    },
    /// A run finished.
    Finished(&'a RunRecord),
    /// A learning-rate grid search finished (before the runs of its dataset).
    Tuned(&'a TuningRecord),
    /// `--resume`: what the folder held and what will be reused or rerun (before the first run).
    Resume(&'a crate::resume::ResumeSummary),
    /// Something worth saying that does not stop the sweep (a torn line moved aside, a lock
    /// taken over, files moved aside by `--force`).
    Note(&'a str),
}

/// Fits the closed-form linear reference (the minimum-norm least-squares solution, so
/// rank-deficient data — constant or collinear columns — need no ridge) on a split, and
/// records its numerical rank and the features the split's standardisation dropped.
pub fn linear_reference(split: &Split, repetition: usize) -> Option<LinearReference> {
    use fitbench_lsq::OlsConfig;
    let ridge = 0.0;
    let rank =
        fitbench_core::linalg::min_norm_lstsq(split.train.x.as_ref(), split.train.y.as_ref(), None)
            .ok()
            .map(|fit| fit.rank);
    (|| {
        let config = OlsConfig {
            ridge,
            ..OlsConfig::default()
        };
        let initial =
            Mlp::init(&Architecture::linear(), split.train.d(), split.train.k(), 0).ok()?;
        let mut t = config.init(&split.train, initial, 0).ok()?;
        t.step().ok()?;
        let m = t.params();
        let y = split.train.y.as_ref();
        let null_train_mse = (0..y.ncols())
            .map(|j| {
                let col = y.col(j);
                let mean = col.iter().sum::<f64>() / y.nrows() as f64;
                col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / y.nrows() as f64
            })
            .sum::<f64>()
            / y.ncols().max(1) as f64;
        Some(LinearReference {
            repetition,
            ridge,
            null_train_mse,
            train_mse: m.mse(split.train.x.as_ref(), split.train.y.as_ref()).ok()?,
            test_mse: m.mse(split.test.x.as_ref(), split.test.y.as_ref()).ok()?,
            rank,
            dropped_features: split.dropped_features().to_vec(),
        })
    })()
}

/// The split of one repetition (the same for every trainer and every process).
fn make_split(
    data: &Dataset,
    c: &RunConfig,
    name: &str,
    repetition: usize,
) -> fitbench_core::Result<Split> {
    let (split_seed, _) = split_and_init_seeds(c.base_seed, name, repetition);
    Split::new(data, c.test_fraction, split_seed)
}

/// Whether the plan (its shard, if any) runs anything on dataset `name`.
fn owns_dataset(plan: &Plan, name: &str) -> bool {
    (0..plan.config.seeds).any(|rep| plan.trainers.iter().any(|t| plan.owns(name, &t.label, rep)))
}

/// The dataset descriptions of a plan (splits, linear references and, when the data hold
/// duplicate rows, the test rows with a copy among the training rows, of every repetition),
/// exactly as [`run_sweep`] records them, without running any trainer. A shard describes
/// only the datasets it runs something on.
pub fn dataset_infos(plan: &Plan) -> Vec<DatasetInfo> {
    let c = &plan.config;
    plan.datasets
        .iter()
        .filter(|pd| owns_dataset(plan, &pd.data.name))
        .map(|pd| {
            let name = pd.data.name.clone();
            let mut info = DatasetInfo::new(&name, &pd.data, c.test_fraction);
            info.noise_free_teacher = pd.spec.is_noise_free_teacher();
            for repetition in 0..c.seeds {
                if let Ok(split) = make_split(&pd.data, c, &name, repetition) {
                    info.n_train = split.train.n();
                    info.n_test = split.test.n();
                    if info.duplicate_rows > 0 {
                        info.test_rows_in_train.push(
                            pd.data
                                .rows_with_copy_in(&split.test_rows, &split.train_rows),
                        );
                    }
                    info.linear_reference
                        .extend(linear_reference(&split, repetition));
                }
            }
            info
        })
        .collect()
}

/// Everything a sweep produced.
#[derive(Debug, Default)]
pub struct SweepOutput {
    /// Dataset descriptions (with the linear reference per split).
    pub datasets: Vec<DatasetInfo>,
    /// Every run, in plan order (datasets, then repetitions, then trainers) whatever order
    /// they finished in.
    pub runs: Vec<RunRecord>,
    /// Learning-rate grid searches, when enabled.
    pub tuning: Vec<TuningRecord>,
    /// The calibration kernel, measured before and after the sweep.
    pub calibration: Option<Calibration>,
    /// The sweep stopped early on [`Plan::interrupt`]: runs not started are missing.
    pub interrupted: bool,
    /// Runs taken over from [`Plan::previous`] instead of being run again.
    pub reused: usize,
    /// Runs run at once ([`run_sweep_parallel`]; 1 for [`run_sweep`]).
    pub jobs: usize,
}

/// Hash of [`RunConfig::result_json`] (hex): equal for two sweeps whose common runs compute
/// the same.
pub fn config_hash(config: &RunConfig) -> String {
    format!(
        "{:016x}",
        fitbench_core::rng::fnv1a(&config.result_json().to_string())
    )
}

/// The identity of one run: everything that determines its result (the run configuration
/// except what only selects runs or bounds resources — [`RunConfig::NOT_RESULT_FIELDS`] —, the dataset
/// name, which carries its parameters or content hash, the trainer label and configuration,
/// and the repetition, hence its seeds), hashed. Two runs with the same fingerprint give the
/// same deterministic results, so `--resume` may reuse one for the other.
pub fn fingerprint(
    config: &RunConfig,
    dataset: &str,
    label: &str,
    trainer_config: &serde_json::Value,
    repetition: usize,
) -> String {
    let key = serde_json::json!({
        "config": config.result_json(),
        "dataset": dataset,
        "trainer": label,
        "trainer_config": trainer_config,
        "repetition": repetition,
        "version": env!("CARGO_PKG_VERSION"),
    });
    format!("{:016x}", fitbench_core::rng::fnv1a(&key.to_string()))
}

/// What a worker tells the thread that owns the sweep's outputs.
enum Message<R> {
    /// Item `i` is starting.
    Start(usize),
    /// Item `i` is done.
    Done(usize, R),
}

/// Runs `work` on items `0..n` in order of index, `jobs` at a time, and hands every start and
/// result to `handle` on the calling thread (in the order they happen). Before taking an
/// item, a worker asks `stop`. With one job everything runs on the calling thread with
/// `clock`. With more, each worker is a thread inside a one-thread rayon pool of its own (so
/// code that uses rayon, such as burn's matmul, stays on the worker instead of queueing for a
/// shared pool) and reads its own [`MonotonicClock`].
fn for_each_item<R: Send>(
    jobs: usize,
    n: usize,
    clock: &mut dyn Clock,
    stop: &(dyn Fn() -> bool + Sync),
    work: &(dyn Fn(usize, &mut dyn Clock) -> R + Sync),
    handle: &mut dyn FnMut(Message<R>),
) {
    if jobs <= 1 {
        for i in 0..n {
            if stop() {
                break;
            }
            handle(Message::Start(i));
            let r = work(i, clock);
            handle(Message::Done(i, r));
        }
        return;
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let next = &next;
    let (tx, rx) = std::sync::mpsc::channel::<Message<R>>();
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(n) {
            let tx = tx.clone();
            scope.spawn(move || {
                let body = move || {
                    let mut clock = MonotonicClock::default();
                    while !stop() {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i >= n || tx.send(Message::Start(i)).is_err() {
                            break;
                        }
                        let r = work(i, &mut clock);
                        if tx.send(Message::Done(i, r)).is_err() {
                            break;
                        }
                    }
                };
                match rayon::ThreadPoolBuilder::new().num_threads(1).build() {
                    Ok(pool) => pool.install(body),
                    Err(_) => body(),
                }
            });
        }
        drop(tx);
        for message in rx {
            handle(message);
        }
    });
}

/// One run of the sweep: indices into the plan.
struct Item {
    dataset: usize,
    repetition: usize,
    trainer: usize,
}

/// The split of one (dataset, repetition), shared by its runs and dropped after the last.
type SharedSplit = Arc<std::result::Result<Split, String>>;

struct Cell {
    split: Option<SharedSplit>,
    remaining: usize,
}

/// A tuned trainer: its config and JSON.
type Tuned = Option<(Box<dyn TrainerConfig + Send + Sync>, serde_json::Value)>;

/// Runs the whole plan, one run at a time, timing with `clock`. `on_run` is called with every
/// finished run (the binary persists it at once); an error from `on_run` stops the sweep and
/// is returned.
pub fn run_sweep(
    plan: &Plan,
    clock: &mut dyn Clock,
    on_run: &mut dyn FnMut(&RunRecord) -> Result<()>,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<SweepOutput> {
    sweep(plan, 1, clock, on_run, progress)
}

/// Runs the whole plan `jobs` runs at a time (learning-rate searches too), each run
/// single-threaded on its own [`MonotonicClock`]. Results do not depend on `jobs`: every
/// run's seeds, split and initial weights come from the plan alone, and the output lists the
/// runs in plan order. Timings do: concurrent runs share memory bandwidth and caches, so each
/// is slower than alone (the report records `jobs`). `on_run` and `progress` are called on
/// the calling thread, `on_run` in the order runs finish.
pub fn run_sweep_parallel(
    plan: &Plan,
    jobs: usize,
    on_run: &mut dyn FnMut(&RunRecord) -> Result<()>,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<SweepOutput> {
    if jobs > 1 && plan.config.threads > 1 {
        return Err(HarnessError::Config(format!(
            "--jobs {jobs} runs {jobs} single-threaded runs at once, but the sweep asks for {} threads per run; use --threads 1 with --jobs, or --jobs 1 with --threads",
            plan.config.threads
        )));
    }
    sweep(
        plan,
        jobs.max(1),
        &mut MonotonicClock::default(),
        on_run,
        progress,
    )
}

fn sweep(
    plan: &Plan,
    jobs: usize,
    clock: &mut dyn Clock,
    on_run: &mut dyn FnMut(&RunRecord) -> Result<()>,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<SweepOutput> {
    let c = &plan.config;
    let rules = StopRules::from(c);
    let mut out = SweepOutput {
        datasets: dataset_infos(plan),
        jobs,
        ..SweepOutput::default()
    };
    let before = crate::environment::calibrate_once();
    let mut environment = crate::environment::capture(c.threads);
    environment.jobs = jobs;
    let provenance = fitbench_report::schema::Provenance::of(&environment, Some(before));
    let measure_memory = crate::alloc::measures(jobs);
    let memory_limit = crate::memory::limit(c.max_memory);
    let abort = AtomicBool::new(false);
    let stop = || abort.load(Ordering::Relaxed) || plan.interrupt.load(Ordering::Relaxed);

    // Per-dataset learning rates, tuned on a validation carve-out of the training split; a
    // shard tunes only the (dataset, trainer) pairs it runs.
    let searches: Vec<(usize, usize)> = match &c.lr_grid {
        None => Vec::new(),
        Some(_) => plan
            .datasets
            .iter()
            .enumerate()
            .flat_map(|(d, pd)| {
                plan.trainers
                    .iter()
                    .enumerate()
                    .filter(move |(_, t)| {
                        t.spec.is_some()
                            && (0..c.seeds).any(|rep| plan.owns(&pd.data.name, &t.label, rep))
                    })
                    .map(move |(t, _)| (d, t))
            })
            .collect(),
    };
    let mut tuned: Vec<Vec<Tuned>> = plan
        .datasets
        .iter()
        .map(|_| plan.trainers.iter().map(|_| None).collect())
        .collect();
    let mut tuning: Vec<Option<TuningRecord>> = searches.iter().map(|_| None).collect();
    if let Some(grid) = &c.lr_grid {
        let search = |i: usize, clock: &mut dyn Clock| {
            let (d, t) = searches[i];
            let (pd, t) = (&plan.datasets[d], &plan.trainers[t]);
            t.spec.as_ref().and_then(|spec| {
                crate::tuning::tune(
                    spec,
                    &t.label,
                    &pd.data.name,
                    &pd.data,
                    &plan.architecture,
                    c,
                    grid,
                    &c.targets,
                    clock,
                )
            })
        };
        for_each_item(jobs, searches.len(), clock, &stop, &search, &mut |m| {
            if let Message::Done(i, Some((spec, record))) = m {
                progress(Progress::Tuned(&record));
                let (d, t) = searches[i];
                tuned[d][t] = Some((spec.boxed(), spec.to_json()));
                tuning[i] = Some(record);
            }
        });
    }
    out.tuning = tuning.into_iter().flatten().collect();

    // The runs, in plan order.
    let mut items = Vec::new();
    for (d, pd) in plan.datasets.iter().enumerate() {
        for repetition in 0..c.seeds {
            for (t, pt) in plan.trainers.iter().enumerate() {
                if plan.owns(&pd.data.name, &pt.label, repetition) {
                    items.push(Item {
                        dataset: d,
                        repetition,
                        trainer: t,
                    });
                }
            }
        }
    }
    // Each run's identity, and what `--resume` does with the folder's record of it.
    let config_hash = config_hash(c);
    let trainer_json = |it: &Item| match &tuned[it.dataset][it.trainer] {
        Some((_, json)) => json.clone(),
        None => plan.trainers[it.trainer].config_json.clone(),
    };
    let fingerprints: Vec<String> = items
        .iter()
        .map(|it| {
            fingerprint(
                c,
                &plan.datasets[it.dataset].data.name,
                &plan.trainers[it.trainer].label,
                &trainer_json(it),
                it.repetition,
            )
        })
        .collect();
    let total = items.len();
    let mut finished: Vec<Option<RunRecord>> = items.iter().map(|_| None).collect();
    let mut to_run = Vec::new();
    {
        let previous: std::collections::HashMap<(&str, &str, usize), &RunRecord> = plan
            .previous
            .iter()
            .map(|r| ((r.dataset.as_str(), r.trainer.as_str(), r.repetition), r))
            .collect();
        let mut summary = crate::resume::ResumeSummary {
            planned: total,
            ..Default::default()
        };
        for (i, it) in items.iter().enumerate() {
            let key = (
                plan.datasets[it.dataset].data.name.as_str(),
                plan.trainers[it.trainer].label.as_str(),
                it.repetition,
            );
            let found = previous.get(&key).copied();
            let decision = crate::resume::decide(found, &fingerprints[i]);
            summary.count(decision);
            match (decision, found) {
                (Ok(()), Some(r)) => finished[i] = Some(r.clone()),
                _ => to_run.push(i),
            }
        }
        if !plan.previous.is_empty() {
            summary.unplanned = plan.previous.len() - (total - summary.not_run);
            if summary.changed > 0 {
                summary.changes = plan
                    .previous_config
                    .as_ref()
                    .map(|old| crate::resume::config_changes(old, c))
                    .unwrap_or_default();
            }
            out.reused = summary.reused;
            progress(Progress::Resume(&summary));
        }
    }
    let cells: Vec<std::sync::Mutex<Cell>> = (0..plan.datasets.len() * c.seeds)
        .map(|_| {
            std::sync::Mutex::new(Cell {
                split: None,
                remaining: 0,
            })
        })
        .collect();
    for &i in &to_run {
        let it = &items[i];
        let mut cell = lock(&cells[it.dataset * c.seeds + it.repetition]);
        cell.remaining += 1;
    }
    let run = |j: usize, clock: &mut dyn Clock| -> RunRecord {
        let i = to_run[j];
        let it = &items[i];
        let (pd, t) = (&plan.datasets[it.dataset], &plan.trainers[it.trainer]);
        let name = &pd.data.name;
        let repetition = it.repetition;
        let cell = &cells[it.dataset * c.seeds + repetition];
        let (config, config_json) = match &tuned[it.dataset][it.trainer] {
            Some((config, json)) => (config.as_ref(), json.clone()),
            None => (t.config.as_ref(), t.config_json.clone()),
        };
        // The split, made by the first run of its cell.
        let split = lock(cell)
            .split
            .get_or_insert_with(|| {
                Arc::new(make_split(&pd.data, c, name, repetition).map_err(|e| e.to_string()))
            })
            .clone();
        let mut record = match split.as_ref() {
            Ok(split) => {
                let ctx = RunContext {
                    dataset: name,
                    split,
                    requested: &plan.architecture,
                    repetition,
                    base_seed: c.base_seed,
                    rules: &rules,
                    schedule: &c.eval,
                    targets: &c.targets,
                    budgets: &c.iteration_budgets,
                    handicap_every: c
                        .test_handicap
                        .as_ref()
                        .filter(|h| h.trainer == t.label)
                        .map(|h| h.every),
                    slowdown: c
                        .test_slowdown
                        .as_ref()
                        .filter(|s| s.trainer == t.label)
                        .map(|s| s.factor),
                    interrupt: &plan.interrupt,
                    measure_memory,
                    memory_limit,
                };
                run_one(&ctx, &t.label, config, config_json, clock)
            }
            Err(message) => failed_split(name, t, repetition, c, message.clone()),
        };
        {
            let mut cell = lock(cell);
            cell.remaining -= 1;
            if cell.remaining == 0 {
                cell.split = None;
            }
        }
        record.fingerprint = Some(fingerprints[i].clone());
        record.config_hash = Some(config_hash.clone());
        record.provenance = Some(provenance.clone());
        record
    };
    let mut done = total - to_run.len();
    let mut sink_error = None;
    for_each_item(jobs, to_run.len(), clock, &stop, &run, &mut |m| match m {
        Message::Start(j) => {
            let it = &items[to_run[j]];
            progress(Progress::Started {
                done,
                total,
                dataset: &plan.datasets[it.dataset].data.name,
                trainer: &plan.trainers[it.trainer].label,
                repetition: it.repetition,
            });
        }
        Message::Done(j, record) => {
            if sink_error.is_none()
                && let Err(e) = on_run(&record)
            {
                sink_error = Some(e);
                abort.store(true, Ordering::Relaxed);
            }
            progress(Progress::Finished(&record));
            done += 1;
            if record.status == Status::Interrupted {
                abort.store(true, Ordering::Relaxed);
            }
            finished[to_run[j]] = Some(record);
        }
    });
    if let Some(e) = sink_error {
        return Err(e);
    }
    out.runs = finished.into_iter().flatten().collect();
    out.interrupted =
        out.runs.len() < total || out.runs.iter().any(|r| r.status == Status::Interrupted);
    out.calibration = Some(crate::environment::calibration(vec![
        before,
        crate::environment::calibrate_once(),
    ]));
    Ok(out)
}

/// Locks a cell; a worker that panicked while holding it left nothing half-done that matters
/// (the split is either there or not).
fn lock(cell: &std::sync::Mutex<Cell>) -> std::sync::MutexGuard<'_, Cell> {
    cell.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
