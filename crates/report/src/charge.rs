//! Tuning charged to the trainer that needs it.
//!
//! A trainer whose learning rate was picked by a grid search ([`crate::config::LrGrid`]) ran
//! every grid point once (a *trial*, on a validation carve-out of the training split, one
//! thread) before its runs. Beside its time to each train-MSE target, every run gets three
//! figures ([`TimeBasis`]):
//!
//! - **selection-honest**: the time to target of the configuration chosen on the validation
//!   split, i.e. the run's own [`crate::schema::TargetHit::time_s`];
//! - **tuning-inclusive**: that time plus the training time of every *other* grid trial, as
//!   if the search had run sequentially on one thread before the run — a trainer without a
//!   tuned knob pays nothing, so for it the figure equals the selection-honest one;
//! - **optimistic** (the spirit of AlgoPerf's external-tuning score): the fastest way to the
//!   target in hindsight — the smaller of the run's own time and the time at which any other
//!   trial's train MSE on its fitting rows met the target (trials run `epochs` steps only, so
//!   a trial that needed more never counts).
//!
//! So optimistic ≤ selection-honest ≤ tuning-inclusive, with equality for untuned trainers.
//! The trials fit a subset (1 − `validation_fraction`) of repetition 0's training split,
//! from their own initial weights; for other repetitions those rows are not a subset of the
//! run's training split (some may be its test rows). The optimistic figure therefore mixes
//! different training sets: it is a hindsight bound, not a run anyone could have made.

use crate::config::TuningRecord;
use crate::schema::{Report, RunRecord};
use serde::{Deserialize, Serialize};

/// The relative drop in MSE below which a grid trial's descent is thinned
/// ([`TuningRecord::trial_envelope`]).
pub const ENVELOPE_REL: f64 = 5e-3;

/// Which time to a target a table, a performance profile or `check` uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TimeBasis {
    /// The chosen configuration's own time (the run's `time_s`).
    #[default]
    SelectionHonest,
    /// Plus the training time of every other grid trial.
    TuningInclusive,
    /// The fastest trial in hindsight.
    Optimistic,
}

impl TimeBasis {
    /// Every basis, in the order tables show them.
    pub const ALL: [TimeBasis; 3] = [
        TimeBasis::SelectionHonest,
        TimeBasis::TuningInclusive,
        TimeBasis::Optimistic,
    ];

    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            TimeBasis::SelectionHonest => "selection-honest",
            TimeBasis::TuningInclusive => "tuning-inclusive",
            TimeBasis::Optimistic => "optimistic",
        }
    }

    /// Parses [`TimeBasis::as_str`]'s names.
    pub fn parse(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|b| b.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown time basis '{s}': use one of {}",
                    Self::ALL.map(TimeBasis::as_str).join(", ")
                )
            })
    }
}

/// The grid search of `run`'s dataset and trainer label, if any. One whose every candidate
/// failed picked nothing (the run used its given value) but still cost its trials' time.
pub fn search_of<'a>(tuning: &'a [TuningRecord], run: &RunRecord) -> Option<&'a TuningRecord> {
    tuning
        .iter()
        .find(|t| t.dataset == run.dataset && t.trainer == run.trainer)
}

/// Index of the picked learning rate in its grid.
fn picked_index(search: &TuningRecord) -> Option<usize> {
    let picked = search.picked_lr?;
    search.tried().iter().position(|&v| v == picked)
}

/// The training time of every grid trial except the chosen one (all of them when none was
/// chosen; 0 without a search).
pub fn other_trials_s(search: Option<&TuningRecord>) -> f64 {
    let Some(search) = search else {
        return 0.0;
    };
    let chosen = picked_index(search);
    search
        .trial_s
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != chosen)
        .filter_map(|(_, s)| *s)
        .sum()
}

