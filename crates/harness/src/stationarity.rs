//! The stationarity certificate of a run (issue #28): the gradient norm of the training loss
//! at the trainer's final parameters relative to its norm at the initial network, computed
//! after the last step (untimed) with the faer engine, so that a run that stopped can be told
//! apart from one that reached a stationary point.
//!
//! The loss is the shared training MSE, `‖f(X) − Y‖²_F/(n·k)` in standardised units, with no
//! weight penalty (whatever the trainer minimised). The rows are taken [`BLOCK_ROWS`] at a
//! time, so the certificate needs O(`BLOCK_ROWS` · Σ widths) memory whatever n.
//!
//! For networks with (leaky) ReLU hidden layers the certificate adds the fraction of hidden
//! units whose activation pattern on the training rows (the sign of the unit's pre-activation
//! on each row) changed in the run's last step ([`pattern_change`]): a gradient norm at a
//! kink says little, a pattern that still moves says the run was not done.

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
        pattern_changed: None,
    })
}

/// The fraction of (leaky) ReLU hidden units whose activation pattern on the training rows
/// differs between `before` and `after` (a unit counts once if any row's sign `z > 0`
/// changed). `None` when the network has no such unit or the shapes differ.
///
/// # Errors
///
/// Shapes that do not match the data.
pub fn pattern_change(
    before: &Mlp,
    after: &Mlp,
    train: &Dataset,
) -> fitbench_core::Result<Option<f64>> {
    use fitbench_core::{Activation, ForwardBuffers};
    let kinked = |a: &Activation| matches!(a, Activation::Relu | Activation::LeakyRelu { .. });
    let layers: Vec<usize> = (0..after.n_layers().saturating_sub(1))
        .filter(|&l| kinked(&after.activations[l]))
        .collect();
    if layers.is_empty() || before.widths != after.widths {
        return Ok(None);
    }
    let units: usize = layers.iter().map(|&l| after.widths[l + 1]).sum();
    let mut changed: Vec<Vec<bool>> = layers
        .iter()
        .map(|&l| vec![false; after.widths[l + 1]])
        .collect();
    let n = train.n();
    let rows = n.clamp(1, BLOCK_ROWS);
    let (mut a, mut b) = (
        ForwardBuffers::new(before, rows),
        ForwardBuffers::new(after, rows),
    );
    let par = faer::Par::Seq;
    let mut r0 = 0;
    while r0 < n {
        let m = rows.min(n - r0);
        if m != a.n_rows() {
            a = ForwardBuffers::new(before, m);
            b = ForwardBuffers::new(after, m);
        }
        let x = train.x.as_ref().subrows(r0, m);
        before.forward_into(x, &mut a, par)?;
        after.forward_into(x, &mut b, par)?;
        for (flags, &l) in changed.iter_mut().zip(&layers) {
            let (za, zb) = (a.pre_activations(l), b.pre_activations(l));
            for (j, flag) in flags.iter_mut().enumerate() {
                if !*flag {
                    *flag = (0..m).any(|i| (za[(i, j)] > 0.0) != (zb[(i, j)] > 0.0));
                }
            }
        }
        r0 += m;
    }
    let moved = changed.iter().flatten().filter(|&&c| c).count();
    Ok(Some(moved as f64 / units as f64))
}
