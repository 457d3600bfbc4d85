//! A breaker: its settings and the store that keeps its state. This is the whole surface the
//! bindings use; which store it is (memory, or one shared by a fleet) they do not need to know.
//!
//! It counts what passes through it (outcomes, transitions) in its [`Counters`]; the one thing it
//! cannot see is a call turned away, since the bindings may still run a rejected call (as part of
//! a trial it is nested in), so they count rejections with [`Breaker::counters`].

use crate::clock::Nanos;
use crate::config::Config;
use crate::counters::Counters;
use crate::events::{Notice, Reason, Transition};
use crate::machine::{Admission, Outcome, Snapshot, Ticket, Trip};
use crate::policy::{Sample, Totals, Window};
use crate::store::{AnyStore, Store, StoreResult};

/// An outcome the lock-free path could not settle, to hand to [`Breaker::try_report`] or
/// [`Breaker::report`]: the call's ticket, how it ended, and whether it opens the circuit
/// whatever the consecutive count says (a rate it brought the window to, or `open_for`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[must_use = "an unreported outcome leaves its ticket unsettled"]
pub struct Report {
    pub ticket: Ticket,
    pub outcome: Outcome,
    pub trip: Option<Trip>,
}

impl Report {
    /// A failure after which the circuit stays open for exactly `open_for` (the caller was told
    /// when to come back), below the threshold too.
    pub fn failure_open_for(ticket: Ticket, open_for: Nanos) -> Self {
        Report {
            ticket,
            outcome: Outcome::Failure,
            trip: Some(Trip {
                reason: Reason::OpenFor,
                open_for: Some(open_for),
            }),
        }
    }
}

#[derive(Debug)]
pub struct Breaker<S: Store = AnyStore> {
    config: Config,
    store: S,
    counters: Counters,
    /// The outcomes of the current CLOSED period, when a rate threshold is set. Boxed: a time
    /// window is some 300 bytes, which a breaker without one (most of them) should not carry.
    window: Option<Box<Window>>,
    /// Calls are timed at admission (a slow-call rate is set).
    times_calls: bool,
}

impl<S: Store> Breaker<S> {
    pub fn new(config: Config, store: S) -> Self {
        Breaker {
            window: config
                .rates
                .map(|rates| Box::new(Window::new(rates.window, store.coarse_now()))),
            times_calls: config.rates.is_some_and(|r| r.slow_calls.is_some()),
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

    /// What the window holds now (`None`: no rate threshold is set).
    pub fn window_totals(&self) -> Option<Totals> {
        let window = self.window.as_ref()?;
        Some(window.totals(|| self.store.coarse_now()))
    }

    /// Counts a transition, and starts the window over when one leaves or enters CLOSED (a new
    /// CLOSED period is judged on its own calls).
    #[inline(always)]
    fn counted(&self, transition: Option<Transition>) -> Option<Transition> {
        if let Some(t) = &transition {
            self.transitioned(t);
        }
        transition
    }

    fn transitioned(&self, transition: &Transition) {
        self.counters.transition(transition.to);
        self.restart_window();
    }

    /// Starts the window over, from now.
    fn restart_window(&self) {
        if let Some(window) = &self.window {
            window.clear(|| self.store.coarse_now());
        }
    }

    fn counted_admission(&self, admission: Admission) -> Admission {
        if let Admission::Admitted(_, Some(t)) = &admission {
            self.transitioned(t);
        }
        admission
    }

    /// Stamps a ticket with its admission time when calls are timed.
    #[inline(always)]
    fn timed(&self, admission: Admission) -> Admission {
        match admission {
            Admission::Admitted(mut ticket, transition) if self.times_calls => {
                ticket.started = self.store.now();
                Admission::Admitted(ticket, transition)
            }
            other => other,
        }
    }

    /// The hot path's admission (a CLOSED circuit, no lock); `None`: ask
    /// [`Breaker::try_acquire`].
    #[inline(always)]
    pub fn admit_closed(&self) -> Option<Ticket> {
        let mut ticket = self.store.admit_closed()?;
        if self.times_calls {
            ticket.started = self.store.now();
        }
        Some(ticket)
    }

    /// The hot path's outcome: records it into the window (atomic arithmetic, no lock) and
    /// settles it when it changes nothing. `Err`: hand the report to [`Breaker::try_report`] or
    /// [`Breaker::report`].
    #[inline(always)]
    pub fn settle_quiet(&self, ticket: Ticket, outcome: Outcome) -> Result<(), Report> {
        let Some(window) = &self.window else {
            if self.store.settle_quiet(ticket, outcome) {
                self.counters.outcome(outcome);
                return Ok(());
            }
            return Err(Report {
                ticket,
                outcome,
                trip: None,
            });
        };
        // The common case first: a success the store settles as it is was admitted in the
        // CLOSED period the circuit is in now (the store has just compared the generation), so
        // the window takes it without asking that again, and no rate can come of it while
        // nothing in the window failed or was slow (a time window adds it to a batch).
        let current = outcome == Outcome::Success && self.store.settle_quiet(ticket, outcome);
        if current && !self.times_calls && window.record_quiet_success(|| self.store.coarse_now()) {
            self.counters.outcome(outcome);
            return Ok(());
        }
        // Everything else, with the ticket in three registers (as a struct, it would be written
        // to memory for the call, on the hot path too).
        let [generation, trial_slot, started] = ticket.into_words();
        self.settle_other(generation, trial_slot, started, outcome, current)
    }

    /// [`Breaker::settle_quiet`] with a window, for everything but a success it took quietly: a
    /// failure, an ignored outcome, a success the store must record (it ends a run of failures,
    /// or the call is from another period), or one the window must judge (`settled`: the store
    /// took it as it is, and something in the window failed or was slow, or calls are timed).
    #[inline(never)]
    fn settle_other(
        &self,
        generation: u64,
        trial_slot: u64,
        started: Nanos,
        outcome: Outcome,
        settled: bool,
    ) -> Result<(), Report> {
        let ticket = Ticket::from_words([generation, trial_slot, started]);
        let trip = match &self.window {
            Some(window) if settled => self.observe_current(window, ticket, false),
            Some(window) => self.observe(window, ticket, outcome),
            None => None,
        };
        if trip.is_none() && (settled || self.store.settle_quiet(ticket, outcome)) {
            self.counters.outcome(outcome);
            return Ok(());
        }
        Err(Report {
            ticket,
            outcome,
            trip,
        })
    }

    /// Puts a counted outcome of the current CLOSED period into the window; the trip it causes
    /// when that brings a rate to its threshold.
    #[inline]
    fn observe(&self, window: &Window, ticket: Ticket, outcome: Outcome) -> Option<Trip> {
        if outcome == Outcome::Ignored || !self.store.is_current_closed(ticket) {
            return None;
        }
        self.observe_current(window, ticket, outcome == Outcome::Failure)
    }

    /// [`Breaker::observe`] for an outcome known to be of the current CLOSED period.
    #[inline(always)]
    fn observe_current(&self, window: &Window, ticket: Ticket, failed: bool) -> Option<Trip> {
        let totals = if self.times_calls {
            // A timed call: its end, read for its duration, also picks its bucket.
            let now = self.store.now();
            let slow = self
                .config
                .rates
                .as_ref()
                .is_some_and(|rates| rates.is_slow(now.saturating_sub(ticket.started)));
            window.record_at(Sample { failed, slow }, now)
        } else {
            // The coarse clock to pick a bucket (a few milliseconds off at most, against buckets
            // of a tenth of the window), read only when the window needs it.
            window.record(
                Sample {
                    failed,
                    slow: false,
                },
                || self.store.coarse_now(),
            )
        }?;
        // A window is kept only for rates (see `new`).
        let rates = self.config.rates.as_ref()?;
        rates.reached(totals).map(|reason| Trip {
            reason,
            open_for: None,
        })
    }

    /// Decides whether a call may run now without waiting; `None`: ask [`Breaker::acquire`].
    #[inline(always)]
    pub fn try_acquire(&self) -> Option<Admission> {
        let admission = self.store.try_acquire(&self.config)?;
        Some(self.timed(self.counted_admission(admission)))
    }

    /// Reports an outcome without waiting; `None`: report it with [`Breaker::report`].
    #[inline(always)]
    pub fn try_report(&self, report: Report) -> Option<Option<Transition>> {
        let transition =
            self.store
                .try_record(&self.config, report.ticket, report.outcome, report.trip)?;
        self.counters.outcome(report.outcome);
        Some(self.counted(transition))
    }

    /// Reports how an admitted call ended (what [`Breaker::settle_quiet`] could not settle);
    /// returns the transition it caused. May wait on the store's I/O. The call is counted even
    /// when the store fails to take its outcome: it ran, and ended so.
    #[inline]
    pub fn report(&self, report: Report) -> StoreResult<Option<Transition>> {
        self.counters.outcome(report.outcome);
        Ok(self.counted(self.store.record(
            &self.config,
            report.ticket,
            report.outcome,
            report.trip,
        )?))
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
                self.transitioned(t);
            }
        }
        news
    }

