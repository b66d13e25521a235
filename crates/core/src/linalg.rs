//! Dense linear-algebra helpers shared by the faer trainers.
//!
//! - [`NormalEquations`]: regularised normal equations `(AᵀA + λP)Θ = AᵀB`, solved by an
//!   in-place Cholesky with a workspace allocated once. When the system is singular or too
//!   ill-conditioned for Cholesky (its pivot ratio is below [`PIVOT_RATIO_THRESHOLD`]), the
//!   solve falls back to the pseudo-inverse of the regularised Gram matrix ([`pinv_solve`],
//!   eigenvalues at or below [`PINV_REL_TOL`] × the largest dropped), i.e. the minimum-norm
//!   solution, instead of failing.
//! - [`min_norm_lstsq`] / [`ridge_lstsq`]: the least-squares fit `Y ≈ XW + 1bᵀ` with an
//!   unpenalised intercept by the SVD of the centred features: the minimum-norm solution when
//!   X is rank-deficient (a constant column, duplicated or collinear columns), with its
//!   numerical rank decided by a relative tolerance (default [`default_rank_tol`]).
//! - [`svd_lstsq`]: the plain minimum-norm solution of `AX ≈ B`.
//!
//! Cost per Cholesky solve for an n×p design and k right-hand sides: n·p² flops for one
//! triangle of the Gram matrix, 2·n·p·k for `AᵀB`, p³/3 for the factorisation and 2·p²·k for
//! the two triangular solves. The pseudo-inverse fallback recomputes the Gram triangle and
//! adds a p×p symmetric eigendecomposition (it allocates; it runs only for singular systems).

use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt::factor::{
    LltRegularization, cholesky_in_place, cholesky_in_place_scratch,
};
use faer::linalg::cholesky::llt::solve::solve_in_place;
use faer::linalg::matmul::matmul;
use faer::linalg::matmul::triangular::{BlockStructure, matmul as tri_matmul};
use faer::linalg::triangular_solve::solve_lower_triangular_in_place;
use faer::{Accum, Mat, MatMut, MatRef, Par, Side};

/// Smallest acceptable ratio of the smallest to the largest squared Cholesky pivot: below it
/// a Cholesky solve is not trusted and the pseudo-inverse fallback is used.
///
/// The ratio is a cheap *upper* bound on 1/cond of the Gram matrix (every squared pivot lies
/// between its smallest and its largest eigenvalue), so a ratio below the threshold proves
/// the system ill-conditioned; an exactly dependent column gives a pivot at rounding level.
pub const PIVOT_RATIO_THRESHOLD: f64 = 1e-13;

/// Relative eigenvalue tolerance of the pseudo-inverse fallback of [`NormalEquations`]:
/// eigenvalues of the Gram matrix at or below `PINV_REL_TOL · λ_max` count as zero. It equals
/// [`PIVOT_RATIO_THRESHOLD`], so every direction that made Cholesky untrustworthy is dropped
/// (in singular values of the design: those below ≈ 3·10⁻⁷ σ_max).
pub const PINV_REL_TOL: f64 = PIVOT_RATIO_THRESHOLD;

/// A feature column takes part in a numerical linear dependence when its entry in a null
/// vector of the centred design (unit norm) exceeds this in magnitude
/// ([`LinearFit::dependent_columns`]).
pub const DEPENDENT_COMPONENT_TOL: f64 = 1e-6;

/// Column `j` of `m` as a slice. The columns of an owned [`Mat`] (and of its column ranges)
/// are contiguous, which is the only way the workspace makes the matrices it passes here.
///
/// # Panics
///
/// If the column is strided (a transposed view): a bug in the caller, not bad input.
pub fn col_slice(m: MatRef<'_, f64>, j: usize) -> &[f64] {
    match m.col(j).try_as_col_major() {
        Some(c) => c.as_slice(),
        None => panic!(
            "col_slice: column {j} of a {}×{} view is strided",
            m.nrows(),
            m.ncols()
        ),
    }
}

/// The default relative rank tolerance of an n×p least-squares problem: `max(n, p) · ε`
/// (ε = 2.2·10⁻¹⁶, the convention of NumPy's `lstsq` and MATLAB's `rank`). A singular value
/// σᵢ counts as nonzero when σᵢ > tol · σ_max.
pub fn default_rank_tol(nrows: usize, ncols: usize) -> f64 {
    nrows.max(ncols).max(1) as f64 * f64::EPSILON
}

/// (min |pivot| / max |pivot|)² of a triangular factor's diagonal; 0 when a pivot is not a
/// number or every pivot is zero.
pub fn pivot_ratio(diag: impl Iterator<Item = f64>) -> f64 {
    let (lo, hi) = diag
        .map(f64::abs)
        .fold((f64::INFINITY, 0.0_f64), |(lo, hi), v| {
            if v.is_nan() {
                (f64::NAN, hi)
            } else {
                (lo.min(v), hi.max(v))
            }
        });
    let ratio = if hi > 0.0 { (lo / hi).powi(2) } else { 0.0 };
    if ratio.is_nan() { 0.0 } else { ratio }
}

/// How a symmetric system was solved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SolveMethod {
    /// Cholesky (the system was well conditioned).
    Cholesky,
    /// Pseudo-inverse (the system was singular or ill-conditioned): the minimum-norm solution
    /// over the `rank` eigen-directions kept.
    PseudoInverse {
        /// Number of eigenvalues above the tolerance.
        rank: usize,
    },
}

/// Factorises the lower triangle of `gram` in place (LLᵀ) and returns the pivot ratio of
/// [`pivot_ratio`]; 0 when the factorisation fails (a non-positive pivot).
pub fn cholesky_pivot_ratio(mut gram: MatMut<'_, f64>, par: Par, mem: &mut MemBuffer) -> f64 {
    let p = gram.nrows();
    let factor = cholesky_in_place(
        gram.as_mut(),
        LltRegularization::default(),
        par,
        MemStack::new(mem),
        Default::default(),
    );
    if factor.is_err() {
        return 0.0;
    }
    pivot_ratio((0..p).map(|j| gram[(j, j)]))
}

/// The workspace [`cholesky_pivot_ratio`] and [`cholesky_pivot_ratio_cancellable`] need for
/// a p×p matrix.
pub fn cholesky_mem(p: usize, par: Par) -> MemBuffer {
    MemBuffer::new(cholesky_scratch(p, par))
}

/// Bytes of [`cholesky_mem`]`(p, par)`, for memory estimates made before allocating.
pub fn cholesky_mem_bytes(p: usize, par: Par) -> u64 {
    cholesky_scratch(p, par).unaligned_bytes_required() as u64
}

fn cholesky_scratch(p: usize, par: Par) -> faer::dyn_stack::StackReq {
    cholesky_in_place_scratch::<f64>(p, par, Default::default()).or(
        cholesky_in_place_scratch::<f64>(p.min(CHOLESKY_PANEL), par, Default::default()),
    )
}

/// Work, in flops ([`crate::flops`]), between two polls of a [`CancelToken`] in
/// [`gram_lower`] and [`cholesky_pivot_ratio_cancellable`] (about 0.02–0.2 s on one core). An
/// operation below it runs as one faer call, exactly as without cancellation; above it, it
/// runs in blocks (the same sums in another order: equal up to rounding).
pub const POLL_FLOPS: f64 = 2e9;

/// Columns per panel of [`cholesky_pivot_ratio_cancellable`].
pub const CHOLESKY_PANEL: usize = 256;

