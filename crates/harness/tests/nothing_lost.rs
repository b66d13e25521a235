//! A sweep folder is a small database with one writer: `runs.jsonl` is append-only, a torn
//! last line is moved aside, a second writer is refused, `--resume` supersedes rather than
//! deletes and says what it does, `--force` moves the earlier sweep aside.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fitbench_harness::lock::FolderLock;
use fitbench_harness::request::{self, Existing, SweepJob};
use fitbench_harness::resume::ResumeSummary;
use fitbench_harness::runner::Progress;
use fitbench_report::io::RunLog;
use fitbench_report::{RunConfig, Status};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

fn job(out: &Path) -> SweepJob {
    SweepJob {
        config: RunConfig {
            name: "nothing-lost".into(),
            datasets: vec!["linear:n=120,d=3,noise=0.1".into()],
            trainers: vec!["ols".into(), "adam:lr=0.01".into()],
            seeds: 2,
            max_iters: 30,
            budget_s: 1e6,
            hidden: vec![4],
            ..RunConfig::default()
        },
        out: out.into(),
        shard: None,
        jobs: 1,
    }
}

/// Runs `job`, collecting the `--resume` summary and the notes it printed.
fn execute_with(
    job: &SweepJob,
    existing: Existing,
    interrupt: Arc<AtomicBool>,
) -> (
    fitbench_harness::error::Result<request::SweepResult>,
    Option<ResumeSummary>,
    Vec<String>,
) {
    let mut summary = None;
    let mut notes = Vec::new();
    let result = request::execute(job, existing, interrupt, &mut |_| {}, &mut |p| match p {
        Progress::Resume(s) => summary = Some(s.clone()),
        Progress::Note(n) => notes.push(n.to_string()),
        _ => {}
    });
    (result, summary, notes)
}

fn execute(job: &SweepJob, existing: Existing) -> request::SweepResult {
    execute_with(job, existing, Arc::new(AtomicBool::new(false)))
        .0
        .unwrap()
}

fn log_bytes(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join("runs.jsonl")).unwrap()
}

/// Keeps the first `n` lines of `dir/runs.jsonl`, as a sweep killed after `n` runs leaves it.
fn keep_lines(dir: &Path, n: usize) {
    let text = std::fs::read_to_string(dir.join("runs.jsonl")).unwrap();
    let kept: String = text.split_inclusive('\n').take(n).collect();
    std::fs::write(dir.join("runs.jsonl"), kept).unwrap();
}

#[test]
fn an_interrupt_during_resume_keeps_every_finished_run() {
    let dir = tempfile::tempdir().unwrap();
    let j = job(dir.path());
    execute(&j, Existing::Refuse);
    keep_lines(dir.path(), 2);
    let before = log_bytes(dir.path());
    // The signal has already arrived when the resumed sweep starts: nothing new runs.
    let (result, summary, _) = execute_with(&j, Existing::Resume, Arc::new(AtomicBool::new(true)));
    let result = result.unwrap();
    assert!(result.interrupted);
    assert_eq!(summary.unwrap().reused, 2);
    assert_eq!(
        log_bytes(dir.path()),
        before,
        "runs.jsonl must keep every finished run, byte for byte"
    );
    // The report of the interrupted resume holds the reused runs.
    assert_eq!(result.report.runs.len(), 2);
    let finished = execute(&j, Existing::Resume);
    assert_eq!((finished.reused, finished.report.runs.len()), (2, 4));
    assert!(log_bytes(dir.path()).starts_with(&before));
}

#[test]
fn a_second_writer_is_refused_while_the_first_holds_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let j = job(dir.path());
    let held = FolderLock::acquire(dir.path()).unwrap();
    let (result, _, _) = execute_with(&j, Existing::Refuse, Arc::new(AtomicBool::new(false)));
    let msg = result.unwrap_err().to_string();
    assert!(
        msg.contains("in use by another fitbench")
            && msg.contains(&format!("pid {}", std::process::id())),
        "{msg}"
    );
    assert!(!dir.path().join("runs.jsonl").exists(), "nothing written");
    let rebuild = request::rebuild(dir.path());
    assert!(rebuild.is_err());
    drop(held);
    assert_eq!(execute(&j, Existing::Refuse).report.runs.len(), 4);
}

