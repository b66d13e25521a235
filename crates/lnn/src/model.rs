//! Deep linear networks (Lakkapragada 2024, arXiv 2401.00186): chains of width-1 linear
//! layers trained by full-batch plain SGD, against closed-form linear regression.
//!
//! The protocol follows the author's public experiment script (`train_linear_model.py`):
//! per trial, x ~ N(0, 1) with 1 000 training and 200 validation samples, A, B ~ N(0, 1),
//! y = A·x + B, then y += ε·c·mean(y_clean) with ε ~ N(0, 1) per sample (the validation set
//! uses its own mean); models are chains of k = 1…10 scalar affine maps
//! `h_j = w_j·h_{j−1} + b_j` with w_j, b_j ~ U(−1, 1); full-batch SGD on the mean squared
//! error; OLS with intercept on the training set is the exact reference; the "optimal
//! parameter deviation" is D = |Π w_j − w_OLS| + |b_eff − b_OLS|.
//!
//! Differences from the script, all deliberate: float64 instead of float32, explicit seeds
//! (the script sets none), and the reported train MSE is that of the final parameters (the
//! script logs it before each step, so its last value is one step older).
//!
//! Every h_j is affine in x, so the loss and its exact gradients depend on the data only
//! through five moments (mean x, x², y, xy, y²): one SGD step of a k-chain costs O(k) flops
//! whatever n is, and the result equals full-batch backpropagation up to rounding. With
//! `P_j = Π_{i>j} w_i` and residual r = h_k − y:
//! ∂L/∂w_j = 2·P_j·mean(r·h_{j−1}) and ∂L/∂b_j = 2·P_j·mean(r).

use crate::error::Result;
use fitbench_core::Error;
use fitbench_core::rng::{self, Rng};
use serde::{Deserialize, Serialize};

/// The five moments of a sample `(x, y)` that determine an affine model's MSE.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Moments {
    /// mean(x)
    pub x: f64,
    /// mean(x²)
    pub xx: f64,
    /// mean(y)
    pub y: f64,
    /// mean(x·y)
    pub xy: f64,
    /// mean(y²)
    pub yy: f64,
}

impl Moments {
    /// Moments of paired samples.
    pub fn of(x: &[f64], y: &[f64]) -> Self {
        let n = x.len() as f64;
        let mut m = Moments::default();
        for (a, b) in x.iter().zip(y) {
            m.x += a;
            m.xx += a * a;
            m.y += b;
            m.xy += a * b;
            m.yy += b * b;
        }
        Moments {
            x: m.x / n,
            xx: m.xx / n,
            y: m.y / n,
            xy: m.xy / n,
            yy: m.yy / n,
        }
    }

    /// MSE of the affine model `a·x + c`.
    pub fn mse(&self, a: f64, c: f64) -> f64 {
        a * a * self.xx + 2.0 * a * c * self.x + c * c - 2.0 * a * self.xy - 2.0 * c * self.y
            + self.yy
    }

    /// OLS slope and intercept.
    pub fn ols(&self) -> (f64, f64) {
        let w = (self.xy - self.x * self.y) / (self.xx - self.x * self.x);
        (w, self.y - w * self.x)
    }
}

/// One trial's data, reduced to moments.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Trial {
    /// Training moments.
    pub train: Moments,
    /// Validation moments.
    pub val: Moments,
    /// OLS fit on the training set.
    pub ols: (f64, f64),
}

/// Draws one trial with noise coefficient `c` (the author's protocol).
pub fn draw_trial(r: &mut Rng, c: f64, n_train: usize, n_val: usize) -> Trial {
    let (a, b) = (rng::normal(r), rng::normal(r));
    let mut sample = |n: usize| {
        let x: Vec<f64> = (0..n).map(|_| rng::normal(r)).collect();
        let clean: Vec<f64> = x.iter().map(|v| a * v + b).collect();
        let mean = clean.iter().sum::<f64>() / n as f64;
        let y: Vec<f64> = clean
            .iter()
            .map(|v| v + rng::normal(r) * c * mean)
            .collect();
        Moments::of(&x, &y)
    };
    let train = sample(n_train);
    let val = sample(n_val);
    Trial {
        train,
        val,
        ols: train.ols(),
    }
}

/// A chain of k scalar affine maps.
#[derive(Clone, Debug, PartialEq)]
pub struct Chain {
    /// Weights w_1…w_k.
    pub w: Vec<f64>,
    /// Biases b_1…b_k.
    pub b: Vec<f64>,
}

impl Chain {
    /// w_j, b_j ~ U(−1, 1) (PyTorch's default for `nn.Linear(1, 1)`), drawn w_1, b_1, w_2, …
    pub fn init(k: usize, r: &mut Rng) -> Self {
        let mut w = Vec::with_capacity(k);
        let mut b = Vec::with_capacity(k);
        for _ in 0..k {
            w.push(rng::uniform(r, -1.0, 1.0));
            b.push(rng::uniform(r, -1.0, 1.0));
        }
        Self { w, b }
    }

