//! Records the compiler version and the versions of faer and burn from Cargo.lock, so every
//! report can say what built it.

use std::process::Command;

fn lock_version(lock: &str, name: &str) -> Option<String> {
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == format!("name = \"{name}\"") {
            return lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = "))
                .map(|v| v.trim_matches('"').to_string());
        }
    }
    None
}

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "unknown".into(), |s| s.trim().to_string());
    println!("cargo:rustc-env=FITBENCH_RUSTC={version}");
    // A commit given at build time (e.g. the Dockerfile's GIT_COMMIT): reports fall back to it
    // where the source tree is not there to ask git at run time.
    println!("cargo:rerun-if-env-changed=FITBENCH_GIT_COMMIT");
    println!(
        "cargo:rustc-env=FITBENCH_BUILD_COMMIT={}",
        std::env::var("FITBENCH_GIT_COMMIT").unwrap_or_default()
    );
    let lock_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock");
    println!("cargo:rerun-if-changed={lock_path}");
    let lock = std::fs::read_to_string(lock_path).unwrap_or_default();
    println!(
        "cargo:rustc-env=FITBENCH_FAER_VERSION={}",
        lock_version(&lock, "faer").unwrap_or_else(|| "unknown".into())
    );
    println!(
        "cargo:rustc-env=FITBENCH_BURN_VERSION={}",
        lock_version(&lock, "burn").unwrap_or_default()
    );
    println!(
        "cargo:rustc-env=FITBENCH_PROFILE={}",
        std::env::var("PROFILE").unwrap_or_default()
    );
    println!("cargo:rerun-if-changed=build.rs");
}
