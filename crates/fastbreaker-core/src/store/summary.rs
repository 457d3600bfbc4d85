//! The one-word summary of a breaker's state that the lock-free hot paths of the stores read: the
//! in-memory store publishes its machine's, the Redis store its cached copy of the fleet's.
//!
//! Layout: the generation above four flag bits; the low two bits are the state (or, for a cached
//! copy, "unknown"), then "failures counted", then "news for the bindings".

use crate::machine::{State, GENERATION_BITS};

pub(crate) struct Summary;

impl Summary {
    pub(crate) const STATE_BITS: u64 = 0b11;
    pub(crate) const CLOSED: u64 = 0;
    pub(crate) const OPEN: u64 = 1;
    pub(crate) const HALF_OPEN: u64 = 2;
    /// Nothing known (a cached copy before the server is heard from, after a fork, or while the
    /// server is away): the slow path decides.
    pub(crate) const UNKNOWN: u64 = 3;
    /// Set while failures are counted (a success would have to reset them).
    pub(crate) const FAILURES: u64 = 0b100;
    /// The bindings have news to collect (transitions learned from elsewhere, store notices).
    pub(crate) const NEWS: u64 = 0b1000;
    pub(crate) const GENERATION_SHIFT: u32 = 64 - GENERATION_BITS;
    pub(crate) const GENERATION_MASK: u64 = u64::MAX >> Self::GENERATION_SHIFT;

    pub(crate) fn of(state: State, generation: u64, failures: u32) -> u64 {
        let bits = match state {
            State::Closed => Self::CLOSED,
            State::Open => Self::OPEN,
            State::HalfOpen => Self::HALF_OPEN,
            // Rejected on the slow path, as OPEN is.
            State::Isolated => Self::OPEN,
            // Every call goes to the slow path, which admits it and counts nothing (the fast
            // path would put its outcomes in a window).
            State::Disabled => Self::UNKNOWN,
        };
        let failures = if failures > 0 { Self::FAILURES } else { 0 };
        ((generation & Self::GENERATION_MASK) << Self::GENERATION_SHIFT) | failures | bits
    }

    /// CLOSED, no failures counted, in `generation`.
    pub(crate) fn quiet_closed(generation: u64) -> u64 {
        (generation & Self::GENERATION_MASK) << Self::GENERATION_SHIFT
    }
}
