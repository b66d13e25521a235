//! The example runs end to end with a tiny budget, and README's "Extending" section shows
//! its files exactly as they are.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fitbench_harness::console;
use fitbench_report::Status;
use std::path::Path;

/// Seconds per run: enough for the one-step trainers, a few epochs of `adam`.
const TINY_BUDGET_S: f64 = 0.05;

#[test]
fn the_sweep_runs_the_custom_trainer_and_generator_beside_built_ins() {
    fitbench_example_extend::register().unwrap();
    assert!(console::listing(console::Listing::Trainers).contains("random-features"));
    assert!(console::listing(console::Listing::Datasets).contains("sine1d"));
    let dir = tempfile::tempdir().unwrap();
    let report = fitbench_example_extend::sweep(dir.path(), TINY_BUDGET_S).unwrap();
    // 2 datasets × 3 trainers × 2 seeds.
    assert_eq!(report.runs.len(), 12);
    for r in &report.runs {
        assert!(
            r.status.is_ok(),
            "{} on {}: {:?} {:?}",
            r.trainer,
            r.dataset,
            r.status,
            r.message
        );
        assert!(
            r.summary.final_test_mse.is_some_and(f64::is_finite),
            "{r:?}"
        );
    }
    let custom: Vec<_> = report
        .runs
        .iter()
        .filter(|r| r.trainer_id == "random-features")
        .collect();
    assert_eq!(custom.len(), 4);
    assert!(custom.iter().all(|r| r.trainer_config["ridge"] == 1e-6));
    // One least-squares solve: converged after one step.
    assert!(
        custom
            .iter()
            .all(|r| r.status == Status::Converged && r.iterations == 1),
        "{custom:?}"
    );
    let sine: Vec<_> = report
        .datasets
        .iter()
        .filter(|d| d.name == "sine1d:n=400")
        .collect();
    assert_eq!(sine.len(), 1);
    assert_eq!(sine[0].d, 1, "sine1d has one feature");
    // The files written name them too.
    let written = std::fs::read_to_string(dir.path().join("report.json")).unwrap();
    assert!(written.contains("random-features") && written.contains("sine1d:n=400"));
}

#[test]
fn a_negative_ridge_is_refused_naming_the_option() {
    use fitbench_core::TrainerConfig;
    let bad = fitbench_example_extend::random_features::RandomFeaturesConfig { ridge: -1.0 };
    let msg = bad.validate().unwrap_err().to_string();
    assert!(msg.contains("random-features.ridge"), "{msg}");
}

/// README's blocks marked `<!-- example:PATH -->`, as (PATH, the fenced block after it).
fn readme_blocks(readme: &str) -> Vec<(String, String)> {
    const MARKER: &str = "<!-- example:";
    let mut out = Vec::new();
    let mut rest = readme;
    while let Some(at) = rest.find(MARKER) {
        rest = &rest[at + MARKER.len()..];
        let (path, after) = rest.split_once(" -->").expect("a marker ends with ` -->`");
        let fence = after
            .trim_start_matches('\n')
            .strip_prefix("```")
            .expect("a fenced block follows its marker");
        let (_lang, body) = fence.split_once('\n').unwrap();
        let end = body.find("\n```\n").expect("the block is closed");
        out.push((path.to_string(), format!("{}\n", &body[..end])));
        rest = &body[end..];
    }
    out
}

#[test]
fn readme_shows_the_example_word_for_word() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let examples = crate_dir.parent().unwrap();
    let readme = std::fs::read_to_string(examples.join("../README.md")).unwrap();
    let blocks = readme_blocks(&readme);
    for (path, block) in &blocks {
        let file = std::fs::read_to_string(examples.join(path))
            .unwrap_or_else(|e| panic!("README shows {path}, which cannot be read: {e}"));
        assert!(
            *block == file,
            "README's block for {path} differs from the file; copy the file into README"
        );
    }
    // Every file of the example is shown.
    let mut files = vec!["extend/Cargo.toml".to_string()];
    for entry in std::fs::read_dir(crate_dir.join("src")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        files.push(format!("extend/src/{name}"));
    }
    files.sort();
    let mut shown: Vec<String> = blocks.into_iter().map(|(p, _)| p).collect();
    shown.sort();
    assert_eq!(shown, files);
}
