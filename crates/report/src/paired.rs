//! Paired statistics for relative benchmarking (`fitbench ab`): pure functions, no I/O.
//!
//! A pair is one run of the same (dataset, trainer, repetition) by the baseline and by the
//! current binary, back to back. Its datum is the log-ratio `d = ln(current / baseline)` of a
//! time (seconds per step, seconds to a level). The location of the `d`s is estimated by their
//! mean (the log of the geometric-mean ratio) and tested with the **exact Wilcoxon signed-rank
//! test** in its Walsh-average form:
//!
//! - the `n(n+1)/2` Walsh averages `(dᵢ + dⱼ)/2, i ≤ j` are formed;
//! - under H₀ "the `d`s are symmetric about δ", the number of Walsh averages above δ has the
//!   null distribution of the signed-rank statistic T⁺ (computed exactly, [`SignedRank`]);
//! - the one-sided p-value for "location > δ" is P₀(T⁺ ≥ #{w > δ}), and the matching
//!   confidence bound is an order statistic of the Walsh averages (Hodges–Lehmann), so the
//!   interval excludes δ exactly when the test rejects at the same level.
//!
//! Family-wise error over many cells is controlled with Holm's step-down procedure
//! ([`holm`]). Nothing here draws random numbers: the same pairs give the same verdict.
//!
//! ```
//! use fitbench_report::paired::{PairedTest, holm};
//!
//! // Twelve pairs, the current side about 10 % slower.
//! let ratios = [1.09, 1.11, 1.10, 1.12, 1.08, 1.10, 1.13, 1.09, 1.10, 1.11, 1.07, 1.12];
//! let logs: Vec<f64> = ratios.iter().map(|r: &f64| r.ln()).collect();
//! let t = PairedTest::new(&logs).unwrap();
//! assert!((t.ratio() - 1.1).abs() < 0.01);
//! // One-sided: is the slowdown above 5 %?
//! let p = t.p_above(1.05_f64.ln());
//! assert!(p < 1e-3);
//! // Holm over a family of three cells.
//! let adjusted = holm(&[p, 0.5, 0.04]);
//! assert!(adjusted[0] <= 3.0 * p);
//! ```

/// The exact null distribution of the Wilcoxon signed-rank statistic T⁺ for `n` untied,
/// non-zero differences: `cdf[t] = P₀(T⁺ ≤ t)`, t = 0 … n(n+1)/2.
#[derive(Clone, Debug, PartialEq)]
pub struct SignedRank {
    n: usize,
    cdf: Vec<f64>,
}

impl SignedRank {
    /// The distribution for `n` pairs (by dynamic programming over the ranks, in
    /// probabilities so that no count overflows; O(n³) time, fine for n up to a few hundred).
    pub fn new(n: usize) -> Self {
        let max = n * (n + 1) / 2;
        let mut pmf = vec![0.0f64; max + 1];
        pmf[0] = 1.0;
        let mut top = 0;
        for rank in 1..=n {
            top += rank;
            for t in (0..=top).rev() {
                let with = if t >= rank { pmf[t - rank] } else { 0.0 };
                pmf[t] = 0.5 * (pmf[t] + with);
            }
        }
        let mut acc = 0.0;
        let cdf = pmf
            .iter()
            .map(|p| {
                acc += p;
                acc.min(1.0)
            })
            .collect();
        Self { n, cdf }
    }

    /// Number of pairs.
    pub fn n(&self) -> usize {
        self.n
    }

    /// The largest value of T⁺, n(n+1)/2.
    pub fn max(&self) -> usize {
        self.cdf.len() - 1
    }

    /// P₀(T⁺ ≤ t).
    pub fn cdf(&self, t: usize) -> f64 {
        self.cdf.get(t).copied().unwrap_or(1.0)
    }

    /// P₀(T⁺ ≥ t) (by symmetry, P₀(T⁺ ≤ max − t)).
    pub fn upper_tail(&self, t: usize) -> f64 {
        if t == 0 {
            1.0
        } else if t > self.max() {
            0.0
        } else {
            self.cdf(self.max() - t)
        }
    }

