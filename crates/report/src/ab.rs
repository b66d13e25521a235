//! The `fitbench ab` report (`ab.json`): every pair's raw numbers, and the verdicts computed
//! from them by pure functions ([`analyse`]). The process driver lives in
//! `fitbench_harness::ab`, the pages in `fitbench_render::ab`.
//!
//! Per (dataset, trainer) cell there are two verdicts:
//!
//! - **algorithmic**: the deterministic metrics of the two runs of each pair agree (within
//!   `fitbench check`'s tolerances); differences are listed with their metric
//!   ([`AbCell::differences`], filled by the driver);
//! - **speed** ([`SpeedVerdict`]): the paired ratio current/baseline of seconds per step,
//!   its geometric mean over the pairs and an exact signed-rank interval
//!   ([`crate::paired`]). One-sided tests "slower by more than the threshold" (one per cell)
//!   form one family and "faster by more than the threshold" another; Holm's procedure keeps
//!   each family's error at `alpha`. The interval shown is simultaneous over the compared
//!   cells (each side at `alpha / m`, Bonferroni), so a cell whose interval lies above
//!   1 + threshold is always WORSE; Holm, being step-down, may also flag one whose interval
//!   just touches it.
//!
//! The seconds to each reached suboptimality level get the same ratio and interval, reported
//! but not gated: once the algorithmic verdict agrees, they are the per-step time summed
//! over a prefix of the same steps, with fewer steps and so more noise.

use crate::config::{RunConfig, Slowdown};
use crate::paired::{PairedTest, holm};
use serde::{Deserialize, Serialize};

/// Version of the `ab.json` schema; bumped on any incompatible change.
pub const AB_SCHEMA_VERSION: u32 = 1;

/// Which binary ran a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The base (`--baseline-bin` or `--baseline-rev`).
    Baseline,
    /// The candidate (`--current-bin`, default this binary).
    Current,
}

impl Side {
    /// `baseline` or `current`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Baseline => "baseline",
            Side::Current => "current",
        }
    }

    /// The other side.
    pub fn other(self) -> Side {
        match self {
            Side::Baseline => Side::Current,
            Side::Current => Side::Baseline,
        }
    }
}

/// The settings of one A/B comparison (recorded in `ab.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AbSettings {
    /// Rounds: every (dataset, trainer, repetition) is run K times by each side.
    pub rounds: usize,
    /// Relative slowdown below which a change counts as noise (0.05 = 5 %).
    pub threshold: f64,
    /// Family-wise error rate of each family of one-sided tests (worse, better).
    pub alpha: f64,
    /// Seed of the order of the sides (the runs' own seeds come from the sweep).
    pub seed: u64,
    /// Test-only slowdown of the current side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_slowdown: Option<Slowdown>,
}

impl Default for AbSettings {
    fn default() -> Self {
        Self {
            rounds: 6,
            threshold: 0.05,
            alpha: 0.05,
            seed: 0,
            test_slowdown: None,
        }
    }
}

impl AbSettings {
    /// Rejects settings that cannot give a verdict, with what to use instead.
    pub fn validate(&self) -> Result<(), String> {
        if self.rounds == 0 {
            return Err(
                "--rounds 0: need at least 1 round (each gives one pair per repetition)".into(),
            );
        }
        if !(self.threshold.is_finite() && self.threshold > 0.0) {
            return Err(format!(
                "--threshold {}: must be a positive fraction, e.g. 0.05 for 5 %",
                self.threshold
            ));
        }
        if !(self.alpha.is_finite() && self.alpha > 0.0 && self.alpha < 1.0) {
            return Err(format!(
                "--alpha {}: must lie in (0, 1), e.g. 0.05",
                self.alpha
            ));
        }
        Ok(())
    }
}

