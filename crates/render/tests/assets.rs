//! The vendored assets of the HTML pages are the files their README names, byte for byte.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use sha2::{Digest, Sha256};
use std::path::Path;

#[test]
fn vendored_assets_match_their_recorded_sha256() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/html");
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    let sums: Vec<(&str, &str)> = readme
        .lines()
        .filter_map(|l| l.split_once("  "))
        .filter(|(h, _)| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()))
        .collect();
    let names: Vec<&str> = sums.iter().map(|(_, f)| *f).collect();
    assert_eq!(
        names,
        ["uPlot.iife.min.js", "uPlot.min.css", "uPlot.LICENSE"],
        "README.md must list the sha256 of every vendored file"
    );
    for (hash, file) in sums {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let got: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(got, hash, "{file} differs from the vendored release");
    }
}