    /// 1 + the largest `c` with P₀(T⁺ ≤ c) ≤ `alpha`, or 0 when even P₀(T⁺ = 0) = 2⁻ⁿ
    /// exceeds `alpha` (too few pairs for that level). The one-sided lower confidence bound
    /// at level 1 − `alpha` is the k-th smallest Walsh average for this k (none for k = 0).
    pub fn bound_index(&self, alpha: f64) -> usize {
        self.cdf.iter().take_while(|&&p| p <= alpha).count()
    }
}

/// The signed-rank analysis of one sample of paired log-ratios.
#[derive(Clone, Debug, PartialEq)]
pub struct PairedTest {
    /// The log-ratios, as given.
    logs: Vec<f64>,
    /// Their Walsh averages, sorted ascending.
    walsh: Vec<f64>,
    dist: SignedRank,
}

impl PairedTest {
    /// `None` when `logs` is empty or holds a non-finite value.
    pub fn new(logs: &[f64]) -> Option<Self> {
        if logs.is_empty() || logs.iter().any(|d| !d.is_finite()) {
            return None;
        }
        let mut walsh = Vec::with_capacity(logs.len() * (logs.len() + 1) / 2);
        for (i, a) in logs.iter().enumerate() {
            for b in &logs[i..] {
                walsh.push(0.5 * (a + b));
            }
        }
        walsh.sort_by(f64::total_cmp);
        Some(Self {
            logs: logs.to_vec(),
            walsh,
            dist: SignedRank::new(logs.len()),
        })
    }

    /// Number of pairs.
    pub fn n(&self) -> usize {
        self.logs.len()
    }

    /// The mean log-ratio.
    pub fn mean_log(&self) -> f64 {
        self.logs.iter().sum::<f64>() / self.logs.len() as f64
    }

    /// The geometric mean of the ratios, exp(mean log-ratio).
    pub fn ratio(&self) -> f64 {
        self.mean_log().exp()
    }

