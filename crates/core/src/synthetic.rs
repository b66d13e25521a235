//! Synthetic regression problems: pure functions of (shape, noise, seed).
//!
//! In every generator `noise` is a fraction of the clean signal's standard deviation: the
//! target is `y = f(x) + noise · std(f(x)) · ε` with ε ~ N(0, 1) i.i.d.

use crate::activation::Activation;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::mlp::{Architecture, Mlp};
use crate::options::Options;
use crate::rng::{self, Rng};
use faer::{Col, Mat};

/// The fewest samples a generator accepts: the smallest `n` that the default 80/20 split
/// ([`crate::Split::DEFAULT_TEST_FRACTION`]) turns into at least 2 training rows and 1 test
/// row.
pub const MIN_SAMPLES: usize = 3;

/// The fewest features Friedman #1 accepts (its 5 informative features).
pub const FRIEDMAN1_MIN_FEATURES: usize = 5;

/// The features of [`smooth2d`].
const SMOOTH2D_FEATURES: usize = 2;

fn check(n: usize, d: usize, noise: f64, what: &str) -> Result<()> {
    if n < MIN_SAMPLES {
        return Err(Error::config(
            format!("dataset {what} option n"),
            n,
            format!(
                "must be at least {MIN_SAMPLES} (a train/test split needs at least 2 training rows and 1 test row), e.g. {what}:n=1000"
            ),
        ));
    }
    if d == 0 {
        return Err(Error::config(
            format!("dataset {what} option d"),
            d,
            "must be at least 1 (the number of features)",
        ));
    }
    if !(noise.is_finite() && noise >= 0.0) {
        return Err(Error::config(
            format!("dataset {what} option noise"),
            noise,
            "must be a finite number ≥ 0 (a fraction of the signal's std)",
        ));
    }
    Ok(())
}

fn check_widths(hidden: &[usize], what: &str) -> Result<()> {
    if hidden.contains(&0) {
        let h: Vec<String> = hidden.iter().map(|v| v.to_string()).collect();
        return Err(Error::config(
            format!("dataset {what} option h"),
            h.join("/"),
            "every hidden width must be at least 1, e.g. h=16 or h=16/16",
        ));
    }
    Ok(())
}

fn check_friedman1_d(d: usize) -> Result<()> {
    if d < FRIEDMAN1_MIN_FEATURES {
        return Err(Error::config(
            format!("dataset {} option d", FRIEDMAN1.name),
            d,
            format!(
                "must be at least {FRIEDMAN1_MIN_FEATURES} (Friedman #1 has 5 informative features)"
            ),
        ));
    }
    Ok(())
}