/// The time under `basis` of a run that got there at `selection_honest` (`None`: never),
/// where `trial_time(search, i)` is when trial `i` of its search got there.
fn charged(
    selection_honest: Option<f64>,
    search: Option<&TuningRecord>,
    basis: TimeBasis,
    trial_time: impl Fn(&TuningRecord, usize) -> Option<f64>,
) -> Option<f64> {
    match basis {
        TimeBasis::SelectionHonest => selection_honest,
        TimeBasis::TuningInclusive => selection_honest.map(|t| t + other_trials_s(search)),
        TimeBasis::Optimistic => {
            let others = search.into_iter().flat_map(|s| {
                let chosen = picked_index(s);
                (0..s.tried().len())
                    .filter(move |&i| Some(i) != chosen)
                    .filter_map(|i| trial_time(s, i))
                    .collect::<Vec<f64>>()
            });
            selection_honest
                .into_iter()
                .chain(others)
                .min_by(f64::total_cmp)
        }
    }
}

/// The time to target `target_index` under `basis`, given the run's own time to it
/// (`selection_honest`, `None` if the run never met it) and its search.
pub fn time_to_target(
    selection_honest: Option<f64>,
    search: Option<&TuningRecord>,
    target_index: usize,
    basis: TimeBasis,
) -> Option<f64> {
    charged(selection_honest, search, basis, |s, i| {
        s.trial_target_s
            .get(i)?
            .get(target_index)
            .copied()
            .flatten()
    })
}

/// The time to `threshold` (an absolute train MSE) under `basis`, for a run that first met
/// it at `selection_honest`: tuning-inclusive adds the other trials' time, optimistic reads
/// the other trials' descents ([`TuningRecord::trial_envelope`]).
pub fn time_to_mse(
    selection_honest: Option<f64>,
    search: Option<&TuningRecord>,
    threshold: f64,
    basis: TimeBasis,
) -> Option<f64> {
    charged(selection_honest, search, basis, |s, i| {
        s.trial_envelope
            .get(i)?
            .iter()
            .find(|p| p[1] <= threshold)
            .map(|p| p[0])
    })
}

/// Why `report` cannot give times under `basis`: its grid searches predate the recording of
/// trial times (written before fitbench charged tuning). `None` when it can.
pub fn unsupported(report: &Report, basis: TimeBasis) -> Option<String> {
    if basis == TimeBasis::SelectionHonest {
        return None;
    }
    let old = report.tuning.iter().find(|t| {
        t.trial_s.is_empty() || (basis == TimeBasis::Optimistic && t.trial_envelope.is_empty())
    })?;
    Some(format!(
        "the grid search of {} / {} records no trial times (the report was written before fitbench charged tuning), so {} times cannot be computed; run the sweep again, or use --time selection-honest",
        old.dataset,
        old.trainer,
        basis.as_str()
    ))
}

