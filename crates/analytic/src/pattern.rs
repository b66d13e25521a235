//! The joint hidden Gram matrix from the activation pattern, without multiplying by zeros.
//!
//! The distinct entries of Gram block (k, j), before the factor βⱼβₖ, are
//! Q_jk = Σᵢ DᵢⱼDᵢₖ Tᵢ, with Tᵢ the row of distinct input products x̃ᵢ꜀x̃ᵢ꜀' (c ≤ c'). With a
//! 0/1 pattern B (ReLU: Bᵢⱼ = 1 where unit j is active on sample i) Q_jk is the sum of Tᵢ over
//! the samples where both units are active. For each unit j this module
//! 1. gathers the rows where j is active (about half of them for ReLU), and
//! 2. sums, for every k ≥ j, the gathered rows where k is active too, by the "method of the
//!    four Russians": the rows are taken four at a time, the 16 subset sums of each group of
//!    four are tabulated once (15 vector additions), and each k then adds one table entry per
//!    group, picked by its four pattern bits: one addition per group instead of four
//!    multiply–adds per row.
//!
//! Per column of T and per gathered row this costs about (h − j)/4 + 15/4 additions, against
//! the 2(h − j) flops per row (all rows) of the dense product [Dⱼ ⊙ Dₖ]ₖᵀT; no multiplication
//! is performed, so the sums equal the dense ones up to the order of summation.
//!
//! A pattern with values α and 1 (leaky ReLU, D = α + (1 − α)B) reduces to the 0/1 case:
//! Σ DⱼDₖT = α²S + α(1 − α)(P_j + P_k) + (1 − α)²Q_jk, with S = Σᵢ Tᵢ and P_j = Q_jj.
//!
//! The working memory is fixed at construction and does not grow with n·q²: T of one block of
//! [`ROWS`] rows (computed from X̃ per block, plus a zero row to pad groups), one pattern bit
//! per (sample, unit), the gathered row list, a table of
//! [`BLOCK_GROUPS`] groups × 16 sums × [`COLUMNS`] columns (32 KiB, cache-resident) and the
//! h(h+1)/2 × q(q+1)/2 pair sums.
//!
//! The block sizes were chosen by measurement (n = 3 200 and 10 000, d = 16, h = 64, 2-core
//! AMD EPYC, AVX2): 4 to 64 units per pass and 64 to 512 rows per block were within 10 % of
//! each other once the table and sums were aligned to cache lines; one unit per pass over all
//! rows was 1.5× slower at n = 10 000 (each unit re-read T from memory, when T was kept for
//! all rows).

use faer::MatRef;

/// Columns of T summed per pass (accumulators kept in registers: 8 AVX2 vectors).
pub const COLUMNS: usize = 32;
/// Rows per group (the table has 2^GROUP entries per group).
const GROUP: usize = 4;
/// Units whose sums are accumulated in one pass over the rows.
pub const UNITS: usize = 64;
/// Rows per block of a pass (their products, ROWS × 1.25 KiB for d = 16, stay in cache while
/// the [`UNITS`] units use them).
pub const ROWS: usize = 128;
/// Groups tabulated at once (the table block: BLOCK_GROUPS × 16 × COLUMNS f64 = 32 KiB).
pub const BLOCK_GROUPS: usize = 8;

/// Sums of input products over the samples where pairs of units are active (see the module
/// docs). Allocated once; [`PatternGram::set_pattern_rows`] and [`PatternGram::fill`] allocate
/// nothing.
#[derive(Clone, Debug)]
pub struct PatternGram {
    n: usize,
    h: usize,
    /// Distinct products per sample, q(q+1)/2.
    npairs: usize,
    /// Row stride of `tblock`: `npairs` rounded up to a multiple of [`COLUMNS`].
    ldt: usize,
    /// The (c, c') of each product, c ≤ c'.
    pairs: Vec<(usize, usize)>,
    /// 64-bit pattern words per sample (16 units per word, unit k at bit 4·(k mod 16)).
    nw: usize,
    /// T of one block of rows, row-major, ([`ROWS`] + 1) × ldt (cache-line aligned through
    /// [`aligned_mut`]); row ROWS and the padding columns stay zero. Computed per block from
    /// X̃, so memory does not grow with n·q².
    tblock: Vec<f64>,
    /// The pattern words of the block's rows, (ROWS + 1) × nw; row ROWS stays zero.
    bblock: Vec<u64>,
    /// The pattern, n × nw words. Each unit's bit sits at the bottom of a
    /// nibble, so that `w₀ | w₁<<1 | w₂<<2 | w₃<<3` over a group's four rows gives the table
    /// index of 16 units at once.
    bits: Vec<u64>,
    /// The rows of the block (indices into `tblock`) where the current unit is active, padded
    /// with ROWS (the zero row) to a multiple of GROUP.
    rows: Vec<usize>,
    /// The table index of each unit on each group of one block, h × BLOCK_GROUPS.
    nibbles: Vec<u8>,
    /// Subset sums of one block, BLOCK_GROUPS × 16 × COLUMNS.
    table: Vec<f64>,
    /// Q_jk for all k ≥ j, unit after unit: (h − j) × ldt from offset ldt·Σ_{j'<j}(h − j').
    sums: Vec<f64>,
    /// Column sums of T, S = Σᵢ Tᵢ (for patterns with α ≠ 0).
    total: Vec<f64>,
}