    /// The effective affine map (slope, intercept).
    pub fn effective(&self) -> (f64, f64) {
        self.w
            .iter()
            .zip(&self.b)
            .fold((1.0, 0.0), |(a, c), (w, b)| (w * a, w * c + b))
    }

    /// Exact gradient of the training MSE with respect to (w, b), written into `gw`, `gb`;
    /// `coeffs` is scratch space of length k (the affine coefficients of h_{j−1}).
    pub fn gradient(&self, m: &Moments, gw: &mut [f64], gb: &mut [f64], coeffs: &mut [(f64, f64)]) {
        let k = self.w.len();
        let (mut a, mut c) = (1.0, 0.0);
        for ((slot, w), b) in coeffs.iter_mut().zip(&self.w).zip(&self.b) {
            *slot = (a, c);
            (a, c) = (w * a, w * c + b);
        }
        let (ak, ck) = (a, c);
        let mean_r = ak * m.x + ck - m.y;
        // Walk backwards keeping the suffix product P_j = Π_{i>j} w_i.
        let mut p = 1.0;
        for j in (0..k).rev() {
            let (a, c) = coeffs[j];
            let mean_rh = ak * a * m.xx + (ak * c + ck * a) * m.x + ck * c - a * m.xy - c * m.y;
            gw[j] = 2.0 * p * mean_rh;
            gb[j] = 2.0 * p * mean_r;
            p *= self.w[j];
        }
    }

    /// D = |Π w − w_OLS| + |b_eff − b_OLS|.
    pub fn deviation(&self, ols: (f64, f64)) -> f64 {
        let (a, c) = self.effective();
        (a - ols.0).abs() + (c - ols.1).abs()
    }
}

/// Settings of the study.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LnnConfig {
    /// Chain lengths (k = 1 is linear regression trained by gradient descent).
    pub depths: Vec<usize>,
    /// Noise coefficients c.
    pub noises: Vec<f64>,
    /// Learning rates.
    pub lrs: Vec<f64>,
    /// Trials per (k, c, lr); each trial draws fresh data and a fresh initialisation.
    pub trials: usize,
    /// Full-batch SGD steps.
    pub steps: usize,
    /// Training samples per trial.
    pub n_train: usize,
    /// Validation samples per trial.
    pub n_val: usize,
    /// Record D every this many steps for the curves.
    pub record_every: usize,
    /// Base seed.
    pub seed: u64,
}

impl Default for LnnConfig {
    fn default() -> Self {
        Self {
            depths: (1..=10).collect(),
            noises: vec![0.05, 0.15, 0.3, 0.5],
            lrs: vec![1e-3, 1e-2],
            trials: 100,
            steps: 10_000,
            n_train: 1000,
            n_val: 200,
            record_every: 100,
            seed: 0,
        }
    }
}

impl LnnConfig {
    /// Checks every setting; an invalid one gives [`Error::InvalidConfig`] (wrapped in
    /// [`crate::LnnError::Core`]) naming it.
    pub fn validate(&self) -> Result<()> {
        if self.depths.is_empty() || self.depths.contains(&0) {
            return Err(Error::config(
                "lnn.depths",
                format!("{:?}", self.depths),
                "give chain lengths ≥ 1",
            )
            .into());
        }
        if self.noises.iter().any(|c| !(c.is_finite() && *c >= 0.0)) || self.noises.is_empty() {
            return Err(Error::config(
                "lnn.noises",
                format!("{:?}", self.noises),
                "give noise coefficients ≥ 0",
            )
            .into());
        }
        if self.lrs.iter().any(|l| !(l.is_finite() && *l > 0.0)) || self.lrs.is_empty() {
            return Err(Error::config(
                "lnn.lrs",
                format!("{:?}", self.lrs),
                "give positive learning rates",
            )
            .into());
        }
        if self.trials == 0 || self.steps == 0 || self.record_every == 0 {
            return Err(Error::config(
                "lnn.trials/steps/record_every",
                format!("{}/{}/{}", self.trials, self.steps, self.record_every),
                "must all be ≥ 1",
            )
            .into());
        }
        if self.n_train < 2 || self.n_val < 1 {
            return Err(Error::config(
                "lnn.n_train/n_val",
                format!("{}/{}", self.n_train, self.n_val),
                "need ≥ 2 training and ≥ 1 validation samples",
            )
            .into());
        }
        Ok(())
    }
}

/// Final state of one (trial, k, c, lr) run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrialResult {
    /// Final D.
    pub deviation: f64,
    /// Final training MSE.
    pub train_mse: f64,
    /// Final validation MSE.
    pub val_mse: f64,
    /// OLS training MSE.
    pub ols_train_mse: f64,
    /// OLS validation MSE.
    pub ols_val_mse: f64,
    /// D every `record_every` steps, starting at step 0.
    pub curve: Vec<f64>,
}

