//! The in-memory store: one [`Machine`] behind a lock held for a few instructions, on a clock of
//! the store's (the process clock in production, a manual one in tests).
//!
//! The hot path of a healthy service (a CLOSED circuit, calls that succeed) takes no lock: after
//! every change the lock holder publishes a one-word summary (state, generation, whether failures
//! are counted), and a call admitted in CLOSED whose success changes nothing reads only that word.
//! The summary is this store's own business; no other part of the crate sees it.

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use super::summary::Summary;
use super::{Store, StoreResult};
use crate::clock::{Clock, Nanos, ProcessClock};
use crate::config::Config;
use crate::events::Transition;
use crate::machine::{Admission, Machine, Outcome, Snapshot, Ticket, Trip};

/// The [`Summary`] word of `machine`, published after every change of the state.
fn summary_of(machine: &Machine) -> u64 {
    Summary::of(
        machine.stored_state(),
        machine.generation(),
        machine.failure_count(),
    )
}

/// A breaker's state in this process's memory.
#[derive(Debug)]
pub struct MemoryStore<C: Clock = ProcessClock> {
    machine: Mutex<Machine>,
    /// [`Summary`] of `machine`, written under the lock after every change.
    summary: AtomicU64,
    clock: C,
}

impl Default for MemoryStore<ProcessClock> {
    fn default() -> Self {
        Self::with_clock(ProcessClock)
    }
}

impl<C: Clock> MemoryStore<C> {
    pub fn with_clock(clock: C) -> Self {
        let machine = Machine::new();
        MemoryStore {
            summary: AtomicU64::new(summary_of(&machine)),
            machine: Mutex::new(machine),
            clock,
        }
    }

    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// Runs `change` under the lock, then publishes the summary of the result.
    fn change<R>(&self, change: impl FnOnce(&mut Machine) -> R) -> R {
        let mut machine = self.machine.lock();
        let result = change(&mut machine);
        self.summary.store(summary_of(&machine), Ordering::Release);
        result
    }

    /// The lock-free admission of a call to a CLOSED circuit: a transition racing with it makes
    /// its outcome late, exactly as if it had been admitted just before the transition.
    #[inline(always)]
    pub fn admit_closed(&self) -> Option<Ticket> {
        let summary = self.summary.load(Ordering::Acquire);
        (summary & Summary::STATE_BITS == Summary::CLOSED)
            .then(|| Ticket::closed(summary >> Summary::GENERATION_SHIFT))
    }

    /// Records, lock-free, an outcome that changes nothing: a success or an ignored outcome in
    /// the CLOSED generation the call was admitted in, with no failures counted (or, for an
    /// ignored outcome, some). Whether it was one.
    #[inline(always)]
    pub fn settle_quiet(&self, ticket: Ticket, outcome: Outcome) -> bool {
        if ticket.is_trial() {
            return false;
        }
        let summary = self.summary.load(Ordering::Acquire);
        let quiet = Summary::quiet_closed(ticket.generation);
        match outcome {
            Outcome::Success => summary == quiet,
            Outcome::Ignored => summary & !Summary::FAILURES == quiet,
            Outcome::Failure => false,
        }
    }

    /// Decides whether a call may run now (never fails: memory is always there).
    #[inline]
    pub fn admit(&self, config: &Config) -> Admission {
        match self.admit_closed() {
            Some(ticket) => Admission::Admitted(ticket, None),
            None => self.change(|machine| machine.acquire(config, &self.clock)),
        }
    }

    /// Whether `ticket` was admitted in the CLOSED generation the circuit is in now.
    #[inline(always)]
    pub fn is_current_closed(&self, ticket: Ticket) -> bool {
        let summary = self.summary.load(Ordering::Acquire);
        !ticket.is_trial()
            && summary & Summary::STATE_BITS == Summary::CLOSED
            && summary >> Summary::GENERATION_SHIFT == ticket.generation
    }

    /// Reports an outcome (never fails).
    #[inline]
    pub fn settle(
        &self,
        config: &Config,
        ticket: Ticket,
        outcome: Outcome,
        trip: Option<Trip>,
    ) -> Option<Transition> {
        if trip.is_none() && self.settle_quiet(ticket, outcome) {
            return None;
        }
        self.change(|machine| machine.record(config, ticket, outcome, trip, &self.clock))
    }

    pub fn view(&self, config: &Config) -> Snapshot {
        let now = self.clock.now();
        let machine = self.machine.lock();
        debug_assert_eq!(
            self.summary.load(Ordering::Acquire),
            summary_of(&machine),
            "the published summary is stale"
        );
        machine.snapshot(config, now)
    }
}

impl<C: Clock + Send + Sync> Store for MemoryStore<C> {
    #[inline(always)]
    fn now(&self) -> Nanos {
        self.clock.now()
    }

    #[inline(always)]
    fn coarse_now(&self) -> Nanos {
        self.clock.coarse_now()
    }

    #[inline(always)]
    fn is_current_closed(&self, ticket: Ticket) -> bool {
        MemoryStore::is_current_closed(self, ticket)
    }

    #[inline(always)]
    fn admit_closed(&self) -> Option<Ticket> {
        MemoryStore::admit_closed(self)
    }

    #[inline(always)]
    fn settle_quiet(&self, ticket: Ticket, outcome: Outcome) -> bool {
        MemoryStore::settle_quiet(self, ticket, outcome)
    }

    #[inline]
    fn try_acquire(&self, config: &Config) -> Option<Admission> {
        Some(self.admit(config))
    }

    #[inline]
    fn try_record(
        &self,
        config: &Config,
        ticket: Ticket,
        outcome: Outcome,
        trip: Option<Trip>,
    ) -> Option<Option<Transition>> {
        Some(self.settle(config, ticket, outcome, trip))
    }

    fn try_snapshot(&self, config: &Config) -> Option<Snapshot> {
        Some(self.view(config))
    }

    #[inline]
    fn acquire(&self, config: &Config) -> StoreResult<Admission> {
        Ok(self.admit(config))
    }

    #[inline]
    fn record(
        &self,
        config: &Config,
        ticket: Ticket,
        outcome: Outcome,
        trip: Option<Trip>,
    ) -> StoreResult<Option<Transition>> {
        Ok(self.settle(config, ticket, outcome, trip))
    }

    fn release(&self, config: &Config, ticket: Ticket) {
        // Memory needs no queue: applying it is a few instructions under the lock.
        let transition = self.settle(config, ticket, Outcome::Ignored, None);
        debug_assert!(transition.is_none(), "an ignored outcome made a transition");
    }

    fn snapshot(&self, config: &Config) -> StoreResult<Snapshot> {
        Ok(self.view(config))
    }

    fn reset(&self, _config: &Config) -> StoreResult<Option<Transition>> {
        Ok(self.change(|machine| machine.reset(&self.clock)))
    }

    fn force_open(
        &self,
        config: &Config,
        duration: Option<Nanos>,
    ) -> StoreResult<Option<Transition>> {
        Ok(self.change(|machine| machine.force_open(config, duration, &self.clock)))
    }

    fn isolate(&self, _config: &Config) -> StoreResult<Option<Transition>> {
        Ok(self.change(|machine| machine.isolate(&self.clock)))
    }

    fn disable(&self, _config: &Config) -> StoreResult<Option<Transition>> {
        Ok(self.change(|machine| machine.disable(&self.clock)))
    }

    fn describe(&self) -> String {
        "memory".to_owned()
    }
}
