//! The closed-form linear reference trainer `ols` (ridge optional).
//!
//! Fits `y ≈ xWᵀ + b` by minimising `‖[X 1]Θ − Y‖² + λ‖W‖²` (the intercept is not
//! penalised). One `step` is the whole solve and returns [`StepOutcome::Converged`].
//!
//! The configured solver (Cholesky of the normal equations, or Householder QR) is used when
//! its pivots certify the system as well conditioned: pivot ratio (min/max pivot)² at least
//! max([`PIVOT_RATIO_THRESHOLD`], `rank_tol`²). Otherwise (a constant column in the training
//! split, duplicated or collinear columns, fewer rows than columns) the answer is the
//! **minimum-norm** least-squares solution from the SVD of the centred features
//! ([`fitbench_core::linalg::ridge_lstsq`]): constant columns get weight 0, duplicated columns
//! equal weights, and [`Ols::rank`] reports the numerical rank of `[X 1]`, decided by the
//! relative tolerance `rank_tol` (σᵢ > `rank_tol`·σ_max; default max(n, d)·ε, see
//! [`default_rank_tol`]).

use crate::error::{LsqError, Result};
use faer::Mat;
use fitbench_core::linalg::{
    NormalEquations, PIVOT_RATIO_THRESHOLD, default_rank_tol, pivot_ratio, ridge_lstsq,
};
use fitbench_core::registry::{Capabilities, TrainerEntry};
use fitbench_core::{
    Architecture, Dataset, Error, Mlp, StepOutcome, Trainer, TrainerConfig, flops,
};
use serde::{Deserialize, Serialize};

/// How the least-squares problem is solved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Solver {
    /// Cholesky of the regularised normal equations (fast; squares the condition number).
    #[default]
    Cholesky,
    /// Householder QR of the (ridge-augmented) design (slower, more accurate).
    Qr,
}

/// Configuration of the `ols` trainer.
///
/// | name | default | purpose | range |
/// |---|---|---|---|
/// | `ridge` | 0 | penalty λ on the weights (not the intercept) | finite, ≥ 0 |
/// | `solver` | `cholesky` | `cholesky` or `qr` (rank-deficient systems: SVD, minimum norm) | |
/// | `rank_tol` | none: max(n, d)·ε | relative rank tolerance: σᵢ ≤ `rank_tol`·σ_max counts as 0 | [0, 1) |
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OlsConfig {
    /// Ridge penalty λ ≥ 0.
    pub ridge: f64,
    /// Solver.
    pub solver: Solver,
    /// Relative rank tolerance; `None` (the default): [`default_rank_tol`]`(n, d)` =
    /// max(n, d)·ε for n training rows and d features.
    pub rank_tol: Option<f64>,
}

impl TrainerConfig for OlsConfig {
    fn validate(&self) -> fitbench_core::Result<()> {
        if !(self.ridge.is_finite() && self.ridge >= 0.0) {
            return Err(Error::config(
                "ols.ridge",
                self.ridge,
                "must be a finite number ≥ 0, e.g. ols:ridge=1e-6",
            ));
        }
        if let Some(tol) = self.rank_tol
            && !(tol.is_finite() && (0.0..1.0).contains(&tol))
        {
            return Err(Error::config(
                "ols.rank_tol",
                tol,
                "the relative rank tolerance must lie in [0, 1), e.g. ols:rank_tol=1e-10",
            ));
        }
        Ok(())
    }

    /// Always the linear model: `ols` is the linear reference whatever network the run asks for.
    fn architecture(&self, _requested: &Architecture) -> fitbench_core::Result<Architecture> {
        Ok(Architecture::linear())
    }

