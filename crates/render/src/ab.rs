//! The pages of `fitbench ab`: `ab.md` (a table per verdict, worst first, the counts on the
//! last line) and `ab.html` (in the style of the check page: per cell the ratio with its
//! interval, coloured by verdict, the worst first, and every pair's ratio drawn). The
//! numbers come from [`fitbench_report::ab::AbReport`]; nothing is computed here but text.

use crate::error::{RenderError, Result};
use fitbench_report::ab::{AbCell, AbReport, CellStatus};
use fitbench_report::format::number;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Writes `ab.json`, `ab.md` and `ab.html` into `dir`; returns their paths.
pub fn write(report: &AbReport, dir: &Path) -> Result<Vec<PathBuf>> {
    let json = dir.join("ab.json");
    fitbench_report::io::write_json(report, &json)?;
    let md = dir.join("ab.md");
    fitbench_report::io::write_atomic(&md, markdown(report).as_bytes())?;
    let html = dir.join("ab.html");
    fitbench_report::io::write_atomic(&html, render_html(report)?.as_bytes())?;
    Ok(vec![json, md, html])
}

fn ratio_cell(c: &AbCell) -> String {
    c.speed.as_ref().map_or("–".into(), |s| {
        format!(
            "{:.3} [{}, {}]",
            s.stat.ratio,
            bound(s.stat.lower),
            bound(s.stat.upper)
        )
    })
}

fn bound(v: f64) -> String {
    if v.is_finite() && v > 0.0 {
        format!("{v:.3}")
    } else if v > 0.0 {
        "∞".into()
    } else {
        "0".into()
    }
}

fn algorithmic(c: &AbCell) -> String {
    match (c.status, c.differences.as_slice()) {
        (CellStatus::Compared, []) => "agree".into(),
        (CellStatus::Compared, d) => {
            let mut metrics: Vec<&str> = d.iter().map(|x| x.metric.as_str()).collect();
            metrics.sort_unstable();
            metrics.dedup();
            format!("DIFFER: {}", metrics.join(", "))
        }
        (CellStatus::New, _) => "new".into(),
        (CellStatus::Failed, _) => "failed".into(),
    }
}

/// `ab.md`: settings, the cells worst first, notes, and the counts as the last line.
pub fn markdown(r: &AbReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# fitbench ab: {}\n", r.sweep.name);
    let side = |x: &fitbench_report::ab::SideInfo| {
        format!(
            "`{}`{}{}",
            x.binary,
            x.revision
                .as_ref()
                .map_or(String::new(), |v| format!(", built from `{v}`")),
            x.git_commit
                .as_ref()
                .map_or(String::new(), |c| format!(", commit `{}`", short(c)))
        )
    };
    let _ = writeln!(s, "- baseline: {}", side(&r.baseline));
    let _ = writeln!(s, "- current: {}", side(&r.current));
    let st = &r.settings;
    let _ = writeln!(
        s,
        "- {} round(s), threshold {} %, family-wise α = {} per direction (Holm), seed {}; machine {}; {:.0} s wall",
        st.rounds,
        number(100.0 * st.threshold),
        st.alpha,
        st.seed,
        r.machine,
        r.wall_s
    );
    if let Some(t) = &st.test_slowdown {
        let _ = writeln!(
            s,
            "- **test slowdown**: the current side's `{}` busy-waits to {}× its step time",
            t.trainer, t.factor
        );
    }
    let _ = writeln!(
        s,
        "\nRatio = current / baseline seconds per step: geometric mean over the pairs, with an exact signed-rank interval simultaneous over the compared cells. WORSE: slower than 1 + threshold by Holm's test; same: the interval lies within [1/(1 + threshold), 1 + threshold].\n"
    );
    let _ = writeln!(
        s,
        "| dataset | trainer | speed | ratio [interval] | pairs | sd(log) | p worse (Holm) | algorithm |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    for c in r.worst_first() {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            c.dataset,
            c.trainer,
            c.verdict.as_str(),
            ratio_cell(c),
            c.pairs.len(),
            c.speed
                .as_ref()
                .map_or("–".into(), |x| format!("{:.3}", x.stat.sd_log)),
            c.speed
                .as_ref()
                .map_or("–".into(), |x| number(x.p_worse_holm)),
            algorithmic(c)
        );
    }
    let levels: Vec<&AbCell> = r
        .cells
        .iter()
        .filter(|c| c.levels.iter().any(|l| l.stat.is_some()))
        .collect();
    if !levels.is_empty() {
        let _ = writeln!(
            s,
            "\n## Seconds to each suboptimality level (reported, not gated)\n"
        );
        let _ = writeln!(
            s,
            "| dataset | trainer | level | ratio [interval] | pairs |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|");
        for c in levels {
            for l in &c.levels {
                if let Some(x) = &l.stat {
                    let _ = writeln!(
                        s,
                        "| {} | {} | {} | {:.3} [{}, {}] | {} |",
                        c.dataset,
                        c.trainer,
                        number(l.level),
                        x.ratio,
                        bound(x.lower),
                        bound(x.upper),
                        x.n
                    );
                }
            }
        }
    }
    let special: Vec<&AbCell> = r
        .cells
        .iter()
        .filter(|c| c.message.is_some() || !c.differences.is_empty() || c.accepted.is_some())
        .collect();
    if !special.is_empty() {
        let _ = writeln!(s, "\n## Cells to look at\n");
        for c in special {
            if let Some(m) = &c.message {
                let _ = writeln!(
                    s,
                    "- {} ({:?}): {}",
                    c.key(),
                    c.status,
                    m.replace('\n', " ")
                );
            }
            for d in c.differences.iter().take(5) {
                let _ = writeln!(
                    s,
                    "- {}: algorithmic difference in {} (repetition {}, round {}): baseline {}, current {}",
                    c.key(),
                    d.metric,
                    d.repetition,
                    d.round,
                    d.baseline,
                    d.current
                );
            }
            if let Some(a) = &c.accepted {
                let _ = writeln!(
                    s,
                    "- {}: accepted up to {}× ({})",
                    c.key(),
                    a.max_ratio,
                    a.reason
                );
            }
        }
    }
    if !r.notes.is_empty() {
        let _ = writeln!(s, "\n## Notes\n");
        for n in &r.notes {
            let _ = writeln!(s, "- {n}");
        }
    }
    let _ = writeln!(s, "\n{}", r.tally());
    s
}

