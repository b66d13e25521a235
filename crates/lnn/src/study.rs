//! The study runner and its outputs: [`run`] (and [`run_study`], the entry point of the
//! `fitbench lnn` command), the report type [`LnnReport`] with [`write_all`] / [`read`],
//! `summary.md` ([`summary`]) and the `results/REPRODUCTION.md` section
//! ([`reproduction_section`]). The computation lives in [`crate::model`].

use crate::error::{LnnError, Result};
use crate::model::{LnnConfig, TrialResult, draw_trial, train_chain, trial_seeds};
use crate::reference::{REFERENCE_PATH, Reference, reference};
use fitbench_core::{Clock, rng};
use fitbench_report::io::{read_json, write_json};
use fitbench_report::schema::Environment;
use serde::{Deserialize, Serialize};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// Schema version of `results/lnn/report.json`; bump it on any incompatible change of
/// [`LnnReport`].
pub const LNN_SCHEMA_VERSION: u32 = 1;

/// The `kind` of every `lnn` report.
pub const LNN_KIND: &str = "lnn";

/// The command that (re)writes `results/lnn`.
pub const RERUN_COMMAND: &str = "fitbench lnn --out results/lnn";

/// A trial counts as converged when its final D is below this.
pub const CONVERGED_BELOW: f64 = 0.01;

/// Mean, median, 90th percentile and standard error of the mean of a sample.
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
    /// Statistics of `v` (NaN for an empty `v`); the median ignores non-finite values.
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
            median: fitbench_report::stats::median(s).unwrap_or(f64::NAN),
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
    /// Fraction of trials with final D < [`CONVERGED_BELOW`].
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
    /// [`LNN_SCHEMA_VERSION`] when written by this crate.
    pub schema_version: u32,
    /// [`LNN_KIND`].
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
                    frac_converged: results
                        .iter()
                        .filter(|r| r.deviation < CONVERGED_BELOW)
                        .count() as f64
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
                        .map(|i| results.iter().filter_map(|r| r.curve.get(i)).sum::<f64>() / n)
                        .collect(),
                };
                progress(&cell);
                cells.push(cell);
            }
        }
    }
    Ok(LnnReport {
        schema_version: LNN_SCHEMA_VERSION,
        kind: LNN_KIND.into(),
        environment: fitbench_report::environment::capture(threads),
        config: config.clone(),
        wall_s: clock.now() - start,
        cells,
    })
}

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

/// The noise level the section focuses on: the reference's if the report has it, else 0.05
/// if present, else the first one.
fn focus_noise(report: &LnnReport, reference: Option<&Reference>) -> Option<f64> {
    let noises = &report.config.noises;
    reference
        .map(|r| r.noise)
        .into_iter()
        .chain([0.05])
        .find(|c| noises.contains(c))
        .or_else(|| noises.first().copied())
}

/// The deepest chain length whose mean final D is below [`CONVERGED_BELOW`] at (lr, c).
fn deepest_converged(report: &LnnReport, lr: f64, c: f64) -> Option<usize> {
    report
        .config
        .depths
        .iter()
        .filter(|&&k| cell(report, lr, c, k).is_some_and(|x| x.deviation.mean < CONVERGED_BELOW))
        .max()
        .copied()
}

