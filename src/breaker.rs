//! The circuit breaker state machine, in plain Rust (no PyO3 here).
//!
//! A [`Breaker`] is CLOSED, OPEN or HALF_OPEN. Every protected call goes through two steps:
//! [`Breaker::acquire`] decides whether the call may run and hands out a [`Ticket`], and
//! [`Breaker::record`] reports the call's [`Outcome`] with that ticket. Both take the time from a
//! [`Clock`], so the whole machine is deterministic under a manual clock.
//!
//! Every transition, reset and forced opening starts a new *generation*. A ticket remembers the
//! generation it was issued in, and an outcome that arrives after the generation has moved on is
//! late and ignored: a slow call started while CLOSED cannot re-open or close a circuit that has
//! changed since.
//!
//! HALF_OPEN admits at most `half_open_max_calls` trials at once. A trial that has been out for
//! `trial_timeout` is taken to be hung: its slot goes to the next caller and its outcome, should
//! it ever arrive, is late. A breaker is never wedged in HALF_OPEN by a call that never returns.
//!
//! Methods that change the state return the [`Transition`] they made (if any) instead of logging
//! it, so that the caller can report it after the lock is released.
//!
//! The methods `acquire`, `record`, `snapshot`, `reset` and `force_open` are the whole surface the
//! bindings use: a breaker whose state lives in a shared store would provide the same five.
//!
//! The state lives behind a lock. The hot path of a healthy service (a CLOSED circuit, calls that
//! succeed) takes no lock: after every change the lock holder publishes a one-word summary
//! (state, generation, whether failures are counted), and a call admitted in CLOSED whose success
//! changes nothing reads only that word.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::clock::{Clock, Nanos};

/// The three states of a circuit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    Closed,
    Open,
    HalfOpen,
}

impl State {
    /// The lower-case name used in statuses and by the Python `CircuitState` enum.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
        }
    }
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

/// The settings of one breaker. Validated by [`Config::new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    pub failure_threshold: u32,
    pub success_threshold: u32,
    pub half_open_max_calls: u32,
    pub recovery_timeout: Nanos,
    /// How long a HALF_OPEN trial may run before its slot is reclaimed; `None`: forever.
    pub trial_timeout: Option<Nanos>,
}

/// Why a [`Config`] could not be built: the name of the argument and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub argument: &'static str,
    pub message: String,
}

impl Config {
    pub fn new(
        failure_threshold: u32,
        success_threshold: u32,
        half_open_max_calls: u32,
        recovery_timeout: Nanos,
    ) -> Result<Self, ConfigError> {
        for (argument, value) in [
            ("failure_threshold", failure_threshold),
            ("success_threshold", success_threshold),
            ("half_open_max_calls", half_open_max_calls),
        ] {
            if value < 1 {
                return Err(ConfigError {
                    argument,
                    message: format!("{argument} must be at least 1, got {value}"),
                });
            }
        }
        Ok(Config {
            failure_threshold,
            success_threshold,
            half_open_max_calls,
            recovery_timeout,
            trial_timeout: Self::default_trial_timeout(recovery_timeout),
        })
    }

    /// A trial may run as long as the circuit stayed open: `recovery_timeout`, or forever when
    /// that is zero (a trial cannot be "hung" after no time at all).
    pub fn default_trial_timeout(recovery_timeout: Nanos) -> Option<Nanos> {
        (recovery_timeout > 0).then_some(recovery_timeout)
    }

    /// Sets how long a trial may run before its slot is reclaimed (`None`: forever).
    pub fn with_trial_timeout(self, trial_timeout: Option<Nanos>) -> Result<Self, ConfigError> {
        if trial_timeout == Some(0) {
            return Err(ConfigError {
                argument: "trial_timeout",
                message: "trial_timeout must be greater than 0".to_owned(),
            });
        }
        Ok(Config {
            trial_timeout,
            ..self
        })
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            failure_threshold: 5,
            success_threshold: 2,
            half_open_max_calls: 1,
            recovery_timeout: 60 * crate::clock::NANOS_PER_SECOND,
            trial_timeout: Some(60 * crate::clock::NANOS_PER_SECOND),
        }
    }
}

