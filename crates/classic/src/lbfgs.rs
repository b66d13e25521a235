//! The L-BFGS trainer `lbfgs`.
//!
//! Minimises `L(θ) = ‖f(X) − Y‖²_F/(n·k) + ½·l2·Σₗ‖Wₗ‖²_F` over the flat parameters θ of any
//! [`Mlp`] (the [`engine`]'s order) with [argmin]'s L-BFGS (two-loop recursion, memory `m`,
//! initial Hessian scaling γ = sᵀy/yᵀy) and one of argmin's line searches:
//!
//! | `line_search` | argmin solver | conditions |
//! |---|---|---|
//! | `more_thuente` (default) | `MoreThuenteLineSearch` | strong Wolfe, c₁ = 10⁻⁴, c₂ = 0.9 |
//! | `hager_zhang` | `HagerZhangLineSearch` | approximate Wolfe (argmin's defaults) |
//! | `backtracking` | `BacktrackingLineSearch` + `ArmijoCondition` | Armijo, c = 10⁻⁴, ρ = 0.9 |
//!
//! One [`step`](Trainer::step) is one L-BFGS iteration, line-search evaluations included; the
//! very first step also evaluates the loss and gradient at the initial parameters. Stopping
//! stays with the harness: argmin's own tolerances are not consulted.
//!
//! A line search can fail — find no point it accepts within `max_evals` evaluations, or
//! accept a zero step or a non-finite point — well before a stationary point: on the kinks
//! of a ReLU network the strong Wolfe conditions are often unsatisfiable, along the L-BFGS
//! direction and along the steepest descent alike. θ then stays where it was; with
//! `restart = true` (the default) the same step takes one steepest-descent step with
//! Armijo backtracking (c = 10⁻⁴, initial step 1/max(1, ‖g‖), halved up to `max_evals`
//! times) and, when that lowers the loss, restarts L-BFGS from the new point with an empty
//! history (the restart rebuilds the objective's buffers: the only workspace allocation
//! after `init`). The fallback is our choice, not argmin's; the run's `restarts` counter
//! says how often it was taken. A step returns [`StepOutcome::Converged`] when the gradient
//! is exactly zero, or when a line search fails and the fallback step cannot lower the loss
//! (at once, with `restart = false`). [`Error::NonFinite`] is returned when the loss at the
//! starting parameters is not finite.
//!
//! argmin's line searches have no evaluation limit of their own (MINPACK's `maxfev` is not
//! ported): at a minimum of a linear model its Moré–Thuente search was seen to run without
//! end. The objective therefore refuses evaluations beyond the step's budget, which ends
//! argmin's iteration as a failed line search.
//!
//! # Cancellation
//!
//! The objective polls the trainer's [`CancelToken`] before every evaluation it computes (the
//! line searches' included) and the step then returns [`Error::Cancelled`] with θ at the last
//! accepted point; argmin's state and history are dropped, so a later step would start
//! L-BFGS afresh from θ (the harness ends the run instead).
//!
//! # Evaluations
//!
//! argmin asks for the cost and the gradient separately; every request is served by one
//! [`engine::loss_and_gradient`] (forward and backward pass) and cached with its parameters,
//! so a gradient asked for at the point whose cost was just computed (the line search's
//! Wolfe test, L-BFGS's gradient at the accepted point) costs nothing. The number of
//! evaluations actually computed is reported as the counter `evaluations` (see
//! [`Trainer::counters`]); `flops_per_step` is [`engine::gradient_flops`] × the mean number
//! of evaluations per step so far.
//!
//! # Why argmin
//!
//! argmin's solver can be driven one iteration at a time ([`Solver::init`],
//! [`Solver::next_iter`]) and already has the three line searches. Its price is a few
//! parameter-sized allocations per iteration (`Vec<f64>` arithmetic) and a `Vec` copy per
//! gradient request; the bench `lbfgs_overhead` measures the share of a step spent outside
//! the gradient evaluations (docs/internals.md says why it decided for argmin).

