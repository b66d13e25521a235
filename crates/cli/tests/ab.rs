//! `fitbench ab` end to end, with real processes on both sides: the same binary twice, a
//! baseline that does not know a trainer (the cell is new), a baseline that resolves the
//! options into another sweep (refused as mismatched), the test-only slowdown recorded on
//! the current side only, and bad options. No timing is asserted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_fitbench");

fn ab(args: &[&str]) -> Output {
    Command::new(BIN).arg("ab").args(args).output().unwrap()
}

fn text_of(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A small sweep: 2 trainers × 1 dataset × 2 repetitions.
const SWEEP: [&str; 8] = [
    "--datasets",
    "linear:n=200,d=4,noise=0.1",
    "--trainers",
    "ols;adam",
    "--seeds",
    "2",
    "--max-iters",
    "15",
];

/// `fitbench ab` on the small sweep into `out`, with `extra` options.
fn ab_sweep(out: &Path, extra: &[&str]) -> Output {
    ab(&[&SWEEP[..], extra, &["--out", out.to_str().unwrap()]].concat())
}

fn read(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("ab.json")).unwrap()).unwrap()
}

/// A shell script that runs the real binary with its arguments rewritten by `body` (sh).
fn wrapper(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\nREAL='{BIN}'\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn the_same_binary_on_both_sides_pairs_every_run_in_abba_order() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ab");
    let o = ab_sweep(
        &out,
        &["--baseline-bin", BIN, "--rounds", "2", "--seed", "3"],
    );
    let text = text_of(&o);
    assert_eq!(o.status.code(), Some(0), "{text}");
    let stdout = String::from_utf8_lossy(&o.stdout);
    let last = stdout.trim_end().lines().last().unwrap();
    assert!(last.starts_with("fitbench ab: 0 worse,"), "{last}");
    assert!(
        last.contains("(2 cells; 0 with algorithmic differences)"),
        "{last}"
    );
    for f in ["ab.json", "ab.md", "ab.html"] {
        assert!(out.join(f).exists(), "{f}");
    }
    assert!(
        !out.join("runs").exists(),
        "run folders are removed once read"
    );
    let r = read(&out);
    assert_eq!(r["schema_version"], 1);
    let cells = r["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 2);
    let mut positions = Vec::new();
    for c in cells {
        assert_eq!(c["status"], "compared");
        assert!(c["differences"].as_array().unwrap().is_empty(), "{c}");
        let pairs = c["pairs"].as_array().unwrap();
        assert_eq!(pairs.len(), 4, "2 rounds × 2 repetitions");
        for p in pairs {
            let (b, cu) = (&p["baseline"], &p["current"]);
            assert_eq!(b["iterations"], cu["iterations"]);
            let (pb, pc) = (
                b["position"].as_u64().unwrap(),
                cu["position"].as_u64().unwrap(),
            );
            // Back to back, in the order recorded.
            assert_eq!(pb.abs_diff(pc), 1);
            let first = if pb < pc { "baseline" } else { "current" };
            assert_eq!(p["first"], first);
            positions.push((pb.min(pc), first.to_string()));
        }
    }
    // ABBA over the whole schedule: pair k starts with the side pair 0 started with when k
    // is even.
    positions.sort();
    let start = positions[0].1.clone();
    for (k, (_, first)) in positions.iter().enumerate() {
        assert_eq!(*first == start, k % 2 == 0, "pair {k}: {positions:?}");
    }
    // The sweep both sides ran is recorded.
    assert_eq!(r["sweep"]["max_iters"], 15);
}

#[test]
fn a_trainer_the_baseline_does_not_know_makes_its_cell_new() {
    let dir = tempfile::tempdir().unwrap();
    // An "older" baseline: refuses adam as an unknown trainer (exit 2, as fitbench does).
    let old = wrapper(
        dir.path(),
        "old-fitbench",
        r#"case "$*" in *"--trainers adam"*) echo "fitbench: error: unknown trainer adam" >&2; exit 2;; esac
exec "$REAL" "$@""#,
    );
    let out = dir.path().join("ab");
    let o = ab_sweep(
        &out,
        &["--baseline-bin", old.to_str().unwrap(), "--rounds", "1"],
    );
    let text = text_of(&o);
    assert_eq!(
        o.status.code(),
        Some(0),
        "a new cell is not a failure: {text}"
    );
    let r = read(&out);
    let adam = r["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["trainer"] == "adam")
        .unwrap();
    assert_eq!(adam["status"], "new");
    assert!(
        adam["message"]
            .as_str()
            .unwrap()
            .contains("unknown trainer adam"),
        "{adam}"
    );
    assert_eq!(r["counts"]["new"], 1);
    assert!(text.contains("1 new"), "{text}");
}

#[test]
fn a_baseline_that_resolves_another_sweep_is_refused_as_mismatched() {
    let dir = tempfile::tempdir().unwrap();
    // This baseline quietly trains with another patience-free stop rule: a target MSE.
    let other = wrapper(
        dir.path(),
        "other-fitbench",
        r#"exec "$REAL" "$@" --target-mse 0.5"#,
    );
    let out = dir.path().join("ab");
    let o = ab_sweep(
        &out,
        &["--baseline-bin", other.to_str().unwrap(), "--rounds", "1"],
    );
    let text = text_of(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    let r = read(&out);
    for c in r["cells"].as_array().unwrap() {
        assert_eq!(c["status"], "failed", "{c}");
        let m = c["message"].as_str().unwrap();
        assert!(
            m.contains("mismatched sweep") && m.contains("target_train_mse"),
            "{m}"
        );
    }
    assert!(text.contains("2 failed"), "{text}");
}

#[test]
fn the_test_slowdown_applies_to_the_current_side_only_and_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ab");
    let o = ab_sweep(
        &out,
        &[
            "--baseline-bin",
            BIN,
            "--rounds",
            "1",
            "--keep-runs",
            "--test-slowdown",
            "adam=1.5",
        ],
    );
    let text = text_of(&o);
    // Exit 0 or 1 (WORSE is possible with a factor of 1.5; timing is not asserted).
    assert!(matches!(o.status.code(), Some(0 | 1)), "{text}");
    let r = read(&out);
    assert_eq!(r["settings"]["test_slowdown"]["trainer"], "adam");
    assert!(text.contains("test slowdown"), "{text}");
    // Every run's own report: the current side records the slowdown, the baseline does not;
    // the numerics agree (no algorithmic difference).
    let mut seen = [0, 0];
    for e in std::fs::read_dir(out.join("runs")).unwrap() {
        let d = e.unwrap().path();
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.join("report.json")).unwrap()).unwrap();
        let name = d.file_name().unwrap().to_string_lossy().into_owned();
        let recorded = !report["config"]["test_slowdown"].is_null();
        let trainer = report["runs"][0]["trainer"].as_str().unwrap().to_string();
        if name.ends_with("-current") && trainer == "adam" {
            assert!(recorded, "{name}");
            seen[0] += 1;
        } else {
            assert!(!recorded, "{name}");
            seen[1] += 1;
        }
    }
    assert_eq!(
        seen,
        [2, 6],
        "the current side's adam runs, and every other run"
    );
    for c in r["cells"].as_array().unwrap() {
        assert_eq!(c["status"], "compared", "{c}");
        assert!(c["differences"].as_array().unwrap().is_empty(), "{c}");
    }
}