fn add_noise(clean: &mut Mat<f64>, noise: f64, r: &mut Rng) {
    let n = clean.nrows() as f64;
    let mean = clean.col_as_slice(0).iter().sum::<f64>() / n;
    let sd = (clean
        .col_as_slice(0)
        .iter()
        .map(|v| (v - mean).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    for v in clean.col_as_slice_mut(0) {
        *v += noise * sd * rng::normal(r);
    }
}

fn names(prefix: &str, d: usize) -> Vec<String> {
    (1..=d).map(|j| format!("{prefix}{j}")).collect()
}

fn dataset(name: String, x: Mat<f64>, y: Mat<f64>, seed: u64) -> Result<Dataset> {
    let d = x.ncols();
    let provenance = format!("synthetic {name}, seed {seed}");
    Dataset::new(name, x, y, names("x", d), vec!["y".into()], provenance)
}

/// The planted teacher network of [`teacher`]: the given hidden widths and activation, an
/// identity output, weights and biases ~ N(0, 1/fan_in), drawn from `seed`.
pub fn teacher_network(
    d: usize,
    hidden: &[usize],
    activation: Activation,
    seed: u64,
) -> Result<Mlp> {
    let arch = Architecture::new(hidden.to_vec(), activation);
    let mut net = Mlp::init(&arch, d, 1, rng::derive_seed(seed, &["teacher-shape"]))?;
    let mut r = rng::rng(rng::derive_seed(seed, &["teacher-weights"]));
    for (w, b) in net.weights.iter_mut().zip(net.biases.iter_mut()) {
        let s = 1.0 / (w.ncols() as f64).sqrt();
        for i in 0..w.nrows() {
            for j in 0..w.ncols() {
                w[(i, j)] = s * rng::normal(&mut r);
            }
        }
        *b = Col::from_fn(b.nrows(), |_| s * rng::normal(&mut r));
    }
    Ok(net)
}

/// A planted teacher network: x ~ N(0, I_d), y = teacher(x) + noise, where the teacher
/// ([`teacher_network`]) has the given hidden widths and activation and weights and biases
/// ~ N(0, 1/fan_in).
pub fn teacher(
    n: usize,
    d: usize,
    hidden: &[usize],
    activation: Activation,
    noise: f64,
    seed: u64,
) -> Result<Dataset> {
    check(n, d, noise, TEACHER.name)?;
    check_widths(hidden, TEACHER.name)?;
    let net = teacher_network(d, hidden, activation, seed)?;
    let mut r = rng::rng(seed);
    let x = Mat::from_fn(n, d, |_, _| 0.0);
    let mut x = x;
    for i in 0..n {
        for j in 0..d {
            x[(i, j)] = rng::normal(&mut r);
        }
    }
    let mut y = net.forward_with(x.as_ref(), faer::Par::Seq)?;
    add_noise(&mut y, noise, &mut r);
    let h: Vec<String> = hidden.iter().map(|v| v.to_string()).collect();
    dataset(
        format!(
            "{}:n={n},d={d},h={},act={activation},noise={noise}",
            TEACHER.name,
            h.join("/")
        ),
        x,
        y,
        seed,
    )
}

/// Noisy linear regression: x ~ N(0, I_d), w ~ N(0, I_d), y = Xw + noise.
pub fn linear(n: usize, d: usize, noise: f64, seed: u64) -> Result<Dataset> {
    check(n, d, noise, LINEAR.name)?;
    let mut r = rng::rng(seed);
    let w: Vec<f64> = (0..d).map(|_| rng::normal(&mut r)).collect();
    let mut x = Mat::zeros(n, d);
    for i in 0..n {
        for j in 0..d {
            x[(i, j)] = rng::normal(&mut r);
        }
    }
    let mut y = Mat::from_fn(n, 1, |i, _| (0..d).map(|j| x[(i, j)] * w[j]).sum());
    add_noise(&mut y, noise, &mut r);
    dataset(
        format!("{}:n={n},d={d},noise={noise}", LINEAR.name),
        x,
        y,
        seed,
    )
}

/// Friedman #1: x ~ U(0, 1)^d with d ≥ 5, y = 10 sin(π x₁x₂) + 20(x₃ − ½)² + 10x₄ + 5x₅ + noise
/// (features beyond the fifth are irrelevant).
pub fn friedman1(n: usize, d: usize, noise: f64, seed: u64) -> Result<Dataset> {
    check(n, d, noise, FRIEDMAN1.name)?;
    check_friedman1_d(d)?;
    let mut r = rng::rng(seed);
    let mut x = Mat::zeros(n, d);
    for i in 0..n {
        for j in 0..d {
            x[(i, j)] = rng::uniform(&mut r, 0.0, 1.0);
        }
    }
    let mut y = Mat::from_fn(n, 1, |i, _| {
        let v = |j: usize| x[(i, j)];
        10.0 * (std::f64::consts::PI * v(0) * v(1)).sin()
            + 20.0 * (v(2) - 0.5).powi(2)
            + 10.0 * v(3)
            + 5.0 * v(4)
    });
    add_noise(&mut y, noise, &mut r);
    dataset(
        format!("{}:n={n},d={d},noise={noise}", FRIEDMAN1.name),
        x,
        y,
        seed,
    )
}

/// A smooth 2-D function: x ~ U(−2, 2)², y = sin(3x₁)·x₂ + ½x₂² + noise.
pub fn smooth2d(n: usize, noise: f64, seed: u64) -> Result<Dataset> {
    check(n, SMOOTH2D_FEATURES, noise, SMOOTH2D.name)?;
    let mut r = rng::rng(seed);
    let mut x = Mat::zeros(n, SMOOTH2D_FEATURES);
    for i in 0..n {
        for j in 0..SMOOTH2D_FEATURES {
            x[(i, j)] = rng::uniform(&mut r, -2.0, 2.0);
        }
    }
    let mut y = Mat::from_fn(n, 1, |i, _| {
        (3.0 * x[(i, 0)]).sin() * x[(i, 1)] + 0.5 * x[(i, 1)].powi(2)
    });
    add_noise(&mut y, noise, &mut r);
    dataset(format!("{}:n={n},noise={noise}", SMOOTH2D.name), x, y, seed)
}

/// The values of a generator's options, with the defaults of its [`SyntheticEntry`].
#[derive(Debug)]
pub struct Params<'a> {
    entry: &'static SyntheticEntry,
    options: &'a Options,
}

impl<'a> Params<'a> {
    /// The options `options` of generator `entry` (e.g. to test a generator's functions
    /// without going through [`SyntheticEntry::generate`]).
    pub fn new(entry: &'static SyntheticEntry, options: &'a Options) -> Self {
        Self { entry, options }
    }

    /// The generator's entry.
    pub fn entry(&self) -> &'static SyntheticEntry {
        self.entry
    }

    /// The generator's name (its entry's), for messages.
    pub fn name(&self) -> &'static str {
        self.entry.name
    }

    /// The checks every generator makes, with messages naming this generator and the option:
    /// `n` ≥ [`MIN_SAMPLES`], `d` ≥ 1 features, `noise` finite and ≥ 0.
    pub fn check_shape(&self, n: usize, d: usize, noise: f64) -> Result<()> {
        check(n, d, noise, self.entry.name)
    }

    fn raw(&self, key: &str) -> Result<&str> {
        if let Some(v) = self.options.get_str(key) {
            return Ok(v);
        }
        self.entry
            .keys
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, default)| *default)
            .ok_or_else(|| {
                Error::Parse(format!(
                    "generator {} reads option {key:?}, which its table entry does not list",
                    self.entry.name
                ))
            })
    }

    fn parsed<T: std::str::FromStr>(&self, key: &str, expected: &str) -> Result<T> {
        let v = self.raw(key)?;
        v.parse().map_err(|_| {
            Error::Parse(format!(
                "dataset {}: option {key}={v:?} is not {expected}",
                self.entry.name
            ))
        })
    }

    /// `key` as a non-negative integer.
    pub fn usize(&self, key: &str) -> Result<usize> {
        self.parsed(key, "a non-negative integer")
    }

    /// `key` as a 64-bit seed.
    pub fn u64(&self, key: &str) -> Result<u64> {
        self.parsed(key, "a non-negative integer")
    }

    /// `key` as a number.
    pub fn f64(&self, key: &str) -> Result<f64> {
        self.parsed(key, "a number")
    }

    /// `key` as `a/b/c` integers.
    pub fn usize_list(&self, key: &str) -> Result<Vec<usize>> {
        let v = self.raw(key)?;
        v.split('/')
            .map(|p| p.trim().parse())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| {
                Error::Parse(format!(
                    "dataset {}: option {key}={v:?} is not a list of integers like 16/16",
                    self.entry.name
                ))
            })
    }

    /// `key` as an activation name.
    pub fn activation(&self, key: &str) -> Result<Activation> {
        self.raw(key)?.parse()
    }
}