use crate::engine::{self, Workspace};
use argmin::core::{CostFunction, Gradient, IterState, Problem, Solver, State};
use argmin::solver::linesearch::condition::ArmijoCondition;
use argmin::solver::linesearch::{
    BacktrackingLineSearch, HagerZhangLineSearch, MoreThuenteLineSearch,
};
use argmin::solver::quasinewton::LBFGS;
use faer::Mat;
use fitbench_core::registry::{Capabilities, TrainerEntry};
use fitbench_core::{
    Architecture, CancelToken, Dataset, Error, Mlp, Result, StepOutcome, Trainer, TrainerConfig,
};
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The line search of each L-BFGS iteration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineSearch {
    /// Moré–Thuente (strong Wolfe conditions), as in scipy's L-BFGS-B and most libraries.
    #[default]
    MoreThuente,
    /// Hager–Zhang (approximate Wolfe conditions).
    HagerZhang,
    /// Backtracking with the Armijo condition.
    Backtracking,
}

/// Configuration of the `lbfgs` trainer.
///
/// | name | default | purpose | range |
/// |---|---|---|---|
/// | `m` | 10 | number of (s, y) pairs kept (scipy's default) | 1 ..= 1000 |
/// | `l2` | 0 | weight penalty ½·l2·‖W‖² added to the MSE | finite, ≥ 0 |
/// | `line_search` | `more_thuente` | `more_thuente`, `hager_zhang` or `backtracking` | |
/// | `max_evals` | 20 | evaluations one step's line search may make (scipy's `maxls`); one more is allowed for the gradient at the accepted point when it is not the last evaluated (Hager–Zhang) | ≥ 1 |
/// | `restart` | true | after a failed line search, take one backtracking gradient step and restart from there with an empty history (see the module docs) | |
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LbfgsConfig {
    /// History length m.
    pub m: usize,
    /// Weight penalty coefficient (weights only, not biases).
    pub l2: f64,
    /// The line search.
    pub line_search: LineSearch,
    /// Evaluation budget of one step's line search.
    pub max_evals: u64,
    /// Restart from the current point after a failed line search.
    pub restart: bool,
}

impl Default for LbfgsConfig {
    fn default() -> Self {
        Self {
            m: 10,
            l2: 0.0,
            line_search: LineSearch::MoreThuente,
            max_evals: 20,
            restart: true,
        }
    }
}

/// Largest history length accepted.
pub const MAX_M: usize = 1000;

impl TrainerConfig for LbfgsConfig {
    fn validate(&self) -> Result<()> {
        if self.m == 0 || self.m > MAX_M {
            return Err(Error::config(
                "lbfgs.m",
                self.m,
                format!("the history length must be between 1 and {MAX_M}, e.g. lbfgs:m=10"),
            ));
        }
        if self.max_evals == 0 {
            return Err(Error::config(
                "lbfgs.max_evals",
                self.max_evals,
                "a step needs at least one evaluation, e.g. lbfgs:max_evals=20",
            ));
        }
        if !(self.l2.is_finite() && self.l2 >= 0.0) {
            return Err(Error::config(
                "lbfgs.l2",
                self.l2,
                "the weight penalty must be a finite number ≥ 0, e.g. lbfgs:l2=0",
            ));
        }
        Ok(())
    }

    /// Any architecture: the requested one.
    fn architecture(&self, requested: &Architecture) -> Result<Architecture> {
        engine::any_architecture(requested)
    }

    /// The engine workspace (3·n·Σₗ mₗ·8 over the non-input layers), the data
    /// ((n·(d + k))·8) and the parameter-sized vectors: 2·m history pairs plus about 12
    /// working copies ((2·m + 12)·p·8).
    fn memory_bytes(&self, n: usize, widths: &[usize]) -> u64 {
        let engine::NetSize {
            d,
            k,
            units,
            params: p,
        } = engine::NetSize::of(widths);
        let n64 = n as u64;
        let vectors = (2 * self.m as u64 + 12).saturating_mul(p).saturating_mul(8);
        (3 * n64 * units * 8)
            .saturating_add(n64 * (d + k) * 8)
            .saturating_add(vectors)
    }

