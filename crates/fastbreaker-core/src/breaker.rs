//! A breaker: its settings and the store that keeps its state. This is the whole surface the
//! bindings use; which store it is (memory, or one shared by a fleet) they do not need to know.
//!
//! It counts what passes through it (outcomes, transitions) in its [`Counters`]; the one thing it
//! cannot see is a call turned away, since the bindings may still run a rejected call (as part of
//! a trial it is nested in), so they count rejections with [`Breaker::counters`].

use crate::config::Config;
use crate::counters::Counters;
use crate::events::{Notice, Transition};
use crate::machine::{Admission, Outcome, Snapshot, Ticket};
use crate::store::{AnyStore, Store, StoreResult};

#[derive(Debug)]
pub struct Breaker<S: Store = AnyStore> {
    config: Config,
    store: S,
    counters: Counters,
}

impl<S: Store> Breaker<S> {
    pub fn new(config: Config, store: S) -> Self {
        Breaker {
            config,
            store,
            counters: Counters::default(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// This process's counts of calls and transitions through this breaker.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    #[inline(always)]
    fn counted(&self, transition: Option<Transition>) -> Option<Transition> {
        if let Some(t) = &transition {
            self.counters.transition(t.to);
        }
        transition
    }

    fn counted_admission(&self, admission: Admission) -> Admission {
        if let Admission::Admitted(_, Some(t)) = &admission {
            self.counters.transition(t.to);
        }
        admission
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
        let quiet = self.store.settle_quiet(ticket, outcome);
        if quiet {
            self.counters.outcome(outcome);
        }
        quiet
    }

    /// Decides whether a call may run now without waiting; `None`: ask [`Breaker::acquire`].
    #[inline(always)]
    pub fn try_acquire(&self) -> Option<Admission> {
        let admission = self.store.try_acquire(&self.config)?;
        Some(self.counted_admission(admission))
    }

    /// Reports an outcome without waiting; `None`: report it with [`Breaker::record`].
    #[inline(always)]
    pub fn try_record(&self, ticket: Ticket, outcome: Outcome) -> Option<Option<Transition>> {
        let transition = self.store.try_record(&self.config, ticket, outcome)?;
        self.counters.outcome(outcome);
        Some(self.counted(transition))
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
        let news = self.store.take_news();
        for notice in &news {
            if let Notice::Learned(t) = notice {
                self.counters.transition(t.to);
            }
        }
        news
    }

    /// Decides whether a call may run now. May wait on the store's I/O.
    #[inline]
    pub fn acquire(&self) -> StoreResult<Admission> {
        let admission = self.store.acquire(&self.config)?;
        Ok(self.counted_admission(admission))
    }

    /// Reports how an admitted call ended; returns the transition it caused.
    #[inline]
    /// The call is counted even when the store fails to take its outcome: it ran, and ended so.
    pub fn record(&self, ticket: Ticket, outcome: Outcome) -> StoreResult<Option<Transition>> {
        self.counters.outcome(outcome);
        Ok(self.counted(self.store.record(&self.config, ticket, outcome)?))
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
        Ok(self.counted(self.store.reset(&self.config)?))
    }

    /// Forces the circuit open, restarting the recovery timer even when it was open already.
    pub fn force_open(&self) -> StoreResult<Option<Transition>> {
        Ok(self.counted(self.store.force_open(&self.config)?))
    }
}
