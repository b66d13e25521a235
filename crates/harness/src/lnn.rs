//! The `lnn` preset: deep linear networks vs closed-form linear regression (Lakkapragada
//! 2024), run and reported by the harness (the computation lives in `fitbench_sgd::lnn`).

use crate::error::{HarnessError, Result};
use crate::report::Environment;
use crate::runner::Clock;
use fitbench_core::rng;
use fitbench_sgd::lnn::{LnnConfig, TrialResult, draw_trial, train_chain, trial_seeds};
use serde::{Deserialize, Serialize};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// Mean, median and 90th percentile of a sample.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Mean.
    pub mean: f64,
    /// Median.
    pub median: f64,
    /// 90th percentile (nearest rank).
    pub p90: f64,
    /// Standard error of the mean.
    pub sem: f64,
}

impl Stats {
    /// Statistics of `v` (which must be non-empty).
    pub fn of(v: &[f64]) -> Self {
        let n = v.len().max(1) as f64;
        let mean = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        let p90 = s
            .get(((0.9 * n).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or(f64::NAN);
        Self {
            mean,
            median: crate::stats::median(s).unwrap_or(f64::NAN),
            p90,
            sem: (var / n).sqrt(),
        }
    }
}

/// Results of one (k, c, lr) cell over all trials.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LnnCell {
    /// Chain length.
    pub k: usize,
    /// Noise coefficient.
    pub noise: f64,
    /// Learning rate.
    pub lr: f64,
    /// Trials.
    pub trials: usize,
    /// Final optimal-parameter deviation D.
    pub deviation: Stats,
    /// Fraction of trials with final D < 0.01.
    pub frac_converged: f64,
    /// Final training MSE.
    pub train_mse: Stats,
    /// Final validation MSE.
    pub val_mse: Stats,
    /// OLS training MSE (same data for every k).
    pub ols_train_mse: Stats,
    /// OLS validation MSE.
    pub ols_val_mse: Stats,
    /// Fraction of trials whose final training MSE exceeds 1.01 × the OLS one.
    pub frac_train_above_ols: f64,
    /// Mean D over trials at steps 0, record_every, 2·record_every, …, steps.
    pub mean_curve: Vec<f64>,
}

/// The `lnn` report (`results/lnn/report.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LnnReport {
    /// Schema version of this report kind.
    pub schema_version: u32,
    /// Always `"lnn"`.
    pub kind: String,
    /// Environment.
    pub environment: Environment,
    /// The study's settings.
    pub config: LnnConfig,
    /// Wall time of the whole study (single thread), in seconds.
    pub wall_s: f64,
    /// One cell per (lr, c, k).
    pub cells: Vec<LnnCell>,
}

/// Runs the study. Deterministic given the config (same seed ⇒ same report apart from
/// `wall_s` and the environment).
pub fn run(
    config: &LnnConfig,
    clock: &mut dyn Clock,
    threads: usize,
    progress: &mut dyn FnMut(&LnnCell),
) -> Result<LnnReport> {
    config.validate()?;
    let start = clock.now();
    let mut cells = Vec::new();
    for &lr in &config.lrs {
        for &c in &config.noises {
            for &k in &config.depths {
                let results: Vec<TrialResult> = (0..config.trials)
                    .map(|t| {
                        let (data_seed, init_seed) = trial_seeds(config.seed, c, t, k);
                        let trial =
                            draw_trial(&mut rng::rng(data_seed), c, config.n_train, config.n_val);
                        train_chain(
                            k,
                            lr,
                            config.steps,
                            config.record_every,
                            &trial,
                            &mut rng::rng(init_seed),
                        )
                    })
                    .collect();
                let col =
                    |f: &dyn Fn(&TrialResult) -> f64| results.iter().map(f).collect::<Vec<f64>>();
                let n = results.len() as f64;
                let points = results.first().map_or(0, |r| r.curve.len());
                let cell = LnnCell {
                    k,
                    noise: c,
                    lr,
                    trials: results.len(),
                    deviation: Stats::of(&col(&|r| r.deviation)),
                    frac_converged: results.iter().filter(|r| r.deviation < 0.01).count() as f64
                        / n,
                    train_mse: Stats::of(&col(&|r| r.train_mse)),
                    val_mse: Stats::of(&col(&|r| r.val_mse)),
                    ols_train_mse: Stats::of(&col(&|r| r.ols_train_mse)),
                    ols_val_mse: Stats::of(&col(&|r| r.ols_val_mse)),
                    frac_train_above_ols: results
                        .iter()
                        .filter(|r| r.train_mse > 1.01 * r.ols_train_mse)
                        .count() as f64
                        / n,
                    mean_curve: (0..points)
                        .map(|i| results.iter().map(|r| r.curve[i]).sum::<f64>() / n)
                        .collect(),
                };
                progress(&cell);
                cells.push(cell);
            }
        }
    }
    Ok(LnnReport {
        schema_version: 1,
        kind: "lnn".into(),
        environment: crate::environment::capture(threads),
        config: config.clone(),
        wall_s: clock.now() - start,
        cells,
    })
}