/// Fills every run's [`crate::schema::TargetHit::tuning_inclusive_s`] and
/// [`crate::schema::TargetHit::optimistic_s`] from the report's grid searches.
pub fn annotate(report: &mut Report) {
    let tuning = &report.tuning;
    for run in &mut report.runs {
        let search = search_of(tuning, run);
        for (i, hit) in run.summary.targets.iter_mut().enumerate() {
            hit.tuning_inclusive_s =
                time_to_target(hit.time_s, search, i, TimeBasis::TuningInclusive);
            hit.optimistic_s = time_to_target(hit.time_s, search, i, TimeBasis::Optimistic);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LrGrid;

    /// Tolerance of sums of a few seconds.
    const EXACT: f64 = 1e-12;

    fn search(
        grid: Vec<f64>,
        picked: f64,
        trial_s: Vec<f64>,
        hits: Vec<Option<f64>>,
    ) -> TuningRecord {
        TuningRecord {
            dataset: "d".into(),
            trainer: "adam".into(),
            settings: LrGrid {
                grid,
                ..LrGrid::default()
            },
            scores: vec![],
            picked_lr: Some(picked),
            option: "lr".into(),
            values: vec![],
            n_fit: 0,
            n_validation: 0,
            trial_s: trial_s.into_iter().map(Some).collect(),
            trial_target_s: hits.into_iter().map(|h| vec![h]).collect(),
            trial_envelope: vec![],
        }
    }

    #[test]
    fn without_a_search_every_basis_is_the_runs_own_time() {
        for basis in TimeBasis::ALL {
            assert_eq!(time_to_target(Some(2.5), None, 0, basis), Some(2.5));
            assert_eq!(time_to_target(None, None, 0, basis), None);
        }
    }

    #[test]
    fn a_two_point_grid_adds_exactly_the_other_trials_time() {
        let s = search(
            vec![1e-3, 1e-2],
            1e-2,
            vec![0.75, 0.5],
            vec![None, Some(0.25)],
        );
        let inclusive = time_to_target(Some(2.0), Some(&s), 0, TimeBasis::TuningInclusive);
        assert!((inclusive.unwrap() - 2.75).abs() < EXACT, "{inclusive:?}");
        // The chosen trial's own hit does not count in hindsight: the run stands for it.
        assert_eq!(
            time_to_target(Some(2.0), Some(&s), 0, TimeBasis::Optimistic),
            Some(2.0)
        );
    }

    #[test]
    fn optimistic_takes_the_fastest_other_trial() {
        let s = search(
            vec![1e-3, 1e-2, 1e-1],
            1e-2,
            vec![1.0, 1.0, 1.0],
            vec![Some(0.4), None, Some(0.3)],
        );
        assert_eq!(
            time_to_target(Some(2.0), Some(&s), 0, TimeBasis::Optimistic),
            Some(0.3)
        );
        // A run that never met the target is still beaten by a trial that did.
        assert_eq!(
            time_to_target(None, Some(&s), 0, TimeBasis::Optimistic),
            Some(0.3)
        );
        assert_eq!(
            time_to_target(None, Some(&s), 0, TimeBasis::TuningInclusive),
            None
        );
    }

    #[test]
    fn a_search_that_picked_nothing_is_charged_in_full() {
        let mut s = search(vec![1e-3, 1e-2], 1e-2, vec![0.75, 0.5], vec![None, None]);
        s.picked_lr = None;
        let inclusive = time_to_target(Some(2.0), Some(&s), 0, TimeBasis::TuningInclusive);
        assert!((inclusive.unwrap() - 3.25).abs() < EXACT, "{inclusive:?}");
    }

    #[test]
    fn bases_parse_by_name() {
        for b in TimeBasis::ALL {
            assert_eq!(TimeBasis::parse(b.as_str()), Ok(b));
        }
        assert!(
            TimeBasis::parse("fast")
                .unwrap_err()
                .contains("tuning-inclusive")
        );
    }
}

#[cfg(test)]
mod level_tests {
    use super::*;
    use crate::config::LrGrid;

    #[test]
    fn optimistic_reads_the_other_trials_descent() {
        let s = TuningRecord {
            dataset: "d".into(),
            trainer: "adam".into(),
            settings: LrGrid {
                grid: vec![1e-3, 1e-2],
                ..LrGrid::default()
            },
            scores: vec![],
            picked_lr: Some(1e-2),
            option: "lr".into(),
            values: vec![],
            n_fit: 0,
            n_validation: 0,
            trial_s: vec![Some(4.0), Some(4.0)],
            trial_target_s: vec![],
            trial_envelope: vec![vec![[1.0, 0.5], [2.0, 0.1]], vec![[0.5, 0.01]]],
        };
        // The chosen trial (1e-2) does not count; the other got to 0.1 at 2 s.
        assert_eq!(
            time_to_mse(Some(3.0), Some(&s), 0.2, TimeBasis::Optimistic),
            Some(2.0)
        );
        assert_eq!(
            time_to_mse(Some(3.0), Some(&s), 0.05, TimeBasis::Optimistic),
            Some(3.0)
        );
        assert_eq!(
            time_to_mse(Some(3.0), Some(&s), 0.2, TimeBasis::TuningInclusive),
            Some(7.0)
        );
    }
}