/// The lower triangle of AᵀA into `gram` (`accum`: replace or add), polling `cancel`.
///
/// At most [`POLL_FLOPS`] (n·p² for an n×p `a`) it is one faer product; above, it is built a
/// block of columns at a time (each block the full n-row product of its columns with the
/// columns from it on, at least 64 wide), or for a tall, narrow `a` a block of at least 256
/// rows at a time, with a poll after each block. Fails only with
/// [`Error::Cancelled`], leaving `gram` partly written.
pub fn gram_lower(
    gram: MatMut<'_, f64>,
    a: MatRef<'_, f64>,
    accum: Accum,
    par: Par,
    cancel: &CancelToken,
) -> Result<()> {
    gram_lower_polling(gram, a, accum, par, cancel, POLL_FLOPS)
}

/// [`gram_lower`] with the work between polls as a parameter (tests use small blocks).
fn gram_lower_polling(
    mut gram: MatMut<'_, f64>,
    a: MatRef<'_, f64>,
    accum: Accum,
    par: Par,
    cancel: &CancelToken,
    poll_flops: f64,
) -> Result<()> {
    let (n, p) = (a.nrows(), a.ncols());
    cancel.check()?;
    if crate::flops::gram(n, p) <= poll_flops {
        tri_matmul(
            gram,
            BlockStructure::TriangularLower,
            accum,
            a.transpose(),
            BlockStructure::Rectangular,
            a,
            BlockStructure::Rectangular,
            1.0,
            par,
        );
        return Ok(());
    }
    let width = ((poll_flops / (2.0 * n as f64 * p as f64)) as usize).max(64);
    if width >= p {
        // Tall and narrow: blocks of rows, summed.
        let rows = ((poll_flops / (p as f64 * p as f64)) as usize).max(256);
        let mut r0 = 0;
        while r0 < n {
            let m = rows.min(n - r0);
            let block = a.subrows(r0, m);
            tri_matmul(
                gram.as_mut(),
                BlockStructure::TriangularLower,
                if r0 == 0 { accum } else { Accum::Add },
                block.transpose(),
                BlockStructure::Rectangular,
                block,
                BlockStructure::Rectangular,
                1.0,
                par,
            );
            cancel.check()?;
            r0 += m;
        }
        return Ok(());
    }
    let mut c0 = 0;
    while c0 < p {
        let w = width.min(p - c0);
        let cols = a.subcols(c0, w);
        tri_matmul(
            gram.as_mut().submatrix_mut(c0, c0, w, w),
            BlockStructure::TriangularLower,
            accum,
            cols.transpose(),
            BlockStructure::Rectangular,
            cols,
            BlockStructure::Rectangular,
            1.0,
            par,
        );
        let below = p - c0 - w;
        if below > 0 {
            matmul(
                gram.as_mut().submatrix_mut(c0 + w, c0, below, w),
                accum,
                a.subcols(c0 + w, below).transpose(),
                cols,
                1.0,
                par,
            );
        }
        cancel.check()?;
        c0 += w;
    }
    Ok(())
}

/// `out ← accum(out, alpha·lhs·rhs)`, polling `cancel`: at most [`POLL_FLOPS`]
/// (2·m·k·n) one faer product; above, a block of at least 64 rows (or, for a wide `out`,
/// columns) of `out` at a time with a poll after each (each entry's sum is the same
/// product of one row by one column). Fails only with [`Error::Cancelled`].
pub fn matmul_cancellable(
    out: MatMut<'_, f64>,
    accum: Accum,
    lhs: MatRef<'_, f64>,
    rhs: MatRef<'_, f64>,
    alpha: f64,
    par: Par,
    cancel: &CancelToken,
) -> Result<()> {
    matmul_polling(out, accum, lhs, rhs, alpha, par, cancel, POLL_FLOPS)
}

/// [`matmul_cancellable`] with the work between polls as a parameter.
#[allow(clippy::too_many_arguments)]
fn matmul_polling(
    mut out: MatMut<'_, f64>,
    accum: Accum,
    lhs: MatRef<'_, f64>,
    rhs: MatRef<'_, f64>,
    alpha: f64,
    par: Par,
    cancel: &CancelToken,
    poll_flops: f64,
) -> Result<()> {
    let (m, k, n) = (lhs.nrows(), lhs.ncols(), rhs.ncols());
    cancel.check()?;
    let total = crate::flops::matmul(m, k, n);
    if total <= poll_flops {
        matmul(out, accum, lhs, rhs, alpha, par);
        return Ok(());
    }
    if m >= n {
        let rows = ((poll_flops / (2.0 * k.max(1) as f64 * n.max(1) as f64)) as usize).max(64);
        let mut r0 = 0;
        while r0 < m {
            let b = rows.min(m - r0);
            matmul(
                out.as_mut().subrows_mut(r0, b),
                accum,
                lhs.subrows(r0, b),
                rhs,
                alpha,
                par,
            );
            cancel.check()?;
            r0 += b;
        }
    } else {
        let cols = ((poll_flops / (2.0 * k.max(1) as f64 * m.max(1) as f64)) as usize).max(64);
        let mut c0 = 0;
        while c0 < n {
            let b = cols.min(n - c0);
            matmul(
                out.as_mut().subcols_mut(c0, b),
                accum,
                lhs,
                rhs.subcols(c0, b),
                alpha,
                par,
            );
            cancel.check()?;
            c0 += b;
        }
    }
    Ok(())
}

/// Solves `LLᵀX = B` in place (`factor` holds L in its lower triangle, `rhs` holds B and
/// receives X), polling `cancel`: at most [`POLL_FLOPS`] (2·p²·k) one faer solve; above, a
/// block of at least 64 right-hand sides at a time (the columns are independent: the same
/// results) with a poll after each. Fails only with [`Error::Cancelled`].
pub fn llt_solve_cancellable(
    factor: MatRef<'_, f64>,
    rhs: MatMut<'_, f64>,
    par: Par,
    cancel: &CancelToken,
) -> Result<()> {
    llt_solve_polling(factor, rhs, par, cancel, POLL_FLOPS)
}

/// [`llt_solve_cancellable`] with the work between polls as a parameter.
fn llt_solve_polling(
    factor: MatRef<'_, f64>,
    mut rhs: MatMut<'_, f64>,
    par: Par,
    cancel: &CancelToken,
    poll_flops: f64,
) -> Result<()> {
    let (p, k) = (factor.nrows(), rhs.ncols());
    cancel.check()?;
    let total = crate::flops::triangular_solves(p, k);
    if total <= poll_flops {
        solve_in_place(factor, rhs, par, MemStack::new(&mut []));
        return Ok(());
    }
    let cols = ((poll_flops / (2.0 * p as f64 * p as f64)) as usize).max(64);
    let mut c0 = 0;
    while c0 < k {
        let b = cols.min(k - c0);
        solve_in_place(
            factor,
            rhs.as_mut().subcols_mut(c0, b),
            par,
            MemStack::new(&mut []),
        );
        cancel.check()?;
        c0 += b;
    }
    Ok(())
}

/// [`cholesky_pivot_ratio`], polling `cancel`: at most [`POLL_FLOPS`] (p³/3) it is the same
/// single faer factorisation; above, a right-looking blocked factorisation of
/// [`CHOLESKY_PANEL`]-column panels (faer's Cholesky of the diagonal block, a triangular
/// solve for the panel below it, the trailing update in column blocks of about
/// [`POLL_FLOPS`]) with a poll after each block. `mem` must come from [`cholesky_mem`].
/// Fails only with [`Error::Cancelled`], leaving `gram` partly factorised.
pub fn cholesky_pivot_ratio_cancellable(
    gram: MatMut<'_, f64>,
    par: Par,
    mem: &mut MemBuffer,
    cancel: &CancelToken,
) -> Result<f64> {
    cholesky_polling(gram, par, mem, cancel, POLL_FLOPS)
}

