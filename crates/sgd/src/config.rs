//! Configurations of the gradient trainers: one options struct every optimiser shares
//! ([`GradientOptions`]), one small trait per optimiser ([`Optimiser`]: its own options,
//! their validation, and how to build burn's optimiser), and one generic config
//! ([`GradientConfig`]) with a blanket [`TrainerConfig`](fitbench_core::TrainerConfig) implementation.
//!
//! Option strings stay flat: `adam:lr=1e-2,beta1=0.8,batch=64` — the shared keys go to
//! [`GradientOptions`], the others to the optimiser; a key neither knows is rejected with the
//! list of both.
//!
//! Adding an optimiser = a struct implementing [`Optimiser`] + a type alias + one entry in
//! [`crate::TRAINERS`].

use crate::activation::Kernels;
use burn::optim::ModuleOptimizer;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use fitbench_core::registry::{Capabilities, TrainerEntry};
use fitbench_core::{Error, Result};
use serde::de::DeserializeOwned;
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

    /// The cargo feature that builds it in.
    pub fn feature(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            Backend::Ndarray => "ndarray",
        }
    }
}

/// Options every gradient optimiser shares (one step = one epoch).
///
/// | name | default | purpose | range |
/// |---|---|---|---|
/// | `lr` | optimiser's ([`Optimiser::DEFAULT_LR`]) | learning rate | > 0 |
/// | `weight_decay` | 0 | L2 penalty added to the gradient | ≥ 0 |
/// | `batch` | 0 | mini-batch size; 0 = full batch | ≥ 0 |
/// | `precision` | `f32` | `f32` or `f64` | |
/// | `backend` | `flex` | `flex` or `ndarray` | |
/// | `kernels` | `fitbench` | smooth activations: `fitbench` (fused, [`crate::activation`]) or `burn` (burn's own) | |
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GradientOptions {
    /// Learning rate.
    pub lr: f64,
    /// Weight decay (L2).
    pub weight_decay: f64,
    /// Mini-batch size; 0 = full batch.
    pub batch: usize,
    /// Precision.
    pub precision: Precision,
    /// Backend.
    pub backend: Backend,
    /// Which implementation computes tanh, sigmoid and softplus ([`crate::activation`]).
    pub kernels: Kernels,
}

impl Default for GradientOptions {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            weight_decay: 0.0,
            batch: 0,
            precision: Precision::F32,
            backend: Backend::Flex,
            kernels: Kernels::Fitbench,
        }
    }
}

impl GradientOptions {
    /// The keys of these options in option strings and reports.
    pub const FIELDS: &'static [&'static str] = &[
        "lr",
        "weight_decay",
        "batch",
        "precision",
        "backend",
        "kernels",
    ];

    /// Checks the shared options of optimiser `name`.
    pub fn validate(&self, name: &str) -> Result<()> {
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::config(
                format!("{name}.lr"),
                self.lr,
                format!("the learning rate must be a positive number, e.g. {name}:lr=1e-3"),
            ));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(Error::config(
                format!("{name}.weight_decay"),
                self.weight_decay,
                "must be a finite number ≥ 0",
            ));
        }
        if !self.backend.is_available() {
            let feature = self.backend.feature();
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
}

/// One gradient optimiser: its own options (a serde struct with `Default`), their
/// validation, and how to build burn's optimiser from them.
pub trait Optimiser:
    Clone + std::fmt::Debug + PartialEq + Default + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// The registry entry of the trainer with this optimiser (its name, e.g. `adam`).
    const ENTRY: &'static TrainerEntry;
    /// Default learning rate.
    const DEFAULT_LR: f64;
    /// Checks the optimiser's own options.
    fn validate_own(&self) -> Result<()>;
    /// burn's optimiser with these options and the shared weight decay.
    fn build(&self, weight_decay: f64) -> ModuleOptimizer;
}

fn weight_decay(penalty: f64) -> Option<WeightDecayConfig> {
    (penalty > 0.0).then_some(WeightDecayConfig {
        penalty: penalty as f32,
    })
}

