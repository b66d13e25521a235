//! Reading and writing JSON files: reports (with their schema version checked), the
//! `runs.jsonl` log of a sweep in progress, and any other serde value (study reports,
//! exports).

use crate::error::{ReportError, Result};
use crate::schema::{Report, RunRecord, SCHEMA_VERSION};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A temporary file name beside `path` (same folder, so a rename is atomic), keeping the
/// extension last (plotters picks the image format from it).
pub fn temp_path(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let ext = path
        .extension()
        .map_or_else(String::new, |e| format!(".{}", e.to_string_lossy()));
    path.with_file_name(format!(".{stem}.tmp-{}{ext}", std::process::id()))
}

/// Writes `bytes` to a temporary file in `path`'s folder, syncs it and renames it into
/// place: readers see the old file or the new one, never a truncated one (e.g. on a full
/// disk, the old file stays and the error names the temporary file).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| ReportError::io("cannot create folder", dir, e))?;
    }
    let tmp = temp_path(path);
    let written = File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(ReportError::io("cannot write", tmp, e));
    }
    std::fs::rename(&tmp, path).map_err(|e| ReportError::io("cannot rename into place", path, e))
}

/// Writes `value` as pretty JSON (with a final newline), atomically ([`write_atomic`]).
pub fn write_json<T: Serialize + ?Sized>(value: &T, path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| ReportError::io("cannot create folder", dir, e))?;
    }
    let text = serde_json::to_string_pretty(value).map_err(|e| ReportError::Json {
        path: path.into(),
        message: e.to_string(),
    })?;
    write_atomic(path, (text + "\n").as_bytes())
}

/// Reads a JSON file into `T`; `what` names the expected content in errors.
pub fn read_json<T: DeserializeOwned>(path: &Path, what: &str) -> Result<T> {
    let text =
        std::fs::read_to_string(path).map_err(|e| ReportError::io("cannot read", path, e))?;
    serde_json::from_str(&text).map_err(|e| ReportError::Json {
        path: path.into(),
        message: format!("not {what}: {e}"),
    })
}

/// Describes a JSON syntax error by kind and position.
fn syntax_message(e: &serde_json::Error) -> String {
    let what = if e.classify() == serde_json::error::Category::Eof {
        "truncated JSON"
    } else {
        "invalid JSON"
    };
    format!(
        "{what} at line {}, column {} ({e}); the file is damaged: re-create it (`fitbench report DIR` rebuilds a sweep's report.json from its runs.jsonl)",
        e.line(),
        e.column()
    )
}

/// The `schema_version` field of a JSON file, if it has one.
fn schema_version_of(path: &Path) -> Result<Option<u64>> {
    let text =
        std::fs::read_to_string(path).map_err(|e| ReportError::io("cannot read", path, e))?;
    if let Some(first) = text.trim_start().chars().next()
        && first != '{'
    {
        return Err(ReportError::Json {
            path: path.into(),
            message: format!(
                "not a fitbench report: a report.json starts with '{{', this file with {first:?} (is it summary.md or another file?); give the report.json of a sweep folder, or the folder itself"
            ),
        });
    }
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| ReportError::Json {
        path: path.into(),
        message: syntax_message(&e),
    })?;
    Ok(value
        .get("schema_version")
        .and_then(serde_json::Value::as_u64))
}

/// A report given as its file or as its sweep folder (`DIR` → `DIR/report.json`).
pub fn report_path(path: &Path) -> std::path::PathBuf {
    if path.is_dir() {
        path.join("report.json")
    } else {
        path.to_path_buf()
    }
}

/// The folder a file is in (`.` for a bare file name).
pub fn folder_of(path: &Path) -> std::path::PathBuf {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map_or_else(|| std::path::PathBuf::from("."), std::path::PathBuf::from)
}

/// Reads a `report.json` ([`load_report`]), computing the convergence metrics of a report
/// written before they existed.
pub fn read_report(path: &Path) -> Result<Report> {
    load_report(path).map(|loaded| loaded.report)
}

/// A report as read from its file.
#[derive(Debug)]
pub struct LoadedReport {
    /// The report, every run with its metrics.
    pub report: Report,
    /// The file predated the convergence metrics: they were computed on load
    /// ([`crate::metrics::annotate_if_missing`]), every point counting as scheduled.
    pub computed_metrics: bool,
}

/// Reads a `report.json`, checking its schema version first so that a report of another
/// version gets a message saying so (not a confusing missing-field error). A report that
/// predates the convergence metrics gets them here: this is the one place where old reports
/// are annotated, so no reader computes metrics of its own.
pub fn load_report(path: &Path) -> Result<LoadedReport> {
    let mut report = read_report_as_written(path)?;
    let computed_metrics = crate::metrics::annotate_if_missing(&mut report);
    Ok(LoadedReport {
        report,
        computed_metrics,
    })
}

