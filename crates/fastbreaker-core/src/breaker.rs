//! A breaker: its settings and the store that keeps its state. This is the whole surface the
//! bindings use; which store it is (memory, or one shared by a fleet) they do not need to know.

use crate::config::Config;
use crate::events::{Notice, Transition};
use crate::machine::{Admission, Outcome, Snapshot, Ticket};
use crate::store::{AnyStore, Store, StoreResult};

#[derive(Debug)]
pub struct Breaker<S: Store = AnyStore> {
    config: Config,
    store: S,
}

impl<S: Store> Breaker<S> {
    pub fn new(config: Config, store: S) -> Self {
        Breaker { config, store }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// The hot path's admission (a CLOSED circuit, no lock); `None`: ask
    /// [`Breaker::try_acquire`].
    #[inline(always)]
    pub fn admit_closed(&self) -> Option<Ticket> {
        self.store.admit_closed()
    }

    /// The hot path's outcome (one that changes nothing, no lock); `false`: report it with
    /// [`Breaker::try_record`].
    #[inline(always)]
    pub fn settle_quiet(&self, ticket: Ticket, outcome: Outcome) -> bool {
        self.store.settle_quiet(ticket, outcome)
    }

    /// Decides whether a call may run now without waiting; `None`: ask [`Breaker::acquire`].
    #[inline(always)]
    pub fn try_acquire(&self) -> Option<Admission> {
        self.store.try_acquire(&self.config)
    }

    /// Reports an outcome without waiting; `None`: report it with [`Breaker::record`].
    #[inline(always)]
    pub fn try_record(&self, ticket: Ticket, outcome: Outcome) -> Option<Option<Transition>> {
        self.store.try_record(&self.config, ticket, outcome)
    }

    /// The breaker as the next call would find it, without waiting; `None`: ask
    /// [`Breaker::snapshot`].
    pub fn try_snapshot(&self) -> Option<Snapshot> {
        self.store.try_snapshot(&self.config)
    }

    /// Whether the store has news (see [`Store::take_news`]).
    #[inline]
    pub fn has_news(&self) -> bool {
        self.store.has_news()
    }

    pub fn take_news(&self) -> Vec<Notice> {
        self.store.take_news()
    }

    /// Decides whether a call may run now. May wait on the store's I/O.
    #[inline]
    pub fn acquire(&self) -> StoreResult<Admission> {
        self.store.acquire(&self.config)
    }

    /// Reports how an admitted call ended; returns the transition it caused.
    #[inline]
    pub fn record(&self, ticket: Ticket, outcome: Outcome) -> StoreResult<Option<Transition>> {
        self.store.record(&self.config, ticket, outcome)
    }

    /// Gives back a ticket whose call ended without an outcome; never blocks or fails.
    pub fn release(&self, ticket: Ticket) {
        self.store.release(&self.config, ticket)
    }

    /// The breaker as the next call would find it. Never changes anything.
    pub fn snapshot(&self) -> StoreResult<Snapshot> {
        self.store.snapshot(&self.config)
    }

    /// Closes the circuit and zeroes the counts; `last_failure_time` is history and stays.
    pub fn reset(&self) -> StoreResult<Option<Transition>> {
        self.store.reset(&self.config)
    }

    /// Forces the circuit open, restarting the recovery timer even when it was open already.
    pub fn force_open(&self) -> StoreResult<Option<Transition>> {
        self.store.force_open(&self.config)
    }
}
