//! Element-wise activations: value, derivative, and inverse where one exists.

use crate::error::{Error, Result};
use crate::vmath;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Binds `$f` to the scalar kernel of `$act` and evaluates `$body` (a loop over a slice that
/// calls `$f`), so that each activation gets a loop of its own with the kernel inlined.
macro_rules! per_activation {
    ($act:expr, $f:ident, $body:expr) => {
        match $act {
            Activation::Identity => {
                let $f = |z: f64| z;
                $body
            }
            Activation::Relu => {
                let $f = |z: f64| z.max(0.0);
                $body
            }
            Activation::LeakyRelu { alpha } => {
                // A bit-mask select: written as a branch, the loop kept a data-dependent
                // branch (the faer engine's leaky-ReLU epoch took 2.3× its ReLU one).
                let $f = move |z: f64| pick(z > 0.0, z, alpha * z);
                $body
            }
            Activation::Tanh => {
                let $f = vmath::tanh;
                $body
            }
            Activation::Sigmoid => {
                let $f = vmath::sigmoid;
                $body
            }
            Activation::Softplus => {
                let $f = vmath::softplus;
                $body
            }
        }
    };
}

/// `xs[i] ← f(xs[i])`, in a loop compiled for the CPU's best instruction set.
#[inline(always)]
fn map(xs: &mut [f64], f: impl Fn(f64) -> f64) {
    vmath::map_in_place(xs, f);
}

/// `x.clamp(lo, hi)` without `f64::clamp`'s `lo ≤ hi` assertion, whose panic path keeps
/// loops from vectorising (same values: NaN stays NaN).
#[inline(always)]
fn clip(x: f64, lo: f64, hi: f64) -> f64 {
    if x < lo {
        lo
    } else if x > hi {
        hi
    } else {
        x
    }
}

/// `if c { a } else { b }` by bit masks, with both sides computed: written as a branch,
/// the compiler moved a division into it and the loop stayed scalar (leaky ReLU's inverse;
/// same values).
#[inline(always)]
fn pick(c: bool, a: f64, b: f64) -> f64 {
    let m = u64::from(c).wrapping_neg();
    f64::from_bits((a.to_bits() & m) | (b.to_bits() & !m))
}

/// `out[i] ← f(out[i], inp[i])`, in a loop compiled for the CPU's best instruction set.
#[inline(always)]
fn zip_map(out: &mut [f64], inp: &[f64], f: impl Fn(f64, f64) -> f64) {
    vmath::zip_map_in_place(out, inp, f);
}

/// [`zip_map`] compiled for AVX-512 where the CPU has it (through
/// [`crate::simd::run_avx512`]), for a kernel heavy enough to gain from the width; the
/// same values.
#[inline(always)]
fn zip_map_wide(out: &mut [f64], inp: &[f64], f: impl Fn(f64, f64) -> f64) {
    if crate::simd::has_avx512() {
        crate::simd::run_avx512(
            #[inline(always)]
            || {
                for (o, i) in out.iter_mut().zip(inp) {
                    *o = f(*o, *i);
                }
            },
        );
    } else {
        zip_map(out, inp, f);
    }
}

/// An element-wise activation function σ.
///
/// | name | σ(z) | range | inverse |
/// |---|---|---|---|
/// | `identity` | z | ℝ | z |
/// | `relu` | max(z, 0) | [0, ∞) | none (use `leaky_relu`) |
/// | `leaky_relu:α` | max(z, αz), 0 < α < 1 | ℝ | max(a, a/α) |
/// | `tanh` | tanh z | (−1, 1) | atanh a, after clipping a into [−1+ε, 1−ε] |
/// | `sigmoid` | 1/(1+e^−z) | (0, 1) | ln(a/(1−a)), after clipping a into [ε, 1−ε] |
/// | `softplus` | ln(1+e^z) | (0, ∞) | ln(e^a − 1), after clipping a to ≥ ε |
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Activation {
    /// σ(z) = z.
    Identity,
    /// σ(z) = max(z, 0). Not invertible.
    Relu,
    /// σ(z) = max(z, αz) with slope `alpha` for z < 0.
    LeakyRelu {
        /// Negative-side slope α, 0 < α < 1 for invertibility (α = 0 is plain ReLU).
        alpha: f64,
    },
    /// Hyperbolic tangent.
    Tanh,
    /// Logistic sigmoid.
    Sigmoid,
    /// Softplus ln(1 + eᶻ).
    Softplus,
}

impl Activation {
    /// Default slope of `leaky_relu` when none is given.
    pub const DEFAULT_LEAKY_ALPHA: f64 = 0.01;

    /// Checks parameters (α of leaky ReLU in [0, 1)).
    pub fn validate(&self) -> Result<()> {
        if let Activation::LeakyRelu { alpha } = *self
            && !(0.0..1.0).contains(&alpha)
        {
            return Err(Error::config(
                "leaky_relu alpha",
                alpha,
                "the negative-side slope must lie in [0, 1), e.g. leaky_relu:0.01",
            ));
        }
        Ok(())
    }

    /// σ(z).
    #[inline]
    pub fn value(&self, z: f64) -> f64 {
        match *self {
            Activation::Identity => z,
            Activation::Relu => z.max(0.0),
            Activation::LeakyRelu { alpha } => {
                if z > 0.0 {
                    z
                } else {
                    alpha * z
                }
            }
            Activation::Tanh => vmath::tanh(z),
            Activation::Sigmoid => vmath::sigmoid(z),
            // Stable: ln(1 + e^z) = max(z, 0) + ln(1 + e^{-|z|}).
            Activation::Softplus => vmath::softplus(z),
        }
    }

    /// σ'(z). At the kink of (leaky) ReLU the right derivative (1) is used.
    #[inline]
    pub fn derivative(&self, z: f64) -> f64 {
        match *self {
            Activation::Identity => 1.0,
            Activation::Relu => {
                if z > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::LeakyRelu { alpha } => {
                if z > 0.0 {
                    1.0
                } else {
                    alpha
                }
            }
            Activation::Tanh => {
                let t = vmath::tanh(z);
                1.0 - t * t
            }
            Activation::Sigmoid => {
                let s = self.value(z);
                s * (1.0 - s)
            }
            Activation::Softplus => vmath::sigmoid(z),
        }
    }

    /// σ'(z) expressed through the value a = σ(z) (every activation here allows it; at the
    /// kink of (leaky) ReLU the right derivative is used, as in [`Activation::derivative`]).
    #[inline]
    pub fn derivative_from_value(&self, a: f64) -> f64 {
        match *self {
            Activation::Identity => 1.0,
            Activation::Relu => {
                if a > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::LeakyRelu { alpha } => {
                if a > 0.0 {
                    1.0
                } else {
                    alpha
                }
            }
            Activation::Tanh => 1.0 - a * a,
            Activation::Sigmoid => a * (1.0 - a),
            // σ'(z) = sigmoid(z) = 1 − e^{−a} for a = softplus(z).
            Activation::Softplus => -vmath::expm1(-a),
        }
    }

    /// Whether [`Activation::inverse`] is defined.
    pub fn is_invertible(&self) -> bool {
        match *self {
            Activation::Relu => false,
            Activation::LeakyRelu { alpha } => alpha > 0.0,
            _ => true,
        }
    }

    /// Clips `a` into the closed range where the inverse is finite: `[lo + ε, hi − ε]` for
    /// bounded ranges, `≥ ε` for softplus, unchanged otherwise.
    #[inline]
    pub fn clip_to_range(&self, a: f64, eps: f64) -> f64 {
        match *self {
            Activation::Tanh => a.clamp(-1.0 + eps, 1.0 - eps),
            Activation::Sigmoid => a.clamp(eps, 1.0 - eps),
            Activation::Softplus => a.max(eps),
            _ => a,
        }
    }

    /// σ⁻¹(a), after clipping `a` with [`Activation::clip_to_range`] by `eps`.
    ///
    /// Returns [`Error::NotInvertible`] for ReLU (and leaky ReLU with α = 0).
    pub fn inverse(&self, a: f64, eps: f64) -> Result<f64> {
        if !self.is_invertible() {
            return Err(self.not_invertible());
        }
        Ok(self.inverse_unchecked(self.clip_to_range(a, eps)))
    }

    /// σ⁻¹(a) without clipping or the invertibility check (callers check once, outside hot
    /// loops, with [`Activation::is_invertible`]). Non-invertible activations return `a`.
    #[inline]
    pub fn inverse_unchecked(&self, a: f64) -> f64 {
        match *self {
            Activation::Identity | Activation::Relu => a,
            Activation::LeakyRelu { alpha } => {
                if a > 0.0 {
                    a
                } else {
                    a / alpha
                }
            }
            Activation::Tanh => vmath::atanh(a),
            Activation::Sigmoid => vmath::logit(a),
            // ln(e^a − 1), by the formula that is well-conditioned on each side of a = 1.
            Activation::Softplus => vmath::softplus_inverse(a),
        }
    }

    /// `xs[i] ← σ(xs[i] + shift)` over a slice, vectorised ([`crate::vmath`]); bit for bit
    /// the same as [`Activation::value`] element by element.
    pub fn apply_shifted_in_place(&self, xs: &mut [f64], shift: f64) {
        per_activation!(
            *self,
            f,
            map(
                xs,
                #[inline(always)]
                move |x| f(x + shift)
            )
        );
    }

    /// `z[i] ← z[i] + shift`, then `a[i] ← σ(z[i])`, vectorised; `z` and `a` have the same
    /// length (a shorter one bounds the loop).
    // The kernel goes in as an `#[inline(always)]` closure on purpose: a function item passed
    // to the slice loop is called through `Fn::call`, which was not always inlined (softplus).
    #[allow(clippy::redundant_closure)]
    pub fn shift_and_apply_into(&self, z: &mut [f64], shift: f64, a: &mut [f64]) {
        // Two passes (shift, then σ into `a`): the same values as one fused loop.
        map(
            z,
            #[inline(always)]
            move |x| x + shift,
        );
        // Then a ← z and σ in place: a one-input loop runs as AVX-512 where the CPU has it
        // (the two-input one stays on AVX2); the same values.
        let m = a.len().min(z.len());
        let a = &mut a[..m];
        a.copy_from_slice(&z[..m]);
        per_activation!(
            *self,
            f,
            map(
                a,
                #[inline(always)]
                move |z| f(z)
            )
        );
    }

    /// `xs[i] ← σ⁻¹(clip(xs[i]))` with [`Activation::clip_to_range`] by `eps`, vectorised;
    /// the same as [`Activation::inverse_unchecked`] element by element (callers check
    /// [`Activation::is_invertible`] once).
    pub fn inverse_clipped_in_place(&self, xs: &mut [f64], eps: f64) {
        match *self {
            Activation::Tanh => map(
                xs,
                #[inline(always)]
                |a| vmath::atanh(clip(a, -1.0 + eps, 1.0 - eps)),
            ),
            Activation::Sigmoid => map(
                xs,
                #[inline(always)]
                |a| vmath::logit(clip(a, eps, 1.0 - eps)),
            ),
            Activation::Softplus => map(
                xs,
                #[inline(always)]
                |a| vmath::softplus_inverse(a.max(eps)),
            ),
            Activation::LeakyRelu { alpha } => {
                map(
                    xs,
                    #[inline(always)]
                    |a| pick(a > 0.0, a, a / alpha),
                );
            }
            Activation::Identity | Activation::Relu => {}
        }
    }

    /// `v[i] ← σ⁻¹(clip((1 − η)·a[i] + η·v[i]))`: the inverse of a mix of the current values
    /// `a` and the targets `v`, in one vectorised pass; element by element the same as
    /// [`Activation::inverse_clipped_in_place`] of the mix.
    pub fn inverse_of_mix_in_place(&self, v: &mut [f64], a: &[f64], eta: f64, eps: f64) {
        let mix = move |v: f64, a: f64| (1.0 - eta) * a + eta * v;
        match *self {
            Activation::Tanh => zip_map(
                v,
                a,
                #[inline(always)]
                |v, a| vmath::atanh(clip(mix(v, a), -1.0 + eps, 1.0 - eps)),
            ),
            Activation::Sigmoid => {
                zip_map(
                    v,
                    a,
                    #[inline(always)]
                    |v, a| vmath::logit(clip(mix(v, a), eps, 1.0 - eps)),
                );
            }
            Activation::Softplus => {
                zip_map(
                    v,
                    a,
                    #[inline(always)]
                    |v, a| vmath::softplus_inverse(mix(v, a).max(eps)),
                );
            }
            Activation::LeakyRelu { alpha } => zip_map(
                v,
                a,
                #[inline(always)]
                |v, a| {
                    let m = mix(v, a);
                    pick(m > 0.0, m, m / alpha)
                },
            ),
            Activation::Identity | Activation::Relu => zip_map(v, a, mix),
        }
    }

    /// `delta[i] ← delta[i]·σ'(z[i])`, given the pre-activations `pre` and the values
    /// `value` = σ(`pre`) of a forward pass, vectorised. Bit for bit `delta[i] *
    /// σ.derivative(pre[i])`: every activation but softplus takes σ' from the value (no
    /// second tanh), softplus from the pre-activation (σ' = sigmoid).
    pub fn multiply_by_derivative(&self, delta: &mut [f64], pre: &[f64], value: &[f64]) {
        match *self {
            // σ costs an exponential and a division: worth AVX-512's width (see `zip_map_wide`).
            Activation::Softplus => zip_map_wide(
                delta,
                pre,
                #[inline(always)]
                |d, z| d * vmath::sigmoid(z),
            ),
            Activation::Tanh => zip_map(
                delta,
                value,
                #[inline(always)]
                |d, a| d * (1.0 - a * a),
            ),
            Activation::Sigmoid => zip_map(
                delta,
                value,
                #[inline(always)]
                |d, a| d * (a * (1.0 - a)),
            ),
            Activation::Identity => {}
            Activation::Relu => zip_map(
                delta,
                value,
                #[inline(always)]
                |d, a| d * pick(a > 0.0, 1.0, 0.0),
            ),
            Activation::LeakyRelu { alpha } => {
                zip_map(
                    delta,
                    value,
                    #[inline(always)]
                    |d, a| d * pick(a > 0.0, 1.0, alpha),
                );
            }
        }
    }

    /// The error returned when inverting a non-invertible activation.
    pub fn not_invertible(&self) -> Error {
        Error::NotInvertible {
            activation: self.to_string(),
            hint:
                "use leaky_relu:ALPHA (e.g. leaky_relu:0.01), tanh, sigmoid, softplus or identity"
                    .into(),
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Activation::Identity => write!(f, "identity"),
            Activation::Relu => write!(f, "relu"),
            Activation::LeakyRelu { alpha } => write!(f, "leaky_relu:{alpha}"),
            Activation::Tanh => write!(f, "tanh"),
            Activation::Sigmoid => write!(f, "sigmoid"),
            Activation::Softplus => write!(f, "softplus"),
        }
    }
}

impl FromStr for Activation {
    type Err = Error;

    /// Parses `identity`, `relu`, `leaky_relu[:α]`, `tanh`, `sigmoid`, `softplus`.
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        let (name, arg) = match s.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (s, None),
        };
        let act = match (name.to_ascii_lowercase().replace('-', "_").as_str(), arg) {
            ("identity" | "linear", None) => Activation::Identity,
            ("relu", None) => Activation::Relu,
            ("leaky_relu", None) => Activation::LeakyRelu {
                alpha: Self::DEFAULT_LEAKY_ALPHA,
            },
            ("leaky_relu", Some(a)) => {
                let alpha = a.parse::<f64>().map_err(|_| {
                    Error::config(
                        "leaky_relu alpha",
                        a,
                        "expected a number, e.g. leaky_relu:0.01",
                    )
                })?;
                Activation::LeakyRelu { alpha }
            }
            ("tanh", None) => Activation::Tanh,
            ("sigmoid", None) => Activation::Sigmoid,
            ("softplus", None) => Activation::Softplus,
            _ => {
                return Err(Error::config(
                    "activation",
                    s,
                    "expected one of identity, relu, leaky_relu[:alpha], tanh, sigmoid, softplus",
                ));
            }
        };
        act.validate()?;
        Ok(act)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPS: f64 = 1e-3;
    const TOL: f64 = 1e-9;
    const ALL: [Activation; 6] = [
        Activation::Identity,
        Activation::Relu,
        Activation::LeakyRelu { alpha: 0.1 },
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Softplus,
    ];

    /// Values spread over [−30, 30] with the kinks, zero and non-finite values included.
    fn points() -> Vec<f64> {
        let mut xs: Vec<f64> = (0..2_001).map(|i| -30.0 + 0.03 * i as f64).collect();
        xs.extend([0.0, -0.0, 1e-300, -1e-300, 700.0, -700.0, f64::NAN]);
        xs.extend([f64::INFINITY, f64::NEG_INFINITY]);
        xs
    }

    fn same_bits(got: &[f64], want: &[f64], what: &str) {
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
                "{what}: element {i}: {g:e} vs {w:e}"
            );
        }
    }

    #[test]
    fn slice_methods_give_the_scalar_methods_bit_for_bit() {
        let xs = points();
        for act in ALL {
            let shift = 0.25;
            let mut got = xs.clone();
            act.apply_shifted_in_place(&mut got, shift);
            let want: Vec<f64> = xs.iter().map(|x| act.value(x + shift)).collect();
            same_bits(&got, &want, &format!("{act} apply_shifted_in_place"));

            let (mut z, mut a) = (xs.clone(), vec![0.0; xs.len()]);
            act.shift_and_apply_into(&mut z, shift, &mut a);
            let want_z: Vec<f64> = xs.iter().map(|x| x + shift).collect();
            same_bits(&z, &want_z, &format!("{act} shift_and_apply_into z"));
            same_bits(&a, &want, &format!("{act} shift_and_apply_into a"));

            // σ'(z)·δ from the forward values, against the scalar derivative at z.
            let delta: Vec<f64> = xs.iter().map(|x| 0.5 - x.sin()).collect();
            let mut got = delta.clone();
            act.multiply_by_derivative(&mut got, &z, &a);
            let want: Vec<f64> = delta
                .iter()
                .zip(&z)
                .map(|(d, z)| d * act.derivative(*z))
                .collect();
            same_bits(&got, &want, &format!("{act} multiply_by_derivative"));

            if act.is_invertible() {
                let values: Vec<f64> = xs.iter().map(|x| act.value(*x)).collect();
                let mut got = values.clone();
                act.inverse_clipped_in_place(&mut got, EPS);
                let want: Vec<f64> = values
                    .iter()
                    .map(|v| act.inverse_unchecked(act.clip_to_range(*v, EPS)))
                    .collect();
                same_bits(&got, &want, &format!("{act} inverse_clipped_in_place"));
                let eta = 0.3;
                let mut got = xs.iter().map(|x| act.value(x * 0.5)).collect::<Vec<f64>>();
                let targets = got.clone();
                act.inverse_of_mix_in_place(&mut got, &values, eta, EPS);
                let want: Vec<f64> = targets
                    .iter()
                    .zip(&values)
                    .map(|(v, a)| {
                        let m = (1.0 - eta) * a + eta * v;
                        act.inverse_unchecked(act.clip_to_range(m, EPS))
                    })
                    .collect();
                same_bits(&got, &want, &format!("{act} inverse_of_mix_in_place"));
            }
        }
    }

    #[test]
    fn inverse_round_trips_inside_the_range() {
        for act in ALL.iter().filter(|a| a.is_invertible()) {
            for &z in &[-3.0, -0.5, 0.0, 0.7, 2.5] {
                let back = act.inverse(act.value(z), 1e-12).unwrap();
                assert!((back - z).abs() < 1e-6, "{act}: σ⁻¹(σ({z})) = {back}");
            }
        }
    }

    #[test]
    fn derivative_matches_finite_difference() {
        const H: f64 = 1e-6;
        for act in ALL {
            for &z in &[-2.0, -0.3, 0.4, 1.9] {
                let fd = (act.value(z + H) - act.value(z - H)) / (2.0 * H);
                assert!((fd - act.derivative(z)).abs() < 1e-6, "{act} at {z}");
            }
        }
    }

    #[test]
    fn derivative_from_value_matches_derivative() {
        for act in ALL {
            for &z in &[-2.0, -0.3, 0.4, 1.9] {
                let (a, b) = (act.derivative(z), act.derivative_from_value(act.value(z)));
                assert!((a - b).abs() < TOL, "{act} at {z}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn clipping_keeps_inverse_finite() {
        for act in [Activation::Tanh, Activation::Sigmoid, Activation::Softplus] {
            for a in [-5.0, -1.0, 0.0, 1.0, 5.0] {
                assert!(act.inverse(a, EPS).unwrap().is_finite(), "{act} at {a}");
            }
        }
    }

    #[test]
    fn relu_is_rejected_with_a_hint() {
        let err = Activation::Relu.inverse(1.0, EPS).unwrap_err().to_string();
        assert!(err.contains("relu") && err.contains("leaky_relu"), "{err}");
        assert!(
            Activation::LeakyRelu { alpha: 0.0 }
                .inverse(1.0, EPS)
                .is_err()
        );
    }

    #[test]
    fn parse_and_display_round_trip() {
        for act in ALL {
            let back: Activation = act.to_string().parse().unwrap();
            assert_eq!(back, act);
        }
        assert!("swish".parse::<Activation>().is_err());
        assert!("leaky_relu:2".parse::<Activation>().is_err());
        assert!("leaky_relu:x".parse::<Activation>().is_err());
    }

    #[test]
    fn values_are_stable_for_large_inputs() {
        for act in ALL {
            for z in [-800.0, 800.0] {
                assert!(act.value(z).is_finite(), "{act} at {z}");
            }
        }
        assert!((Activation::Softplus.value(800.0) - 800.0).abs() < TOL);
    }
}
