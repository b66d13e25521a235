//! A faer f64 backprop engine for the shared [`Mlp`]: flattened parameters, the loss and its
//! gradient, and the residuals and their Jacobian, all computed in caller-owned buffers.
//!
//! # Parameter order
//!
//! Every flat parameter vector of this module (what [`flatten`] writes, [`unflatten`] reads,
//! [`loss_and_gradient`] writes its gradient in, and the columns of the Jacobian of
//! [`residuals_and_jacobian`]) holds the layers input side first, and for each layer `l`
//! (0-based, `weights[l]` is mₗ₊₁×mₗ) first the weights **row-major** (`W[a, b]` at
//! `offset + a·mₗ + b`), then the mₗ₊₁ biases. Its length is [`n_params`] =
//! Σₗ (mₗ + 1)·mₗ₊₁ = [`Mlp::n_params`].
//!
//! # Residual order
//!
//! The residuals `r = f(X) − Y` of n rows and k outputs are flattened **column-major**, the
//! layout of faer's n×k matrices: `r[j·n + i] = f(X)[i, j] − Y[i, j]`; row `j·n + i` of the
//! Jacobian is the gradient of that residual.
//!
//! # Loss
//!
//! `L(θ) = ‖f(X) − Y‖²_F / (n·k) + ½·l2·Σₗ ‖Wₗ‖²_F`: the data term is computed by
//! [`fitbench_core::mlp::mse_of`] on the output of [`Mlp::forward_into`], so with `l2 = 0` it
//! is bit-identical to [`Mlp::mse`]; the penalty covers the **weights only** (biases are not
//! regularised). Hence `∇L = (2/(n·k))·Jᵀr + l2·θ_W`.
//!
//! # Cost
//!
//! Counted with [`fitbench_core::flops`]: see [`gradient_flops`] and [`jacobian_flops`].
//! Nothing is allocated per call by this module (faer's matrix products may use their own
//! scratch space).

use faer::linalg::matmul::matmul;
use faer::prelude::ReborrowMut;
use faer::{Accum, Mat, MatMut, MatRef};
use fitbench_core::mlp::mse_of;
use fitbench_core::{Architecture, Dataset, Error, ForwardBuffers, Mlp, Result, flops};

/// Caller-owned buffers of the engine for one network shape and `n` rows, allocated once by
/// [`Workspace::new`]: every layer's pre-activations and activations (a [`ForwardBuffers`])
/// and one delta (the loss's or a residual's derivative with respect to the layer's
/// pre-activations) per layer.
#[derive(Clone, Debug)]
pub struct Workspace {
    forward: ForwardBuffers,
    /// `delta[l]`: n×`widths[l + 1]`.
    delta: Vec<Mat<f64>>,
}

impl Workspace {
    /// Zeroed buffers for `mlp` (or any network with its widths) over `n` rows.
    pub fn new(mlp: &Mlp, n: usize) -> Self {
        Self {
            forward: ForwardBuffers::new(mlp, n),
            delta: mlp.widths[1..].iter().map(|&m| Mat::zeros(n, m)).collect(),
        }
    }

    /// Number of rows n the buffers were built for.
    pub fn n_rows(&self) -> usize {
        self.forward.n_rows()
    }

    /// Layer widths `[d, h₁, …, k]` the buffers were built for.
    pub fn widths(&self) -> &[usize] {
        self.forward.widths()
    }

    /// The forward buffers of the last call (pre-activations and activations per layer).
    pub fn forward_buffers(&self) -> &ForwardBuffers {
        &self.forward
    }
}

/// Number of parameters of `mlp`: Σₗ (mₗ + 1)·mₗ₊₁, the length of a flat parameter vector.
pub fn n_params(mlp: &Mlp) -> usize {
    mlp.n_params()
}

/// Fails unless `len` is the number of parameters of `mlp`.
fn check_len(mlp: &Mlp, len: usize, context: &str) -> Result<()> {
    if len != mlp.n_params() {
        return Err(Error::Shape {
            context: context.into(),
            expected: format!("{} parameters for widths {:?}", mlp.n_params(), mlp.widths),
            got: format!("{len}"),
        });
    }
    Ok(())
}

/// The sizes memory estimates of the engine's trainers are built from, as `u64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetSize {
    /// Inputs d.
    pub d: u64,
    /// Outputs k.
    pub k: u64,
    /// Units of the non-input layers, Σₗ₌₁ mₗ (one column each in a workspace's buffers).
    pub units: u64,
    /// Parameters p = Σₗ (mₗ + 1)·mₗ₊₁.
    pub params: u64,
}