/// [`cholesky_pivot_ratio_cancellable`] with the work between polls as a parameter.
fn cholesky_polling(
    mut gram: MatMut<'_, f64>,
    par: Par,
    mem: &mut MemBuffer,
    cancel: &CancelToken,
    poll_flops: f64,
) -> Result<f64> {
    let p = gram.nrows();
    cancel.check()?;
    if crate::flops::cholesky(p) <= poll_flops {
        return Ok(cholesky_pivot_ratio(gram, par, mem));
    }
    let mut k0 = 0;
    while k0 < p {
        let b = CHOLESKY_PANEL.min(p - k0);
        let rest = p - k0 - b;
        let (mut a11, _, mut a21, mut a22) = gram
            .as_mut()
            .submatrix_mut(k0, k0, p - k0, p - k0)
            .split_at_mut(b, b);
        let factor = cholesky_in_place(
            a11.as_mut(),
            LltRegularization::default(),
            par,
            MemStack::new(mem),
            Default::default(),
        );
        if factor.is_err() {
            return Ok(0.0);
        }
        if rest > 0 {
            // L₂₁ = A₂₁L₁₁⁻ᵀ  ⇔  L₁₁L₂₁ᵀ = A₂₁ᵀ.
            solve_lower_triangular_in_place(a11.as_ref(), a21.as_mut().transpose_mut(), par);
            cancel.check()?;
            // A₂₂ −= L₂₁L₂₁ᵀ (lower triangle), a block of columns at a time.
            let width =
                ((poll_flops / (2.0 * rest as f64 * b as f64)) as usize).max(CHOLESKY_PANEL);
            let mut c0 = 0;
            while c0 < rest {
                let w = width.min(rest - c0);
                let l = a21.as_ref().subrows(c0, w);
                tri_matmul(
                    a22.as_mut().submatrix_mut(c0, c0, w, w),
                    BlockStructure::TriangularLower,
                    Accum::Add,
                    l,
                    BlockStructure::Rectangular,
                    l.transpose(),
                    BlockStructure::Rectangular,
                    -1.0,
                    par,
                );
                let below = rest - c0 - w;
                if below > 0 {
                    matmul(
                        a22.as_mut().submatrix_mut(c0 + w, c0, below, w),
                        Accum::Add,
                        a21.as_ref().subrows(c0 + w, below),
                        l.transpose(),
                        -1.0,
                        par,
                    );
                }
                cancel.check()?;
                c0 += w;
            }
        }
        k0 += b;
    }
    Ok(pivot_ratio((0..p).map(|j| gram[(j, j)])))
}

/// Names the unknowns `idx` (at most five, then a count) with `unknown`.
fn name_unknowns(idx: &[usize], unknown: &dyn Fn(usize) -> String) -> String {
    const SHOWN: usize = 5;
    let mut names: Vec<String> = idx.iter().take(SHOWN).map(|&i| unknown(i)).collect();
    if idx.len() > SHOWN {
        names.push(format!("and {} more", idx.len() - SHOWN));
    }
    names.join(", ")
}

/// Solves `G X = B` for a symmetric positive semi-definite G by its pseudo-inverse:
/// `X = X₀ + G⁺(B − G X₀)` (X₀ = 0 when `x0` is `None`), i.e. among all least-squares
/// solutions the one closest to X₀. Eigenvalues of G at or below `rel_tol · λ_max` count as
/// zero. Returns the number of eigenvalues kept (the numerical rank).
///
/// On entry the lower triangle of `gram` holds G (the upper triangle is overwritten with its
/// mirror) and `rhs` holds B; on exit `rhs` holds X. `unknown(i)` names unknown i (row i of
/// X) in error messages, `context` the solve.
///
/// Fails with [`Error::NonFinite`] naming the unknowns whose rows of G or B are not finite,
/// and with [`Error::Singular`] if the eigendecomposition does not converge.
#[allow(clippy::too_many_arguments)]
pub fn pinv_solve(
    mut gram: MatMut<'_, f64>,
    mut rhs: MatMut<'_, f64>,
    x0: Option<MatRef<'_, f64>>,
    rel_tol: f64,
    par: Par,
    context: &str,
    unknown: &dyn Fn(usize) -> String,
) -> Result<usize> {
    let (p, k) = (gram.nrows(), rhs.ncols());
    let bad: Vec<usize> = (0..p)
        .filter(|&i| {
            (0..=i).any(|j| !gram[(i, j)].is_finite())
                || (i..p).any(|j| !gram[(j, i)].is_finite())
                || (0..k).any(|j| !rhs[(i, j)].is_finite())
                || x0.is_some_and(|x| (0..k).any(|j| !x[(i, j)].is_finite()))
        })
        .collect();
    if !bad.is_empty() {
        return Err(Error::NonFinite(format!(
            "the linear system of {context}, at {}: the data or the iterate contains NaN or \
             infinity (an iterate that overflowed); use a larger ridge penalty or a smaller step",
            name_unknowns(&bad, unknown)
        )));
    }
    for j in 0..p {
        for i in j + 1..p {
            gram[(j, i)] = gram[(i, j)];
        }
    }
    if let Some(x0) = x0 {
        matmul(rhs.as_mut(), Accum::Add, gram.as_ref(), x0, -1.0, par);
    }
    let evd = gram
        .as_ref()
        .self_adjoint_eigen(Side::Lower)
        .map_err(|e| Error::Singular {
            context: context.into(),
            hint: format!(
                "the eigendecomposition of its {p}×{p} system did not converge ({e:?}); \
                 add a ridge penalty so that Cholesky succeeds"
            ),
        })?;
    let s = evd.S().column_vector();
    let u = evd.U();
    let lmax = s.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    let tol = rel_tol * lmax;
    let keep: Vec<usize> = (0..p).filter(|&i| s[i] > tol && s[i] > 0.0).collect();
    let r = keep.len();
    let ur = Mat::from_fn(p, r, |i, j| u[(i, keep[j])]);
    let mut y = Mat::<f64>::zeros(r, k);
    matmul(
        y.as_mut(),
        Accum::Replace,
        ur.transpose(),
        rhs.as_ref(),
        1.0,
        par,
    );
    for (row, &e) in keep.iter().enumerate() {
        let inv = 1.0 / s[e];
        for c in 0..k {
            y[(row, c)] *= inv;
        }
    }
    match x0 {
        Some(x0) => {
            rhs.copy_from(x0);
            matmul(rhs.as_mut(), Accum::Add, ur.as_ref(), y.as_ref(), 1.0, par);
        }
        None => matmul(
            rhs.as_mut(),
            Accum::Replace,
            ur.as_ref(),
            y.as_ref(),
            1.0,
            par,
        ),
    }
    Ok(r)
}

/// Workspace for repeated ridge solves of one size.
pub struct NormalEquations {
    gram: Mat<f64>,
    rhs: Mat<f64>,
    /// The regularised Gram triangle of a blockwise build, kept for the pseudo-inverse
    /// fallback (the factorisation overwrites `gram`).
    saved: Mat<f64>,
    mem: MemBuffer,
    par: Par,
    context: String,
    unknowns: Vec<String>,
    pinv_solves: usize,
    cancel: CancelToken,
}

