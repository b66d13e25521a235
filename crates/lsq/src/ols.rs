//! The closed-form linear reference trainer `ols` (ridge optional).
//!
//! Fits `y ≈ xWᵀ + b` by minimising `‖[X 1]Θ − Y‖² + λ‖W‖²` (the intercept is not
//! penalised). One `step` is the whole solve and returns [`StepOutcome::Converged`].

use crate::error::{LsqError, Result};
use faer::{Col, Mat};
use fitbench_core::linalg::NormalEquations;
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
/// | `solver` | `cholesky` | `cholesky` or `qr` | |
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OlsConfig {
    /// Ridge penalty λ ≥ 0.
    pub ridge: f64,
    /// Solver.
    pub solver: Solver,
}

impl TrainerConfig for OlsConfig {
    fn name(&self) -> &str {
        "ols"
    }

    fn validate(&self) -> fitbench_core::Result<()> {
        if !(self.ridge.is_finite() && self.ridge >= 0.0) {
            return Err(Error::config(
                "ols.ridge",
                self.ridge,
                "must be a finite number ≥ 0, e.g. ols:ridge=1e-6",
            ));
        }
        Ok(())
    }

    /// Always the linear model: `ols` is the linear reference whatever network the run asks for.
    fn architecture(&self, _requested: &Architecture) -> fitbench_core::Result<Architecture> {
        Ok(Architecture::linear())
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
    normal: NormalEquations,
    theta: Mat<f64>,
    model: Mlp,
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
        Ok(Self {
            normal: NormalEquations::new(d + 1, k, par, "ols"),
            theta: Mat::zeros(d + 1, k),
            design,
            targets,
            model: initial,
            config,
        })
    }

    fn solve(&mut self) -> Result<()> {
        match self.config.solver {
            Solver::Cholesky => self.normal.solve(
                self.design.as_ref(),
                self.targets.as_ref(),
                self.config.ridge,
                1,
                self.theta.as_mut(),
            )?,
            Solver::Qr => {
                use faer::linalg::solvers::SolveLstsq;
                let qr = self.design.as_ref().qr();
                fitbench_core::linalg::check_pivots(
                    (0..self.design.ncols()).map(|j| qr.R()[(j, j)]),
                    "ols (qr)",
                )?;
                self.theta = qr.solve_lstsq(self.targets.as_ref());
            }
        }
        let d = self.design.ncols() - 1;
        let k = self.theta.ncols();
        self.model.weights[0] = Mat::from_fn(k, d, |i, j| self.theta[(j, i)]);
        self.model.biases[0] = Col::from_fn(k, |i| self.theta[(d, i)]);
        Ok(())
    }
}

impl Trainer for Ols {
    fn name(&self) -> &str {
        "ols"
    }

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
    /// the d rows appended for the QR solver's ridge).
    fn flops_per_step(&self) -> Option<f64> {
        Some(flops::normal_equations(
            self.design.nrows(),
            self.design.ncols(),
            self.theta.ncols(),
        ))
    }
}
