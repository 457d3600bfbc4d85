//! The circuit breaker state machine: it decides, it never stores, and it does no I/O.
//!
//! A [`Machine`] is the state of one circuit (CLOSED, OPEN or HALF_OPEN, its counts, its trial
//! slots) and the rules that change it. A store keeps a `Machine` wherever it keeps state (behind a
//! lock in memory, for the in-memory store) and calls these methods with the time it supplies.
//!
//! Every protected call goes through two steps: [`Machine::acquire`] decides whether the call may
//! run and hands out a [`Ticket`], and [`Machine::record`] reports the call's [`Outcome`] with that
//! ticket.
//!
//! Every transition, reset and forced opening starts a new *generation*. A ticket remembers the
//! generation it was issued in, and an outcome that arrives after the generation has moved on is
//! late and ignored: a slow call started while CLOSED cannot re-open or close a circuit that has
//! changed since.
//!
//! HALF_OPEN admits at most `half_open_max_calls` trials at once. A trial that has been out for
//! `trial_timeout` is taken to be hung: its slot goes to the next caller, so a breaker is never
//! wedged in HALF_OPEN by a call that never returns. Its outcome, should it arrive while the
//! circuit is still in the same half-open period, counts like any other trial's: a service slower
//! than the trial timeout still gets the circuit closed.
//!
//! Methods that change the state return the [`Transition`] they made (if any) instead of
//! reporting it, so that the caller can report it after its lock is released.

use std::collections::VecDeque;
use std::num::NonZeroU64;

use crate::clock::{Clock, Nanos};
use crate::config::Config;
use crate::events::{Reason, Transition};

/// The states of a circuit: the three of the state machine, and two set by hand.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum State {
    #[default]
    Closed,
    Open,
    HalfOpen,
    /// `isolate()`: open until `reset()`, whatever the timeout.
    Isolated,
    /// `disable()`: every call passes and no outcome counts, until `reset()`.
    Disabled,
}

impl State {
    /// The lower-case name used in statuses and by the Python `CircuitState` enum.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
            State::Isolated => "isolated",
            State::Disabled => "disabled",
        }
    }

    pub const ALL: [State; 5] = [
        State::Closed,
        State::Open,
        State::HalfOpen,
        State::Isolated,
        State::Disabled,
    ];
}

/// How a protected call ended, as far as the breaker is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The call returned normally.
    Success,
    /// The call raised one of the expected exceptions.
    Failure,
    /// The call raised something else: it neither counts as a success nor as a failure, but a
    /// trial slot it held is given back.
    Ignored,
}

/// Generations wrap at 2^60, so that a store can pack one beside four flags in a word (and a ticket
/// can carry a flag above it); a breaker would need centuries of transitions to get there.
pub const GENERATION_BITS: u32 = 60;
const GENERATION_MASK: u64 = u64::MAX >> (64 - GENERATION_BITS);

/// Permission to run one call, issued by [`Machine::acquire`] and handed back to
/// [`Machine::record`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a ticket must be handed back to the store, or a trial slot leaks"]
pub struct Ticket {
    pub(crate) generation: u64,
    /// The trial's id plus one when the ticket holds a HALF_OPEN trial slot (a niche: the
    /// option is one word, and the ticket three, copied on every call). Read with
    /// [`Ticket::trial`].
    trial_slot: Option<NonZeroU64>,
    /// When the call was admitted, on the store's clock: set only for a breaker that times its
    /// calls (slow-call rate), else 0.
    pub(crate) started: Nanos,
}

impl Ticket {
    /// A ticket for a call admitted while CLOSED in `generation`.
    pub(crate) fn closed(generation: u64) -> Self {
        Ticket {
            generation,
            trial_slot: None,
            started: 0,
        }
    }

