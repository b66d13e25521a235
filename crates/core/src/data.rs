//! Datasets, seeded train/test splits and the train-only standardiser.

use crate::error::{Error, Result};
use crate::rng;
use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};

/// A regression dataset: `x` is n×d, `y` is n×k (k = 1 today, not assumed elsewhere).
///
/// Construct with [`Dataset::new`], which rejects empty data, mismatched shapes and
/// non-finite values, naming the offending row and column.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Short name, e.g. `diabetes` or `teacher:d=8,h=16,n=1000`.
    pub name: String,
    /// Features, one row per sample.
    pub x: Mat<f64>,
    /// Targets, one row per sample.
    pub y: Mat<f64>,
    /// One name per column of `x`.
    pub feature_names: Vec<String>,
    /// One name per column of `y`.
    pub target_names: Vec<String>,
    /// Where the data comes from (package, file, generator and seed).
    pub provenance: String,
}

impl Dataset {
    /// Builds a validated dataset.
    pub fn new(
        name: impl Into<String>,
        x: Mat<f64>,
        y: Mat<f64>,
        feature_names: Vec<String>,
        target_names: Vec<String>,
        provenance: impl Into<String>,
    ) -> Result<Self> {
        let name = name.into();
        if x.nrows() == 0 {
            return Err(Error::InvalidData(format!("dataset {name} has no rows")));
        }
        if x.ncols() == 0 {
            return Err(Error::InvalidData(format!(
                "dataset {name} has no feature columns"
            )));
        }
        if y.ncols() == 0 {
            return Err(Error::InvalidData(format!(
                "dataset {name} has no target column"
            )));
        }
        if y.nrows() != x.nrows() {
            return Err(Error::Shape {
                context: format!("dataset {name}"),
                expected: format!("{} target rows (one per feature row)", x.nrows()),
                got: format!("{}", y.nrows()),
            });
        }
        if feature_names.len() != x.ncols() || target_names.len() != y.ncols() {
            return Err(Error::Shape {
                context: format!("column names of dataset {name}"),
                expected: format!("{} feature and {} target names", x.ncols(), y.ncols()),
                got: format!("{} and {}", feature_names.len(), target_names.len()),
            });
        }
        for (m, names) in [(&x, &feature_names), (&y, &target_names)] {
            if let Some((i, j)) = first_non_finite(m.as_ref()) {
                return Err(Error::InvalidData(format!(
                    "dataset {name}: non-finite value {} at row {} column {:?}; remove or impute it",
                    m[(i, j)],
                    i + 1,
                    names[j]
                )));
            }
        }
        Ok(Self {
            name,
            x,
            y,
            feature_names,
            target_names,
            provenance: provenance.into(),
        })
    }

    /// Number of samples n.
    pub fn n(&self) -> usize {
        self.x.nrows()
    }

    /// Number of features d.
    pub fn d(&self) -> usize {
        self.x.ncols()
    }

    /// Number of targets k.
    pub fn k(&self) -> usize {
        self.y.ncols()
    }

    /// The rows `idx` of this dataset, in that order.
    pub fn select_rows(&self, idx: &[usize]) -> Dataset {
        Dataset {
            name: self.name.clone(),
            x: Mat::from_fn(idx.len(), self.d(), |i, j| self.x[(idx[i], j)]),
            y: Mat::from_fn(idx.len(), self.k(), |i, j| self.y[(idx[i], j)]),
            feature_names: self.feature_names.clone(),
            target_names: self.target_names.clone(),
            provenance: self.provenance.clone(),
        }
    }
}

impl Dataset {
    /// Row `a` compared with row `b`, features then targets, by value (−0 equals 0; the
    /// data is finite, so the order is total).
    fn cmp_rows(&self, a: usize, b: usize) -> std::cmp::Ordering {
        let key = |v: f64| v + 0.0; // −0 + 0 = +0
        (0..self.d())
            .map(|j| key(self.x[(a, j)]).total_cmp(&key(self.x[(b, j)])))
            .chain((0..self.k()).map(|j| key(self.y[(a, j)]).total_cmp(&key(self.y[(b, j)]))))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    }

    /// `rows` sorted by content, ties (exact copies) by index.
    fn sorted_rows(&self, rows: &[usize]) -> Vec<usize> {
        let mut sorted = rows.to_vec();
        sorted.sort_unstable_by(|&a, &b| self.cmp_rows(a, b).then(a.cmp(&b)));
        sorted
    }

    /// For every row, whether it is an exact copy (same features and targets) of an earlier
    /// row. O(n log n) comparisons; no copy of the data.
    pub fn duplicate_row_flags(&self) -> Vec<bool> {
        let all: Vec<usize> = (0..self.n()).collect();
        let sorted = self.sorted_rows(&all);
        let mut flags = vec![false; self.n()];
        for w in sorted.windows(2) {
            if self.cmp_rows(w[0], w[1]).is_eq() {
                flags[w[1]] = true;
            }
        }
        flags
    }