/// One binary of the comparison.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SideInfo {
    /// Path of the binary.
    pub binary: String,
    /// The git revision it was built from when `fitbench ab` built it (`--baseline-rev`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The commit its reports record (from the first report read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_commit: Option<String>,
    /// Whether that source tree was dirty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_dirty: Option<bool>,
    /// `fitbench --version` of the binary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// What one side's run of a pair measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunTiming {
    /// Training time (the timed `step` calls), seconds.
    #[serde(with = "crate::float")]
    pub train_s: f64,
    /// Steps done.
    pub iterations: usize,
    /// Training time of the first step (from the curve's point at iteration 1), seconds.
    #[serde(default, with = "crate::float::option")]
    pub first_step_s: Option<f64>,
    /// The run's status (`max_iters`, `converged`, `error`, …).
    pub status: String,
    /// Seconds to each suboptimality level of the sweep (`None`: not reached).
    pub time_to: Vec<Option<f64>>,
    /// Wall time of the whole process (start-up, data, evaluation and writing included).
    #[serde(with = "crate::float")]
    pub wall_s: f64,
    /// Position of the run in the whole A/B schedule (0-based).
    pub position: usize,
}

impl RunTiming {
    /// Steady-state seconds per step: the mean over the steps after the first, when the run
    /// made two or more and the first step's time is known; else the mean over all steps (a
    /// one-step trainer such as `ols`). `None` without a positive training time.
    ///
    /// The first step carries one-off costs (lazy allocation, thread pools, page faults,
    /// cold caches) that vary from process to process: an Adam step of 2.1–2.5 ms took
    /// 3.8–23.7 ms as the first step of eight processes. It is kept in
    /// [`Self::first_step_s`] and counts in the seconds to each level.
    pub fn s_per_step(&self) -> Option<f64> {
        if !(self.iterations > 0 && self.train_s.is_finite() && self.train_s > 0.0) {
            return None;
        }
        match self.first_step_s {
            Some(first) if self.iterations >= 2 && first.is_finite() && first < self.train_s => {
                Some((self.train_s - first) / (self.iterations - 1) as f64)
            }
            _ => Some(self.train_s / self.iterations as f64),
        }
    }
}

/// One pair: the same (dataset, trainer, repetition) run by both sides back to back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pair {
    /// Round (0-based).
    pub round: usize,
    /// Repetition of the sweep.
    pub repetition: usize,
    /// Which side ran first.
    pub first: Side,
    /// The baseline's run.
    pub baseline: RunTiming,
    /// The current run.
    pub current: RunTiming,
}

impl Pair {
    /// current / baseline seconds per step.
    pub fn step_ratio(&self) -> Option<f64> {
        Some(self.current.s_per_step()? / self.baseline.s_per_step()?)
    }
}

/// Ratio statistics of one timing metric of a cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RatioStat {
    /// Pairs with a finite, positive value on both sides.
    pub n: usize,
    /// Geometric mean of current/baseline over the pairs.
    #[serde(with = "crate::float")]
    pub ratio: f64,
    /// Lower end of the simultaneous interval (0 when too few pairs).
    #[serde(with = "crate::float")]
    pub lower: f64,
    /// Upper end (∞ when too few pairs).
    #[serde(with = "crate::float")]
    pub upper: f64,
    /// Standard deviation of the log-ratios (the pair-to-pair noise).
    #[serde(with = "crate::float")]
    pub sd_log: f64,
    /// One-sided p-value for "slower than 1 + threshold".
    #[serde(with = "crate::float")]
    pub p_worse: f64,
    /// One-sided p-value for "faster than 1 / (1 + threshold)".
    #[serde(with = "crate::float")]
    pub p_better: f64,
}

impl RatioStat {
    /// The statistics of `ratios` (non-finite and non-positive values are dropped), the
    /// interval at one-sided level `side_alpha` at each end.
    pub fn of(ratios: &[f64], threshold: f64, side_alpha: f64) -> Option<Self> {
        let logs: Vec<f64> = ratios
            .iter()
            .filter(|r| r.is_finite() && **r > 0.0)
            .map(|r| r.ln())
            .collect();
        let t = PairedTest::new(&logs)?;
        let delta = (1.0 + threshold).ln();
        Some(Self {
            n: t.n(),
            ratio: t.ratio(),
            lower: t.lower_bound(side_alpha).exp(),
            upper: t.upper_bound(side_alpha).exp(),
            sd_log: t.sd_log(),
            p_worse: t.p_above(delta),
            p_better: t.p_below(-delta),
        })
    }
}

