//! Verdicts: who won on each dataset and by how much.
//!
//! Per dataset, trainers are ranked by their median (over seeds) of a criterion: the best
//! train MSE, the test MSE at the point of best train MSE, and the training time to a common
//! train-MSE target under each [`TimeBasis`]. Each trainer gets its ratio to the best
//! trainer's median and a **95 % paired percentile bootstrap interval** of that ratio over
//! seeds: repetition `r` of every trainer shares the split and the initial weights, so seeds
//! are resampled as pairs ([`BOOTSTRAP_RESAMPLES`] resamples from a fixed seed, so the same
//! report gives the same intervals). The rule ([`RULE`]): a trainer is **worse** than the
//! best when the whole interval lies above 1, else it **ties** with it; with fewer than
//! [`MIN_SEEDS`] seeds in common no difference is claimed (`untested`). With 3 seeds, "worse"
//! means worse on every seed; with 5, on most.
//!
//! A run that failed before any evaluation, or never met the target, counts as +∞ (it ranks
//! last and never ties with a finite best).

use fitbench_report::charge::{self, TimeBasis};
use fitbench_report::schema::{Report, RunRecord, Status};
use fitbench_report::stats::median_counting_misses;
use std::collections::BTreeMap;

/// Bootstrap resamples per interval.
pub const BOOTSTRAP_RESAMPLES: usize = 2000;
/// Fewest seeds two trainers must share for a difference to be claimed.
pub const MIN_SEEDS: usize = 3;
/// The fewest trainers a page's chart opens with ([`DatasetVerdict::leaders`]).
pub const LEADERS: usize = 3;
/// The significance rule, as written beside every verdict table.
pub const RULE: &str = "ratio = a trainer's median over seeds ÷ the best trainer's; [interval] = 95 % paired percentile bootstrap of that ratio over seeds (2 000 resamples, fixed seed; seed r of every trainer shares its split and initial weights); **worse** = the whole interval above 1, **tie** = not, `untested` = fewer than 3 seeds in common. With 3 seeds, worse means worse on every seed";

/// Where a trainer stands against the best of a criterion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Standing {
    /// The lowest median.
    Best,
    /// Not significantly different from the best.
    Tie,
    /// Significantly worse than the best.
    Worse,
    /// Too few seeds in common to tell.
    Untested,
}

impl Standing {
    /// The word shown in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::Best => "best",
            Standing::Tie => "tie",
            Standing::Worse => "worse",
            Standing::Untested => "untested",
        }
    }
}

/// One trainer under one criterion.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// Trainer label.
    pub trainer: String,
    /// Median over seeds (+∞ when most seeds have no value).
    pub median: f64,
    /// Median ÷ the best median (1 for the best; +∞ when the median is).
    pub ratio: f64,
    /// 95 % bootstrap interval of the ratio (`None` for the best and when untested).
    pub interval: Option<(f64, f64)>,
    /// Against the best.
    pub standing: Standing,
}

impl Entry {
    /// `1.83× [1.31, 2.40] worse`, `1× best`, `not reached`.
    pub fn shown(&self) -> String {
        if !self.median.is_finite() {
            return "not reached".into();
        }
        match (self.standing, self.interval) {
            (Standing::Best, _) => "1× best".into(),
            (s, Some((lo, hi))) => format!(
                "{}× [{}, {}] {}",
                ratio(self.ratio),
                ratio(lo),
                ratio(hi),
                s.as_str()
            ),
            (s, None) => format!("{}× {}", ratio(self.ratio), s.as_str()),
        }
    }
}

