//! Trip policies beyond the consecutive-failure count: the failure rate and the slow-call rate
//! over a sliding window ([`Rates`], kept in a [`Window`]), and how long each opening lasts
//! ([`Backoff`]).
//!
//! The settings are plain values in [`crate::Config`]; the window is state, kept beside the
//! store by [`crate::Breaker`] and recorded into without a lock; the machine keeps the open
//! duration of the current opening. The machine stays the one place that decides: a window only
//! says that a rate is reached, and the machine makes the transition.

pub mod backoff;
pub mod window;

pub use backoff::Backoff;
pub use window::{Sample, Totals};

use crate::clock::Nanos;
use crate::events::Reason;
use window::{CountWindow, TimeWindow};

/// The span of a sliding window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowSize {
    /// The outcomes of the last this-many nanoseconds, kept in ten buckets.
    Time(Nanos),
    /// The last this-many outcomes.
    Calls(u32),
}

/// Calls slower than `duration` are slow; `rate` of them in the window opens the circuit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SlowCalls {
    pub duration: Nanos,
    pub rate: f64,
}

/// The rate thresholds of a breaker and the window they are computed over.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rates {
    /// Failed / (failed + successful) calls in the window at which the circuit opens.
    pub failure_rate: Option<f64>,
    pub slow_calls: Option<SlowCalls>,
    /// No rate is evaluated while the window holds fewer outcomes.
    pub minimum_calls: u32,
    pub window: WindowSize,
}

impl Rates {
    pub const DEFAULT_MINIMUM_CALLS: u32 = 20;
    pub const DEFAULT_WINDOW_SECONDS: u64 = 30;
    /// A count window keeps one byte per outcome: a million is a megabyte.
    pub const MAX_WINDOW_CALLS: u32 = 1_000_000;

    /// The rate a window with `totals` has reached, if any (the failure rate first).
    #[inline]
    pub fn reached(&self, totals: Totals) -> Option<Reason> {
        // Nothing failed and nothing was slow (a healthy service): no division.
        if totals.failures == 0 && totals.slow == 0 {
            return None;
        }
        // The minimum on the fewest calls the window may hold, the rates against the most: a rate
        // is reached only if it is for any placement of the successes a time window counted in
        // batches.
        if totals.calls < u64::from(self.minimum_calls) || totals.calls == 0 {
            return None;
        }
        // A quotient, not `threshold * calls`: a rate equal to the threshold as written (3 of 10
        // against 0.3) rounds to the same double and trips, which a product would not.
        let share = |part: u64| part as f64 / totals.calls_at_most.max(totals.calls) as f64;
        if self
            .failure_rate
            .is_some_and(|threshold| share(totals.failures) >= threshold)
        {
            return Some(Reason::FailureRate);
        }
        if self
            .slow_calls
            .is_some_and(|slow| share(totals.slow) >= slow.rate)
        {
            return Some(Reason::SlowCallRate);
        }
        None
    }

    /// Whether a call that took `elapsed` is slow.
    #[inline]
    pub fn is_slow(&self, elapsed: Nanos) -> bool {
        self.slow_calls.is_some_and(|slow| elapsed > slow.duration)
    }
}

/// The outcomes of one CLOSED period, as [`Rates::window`] says to keep them.
// Its own variants inline (a breaker boxes the whole window).
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Window {
    Count(CountWindow),
    Time(TimeWindow),
}

impl Window {
    /// A window of `size`, starting at `now` (coarse; a count window ignores it).
    pub fn new(size: WindowSize, now: Nanos) -> Self {
        match size {
            WindowSize::Calls(calls) => Window::Count(CountWindow::new(calls)),
            WindowSize::Time(nanos) => Window::Time(TimeWindow::new(nanos, now)),
        }
    }

    /// Records one outcome; `clock` (coarse) is read only by a time window, and only when it
    /// must be. The totals when a rate could be reached, `None` when nothing in the window failed
    /// or was slow.
    #[inline(always)]
    pub fn record(&self, sample: Sample, clock: impl Fn() -> Nanos + Copy) -> Option<Totals> {
        match self {
            Window::Count(window) => Self::judged(window.record(sample)),
            Window::Time(window) => window.record(sample, clock),
        }
    }

    /// Records a success that cannot bring a rate to a threshold (nothing in the window failed
    /// or was slow), at the cost of a few loads and an atomic add: `true`. `false`: nothing was
    /// recorded; record it with [`Window::record`]. The hot path.
    #[inline(always)]
    pub fn record_quiet_success(&self, clock: impl Fn() -> Nanos + Copy) -> bool {
        match self {
            Window::Count(window) => window.record_quiet_success(),
            Window::Time(window) => window.record_quiet_success(clock),
        }
    }

    /// Records one outcome of a call timed anyway, at `now` (its end).
    #[inline]
    pub fn record_at(&self, sample: Sample, now: Nanos) -> Option<Totals> {
        match self {
            Window::Count(window) => Self::judged(window.record(sample)),
            Window::Time(window) => window.record_at(sample, now),
        }
    }

    fn judged(totals: Totals) -> Option<Totals> {
        (totals.failures > 0 || totals.slow > 0).then_some(totals)
    }

    /// What the window holds at the time `clock` (coarse) says.
    pub fn totals(&self, clock: impl Fn() -> Nanos + Copy) -> Totals {
        match self {
            Window::Count(window) => window.totals(),
            Window::Time(window) => window.totals(clock),
        }
    }

    /// Starts the window over at the time `clock` (coarse) says, read by a time window only.
    pub fn clear(&self, clock: impl Fn() -> Nanos) {
        match self {
            Window::Count(window) => window.clear(),
            Window::Time(window) => window.clear(clock()),
        }
    }
}

#[cfg(test)]
mod tests;