impl std::fmt::Debug for NormalEquations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NormalEquations")
            .field("p", &self.gram.nrows())
            .field("k", &self.rhs.ncols())
            .field("pinv_solves", &self.pinv_solves)
            .finish()
    }
}

impl NormalEquations {
    /// Allocates the workspace for `p` unknowns and `k` right-hand sides; `context` names
    /// the solve in error messages.
    pub fn new(p: usize, k: usize, par: Par, context: impl Into<String>) -> Self {
        Self {
            gram: Mat::zeros(p, p),
            rhs: Mat::zeros(p, k),
            saved: Mat::zeros(p, p),
            mem: cholesky_mem(p, par),
            par,
            context: context.into(),
            unknowns: Vec::new(),
            pinv_solves: 0,
            cancel: CancelToken::never(),
        }
    }

    /// Polls `token` while building the Gram matrix and factorising it ([`gram_lower`],
    /// [`cholesky_pivot_ratio_cancellable`]): the solves then fail with
    /// [`Error::Cancelled`] once it is cancelled.
    pub fn set_cancel(&mut self, token: CancelToken) {
        self.cancel = token;
    }

    /// Names the p unknowns (rows of Θ) in error messages, e.g. the design's column names;
    /// without names they are called `unknown i` (1-based).
    pub fn with_unknowns(mut self, names: Vec<String>) -> Self {
        self.unknowns = names;
        self
    }

    /// How many solves so far fell back to the pseudo-inverse (singular or ill-conditioned
    /// systems).
    pub fn pseudo_inverse_solves(&self) -> usize {
        self.pinv_solves
    }

    /// Writes one triangle of `AᵀA + λP` into the Gram buffer.
    fn build_gram(&mut self, a: MatRef<'_, f64>, ridge: f64, n_free: usize) -> Result<()> {
        let p = a.ncols();
        gram_lower(
            self.gram.as_mut(),
            a,
            Accum::Replace,
            self.par,
            &self.cancel,
        )?;
        for j in 0..p.saturating_sub(n_free) {
            self.gram[(j, j)] += ridge;
        }
        Ok(())
    }

    /// Starts a blockwise build of AᵀA and AᵀB: then [`NormalEquations::add_rows`] for each
    /// block of rows of A and B, then [`NormalEquations::solve_accumulated`]. For a design
    /// too tall to keep (its rows are produced block by block); with one block, the system is
    /// the same, bit for bit, as [`NormalEquations::solve`] builds.
    pub fn clear(&mut self) {
        self.gram.fill(0.0);
        self.rhs.fill(0.0);
    }

    /// Adds the rows `a` (m×p) and `b` (m×k) to the system: AᵀA += aᵀa (lower triangle),
    /// AᵀB += aᵀb. Flops: m·p² + 2·m·p·k.
    pub fn add_rows(&mut self, a: MatRef<'_, f64>, b: MatRef<'_, f64>) {
        tri_matmul(
            self.gram.as_mut(),
            BlockStructure::TriangularLower,
            Accum::Add,
            a.transpose(),
            BlockStructure::Rectangular,
            a,
            BlockStructure::Rectangular,
            1.0,
            self.par,
        );
        matmul(
            self.rhs.as_mut(),
            Accum::Add,
            a.transpose(),
            b,
            1.0,
            self.par,
        );
    }

    /// Solves the system accumulated by [`NormalEquations::add_rows`] with the ridge of
    /// [`NormalEquations::solve`] (same Cholesky, same pseudo-inverse fallback), writing Θ
    /// into `out`. Flops: p³/3 + 2·p²·k.
    pub fn solve_accumulated(
        &mut self,
        ridge: f64,
        n_free: usize,
        mut out: MatMut<'_, f64>,
    ) -> Result<SolveMethod> {
        let p = self.gram.nrows();
        for j in 0..p.saturating_sub(n_free) {
            self.gram[(j, j)] += ridge;
        }
        self.saved.copy_from(self.gram.as_ref());
        if self.factor_and_solve(PIVOT_RATIO_THRESHOLD, out.as_mut())? {
            return Ok(SolveMethod::Cholesky);
        }
        self.gram.copy_from(self.saved.as_ref());
        self.pseudo_inverse(out)
    }

    /// The pseudo-inverse solve of the regularised system in `gram` and `rhs`.
    fn pseudo_inverse(&mut self, mut out: MatMut<'_, f64>) -> Result<SolveMethod> {
        let names = &self.unknowns;
        let rank = pinv_solve(
            self.gram.as_mut(),
            self.rhs.as_mut(),
            None,
            PINV_REL_TOL,
            self.par,
            &self.context,
            &|i| {
                names
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| format!("unknown {}", i + 1))
            },
        )?;
        self.pinv_solves += 1;
        out.copy_from(self.rhs.as_ref());
        Ok(SolveMethod::PseudoInverse { rank })
    }

    /// Cholesky only: builds `(AᵀA + λP)Θ = AᵀB` (λⱼ = `ridge` except for the last `n_free`
    /// rows of Θ), factorises it and, when the pivot ratio ([`pivot_ratio`]) is at least
    /// `min_pivot_ratio`, writes Θ into `out` and returns `true`. Returns `false` (leaving
    /// `out` untouched) for a singular or ill-conditioned system. Fails only with
    /// [`Error::Cancelled`] ([`NormalEquations::set_cancel`]).
    ///
    /// Flops: n·p² + 2·n·p·k + p³/3 + 2·p²·k.
    pub fn solve_cholesky(
        &mut self,
        a: MatRef<'_, f64>,
        b: MatRef<'_, f64>,
        ridge: f64,
        n_free: usize,
        min_pivot_ratio: f64,
        out: MatMut<'_, f64>,
    ) -> Result<bool> {
        let par = self.par;
        debug_assert_eq!(
            (self.gram.nrows(), self.rhs.ncols()),
            (a.ncols(), b.ncols())
        );
        self.build_gram(a, ridge, n_free)?;
        matmul_cancellable(
            self.rhs.as_mut(),
            Accum::Replace,
            a.transpose(),
            b,
            1.0,
            par,
            &self.cancel,
        )?;
        self.factor_and_solve(min_pivot_ratio, out)
    }

    /// Factorises the Gram triangle in place and, when the pivot ratio is at least
    /// `min_pivot_ratio`, solves for the right-hand sides, writes Θ into `out` and returns
    /// `true`; otherwise returns `false`, `out` untouched (the Gram buffer then holds a failed
    /// factorisation, the right-hand sides are intact).
    fn factor_and_solve(&mut self, min_pivot_ratio: f64, mut out: MatMut<'_, f64>) -> Result<bool> {
        let par = self.par;
        let ratio =
            cholesky_pivot_ratio_cancellable(self.gram.as_mut(), par, &mut self.mem, &self.cancel)?;
        // `pivot_ratio` is never NaN, so `<` also rejects a failed factorisation (ratio 0).
        if ratio < min_pivot_ratio.max(f64::MIN_POSITIVE) {
            return Ok(false);
        }
        llt_solve_cancellable(self.gram.as_ref(), self.rhs.as_mut(), par, &self.cancel)?;
        out.copy_from(self.rhs.as_ref());
        Ok(true)
    }

    /// Solves `min_Θ ‖AΘ − B‖² + Σⱼ λⱼ‖Θ[j,:]‖²` with `λⱼ = ridge` for every row of Θ except
    /// the last `n_free` (e.g. an intercept), writing Θ (p×k) into `out`.
    ///
    /// By Cholesky when its pivot ratio is at least [`PIVOT_RATIO_THRESHOLD`]; otherwise
    /// (singular or ill-conditioned: λ = 0 with a constant, duplicated or all-zero column, a
    /// unit that is never active, …) by the pseudo-inverse of the regularised Gram matrix
    /// ([`pinv_solve`] with [`PINV_REL_TOL`]): the minimum-norm solution, the λ → 0 limit of
    /// ridge. Fails only when the system holds NaN or infinity (naming the unknowns), or with
    /// [`Error::Cancelled`] ([`NormalEquations::set_cancel`]).
    ///
    /// Flops: n·p² + 2·n·p·k + p³/3 + 2·p²·k (the fallback adds n·p² and an eigensolve).
    pub fn solve(
        &mut self,
        a: MatRef<'_, f64>,
        b: MatRef<'_, f64>,
        ridge: f64,
        n_free: usize,
        mut out: MatMut<'_, f64>,
    ) -> Result<SolveMethod> {
        if self.solve_cholesky(a, b, ridge, n_free, PIVOT_RATIO_THRESHOLD, out.as_mut())? {
            return Ok(SolveMethod::Cholesky);
        }
        // The factorisation overwrote the Gram triangle; AᵀB is intact.
        self.build_gram(a, ridge, n_free)?;
        self.pseudo_inverse(out)
    }
}