    /// A ticket of `generation` holding the trial slot `trial` (if any).
    fn with_trial(generation: u64, trial: Option<u64>) -> Self {
        Ticket {
            generation,
            // Trial ids count from 0 and would take centuries to reach u64::MAX.
            trial_slot: trial.and_then(|id| NonZeroU64::new(id.wrapping_add(1))),
            started: 0,
        }
    }

    /// The id of the HALF_OPEN trial slot this ticket holds.
    #[inline(always)]
    pub(crate) fn trial(&self) -> Option<u64> {
        self.trial_slot.map(|slot| slot.get() - 1)
    }

    /// Whether this ticket holds one of the HALF_OPEN trial slots.
    #[inline(always)]
    pub fn is_trial(&self) -> bool {
        self.trial_slot.is_some()
    }

    /// Marks a generation as the fleet's (issued by a shared store) rather than a machine's in
    /// this process: the bit above every generation (a flag, not a field, so that a ticket is no
    /// bigger for it: the hot path copies it).
    pub(crate) const SHARED: u64 = 1 << 63;

    /// A ticket of a store shared by a fleet.
    pub(crate) fn shared(generation: u64, trial: Option<u64>) -> Self {
        Ticket::with_trial(generation | Self::SHARED, trial)
    }

    /// The ticket as three words, to hand to a function that is not inlined in registers (a
    /// three-word struct goes through memory): see [`Ticket::from_words`].
    #[inline(always)]
    pub(crate) fn into_words(self) -> [u64; 3] {
        [
            self.generation,
            self.trial_slot.map_or(0, NonZeroU64::get),
            self.started,
        ]
    }

    /// The ticket [`Ticket::into_words`] gave.
    #[inline(always)]
    pub(crate) fn from_words([generation, trial_slot, started]: [u64; 3]) -> Self {
        Ticket {
            generation,
            trial_slot: NonZeroU64::new(trial_slot),
            started,
        }
    }

    /// Whether a store shared by a fleet issued this ticket.
    pub(crate) fn is_shared(&self) -> bool {
        self.generation & Self::SHARED != 0
    }

    /// The generation it was issued in, without the shared flag.
    pub(crate) fn generation(&self) -> u64 {
        self.generation & !Self::SHARED
    }
}

/// Why an outcome opens the circuit whatever the consecutive count says: a rate over the window
/// reached ([`Reason::FailureRate`], [`Reason::SlowCallRate`]), or a failure whose caller was told
/// when to come back ([`Reason::OpenFor`], with `open_for`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trip {
    pub reason: Reason,
    /// How long to stay open; `None`: the usual open duration.
    pub open_for: Option<Nanos>,
}

/// A HALF_OPEN trial in flight.
#[derive(Clone, Copy, Debug)]
struct Trial {
    id: u64,
    started: Nanos,
}

/// A duration that never ends: how long an ISOLATED circuit stays so (until `reset()`).
pub const FOREVER: Nanos = Nanos::MAX;

/// Why a call was turned away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The state the call met (OPEN, ISOLATED, or HALF_OPEN with every trial slot taken).
    pub state: State,
    /// How long until a call could be admitted; zero when the trial slots are full, [`FOREVER`]
    /// when isolated.
    pub retry_after: Nanos,
}

/// What [`Machine::acquire`] decided.
#[derive(Debug, PartialEq)]
pub enum Admission {
    /// The call may run. The transition is OPEN -> HALF_OPEN when this call is the first one
    /// after the recovery timeout.
    Admitted(Ticket, Option<Transition>),
    Rejected(Rejection),
}

/// A consistent view of a breaker at one instant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Snapshot {
    /// The state the next call would meet: HALF_OPEN once the recovery timeout has passed.
    pub state: State,
    pub failure_count: u32,
    pub success_count: u32,
    /// Trial calls running now and not yet timed out (HALF_OPEN only).
    pub trials_in_flight: u32,
    /// Wall-clock time of the last counted failure, in seconds since the Unix epoch.
    pub last_failure_time: Option<f64>,
    /// How long until an OPEN circuit admits a trial; zero otherwise ([`FOREVER`] when
    /// isolated).
    pub retry_after: Nanos,
    /// How long the current (or last) opening lasts; `recovery_timeout` while CLOSED (or
    /// DISABLED), [`FOREVER`] when isolated.
    pub open_duration: Nanos,
}

