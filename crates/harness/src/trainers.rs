//! The trainer registry: `NAME[:key=value,…]` strings resolved to serialisable configs.

use crate::error::{HarnessError, Result};
use crate::options::Options;
use fitbench_analytic::AnalyticConfig;
use fitbench_core::TrainerConfig;
use fitbench_lsq::{LsqConfig, OlsConfig};
use fitbench_sgd::{AdamConfig, SgdConfig};
use serde::{Deserialize, Serialize};

/// Every trainer fitbench can run, with its configuration (written into every report).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "trainer", rename_all = "snake_case")]
pub enum TrainerSpec {
    /// Closed-form linear reference ([`OlsConfig`]).
    Ols(OlsConfig),
    /// Layer-wise least squares through invertible activations ([`LsqConfig`]; a
    /// reconstruction of Khadilkar 2023).
    Lsq(LsqConfig),
    /// Analytic alternating solver for two-layer ReLU nets ([`AnalyticConfig`]; a
    /// reconstruction of Barbu 2023).
    Analytic(AnalyticConfig),
    /// SGD with momentum on burn ([`SgdConfig`]).
    Sgd(SgdConfig),
    /// Adam on burn ([`AdamConfig`]).
    Adam(AdamConfig),
}

/// Registry names with a one-line description of their options (defaults in brackets).
pub const TRAINERS: &[(&str, &str)] = &[
    (
        "ols",
        "closed-form linear least squares, one step (always the linear model): ridge [0], solver [cholesky|qr]",
    ),
    (
        "lsq",
        "layer-wise least squares through invertible activations (RECONSTRUCTION of Khadilkar 2023): \
         eta [1], lambda_a [1e-2], lambda_w [1e-6], eps [1e-3], order [sweep|interleaved], solver [cholesky|qr]",
    ),
    (
        "analytic",
        "alternating exact solves for one-hidden-layer relu/leaky_relu nets (RECONSTRUCTION of Barbu 2023): \
         lambda [1e-4], safeguard [backtracking|damping|none], eta [0.5], max_halvings [10], \
         hidden_solve [auto|joint|per_neuron], auto_threshold [2048]",
    ),
    (
        "sgd",
        "SGD on burn, one epoch per step: lr [1e-2], momentum [0.9], dampening [0], nesterov [false], \
         weight_decay [0], batch [0 = full], precision [f32|f64], backend [flex|ndarray]",
    ),
    (
        "adam",
        "Adam on burn, one epoch per step: lr [1e-3], beta1 [0.9], beta2 [0.999], eps [1e-8], \
         weight_decay [0], batch [0 = full], precision [f32|f64], backend [flex|ndarray]",
    ),
];

impl TrainerSpec {
    /// Parses `NAME[:key=value,…]`, e.g. `ols:ridge=1e-6,solver=qr`, and validates it.
    pub fn parse(s: &str) -> Result<Self> {
        let (name, options) = Options::parse_named(s)?;
        let mut object = options.to_json();
        if !TRAINERS.iter().any(|(n, _)| *n == name) {
            let known = TRAINERS
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ");
            return Err(HarnessError::Unknown {
                kind: "trainer",
                name,
                known,
            });
        }
        object.insert("trainer".into(), serde_json::Value::String(name.clone()));
        let spec: TrainerSpec = serde_json::from_value(serde_json::Value::Object(object))
            .map_err(|e| HarnessError::Config(format!("trainer {s:?}: {e}")))?;
        spec.config().validate()?;
        Ok(spec)
    }

    /// The config as the core trait object.
    pub fn config(&self) -> &(dyn TrainerConfig + Send + Sync) {
        match self {
            TrainerSpec::Ols(c) => c,
            TrainerSpec::Lsq(c) => c,
            TrainerSpec::Analytic(c) => c,
            TrainerSpec::Sgd(c) => c,
            TrainerSpec::Adam(c) => c,
        }
    }

    /// A copy with learning rate `lr`, for trainers that have one (`None` otherwise).
    pub fn with_lr(&self, lr: f64) -> Option<TrainerSpec> {
        match self {
            TrainerSpec::Sgd(c) => Some(TrainerSpec::Sgd(SgdConfig { lr, ..c.clone() })),
            TrainerSpec::Adam(c) => Some(TrainerSpec::Adam(AdamConfig { lr, ..c.clone() })),
            TrainerSpec::Ols(_) | TrainerSpec::Lsq(_) | TrainerSpec::Analytic(_) => None,
        }
    }

    /// Sets the burn backend of a gradient trainer whose option string did not name one.
    pub fn set_default_backend(&mut self, backend: fitbench_sgd::Backend, label: &str) {
        if label.contains("backend=") {
            return;
        }
        match self {
            TrainerSpec::Sgd(c) => c.backend = backend,
            TrainerSpec::Adam(c) => c.backend = backend,
            TrainerSpec::Ols(_) | TrainerSpec::Lsq(_) | TrainerSpec::Analytic(_) => {}
        }
    }

    /// An owned, boxed copy of the config.
    pub fn boxed(&self) -> Box<dyn TrainerConfig + Send + Sync> {
        match self {
            TrainerSpec::Ols(c) => Box::new(c.clone()),
            TrainerSpec::Lsq(c) => Box::new(c.clone()),
            TrainerSpec::Analytic(c) => Box::new(c.clone()),
            TrainerSpec::Sgd(c) => Box::new(c.clone()),
            TrainerSpec::Adam(c) => Box::new(c.clone()),
        }
    }

    /// The config as JSON (for reports).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fitbench_lsq::Solver;

    #[test]
    fn parses_options_into_typed_configs() {
        let spec = TrainerSpec::parse("ols:ridge=1e-6,solver=qr").unwrap();
        assert_eq!(
            spec,
            TrainerSpec::Ols(OlsConfig {
                ridge: 1e-6,
                solver: Solver::Qr
            })
        );
        assert_eq!(
            TrainerSpec::parse("ols").unwrap(),
            TrainerSpec::Ols(OlsConfig::default())
        );
    }

    #[test]
    fn bad_trainer_strings_are_rejected_clearly() {
        let msg = TrainerSpec::parse("lbfgs").unwrap_err().to_string();
        assert!(
            msg.contains("unknown trainer \"lbfgs\"") && msg.contains("ols"),
            "{msg}"
        );
        let msg = TrainerSpec::parse("ols:alpha=1").unwrap_err().to_string();
        assert!(
            msg.contains("unknown field `alpha`") && msg.contains("ridge"),
            "{msg}"
        );
        let msg = TrainerSpec::parse("ols:ridge=-1").unwrap_err().to_string();
        assert!(msg.contains("ols.ridge"), "{msg}");
        let msg = TrainerSpec::parse("ols:solver=svd")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("svd") && msg.contains("cholesky"), "{msg}");
    }
}