/// How many features a generator makes, known before generating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Features {
    /// As many as the (integer) option of this key says, e.g. `d`.
    Option(&'static str),
    /// Always this many (e.g. 2 for `smooth2d`, 1 for a curve y = f(x)).
    Fixed(usize),
}

/// One synthetic generator: its name, options with their defaults (written once, here), and
/// the function that generates it.
#[derive(Debug)]
pub struct SyntheticEntry {
    /// Registry name, e.g. `teacher`: the only place it is written (the generator's messages
    /// and dataset names read it from the entry).
    pub name: &'static str,
    /// What it generates.
    pub help: &'static str,
    /// Every option as `(key, default)`; other keys are rejected.
    pub keys: &'static [(&'static str, &'static str)],
    /// How many features it generates (sizes the memory check before generating).
    pub features: Features,
    /// With `noise=0` the data are exactly a member of the model family the generator plants
    /// (the infimum of the train MSE is 0 for a large enough model).
    pub planted: bool,
    /// Generates the data from the option values.
    pub generate: fn(&Params<'_>) -> Result<Dataset>,
    /// Checks the option values (types and ranges, e.g. `n` ≥ [`MIN_SAMPLES`]) without
    /// generating anything.
    pub validate_args: fn(&Params<'_>) -> Result<()>,
}

impl SyntheticEntry {
    /// Validates `options` ([`SyntheticEntry::validate`]) and generates the data.
    pub fn generate(&'static self, options: &Options) -> Result<Dataset> {
        self.validate(options)?;
        (self.generate)(&Params {
            entry: self,
            options,
        })
    }

    /// Rejects options that cannot generate a usable dataset, without generating it: keys
    /// the generator does not have ([`SyntheticEntry::check`]), values of the wrong type, and
    /// values out of range (`n` below [`MIN_SAMPLES`], `d` = 0, a zero hidden width,
    /// negative noise, …). The message names the option and its valid range.
    pub fn validate(&'static self, options: &Options) -> Result<()> {
        self.check(options)?;
        (self.validate_args)(&Params {
            entry: self,
            options,
        })
    }

    /// Rejects keys the generator does not have.
    pub fn check(&self, options: &Options) -> Result<()> {
        let keys: Vec<&str> = self.keys.iter().map(|(k, _)| *k).collect();
        options.check_keys(&format!("dataset {}", self.name), &keys)
    }

    /// The value of `key` (given or default), e.g. to ask whether `noise` is 0.
    pub fn value<'a>(&'a self, options: &'a Options, key: &str) -> Option<&'a str> {
        options.get_str(key).or_else(|| {
            self.keys
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, default)| *default)
        })
    }

