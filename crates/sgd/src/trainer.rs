//! The burn-backed gradient trainer shared by `sgd` and `adam`.
//!
//! One step is one epoch. With mini-batches it polls its [`CancelToken`] before every batch;
//! a cancelled step puts the model back to where the epoch started (a clone of the module
//! taken then: burn's tensors are shared, not copied) and returns
//! [`fitbench_core::Error::Cancelled`]; the optimiser's state is not rolled back (the harness
//! ends the run).

use crate::activation::{Fused, Kernels, smooth};
use crate::config::{Backend, GradientConfig, GradientOptions, Optimiser, Precision};
use crate::error::SgdError;
use burn::module::{Module, Param};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{DType, Device, Int, Tensor, TensorData, activation};
use faer::{Col, Mat};
use fitbench_core::{Activation, CancelToken, Dataset, Mlp, StepOutcome, Trainer, flops, rng};

/// The network as a burn module: weights are `[fan_in, fan_out]` (burn's layout), biases `[fan_out]`.
#[derive(Module, Debug)]
pub struct Net {
    weights: Vec<Param<Tensor<2>>>,
    biases: Vec<Param<Tensor<1>>>,
}

fn activate(act: Activation, z: Tensor<2>, backend: Backend, kernels: Kernels) -> Tensor<2> {
    match (act, backend, kernels) {
        (Activation::Identity, _, _) => z,
        (Activation::Relu, _, _) => activation::relu(z),
        (Activation::LeakyRelu { alpha }, _, Kernels::Fitbench) => {
            smooth(z, Fused::LeakyRelu { alpha })
        }
        (Activation::LeakyRelu { alpha }, _, Kernels::Burn) => activation::leaky_relu(z, alpha),
        (Activation::Tanh, _, Kernels::Fitbench) => smooth(z, Fused::Tanh),
        (Activation::Sigmoid, _, Kernels::Fitbench) => smooth(z, Fused::Sigmoid),
        (Activation::Softplus, _, Kernels::Fitbench) => smooth(z, Fused::Softplus),
        // tanh z = 2σ(2z) − 1 on flex: burn-flex evaluates tanh with scalar libm tanhf but has
        // a fused sigmoid backward, which made the epoch about 3× faster than its tanh.
        (Activation::Tanh, Backend::Flex, Kernels::Burn) => activation::sigmoid(z.mul_scalar(2.0))
            .mul_scalar(2.0)
            .sub_scalar(1.0),
        (Activation::Tanh, Backend::Ndarray, Kernels::Burn) => activation::tanh(z),
        (Activation::Sigmoid, Backend::Flex, Kernels::Burn) => activation::sigmoid(z),
        // burn's generic sigmoid (used by ndarray) computes in f32 even for f64 tensors; build
        // it from f64-exact primitives instead.
        (Activation::Sigmoid, Backend::Ndarray, Kernels::Burn) => {
            z.neg().exp().add_scalar(1.0).recip()
        }
        (Activation::Softplus, _, Kernels::Burn) => activation::softplus(z, 1.0),
    }
}

impl Net {
    fn forward(
        &self,
        x: Tensor<2>,
        activations: &[Activation],
        backend: Backend,
        kernels: Kernels,
    ) -> Tensor<2> {
        let mut a = x;
        for ((w, b), act) in self.weights.iter().zip(&self.biases).zip(activations) {
            let z = a.matmul(w.val()) + b.val().unsqueeze_dim(0);
            a = activate(*act, z, backend, kernels);
        }
        a
    }
}

/// A dense f64 matrix as a burn tensor of the given dtype (row-major copy).
fn to_tensor(m: faer::MatRef<'_, f64>, dtype: DType, device: &Device) -> Tensor<2> {
    let data: Vec<f64> = (0..m.nrows())
        .flat_map(|i| (0..m.ncols()).map(move |j| m[(i, j)]))
        .collect();
    Tensor::<2>::from_data(
        TensorData::new(data, [m.nrows(), m.ncols()]),
        (device, dtype),
    )
}

