//! `sweep.json`: a sweep's resolved configuration and the identity of each of its datasets,
//! written before the first run, so that `fitbench report` can rebuild the report from the
//! folder alone — and refuses to when a CSV it would re-read is no longer the one the sweep
//! ran on.

use crate::datasets::DatasetSpec;
use crate::error::{HarnessError, Result};
use fitbench_core::Dataset;
use fitbench_report::RunConfig;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The file's name inside a sweep folder.
pub const FILE: &str = "sweep.json";

/// What `sweep.json` holds: the configuration's fields at the top level (so a file written
/// before identities were recorded, a bare configuration, still reads) and `data_identity`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepFile {
    /// The resolved configuration.
    #[serde(flatten)]
    pub config: RunConfig,
    /// Each dataset's identity, in plan order (empty in files of older fitbench versions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_identity: Vec<DatasetIdentity>,
}

/// Which data a dataset of the sweep was: enough to tell whether re-reading it gives the
/// same data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetIdentity {
    /// The dataset's name in the report (a CSV's is content-addressed).
    pub name: String,
    /// Where it came from (built-in, generator, or the CSV path as given and its hash).
    pub source: String,
    /// A CSV file's path as given (`None` for built-in and synthetic data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The sha256 of a CSV file's bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Rows (after `--dedup`, if given).
    pub rows: usize,
    /// The feature columns used.
    pub features: Vec<String>,
    /// The target column(s).
    pub targets: Vec<String>,
    /// Columns left out of the data, each with why (e.g. `id: --drop`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<String>,
}

impl SweepFile {
    /// The file for a resolved sweep: its configuration and its datasets as loaded (each
    /// with the spec it was loaded from), in plan order.
    pub fn of<'a>(
        config: &RunConfig,
        datasets: impl IntoIterator<Item = (&'a DatasetSpec, &'a Dataset)>,
    ) -> Self {
        let data_identity = datasets
            .into_iter()
            .map(|(spec, data)| {
                let csv = match spec {
                    DatasetSpec::Csv(c) => Some(c),
                    _ => None,
                };
                DatasetIdentity {
                    name: data.name.clone(),
                    source: data.provenance.clone(),
                    path: csv.map(|c| c.path.clone()),
                    sha256: csv.and_then(|_| crate::csv_data::sha256_of_provenance(data)),
                    rows: data.n(),
                    features: data.feature_names.clone(),
                    targets: data.target_names.clone(),
                    dropped: csv
                        .map(|c| c.drop.iter().map(|d| format!("{d}: --drop")).collect())
                        .unwrap_or_default(),
                }
            })
            .collect();
        Self {
            config: config.clone(),
            data_identity,
        }
    }

    /// Notes for a `--resume`: each CSV, by path, whose content differs from the one the
    /// earlier sweep (`previous`) read: its runs are new runs of another dataset.
    pub fn changed_data(&self, previous: &[DatasetIdentity]) -> Vec<String> {
        self.data_identity
            .iter()
            .filter_map(|now| {
                let before = previous
                    .iter()
                    .find(|p| p.path.is_some() && p.path == now.path)?;
                (before.sha256 != now.sha256).then(|| {
                    format!(
                        "--resume: {} has changed since the earlier sweep read it (sha256 {} → {}): its runs are new runs of dataset {} (those of {} stay in runs.jsonl, unreported)",
                        now.path.as_deref().unwrap_or(""),
                        before.sha256.as_deref().unwrap_or("?"),
                        now.sha256.as_deref().unwrap_or("?"),
                        now.name,
                        before.name
                    )
                })
            })
            .collect()
    }

    /// Reads `dir/sweep.json`.
    pub fn read(dir: &Path) -> Result<Self> {
        Ok(fitbench_report::io::read_json(
            &dir.join(FILE),
            "a sweep configuration",
        )?)
    }

    /// Writes `dir/sweep.json` (atomically).
    pub fn write(&self, dir: &Path) -> Result<()> {
        Ok(fitbench_report::io::write_json(self, &dir.join(FILE))?)
    }

    /// Checks that every CSV the sweep read is still there with the same content, before a
    /// report is rebuilt from it: a changed or missing file is an error naming the file, both
    /// hashes and the fix, instead of a report whose runs match no dataset.
    pub fn check_data_unchanged(&self, dir: &Path) -> Result<()> {
        for id in &self.data_identity {
            let (Some(path), Some(recorded)) = (&id.path, &id.sha256) else {
                continue;
            };
            let bytes = std::fs::read(path).map_err(|e| {
                let relative = if Path::new(path).is_relative() {
                    " (a relative path, read from the folder `fitbench` runs in: run `fitbench report` from the folder the sweep ran in)"
                } else {
                    ""
                };
                HarnessError::Config(format!(
                    "cannot rebuild the report of {}: its dataset {} was read from {path}{relative}, which cannot be read now ({e}); put the file back (sha256 {recorded}) and run `fitbench report` again",
                    dir.display(),
                    id.name
                ))
            })?;
            let now = crate::csv_data::sha256_hex(&bytes);
            if &now != recorded {
                return Err(HarnessError::Config(format!(
                    "cannot rebuild the report of {}: {path} has changed since the sweep read it (sha256 then {recorded}, now {now}), so its runs would match no dataset; restore the file the sweep used, or run the sweep again on the new data (another --out, or --force)",
                    dir.display()
                )));
            }
        }
        Ok(())
    }
}

/// File name of the manifest.
pub const MANIFEST: &str = "shard.json";

/// File name of the merge record (`fitbench_report::schema::MergeRecord`) `merge` writes into its output folder.
pub const MERGE_FILE: &str = "merge.json";

/// Files a sweep writes into its output folder (and `--force` moves to `previous/`).
pub const SWEEP_FILES: &[&str] = &[
    "report.json",
    "runs.jsonl",
    "summary.md",
    "sweep.json",
    "tuning.jsonl",
    "plots",
    "report.html",
    fitbench_render::output::VIEWS_FILE,
    MANIFEST,
    MERGE_FILE,
];

/// The manifest a shard writes next to its runs (`shard.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The shard.
    pub shard: crate::partition::Shard,
    /// [`crate::partition::config_fingerprint`] of the sweep's configuration.
    pub config_fingerprint: String,
    /// The sweep's resolved configuration (also in `sweep.json`).
    pub config: RunConfig,
    /// Runs the shard owns.
    pub runs: Vec<crate::partition::RunKey>,
}

impl Manifest {
    /// The manifest of `shard` for `plan`.
    pub fn of(plan: &crate::runner::Plan, shard: crate::partition::Shard) -> Self {
        Self {
            shard,
            config_fingerprint: crate::partition::config_fingerprint(&plan.config),
            config: plan.config.clone(),
            runs: crate::runner::plan_keys(plan)
                .into_iter()
                .filter(|k| shard.owns(k))
                .collect(),
        }
    }
}
