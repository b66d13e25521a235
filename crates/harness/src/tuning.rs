//! Fair tuning of the gradient baselines: a short, log-spaced learning-rate grid per dataset,
//! scored on a validation split carved from the training split (the test split is never
//! used), before the main comparison runs with the pick.
//!
//! Every trial's training time (its timed `step` calls, on the harness's clock) and the time
//! at which its train MSE on the fitting rows first met each configured target are recorded,
//! so that reports can charge the search to the trainer that needed it
//! ([`fitbench_report::charge`]).

use crate::registry::TrainerSpec;
use fitbench_core::{Architecture, Clock, Dataset, Mlp, Split, rng};
use fitbench_report::config::{LrGrid, RunConfig, TuningRecord};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// What is searched for `spec`: its learning rate, or the option of an
/// [`fitbench_report::config::OptionGrid`] naming its trainer (unless its label sets that
/// option); `None` when nothing is.
pub fn searched<'a>(
    spec: &TrainerSpec,
    settings: &'a LrGrid,
) -> Option<(&'a str, &'a [f64], usize)> {
    if spec.entry.capabilities.learning_rate {
        return Some(("lr", &settings.grid, settings.epochs));
    }
    settings
        .options
        .iter()
        .find(|g| g.trainer == spec.entry.name && !spec.options.contains(&g.option))
        .map(|g| {
            (
                g.option.as_str(),
                g.grid.as_slice(),
                g.epochs.unwrap_or(settings.epochs),
            )
        })
}

/// Runs the grid for one trainer on one dataset. Returns `None` for trainers with nothing
/// to search ([`searched`]). Uses the training split of repetition 0 (the test rows are never seen),
/// a seeded validation carve-out, and the shared initial weights of a dedicated seed.
/// `clock` times each trial's steps (only the steps: building a candidate, evaluating the
/// fitting and validation MSE are not timed), `targets` are the train-MSE targets whose
/// first hits each trial records.
#[allow(clippy::too_many_arguments)]
pub fn tune(
    spec: &TrainerSpec,
    label: &str,
    dataset: &str,
    data: &Dataset,
    arch: &Architecture,
    c: &RunConfig,
    settings: &LrGrid,
    targets: &[f64],
    clock: &mut dyn Clock,
) -> Option<(TrainerSpec, TuningRecord)> {
    let (option, values, epochs) = searched(spec, settings)?;
    let (split_seed, _) = crate::seeds::split_and_init_seeds(c.base_seed, dataset, 0);
    // A CSV file's stem does not enter the seeds (`crate::seeds::seed_key`).
    let key = crate::seeds::seed_key(dataset);
    let mut record = TuningRecord {
        dataset: dataset.into(),
        trainer: label.into(),
        settings: settings.clone(),
        scores: vec![None; values.len()],
        picked_lr: None,
        option: option.to_string(),
        values: values.to_vec(),
        n_fit: 0,
        n_validation: 0,
        trial_s: vec![None; values.len()],
        trial_target_s: vec![vec![None; targets.len()]; values.len()],
        trial_envelope: vec![Vec::new(); values.len()],
    };
    let Ok(split) = Split::new(data, c.test_fraction, split_seed) else {
        return Some((spec.clone(), record));
    };
    let train = &split.train;
    let n_val = ((train.n() as f64 * settings.validation_fraction).round() as usize)
        .clamp(1, train.n().saturating_sub(2).max(1));
    let perm = rng::permutation(
        &mut rng::rng(rng::derive_seed(c.base_seed, &[&key, "tune-split"])),
        train.n(),
    );
    let (val_rows, fit_rows) = perm.split_at(n_val);
    let (fit, val) = (train.select_rows(fit_rows), train.select_rows(val_rows));
    record.n_fit = fit.n();
    record.n_validation = val.n();
    let Ok(arch) = spec.config().architecture(arch) else {
        return Some((spec.clone(), record));
    };
    let Ok(initial) = Mlp::init(
        &arch,
        fit.d(),
        fit.k(),
        rng::derive_seed(c.base_seed, &[&key, "tune-init"]),
    ) else {
        return Some((spec.clone(), record));
    };
    let seed = rng::derive_seed(c.base_seed, &[&key, label, "tune"]);
    for (i, &value) in values.iter().enumerate() {
        let Ok(candidate) = spec.with_option(option, value) else {
            continue;
        };
        let mut trial_s = 0.0;
        let mut hits: Vec<Option<f64>> = vec![None; targets.len()];
        let mut envelope = Envelope::default();
        let score = catch_unwind(AssertUnwindSafe(|| -> Option<f64> {
            let mut t = candidate.config().init(&fit, initial.clone(), seed).ok()?;
            for _ in 0..epochs {
                let s0 = clock.now();
                let stepped = t.step();
                trial_s += clock.now() - s0;
                stepped.ok()?;
                let mse = t.params().mse(fit.x.as_ref(), fit.y.as_ref()).ok()?;
                envelope.push(trial_s, mse);
                for (hit, &target) in hits.iter_mut().zip(targets) {
                    if hit.is_none() && mse <= target {
                        *hit = Some(trial_s);
                    }
                }
            }
            let mse = t.params().mse(val.x.as_ref(), val.y.as_ref()).ok()?;
            mse.is_finite().then_some(mse)
        }))
        .ok()
        .flatten();
        record.scores[i] = score;
        record.trial_s[i] = Some(trial_s);
        record.trial_target_s[i] = hits;
        record.trial_envelope[i] = envelope.finish();
    }
    let best = record
        .scores
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.map(|s| (i, s)))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    match best {
        Some((i, _)) => {
            record.picked_lr = Some(values[i]);
            Some((spec.with_option(option, values[i]).ok()?, record))
        }
        None => Some((spec.clone(), record)),
    }
}

/// The descent of a trial's train MSE, thinned ([`TuningRecord::trial_envelope`]).
#[derive(Default)]
struct Envelope {
    points: Vec<[f64; 2]>,
    /// The latest new minimum not kept (kept at the end if it is the last).
    pending: Option<[f64; 2]>,
}

impl Envelope {
    fn push(&mut self, time_s: f64, mse: f64) {
        if !mse.is_finite() {
            return;
        }
        let low = self
            .points
            .last()
            .map_or(f64::INFINITY, |p| p[1])
            .min(self.pending.map_or(f64::INFINITY, |p| p[1]));
        if mse >= low {
            return;
        }
        match self.points.last() {
            Some(kept) if mse >= kept[1] * (1.0 - fitbench_report::charge::ENVELOPE_REL) => {
                self.pending = Some([time_s, mse]);
            }
            _ => {
                self.points.push([time_s, mse]);
                self.pending = None;
            }
        }
    }

    fn finish(mut self) -> Vec<[f64; 2]> {
        self.points.extend(self.pending);
        self.points
    }
}