/// Trains one chain with full-batch SGD and records D.
pub fn train_chain(
    k: usize,
    lr: f64,
    steps: usize,
    record_every: usize,
    trial: &Trial,
    init_rng: &mut Rng,
) -> TrialResult {
    let mut chain = Chain::init(k, init_rng);
    let (mut gw, mut gb, mut coeffs) = (vec![0.0; k], vec![0.0; k], vec![(0.0, 0.0); k]);
    let mut curve = Vec::with_capacity(steps / record_every + 1);
    for s in 0..steps {
        if s % record_every == 0 {
            curve.push(chain.deviation(trial.ols));
        }
        chain.gradient(&trial.train, &mut gw, &mut gb, &mut coeffs);
        for j in 0..k {
            chain.w[j] -= lr * gw[j];
            chain.b[j] -= lr * gb[j];
        }
    }
    curve.push(chain.deviation(trial.ols));
    let (a, c) = chain.effective();
    TrialResult {
        deviation: chain.deviation(trial.ols),
        train_mse: trial.train.mse(a, c),
        val_mse: trial.val.mse(a, c),
        ols_train_mse: trial.train.mse(trial.ols.0, trial.ols.1),
        ols_val_mse: trial.val.mse(trial.ols.0, trial.ols.1),
        curve,
    }
}

/// The seeds of a trial: data from (seed, c, trial), shared by every k and learning rate;
/// initialisation from (seed, c, trial, k), shared by every learning rate (so learning rates
/// are compared on paired draws).
pub fn trial_seeds(seed: u64, c: f64, trial: usize, k: usize) -> (u64, u64) {
    let (c, t) = (format!("{c}"), trial.to_string());
    (
        rng::derive_seed(seed, &["lnn-data", &c, &t]),
        rng::derive_seed(seed, &["lnn-init", &c, &t, &k.to_string()]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Finite-difference agreement (f64, central differences of an exact quadratic-ish loss).
    const FD_TOL: f64 = 1e-6;

    fn data() -> (Vec<f64>, Vec<f64>) {
        let mut r = rng::rng(3);
        let x: Vec<f64> = (0..50).map(|_| rng::normal(&mut r)).collect();
        let y: Vec<f64> = x
            .iter()
            .map(|v| 0.7 * v - 0.4 + 0.3 * rng::normal(&mut r))
            .collect();
        (x, y)
    }

    #[test]
    fn moment_mse_equals_the_direct_mse() {
        let (x, y) = data();
        let m = Moments::of(&x, &y);
        let direct = x
            .iter()
            .zip(&y)
            .map(|(a, b)| (1.3 * a - 0.2 - b).powi(2))
            .sum::<f64>()
            / x.len() as f64;
        assert!((m.mse(1.3, -0.2) - direct).abs() < 1e-12);
    }

    #[test]
    fn chain_gradients_match_finite_differences() {
        const H: f64 = 1e-6;
        let (x, y) = data();
        let m = Moments::of(&x, &y);
        for k in [1, 2, 3, 6, 10] {
            let chain = Chain::init(k, &mut rng::rng(k as u64));
            let (mut gw, mut gb) = (vec![0.0; k], vec![0.0; k]);
            chain.gradient(&m, &mut gw, &mut gb, &mut vec![(0.0, 0.0); k]);
            let loss = |c: &Chain| {
                let (a, b) = c.effective();
                m.mse(a, b)
            };
            for j in 0..k {
                for (is_w, g) in [(true, gw[j]), (false, gb[j])] {
                    let (mut p, mut q) = (chain.clone(), chain.clone());
                    if is_w {
                        p.w[j] += H;
                        q.w[j] -= H;
                    } else {
                        p.b[j] += H;
                        q.b[j] -= H;
                    }
                    let fd = (loss(&p) - loss(&q)) / (2.0 * H);
                    assert!(
                        (fd - g).abs() < FD_TOL * fd.abs().max(1.0),
                        "k={k} j={j} w?{is_w}: fd {fd} vs {g}"
                    );
                }
            }
        }
    }

    #[test]
    fn linear_regression_by_gradient_descent_reaches_ols() {
        let trial = draw_trial(&mut rng::rng(1), 0.05, 1000, 200);
        let result = train_chain(1, 1e-2, 5000, 100, &trial, &mut rng::rng(2));
        assert!(result.deviation < 1e-8, "D = {}", result.deviation);
        assert!((result.train_mse - result.ols_train_mse).abs() < 1e-10);
    }

    #[test]
    fn invalid_settings_are_rejected() {
        for c in [
            LnnConfig {
                depths: vec![0],
                ..LnnConfig::default()
            },
            LnnConfig {
                noises: vec![-0.1],
                ..LnnConfig::default()
            },
            LnnConfig {
                lrs: vec![0.0],
                ..LnnConfig::default()
            },
            LnnConfig {
                trials: 0,
                ..LnnConfig::default()
            },
            LnnConfig {
                n_train: 1,
                ..LnnConfig::default()
            },
        ] {
            assert!(c.validate().is_err());
        }
    }
}
