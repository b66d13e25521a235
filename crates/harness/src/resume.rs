//! What `--resume` does with the runs a sweep folder already holds, and how it says so.
//!
//! The latest record of each planned run (dataset, trainer, repetition) in `runs.jsonl` is
//! reused when its [`fingerprint`](crate::runner::fingerprint) is the planned run's and it
//! ended on its own terms; it is rerun when it was interrupted, ended in error (a refusal
//! included) or panicked, or when a setting that changes results changed. Nothing is
//! deleted: the rerun's record is appended and supersedes the old one on read.

use fitbench_report::{RunConfig, RunRecord, Status};
use std::fmt;

/// Why a planned run is run (again) rather than reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rerun {
    /// The folder holds no record of it.
    NotRun,
    /// Its record is of an interrupted run.
    Interrupted,
    /// Its record ended in error (a refusal included) or panicked: retried.
    Failed,
    /// Its fingerprint differs: a setting that changes results changed.
    Changed,
}

/// Reuse `previous` (the latest record of the planned run, if any) for a run of fingerprint
/// `fingerprint`, or rerun it and why.
pub fn decide(previous: Option<&RunRecord>, fingerprint: &str) -> Result<(), Rerun> {
    let Some(r) = previous else {
        return Err(Rerun::NotRun);
    };
    if r.fingerprint.as_deref() != Some(fingerprint) {
        return Err(Rerun::Changed);
    }
    match r.status {
        Status::Interrupted => Err(Rerun::Interrupted),
        Status::Error | Status::Panicked | Status::Unresponsive => Err(Rerun::Failed),
        _ => Ok(()),
    }
}

/// What a `--resume` found and will do, printed before the first run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResumeSummary {
    /// Runs this process plans (its shard's share).
    pub planned: usize,
    /// Reused as they are.
    pub reused: usize,
    /// Rerun because a setting changed.
    pub changed: usize,
    /// Retried: interrupted, errored, refused or panicked before.
    pub retried: usize,
    /// Never run before.
    pub not_run: usize,
    /// The settings that changed since the folder's `sweep.json`, as `field old → new`.
    pub changes: Vec<String>,
    /// Records in the folder of runs this sweep does not plan (kept, not reported).
    pub unplanned: usize,
}

impl ResumeSummary {
    /// Counts one planned run.
    pub fn count(&mut self, decision: Result<(), Rerun>) {
        match decision {
            Ok(()) => self.reused += 1,
            Err(Rerun::NotRun) => self.not_run += 1,
            Err(Rerun::Interrupted | Rerun::Failed) => self.retried += 1,
            Err(Rerun::Changed) => self.changed += 1,
        }
    }
}

impl fmt::Display for ResumeSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "reusing {} of {} runs", self.reused, self.planned)?;
        if self.changed > 0 {
            let why = if self.changes.is_empty() {
                "their fingerprint changed: another fitbench version or trainer configuration"
                    .to_string()
            } else {
                format!("config changed: {}", self.changes.join(", "))
            };
            write!(f, "; rerunning {} ({why})", self.changed)?;
        }
        if self.retried > 0 {
            write!(
                f,
                "; retrying {} that were interrupted, refused, ended in error or panicked",
                self.retried
            )?;
        }
        if self.not_run > 0 {
            write!(f, "; running {} not run before", self.not_run)?;
        }
        if self.unplanned > 0 {
            write!(
                f,
                "; {} record(s) of runs this sweep does not plan are kept in runs.jsonl but not reported",
                self.unplanned
            )?;
        }
        Ok(())
    }
}

/// The settings that change results and differ between `old` and `new`, as
/// `field old → new` (nested fields dotted), in field order.
pub fn config_changes(old: &RunConfig, new: &RunConfig) -> Vec<String> {
    fitbench_report::config::json_changes(&old.result_json(), &new.result_json())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_settings_are_named_with_old_and_new_values_and_resource_limits_are_not() {
        let old = RunConfig::default();
        let mut new = old.clone();
        new.max_iters = old.max_iters + 10;
        new.max_memory = Some(1 << 30);
        new.seeds = old.seeds + 1;
        let changes = config_changes(&old, &new);
        assert_eq!(
            changes,
            vec![format!("max_iters {} → {}", old.max_iters, new.max_iters)]
        );
    }

    #[test]
    fn summaries_say_what_is_reused_rerun_and_why() {
        let mut s = ResumeSummary {
            planned: 5,
            changes: vec!["max_iters 50 → 60".into()],
            ..ResumeSummary::default()
        };
        for d in [
            Ok(()),
            Err(Rerun::Changed),
            Err(Rerun::Failed),
            Err(Rerun::Interrupted),
            Err(Rerun::NotRun),
        ] {
            s.count(d);
        }
        assert_eq!(
            s.to_string(),
            "reusing 1 of 5 runs; rerunning 1 (config changed: max_iters 50 → 60); retrying 2 that were interrupted, refused, ended in error or panicked; running 1 not run before"
        );
    }

    #[test]
    fn only_finished_runs_of_the_same_fingerprint_are_reused() {
        let seeds = fitbench_report::schema::RunSeeds {
            split: 0,
            init: 0,
            trainer: 0,
        };
        let mut r = RunRecord::pending("d", "t", "t", serde_json::Value::Null, 0, seeds);
        r.fingerprint = Some("a".into());
        r.status = Status::MaxIters;
        assert_eq!(decide(Some(&r), "a"), Ok(()));
        assert_eq!(decide(Some(&r), "b"), Err(Rerun::Changed));
        assert_eq!(decide(None, "a"), Err(Rerun::NotRun));
        for (status, why) in [
            (Status::Error, Rerun::Failed),
            (Status::Panicked, Rerun::Failed),
            (Status::Interrupted, Rerun::Interrupted),
        ] {
            r.status = status;
            assert_eq!(decide(Some(&r), "a"), Err(why));
        }
        r.status = Status::Diverged;
        assert_eq!(decide(Some(&r), "a"), Ok(()), "divergence is a result");
    }
}