    fn init(&self, train: &Dataset, initial: Mlp, _seed: u64) -> Result<Box<dyn Trainer>> {
        Ok(Box::new(Lbfgs::new(self.clone(), train, initial)?))
    }
}

/// The cached state of the objective: the last point evaluated, its loss and gradient.
struct Evaluation {
    mlp: Mlp,
    ws: Workspace,
    at: Vec<f64>,
    loss: f64,
    grad: Vec<f64>,
    valid: bool,
}

/// Evaluations computed so far, shared by the trainer and its objective (argmin drops the
/// objective when a line search fails).
type Counter = Arc<AtomicU64>;

/// The error an objective returns once a step's evaluation budget is spent; argmin's L-BFGS
/// then ends the iteration with a failed line search.
#[derive(Debug, thiserror::Error)]
#[error("the line search used its {0} evaluations (lbfgs.max_evals) without accepting a point")]
struct BudgetSpent(u64);

/// The training loss as an argmin problem (cost and gradient from one engine evaluation).
struct Objective {
    x: Arc<Mat<f64>>,
    y: Arc<Mat<f64>>,
    l2: f64,
    eval: RefCell<Evaluation>,
    count: Counter,
    /// Evaluations left in the current step (reset by [`Lbfgs::step`]).
    budget: Cell<u64>,
    max_evals: u64,
    /// Polled before every evaluation.
    cancel: CancelToken,
}

impl Objective {
    /// The objective over `x`, `y` for networks shaped like `template`, with its buffers.
    fn new(
        x: &Arc<Mat<f64>>,
        y: &Arc<Mat<f64>>,
        config: &LbfgsConfig,
        template: &Mlp,
        count: &Counter,
        cancel: &CancelToken,
    ) -> Self {
        let p = template.n_params();
        Self {
            x: Arc::clone(x),
            y: Arc::clone(y),
            l2: config.l2,
            eval: RefCell::new(Evaluation {
                mlp: template.clone(),
                ws: Workspace::new(template, x.nrows()),
                at: vec![0.0; p],
                loss: f64::NAN,
                grad: vec![0.0; p],
                valid: false,
            }),
            count: Arc::clone(count),
            budget: Cell::new(0),
            max_evals: config.max_evals,
            cancel: cancel.clone(),
        }
    }

    /// One steepest-descent step from `theta` with Armijo backtracking (c = 10⁻⁴, step
    /// 1/max(1, ‖g‖) halved up to `max_evals` times); writes the new point into `theta` and
    /// returns `true` when the loss decreased, leaves `theta` alone and returns `false`
    /// otherwise.
    fn gradient_step(&self, theta: &mut [f64]) -> Result<bool> {
        self.budget.set(self.max_evals + 1);
        let to_core = |e: argmin::core::Error| from_argmin(e);
        let (f0, g) = {
            let e = self.at(theta).map_err(to_core)?;
            (e.loss, e.grad.clone())
        };
        let g2: f64 = g.iter().map(|v| v * v).sum();
        if !(f0.is_finite() && g2 > 0.0 && g2.is_finite()) {
            return Ok(false);
        }
        let mut alpha = 1.0 / g2.sqrt().max(1.0);
        let mut trial = theta.to_vec();
        for _ in 0..self.max_evals {
            for ((t, &x), &gi) in trial.iter_mut().zip(theta.iter()).zip(&g) {
                *t = x - alpha * gi;
            }
            let f = self.at(&trial).map_err(to_core)?.loss;
            if f.is_finite() && f <= f0 - 1e-4 * alpha * g2 && f < f0 {
                theta.copy_from_slice(&trial);
                return Ok(true);
            }
            alpha *= 0.5;
        }
        Ok(false)
    }

