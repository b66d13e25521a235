//! `report.html` and the check page: valid HTML5, one chart per dataset, every run (failed ones
//! visibly), no network reference, and embedded data that round-trip to the report's numbers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fitbench_harness::runner::{self, MonotonicClock, Plan};
use fitbench_render::{check, html, output};
use fitbench_report::config::{Handicap, RunConfig};
use fitbench_report::schema::{Report, RunRecord};
use scraper::{Html, Selector};
use serde_json::Value;

fn config() -> RunConfig {
    RunConfig {
        name: "html".into(),
        datasets: vec!["smooth2d:n=200".into(), "diabetes".into()],
        // lbfgs converges; sgd with a huge step diverges (a failed run the page must show).
        trainers: vec!["ols".into(), "lbfgs".into(), "sgd:lr=1e6".into()],
        seeds: 2,
        budget_s: 1.0,
        max_iters: 40,
        ..RunConfig::default()
    }
}

fn sweep(config: RunConfig) -> Report {
    let plan = Plan::resolve(config).unwrap();
    let output = runner::run_sweep(
        &plan,
        &mut MonotonicClock::default(),
        &mut |_| Ok(()),
        &mut |_| {},
    )
    .unwrap();
    fitbench_harness::build_report(&plan, output)
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap()
}

/// Parses a page: no HTML5 parse error, and no URL to another host in any `src` or `href`
/// (every script and style is inline).
fn parse_offline(page: &str) -> Html {
    let doc = Html::parse_document(page);
    assert!(
        doc.errors.is_empty(),
        "HTML5 parse errors: {:?}",
        doc.errors
    );
    for e in doc.select(&sel("[src], [href]")) {
        for attr in ["src", "href"] {
            if let Some(v) = e.value().attr(attr) {
                let v = v.trim().to_ascii_lowercase();
                assert!(
                    !(v.starts_with("http:") || v.starts_with("https:") || v.starts_with("//")),
                    "network reference {attr}={v}"
                );
            }
        }
    }
    assert_eq!(doc.select(&sel("script[src], link")).count(), 0);
    doc
}

fn embedded(doc: &Html) -> Value {
    let script = doc.select(&sel("script#fitbench-data")).next().unwrap();
    serde_json::from_str(&script.text().collect::<String>()).unwrap()
}

/// The page's curve value `json` stands for `v`: the same f32 where `v` fits in one, else `v`.
fn f32_eq(json: &Value, v: f64) -> bool {
    json.as_f64().is_some_and(|j| {
        if (v as f32).is_finite() {
            j as f32 == v as f32
        } else {
            j == v
        }
    })
}