impl NetSize {
    /// The sizes of a network with layer widths `widths` = `[d, …, k]`.
    pub fn of(widths: &[usize]) -> Self {
        Self {
            d: widths.first().copied().unwrap_or(0) as u64,
            k: widths.last().copied().unwrap_or(0) as u64,
            units: widths.iter().skip(1).map(|&m| m as u64).sum(),
            params: widths
                .windows(2)
                .map(|w| (w[0] as u64 + 1) * w[1] as u64)
                .sum(),
        }
    }
}

/// The flat parameters of `initial` after checking that it fits `train` (d inputs, k
/// outputs); `name` names the trainer in the error.
pub fn initial_parameters(name: &str, train: &Dataset, initial: &Mlp) -> Result<Vec<f64>> {
    let (d, k) = (train.d(), train.k());
    if initial.input_width() != d || initial.output_width() != k {
        return Err(Error::Shape {
            context: format!("{name} initial model"),
            expected: format!("a network with {d} inputs and {k} outputs"),
            got: format!("widths {:?}", initial.widths),
        });
    }
    let mut theta = vec![0.0; initial.n_params()];
    flatten(initial, &mut theta)?;
    Ok(theta)
}

/// [`fitbench_core::TrainerConfig::architecture`] of a trainer that trains any valid
/// architecture: the requested one.
pub fn any_architecture(requested: &Architecture) -> Result<Architecture> {
    requested.validate()?;
    Ok(requested.clone())
}

/// Writes the parameters of `mlp` into `out` in the [order of this module](self).
///
/// Fails with [`Error::Shape`] unless `out.len() == n_params(mlp)`.
pub fn flatten(mlp: &Mlp, out: &mut [f64]) -> Result<()> {
    check_len(mlp, out.len(), "engine::flatten")?;
    let mut off = 0;
    for (w, b) in mlp.weights.iter().zip(&mlp.biases) {
        for a in 0..w.nrows() {
            for c in 0..w.ncols() {
                out[off] = w[(a, c)];
                off += 1;
            }
        }
        for v in b.iter() {
            out[off] = *v;
            off += 1;
        }
    }
    Ok(())
}

/// Reads the parameters of `mlp` from `params` (the [order of this module](self)); the inverse
/// of [`flatten`].
///
/// Fails with [`Error::Shape`] unless `params.len() == n_params(mlp)`; `mlp` is unchanged then.
pub fn unflatten(params: &[f64], mlp: &mut Mlp) -> Result<()> {
    check_len(mlp, params.len(), "engine::unflatten")?;
    let mut off = 0;
    for (w, b) in mlp.weights.iter_mut().zip(mlp.biases.iter_mut()) {
        for a in 0..w.nrows() {
            for c in 0..w.ncols() {
                w[(a, c)] = params[off];
                off += 1;
            }
        }
        for v in b.iter_mut() {
            *v = params[off];
            off += 1;
        }
    }
    Ok(())
}

/// Flops of one [`loss_and_gradient`] over `n` rows of a network with widths `widths`:
/// [`flops::gradient`] = forward + backward = 6·n·Σₗ mₗ₋₁mₗ.
pub fn gradient_flops(widths: &[usize], n: usize) -> f64 {
    flops::gradient(widths, n)
}

/// Flops of one [`residuals_and_jacobian`] over `n` rows of a network with widths `widths`
/// `[d, …, k]`: the forward pass ([`flops::forward`]), one propagation of the deltas through
/// every layer per output (k × [`flops::forward`]: one delta·W product per layer, counted for
/// the first layer too, as in the convention's backward pass), and one multiplication per
/// Jacobian entry (n·k·p, p = Σₗ (mₗ₋₁ + 1)·mₗ).
pub fn jacobian_flops(widths: &[usize], n: usize) -> f64 {
    let k = widths.last().copied().unwrap_or(0);
    let p: usize = widths.windows(2).map(|w| (w[0] + 1) * w[1]).sum();
    flops::forward(widths, n) + k as f64 * flops::forward(widths, n) + (n * k) as f64 * p as f64
}

/// Checks the shapes of `x`, `y` and `ws` against `mlp`.
fn check_data(
    mlp: &Mlp,
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    ws: &Workspace,
    context: &str,
) -> Result<()> {
    let (n, d, k) = (x.nrows(), mlp.input_width(), mlp.output_width());
    if x.ncols() != d || y.nrows() != n || y.ncols() != k {
        return Err(Error::Shape {
            context: context.into(),
            expected: format!("n×{d} inputs and n×{k} targets with the same n"),
            got: format!(
                "{}×{} inputs and {}×{} targets",
                x.nrows(),
                x.ncols(),
                y.nrows(),
                y.ncols()
            ),
        });
    }
    if ws.widths() != mlp.widths.as_slice() || ws.n_rows() != n {
        return Err(Error::Shape {
            context: format!("{context} workspace"),
            expected: format!("a workspace for widths {:?} and {n} rows", mlp.widths),
            got: format!("widths {:?} and {} rows", ws.widths(), ws.n_rows()),
        });
    }
    Ok(())
}

