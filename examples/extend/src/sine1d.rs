//! A dataset generator defined outside fitbench: a noisy sine on one feature.

use faer::Mat;
use fitbench_core::rng;
use fitbench_core::synthetic::{Features, Params, SyntheticEntry};
use fitbench_core::{Dataset, Result};

/// The registry entry: the generator's name (written only here), help, every option with
/// its default (a `seed` among them), how many features it makes, and its two functions.
pub const SINE1D: SyntheticEntry = SyntheticEntry {
    name: "sine1d",
    help: "y = sin(x) + noise on x ~ U(−π, π)",
    keys: &[("n", "500"), ("noise", "0.1"), ("seed", "0")],
    features: Features::Fixed(1),
    planted: false,
    generate,
    validate_args,
};

/// Checks the options without generating: `n` ≥ 3, `noise` finite and ≥ 0, an integer seed.
fn validate_args(p: &Params<'_>) -> Result<()> {
    p.check_shape(p.usize("n")?, 1, p.f64("noise")?)?;
    p.u64("seed").map(drop)
}

/// x ~ U(−π, π), y = sin(x) + noise · std(sin(x)) · ε with ε ~ N(0, 1).
fn generate(p: &Params<'_>) -> Result<Dataset> {
    let (n, noise, seed) = (p.usize("n")?, p.f64("noise")?, p.u64("seed")?);
    let mut r = rng::rng(seed);
    let x = Mat::from_fn(n, 1, |_, _| {
        rng::uniform(&mut r, -std::f64::consts::PI, std::f64::consts::PI)
    });
    let clean: Vec<f64> = (0..n).map(|i| x[(i, 0)].sin()).collect();
    let mean = clean.iter().sum::<f64>() / n as f64;
    let sd = (clean.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
    let y = Mat::from_fn(n, 1, |i, _| clean[i] + noise * sd * rng::normal(&mut r));
    Dataset::new(
        format!("{}:n={n},noise={noise}", p.name()),
        x,
        y,
        vec!["x".into()],
        vec!["y".into()],
        format!("synthetic {}, seed {seed}", p.name()),
    )
}
