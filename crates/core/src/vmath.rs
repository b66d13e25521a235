//! Elementary functions for the activations, written to vectorise: `exp`, `expm1`, `log`,
//! `log1p` and the activations and inverses built on them (tanh, atanh, sigmoid, logit,
//! softplus, softplus⁻¹), each as a scalar kernel (`#[inline(always)]`, branch-free: both
//! sides of every case are computed and one is selected) and a slice version that runs the
//! same kernel in a loop compiled for the best instruction set the CPU has (runtime dispatch:
//! [`map_in_place`] runs AVX-512 on x86-64-v4, 8 lanes, through
//! [`crate::simd::run_avx512`]; otherwise, and [`zip_map_in_place`] always, through
//! `pulp::Arch`: AVX2 on x86-64-v3, 4 lanes; SSE2 otherwise, 2 lanes).
//!
//! # Accuracy
//!
//! The kernels use only +, −, ×, ÷ and bit operations (no fused multiply-add, which the
//! compiler may not contract either), so the scalar kernel and every vector path give the
//! same bits on every x86-64 CPU: results do not depend on the dispatch. Against glibc's
//! libm (the reference of the tests, which sweep each function's whole domain including the
//! clipping edges and the overflow limits):
//!
//! - `exp`, `expm1`, `log`, `log1p`, `tanh`, `atanh`, `sigmoid`, `softplus`: relative error
//!   ≤ [`MAX_REL_ERROR`] (4 × 2⁻⁵² ≈ 8.9e-16, i.e. a few ulp) wherever the result is a normal
//!   number;
//! - `logit` and `softplus_inverse`, which cross zero inside their domain (at ½ and ln 2) and
//!   are ill-conditioned there for any implementation: |error| ≤ [`MAX_REL_ERROR`] ×
//!   max(|result|, 1).
//!
//! Results below the smallest normal number (`exp` of less than −708, `sigmoid` of less than
//! −708) are flushed to zero.
//!
//! # Method
//!
//! `exp`/`expm1`: y = k·ln 2 + r with |r| ≤ ln 2 / 2 (ln 2 split in two parts) and
//! fdlibm's rational form on that interval: c = r − r²·P(r²) with fdlibm's five
//! coefficients, expm1(r) = r + r·c/(2 − c) (= 2r/(2 − c)); then exp(y) = 2ᵏ + 2ᵏ·expm1(r)
//! and expm1(y) = 2ᵏ·expm1(r) + (2ᵏ − 1), each one rounding. Polynomials are evaluated by
//! Estrin's scheme (short dependency chains).
//! `log`/`log1p`: x = 2ᵏ·m with m ∈ [√2/2, √2), log m = 2·atanh(s) with s = (m − 1)/(m + 1)
//! by its series to s²¹; log1p adds the rounding error of 1 + u back, (u − ((1 + u) − 1))/(1 + u).
//! tanh x = t/(t + 2) with t = expm1(2|x|), written over one division as
//! (2rs + (s − 1)(2 − c))/(2rs + (s + 1)(2 − c)) with s = 2ᵏ; sign restored (exactly ±1
//! for |x| > 20);
//! atanh a = ½·log1p(2|a|/(1 − |a|)), sign restored; sigmoid and softplus from e = exp(−|z|);
//! logit and softplus⁻¹ by the formula that is well-conditioned on each side.

/// The accuracy bound of every function here (see the module docs): 4 × 2⁻⁵².
pub const MAX_REL_ERROR: f64 = 4.0 * f64::EPSILON;

/// fdlibm's split of ln 2: `LN2_HI` has 32 significant bits, so k·`LN2_HI` is exact.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
const INV_LN2: f64 = std::f64::consts::LOG2_E;
/// 1.5 × 2⁵²: adding it rounds to an integer, held in the low bits of the sum.
const ROUND: f64 = 6_755_399_441_055_744.0;
/// 2⁵².
const TWO_52: f64 = 4_503_599_627_370_496.0;
/// Below this, exp underflows to a subnormal: flushed to zero.
const EXP_MIN: f64 = -708.0;
/// Above this, exp overflows.
const EXP_MAX: f64 = 709.78;
/// |x| above which tanh(x) rounds to ±1.
const TANH_SATURATES: f64 = 20.0;