/// Reads a `report.json` exactly as written (no metrics computed).
fn read_report_as_written(path: &Path) -> Result<Report> {
    match schema_version_of(path)? {
        Some(v) if v == u64::from(SCHEMA_VERSION) => {}
        Some(v) => {
            return Err(ReportError::Json {
                path: path.into(),
                message: format!(
                    "schema_version {v}, but this fitbench reads version {SCHEMA_VERSION}; re-run the sweep that made it, or read it with the fitbench that wrote it"
                ),
            });
        }
        None => {
            return Err(ReportError::Json {
                path: path.into(),
                message: "no schema_version: not a fitbench report".into(),
            });
        }
    }
    read_json(path, "a fitbench report of this schema version")
}

/// Writes `dir/report.json`.
pub fn write_report(report: &Report, dir: &Path) -> Result<PathBuf> {
    let path = dir.join("report.json");
    write_json(report, &path)?;
    Ok(path)
}

/// An append-only JSON-lines file (`runs.jsonl`, `tuning.jsonl`): every record is one
/// `write` of a whole line on a file opened for appending, followed by `fsync`, so a crash,
/// a kill or a full disk leaves every earlier record whole and at most one torn last line
/// (a prefix without its newline), which [`JsonLines::repair`] moves aside. The file is
/// never truncated below a complete record: a superseded record stays, and readers keep the
/// latest record of a key ([`RunLog::read_latest`]).
#[derive(Debug)]
pub struct JsonLines {
    path: PathBuf,
    file: File,
}

/// The torn last line of a JSON-lines file (a write cut short by a crash, a kill or a full
/// disk): where it was and where [`JsonLines::repair`] moved it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornLine {
    /// The file it ended.
    pub path: PathBuf,
    /// Its 1-based line number.
    pub line: usize,
    /// Its length in bytes.
    pub bytes: usize,
    /// Where it was moved (`<file>.torn`, appended).
    pub moved_to: PathBuf,
}

impl std::fmt::Display for TornLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: line {} was torn ({} bytes without an end of line: a write cut short by a crash, a kill or a full disk); moved to {}, every complete line kept",
            self.path.display(),
            self.line,
            self.bytes,
            self.moved_to.display()
        )
    }
}

/// The bytes of a JSON-lines file: its complete lines and a torn tail (no final newline).
fn split_torn(bytes: &[u8]) -> (&[u8], &[u8]) {
    let cut = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    bytes.split_at(cut)
}

