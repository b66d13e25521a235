//! The reference the study is compared against: `crates/lnn/data/reference.json`, compiled
//! into the crate.
//!
//! The file records where its numbers come from (what was run, by which command, with which
//! seed and library versions, when) next to the per-depth numbers, so the comparison in
//! [`crate::reproduction_section`] can cite it. See `scripts/lnn-reference.py` for how it was
//! made.

use crate::error::{LnnError, Result};
use serde::{Deserialize, Serialize};

/// The reference file's text, as committed.
pub const REFERENCE_JSON: &str = include_str!("../data/reference.json");

/// Where the reference file lives in the repository (for citations in reports).
pub const REFERENCE_PATH: &str = "crates/lnn/data/reference.json";

/// One depth of the reference.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceDepth {
    /// Chain length.
    pub k: usize,
    /// Mean final D over the trials.
    pub mean_d: f64,
    /// Standard error of that mean.
    pub sem_d: f64,
    /// Median final D.
    pub median_d: f64,
    /// Fraction of trials with final D below [`Reference::converged_below`].
    pub frac_converged: f64,
}

/// The reference run and its provenance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    /// What was run, in words.
    pub what: String,
    /// The script, relative to the repository root.
    pub script: String,
    /// The exact command line that wrote the file.
    pub command: String,
    /// Python version of the run.
    pub python_version: String,
    /// numpy version of the run.
    pub numpy_version: String,
    /// Seed of numpy's generator.
    pub seed: u64,
    /// Date of the run (UTC, ISO 8601).
    pub date: String,
    /// Wall time of the run, in seconds.
    pub wall_s: f64,
    /// Trials per depth.
    pub trials: usize,
    /// Full-batch SGD steps.
    pub steps: usize,
    /// Learning rate.
    pub lr: f64,
    /// Noise coefficient c.
    pub noise: f64,
    /// Training samples per trial.
    pub n_train: usize,
    /// A trial counts as converged when its final D is below this.
    pub converged_below: f64,
    /// One row per depth, in increasing k.
    pub depths: Vec<ReferenceDepth>,
}

impl Reference {
    /// Parses and checks a reference file's text.
    pub fn parse(text: &str) -> Result<Self> {
        let r: Reference =
            serde_json::from_str(text).map_err(|e| LnnError::Reference(e.to_string()))?;
        if r.depths.is_empty() {
            return Err(LnnError::Reference("no depths".into()));
        }
        if r.depths.windows(2).any(|w| w[0].k >= w[1].k) || r.depths[0].k == 0 {
            return Err(LnnError::Reference(
                "depths must be listed in strictly increasing k ≥ 1".into(),
            ));
        }
        let bad = r.depths.iter().find(|d| {
            !(d.mean_d.is_finite()
                && d.sem_d.is_finite()
                && d.median_d.is_finite()
                && (0.0..=1.0).contains(&d.frac_converged))
        });
        if let Some(d) = bad {
            return Err(LnnError::Reference(format!(
                "k = {}: non-finite statistics or a fraction outside [0, 1]",
                d.k
            )));
        }
        if r.trials == 0 || r.steps == 0 || !(r.lr.is_finite() && r.lr > 0.0) {
            return Err(LnnError::Reference(
                "trials, steps and lr must be positive".into(),
            ));
        }
        Ok(r)
    }

    /// The row of chain length `k`, if the reference has one.
    pub fn depth(&self, k: usize) -> Option<&ReferenceDepth> {
        self.depths.iter().find(|d| d.k == k)
    }
}

/// The reference compiled into this crate.
pub fn reference() -> Result<Reference> {
    Reference::parse(REFERENCE_JSON)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_reference_parses_with_ten_depths_and_its_provenance() {
        let r = reference().unwrap();
        assert_eq!(
            r.depths.iter().map(|d| d.k).collect::<Vec<_>>(),
            (1..=10).collect::<Vec<_>>()
        );
        assert_eq!(
            (r.trials, r.steps, r.lr, r.noise),
            (300, 10_000, 1e-3, 0.05)
        );
        assert!(r.command.contains(&r.script) && r.command.contains(REFERENCE_PATH));
        assert!(!r.numpy_version.is_empty() && !r.date.is_empty());
        // Linear regression by gradient descent reaches OLS in every trial.
        assert_eq!(r.depths[0].frac_converged, 1.0);
    }

    #[test]
    fn malformed_references_are_rejected() {
        let mut r = reference().unwrap();
        r.depths.swap(0, 1);
        let text = serde_json::to_string(&r).unwrap();
        let msg = Reference::parse(&text).unwrap_err().to_string();
        assert!(msg.contains("increasing"), "{msg}");
        let msg = Reference::parse("{}").unwrap_err().to_string();
        assert!(msg.contains("reference data"), "{msg}");
    }
}
