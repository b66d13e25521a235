//! Cooperative cancellation of a step in progress.
//!
//! The harness checks its stop rules (the time budget, an interrupt by a signal) only between
//! steps, and a step of a trainer with a large system (a Levenberg–Marquardt step on a wide
//! network, a least-squares refit of a wide layer) can take minutes. A [`CancelToken`] lets
//! such a step end early: the harness hands one to every trainer through
//! [`Trainer::set_cancel`](crate::Trainer::set_cancel) before the first step and sets its
//! deadline before every step; the trainer's long loops call [`CancelToken::check`] every
//! block of work (a Cholesky panel, a block of rows, a line-search evaluation, a mini-batch)
//! and return its [`Error::Cancelled`] at once. The step is then discarded: the trainer's
//! parameters stay those from before it, and the harness ends the run.
//!
//! A token holds two things:
//!
//! - the **interrupt flag** the harness's signal handler sets (shared, read with a relaxed
//!   load);
//! - an optional **deadline**, a [`std::time::Instant`]. The harness's clock is monotonic
//!   wall time, so an instant on the same timeline is a faithful deadline for cancellation;
//!   this is the one place outside the harness where time is read (to decide whether to stop,
//!   never to measure), and only when a deadline is set. A token without a deadline never
//!   reads the clock.
//!
//! Checking costs a relaxed atomic load and, with a deadline, one `Instant::now()` (tens of
//! nanoseconds): poll per block of work, not per element. The default token
//! ([`CancelToken::never`]) is never cancelled and costs one branch.

pub use crate::error::Cancelled;
use crate::error::{Error, Result};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// No deadline, in [`Shared::deadline_ns`]; no countdown, in [`Shared::polls_left`].
const NO_DEADLINE: u64 = u64::MAX;

#[derive(Debug)]
struct Shared {
    interrupt: Arc<AtomicBool>,
    /// The instant deadlines are counted from.
    origin: Instant,
    /// Nanoseconds after `origin`, or [`NO_DEADLINE`].
    deadline_ns: AtomicU64,
    /// Checks left before the token cancels with `countdown_reason` ([`NO_DEADLINE`]: none).
    polls_left: AtomicU64,
    countdown_reason: Cancelled,
}

/// A cheap-to-clone handle that says whether the step in progress should stop (see the
/// [module docs](self)). Clones share their state: a deadline set on one is seen by all.
#[derive(Clone, Debug, Default)]
pub struct CancelToken {
    shared: Option<Arc<Shared>>,
}

impl CancelToken {
    /// A token that is never cancelled (the default; what a trainer holds until the harness
    /// gives it another).
    pub fn never() -> Self {
        Self::default()
    }

    /// A token cancelled when `interrupt` is set; no deadline until
    /// [`CancelToken::set_deadline`].
    pub fn new(interrupt: Arc<AtomicBool>) -> Self {
        Self {
            shared: Some(Arc::new(Shared {
                interrupt,
                origin: Instant::now(),
                deadline_ns: AtomicU64::new(NO_DEADLINE),
                polls_left: AtomicU64::new(NO_DEADLINE),
                countdown_reason: Cancelled::Interrupted,
            })),
        }
    }

    /// A token that lets `polls` checks pass and cancels every later one with `why` (no
    /// interrupt flag, no deadline): for tests that stop a step at each of its polling
    /// points in turn, deterministically.
    pub fn after_polls(polls: u64, why: Cancelled) -> Self {
        Self {
            shared: Some(Arc::new(Shared {
                interrupt: Arc::new(AtomicBool::new(false)),
                origin: Instant::now(),
                deadline_ns: AtomicU64::new(NO_DEADLINE),
                polls_left: AtomicU64::new(polls.min(NO_DEADLINE - 1)),
                countdown_reason: why,
            })),
        }
    }

    /// Sets (or with `None` clears) the deadline of this token and all its clones. A deadline
    /// already past cancels at the next check. Does nothing on [`CancelToken::never`].
    pub fn set_deadline(&self, deadline: Option<Instant>) {
        let Some(s) = &self.shared else { return };
        let ns = match deadline {
            None => NO_DEADLINE,
            Some(t) => {
                let after = t.saturating_duration_since(s.origin).as_nanos();
                u64::try_from(after)
                    .unwrap_or(NO_DEADLINE - 1)
                    .min(NO_DEADLINE - 1)
            }
        };
        s.deadline_ns.store(ns, Ordering::Relaxed);
    }

    /// The current deadline, if any.
    pub fn deadline(&self) -> Option<Instant> {
        let s = self.shared.as_ref()?;
        match s.deadline_ns.load(Ordering::Relaxed) {
            NO_DEADLINE => None,
            ns => s.origin.checked_add(Duration::from_nanos(ns)),
        }
    }

    /// Whether the step should stop, and why (the interrupt wins over the deadline).
    pub fn cancelled(&self) -> Option<Cancelled> {
        let s = self.shared.as_ref()?;
        if s.interrupt.load(Ordering::Relaxed) {
            return Some(Cancelled::Interrupted);
        }
        if s.polls_left.load(Ordering::Relaxed) != NO_DEADLINE {
            let spent = s
                .polls_left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_err();
            if spent {
                return Some(s.countdown_reason);
            }
        }
        match s.deadline_ns.load(Ordering::Relaxed) {
            NO_DEADLINE => None,
            ns => (s.origin.elapsed() >= Duration::from_nanos(ns)).then_some(Cancelled::Deadline),
        }
    }

    /// `Err(`[`Error::Cancelled`]`)` when the step should stop, else `Ok(())`: the call long
    /// loops make between blocks of work.
    #[inline]
    pub fn check(&self) -> Result<()> {
        match self.shared {
            None => Ok(()),
            Some(_) => match self.cancelled() {
                None => Ok(()),
                Some(why) => Err(Error::Cancelled(why)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_reports_the_interrupt_and_the_deadline_to_all_its_clones() {
        assert!(CancelToken::never().check().is_ok());
        let flag = Arc::new(AtomicBool::new(false));
        let token = CancelToken::new(flag.clone());
        let clone = token.clone();
        assert_eq!(clone.cancelled(), None);
        let far = Instant::now() + Duration::from_secs(3600);
        token.set_deadline(Some(far));
        assert!(clone.deadline().is_some_and(|d| d <= far));
        assert_eq!(clone.cancelled(), None);
        token.set_deadline(Some(Instant::now()));
        assert_eq!(clone.cancelled(), Some(Cancelled::Deadline));
        assert!(matches!(
            clone.check(),
            Err(Error::Cancelled(Cancelled::Deadline))
        ));
        flag.store(true, Ordering::Relaxed);
        assert_eq!(clone.cancelled(), Some(Cancelled::Interrupted));
        token.set_deadline(None);
        flag.store(false, Ordering::Relaxed);
        assert_eq!((clone.cancelled(), clone.deadline()), (None, None));
        let e = Error::Cancelled(Cancelled::Interrupted).to_string();
        assert!(e.contains("interrupted"), "{e}");
        let counted = CancelToken::after_polls(2, Cancelled::Deadline);
        assert!(counted.check().is_ok() && counted.check().is_ok());
        assert_eq!(counted.cancelled(), Some(Cancelled::Deadline));
        assert_eq!(counted.cancelled(), Some(Cancelled::Deadline));
    }
}