    /// The sample standard deviation of the log-ratios (0 for one pair).
    pub fn sd_log(&self) -> f64 {
        let n = self.logs.len();
        if n < 2 {
            return 0.0;
        }
        let m = self.mean_log();
        (self.logs.iter().map(|d| (d - m).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    }

    /// One-sided exact p-value for "the location of the log-ratios is above `delta`".
    pub fn p_above(&self, delta: f64) -> f64 {
        let count = self.walsh.iter().filter(|&&w| w > delta).count();
        self.dist.upper_tail(count)
    }

    /// One-sided exact p-value for "the location of the log-ratios is below `delta`".
    pub fn p_below(&self, delta: f64) -> f64 {
        let count = self.walsh.iter().filter(|&&w| w < delta).count();
        self.dist.upper_tail(count)
    }

    /// The lower confidence bound for the location at one-sided level 1 − `alpha`
    /// (−∞ when there are too few pairs to reach that level). It lies above δ exactly when
    /// [`Self::p_above`]`(δ)` ≤ `alpha`.
    pub fn lower_bound(&self, alpha: f64) -> f64 {
        match self.dist.bound_index(alpha) {
            0 => f64::NEG_INFINITY,
            k => self.walsh[k - 1],
        }
    }

    /// The upper confidence bound for the location at one-sided level 1 − `alpha`
    /// (+∞ when there are too few pairs).
    pub fn upper_bound(&self, alpha: f64) -> f64 {
        match self.dist.bound_index(alpha) {
            0 => f64::INFINITY,
            k => self.walsh[self.walsh.len() - k],
        }
    }
}

/// Holm's step-down adjusted p-values: with the p-values sorted ascending, the i-th (1-based)
/// becomes max over j ≤ i of min(1, (m − j + 1)·p₍ⱼ₎). Rejecting every hypothesis whose
/// adjusted value is ≤ α controls the family-wise error at α, for any dependence between
/// the tests. Returned in the input's order; a NaN p-value counts as 1.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let clean: Vec<f64> = p
        .iter()
        .map(|&v| if v.is_nan() { 1.0 } else { v.clamp(0.0, 1.0) })
        .collect();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| clean[a].total_cmp(&clean[b]).then(a.cmp(&b)));
    let mut out = vec![1.0; m];
    let mut running: f64 = 0.0;
    for (j, &i) in order.iter().enumerate() {
        let adj = ((m - j) as f64 * clean[i]).min(1.0);
        running = running.max(adj);
        out[i] = running;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Floating-point slack for probabilities computed by summation.
    const PROB_TOL: f64 = 1e-12;

    #[test]
    fn signed_rank_distribution_matches_small_cases() {
        // n = 3: T⁺ takes 0..6 with counts 1,1,1,2,1,1,1 out of 8.
        let d = SignedRank::new(3);
        let counts = [1.0, 1.0, 1.0, 2.0, 1.0, 1.0, 1.0];
        let mut acc = 0.0;
        for (t, c) in counts.iter().enumerate() {
            acc += c / 8.0;
            assert!((d.cdf(t) - acc).abs() < PROB_TOL, "t = {t}");
        }
        assert!((d.upper_tail(6) - 1.0 / 8.0).abs() < PROB_TOL);
        assert_eq!(d.upper_tail(0), 1.0);
        assert_eq!(d.upper_tail(7), 0.0);
        // n = 10: P(T⁺ ≤ 8) = 25/1024 (tables of the signed-rank test).
        let d = SignedRank::new(10);
        assert!((d.cdf(8) - 25.0 / 1024.0).abs() < PROB_TOL);
        assert_eq!(d.bound_index(0.5 / 1024.0), 0, "2⁻¹⁰ > the level");
        assert_eq!(d.bound_index(25.0 / 1024.0), 9);
    }

    #[test]
    fn test_and_bound_are_dual() {
        let logs = [0.12, 0.08, 0.11, 0.09, 0.15, 0.02, 0.10, 0.13, 0.07, 0.11];
        let t = PairedTest::new(&logs).unwrap();
        for alpha in [0.001, 0.01, 0.05] {
            let lo = t.lower_bound(alpha);
            for delta in [0.0, 0.03, 0.05, 0.07, 0.09, lo - 1e-9, lo + 1e-9] {
                assert_eq!(
                    t.p_above(delta) <= alpha,
                    lo > delta,
                    "alpha {alpha}, delta {delta}, bound {lo}"
                );
            }
            let hi = t.upper_bound(alpha);
            for delta in [0.1, 0.12, 0.2, hi - 1e-9, hi + 1e-9] {
                assert_eq!(t.p_below(delta) <= alpha, hi < delta, "delta {delta}");
            }
        }
    }

    #[test]
    fn holm_adjusts_step_down_and_keeps_order() {
        // Sorted 0.01, 0.02, 0.03, 0.5 → ×4, ×3, ×2, ×1 → 0.04, 0.06, 0.06, 0.5.
        let adj = holm(&[0.03, 0.01, 0.5, 0.02]);
        let want = [0.06, 0.04, 0.5, 0.06];
        for (a, w) in adj.iter().zip(want) {
            assert!((a - w).abs() < PROB_TOL, "{adj:?}");
        }
        assert_eq!(holm(&[0.9, f64::NAN]), vec![1.0, 1.0]);
        assert!(holm(&[]).is_empty());
    }

    #[test]
    fn empty_or_non_finite_samples_have_no_test() {
        assert!(PairedTest::new(&[]).is_none());
        assert!(PairedTest::new(&[0.1, f64::NAN]).is_none());
        let one = PairedTest::new(&[0.2]).unwrap();
        assert_eq!(one.lower_bound(0.05), f64::NEG_INFINITY);
        assert_eq!(one.sd_log(), 0.0);
    }
}