/// A least-squares fit `Y ≈ XW + 1bᵀ` with an unpenalised intercept ([`min_norm_lstsq`],
/// [`ridge_lstsq`]).
#[derive(Clone, Debug)]
pub struct LinearFit {
    /// Θ = [W; bᵀ], (d+1)×k: the weights of the d features, the intercept in the last row
    /// (the layout of `[X 1]Θ`).
    pub theta: Mat<f64>,
    /// Numerical rank of the design `[X 1]`, intercept included: 1 + the number of singular
    /// values σᵢ of the centred features with σᵢ > `rank_tol` · σ_max. It is d + 1 when no
    /// feature is constant, duplicated or collinear with others (and n > d).
    pub rank: usize,
    /// The relative tolerance that decided the rank.
    pub rank_tol: f64,
    /// The feature columns (0-based, ascending) that take part in a numerical linear
    /// dependence: constant columns, duplicated or collinear columns (each has an entry above
    /// [`DEPENDENT_COMPONENT_TOL`] in a null vector of the centred features). Empty at full
    /// rank.
    pub dependent_columns: Vec<usize>,
}

impl LinearFit {
    /// Number of feature columns d.
    pub fn d(&self) -> usize {
        self.theta.nrows() - 1
    }

    /// Whether the design has full column rank d + 1.
    pub fn full_rank(&self) -> bool {
        self.rank == self.theta.nrows()
    }
}

/// The minimum-norm least-squares fit `Y ≈ XW + 1bᵀ`: among all (W, b) minimising
/// ‖Y − XW − 1bᵀ‖, the one with the smallest ‖W‖ (the intercept is not penalised), computed
/// from the SVD of the centred features, singular values σᵢ ≤ `rel_tol` · σ_max counting as
/// zero (`None`: [`default_rank_tol`]`(n, d)`). Constant columns get weight 0 and duplicated
/// columns equal weights.
///
/// `x` is n×d, `y` n×k; `theta` of the result is (d+1)×k, intercept last. Fails on
/// mismatched shapes, no rows, non-finite input, a tolerance outside [0, 1), or (in
/// practice never) an SVD that does not converge.
pub fn min_norm_lstsq(
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    rel_tol: Option<f64>,
) -> Result<LinearFit> {
    ridge_lstsq(x, y, 0.0, rel_tol)
}

/// [`min_norm_lstsq`] with a ridge penalty λ‖W‖² (intercept unpenalised):
/// W = V diag(σᵢ / (σᵢ² + λ)) Uᵀ(Y − 1ȳᵀ) over the singular values kept, b = ȳ − Wᵀx̄.
/// With λ = 0 it is the minimum-norm solution.
pub fn ridge_lstsq(
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    ridge: f64,
    rel_tol: Option<f64>,
) -> Result<LinearFit> {
    let (n, d, k) = (x.nrows(), x.ncols(), y.ncols());
    if y.nrows() != n {
        return Err(Error::Shape {
            context: "least-squares fit".into(),
            expected: format!("{n} target rows (one per feature row)"),
            got: format!("{}", y.nrows()),
        });
    }
    if n == 0 {
        return Err(Error::InvalidData(
            "least-squares fit of a design with no rows".into(),
        ));
    }
    if !(ridge.is_finite() && ridge >= 0.0) {
        return Err(Error::config("ridge", ridge, "must be a finite number ≥ 0"));
    }
    let rank_tol = check_rank_tol(rel_tol, n, d)?;
    check_finite(x, "the features of a least-squares fit")?;
    check_finite(y, "the targets of a least-squares fit")?;
    let x_mean = centred_means(x);
    let y_mean = centred_means(y);
    let xc = Mat::from_fn(n, d, |i, j| x[(i, j)] - x_mean[j]);
    let yc = Mat::from_fn(n, k, |i, j| y[(i, j)] - y_mean[j]);
    check_finite(xc.as_ref(), "the centred features of a least-squares fit")?;
    let solved = svd_solve(xc.as_ref(), yc.as_ref(), ridge, rank_tol)?;
    let w = solved.x;
    let theta = Mat::from_fn(d + 1, k, |i, c| {
        if i < d {
            w[(i, c)]
        } else {
            y_mean[c] - (0..d).map(|j| x_mean[j] * w[(j, c)]).sum::<f64>()
        }
    });
    check_finite(theta.as_ref(), "the least-squares weights")?;
    Ok(LinearFit {
        theta,
        rank: solved.rank + 1,
        rank_tol,
        dependent_columns: solved.dependent,
    })
}

/// The minimum-norm solution of `AX ≈ B` (no intercept): X = A⁺B from the SVD of A, singular
/// values ≤ `rel_tol` · σ_max counting as zero (`None`: [`default_rank_tol`]). Returns X
/// (p×k) and the numerical rank of A.
pub fn svd_lstsq(
    a: MatRef<'_, f64>,
    b: MatRef<'_, f64>,
    rel_tol: Option<f64>,
) -> Result<(Mat<f64>, usize)> {
    if b.nrows() != a.nrows() {
        return Err(Error::Shape {
            context: "least-squares solve".into(),
            expected: format!("{} right-hand-side rows", a.nrows()),
            got: format!("{}", b.nrows()),
        });
    }
    let tol = check_rank_tol(rel_tol, a.nrows(), a.ncols())?;
    check_finite(a, "the design of a least-squares solve")?;
    check_finite(b, "the right-hand side of a least-squares solve")?;
    let solved = svd_solve(a, b, 0.0, tol)?;
    check_finite(solved.x.as_ref(), "the least-squares solution")?;
    Ok((solved.x, solved.rank))
}

fn check_rank_tol(rel_tol: Option<f64>, n: usize, p: usize) -> Result<f64> {
    match rel_tol {
        None => Ok(default_rank_tol(n, p)),
        Some(t) if t.is_finite() && (0.0..1.0).contains(&t) => Ok(t),
        Some(t) => Err(Error::config(
            "rank_tol",
            t,
            "the relative rank tolerance must lie in [0, 1), e.g. 1e-12",
        )),
    }
}

fn check_finite(m: MatRef<'_, f64>, what: &str) -> Result<()> {
    match crate::data::first_non_finite(m) {
        None => Ok(()),
        Some((i, j)) => Err(Error::NonFinite(format!(
            "{what}: {} at row {} column {}",
            m[(i, j)],
            i + 1,
            j + 1
        ))),
    }
}