/// `delta ⊙= σ'(pre)` element-wise. Follows a faer product, so clears the upper vector state
/// first (see [`fitbench_core::simd`]).
fn scale_by_derivative(
    delta: &mut Mat<f64>,
    pre: MatRef<'_, f64>,
    value: MatRef<'_, f64>,
    act: fitbench_core::Activation,
) {
    fitbench_core::simd::clear_upper_state();
    for j in 0..delta.ncols() {
        act.multiply_by_derivative(delta.col_as_slice_mut(j), col(pre, j), col(value, j));
    }
}

use fitbench_core::linalg::col_slice as col;

/// The loss `‖f(X) − Y‖²_F/(n·k) + ½·l2·Σₗ‖Wₗ‖²_F` of `mlp` on `x` (n×d) and `y` (n×k), and
/// its gradient with respect to every parameter, written into `grad` in the
/// [order of this module](self). `ws` must come from [`Workspace::new`] for this network's
/// widths and n rows; after the call it holds the forward pass.
///
/// Uses faer's global parallelism setting. A non-finite loss (a diverging network) is
/// returned as is, not as an error, so a line search can reject the step; the gradient is
/// then not meaningful.
///
/// # Errors
///
/// [`Error::Shape`] for mismatched `x`, `y`, `ws` or `grad`; [`Error::InvalidConfig`] for a
/// negative or non-finite `l2`.
pub fn loss_and_gradient(
    mlp: &Mlp,
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    l2: f64,
    ws: &mut Workspace,
    grad: &mut [f64],
) -> Result<f64> {
    check_data(mlp, x, y, ws, "engine::loss_and_gradient")?;
    check_len(mlp, grad.len(), "engine::loss_and_gradient gradient")?;
    if !(l2.is_finite() && l2 >= 0.0) {
        return Err(Error::config(
            "l2",
            l2,
            "the weight penalty must be finite and ≥ 0",
        ));
    }
    let par = faer::get_global_parallelism();
    mlp.forward_into(x, &mut ws.forward, par)?;
    let n_layers = mlp.n_layers();
    let last = n_layers - 1;
    let loss_data = mse_of(ws.forward.output(), y);

    // δ_L = (2/(n·k))·(A_L − Y) ⊙ σ'(Z_L).
    let scale = 2.0 / (x.nrows() * mlp.output_width()) as f64;
    {
        let out = ws.forward.output();
        let pre = ws.forward.pre_activations(last);
        let act = mlp.activations[last];
        let delta = &mut ws.delta[last];
        fitbench_core::simd::clear_upper_state();
        for j in 0..delta.ncols() {
            let d = delta.col_as_slice_mut(j);
            for (i, v) in d.iter_mut().enumerate() {
                *v = scale * (out[(i, j)] - y[(i, j)]);
            }
            act.multiply_by_derivative(d, col(pre, j), col(out, j));
        }
    }

    let mut penalty = 0.0;
    // Offsets of each layer's block in the flat vector.
    let mut end = grad.len();
    for l in (0..n_layers).rev() {
        let (m_in, m_out) = (mlp.widths[l], mlp.widths[l + 1]);
        let start = end - (m_in + 1) * m_out;
        let (gw, gb) = grad[start..end].split_at_mut(m_in * m_out);
        let input = if l == 0 {
            x
        } else {
            ws.forward.activations(l - 1)
        };
        // ∂L/∂Wₗ = δₗᵀ·Aₗ₋₁ (+ l2·Wₗ), written row-major into the flat vector.
        let mut gw_mat = MatMut::from_row_major_slice_mut(gw, m_out, m_in);
        let w = mlp.weights[l].as_ref();
        matmul(
            gw_mat.rb_mut(),
            Accum::Replace,
            ws.delta[l].transpose(),
            input,
            1.0,
            par,
        );
        if l2 > 0.0 {
            for a in 0..m_out {
                for c in 0..m_in {
                    let wv = w[(a, c)];
                    penalty += wv * wv;
                    gw_mat[(a, c)] += l2 * wv;
                }
            }
        }
        // ∂L/∂bₗ = column sums of δₗ.
        for (a, g) in gb.iter_mut().enumerate() {
            *g = ws.delta[l].col_as_slice(a).iter().sum();
        }
        // δₗ₋₁ = (δₗ·Wₗ) ⊙ σ'(Zₗ₋₁).
        if l > 0 {
            let (below, here) = ws.delta.split_at_mut(l);
            let prev = &mut below[l - 1];
            matmul(prev.as_mut(), Accum::Replace, here[0].as_ref(), w, 1.0, par);
            scale_by_derivative(
                prev,
                ws.forward.pre_activations(l - 1),
                ws.forward.activations(l - 1),
                mlp.activations[l - 1],
            );
        }
        end = start;
    }
    Ok(loss_data + 0.5 * l2 * penalty)
}