/// The comparison with the committed reference (empty when the report has no cell at the
/// reference's learning rate and noise level).
fn reference_comparison(out: &mut String, report: &LnnReport, r: &Reference) {
    let c = &report.config;
    let rows: Vec<_> = r
        .depths
        .iter()
        .filter_map(|d| cell(report, r.lr, r.noise, d.k).map(|x| (d, x)))
        .collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "**Against the independent reference** (`{REFERENCE_PATH}`: {}; {} trials, lr {}, c = {}, {} steps, n = {}; written on {} by `{}` with numpy {}, seed {}). Mean final D and fraction of trials with D < {}; \"distance\" is |ours − reference| in combined standard errors √(SE_ours² + SE_reference²).\n",
        r.what,
        r.trials,
        r.lr,
        r.noise,
        r.steps,
        r.n_train,
        r.date,
        r.command,
        r.numpy_version,
        r.seed,
        r.converged_below,
    );
    if c.steps != r.steps || c.n_train != r.n_train || r.converged_below != CONVERGED_BELOW {
        let _ = writeln!(
            out,
            "The settings differ (ours: {} steps, n = {}, converged below {CONVERGED_BELOW}; reference: {} steps, n = {}, converged below {}), so the two columns come from different protocols.\n",
            c.steps, c.n_train, r.steps, r.n_train, r.converged_below
        );
    }
    let _ = writeln!(
        out,
        "| k | D mean (ours) | D mean (reference) | distance [SE] | frac D < {CONVERGED_BELOW} (ours) | (reference) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    let mut within = 0;
    for (d, x) in &rows {
        let se = x.deviation.sem.hypot(d.sem_d).max(1e-4);
        let dist = (x.deviation.mean - d.mean_d).abs() / se;
        if dist <= 2.0 {
            within += 1;
        }
        let _ = writeln!(
            out,
            "| {} | {:.3} ± {:.3} | {:.3} ± {:.3} | {:.1} | {:.2} | {:.2} |",
            d.k,
            x.deviation.mean,
            x.deviation.sem,
            d.mean_d,
            d.sem_d,
            dist,
            x.frac_converged,
            d.frac_converged
        );
    }
    let _ = writeln!(
        out,
        "\n{within} of {} depths lie within 2 combined standard errors of the reference mean.\n",
        rows.len()
    );
}

/// The "Reading" paragraph: measured facts from `report` at noise `c0`, nothing else.
fn reading(report: &LnnReport, c0: f64) -> String {
    let c = &report.config;
    let mut facts = Vec::new();
    let mut lrs = c.lrs.clone();
    lrs.sort_by(f64::total_cmp);
    if let (Some(&first), Some(&last)) = (c.depths.first(), c.depths.last())
        && first != last
    {
        let diffs: Vec<String> = lrs
            .iter()
            .filter_map(|&lr| {
                let (a, b) = (cell(report, lr, c0, first)?, cell(report, lr, c0, last)?);
                Some(format!(
                    "{:.3} at lr {lr} (validation MSE {:.4} at k = {last} vs {:.4} at k = {first})",
                    b.deviation.mean - a.deviation.mean,
                    b.val_mse.mean,
                    a.val_mse.mean
                ))
            })
            .collect();
        if !diffs.is_empty() {
            facts.push(format!(
                "At c = {c0}, mean D at k = {last} minus mean D at k = {first} is {}.",
                diffs.join(" and ")
            ));
        }
    }
    if let (Some(&lo), Some(&hi)) = (lrs.first(), lrs.last())
        && lo < hi
    {
        let name = |k: Option<usize>| k.map_or("none".to_string(), |k| format!("k = {k}"));
        let (dl, dh) = (
            deepest_converged(report, lo, c0),
            deepest_converged(report, hi, c0),
        );
        facts.push(if dl == dh {
            format!(
                "Raising lr from {lo} to {hi} left the deepest chain with mean D < {CONVERGED_BELOW} at {}.",
                name(dl)
            )
        } else {
            format!(
                "Raising lr from {lo} to {hi} moved the deepest chain with mean D < {CONVERGED_BELOW} from {} to {}.",
                name(dl),
                name(dh)
            )
        });
    }
    let deep: Vec<&LnnCell> = report.cells.iter().filter(|x| x.k > 1).collect();
    let skewed = deep
        .iter()
        .filter(|x| x.deviation.mean > 2.0 * x.deviation.median + 0.01)
        .count();
    facts.push(format!(
        "In {skewed} of {} cells with k > 1 the mean D exceeds 2 × median + 0.01.",
        deep.len()
    ));
    let above = deep
        .iter()
        .filter(|x| x.train_mse.mean > 1.01 * x.ols_train_mse.mean)
        .count();
    facts.push(format!(
        "In {above} of {} cells with k > 1 the mean final training MSE exceeds 1.01 × the mean OLS training MSE.",
        deep.len()
    ));
    facts.join(" ")
}