impl JsonLines {
    /// Creates `path` empty (truncating it), creating its folder if needed: for a new file
    /// only; a sweep's logs are opened with [`JsonLines::open_append`].
    pub fn create(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| ReportError::io("cannot create output folder", dir, e))?;
        }
        let file = File::create(path).map_err(|e| ReportError::io("cannot create", path, e))?;
        Ok(Self {
            path: path.into(),
            file,
        })
    }

    /// Opens `path` for appending (creating it and its folder if needed), after moving a torn
    /// last line aside ([`JsonLines::repair`], returned), so that the next record starts on a
    /// line of its own. Nothing already written is lost.
    pub fn open_append(path: &Path) -> Result<(Self, Option<TornLine>)> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| ReportError::io("cannot create output folder", dir, e))?;
        }
        let torn = Self::repair(path)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| ReportError::io("cannot open for appending", path, e))?;
        Ok((
            Self {
                path: path.into(),
                file,
            },
            torn,
        ))
    }

    /// Moves a torn last line of `path` (bytes after the last newline) to `<path>.torn`
    /// (appended, with a newline) and cuts `path` back to its last complete line; `None`
    /// when the file ends cleanly or does not exist. The torn bytes are synced to the side
    /// file before `path` is shortened, so they are never lost either.
    pub fn repair(path: &Path) -> Result<Option<TornLine>> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ReportError::io("cannot read", path, e)),
        };
        let (complete, torn) = split_torn(&bytes);
        if torn.is_empty() {
            return Ok(None);
        }
        // A whole record that only lacks its newline (e.g. a hand-edited file) is kept: the
        // newline is added instead.
        if serde_json::from_slice::<serde_json::Value>(torn).is_ok_and(|v| v.is_object()) {
            std::fs::OpenOptions::new()
                .append(true)
                .open(path)
                .and_then(|mut f| {
                    f.write_all(b"\n")?;
                    f.sync_all()
                })
                .map_err(|e| ReportError::io("cannot end the last line of", path, e))?;
            return Ok(None);
        }
        let side = torn_path(path);
        let saved = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&side)
            .and_then(|mut f| {
                let mut line = torn.to_vec();
                line.push(b'\n');
                f.write_all(&line)?;
                f.sync_all()
            });
        saved.map_err(|e| ReportError::io("cannot save a torn line to", &side, e))?;
        std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| {
                f.set_len(complete.len() as u64)?;
                f.sync_all()
            })
            .map_err(|e| ReportError::io("cannot cut a torn line from", path, e))?;
        Ok(Some(TornLine {
            path: path.into(),
            line: complete.iter().filter(|&&b| b == b'\n').count() + 1,
            bytes: torn.len(),
            moved_to: side,
        }))
    }

    /// Appends one record: one `write` of the whole line, then `fsync`. On failure (a full
    /// disk) the file is cut back to its length before the write, best effort, so that no
    /// torn line is left behind, and the error names the file.
    pub fn append<T: Serialize + ?Sized>(&mut self, record: &T) -> Result<()> {
        let mut line = serde_json::to_string(record).map_err(|e| ReportError::Json {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        line.push('\n');
        let before = self.file.metadata().map(|m| m.len()).ok();
        let written = self
            .file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            if let Some(len) = before {
                let _ = self.file.set_len(len);
            }
            return Err(ReportError::io("cannot append to", &self.path, e));
        }
        Ok(())
    }

    /// Reads every complete record of a (possibly interrupted) file, in file order; a missing
    /// file has none. A torn last line (no newline: see [`JsonLines::repair`]) is not a
    /// record and is skipped; a complete line that does not parse is an error naming it.
    pub fn read<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(ReportError::io("cannot read", path, e)),
        };
        let (complete, tail) = split_torn(&bytes);
        // A whole record that only lacks its newline counts (see `repair`).
        let complete =
            if serde_json::from_slice::<serde_json::Value>(tail).is_ok_and(|v| v.is_object()) {
                &bytes[..]
            } else {
                complete
            };
        let text = std::str::from_utf8(complete).map_err(|e| {
            let line = complete[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count() + 1;
            ReportError::Json {
                path: path.into(),
                message: format!(
                    "line {line} is not UTF-8 text ({e}); the file is damaged there: move that line aside and run `fitbench report` or `--resume` again"
                ),
            }
        })?;
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l).map_err(|e| ReportError::Json {
                    path: path.into(),
                    message: format!(
                        "line {}: {e}; a complete line that does not parse is damage this fitbench does not repair: move that line aside and run `fitbench report` or `--resume` again",
                        i + 1
                    ),
                })
            })
            .collect()
    }
}

/// `<path>.torn`: where torn last lines of `path` are kept.
pub fn torn_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".torn");
    PathBuf::from(name)
}

/// `dir/runs.jsonl`: each finished run, appended as it finishes (see [`JsonLines`]).
#[derive(Debug)]
pub struct RunLog(JsonLines);

impl RunLog {
    /// Creates `dir/runs.jsonl` empty, creating `dir` if needed (a new folder only).
    pub fn create(dir: &Path) -> Result<Self> {
        JsonLines::create(&dir.join("runs.jsonl")).map(Self)
    }

    /// Opens `dir/runs.jsonl` for appending, after moving a torn last line aside (returned).
    pub fn open_append(dir: &Path) -> Result<(Self, Option<TornLine>)> {
        JsonLines::open_append(&dir.join("runs.jsonl")).map(|(l, t)| (Self(l), t))
    }

    /// Appends one run and syncs.
    pub fn append(&mut self, run: &RunRecord) -> Result<()> {
        self.0.append(run)
    }

    /// Reads every complete run record of a (possibly interrupted) `runs.jsonl`, superseded
    /// ones included, in file order.
    pub fn read(path: &Path) -> Result<Vec<RunRecord>> {
        JsonLines::read(path)
    }

    /// The latest record of each run (dataset, trainer, repetition), in the order of their
    /// latest records: what a `--resume` appended supersedes what was there before.
    pub fn read_latest(path: &Path) -> Result<Vec<RunRecord>> {
        Ok(latest_by_key(Self::read(path)?))
    }
}

