//! The files of a report folder: `report.json`, `summary.md`, `report.html` and the plots. One list of
//! expected files, [`expected_files`], serves both the writer and the validator.

use crate::error::{RenderError, Result};
use crate::plot;
use fitbench_report::io;
use fitbench_report::schema::Report;
use std::path::{Path, PathBuf};

/// Every file [`write_all`] writes for `report`, relative to the output folder.
pub fn expected_files(report: &Report) -> Vec<PathBuf> {
    let mut files = vec![
        PathBuf::from("report.json"),
        PathBuf::from("summary.md"),
        PathBuf::from("report.html"),
        PathBuf::from(VIEWS_FILE),
    ];
    let mut stems: Vec<PathBuf> = report
        .datasets
        .iter()
        .flat_map(|d| plot::dataset_figure_stems(&d.name).map(|(_, s)| s))
        .collect();
    for &level in &report.config.suboptimality_targets {
        if plot::performance_profile(report, level).is_none() {
            break;
        }
        stems.push(plot::profile_stem(level));
    }
    if crate::scaling::scaling(report).is_some() {
        stems.push(PathBuf::from(crate::scaling::STEM));
    }
    for stem in stems {
        for ext in plot::FORMATS {
            let mut name = stem.clone().into_os_string();
            name.push(".");
            name.push(ext);
            files.push(PathBuf::from(name));
        }
    }
    files
}

/// Writes `report.json`, `summary.md` and every plot into `dir`; returns the files written.
pub fn write_all(report: &Report, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)
        .map_err(|e| RenderError::io("cannot create output folder", dir, e))?;
    let mut files = vec![io::write_report(report, dir)?];
    files.extend(write_views(report, dir)?);
    Ok(files)
}

/// The file naming the report the views of a folder (summary, page, plots) were drawn from.
pub const VIEWS_FILE: &str = "views.json";

/// What [`VIEWS_FILE`] holds.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Views {
    /// [`report_identity`] of the report drawn.
    pub report: String,
    /// The files drawn, relative to the folder.
    pub files: Vec<PathBuf>,
}

/// A fingerprint of what a report says (configuration, datasets, and every run's key,
/// status, iterations and final losses): the same for a report and its copy read back from
/// disk, different for another sweep. Derived metrics are left out, so annotating an old
/// report does not change it.
pub fn report_identity(report: &Report) -> String {
    let runs: Vec<serde_json::Value> = report
        .runs
        .iter()
        .map(|r| {
            serde_json::json!([
                r.dataset,
                r.trainer,
                r.repetition,
                r.status.as_str(),
                r.iterations,
                r.fingerprint,
                r.curve.last().map(|p| p.train_mse.to_bits()),
            ])
        })
        .collect();
    let datasets: Vec<&str> = report.datasets.iter().map(|d| d.name.as_str()).collect();
    let key = serde_json::json!({
        "config": serde_json::to_value(&report.config).unwrap_or_default(),
        "datasets": datasets,
        "runs": runs,
    });
    format!("{:016x}", fitbench_core::rng::fnv1a(&key.to_string()))
}

/// Writes `summary.md`, `report.html`, every plot of `report` and [`VIEWS_FILE`] into `dir`,
/// but not the report itself: what `fitbench plot` does, so that reading a report never
/// rewrites it.
pub fn write_views(report: &Report, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)
        .map_err(|e| RenderError::io("cannot create output folder", dir, e))?;
    let summary = dir.join("summary.md");
    io::write_atomic(&summary, crate::summary::render(report).as_bytes())?;
    let mut files = vec![summary, crate::html::write_report(report, dir)?];
    files.extend(plot::draw_all(report, dir)?);
    files.extend(plot::draw_profiles(report, dir)?);
    files.extend(crate::scaling::draw(report, dir)?);
    let views = Views {
        report: report_identity(report),
        files: files
            .iter()
            .filter_map(|f| f.strip_prefix(dir).ok().map(Path::to_path_buf))
            .collect(),
    };
    let manifest = dir.join(VIEWS_FILE);
    io::write_json(&views, &manifest)?;
    files.push(manifest);
    Ok(files)
}

