//! Dense linear-algebra helpers shared by the faer trainers: regularised normal equations
//! `(AᵀA + λP)Θ = AᵀB`, solved by an in-place Cholesky with a workspace allocated once, and a
//! pivot check that turns (numerically) singular systems into a clear error.
//!
//! Cost per solve for an n×p design and k right-hand sides: n·p² flops for one triangle of
//! the Gram matrix, 2·n·p·k for `AᵀB`, p³/3 for the factorisation and 2·p²·k for the two
//! triangular solves.

use crate::error::{Error, Result};
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt::factor::{
    LltRegularization, cholesky_in_place, cholesky_in_place_scratch,
};
use faer::linalg::cholesky::llt::solve::solve_in_place;
use faer::linalg::matmul::matmul;
use faer::linalg::matmul::triangular::{BlockStructure, matmul as tri_matmul};
use faer::{Accum, Mat, MatMut, MatRef, Par};

/// Smallest acceptable ratio of the smallest to the largest squared Cholesky pivot
/// (a cheap lower bound on 1/cond): below it the system is reported as singular.
pub const PIVOT_RATIO_THRESHOLD: f64 = 1e-13;

/// Checks a triangular factor's diagonal: fails with [`Error::Singular`] when
/// (min |pivot| / max |pivot|)² is below [`PIVOT_RATIO_THRESHOLD`] (or not a number).
pub fn check_pivots(diag: impl Iterator<Item = f64>, context: &str) -> Result<()> {
    let (lo, hi) = diag
        .map(f64::abs)
        .fold((f64::INFINITY, 0.0_f64), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    let pivot_ratio = if hi > 0.0 { (lo / hi).powi(2) } else { 0.0 };
    if pivot_ratio >= PIVOT_RATIO_THRESHOLD {
        Ok(())
    } else {
        Err(singular(context, pivot_ratio))
    }
}

/// The error of a singular (or too ill-conditioned) solve.
pub fn singular(context: &str, pivot_ratio: f64) -> Error {
    Error::Singular {
        context: context.into(),
        hint: format!(
            "the regularised normal equations are singular or ill-conditioned (pivot ratio {pivot_ratio:.2e} below \
             {PIVOT_RATIO_THRESHOLD:.0e}); add a ridge penalty (e.g. ols:ridge=1e-6), drop duplicated or constant \
             columns, or use solver=qr"
        ),
    }
}

/// Workspace for repeated ridge solves of one size.
pub struct NormalEquations {
    gram: Mat<f64>,
    rhs: Mat<f64>,
    mem: MemBuffer,
    par: Par,
    context: String,
}

impl std::fmt::Debug for NormalEquations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NormalEquations")
            .field("p", &self.gram.nrows())
            .field("k", &self.rhs.ncols())
            .finish()
    }
}

impl NormalEquations {
    /// Allocates the workspace for `p` unknowns and `k` right-hand sides; `context` names
    /// the solve in error messages.
    pub fn new(p: usize, k: usize, par: Par, context: impl Into<String>) -> Self {
        let req = cholesky_in_place_scratch::<f64>(p, par, Default::default());
        Self {
            gram: Mat::zeros(p, p),
            rhs: Mat::zeros(p, k),
            mem: MemBuffer::new(req),
            par,
            context: context.into(),
        }
    }

    /// Solves `min_Θ ‖AΘ − B‖² + Σⱼ λⱼ‖Θ[j,:]‖²` with `λⱼ = ridge` for every row of Θ except
    /// the last `n_free` (e.g. an intercept), writing Θ (p×k) into `out`.
    ///
    /// Flops: n·p² + 2·n·p·k + p³/3 + 2·p²·k.
    pub fn solve(
        &mut self,
        a: MatRef<'_, f64>,
        b: MatRef<'_, f64>,
        ridge: f64,
        n_free: usize,
        mut out: MatMut<'_, f64>,
    ) -> Result<()> {
        let (p, par) = (a.ncols(), self.par);
        debug_assert_eq!((self.gram.nrows(), self.rhs.ncols()), (p, b.ncols()));
        tri_matmul(
            self.gram.as_mut(),
            BlockStructure::TriangularLower,
            Accum::Replace,
            a.transpose(),
            BlockStructure::Rectangular,
            a,
            BlockStructure::Rectangular,
            1.0,
            par,
        );
        for j in 0..p.saturating_sub(n_free) {
            self.gram[(j, j)] += ridge;
        }
        matmul(
            self.rhs.as_mut(),
            Accum::Replace,
            a.transpose(),
            b,
            1.0,
            par,
        );
        let stack = MemStack::new(&mut self.mem);
        let factor = cholesky_in_place(
            self.gram.as_mut(),
            LltRegularization::default(),
            par,
            stack,
            Default::default(),
        );
        if factor.is_err() {
            return Err(singular(&self.context, 0.0));
        }
        check_pivots((0..p).map(|j| self.gram[(j, j)]), &self.context)?;
        solve_in_place(
            self.gram.as_ref(),
            self.rhs.as_mut(),
            par,
            MemStack::new(&mut []),
        );
        out.copy_from(self.rhs.as_ref());
        Ok(())
    }
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
