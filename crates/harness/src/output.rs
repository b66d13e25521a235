//! Files a sweep writes: `runs.jsonl` (each run as it finishes), `report.json`, `summary.md`
//! and the plots.

use crate::error::{HarnessError, Result};
use crate::report::{Report, RunRecord};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Appends each finished run to `runs.jsonl` and flushes it, so an interrupted sweep keeps
/// every run already done.
#[derive(Debug)]
pub struct RunLog {
    path: PathBuf,
    file: BufWriter<File>,
}

impl RunLog {
    /// Creates (truncates) `dir/runs.jsonl`, creating `dir` if needed.
    pub fn create(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| HarnessError::io("cannot create output folder", dir, e))?;
        let path = dir.join("runs.jsonl");
        let file = File::create(&path).map_err(|e| HarnessError::io("cannot create", &path, e))?;
        Ok(Self {
            path,
            file: BufWriter::new(file),
        })
    }

    /// Appends one run and flushes.
    pub fn append(&mut self, run: &RunRecord) -> Result<()> {
        let line = serde_json::to_string(run).map_err(|e| HarnessError::Report {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        writeln!(self.file, "{line}")
            .and_then(|_| self.file.flush())
            .map_err(|e| HarnessError::io("cannot write", &self.path, e))
    }

    /// Reads the runs of a (possibly interrupted) `runs.jsonl`.
    pub fn read(path: &Path) -> Result<Vec<RunRecord>> {
        let text =
            std::fs::read_to_string(path).map_err(|e| HarnessError::io("cannot read", path, e))?;
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l).map_err(|e| HarnessError::Report {
                    path: path.into(),
                    message: format!("line {}: {e}", i + 1),
                })
            })
            .collect()
    }
}

/// Writes `report.json`.
pub fn write_report(report: &Report, dir: &Path) -> Result<PathBuf> {
    let path = dir.join("report.json");
    let text = serde_json::to_string_pretty(report).map_err(|e| HarnessError::Report {
        path: path.clone(),
        message: e.to_string(),
    })?;
    std::fs::write(&path, text + "\n").map_err(|e| HarnessError::io("cannot write", &path, e))?;
    Ok(path)
}

/// Reads a `report.json`.
pub fn read_report(path: &Path) -> Result<Report> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| HarnessError::io("cannot read report", path, e))?;
    serde_json::from_str(&text).map_err(|e| HarnessError::Report {
        path: path.into(),
        message: format!("not a fitbench report of this schema version: {e}"),
    })
}

/// Writes `report.json`, `summary.md` and every plot into `dir`; returns the files written.
pub fn write_all(report: &Report, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)
        .map_err(|e| HarnessError::io("cannot create output folder", dir, e))?;
    let mut files = vec![write_report(report, dir)?];
    let summary = dir.join("summary.md");
    std::fs::write(&summary, crate::summary::render(report))
        .map_err(|e| HarnessError::io("cannot write", &summary, e))?;
    files.push(summary);
    files.extend(crate::plot::draw_all(report, dir)?);
    files.extend(crate::plot::draw_profiles(report, dir)?);
    Ok(files)
}