/// Permission to run one call, issued by [`Breaker::acquire`] and handed back to
/// [`Breaker::record`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a ticket must be handed back to Breaker::record, or a trial slot leaks"]
pub struct Ticket {
    generation: u64,
    /// The trial's id when the ticket holds a HALF_OPEN trial slot.
    trial: Option<u64>,
}

impl Ticket {
    /// Whether this ticket holds one of the HALF_OPEN trial slots.
    pub fn is_trial(&self) -> bool {
        self.trial.is_some()
    }
}

/// A HALF_OPEN trial in flight.
#[derive(Clone, Copy, Debug)]
struct Trial {
    id: u64,
    started: Nanos,
}

/// A change of state, for logging and listeners.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    pub from: State,
    pub to: State,
    pub failure_count: u32,
    pub success_count: u32,
}

/// Why a call was turned away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The state the call met (OPEN, or HALF_OPEN with every trial slot taken).
    pub state: State,
    /// How long until a call could be admitted; zero when the trial slots are full.
    pub retry_after: Nanos,
}

/// What [`Breaker::acquire`] decided.
#[derive(Debug, PartialEq, Eq)]
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
    /// How long until an OPEN circuit admits a trial; zero otherwise.
    pub retry_after: Nanos,
}

#[derive(Debug)]
struct Inner {
    /// The stored state. OPEN stays stored after the timeout has passed until a call arrives;
    /// readers compute the effective state.
    state: State,
    failure_count: u32,
    success_count: u32,
    /// HALF_OPEN trials in flight, oldest first (ids and start times only grow).
    trials: VecDeque<Trial>,
    next_trial_id: u64,
    opened_at: Nanos,
    generation: u64,
    last_failure_time: Option<f64>,
}

impl Inner {
    fn open_timeout_elapsed(&self, config: &Config, now: Nanos) -> bool {
        self.state == State::Open && now.saturating_sub(self.opened_at) >= config.recovery_timeout
    }

    fn effective_state(&self, config: &Config, now: Nanos) -> State {
        if self.open_timeout_elapsed(config, now) {
            State::HalfOpen
        } else {
            self.state
        }
    }

    /// Moves to `to`, starting a new generation, and describes the move.
    fn transition(&mut self, to: State, now: Nanos) -> Transition {
        let from = self.state;
        self.state = to;
        self.generation = (self.generation + 1) & Summary::GENERATION_MASK;
        self.trials.clear();
        match to {
            State::Open => {
                self.opened_at = now;
                self.success_count = 0;
            }
            State::HalfOpen => self.success_count = 0,
            State::Closed => {
                self.failure_count = 0;
                self.success_count = 0;
            }
        }
        Transition {
            from,
            to,
            failure_count: self.failure_count,
            success_count: self.success_count,
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
        Ticket {
            generation: self.generation,
            trial: Some(id),
        }
    }

    /// Ends the trial `id`; false when it is no longer in flight (reclaimed as hung).
    fn end_trial(&mut self, id: u64) -> bool {
        match self.trials.iter().position(|trial| trial.id == id) {
            Some(index) => {
                self.trials.remove(index);
                true
            }
            None => false,
        }
    }

    fn count_failure<C: Clock>(&mut self, clock: &C) {
        self.failure_count = self.failure_count.saturating_add(1);
        self.last_failure_time = Some(clock.wall_seconds());
    }
}

/// The word published after every change of the state: what the lock-free hot path reads.
struct Summary;

impl Summary {
    const STATE_BITS: u64 = 0b11;
    const CLOSED: u64 = 0;
    const OPEN: u64 = 1;
    const HALF_OPEN: u64 = 2;
    /// Set while CLOSED with failures counted (a success would have to reset them).
    const FAILURES: u64 = 0b100;
    const GENERATION_SHIFT: u32 = 3;
    /// Generations wrap at 2^61; a breaker would need centuries of transitions to get there.
    const GENERATION_MASK: u64 = u64::MAX >> Self::GENERATION_SHIFT;