/// fdlibm's P1…P5 (e_exp.c), bit for bit.
const EXP_P: [f64; 5] = [
    f64::from_bits(0x3FC5_5555_5555_553E),
    f64::from_bits(0xBF66_C16C_16BE_BD93),
    f64::from_bits(0x3F11_566A_AF25_DE2C),
    f64::from_bits(0xBEBB_BD41_C5D2_6BF1),
    f64::from_bits(0x3E66_3769_72BE_A4D0),
];

/// 1/(2n + 1) for n = 1..=10 (the series of atanh(s)/s in s²).
const ATANH_C: [f64; 10] = [
    1.0 / 3.0,
    1.0 / 5.0,
    1.0 / 7.0,
    1.0 / 9.0,
    1.0 / 11.0,
    1.0 / 13.0,
    1.0 / 15.0,
    1.0 / 17.0,
    1.0 / 19.0,
    1.0 / 21.0,
];

/// Picks `a` where `c`, else `b` (both already computed: a select, not a branch).
#[inline(always)]
fn select(c: bool, a: f64, b: f64) -> f64 {
    if c { a } else { b }
}

/// (r, 2 − c, 2ᵏ) with y = k·ln 2 + r, |r| ≤ ln 2 / 2, and c = r − r²·P(r²) from fdlibm's
/// rational form of exp on that interval (its coefficients P1…P5; error below 2⁻⁵⁹), so
/// that expm1(r) = r + r·c/(2 − c) = 2r/(2 − c). `y` must lie in [`EXP_MIN`], [`EXP_MAX`].
#[inline(always)]
fn exp_reduce(y: f64) -> (f64, f64, f64) {
    let t = y * INV_LN2 + ROUND;
    let kf = t - ROUND;
    let k = t.to_bits().wrapping_sub(ROUND.to_bits());
    let r = (y - kf * LN2_HI) - kf * LN2_LO;
    // P by Estrin's scheme: a short dependency chain.
    let t = r * r;
    let t2 = t * t;
    let poly = (EXP_P[0] + EXP_P[1] * t) + (EXP_P[2] + EXP_P[3] * t) * t2 + EXP_P[4] * (t2 * t2);
    let c = r - t * poly;
    let scale = f64::from_bits(k.wrapping_add(1023) << 52);
    (r, 2.0 - c, scale)
}

/// (expm1(r), 2ᵏ) with y = k·ln 2 + r (see [`exp_reduce`]).
#[inline(always)]
fn exp_parts(y: f64) -> (f64, f64) {
    let (r, d, scale) = exp_reduce(y);
    // fdlibm's form: r plus a small correction, one rounding on top of r.
    let p = r + (r * (2.0 - d)) / d;
    (p, scale)
}

/// eʸ.
#[inline(always)]
pub fn exp(y: f64) -> f64 {
    let clamped = select(y < EXP_MIN, EXP_MIN, select(y > EXP_MAX, EXP_MAX, y));
    let (p, s) = exp_parts(clamped);
    let e = s + s * p;
    select(
        y < EXP_MIN,
        0.0,
        select(y > EXP_MAX, f64::INFINITY, select(y.is_nan(), y, e)),
    )
}

/// eʸ − 1, accurate near 0.
#[inline(always)]
pub fn expm1(y: f64) -> f64 {
    let clamped = select(y < EXP_MIN, EXP_MIN, select(y > EXP_MAX, EXP_MAX, y));
    let (p, s) = exp_parts(clamped);
    let e = s * p + (s - 1.0);
    select(
        y < EXP_MIN,
        -1.0,
        select(y > EXP_MAX, f64::INFINITY, select(y.is_nan(), y, e)),
    )
}