impl PatternGram {
    /// Tabulates the distinct products of `xt` (n × q, fixed for the training set) for `h`
    /// units; `pairs` lists the (c, c') of each product, c ≤ c'.
    pub fn new(xt: MatRef<'_, f64>, h: usize, pairs: &[(usize, usize)]) -> Self {
        let n = xt.nrows();
        let npairs = pairs.len();
        let ldt = npairs.div_ceil(COLUMNS).max(1) * COLUMNS;
        let nw = h.div_ceil(16).max(1);
        let mut total = vec![0.0; ldt];
        for i in 0..n {
            for (s, &(c, c2)) in total.iter_mut().zip(pairs) {
                *s += xt[(i, c)] * xt[(i, c2)];
            }
        }
        Self {
            n,
            h,
            npairs,
            ldt,
            pairs: pairs.to_vec(),
            nw,
            tblock: vec![0.0; (ROWS + 1) * ldt + ALIGN],
            bblock: vec![0; (ROWS + 1) * nw],
            bits: vec![0; n * nw],
            rows: Vec::with_capacity(ROWS + GROUP),
            nibbles: vec![0; h * BLOCK_GROUPS],
            table: vec![0.0; BLOCK_GROUPS * 16 * COLUMNS + ALIGN],
            sums: vec![0.0; h * (h + 1) / 2 * ldt + ALIGN],
            total,
        }
    }

    /// Row stride of [`PatternGram::unit_sums`]'s output.
    pub fn stride(&self) -> usize {
        self.ldt
    }

    /// S = Σᵢ Tᵢ (first q(q+1)/2 entries meaningful).
    pub fn total(&self) -> &[f64] {
        &self.total[..self.npairs]
    }

    /// Sets the pattern of rows r0..r0 + m from their pre-activations `z` (m × h): unit k is
    /// active on row r0 + i where z[i, k] > 0. The rows of a pass over the data are given a
    /// block at a time, so Z never exists for all rows.
    pub fn set_pattern_rows(&mut self, r0: usize, z: MatRef<'_, f64>) {
        let (nw, m) = (self.nw, z.nrows());
        let bits = &mut self.bits[r0 * nw..(r0 + m) * nw];
        bits.fill(0);
        for k in 0..self.h {
            let (w, b) = (k / 16, 4 * (k % 16));
            for i in 0..m {
                bits[i * nw + w] |= u64::from(z[(i, k)] > 0.0) << b;
            }
        }
    }

    fn active(&self, i: usize, k: usize) -> bool {
        (self.bits[i * self.nw + k / 16] >> (4 * (k % 16))) & 1 == 1
    }

    /// Offset of unit j's sums in `sums`.
    fn offset(&self, j: usize) -> usize {
        // Σ_{j'<j} (h − j') = j·h − j(j − 1)/2.
        self.ldt * (j * self.h - j * j.saturating_sub(1) / 2)
    }