/// SGD's own options (defaults are PyTorch's, with momentum 0.9).
///
/// | name | default | purpose | range |
/// |---|---|---|---|
/// | `momentum` | 0.9 | heavy-ball momentum (0 = plain SGD) | [0, 1) |
/// | `dampening` | 0 | momentum dampening | [0, 1) |
/// | `nesterov` | false | Nesterov momentum (needs momentum > 0, dampening 0) | |
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sgd {
    /// Momentum factor.
    pub momentum: f64,
    /// Momentum dampening.
    pub dampening: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
}

impl Default for Sgd {
    fn default() -> Self {
        Self {
            momentum: 0.9,
            dampening: 0.0,
            nesterov: false,
        }
    }
}

impl Optimiser for Sgd {
    const ENTRY: &'static TrainerEntry = &SGD;
    const DEFAULT_LR: f64 = 1e-2;

    fn validate_own(&self) -> Result<()> {
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

    fn build(&self, penalty: f64) -> ModuleOptimizer {
        let mut b = burn::optim::SgdConfig::new();
        if self.momentum > 0.0 {
            b = b.with_momentum(Some(MomentumConfig {
                momentum: self.momentum,
                dampening: self.dampening,
                nesterov: self.nesterov,
            }));
        }
        b.with_weight_decay(weight_decay(penalty)).init()
    }
}

/// Adam's own options (defaults are PyTorch's).
///
/// | name | default | purpose | range |
/// |---|---|---|---|
/// | `beta1` | 0.9 | first-moment decay | [0, 1) |
/// | `beta2` | 0.999 | second-moment decay | [0, 1) |
/// | `eps` | 1e-8 | denominator offset | > 0 |
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Adam {
    /// β₁.
    pub beta1: f64,
    /// β₂.
    pub beta2: f64,
    /// ε.
    pub eps: f64,
}

impl Default for Adam {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

impl Optimiser for Adam {
    const ENTRY: &'static TrainerEntry = &ADAM;
    const DEFAULT_LR: f64 = 1e-3;

    fn validate_own(&self) -> Result<()> {
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

    fn build(&self, penalty: f64) -> ModuleOptimizer {
        burn::optim::AdamConfig::new()
            .with_beta_1(self.beta1 as f32)
            .with_beta_2(self.beta2 as f32)
            .with_epsilon(self.eps as f32)
            .with_weight_decay(weight_decay(penalty))
            .init()
    }
}

/// A gradient trainer's configuration: the shared options and the optimiser's own,
/// (de)serialised as one flat object (`{"lr": …, "momentum": …}`).
#[derive(Clone, Debug, PartialEq)]
pub struct GradientConfig<O> {
    /// Options every optimiser has.
    pub common: GradientOptions,
    /// The optimiser's own options.
    pub own: O,
}

/// Configuration of the `sgd` trainer.
pub type SgdConfig = GradientConfig<Sgd>;
/// Configuration of the `adam` trainer.
pub type AdamConfig = GradientConfig<Adam>;

impl<O: Optimiser> Default for GradientConfig<O> {
    fn default() -> Self {
        Self {
            common: GradientOptions {
                lr: O::DEFAULT_LR,
                ..GradientOptions::default()
            },
            own: O::default(),
        }
    }
}

impl<O: Optimiser> GradientConfig<O> {
    /// With learning rate `lr`.
    pub fn lr(mut self, lr: f64) -> Self {
        self.common.lr = lr;
        self
    }

    /// With mini-batch size `batch` (0 = full batch).
    pub fn batch(mut self, batch: usize) -> Self {
        self.common.batch = batch;
        self
    }

    /// With precision `precision`.
    pub fn precision(mut self, precision: Precision) -> Self {
        self.common.precision = precision;
        self
    }

    /// With backend `backend`.
    pub fn backend(mut self, backend: Backend) -> Self {
        self.common.backend = backend;
        self
    }