/// Mean final D per k (k = 1…10) of the reference re-run of the author's protocol (300
/// trials, lr 1e-3, c = 0.05), as given in the project's issue on the gradient baselines.
pub const REFERENCE_MEAN_D: [f64; 10] = [
    0.000, 0.002, 0.015, 0.063, 0.117, 0.248, 0.40, 0.53, 0.58, 0.75,
];
/// Fraction of trials with D < 0.01 in the same reference re-run.
pub const REFERENCE_FRAC_CONVERGED: [f64; 10] =
    [1.00, 0.97, 0.91, 0.79, 0.68, 0.54, 0.38, 0.26, 0.22, 0.09];

fn cell(report: &LnnReport, lr: f64, c: f64, k: usize) -> Option<&LnnCell> {
    report
        .cells
        .iter()
        .find(|x| x.lr == lr && x.noise == c && x.k == k)
}

/// `summary.md` of the study: one table per (lr, c).
pub fn summary(report: &LnnReport) -> String {
    let mut out = String::new();
    let c = &report.config;
    let _ = writeln!(
        out,
        "# fitbench: deep linear networks vs linear regression (lnn)\n"
    );
    let _ = writeln!(
        out,
        "{} trials per cell, {} full-batch SGD steps, n = {} train / {} validation, seed {}; wall time {:.1} s on {} ({} build, commit `{}`).\n",
        c.trials,
        c.steps,
        c.n_train,
        c.n_val,
        c.seed,
        report.wall_s,
        report.environment.cpu,
        report.environment.profile,
        report.environment.git_commit
    );
    let _ = writeln!(
        out,
        "D = |Π w − w_OLS| + |b_eff − b_OLS| after the last step; MSE in the data's own units (not standardised).\n"
    );
    for &lr in &c.lrs {
        for &noise in &c.noises {
            let _ = writeln!(out, "## lr = {lr}, c = {noise}\n");
            let _ = writeln!(
                out,
                "| model | D mean | D median | D p90 | frac D < 0.01 | train MSE mean (median) | val MSE mean (median) | frac train > 1.01·OLS |"
            );
            let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
            for &k in &c.depths {
                if let Some(x) = cell(report, lr, noise, k) {
                    let name = if k == 1 {
                        "LinReg (GD)".to_string()
                    } else {
                        format!("LNN-{k}")
                    };
                    let _ = writeln!(
                        out,
                        "| {name} | {:.3} | {:.3} | {:.3} | {:.2} | {:.4} ({:.4}) | {:.4} ({:.4}) | {:.2} |",
                        x.deviation.mean,
                        x.deviation.median,
                        x.deviation.p90,
                        x.frac_converged,
                        x.train_mse.mean,
                        x.train_mse.median,
                        x.val_mse.mean,
                        x.val_mse.median,
                        x.frac_train_above_ols
                    );
                }
            }
            if let Some(x) = c.depths.first().and_then(|&k| cell(report, lr, noise, k)) {
                let _ = writeln!(
                    out,
                    "| OLS (closed form) | 0 | 0 | 0 | 1.00 | {:.4} ({:.4}) | {:.4} ({:.4}) | 0.00 |",
                    x.ols_train_mse.mean,
                    x.ols_train_mse.median,
                    x.ols_val_mse.mean,
                    x.ols_val_mse.median
                );
            }
            let _ = writeln!(
                out,
                "\n![mean D over iterations](plots/d_vs_iter_lr={lr}_c={noise}.png)\n"
            );
        }
    }
    out
}