/// The speed statistics of a cell: seconds per step, with Holm-adjusted p-values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpeedStat {
    /// Ratio of steady-state seconds per step ([`RunTiming::s_per_step`]).
    #[serde(flatten)]
    pub stat: RatioStat,
    /// Holm-adjusted `p_worse` over the cells compared.
    #[serde(with = "crate::float")]
    pub p_worse_holm: f64,
    /// Holm-adjusted `p_better` over the cells compared.
    #[serde(with = "crate::float")]
    pub p_better_holm: f64,
}

/// Ratio of the seconds to one suboptimality level (reported, not gated).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LevelStat {
    /// The level.
    #[serde(with = "crate::float")]
    pub level: f64,
    /// Its statistics, when some pair reached it on both sides.
    pub stat: Option<RatioStat>,
}

/// The speed verdict of a cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpeedVerdict {
    /// Faster by more than the threshold (Holm-adjusted test).
    Better,
    /// The whole interval lies within [1/(1 + threshold), 1 + threshold].
    Same,
    /// Slower by more than the threshold (Holm-adjusted test): `fitbench ab` fails.
    #[serde(rename = "WORSE")]
    Worse,
    /// Worse, but accepted by a line of the accept file whose ratio it does not exceed.
    Accepted,
    /// Neither: too few pairs or too much noise for the threshold.
    Inconclusive,
    /// Not compared: the cell is new to the baseline, failed, or has no timed pair.
    None,
}

impl SpeedVerdict {
    /// As written in tables (`WORSE` upper case).
    pub fn as_str(self) -> &'static str {
        match self {
            SpeedVerdict::Better => "better",
            SpeedVerdict::Same => "same",
            SpeedVerdict::Worse => "WORSE",
            SpeedVerdict::Accepted => "accepted",
            SpeedVerdict::Inconclusive => "inconclusive",
            SpeedVerdict::None => "none",
        }
    }

    /// Order on the page: the worst first.
    pub fn rank(self) -> u8 {
        match self {
            SpeedVerdict::Worse => 0,
            SpeedVerdict::Accepted => 1,
            SpeedVerdict::Inconclusive => 2,
            SpeedVerdict::None => 3,
            SpeedVerdict::Same => 4,
            SpeedVerdict::Better => 5,
        }
    }
}

/// Whether a cell could be compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CellStatus {
    /// Both sides ran it.
    Compared,
    /// The baseline refused it (a trainer, option or dataset it does not know): not a failure.
    New,
    /// A side's process failed or its report could not be paired.
    Failed,
}

/// One deterministic metric that differs between the two runs of a pair.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    /// Repetition.
    pub repetition: usize,
    /// Round.
    pub round: usize,
    /// The metric (as `fitbench check` names it).
    pub metric: String,
    /// Baseline value, shown.
    pub baseline: String,
    /// Current value, shown.
    pub current: String,
}

/// A line of the accept file: a deliberate slowdown of one cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acceptance {
    /// `dataset / trainer`, as the A/B report names the cell.
    pub cell: String,
    /// The largest accepted ratio of seconds per step (geometric mean), > 1.
    pub max_ratio: f64,
    /// Why the slowdown is accepted.
    pub reason: String,
}

/// `results/ab-accept.toml`: deliberate slowdowns, valid against one baseline commit only
/// (when `results/baseline` is refreshed, its commit changes and the lines no longer apply).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptFile {
    /// The baseline commit the lines were written against.
    #[serde(default)]
    pub baseline_commit: String,
    /// The accepted slowdowns.
    #[serde(default)]
    pub accept: Vec<Acceptance>,
}