    /// Number of rows that are exact copies (same features and targets) of an earlier row:
    /// n minus the number of distinct rows.
    pub fn duplicate_rows(&self) -> usize {
        self.duplicate_row_flags().iter().filter(|&&f| f).count()
    }

    /// This dataset without its duplicate rows (the first copy of each row is kept, in the
    /// original order), and how many rows were removed.
    pub fn without_duplicate_rows(&self) -> (Dataset, usize) {
        let flags = self.duplicate_row_flags();
        let keep: Vec<usize> = (0..self.n()).filter(|&i| !flags[i]).collect();
        let removed = self.n() - keep.len();
        (self.select_rows(&keep), removed)
    }

    /// How many of `rows` have an exact copy (same features and targets) among `pool`, e.g.
    /// test rows whose copy is a training row. Indices out of range are ignored.
    pub fn rows_with_copy_in(&self, rows: &[usize], pool: &[usize]) -> usize {
        let n = self.n();
        let pool: Vec<usize> = pool.iter().copied().filter(|&i| i < n).collect();
        let sorted = self.sorted_rows(&pool);
        rows.iter()
            .filter(|&&r| r < n && sorted.binary_search_by(|&p| self.cmp_rows(p, r)).is_ok())
            .count()
    }
}

/// The first (row, column) of a non-finite entry, if any.
pub fn first_non_finite(m: MatRef<'_, f64>) -> Option<(usize, usize)> {
    (0..m.nrows()).find_map(|i| {
        (0..m.ncols())
            .find(|&j| !m[(i, j)].is_finite())
            .map(|j| (i, j))
    })
}

/// Per-column affine standardisation `(v − mean) / scale`, fitted on the training split only.
///
/// Scales are population standard deviations, computed without overflow (each column is first
/// divided by a power of two near its largest |value|, which is exact, then mean and variance
/// are taken in two passes), so columns of any finite magnitude standardise correctly.
///
/// The mean is corrected in a second pass (`m + mean(x − m)` where `m` is the plain mean,
/// when the correction exceeds its own rounding error), and the variance is the corrected
/// two-pass one, `mean((x − m)²) − mean(x − m)²`, so a column far from zero
/// (`1e14 + N(0, 1)`) is centred and scaled correctly however many rows it has.
///
/// A column is *constant* when all its training values are equal up to rounding: every
/// |value − mean| is at most [`Standardiser::CONSTANT_ULPS`] ulps (units in the last place) of
/// the column's largest |value| ([`Standardiser::CONSTANT_RULE`]). The test is relative to the
/// column's own magnitude and to f64's resolution there: a feature in units of 10⁻¹⁴ is not
/// constant, nor is `1e14 + N(0, 1)` (values 64 ulps apart per unit) or `2⁵³ + row index`. A
/// constant feature column is dropped: it gets scale 1 and standardises to exactly 0 in every
/// split, and its name is listed in [`Standardiser::dropped_features`]. A constant target
/// column is an error (naming the rule), since MSE in standardised units would be undefined.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Standardiser {
    /// Feature means.
    pub x_mean: Vec<f64>,
    /// Feature scales (1 for dropped columns).
    pub x_scale: Vec<f64>,
    /// Target means.
    pub y_mean: Vec<f64>,
    /// Target scales.
    pub y_scale: Vec<f64>,
    /// Names of the feature columns that are constant on the training split and therefore
    /// dropped (standardised to exactly 0), in column order.
    #[serde(default)]
    pub dropped_features: Vec<String>,
    /// The 0-based indices of those columns, in the same order.
    #[serde(default)]
    pub dropped_columns: Vec<usize>,
}

/// Mean, population standard deviation and magnitude of one column.
#[derive(Clone, Copy, Debug)]
struct ColumnMoments {
    mean: f64,
    std: f64,
    max_abs: f64,
    /// Largest |value − mean|.
    max_dev: f64,
    constant: bool,
}

/// The spacing of f64 at `|v|`: the distance from `|v|` to the next larger f64 (to the next
/// smaller one at `f64::MAX`); 2⁻¹⁰⁷⁴ at 0.
fn ulp(v: f64) -> f64 {
    let a = v.abs();
    if a == f64::MAX {
        a - a.next_down()
    } else {
        a.next_up() - a
    }
}

/// The largest power of two ≤ `v` (at least 2⁻¹⁰²²), for a finite `v` > 0: dividing by it is
/// exact, so moments of the scaled column are the exact scaled moments.
fn power_of_two_scale(v: f64) -> f64 {
    let biased_exponent = ((v.to_bits() >> 52) & 0x7ff).max(1);
    f64::from_bits(biased_exponent << 52)
}