    fn of(inner: &Inner) -> u64 {
        let state = match inner.state {
            State::Closed => Self::CLOSED,
            State::Open => Self::OPEN,
            State::HalfOpen => Self::HALF_OPEN,
        };
        let failures = if inner.failure_count > 0 {
            Self::FAILURES
        } else {
            0
        };
        (inner.generation << Self::GENERATION_SHIFT) | failures | state
    }

    /// CLOSED, no failures counted, in `generation`.
    fn quiet_closed(generation: u64) -> u64 {
        (generation << Self::GENERATION_SHIFT) | Self::CLOSED
    }
}

/// One circuit breaker: its settings and its state behind a lock that is only ever held for a
/// few instructions (never while a protected call or any other foreign code runs).
#[derive(Debug)]
pub struct Breaker {
    config: Config,
    inner: Mutex<Inner>,
    /// [`Summary`] of `inner`, written under the lock after every change.
    summary: AtomicU64,
}

impl Breaker {
    pub fn new(config: Config) -> Self {
        Breaker {
            config,
            inner: Mutex::new(Inner {
                state: State::Closed,
                failure_count: 0,
                success_count: 0,
                trials: VecDeque::new(),
                next_trial_id: 0,
                opened_at: 0,
                generation: 0,
                last_failure_time: None,
            }),
            summary: AtomicU64::new(Summary::quiet_closed(0)),
        }
    }