impl AcceptFile {
    /// The text of an accept file with no lines, valid against `baseline_commit`: what
    /// `fitbench check --update` writes when it refreshes the baseline.
    pub fn empty_text(baseline_commit: &str) -> String {
        format!(
            "# Deliberate slowdowns that `fitbench ab` accepts (README, \"Catching a slowdown\").\n\
             # Valid only against the baseline commit below: `fitbench check --update` (which\n\
             # refreshes results/baseline) empties the list and records the new commit.\n\
             #\n\
             # [[accept]]\n\
             # cell = \"friedman1:n=12000,noise=0.1 / lm\"  # DATASET / TRAINER, as ab.md names it\n\
             # max_ratio = 1.3  # largest accepted ratio of seconds per step (geometric mean)\n\
             # reason = \"why the slowdown is worth it\"\n\
             baseline_commit = \"{baseline_commit}\"\n"
        )
    }

    /// Parses and validates the TOML text of an accept file (`origin` names it in messages).
    pub fn parse(text: &str, origin: &str) -> Result<Self, String> {
        let file: AcceptFile =
            toml::from_str(text).map_err(|e| format!("{origin}: {}", e.message()))?;
        for (i, a) in file.accept.iter().enumerate() {
            let at = format!("{origin}: [[accept]] #{} ({:?})", i + 1, a.cell);
            if a.cell.split_once(" / ").is_none() {
                return Err(format!(
                    "{at}: cell must be \"DATASET / TRAINER\" as the A/B report names it"
                ));
            }
            if !(a.max_ratio.is_finite() && a.max_ratio > 1.0) {
                return Err(format!(
                    "{at}: max_ratio = {} must be a finite ratio > 1 (e.g. 1.3 accepts up to 30 % slower)",
                    a.max_ratio
                ));
            }
            if a.reason.trim().is_empty() {
                return Err(format!("{at}: give a reason"));
            }
        }
        if !file.accept.is_empty() && file.baseline_commit.trim().is_empty() {
            return Err(format!(
                "{origin}: baseline_commit is missing: name the commit of results/baseline the lines were written against"
            ));
        }
        Ok(file)
    }
}

/// One (dataset, trainer) of the comparison.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AbCell {
    /// Dataset name.
    pub dataset: String,
    /// Trainer label.
    pub trainer: String,
    /// Whether it was compared.
    pub status: CellStatus,
    /// Why it is new or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Every pair, in schedule order.
    pub pairs: Vec<Pair>,
    /// Deterministic metrics that differ between the sides (empty: the algorithm agrees).
    pub differences: Vec<Difference>,
    /// Seconds per step.
    pub speed: Option<SpeedStat>,
    /// Seconds to each suboptimality level.
    pub levels: Vec<LevelStat>,
    /// The speed verdict.
    pub verdict: SpeedVerdict,
    /// The accept-file line that applies to this cell, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<Acceptance>,
}

impl AbCell {
    /// `dataset / trainer`.
    pub fn key(&self) -> String {
        format!("{} / {}", self.dataset, self.trainer)
    }

    /// An empty cell (no pairs yet).
    pub fn new(dataset: &str, trainer: &str) -> Self {
        Self {
            dataset: dataset.into(),
            trainer: trainer.into(),
            status: CellStatus::Compared,
            message: None,
            pairs: vec![],
            differences: vec![],
            speed: None,
            levels: vec![],
            verdict: SpeedVerdict::None,
            accepted: None,
        }
    }
}

/// Verdict counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbCounts {
    /// WORSE cells (the A/B fails).
    pub worse: usize,
    /// Worse but accepted.
    pub accepted: usize,
    /// Inconclusive.
    pub inconclusive: usize,
    /// Same.
    pub same: usize,
    /// Better.
    pub better: usize,
    /// New to the baseline.
    pub new: usize,
    /// Failed or without a timed pair.
    pub failed: usize,
    /// Cells whose deterministic metrics differ between the sides.
    pub algorithmic_differences: usize,
}