/// log of a positive normal `w` (no checks).
#[inline(always)]
fn log_core(w: f64) -> f64 {
    const SQRT_HALF_BITS: u64 = 0x3fe6_a09e_667f_3bcd;
    // Shift the exponent so that the mantissa lands in [√2/2, √2) (musl's trick).
    let hx = w
        .to_bits()
        .wrapping_add(0x3ff0_0000_0000_0000 - SQRT_HALF_BITS);
    // k = exponent − 1023 as f64 without an integer-to-float conversion (which AVX2 lacks
    // for 64-bit lanes): 2⁵² + e is exact in f64, then subtract 2⁵² + 1023.
    let k = f64::from_bits(0x4330_0000_0000_0000 | (hx >> 52)) - (TWO_52 + 1023.0);
    let m = f64::from_bits((hx & 0x000f_ffff_ffff_ffff) + SQRT_HALF_BITS);
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    // Σ c[i]·zⁱ by Estrin's scheme.
    let c = &ATANH_C;
    let z2 = z * z;
    let z4 = z2 * z2;
    let z8 = z4 * z4;
    let q03 = (c[0] + c[1] * z) + (c[2] + c[3] * z) * z2;
    let q47 = (c[4] + c[5] * z) + (c[6] + c[7] * z) * z2;
    let q89 = c[8] + c[9] * z;
    let q = (q03 + q47 * z4) + q89 * z8;
    // log m = 2s + 2s·z·q; added to k·ln 2 in two parts.
    let log_m = 2.0 * s + (2.0 * s) * (z * q);
    k * LN2_HI + (log_m + k * LN2_LO)
}

/// ln x (NaN below 0, −∞ at 0, ∞ at ∞; subnormal inputs are treated as the smallest normal).
#[inline(always)]
pub fn log(x: f64) -> f64 {
    let w = select(x < f64::MIN_POSITIVE, f64::MIN_POSITIVE, x);
    let w = select(w > f64::MAX, f64::MAX, w);
    let l = log_core(w);
    select(
        x.is_nan() || x < 0.0,
        f64::NAN,
        select(
            x == 0.0,
            f64::NEG_INFINITY,
            select(x == f64::INFINITY, f64::INFINITY, l),
        ),
    )
}

/// ln(1 + u), accurate near 0 (NaN below −1, −∞ at −1).
#[inline(always)]
pub fn log1p(u: f64) -> f64 {
    let w = 1.0 + u;
    // The rounding error of 1 + u, added back to first order: log(w + c) ≈ log w + c/w.
    let c = select(w > 2.0, 1.0 - (w - u), u - (w - 1.0)) / w;
    let ws = select(w < f64::MIN_POSITIVE, f64::MIN_POSITIVE, w);
    let ws = select(ws > f64::MAX, f64::MAX, ws);
    let l = log_core(ws) + c;
    select(
        u.is_nan() || u < -1.0,
        f64::NAN,
        select(
            u == -1.0,
            f64::NEG_INFINITY,
            select(u == f64::INFINITY, f64::INFINITY, l),
        ),
    )
}

/// tanh x.
#[inline(always)]
pub fn tanh(x: f64) -> f64 {
    let a = x.abs();
    let a = select(a > TANH_SATURATES, TANH_SATURATES, a);
    // With e = expm1(2a) = s·p + (s − 1) and p = 2r/d: tanh a = e/(e + 2)
    // = (2rs + (s − 1)d)/(2rs + (s + 1)d), one division.
    let (r, d, s) = exp_reduce(2.0 * a);
    let two_rs = 2.0 * r * s;
    ((two_rs + (s - 1.0) * d) / (two_rs + (s + 1.0) * d)).copysign(x)
}

/// atanh a for |a| < 1 (±∞ at ±1, NaN beyond).
#[inline(always)]
pub fn atanh(a: f64) -> f64 {
    let b = a.abs();
    (0.5 * log1p(2.0 * b / (1.0 - b))).copysign(a)
}

/// The logistic sigmoid 1/(1 + e⁻ᶻ).
#[inline(always)]
pub fn sigmoid(z: f64) -> f64 {
    let e = exp(-z.abs());
    let s = 1.0 / (1.0 + e);
    select(z >= 0.0, s, e * s)
}

/// ln(1 + eᶻ) = max(z, 0) + ln(1 + e^−|z|).
#[inline(always)]
pub fn softplus(z: f64) -> f64 {
    z.max(0.0) + log1p(exp(-z.abs()))
}

/// (softplus z, σ(z)) from one exponential e = e^−|z|: the same bits as [`softplus`] and
/// [`sigmoid`] computed apart, for a layer whose backward pass needs σ = softplus′.
#[inline(always)]
pub fn softplus_and_sigmoid(z: f64) -> (f64, f64) {
    let e = exp(-z.abs());
    let s = 1.0 / (1.0 + e);
    (z.max(0.0) + log1p(e), select(z >= 0.0, s, e * s))
}

