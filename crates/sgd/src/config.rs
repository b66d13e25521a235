//! Configurations of the `sgd` and `adam` trainers.

use crate::trainer::{GradientTrainer, Optimizer};
use fitbench_core::{Architecture, Dataset, Error, Mlp, Result, Trainer, TrainerConfig};
use serde::{Deserialize, Serialize};

/// Floating-point precision of the computation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// 32-bit floats (the default, as practitioners train).
    #[default]
    F32,
    /// 64-bit floats.
    F64,
}

/// The burn backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// burn-flex, burn's pure-Rust CPU backend (the default).
    #[default]
    Flex,
    /// burn-ndarray (deprecated upstream; needs the `ndarray` cargo feature).
    Ndarray,
}

impl Backend {
    /// Whether this build contains the backend.
    pub fn is_available(self) -> bool {
        match self {
            Backend::Flex => cfg!(feature = "flex"),
            Backend::Ndarray => cfg!(feature = "ndarray"),
        }
    }
}

/// Checks the options both optimisers share.
fn validate_common(name: &str, lr: f64, weight_decay: f64, backend: Backend) -> Result<()> {
    if !(lr.is_finite() && lr > 0.0) {
        return Err(Error::config(
            format!("{name}.lr"),
            lr,
            format!("the learning rate must be a positive number, e.g. {name}:lr=1e-3"),
        ));
    }
    if !(weight_decay.is_finite() && weight_decay >= 0.0) {
        return Err(Error::config(
            format!("{name}.weight_decay"),
            weight_decay,
            "must be a finite number ≥ 0",
        ));
    }
    if !backend.is_available() {
        let feature = match backend {
            Backend::Flex => "flex",
            Backend::Ndarray => "ndarray",
        };
        return Err(Error::config(
            format!("{name}.backend"),
            feature,
            format!(
                "this fitbench was built without the {feature} backend; rebuild with `--features {feature}`"
            ),
        ));
    }
    Ok(())
}

/// Configuration of the `sgd` trainer (one step = one epoch).
///
/// | name | default | purpose | range |
/// |---|---|---|---|
/// | `lr` | 1e-2 | learning rate | > 0 |
/// | `momentum` | 0.9 | heavy-ball momentum (0 = plain SGD) | [0, 1) |
/// | `dampening` | 0 | momentum dampening (PyTorch's default 0) | [0, 1) |
/// | `nesterov` | false | Nesterov momentum (needs momentum > 0, dampening 0) | |
/// | `weight_decay` | 0 | L2 penalty added to the gradient | ≥ 0 |
/// | `batch` | 0 | mini-batch size; 0 = full batch | ≥ 0 |
/// | `precision` | `f32` | `f32` or `f64` | |
/// | `backend` | `flex` | `flex` or `ndarray` | |
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SgdConfig {
    /// Learning rate.
    pub lr: f64,
    /// Momentum factor.
    pub momentum: f64,
    /// Momentum dampening.
    pub dampening: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// Weight decay (L2).
    pub weight_decay: f64,
    /// Mini-batch size; 0 = full batch.
    pub batch: usize,
    /// Precision.
    pub precision: Precision,
    /// Backend.
    pub backend: Backend,
}

impl Default for SgdConfig {
    fn default() -> Self {
        Self {
            lr: 1e-2,
            momentum: 0.9,
            dampening: 0.0,
            nesterov: false,
            weight_decay: 0.0,
            batch: 0,
            precision: Precision::F32,
            backend: Backend::Flex,
        }
    }
}

/// Configuration of the `adam` trainer (one step = one epoch). Defaults are PyTorch's.
///
/// | name | default | purpose | range |
/// |---|---|---|---|
/// | `lr` | 1e-3 | learning rate | > 0 |
/// | `beta1` | 0.9 | first-moment decay | [0, 1) |
/// | `beta2` | 0.999 | second-moment decay | [0, 1) |
/// | `eps` | 1e-8 | denominator offset | > 0 |
/// | `weight_decay` | 0 | L2 penalty added to the gradient | ≥ 0 |
/// | `batch` | 0 | mini-batch size; 0 = full batch | ≥ 0 |
/// | `precision` | `f32` | `f32` or `f64` | |
/// | `backend` | `flex` | `flex` or `ndarray` | |
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdamConfig {
    /// Learning rate.
    pub lr: f64,
    /// β₁.
    pub beta1: f64,
    /// β₂.
    pub beta2: f64,
    /// ε.
    pub eps: f64,
    /// Weight decay (L2).
    pub weight_decay: f64,
    /// Mini-batch size; 0 = full batch.
    pub batch: usize,
    /// Precision.
    pub precision: Precision,
    /// Backend.
    pub backend: Backend,
}

impl Default for AdamConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            batch: 0,
            precision: Precision::F32,
            backend: Backend::Flex,
        }
    }
}

impl TrainerConfig for SgdConfig {
    fn name(&self) -> &str {
        "sgd"
    }

    fn validate(&self) -> Result<()> {
        validate_common("sgd", self.lr, self.weight_decay, self.backend)?;
        if !(0.0..1.0).contains(&self.momentum) {
            return Err(Error::config(
                "sgd.momentum",
                self.momentum,
                "must lie in [0, 1), e.g. 0.9",
            ));
        }
        if !(0.0..1.0).contains(&self.dampening) {
            return Err(Error::config(
                "sgd.dampening",
                self.dampening,
                "must lie in [0, 1)",
            ));
        }
        if self.nesterov && (self.momentum == 0.0 || self.dampening != 0.0) {
            return Err(Error::config(
                "sgd.nesterov",
                true,
                "Nesterov momentum needs momentum > 0 and dampening = 0",
            ));
        }
        Ok(())
    }

    /// Any architecture (gradients exist for every activation here).
    fn architecture(&self, requested: &Architecture) -> Result<Architecture> {
        Ok(requested.clone())
    }

    fn init(&self, train: &Dataset, initial: Mlp, seed: u64) -> Result<Box<dyn Trainer>> {
        self.validate()?;
        Ok(Box::new(GradientTrainer::new(
            Optimizer::Sgd(self.clone()),
            train,
            initial,
            seed,
        )?))
    }
}

impl TrainerConfig for AdamConfig {
    fn name(&self) -> &str {
        "adam"
    }

    fn validate(&self) -> Result<()> {
        validate_common("adam", self.lr, self.weight_decay, self.backend)?;
        for (what, v) in [("adam.beta1", self.beta1), ("adam.beta2", self.beta2)] {
            if !(0.0..1.0).contains(&v) {
                return Err(Error::config(
                    what,
                    v,
                    "must lie in [0, 1), e.g. beta1=0.9, beta2=0.999",
                ));
            }
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(Error::config(
                "adam.eps",
                self.eps,
                "must be a positive number, e.g. 1e-8",
            ));
        }
        Ok(())
    }

    /// Any architecture.
    fn architecture(&self, requested: &Architecture) -> Result<Architecture> {
        Ok(requested.clone())
    }

    fn init(&self, train: &Dataset, initial: Mlp, seed: u64) -> Result<Box<dyn Trainer>> {
        self.validate()?;
        Ok(Box::new(GradientTrainer::new(
            Optimizer::Adam(self.clone()),
            train,
            initial,
            seed,
        )?))
    }
}
