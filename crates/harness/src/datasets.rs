//! The dataset registry: built-in real datasets (embedded, no download), synthetic problems
//! with parameters in the name, and user CSV files.

use crate::csv_data;
use crate::error::{HarnessError, Result};
use crate::registry;
use fitbench_core::synthetic::SyntheticEntry;
use fitbench_core::{Dataset, Options};
use fitbench_report::config::CsvSpec;
use fitbench_report::schema::slug;

pub use crate::builtin::{BUILTIN, BuiltinDataset};

/// A resolved dataset request.
#[derive(Clone, Debug, PartialEq)]
pub enum DatasetSpec {
    /// A built-in real dataset, by index into [`BUILTIN`].
    Builtin(usize),
    /// A synthetic generator with its parameters, e.g. `teacher:d=16,h=8,n=5000,noise=0.1`.
    Synthetic(String),
    /// A user CSV file.
    Csv(CsvSpec),
}

impl DatasetSpec {
    /// Resolves a registry name: a built-in dataset or `GENERATOR[:key=value,…]`. A
    /// generator's options are checked now, so errors surface before any run: unknown keys,
    /// values of the wrong type, and values that cannot make a usable dataset (e.g.
    /// `teacher:n=1`, too few rows for a train/test split; see
    /// [`SyntheticEntry::validate`]).
    pub fn parse(name: &str) -> Result<Self> {
        if let Some(i) = BUILTIN.iter().position(|b| b.name == name) {
            return Ok(DatasetSpec::Builtin(i));
        }
        let (generator, options) = Options::parse_named(name)?;
        match registry::generator(&generator) {
            Some(entry) => {
                entry.validate(&options)?;
                Ok(DatasetSpec::Synthetic(name.to_string()))
            }
            None => Err(fitbench_core::Error::Unknown {
                kind: "dataset",
                name: name.into(),
                known: known_names(),
            }
            .into()),
        }
    }

    /// The generator's entry and options of a synthetic spec.
    fn synthetic(&self) -> Option<(&'static SyntheticEntry, Options)> {
        let DatasetSpec::Synthetic(s) = self else {
            return None;
        };
        let (generator, options) = Options::parse_named(s).ok()?;
        registry::generator(&generator).map(|e| (e, options))
    }

    /// A planted generator ([`SyntheticEntry::planted`]) run with `noise=0`: the infimum of
    /// the train MSE is exactly 0.
    pub fn is_noise_free_teacher(&self) -> bool {
        self.synthetic().is_some_and(|(e, o)| {
            e.planted
                && e.value(&o, "noise")
                    .and_then(|v| v.parse::<f64>().ok())
                    .is_some_and(|v| v == 0.0)
        })
    }

    /// The name known before loading. For built-in and synthetic datasets it is the
    /// dataset's name in reports (equal to the loaded [`Dataset::name`]). A CSV file's name
    /// depends on its content ([`csv_data::content_name`]) and is known only after
    /// [`DatasetSpec::load`]: use the loaded [`Dataset::name`]; here it is `csv:PATH`, a label
    /// of the request only.
    pub fn name(&self) -> String {
        match self {
            DatasetSpec::Builtin(i) => BUILTIN[*i].name.to_string(),
            DatasetSpec::Synthetic(s) => s.clone(),
            DatasetSpec::Csv(c) => format!("csv:{}", c.path),
        }
    }

    /// Rows and features a synthetic spec will generate (from its options and defaults, the
    /// features as its entry declares them: [`SyntheticEntry::shape`]), known before
    /// generating; `None` for other datasets.
    pub fn synthetic_shape(&self) -> Option<(usize, usize)> {
        let (entry, options) = self.synthetic()?;
        entry.shape(&options)
    }

    /// Loads or generates the data. The result's [`Dataset::name`] is the dataset's name in
    /// reports, from which its seeds derive; for a CSV file it comes from the content, so
    /// every spelling of the path gives the same name (the path is in the provenance).
    pub fn load(&self) -> Result<Dataset> {
        match self {
            DatasetSpec::Builtin(i) => {
                let b = &BUILTIN[*i];
                csv_data::parse_csv(
                    b.bytes,
                    &format!("built-in {}", b.name),
                    b.name,
                    b.target,
                    &[],
                    b.description,
                )
            }
            DatasetSpec::Csv(c) => csv_data::load_csv_file(c),
            DatasetSpec::Synthetic(s) => {
                let (generator, options) = Options::parse_named(s)?;
                let entry = registry::generator(&generator).ok_or_else(|| {
                    fitbench_core::Error::Unknown {
                        kind: "dataset",
                        name: s.clone(),
                        known: known_names(),
                    }
                })?;
                let mut data = entry.generate(&options)?;
                data.name = s.clone();
                Ok(data)
            }
        }
    }
}