    /// Evaluates at `p` unless `p` is the cached point; returns the borrow of the cache.
    fn at(
        &self,
        p: &[f64],
    ) -> std::result::Result<std::cell::RefMut<'_, Evaluation>, argmin::core::Error> {
        let mut e = self.eval.borrow_mut();
        if !(e.valid && e.at.as_slice() == p) {
            let left = self.budget.get();
            if left == 0 {
                return Err(BudgetSpent(self.max_evals).into());
            }
            self.cancel.check()?;
            self.budget.set(left - 1);
            let Evaluation {
                mlp,
                ws,
                at,
                loss,
                grad,
                valid,
            } = &mut *e;
            *valid = false;
            engine::unflatten(p, mlp)?;
            *loss = engine::loss_and_gradient(
                mlp,
                self.x.as_ref().as_ref(),
                self.y.as_ref().as_ref(),
                self.l2,
                ws,
                grad,
            )?;
            at.copy_from_slice(p);
            *valid = true;
            self.count.fetch_add(1, Ordering::Relaxed);
        }
        Ok(e)
    }
}

impl CostFunction for Objective {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, p: &Vec<f64>) -> std::result::Result<f64, argmin::core::Error> {
        Ok(self.at(p)?.loss)
    }
}

impl Gradient for Objective {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;

    fn gradient(&self, p: &Vec<f64>) -> std::result::Result<Vec<f64>, argmin::core::Error> {
        Ok(self.at(p)?.grad.clone())
    }
}

type V = Vec<f64>;
type St = IterState<V, V, (), (), (), f64>;

/// argmin's L-BFGS with one of the three line searches.
enum Solvers {
    MoreThuente(LBFGS<MoreThuenteLineSearch<V, V, f64>, V, V, f64>),
    HagerZhang(LBFGS<HagerZhangLineSearch<V, V, f64>, V, V, f64>),
    Backtracking(LBFGS<BacktrackingLineSearch<V, V, ArmijoCondition<f64>, f64>, V, V, f64>),
}

/// Calls `$method` on whichever solver `$solvers` holds.
macro_rules! dispatch {
    ($solvers:expr, $s:ident => $body:expr) => {
        match $solvers {
            Solvers::MoreThuente($s) => $body,
            Solvers::HagerZhang($s) => $body,
            Solvers::Backtracking($s) => $body,
        }
    };
}

/// An argmin error as a fitbench error: a non-finite value stays [`Error::NonFinite`].
fn from_argmin(e: argmin::core::Error) -> Error {
    match e.downcast::<Error>() {
        Ok(inner) => inner,
        Err(other) => Error::Trainer {
            trainer: "lbfgs (argmin)".into(),
            source: other.into(),
        },
    }
}

impl Solvers {
    fn new(config: &LbfgsConfig) -> Result<Self> {
        let m = config.m;
        Ok(match config.line_search {
            LineSearch::MoreThuente => {
                Self::MoreThuente(LBFGS::new(MoreThuenteLineSearch::new(), m))
            }
            LineSearch::HagerZhang => Self::HagerZhang(LBFGS::new(HagerZhangLineSearch::new(), m)),
            LineSearch::Backtracking => {
                let armijo = ArmijoCondition::new(1e-4).map_err(from_argmin)?;
                Self::Backtracking(LBFGS::new(BacktrackingLineSearch::new(armijo), m))
            }
        })
    }
}

/// The `lbfgs` trainer bound to a training set (see the [module docs](self)).
pub struct Lbfgs {
    config: LbfgsConfig,
    /// The training data, shared with the objective (kept to rebuild it on a restart).
    x: Arc<Mat<f64>>,
    y: Arc<Mat<f64>>,
    problem: Problem<Objective>,
    solver: Solvers,
    /// argmin's state between steps (`None` before the first step).
    state: Option<St>,
    /// The current parameters θ and the model they describe.
    theta: Vec<f64>,
    mlp: Mlp,
    steps: u64,
    flops_per_evaluation: f64,
    count: Counter,
    /// Set once a step has returned [`StepOutcome::Converged`]: argmin may have dropped the
    /// objective, so no further iteration is attempted.
    finished: bool,
    /// Restarts after failed line searches.
    restarts: u64,
    cancel: CancelToken,
}