    /// The number of features the options will generate (from [`SyntheticEntry::features`]);
    /// `None` when the option that says it is not an integer.
    pub fn feature_count(&self, options: &Options) -> Option<usize> {
        match self.features {
            Features::Fixed(d) => Some(d),
            Features::Option(key) => self.value(options, key)?.parse().ok(),
        }
    }

    /// Rows (option `n`) and features ([`SyntheticEntry::feature_count`]) the options will
    /// generate, known before generating; `None` when either is unknown.
    pub fn shape(&self, options: &Options) -> Option<(usize, usize)> {
        let n = self.value(options, "n")?.parse().ok()?;
        Some((n, self.feature_count(options)?))
    }

    /// Checks the rules every entry keeps (the built-ins in the table tests, an extension's
    /// when it is registered): options `n` and `seed` (with default `"0"`), a
    /// [`Features::Option`] key among the options, the defaults valid, and `n` below
    /// [`MIN_SAMPLES`] refused by `validate_args` without generating. The message names the
    /// entry and the rule.
    pub fn check_rules(&'static self) -> Result<()> {
        let broken =
            |rule: String| Error::Parse(format!("generator entry {:?}: {rule}", self.name));
        let default = |key: &str| self.keys.iter().find(|(k, _)| *k == key).map(|(_, d)| *d);
        if default("n").is_none() {
            return Err(broken("has no option `n` (the number of rows)".into()));
        }
        if default("seed") != Some("0") {
            return Err(broken("needs an option `seed` with default \"0\"".into()));
        }
        if let Features::Option(key) = self.features
            && default(key).is_none()
        {
            return Err(broken(format!(
                "its features come from option `{key}`, which it does not list"
            )));
        }
        self.validate(&Options::default())
            .map_err(|e| broken(format!("its defaults do not validate: {e}")))?;
        let (_, few) = Options::parse_named(&format!("{}:n={}", self.name, MIN_SAMPLES - 1))?;
        if self.validate(&few).is_ok() {
            return Err(broken(format!(
                "validate_args accepts n = {}, too few rows for a split (call p.check_shape)",
                MIN_SAMPLES - 1
            )));
        }
        Ok(())
    }

