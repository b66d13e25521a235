//! Memory estimates, checked before anything is generated or run: a sweep too large for the
//! machine is refused with its sizes instead of aborting inside an allocation.

use crate::error::{HarnessError, Result};

/// Environment variable that caps the memory fitbench plans for, in bytes (default: the
/// machine's available memory, `MemAvailable` of `/proc/meminfo`); `--max-memory` overrides it.
pub const LIMIT_VAR: &str = "FITBENCH_MEMORY_LIMIT";

/// A memory limit and where it came from (for messages).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    /// Bytes.
    pub bytes: u64,
    /// `--max-memory`, [`LIMIT_VAR`] or the machine's available memory.
    pub source: &'static str,
}

/// The memory a sweep may use: `configured` (`--max-memory`) if set, else [`LIMIT_VAR`], else
/// the available memory; `None` when none can be read (no check is made then).
pub fn limit(configured: Option<u64>) -> Option<Limit> {
    if let Some(bytes) = configured {
        return Some(Limit {
            bytes,
            source: "--max-memory",
        });
    }
    if let Ok(Some(bytes)) = env_limit() {
        return Some(Limit {
            bytes,
            source: LIMIT_VAR,
        });
    }
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(Limit {
        bytes: kib * 1024,
        source: "the machine's available memory",
    })
}

/// [`LIMIT_VAR`], parsed like `--max-memory` (`8G`, a byte count…): `None` when unset, an
/// error naming the variable and its value when it is not a size (checked before a sweep
/// starts, so a typo is not silently ignored).
pub fn env_limit() -> Result<Option<u64>> {
    match std::env::var(LIMIT_VAR) {
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(v)) => Err(HarnessError::Config(format!(
            "{LIMIT_VAR}={v:?} is not a size; set a byte count or a size such as 8G or 512M, or unset it"
        ))),
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => parse_bytes(&v).map(Some).map_err(|e| {
            HarnessError::Config(format!(
                "{LIMIT_VAR}={v:?}: {e}; set it to such a size, or unset it"
            ))
        }),
    }
}

/// Parses a size: a byte count, or a number with a unit K, M, G or T (powers of 1024; an
/// optional trailing `B` or `iB`), e.g. `8G`, `512MiB`, `1.5g`.
pub fn parse_bytes(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let body = lower
        .strip_suffix("ib")
        .or_else(|| lower.strip_suffix('b'))
        .unwrap_or(&lower);
    let (number, scale) = match body.chars().last() {
        Some('k') => (&body[..body.len() - 1], 1u64 << 10),
        Some('m') => (&body[..body.len() - 1], 1 << 20),
        Some('g') => (&body[..body.len() - 1], 1 << 30),
        Some('t') => (&body[..body.len() - 1], 1 << 40),
        _ => (body, 1),
    };
    match number.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v * (scale as f64) < u64::MAX as f64 => {
            Ok((v * scale as f64).round() as u64)
        }
        _ => Err(format!(
            "memory size {t:?}: expected a positive number of bytes, optionally with a unit K, M, G or T (e.g. 8G, 512M)"
        )),
    }
}

/// Bytes a dataset of n rows, d features and k targets takes through a sweep: the data, its
/// train and test split, and the standardised copies (about four copies of 8·n·(d + k)).
pub fn dataset_bytes(n: usize, d: usize, k: usize) -> u64 {
    4 * 8 * n as u64 * (d + k) as u64
}

fn gib(bytes: u64) -> String {
    format!("{:.2} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// Refuses a dataset whose data alone need more than the limit (its runs could not start).
pub fn check(dataset: &str, n: usize, d: usize, need: u64, limit: Option<Limit>) -> Result<()> {
    match limit {
        Some(limit) if need > limit.bytes => Err(HarnessError::Config(format!(
            "dataset {dataset} (n = {n}, d = {d}) needs about {} for the data, its split and standardised copies alone, but the limit is {} ({}); use a smaller n or d, or raise the limit with --max-memory",
            gib(need),
            gib(limit.bytes),
            limit.source
        ))),
        _ => Ok(()),
    }
}

/// Why one run is refused before its `init`: its estimate exceeds the limit (`None`: it fits).
pub fn refusal(trainer: &str, dataset: &str, need: u64, limit: Option<Limit>) -> Option<String> {
    let limit = limit.filter(|l| need > l.bytes)?;
    Some(format!(
        "refused before init: trainer {trainer} on dataset {dataset} needs about {} (its buffers plus the data, split and standardised copies), but the limit is {} ({}); raise the limit with --max-memory, or use a smaller dataset",
        gib(need),
        gib(limit.bytes),
        limit.source
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_grow_with_the_data_and_refusals_name_the_sizes() {
        assert_eq!(dataset_bytes(1000, 9, 1), 4 * 8 * 1000 * 10);
        let one_gib = Some(Limit {
            bytes: 1 << 30,
            source: "--max-memory",
        });
        let msg = check("teacher:n=1e12", 1_000_000_000_000, 8, 1 << 45, one_gib)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("n = 1000000000000")
                && msg.contains("d = 8")
                && msg.contains("1.00 GiB")
                && msg.contains("--max-memory"),
            "{msg}"
        );
        assert!(check("small", 10, 2, 1000, one_gib).is_ok());
        assert!(check("unknown limit", 10, 2, u64::MAX, None).is_ok());
        let msg = refusal("lm", "teacher:n=1000000", 3 << 30, one_gib).unwrap();
        assert!(
            msg.contains("trainer lm") && msg.contains("3.00 GiB") && msg.contains("1.00 GiB"),
            "{msg}"
        );
        assert_eq!(refusal("lm", "small", 1 << 20, one_gib), None);
    }

    #[test]
    fn sizes_parse_with_binary_units_and_bad_ones_are_explained() {
        assert_eq!(parse_bytes("1024"), Ok(1024));
        assert_eq!(parse_bytes("8G"), Ok(8 << 30));
        assert_eq!(parse_bytes("512MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("1.5k"), Ok(1536));
        assert_eq!(parse_bytes("2tb"), Ok(2 << 40));
        for bad in ["", "G", "-1G", "0", "eight", "1e400"] {
            let e = parse_bytes(bad).unwrap_err();
            assert!(e.contains("8G"), "{bad}: {e}");
        }
    }
}
