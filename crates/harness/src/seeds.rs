//! The seeds of every run, derived from (base seed, dataset, repetition) and, for the
//! trainer's own seed, its label: split and initial-weight seeds never depend on the trainer.

use fitbench_core::rng;
use fitbench_report::schema::RunSeeds;

/// All seeds of one run: split and initial weights from (base, dataset, repetition), shared
/// by every trainer; the trainer's own seed also from its label.
pub fn run_seeds(base: u64, dataset: &str, label: &str, repetition: usize) -> RunSeeds {
    let (split, init) = split_and_init_seeds(base, dataset, repetition);
    RunSeeds {
        split,
        init,
        trainer: rng::derive_seed(base, &[dataset, label, &repetition.to_string()]),
    }
}

/// Seeds of one (dataset, repetition): shared by every trainer.
pub fn split_and_init_seeds(base: u64, dataset: &str, repetition: usize) -> (u64, u64) {
    let rep = repetition.to_string();
    (
        rng::derive_seed(base, &[dataset, "split", &rep]),
        rng::derive_seed(base, &[dataset, "init", &rep]),
    )
}
