//! Reading and writing JSON files: reports (with their schema version checked), the
//! `runs.jsonl` log of a sweep in progress, and any other serde value (study reports,
//! exports).

use crate::error::{ReportError, Result};
use crate::schema::{Report, RunRecord, SCHEMA_VERSION};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fs::File;
use std::io::{BufWriter, Write};
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
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| ReportError::Json {
        path: path.into(),
        message: syntax_message(&e),
    })?;
    Ok(value
        .get("schema_version")
        .and_then(serde_json::Value::as_u64))
}

/// Reads a `report.json`, checking its schema version first so that a report of another
/// version gets a message saying so (not a confusing missing-field error).
pub fn read_report(path: &Path) -> Result<Report> {
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

/// An append-only JSON-lines file, flushed after every record, so an interrupted writer
/// keeps every record already written (`runs.jsonl`, `tuning.jsonl`).
#[derive(Debug)]
pub struct JsonLines {
    path: PathBuf,
    file: BufWriter<File>,
}

impl JsonLines {
    /// Creates (truncates) `path`, creating its folder if needed.
    pub fn create(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| ReportError::io("cannot create output folder", dir, e))?;
        }
        let file = File::create(path).map_err(|e| ReportError::io("cannot create", path, e))?;
        Ok(Self {
            path: path.into(),
            file: BufWriter::new(file),
        })
    }

    /// Appends one record and flushes.
    pub fn append<T: Serialize + ?Sized>(&mut self, record: &T) -> Result<()> {
        let line = serde_json::to_string(record).map_err(|e| ReportError::Json {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        writeln!(self.file, "{line}")
            .and_then(|_| self.file.flush())
            .map_err(|e| ReportError::io("cannot write", &self.path, e))
    }

    /// Reads every record of a (possibly interrupted) file; a missing file has none.
    pub fn read<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
        if !path.exists() {
            return Ok(vec![]);
        }
        let text =
            std::fs::read_to_string(path).map_err(|e| ReportError::io("cannot read", path, e))?;
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l).map_err(|e| ReportError::Json {
                    path: path.into(),
                    message: format!("line {}: {e}", i + 1),
                })
            })
            .collect()
    }
}

/// `dir/runs.jsonl`: each finished run, appended as it finishes.
#[derive(Debug)]
pub struct RunLog(JsonLines);

impl RunLog {
    /// Creates (truncates) `dir/runs.jsonl`, creating `dir` if needed.
    pub fn create(dir: &Path) -> Result<Self> {
        JsonLines::create(&dir.join("runs.jsonl")).map(Self)
    }

    /// Appends one run and flushes.
    pub fn append(&mut self, run: &RunRecord) -> Result<()> {
        self.0.append(run)
    }

    /// Reads the runs of a (possibly interrupted) `runs.jsonl`.
    pub fn read(path: &Path) -> Result<Vec<RunRecord>> {
        JsonLines::read(path)
    }
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
}