/// Column means with one correction pass (`m + mean(x − m)`), so that a constant column
/// centres to exact zeros.
fn centred_means(m: MatRef<'_, f64>) -> Vec<f64> {
    let n = m.nrows() as f64;
    (0..m.ncols())
        .map(|j| {
            let mean = (0..m.nrows()).map(|i| m[(i, j)]).sum::<f64>() / n;
            mean + (0..m.nrows()).map(|i| m[(i, j)] - mean).sum::<f64>() / n
        })
        .collect()
}

struct SvdSolution {
    x: Mat<f64>,
    rank: usize,
    dependent: Vec<usize>,
}

/// X = V diag(f(σ)) Uᵀ B over σ > tol·σ_max, f(σ) = 1/σ (λ = 0) or σ/(σ² + λ).
fn svd_solve(a: MatRef<'_, f64>, b: MatRef<'_, f64>, ridge: f64, tol: f64) -> Result<SvdSolution> {
    let (n, p, k) = (a.nrows(), a.ncols(), b.ncols());
    if p == 0 {
        return Ok(SvdSolution {
            x: Mat::zeros(0, k),
            rank: 0,
            dependent: Vec::new(),
        });
    }
    // Thin when it still gives all of V (n ≥ p); full otherwise, for the null space.
    let svd = if n >= p { a.thin_svd() } else { a.svd() }.map_err(|e| Error::Singular {
        context: "least-squares solve".into(),
        hint: format!("the SVD of the {n}×{p} design did not converge ({e:?})"),
    })?;
    let s = svd.S().column_vector();
    let (u, v) = (svd.U(), svd.V());
    let smax = s.iter().fold(0.0_f64, |m, x| m.max(*x));
    let cut = tol * smax;
    let rank = (0..s.nrows()).filter(|&i| s[i] > cut && s[i] > 0.0).count();
    let par = faer::get_global_parallelism();
    let mut coef = Mat::<f64>::zeros(rank, k);
    matmul(
        coef.as_mut(),
        Accum::Replace,
        u.subcols(0, rank).transpose(),
        b,
        1.0,
        par,
    );
    for i in 0..rank {
        let f = if ridge == 0.0 {
            1.0 / s[i]
        } else {
            s[i] / (s[i] * s[i] + ridge)
        };
        for c in 0..k {
            coef[(i, c)] *= f;
        }
    }
    let mut x = Mat::<f64>::zeros(p, k);
    matmul(
        x.as_mut(),
        Accum::Replace,
        v.subcols(0, rank),
        coef.as_ref(),
        1.0,
        par,
    );
    let dependent = (0..p)
        .filter(|&j| (rank..v.ncols()).any(|c| v[(j, c)].abs() > DEPENDENT_COMPONENT_TOL))
        .collect();
    Ok(SvdSolution { x, rank, dependent })
}

/// Size of the calibration kernel's square matrices.
pub const CALIBRATION_N: usize = 256;

/// The fixed input of the calibration kernel: a `CALIBRATION_N`² matrix of small rationals.
pub fn calibration_matrix() -> Mat<f64> {
    Mat::from_fn(CALIBRATION_N, CALIBRATION_N, |i, j| {
        ((i * 7 + j * 3) % 13) as f64 / 13.0
    })
}