impl std::fmt::Debug for Lbfgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lbfgs")
            .field("config", &self.config)
            .field("widths", &self.mlp.widths)
            .field("steps", &self.steps)
            .finish_non_exhaustive()
    }
}

impl Lbfgs {
    /// Validates `config` and allocates the objective's buffers for `train` and the shape of
    /// `initial`.
    pub fn new(config: LbfgsConfig, train: &Dataset, initial: Mlp) -> Result<Self> {
        config.validate()?;
        let theta = engine::initial_parameters(LBFGS.name, train, &initial)?;
        let n = train.n();
        let count = Counter::default();
        let (x, y) = (Arc::new(train.x.clone()), Arc::new(train.y.clone()));
        let cancel = CancelToken::never();
        let objective = Objective::new(&x, &y, &config, &initial, &count, &cancel);
        Ok(Self {
            solver: Solvers::new(&config)?,
            problem: Problem::new(objective),
            x,
            y,
            restarts: 0,
            state: None,
            theta,
            flops_per_evaluation: engine::gradient_flops(&initial.widths, n),
            mlp: initial,
            steps: 0,
            count,
            finished: false,
            cancel,
            config,
        })
    }

    /// A fresh objective (with the cancel token) and solver, no state: the next step starts
    /// L-BFGS at θ with an empty history.
    fn reset(&mut self) -> Result<()> {
        let objective = Objective::new(
            &self.x,
            &self.y,
            &self.config,
            &self.mlp,
            &self.count,
            &self.cancel,
        );
        self.problem = Problem::new(objective);
        self.solver = Solvers::new(&self.config)?;
        self.state = None;
        Ok(())
    }

    /// After an error inside argmin's iteration: a cancelled step leaves θ where it was and
    /// the solver is rebuilt (argmin consumed its state and may have dropped the objective).
    fn aborted(&mut self, e: Error) -> Error {
        if matches!(e, Error::Cancelled(_)) && self.reset().is_err() {
            self.finished = true;
        }
        e
    }

