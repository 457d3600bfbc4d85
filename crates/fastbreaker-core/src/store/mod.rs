//! Where a breaker's state lives: the [`Store`] seam.
//!
//! The state machine ([`crate::machine`]) decides; a store keeps the state and supplies the time.
//! The in-memory store ([`MemoryStore`]) keeps one [`Machine`](crate::machine::Machine) behind a
//! lock, with a lock-free fast path of its own. A store whose state lives elsewhere (a server
//! shared by a fleet) implements the same trait:
//!
//! - every operation that may talk to it returns `Result<_, StoreError>`;
//! - time is the store's: the machine is handed the store's clock, never the process's by
//!   assumption;
//! - [`Store::release`] takes a ticket whose call ended without an outcome (a permit dropped
//!   unreported) and must neither block nor fail: a store that does I/O queues it and hands it
//!   on later, from its next operation or a thread of its own. Nothing is ever sent from a `Drop`.
//!
//! [`AnyStore`] is the set of stores the bindings can be given, dispatched statically.

mod memory;
#[cfg(test)]
pub(crate) mod recording;
pub mod redis;
mod summary;

pub use self::redis::{RedisBreakerStore, RedisSettings, RedisStore, TlsFiles, Unavailable};
pub use memory::MemoryStore;

use crate::clock::{Clock, Nanos, ProcessClock};
use crate::config::Config;
use crate::events::{Notice, Transition};
use crate::machine::{Admission, Outcome, Snapshot, Ticket, Trip};

/// Why a store could not carry out an operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// The store could not be reached (or did not answer in time).
    Unavailable(String),
    /// The store answered something this version cannot understand.
    Protocol(String),
    /// The store refused an operation on this breaker's keys (a key of another type, say),
    /// while it answers others.
    Refused(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Unavailable(detail) => write!(f, "store unavailable: {detail}"),
            StoreError::Protocol(detail) => write!(f, "unexpected answer from store: {detail}"),
            StoreError::Refused(detail) => write!(f, "store refused the operation: {detail}"),
        }
    }
}

impl std::error::Error for StoreError {}

pub type StoreResult<T> = Result<T, StoreError>;

/// Where a breaker's state lives. Every method is called with no lock of the caller's held, and
/// none of them may call back into the caller.
pub trait Store: Send + Sync {
    /// The store's monotonic time, for durations measured in this process (slow calls, time
    /// windows).
    fn now(&self) -> Nanos {
        ProcessClock.now()
    }

    /// [`Store::now`] at a coarser resolution (see [`Clock::coarse_now`]): which bucket of a
    /// time window an outcome falls in.
    fn coarse_now(&self) -> Nanos {
        ProcessClock.coarse_now()
    }

    /// Whether `ticket` was issued by the CLOSED period the store is in now (an outcome that a
    /// sliding window of this period should hold). Never waits; `false` when it cannot tell.
    fn is_current_closed(&self, ticket: Ticket) -> bool {
        let _ = ticket;
        false
    }

    /// The hot path: admits a call to a CLOSED circuit without a lock and without waiting, or
    /// `None` when the store must decide with [`Store::try_acquire`] or [`Store::acquire`].
    fn admit_closed(&self) -> Option<Ticket> {
        None
    }

    /// The hot path: records an outcome that changes nothing (a success or an ignored outcome of
    /// a CLOSED-circuit call, with nothing to reset) without a lock and without waiting. `false`:
    /// record it with [`Store::try_record`] or [`Store::record`].
    fn settle_quiet(&self, ticket: Ticket, outcome: Outcome) -> bool {
        let _ = (ticket, outcome);
        false
    }

    /// Decides whether a call may run now, without waiting on anything (no I/O, no lock held for
    /// longer than a few instructions); `None` when only [`Store::acquire`] can tell. The bindings
    /// let other threads run while a store may wait, and only then.
    fn try_acquire(&self, config: &Config) -> Option<Admission> {
        let _ = config;
        None
    }

    /// Decides whether a call may run now. May wait on I/O (within the store's own timeout).
    fn acquire(&self, config: &Config) -> StoreResult<Admission>;

    /// Reports an outcome without waiting on anything; `None` when only [`Store::record`] can.
    fn try_record(
        &self,
        config: &Config,
        ticket: Ticket,
        outcome: Outcome,
        trip: Option<Trip>,
    ) -> Option<Option<Transition>> {
        let _ = (config, ticket, outcome, trip);
        None
    }

    /// Reports how an admitted call ended; returns the transition it caused. With `trip`, the
    /// outcome opens the circuit (see [`crate::machine::Machine::record`]).
    fn record(
        &self,
        config: &Config,
        ticket: Ticket,
        outcome: Outcome,
        trip: Option<Trip>,
    ) -> StoreResult<Option<Transition>>;

    /// Gives back a ticket whose call ended without an outcome (taken as ignored). Never blocks,
    /// never fails, does no I/O: a store that cannot apply it at once queues it. An ignored
    /// outcome makes no transition, so there is nothing to report.
    fn release(&self, config: &Config, ticket: Ticket);

    /// The breaker as the next call would find it, without waiting; `None` when only
    /// [`Store::snapshot`] can tell.
    fn try_snapshot(&self, config: &Config) -> Option<Snapshot> {
        let _ = config;
        None
    }