/// `ab.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AbReport {
    /// [`AB_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The settings.
    pub settings: AbSettings,
    /// The sweep both sides ran (resolved once, by the current binary).
    pub sweep: RunConfig,
    /// The base.
    pub baseline: SideInfo,
    /// The candidate.
    pub current: SideInfo,
    /// Machine: CPU model, cores and host name of the process that drove the A/B.
    pub machine: String,
    /// Seconds since the Unix epoch when the A/B started.
    pub started_unix_s: u64,
    /// Wall time of the whole A/B, seconds.
    #[serde(with = "crate::float")]
    pub wall_s: f64,
    /// The accept file read, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept_file: Option<String>,
    /// Every cell, in sweep order.
    pub cells: Vec<AbCell>,
    /// Verdict counts.
    pub counts: AbCounts,
    /// Things worth knowing that are not verdicts.
    pub notes: Vec<String>,
}

impl AbReport {
    /// The cells sorted worst first (verdict, then ratio descending).
    pub fn worst_first(&self) -> Vec<&AbCell> {
        let mut cells: Vec<&AbCell> = self.cells.iter().collect();
        cells.sort_by(|a, b| {
            a.verdict.rank().cmp(&b.verdict.rank()).then_with(|| {
                let r = |c: &AbCell| c.speed.as_ref().map_or(0.0, |s| s.stat.ratio);
                r(b).total_cmp(&r(a))
            })
        });
        cells
    }

    /// The last line of every summary: the counts.
    pub fn tally(&self) -> String {
        let c = &self.counts;
        format!(
            "fitbench ab: {} worse, {} accepted, {} inconclusive, {} same, {} better, {} new, {} failed ({} cells; {} with algorithmic differences)",
            c.worse,
            c.accepted,
            c.inconclusive,
            c.same,
            c.better,
            c.new,
            c.failed,
            self.cells.len(),
            c.algorithmic_differences
        )
    }
}