/// The `results/REPRODUCTION.md` section of the study. Every number comes from `report` or
/// from the committed reference file.
pub fn reproduction_section(report: &LnnReport) -> String {
    let mut out = String::new();
    let c = &report.config;
    let _ = writeln!(
        out,
        "## Lakkapragada 2024 (arXiv 2401.00186): deep linear networks vs linear regression\n"
    );
    let _ = writeln!(
        out,
        "Source: `results/lnn/report.json` and `results/lnn/summary.md` (written by `{RERUN_COMMAND}`).\n"
    );
    let _ = writeln!(
        out,
        "**Claim (the paper's).** Networks without activations (\"linear neural networks\") reach worse training and test loss than linear regression, because more parameters make them harder to optimise.\n"
    );
    let _ = writeln!(
        out,
        "**What was measured.** The author's protocol (from the author's public script): per trial, x ~ N(0, 1), {} training and {} validation points, y = A·x + B with A, B ~ N(0, 1), noise ε·c·mean(y); chains of k = {:?} width-1 linear layers, U(−1, 1) initialisation, full-batch plain SGD for {} steps; closed-form OLS with intercept as the exact reference. {} seeded trials per (k, c, lr), c ∈ {:?}, lr ∈ {:?}; exact f64 gradients through the data's five moments (same result as backpropagation, O(k) per step). Whole study: {:.1} s of wall time on one thread.\n",
        c.n_train, c.n_val, c.depths, c.steps, c.trials, c.noises, c.lrs, report.wall_s
    );
    let reference = reference();
    match &reference {
        Ok(r) => reference_comparison(&mut out, report, r),
        Err(e) => {
            let _ = writeln!(out, "(No comparison with the reference: {e}.)\n");
        }
    }
    let Some(c0) = focus_noise(report, reference.as_ref().ok()) else {
        return out;
    };
    let _ = writeln!(out, "**By learning rate** (c = {c0}).\n");
    for &lr in &c.lrs {
        let monotone = c.depths.windows(2).filter(|w| {
            let (a, b) = (cell(report, lr, c0, w[0]), cell(report, lr, c0, w[1]));
            matches!((a, b), (Some(a), Some(b)) if b.deviation.mean + 2.0 * b.deviation.sem >= a.deviation.mean)
        });
        let last = c.depths.last().and_then(|&k| cell(report, lr, c0, k));
        let _ = writeln!(
            out,
            "- lr = {lr}, c = {c0}: the deepest chain with mean D < {CONVERGED_BELOW} after {} steps is k = {}; LNN-{} ends at mean D {:.3} with {:.0} % of trials converged; D is non-decreasing in k (within 2 SE) for {} of {} consecutive depth pairs.",
            c.steps,
            deepest_converged(report, lr, c0).map_or("none".into(), |k| k.to_string()),
            c.depths.last().copied().unwrap_or(0),
            last.map_or(f64::NAN, |x| x.deviation.mean),
            last.map_or(f64::NAN, |x| 100.0 * x.frac_converged),
            monotone.count(),
            c.depths.len().saturating_sub(1)
        );
    }
    let _ = writeln!(
        out,
        "\nReading (measured facts only): {}\n",
        reading(report, c0)
    );
    out
}