    /// The design [X 1] and the targets (with d extra rows for the QR solver's ridge), the
    /// normal equations, the weights and the model: 8·((n + d + 1)(d + 1 + k) + 3(d + 1)² +
    /// 3(d + 1)k) bytes. The `qr` solver and the rank-deficient SVD fallback allocate their
    /// factorisations in `step` besides (not counted).
    fn memory_bytes(&self, n: usize, widths: &[usize]) -> u64 {
        let d = widths.first().copied().unwrap_or(0) as u64;
        let k = widths.last().copied().unwrap_or(1) as u64;
        let (n, p) = (n as u64, d + 1);
        8 * ((n + p) * (p + k) + 3 * p * p + 3 * p * k)
    }

    fn init(
        &self,
        train: &Dataset,
        initial: Mlp,
        _seed: u64,
    ) -> fitbench_core::Result<Box<dyn Trainer>> {
        self.validate()?;
        Ok(Box::new(Ols::new(self.clone(), train, initial)?))
    }
}

/// The `ols` trainer bound to a training set.
#[derive(Debug)]
pub struct Ols {
    config: OlsConfig,
    /// `[X 1]`, n×(d+1); for the QR solver with ridge, `√λ·I` rows are appended below.
    design: Mat<f64>,
    /// Targets (with zero rows appended for the QR ridge augmentation).
    targets: Mat<f64>,
    /// Training rows n (the design may have `d` ridge rows appended below them).
    n: usize,
    normal: NormalEquations,
    theta: Mat<f64>,
    model: Mlp,
    rank: Option<usize>,
    dependent: Vec<String>,
    feature_names: Vec<String>,
}

impl Ols {
    /// Allocates the design matrix and solver workspace for `train`.
    pub fn new(config: OlsConfig, train: &Dataset, initial: Mlp) -> Result<Self> {
        let (n, d, k) = (train.n(), train.d(), train.k());
        if initial.widths != [d, k] {
            return Err(LsqError::Core(Error::Shape {
                context: "ols initial model".into(),
                expected: format!("a linear model [{d}, {k}]"),
                got: format!("{:?}", initial.widths),
            }));
        }
        let augment = if config.solver == Solver::Qr && config.ridge > 0.0 {
            d
        } else {
            0
        };
        let sqrt_ridge = config.ridge.sqrt();
        let design = Mat::from_fn(n + augment, d + 1, |i, j| match (i < n, j < d) {
            (true, true) => train.x[(i, j)],
            (true, false) => 1.0,
            (false, true) => {
                if i - n == j {
                    sqrt_ridge
                } else {
                    0.0
                }
            }
            (false, false) => 0.0,
        });
        let targets = Mat::from_fn(
            n + augment,
            k,
            |i, j| if i < n { train.y[(i, j)] } else { 0.0 },
        );
        let par = faer::get_global_parallelism();
        let mut unknowns = train.feature_names.clone();
        unknowns.push("intercept".into());
        Ok(Self {
            normal: NormalEquations::new(d + 1, k, par, OLS.name).with_unknowns(unknowns),
            theta: Mat::zeros(d + 1, k),
            n,
            design,
            targets,
            model: initial,
            config,
            rank: None,
            dependent: Vec::new(),
            feature_names: train.feature_names.clone(),
        })
    }

    /// The relative rank tolerance in use: `rank_tol`, or max(n, d)·ε.
    pub fn rank_tol(&self) -> f64 {
        let d = self.design.ncols() - 1;
        self.config
            .rank_tol
            .unwrap_or_else(|| default_rank_tol(self.n, d))
    }

    /// The numerical rank of the design `[X 1]` (intercept included; d + 1 is full rank), once
    /// a step has run: from the SVD when the minimum-norm path ran, d + 1 when the configured
    /// solver certified a ridge-free system as well conditioned. `None` before the first step
    /// and after a ridge solve that Cholesky or QR accepted (the ridge makes any design
    /// solvable, so the solve does not reveal the rank; use
    /// [`fitbench_core::linalg::min_norm_lstsq`] for it).
    pub fn rank(&self) -> Option<usize> {
        self.rank
    }