/// The `results/REPRODUCTION.md` section of the study. Every number comes from `report`.
pub fn reproduction_section(report: &LnnReport) -> String {
    let mut out = String::new();
    let c = &report.config;
    let _ = writeln!(
        out,
        "## Lakkapragada 2024 (arXiv 2401.00186): deep linear networks vs linear regression\n"
    );
    let _ = writeln!(
        out,
        "Source: `results/lnn/report.json` and `results/lnn/summary.md` (written by `fitbench run --preset lnn`).\n"
    );
    let _ = writeln!(
        out,
        "**Claim.** Networks without activations (\"linear neural networks\") reach worse training and test loss than linear regression, because more parameters make them harder to optimise.\n"
    );
    let _ = writeln!(
        out,
        "**What was measured.** The author's protocol (from the author's public script): per trial, x ~ N(0, 1), {} training and {} validation points, y = A·x + B with A, B ~ N(0, 1), noise ε·c·mean(y); chains of k = 1…10 width-1 linear layers, U(−1, 1) initialisation, full-batch plain SGD for {} steps; closed-form OLS with intercept as the exact reference. {} seeded trials per (k, c, lr), c ∈ {:?}, lr ∈ {:?}; exact f64 gradients through the data's five moments (same result as backpropagation, O(k) per step). Whole study: {:.1} s of wall time on one thread.\n",
        c.n_train, c.n_val, c.steps, c.trials, c.noises, c.lrs, report.wall_s
    );
    let (lr0, c0) = (1e-3, 0.05);
    if c.depths == (1..=10).collect::<Vec<_>>() && cell(report, lr0, c0, 1).is_some() {
        let _ = writeln!(
            out,
            "**Against the reference re-run** (300 trials, lr 1e-3, c = 0.05; mean final D and fraction with D < 0.01). \"Distance\" is |ours − reference| in standard errors of our mean.\n"
        );
        let _ = writeln!(
            out,
            "| k | D mean (ours) | D mean (reference) | distance [SE] | frac D < 0.01 (ours) | (reference) |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|");
        let mut within = 0;
        for k in 1..=10 {
            if let Some(x) = cell(report, lr0, c0, k) {
                let se = x.deviation.sem.max(1e-4);
                let dist = (x.deviation.mean - REFERENCE_MEAN_D[k - 1]).abs() / se;
                if dist <= 2.0 {
                    within += 1;
                }
                let _ = writeln!(
                    out,
                    "| {k} | {:.3} ± {:.3} | {:.3} | {:.1} | {:.2} | {:.2} |",
                    x.deviation.mean,
                    x.deviation.sem,
                    REFERENCE_MEAN_D[k - 1],
                    dist,
                    x.frac_converged,
                    REFERENCE_FRAC_CONVERGED[k - 1]
                );
            }
        }
        let _ = writeln!(
            out,
            "\n{within} of 10 depths lie within 2 standard errors of the reference mean (the reference has its own sampling error of similar size; trial-to-trial spread is large and bimodal, so medians and fractions are the sturdier comparison).\n"
        );
    }
    // Dependence on the learning rate: the largest k whose mean D stays below 0.01.
    let deepest_ok = |lr: f64| {
        c.depths
            .iter()
            .filter(|&&k| cell(report, lr, c0, k).is_some_and(|x| x.deviation.mean < 0.01))
            .max()
            .copied()
    };
    let _ = writeln!(
        out,
        "**Where the claim depends on the budget and learning rate.**\n"
    );
    for &lr in &c.lrs {
        let monotone = c.depths.windows(2).filter(|w| {
            let (a, b) = (cell(report, lr, c0, w[0]), cell(report, lr, c0, w[1]));
            matches!((a, b), (Some(a), Some(b)) if b.deviation.mean + 2.0 * b.deviation.sem >= a.deviation.mean)
        });
        let last = c.depths.last().and_then(|&k| cell(report, lr, c0, k));
        let _ = writeln!(
            out,
            "- lr = {lr}, c = {c0}: the deepest chain with mean D < 0.01 after {} steps is k = {}; LNN-{} ends at mean D {:.3} with {:.0} % of trials converged; D is non-decreasing in k (within 2 SE) for {} of {} consecutive depth pairs.",
            c.steps,
            deepest_ok(lr).map_or("none".into(), |k| k.to_string()),
            c.depths.last().copied().unwrap_or(0),
            last.map_or(f64::NAN, |x| x.deviation.mean),
            last.map_or(f64::NAN, |x| 100.0 * x.frac_converged),
            monotone.count(),
            c.depths.len().saturating_sub(1)
        );
    }
    // The reading is derived from the numbers above, not written in advance.
    let lrs_sorted = {
        let mut v = c.lrs.clone();
        v.sort_by(f64::total_cmp);
        v
    };
    let first_last = |lr: f64| {
        let first = c
            .depths
            .first()
            .and_then(|&k| cell(report, lr, c0, k))
            .map(|x| x.deviation.mean);
        let last = c
            .depths
            .last()
            .and_then(|&k| cell(report, lr, c0, k))
            .map(|x| x.deviation.mean);
        first.zip(last)
    };
    let holds = lrs_sorted
        .first()
        .and_then(|&lr| first_last(lr))
        .is_some_and(|(f, l)| l > f + 0.1);
    let _ = write!(out, "\nReading: ");
    if holds {
        let _ = write!(
            out,
            "under the author's protocol the claim holds in the sense measured — deeper width-1 chains end further from the OLS solution after a fixed budget, with higher training and validation MSE. "
        );
    } else {
        let _ = write!(
            out,
            "under this budget the deepest chains end no further than 0.1 in D from linear regression, so the claim is not supported here. "
        );
    }
    if let (Some(&lo), Some(&hi)) = (lrs_sorted.first(), lrs_sorted.last())
        && lo < hi
    {
        let (dl, dh) = (deepest_ok(lo).unwrap_or(0), deepest_ok(hi).unwrap_or(0));
        if dh > dl {
            let _ = write!(
                out,
                "It is an optimisation-budget effect: raising the learning rate from {lo} to {hi} moves the deepest chain that reaches OLS (mean D < 0.01) from k = {dl} to k = {dh}. "
            );
        } else {
            let _ = write!(
                out,
                "Raising the learning rate from {lo} to {hi} did not move the deepest chain that reaches OLS (k = {dl} and k = {dh}). "
            );
        }
    }
    let bimodal = report
        .cells
        .iter()
        .filter(|x| x.k > 1 && x.deviation.mean > 2.0 * x.deviation.median + 0.01)
        .count();
    let _ = writeln!(
        out,
        "In {bimodal} of {} cells with k > 1 the mean D exceeds twice the median: the outcome per trial is bimodal (most trials converge, a minority stall on plateaus), so the means are driven by the stalled minority. Width-1 chains say little about wide linear networks, and no chain can beat OLS on training MSE, OLS being the exact minimiser.\n",
        report.cells.iter().filter(|x| x.k > 1).count()
    );
    out
}