/// What [`redraw`] did.
#[derive(Debug)]
pub struct Redrawn {
    /// The folder drawn into.
    pub dir: PathBuf,
    /// Every file written.
    pub files: Vec<PathBuf>,
    /// The report predated the convergence metrics: they were computed on load.
    pub computed_metrics: bool,
}

/// `fitbench plot`: draws the views of the report at `report` (its file, or its sweep folder)
/// into `out` (default: the report's folder) without rewriting the report. Refuses, unless
/// `force`, a folder that holds another sweep's report, whose views would be replaced by
/// this report's.
pub fn redraw(report: &Path, out: Option<&Path>, force: bool) -> Result<Redrawn> {
    let path = io::report_path(report);
    let loaded = io::load_report(&path)?;
    let dir = out.map_or_else(|| io::folder_of(&path), Path::to_path_buf);
    let resident = dir.join("report.json");
    if !force && resident.exists() {
        let theirs = io::read_report(&resident).map(|t| report_identity(&t));
        if theirs.map_or(true, |t| t != report_identity(&loaded.report)) {
            return Err(RenderError::NotComparable(format!(
                "{} holds another sweep's report ({}); drawing {} there would replace its summary, page and plots with another report's. Choose another --out, or pass --force",
                dir.display(),
                resident.display(),
                path.display()
            )));
        }
    }
    let files = write_views(&loaded.report, &dir)?;
    Ok(Redrawn {
        dir,
        files,
        computed_metrics: loaded.computed_metrics,
    })
}

/// `fitbench validate`: reads the report at `path` (its file or its sweep folder) and lists
/// every problem ([`validate`]) with the report read and its file.
pub fn validate_file(
    path: &Path,
    options: ValidateOptions,
) -> Result<(Report, PathBuf, Vec<String>)> {
    let path = io::report_path(path);
    let report = io::read_report(&path)?;
    let problems = validate(&report, &io::folder_of(&path), options);
    Ok((report, path, problems))
}

/// What `fitbench validate` checks beyond the schema invariants.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ValidateOptions {
    /// Every run must have ended normally (not diverged, failed or panicked).
    pub require_ok: bool,
    /// Every file of [`expected_files`] must exist and be non-empty in the report's folder.
    pub require_files: bool,
}

/// Every problem of the report in `dir` (the schema invariants of [`Report::check`], plus
/// what `options` asks for). Empty when the report is valid.
pub fn validate(report: &Report, dir: &Path, options: ValidateOptions) -> Vec<String> {
    let mut problems = report.check();
    if options.require_ok {
        problems.extend(report.runs.iter().filter(|r| !r.status.is_ok()).map(|r| {
            format!(
                "run {} / {} / rep {}: {} ({})",
                r.dataset,
                r.trainer,
                r.repetition,
                r.status.as_str(),
                r.message.as_deref().unwrap_or("")
            )
        }));
    }
    if options.require_files {
        for f in expected_files(report) {
            let p = dir.join(&f);
            if std::fs::metadata(&p).map_or(true, |m| m.len() == 0) {
                problems.push(format!("missing or empty {}", p.display()));
            }
        }
        let manifest = dir.join(VIEWS_FILE);
        let views = if manifest.exists() {
            io::read_json::<Views>(&manifest, "a views manifest")
                .map_err(|e| problems.push(format!("{e}; redraw the views with `fitbench plot`")))
                .ok()
        } else {
            None
        };
        if let Some(views) = views {
            let identity = report_identity(report);
            if views.report != identity {
                problems.push(format!(
                    "the summary, page and plots in {} were drawn from another report ({} names report {}, this one is {}); redraw them with `fitbench plot {}`",
                    dir.display(),
                    manifest.display(),
                    views.report,
                    identity,
                    dir.join("report.json").display()
                ));
            }
        }
    }
    problems
}