/// Rejects a sweep that lists one dataset twice, by loaded name ([`Dataset::name`]: two
/// spellings of one CSV file are one dataset), or two datasets whose names map to the same
/// plot folder ([`slug`]). Either would overwrite plots and count runs twice in performance
/// profiles. Called by [`crate::runner::Plan::resolve`] before any run.
pub fn reject_duplicates<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<()> {
    let mut seen: Vec<&str> = Vec::new();
    for name in names {
        if seen.contains(&name) {
            return Err(HarnessError::Config(format!(
                "dataset {name:?} is listed twice; list each dataset once (--seeds sets the repetitions)"
            )));
        }
        if let Some(other) = seen.iter().find(|o| slug(o) == slug(name)) {
            return Err(HarnessError::Config(format!(
                "datasets {other:?} and {name:?} would write the same plot files (plots/{}); keep one of them",
                slug(name)
            )));
        }
        seen.push(name);
    }
    Ok(())
}

/// Every registry name, for error messages.
pub fn known_names() -> String {
    let mut names: Vec<String> = BUILTIN.iter().map(|b| b.name.to_string()).collect();
    names.extend(registry::generators().map(|g| format!("{}[:key=value,…]", g.name)));
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected (rows, features) of each built-in dataset.
    const SHAPES: &[(&str, usize, usize)] = &[
        ("diabetes", 442, 10),
        ("wine-red", 1599, 11),
        ("boston", 506, 13),
        ("penguins", 333, 9),
        ("auto-mpg", 392, 8),
        ("bikeshare", 8645, 11),
        ("meps", 10391, 22),
    ];

    #[test]
    fn builtin_datasets_load_with_their_documented_shapes() {
        assert_eq!(BUILTIN.len(), SHAPES.len());
        for (name, n, d) in SHAPES {
            let data = DatasetSpec::parse(name).unwrap().load().unwrap();
            assert_eq!((data.n(), data.d(), data.k()), (*n, *d, 1), "{name}");
        }
        // The first diabetes sample (target 151) is present (linfa-datasets 0.8.1 drops it).
        let diabetes = DatasetSpec::parse("diabetes").unwrap().load().unwrap();
        assert_eq!(diabetes.y[(0, 0)], 151.0);
    }

    #[test]
    fn synthetic_names_carry_parameters() {
        let d = DatasetSpec::parse("teacher:d=5,h=4/3,n=100,noise=0,seed=2")
            .unwrap()
            .load()
            .unwrap();
        assert_eq!((d.n(), d.d()), (100, 5));
        assert_eq!(d.name, "teacher:d=5,h=4/3,n=100,noise=0,seed=2");
        let d = DatasetSpec::parse("smooth2d").unwrap().load().unwrap();
        assert_eq!((d.n(), d.d()), (1000, 2));
    }

    #[test]
    fn unknown_names_and_keys_are_rejected_clearly() {
        let msg = DatasetSpec::parse("iris").unwrap_err().to_string();
        assert!(
            msg.contains("unknown dataset \"iris\"") && msg.contains("diabetes"),
            "{msg}"
        );
        let msg = DatasetSpec::parse("teacher:width=3")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("width") && msg.contains("act"), "{msg}");
        let msg = DatasetSpec::parse("linear:n=abc").unwrap_err().to_string();
        assert!(msg.contains("n") && msg.contains("abc"), "{msg}");
    }

    #[test]
    fn the_name_before_loading_is_the_loaded_name_except_for_csv_files() {
        for name in ["diabetes", "smooth2d:n=20", "teacher:d=2,n=10"] {
            let spec = DatasetSpec::parse(name).unwrap();
            assert_eq!(spec.name(), spec.load().unwrap().name, "{name}");
        }
    }

    #[test]
    fn duplicates_are_found_by_name_and_by_plot_folder() {
        reject_duplicates(["a", "b", "teacher:n=10"]).unwrap();
        let msg = reject_duplicates(["a", "b", "a"]).unwrap_err().to_string();
        assert!(msg.contains("dataset \"a\" is listed twice"), "{msg}");
        let msg = reject_duplicates(["x:n=1", "x_n_1"])
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("\"x:n=1\" and \"x_n_1\"") && msg.contains("plots/x_n_1"),
            "{msg}"
        );
    }

    #[test]
    fn noise_free_teachers_are_recognised_from_the_table() {
        let yes = |s: &str| DatasetSpec::parse(s).unwrap().is_noise_free_teacher();
        assert!(yes("teacher:noise=0"));
        assert!(yes("linear:n=50,noise=0"));
        assert!(!yes("teacher"), "default noise is 0.1");
        assert!(!yes("friedman1:noise=0"), "friedman1 plants no model");
        assert!(!yes("diabetes"));
    }
}