#[test]
fn a_torn_last_line_is_moved_aside_and_every_complete_run_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let j = job(dir.path());
    execute(&j, Existing::Refuse);
    keep_lines(dir.path(), 3);
    let complete = log_bytes(dir.path());
    let torn = b"{\"dataset\":\"linear:n=120,d=3,noise=0.1\",\"trainer\":\"ad";
    let mut bytes = complete.clone();
    bytes.extend_from_slice(torn);
    std::fs::write(dir.path().join("runs.jsonl"), &bytes).unwrap();
    // `fitbench report` rebuilds from the complete lines and says where the torn one went.
    let rebuilt = request::rebuild(dir.path()).unwrap();
    assert_eq!(rebuilt.report.runs.len(), 3);
    assert!(
        rebuilt
            .notes
            .iter()
            .any(|n| n.contains("line 4 was torn") && n.contains("runs.jsonl.torn")),
        "{:?}",
        rebuilt.notes
    );
    assert_eq!(log_bytes(dir.path()), complete);
    let side = std::fs::read(dir.path().join("runs.jsonl.torn")).unwrap();
    assert_eq!(&side[..side.len() - 1], torn);
    // A torn line found by --resume is moved aside the same way, and the sweep finishes.
    std::fs::write(dir.path().join("runs.jsonl"), &bytes).unwrap();
    let (result, summary, notes) =
        execute_with(&j, Existing::Resume, Arc::new(AtomicBool::new(false)));
    assert_eq!(result.unwrap().report.runs.len(), 4);
    assert_eq!(summary.unwrap().reused, 3);
    assert!(notes.iter().any(|n| n.contains("torn")), "{notes:?}");
    assert!(log_bytes(dir.path()).starts_with(&complete));
    assert_eq!(
        RunLog::read(&dir.path().join("runs.jsonl")).unwrap().len(),
        4
    );
}

#[test]
fn a_changed_setting_reruns_appends_and_names_the_change() {
    let dir = tempfile::tempdir().unwrap();
    let j = job(dir.path());
    let first = execute(&j, Existing::Refuse);
    let before = log_bytes(dir.path());
    let mut changed = job(dir.path());
    changed.config.max_iters = 20;
    // A limit that does not change results is not a change.
    changed.config.max_memory = Some(8 << 30);
    let (result, summary, _) =
        execute_with(&changed, Existing::Resume, Arc::new(AtomicBool::new(false)));
    let result = result.unwrap();
    let summary = summary.unwrap();
    assert_eq!((summary.reused, summary.changed), (0, 4));
    assert_eq!(summary.changes, vec!["max_iters 30 → 20".to_string()]);
    assert!(
        summary
            .to_string()
            .contains("rerunning 4 (config changed: max_iters 30 → 20)"),
        "{summary}"
    );
    // The old records stay, superseded; the report holds the new ones.
    let log = log_bytes(dir.path());
    assert!(log.starts_with(&before));
    assert_eq!(
        RunLog::read(&dir.path().join("runs.jsonl")).unwrap().len(),
        8
    );
    assert!(result.report.runs.iter().all(|r| r.iterations <= 20));
    assert_ne!(
        first.report.runs[1].iterations,
        result.report.runs[1].iterations
    );
    assert_eq!(request::rebuild(dir.path()).unwrap().report.runs.len(), 4);
    // Back to the first settings, stopped after one run: `report` leaves out the records
    // of the other settings instead of mixing them in.
    let flag = Arc::new(AtomicBool::new(false));
    let signal = flag.clone();
    let mut finished = 0;
    request::execute(&j, Existing::Resume, flag, &mut |_| {}, &mut |p| {
        if let Progress::Finished(_) = p {
            finished += 1;
            if finished == 1 {
                signal.store(true, Ordering::SeqCst);
            }
        }
    })
    .unwrap();
    let rebuilt = request::rebuild(dir.path()).unwrap();
    assert!(rebuilt.interrupted);
    assert!(
        rebuilt.report.runs.len() < 4
            && rebuilt
                .report
                .runs
                .iter()
                .all(|r| r.iterations > 20 || r.trainer == "ols"),
        "{:?}",
        rebuilt
            .report
            .runs
            .iter()
            .map(|r| (&r.trainer, r.iterations))
            .collect::<Vec<_>>()
    );
    assert!(
        rebuilt
            .notes
            .iter()
            .any(|n| n.contains("earlier configuration")),
        "{:?}",
        rebuilt.notes
    );
}

#[test]
fn runs_that_ended_in_error_or_were_interrupted_are_retried() {
    let dir = tempfile::tempdir().unwrap();
    let j = job(dir.path());
    execute(&j, Existing::Refuse);
    // Mark two records as failed, as a refusal (error) or a signal (interrupted) leaves them.
    let log = dir.path().join("runs.jsonl");
    let mut runs = RunLog::read(&log).unwrap();
    runs[1].status = Status::Error;
    runs[3].status = Status::Interrupted;
    let mut writer = RunLog::create(dir.path()).unwrap();
    for r in &runs {
        writer.append(r).unwrap();
    }
    drop(writer);
    let (result, summary, _) = execute_with(&j, Existing::Resume, Arc::new(AtomicBool::new(false)));
    let summary = summary.unwrap();
    assert_eq!((summary.reused, summary.retried), (2, 2));
    let result = result.unwrap();
    assert!(result.report.runs.iter().all(|r| r.status.is_ok()));
    assert_eq!(
        RunLog::read(&log).unwrap().len(),
        6,
        "appended, not rewritten"
    );
}