#[test]
fn report_html_has_a_chart_per_dataset_every_run_and_the_report_numbers() {
    let report = sweep(config());
    assert!(
        report.runs.iter().any(|r| !r.status.is_ok()),
        "a run must fail"
    );
    let dir = tempfile::tempdir().unwrap();
    output::write_all(&report, dir.path()).unwrap();
    let page = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    let doc = parse_offline(&page);

    // One chart per dataset, in report order.
    let charts: Vec<String> = doc
        .select(&sel("section.dataset div.chart"))
        .map(|e| e.value().attr("data-chart").unwrap().to_string())
        .collect();
    let names: Vec<String> = report.datasets.iter().map(|d| d.name.clone()).collect();
    assert_eq!(charts, names);

    // Every run's key, failed runs with their status and class.
    for r in &report.runs {
        let key = format!("{} / {} / {}", r.dataset, r.trainer, r.repetition);
        let row = doc
            .select(&sel("#runs-table tbody tr"))
            .find(|tr| tr.value().attr("data-run") == Some(key.as_str()))
            .unwrap_or_else(|| panic!("no row for {key}"));
        let text: String = row.text().collect();
        assert!(text.contains(r.status.as_str()), "{key}: {text}");
        assert_eq!(
            row.value()
                .has_class("failed", scraper::CaseSensitivity::CaseSensitive),
            !r.status.is_ok()
        );
    }

    // The embedded data: every run's numbers exactly, the seed bands as f32 of the runs' own
    // points (min and max over seeds at every iteration), the linear reference exactly.
    let data = embedded(&doc);
    let runs = data["runs"].as_array().unwrap();
    assert_eq!(runs.len(), report.runs.len());
    for (v, r) in runs.iter().zip(&report.runs) {
        assert_eq!(v["train_s"].as_f64(), Some(r.train_s));
        assert_eq!(v["iterations"].as_u64(), Some(r.iterations as u64));
        assert_eq!(v["best_train_mse"].as_f64(), r.summary.best_train_mse);
        assert_eq!(v["status"].as_str(), Some(r.status.as_str()));
        assert_eq!(
            v["grad_ratio"].as_f64(),
            r.stationarity.as_ref().map(|c| c.ratio),
            "the certificate is on the page"
        );
    }
    // What stopped a run sits beside its loss: status, then best train MSE.
    let heads: Vec<String> = doc
        .select(&sel("#runs-table thead th"))
        .map(|th| th.text().collect())
        .collect();
    assert_eq!(
        &heads[1..5],
        [
            "stopped by",
            "best train MSE",
            "test MSE at best train",
            "‖∇L‖ / ‖∇L₀‖"
        ]
    );
    let mut checked = 0;
    for (ds, info) in data["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&report.datasets)
    {
        assert_eq!(ds["linear_train"].as_f64(), info.reference_train_mse());
        for s in ds["series"].as_array().unwrap() {
            let trainer = s["trainer"].as_str().unwrap();
            let mine: Vec<&RunRecord> = report
                .runs
                .iter()
                .filter(|r| r.dataset == info.name && r.trainer == trainer)
                .collect();
            let band = &s["iter"];
            for (i, x) in band["x"].as_array().unwrap().iter().enumerate() {
                let x = x.as_f64().unwrap();
                let at: Vec<f64> = mine
                    .iter()
                    .filter_map(|r| {
                        r.curve
                            .iter()
                            .take_while(|p| p.iter as f64 <= x)
                            .last()
                            .map(|p| p.train_mse)
                    })
                    .filter(|v| v.is_finite())
                    .collect();
                let cell = &band["train"][i];
                if at.is_empty() {
                    assert!(cell[1].is_null());
                    continue;
                }
                let lo = at.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = at.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                assert!(
                    f32_eq(&cell[0], lo),
                    "{trainer} at {x}: {} vs {lo}",
                    cell[0]
                );
                assert!(
                    f32_eq(&cell[2], hi),
                    "{trainer} at {x}: {} vs {hi}",
                    cell[2]
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 50, "only {checked} band points checked");
}

#[test]
fn the_check_page_puts_the_worst_regression_first() {
    let base = sweep(config());
    // The current sweep: lbfgs handicapped (it really steps only every 4th call).
    let current = sweep(RunConfig {
        test_handicap: Some(Handicap {
            trainer: "lbfgs".into(),
            every: 4,
        }),
        ..config()
    });
    let tol = check::Tolerances {
        timing: false,
        ..check::Tolerances::default()
    };
    let comparison = check::compare(&base, &current, &tol);
    assert!(!comparison.regressions().is_empty());
    let page = html::render_check(&base, &current, &comparison).unwrap();
    let doc = parse_offline(&page);
    let pairs: Vec<_> = doc.select(&sel("section.pair")).collect();
    let mut expected: Vec<(String, String)> = comparison
        .rows
        .iter()
        .map(|r| (r.dataset.clone(), r.trainer.clone()))
        .collect();
    expected.sort();
    expected.dedup();
    assert_eq!(pairs.len(), expected.len());
    let first = pairs[0].value();
    assert!(first.has_class("verdict-WORSE", scraper::CaseSensitivity::CaseSensitive));
    assert_eq!(first.attr("data-trainer"), Some("lbfgs"));
    // Every WORSE pair comes before every other.
    let verdicts: Vec<bool> = pairs
        .iter()
        .map(|p| {
            p.value()
                .has_class("verdict-WORSE", scraper::CaseSensitivity::CaseSensitive)
        })
        .collect();
    assert!(verdicts.windows(2).all(|w| w[0] || !w[1]), "{verdicts:?}");
    let data = embedded(&doc);
    assert_eq!(data["pairs"].as_array().unwrap().len(), expected.len());
}
