//! The refusal of a run whose single step could never fit its time budget, decided before
//! `init` from the trainer's own estimate ([`fitbench_core::TrainerConfig::step_cost`]).
//!
//! The harness stops a run between steps when its budget is spent, and a step in progress
//! when it overruns the budget by [`crate::runner::STEP_OVERRUN_GRACE_S`] (for trainers that
//! poll their cancel token). A step that would take minutes is still better not started:
//! its buffers alone can take gigabytes (`lm`'s JᵀJ and its Cholesky factor are 2·p²·8
//! bytes for p parameters) and the run could not record a single iteration. So a run is
//! refused when one step, at an optimistic flop rate, would take more than
//! [`REFUSAL_FACTOR`] times the budget. The rate is deliberately high
//! ([`OPTIMISTIC_GFLOPS_PER_THREAD`] per faer thread, near the peak of one AVX-512 core), so
//! that a refused step would surely have been far too slow; a step that only might be too
//! slow is left to the deadline.

use fitbench_core::StepCost;

/// A run is refused when one step would take more than this many times the time budget.
pub const REFUSAL_FACTOR: f64 = 10.0;

/// The flop rate assumed per thread of faer's global parallelism, in GFLOP/s: about the
/// double-precision peak of one AVX-512 core, above what the dense kernels reach (the
/// calibration kernel measures about 57 on the reference machine).
pub const OPTIMISTIC_GFLOPS_PER_THREAD: f64 = 100.0;

/// Threads faer's global parallelism uses (at least 1).
pub fn threads() -> usize {
    faer::get_global_parallelism().degree().max(1)
}

/// Why a run of `trainer` on `dataset` is refused before `init`: one step of `cost` would
/// take more than [`REFUSAL_FACTOR`] × `budget_s` at [`OPTIMISTIC_GFLOPS_PER_THREAD`] per
/// thread; `None` when it may fit.
pub fn step_cost_refusal(
    trainer: &str,
    dataset: &str,
    cost: &StepCost,
    budget_s: f64,
) -> Option<String> {
    let threads = threads();
    let gflops = OPTIMISTIC_GFLOPS_PER_THREAD * threads as f64;
    let seconds = cost.flops / (gflops * 1e9);
    if seconds.partial_cmp(&(REFUSAL_FACTOR * budget_s)) != Some(std::cmp::Ordering::Greater) {
        return None;
    }
    Some(format!(
        "refused before init: one step of trainer {trainer} on dataset {dataset} needs about \
         {:.3e} flops ({}); even at an optimistic {gflops:.0} GFLOP/s ({threads} thread(s) × \
         {OPTIMISTIC_GFLOPS_PER_THREAD:.0}) that is at least {seconds:.1} s, more than \
         {REFUSAL_FACTOR:.0}× the time budget of {budget_s} s; use a smaller network \
         (--hidden), fewer rows, or a larger --budget-s",
        cost.flops, cost.detail
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_far_beyond_the_budget_is_refused_with_its_numbers() {
        let cost = StepCost {
            flops: 2e12,
            detail: "p = 18001 parameters".into(),
        };
        let rate = OPTIMISTIC_GFLOPS_PER_THREAD * 1e9 * threads() as f64;
        let budget = cost.flops / rate / REFUSAL_FACTOR;
        assert_eq!(step_cost_refusal("lm", "d", &cost, budget * 1.01), None);
        let msg = step_cost_refusal("lm", "diabetes", &cost, budget * 0.99).unwrap();
        for part in [
            "trainer lm",
            "diabetes",
            "2.000e12 flops",
            "p = 18001",
            "--hidden",
            "--budget-s",
        ] {
            assert!(msg.contains(part), "{part}: {msg}");
        }
        let free = StepCost {
            flops: 0.0,
            detail: String::new(),
        };
        assert_eq!(step_cost_refusal("lm", "d", &free, 0.0), None);
    }
}
