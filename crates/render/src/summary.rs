//! `summary.md`: per dataset, one row per trainer.

use crate::verdict::Table;
use fitbench_report::format::{bytes, duration, per_step};
use fitbench_report::schema::{DatasetInfo, Report, RunRecord, slug};
use fitbench_report::stats::{median, min_median_max};
use std::collections::BTreeMap;
use std::fmt::Write;

fn sci(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.3e}"))
}

fn range(v: Vec<f64>) -> String {
    match min_median_max(v) {
        Some((lo, m, hi)) if lo == hi => format!("{m:.3e}"),
        Some((lo, m, hi)) => format!("{m:.3e} [{lo:.2e}, {hi:.2e}]"),
        None => "–".into(),
    }
}

/// The deterministic-metrics table of one dataset (see [`fitbench_report::metrics`]).
fn deterministic_table(
    out: &mut String,
    report: &Report,
    aggregates: &crate::aggregate::Aggregates,
    dataset: &str,
    runs: &[&RunRecord],
) {
    let c = &report.config;
    if c.suboptimality_targets.is_empty() && c.iteration_budgets.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\nDeterministic convergence metrics (iteration space: the same seed and threads give the same values): the first scheduled iteration at which the relative suboptimality r = (L − L*)/(L₀ − L*) reached each level (L* the reference, L₀ the MSE of the training mean; median over seeds, `never` if not reached, `unknown` if a time budget cut a run off first), and the train MSE after fixed iteration budgets (`ended`: the median run stopped earlier, e.g. stalled):\n"
    );
    let mut heads: Vec<String> = c
        .suboptimality_targets
        .iter()
        .map(|l| format!("r ≤ {l:e}"))
        .collect();
    heads.extend(c.iteration_budgets.iter().map(|b| format!("MSE @ {b}")));
    let _ = writeln!(out, "| trainer | reference L* | {} |", heads.join(" | "));
    let _ = writeln!(out, "|---|---|{}", "---|".repeat(heads.len()));
    for t in report.trainers() {
        let Some(metrics) = aggregates.get(&(dataset.to_string(), t.clone())) else {
            continue;
        };
        let reference = runs
            .iter()
            .filter(|r| r.trainer == t)
            .find_map(|r| r.metrics.as_ref())
            .map_or("–".into(), |m| {
                format!(
                    "{} ({})",
                    m.reference.kind.as_str(),
                    sci(Some(m.reference.train_mse))
                )
            });
        let cells: Vec<String> = metrics
            .iter()
            .filter(|m| m.name.starts_with("iters_to_") || m.name.starts_with("train_mse_at_"))
            .map(crate::aggregate::Metric::shown)
            .collect();
        let _ = writeln!(out, "| `{t}` | {reference} | {} |", cells.join(" | "));
    }
}

/// The `--jobs` timing caveat, and for a merged report what was merged and where its runs ran.
fn render_provenance(report: &Report, out: &mut String) {
    let jobs = report.environment.jobs;
    if jobs > 1 {
        let _ = writeln!(
            out,
            "**Timing caveat:** runs ran {jobs} at once (`--jobs {jobs}`), each single-threaded. Concurrent runs share memory bandwidth and caches, so each is slower than it would be alone and its times vary more; compare times only with reports run the same way. Results in iteration space do not depend on it.\n"
        );
    }
    let Some(merge) = &report.merge else {
        return;
    };
    let _ = writeln!(
        out,
        "Merged by `fitbench merge` from {} folder(s), built from commit(s) {}{}; the line above describes the machine that merged. Every run records its own machine and calibration, and timing comparisons normalise each run by its own.\n",
        merge.folders.len(),
        merge
            .commits
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", "),
        if merge.allow_mixed_commits && merge.commits.len() > 1 {
            " (mixed on purpose: `--allow-mixed-commits`)"
        } else {
            ""
        }
    );
    let mut machines: BTreeMap<(String, String), (usize, Vec<f64>)> = BTreeMap::new();
    for r in &report.runs {
        let (host, cpu, g) = r
            .provenance
            .as_ref()
            .map_or(("unknown".to_string(), "unknown".to_string(), None), |p| {
                (p.hostname.clone(), p.cpu.clone(), p.calibration_gflops)
            });
        let entry = machines.entry((host, cpu)).or_default();
        entry.0 += 1;
        entry.1.extend(g);
    }
    let _ = writeln!(out, "| host | CPU | runs | calibration (GFLOP/s) |");
    let _ = writeln!(out, "|---|---|---|---|");
    for ((host, cpu), (runs, gflops)) in &machines {
        let lo = gflops.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = gflops.iter().copied().fold(0.0, f64::max);
        let shown = match gflops.len() {
            0 => "–".to_string(),
            _ if hi - lo <= 0.05 * hi => format!("{hi:.1}"),
            _ => format!("{lo:.1}–{hi:.1}"),
        };
        let _ = writeln!(out, "| {host} | {cpu} | {runs} | {shown} |");
    }
    let _ = writeln!(out);
    if !merge.missing.is_empty() {
        let shown: Vec<String> = merge
            .missing
            .iter()
            .take(20)
            .map(|k| format!("`{k}`"))
            .collect();
        let _ = writeln!(
            out,
            "**Incomplete:** {} run(s) of the sweep were in no folder (`--allow-missing`): {}{}.\n",
            merge.missing.len(),
            shown.join(", "),
            if merge.missing.len() > 20 {
                ", …"
            } else {
                ""
            }
        );
    }
}

