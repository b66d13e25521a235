//! Deterministic convergence metrics: numbers about a run that do not depend on timing noise.
//!
//! Every run of a report gets, per relative-suboptimality level, the first *scheduled*
//! iteration (and the model flops, where the trainer counts them) at which it got there, and
//! its train MSE after fixed iteration budgets. Only points of the iteration schedule count
//! (time-triggered points are `off_schedule`), so the same seed and thread count give the
//! same metrics, whatever the machine load.
//!
//! **Relative suboptimality** (our definition, recorded in every report):
//!
//! ```text
//! r(L) = (L − L*) / (L₀ − L*)
//! ```
//!
//! where `L` is the train MSE, `L*` the best known train MSE on that split and `L₀` the train
//! MSE of predicting the training mean (about 1 in standardised units). `r` is the fraction of
//! the explainable loss not yet explained: it is well defined when `L* = 0`, where the textbook
//! `(L − L*)/L*` is not. `L*` is, in order of preference:
//!
//! - [`ReferenceKind::Ols`] for runs of a linear model (no hidden layer, or identity
//!   activations): the exact least-squares optimum on that split;
//! - [`ReferenceKind::Zero`] on a noise-free planted teacher (`teacher:…,noise=0`): zero is
//!   the exact infimum of the MSE;
//! - [`ReferenceKind::BestObserved`] otherwise: the lowest scheduled train MSE any run of the
//!   report reached on that split. It moves when a trainer improves; `fitbench check` notes
//!   such moves.
//!
//! A run ended by the time budget is **censored**: what it did not reach before its last
//! scheduled iteration (`horizon`) is unknown, not "never".

pub use crate::schema::{
    BudgetLoss, ConvergenceMetrics, Reference, ReferenceKind, SuboptimalityHit,
};
use crate::schema::{Report, RunRecord, Status};
use fitbench_core::{Activation, Architecture};

/// Whether an architecture is a linear (affine) model.
pub fn is_linear(arch: &Architecture) -> bool {
    arch.hidden.is_empty()
        || (arch.activation == Activation::Identity && arch.output == Activation::Identity)
}

/// Computes the metrics of `run` against `reference`.
pub fn compute(
    run: &RunRecord,
    reference: Reference,
    levels: &[f64],
    budgets: &[usize],
) -> ConvergenceMetrics {
    let scheduled: Vec<_> = run.curve.iter().filter(|p| !p.off_schedule).collect();
    let horizon = scheduled.last().map_or(0, |p| p.iter);
    let targets = levels
        .iter()
        .map(|&level| {
            let hit = scheduled.iter().find(|p| {
                p.train_mse.is_finite() && reference.relative_suboptimality(p.train_mse) <= level
            });
            SuboptimalityHit {
                level,
                iter: hit.map(|p| p.iter),
                flops: hit.and_then(|p| run.flops_per_step.map(|f| f * p.iter as f64)),
                time_s: hit.map(|p| p.time_s),
            }
        })
        .collect();
    let budgets = budgets
        .iter()
        .map(|&b| {
            let at = scheduled.iter().find(|p| p.iter == b).map(|p| p.train_mse);
            let frozen = (run.status == Status::Converged && horizon < b)
                .then(|| scheduled.last().map(|p| p.train_mse))
                .flatten();
            BudgetLoss {
                iter: b,
                train_mse: at.or(frozen),
            }
        })
        .collect();
    ConvergenceMetrics {
        reference,
        horizon,
        censored: run.status == Status::Timeout,
        targets,
        budgets,
    }
}

/// Lowest scheduled, finite train MSE of a run.
fn best_scheduled(run: &RunRecord) -> Option<f64> {
    run.curve
        .iter()
        .filter(|p| !p.off_schedule && p.train_mse.is_finite())
        .map(|p| p.train_mse)
        .min_by(f64::total_cmp)
}

/// The best known loss of one split, whatever the model class: zero on a noise-free planted
/// teacher, else the lowest scheduled train MSE of any run of the report on that split. Used
/// for every run of a non-linear model, and for cross-trainer views (performance profiles).
pub fn split_reference(report: &Report, dataset: &str, repetition: usize) -> Option<Reference> {
    let info = report.datasets.iter().find(|d| d.name == dataset)?;
    let linear = info
        .linear_reference
        .iter()
        .find(|r| r.repetition == repetition)?;
    let (kind, train_mse) = if info.noise_free_teacher {
        (ReferenceKind::Zero, 0.0)
    } else {
        let best = report
            .runs
            .iter()
            .filter(|r| r.dataset == dataset && r.repetition == repetition)
            .filter_map(best_scheduled)
            .min_by(f64::total_cmp)?;
        (ReferenceKind::BestObserved, best)
    };
    Some(Reference {
        kind,
        train_mse,
        null_train_mse: linear.null_train_mse,
    })
}