    /// `help: key [default], …`.
    pub fn help_line(&self) -> String {
        let keys = self
            .keys
            .iter()
            .map(|(k, d)| format!("{k} [{d}]"))
            .collect::<Vec<_>>()
            .join(", ");
        format!("{}: {keys}", self.help)
    }
}

/// The planted teacher network ([`teacher`]).
pub const TEACHER: SyntheticEntry = SyntheticEntry {
    name: "teacher",
    help: "planted network (h=16/16 for two layers)",
    keys: &[
        ("n", "2000"),
        ("d", "8"),
        ("h", "16"),
        ("act", "tanh"),
        ("noise", "0.1"),
        ("seed", "0"),
    ],
    features: Features::Option("d"),
    planted: true,
    generate: |p| {
        teacher(
            p.usize("n")?,
            p.usize("d")?,
            &p.usize_list("h")?,
            p.activation("act")?,
            p.f64("noise")?,
            p.u64("seed")?,
        )
    },
    validate_args: |p| {
        p.check_shape(p.usize("n")?, p.usize("d")?, p.f64("noise")?)?;
        check_widths(&p.usize_list("h")?, p.name())?;
        p.activation("act")?;
        p.u64("seed").map(drop)
    },
};

/// Noisy linear regression ([`linear`]).
pub const LINEAR: SyntheticEntry = SyntheticEntry {
    name: "linear",
    help: "y = Xw + ε",
    keys: &[("n", "2000"), ("d", "8"), ("noise", "0.1"), ("seed", "0")],
    features: Features::Option("d"),
    planted: true,
    generate: |p| {
        linear(
            p.usize("n")?,
            p.usize("d")?,
            p.f64("noise")?,
            p.u64("seed")?,
        )
    },
    validate_args: |p| {
        p.check_shape(p.usize("n")?, p.usize("d")?, p.f64("noise")?)?;
        p.u64("seed").map(drop)
    },
};

/// Friedman #1 ([`friedman1`]).
pub const FRIEDMAN1: SyntheticEntry = SyntheticEntry {
    name: "friedman1",
    help: "Friedman #1",
    keys: &[("n", "2000"), ("d", "10"), ("noise", "0.1"), ("seed", "0")],
    features: Features::Option("d"),
    planted: false,
    generate: |p| {
        friedman1(
            p.usize("n")?,
            p.usize("d")?,
            p.f64("noise")?,
            p.u64("seed")?,
        )
    },
    validate_args: |p| {
        let d = p.usize("d")?;
        p.check_shape(p.usize("n")?, d, p.f64("noise")?)?;
        check_friedman1_d(d)?;
        p.u64("seed").map(drop)
    },
};

/// The smooth 2-D function ([`smooth2d`]).
pub const SMOOTH2D: SyntheticEntry = SyntheticEntry {
    name: "smooth2d",
    help: "sin(3x₁)·x₂ + ½x₂²",
    keys: &[("n", "1000"), ("noise", "0.05"), ("seed", "0")],
    features: Features::Fixed(SMOOTH2D_FEATURES),
    planted: false,
    generate: |p| smooth2d(p.usize("n")?, p.f64("noise")?, p.u64("seed")?),
    validate_args: |p| {
        p.check_shape(p.usize("n")?, SMOOTH2D_FEATURES, p.f64("noise")?)?;
        p.u64("seed").map(drop)
    },
};

/// Every synthetic generator. Adding one = one entry here + its function.
pub const SYNTHETIC: &[SyntheticEntry] = &[TEACHER, LINEAR, FRIEDMAN1, SMOOTH2D];