/// ln(a/(1 − a)) for a ∈ (0, 1).
#[inline(always)]
pub fn logit(a: f64) -> f64 {
    // b = min(a, 1 − a) is exact; logit(a) = −logit(1 − a).
    let b = select(a > 0.5, 1.0 - a, a);
    let far = log(b) - log1p(-b);
    let near = log1p((2.0 * b - 1.0) / (1.0 - b));
    let g = select(b < 0.25, far, near);
    select(a > 0.5, -g, g)
}

/// The inverse of softplus, ln(eᵃ − 1), for a > 0.
#[inline(always)]
pub fn softplus_inverse(a: f64) -> f64 {
    let small = log(expm1(select(a < 1.0, a, 1.0)));
    let large = a + log1p(-exp(-a));
    select(a < 1.0, small, large)
}

/// The element types the slice loops run over: f64, and f32 computed in f64 (each element
/// widened, mapped by the f64 kernel, rounded back once), so an f32 buffer gets the f64
/// kernel's accuracy (the f64 value rounded to f32) and the same bits on every x86-64 CPU.
pub trait Lane: Copy + Send + Sync + 'static {
    /// The value as f64 (exact).
    fn widen(self) -> f64;
    /// An f64 rounded to this type (the identity for f64).
    fn narrow(x: f64) -> Self;
}

impl Lane for f64 {
    #[inline(always)]
    fn widen(self) -> f64 {
        self
    }
    #[inline(always)]
    fn narrow(x: f64) -> Self {
        x
    }
}

impl Lane for f32 {
    #[inline(always)]
    fn widen(self) -> f64 {
        f64::from(self)
    }
    #[inline(always)]
    fn narrow(x: f64) -> Self {
        x as f32
    }
}

/// Applies `f` to every element of `xs` in place, compiled for the CPU's best instruction
/// set (f32 elements computed in f64, see [`Lane`]). `f` must be one of this module's
/// `#[inline(always)]` kernels, or a closure marked `#[inline(always)]` that calls them, for
/// the loop to vectorise (a function item passed here is called through `Fn::call`, which
/// was not always inlined: softplus' burn epoch took 16.0 ms that way and 3.9 ms as a
/// closure, in two successive bench runs).
#[inline(always)]
pub fn map_in_place<T: Lane>(xs: &mut [T], f: impl Fn(f64) -> f64) {
    if crate::simd::has_avx512() {
        crate::simd::run_avx512(
            #[inline(always)]
            || {
                for x in xs.iter_mut() {
                    *x = T::narrow(f(x.widen()));
                }
            },
        );
    } else {
        pulp::Arch::new().dispatch(Map { xs, f });
    }
}

/// `out[i] ← f(out[i], inp[i])`, compiled for AVX2 (or SSE2) by `pulp`'s dispatch: compiled
/// for AVX-512 like [`map_in_place`], `lsq`'s sweep measured 1.6× slower (n = 10 000, tanh;
/// not investigated further), so this loop stays on AVX2. Same bits either way. f32 elements
/// are computed in f64 ([`Lane`]).
#[inline(always)]
pub fn zip_map_in_place<T: Lane>(out: &mut [T], inp: &[T], f: impl Fn(f64, f64) -> f64) {
    pulp::Arch::new().dispatch(ZipMap { out, inp, f });
}

/// `(xs[i], second[i]) ← f(xs[i])`: a kernel with two results, the first in place, compiled
/// as [`map_in_place`] is (f32 computed in f64, [`Lane`]).
///
/// # Panics
/// If the slices differ in length (a caller's bug, not an input's).
#[inline(always)]
pub fn map2_in_place<T: Lane>(xs: &mut [T], second: &mut [T], f: impl Fn(f64) -> (f64, f64)) {
    assert_eq!(xs.len(), second.len(), "map2_in_place: lengths differ");
    if crate::simd::has_avx512() {
        crate::simd::run_avx512(
            #[inline(always)]
            || {
                for (x, o) in xs.iter_mut().zip(second.iter_mut()) {
                    let (a, b) = f(x.widen());
                    (*x, *o) = (T::narrow(a), T::narrow(b));
                }
            },
        );
    } else {
        pulp::Arch::new().dispatch(Map2 { xs, second, f });
    }
}

