//! Sharded sweeps: one sweep's runs spread over the tasks of a batch scheduler (a SLURM job
//! array, a Kubernetes Indexed Job, a CI matrix, GNU parallel), then merged back into one
//! report by [`merge`].
//!
//! # Partition
//!
//! Each run has a [`RunKey`]: the dataset's name (which carries its parameters, or a CSV's
//! content hash), the trainer's label as written in the sweep (its options included) and the
//! repetition. A run belongs to shard `fnv1a(key) mod N`. The partition depends only on the
//! key, never on a run's position in the list, so adding a trainer or a dataset to a sweep
//! leaves every other run in the shard it had.
//!
//! # Learning-rate tuning
//!
//! `--lr-grid` picks are derived deterministically: the grid search is seeded, trains a
//! fixed number of epochs and scores on a validation carve-out, so every shard that owns a
//! run of a dataset computes the same pick for it (a shard tunes only the datasets it owns
//! runs of). [`merge`] checks that the shards' picks agree.
//!
//! # Files
//!
//! A shard writes the usual sweep files (`sweep.json`, `runs.jsonl`, `tuning.jsonl`, a report
//! of its own runs) and a manifest, `shard.json` ([`Manifest`]): the shard's index and count,
//! the sweep's resolved configuration and its fingerprint, and the keys of the runs it owns.
//! Every run record carries its own provenance (host, CPU, commit, calibration).
//!
//! # Merging
//!
//! [`merge`] refuses folders of different configurations or shard counts, runs that appear
//! twice, disagreeing tuning picks, runs of different git commits (unless
//! [`MergeOptions::allow_mixed_commits`]) and missing runs (unless
//! [`MergeOptions::allow_missing`]), each with its own message; what it merged is written to
//! `merge.json` and becomes the report's `merge` record.

use crate::error::{HarnessError, Result};
use crate::runner::Plan;
use fitbench_report::RunConfig;
use fitbench_report::schema::MergeRecord;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use crate::partition::{ENV_HELP, RunKey, Shard, config_fingerprint, shard_of};
pub use crate::runner::plan_keys;
pub use crate::sweep_file::{MANIFEST, MERGE_FILE, Manifest};
/// A learning rate for messages.
fn fmt_lr(lr: Option<f64>) -> String {
    lr.map_or_else(|| "none".to_string(), |v| format!("{v:e}"))
}

/// What [`merge`] may accept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MergeOptions {
    /// Write the report even when runs of the sweep are in no folder (they are listed in the
    /// report's merge record).
    pub allow_missing: bool,
    /// Merge runs built from different git commits (recorded in the merge record).
    pub allow_mixed_commits: bool,
}

/// The error for a folder without `sweep.json`, naming the sweeps inside it when it is the
/// folder of a preset group (e.g. `shards/0` holding `h32/` and `h64/`).
fn not_a_sweep(dir: &Path) -> HarnessError {
    let mut subs: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(std::result::Result::ok)
                .filter(|e| e.path().join("sweep.json").exists())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    subs.sort();
    if subs.is_empty() {
        return HarnessError::Config(format!(
            "merge: {} holds no sweep.json: not the output folder of a sweep (or of a shard)",
            dir.display()
        ));
    }
    HarnessError::Config(format!(
        "merge: {} holds the sweeps of a preset group ({}), not one sweep; merge each separately, e.g. `fitbench merge shards/*/{} --out merged/{}`, or use scripts/merge-shards.sh",
        dir.display(),
        subs.join(", "),
        subs[0],
        subs[0]
    ))
}

/// What [`merge`] found.
#[derive(Debug)]
pub struct Merged {
    /// Runs of the plan found in no shard (in plan order).
    pub missing: Vec<RunKey>,
    /// Shards read.
    pub shards: usize,
    /// What was written to [`MERGE_FILE`] (and goes into the report).
    pub record: MergeRecord,
}

/// Merges the sweep folders `dirs` (shards of one sweep, or plain sweeps of the same
/// configuration) into `out`: checks that every folder holds the same configuration, that
/// no run appears twice, that tuning picks agree and that every run was built from the same
/// git commit (unless `options.allow_mixed_commits`); lists the runs of the plan none of them
/// holds (an error unless `options.allow_missing`); writes `sweep.json`, `runs.jsonl` (in
/// plan order), `tuning.jsonl` and [`MERGE_FILE`] into `out`, after which
/// [`crate::request::rebuild`] writes the report, summary and plots. Every run keeps its own
/// [`fitbench_report::schema::Provenance`] (machine, commit, calibration).
pub fn merge(dirs: &[PathBuf], out: &Path, options: MergeOptions) -> Result<Merged> {
    let mut gathered = Gathered::default();
    for dir in dirs {
        gathered.add(dir)?;
    }
    let Some((config, _)) = gathered.config.take() else {
        return Err(HarnessError::Config(
            "merge: name at least one sweep folder".into(),
        ));
    };
    let plan = Plan::resolve(config.clone())?;
    let order = plan_keys(&plan);
    let missing = gathered.missing(&order, options)?;
    let record = MergeRecord {
        folders: dirs.iter().map(|d| d.display().to_string()).collect(),
        commits: gathered.commits(options)?,
        allow_mixed_commits: options.allow_mixed_commits,
        missing: missing.clone(),
    };
    gathered.write(out, &config, &plan, &order, &record)?;
    Ok(Merged {
        missing,
        shards: dirs.len(),
        record,
    })
}

