//! The clock interface. Core and the trainer crates never read a clock: the harness (and a
//! study's runner) owns the one real clock and injects it as `&mut dyn Clock`, so tests can
//! substitute a fake one and prove what is and is not timed.

/// A monotonic clock in seconds.
pub trait Clock {
    /// Seconds since an arbitrary fixed origin; never decreases.
    fn now(&mut self) -> f64;

    /// The [`std::time::Instant`] at which this clock will have advanced `after_s` seconds
    /// from now, for a clock that runs with wall time (the harness's); the harness makes it
    /// a step's deadline ([`crate::CancelToken::set_deadline`]). `None` (the default) for a
    /// clock that does not run with wall time, e.g. a test's fake clock: steps then get no
    /// deadline. Also `None` when the instant is not representable.
    fn instant_after(&mut self, after_s: f64) -> Option<std::time::Instant> {
        let _ = after_s;
        None
    }
}
