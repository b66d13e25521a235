//! The seeds of every run, derived from (base seed, dataset, repetition) and, for the
//! trainer's own seed, its label: split and initial-weight seeds never depend on the trainer.
//!
//! A dataset enters the seeds through [`seed_key`]: its name, except that a CSV file's
//! readable stem is left out, so the seeds of a CSV dataset depend on its content and loading
//! options only (`crate::csv_data::csv_identity`).

use fitbench_core::rng;
use fitbench_report::schema::RunSeeds;
use std::borrow::Cow;

/// The part of dataset name `dataset` its seeds derive from: the name itself, except for a
/// CSV dataset (`csv:STEM@ID`, [`crate::csv_data::content_name`]), whose seeds come from
/// `csv@ID` alone. ID is the hash of the file's bytes and the loading options, so a copy, a
/// rename or a symlink of the file gets the same split, initial weights and trainer seeds.
/// Built-in and synthetic names never start with `csv:`.
pub fn seed_key(dataset: &str) -> Cow<'_, str> {
    match dataset
        .strip_prefix("csv:")
        .and_then(|rest| rest.rsplit_once('@'))
    {
        Some((_, id)) => Cow::Owned(format!("csv@{id}")),
        None => Cow::Borrowed(dataset),
    }
}

/// All seeds of one run: split and initial weights from (base, dataset, repetition), shared
/// by every trainer; the trainer's own seed also from its label. The dataset enters through
/// [`seed_key`].
pub fn run_seeds(base: u64, dataset: &str, label: &str, repetition: usize) -> RunSeeds {
    let (split, init) = split_and_init_seeds(base, dataset, repetition);
    let key = seed_key(dataset);
    RunSeeds {
        split,
        init,
        trainer: rng::derive_seed(base, &[&key, label, &repetition.to_string()]),
    }
}

/// Seeds of one (dataset, repetition): shared by every trainer. The dataset enters through
/// [`seed_key`].
pub fn split_and_init_seeds(base: u64, dataset: &str, repetition: usize) -> (u64, u64) {
    let rep = repetition.to_string();
    let key = seed_key(dataset);
    (
        rng::derive_seed(base, &[&key, "split", &rep]),
        rng::derive_seed(base, &[&key, "init", &rep]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csv_name_enters_the_seeds_without_its_stem() {
        assert_eq!(seed_key("csv:good@0123456789ab"), "csv@0123456789ab");
        assert_eq!(seed_key("csv:a@b@0123456789ab"), "csv@0123456789ab");
        assert_eq!(seed_key("diabetes"), "diabetes");
        assert_eq!(seed_key("teacher:n=100,d=4"), "teacher:n=100,d=4");
        assert_eq!(
            run_seeds(7, "csv:good@0123456789ab", "ols", 2),
            run_seeds(7, "csv:copy@0123456789ab", "ols", 2)
        );
        assert_ne!(
            run_seeds(7, "csv:good@0123456789ab", "ols", 2),
            run_seeds(7, "csv:good@0123456789ac", "ols", 2)
        );
    }
}