fn ratio(v: f64) -> String {
    if !v.is_finite() {
        "∞".into()
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn divide(a: f64, b: f64) -> f64 {
    if a == b {
        1.0
    } else if b == 0.0 {
        f64::INFINITY
    } else {
        a / b
    }
}

/// Ranks trainers by the median of their per-repetition values (`values[trainer][rep]`,
/// +∞ for a missing value) and tests each against the best. `seed` makes the bootstrap
/// reproducible.
pub fn rank(values: &BTreeMap<String, BTreeMap<usize, f64>>, seed: u64) -> Vec<Entry> {
    let mut medians: Vec<(String, f64)> = values
        .iter()
        .map(|(t, v)| {
            let mut v: Vec<f64> = v.values().copied().collect();
            (t.clone(), median_counting_misses(&mut v))
        })
        .collect();
    medians.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    let Some((best, best_median)) = medians.first().cloned() else {
        return Vec::new();
    };
    medians
        .into_iter()
        .map(|(trainer, median)| {
            if trainer == best {
                return Entry {
                    trainer,
                    median,
                    ratio: 1.0,
                    interval: None,
                    standing: Standing::Best,
                };
            }
            let mine = &values[&trainer];
            let theirs = &values[&best];
            let pairs: Vec<(f64, f64)> = mine
                .iter()
                .filter_map(|(rep, &a)| theirs.get(rep).map(|&b| (a, b)))
                .collect();
            let ratio = divide(median, best_median);
            if pairs.len() < MIN_SEEDS {
                return Entry {
                    trainer,
                    median,
                    ratio,
                    interval: None,
                    standing: Standing::Untested,
                };
            }
            let (lo, hi) = bootstrap(&pairs, fitbench_core::rng::derive_seed(seed, &[&trainer]));
            Entry {
                trainer,
                median,
                ratio,
                interval: Some((lo, hi)),
                standing: if lo > 1.0 {
                    Standing::Worse
                } else {
                    Standing::Tie
                },
            }
        })
        .collect()
}

/// The 95 % percentile interval of median(a) ÷ median(b) over paired resamples.
fn bootstrap(pairs: &[(f64, f64)], seed: u64) -> (f64, f64) {
    let mut rng = fitbench_core::rng::rng(seed);
    let n = pairs.len();
    let (mut a, mut b) = (vec![0.0; n], vec![0.0; n]);
    let mut ratios = Vec::with_capacity(BOOTSTRAP_RESAMPLES);
    for _ in 0..BOOTSTRAP_RESAMPLES {
        for k in 0..n {
            let i = (fitbench_core::rng::uniform(&mut rng, 0.0, n as f64) as usize).min(n - 1);
            a[k] = pairs[i].0;
            b[k] = pairs[i].1;
        }
        let r = divide(
            median_counting_misses(&mut a),
            median_counting_misses(&mut b),
        );
        ratios.push(if r.is_nan() { 1.0 } else { r });
    }
    ratios.sort_by(f64::total_cmp);
    let last = ratios.len() - 1;
    let at = |q: f64| ratios[((q * last as f64).round() as usize).min(last)];
    (at(0.025), at(0.975))
}

/// What stopped a trainer's runs: `3× budget`, `2× max_iters, 1× converged`.
pub fn stopped_by(runs: &[&RunRecord]) -> String {
    let mut statuses: BTreeMap<Status, usize> = BTreeMap::new();
    for r in runs {
        *statuses.entry(r.status).or_default() += 1;
    }
    statuses
        .iter()
        .map(|(s, n)| format!("{n}× {}", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The verdict on one dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetVerdict {
    /// Dataset name.
    pub dataset: String,
    /// Ranked by the median best train MSE.
    pub train: Vec<Entry>,
    /// Ranked by the median test MSE at the point of best train MSE.
    pub test: Vec<Entry>,
    /// The common train-MSE target of the time rankings, if the report has targets.
    pub target: Option<f64>,
    /// Per [`TimeBasis`] (in [`TimeBasis::ALL`] order), ranked by the median time to
    /// `target` (empty without a target).
    pub time: Vec<(TimeBasis, Vec<Entry>)>,
    /// Trainers that overfit: their median best train MSE is below the linear reference's
    /// train MSE while their median test MSE is above its test MSE (fits the training rows
    /// better than least squares and generalises worse; a trainer that is worse on both
    /// underfits and is not flagged).
    pub overfits: Vec<String>,
    /// Per trainer, what stopped its runs ([`stopped_by`]).
    pub stopped: BTreeMap<String, String>,
    /// Per trainer, the median ‖∇L‖ / ‖∇L₀‖ of its runs, where computed.
    pub stationarity: BTreeMap<String, f64>,
    /// Per trainer, how many of its `converged` runs are not stationary.
    pub not_stationary: BTreeMap<String, usize>,
}

impl DatasetVerdict {
    /// The trainers that lead on train MSE: the best and those tied with it, and at least
    /// the first [`LEADERS`] in rank order.
    pub fn leaders(&self) -> Vec<String> {
        self.train
            .iter()
            .enumerate()
            .filter(|(i, e)| {
                *i < LEADERS
                    || matches!(
                        e.standing,
                        Standing::Best | Standing::Tie | Standing::Untested
                    )
            })
            .map(|(_, e)| e.trainer.clone())
            .collect()
    }

    /// The time ranking under `basis`.
    pub fn time(&self, basis: TimeBasis) -> Option<&[Entry]> {
        self.time
            .iter()
            .find(|(b, _)| *b == basis)
            .map(|(_, e)| e.as_slice())
    }
}

fn per_rep(
    runs: &[&RunRecord],
    f: &dyn Fn(&RunRecord) -> Option<f64>,
) -> BTreeMap<String, BTreeMap<usize, f64>> {
    let mut out: BTreeMap<String, BTreeMap<usize, f64>> = BTreeMap::new();
    for r in runs {
        out.entry(r.trainer.clone())
            .or_default()
            .insert(r.repetition, f(r).unwrap_or(f64::INFINITY));
    }
    out
}

/// The common target of a dataset: the smallest configured target that every trainer met
/// in most of its runs (median time finite), else the loosest configured target.
fn common_target(report: &Report, runs: &[&RunRecord]) -> Option<(usize, f64)> {
    let targets = &report.config.targets;
    if targets.is_empty() {
        return None;
    }
    let met_by_all = |i: usize| {
        per_rep(runs, &|r| r.summary.targets.get(i).and_then(|h| h.time_s))
            .values()
            .all(|v| {
                let mut v: Vec<f64> = v.values().copied().collect();
                median_counting_misses(&mut v).is_finite()
            })
    };
    let mut order: Vec<usize> = (0..targets.len()).collect();
    order.sort_by(|&a, &b| targets[a].total_cmp(&targets[b]));
    order
        .iter()
        .copied()
        .find(|&i| met_by_all(i))
        .or_else(|| order.last().copied())
        .map(|i| (i, targets[i]))
}

/// The verdict on `dataset` (`None` when it has no runs).
pub fn dataset_verdict(report: &Report, dataset: &str) -> Option<DatasetVerdict> {
    let runs: Vec<&RunRecord> = report
        .runs
        .iter()
        .filter(|r| r.dataset == dataset)
        .collect();
    if runs.is_empty() {
        return None;
    }
    let seed = fitbench_core::rng::derive_seed(report.config.base_seed, &[dataset, "verdict"]);
    let sub = |what: &str| fitbench_core::rng::derive_seed(seed, &[what]);
    let train = rank(&per_rep(&runs, &|r| r.summary.best_train_mse), sub("train"));
    let test = rank(
        &per_rep(&runs, &|r| r.summary.test_mse_at_best_train),
        sub("test"),
    );
    let target = common_target(report, &runs);
    let time = target
        .map(|(i, _)| {
            TimeBasis::ALL
                .into_iter()
                .map(|basis| {
                    let values = per_rep(&runs, &|r| {
                        r.summary.targets.get(i).and_then(|h| {
                            let search = charge::search_of(&report.tuning, r);
                            charge::time_to_target(h.time_s, search, i, basis)
                        })
                    });
                    (basis, rank(&values, sub(basis.as_str())))
                })
                .collect()
        })
        .unwrap_or_default();
    let info = report.datasets.iter().find(|d| d.name == dataset);
    let linear = info.and_then(|d| Some((d.reference_train_mse()?, d.reference_test_mse()?)));
    let overfits = match linear {
        Some((linear_train, linear_test)) => test
            .iter()
            .filter(|e| e.median.is_finite() && e.median > linear_test)
            .filter(|e| {
                train
                    .iter()
                    .any(|t| t.trainer == e.trainer && t.median < linear_train)
            })
            .map(|e| e.trainer.clone())
            .collect(),
        None => Vec::new(),
    };
    let mut stopped = BTreeMap::new();
    let mut stationarity = BTreeMap::new();
    let mut not_stationary = BTreeMap::new();
    for t in report.trainers() {
        let mine: Vec<&RunRecord> = runs.iter().copied().filter(|r| r.trainer == t).collect();
        if mine.is_empty() {
            continue;
        }
        stopped.insert(t.clone(), stopped_by(&mine));
        if let Some(m) = fitbench_report::stats::median(
            mine.iter()
                .filter_map(|r| r.stationarity.as_ref().map(|c| c.ratio))
                .collect(),
        ) {
            stationarity.insert(t.clone(), m);
        }
        not_stationary.insert(
            t.clone(),
            mine.iter().filter(|r| r.stopped_not_stationary()).count(),
        );
    }
    Some(DatasetVerdict {
        dataset: dataset.into(),
        train,
        test,
        target: target.map(|(_, t)| t),
        time,
        overfits,
        stopped,
        stationarity,
        not_stationary,
    })
}

/// The verdicts of every dataset of `report`, in report order.
pub fn verdicts(report: &Report) -> Vec<DatasetVerdict> {
    report
        .datasets
        .iter()
        .filter_map(|d| dataset_verdict(report, &d.name))
        .collect()
}

/// Wins, ties and losses of one trainer across datasets under one criterion.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Best, and every other trainer worse.
    pub wins: usize,
    /// Best with a tie, or tied with the best (or untested).
    pub ties: usize,
    /// Worse than the best.
    pub losses: usize,
}

impl Tally {
    /// `2 W / 1 T / 0 L`.
    pub fn shown(&self) -> String {
        format!("{} W / {} T / {} L", self.wins, self.ties, self.losses)
    }
}

/// Tallies one ranking into `tallies`.
pub fn tally(entries: &[Entry], tallies: &mut BTreeMap<String, Tally>) {
    let contested = entries
        .iter()
        .any(|e| matches!(e.standing, Standing::Tie | Standing::Untested));
    for e in entries {
        let t = tallies.entry(e.trainer.clone()).or_default();
        match e.standing {
            Standing::Best if !contested => t.wins += 1,
            Standing::Best | Standing::Tie | Standing::Untested => t.ties += 1,
            Standing::Worse => t.losses += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(rows: &[(&str, &[f64])]) -> BTreeMap<String, BTreeMap<usize, f64>> {
        rows.iter()
            .map(|(t, v)| (t.to_string(), v.iter().copied().enumerate().collect()))
            .collect()
    }

    #[test]
    fn worse_on_every_seed_is_worse_and_a_split_decision_is_a_tie() {
        let v = values(&[
            ("a", &[1.0, 1.1, 0.9]),
            ("b", &[2.0, 2.2, 1.8]),
            ("c", &[0.8, 1.3, 1.2]),
        ]);
        let r = rank(&v, 7);
        assert_eq!(r[0].trainer, "a");
        assert_eq!(r[0].standing, Standing::Best);
        let b = r.iter().find(|e| e.trainer == "b").unwrap();
        assert_eq!(b.standing, Standing::Worse);
        assert!((b.ratio - 2.0).abs() < 1e-12, "{b:?}");
        let (lo, hi) = b.interval.unwrap();
        assert!(lo > 1.0 && hi >= lo, "{b:?}");
        let c = r.iter().find(|e| e.trainer == "c").unwrap();
        assert_eq!(c.standing, Standing::Tie, "{c:?}");
    }

    #[test]
    fn the_bootstrap_is_reproducible_and_missing_values_rank_last() {
        let v = values(&[
            ("a", &[1.0, 1.1, 0.9, 1.0, 1.2]),
            (
                "b",
                &[
                    f64::INFINITY,
                    f64::INFINITY,
                    1.0,
                    f64::INFINITY,
                    f64::INFINITY,
                ],
            ),
        ]);
        let r = rank(&v, 1);
        assert_eq!(r, rank(&v, 1));
        assert_eq!(r[1].trainer, "b");
        assert_eq!(r[1].standing, Standing::Worse);
        assert_eq!(r[1].shown(), "not reached");
    }

    #[test]
    fn two_seeds_claim_nothing() {
        let v = values(&[("a", &[1.0, 1.0]), ("b", &[5.0, 5.0])]);
        let r = rank(&v, 1);
        assert_eq!(r[1].standing, Standing::Untested);
    }

    #[test]
    fn tallies_count_a_clear_best_as_a_win_and_a_contested_one_as_a_tie() {
        let mut t = BTreeMap::new();
        let v = values(&[("a", &[1.0, 1.0, 1.0]), ("b", &[2.0, 2.0, 2.0])]);
        tally(&rank(&v, 1), &mut t);
        let v = values(&[("a", &[1.0, 2.0, 1.0]), ("b", &[2.0, 1.0, 1.5])]);
        tally(&rank(&v, 1), &mut t);
        assert_eq!(
            t["a"],
            Tally {
                wins: 1,
                ties: 1,
                losses: 0
            }
        );
        assert_eq!(
            t["b"],
            Tally {
                wins: 0,
                ties: 1,
                losses: 1
            }
        );
    }
}

/// A table of text cells.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Table {
    /// Column heads.
    pub heads: Vec<String>,
    /// Rows of cells, one per head.
    pub rows: Vec<Vec<String>>,
}

/// A table trimmed to the columns that differ ([`Table::trimmed`]).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Trimmed {
    /// Column heads kept.
    pub heads: Vec<String>,
    /// Rows, with the kept columns only.
    pub rows: Vec<Vec<String>>,
    /// `head = earlier head` for each column left out as a copy of an earlier one.
    pub same: Vec<String>,
}

impl Table {
    /// Drops every column (after the first `keep`) whose cells are all `–`, and every column
    /// equal cell for cell to an earlier kept one (named in `same`).
    pub fn trimmed(&self, keep: usize) -> Trimmed {
        let cell = |r: &Vec<String>, j: usize| r.get(j).cloned().unwrap_or_else(|| "–".into());
        let column = |j: usize| self.rows.iter().map(|r| cell(r, j)).collect::<Vec<_>>();
        let mut shown: Vec<usize> = Vec::new();
        let mut same = Vec::new();
        for j in 0..self.heads.len() {
            if j >= keep && !self.rows.is_empty() {
                let cells = column(j);
                if cells.iter().all(|c| c == "–") {
                    continue;
                }
                if let Some(&k) = shown.iter().find(|&&k| column(k) == cells) {
                    same.push(format!("{} = {}", self.heads[j], self.heads[k]));
                    continue;
                }
            }
            shown.push(j);
        }
        Trimmed {
            heads: shown.iter().map(|&j| self.heads[j].clone()).collect(),
            rows: self
                .rows
                .iter()
                .map(|r| shown.iter().map(|&j| cell(r, j)).collect())
                .collect(),
            same,
        }
    }
}

/// The basis a report ranks time by: tuning-inclusive when any trainer was tuned and the
/// report records its trials' times, else selection-honest (without a search the three
/// coincide; a report written before trial times were recorded cannot charge them).
pub fn ranked_basis(report: &Report) -> TimeBasis {
    if report.tuning.is_empty() || charge::unsupported(report, TimeBasis::TuningInclusive).is_some()
    {
        TimeBasis::SelectionHonest
    } else {
        TimeBasis::TuningInclusive
    }
}

/// Words that tables emphasise (Markdown bold, a class on the page).
pub const FLAGS: [&str; 2] = ["overfits", "not stationary"];

/// The verdict table of one dataset, untrimmed, in plain text: rank, trainer, what stopped
/// it, best train MSE and its ratio, test MSE (flagged `overfits`) and its ratio, time to the
/// common target under the ranked basis and its ratio, the other two times, and the median
/// ‖∇L‖ / ‖∇L₀‖. Rows in train-MSE order.
pub fn table(report: &Report, v: &DatasetVerdict) -> Table {
    let basis = ranked_basis(report);
    let tuned = basis == TimeBasis::TuningInclusive;
    let target = v.target.map_or(String::new(), |t| format!("{t:e}"));
    let heads = vec![
        "#".to_string(),
        "trainer".into(),
        "stopped by".into(),
        "best train MSE".into(),
        "× best (train)".into(),
        "test MSE".into(),
        "× best (test)".into(),
        format!("time to ≤ {target} ({})", basis.as_str()),
        "× best (time)".into(),
        format!("time to ≤ {target} (selection-honest)"),
        format!("time to ≤ {target} (optimistic)"),
        "‖∇L‖ / ‖∇L₀‖".into(),
    ];
    let find = |entries: Option<&[Entry]>, t: &str| {
        entries.and_then(|e| e.iter().find(|e| e.trainer == t).cloned())
    };
    let sci = |v: f64| {
        if v.is_finite() {
            format!("{v:.3e}")
        } else {
            "–".into()
        }
    };
    let time_cell = |basis: TimeBasis, t: &str| {
        find(v.time(basis), t).map_or("–".into(), |e| {
            if e.median.is_finite() {
                fitbench_report::format::duration(e.median)
            } else {
                "not reached".into()
            }
        })
    };
    let rows = v
        .train
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let t = e.trainer.as_str();
            let test = find(Some(&v.test), t);
            let mut stopped = v.stopped.get(t).cloned().unwrap_or_default();
            if let Some(&n) = v.not_stationary.get(t)
                && n > 0
            {
                stopped.push_str(&format!(" ({n} not stationary)"));
            }
            let overfits = if v.overfits.iter().any(|o| o == t) {
                " overfits"
            } else {
                ""
            };
            vec![
                format!("{}", i + 1),
                t.to_string(),
                stopped,
                sci(e.median),
                e.shown(),
                test.as_ref()
                    .map_or("–".into(), |x| format!("{}{overfits}", sci(x.median))),
                test.map_or("–".into(), |x| x.shown()),
                time_cell(basis, t),
                find(v.time(basis), t).map_or("–".into(), |x| x.shown()),
                if tuned {
                    time_cell(TimeBasis::SelectionHonest, t)
                } else {
                    "–".into()
                },
                if tuned {
                    time_cell(TimeBasis::Optimistic, t)
                } else {
                    "–".into()
                },
                v.stationarity.get(t).map_or("–".into(), |&r| sci(r)),
            ]
        })
        .collect();
    Table { heads, rows }
}