fn short(c: &str) -> &str {
    c.get(..10).unwrap_or(c)
}

/// One cell on the page.
#[derive(Serialize)]
struct CellView {
    dataset: String,
    trainer: String,
    verdict: String,
    ratio: Option<f64>,
    lower: Option<f64>,
    upper: Option<f64>,
    shown: String,
    pairs: usize,
    algorithmic: String,
    message: Option<String>,
    /// Per pair (schedule order): current/baseline seconds per step.
    ratios: Vec<Option<f64>>,
    rows: Vec<PairRow>,
}

#[derive(Serialize)]
struct PairRow {
    round: usize,
    repetition: usize,
    first: &'static str,
    baseline: String,
    current: String,
    ratio: Option<f64>,
    shown: String,
}

#[derive(Serialize)]
struct AbPage {
    kind: &'static str,
    title: String,
    tally: String,
    threshold: f64,
    counts: [usize; 5],
    cells: Vec<CellView>,
    notes: Vec<String>,
    settings: serde_json::Value,
    sides: [serde_json::Value; 2],
}

fn page(r: &AbReport) -> AbPage {
    let finite = |v: f64| (v.is_finite() && v > 0.0).then_some(v);
    let cells = r
        .worst_first()
        .into_iter()
        .map(|c| CellView {
            dataset: c.dataset.clone(),
            trainer: c.trainer.clone(),
            verdict: c.verdict.as_str().into(),
            ratio: c.speed.as_ref().map(|s| s.stat.ratio),
            lower: c.speed.as_ref().and_then(|s| finite(s.stat.lower)),
            upper: c.speed.as_ref().and_then(|s| finite(s.stat.upper)),
            shown: ratio_cell(c),
            pairs: c.pairs.len(),
            algorithmic: algorithmic(c),
            message: c.message.clone(),
            ratios: c.pairs.iter().map(|p| p.step_ratio()).collect(),
            rows: c
                .pairs
                .iter()
                .map(|p| PairRow {
                    round: p.round,
                    repetition: p.repetition,
                    first: p.first.as_str(),
                    baseline: p.baseline.s_per_step().map_or("–".into(), number),
                    current: p.current.s_per_step().map_or("–".into(), number),
                    ratio: p.step_ratio(),
                    shown: p.step_ratio().map_or("–".into(), |r| format!("{r:.4}")),
                })
                .collect(),
        })
        .collect();
    let c = &r.counts;
    AbPage {
        kind: "ab",
        title: format!("{} ({} cells)", r.sweep.name, r.cells.len()),
        tally: r.tally(),
        threshold: r.settings.threshold,
        counts: [c.worse, c.accepted, c.inconclusive, c.same, c.better],
        cells,
        notes: r.notes.clone(),
        settings: serde_json::to_value(&r.settings).unwrap_or_default(),
        sides: [
            serde_json::to_value(&r.baseline).unwrap_or_default(),
            serde_json::to_value(&r.current).unwrap_or_default(),
        ],
    }
}

const AB_TEMPLATE: &str = include_str!("../templates/ab.html");

/// `ab.html` as a string: one self-contained page.
pub fn render_html(r: &AbReport) -> Result<String> {
    crate::html::render_page(AB_TEMPLATE, "ab.html", &page(r), r.counts.failed).map_err(|e| match e
    {
        RenderError::Html(m) => RenderError::Html(format!("ab.html: {m}")),
        other => other,
    })
}