/// The reference of one run: [`ReferenceKind::Ols`] for a linear model, else
/// [`split_reference`].
pub fn run_reference(report: &Report, run: &RunRecord) -> Option<Reference> {
    if run.architecture.as_ref().is_some_and(is_linear) {
        let info = report.datasets.iter().find(|d| d.name == run.dataset)?;
        let linear = info
            .linear_reference
            .iter()
            .find(|r| r.repetition == run.repetition)?;
        return Some(Reference {
            kind: ReferenceKind::Ols,
            train_mse: linear.train_mse,
            null_train_mse: linear.null_train_mse,
        });
    }
    split_reference(report, &run.dataset, run.repetition)
}

/// Computes the metrics of a report written before they existed (no run has any); returns
/// whether it did. Every point of such a report counts as scheduled.
pub fn annotate_if_missing(report: &mut Report) -> bool {
    let missing = !report.runs.is_empty() && report.runs.iter().all(|r| r.metrics.is_none());
    if missing {
        annotate(report);
    }
    missing
}

/// Fills `metrics` of every run of `report` (references per dataset and repetition).
pub fn annotate(report: &mut Report) {
    let levels = report.config.suboptimality_targets.clone();
    let budgets = report.config.iteration_budgets.clone();
    let references: Vec<Option<Reference>> = report
        .runs
        .iter()
        .map(|r| run_reference(report, r))
        .collect();
    for (run, reference) in report.runs.iter_mut().zip(references) {
        run.metrics = reference.map(|r| compute(run, r, &levels, &budgets));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{CurvePoint, RunSeeds};

    fn point(iter: usize, train_mse: f64, off_schedule: bool) -> CurvePoint {
        CurvePoint {
            iter,
            time_s: iter as f64,
            train_mse,
            test_mse: train_mse,
            best_train_mse: train_mse,
            current_train_mse: None,
            current_test_mse: None,
            off_schedule,
        }
    }

    fn run(curve: Vec<CurvePoint>, status: Status) -> RunRecord {
        let seeds = RunSeeds {
            split: 0,
            init: 0,
            trainer: 0,
        };
        let mut r = RunRecord::pending("d", "t", "t", serde_json::Value::Null, 0, seeds);
        r.curve = curve;
        r.status = status;
        r.flops_per_step = Some(10.0);
        r
    }

    const REF: Reference = Reference {
        kind: ReferenceKind::Zero,
        train_mse: 0.0,
        null_train_mse: 1.0,
    };

    #[test]
    fn levels_are_hit_at_scheduled_points_only() {
        let r = run(
            vec![
                point(0, 1.0, false),
                point(5, 0.05, true), // time-triggered: ignored
                point(8, 0.05, false),
                point(10, 0.009, false),
            ],
            Status::MaxIters,
        );
        let m = compute(&r, REF, &[0.1, 0.01, 0.001], &[10, 20]);
        assert_eq!(m.targets[0].iter, Some(8));
        assert_eq!(m.targets[0].flops, Some(80.0));
        assert_eq!(m.targets[1].iter, Some(10));
        assert_eq!(m.targets[2].iter, None);
        assert_eq!(m.budgets[0].train_mse, Some(0.009));
        assert_eq!(m.budgets[1].train_mse, None);
        assert_eq!((m.horizon, m.censored), (10, false));
    }

    #[test]
    fn converged_runs_keep_their_final_loss_and_timeouts_are_censored() {
        let curve = vec![point(0, 1.0, false), point(3, 0.5, false)];
        let m = compute(&run(curve.clone(), Status::Converged), REF, &[], &[10]);
        assert_eq!(m.budgets[0].train_mse, Some(0.5));
        let m = compute(&run(curve, Status::Timeout), REF, &[], &[10]);
        assert_eq!(m.budgets[0].train_mse, None);
        assert!(m.censored);
    }

    #[test]
    fn relative_suboptimality_is_the_unexplained_fraction() {
        let r = Reference {
            kind: ReferenceKind::Ols,
            train_mse: 0.2,
            null_train_mse: 1.0,
        };
        const TOL: f64 = 1e-15;
        assert!((r.relative_suboptimality(0.2)).abs() < TOL);
        assert!((r.relative_suboptimality(1.0) - 1.0).abs() < TOL);
        assert!((r.relative_suboptimality(0.28) - 0.1).abs() < TOL);
    }
}