/// What the folders of a merge hold, gathered folder by folder, with the folder each part
/// came from (for messages).
#[derive(Default)]
struct Gathered<'a> {
    /// The first folder's configuration.
    config: Option<(RunConfig, &'a Path)>,
    /// The first shard manifest's index and count.
    counts: Option<(Shard, &'a Path)>,
    /// The first folder's data identities.
    identities: Option<Vec<crate::sweep_file::DatasetIdentity>>,
    /// The latest record of every finished run.
    runs: BTreeMap<RunKey, (fitbench_report::RunRecord, &'a Path)>,
    /// The tuning record of every (dataset, trainer) tuned.
    tuning: BTreeMap<(String, String), (fitbench_report::config::TuningRecord, &'a Path)>,
}

impl<'a> Gathered<'a> {
    /// Reads the sweep folder `dir` and checks it against the folders read before.
    fn add(&mut self, dir: &'a Path) -> Result<()> {
        if !dir.join("sweep.json").exists() {
            return Err(not_a_sweep(dir));
        }
        let sweep_file = crate::sweep_file::SweepFile::read(dir)?;
        self.identities
            .get_or_insert_with(|| sweep_file.data_identity.clone());
        self.check_shard_count(dir)?;
        self.check_config(sweep_file.config, dir)?;
        self.add_runs(dir)?;
        self.add_tuning(dir)
    }

    /// Shards of different counts partition differently: their union is no sweep (e.g. a
    /// resubmitted array task that ran as 0/1, the whole sweep, instead of 3/8).
    fn check_shard_count(&mut self, dir: &'a Path) -> Result<()> {
        let manifest = dir.join(MANIFEST);
        if !manifest.exists() {
            return Ok(());
        }
        let m: Manifest = fitbench_report::io::read_json(&manifest, "a shard manifest")?;
        match self.counts {
            Some((first, from)) if first.count != m.shard.count => {
                Err(HarnessError::Config(format!(
                    "merge: {} is shard {} but {} is shard {}: shards of different counts do not partition the same runs; rerun the odd one with --shard I/{} (or FITBENCH_SHARD_COUNT={} under a scheduler)",
                    from.display(),
                    first,
                    dir.display(),
                    m.shard,
                    first.count,
                    first.count
                )))
            }
            Some(_) => Ok(()),
            None => {
                self.counts = Some((m.shard, dir));
                Ok(())
            }
        }
    }

    /// Every folder holds the first one's configuration.
    fn check_config(&mut self, sweep: RunConfig, dir: &'a Path) -> Result<()> {
        match &self.config {
            None => self.config = Some((sweep, dir)),
            Some((first, from)) if *first != sweep => {
                return Err(HarnessError::Config(format!(
                    "merge: {} and {} hold different sweep configurations (sweep.json fingerprints {} and {}); only shards of one sweep can be merged",
                    from.display(),
                    dir.display(),
                    config_fingerprint(first),
                    config_fingerprint(&sweep)
                )));
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// The latest record of each finished run of `dir`, none held by another folder.
    fn add_runs(&mut self, dir: &'a Path) -> Result<()> {
        let log = dir.join("runs.jsonl");
        let records = if log.exists() {
            fitbench_report::io::RunLog::read_latest(&log)?
        } else {
            Vec::new()
        };
        // An interrupted run is unfinished work: it counts as missing, as `--resume` reruns it.
        for r in records
            .into_iter()
            .filter(|r| r.status != fitbench_report::Status::Interrupted)
        {
            let key = RunKey {
                dataset: r.dataset.clone(),
                trainer: r.trainer.clone(),
                repetition: r.repetition,
            };
            if let Some((_, other)) = self.runs.get(&key) {
                return Err(HarnessError::Config(format!(
                    "merge: run {key} appears in both {} and {}; merge each shard once",
                    other.display(),
                    dir.display()
                )));
            }
            self.runs.insert(key, (r, dir));
        }
        Ok(())
    }

    /// The tuning records of `dir`, whose picks agree with those of the folders before.
    fn add_tuning(&mut self, dir: &'a Path) -> Result<()> {
        use fitbench_report::config::TuningRecord;
        let tuning_log = dir.join("tuning.jsonl");
        if !tuning_log.exists() {
            return Ok(());
        }
        for t in fitbench_report::io::JsonLines::read::<TuningRecord>(&tuning_log)? {
            let key = (t.dataset.clone(), t.trainer.clone());
            match self.tuning.get(&key) {
                Some((seen, other)) if seen.picked_lr != t.picked_lr => {
                    return Err(HarnessError::Config(format!(
                        "merge: the learning-rate pick for {} / {} differs between {} ({}) and {} ({}); the shards were not run by the same fitbench",
                        key.0,
                        key.1,
                        other.display(),
                        fmt_lr(seen.picked_lr),
                        dir.display(),
                        fmt_lr(t.picked_lr)
                    )));
                }
                Some(_) => {}
                None => {
                    self.tuning.insert(key, (t, dir));
                }
            }
        }
        Ok(())
    }

    /// The runs of `order` (the plan's) in no folder: an error unless
    /// `options.allow_missing`.
    fn missing(&self, order: &[RunKey], options: MergeOptions) -> Result<Vec<RunKey>> {
        let missing: Vec<RunKey> = order
            .iter()
            .filter(|k| !self.runs.contains_key(k))
            .cloned()
            .collect();
        if !missing.is_empty() && !options.allow_missing {
            let shown: Vec<String> = missing.iter().take(10).map(ToString::to_string).collect();
            return Err(HarnessError::Config(format!(
                "merge: {} of {} runs are in no shard (first: {}); run the missing shards, or pass --allow-missing to write a report without them",
                missing.len(),
                order.len(),
                shown.join("; ")
            )));
        }
        Ok(missing)
    }

    /// The git commits the runs were built from: one unless
    /// `options.allow_mixed_commits`.
    fn commits(&self, options: MergeOptions) -> Result<Vec<String>> {
        // One entry per folder in the message, so the user sees which shard is off.
        let mut commits: BTreeMap<String, Vec<&Path>> = BTreeMap::new();
        for (r, dir) in self.runs.values() {
            let commit = r
                .provenance
                .as_ref()
                .map_or("unknown", |p| p.git_commit.as_str());
            let dirs = commits.entry(commit.to_string()).or_default();
            if !dirs.contains(dir) {
                dirs.push(dir);
            }
        }
        if commits.len() > 1 && !options.allow_mixed_commits {
            let listed: Vec<String> = commits
                .iter()
                .map(|(c, dirs)| {
                    let names: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
                    format!("{c} ({})", names.join(", "))
                })
                .collect();
            return Err(HarnessError::Config(format!(
                "merge: the runs were built from {} different git commits: {}; rerun the odd shards with the same build, or pass --allow-mixed-commits to merge them anyway (recorded in the report)",
                commits.len(),
                listed.join("; ")
            )));
        }
        Ok(commits.into_keys().collect())
    }

    /// Writes the merged sweep into the empty folder `out`: `sweep.json` (`config`),
    /// `runs.jsonl` in plan order (`order`), `tuning.jsonl` in plan order, and `record` as
    /// [`MERGE_FILE`].
    fn write(
        &self,
        out: &Path,
        config: &RunConfig,
        plan: &Plan,
        order: &[RunKey],
        record: &MergeRecord,
    ) -> Result<()> {
        use fitbench_report::io::{JsonLines, RunLog, write_json};
        std::fs::create_dir_all(out).map_err(|e| HarnessError::io("cannot create", out, e))?;
        for f in crate::sweep_file::SWEEP_FILES {
            let p = out.join(f);
            if p.exists() {
                return Err(HarnessError::Config(format!(
                    "merge: {} already holds a sweep ({f}); choose an empty --out",
                    out.display()
                )));
            }
        }
        crate::sweep_file::SweepFile {
            config: config.clone(),
            data_identity: self.identities.clone().unwrap_or_default(),
        }
        .write(out)?;
        let mut log = RunLog::create(out)?;
        for k in order {
            if let Some((r, _)) = self.runs.get(k) {
                log.append(r)?;
            }
        }
        let mut tuning_out = JsonLines::create(&out.join("tuning.jsonl"))?;
        for d in &plan.datasets {
            for t in &plan.trainers {
                if let Some((record, _)) = self.tuning.get(&(d.data.name.clone(), t.label.clone()))
                {
                    tuning_out.append(record)?;
                }
            }
        }
        write_json(record, &out.join(MERGE_FILE))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_reject_with_precise_messages() {
        assert_eq!(Shard::parse("2/5").unwrap(), Shard { index: 2, count: 5 });
        for bad in ["5/5", "1/0", "x/2", "3", "-1/4"] {
            let msg = Shard::parse(bad).unwrap_err().to_string();
            assert!(msg.contains("shard"), "{bad}: {msg}");
        }
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| map.get(k).cloned()
    }

    #[test]
    fn auto_reads_slurm_kubernetes_and_the_generic_pair() {
        let s = Shard::from_env(&env(&[
            ("SLURM_ARRAY_TASK_ID", "3"),
            ("SLURM_ARRAY_TASK_COUNT", "8"),
        ]))
        .unwrap();
        assert_eq!(s, Shard { index: 3, count: 8 });
        // --array=1-4: ids 1..=4, four shards.
        let s = Shard::from_env(&env(&[
            ("SLURM_ARRAY_TASK_ID", "4"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_MAX", "4"),
        ]))
        .unwrap();
        assert_eq!(s, Shard { index: 3, count: 4 });
        // --array=0-15:4: ids 0, 4, 8, 12.
        let s = Shard::from_env(&env(&[
            ("SLURM_ARRAY_TASK_ID", "8"),
            ("SLURM_ARRAY_TASK_STEP", "4"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ]))
        .unwrap();
        assert_eq!(s, Shard { index: 2, count: 4 });
        // A resubmitted task 7 of an 8-task array.
        let s = Shard::from_env(&env(&[
            ("SLURM_ARRAY_TASK_ID", "7"),
            ("SLURM_ARRAY_TASK_COUNT", "1"),
            ("SLURM_ARRAY_TASK_MIN", "7"),
            ("FITBENCH_SHARD_COUNT", "8"),
        ]))
        .unwrap();
        assert_eq!(s, Shard { index: 7, count: 8 });
        // The explicit pair wins over the scheduler's variables.
        let s = Shard::from_env(&env(&[
            ("SLURM_ARRAY_TASK_ID", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
            ("FITBENCH_SHARD_INDEX", "3"),
            ("FITBENCH_SHARD_COUNT", "5"),
        ]))
        .unwrap();
        assert_eq!(s, Shard { index: 3, count: 5 });
        let s = Shard::from_env(&env(&[
            ("JOB_COMPLETION_INDEX", "0"),
            ("FITBENCH_SHARD_COUNT", "2"),
        ]))
        .unwrap();
        assert_eq!(s, Shard { index: 0, count: 2 });
        let s = Shard::from_env(&env(&[
            ("FITBENCH_SHARD_INDEX", "1"),
            ("FITBENCH_SHARD_COUNT", "3"),
        ]))
        .unwrap();
        assert_eq!(s, Shard { index: 1, count: 3 });
        let msg = Shard::from_env(&env(&[])).unwrap_err().to_string();
        assert!(msg.contains("SLURM_ARRAY_TASK_ID") && msg.contains("JOB_COMPLETION_INDEX"));
        let msg = Shard::from_env(&env(&[("JOB_COMPLETION_INDEX", "1")]))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("FITBENCH_SHARD_COUNT"), "{msg}");
        let msg = Shard::from_env(&env(&[("SLURM_ARRAY_TASK_ID", "1")]))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("SLURM_ARRAY_TASK_COUNT"), "{msg}");
        let msg = Shard::from_env(&env(&[
            ("FITBENCH_SHARD_INDEX", "one"),
            ("FITBENCH_SHARD_COUNT", "3"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(msg.contains("FITBENCH_SHARD_INDEX"), "{msg}");
    }

    fn key(d: &str, t: &str, r: usize) -> RunKey {
        RunKey {
            dataset: d.into(),
            trainer: t.into(),
            repetition: r,
        }
    }

    #[test]
    fn every_run_has_exactly_one_shard_and_keeps_it_when_the_sweep_grows() {
        let keys: Vec<RunKey> = ["diabetes", "wine-red", "teacher:n=100"]
            .iter()
            .flat_map(|d| {
                ["ols", "adam:lr=1e-2", "lbfgs"]
                    .iter()
                    .flat_map(move |t| (0..5).map(move |r| key(d, t, r)))
            })
            .collect();
        let n = 4;
        let shards: Vec<Shard> = (0..n).map(|i| Shard::new(i, n).unwrap()).collect();
        for k in &keys {
            assert_eq!(shards.iter().filter(|s| s.owns(k)).count(), 1, "{k}");
        }
        // Every shard gets some of the 45 runs.
        for s in &shards {
            assert!(keys.iter().any(|k| s.owns(k)), "shard {s} is empty");
        }
        // The assignment is a function of the key alone (adding runs moves none).
        let before: Vec<usize> = keys.iter().map(|k| shard_of(k, n)).collect();
        let mut grown = keys.clone();
        grown.insert(0, key("meps", "lm", 0));
        let after: Vec<usize> = grown[1..].iter().map(|k| shard_of(k, n)).collect();
        assert_eq!(before, after);
    }
}