/// Keeps the last record of each (dataset, trainer, repetition), in the order of those last
/// records.
pub fn latest_by_key(records: Vec<RunRecord>) -> Vec<RunRecord> {
    let mut last = std::collections::HashMap::new();
    for (i, r) in records.iter().enumerate() {
        last.insert((r.dataset.clone(), r.trainer.clone(), r.repetition), i);
    }
    records
        .into_iter()
        .enumerate()
        .filter(|(i, r)| last.get(&(r.dataset.clone(), r.trainer.clone(), r.repetition)) == Some(i))
        .map(|(_, r)| r)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_of_another_schema_version_are_named_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        std::fs::write(&path, "{\"schema_version\": 999}").unwrap();
        let msg = read_report(&path).unwrap_err().to_string();
        assert!(msg.contains("schema_version 999"), "{msg}");
        std::fs::write(&path, "{\"runs\": []}").unwrap();
        let msg = read_report(&path).unwrap_err().to_string();
        assert!(msg.contains("not a fitbench report"), "{msg}");
    }

    #[test]
    fn truncated_json_is_named_as_such_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        std::fs::write(&path, "{\n  \"schema_version\": 1,\n  \"runs\": [").unwrap();
        let msg = read_report(&path).unwrap_err().to_string();
        assert!(msg.contains("truncated JSON at line 3"), "{msg}");
        assert!(!msg.contains("schema version"), "{msg}");
        std::fs::write(&path, "{\"schema_version\": 1,, }").unwrap();
        let msg = read_report(&path).unwrap_err().to_string();
        assert!(msg.contains("invalid JSON at line 1"), "{msg}");
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        write_json(&vec![1.0], &path).unwrap();
        // The temporary file cannot be created (a folder is in its way): the write fails,
        // and the old file is untouched.
        std::fs::create_dir(temp_path(&path)).unwrap();
        assert!(write_json(&vec![2.0, 3.0], &path).is_err());
        let back: Vec<f64> = read_json(&path, "numbers").unwrap();
        assert_eq!(back, vec![1.0]);
        assert_eq!(temp_path(&path).extension().unwrap(), "json");
    }

    #[test]
    fn json_round_trips_through_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/x.json");
        write_json(&vec![1.5, 2.0], &path).unwrap();
        let back: Vec<f64> = read_json(&path, "numbers").unwrap();
        assert_eq!(back, vec![1.5, 2.0]);
    }

    #[test]
    fn appends_never_truncate_and_a_torn_tail_is_moved_aside_before_the_next_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let (mut log, torn) = JsonLines::open_append(&path).unwrap();
        assert!(torn.is_none());
        log.append(&vec![1]).unwrap();
        drop(log);
        let (mut log, _) = JsonLines::open_append(&path).unwrap();
        log.append(&vec![2]).unwrap();
        drop(log);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "[1]\n[2]\n");
        // A write cut short: the reader keeps the complete lines and skips the tail.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"[3, 4").unwrap();
        drop(f);
        assert_eq!(
            JsonLines::read::<Vec<i32>>(&path).unwrap(),
            vec![vec![1], vec![2]]
        );
        let (mut log, torn) = JsonLines::open_append(&path).unwrap();
        let torn = torn.unwrap();
        assert_eq!((torn.line, torn.bytes), (3, 5));
        assert!(torn.to_string().contains("moved to"), "{torn}");
        log.append(&vec![5]).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "[1]\n[2]\n[5]\n");
        assert_eq!(
            std::fs::read_to_string(torn_path(&path)).unwrap(),
            "[3, 4\n"
        );
        // A whole record without its newline is a record, not a torn line.
        std::fs::write(&path, "[1]\n{\"a\": 2}").unwrap();
        assert_eq!(
            JsonLines::read::<serde_json::Value>(&path).unwrap().len(),
            2
        );
        assert!(JsonLines::repair(&path).unwrap().is_none());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "[1]\n{\"a\": 2}\n");
        // A complete line that does not parse is damage, named by its line.
        std::fs::write(&path, "[1]\n[2\n[3]\n").unwrap();
        let msg = JsonLines::read::<Vec<i32>>(&path).unwrap_err().to_string();
        assert!(msg.contains("line 2"), "{msg}");
    }

    #[test]
    fn the_latest_record_of_each_run_wins() {
        let seeds = crate::schema::RunSeeds {
            split: 0,
            init: 0,
            trainer: 0,
        };
        let rec = |trainer: &str, rep: usize, iterations: usize| {
            let mut r = RunRecord::pending(
                "d",
                trainer,
                trainer,
                serde_json::Value::Null,
                rep,
                seeds.clone(),
            );
            r.iterations = iterations;
            r
        };
        let got = latest_by_key(vec![
            rec("a", 0, 1),
            rec("b", 0, 2),
            rec("a", 1, 3),
            rec("a", 0, 4),
        ]);
        let keys: Vec<_> = got
            .iter()
            .map(|r| (r.trainer.as_str(), r.repetition, r.iterations))
            .collect();
        assert_eq!(keys, vec![("b", 0, 2), ("a", 1, 3), ("a", 0, 4)]);
    }
}
