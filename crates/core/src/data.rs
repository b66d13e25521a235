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
/// Scales are population standard deviations. A constant feature column gets scale 1 (it
/// becomes all zeros); a constant target column is an error, since MSE in standardised
/// units would be undefined.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Standardiser {
    /// Feature means.
    pub x_mean: Vec<f64>,
    /// Feature scales.
    pub x_scale: Vec<f64>,
    /// Target means.
    pub y_mean: Vec<f64>,
    /// Target scales.
    pub y_scale: Vec<f64>,
}

fn column_moments(m: MatRef<'_, f64>) -> (Vec<f64>, Vec<f64>) {
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

impl Standardiser {
    /// Relative scale below which a column counts as constant.
    pub const CONSTANT_TOL: f64 = 1e-12;

    /// Fits means and scales on `train`.
    pub fn fit(train: &Dataset) -> Result<Self> {
        let (x_mean, mut x_scale) = column_moments(train.x.as_ref());
        for (s, m) in x_scale.iter_mut().zip(&x_mean) {
            if *s <= Self::CONSTANT_TOL * m.abs().max(1.0) {
                *s = 1.0;
            }
        }
        let (y_mean, y_scale) = column_moments(train.y.as_ref());
        for (j, (s, m)) in y_scale.iter().zip(&y_mean).enumerate() {
            if *s <= Self::CONSTANT_TOL * m.abs().max(1.0) {
                return Err(Error::InvalidData(format!(
                    "target column {:?} of dataset {} is constant ({m}) on the training split; \
                     choose a target that varies",
                    train.target_names[j], train.name
                )));
            }
        }
        Ok(Self {
            x_mean,
            x_scale,
            y_mean,
            y_scale,
        })
    }

    /// Applies the fitted transform to `data` (which may be the test split).
    pub fn apply(&self, data: &Dataset) -> Dataset {
        Dataset {
            x: Mat::from_fn(data.n(), data.d(), |i, j| {
                (data.x[(i, j)] - self.x_mean[j]) / self.x_scale[j]
            }),
            y: Mat::from_fn(data.n(), data.k(), |i, j| {
                (data.y[(i, j)] - self.y_mean[j]) / self.y_scale[j]
            }),
            ..data.clone()
        }
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
            train: standardiser.apply(&raw_train),
            test: standardiser.apply(&raw_test),
            standardiser,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOL: f64 = 1e-12;

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
        let (m, sd) = column_moments(s.train.x.as_ref());
        assert!(m.iter().all(|v| v.abs() < TOL) && sd.iter().all(|v| (v - 1.0).abs() < TOL));
        let (ym, ysd) = column_moments(s.train.y.as_ref());
        assert!(ym[0].abs() < TOL && (ysd[0] - 1.0).abs() < TOL);
        let (tm, _) = column_moments(s.test.y.as_ref());
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
}
