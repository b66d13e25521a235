//! A trainer defined outside fitbench: random features. It keeps the initial hidden layers
//! as they are and fits the output layer by ridge least squares, in one step.

use faer::{Col, Mat};
use fitbench_core::linalg::ridge_lstsq;
use fitbench_core::mlp::ForwardBuffers;
use fitbench_core::registry::{Capabilities, TrainerEntry};
use fitbench_core::{
    Activation, Architecture, Dataset, Error, Mlp, Result, StepOutcome, Trainer, TrainerConfig,
};
use serde::{Deserialize, Serialize};

/// The registry entry: the trainer's name (written only here), one line of help, and what
/// the harness may do with it. Its options and their defaults come from the config's serde
/// fields and `Default`.
pub const RANDOM_FEATURES: TrainerEntry = TrainerEntry::of::<RandomFeaturesConfig>(
    "random-features",
    "keeps the initial hidden layers, fits the output layer by ridge least squares in one step",
    Capabilities {
        deterministic: true,
        // The solve allocates its matrices in `step`.
        allocates_in_step: true,
        ..Capabilities::NONE
    },
);

/// The trainer's options (`random-features:ridge=1e-3`), written into every report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RandomFeaturesConfig {
    /// Ridge penalty λ ≥ 0 on the output weights (0: minimum-norm least squares).
    pub ridge: f64,
}

impl Default for RandomFeaturesConfig {
    fn default() -> Self {
        Self { ridge: 1e-6 }
    }
}

impl TrainerConfig for RandomFeaturesConfig {
    fn validate(&self) -> Result<()> {
        if !(self.ridge.is_finite() && self.ridge >= 0.0) {
            return Err(Error::config(
                format!("{}.ridge", RANDOM_FEATURES.name),
                self.ridge,
                "must be a finite number ≥ 0, e.g. 1e-6",
            ));
        }
        Ok(())
    }

    /// Any hidden layers; the output layer must be linear (it is fitted by least squares).
    fn architecture(&self, requested: &Architecture) -> Result<Architecture> {
        if requested.output != Activation::Identity {
            return Err(Error::Architecture {
                trainer: RANDOM_FEATURES.name.into(),
                architecture: requested.to_string(),
                hint: "the output layer is fitted by least squares: use an identity output".into(),
            });
        }
        Ok(requested.clone())
    }

    /// The features (n × last hidden width), the targets and the network.
    fn memory_bytes(&self, n: usize, widths: &[usize]) -> u64 {
        let features = widths[widths.len().saturating_sub(2)];
        let outputs = widths[widths.len() - 1];
        let params: usize = widths.windows(2).map(|w| (w[0] + 1) * w[1]).sum();
        8 * ((n * (features + 1 + outputs)) as u64 + params as u64)
    }

    fn init(&self, train: &Dataset, initial: Mlp, _seed: u64) -> Result<Box<dyn Trainer>> {
        self.validate()?;
        let last = initial.n_layers() - 1;
        // The inputs of the output layer: the last hidden layer's activations (the data
        // itself for a linear model).
        let features = if last == 0 {
            train.x.clone()
        } else {
            let mut buffers = ForwardBuffers::new(&initial, train.n());
            let par = faer::get_global_parallelism();
            initial.forward_into(train.x.as_ref(), &mut buffers, par)?;
            buffers.activations(last - 1).to_owned()
        };
        Ok(Box::new(RandomFeatures {
            net: initial,
            features,
            targets: train.y.clone(),
            ridge: self.ridge,
        }))
    }
}

/// The trainer bound to one training set.
pub struct RandomFeatures {
    net: Mlp,
    features: Mat<f64>,
    targets: Mat<f64>,
    ridge: f64,
}

impl Trainer for RandomFeatures {
    /// The whole fit: one ridge least-squares solve for the output layer.
    fn step(&mut self) -> Result<StepOutcome> {
        let fit = ridge_lstsq(
            self.features.as_ref(),
            self.targets.as_ref(),
            self.ridge,
            None,
        )?;
        let (h, k) = (self.features.ncols(), self.targets.ncols());
        let last = self.net.n_layers() - 1;
        self.net.weights[last] = Mat::from_fn(k, h, |i, j| fit.theta[(j, i)]);
        self.net.biases[last] = Col::from_fn(k, |i| fit.theta[(h, i)]);
        Ok(StepOutcome::Converged)
    }

    fn params(&self) -> Mlp {
        self.net.clone()
    }
}