    /// With the smooth activations computed by `kernels`.
    pub fn kernels(mut self, kernels: Kernels) -> Self {
        self.common.kernels = kernels;
        self
    }

    /// With weight decay `weight_decay`.
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.common.weight_decay = weight_decay;
        self
    }

    /// With the optimiser's own options `own`.
    pub fn with_own(mut self, own: O) -> Self {
        self.own = own;
        self
    }
}

impl<O: Optimiser> Serialize for GradientConfig<O> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        let mut map = match serde_json::to_value(&self.common).map_err(S::Error::custom)? {
            serde_json::Value::Object(m) => m,
            _ => return Err(S::Error::custom("gradient options are not an object")),
        };
        match serde_json::to_value(&self.own).map_err(S::Error::custom)? {
            serde_json::Value::Object(own) => map.extend(own),
            _ => return Err(S::Error::custom("optimiser options are not an object")),
        }
        map.serialize(serializer)
    }
}

impl<'de, O: Optimiser> Deserialize<'de> for GradientConfig<O> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let map = serde_json::Map::<String, serde_json::Value>::deserialize(deserializer)?;
        let own_fields: Vec<String> = match serde_json::to_value(O::default()) {
            Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
            _ => vec![],
        };
        let (mut common, mut own) = (serde_json::Map::new(), serde_json::Map::new());
        for (k, v) in map {
            if GradientOptions::FIELDS.contains(&k.as_str()) {
                common.insert(k, v);
            } else if own_fields.contains(&k) {
                own.insert(k, v);
            } else {
                let known: Vec<String> = GradientOptions::FIELDS
                    .iter()
                    .map(|f| format!("`{f}`"))
                    .chain(own_fields.iter().map(|f| format!("`{f}`")))
                    .collect();
                return Err(D::Error::custom(format!(
                    "unknown field `{k}`, expected one of {}",
                    known.join(", ")
                )));
            }
        }
        common
            .entry("lr")
            .or_insert_with(|| serde_json::Value::from(O::DEFAULT_LR));
        Ok(Self {
            common: serde_json::from_value(serde_json::Value::Object(common))
                .map_err(D::Error::custom)?,
            own: serde_json::from_value(serde_json::Value::Object(own))
                .map_err(D::Error::custom)?,
        })
    }
}

/// What both gradient trainers can do: tune `lr`, take `--backend`; their steps allocate
/// (burn's tensors).
const GRADIENT: Capabilities = Capabilities {
    learning_rate: true,
    burn_backend: true,
    gradient_based: true,
    deterministic: true,
    allocates_in_step: true,
};

/// SGD on burn ([`SgdConfig`]): its name, help and capabilities.
pub const SGD: TrainerEntry = TrainerEntry::of::<SgdConfig>(
    "sgd",
    "SGD on burn, one epoch per step (batch 0 = full batch)",
    GRADIENT,
);

/// Adam on burn ([`AdamConfig`]): its name, help and capabilities.
pub const ADAM: TrainerEntry = TrainerEntry::of::<AdamConfig>(
    "adam",
    "Adam on burn, one epoch per step (batch 0 = full batch)",
    GRADIENT,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_flat_and_round_trip() {
        let c = AdamConfig::default().lr(0.02).batch(64);
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["lr"], 0.02);
        assert_eq!(json["beta1"], 0.9);
        assert_eq!(json["batch"], 64);
        let back: AdamConfig = serde_json::from_value(json).unwrap();
        assert_eq!(back, c);
        // The optimiser's default learning rate applies when lr is not given.
        let sgd: SgdConfig = serde_json::from_str("{\"momentum\": 0.5}").unwrap();
        assert_eq!((sgd.common.lr, sgd.own.momentum), (Sgd::DEFAULT_LR, 0.5));
    }

    #[test]
    fn unknown_keys_list_both_sets_of_fields() {
        let msg = serde_json::from_str::<SgdConfig>("{\"beta1\": 0.5}")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("unknown field `beta1`")
                && msg.contains("`lr`")
                && msg.contains("`momentum`"),
            "{msg}"
        );
    }
}
