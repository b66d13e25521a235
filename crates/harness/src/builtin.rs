//! The built-in real datasets, compiled into the binary from `data/` (no download).

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