/// `a` when every value is `a`, else `min–max`.
fn span(v: &[usize]) -> String {
    let (lo, hi) = (v.iter().min(), v.iter().max());
    match (lo, hi) {
        (Some(lo), Some(hi)) if lo == hi => format!("{lo}"),
        (Some(lo), Some(hi)) => format!("{lo}–{hi}"),
        _ => "–".into(),
    }
}

/// Note lines under a dataset's heading: its duplicate rows (and how many test rows have a
/// copy in the training rows), and the features dropped as constant with the rule applied.
fn data_notes(info: &DatasetInfo, out: &mut String) {
    if info.duplicate_rows > 0 {
        let crossing = if info.test_rows_in_train.is_empty() {
            String::new()
        } else if info.test_rows_in_train.iter().all(|&k| k == 0) {
            "; no test row has a copy among the training rows of its split".to_string()
        } else {
            format!(
                "; {} of the {} test rows per split have a copy among that split's training rows, so their test MSE is not out-of-sample",
                span(&info.test_rows_in_train),
                info.n_test
            )
        };
        let _ = writeln!(
            out,
            "Duplicate rows: {} of the {} rows repeat an earlier row exactly (features and target){crossing}. `--dedup` keeps the first copy of each.\n",
            info.duplicate_rows, info.n
        );
    }
    let dropped = info.dropped_features();
    if !dropped.is_empty() {
        let _ = writeln!(
            out,
            "Dropped as constant on a training split ({}): {}.\n",
            fitbench_core::Standardiser::CONSTANT_RULE,
            dropped.join(", ")
        );
    }
}

/// One line per trainer with a learning rate or a searched option: the value each ran with
/// and whether the harness tuned it (no trainer is handicapped silently).
fn learning_rates(report: &Report, out: &mut String) {
    let mut lines = Vec::new();
    for t in report.trainers() {
        let searches: Vec<&fitbench_report::config::TuningRecord> =
            report.tuning.iter().filter(|x| x.trainer == t).collect();
        if let Some(first) = searches.first() {
            let tuned: Vec<String> = searches
                .iter()
                .map(|x| {
                    format!(
                        "{} {}",
                        x.dataset,
                        x.picked_lr
                            .map_or_else(|| "none".into(), |v| format!("{v}"))
                    )
                })
                .collect();
            lines.push(format!(
                "`{t}` {} tuned per dataset on a validation carve-out of the training split ({}; each trial's training time is charged to it in tuning-inclusive times)",
                first.option,
                tuned.join(", ")
            ));
            continue;
        }
        let lrs: Vec<f64> = report
            .runs
            .iter()
            .filter(|r| r.trainer == t)
            .filter_map(|r| {
                r.trainer_config
                    .get("lr")
                    .and_then(serde_json::Value::as_f64)
            })
            .collect();
        if lrs.is_empty() {
            continue;
        }
        let mut distinct: Vec<String> = lrs.iter().map(|lr| format!("{lr}")).collect();
        distinct.dedup();
        lines.push(format!(
            "`{t}` lr {} as given, **not tuned**",
            distinct.join(", ")
        ));
    }
    if !lines.is_empty() {
        let _ = writeln!(
            out,
            "Learning rates and tuned options: {}.\n",
            lines.join("; ")
        );
    }
}