    /// Computes Q_jk for every pair k ≥ j (see [`PatternGram::unit_sums`]) for the pattern
    /// last set, `xt` being the X̃ given to [`PatternGram::new`]; returns the additions
    /// performed (the q(q+1)/2 products per row and block pass are not counted: they are
    /// multiplications of the fixed X̃, n·q(q+1)/2 per pass).
    ///
    /// Units are taken [`UNITS`] at a time, and for each such group the rows in blocks of
    /// [`ROWS`]: a block's products are computed once per group of units and then stay in
    /// cache while the units use them.
    pub fn fill(&mut self, xt: MatRef<'_, f64>) -> f64 {
        let (n, h, ldt, nw) = (self.n, self.h, self.ldt, self.nw);
        aligned_mut(&mut self.sums).fill(0.0);
        let mut adds = 0.0;
        for j0 in (0..h).step_by(UNITS) {
            for r0 in (0..n).step_by(ROWS) {
                let len = ROWS.min(n - r0);
                let tblock = aligned_mut(&mut self.tblock);
                for l in 0..len {
                    let row = &mut tblock[l * ldt..l * ldt + self.npairs];
                    for (t, &(c, c2)) in row.iter_mut().zip(&self.pairs) {
                        *t = xt[(r0 + l, c)] * xt[(r0 + l, c2)];
                    }
                }
                self.bblock[..len * nw].copy_from_slice(&self.bits[r0 * nw..(r0 + len) * nw]);
                for j in j0..(j0 + UNITS).min(h) {
                    self.rows.clear();
                    for l in 0..len {
                        if self.active(r0 + l, j) {
                            self.rows.push(l);
                        }
                    }
                    if self.rows.is_empty() {
                        continue;
                    }
                    while !self.rows.len().is_multiple_of(GROUP) {
                        self.rows.push(ROWS);
                    }
                    let (off, width) = (self.offset(j), h - j);
                    let kernel = UnitKernel {
                        j,
                        h,
                        ldt,
                        nw: self.nw,
                        trow: aligned_mut(&mut self.tblock),
                        bits: &self.bblock,
                        rows: &self.rows,
                        nibbles: &mut self.nibbles,
                        table: aligned_mut(&mut self.table),
                        out: &mut aligned_mut(&mut self.sums)[off..off + width * ldt],
                    };
                    pulp::Arch::new().dispatch(kernel);
                    adds += (self.rows.len() / GROUP) as f64 * (11.0 + width as f64) * ldt as f64;
                }
            }
        }
        adds
    }

    /// Q_jk = Σ over samples where units j and k are both active of Tᵢ, for k = j … h − 1,
    /// as computed by the last [`PatternGram::fill`]: row k − j of the returned
    /// (h − j) × [`stride`](PatternGram::stride) slice.
    pub fn unit_sums(&self, j: usize) -> &[f64] {
        let off = self.offset(j);
        let sums = &self.sums[self.sums.as_ptr().align_offset(64).min(ALIGN)..];
        &sums[off..off + (self.h - j) * self.ldt]
    }
}

/// The four-Russians accumulation of one unit, compiled for the best instruction set.
struct UnitKernel<'a> {
    j: usize,
    h: usize,
    ldt: usize,
    nw: usize,
    trow: &'a [f64],
    bits: &'a [u64],
    rows: &'a [usize],
    nibbles: &'a mut [u8],
    table: &'a mut [f64],
    out: &'a mut [f64],
}