/// The loop of [`map_in_place`]: `with_simd` is inlined into pulp's function compiled with
/// the CPU's target features (a closure passed to `dispatch` is not always inlined there).
struct Map<'a, T, F> {
    xs: &'a mut [T],
    f: F,
}

impl<T: Lane, F: Fn(f64) -> f64> pulp::WithSimd for Map<'_, T, F> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        for x in self.xs.iter_mut() {
            *x = T::narrow((self.f)(x.widen()));
        }
    }
}

/// The loop of [`zip_map_in_place`].
struct ZipMap<'a, T, F> {
    out: &'a mut [T],
    inp: &'a [T],
    f: F,
}

impl<T: Lane, F: Fn(f64, f64) -> f64> pulp::WithSimd for ZipMap<'_, T, F> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        for (o, i) in self.out.iter_mut().zip(self.inp) {
            *o = T::narrow((self.f)(o.widen(), i.widen()));
        }
    }
}

/// The loop of [`map2_in_place`] without AVX-512.
struct Map2<'a, T, F> {
    xs: &'a mut [T],
    second: &'a mut [T],
    f: F,
}

impl<T: Lane, F: Fn(f64) -> (f64, f64)> pulp::WithSimd for Map2<'_, T, F> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        for (x, o) in self.xs.iter_mut().zip(self.second.iter_mut()) {
            let (a, b) = (self.f)(x.widen());
            (*x, *o) = (T::narrow(a), T::narrow(b));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Error of `got` against `want`, in units of `MAX_REL_ERROR`-relative (or absolute
    /// below `floor`).
    fn excess(got: f64, want: f64, floor: f64) -> f64 {
        if got == want || (got.is_nan() && want.is_nan()) {
            return 0.0;
        }
        (got - want).abs() / (want.abs().max(floor) * MAX_REL_ERROR)
    }

    /// Points spread over [lo, hi]: a uniform grid, a log-spaced grid on each side of zero,
    /// and the ends.
    fn sweep(lo: f64, hi: f64) -> Vec<f64> {
        let mut xs: Vec<f64> = (0..=20_000)
            .map(|i| lo + (hi - lo) * i as f64 / 20_000.0)
            .collect();
        for e in -300..=300 {
            let m = 10f64.powf(e as f64 / 10.0);
            for v in [m, -m, m * 1.000_000_1, -m * 0.999_999_9] {
                if (lo..=hi).contains(&v) {
                    xs.push(v);
                }
            }
        }
        xs.extend([lo, hi, 0.0, -0.0]);
        xs.retain(|x| (lo..=hi).contains(x));
        xs
    }

    fn worst(
        name: &str,
        f: fn(f64) -> f64,
        reference: &dyn Fn(f64) -> f64,
        xs: &[f64],
        floor: f64,
    ) {
        let mut worst = (0.0, 0.0);
        for &x in xs {
            let e = excess(f(x), reference(x), floor);
            if e > worst.0 {
                worst = (e, x);
            }
        }
        assert!(
            worst.0 <= 1.0,
            "{name}: error {:.2} × the bound at x = {:e} (got {:e}, libm {:e})",
            worst.0,
            worst.1,
            f(worst.1),
            reference(worst.1)
        );
    }

    /// The smallest normal number: results below it may be flushed to zero.
    const NORMAL: f64 = f64::MIN_POSITIVE;

    #[test]
    fn exp_and_log_families_match_libm_over_their_domains() {
        worst("exp", exp, &f64::exp, &sweep(-708.0, 709.7), NORMAL);
        worst("expm1", expm1, &f64::exp_m1, &sweep(-708.0, 709.7), NORMAL);
        worst("log", log, &f64::ln, &sweep(1e-300, 1e300), NORMAL);
        worst(
            "log1p",
            log1p,
            &f64::ln_1p,
            &sweep(-1.0 + 1e-15, 1e300),
            NORMAL,
        );
    }

    #[test]
    fn activations_and_inverses_match_libm_over_their_domains() {
        worst("tanh", tanh, &f64::tanh, &sweep(-40.0, 40.0), NORMAL);
        // The clipping edges of lsq's inverses: ±(1 − 1e-12) and beyond.
        // Rust's f64::atanh is 0.5·ln_1p(2x/(1 − x)) without the symmetry, which cancels
        // near x = −1 (at x = −(1 − 1e-15) it is off by 0.3 %): the reference is its odd
        // extension from x ≥ 0, where it is accurate.
        let atanh_ref = |x: f64| x.abs().atanh().copysign(x);
        worst(
            "atanh",
            atanh,
            &atanh_ref,
            &sweep(-1.0 + 1e-15, 1.0 - 1e-15),
            NORMAL,
        );
        let sigmoid_ref = |z: f64| {
            if z >= 0.0 {
                1.0 / (1.0 + (-z).exp())
            } else {
                z.exp() / (1.0 + z.exp())
            }
        };
        worst(
            "sigmoid",
            sigmoid,
            &sigmoid_ref,
            &sweep(-700.0, 700.0),
            NORMAL,
        );
        let softplus_ref = |z: f64| z.max(0.0) + (-z.abs()).exp().ln_1p();
        worst(
            "softplus",
            softplus,
            &softplus_ref,
            &sweep(-700.0, 700.0),
            NORMAL,
        );
        // Zero crossings inside the domain: absolute error below |result| = 1.
        let logit_ref = |a: f64| {
            if a <= 0.5 {
                a.ln() - (-a).ln_1p()
            } else {
                let b = 1.0 - a;
                -(b.ln() - (-b).ln_1p())
            }
        };
        worst("logit", logit, &logit_ref, &sweep(1e-15, 1.0 - 1e-15), 1.0);
        let softplus_inverse_ref = |a: f64| {
            if a < 1.0 {
                a.exp_m1().ln()
            } else {
                a + (-(-a).exp()).ln_1p()
            }
        };
        worst(
            "softplus_inverse",
            softplus_inverse,
            &softplus_inverse_ref,
            &sweep(1e-15, 700.0),
            1.0,
        );
    }

    #[test]
    fn special_values_follow_libm() {
        assert!(exp(f64::NAN).is_nan() && tanh(f64::NAN).is_nan() && log(-1.0).is_nan());
        assert_eq!(exp(-800.0), 0.0);
        assert_eq!(exp(800.0), f64::INFINITY);
        assert_eq!(expm1(-800.0), -1.0);
        assert_eq!(log(0.0), f64::NEG_INFINITY);
        assert_eq!(log1p(-1.0), f64::NEG_INFINITY);
        assert_eq!(tanh(1e3), 1.0);
        assert_eq!(tanh(-1e3), -1.0);
        assert_eq!(tanh(f64::INFINITY), 1.0);
        assert_eq!(atanh(1.0), f64::INFINITY);
        assert_eq!(atanh(-1.0), f64::NEG_INFINITY);
        assert_eq!(sigmoid(-800.0), 0.0);
        assert_eq!(sigmoid(800.0), 1.0);
        assert_eq!(tanh(-0.0).to_bits(), (-0.0f64).to_bits());
    }

    #[test]
    fn the_slice_version_gives_the_scalar_kernel_bit_for_bit() {
        // Every path this CPU has: the dispatched one (AVX-512 where present), pulp's (AVX2 or
        // SSE2), and the zip form.
        let xs = sweep(-25.0, 25.0);
        type Path = fn(&mut [f64]);
        let paths: [(&str, Path); 3] = [
            ("dispatched", |ys| map_in_place(ys, tanh)),
            ("pulp", |ys| {
                pulp::Arch::new().dispatch(Map { xs: ys, f: tanh })
            }),
            ("zip", |ys| {
                let zeros = vec![-0.0; ys.len()]; // y + (−0) = y, also for y = −0
                zip_map_in_place(ys, &zeros, |y, z| tanh(y + z));
            }),
        ];
        for (name, path) in paths {
            let mut ys = xs.clone();
            path(&mut ys);
            for (x, y) in xs.iter().zip(&ys) {
                assert_eq!(y.to_bits(), tanh(*x).to_bits(), "{name}: tanh({x:e})");
            }
        }
        for (name, f) in [
            ("log1p", log1p as fn(f64) -> f64),
            ("sigmoid", sigmoid),
            ("atanh", atanh),
        ] {
            let xs = sweep(-0.999, 0.999);
            let mut ys = xs.clone();
            map_in_place(&mut ys, f);
            for (x, y) in xs.iter().zip(&ys) {
                assert_eq!(y.to_bits(), f(*x).to_bits(), "{name}({x:e})");
            }
        }
    }

    #[test]
    fn the_f32_slice_versions_round_the_f64_kernel_once() {
        // f32 storage, f64 arithmetic: each element is the f64 kernel's value of the widened
        // input, rounded to f32 once, on every path this CPU has.
        let xs: Vec<f32> = sweep(-25.0, 25.0).iter().map(|&x| x as f32).collect();
        let want = |f: fn(f64) -> f64, x: f32| (f(f64::from(x)) as f32).to_bits();
        for (name, f) in [
            ("tanh", tanh as fn(f64) -> f64),
            ("sigmoid", sigmoid),
            ("softplus", softplus),
        ] {
            let mut dispatched = xs.clone();
            map_in_place(&mut dispatched, f);
            let mut pulp_path = xs.clone();
            pulp::Arch::new().dispatch(Map {
                xs: &mut pulp_path,
                f,
            });
            for ((x, a), b) in xs.iter().zip(&dispatched).zip(&pulp_path) {
                assert_eq!(a.to_bits(), want(f, *x), "dispatched {name}({x:e})");
                assert_eq!(b.to_bits(), want(f, *x), "pulp {name}({x:e})");
            }
        }
        // The zip form: out ← g·(1 − y²) with out = g, inp = y.
        let g: Vec<f32> = (0..xs.len()).map(|i| (i % 7) as f32 - 3.0).collect();
        let mut out = g.clone();
        zip_map_in_place(&mut out, &xs, |g, y| g * (1.0 - y * y));
        for ((o, g), y) in out.iter().zip(&g).zip(&xs) {
            let (g, y) = (f64::from(*g), f64::from(*y));
            assert_eq!(o.to_bits(), ((g * (1.0 - y * y)) as f32).to_bits());
        }
    }

    #[test]
    fn the_two_result_kernel_is_softplus_and_sigmoid_bit_for_bit() {
        let xs = sweep(-800.0, 800.0);
        let (mut a, mut b) = (xs.clone(), vec![0.0; xs.len()]);
        map2_in_place(&mut a, &mut b, softplus_and_sigmoid);
        let (mut pa, mut pb) = (xs.clone(), vec![0.0; xs.len()]);
        pulp::Arch::new().dispatch(Map2 {
            xs: &mut pa,
            second: &mut pb,
            f: softplus_and_sigmoid,
        });
        for (i, x) in xs.iter().enumerate() {
            let want = (softplus(*x).to_bits(), sigmoid(*x).to_bits());
            assert_eq!(
                (a[i].to_bits(), b[i].to_bits()),
                want,
                "dispatched at {x:e}"
            );
            assert_eq!((pa[i].to_bits(), pb[i].to_bits()), want, "pulp at {x:e}");
        }
        let x32: Vec<f32> = xs.iter().map(|&x| x as f32).collect();
        let (mut a, mut b) = (x32.clone(), vec![0.0f32; x32.len()]);
        map2_in_place(&mut a, &mut b, softplus_and_sigmoid);
        let (mut pa, mut pb) = (x32.clone(), vec![0.0f32; x32.len()]);
        pulp::Arch::new().dispatch(Map2 {
            xs: &mut pa,
            second: &mut pb,
            f: softplus_and_sigmoid,
        });
        for (i, x) in x32.iter().enumerate() {
            let x = f64::from(*x);
            let want = (
                (softplus(x) as f32).to_bits(),
                (sigmoid(x) as f32).to_bits(),
            );
            assert_eq!(
                (a[i].to_bits(), b[i].to_bits()),
                want,
                "f32 dispatched at {x:e}"
            );
            assert_eq!(
                (pa[i].to_bits(), pb[i].to_bits()),
                want,
                "f32 pulp at {x:e}"
            );
        }
    }
}
