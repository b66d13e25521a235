//! The partition of a sweep's runs into shards: pure functions of each run's key (no I/O,
//! no plan). See [`crate::shard`] for how shards are run and merged.

use crate::error::{HarnessError, Result};
use fitbench_report::RunConfig;
use serde::{Deserialize, Serialize};

/// Shard `index` of `count` (0-based index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// This shard, 0-based.
    pub index: usize,
    /// Number of shards.
    pub count: usize,
}

/// The environment variables [`Shard::from_env`] reads, for error messages and docs.
pub const ENV_HELP: &str = "SLURM job arrays: SLURM_ARRAY_TASK_ID with SLURM_ARRAY_TASK_COUNT \
     (or SLURM_ARRAY_TASK_MIN/MAX); Kubernetes Indexed Jobs: JOB_COMPLETION_INDEX with \
     FITBENCH_SHARD_COUNT (the Job's completions); anything else: FITBENCH_SHARD_INDEX and \
     FITBENCH_SHARD_COUNT";

impl Shard {
    /// A validated shard: `count ≥ 1`, `index < count`.
    pub fn new(index: usize, count: usize) -> Result<Self> {
        if count == 0 || index >= count {
            return Err(HarnessError::Config(format!(
                "shard {index}/{count}: the index must be below the count (0-based: 0/{count} … {}/{count}), and the count at least 1",
                count.saturating_sub(1)
            )));
        }
        Ok(Self { index, count })
    }

    /// Parses `I/N` (0-based index I of N shards).
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || {
            HarnessError::Config(format!(
                "--shard {text:?}: expected I/N with 0 ≤ I < N (e.g. 0/4 … 3/4), or `auto` to read it from the scheduler's environment"
            ))
        };
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let index = i.trim().parse().map_err(|_| bad())?;
        let count = n.trim().parse().map_err(|_| bad())?;
        Self::new(index, count)
    }

    /// `--shard auto`: the shard from the scheduler's environment, looked up through `var`
    /// (pass `|k| std::env::var(k).ok()`). See [`ENV_HELP`] for the variables.
    ///
    /// Precedence: `FITBENCH_SHARD_INDEX` with `FITBENCH_SHARD_COUNT`; then SLURM (with
    /// `FITBENCH_SHARD_COUNT` set, `SLURM_ARRAY_TASK_ID` is the index as is — the way to
    /// resubmit a few failed tasks of a larger array —, otherwise the index is
    /// (id − min) / step over `SLURM_ARRAY_TASK_COUNT` tasks, or min..=max); then
    /// Kubernetes (`JOB_COMPLETION_INDEX` with `FITBENCH_SHARD_COUNT`).
    pub fn from_env(var: &dyn Fn(&str) -> Option<String>) -> Result<Self> {
        let num = |name: &str| -> Result<Option<usize>> {
            match var(name) {
                None => Ok(None),
                Some(v) => v.trim().parse().map(Some).map_err(|_| {
                    HarnessError::Config(format!(
                        "--shard auto: {name}={v:?} is not a non-negative integer"
                    ))
                }),
            }
        };
        let explicit_count = num("FITBENCH_SHARD_COUNT")?;
        if let (Some(index), Some(count)) = (num("FITBENCH_SHARD_INDEX")?, explicit_count) {
            return Self::new(index, count);
        }
        if let Some(id) = num("SLURM_ARRAY_TASK_ID")? {
            if let Some(count) = explicit_count {
                return Self::new(id, count);
            }
            let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let step = num("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
            let count = match (num("SLURM_ARRAY_TASK_COUNT")?, num("SLURM_ARRAY_TASK_MAX")?) {
                (Some(c), _) => c,
                (None, Some(max)) if max >= min => (max - min) / step + 1,
                _ => {
                    return Err(HarnessError::Config(
                        "--shard auto: SLURM_ARRAY_TASK_ID is set but neither SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MAX is; submit with --array=0-N, set FITBENCH_SHARD_COUNT, or pass --shard I/N".into(),
                    ));
                }
            };
            let offset = id.checked_sub(min).filter(|o| o % step == 0).ok_or_else(|| {
                HarnessError::Config(format!(
                    "--shard auto: SLURM_ARRAY_TASK_ID={id} is not min + k·step (min {min}, step {step}); for a resubmitted subset of an array, set FITBENCH_SHARD_COUNT to the full array's size"
                ))
            })?;
            return Self::new(offset / step, count);
        }
        if let Some(index) = num("JOB_COMPLETION_INDEX")? {
            let count = explicit_count.ok_or_else(|| {
                HarnessError::Config(
                    "--shard auto: JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) is set but FITBENCH_SHARD_COUNT is not; set it to the Job's completions".into(),
                )
            })?;
            return Self::new(index, count);
        }
        Err(HarnessError::Config(format!(
            "--shard auto: no shard in the environment. Looked for {ENV_HELP}"
        )))
    }

    /// Whether this shard owns the run `key`.
    pub fn owns(&self, key: &RunKey) -> bool {
        shard_of(key, self.count) == self.index
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

pub use fitbench_report::schema::RunKey;

/// The shard (of `count`) the run `key` belongs to: `fnv1a(key) mod count`.
pub fn shard_of(key: &RunKey, count: usize) -> usize {
    let text = format!(
        "{}\u{1f}{}\u{1f}{}",
        key.dataset, key.trainer, key.repetition
    );
    (fitbench_core::rng::fnv1a(&text) % count.max(1) as u64) as usize
}

/// Fingerprint of a sweep configuration: shards of one sweep must agree on it.
pub fn config_fingerprint(config: &RunConfig) -> String {
    let text = serde_json::to_string(config).unwrap_or_default();
    format!("{:016x}", fitbench_core::rng::fnv1a(&text))
}