    /// Loss and gradient evaluations computed so far.
    pub fn evaluations(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Restarts after failed line searches so far.
    pub fn restarts(&self) -> u64 {
        self.restarts
    }

    /// A failed iteration (θ unchanged): with `restart`, take one backtracking gradient step
    /// from θ and, if it lowers the loss, restart L-BFGS there with an empty history;
    /// otherwise stop.
    fn failed(&mut self) -> Result<StepOutcome> {
        match self.restart_from_theta() {
            Err(e) => Err(self.aborted(e)),
            ok => ok,
        }
    }

    /// [`Lbfgs::failed`] before a cancellation is handled.
    fn restart_from_theta(&mut self) -> Result<StepOutcome> {
        if !self.config.restart {
            self.finished = true;
            return Ok(StepOutcome::Converged);
        }
        let objective = Objective::new(
            &self.x,
            &self.y,
            &self.config,
            &self.mlp,
            &self.count,
            &self.cancel,
        );
        if !objective.gradient_step(&mut self.theta)? {
            self.finished = true;
            return Ok(StepOutcome::Converged);
        }
        engine::unflatten(&self.theta, &mut self.mlp)?;
        self.restarts += 1;
        self.state = None;
        self.solver = Solvers::new(&self.config)?;
        self.problem = Problem::new(objective);
        Ok(StepOutcome::Continue)
    }
}

impl Trainer for Lbfgs {
    /// One L-BFGS iteration (its line search included).
    fn step(&mut self) -> Result<StepOutcome> {
        if self.finished {
            return Ok(StepOutcome::Converged);
        }
        self.cancel.check()?;
        let first = self.state.is_none();
        match self.problem.problem.as_ref() {
            // The initial point's evaluation comes on top of the first line search's budget.
            // One more for L-BFGS's gradient at the accepted point, when that is not the
            // point evaluated last (Hager–Zhang).
            Some(objective) => objective
                .budget
                .set(self.config.max_evals + 1 + u64::from(first)),
            None => {
                self.finished = true;
                return Ok(StepOutcome::Converged);
            }
        }
        let state = match self.state.take() {
            Some(state) => state,
            None => {
                let start = IterState::new().param(self.theta.clone());
                match dispatch!(&mut self.solver, s => s.init(&mut self.problem, start)) {
                    Ok((state, _)) => state,
                    Err(e) => {
                        let e = from_argmin(e);
                        return Err(self.aborted(e));
                    }
                }
            }
        };
        let loss = state.get_cost();
        if !loss.is_finite() {
            return Err(Error::NonFinite(format!(
                "{}: the training loss at the current parameters is {loss}",
                LBFGS.name
            )));
        }
        if state
            .get_gradient()
            .is_some_and(|g| g.iter().all(|&v| v == 0.0))
        {
            self.state = Some(state);
            self.finished = true;
            return Ok(StepOutcome::Converged);
        }
        let (mut state, _) = match dispatch!(&mut self.solver, s => s.next_iter(&mut self.problem, state))
        {
            Ok(next) => next,
            Err(e) if e.is::<BudgetSpent>() => {
                self.steps += 1;
                return self.failed();
            }
            Err(e) => {
                let e = from_argmin(e);
                return Err(self.aborted(e));
            }
        };
        self.steps += 1;
        if state.terminated() {
            // The line search failed (no acceptable point within its budget, or no descent
            // direction); argmin's state no longer holds the parameters, which stay at θ (the
            // last accepted point), and its objective may be gone.
            return self.failed();
        }
        let cost = state.get_cost();
        let moved = state
            .get_param()
            .is_some_and(|param| param.as_slice() != self.theta.as_slice());
        if !(moved && cost.is_finite()) {
            // A zero step (the next iteration would divide 0 by 0) or a non-finite point:
            // θ stays where it was.
            return self.failed();
        }
        state.func_counts(&self.problem);
        state.update();
        state.increment_iter();
        if let Some(param) = state.get_param() {
            self.theta.copy_from_slice(param);
            engine::unflatten(&self.theta, &mut self.mlp)?;
        }
        self.state = Some(state);
        Ok(StepOutcome::Continue)
    }

    fn params(&self) -> Mlp {
        self.mlp.clone()
    }

    /// [`engine::gradient_flops`] × the mean number of evaluations per step so far (one
    /// before the first step).
    fn flops_per_step(&self) -> Option<f64> {
        let per_step = if self.steps == 0 {
            1.0
        } else {
            self.evaluations() as f64 / self.steps as f64
        };
        Some(self.flops_per_evaluation * per_step)
    }

    fn set_cancel(&mut self, token: CancelToken) {
        self.cancel = token;
        // The objective argmin holds polls a clone; none exists yet when argmin dropped it.
        if let Some(objective) = self.problem.problem.as_mut() {
            objective.cancel = self.cancel.clone();
        }
    }

    /// `evaluations`: loss-and-gradient evaluations computed (the line searches' included);
    /// `restarts`: restarts after failed line searches.
    fn counters(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("evaluations", self.evaluations() as f64),
            ("restarts", self.restarts as f64),
        ]
    }
}

/// L-BFGS ([`Lbfgs`]): its name, help and capabilities (argmin allocates its vectors in
/// every iteration).
pub const LBFGS: TrainerEntry = TrainerEntry::of::<LbfgsConfig>(
    "lbfgs",
    "L-BFGS (argmin, Moré–Thuente line search by default) on the faer backprop engine, \
     one iteration (with its line search) per step",
    Capabilities {
        gradient_based: true,
        deterministic: true,
        allocates_in_step: true,
        ..Capabilities::NONE
    },
);