/// The calibration kernel: `out = a·a` with faer's blocked matmul on one thread,
/// 2·N³ flops. Benchmarks and reports both measure it, so their throughputs can be compared
/// and timings normalised across machines.
pub fn calibration_kernel(out: MatMut<'_, f64>, a: MatRef<'_, f64>) {
    matmul(out, Accum::Replace, a, a, 1.0, Par::Seq);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// Agreement of two solutions of the same well-posed problem (data of magnitude ~10).
    const SOLVE_TOL: f64 = 1e-9;

    /// x1, x2 vary; y = 2·x1 − 3·x2 + 1 (noiseless).
    fn planted(n: usize) -> (Mat<f64>, Mat<f64>) {
        let x = Mat::from_fn(n, 2, |i, j| {
            ((i * 7 + j * 3) % 11) as f64 - 5.0 + (j as f64) * 0.5 * (i as f64).sin()
        });
        let y = Mat::from_fn(n, 1, |i, _| 2.0 * x[(i, 0)] - 3.0 * x[(i, 1)] + 1.0);
        (x, y)
    }

    /// `x` with extra columns `extra(x1, x2)` appended.
    fn with_columns(x: &Mat<f64>, extra: &[fn(f64, f64) -> f64]) -> Mat<f64> {
        Mat::from_fn(x.nrows(), 2 + extra.len(), |i, j| {
            if j < 2 {
                x[(i, j)]
            } else {
                extra[j - 2](x[(i, 0)], x[(i, 1)])
            }
        })
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < SOLVE_TOL
    }

    #[test]
    fn the_blocked_gram_and_cholesky_equal_faer_s_up_to_rounding_and_stop_when_cancelled() {
        use crate::cancel::CancelToken;
        use std::sync::Arc;
        use std::sync::atomic::AtomicBool;
        let never = CancelToken::never();
        let close = |a: MatRef<'_, f64>, b: MatRef<'_, f64>, p: usize| {
            let scale = (0..p).map(|j| b[(j, j)].abs()).fold(0.0, f64::max);
            (0..p).all(|j| (j..p).all(|i| (a[(i, j)] - b[(i, j)]).abs() <= 1e-10 * scale))
        };
        // Wide (column blocks and several Cholesky panels) and tall (row blocks).
        for (n, p) in [(40usize, 600usize), (3000, 20)] {
            let a = Mat::from_fn(n, p, |i, j| ((i * 7 + j * 13) % 17) as f64 / 17.0 - 0.4);
            let mut whole = Mat::<f64>::zeros(p, p);
            gram_lower_polling(
                whole.as_mut(),
                a.as_ref(),
                Accum::Replace,
                Par::Seq,
                &never,
                1e18,
            )
            .unwrap();
            let mut blocked = Mat::<f64>::zeros(p, p);
            gram_lower_polling(
                blocked.as_mut(),
                a.as_ref(),
                Accum::Replace,
                Par::Seq,
                &never,
                1e3,
            )
            .unwrap();
            assert!(
                close(blocked.as_ref(), whole.as_ref(), p),
                "gram n = {n}, p = {p}"
            );
            for g in [&mut whole, &mut blocked] {
                for j in 0..p {
                    g[(j, j)] += 1.0;
                }
            }
            let mut mem = cholesky_mem(p, Par::Seq);
            let r1 = cholesky_polling(whole.as_mut(), Par::Seq, &mut mem, &never, 1e18).unwrap();
            let r2 = cholesky_polling(blocked.as_mut(), Par::Seq, &mut mem, &never, 1e3).unwrap();
            assert!(r1 > 0.0 && (r1 - r2).abs() <= 1e-8 * r1, "{r1} {r2}");
            assert!(
                close(blocked.as_ref(), whole.as_ref(), p),
                "cholesky p = {p}"
            );
        }
        // A not positive definite matrix fails in a later panel: ratio 0, as faer's.
        let p = 600;
        let mut m = Mat::from_fn(p, p, |i, j| if i == j { 1.0 } else { 0.0 });
        m[(p - 1, p - 1)] = -1.0;
        let mut mem = cholesky_mem(p, Par::Seq);
        assert_eq!(
            cholesky_polling(m.as_mut(), Par::Seq, &mut mem, &never, 1e3).unwrap(),
            0.0
        );
        // A cancelled token stops both before any work.
        let cancelled = CancelToken::new(Arc::new(AtomicBool::new(true)));
        let a = Mat::<f64>::zeros(10, 5);
        let mut g = Mat::<f64>::zeros(5, 5);
        let e = gram_lower(g.as_mut(), a.as_ref(), Accum::Replace, Par::Seq, &cancelled);
        assert!(matches!(e, Err(Error::Cancelled(_))));
        let e = cholesky_pivot_ratio_cancellable(g.as_mut(), Par::Seq, &mut mem, &cancelled);
        assert!(matches!(e, Err(Error::Cancelled(_))));
        // … and the blocked forms between their blocks.
        let (n, p) = (40, 600);
        let a = Mat::from_fn(n, p, |i, j| ((i + j) % 5) as f64);
        let mut g = Mat::<f64>::zeros(p, p);
        let third = CancelToken::after_polls(3, crate::Cancelled::Deadline);
        let e = gram_lower_polling(
            g.as_mut(),
            a.as_ref(),
            Accum::Replace,
            Par::Seq,
            &third,
            1e3,
        );
        assert!(matches!(e, Err(Error::Cancelled(_))));
        let mut m = Mat::from_fn(p, p, |i, j| if i == j { 2.0 } else { 0.0 });
        let third = CancelToken::after_polls(3, crate::Cancelled::Deadline);
        let e = cholesky_polling(m.as_mut(), Par::Seq, &mut mem, &third, 1e3);
        assert!(matches!(e, Err(Error::Cancelled(_))));
    }

    #[test]
    fn the_blocked_product_and_solve_give_the_same_numbers_and_stop_when_cancelled() {
        use crate::cancel::{CancelToken, Cancelled};
        let never = CancelToken::never();
        // Tall (blocks of rows) and wide (blocks of columns) products.
        for (m, k, n) in [(700usize, 30usize, 20usize), (20, 30, 700)] {
            let a = Mat::from_fn(m, k, |i, j| ((i * 3 + j * 5) % 11) as f64 - 5.0);
            let b = Mat::from_fn(k, n, |i, j| ((i * 7 + j) % 13) as f64 - 6.0);
            let mut whole = Mat::<f64>::zeros(m, n);
            let mut blocked = Mat::<f64>::zeros(m, n);
            let run = |out: MatMut<'_, f64>, poll: f64, t: &CancelToken| {
                matmul_polling(
                    out,
                    Accum::Replace,
                    a.as_ref(),
                    b.as_ref(),
                    1.0,
                    Par::Seq,
                    t,
                    poll,
                )
            };
            run(whole.as_mut(), 1e18, &never).unwrap();
            run(blocked.as_mut(), 1e3, &never).unwrap();
            assert_eq!(whole, blocked, "{m}×{k}×{n}");
            let second = CancelToken::after_polls(2, Cancelled::Deadline);
            assert!(matches!(
                run(blocked.as_mut(), 1e3, &second),
                Err(Error::Cancelled(Cancelled::Deadline))
            ));
        }
        let p = 30;
        let l = Mat::from_fn(p, p, |i, j| {
            if i == j {
                2.0
            } else if i > j {
                0.1
            } else {
                0.0
            }
        });
        let rhs = Mat::from_fn(p, 500, |i, j| ((i + 2 * j) % 7) as f64);
        let (mut whole, mut blocked) = (rhs.clone(), rhs.clone());
        llt_solve_polling(l.as_ref(), whole.as_mut(), Par::Seq, &never, 1e18).unwrap();
        llt_solve_polling(l.as_ref(), blocked.as_mut(), Par::Seq, &never, 1e3).unwrap();
        assert_eq!(whole, blocked);
        let second = CancelToken::after_polls(2, Cancelled::Deadline);
        let e = llt_solve_polling(l.as_ref(), blocked.as_mut(), Par::Seq, &second, 1e3);
        assert!(matches!(e, Err(Error::Cancelled(_))));
    }

    #[test]
    fn min_norm_lstsq_of_a_constant_column_gives_it_weight_zero() {
        let (x, y) = planted(20);
        let xc = with_columns(&x, &[|_, _| 0.1]);
        let fit = min_norm_lstsq(xc.as_ref(), y.as_ref(), None).unwrap();
        let t = &fit.theta;
        assert!(close(t[(0, 0)], 2.0) && close(t[(1, 0)], -3.0), "{t:?}");
        assert!(close(t[(2, 0)], 0.0) && close(t[(3, 0)], 1.0), "{t:?}");
        assert_eq!((fit.rank, fit.dependent_columns.as_slice()), (3, &[2][..]));
        assert!(!fit.full_rank());
        assert_eq!(fit.rank_tol, default_rank_tol(20, 3));
    }

    #[test]
    fn min_norm_lstsq_splits_duplicated_columns_equally() {
        let (x, y) = planted(20);
        let xd = with_columns(&x, &[|_, x2| x2, |_, x2| x2]);
        let fit = min_norm_lstsq(xd.as_ref(), y.as_ref(), None).unwrap();
        let t = &fit.theta;
        for j in [1, 2, 3] {
            assert!(close(t[(j, 0)], -1.0), "x2 and its copies share −3: {t:?}");
        }
        assert!(close(t[(0, 0)], 2.0) && close(t[(4, 0)], 1.0), "{t:?}");
        assert_eq!(
            (fit.rank, fit.dependent_columns.as_slice()),
            (3, &[1, 2, 3][..])
        );
    }

    #[test]
    fn min_norm_lstsq_with_fewer_rows_than_columns_interpolates_with_minimum_norm() {
        // 3 rows, 5 columns: infinitely many exact fits; the minimum-norm one is Xcᵀ(XcXcᵀ)⁺Yc.
        let x = Mat::from_fn(3, 5, |i, j| ((i + 1) * (j + 2) % 7) as f64);
        let y = Mat::from_fn(3, 1, |i, _| [1.0, -2.0, 0.5][i]);
        let fit = min_norm_lstsq(x.as_ref(), y.as_ref(), None).unwrap();
        assert_eq!(
            fit.rank, 3,
            "centred 3-row design has rank 2, plus the intercept"
        );
        for i in 0..3 {
            let pred =
                (0..5).map(|j| x[(i, j)] * fit.theta[(j, 0)]).sum::<f64>() + fit.theta[(5, 0)];
            assert!(close(pred, y[(i, 0)]), "row {i}: {pred}");
        }
        // Minimum norm: W lies in the row space of the centred design, i.e. is orthogonal
        // to its null space; check against a null vector built from the full SVD.
        let mean: Vec<f64> = (0..5)
            .map(|j| (0..3).map(|i| x[(i, j)]).sum::<f64>() / 3.0)
            .collect();
        let xc = Mat::from_fn(3, 5, |i, j| x[(i, j)] - mean[j]);
        let svd = xc.svd().unwrap();
        for c in 2..5 {
            let dot: f64 = (0..5).map(|j| svd.V()[(j, c)] * fit.theta[(j, 0)]).sum();
            assert!(dot.abs() < SOLVE_TOL, "W has a null-space component {dot}");
        }
    }

    #[test]
    fn ridge_lstsq_equals_the_cholesky_normal_equations_with_an_unpenalised_intercept() {
        let (x, y) = planted(30);
        let x = with_columns(&x, &[|a, b| a * b]);
        let design = Mat::from_fn(30, 4, |i, j| if j < 3 { x[(i, j)] } else { 1.0 });
        for ridge in [0.0, 0.7, 40.0] {
            let fit = ridge_lstsq(x.as_ref(), y.as_ref(), ridge, None).unwrap();
            let mut ne = NormalEquations::new(4, 1, Par::Seq, "test");
            let mut theta = Mat::zeros(4, 1);
            let how = ne
                .solve(design.as_ref(), y.as_ref(), ridge, 1, theta.as_mut())
                .unwrap();
            assert_eq!(how, SolveMethod::Cholesky);
            for j in 0..4 {
                assert!(close(fit.theta[(j, 0)], theta[(j, 0)]), "λ = {ridge}, θ{j}");
            }
            assert_eq!(fit.rank, 4);
        }
    }

    #[test]
    fn a_system_accumulated_by_blocks_of_rows_is_the_one_solve_builds() {
        let a = Mat::from_fn(40, 4, |i, j| {
            ((i * 7 + j * 3) % 11) as f64 - 5.0 + 0.1 * j as f64
        });
        let b = Mat::from_fn(40, 2, |i, j| ((i * 5 + j) % 7) as f64);
        let mut direct = NormalEquations::new(4, 2, Par::Seq, "test");
        let mut want = Mat::zeros(4, 2);
        direct
            .solve(a.as_ref(), b.as_ref(), 0.1, 1, want.as_mut())
            .unwrap();
        let mut acc = NormalEquations::new(4, 2, Par::Seq, "test");
        for (blocks, tol) in [(vec![40], 0.0), (vec![13, 13, 14], 1e-12)] {
            acc.clear();
            let mut r0 = 0;
            for m in blocks {
                acc.add_rows(a.as_ref().subrows(r0, m), b.as_ref().subrows(r0, m));
                r0 += m;
            }
            let mut got = Mat::zeros(4, 2);
            acc.solve_accumulated(0.1, 1, got.as_mut()).unwrap();
            // One block: the same arithmetic, bit for bit; several: the same up to rounding.
            assert!(
                (&got - &want).norm_max() <= tol * want.norm_max(),
                "{got:?} vs {want:?}"
            );
        }
        // A singular accumulated system falls back to the pseudo-inverse like `solve`.
        let twin = Mat::from_fn(10, 2, |i, _| i as f64);
        let y = Mat::from_fn(10, 1, |i, _| 2.0 * i as f64);
        let mut ne = NormalEquations::new(2, 1, Par::Seq, "test");
        ne.clear();
        ne.add_rows(twin.as_ref(), y.as_ref());
        let mut out = Mat::zeros(2, 1);
        let method = ne.solve_accumulated(0.0, 0, out.as_mut()).unwrap();
        assert!(
            matches!(method, SolveMethod::PseudoInverse { rank: 1 }),
            "{method:?}"
        );
        assert!((out[(0, 0)] - 1.0).abs() < 1e-9 && (out[(1, 0)] - 1.0).abs() < 1e-9);
    }

    #[test]
    fn normal_equations_with_a_zero_column_fall_back_to_the_min_norm_solution() {
        // Used to fail with "singular system … use solver=qr".
        let (x, y) = planted(20);
        let design = Mat::from_fn(20, 4, |i, j| match j {
            0 | 1 => x[(i, j)],
            2 => 0.0,
            _ => 1.0,
        });
        let mut ne = NormalEquations::new(4, 1, Par::Seq, "test");
        let mut theta = Mat::zeros(4, 1);
        let how = ne
            .solve(design.as_ref(), y.as_ref(), 0.0, 1, theta.as_mut())
            .unwrap();
        assert_eq!(how, SolveMethod::PseudoInverse { rank: 3 });
        assert_eq!(ne.pseudo_inverse_solves(), 1);
        let want = [2.0, -3.0, 0.0, 1.0];
        for j in 0..4 {
            assert!(
                (theta[(j, 0)] - want[j]).abs() < 1e-6,
                "θ{j} = {}",
                theta[(j, 0)]
            );
        }
        // The workspace is reusable: a well-conditioned solve afterwards uses Cholesky.
        let full = Mat::from_fn(20, 3, |i, j| if j < 2 { x[(i, j)] } else { 1.0 });
        let mut ne = NormalEquations::new(3, 1, Par::Seq, "test");
        let mut theta = Mat::zeros(3, 1);
        assert_eq!(
            ne.solve(full.as_ref(), y.as_ref(), 0.0, 1, theta.as_mut())
                .unwrap(),
            SolveMethod::Cholesky
        );
    }

    #[test]
    fn pinv_solve_from_x0_changes_only_the_determined_directions() {
        // G = diag(4, 0): the second unknown is undetermined and keeps its x0 value.
        let mut g = Mat::from_fn(2, 2, |i, j| if i == 0 && j == 0 { 4.0 } else { 0.0 });
        let mut b = Mat::from_fn(2, 1, |i, _| if i == 0 { 8.0 } else { 0.0 });
        let x0 = Mat::from_fn(2, 1, |i, _| [5.0, 7.0][i]);
        let rank = pinv_solve(
            g.as_mut(),
            b.as_mut(),
            Some(x0.as_ref()),
            PINV_REL_TOL,
            Par::Seq,
            "test",
            &|i| format!("u{i}"),
        )
        .unwrap();
        assert_eq!(rank, 1);
        assert!(close(b[(0, 0)], 2.0) && close(b[(1, 0)], 7.0), "{b:?}");
    }

    #[test]
    fn a_non_finite_system_names_the_unknowns_involved() {
        let mut g = Mat::from_fn(3, 3, |i, j| if i == j { 1.0 } else { 0.0 });
        g[(2, 1)] = f64::NAN;
        let mut b = Mat::zeros(3, 1);
        let err = pinv_solve(
            g.as_mut(),
            b.as_mut(),
            None,
            PINV_REL_TOL,
            Par::Seq,
            "the test solve",
            &|i| ["alpha", "beta", "gamma"][i].to_string(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("the test solve") && err.contains("beta, gamma") && !err.contains("alpha"),
            "{err}"
        );
        let a = Mat::from_fn(
            4,
            2,
            |i, j| if (i, j) == (1, 1) { f64::INFINITY } else { 1.0 },
        );
        let mut ne =
            NormalEquations::new(2, 1, Par::Seq, "ols").with_unknowns(vec!["a".into(), "b".into()]);
        let err = ne
            .solve(
                a.as_ref(),
                Mat::zeros(4, 1).as_ref(),
                0.0,
                0,
                Mat::zeros(2, 1).as_mut(),
            )
            .unwrap_err()
            .to_string();
        assert!(err.contains("ols") && err.contains("b"), "{err}");
    }

    #[test]
    fn bad_inputs_of_the_lstsq_functions_are_rejected() {
        let (x, y) = planted(5);
        for tol in [-1.0, 1.0, f64::NAN] {
            let err = min_norm_lstsq(x.as_ref(), y.as_ref(), Some(tol))
                .unwrap_err()
                .to_string();
            assert!(err.contains("rank_tol"), "{err}");
        }
        let err = min_norm_lstsq(x.as_ref(), Mat::zeros(4, 1).as_ref(), None).unwrap_err();
        assert!(matches!(err, Error::Shape { .. }), "{err}");
        let mut bad = x.clone();
        bad[(3, 1)] = f64::NAN;
        let err = min_norm_lstsq(bad.as_ref(), y.as_ref(), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("row 4 column 2"), "{err}");
        let (a, rank) = svd_lstsq(
            Mat::<f64>::zeros(3, 2).as_ref(),
            Mat::from_fn(3, 1, |i, _| i as f64).as_ref(),
            None,
        )
        .unwrap();
        assert_eq!((rank, a[(0, 0)], a[(1, 0)]), (0, 0.0, 0.0));
    }
}