impl pulp::WithSimd for UnitKernel<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) {
        let Self {
            j,
            h,
            ldt,
            nw,
            trow,
            bits,
            rows,
            nibbles,
            table,
            out,
        } = self;
        for block in rows.chunks(BLOCK_GROUPS * GROUP) {
            let groups = block.len() / GROUP;
            // The four pattern bits of unit k on each group: the group's table index for k.
            for (g, quad) in block.chunks_exact(GROUP).enumerate() {
                let [i0, i1, i2, i3] = [quad[0], quad[1], quad[2], quad[3]];
                for w in j / 16..nw {
                    let v = bits[i0 * nw + w]
                        | (bits[i1 * nw + w] << 1)
                        | (bits[i2 * nw + w] << 2)
                        | (bits[i3 * nw + w] << 3);
                    for k in (16 * w).max(j)..(16 * w + 16).min(h) {
                        nibbles[(k - j) * BLOCK_GROUPS + g] = ((v >> (4 * (k % 16))) & 15) as u8;
                    }
                }
            }
            for col in (0..ldt).step_by(COLUMNS) {
                // The 16 subset sums of each group of four rows, columns col..col+COLUMNS:
                // entry s = Σ of the rows b with bit b of s set (11 additions per column).
                let nv = COLUMNS / S::F64_LANES;
                let zero = simd.splat_f64s(0.0);
                for (g, quad) in block.chunks_exact(GROUP).enumerate() {
                    let row = |b: usize| S::as_simd_f64s(&trow[quad[b] * ldt + col..][..COLUMNS]).0;
                    let (x0, x1, x2, x3) = (row(0), row(1), row(2), row(3));
                    let (t, _) =
                        S::as_mut_simd_f64s(&mut table[g * 16 * COLUMNS..(g + 1) * 16 * COLUMNS]);
                    for v in 0..nv {
                        let (a, b, c, d) = (x0[v], x1[v], x2[v], x3[v]);
                        let ab = simd.add_f64s(a, b);
                        let ac = simd.add_f64s(a, c);
                        let bc = simd.add_f64s(b, c);
                        let abc = simd.add_f64s(ab, c);
                        for (s, e) in [zero, a, b, ab, c, ac, bc, abc].into_iter().enumerate() {
                            t[s * nv + v] = e;
                            t[(s + 8) * nv + v] = if s == 0 { d } else { simd.add_f64s(e, d) };
                        }
                    }
                }
                let (tv, _) = S::as_simd_f64s(&table[..groups * 16 * COLUMNS]);
                for k in j..h {
                    let nib = &nibbles[(k - j) * BLOCK_GROUPS..(k - j) * BLOCK_GROUPS + groups];
                    let o = &mut out[(k - j) * ldt + col..(k - j) * ldt + col + COLUMNS];
                    let (ov, _) = S::as_mut_simd_f64s(o);
                    if nv <= ACC {
                        // AVX2 and AVX-512: the whole column block in registers (nv is a
                        // constant of the instruction set).
                        let mut acc = [simd.splat_f64s(0.0); ACC];
                        acc[..nv].copy_from_slice(&ov[..nv]);
                        for (g, &idx) in nib.iter().enumerate() {
                            let e = (g * 16 + idx as usize) * nv;
                            for (a, x) in acc[..nv].iter_mut().zip(&tv[e..e + nv]) {
                                *a = simd.add_f64s(*a, *x);
                            }
                        }
                        ov[..nv].copy_from_slice(&acc[..nv]);
                    } else {
                        for (g, &idx) in nib.iter().enumerate() {
                            let e = (g * 16 + idx as usize) * nv;
                            for (a, x) in ov.iter_mut().zip(&tv[e..e + nv]) {
                                *a = simd.add_f64s(*a, *x);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Slack, in f64, for starting the table and the sums on a 64-byte boundary.
const ALIGN: usize = 8;

/// The suffix of `v` that starts on a 64-byte boundary (a cache line). The table and the sums
/// are written 32 bytes at a time; unaligned, half of those stores straddle two lines, which
/// measured 1.5× slower in all.
fn aligned_mut(v: &mut [f64]) -> &mut [f64] {
    let skip = v.as_ptr().align_offset(64).min(ALIGN).min(v.len());
    &mut v[skip..]
}

/// SIMD accumulators per pass (8 AVX2 registers hold [`COLUMNS`] f64).
const ACC: usize = 8;

#[cfg(test)]
mod tests {
    use super::*;
    use faer::Mat;

    /// Sums of at most n = 37 products of values in [−2, 2], summed in another order.
    const SUM_TOL: f64 = 1e-12;

    #[test]
    fn unit_sums_equal_the_direct_masked_sums() {
        // h = 70 spans two pattern words; n = 37 leaves partial groups and blocks.
        for (n, d, h) in [(37, 3, 70), (5, 1, 2), (300, 4, 9)] {
            let q = d + 1;
            let pairs: Vec<_> = (0..q).flat_map(|c| (c..q).map(move |c2| (c, c2))).collect();
            let xt = Mat::from_fn(n, q, |i, c| {
                if c == d {
                    1.0
                } else {
                    ((i * 7 + c * 13) % 11) as f64 / 2.75 - 2.0
                }
            });
            let z = Mat::from_fn(n, h, |i, k| ((i * 31 + k * 17) % 5) as f64 - 2.0);
            let mut pg = PatternGram::new(xt.as_ref(), h, &pairs);
            pg.set_pattern_rows(0, z.as_ref());
            pg.fill(xt.as_ref());
            for j in 0..h {
                let ld = pg.stride();
                let sums = pg.unit_sums(j);
                for k in j..h {
                    for (pi, &(c, c2)) in pairs.iter().enumerate() {
                        let direct: f64 = (0..n)
                            .filter(|&i| z[(i, j)] > 0.0 && z[(i, k)] > 0.0)
                            .map(|i| xt[(i, c)] * xt[(i, c2)])
                            .sum();
                        let got = sums[(k - j) * ld + pi];
                        assert!(
                            (got - direct).abs() <= SUM_TOL * (1.0 + direct.abs()),
                            "n={n} h={h} j={j} k={k} pair {pi}: {got} vs {direct}"
                        );
                    }
                }
            }
        }
    }
}