fn moments_of(m: MatRef<'_, f64>, j: usize) -> ColumnMoments {
    let n = m.nrows();
    let first = m[(0, j)];
    let max_abs = (0..n).map(|i| m[(i, j)].abs()).fold(0.0, f64::max);
    if (0..n).all(|i| m[(i, j)] == first) {
        return ColumnMoments {
            mean: first,
            std: 0.0,
            max_abs,
            max_dev: 0.0,
            constant: true,
        };
    }
    // Values / s lie in (−2, 2), so no sum below overflows.
    let s = power_of_two_scale(max_abs);
    let v = |i: usize| m[(i, j)] / s;
    let nf = n as f64;
    // Pass 1: the plain mean; its rounding error can be many standard deviations when the
    // column sits far from zero (1e14 + N(0, 1) over 10⁵ rows).
    let rough = (0..n).map(v).sum::<f64>() / nf;
    // Pass 2: deviations from it, nearly exact; their mean corrects it (Chan, Golub and
    // LeVeque's corrected two-pass algorithm). The correction is applied only when it exceeds
    // the worst-case rounding error of its own sum (n·ε·mean |d|): below that it is noise, the
    // plain mean is already accurate to ~n·ε standard deviations, and ordinary columns keep
    // the plain two-pass moments bit for bit.
    let (sum_d, sum_abs_d, sum_d2) = (0..n).fold((0.0, 0.0, 0.0), |(a, b, c), i| {
        let d = v(i) - rough;
        (a + d, b + d.abs(), c + d * d)
    });
    let correction = sum_d / nf;
    let noise = nf * f64::EPSILON * (sum_abs_d / nf);
    let (mean, var) = if correction.abs() > noise {
        (
            rough + correction,
            (sum_d2 / nf - correction * correction).max(0.0),
        )
    } else {
        (rough, sum_d2 / nf)
    };
    let max_dev = (0..n).map(|i| (v(i) - mean).abs()).fold(0.0, f64::max);
    // ulp(max_abs) / s is exact: s is a power of two.
    let tol = Standardiser::CONSTANT_ULPS as f64 * (ulp(max_abs) / s);
    ColumnMoments {
        mean: mean * s,
        std: var.sqrt() * s,
        max_abs,
        max_dev: max_dev * s,
        constant: max_dev <= tol,
    }
}

fn column_moments(m: MatRef<'_, f64>) -> Vec<ColumnMoments> {
    (0..m.ncols()).map(|j| moments_of(m, j)).collect()
}

/// `(v − mean) / scale` without overflow in `v − mean` when both are huge.
fn standardise(v: f64, mean: f64, scale: f64) -> f64 {
    let z = (v - mean) / scale;
    if z.is_finite() {
        z
    } else {
        v / scale - mean / scale
    }
}

impl Standardiser {
    /// A column is constant when every training value lies within this many ulps of the
    /// column's largest |value| from the column's mean. Equal values give deviations of 0 or
    /// of the mean's rounding (an ulp or two); 4 leaves room for both while keeping any column
    /// that f64 can resolve as varying (`1e14 + N(0, 1)` spans hundreds of ulps).
    pub const CONSTANT_ULPS: u32 = 4;

    /// The constant-column test in words, for messages and reports.
    pub const CONSTANT_RULE: &'static str =
        "all training values equal to within 4 ulps of the column's largest |value|";

    /// Fits means and scales on `train`, rejecting (naming the column and dataset) a constant
    /// target column and a column whose mean or scale cannot be represented in f64.
    pub fn fit(train: &Dataset) -> Result<Self> {
        let unrepresentable = |kind: &str, name: &str, c: &ColumnMoments| {
            Error::InvalidData(format!(
                "{kind} column {name:?} of dataset {}: its mean ({:e}) or standard deviation ({:e}) \
                 does not fit in f64 (values up to {:e}); rescale the column (e.g. change its units \
                 or take logarithms) or drop it",
                train.name, c.mean, c.std, c.max_abs
            ))
        };
        if train.n() == 0 {
            return Err(Error::InvalidData(format!(
                "cannot fit a standardiser on dataset {}: it has no rows",
                train.name
            )));
        }
        let (mut x_mean, mut x_scale) = (Vec::new(), Vec::new());
        let (mut dropped_features, mut dropped_columns) = (Vec::new(), Vec::new());
        for (j, c) in column_moments(train.x.as_ref()).iter().enumerate() {
            let name = &train.feature_names[j];
            if !(c.mean.is_finite() && c.std.is_finite()) {
                return Err(unrepresentable("feature", name, c));
            }
            x_mean.push(c.mean);
            if c.constant {
                x_scale.push(1.0);
                dropped_features.push(name.clone());
                dropped_columns.push(j);
            } else {
                x_scale.push(c.std);
            }
        }
        let (mut y_mean, mut y_scale) = (Vec::new(), Vec::new());
        for (j, c) in column_moments(train.y.as_ref()).iter().enumerate() {
            let name = &train.target_names[j];
            if !(c.mean.is_finite() && c.std.is_finite()) {
                return Err(unrepresentable("target", name, c));
            }
            if c.constant {
                return Err(Error::InvalidData(format!(
                    "target column {name:?} of dataset {} is constant on the training split: all \
                     its training values equal {:e} to within {} ulps of {:e} (largest deviation \
                     from their mean {:e}); choose a target that varies",
                    train.name,
                    c.mean,
                    Self::CONSTANT_ULPS,
                    c.max_abs,
                    c.max_dev
                )));
            }
            y_mean.push(c.mean);
            y_scale.push(c.std);
        }
        Ok(Self {
            x_mean,
            x_scale,
            y_mean,
            y_scale,
            dropped_features,
            dropped_columns,
        })
    }