/// Computes every cell's statistics and verdict from its pairs, applies the accept lines and
/// counts. Pure: the same cells and settings give the same result.
///
/// `levels` are the sweep's suboptimality levels (the order of [`RunTiming::time_to`]);
/// `accept` the lines of the accept file that apply to this baseline.
pub fn analyse(
    cells: &mut [AbCell],
    settings: &AbSettings,
    levels: &[f64],
    accept: &[Acceptance],
) -> AbCounts {
    let compared: Vec<usize> = cells
        .iter()
        .enumerate()
        .filter(|(_, c)| c.status == CellStatus::Compared)
        .map(|(i, _)| i)
        .collect();
    let m = compared.len().max(1);
    let side_alpha = settings.alpha / m as f64;
    let mut stats: Vec<Option<RatioStat>> = Vec::with_capacity(cells.len());
    for cell in cells.iter_mut() {
        let ratios: Vec<f64> = cell.pairs.iter().filter_map(Pair::step_ratio).collect();
        let stat = if cell.status == CellStatus::Compared {
            RatioStat::of(&ratios, settings.threshold, side_alpha)
        } else {
            None
        };
        cell.levels = levels
            .iter()
            .enumerate()
            .map(|(l, &level)| {
                let ratios: Vec<f64> = cell
                    .pairs
                    .iter()
                    .filter_map(|p| {
                        let b = p.baseline.time_to.get(l).copied().flatten()?;
                        let c = p.current.time_to.get(l).copied().flatten()?;
                        (b > 0.0).then(|| c / b)
                    })
                    .collect();
                LevelStat {
                    level,
                    stat: RatioStat::of(&ratios, settings.threshold, side_alpha),
                }
            })
            .collect();
        stats.push(stat);
    }
    // Holm within each family, over the cells that have a test.
    let tested: Vec<usize> = (0..cells.len()).filter(|&i| stats[i].is_some()).collect();
    let p = |f: fn(&RatioStat) -> f64| -> Vec<f64> {
        tested
            .iter()
            .map(|&i| stats[i].as_ref().map_or(1.0, f))
            .collect()
    };
    let worse_adj = holm(&p(|s| s.p_worse));
    let better_adj = holm(&p(|s| s.p_better));
    for (k, &i) in tested.iter().enumerate() {
        if let Some(stat) = stats[i].take() {
            cells[i].speed = Some(SpeedStat {
                stat,
                p_worse_holm: worse_adj[k],
                p_better_holm: better_adj[k],
            });
        }
    }
    let hi = 1.0 + settings.threshold;
    let mut counts = AbCounts::default();
    for cell in cells.iter_mut() {
        cell.accepted = accept.iter().find(|a| a.cell == cell.key()).cloned();
        cell.verdict = match (&cell.status, &cell.speed) {
            (CellStatus::Compared, Some(s)) => {
                if s.p_worse_holm <= settings.alpha {
                    match &cell.accepted {
                        Some(a) if s.stat.ratio <= a.max_ratio => SpeedVerdict::Accepted,
                        _ => SpeedVerdict::Worse,
                    }
                } else if s.p_better_holm <= settings.alpha {
                    SpeedVerdict::Better
                } else if s.stat.lower >= 1.0 / hi && s.stat.upper <= hi {
                    SpeedVerdict::Same
                } else {
                    SpeedVerdict::Inconclusive
                }
            }
            _ => SpeedVerdict::None,
        };
        match cell.verdict {
            SpeedVerdict::Worse => counts.worse += 1,
            SpeedVerdict::Accepted => counts.accepted += 1,
            SpeedVerdict::Inconclusive => counts.inconclusive += 1,
            SpeedVerdict::Same => counts.same += 1,
            SpeedVerdict::Better => counts.better += 1,
            SpeedVerdict::None => match cell.status {
                CellStatus::New => counts.new += 1,
                _ => counts.failed += 1,
            },
        }
        if !cell.differences.is_empty() {
            counts.algorithmic_differences += 1;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic, symmetric noise pattern of relative size `amp` (no RNG needed).
    fn noise(i: usize, amp: f64) -> f64 {
        let pattern = [
            0.9, -0.4, 0.1, -0.8, 0.6, -0.2, 0.3, -0.6, 0.8, -0.1, 0.4, -0.9, 0.2, -0.3, 0.7, -0.7,
        ];
        amp * pattern[i % pattern.len()]
    }

    fn timing(s_per_step: f64) -> RunTiming {
        RunTiming {
            train_s: 40.0 * s_per_step,
            iterations: 40,
            first_step_s: None,
            status: "max_iters".into(),
            time_to: vec![Some(10.0 * s_per_step), None],
            wall_s: 0.5,
            position: 0,
        }
    }

    /// A cell whose current side is `shift` times slower, with noise of relative size `amp`.
    fn cell(name: &str, pairs: usize, shift: f64, amp: f64) -> AbCell {
        let mut c = AbCell::new("data", name);
        for i in 0..pairs {
            let base = 1e-3;
            c.pairs.push(Pair {
                round: i,
                repetition: 0,
                first: if i % 2 == 0 {
                    Side::Baseline
                } else {
                    Side::Current
                },
                baseline: timing(base),
                current: timing(base * shift * noise(i, amp).exp()),
            });
        }
        c
    }

    fn settings() -> AbSettings {
        AbSettings::default()
    }

    #[test]
    fn a_ten_percent_slowdown_is_found_among_unchanged_cells() {
        let mut cells: Vec<AbCell> = (0..9)
            .map(|i| cell(&format!("t{i}"), 12, 1.0, 0.02))
            .collect();
        cells.push(cell("slow", 12, 1.10, 0.02));
        let counts = analyse(&mut cells, &settings(), &[0.1, 0.01], &[]);
        assert_eq!(counts.worse, 1, "{counts:?}");
        let slow = &cells[9];
        assert_eq!(slow.verdict, SpeedVerdict::Worse);
        let s = slow.speed.as_ref().unwrap();
        assert!((s.stat.ratio - 1.10).abs() < 0.01, "{s:?}");
        assert!(
            s.stat.lower > 1.05,
            "the interval lies above 1 + threshold: {s:?}"
        );
        // The unchanged cells: never worse, and their intervals are tight enough to say same.
        for c in &cells[..9] {
            assert_eq!(
                c.verdict,
                SpeedVerdict::Same,
                "{}: {:?}",
                c.trainer,
                c.speed
            );
        }
        // The level ratios follow the step ratio; a level no run reached has no statistic.
        let level = slow.levels[0].stat.as_ref().unwrap();
        assert!((level.ratio - s.stat.ratio).abs() < 1e-12);
        assert!(slow.levels[1].stat.is_none());
    }

    #[test]
    fn no_shift_gives_no_verdict_either_way_even_with_noise() {
        let mut cells: Vec<AbCell> = (0..10)
            .map(|i| cell(&format!("t{i}"), 12, 1.0, 0.2))
            .collect();
        let counts = analyse(&mut cells, &settings(), &[], &[]);
        assert_eq!((counts.worse, counts.better), (0, 0), "{counts:?}");
        // Noise of ±20 %: too wide to call the cells the same.
        assert_eq!(counts.inconclusive, 10, "{counts:?}");
    }

    #[test]
    fn steady_state_seconds_per_step_leave_the_first_step_out() {
        let t = RunTiming {
            train_s: 1.0 + 9.0 * 0.1,
            iterations: 10,
            first_step_s: Some(1.0),
            ..timing(0.0)
        };
        assert!((t.s_per_step().unwrap() - 0.1).abs() < 1e-12);
        // One step, or no first-step time: the mean over all steps.
        let one = RunTiming {
            train_s: 0.5,
            iterations: 1,
            first_step_s: Some(0.5),
            ..timing(0.0)
        };
        assert_eq!(one.s_per_step(), Some(0.5));
        let unknown = RunTiming {
            first_step_s: None,
            ..t.clone()
        };
        assert!((unknown.s_per_step().unwrap() - 0.19).abs() < 1e-12);
        let none = RunTiming { iterations: 0, ..t };
        assert_eq!(none.s_per_step(), None);
    }

    #[test]
    fn a_speed_up_is_better() {
        let mut cells = vec![cell("fast", 12, 0.8, 0.02)];
        analyse(&mut cells, &settings(), &[], &[]);
        assert_eq!(cells[0].verdict, SpeedVerdict::Better);
    }

    #[test]
    fn holm_removes_a_verdict_that_one_cell_alone_would_get() {
        // A shift of 8 % with ±6 % noise over 10 pairs: significant in a family of one,
        // not once 20 such tests share the error rate.
        let alone = {
            let mut cells = vec![cell("x", 10, 1.08, 0.06)];
            analyse(&mut cells, &settings(), &[], &[]);
            cells.remove(0)
        };
        let s = alone.speed.as_ref().unwrap();
        assert_eq!(alone.verdict, SpeedVerdict::Worse, "{s:?}");
        let mut many: Vec<AbCell> = (0..20)
            .map(|i| cell(&format!("t{i}"), 10, 1.08, 0.06))
            .collect();
        let counts = analyse(&mut many, &settings(), &[], &[]);
        assert_eq!(counts.worse, 0, "{counts:?}");
        let adj = many[0].speed.as_ref().unwrap();
        assert!((adj.p_worse_holm - (20.0 * adj.stat.p_worse).min(1.0)).abs() < 1e-12);
        // The simultaneous interval widens with the family too.
        assert!(adj.stat.lower < s.stat.lower);
    }

    #[test]
    fn accepted_slowdowns_pass_up_to_their_ratio() {
        let accept = |max_ratio: f64| Acceptance {
            cell: "data / slow".into(),
            max_ratio,
            reason: "a deliberate change".into(),
        };
        let mut cells = vec![cell("slow", 12, 1.10, 0.02)];
        let counts = analyse(&mut cells, &settings(), &[], &[accept(1.2)]);
        assert_eq!(cells[0].verdict, SpeedVerdict::Accepted);
        assert_eq!((counts.worse, counts.accepted), (0, 1));
        let counts = analyse(&mut cells, &settings(), &[], &[accept(1.05)]);
        assert_eq!(
            cells[0].verdict,
            SpeedVerdict::Worse,
            "beyond the accepted ratio"
        );
        assert_eq!(counts.worse, 1);
    }

    #[test]
    fn new_and_failed_cells_get_no_speed_verdict() {
        let mut cells = vec![cell("a", 12, 1.0, 0.02), cell("b", 12, 1.0, 0.02)];
        cells[0].status = CellStatus::New;
        cells[1].status = CellStatus::Failed;
        let counts = analyse(&mut cells, &settings(), &[], &[]);
        assert_eq!((counts.new, counts.failed), (1, 1));
        assert!(
            cells
                .iter()
                .all(|c| c.verdict == SpeedVerdict::None && c.speed.is_none())
        );
    }

    #[test]
    fn accept_files_and_slowdowns_are_validated() {
        let empty = AcceptFile::parse(&AcceptFile::empty_text("abc"), "t").unwrap();
        assert_eq!(
            (empty.baseline_commit.as_str(), empty.accept.len()),
            ("abc", 0)
        );
        let ok = AcceptFile::parse(
            "baseline_commit = \"abc\"\n[[accept]]\ncell = \"d / t\"\nmax_ratio = 1.3\nreason = \"why\"\n",
            "f.toml",
        )
        .unwrap();
        assert_eq!(ok.accept.len(), 1);
        let bad = |text: &str, want: &str| {
            let e = AcceptFile::parse(text, "f.toml").unwrap_err();
            assert!(e.contains(want), "{e}");
        };
        bad(
            "baseline_commit = \"abc\"\n[[accept]]\ncell = \"d/t\"\nmax_ratio = 1.3\nreason = \"r\"\n",
            "DATASET / TRAINER",
        );
        bad(
            "baseline_commit = \"abc\"\n[[accept]]\ncell = \"d / t\"\nmax_ratio = 0.9\nreason = \"r\"\n",
            "max_ratio",
        );
        bad(
            "baseline_commit = \"abc\"\n[[accept]]\ncell = \"d / t\"\nmax_ratio = 1.3\nreason = \" \"\n",
            "reason",
        );
        bad(
            "[[accept]]\ncell = \"d / t\"\nmax_ratio = 1.3\nreason = \"r\"\n",
            "baseline_commit",
        );
        bad("colour = 1\n", "f.toml");
        assert_eq!(
            Slowdown::parse("adam=1.10").unwrap(),
            Slowdown {
                trainer: "adam".into(),
                factor: 1.1
            }
        );
        assert_eq!(
            Slowdown::parse("lsq:order=interleaved=2").unwrap().trainer,
            "lsq:order=interleaved"
        );
        for (text, want) in [
            ("adam", "TRAINER=FACTOR"),
            ("adam=x", "not a number"),
            ("adam=0.9", "> 1"),
            ("=2", "missing"),
        ] {
            let e = Slowdown::parse(text).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
        let bad_settings = AbSettings {
            rounds: 0,
            ..AbSettings::default()
        };
        assert!(bad_settings.validate().unwrap_err().contains("--rounds"));
        let bad_settings = AbSettings {
            alpha: 1.0,
            ..AbSettings::default()
        };
        assert!(bad_settings.validate().unwrap_err().contains("--alpha"));
    }

    #[test]
    fn the_report_round_trips_through_json_and_sorts_worst_first() {
        let mut cells = vec![cell("same", 12, 1.0, 0.02), cell("slow", 12, 1.10, 0.02)];
        let counts = analyse(&mut cells, &settings(), &[0.1], &[]);
        let report = AbReport {
            schema_version: AB_SCHEMA_VERSION,
            settings: settings(),
            sweep: RunConfig::default(),
            baseline: SideInfo::default(),
            current: SideInfo::default(),
            machine: "m".into(),
            started_unix_s: 0,
            wall_s: 1.0,
            accept_file: None,
            cells,
            counts,
            notes: vec![],
        };
        let text = serde_json::to_string(&report).unwrap();
        let back: AbReport = serde_json::from_str(&text).unwrap();
        assert_eq!(back, report);
        assert_eq!(report.worst_first()[0].trainer, "slow");
        assert!(
            report.tally().starts_with("fitbench ab: 1 worse,"),
            "{}",
            report.tally()
        );
    }
}