/// Writes `report.json`, `summary.md` and the D-vs-iteration plots into `dir`.
pub fn write_all(report: &LnnReport, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)
        .map_err(|e| HarnessError::io("cannot create output folder", dir, e))?;
    let json = dir.join("report.json");
    let text = serde_json::to_string_pretty(report).map_err(|e| HarnessError::Report {
        path: json.clone(),
        message: e.to_string(),
    })?;
    std::fs::write(&json, text + "\n").map_err(|e| HarnessError::io("cannot write", &json, e))?;
    let md = dir.join("summary.md");
    std::fs::write(&md, summary(report)).map_err(|e| HarnessError::io("cannot write", &md, e))?;
    let mut files = vec![json, md];
    let c = &report.config;
    for &lr in &c.lrs {
        for &noise in &c.noises {
            let series: Vec<(String, Vec<(f64, f64)>)> = c
                .depths
                .iter()
                .filter_map(|&k| cell(report, lr, noise, k))
                .map(|x| {
                    let label = if x.k == 1 {
                        "LinReg (GD)".to_string()
                    } else {
                        format!("LNN-{}", x.k)
                    };
                    let pts = x
                        .mean_curve
                        .iter()
                        .enumerate()
                        .map(|(i, d)| ((i * c.record_every).min(c.steps) as f64, *d))
                        .collect();
                    (label, pts)
                })
                .collect();
            let title = format!("mean D over {} trials (lr = {lr}, c = {noise})", c.trials);
            let stem = dir
                .join("plots")
                .join(format!("d_vs_iter_lr={lr}_c={noise}"));
            files.extend(crate::plot::draw_lines(
                &stem,
                &title,
                "iteration [full-batch SGD steps]",
                "mean optimal-parameter deviation D",
                &series,
            )?);
        }
    }
    Ok(files)
}