    /// Applies the fitted transform to `data` (which may be the test split); dropped feature
    /// columns become exactly 0. Fails, naming the dataset, column and row, when a
    /// standardised value overflows (a value far outside the training range of a column with
    /// a tiny scale).
    pub fn apply(&self, data: &Dataset) -> Result<Dataset> {
        self.apply_rows(data, None)
    }

    /// [`Standardiser::apply`], with `rows[i]` the 0-based row of the original dataset that
    /// row i of `data` came from (for error messages).
    fn apply_rows(&self, data: &Dataset, rows: Option<&[usize]>) -> Result<Dataset> {
        if data.d() != self.x_mean.len() || data.k() != self.y_mean.len() {
            return Err(Error::Shape {
                context: format!("standardising dataset {}", data.name),
                expected: format!(
                    "{} feature and {} target columns",
                    self.x_mean.len(),
                    self.y_mean.len()
                ),
                got: format!("{} and {}", data.d(), data.k()),
            });
        }
        let mut keep = vec![true; data.d()];
        for &j in &self.dropped_columns {
            if let Some(k) = keep.get_mut(j) {
                *k = false;
            }
        }
        let x = Mat::from_fn(data.n(), data.d(), |i, j| {
            if keep[j] {
                standardise(data.x[(i, j)], self.x_mean[j], self.x_scale[j])
            } else {
                0.0
            }
        });
        let y = Mat::from_fn(data.n(), data.k(), |i, j| {
            standardise(data.y[(i, j)], self.y_mean[j], self.y_scale[j])
        });
        for (m, raw, names, mean, scale, kind) in [
            (
                &x,
                &data.x,
                &data.feature_names,
                &self.x_mean,
                &self.x_scale,
                "feature",
            ),
            (
                &y,
                &data.y,
                &data.target_names,
                &self.y_mean,
                &self.y_scale,
                "target",
            ),
        ] {
            if let Some((i, j)) = first_non_finite(m.as_ref()) {
                let row = rows.and_then(|r| r.get(i)).copied().unwrap_or(i);
                return Err(Error::InvalidData(format!(
                    "dataset {}: standardising {kind} column {:?} overflows at row {} (value {:e}, \
                     training mean {:e}, scale {:e}); the value lies too far outside the training \
                     range for f64; rescale or clip the column, or drop it",
                    data.name,
                    names[j],
                    row + 1,
                    raw[(i, j)],
                    mean[j],
                    scale[j]
                )));
            }
        }
        Ok(Dataset {
            x,
            y,
            ..data.clone()
        })
    }
}

/// A standardised train/test split. All trainers of a run receive the same one.
#[derive(Clone, Debug)]
pub struct Split {
    /// Standardised training set.
    pub train: Dataset,
    /// Standardised test set (transformed with the training statistics).
    pub test: Dataset,
    /// The transform, fitted on the raw training rows.
    pub standardiser: Standardiser,
    /// The 0-based rows of the source dataset in the training set, in its order.
    pub train_rows: Vec<usize>,
    /// The 0-based rows of the source dataset in the test set, in its order.
    pub test_rows: Vec<usize>,
}

impl Split {
    /// Default fraction of rows held out for testing.
    pub const DEFAULT_TEST_FRACTION: f64 = 0.2;

    /// Shuffles rows with `seed`, holds out `round(n · test_fraction)` rows (at least one) for
    /// testing, fits the standardiser on the rest and applies it to both.
    pub fn new(data: &Dataset, test_fraction: f64, seed: u64) -> Result<Self> {
        if !(test_fraction > 0.0 && test_fraction < 1.0) {
            return Err(Error::config(
                "test fraction",
                test_fraction,
                "must lie in (0, 1), e.g. 0.2",
            ));
        }
        let n = data.n();
        let n_test = ((n as f64 * test_fraction).round() as usize).max(1);
        if n < 3 || n_test + 2 > n {
            return Err(Error::InvalidData(format!(
                "dataset {} has too few rows to split ({n} rows, test fraction {test_fraction}): \
                 need at least 2 training rows and 1 test row; add rows or lower the test fraction",
                data.name
            )));
        }
        let perm = rng::permutation(&mut rng::rng(seed), n);
        let (test_idx, train_idx) = perm.split_at(n_test);
        let raw_train = data.select_rows(train_idx);
        let raw_test = data.select_rows(test_idx);
        let standardiser = Standardiser::fit(&raw_train)?;
        Ok(Self {
            train: standardiser.apply_rows(&raw_train, Some(train_idx))?,
            test: standardiser.apply_rows(&raw_test, Some(test_idx))?,
            standardiser,
            train_rows: train_idx.to_vec(),
            test_rows: test_idx.to_vec(),
        })
    }

