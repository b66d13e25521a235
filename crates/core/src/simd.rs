//! Clearing the upper halves of the x86 vector registers after faer's kernels.
//!
//! faer's x86 matrix multiplication (`private-gemm-x86`, inline assembly on `zmm` registers)
//! returns without `vzeroupper`. On Intel cores (measured on a Xeon with AVX-512) the dirty
//! upper state then makes every following legacy-SSE instruction pay a merge penalty: glibc's
//! scalar `tanh` ran at 160 ns per call instead of 7 ns right after a faer matmul (a 25×
//! slowdown of every activation loop that follows one). Code that maps a libm function over a
//! faer result calls [`clear_upper_state`] first. It changes no value: `vzeroupper` only zeroes
//! bits 128 and up, which scalar f64 code never reads, and the compiler models it as such.
//!
//! This module is the workspace's only `unsafe` code.

#![allow(unsafe_code)]

/// Issues `vzeroupper` when the CPU has AVX; does nothing elsewhere. Costs about a cycle.
pub fn clear_upper_state() {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: `zeroupper` only requires AVX, which was detected at run time just above.
            unsafe { zeroupper() }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
fn zeroupper() {
    std::arch::x86_64::_mm256_zeroupper();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clearing_the_upper_state_changes_no_value() {
        let a = faer::Mat::<f64>::from_fn(64, 64, |i, j| (i as f64 - j as f64 * 0.5).sin());
        let mut p = faer::Mat::<f64>::zeros(64, 64);
        faer::linalg::matmul::matmul(
            p.as_mut(),
            faer::Accum::Replace,
            a.as_ref(),
            a.as_ref(),
            1.0,
            faer::Par::Seq,
        );
        let before: Vec<f64> = (0..64).map(|i| p[(i, i)].tanh()).collect();
        clear_upper_state();
        let after: Vec<f64> = (0..64).map(|i| p[(i, i)].tanh()).collect();
        assert_eq!(
            before.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            after.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }
}