/// Reads an `lnn` report.
pub fn read(path: &Path) -> Result<LnnReport> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| HarnessError::io("cannot read report", path, e))?;
    serde_json::from_str(&text).map_err(|e| HarnessError::Report {
        path: path.into(),
        message: format!("not an lnn report: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::MonotonicClock;

    fn tiny() -> LnnConfig {
        LnnConfig {
            depths: vec![1, 2, 4],
            noises: vec![0.05],
            lrs: vec![1e-2],
            trials: 6,
            steps: 2000,
            record_every: 500,
            ..LnnConfig::default()
        }
    }

    #[test]
    fn the_study_is_deterministic_and_linear_regression_reaches_ols() {
        let a = run(&tiny(), &mut MonotonicClock::default(), 1, &mut |_| {}).unwrap();
        let b = run(&tiny(), &mut MonotonicClock::default(), 1, &mut |_| {}).unwrap();
        assert_eq!(a.cells, b.cells);
        let linreg = &a.cells[0];
        assert_eq!((linreg.k, linreg.trials), (1, 6));
        assert!(
            linreg.deviation.mean < 1e-3 && linreg.frac_converged == 1.0,
            "{linreg:?}"
        );
        assert_eq!(linreg.mean_curve.len(), 2000 / 500 + 1);
        // No chain beats the exact minimiser on training MSE.
        for c in &a.cells {
            assert!(c.train_mse.mean >= c.ols_train_mse.mean * (1.0 - 1e-12));
        }
    }

    #[test]
    fn outputs_are_written_and_sections_cite_the_report() {
        let dir = tempfile::tempdir().unwrap();
        let report = run(&tiny(), &mut MonotonicClock::default(), 1, &mut |_| {}).unwrap();
        let files = write_all(&report, dir.path()).unwrap();
        assert_eq!(files.len(), 2 + 2);
        assert_eq!(read(&dir.path().join("report.json")).unwrap(), report);
        let section = reproduction_section(&report);
        assert!(section.contains("results/lnn/report.json") && section.contains("lr = 0.01"));
        assert!(summary(&report).contains("| LNN-4 |"));
    }

    #[test]
    fn stats_are_right() {
        let s = Stats::of(&[1.0, 2.0, 3.0, 4.0, 10.0]);
        assert_eq!((s.mean, s.median, s.p90), (4.0, 3.0, 10.0));
    }
}