/// The state of one circuit, and the rules that change it.
#[derive(Clone, Debug, Default)]
pub struct Machine {
    /// The stored state. OPEN stays stored after the timeout has passed until a call arrives;
    /// readers compute the effective state.
    state: State,
    failure_count: u32,
    success_count: u32,
    /// HALF_OPEN trials in flight, oldest first (ids and start times only grow).
    trials: VecDeque<Trial>,
    next_trial_id: u64,
    opened_at: Nanos,
    /// How long the current opening lasts (backoff, `open(duration)`, `open_for`).
    open_for: Nanos,
    /// Half-open trials failed since the circuit last closed: the backoff exponent.
    failed_trials: u32,
    generation: u64,
    last_failure_time: Option<f64>,
}

impl Machine {
    pub fn new() -> Self {
        Self::default()
    }

    /// The stored state (OPEN even once its timeout has passed, until a call arrives).
    pub fn stored_state(&self) -> State {
        self.state
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn failure_count(&self) -> u32 {
        self.failure_count
    }

    fn open_timeout_elapsed(&self, now: Nanos) -> bool {
        self.state == State::Open && now.saturating_sub(self.opened_at) >= self.open_for
    }

    fn effective_state(&self, now: Nanos) -> State {
        if self.open_timeout_elapsed(now) {
            State::HalfOpen
        } else {
            self.state
        }
    }

    /// Opens the circuit for `open_for` (`None`: the next duration the backoff gives).
    fn open<C: Clock>(
        &mut self,
        config: &Config,
        reason: Reason,
        open_for: Option<Nanos>,
        clock: &C,
    ) -> Transition {
        self.open_for = open_for.unwrap_or_else(|| {
            config
                .backoff
                .next(config.recovery_timeout, self.failed_trials)
        });
        self.transition(State::Open, reason, clock)
    }

    /// Moves to `to`, starting a new generation, and describes the move.
    fn transition<C: Clock>(&mut self, to: State, reason: Reason, clock: &C) -> Transition {
        let (from, failures_before, successes_before) =
            (self.state, self.failure_count, self.success_count);
        let now = clock.now();
        self.state = to;
        self.generation = (self.generation + 1) & GENERATION_MASK;
        self.trials.clear();
        match to {
            State::Open => {
                self.opened_at = now;
                self.success_count = 0;
            }
            State::HalfOpen | State::Isolated => self.success_count = 0,
            State::Closed | State::Disabled => {
                self.failure_count = 0;
                self.success_count = 0;
                self.failed_trials = 0;
            }
        }
        Transition {
            from,
            to,
            reason,
            failure_count: self.failure_count,
            success_count: self.success_count,
            failures_before,
            successes_before,
            time: clock.wall_seconds(),
        }
    }

    fn is_hung(trial: &Trial, config: &Config, now: Nanos) -> bool {
        config
            .trial_timeout
            .is_some_and(|timeout| now.saturating_sub(trial.started) >= timeout)
    }

    /// Gives the slots of hung trials to new callers; their outcomes will be late.
    fn reclaim_hung_trials(&mut self, config: &Config, now: Nanos) {
        while self
            .trials
            .front()
            .is_some_and(|trial| Self::is_hung(trial, config, now))
        {
            self.trials.pop_front();
        }
    }

    /// Starts a trial; returns its ticket.
    fn start_trial(&mut self, now: Nanos) -> Ticket {
        let id = self.next_trial_id;
        self.next_trial_id = self.next_trial_id.wrapping_add(1);
        self.trials.push_back(Trial { id, started: now });
        Ticket::with_trial(self.generation, Some(id))
    }

    /// Ends the trial `id`, giving its slot back unless it was reclaimed as hung already.
    fn end_trial(&mut self, id: u64) {
        if let Some(index) = self.trials.iter().position(|trial| trial.id == id) {
            self.trials.remove(index);
        }
    }

    fn count_failure<C: Clock>(&mut self, clock: &C) {
        self.failure_count = self.failure_count.saturating_add(1);
        self.last_failure_time = Some(clock.wall_seconds());
    }

    /// Decides whether a call may run now.
    pub fn acquire<C: Clock>(&mut self, config: &Config, clock: &C) -> Admission {
        match self.state {
            State::Closed | State::Disabled => {
                Admission::Admitted(Ticket::closed(self.generation), None)
            }
            State::Isolated => Admission::Rejected(Rejection {
                state: State::Isolated,
                retry_after: FOREVER,
            }),
            State::Open => {
                let now = clock.now();
                let elapsed = now.saturating_sub(self.opened_at);
                if elapsed < self.open_for {
                    return Admission::Rejected(Rejection {
                        state: State::Open,
                        retry_after: self.open_for - elapsed,
                    });
                }
                let transition = self.transition(State::HalfOpen, Reason::RecoveryTimeout, clock);
                Admission::Admitted(self.start_trial(now), Some(transition))
            }
            State::HalfOpen => {
                let now = clock.now();
                self.reclaim_hung_trials(config, now);
                if self.trials.len() >= config.half_open_max_calls as usize {
                    return Admission::Rejected(Rejection {
                        state: State::HalfOpen,
                        retry_after: 0,
                    });
                }
                Admission::Admitted(self.start_trial(now), None)
            }
        }
    }

    /// Reports how an admitted call ended. Returns the transition it caused, if any. With `trip`,
    /// a CLOSED circuit opens whatever the consecutive count (a rate reached, or a failure with an
    /// open duration of its own); a failed trial reopens for the trip's duration.
    pub fn record<C: Clock>(
        &mut self,
        config: &Config,
        ticket: Ticket,
        outcome: Outcome,
        trip: Option<Trip>,
        clock: &C,
    ) -> Option<Transition> {
        if ticket.generation != self.generation {
            // Late: the breaker has moved on since this call was admitted (and the move already
            // took back every trial slot of the old generation).
            return None;
        }
        if let Some(id) = ticket.trial() {
            // A trial taken for hung has lost its slot, but not its say: same generation.
            self.end_trial(id);
        }
        match (self.state, outcome) {
            (State::Closed, Outcome::Success) => {
                self.failure_count = 0;
                // A success can reach a rate: the slow-call rate, or any rate once the window
                // holds `minimum_calls`.
                trip.map(|trip| self.open(config, trip.reason, trip.open_for, clock))
            }
            (State::Closed, Outcome::Failure) => {
                self.count_failure(clock);
                if let Some(trip) = trip {
                    return Some(self.open(config, trip.reason, trip.open_for, clock));
                }
                config
                    .failure_threshold
                    .is_some_and(|threshold| self.failure_count >= threshold)
                    .then(|| self.open(config, Reason::FailureThreshold, None, clock))
            }
            (State::HalfOpen, Outcome::Success) => {
                self.success_count = self.success_count.saturating_add(1);
                (self.success_count >= config.success_threshold)
                    .then(|| self.transition(State::Closed, Reason::TrialSucceeded, clock))
            }
            (State::HalfOpen, Outcome::Failure) => {
                self.count_failure(clock);
                self.failed_trials = self.failed_trials.saturating_add(1);
                let (reason, open_for) = match trip {
                    Some(Trip {
                        reason,
                        open_for: Some(open_for),
                    }) => (reason, Some(open_for)),
                    _ => (Reason::TrialFailed, None),
                };
                Some(self.open(config, reason, open_for, clock))
            }
            // The trial's slot was given back above; nothing else changes.
            (State::HalfOpen, Outcome::Ignored) => None,
            // Nothing admitted in an OPEN or ISOLATED generation (the OPEN -> HALF_OPEN move
            // starts a new one before admitting), nothing counts while DISABLED, and an ignored
            // outcome in CLOSED changes nothing.
            (State::Open | State::Isolated | State::Disabled, _)
            | (State::Closed, Outcome::Ignored) => None,
        }
    }

    /// The breaker as the next call would find it at `now`. Never changes anything.
    pub fn snapshot(&self, config: &Config, now: Nanos) -> Snapshot {
        let state = self.effective_state(now);
        let retry_after = match state {
            State::Open => self
                .open_for
                .saturating_sub(now.saturating_sub(self.opened_at)),
            State::Isolated => FOREVER,
            _ => 0,
        };
        Snapshot {
            state,
            failure_count: self.failure_count,
            // A circuit past its timeout has not started its trials yet.
            success_count: if self.state == state {
                self.success_count
            } else {
                0
            },
            trials_in_flight: if state == State::HalfOpen {
                let running = self
                    .trials
                    .iter()
                    .filter(|trial| !Self::is_hung(trial, config, now))
                    .count();
                u32::try_from(running).unwrap_or(u32::MAX)
            } else {
                0
            },
            last_failure_time: self.last_failure_time,
            retry_after,
            open_duration: match self.state {
                State::Closed | State::Disabled => config.recovery_timeout,
                State::Isolated => FOREVER,
                State::Open | State::HalfOpen => self.open_for,
            },
        }
    }

    /// Closes the circuit and zeroes the counts; `last_failure_time` is history and stays.
    /// Always starts a new generation; returns the transition when the state changed.
    pub fn reset<C: Clock>(&mut self, clock: &C) -> Option<Transition> {
        self.move_by_hand(State::Closed, Reason::Reset, clock)
    }

    /// Forces the circuit open for `duration` (`None`: the usual open duration), restarting the
    /// timer even when it was open already. Always starts a new generation; returns the
    /// transition when the state changed.
    pub fn force_open<C: Clock>(
        &mut self,
        config: &Config,
        duration: Option<Nanos>,
        clock: &C,
    ) -> Option<Transition> {
        // The state it moves from is judged by the current opening's duration, not the new one.
        let from = self.effective_state(clock.now());
        self.open_for = duration.unwrap_or_else(|| {
            config
                .backoff
                .next(config.recovery_timeout, self.failed_trials)
        });
        self.move_from(from, State::Open, Reason::Forced, clock)
    }

    /// Isolates the circuit: open until [`Machine::reset`], whatever the timeout. Always starts
    /// a new generation; returns the transition when the state changed.
    pub fn isolate<C: Clock>(&mut self, clock: &C) -> Option<Transition> {
        self.move_by_hand(State::Isolated, Reason::Isolated, clock)
    }

    /// Disables the circuit: every call passes and nothing counts, until [`Machine::reset`].
    /// Always starts a new generation; returns the transition when the state changed.
    pub fn disable<C: Clock>(&mut self, clock: &C) -> Option<Transition> {
        self.move_by_hand(State::Disabled, Reason::Disabled, clock)
    }

    fn move_by_hand<C: Clock>(
        &mut self,
        to: State,
        reason: Reason,
        clock: &C,
    ) -> Option<Transition> {
        let from = self.effective_state(clock.now());
        self.move_from(from, to, reason, clock)
    }

    /// A move by hand from the state the next call would have met, `from`.
    fn move_from<C: Clock>(
        &mut self,
        from: State,
        to: State,
        reason: Reason,
        clock: &C,
    ) -> Option<Transition> {
        let mut transition = self.transition(to, reason, clock);
        transition.from = from;
        (from != to).then_some(transition)
    }
}
