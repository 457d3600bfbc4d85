//! A breaker's call counters: calls by outcome and transitions by the state they led to, counted
//! in this process and read at scrape time (metrics exporters, `get_status()`).
//!
//! They are exact under threads (one atomic add each) and never go down: a reset closes the
//! circuit, it does not rewrite history, as a metrics counter must not. The success counter is
//! the only one on the hot path; it sits on a cache line of its own so that threads counting
//! successes do not keep invalidating the line of the state word every call reads.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::machine::{Outcome, State};

/// Whether calls are counted at all. Always on in production: the switch exists so that
/// `benchmarks/overhead.py` can measure what counting costs, in one run, against not counting.
static COUNTING: AtomicBool = AtomicBool::new(true);

/// Turns counting on or off for every breaker of the process (see [`COUNTING`]).
pub fn set_counting(enabled: bool) {
    COUNTING.store(enabled, Ordering::Relaxed);
}

/// Whether calls are counted (see [`set_counting`]).
pub fn counting() -> bool {
    COUNTING.load(Ordering::Relaxed)
}

/// An atomic counter alone on its cache line, by padding rather than alignment: a breaker lives
/// inside a Python object, whose allocator aligns to 16 bytes only (an over-aligned field there is
/// undefined behaviour). 120 bytes each side keep any other data out of its 64-byte line and of the
/// adjacent one that x86-64 prefetches with it (crossbeam pads to 128 bytes there for the same
/// reason).
#[derive(Debug, Default)]
#[repr(C)]
struct Padded {
    _before: [u64; 15],
    value: AtomicU64,
    _after: [u64; 15],
}

/// The counters of one breaker.
#[derive(Debug, Default)]
pub struct Counters {
    success: Padded,
    failure: AtomicU64,
    ignored: AtomicU64,
    rejected: AtomicU64,
    to_closed: AtomicU64,
    to_open: AtomicU64,
    to_half_open: AtomicU64,
    to_isolated: AtomicU64,
    to_disabled: AtomicU64,
}

/// What the counters held when read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub success: u64,
    pub failure: u64,
    pub ignored: u64,
    pub rejected: u64,
    /// Transitions to each state.
    pub to_closed: u64,
    pub to_open: u64,
    pub to_half_open: u64,
    pub to_isolated: u64,
    pub to_disabled: u64,
}

#[inline(always)]
fn bump(counter: &AtomicU64) {
    if counting() {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

impl Counters {
    /// Counts the outcome of a call that ran.
    #[inline(always)]
    pub fn outcome(&self, outcome: Outcome) {
        bump(match outcome {
            Outcome::Success => &self.success.value,
            Outcome::Failure => &self.failure,
            Outcome::Ignored => &self.ignored,
        });
    }

    /// Counts a call turned away.
    pub fn rejected(&self) {
        bump(&self.rejected);
    }

    /// Counts a transition to `state`.
    pub fn transition(&self, to: State) {
        bump(match to {
            State::Closed => &self.to_closed,
            State::Open => &self.to_open,
            State::HalfOpen => &self.to_half_open,
            State::Isolated => &self.to_isolated,
            State::Disabled => &self.to_disabled,
        });
    }

    /// The counts now. Each is exact; read while calls run, they are not one instant's.
    pub fn read(&self) -> Counts {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Counts {
            success: read(&self.success.value),
            failure: read(&self.failure),
            ignored: read(&self.ignored),
            rejected: read(&self.rejected),
            to_closed: read(&self.to_closed),
            to_open: read(&self.to_open),
            to_half_open: read(&self.to_half_open),
            to_isolated: read(&self.to_isolated),
            to_disabled: read(&self.to_disabled),
        }
    }
}
