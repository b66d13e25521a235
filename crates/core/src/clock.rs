//! The clock interface. Core and the trainer crates never read a clock: the harness (and a
//! study's runner) owns the one real clock and injects it as `&mut dyn Clock`, so tests can
//! substitute a fake one and prove what is and is not timed.

/// A monotonic clock in seconds.
pub trait Clock {
    /// Seconds since an arbitrary fixed origin; never decreases.
    fn now(&mut self) -> f64;
}
