//! What machine, build and source tree a report comes from.

use crate::schema::Environment;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(["-C", env!("CARGO_MANIFEST_DIR")])
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// Captures the environment (git commit of the source tree fitbench was built from — asked of
/// git at run time, else the `FITBENCH_GIT_COMMIT` given at build time, else "unknown" —,
/// compiler, CPU, cores, threads, library versions).
pub fn capture(threads: usize) -> Environment {
    let burn = env!("FITBENCH_BURN_VERSION");
    Environment {
        fitbench_version: env!("CARGO_PKG_VERSION").into(),
        git_commit: git(&["rev-parse", "HEAD"])
            .or_else(|| {
                let built = env!("FITBENCH_BUILD_COMMIT");
                (!built.is_empty()).then(|| built.to_string())
            })
            .unwrap_or_else(|| "unknown".into()),
        git_dirty: git(&["status", "--porcelain", "--untracked-files=no"]).map(|s| !s.is_empty()),
        rustc: env!("FITBENCH_RUSTC").into(),
        profile: env!("FITBENCH_PROFILE").into(),
        os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        cpu: cpu_model(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        threads,
        jobs: 1,
        hostname: hostname(),
        faer_version: env!("FITBENCH_FAER_VERSION").into(),
        burn_version: (!burn.is_empty()).then(|| burn.to_string()),
        started_unix_s: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        calibration: None,
        memory_measurement: None,
    }
}

/// Name of the calibration kernel (the same kernel as the `calibration` criterion bench).
pub const CALIBRATION_KERNEL: &str = "faer f64 matmul 256×256×256, one thread, best of 30";

/// Combines measurements into a [`crate::schema::Calibration`] (the best one counts: noise
/// only ever slows a kernel down).
pub fn calibration(measurements: Vec<f64>) -> crate::schema::Calibration {
    crate::schema::Calibration {
        kernel: CALIBRATION_KERNEL.into(),
        gflops: measurements.iter().copied().fold(0.0, f64::max),
        measurements,
    }
}
