//! The one flop-count convention every trainer's [`Trainer::flops_per_step`] follows.
//!
//! Flop counts are *model* flops: the arithmetic of the algorithm's dense linear algebra,
//! counted from the shapes alone (no timing, no hardware counters), so that the "flops to
//! level" metrics of different trainers can be compared.
//!
//! # The convention
//!
//! 1. **A multiply-add counts as 2 flops.** The product of an m×k and a k×n matrix costs
//!    2·m·k·n ([`matmul`]).
//! 2. **Only the matrix products of a network pass are counted**; bias additions, activations
//!    and the loss are not (they are O(n·Σmₗ), a small fraction of O(n·Σmₗ₋₁mₗ)).
//! 3. **Forward pass** of an MLP with widths `[m₀ = d, m₁, …, m_L = k]` over n rows:
//!    F = 2·n·Σₗ mₗ₋₁·mₗ ([`forward`], [`forward_mlp`]).
//! 4. **Backward pass**: 2·F ([`backward`]): per layer one product for the gradient of the
//!    weights and one for the gradient of the layer's input (also counted for the first
//!    layer, where no trainer needs it, to keep the rule simple).
//! 5. **Gradient evaluation** (forward + backward): 3·F = 6·n·Σₗ mₗ₋₁·mₗ ([`gradient`]).
//!
//! Algorithm-specific work is counted with the same rule 1 and the standard dense
//! counts built on it:
//!
//! | operation | flops | function |
//! |---|---|---|
//! | m×k times k×n | 2·m·k·n | [`matmul`] |
//! | one triangle of the Gram matrix AᵀA of an n×p matrix | n·p² | [`gram`] |
//! | Cholesky factorisation of a p×p matrix | p³/3 | [`cholesky`] |
//! | the two triangular solves with a p×p factor, k right-hand sides | 2·p²·k | [`triangular_solves`] |
//! | ridge normal equations, n×p design, k right-hand sides | the four above, AᵀB included | [`normal_equations`] |
//!
//! (A triangle of AᵀA is n·p(p+1)/2 multiply-adds, counted as n·p²; a Cholesky is p³/6
//! multiply-adds; a triangular solve is p²/2 multiply-adds per right-hand side.)
//!
//! All functions return `f64` and are exact for counts below 2⁵³; sums of them are evaluated
//! left to right, so a trainer that adds the same terms in the same order gets the same value
//! bit for bit.
//!
//! [`Trainer::flops_per_step`]: crate::Trainer::flops_per_step

use crate::mlp::Mlp;

/// Σₗ mₗ₋₁·mₗ over consecutive widths `[m₀, m₁, …, m_L]`: the weights of the network, biases
/// excluded (0 for fewer than two widths).
pub fn weight_products(widths: &[usize]) -> f64 {
    widths.windows(2).map(|w| (w[0] * w[1]) as f64).sum()
}

/// Forward pass of an MLP with layer widths `widths` (`[d, h₁, …, k]`) over `n` rows:
/// 2·n·Σₗ mₗ₋₁·mₗ (matrix products only; biases and activations are not counted).
///
/// A two-element slice `&widths[l - 1..=l]` gives the forward pass of layer l alone.
pub fn forward(widths: &[usize], n: usize) -> f64 {
    2.0 * n as f64 * weight_products(widths)
}

/// Backward pass over `n` rows: 2 × [`forward`] (the gradients of the weights and of each
/// layer's input).
pub fn backward(widths: &[usize], n: usize) -> f64 {
    2.0 * forward(widths, n)
}

/// One gradient evaluation (forward and backward pass) over `n` rows: 3 × [`forward`]
/// = 6·n·Σₗ mₗ₋₁·mₗ.
pub fn gradient(widths: &[usize], n: usize) -> f64 {
    3.0 * forward(widths, n)
}

/// [`forward`] for the widths of `mlp`.
pub fn forward_mlp(mlp: &Mlp, n: usize) -> f64 {
    forward(&mlp.widths, n)
}

/// The product of an m×k and a k×n matrix: 2·m·k·n (one multiply-add is 2 flops).
pub fn matmul(m: usize, k: usize, n: usize) -> f64 {
    2.0 * m as f64 * k as f64 * n as f64
}

/// One triangle of the Gram matrix AᵀA of an n×p matrix A: n·p² (n·p(p+1)/2 multiply-adds).
pub fn gram(n: usize, p: usize) -> f64 {
    let p = p as f64;
    n as f64 * p * p
}

/// Cholesky factorisation of a p×p matrix: p³/3.
pub fn cholesky(p: usize) -> f64 {
    (p as f64).powi(3) / 3.0
}

/// The forward and back substitution with a p×p triangular factor for k right-hand sides:
/// 2·p²·k.
pub fn triangular_solves(p: usize, k: usize) -> f64 {
    let p = p as f64;
    2.0 * p * p * k as f64
}

/// A ridge solve by the normal equations (what
/// [`NormalEquations::solve`](crate::linalg::NormalEquations::solve) does) for an n×p design
/// and k right-hand sides: [`gram`] + [`matmul`] for AᵀB + [`cholesky`] +
/// [`triangular_solves`] = n·p² + 2·n·p·k + p³/3 + 2·p²·k.
pub fn normal_equations(n: usize, p: usize, k: usize) -> f64 {
    gram(n, p) + matmul(p, n, k) + cholesky(p) + triangular_solves(p, k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Activation, Architecture};

    #[test]
    fn counts_follow_the_convention() {
        // [3, 4, 2]: Σ mₗ₋₁mₗ = 12 + 8 = 20.
        let widths = [3, 4, 2];
        assert_eq!(weight_products(&widths), 20.0);
        assert_eq!(forward(&widths, 10), 2.0 * 10.0 * 20.0);
        assert_eq!(backward(&widths, 10), 800.0);
        assert_eq!(gradient(&widths, 10), 6.0 * 10.0 * 20.0);
        assert_eq!(
            gradient(&widths, 10),
            forward(&widths, 10) + backward(&widths, 10)
        );
        // One layer at a time adds up to the whole network.
        assert_eq!(
            forward(&widths[..2], 10) + forward(&widths[1..], 10),
            forward(&widths, 10)
        );
        assert_eq!(forward(&[5], 10), 0.0);
        let net = Mlp::init(&Architecture::new(vec![4], Activation::Tanh), 3, 2, 0).unwrap();
        assert_eq!(forward_mlp(&net, 10), forward(&widths, 10));
    }

    #[test]
    fn dense_kernels_count_a_multiply_add_as_two_flops() {
        assert_eq!(matmul(2, 3, 4), 48.0);
        // The forward pass of one layer is the product of the n×m₀ input and the m₀×m₁ Wᵀ.
        assert_eq!(forward(&[3, 4], 10), matmul(10, 3, 4));
        assert_eq!(gram(10, 3), 90.0);
        assert_eq!(cholesky(3), 9.0);
        assert_eq!(triangular_solves(3, 2), 36.0);
        assert_eq!(normal_equations(10, 3, 2), 90.0 + 120.0 + 9.0 + 36.0);
    }
}