    /// Decides whether a call may run now. May wait on the store's I/O.
    #[inline]
    pub fn acquire(&self) -> StoreResult<Admission> {
        let admission = self.store.acquire(&self.config)?;
        Ok(self.timed(self.counted_admission(admission)))
    }

    /// Reports how an admitted call ended, through the lock-free path when it can; returns the
    /// transition it caused. May wait on the store's I/O.
    pub fn record(&self, ticket: Ticket, outcome: Outcome) -> StoreResult<Option<Transition>> {
        match self.settle_quiet(ticket, outcome) {
            Ok(()) => Ok(None),
            Err(report) => self.report(report),
        }
    }

    /// Gives back a ticket whose call ended without an outcome; never blocks or fails.
    pub fn release(&self, ticket: Ticket) {
        self.store.release(&self.config, ticket)
    }

    /// The breaker as the next call would find it. Never changes anything.
    pub fn snapshot(&self) -> StoreResult<Snapshot> {
        self.store.snapshot(&self.config)
    }

    /// Closes the circuit and zeroes the counts (the window too); `last_failure_time` is
    /// history and stays.
    pub fn reset(&self) -> StoreResult<Option<Transition>> {
        let transition = self.store.reset(&self.config)?;
        self.restart_window(); // also when it was CLOSED already
        Ok(self.counted(transition))
    }

    /// Forces the circuit open for `duration` (`None`: the usual open duration), restarting the
    /// timer even when it was open already.
    pub fn force_open(&self, duration: Option<Nanos>) -> StoreResult<Option<Transition>> {
        Ok(self.counted(self.store.force_open(&self.config, duration)?))
    }

    /// Holds the circuit open until [`Breaker::reset`], whatever the timeout.
    pub fn isolate(&self) -> StoreResult<Option<Transition>> {
        Ok(self.counted(self.store.isolate(&self.config)?))
    }

    /// Lets every call pass, counting nothing, until [`Breaker::reset`].
    pub fn disable(&self) -> StoreResult<Option<Transition>> {
        Ok(self.counted(self.store.disable(&self.config)?))
    }
}