/// The residuals `r = f(X) − Y` of `mlp` on `x` (n×d) and `y` (n×k), flattened column-major
/// into `r` (n·k entries, see the [module docs](self)), and their Jacobian with respect to
/// every parameter written into `jac` ((n·k)×p, columns in the [parameter order](self)), for
/// Levenberg–Marquardt. `ws` must come from [`Workspace::new`] for this network's widths and
/// n rows; after the call it holds the forward pass.
///
/// Uses faer's global parallelism setting. Non-finite outputs are written as they are.
///
/// # Errors
///
/// [`Error::Shape`] for mismatched `x`, `y`, `ws`, `r` or `jac`.
pub fn residuals_and_jacobian(
    mlp: &Mlp,
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    ws: &mut Workspace,
    r: &mut [f64],
    mut jac: MatMut<'_, f64>,
) -> Result<()> {
    check_data(mlp, x, y, ws, "engine::residuals_and_jacobian")?;
    let (n, k, p) = (x.nrows(), mlp.output_width(), mlp.n_params());
    if r.len() != n * k || jac.nrows() != n * k || jac.ncols() != p {
        return Err(Error::Shape {
            context: "engine::residuals_and_jacobian".into(),
            expected: format!("{} residuals and a {}×{p} Jacobian", n * k, n * k),
            got: format!(
                "{} residuals and a {}×{} Jacobian",
                r.len(),
                jac.nrows(),
                jac.ncols()
            ),
        });
    }
    let par = faer::get_global_parallelism();
    mlp.forward_into(x, &mut ws.forward, par)?;
    let n_layers = mlp.n_layers();
    let last = n_layers - 1;
    {
        let out = ws.forward.output();
        for j in 0..k {
            for i in 0..n {
                r[j * n + i] = out[(i, j)] - y[(i, j)];
            }
        }
    }

    for j in 0..k {
        // δ_L for residual column j: σ'(Z_L[:, j]) in column j, zero elsewhere.
        {
            let pre = ws.forward.pre_activations(last);
            let act = mlp.activations[last];
            let delta = &mut ws.delta[last];
            delta.fill(0.0);
            fitbench_core::simd::clear_upper_state();
            let value = ws.forward.output();
            let d = delta.col_as_slice_mut(j);
            d.fill(1.0);
            act.multiply_by_derivative(d, col(pre, j), col(value, j));
        }
        let mut end = p;
        for l in (0..n_layers).rev() {
            let (m_in, m_out) = (mlp.widths[l], mlp.widths[l + 1]);
            let start = end - (m_in + 1) * m_out;
            let input = if l == 0 {
                x
            } else {
                ws.forward.activations(l - 1)
            };
            let delta = ws.delta[l].as_ref();
            // ∂r_{ij}/∂Wₗ[a, c] = δₗ[i, a]·Aₗ₋₁[i, c]; ∂r_{ij}/∂bₗ[a] = δₗ[i, a].
            for a in 0..m_out {
                let d = delta.col(a);
                for c in 0..m_in {
                    let xin = input.col(c);
                    let col = jac
                        .rb_mut()
                        .col_mut(start + a * m_in + c)
                        .subrows_mut(j * n, n);
                    for (i, v) in col.iter_mut().enumerate() {
                        *v = d[i] * xin[i];
                    }
                }
                let col = jac
                    .rb_mut()
                    .col_mut(start + m_in * m_out + a)
                    .subrows_mut(j * n, n);
                for (i, v) in col.iter_mut().enumerate() {
                    *v = d[i];
                }
            }
            if l > 0 {
                let (below, here) = ws.delta.split_at_mut(l);
                let prev = &mut below[l - 1];
                matmul(
                    prev.as_mut(),
                    Accum::Replace,
                    here[0].as_ref(),
                    mlp.weights[l].as_ref(),
                    1.0,
                    par,
                );
                scale_by_derivative(
                    prev,
                    ws.forward.pre_activations(l - 1),
                    ws.forward.activations(l - 1),
                    mlp.activations[l - 1],
                );
            }
            end = start;
        }
    }
    Ok(())
}
