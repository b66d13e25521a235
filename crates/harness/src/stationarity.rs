//! The stationarity certificate of a run (issue #28): the gradient norm of the training loss
//! at the trainer's final parameters relative to its norm at the initial network, computed
//! after the last step (untimed) with the faer engine, so that a run that stopped can be told
//! apart from one that reached a stationary point.
//!
//! The loss is the shared training MSE, `‖f(X) − Y‖²_F/(n·k)` in standardised units, with no
//! weight penalty (whatever the trainer minimised). The rows are taken [`BLOCK_ROWS`] at a
//! time, so the certificate needs O(`BLOCK_ROWS` · Σ widths) memory whatever n.

use fitbench_core::{Dataset, Mlp};
use fitbench_report::schema::Stationarity;

/// Rows per block of the gradient computation.
pub const BLOCK_ROWS: usize = 4096;

/// ‖∇L(θ)‖₂ of the training MSE of `mlp` on `train`.
///
/// # Errors
///
/// Shapes that do not match the data (the engine's error).
pub fn gradient_norm(mlp: &Mlp, train: &Dataset) -> fitbench_core::Result<f64> {
    let n = train.n();
    let rows = n.clamp(1, BLOCK_ROWS);
    let mut ws = fitbench_classic::engine::Workspace::new(mlp, rows);
    let mut total = vec![0.0; mlp.n_params()];
    let mut block = vec![0.0; mlp.n_params()];
    let mut r0 = 0;
    while r0 < n {
        let m = rows.min(n - r0);
        if m != ws.n_rows() {
            ws = fitbench_classic::engine::Workspace::new(mlp, m);
        }
        fitbench_classic::engine::loss_and_gradient(
            mlp,
            train.x.as_ref().subrows(r0, m),
            train.y.as_ref().subrows(r0, m),
            0.0,
            &mut ws,
            &mut block,
        )?;
        // The block's gradient is of its own mean; the whole loss weighs it by m/n.
        let w = m as f64 / n as f64;
        for (t, b) in total.iter_mut().zip(&block) {
            *t += w * b;
        }
        r0 += m;
    }
    Ok(total.iter().map(|g| g * g).sum::<f64>().sqrt())
}

/// The certificate of a run that started from `initial` and ended with `last` (its reported
/// parameters) and, for a trainer that keeps its latest iterate apart, `current`.
///
/// # Errors
///
/// As [`gradient_norm`].
pub fn certificate(
    initial: &Mlp,
    last: &Mlp,
    current: Option<&Mlp>,
    train: &Dataset,
) -> fitbench_core::Result<Stationarity> {
    let grad_norm_initial = gradient_norm(initial, train)?;
    let grad_norm = gradient_norm(last, train)?;
    let ratio_of = |g: f64| {
        if grad_norm_initial > 0.0 {
            g / grad_norm_initial
        } else if g == 0.0 {
            0.0
        } else {
            f64::INFINITY
        }
    };
    let current_ratio = match current {
        Some(c) => Some(ratio_of(gradient_norm(c, train)?)),
        None => None,
    };
    Ok(Stationarity {
        grad_norm_initial,
        grad_norm,
        ratio: ratio_of(grad_norm),
        current_ratio,
    })
}