    /// The breaker as the next call would find it. Never changes anything. May wait on I/O.
    fn snapshot(&self, config: &Config) -> StoreResult<Snapshot>;

    /// Closes the circuit and zeroes the counts.
    fn reset(&self, config: &Config) -> StoreResult<Option<Transition>>;

    /// Opens the circuit for `duration` (`None`: the usual open duration), restarting the timer.
    fn force_open(
        &self,
        config: &Config,
        duration: Option<Nanos>,
    ) -> StoreResult<Option<Transition>>;

    /// Holds the circuit open until [`Store::reset`].
    fn isolate(&self, config: &Config) -> StoreResult<Option<Transition>>;

    /// Lets every call pass, counting nothing, until [`Store::reset`].
    fn disable(&self, config: &Config) -> StoreResult<Option<Transition>>;

    /// What the store is, for statuses: `"memory"`, or where it is.
    fn describe(&self) -> String;

    /// Whether the store answered the last time it was asked (memory always does).
    fn is_reachable(&self) -> bool {
        true
    }

    /// Whether [`Store::take_news`] has something. Cheap: the bindings ask after every call.
    fn has_news(&self) -> bool {
        false
    }

    /// Transitions learned from elsewhere and notices about the store, oldest first.
    fn take_news(&self) -> Vec<Notice> {
        Vec::new()
    }
}

/// Every store a breaker in the bindings can be given. An enum rather than `dyn Store`, so that
/// the in-memory fast path stays inlined.
#[derive(Debug)]
pub enum AnyStore {
    Memory(MemoryStore),
    /// Shared by every process that uses the same Redis, namespace and name.
    Redis(RedisBreakerStore),
}

impl AnyStore {
    /// An in-memory store on the process clock.
    pub fn memory() -> Self {
        AnyStore::Memory(MemoryStore::default())
    }
}

macro_rules! dispatch {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            AnyStore::Memory($store) => $call,
            AnyStore::Redis($store) => $call,
        }
    };
}

impl Store for AnyStore {
    #[inline(always)]
    fn now(&self) -> Nanos {
        dispatch!(self, store => store.now())
    }

    #[inline(always)]
    fn coarse_now(&self) -> Nanos {
        dispatch!(self, store => store.coarse_now())
    }

    #[inline(always)]
    fn is_current_closed(&self, ticket: Ticket) -> bool {
        dispatch!(self, store => store.is_current_closed(ticket))
    }

    #[inline(always)]
    fn admit_closed(&self) -> Option<Ticket> {
        dispatch!(self, store => store.admit_closed())
    }

    #[inline(always)]
    fn settle_quiet(&self, ticket: Ticket, outcome: Outcome) -> bool {
        dispatch!(self, store => store.settle_quiet(ticket, outcome))
    }

    #[inline(always)]
    fn try_acquire(&self, config: &Config) -> Option<Admission> {
        match self {
            AnyStore::Memory(store) => Some(store.admit(config)),
            AnyStore::Redis(store) => store.try_acquire(config),
        }
    }

    #[inline(always)]
    fn try_record(
        &self,
        config: &Config,
        ticket: Ticket,
        outcome: Outcome,
        trip: Option<Trip>,
    ) -> Option<Option<Transition>> {
        match self {
            AnyStore::Memory(store) => Some(store.settle(config, ticket, outcome, trip)),
            AnyStore::Redis(store) => store.try_record(config, ticket, outcome, trip),
        }
    }

    fn try_snapshot(&self, config: &Config) -> Option<Snapshot> {
        dispatch!(self, store => store.try_snapshot(config))
    }

    #[inline]
    fn acquire(&self, config: &Config) -> StoreResult<Admission> {
        dispatch!(self, store => store.acquire(config))
    }

    #[inline]
    fn record(
        &self,
        config: &Config,
        ticket: Ticket,
        outcome: Outcome,
        trip: Option<Trip>,
    ) -> StoreResult<Option<Transition>> {
        dispatch!(self, store => store.record(config, ticket, outcome, trip))
    }

    fn release(&self, config: &Config, ticket: Ticket) {
        dispatch!(self, store => store.release(config, ticket))
    }

    fn snapshot(&self, config: &Config) -> StoreResult<Snapshot> {
        dispatch!(self, store => store.snapshot(config))
    }

    fn reset(&self, config: &Config) -> StoreResult<Option<Transition>> {
        dispatch!(self, store => store.reset(config))
    }

    fn force_open(
        &self,
        config: &Config,
        duration: Option<Nanos>,
    ) -> StoreResult<Option<Transition>> {
        dispatch!(self, store => store.force_open(config, duration))
    }

    fn isolate(&self, config: &Config) -> StoreResult<Option<Transition>> {
        dispatch!(self, store => store.isolate(config))
    }

    fn disable(&self, config: &Config) -> StoreResult<Option<Transition>> {
        dispatch!(self, store => store.disable(config))
    }

    fn describe(&self) -> String {
        dispatch!(self, store => store.describe())
    }

    fn is_reachable(&self) -> bool {
        dispatch!(self, store => store.is_reachable())
    }

    #[inline]
    fn has_news(&self) -> bool {
        match self {
            AnyStore::Memory(_) => false,
            AnyStore::Redis(store) => store.has_news(),
        }
    }

    fn take_news(&self) -> Vec<Notice> {
        dispatch!(self, store => store.take_news())
    }
}