    /// Runs `change` under the lock, then publishes the summary of the result.
    fn change<R>(&self, change: impl FnOnce(&mut Inner) -> R) -> R {
        let mut inner = self.inner.lock();
        let result = change(&mut inner);
        self.summary.store(Summary::of(&inner), Ordering::Release);
        result
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Decides whether a call may run now.
    pub fn acquire<C: Clock>(&self, clock: &C) -> Admission {
        let summary = self.summary.load(Ordering::Acquire);
        if summary & Summary::STATE_BITS == Summary::CLOSED {
            // Lock-free: a transition racing with this call makes its outcome late, exactly as
            // if the call had been admitted just before the transition.
            let generation = summary >> Summary::GENERATION_SHIFT;
            return Admission::Admitted(
                Ticket {
                    generation,
                    trial: None,
                },
                None,
            );
        }
        self.change(|inner| self.acquire_locked(inner, clock))
    }

    fn acquire_locked<C: Clock>(&self, inner: &mut Inner, clock: &C) -> Admission {
        match inner.state {
            State::Closed => Admission::Admitted(
                Ticket {
                    generation: inner.generation,
                    trial: None,
                },
                None,
            ),
            State::Open => {
                let now = clock.now();
                let elapsed = now.saturating_sub(inner.opened_at);
                if elapsed < self.config.recovery_timeout {
                    return Admission::Rejected(Rejection {
                        state: State::Open,
                        retry_after: self.config.recovery_timeout - elapsed,
                    });
                }
                let transition = inner.transition(State::HalfOpen, now);
                Admission::Admitted(inner.start_trial(now), Some(transition))
            }
            State::HalfOpen => {
                let now = clock.now();
                inner.reclaim_hung_trials(&self.config, now);
                if inner.trials.len() >= self.config.half_open_max_calls as usize {
                    return Admission::Rejected(Rejection {
                        state: State::HalfOpen,
                        retry_after: 0,
                    });
                }
                Admission::Admitted(inner.start_trial(now), None)
            }
        }
    }

    /// Reports how an admitted call ended. Returns the transition it caused, if any.
    pub fn record<C: Clock>(
        &self,
        ticket: Ticket,
        outcome: Outcome,
        clock: &C,
    ) -> Option<Transition> {
        if ticket.trial.is_none() {
            // Lock-free when the outcome changes nothing: a success or an ignored outcome in the
            // CLOSED generation the call was admitted in, with no failures counted (or, for an
            // ignored outcome, some).
            let summary = self.summary.load(Ordering::Acquire);
            let quiet = Summary::quiet_closed(ticket.generation);
            match outcome {
                Outcome::Success if summary == quiet => return None,
                Outcome::Ignored if summary & !Summary::FAILURES == quiet => return None,
                _ => {}
            }
        }
        self.change(|inner| self.record_locked(inner, ticket, outcome, clock))
    }

    fn record_locked<C: Clock>(
        &self,
        inner: &mut Inner,
        ticket: Ticket,
        outcome: Outcome,
        clock: &C,
    ) -> Option<Transition> {
        if ticket.generation != inner.generation {
            // Late: the breaker has moved on since this call was admitted (and the move already
            // took back every trial slot of the old generation).
            return None;
        }
        if let Some(id) = ticket.trial {
            if !inner.end_trial(id) {
                return None; // late: the trial was taken for hung and its slot given away
            }
        }
        match (inner.state, outcome) {
            (State::Closed, Outcome::Success) => {
                inner.failure_count = 0;
                None
            }
            (State::Closed, Outcome::Failure) => {
                inner.count_failure(clock);
                if inner.failure_count >= self.config.failure_threshold {
                    Some(inner.transition(State::Open, clock.now()))
                } else {
                    None
                }
            }
            (State::HalfOpen, Outcome::Success) => {
                inner.success_count = inner.success_count.saturating_add(1);
                if inner.success_count >= self.config.success_threshold {
                    Some(inner.transition(State::Closed, clock.now()))
                } else {
                    None
                }
            }
            (State::HalfOpen, Outcome::Failure) => {
                inner.count_failure(clock);
                Some(inner.transition(State::Open, clock.now()))
            }
            // The trial's slot was given back above; nothing else changes.
            (State::HalfOpen, Outcome::Ignored) => None,
            // Nothing admitted in an OPEN generation (the OPEN -> HALF_OPEN move starts a new
            // one before admitting), and an ignored outcome in CLOSED changes nothing.
            (State::Open, _) | (State::Closed, Outcome::Ignored) => None,
        }
    }

    /// The breaker as the next call would find it. Never changes anything.
    pub fn snapshot<C: Clock>(&self, clock: &C) -> Snapshot {
        let now = clock.now();
        let inner = self.inner.lock();
        debug_assert_eq!(
            self.summary.load(Ordering::Acquire),
            Summary::of(&inner),
            "the published summary is stale"
        );
        let state = inner.effective_state(&self.config, now);
        let retry_after = if state == State::Open {
            self.config
                .recovery_timeout
                .saturating_sub(now.saturating_sub(inner.opened_at))
        } else {
            0
        };
        Snapshot {
            state,
            failure_count: inner.failure_count,
            // A circuit past its timeout has not started its trials yet.
            success_count: if inner.state == state {
                inner.success_count
            } else {
                0
            },
            trials_in_flight: if state == State::HalfOpen {
                let running = inner
                    .trials
                    .iter()
                    .filter(|trial| !Inner::is_hung(trial, &self.config, now))
                    .count();
                u32::try_from(running).unwrap_or(u32::MAX)
            } else {
                0
            },
            last_failure_time: inner.last_failure_time,
            retry_after,
        }
    }

    /// Closes the circuit and zeroes the counts; `last_failure_time` is history and stays.
    /// Always starts a new generation; returns the transition when the state changed.
    pub fn reset<C: Clock>(&self, clock: &C) -> Option<Transition> {
        let now = clock.now();
        self.change(|inner| {
            let from = inner.effective_state(&self.config, now);
            let mut transition = inner.transition(State::Closed, now);
            transition.from = from;
            (from != State::Closed).then_some(transition)
        })
    }

    /// Forces the circuit open, restarting the recovery timer even when it was open already.
    /// Always starts a new generation; returns the transition when the state changed.
    pub fn force_open<C: Clock>(&self, clock: &C) -> Option<Transition> {
        let now = clock.now();
        self.change(|inner| {
            let from = inner.effective_state(&self.config, now);
            let mut transition = inner.transition(State::Open, now);
            transition.from = from;
            (from != State::Open).then_some(transition)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{ManualClock, NANOS_PER_SECOND};

    const SECOND: Nanos = NANOS_PER_SECOND;

    fn breaker(failures: u32, successes: u32, trials: u32, timeout_s: u64) -> Breaker {
        Breaker::new(Config::new(failures, successes, trials, timeout_s * SECOND).unwrap())
    }

    fn admit(b: &Breaker, clock: &ManualClock) -> Ticket {
        match b.acquire(clock) {
            Admission::Admitted(ticket, _) => ticket,
            Admission::Rejected(r) => panic!("rejected: {r:?}"),
        }
    }

    fn run(b: &Breaker, clock: &ManualClock, outcome: Outcome) -> Option<Transition> {
        let ticket = admit(b, clock);
        b.record(ticket, outcome, clock)
    }

    fn state(b: &Breaker, clock: &ManualClock) -> State {
        b.snapshot(clock).state
    }

    #[test]
    fn config_rejects_zero_thresholds() {
        let err = Config::new(0, 1, 1, 0).unwrap_err();
        assert_eq!(err.argument, "failure_threshold");
        assert_eq!(
            Config::new(1, 0, 1, 0).unwrap_err().argument,
            "success_threshold"
        );
        assert_eq!(
            Config::new(1, 1, 0, 0).unwrap_err().argument,
            "half_open_max_calls"
        );
        assert_eq!(Config::default().failure_threshold, 5);
    }

    #[test]
    fn opens_after_consecutive_failures() {
        let clock = ManualClock::new();
        let b = breaker(3, 2, 1, 60);
        assert_eq!(run(&b, &clock, Outcome::Failure), None);
        assert_eq!(run(&b, &clock, Outcome::Failure), None);
        let t = run(&b, &clock, Outcome::Failure).unwrap();
        assert_eq!(
            (t.from, t.to, t.failure_count),
            (State::Closed, State::Open, 3)
        );
        let snap = b.snapshot(&clock);
        assert_eq!(snap.state, State::Open);
        assert_eq!(snap.failure_count, 3);
        assert_eq!(snap.retry_after, 60 * SECOND);
        assert!(snap.last_failure_time.is_some());
    }

    #[test]
    fn success_resets_the_failure_streak() {
        let clock = ManualClock::new();
        let b = breaker(3, 2, 1, 60);
        run(&b, &clock, Outcome::Failure);
        run(&b, &clock, Outcome::Failure);
        run(&b, &clock, Outcome::Success);
        assert_eq!(b.snapshot(&clock).failure_count, 0);
        run(&b, &clock, Outcome::Failure);
        run(&b, &clock, Outcome::Failure);
        assert_eq!(state(&b, &clock), State::Closed);
    }

    #[test]
    fn ignored_outcomes_do_not_reset_the_failure_streak() {
        let clock = ManualClock::new();
        let b = breaker(2, 2, 1, 60);
        run(&b, &clock, Outcome::Failure);
        run(&b, &clock, Outcome::Ignored);
        assert_eq!(b.snapshot(&clock).failure_count, 1);
        run(&b, &clock, Outcome::Failure);
        assert_eq!(state(&b, &clock), State::Open);
    }

    #[test]
    fn open_rejects_until_the_timeout_exactly() {
        let clock = ManualClock::new();
        let b = breaker(1, 1, 1, 10);
        run(&b, &clock, Outcome::Failure);
        clock.advance(10 * SECOND - 1);
        match b.acquire(&clock) {
            Admission::Rejected(r) => {
                assert_eq!(r.state, State::Open);
                assert_eq!(r.retry_after, 1);
            }
            other => panic!("admitted: {other:?}"),
        }
        assert_eq!(state(&b, &clock), State::Open);
        clock.advance(1);
        // Reading reports HALF_OPEN but takes no slot and makes no transition.
        assert_eq!(state(&b, &clock), State::HalfOpen);
        assert_eq!(b.snapshot(&clock).trials_in_flight, 0);
        match b.acquire(&clock) {
            Admission::Admitted(ticket, Some(t)) => {
                assert!(ticket.is_trial());
                assert_eq!((t.from, t.to), (State::Open, State::HalfOpen));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn zero_timeout_admits_a_trial_at_once() {
        let clock = ManualClock::new();
        let b = breaker(1, 1, 1, 0);
        run(&b, &clock, Outcome::Failure);
        assert_eq!(state(&b, &clock), State::HalfOpen);
        let t = run(&b, &clock, Outcome::Success);
        assert_eq!(t.map(|t| t.to), Some(State::Closed));
    }

    #[test]
    fn half_open_limits_trials_in_flight() {
        let clock = ManualClock::new();
        let b = breaker(1, 3, 2, 1);
        run(&b, &clock, Outcome::Failure);
        clock.advance(SECOND);
        let first = admit(&b, &clock);
        let second = admit(&b, &clock);
        assert_eq!(
            b.acquire(&clock),
            Admission::Rejected(Rejection {
                state: State::HalfOpen,
                retry_after: 0
            })
        );
        assert_eq!(b.snapshot(&clock).trials_in_flight, 2);
        assert_eq!(b.record(first, Outcome::Ignored, &clock), None);
        let third = admit(&b, &clock);
        assert_eq!(b.record(second, Outcome::Success, &clock), None);
        assert_eq!(b.record(third, Outcome::Success, &clock), None);
        assert_eq!(b.snapshot(&clock).success_count, 2);
        assert_eq!(state(&b, &clock), State::HalfOpen);
        let t = run(&b, &clock, Outcome::Success).unwrap();
        assert_eq!(
            (t.from, t.to, t.failure_count, t.success_count),
            (State::HalfOpen, State::Closed, 0, 0)
        );
    }

    #[test]
    fn a_failed_trial_reopens_and_restarts_the_timer() {
        let clock = ManualClock::new();
        let b = breaker(1, 2, 1, 5);
        run(&b, &clock, Outcome::Failure);
        clock.advance(5 * SECOND);
        run(&b, &clock, Outcome::Success);
        let t = run(&b, &clock, Outcome::Failure).unwrap();
        assert_eq!((t.from, t.to), (State::HalfOpen, State::Open));
        assert_eq!(b.snapshot(&clock).retry_after, 5 * SECOND);
        assert_eq!(b.snapshot(&clock).success_count, 0);
    }

    #[test]
    fn ignored_trials_neither_add_to_nor_break_the_streak() {
        let clock = ManualClock::new();
        let b = breaker(1, 2, 1, 0);
        run(&b, &clock, Outcome::Failure);
        run(&b, &clock, Outcome::Success);
        run(&b, &clock, Outcome::Ignored);
        assert_eq!(b.snapshot(&clock).success_count, 1);
        assert_eq!(state(&b, &clock), State::HalfOpen);
        assert!(run(&b, &clock, Outcome::Success).is_some());
        assert_eq!(state(&b, &clock), State::Closed);
    }

    #[test]
    fn late_outcomes_are_ignored() {
        let clock = ManualClock::new();
        let b = breaker(1, 1, 1, 10);
        let slow = admit(&b, &clock);
        run(&b, &clock, Outcome::Failure);
        // The slow call started while CLOSED; its failure must not touch the OPEN circuit.
        let before = b.snapshot(&clock);
        assert_eq!(b.record(slow, Outcome::Failure, &clock), None);
        assert_eq!(b.snapshot(&clock), before);
        // Nor may a success from before a reset clear a failure counted after it.
        let b = breaker(2, 1, 1, 10);
        let slow = admit(&b, &clock);
        run(&b, &clock, Outcome::Failure);
        assert!(b.reset(&clock).is_none());
        run(&b, &clock, Outcome::Failure);
        b.record(slow, Outcome::Success, &clock);
        assert_eq!(b.snapshot(&clock).failure_count, 1);
    }

    #[test]
    fn reset_and_force_open_start_new_generations() {
        let clock = ManualClock::new();
        let b = breaker(5, 1, 1, 30);
        let t = b.force_open(&clock).unwrap();
        assert_eq!((t.from, t.to), (State::Closed, State::Open));
        clock.advance(20 * SECOND);
        // Forcing open again restarts the timer but is no transition.
        assert!(b.force_open(&clock).is_none());
        assert_eq!(b.snapshot(&clock).retry_after, 30 * SECOND);
        clock.advance(30 * SECOND);
        let trial = admit(&b, &clock);
        let t = b.reset(&clock).unwrap();
        assert_eq!((t.from, t.to), (State::HalfOpen, State::Closed));
        // The trial admitted before the reset is late.
        assert_eq!(b.record(trial, Outcome::Failure, &clock), None);
        assert_eq!(b.snapshot(&clock).failure_count, 0);
        assert_eq!(b.snapshot(&clock).last_failure_time, None);
    }

    #[test]
    fn reset_keeps_last_failure_time() {
        let clock = ManualClock::new();
        let b = breaker(1, 1, 1, 30);
        run(&b, &clock, Outcome::Failure);
        let when = b.snapshot(&clock).last_failure_time;
        assert!(when.is_some());
        b.reset(&clock);
        let snap = b.snapshot(&clock);
        assert_eq!(
            (snap.state, snap.failure_count, snap.last_failure_time),
            (State::Closed, 0, when)
        );
    }

    #[test]
    fn reset_of_a_timed_out_open_circuit_reports_half_open() {
        let clock = ManualClock::new();
        let b = breaker(1, 1, 1, 1);
        run(&b, &clock, Outcome::Failure);
        clock.advance(SECOND);
        let t = b.reset(&clock).unwrap();
        assert_eq!(t.from, State::HalfOpen);
    }

    #[test]
    fn a_hung_trial_gives_its_slot_away_and_its_outcome_is_late() {
        let clock = ManualClock::new();
        let b = breaker(1, 1, 1, 10);
        run(&b, &clock, Outcome::Failure);
        clock.advance(10 * SECOND);
        let hung = admit(&b, &clock);
        clock.advance(10 * SECOND - 1);
        assert!(matches!(b.acquire(&clock), Admission::Rejected(_)));
        assert_eq!(b.snapshot(&clock).trials_in_flight, 1);
        clock.advance(1);
        assert_eq!(b.snapshot(&clock).trials_in_flight, 0); // hung: not counted
        let fresh = admit(&b, &clock);
        // The hung trial finally fails: late, so the circuit does not re-open.
        assert_eq!(b.record(hung, Outcome::Failure, &clock), None);
        assert_eq!(state(&b, &clock), State::HalfOpen);
        let t = b.record(fresh, Outcome::Success, &clock).unwrap();
        assert_eq!(t.to, State::Closed);
    }

    #[test]
    fn only_hung_trials_are_reclaimed() {
        let clock = ManualClock::new();
        let b = breaker(1, 5, 2, 10);
        run(&b, &clock, Outcome::Failure);
        clock.advance(10 * SECOND);
        let old = admit(&b, &clock);
        clock.advance(5 * SECOND);
        let young = admit(&b, &clock);
        clock.advance(5 * SECOND); // `old` is hung, `young` is not
        let third = admit(&b, &clock);
        assert!(matches!(b.acquire(&clock), Admission::Rejected(_)));
        assert_eq!(b.record(old, Outcome::Success, &clock), None);
        assert_eq!(b.snapshot(&clock).success_count, 0);
        b.record(young, Outcome::Success, &clock);
        b.record(third, Outcome::Success, &clock);
        assert_eq!(b.snapshot(&clock).success_count, 2);
    }

    #[test]
    fn trials_never_time_out_without_a_trial_timeout() {
        let clock = ManualClock::new();
        let b = breaker(1, 1, 1, 0);
        assert_eq!(b.config().trial_timeout, None);
        run(&b, &clock, Outcome::Failure);
        let trial = admit(&b, &clock);
        clock.advance(1_000_000 * SECOND);
        assert!(matches!(b.acquire(&clock), Admission::Rejected(_)));
        assert!(b.record(trial, Outcome::Success, &clock).is_some());
    }

    #[test]
    fn trial_timeout_is_configurable() {
        let config = Config::new(1, 1, 1, 60 * SECOND).unwrap();
        assert_eq!(config.trial_timeout, Some(60 * SECOND));
        let config = config.with_trial_timeout(Some(SECOND)).unwrap();
        assert_eq!(config.trial_timeout, Some(SECOND));
        assert_eq!(
            config.with_trial_timeout(Some(0)).unwrap_err().argument,
            "trial_timeout"
        );
        let clock = ManualClock::new();
        let b = Breaker::new(config);
        b.force_open(&clock);
        clock.advance(60 * SECOND);
        let _hung = admit(&b, &clock);
        clock.advance(SECOND);
        let _next = admit(&b, &clock);
    }

    #[test]
    fn a_lock_free_admission_racing_a_transition_is_late() {
        let clock = ManualClock::new();
        let b = breaker(1, 1, 1, 10);
        let before = admit(&b, &clock); // lock-free, CLOSED
        b.force_open(&clock);
        clock.advance(10 * SECOND);
        let trial = admit(&b, &clock);
        assert_eq!(b.record(before, Outcome::Success, &clock), None);
        assert_eq!(state(&b, &clock), State::HalfOpen);
        assert!(b.record(trial, Outcome::Success, &clock).is_some());
    }

    #[test]
    fn threads_keep_exact_counts_on_both_paths() {
        let clock = ManualClock::new();
        let b = breaker(u32::MAX, 1, 1, 10);
        std::thread::scope(|scope| {
            for worker in 0..8 {
                let (b, clock) = (&b, &clock);
                scope.spawn(move || {
                    for _ in 0..5_000 {
                        // Even workers fail; odd ones end with ignored outcomes, which change
                        // nothing (lock-free while no failure is counted, locked otherwise).
                        let outcome = if worker % 2 == 0 {
                            Outcome::Failure
                        } else {
                            Outcome::Ignored
                        };
                        run(b, clock, outcome);
                    }
                });
            }
        });
        assert_eq!(b.snapshot(&clock).failure_count, 4 * 5_000);
        run(&b, &clock, Outcome::Success);
        assert_eq!(b.snapshot(&clock).failure_count, 0);
    }

    #[test]
    fn a_wall_clock_jump_changes_nothing() {
        let clock = ManualClock::new();
        let b = breaker(1, 1, 1, 60);
        run(&b, &clock, Outcome::Failure);
        clock.set_wall_seconds(1e12);
        assert_eq!(state(&b, &clock), State::Open);
        clock.set_wall_seconds(0.0);
        assert_eq!(state(&b, &clock), State::Open);
        assert_eq!(b.snapshot(&clock).retry_after, 60 * SECOND);
    }
}
