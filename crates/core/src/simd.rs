//! Clearing the upper halves of the x86 vector registers after faer's kernels.
//!
//! faer's x86 matrix multiplication (`private-gemm-x86`, inline assembly on `zmm` registers)
//! returns without `vzeroupper`. On Intel cores (measured on a Xeon with AVX-512) the dirty
//! upper state then makes every following legacy-SSE instruction pay a merge penalty: glibc's
//! scalar `tanh` ran at 160 ns per call instead of 7 ns right after a faer matmul (a 25×
//! slowdown of every activation loop that follows one). Code that maps a libm function over a
//! faer result calls [`clear_upper_state`] first.
//!
//! The activation loops themselves no longer need it: they run [`crate::vmath`]'s kernels
//! (no libm) in loops compiled for AVX2 by runtime dispatch, whose VEX-encoded instructions
//! pay no transition penalty. The calls stay before them because plain scalar code compiled
//! for the baseline x86-64 (legacy SSE: the loss sums, the mixing in `lsq`, the gradient
//! reductions) follows in the same functions, and on CPUs without AVX2 the kernels
//! themselves run as legacy SSE. It changes no value: `vzeroupper` only zeroes
//! bits 128 and up, which scalar f64 code never reads, and the compiler models it as such.
//!
//! It also runs fitbench's own element-wise kernels ([`crate::vmath`]) compiled for AVX-512
//! ([`run_avx512`]) where the CPU has it. `pulp`, which dispatches them otherwise, reaches
//! AVX-512 only through its `x86-v4` feature, and that feature also switches faer's own
//! kernels (reductions, triangular solves) to AVX-512: their sums then round differently, which
//! moved `lsq`'s deterministic metrics on the regression gate. Here only our kernels change
//! instruction set, and they give the same bits on every path (no fused multiply-add; tested).
//!
//! This module is the workspace's only `unsafe` code.

#![allow(unsafe_code)]

thread_local! {
    static GUARD_CALLS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Issues `vzeroupper` when the CPU has AVX; does nothing elsewhere. Costs about a cycle.
///
/// Every call is counted per thread (see [`guard_calls`]).
pub fn clear_upper_state() {
    GUARD_CALLS.with(|c| c.set(c.get().wrapping_add(1)));
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: `zeroupper` only requires AVX, which was detected at run time just above.
            unsafe { zeroupper() }
        }
    }
}

/// How many times [`clear_upper_state`] has run on the calling thread: lets a test check that
/// a kernel mapping libm over a faer result clears the state first (the values cannot tell).
#[doc(hidden)]
pub fn guard_calls() -> u64 {
    GUARD_CALLS.with(std::cell::Cell::get)
}

/// Whether the CPU has x86-64-v4's AVX-512 subsets (F, BW, CD, DQ, VL) and the v3 features
/// below them; detected once per process.
pub fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static V4: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *V4.get_or_init(|| {
            use std::arch::is_x86_feature_detected as has;
            has!("avx512f")
                && has!("avx512bw")
                && has!("avx512cd")
                && has!("avx512dq")
                && has!("avx512vl")
                && has!("avx2")
                && has!("fma")
                && has!("bmi1")
                && has!("bmi2")
                && has!("lzcnt")
                && has!("popcnt")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Runs `op` compiled for AVX-512 (x86-64-v4) if [`has_avx512`], else as it is. `op` must be a
/// closure marked `#[inline(always)]` whose body calls only `#[inline(always)]` code, so that
/// it is compiled inside the AVX-512 function; the values it computes must not depend on the
/// instruction set (as [`crate::vmath`]'s kernels do not).
#[inline(always)]
pub fn run_avx512(op: impl FnOnce()) {
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: `v4` requires exactly the features `has_avx512` detected at run time.
        unsafe { v4(op) };
        return;
    }
    op();
}

#[cfg(target_arch = "x86_64")]
#[target_feature(
    enable = "avx512f,avx512bw,avx512cd,avx512dq,avx512vl,avx2,avx,fma,bmi1,bmi2,lzcnt,popcnt"
)]
#[inline]
fn v4(op: impl FnOnce()) {
    op();
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
    fn every_call_is_counted_on_its_own_thread() {
        let before = guard_calls();
        clear_upper_state();
        clear_upper_state();
        assert_eq!(guard_calls() - before, 2);
        let other = std::thread::spawn(|| {
            clear_upper_state();
            guard_calls()
        })
        .join()
        .unwrap();
        assert_eq!(other, 1, "a fresh thread counts its own calls");
        assert_eq!(guard_calls() - before, 2);
    }

    /// XINUSE (`xgetbv` with ECX = 1), when the CPU reports it: bit 2 is set while the upper
    /// halves of ymm0–15 are in use, bit 6 while those of zmm0–15 are.
    #[cfg(target_arch = "x86_64")]
    fn upper_state_in_use() -> Option<bool> {
        const YMM_HI128: u64 = 1 << 2;
        const ZMM_HI256: u64 = 1 << 6;
        // CPUID leaf 0xD, sub-leaf 1, EAX bit 2: XGETBV with ECX = 1 is supported.
        let leaf = std::arch::x86_64::__cpuid_count(0xD, 1);
        if !std::arch::is_x86_feature_detected!("xsave") || leaf.eax & (1 << 2) == 0 {
            return None;
        }
        // SAFETY: XSAVE (hence XGETBV) was detected above, and ECX = 1 is supported per CPUID.
        let xinuse = unsafe { xinuse() };
        Some(xinuse & (YMM_HI128 | ZMM_HI256) != 0)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "xsave")]
    fn xinuse() -> u64 {
        // SAFETY: the caller checked that XGETBV with ECX = 1 is supported.
        unsafe { std::arch::x86_64::_xgetbv(1) }
    }

    /// Where the CPU reports it, the upper state faer's matmul leaves in use is clean after
    /// [`clear_upper_state`]. (The values computed afterwards cannot tell: only timing can.)
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn clearing_leaves_the_upper_state_unused() {
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
        let Some(dirty) = upper_state_in_use() else {
            eprintln!("skipped: this CPU does not report XINUSE");
            return;
        };
        if !dirty {
            eprintln!("note: faer's matmul left the upper state clean on this CPU");
        }
        clear_upper_state();
        assert_eq!(
            upper_state_in_use(),
            Some(!std::arch::is_x86_feature_detected!("avx") && dirty),
            "vzeroupper must leave the upper halves of ymm/zmm0–15 unused"
        );
        std::hint::black_box(&p);
    }
}
