//! Seeds and random numbers: every random choice in fitbench comes from an explicit seed.
//!
//! The generator is `rand_chacha::ChaCha8Rng` (its output is specified, unlike `StdRng`'s).
//! Sub-seeds are derived with [`derive_seed`], a fixed SplitMix64/FNV-1a mix that does not
//! depend on the Rust version (unlike `std`'s `DefaultHasher`).

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The project's random number generator.
pub type Rng = ChaCha8Rng;

/// A generator seeded from `seed`.
pub fn rng(seed: u64) -> Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// SplitMix64 finaliser: a bijective, well-mixing map on `u64`.
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a hash of a string (stable across platforms and Rust versions).
pub fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Derives a sub-seed from a base seed and a list of labels, e.g.
/// `derive_seed(base, &["diabetes", "ols", "0"])`. Same inputs ⇒ same output, forever.
pub fn derive_seed(base: u64, labels: &[&str]) -> u64 {
    labels
        .iter()
        .fold(splitmix64(base), |acc, l| splitmix64(acc ^ fnv1a(l)))
}

/// One standard-normal draw (Box–Muller; uses two uniforms, discards the second normal so the
/// number of draws per call is fixed).
pub fn normal(rng: &mut Rng) -> f64 {
    // u1 in (0, 1] so that ln(u1) is finite.
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// One draw from U(lo, hi).
pub fn uniform(rng: &mut Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.random::<f64>()
}

/// A seeded Fisher–Yates permutation of `0..n`.
pub fn permutation(rng: &mut Rng, n: usize) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.random_range(0..=i);
        p.swap(i, j);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_seeds_are_stable_and_distinct() {
        let a = derive_seed(7, &["diabetes", "ols", "0"]);
        assert_eq!(a, derive_seed(7, &["diabetes", "ols", "0"]));
        assert_ne!(a, derive_seed(7, &["diabetes", "ols", "1"]));
        assert_ne!(a, derive_seed(8, &["diabetes", "ols", "0"]));
        assert_ne!(derive_seed(7, &["ab", "c"]), derive_seed(7, &["a", "bc"]));
    }

    #[test]
    fn permutation_is_a_permutation() {
        let mut p = permutation(&mut rng(3), 100);
        p.sort_unstable();
        assert_eq!(p, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn normal_has_plausible_moments() {
        const N: usize = 20_000;
        const TOL: f64 = 0.05;
        let mut r = rng(1);
        let xs: Vec<f64> = (0..N).map(|_| normal(&mut r)).collect();
        let mean = xs.iter().sum::<f64>() / N as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / N as f64;
        assert!(mean.abs() < TOL, "mean {mean}");
        assert!((var - 1.0).abs() < TOL, "var {var}");
    }
}
