//! # fitbench-analytic
//!
//! The analytic two-layer ReLU solver: a **reconstruction** of Barbu (2023), "Training a Two
//! Layer ReLU Network Analytically" (arXiv 2304.02972; Sensors 23(8):4072), from its abstract
//! ("alternatively finds the critical points of the loss function analytically for one layer
//! while keeping the other layer and the neuron activation pattern fixed"). The safeguard,
//! the ridge λ, the per-neuron variant and its threshold are ours; each is configurable and
//! recorded in every report with `"reconstruction": true`.
//!
//! Model: f(x) = Σⱼ βⱼ φ(wⱼᵀx̃) + β₀ with x̃ = [x; 1] and φ(z) = max(z, αz) (α = 0: ReLU).
//! One `step` is one alternation:
//! 1. output layer: β = (HᵀH + λI)⁻¹Hᵀy with H = [φ(X̃Wᵀ), 1];
//! 2. hidden layer with β and the pattern D fixed (Dᵢⱼ = 1 if wⱼᵀx̃ᵢ > 0 else α): the output
//!    is linear in vec(W), so W_LS solves regularised normal equations of size h(d+1) whose
//!    Gram block (k, j) is βⱼβₖ Σᵢ DᵢⱼDᵢₖ x̃ᵢx̃ᵢᵀ. With T the matrix of the distinct input
//!    products x̃ᵢ꜀x̃ᵢ꜀' (q = d + 1, q(q+1)/2 columns; computed per block of `row_block` rows),
//!    the lower block column j is a gemm [Dⱼ ⊙ Dₖ]ₖ≥ⱼᵀ T per row block (`gram = dense`): both symmetries are used (k ≥ j
//!    and c ≤ c') and the n × h(d+1) design matrix is never formed. From h = 16 units
//!    (`gram = auto`, or `pattern`) the zeros of the pattern are skipped instead: block (k, j)
//!    sums Tᵢ over the samples where both units are active, four rows at a time through a table
//!    of their 16 subset sums (see `pattern.rs`; leaky ReLU reduces to this case), with no
//!    multiplication at all; both give the same matrix up to the order of summation;
//! 3. safeguard: W ← W + s(W_LS − W) for s = 1, ½, ¼, … accepting the first s whose true loss
//!    (pattern recomputed) is not above the loss after step 1 (else W is kept), then β is
//!    refitted; fixed damping η and no safeguard are options.
//!
//! Above `auto_threshold` unknowns (h(d+1)) the hidden layer is solved unit by unit instead
//! (block coordinate descent, each unit safeguarded the same way).
//!
//! ```
//! use fitbench_core::{synthetic, Activation, Architecture, Mlp, Split, TrainerConfig};
//! use fitbench_analytic::AnalyticConfig;
//!
//! let split = Split::new(&synthetic::friedman1(300, 10, 0.1, 1)?, 0.2, 0)?;
//! let config = AnalyticConfig::default();
//! let arch = config.architecture(&Architecture::new(vec![16], Activation::Relu))?;
//! let initial = Mlp::init(&arch, 10, 1, 0)?;
//! let before = initial.mse(split.train.x.as_ref(), split.train.y.as_ref())?;
//! let mut t = config.init(&split.train, initial, 0)?;
//! for _ in 0..10 {
//!     t.step()?;
//! }
//! assert!(t.params().mse(split.train.x.as_ref(), split.train.y.as_ref())? < before);
//! # Ok::<(), fitbench_core::Error>(())
//! ```

#![deny(missing_docs)]

mod pattern;
pub mod solver;

pub use solver::{
    ANALYTIC, Analytic, AnalyticConfig, GramMethod, HiddenSolve, PATTERN_MIN_UNITS, Safeguard,
};

use fitbench_core::registry::TrainerEntry;

/// The trainers of this crate, for the harness's registry.
pub const TRAINERS: &[TrainerEntry] = &[ANALYTIC];