/// Writes a Markdown table, trimmed to the columns that say something ([`Table::trimmed`]),
/// with a line naming the columns left out as copies of another.
pub fn trimmed_table(out: &mut String, heads: &[&str], rows: &[Vec<String>], keep: usize) {
    let table = Table {
        heads: heads.iter().map(|h| h.to_string()).collect(),
        rows: rows.to_vec(),
    }
    .trimmed(keep);
    let _ = writeln!(out, "| {} |", table.heads.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(table.heads.len()));
    for r in &table.rows {
        let _ = writeln!(out, "| {} |", r.join(" | "));
    }
    if !table.same.is_empty() {
        let _ = writeln!(
            out,
            "\nNot shown, equal for every trainer to a column above: {}.",
            table.same.join("; ")
        );
    }
}

/// The verdict section: per dataset, trainers ranked with their ratios to the best, then the
/// wins, ties and losses across datasets ([`crate::verdict`]).
pub fn verdict_markdown(report: &Report) -> String {
    use crate::verdict::{self, Tally};
    let mut out = String::new();
    let verdicts = verdict::verdicts(report);
    if verdicts.is_empty() {
        return out;
    }
    let basis = verdict::ranked_basis(report);
    let tuned = basis == fitbench_report::charge::TimeBasis::TuningInclusive;
    let _ = writeln!(out, "## Verdict\n");
    let _ = writeln!(
        out,
        "Per dataset, trainers ranked by median best train MSE. {}. Test MSE is at each run's point of best train MSE; **overfits** marks a trainer whose median train MSE is below the linear reference's (closed-form OLS) while its median test MSE is above it. \"stopped by\" counts what ended the runs (`timeout`: the time budget, `max_iters`: the step cap, `converged`/`stalled`: the trainer's own rule, `target_reached`: the target MSE); a `converged` run above the stationarity threshold is counted \"not stationary\".{}\n",
        verdict::RULE,
        if tuned {
            " Time to the common target (the smallest configured target every trainer met in most seeds) is ranked **tuning-inclusive**: the run's time plus the training time of every other trial of its grid search (learning rate or searched option; sequential, one thread); selection-honest is the run's own time, optimistic the fastest trial in hindsight (`docs/report-schema.md`)."
        } else if report.tuning.is_empty() {
            " Time to the common target (the smallest configured target every trainer met in most seeds): no trainer was tuned, so selection-honest, tuning-inclusive and optimistic times coincide."
        } else {
            " Time to the common target (the smallest configured target every trainer met in most seeds) is selection-honest: this report was written before fitbench recorded each grid trial's time, so its search cannot be charged."
        }
    );
    let mut tallies: [BTreeMap<String, Tally>; 3] = Default::default();
    for v in &verdicts {
        let _ = writeln!(out, "### {}\n", v.dataset);
        let table = verdict::table(report, v);
        let rows: Vec<Vec<String>> = table
            .rows
            .iter()
            .map(|r| {
                r.iter()
                    .enumerate()
                    .map(|(j, c)| {
                        if j == 1 {
                            return format!("`{c}`");
                        }
                        let mut c = c.clone();
                        for flag in verdict::FLAGS {
                            c = c.replace(flag, &format!("**{flag}**"));
                        }
                        if let Some(stem) = c.strip_suffix(" worse") {
                            c = format!("{stem} **worse**");
                        }
                        c
                    })
                    .collect()
            })
            .collect();
        let heads: Vec<&str> = table.heads.iter().map(String::as_str).collect();
        trimmed_table(&mut out, &heads, &rows, 5);
        let _ = writeln!(out);
        verdict::tally(&v.train, &mut tallies[0]);
        verdict::tally(&v.test, &mut tallies[1]);
        if let Some(e) = v.time(verdict::ranked_basis(report)) {
            verdict::tally(e, &mut tallies[2]);
        }
    }
    if verdicts.len() > 1 {
        let _ = writeln!(
            out,
            "### Across {} datasets\n\nW = best with every other trainer worse, T = best or tied with the best, L = worse than the best (the rule above).\n",
            verdicts.len()
        );
        let _ = writeln!(out, "| trainer | train MSE | test MSE | time to target |");
        let _ = writeln!(out, "|---|---|---|---|");
        let mut order: Vec<(String, Tally)> = tallies[0].clone().into_iter().collect();
        order.sort_by(|a, b| {
            (b.1.wins, b.1.ties)
                .cmp(&(a.1.wins, a.1.ties))
                .then_with(|| a.0.cmp(&b.0))
        });
        for (t, train) in order {
            let other = |k: usize| tallies[k].get(&t).map_or("–".into(), Tally::shown);
            let _ = writeln!(
                out,
                "| `{t}` | {} | {} | {} |",
                train.shown(),
                other(1),
                other(2)
            );
        }
        let _ = writeln!(out);
    }
    out
}

