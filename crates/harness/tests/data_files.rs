//! The committed real datasets are exactly the files `data/README.md` documents.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use sha2::{Digest, Sha256};
use std::path::Path;

#[test]
fn data_files_match_their_recorded_sha256() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data");
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    let mut checked = 0;
    for line in sums.lines().filter(|l| !l.trim().is_empty()) {
        let (hex, name) = line.split_once("  ").unwrap();
        let bytes = std::fs::read(dir.join(name.trim())).unwrap();
        let digest: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(digest, hex, "{name}: sha256 differs from data/SHA256SUMS");
        assert!(
            readme.contains(hex),
            "{name}: its sha256 is not in data/README.md"
        );
        checked += 1;
    }
    assert_eq!(checked, 7, "seven real datasets are committed");
}
