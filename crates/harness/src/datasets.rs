//! The dataset registry: built-in real datasets (embedded, no download), synthetic problems
//! with parameters in the name, and user CSV files.

use crate::csv_data;
use crate::error::{HarnessError, Result};
use fitbench_core::synthetic::{self, SyntheticEntry};
use fitbench_core::{Dataset, Options};
use fitbench_report::config::CsvSpec;
use fitbench_report::schema::slug;

/// A real dataset compiled into the binary from `data/` (see `data/README.md`).
#[derive(Debug)]
pub struct BuiltinDataset {
    /// Registry name.
    pub name: &'static str,
    /// Target column (the last column of the file).
    pub target: &'static str,
    /// One-line description with the source and licence.
    pub description: &'static str,
    /// The gzip-compressed CSV.
    pub bytes: &'static [u8],
}

/// Every built-in real dataset.
pub const BUILTIN: &[BuiltinDataset] = &[
    BuiltinDataset {
        name: "diabetes",
        target: "progression",
        description: "442×10, disease progression after one year (Efron et al. 2004; via linfa-datasets 0.8.1, all 442 rows)",
        bytes: include_bytes!("../../../data/diabetes.csv.gz"),
    },
    BuiltinDataset {
        name: "wine-red",
        target: "quality",
        description: "1599×11, red vinho verde quality score 3–8 (Cortez et al. 2009, CC BY 4.0; via linfa-datasets 0.8.1)",
        bytes: include_bytes!("../../../data/winequality-red.csv.gz"),
    },
    BuiltinDataset {
        name: "boston",
        target: "medv",
        description: "506×13, median house value (Harrison & Rubinfeld 1978; via smartcore 0.7.0). ETHICS CAVEAT: column \"b\" encodes the proportion of Black residents; kept only for comparability with the literature",
        bytes: include_bytes!("../../../data/boston.csv.gz"),
    },
    BuiltinDataset {
        name: "penguins",
        target: "body_mass_g",
        description: "333×9, penguin body mass from bill, flipper, year and 0/1 species/island/sex (Gorman et al. 2014, CC0; via palmerpenguins 0.1.6)",
        bytes: include_bytes!("../../../data/penguins.csv.gz"),
    },
    BuiltinDataset {
        name: "auto-mpg",
        target: "mpg",
        description: "392×8, fuel economy of 1970–82 cars (Quinlan 1993, UCI, CC BY 4.0; via vega_datasets 0.9.0)",
        bytes: include_bytes!("../../../data/auto-mpg.csv.gz"),
    },
    BuiltinDataset {
        name: "bikeshare",
        target: "bikers",
        description: "8645×11, hourly Capital Bikeshare rentals in Washington DC in 2011 from calendar and weather (Fanaee-T & Gama 2013, UCI, CC BY 4.0; via ISLP 0.4.0)",
        bytes: include_bytes!("../../../data/bikeshare.csv.gz"),
    },
    BuiltinDataset {
        name: "meps",
        target: "ldrugexp",
        description: "10391×22, log out-of-pocket prescription-drug spending of US adults aged 65+ (MEPS extract of Cameron & Trivedi 2010, US public domain; via linearmodels 7.1)",
        bytes: include_bytes!("../../../data/meps.csv.gz"),
    },
];

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
        match synthetic::entry(&generator) {
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
        synthetic::entry(&generator).map(|e| (e, options))
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

    /// Rows and features a synthetic spec will generate (from its options and defaults),
    /// known before generating; `None` for other datasets.
    pub fn synthetic_shape(&self) -> Option<(usize, usize)> {
        let (entry, options) = self.synthetic()?;
        let get = |key: &str| entry.value(&options, key)?.parse::<usize>().ok();
        // Generators without a `d` option are two-dimensional (smooth2d).
        Some((get("n")?, get("d").unwrap_or(2)))
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
                let entry =
                    synthetic::entry(&generator).ok_or_else(|| fitbench_core::Error::Unknown {
                        kind: "dataset",
                        name: s.clone(),
                        known: known_names(),
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
    names.extend(
        synthetic::SYNTHETIC
            .iter()
            .map(|g| format!("{}[:key=value,…]", g.name)),
    );
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