    /// Names of the feature columns that took part in a linear dependence (constant,
    /// duplicated or collinear on the training rows) in the last solve; empty when the
    /// configured solver was used.
    pub fn dependent_features(&self) -> &[String] {
        &self.dependent
    }

    /// The minimum-norm (ridge) solution by the SVD of the centred training features.
    fn solve_svd(&mut self) -> Result<()> {
        let d = self.design.ncols() - 1;
        let fit = ridge_lstsq(
            self.design.as_ref().submatrix(0, 0, self.n, d),
            self.targets.as_ref().subrows(0, self.n),
            self.config.ridge,
            Some(self.rank_tol()),
        )?;
        self.theta = fit.theta;
        self.rank = Some(fit.rank);
        self.dependent = fit
            .dependent_columns
            .iter()
            .filter_map(|&j| self.feature_names.get(j).cloned())
            .collect();
        Ok(())
    }

    fn solve(&mut self) -> Result<()> {
        // The pivot ratio (min/max pivot)² is at least (σ_min/σ_max)², so a ratio below
        // rank_tol² proves the design rank-deficient at that tolerance.
        let min_ratio = PIVOT_RATIO_THRESHOLD.max(self.rank_tol().powi(2));
        let certified = match self.config.solver {
            Solver::Cholesky => self.normal.solve_cholesky(
                self.design.as_ref(),
                self.targets.as_ref(),
                self.config.ridge,
                1,
                min_ratio,
                self.theta.as_mut(),
            )?,
            Solver::Qr => {
                use faer::linalg::solvers::SolveLstsq;
                let qr = self.design.as_ref().qr();
                let p = self.design.ncols();
                let ok = self.design.nrows() >= p
                    && pivot_ratio((0..p).map(|j| qr.R()[(j, j)])) >= min_ratio;
                if ok {
                    self.theta = qr.solve_lstsq(self.targets.as_ref());
                }
                ok
            }
        };
        if certified {
            self.dependent.clear();
            self.rank = (self.config.ridge == 0.0).then_some(self.design.ncols());
        } else {
            self.solve_svd()?;
        }
        if fitbench_core::data::first_non_finite(self.theta.as_ref()).is_some() {
            return Err(LsqError::Core(Error::NonFinite(
                "the ols weights (the data exceed the range of f64 once squared); standardise \
                 the features first"
                    .into(),
            )));
        }
        let d = self.design.ncols() - 1;
        // Copied into the model's own buffers: the Cholesky path allocates nothing in `step`.
        self.model.weights[0]
            .as_mut()
            .copy_from(self.theta.as_ref().subrows(0, d).transpose());
        self.model.biases[0]
            .as_mut()
            .copy_from(self.theta.as_ref().row(d).transpose());
        Ok(())
    }
}

impl Trainer for Ols {
    /// The whole closed-form solve.
    fn step(&mut self) -> fitbench_core::Result<StepOutcome> {
        self.solve()?;
        Ok(StepOutcome::Converged)
    }

    fn params(&self) -> Mlp {
        self.model.clone()
    }

    /// One ridge solve by the normal equations ([`flops::normal_equations`]):
    /// n·p² + 2·n·p·k + p³/3 + 2·p²·k with p = d + 1, counted for the Cholesky path (n includes
    /// the d rows appended for the QR solver's ridge; the SVD path of rank-deficient designs
    /// is not counted separately).
    fn flops_per_step(&self) -> Option<f64> {
        Some(flops::normal_equations(
            self.design.nrows(),
            self.design.ncols(),
            self.theta.ncols(),
        ))
    }
}

/// The closed-form linear least-squares trainer ([`Ols`]): its name, help and capabilities.
pub const OLS: TrainerEntry = TrainerEntry::of::<OlsConfig>(
    "ols",
    "closed-form linear least squares, one step (always the linear model)",
    Capabilities {
        deterministic: true,
        ..Capabilities::NONE
    },
);