#[test]
fn bad_options_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ab");
    let o_str = out.to_str().unwrap();
    for (args, want) in [
        (vec!["--rounds", "0"], "--rounds 0"),
        (vec!["--threshold", "-1"], "--threshold"),
        (
            vec!["--test-slowdown", "lbfgs=1.1"],
            "not a trainer of the sweep",
        ),
        (vec!["--test-slowdown", "adam=0.5"], "FACTOR must be"),
        (vec!["--trainers", "nope"], "nope"),
        (vec!["--preset", "barbu"], "one sweep"),
    ] {
        let mut all: Vec<&str> = SWEEP.to_vec();
        if args[0] == "--trainers" {
            all.truncate(2);
        }
        if args[0] == "--preset" {
            all.clear();
        }
        all.extend(["--baseline-bin", BIN, "--out", o_str]);
        all.extend(args);
        let o = ab(&all);
        let text = text_of(&o);
        assert_eq!(o.status.code(), Some(2), "{all:?}: {text}");
        assert!(text.contains(want), "{want}: {text}");
        assert!(!out.join("ab.json").exists());
    }
    // A missing baseline binary.
    let o = ab_sweep(&out, &["--baseline-bin", "/no/such/fitbench"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text_of(&o).contains("does not exist"), "{}", text_of(&o));
}

#[test]
fn a_side_that_leaves_no_report_fails_its_cell_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    // Exits 0 without running anything.
    let silent = wrapper(dir.path(), "silent-fitbench", "exit 0");
    let out = dir.path().join("ab");
    let o = ab_sweep(
        &out,
        &["--baseline-bin", silent.to_str().unwrap(), "--rounds", "1"],
    );
    let text = text_of(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    for c in read(&out)["cells"].as_array().unwrap() {
        assert_eq!(c["status"], "failed", "{c}");
        let m = c["message"].as_str().unwrap();
        assert!(
            m.contains("baseline binary failed") && m.contains("wrote no report.json"),
            "{m}"
        );
    }
}