    /// Names of the feature columns dropped because they are constant on the training split
    /// (they are all zeros in both splits); see [`Standardiser::dropped_features`].
    pub fn dropped_features(&self) -> &[String] {
        &self.standardiser.dropped_features
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOL: f64 = 1e-12;

    /// (means, standard deviations) of every column, for the assertions below.
    fn mean_std(m: MatRef<'_, f64>) -> (Vec<f64>, Vec<f64>) {
        column_moments(m).iter().map(|c| (c.mean, c.std)).unzip()
    }

    /// The naive two-pass moments the standardiser used before overflow-safe scaling.
    fn naive_mean_std(m: MatRef<'_, f64>) -> (Vec<f64>, Vec<f64>) {
        let n = m.nrows() as f64;
        (0..m.ncols())
            .map(|j| {
                let mean = (0..m.nrows()).map(|i| m[(i, j)]).sum::<f64>() / n;
                let var = (0..m.nrows())
                    .map(|i| (m[(i, j)] - mean).powi(2))
                    .sum::<f64>()
                    / n;
                (mean, var.sqrt())
            })
            .unzip()
    }

    fn dataset(x: Mat<f64>, y: Mat<f64>) -> Dataset {
        let names = (0..x.ncols()).map(|j| format!("f{j}")).collect();
        Dataset::new("synthetic-test", x, y, names, vec!["t".into()], "test").unwrap()
    }

    fn toy(n: usize) -> Dataset {
        let x = Mat::from_fn(n, 2, |i, j| {
            (i * (j + 1)) as f64 + if j == 1 { (i % 3) as f64 } else { 0.0 }
        });
        let y = Mat::from_fn(n, 1, |i, _| (i as f64).sin() * 10.0 + 3.0);
        Dataset::new(
            "toy",
            x,
            y,
            vec!["a".into(), "b".into()],
            vec!["t".into()],
            "test",
        )
        .unwrap()
    }

    #[test]
    fn standardiser_is_fitted_on_train_only() {
        let s = Split::new(&toy(50), 0.2, 7).unwrap();
        assert_eq!((s.train.n(), s.test.n()), (40, 10));
        // Train columns have mean 0 and unit scale; test columns in general do not.
        let (m, sd) = mean_std(s.train.x.as_ref());
        assert!(m.iter().all(|v| v.abs() < TOL) && sd.iter().all(|v| (v - 1.0).abs() < TOL));
        let (ym, ysd) = mean_std(s.train.y.as_ref());
        assert!(ym[0].abs() < TOL && (ysd[0] - 1.0).abs() < TOL);
        let (tm, _) = mean_std(s.test.y.as_ref());
        assert!(tm[0].abs() > TOL, "test mean should not be exactly zero");
        // The standardiser equals one fitted on the raw training rows.
        let raw_train_rows: Vec<usize> = {
            let perm = rng::permutation(&mut rng::rng(7), 50);
            perm[10..].to_vec()
        };
        let direct = Standardiser::fit(&toy(50).select_rows(&raw_train_rows)).unwrap();
        assert_eq!(direct, s.standardiser);
    }

    #[test]
    fn split_is_seeded() {
        let a = Split::new(&toy(30), 0.2, 1).unwrap();
        let b = Split::new(&toy(30), 0.2, 1).unwrap();
        let c = Split::new(&toy(30), 0.2, 2).unwrap();
        assert_eq!(a.test.x, b.test.x);
        assert_ne!(a.test.x, c.test.x);
    }

    #[test]
    fn bad_data_is_rejected_with_location() {
        let mut x = Mat::zeros(3, 2);
        x[(1, 1)] = f64::NAN;
        let err = Dataset::new(
            "d",
            x,
            Mat::zeros(3, 1),
            vec!["a".into(), "b".into()],
            vec!["t".into()],
            "",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("row 2") && err.contains("\"b\""), "{err}");
        assert!(Dataset::new("d", Mat::zeros(0, 2), Mat::zeros(0, 1), vec![], vec![], "").is_err());
        let err = Split::new(&toy(2), 0.2, 0).unwrap_err().to_string();
        assert!(err.contains("too few rows"), "{err}");
        let constant = Dataset::new(
            "c",
            Mat::from_fn(10, 1, |i, _| i as f64),
            Mat::from_fn(10, 1, |_, _| 4.0),
            vec!["a".into()],
            vec!["t".into()],
            "",
        )
        .unwrap();
        let err = Split::new(&constant, 0.2, 0).unwrap_err().to_string();
        assert!(err.contains("constant"), "{err}");
    }

    #[test]
    fn moments_on_ordinary_data_equal_the_plain_two_pass_formula() {
        let data = toy(50);
        for m in [data.x.as_ref(), data.y.as_ref()] {
            assert_eq!(mean_std(m), naive_mean_std(m));
        }
        let odd = Mat::from_fn(37, 3, |i, j| {
            ((i * 13 + j * 7) % 17) as f64 * 0.37 - 2.1e3 * j as f64
        });
        let ((m, sd), (naive_m, naive_sd)) = (mean_std(odd.as_ref()), naive_mean_std(odd.as_ref()));
        assert_eq!(sd, naive_sd);
        // Columns 1 and 2 lie far from zero (mean −2097, std 1.8): the plain mean is off by an
        // ulp, which the correction pass removes.
        assert_eq!(m[0], naive_m[0]);
        assert_eq!((m[1], m[2]), (-2097.02, -4196.98), "plain: {naive_m:?}");
    }

    #[test]
    fn a_target_of_magnitude_1e200_does_not_overflow_the_variance() {
        // The naive variance is (1e200)² = inf: the column was zeroed and every MSE read 0.
        let x = Mat::from_fn(40, 1, |i, _| i as f64);
        let y = Mat::from_fn(40, 1, |i, _| 1e200 * (1.0 + (i % 5) as f64));
        let s = Split::new(&dataset(x, y), 0.2, 3).unwrap();
        let (ym, ysd) = mean_std(s.train.y.as_ref());
        assert!(
            ym[0].abs() < TOL && (ysd[0] - 1.0).abs() < TOL,
            "{ym:?} {ysd:?}"
        );
        let scale = s.standardiser.y_scale[0];
        assert!(scale.is_finite() && scale > 1e199, "target scale {scale}");
        assert!(s.test.y.col_as_slice(0).iter().any(|v| v.abs() > 0.1));
    }

    #[test]
    fn a_feature_above_1e154_does_not_overflow_the_variance() {
        let x = Mat::from_fn(40, 2, |i, j| {
            if j == 0 {
                1e300 * ((i % 7) as f64 - 3.0)
            } else {
                i as f64
            }
        });
        let y = Mat::from_fn(40, 1, |i, _| (i as f64).cos());
        let s = Split::new(&dataset(x, y), 0.2, 3).unwrap();
        let (m, sd) = mean_std(s.train.x.as_ref());
        assert!(
            m[0].abs() < TOL && (sd[0] - 1.0).abs() < TOL,
            "{m:?} {sd:?}"
        );
        assert!(s.standardiser.dropped_features.is_empty());
    }

    #[test]
    fn values_whose_difference_overflows_still_standardise() {
        // ±1.5e308: the mean is finite but v − mean would overflow without the guarded formula.
        let x = Mat::from_fn(40, 1, |i, _| if i % 2 == 0 { 1.5e308 } else { -1.5e308 });
        let y = Mat::from_fn(40, 1, |i, _| i as f64);
        let s = Split::new(&dataset(x, y), 0.2, 1).unwrap();
        assert!(
            s.train
                .x
                .col_as_slice(0)
                .iter()
                .all(|v| v.is_finite() && v.abs() <= 2.0)
        );
    }

    #[test]
    fn a_standardised_value_that_overflows_is_rejected_with_dataset_column_and_row() {
        // Training values around 1e-300 (scale ~1e-301), one huge test value: z = inf.
        let data = dataset(
            Mat::from_fn(10, 1, |i, _| {
                if i == 9 {
                    1e300
                } else {
                    1e-300 * (1.0 + i as f64)
                }
            }),
            Mat::from_fn(10, 1, |i, _| i as f64),
        );
        let standardiser = Standardiser::fit(&data.select_rows(&[0, 1, 2, 3, 4, 5])).unwrap();
        let err = standardiser.apply(&data).unwrap_err().to_string();
        assert!(
            err.contains("synthetic-test")
                && err.contains("\"f0\"")
                && err.contains("row 10")
                && err.contains("overflows"),
            "{err}"
        );
    }

    #[test]
    fn a_feature_in_units_of_1e_14_is_kept_and_standardised_to_unit_variance() {
        // Formerly std ≤ 1e-12·max(|mean|, 1) dropped it as constant without a word.
        let x = Mat::from_fn(40, 1, |i, _| 1e-14 * ((i % 9) as f64 + 0.5));
        let y = Mat::from_fn(40, 1, |i, _| (i % 9) as f64);
        let s = Split::new(&dataset(x, y), 0.2, 5).unwrap();
        assert!(
            s.dropped_features().is_empty(),
            "{:?}",
            s.dropped_features()
        );
        let (m, sd) = mean_std(s.train.x.as_ref());
        assert!(
            m[0].abs() < TOL && (sd[0] - 1.0).abs() < TOL,
            "{m:?} {sd:?}"
        );
    }

    #[test]
    fn a_target_with_std_1e_14_around_mean_1e_13_is_accepted() {
        // Formerly rejected as "constant" by the absolute tolerance.
        let x = Mat::from_fn(40, 1, |i, _| i as f64);
        let y = Mat::from_fn(40, 1, |i, _| {
            1e-13 + 1e-14 * if i % 2 == 0 { 1.0 } else { -1.0 }
        });
        let s = Split::new(&dataset(x, y), 0.2, 5).unwrap();
        let (ym, ysd) = mean_std(s.train.y.as_ref());
        assert!(
            ym[0].abs() < 1e-6 && (ysd[0] - 1.0).abs() < 1e-6,
            "{ym:?} {ysd:?}"
        );
        let scale = s.standardiser.y_scale[0];
        assert!((scale / 1e-14 - 1.0).abs() < 0.2, "target scale {scale}");
    }

    #[test]
    fn a_truly_constant_feature_is_reported_by_name_and_standardised_to_zero() {
        // Columns: varying, constant 0.1 (its mean is inexact in f64), varying, constant 7.
        let x = Mat::from_fn(30, 4, |i, j| match j {
            1 => 0.1,
            3 => 7.0,
            _ => (i * (j + 1)) as f64,
        });
        let y = Mat::from_fn(30, 1, |i, _| (i as f64).sin());
        let s = Split::new(&dataset(x, y), 0.2, 2).unwrap();
        assert_eq!(s.dropped_features(), ["f1", "f3"]);
        assert_eq!(s.standardiser.dropped_columns, [1, 3]);
        for data in [&s.train, &s.test] {
            for j in [1, 3] {
                assert!(data.x.col_as_slice(j).iter().all(|&v| v == 0.0));
            }
        }
        // Values that differ only by rounding (0.1 + 0.2 and 0.3 are one ulp apart) are
        // constant too.
        let x = Mat::from_fn(30, 1, |i, _| if i % 2 == 0 { 0.1 + 0.2 } else { 0.3 });
        let y = Mat::from_fn(30, 1, |i, _| i as f64);
        let s = Split::new(&dataset(x, y), 0.2, 2).unwrap();
        assert_eq!(s.dropped_features(), ["f0"]);
        // A column varying by 10⁻¹⁴ of its magnitude (86 ulps at 10⁶) is not: it was dropped
        // under the old rule (std ≤ 1e-12 · max |value|).
        let x = Mat::from_fn(30, 1, |i, _| 1e6 * (1.0 + 1e-14 * (i % 2) as f64));
        let y = Mat::from_fn(30, 1, |i, _| i as f64);
        let s = Split::new(&dataset(x, y), 0.2, 2).unwrap();
        assert!(
            s.dropped_features().is_empty(),
            "{:?}",
            s.dropped_features()
        );
    }

    /// (mean, population std) of column `j`, plainly (for ordinary magnitudes).
    fn plain_mean_std(m: MatRef<'_, f64>, j: usize) -> (f64, f64) {
        let (means, stds) = naive_mean_std(m);
        (means[j], stds[j])
    }

    #[test]
    fn a_feature_1e14_plus_unit_noise_carrying_the_signal_is_kept_and_standardised() {
        // Issue #24: std 1 ≤ 1e-12 · 1e14 called it constant and dropped it (OLS test MSE 0.84
        // instead of ~0.01). At 10⁵ rows the plain mean is off by several standard deviations,
        // so this also checks the corrected two-pass mean and variance.
        for n in [200, 100_000] {
            let mut r = rng::rng(11);
            let z: Vec<f64> = (0..n).map(|_| rng::normal(&mut r)).collect();
            let x = Mat::from_fn(
                n,
                2,
                |i, j| if j == 0 { 1e14 + z[i] } else { (i % 7) as f64 },
            );
            let y = Mat::from_fn(n, 1, |i, _| 2.0 * z[i]);
            let s = Split::new(&dataset(x, y), 0.2, 4).unwrap();
            assert!(
                s.dropped_features().is_empty(),
                "n = {n}: {:?}",
                s.dropped_features()
            );
            // The mean itself lies on f64's grid of 1/64 at 10¹⁴, so centred values are off by
            // up to half of that (the std is 1).
            let (m, sd) = plain_mean_std(s.train.x.as_ref(), 0);
            assert!(
                m.abs() < 1.0 / 128.0 && (sd - 1.0).abs() < 1e-9,
                "n = {n}: mean {m}, std {sd}"
            );
            // The standardised feature is the standardised target up to the 1/64 grid of f64
            // at 10¹⁴ (relative to a std of 1).
            let worst = (0..s.train.n())
                .map(|i| (s.train.x[(i, 0)] - s.train.y[(i, 0)]).abs())
                .fold(0.0, f64::max);
            assert!(worst < 0.05, "n = {n}: largest difference {worst}");
        }
    }

    #[test]
    fn targets_far_from_zero_that_vary_are_accepted() {
        // 1e14 + y with std 3, and 9007199254740993 + row index (std 57, f64 grid 2).
        let mut r = rng::rng(5);
        let z: Vec<f64> = (0..200).map(|_| rng::normal(&mut r)).collect();
        let targets: [Box<dyn Fn(usize) -> f64>; 2] = [
            Box::new(|i| 1e14 + 3.0 * z[i]),
            Box::new(|i| 9_007_199_254_740_993.0 + i as f64),
        ];
        for (t, target) in targets.iter().enumerate() {
            let x = Mat::from_fn(200, 1, |i, _| z[(i + 1) % 200]);
            let y = Mat::from_fn(200, 1, |i, _| target(i));
            let s =
                Split::new(&dataset(x, y), 0.2, 9).unwrap_or_else(|e| panic!("target {t}: {e}"));
            // Centred up to half of f64's grid at the mean (1/64 and 2; the stds are 3 and 57).
            let (m, sd) = plain_mean_std(s.train.y.as_ref(), 0);
            assert!(
                m.abs() < 0.02 && (sd - 1.0).abs() < 1e-9,
                "target {t}: {m} {sd}"
            );
        }
    }

    #[test]
    fn a_constant_target_error_names_the_ulp_rule() {
        let x = Mat::from_fn(20, 1, |i, _| i as f64);
        let y = Mat::from_fn(20, 1, |i, _| if i % 3 == 0 { 0.1 + 0.2 } else { 0.3 });
        let err = Standardiser::fit(&dataset(x, y)).unwrap_err().to_string();
        assert!(
            err.contains("\"t\"") && err.contains("constant") && err.contains("within 4 ulps of"),
            "{err}"
        );
    }

    /// Rows 0..6 of a small dataset: rows 3 and 5 copy row 0, row 4 copies row 1 in x but not
    /// in y, row 2 is −0 where row 1 is 0 (equal values).
    fn with_duplicates() -> Dataset {
        let x = [
            [1.0, 2.0],
            [0.0, 5.0],
            [-0.0, 5.0],
            [1.0, 2.0],
            [0.0, 5.0],
            [1.0, 2.0],
        ];
        let y = [7.0, 8.0, 8.0, 7.0, 9.0, 7.0];
        dataset(
            Mat::from_fn(6, 2, |i, j| x[i][j]),
            Mat::from_fn(6, 1, |i, _| y[i]),
        )
    }

    #[test]
    fn duplicate_rows_are_counted_and_removed_keeping_the_first_copy() {
        let d = with_duplicates();
        assert_eq!(
            d.duplicate_row_flags(),
            [false, false, true, true, false, true]
        );
        assert_eq!(d.duplicate_rows(), 3);
        let (kept, removed) = d.without_duplicate_rows();
        assert_eq!(removed, 3);
        assert_eq!(kept.y.col_as_slice(0), [7.0, 8.0, 9.0]);
        assert_eq!(kept.duplicate_rows(), 0);
        assert_eq!(toy(30).duplicate_rows(), 0);
    }

    #[test]
    fn test_rows_with_a_copy_among_the_training_rows_are_counted() {
        let d = with_duplicates();
        // Test rows 3 (copy of 0) and 4 (its x matches row 1, its y does not).
        assert_eq!(d.rows_with_copy_in(&[3, 4], &[0, 1, 2, 5]), 1);
        assert_eq!(d.rows_with_copy_in(&[0, 3, 5], &[1, 2, 4]), 0);
        assert_eq!(d.rows_with_copy_in(&[4, 99], &[0, 1, 2, 3, 5]), 0);
        // A split records its rows, so the crossing can be counted for it.
        let data = toy(30);
        let s = Split::new(&data, 0.2, 3).unwrap();
        assert_eq!((s.train_rows.len(), s.test_rows.len()), (24, 6));
        assert_eq!(
            s.train.x[(0, 0)],
            s.standardiser
                .apply(&data.select_rows(&s.train_rows[..1]))
                .unwrap()
                .x[(0, 0)]
        );
        assert_eq!(data.rows_with_copy_in(&s.test_rows, &s.train_rows), 0);
    }

    #[test]
    fn columns_near_f64_max_have_finite_moments_and_a_constant_one_is_named() {
        // Every value is f64::MAX: the column is constant, so its mean is the value itself;
        // a column that varies near f64::MAX still has a finite mean and scale.
        let x = Mat::from_fn(
            10,
            1,
            |i, _| if i % 2 == 0 { f64::MAX } else { f64::MAX / 2.0 },
        );
        let y = Mat::from_fn(10, 1, |i, _| i as f64);
        let s = Standardiser::fit(&dataset(x, y)).unwrap();
        assert!(s.x_mean[0].is_finite() && s.x_scale[0].is_finite());
        let y = Mat::from_fn(10, 1, |_, _| f64::MAX);
        let err = Standardiser::fit(&dataset(Mat::from_fn(10, 1, |i, _| i as f64), y))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"t\"") && err.contains("synthetic-test") && err.contains("constant"),
            "{err}"
        );
    }
}