/// Writes `report.json`, `summary.md` and the D-vs-iteration plots (`plots/*.svg`, `.png`)
/// into `dir`, creating it; returns the files written.
pub fn write_all(report: &LnnReport, dir: &Path) -> Result<Vec<PathBuf>> {
    let json = dir.join("report.json");
    write_json(report, &json)?;
    let md = dir.join("summary.md");
    std::fs::write(&md, summary(report)).map_err(|e| LnnError::io("cannot write", &md, e))?;
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
            files.extend(fitbench_render::plot::draw_lines(
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

/// A JSON value's field for an error message: its JSON text, or `missing`.
fn found(value: &serde_json::Value, field: &str) -> String {
    value
        .get(field)
        .map_or_else(|| "missing".to_string(), ToString::to_string)
}

/// Reads an `lnn` report, checking its `kind` and `schema_version` first so that another
/// file or another version gets [`LnnError::Incompatible`] saying what was found, what was
/// expected and how to fix it (not a confusing missing-field error).
pub fn read(path: &Path) -> Result<LnnReport> {
    let value: serde_json::Value = read_json(path, "a JSON file")?;
    if value.get("kind").and_then(serde_json::Value::as_str) != Some(LNN_KIND) {
        return Err(LnnError::Incompatible {
            path: path.into(),
            field: "kind",
            found: found(&value, "kind"),
            expected: format!("{LNN_KIND:?}"),
            hint: format!(
                "this is not a report of the lnn study; pass the lnn study's report.json (results/lnn/report.json), or re-run `{RERUN_COMMAND}` to write one"
            ),
        });
    }
    if value
        .get("schema_version")
        .and_then(serde_json::Value::as_u64)
        != Some(u64::from(LNN_SCHEMA_VERSION))
    {
        return Err(LnnError::Incompatible {
            path: path.into(),
            field: "schema_version",
            found: found(&value, "schema_version"),
            expected: LNN_SCHEMA_VERSION.to_string(),
            hint: format!(
                "it was written by another fitbench version; re-run `{RERUN_COMMAND}` to rewrite it in this version's format"
            ),
        });
    }
    serde_json::from_value(value).map_err(|e| LnnError::Malformed {
        path: path.into(),
        message: format!(
            "an lnn report of schema_version {LNN_SCHEMA_VERSION} with unreadable content ({e}); re-run `{RERUN_COMMAND}` to rewrite it"
        ),
    })
}

/// What the `fitbench lnn` command asks for: overrides of [`LnnConfig::default`] and where
/// to write.
#[derive(Clone, Debug, PartialEq)]
pub struct LnnRequest {
    /// Trials per cell (default: [`LnnConfig::default`]'s).
    pub trials: Option<usize>,
    /// Full-batch SGD steps (default: [`LnnConfig::default`]'s).
    pub steps: Option<usize>,
    /// Base seed (default: [`LnnConfig::default`]'s).
    pub seed: Option<u64>,
    /// Threads recorded in the report's environment (the study itself runs on one thread).
    pub threads: usize,
    /// Output folder (the CLI's default is `out/lnn`; `results/lnn` is written by `scripts/regenerate-figures.sh`).
    pub out: PathBuf,
}

impl LnnRequest {
    /// The study's settings: [`LnnConfig::default`] with this request's overrides (not yet
    /// validated).
    pub fn config(&self) -> LnnConfig {
        let d = LnnConfig::default();
        LnnConfig {
            trials: self.trials.unwrap_or(d.trials),
            steps: self.steps.unwrap_or(d.steps),
            seed: self.seed.unwrap_or(d.seed),
            ..d
        }
    }
}

/// Runs the study the request describes and writes its outputs into `request.out`
/// (see [`write_all`]); returns the report and the files written. `progress` sees each cell
/// as it finishes.
pub fn run_study(
    request: &LnnRequest,
    clock: &mut dyn Clock,
    progress: &mut dyn FnMut(&LnnCell),
) -> Result<(LnnReport, Vec<PathBuf>)> {
    let config = request.config();
    config.validate()?;
    let report = run(&config, clock, request.threads, progress)?;
    let files = write_all(&report, &request.out)?;
    Ok((report, files))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake clock that advances one second per reading.
    #[derive(Default)]
    struct TickClock(f64);

    impl Clock for TickClock {
        fn now(&mut self) -> f64 {
            self.0 += 1.0;
            self.0
        }
    }

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

    /// The size `fitbench_render::plot::draw_lines` draws its bitmaps at.
    const PLOT_SIZE: (u32, u32) = (1000, 600);

    /// Decodes a PNG: its (width, height) and the number of distinct pixel values.
    fn decode_png(path: &Path) -> ((u32, u32), usize) {
        let file = std::fs::File::open(path).unwrap();
        let mut reader = png::Decoder::new(file).read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size()];
        let frame = reader.next_frame(&mut pixels).unwrap();
        let per_pixel = frame.line_size / frame.width as usize;
        let colours: std::collections::BTreeSet<&[u8]> =
            pixels[..frame.buffer_size()].chunks(per_pixel).collect();
        ((frame.width, frame.height), colours.len())
    }

    fn tiny_report() -> LnnReport {
        run(&tiny(), &mut TickClock::default(), 1, &mut |_| {}).unwrap()
    }

    #[test]
    fn the_study_is_deterministic_and_linear_regression_reaches_ols() {
        let a = tiny_report();
        let b = tiny_report();
        assert_eq!(a.cells, b.cells);
        assert_eq!(
            (a.schema_version, a.kind.as_str()),
            (LNN_SCHEMA_VERSION, LNN_KIND)
        );
        // The fake clock is read once before and once after the study.
        assert_eq!(a.wall_s, 1.0);
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
        let report = tiny_report();
        let files = write_all(&report, dir.path()).unwrap();
        assert_eq!(files.len(), 2 + 2);
        assert!(files.iter().all(|f| f.exists()), "{files:?}");
        let pngs: Vec<_> = files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "png"))
            .collect();
        assert_eq!(pngs.len(), 1, "{files:?}");
        for png in pngs {
            let (size, colours) = decode_png(png);
            assert_eq!(size, PLOT_SIZE, "{}", png.display());
            assert!(colours > 1, "{} is one flat colour", png.display());
        }
        assert_eq!(read(&dir.path().join("report.json")).unwrap(), report);
        let section = reproduction_section(&report);
        assert!(section.contains("results/lnn/report.json") && section.contains("lr = 0.01"));
        assert!(summary(&report).contains("| LNN-4 |"));
    }

    #[test]
    fn run_study_applies_the_overrides_and_writes_into_out() {
        let dir = tempfile::tempdir().unwrap();
        let request = LnnRequest {
            trials: Some(2),
            steps: Some(20),
            seed: Some(7),
            threads: 3,
            out: dir.path().join("lnn"),
        };
        let mut cells = 0;
        let (report, files) =
            run_study(&request, &mut TickClock::default(), &mut |_| cells += 1).unwrap();
        let d = LnnConfig::default();
        assert_eq!(
            (
                report.config.trials,
                report.config.steps,
                report.config.seed
            ),
            (2, 20, 7)
        );
        assert_eq!(report.config.depths, d.depths);
        assert_eq!(report.environment.threads, 3);
        assert_eq!(cells, d.depths.len() * d.noises.len() * d.lrs.len());
        assert_eq!(files.len(), 2 + 2 * d.noises.len() * d.lrs.len());
        assert_eq!(read(&request.out.join("report.json")).unwrap(), report);
        let bad = LnnRequest {
            trials: Some(0),
            ..request
        };
        let msg = run_study(&bad, &mut TickClock::default(), &mut |_| {})
            .unwrap_err()
            .to_string();
        assert!(msg.contains("lnn.trials"), "{msg}");
    }

    #[test]
    fn read_names_a_wrong_kind_or_schema_version_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        let mut value = serde_json::to_value(tiny_report()).unwrap();

        value["kind"] = "quick".into();
        std::fs::write(&path, value.to_string()).unwrap();
        let msg = read(&path).unwrap_err().to_string();
        assert!(
            msg.contains("kind is \"quick\", expected \"lnn\"") && msg.contains("fitbench lnn"),
            "{msg}"
        );

        value["kind"] = LNN_KIND.into();
        value["schema_version"] = 2.into();
        std::fs::write(&path, value.to_string()).unwrap();
        let msg = read(&path).unwrap_err().to_string();
        assert!(
            msg.contains("schema_version is 2, expected 1") && msg.contains("re-run `fitbench lnn"),
            "{msg}"
        );

        value.as_object_mut().unwrap().remove("schema_version");
        std::fs::write(&path, value.to_string()).unwrap();
        let msg = read(&path).unwrap_err().to_string();
        assert!(msg.contains("schema_version is missing"), "{msg}");

        value["schema_version"] = LNN_SCHEMA_VERSION.into();
        value.as_object_mut().unwrap().remove("cells");
        std::fs::write(&path, value.to_string()).unwrap();
        let msg = read(&path).unwrap_err().to_string();
        assert!(msg.contains("cells") && msg.contains("re-run"), "{msg}");
    }

    #[test]
    fn the_committed_report_reads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../results/lnn/report.json");
        let report = read(&path).unwrap();
        assert_eq!(report.kind, LNN_KIND);
        assert!(!report.cells.is_empty());
        let section = reproduction_section(&report);
        assert!(section.contains(REFERENCE_PATH), "{section}");
    }

    fn stats(mean: f64, median: f64) -> Stats {
        Stats {
            mean,
            median,
            p90: mean,
            sem: 0.01,
        }
    }

    /// A report built by hand: lr ∈ {0.001, 0.01}, c = 0.05, k ∈ {1, 2, 3}.
    fn hand_report() -> LnnReport {
        let config = LnnConfig {
            depths: vec![1, 2, 3],
            noises: vec![0.05],
            lrs: vec![1e-3, 1e-2],
            trials: 50,
            steps: 5000,
            ..LnnConfig::default()
        };
        // (lr, k, mean D, median D, mean train MSE)
        let rows = [
            (1e-3, 1, 0.0, 0.0, 0.10),
            (1e-3, 2, 0.2, 0.05, 0.30),
            (1e-3, 3, 0.5, 0.4, 0.60),
            (1e-2, 1, 0.0, 0.0, 0.10),
            (1e-2, 2, 0.005, 0.0, 0.10),
            (1e-2, 3, 0.3, 0.25, 0.40),
        ];
        let cells = rows
            .iter()
            .map(|&(lr, k, mean, median, mse)| LnnCell {
                k,
                noise: 0.05,
                lr,
                trials: 50,
                deviation: stats(mean, median),
                frac_converged: 0.5,
                train_mse: stats(mse, mse),
                val_mse: stats(mse + 0.01, mse),
                ols_train_mse: stats(0.1, 0.1),
                ols_val_mse: stats(0.11, 0.1),
                frac_train_above_ols: 0.5,
                mean_curve: vec![1.0, mean],
            })
            .collect();
        LnnReport {
            schema_version: LNN_SCHEMA_VERSION,
            kind: LNN_KIND.into(),
            environment: fitbench_report::environment::capture(1),
            config,
            wall_s: 1.0,
            cells,
        }
    }

    fn reading_of(section: &str) -> &str {
        section
            .split_once("Reading (measured facts only): ")
            .map(|(_, r)| r)
            .unwrap_or_default()
    }

    #[test]
    fn the_reading_states_measured_numbers_without_causal_stock_phrases() {
        let section = reproduction_section(&hand_report());
        let reading = reading_of(&section);
        assert!(!reading.is_empty(), "{section}");
        for phrase in [
            "because",
            "effect",
            "stall",
            "plateau",
            "bimodal",
            "say little",
            "claim holds",
            "not supported",
            "minimiser",
        ] {
            assert!(!reading.contains(phrase), "{phrase:?} in {reading}");
        }
        for fact in [
            "mean D at k = 3 minus mean D at k = 1 is 0.500 at lr 0.001",
            "and 0.300 at lr 0.01",
            "validation MSE 0.6100 at k = 3 vs 0.1100 at k = 1",
            "moved the deepest chain with mean D < 0.01 from k = 1 to k = 2",
            "In 1 of 4 cells with k > 1 the mean D exceeds 2 × median + 0.01",
            "In 3 of 4 cells with k > 1 the mean final training MSE exceeds",
        ] {
            assert!(reading.contains(fact), "missing {fact:?} in {reading}");
        }
    }

    #[test]
    fn the_reference_table_cites_its_file_and_uses_its_numbers() {
        let r = reference().unwrap();
        let section = reproduction_section(&hand_report());
        assert!(section.contains(REFERENCE_PATH) && section.contains(&r.command));
        // The hand report has k = 1…3 at the reference's lr and c, and other settings.
        assert!(section.contains("of 3 depths lie within 2 combined standard errors"));
        assert!(section.contains("The settings differ"));
        let row2 = format!(
            "| 2 | 0.200 ± 0.010 | {:.3} ± {:.3} |",
            r.depths[1].mean_d, r.depths[1].sem_d
        );
        assert!(section.contains(&row2), "missing {row2:?} in {section}");
    }

    #[test]
    fn stats_are_right() {
        let s = Stats::of(&[1.0, 2.0, 3.0, 4.0, 10.0]);
        assert_eq!((s.mean, s.median, s.p90), (4.0, 3.0, 10.0));
        assert!((s.sem - 2.5_f64.sqrt()).abs() < 1e-12);
    }
}