/// SGD or Adam on burn, bound to a training set. One `step` is one epoch.
pub struct GradientTrainer {
    name: &'static str,
    lr: f64,
    batch: usize,
    backend: Backend,
    kernels: Kernels,
    activations: Vec<Activation>,
    widths: Vec<usize>,
    device: Device,
    model: Option<Net>,
    optimizer: ModuleOptimizer,
    x: Tensor<2>,
    y: Tensor<2>,
    n: usize,
    rng: rng::Rng,
    last_batch_loss: f64,
    cancel: CancelToken,
}

impl std::fmt::Debug for GradientTrainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GradientTrainer")
            .field("name", &self.name)
            .field("lr", &self.lr)
            .field("batch", &self.batch)
            .finish()
    }
}

impl GradientTrainer {
    /// Copies the data and the initial network onto the device; `optimizer` is burn's
    /// optimiser built from the config ([`crate::Optimiser::build`]), `name` its registry name.
    pub fn new(
        name: &'static str,
        options: &GradientOptions,
        optimizer: ModuleOptimizer,
        train: &Dataset,
        initial: Mlp,
        seed: u64,
    ) -> Result<Self, SgdError> {
        let (lr, batch, precision, backend) = (
            options.lr,
            options.batch,
            options.precision,
            options.backend,
        );
        let device = match backend {
            #[cfg(feature = "flex")]
            Backend::Flex => Device::flex().autodiff(),
            #[cfg(feature = "ndarray")]
            #[allow(deprecated)]
            Backend::Ndarray => Device::ndarray().autodiff(),
            #[allow(unreachable_patterns)]
            other => {
                return Err(SgdError::Core(fitbench_core::Error::config(
                    "backend",
                    format!("{other:?}"),
                    "this build lacks that backend; rebuild with its cargo feature",
                )));
            }
        };
        let dtype = match precision {
            Precision::F32 => DType::F32,
            Precision::F64 => DType::F64,
        };
        let weights = initial
            .weights
            .iter()
            .map(|w| Param::from_tensor(to_tensor(w.transpose(), dtype, &device)))
            .collect();
        let biases = initial
            .biases
            .iter()
            .map(|b| {
                let data: Vec<f64> = b.iter().copied().collect();
                let len = data.len();
                Param::from_tensor(Tensor::<1>::from_data(
                    TensorData::new(data, [len]),
                    (&device, dtype),
                ))
            })
            .collect();
        Ok(Self {
            name,
            lr,
            batch,
            backend,
            kernels: options.kernels,
            activations: initial.activations.clone(),
            widths: initial.widths.clone(),
            model: Some(Net { weights, biases }),
            optimizer,
            x: to_tensor(train.x.as_ref(), dtype, &device),
            y: to_tensor(train.y.as_ref(), dtype, &device),
            n: train.n(),
            rng: rng::rng(seed),
            device,
            last_batch_loss: f64::NAN,
            cancel: CancelToken::never(),
        })
    }

    /// One optimiser update on a batch; returns the batch loss tensor (not yet read).
    fn update(&mut self, x: Tensor<2>, y: Tensor<2>) -> Result<Tensor<1>, SgdError> {
        let model = self.model.take().ok_or_else(|| SgdError::Readback {
            what: "model".into(),
            message: "lost after a panic".into(),
        })?;
        let diff = model.forward(x, &self.activations, self.backend, self.kernels) - y;
        let loss = (diff.clone() * diff).mean();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        self.model = Some(self.optimizer.step(self.lr, model, grads));
        Ok(loss)
    }

    fn epoch(&mut self) -> Result<(), SgdError> {
        let loss = if self.batch == 0 || self.batch >= self.n {
            self.update(self.x.clone(), self.y.clone())?
        } else {
            let perm: Vec<i64> = rng::permutation(&mut self.rng, self.n)
                .into_iter()
                .map(|i| i as i64)
                .collect();
            let idx = Tensor::<1, Int>::from_data(TensorData::new(perm, [self.n]), &self.device);
            let xs = self.x.clone().select(0, idx.clone());
            let ys = self.y.clone().select(0, idx);
            let before = self.model.clone();
            let mut last = None;
            let mut start = 0;
            while start < self.n {
                if let Err(e) = self.cancel.check() {
                    self.model = before;
                    return Err(SgdError::Core(e));
                }
                let len = self.batch.min(self.n - start);
                last = Some(self.update(
                    xs.clone().narrow(0, start, len),
                    ys.clone().narrow(0, start, len),
                )?);
                start += len;
            }
            last.ok_or_else(|| SgdError::Readback {
                what: "batch loss".into(),
                message: "no batch".into(),
            })?
        };
        // Reading a scalar forces the backend to finish the epoch before the clock stops.
        self.last_batch_loss = loss.into_scalar::<f64>();
        self.device.sync().map_err(|e| SgdError::Readback {
            what: "device sync".into(),
            message: format!("{e:?}"),
        })?;
        Ok(())
    }

