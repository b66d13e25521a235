//! Memory estimates, checked before anything is generated or run: a sweep too large for the
//! machine is refused with its sizes instead of aborting inside an allocation.

use crate::error::{HarnessError, Result};
use fitbench_core::{Architecture, TrainerConfig};

/// Environment variable that caps the memory fitbench plans for, in bytes (default: the
/// machine's available memory, `MemAvailable` of `/proc/meminfo`).
pub const LIMIT_VAR: &str = "FITBENCH_MEMORY_LIMIT";

/// The memory a sweep may use: [`LIMIT_VAR`] if set, else the available memory; `None`
/// when neither can be read (no check is made then).
pub fn limit_bytes() -> Option<u64> {
    if let Some(v) = std::env::var(LIMIT_VAR)
        .ok()
        .and_then(|v| v.trim().parse().ok())
    {
        return Some(v);
    }
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Bytes a dataset of n rows, d features and k targets takes through a sweep: the data, its
/// train and test split, and the standardised copies (about four copies of 8·n·(d + k)).
pub fn dataset_bytes(n: usize, d: usize, k: usize) -> u64 {
    4 * 8 * n as u64 * (d + k) as u64
}

/// Peak bytes of one run on a dataset of n rows and d features: the dataset, plus the
/// largest trainer estimate ([`TrainerConfig::memory_bytes`]) for its training rows.
pub fn run_bytes<'a>(
    n: usize,
    d: usize,
    test_fraction: f64,
    architecture: &Architecture,
    trainers: impl Iterator<Item = &'a (dyn TrainerConfig + Send + Sync)>,
) -> u64 {
    let n_train = ((n as f64) * (1.0 - test_fraction)).ceil() as usize;
    let trainer = trainers
        .map(|t| {
            let arch = t
                .architecture(architecture)
                .unwrap_or_else(|_| architecture.clone());
            t.memory_bytes(n_train, &arch.widths(d, 1))
        })
        .max()
        .unwrap_or(0);
    dataset_bytes(n, d, 1) + trainer
}

fn gib(bytes: u64) -> String {
    format!("{:.2} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// Refuses a dataset whose runs need more than `limit` bytes.
pub fn check(dataset: &str, n: usize, d: usize, need: u64, limit: Option<u64>) -> Result<()> {
    match limit {
        Some(limit) if need > limit => Err(HarnessError::Config(format!(
            "dataset {dataset} (n = {n}, d = {d}) needs about {} (data, split, standardised copies and the largest trainer's buffers), but {} are available (set {LIMIT_VAR} to change the limit); use a smaller n or d",
            gib(need),
            gib(limit)
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_grow_with_the_data_and_refusals_name_the_sizes() {
        assert_eq!(dataset_bytes(1000, 9, 1), 4 * 8 * 1000 * 10);
        let msg = check(
            "teacher:n=1e12",
            1_000_000_000_000,
            8,
            1 << 45,
            Some(1 << 30),
        )
        .unwrap_err()
        .to_string();
        assert!(
            msg.contains("n = 1000000000000") && msg.contains("d = 8") && msg.contains("1.00 GiB"),
            "{msg}"
        );
        assert!(check("small", 10, 2, 1000, Some(1 << 30)).is_ok());
        assert!(check("unknown limit", 10, 2, u64::MAX, None).is_ok());
    }
}