/// The generator called `name`.
pub fn entry(name: &str) -> Option<&'static SyntheticEntry> {
    SYNTHETIC.iter().find(|e| e.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generators_are_pure_functions_of_their_arguments() {
        let a = teacher(50, 3, &[4], Activation::Tanh, 0.1, 5).unwrap();
        let b = teacher(50, 3, &[4], Activation::Tanh, 0.1, 5).unwrap();
        assert_eq!((a.x.clone(), a.y.clone()), (b.x, b.y));
        assert_ne!(
            a.y,
            teacher(50, 3, &[4], Activation::Tanh, 0.1, 6).unwrap().y
        );
        assert_eq!(
            linear(20, 3, 0.0, 1).unwrap().y,
            linear(20, 3, 0.0, 1).unwrap().y
        );
        assert_eq!(friedman1(20, 10, 0.0, 1).unwrap().x.ncols(), 10);
        assert_eq!(smooth2d(20, 0.0, 1).unwrap().x.ncols(), 2);
    }

    #[test]
    fn noise_is_a_fraction_of_the_signal_std() {
        const N: usize = 20_000;
        const TOL: f64 = 0.05;
        let clean = smooth2d(N, 0.0, 3).unwrap();
        let noisy = smooth2d(N, 0.5, 3).unwrap();
        let (c, z) = (clean.y.col_as_slice(0), noisy.y.col_as_slice(0));
        let sd = |v: &[f64]| {
            let m = v.iter().sum::<f64>() / v.len() as f64;
            (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
        };
        let resid: Vec<f64> = z.iter().zip(c).map(|(a, b)| a - b).collect();
        assert!((sd(&resid) / sd(c) - 0.5).abs() < TOL);
    }

    #[test]
    fn every_table_entry_generates_with_its_defaults_and_rejects_unknown_keys() {
        for e in SYNTHETIC {
            e.check_rules().unwrap();
            let data = e.generate(&Options::default()).unwrap();
            let n: usize = e.value(&Options::default(), "n").unwrap().parse().unwrap();
            assert_eq!(data.n(), n, "{}", e.name);
            assert_eq!(
                e.shape(&Options::default()),
                Some((data.n(), data.d())),
                "declared shape of {}",
                e.name
            );
            let (_, bad) = Options::parse_named("x:nope=1").unwrap();
            let msg = e.generate(&bad).unwrap_err().to_string();
            assert!(msg.contains("nope") && msg.contains("seed"), "{msg}");
            assert!(e.help_line().contains("seed [0]"), "{}", e.help_line());
        }
        let (_, o) = Options::parse_named("t:n=abc").unwrap();
        let msg = entry("linear")
            .unwrap()
            .generate(&o)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("n=\"abc\""), "{msg}");
    }

    #[test]
    fn invalid_shapes_are_rejected() {
        assert!(friedman1(10, 4, 0.0, 0).is_err());
        assert!(linear(0, 3, 0.0, 0).is_err());
        assert!(linear(MIN_SAMPLES - 1, 3, 0.0, 0).is_err());
        assert!(linear(MIN_SAMPLES, 3, 0.0, 0).is_ok());
        assert!(teacher(10, 3, &[4, 0], Activation::Tanh, 0.0, 0).is_err());
        assert!(smooth2d(10, -1.0, 0).is_err());
        assert!(smooth2d(10, f64::NAN, 0).is_err());
    }

    #[test]
    fn every_table_entry_validates_n_without_generating() {
        for e in SYNTHETIC {
            let (_, few) = Options::parse_named("x:n=2").unwrap();
            let msg = e.validate(&few).unwrap_err().to_string();
            assert!(
                msg.contains("option n = 2") && msg.contains("at least 3"),
                "{msg}"
            );
            let (_, enough) = Options::parse_named("x:n=3").unwrap();
            e.validate(&enough).unwrap();
        }
    }

    #[test]
    fn names_in_messages_and_datasets_are_the_entries() {
        for e in SYNTHETIC {
            let data = e.generate(&Options::default()).unwrap();
            assert!(
                data.name.starts_with(&format!("{}:", e.name)),
                "{}",
                data.name
            );
            let (_, few) = Options::parse_named("x:n=1").unwrap();
            let msg = e.validate(&few).unwrap_err().to_string();
            assert!(
                msg.contains(&format!("dataset {} option n", e.name)),
                "{msg}"
            );
        }
        let (_, d) = Options::parse_named("x:d=6").unwrap();
        assert_eq!(FRIEDMAN1.shape(&d), Some((2000, 6)));
        let (_, bad) = Options::parse_named("x:d=six").unwrap();
        assert_eq!(LINEAR.feature_count(&bad), None);
    }
}