    /// Loss of the last mini-batch of the last epoch (a running figure; reports use the
    /// harness's f64 evaluation).
    pub fn last_batch_loss(&self) -> f64 {
        self.last_batch_loss
    }
}

fn read(t: Tensor<2>) -> Vec<f64> {
    t.into_data().iter::<f64>().collect()
}

impl Trainer for GradientTrainer {
    /// One epoch: a full-batch update, or one update per mini-batch of a seeded reshuffle.
    fn step(&mut self) -> fitbench_core::Result<StepOutcome> {
        self.cancel.check()?;
        self.epoch().map_err(|e| e.into_core(self.name))?;
        if !self.last_batch_loss.is_finite() {
            return Err(fitbench_core::Error::NonFinite(format!(
                "the {} batch loss ({})",
                self.name, self.last_batch_loss
            )));
        }
        Ok(StepOutcome::Continue)
    }

    /// The current weights, copied out to f64.
    fn params(&self) -> Mlp {
        let w = &self.widths;
        let (weights, biases) = match &self.model {
            Some(net) => (
                net.weights
                    .iter()
                    .enumerate()
                    .map(|(l, p)| {
                        let v = read(p.val().inner());
                        Mat::from_fn(w[l + 1], w[l], |i, j| v[j * w[l + 1] + i])
                    })
                    .collect(),
                net.biases
                    .iter()
                    .enumerate()
                    .map(|(l, p)| {
                        let v: Vec<f64> = p.val().inner().into_data().iter::<f64>().collect();
                        Col::from_fn(w[l + 1], |i| v[i])
                    })
                    .collect(),
            ),
            None => (
                (0..w.len() - 1)
                    .map(|l| Mat::from_fn(w[l + 1], w[l], |_, _| f64::NAN))
                    .collect(),
                (0..w.len() - 1)
                    .map(|l| Col::from_fn(w[l + 1], |_| f64::NAN))
                    .collect(),
            ),
        };
        Mlp {
            widths: w.clone(),
            activations: self.activations.clone(),
            weights,
            biases,
        }
    }

    /// One gradient evaluation over the whole training set per epoch, whatever the batch size:
    /// [`flops::gradient`] = 6·n·Σ mₗ₋₁mₗ (forward and backward matrix products; the
    /// optimiser's element-wise update is not counted).
    fn flops_per_step(&self) -> Option<f64> {
        Some(flops::gradient(&self.widths, self.n))
    }

    fn set_cancel(&mut self, token: CancelToken) {
        self.cancel = token;
    }
}

/// Building a [`GradientTrainer`] from its configuration (here, not in `config`, so that the
/// configuration types do not depend on the trainer).
impl<O: Optimiser> fitbench_core::TrainerConfig for GradientConfig<O> {
    fn validate(&self) -> fitbench_core::Result<()> {
        self.common.validate(O::ENTRY.name)?;
        self.own.validate_own()
    }

    /// Any architecture (gradients exist for every activation here).
    fn architecture(
        &self,
        requested: &fitbench_core::Architecture,
    ) -> fitbench_core::Result<fitbench_core::Architecture> {
        Ok(requested.clone())
    }

    fn init(
        &self,
        train: &Dataset,
        initial: Mlp,
        seed: u64,
    ) -> fitbench_core::Result<Box<dyn Trainer>> {
        self.validate()?;
        Ok(Box::new(
            GradientTrainer::new(
                O::ENTRY.name,
                &self.common,
                self.own.build(self.common.weight_decay),
                train,
                initial,
                seed,
            )
            .map_err(|e| e.into_core(O::ENTRY.name))?,
        ))
    }
}