/// Renders the Markdown summary of `report`.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let env = &report.environment;
    let _ = writeln!(out, "# fitbench summary: {}\n", report.config.name);
    let _ = writeln!(
        out,
        "Commit `{}`{}, fitbench {}, {} ({} build), {} on {} ({} cores, {} thread(s) used), faer {}{}.\n",
        env.git_commit,
        if env.git_dirty == Some(true) {
            " (dirty)"
        } else {
            ""
        },
        env.fitbench_version,
        env.rustc,
        env.profile,
        env.cpu,
        env.hostname,
        env.cores,
        env.threads,
        env.faer_version,
        env.burn_version
            .as_ref()
            .map_or(String::new(), |b| format!(", burn {b}"))
    );
    render_provenance(report, &mut out);
    let _ = writeln!(
        out,
        "Network: {}; {}. Seeds: {} per (dataset, trainer), base seed {}.\n",
        report.architecture,
        report.architecture.parametrisation.describe(),
        report.config.seeds,
        report.config.base_seed,
    );
    let _ = writeln!(
        out,
        "Stopping rule, the same for every trainer: the first of {} s of training time (`timeout`), {} steps (`max_iters`){}{}, or the trainer's own convergence test (`converged`, `stalled`; its options are in report.json).\n",
        report.config.budget_s,
        report.config.max_iters,
        report
            .config
            .target_train_mse
            .map_or(String::new(), |t| format!(", train MSE ≤ {t:e} (`target_reached`)")),
        report.config.patience.map_or(String::new(), |p| format!(
            ", {p} evaluations without a relative improvement of {} in the best train MSE (`stalled`)",
            report.config.min_rel_improvement
        ))
    );
    let _ = writeln!(out, "All MSE values are in {}.", report.mse_units);
    let _ = writeln!(
        out,
        "Cells give the median over seeds, with [min, max] when they differ. Times are training time only (the sum of timed `step` calls).\n"
    );
    let _ = writeln!(
        out,
        "Memory: {}. Peak memory is the larger of the trainer's `init` and `step` peaks above what was live when its run started (the data and split are shared, not counted); allocations/step counts allocation calls inside timed `step` calls.\n",
        env.memory_measurement
            .as_deref()
            .unwrap_or("not recorded (report written before fitbench measured memory)")
    );
    learning_rates(report, &mut out);
    out.push_str(&verdict_markdown(report));
    let aggregates = crate::aggregate::aggregate(report);
    out.push_str(&crate::scaling::markdown(report));
    for info in &report.datasets {
        let runs: Vec<&RunRecord> = report
            .runs
            .iter()
            .filter(|r| r.dataset == info.name)
            .collect();
        let _ = writeln!(
            out,
            "## {} ({}×{}, {} train / {} test rows)\n",
            info.name, info.n, info.d, info.n_train, info.n_test
        );
        let _ = writeln!(out, "Source: {}.\n", info.source);
        data_notes(info, &mut out);
        let _ = writeln!(
            out,
            "Linear reference (closed-form OLS, median over splits): train MSE {}, test MSE {}.\n",
            sci(info.reference_train_mse()),
            sci(info.reference_test_mse())
        );
        let _ = writeln!(
            out,
            "‖∇L‖ / ‖∇L₀‖: the gradient norm of the training MSE at a run's final parameters over its norm at the initial network (computed after the last step, untimed); a `converged` run above {} is counted as stopped, not stationary. For (leaky) ReLU nets, the share of hidden units whose activation pattern on the training rows changed in the last step (median over seeds).\n",
            fitbench_report::schema::STATIONARY_RATIO
        );
        let heads = [
            "trainer",
            "status",
            "best train MSE",
            "final train MSE",
            "final test MSE",
            "test MSE at best train",
            "‖∇L‖ / ‖∇L₀‖",
            "ReLU units changed by the last step",
            "steps",
            "train time",
            "setup",
            "eval",
            "peak memory",
            "allocations/step",
        ];
        let mut rows = Vec::new();
        for t in report.trainers() {
            let mine: Vec<&RunRecord> = runs.iter().copied().filter(|r| r.trainer == t).collect();
            if mine.is_empty() {
                continue;
            }
            let mut status = crate::verdict::stopped_by(&mine);
            let not_stationary = mine.iter().filter(|r| r.stopped_not_stationary()).count();
            if not_stationary > 0 {
                status.push_str(&format!(" (**{not_stationary} stopped, not stationary**)"));
            }
            let col = |f: &dyn Fn(&RunRecord) -> Option<f64>| {
                mine.iter().filter_map(|r| f(r)).collect::<Vec<f64>>()
            };
            rows.push(vec![
                format!("`{t}`"),
                status,
                range(col(&|r| r.summary.best_train_mse)),
                range(col(&|r| r.summary.final_train_mse)),
                range(col(&|r| r.summary.final_test_mse)),
                range(col(&|r| r.summary.test_mse_at_best_train)),
                range(col(&|r| r.stationarity.as_ref().map(|c| c.ratio))),
                median(col(&|r| {
                    r.stationarity.as_ref().and_then(|c| c.pattern_changed)
                }))
                .map_or("–".into(), |f| format!("{:.0} %", 100.0 * f)),
                median(col(&|r| Some(r.iterations as f64)))
                    .map_or("–".into(), |v| format!("{v:.0}")),
                median(col(&|r| Some(r.train_s))).map_or("–".into(), duration),
                median(col(&|r| Some(r.setup_s))).map_or("–".into(), duration),
                median(col(&|r| Some(r.eval_s))).map_or("–".into(), duration),
                median(col(&|r| r.memory.as_ref().map(|m| m.peak_bytes() as f64)))
                    .map_or("–".into(), bytes),
                median(col(&|r| {
                    r.memory
                        .as_ref()
                        .and_then(|m| m.allocations_per_step(r.iterations))
                }))
                .map_or("–".into(), per_step),
            ]);
        }
        trimmed_table(&mut out, &heads, &rows, 3);
        if !report.config.targets.is_empty() {
            let _ = writeln!(
                out,
                "\nTraining time to reach a train MSE target (median over the seeds that reached it; reached/total){}:\n",
                if report.tuning.is_empty() {
                    ""
                } else {
                    ". For a tuned trainer the cell also gives the tuning-inclusive time (plus every other grid trial's training time) and the optimistic one (the fastest trial in hindsight); an untuned trainer's three times are equal"
                }
            );
            let heads: Vec<String> = report
                .config
                .targets
                .iter()
                .map(|t| format!("≤ {t:e}"))
                .collect();
            let _ = writeln!(out, "| trainer | {} |", heads.join(" | "));
            let _ = writeln!(out, "|---|{}", "---|".repeat(heads.len()));
            for t in report.trainers() {
                let mine: Vec<&RunRecord> =
                    runs.iter().copied().filter(|r| r.trainer == t).collect();
                let cells: Vec<String> = (0..report.config.targets.len())
                    .map(|i| {
                        use fitbench_report::charge::{TimeBasis, search_of, time_to_target};
                        let times = |basis: TimeBasis| -> Vec<f64> {
                            mine.iter()
                                .filter_map(|r| {
                                    let h = r.summary.targets.get(i)?;
                                    time_to_target(h.time_s, search_of(&report.tuning, r), i, basis)
                                })
                                .collect()
                        };
                        let hits = times(TimeBasis::SelectionHonest);
                        let searched = crate::verdict::ranked_basis(report)
                            == TimeBasis::TuningInclusive
                            && mine.iter().any(|r| search_of(&report.tuning, r).is_some());
                        match median(hits.clone()) {
                            Some(m) if searched => format!(
                                "{} ({}/{}); incl. {}; opt. {}",
                                duration(m),
                                hits.len(),
                                mine.len(),
                                median(times(TimeBasis::TuningInclusive))
                                    .map_or("–".into(), duration),
                                median(times(TimeBasis::Optimistic)).map_or("–".into(), duration),
                            ),
                            Some(m) => format!("{} ({}/{})", duration(m), hits.len(), mine.len()),
                            None => format!("– (0/{})", mine.len()),
                        }
                    })
                    .collect();
                let _ = writeln!(out, "| `{t}` | {} |", cells.join(" | "));
            }
        }
        deterministic_table(&mut out, report, &aggregates, &info.name, &runs);
        let failures: Vec<&&RunRecord> = runs.iter().filter(|r| !r.status.is_ok()).collect();
        if !failures.is_empty() {
            let _ = writeln!(out, "\nFailed runs:\n");
            for r in failures {
                let _ = writeln!(
                    out,
                    "- `{}` seed {}: {}: {}",
                    r.trainer,
                    r.repetition,
                    r.status.as_str(),
                    r.message.as_deref().unwrap_or("")
                );
            }
        }
        let _ = writeln!(
            out,
            "\n![loss vs time](plots/{}/loss_vs_time.png)\n",
            slug(&info.name)
        );
    }
    out
}
