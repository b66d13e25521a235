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
use fitbench_core::{
    Activation, Architecture, Dataset, Mlp, Split, StepOutcome, Trainer, TrainerConfig,
};
use fitbench_report::config::{EvalSchedule, RunConfig, TuningRecord};
use fitbench_report::schema::{
    Calibration, CurvePoint, DatasetInfo, LinearReference, RunRecord, RunSummary, Status,
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
    /// The config as JSON (written into every run record).
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
    /// Finished runs of an earlier, interrupted sweep into the same folder (`--resume`): a
    /// planned run with the same [`fingerprint`] is taken from here instead of re-run.
    pub previous: Vec<RunRecord>,
    /// Run only this shard's runs ([`crate::shard`]); all of them when `None`.
    pub shard: Option<crate::shard::Shard>,
}

impl Plan {
    /// Validates `config`, loads every dataset and parses every trainer.
    pub fn resolve(config: RunConfig) -> Result<Self> {
        config.validate()?;
        let activation: Activation = config.activation.parse()?;
        let architecture = Architecture::new(config.hidden.clone(), activation);
        architecture.validate()?;
        let mut trainers = Vec::new();
        for label in &config.trainers {
            let mut spec = TrainerSpec::parse(label)?;
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
        // Refuse generated data too large for the machine before generating it.
        let limit = crate::memory::limit_bytes();
        for spec in &specs {
            if let Some((n, d)) = spec.synthetic_shape() {
                let need = crate::memory::run_bytes(
                    n,
                    d,
                    config.test_fraction,
                    &architecture,
                    trainers.iter().map(|t| t.config.as_ref()),
                );
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
            s.owns(&crate::shard::RunKey {
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
            Some(s) => crate::shard::plan_keys(self)
                .iter()
                .filter(|k| s.owns(k))
                .count(),
        }
    }
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
        t.config.name(),
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
    /// When set, the run stops before its next step with [`Status::Interrupted`].
    pub interrupt: &'a AtomicBool,
}

/// Test-only wrapper behind [`fitbench_report::config::Handicap`]: forwards only every `every`-th
/// `step` call, so the wrapped trainer needs `every` times as many iterations.
struct Handicapped {
    inner: Box<dyn Trainer>,
    every: usize,
    calls: usize,
}

impl Trainer for Handicapped {
    fn name(&self) -> &str {
        self.inner.name()
    }
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
    fn current_params(&self) -> Option<Mlp> {
        self.inner.current_params()
    }
    fn flops_per_step(&self) -> Option<f64> {
        self.inner.flops_per_step()
    }
    fn counters(&self) -> Vec<(&'static str, f64)> {
        self.inner.counters()
    }
}

struct Evaluation {
    train_mse: f64,
    test_mse: f64,
    /// Train and test MSE of `current_params()`, when the trainer has one.
    current: Option<(f64, f64)>,
}

fn evaluate(
    trainer: &dyn Trainer,
    split: &Split,
) -> std::result::Result<Evaluation, (Status, String)> {
    let model = catch_unwind(AssertUnwindSafe(|| trainer.params())).map_err(|p| {
        (
            Status::Panicked,
            format!("panic in params(): {}", panic_message(p)),
        )
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
    Ok(Evaluation {
        train_mse: mse(&model, &split.train)?,
        test_mse: mse(&model, &split.test)?,
        current,
    })
}

/// Runs one trainer on one split until a stop rule fires. Never panics and never returns an
/// error: every failure becomes the record's status and message.
pub fn run_one(
    ctx: &RunContext<'_>,
    label: &str,
    config: &dyn TrainerConfig,
    config_json: serde_json::Value,
    clock: &mut dyn Clock,
) -> RunRecord {
    let mut record = RunRecord::pending(
        ctx.dataset,
        label,
        config.name(),
        config_json,
        ctx.repetition,
        run_seeds(ctx.base_seed, ctx.dataset, label, ctx.repetition),
    );
    let init_seed = record.seeds.init;
    let trainer_seed = record.seeds.trainer;
    let fail = |mut r: RunRecord, status: Status, message: String| {
        r.status = status;
        r.message = Some(message);
        r.summary = RunSummary::from_curve(&r.curve, ctx.targets);
        r
    };
    let arch = match config.architecture(ctx.requested) {
        Ok(a) => a,
        Err(e) => return fail(record, Status::Error, e.to_string()),
    };
    record.architecture = Some(arch.clone());
    let train = &ctx.split.train;
    let initial = match Mlp::init(&arch, train.d(), train.k(), init_seed) {
        Ok(m) => m,
        Err(e) => return fail(record, Status::Error, e.to_string()),
    };
    let t0 = clock.now();
    let built = catch_unwind(AssertUnwindSafe(|| {
        config.init(train, initial, trainer_seed)
    }));
    record.setup_s = clock.now() - t0;
    let mut trainer = match built {
        Ok(Ok(t)) => match ctx.handicap_every {
            Some(every) => Box::new(Handicapped {
                inner: t,
                every,
                calls: 0,
            }),
            None => t,
        },
        Ok(Err(e)) => return fail(record, Status::Error, format!("init failed: {e}")),
        Err(p) => {
            return fail(
                record,
                Status::Panicked,
                format!("panic in init(): {}", panic_message(p)),
            );
        }
    };
    record.flops_per_step = trainer.flops_per_step();

    let rules = ctx.rules;
    let mut best = f64::INFINITY;
    let mut best_scheduled = f64::INFINITY;
    let mut best_history: Vec<f64> = Vec::new();
    let mut last_eval_train_s = 0.0;
    let mut next_eval_iter = 1usize;
    let mut iter = 0usize;
    // Stop rules (target, patience) look only at scheduled points, whose iterations do not
    // depend on time; time-triggered points are marked `off_schedule` and only add detail.
    let mut eval_point = |record: &mut RunRecord,
                          trainer: &dyn Trainer,
                          iter: usize,
                          scheduled: bool,
                          clock: &mut dyn Clock|
     -> Option<(Status, String)> {
        let e0 = clock.now();
        let ev = evaluate(trainer, ctx.split);
        record.eval_s += clock.now() - e0;
        let ev = match ev {
            Ok(ev) => ev,
            Err(failure) => return Some(failure),
        };
        if ev.train_mse.is_finite() {
            best = best.min(ev.train_mse);
        }
        record.curve.push(CurvePoint {
            iter,
            time_s: record.train_s,
            train_mse: ev.train_mse,
            test_mse: ev.test_mse,
            best_train_mse: best,
            current_train_mse: ev.current.map(|c| c.0),
            current_test_mse: ev.current.map(|c| c.1),
            off_schedule: !scheduled,
        });
        let (cur_train, cur_test) = ev.current.unwrap_or((ev.train_mse, ev.test_mse));
        if [ev.train_mse, ev.test_mse, cur_train, cur_test]
            .iter()
            .any(|v| !v.is_finite())
        {
            return Some((
                Status::Diverged,
                format!("non-finite loss at iteration {iter} (train {cur_train}, test {cur_test})"),
            ));
        }
        if !scheduled {
            return None;
        }
        best_scheduled = best_scheduled.min(ev.train_mse);
        best_history.push(best_scheduled);
        if rules.target_train_mse.is_some_and(|t| ev.train_mse <= t) {
            return Some((
                Status::TargetReached,
                format!(
                    "train MSE {:.3e} reached the target at iteration {iter}",
                    ev.train_mse
                ),
            ));
        }
        if let Some(p) = rules.patience
            && best_history.len() > p
        {
            let then = best_history[best_history.len() - 1 - p];
            if then - best_scheduled <= rules.min_rel_improvement * then.abs() {
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
    };

    if let Some((status, msg)) = eval_point(&mut record, trainer.as_ref(), 0, true, clock) {
        record.iterations = 0;
        return fail(record, status, msg);
    }
    let (status, message) = loop {
        if ctx.interrupt.load(Ordering::Relaxed) {
            break (
                Status::Interrupted,
                Some(format!(
                    "interrupted by a signal after {iter} steps (its curve so far is kept)"
                )),
            );
        }
        if iter >= rules.max_iters {
            break (Status::MaxIters, None);
        }
        if record.train_s >= rules.budget_s {
            break (Status::Timeout, None);
        }
        let s0 = clock.now();
        let outcome = catch_unwind(AssertUnwindSafe(|| trainer.step()));
        record.train_s += clock.now() - s0;
        iter += 1;
        record.iterations = iter;
        let converged = match outcome {
            Ok(Ok(StepOutcome::Continue)) => false,
            Ok(Ok(StepOutcome::Converged)) => true,
            Ok(Err(e @ fitbench_core::Error::NonFinite(_))) => {
                break (Status::Diverged, Some(format!("step {iter} diverged: {e}")));
            }
            Ok(Err(e)) => break (Status::Error, Some(format!("step {iter} failed: {e}"))),
            Err(p) => {
                break (
                    Status::Panicked,
                    Some(format!("panic in step {iter}: {}", panic_message(p))),
                );
            }
        };
        // The iteration schedule does not depend on time, so the scheduled points of a curve
        // are the same in every repetition of a run; time-triggered points only add to them.
        // The last point of a run is scheduled unless the time budget ended it.
        let timed_out = record.train_s >= rules.budget_s;
        let scheduled = iter <= ctx.schedule.every_step_until
            || iter >= next_eval_iter
            || ctx.budgets.contains(&iter)
            || converged
            || iter >= rules.max_iters;
        if iter >= next_eval_iter {
            next_eval_iter = (iter + 1).max((iter as f64 * ctx.schedule.growth).ceil() as usize);
        }
        let overdue = record.train_s - last_eval_train_s >= ctx.schedule.max_interval_s;
        if timed_out || scheduled || overdue {
            last_eval_train_s = record.train_s;
            if let Some((status, msg)) =
                eval_point(&mut record, trainer.as_ref(), iter, scheduled, clock)
            {
                break (status, Some(msg));
            }
        }
        if converged {
            break (Status::Converged, None);
        }
    };
    record.status = status;
    record.message = message;
    if let Some(flops) = trainer.flops_per_step() {
        record.flops_per_step = Some(flops);
    }
    record.counters = trainer
        .counters()
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect();
    record.summary = RunSummary::from_curve(&record.curve, ctx.targets);
    record
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

/// The split of one repetition; records its sizes and linear reference in `info`.
fn split_of(
    data: &Dataset,
    c: &RunConfig,
    name: &str,
    repetition: usize,
    info: &mut DatasetInfo,
) -> fitbench_core::Result<Split> {
    let (split_seed, _) = split_and_init_seeds(c.base_seed, name, repetition);
    let split = Split::new(data, c.test_fraction, split_seed)?;
    info.n_train = split.train.n();
    info.n_test = split.test.n();
    info.linear_reference
        .extend(linear_reference(&split, repetition));
    Ok(split)
}

/// The dataset descriptions of a plan (splits and linear references of every repetition),
/// exactly as [`run_sweep`] records them, without running any trainer.
pub fn dataset_infos(plan: &Plan) -> Vec<DatasetInfo> {
    let c = &plan.config;
    plan.datasets
        .iter()
        .map(|pd| {
            let name = pd.data.name.clone();
            let mut info = DatasetInfo::new(&name, &pd.data, c.test_fraction);
            info.noise_free_teacher = pd.spec.is_noise_free_teacher();
            for repetition in 0..c.seeds {
                let _ = split_of(&pd.data, c, &name, repetition, &mut info);
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
    /// Every run, in execution order.
    pub runs: Vec<RunRecord>,
    /// Learning-rate grid searches, when enabled.
    pub tuning: Vec<TuningRecord>,
    /// The calibration kernel, measured before and after the sweep.
    pub calibration: Option<Calibration>,
    /// The sweep stopped early on [`Plan::interrupt`]: runs not started are missing.
    pub interrupted: bool,
    /// Runs taken over from [`Plan::previous`] instead of being run again.
    pub reused: usize,
}

/// The identity of one run: everything that determines its result (the run configuration
/// except what only selects runs — name, dataset and trainer lists, number of repetitions —,
/// the dataset name, which carries its parameters or content hash, the trainer label and
/// configuration, and the repetition, hence its seeds), hashed. Two runs with the same
/// fingerprint give the same deterministic results, so `--resume` may reuse one for the other.
pub fn fingerprint(
    config: &RunConfig,
    dataset: &str,
    label: &str,
    trainer_config: &serde_json::Value,
    repetition: usize,
) -> String {
    let mut c = serde_json::to_value(config).unwrap_or(serde_json::Value::Null);
    if let serde_json::Value::Object(m) = &mut c {
        for k in ["name", "datasets", "csv", "trainers", "seeds"] {
            m.remove(k);
        }
    }
    let key = serde_json::json!({
        "config": c,
        "dataset": dataset,
        "trainer": label,
        "trainer_config": trainer_config,
        "repetition": repetition,
        "version": env!("CARGO_PKG_VERSION"),
    });
    format!("{:016x}", fitbench_core::rng::fnv1a(&key.to_string()))
}

/// Runs the whole plan. `on_run` is called with every finished run (the binary persists it
/// at once); an error from `on_run` aborts the sweep.
pub fn run_sweep(
    plan: &Plan,
    clock: &mut dyn Clock,
    on_run: &mut dyn FnMut(&RunRecord) -> Result<()>,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<SweepOutput> {
    let c = &plan.config;
    let rules = StopRules::from(c);
    let mut out = SweepOutput::default();
    let total = plan.n_owned_runs();
    let before = crate::environment::calibrate_once();
    for pd in &plan.datasets {
        let name = pd.data.name.clone();
        let mut info = DatasetInfo::new(&name, &pd.data, c.test_fraction);
        info.noise_free_teacher = pd.spec.is_noise_free_teacher();
        // A shard skips the datasets it owns no run of (tuning included).
        let owns_any = (0..c.seeds).any(|rep| {
            plan.trainers
                .iter()
                .any(|t| plan.owns(&name, &t.label, rep))
        });
        if !owns_any {
            continue;
        }
        // Per-dataset learning rates, tuned on a validation carve-out of the training split.
        let mut tuned: Vec<Option<(Box<dyn TrainerConfig + Send + Sync>, serde_json::Value)>> =
            Vec::new();
        for t in &plan.trainers {
            let owned = (0..c.seeds).any(|rep| plan.owns(&name, &t.label, rep));
            let result = match (&c.lr_grid, &t.spec) {
                _ if !owned => None,
                (Some(grid), Some(spec)) => crate::tuning::tune(
                    spec,
                    &t.label,
                    &name,
                    &pd.data,
                    &plan.architecture,
                    c,
                    grid,
                ),
                _ => None,
            };
            tuned.push(result.map(|(spec, record)| {
                progress(Progress::Tuned(&record));
                out.tuning.push(record);
                (spec.boxed(), spec.to_json())
            }));
        }
        'dataset: for repetition in 0..c.seeds {
            let split = split_of(&pd.data, c, &name, repetition, &mut info);
            let ctx_split = split.as_ref().ok();
            for (t, tuned) in plan.trainers.iter().zip(&tuned) {
                if !plan.owns(&name, &t.label, repetition) {
                    continue;
                }
                if plan.interrupt.load(Ordering::Relaxed) {
                    out.interrupted = true;
                    break 'dataset;
                }
                let (config, config_json) = match tuned {
                    Some((config, json)) => (config.as_ref(), json.clone()),
                    None => (t.config.as_ref(), t.config_json.clone()),
                };
                let fp = fingerprint(c, &name, &t.label, &config_json, repetition);
                progress(Progress::Started {
                    done: out.runs.len(),
                    total,
                    dataset: &name,
                    trainer: &t.label,
                    repetition,
                });
                let previous = plan.previous.iter().find(|r| {
                    r.fingerprint.as_deref() == Some(fp.as_str()) && r.status != Status::Interrupted
                });
                let mut record = match (previous, ctx_split) {
                    (Some(done), _) => {
                        out.reused += 1;
                        done.clone()
                    }
                    (None, Some(split)) => {
                        let ctx = RunContext {
                            dataset: &name,
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
                            interrupt: &plan.interrupt,
                        };
                        run_one(&ctx, &t.label, config, config_json, clock)
                    }
                    (None, None) => failed_split(
                        &name,
                        t,
                        repetition,
                        c,
                        split
                            .as_ref()
                            .err()
                            .map(|e| e.to_string())
                            .unwrap_or_default(),
                    ),
                };
                record.fingerprint = Some(fp);
                on_run(&record)?;
                progress(Progress::Finished(&record));
                let stop = record.status == Status::Interrupted;
                out.runs.push(record);
                if stop {
                    out.interrupted = true;
                    break 'dataset;
                }
            }
        }
        out.datasets.push(info);
        if out.interrupted {
            break;
        }
    }
    out.calibration = Some(crate::environment::calibration(vec![
        before,
        crate::environment::calibrate_once(),
    ]));
    Ok(out)
}