#[test]
fn force_moves_the_earlier_sweep_aside_instead_of_deleting_it() {
    let dir = tempfile::tempdir().unwrap();
    let j = job(dir.path());
    execute(&j, Existing::Refuse);
    let before = log_bytes(dir.path());
    let (result, _, notes) = execute_with(&j, Existing::Force, Arc::new(AtomicBool::new(false)));
    assert_eq!(result.unwrap().report.runs.len(), 4);
    let kept: Vec<_> = std::fs::read_dir(dir.path().join("previous"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(kept.len(), 1);
    assert_eq!(std::fs::read(kept[0].join("runs.jsonl")).unwrap(), before);
    assert!(kept[0].join("report.json").exists());
    assert!(notes.iter().any(|n| n.contains("moved to")), "{notes:?}");
}

#[test]
fn report_refuses_to_rebuild_from_a_csv_that_changed_or_vanished() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("data.csv");
    let mut text = String::from("a,b,y\n");
    for i in 0..60 {
        let (a, b) = (f64::from(i) * 0.1, f64::from(i % 7));
        text.push_str(&format!(
            "{a},{b},{}\n",
            2.0 * a - b + 0.01 * f64::from(i % 3)
        ));
    }
    std::fs::write(&csv, &text).unwrap();
    let out = dir.path().join("out");
    let mut j = job(&out);
    j.config.datasets.clear();
    j.config.trainers = vec!["ols".into()];
    j.config.csv.push(fitbench_report::config::CsvSpec {
        path: csv.to_string_lossy().into_owned(),
        target: "y".into(),
        drop: vec![],
        dedup: false,
    });
    execute(&j, Existing::Refuse);
    // sweep.json records the file's identity.
    let file = fitbench_harness::sweep_file::SweepFile::read(&out).unwrap();
    let id = &file.data_identity[0];
    assert_eq!(id.path.as_deref(), Some(csv.to_str().unwrap()));
    assert_eq!(id.sha256.as_deref().map(str::len), Some(64));
    assert_eq!((id.rows, id.features.len()), (60, 2));
    assert_eq!(request::rebuild(&out).unwrap().report.runs.len(), 2);
    // The file changes: no empty table, a refusal naming both hashes.
    std::fs::write(&csv, text.replace("0.1,", "0.2,")).unwrap();
    let msg = request::rebuild(&out).unwrap_err().to_string();
    assert!(
        msg.contains("has changed since the sweep read it")
            && msg.contains(id.sha256.as_deref().unwrap()),
        "{msg}"
    );
    // --resume on the new data says that the file changed, and runs the new dataset.
    let (result, _, notes) = execute_with(&j, Existing::Resume, Arc::new(AtomicBool::new(false)));
    assert_eq!(result.unwrap().report.runs.len(), 2);
    assert!(
        notes.iter().any(
            |n| n.contains("has changed since the earlier sweep read it")
                && n.contains(id.sha256.as_deref().unwrap())
        ),
        "{notes:?}"
    );
    std::fs::remove_file(&csv).unwrap();
    let msg = request::rebuild(&out).unwrap_err().to_string();
    assert!(
        msg.contains("cannot be read now") && msg.contains("put the file back"),
        "{msg}"
    );
}

#[test]
fn an_interrupted_resume_with_changed_settings_keeps_the_earlier_report_whole() {
    let dir = tempfile::tempdir().unwrap();
    let j = job(dir.path());
    let first = execute(&j, Existing::Refuse);
    let report_before = std::fs::read(dir.path().join("report.json")).unwrap();
    let mut changed = job(dir.path());
    changed.config.max_iters = 20;
    // The signal arrives before the first new run.
    let (result, _, notes) =
        execute_with(&changed, Existing::Resume, Arc::new(AtomicBool::new(true)));
    assert!(result.unwrap().interrupted);
    let moved: Vec<_> = std::fs::read_dir(dir.path().join("previous"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(moved.len(), 1, "{notes:?}");
    assert_eq!(
        std::fs::read(moved[0].join("report.json")).unwrap(),
        report_before
    );
    assert!(moved[0].join("sweep.json").exists());
    assert!(notes.iter().any(|n| n.contains("moved to")), "{notes:?}");
    assert_eq!(
        RunLog::read(&dir.path().join("runs.jsonl")).unwrap().len(),
        first.report.runs.len(),
        "every record stays in the log"
    );
}
