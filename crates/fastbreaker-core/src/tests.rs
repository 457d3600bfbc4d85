//! The state machine driven through the store seam: the in-memory store on a manual clock, and
//! the test-only recording store beside it.

use std::sync::Arc;

use crate::clock::{ManualClock, Nanos, NANOS_PER_SECOND};
use crate::store::recording::{Op, RecordingStore};
use crate::*;

const SECOND: Nanos = NANOS_PER_SECOND;

type Memory = Breaker<MemoryStore<Arc<ManualClock>>>;

fn breaker(
    clock: &Arc<ManualClock>,
    failures: u32,
    successes: u32,
    trials: u32,
    timeout_s: u64,
) -> Memory {
    let config = Config::new(
        failures,
        successes,
        trials,
        timeout_s * SECOND,
        TrialTimeout::RecoveryTimeout,
    );
    Breaker::new(config.unwrap(), MemoryStore::with_clock(Arc::clone(clock)))
}

fn admit<S: Store>(b: &Breaker<S>, _clock: &ManualClock) -> Ticket {
    match b.acquire().unwrap() {
        Admission::Admitted(ticket, _) => ticket,
        Admission::Rejected(r) => panic!("rejected: {r:?}"),
    }
}

fn run<S: Store>(b: &Breaker<S>, clock: &ManualClock, outcome: Outcome) -> Option<Transition> {
    let ticket = admit(b, clock);
    b.record(ticket, outcome).unwrap()
}

fn state<S: Store>(b: &Breaker<S>, _clock: &ManualClock) -> State {
    b.snapshot().unwrap().state
}

#[test]
fn opens_after_consecutive_failures() {
    let clock = Arc::new(ManualClock::new());
    let b = breaker(&clock, 3, 2, 1, 60);
    assert_eq!(run(&b, &clock, Outcome::Failure), None);
    assert_eq!(run(&b, &clock, Outcome::Failure), None);
    let t = run(&b, &clock, Outcome::Failure).unwrap();
    assert_eq!(
        (t.from, t.to, t.failure_count),
        (State::Closed, State::Open, 3)
    );
    let snap = b.snapshot().unwrap();
    assert_eq!(snap.state, State::Open);
    assert_eq!(snap.failure_count, 3);
    assert_eq!(snap.retry_after, 60 * SECOND);
    assert!(snap.last_failure_time.is_some());
}

#[test]
fn success_resets_the_failure_streak() {
    let clock = Arc::new(ManualClock::new());
    let b = breaker(&clock, 3, 2, 1, 60);
    run(&b, &clock, Outcome::Failure);
    run(&b, &clock, Outcome::Failure);
    run(&b, &clock, Outcome::Success);
    assert_eq!(b.snapshot().unwrap().failure_count, 0);
    run(&b, &clock, Outcome::Failure);
    run(&b, &clock, Outcome::Failure);
    assert_eq!(state(&b, &clock), State::Closed);
}

#[test]
fn ignored_outcomes_do_not_reset_the_failure_streak() {
    let clock = Arc::new(ManualClock::new());
    let b = breaker(&clock, 2, 2, 1, 60);
    run(&b, &clock, Outcome::Failure);
    run(&b, &clock, Outcome::Ignored);
    assert_eq!(b.snapshot().unwrap().failure_count, 1);
    run(&b, &clock, Outcome::Failure);
    assert_eq!(state(&b, &clock), State::Open);
}

#[test]
fn open_rejects_until_the_timeout_exactly() {
    let clock = Arc::new(ManualClock::new());
    let b = breaker(&clock, 1, 1, 1, 10);
    run(&b, &clock, Outcome::Failure);
    clock.advance(10 * SECOND - 1);
    match b.acquire().unwrap() {
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
    assert_eq!(b.snapshot().unwrap().trials_in_flight, 0);
    match b.acquire().unwrap() {
        Admission::Admitted(ticket, Some(t)) => {
            assert!(ticket.is_trial());
            assert_eq!((t.from, t.to), (State::Open, State::HalfOpen));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn zero_timeout_admits_a_trial_at_once() {
    let clock = Arc::new(ManualClock::new());
    let b = breaker(&clock, 1, 1, 1, 0);
    run(&b, &clock, Outcome::Failure);
    assert_eq!(state(&b, &clock), State::HalfOpen);
    let t = run(&b, &clock, Outcome::Success);
    assert_eq!(t.map(|t| t.to), Some(State::Closed));
}

#[test]
fn half_open_limits_trials_in_flight() {
    let clock = Arc::new(ManualClock::new());
    let b = breaker(&clock, 1, 3, 2, 1);
    run(&b, &clock, Outcome::Failure);
    clock.advance(SECOND);
    let first = admit(&b, &clock);
    let second = admit(&b, &clock);
    assert_eq!(
        b.acquire().unwrap(),
        Admission::Rejected(Rejection {
            state: State::HalfOpen,
            retry_after: 0
        })
    );
    assert_eq!(b.snapshot().unwrap().trials_in_flight, 2);
    assert_eq!(b.record(first, Outcome::Ignored).unwrap(), None);
    let third = admit(&b, &clock);
    assert_eq!(b.record(second, Outcome::Success).unwrap(), None);
    assert_eq!(b.record(third, Outcome::Success).unwrap(), None);
    assert_eq!(b.snapshot().unwrap().success_count, 2);
    assert_eq!(state(&b, &clock), State::HalfOpen);
    let t = run(&b, &clock, Outcome::Success).unwrap();
    assert_eq!(
        (t.from, t.to, t.failure_count, t.success_count),
        (State::HalfOpen, State::Closed, 0, 0)
    );
}

#[test]
fn a_failed_trial_reopens_and_restarts_the_timer() {
    let clock = Arc::new(ManualClock::new());
    let b = breaker(&clock, 1, 2, 1, 5);
    run(&b, &clock, Outcome::Failure);
    clock.advance(5 * SECOND);
    run(&b, &clock, Outcome::Success);
    let t = run(&b, &clock, Outcome::Failure).unwrap();
    assert_eq!((t.from, t.to), (State::HalfOpen, State::Open));
    assert_eq!(b.snapshot().unwrap().retry_after, 5 * SECOND);
    assert_eq!(b.snapshot().unwrap().success_count, 0);
}

#[test]
fn ignored_trials_neither_add_to_nor_break_the_streak() {
    let clock = Arc::new(ManualClock::new());
    let b = breaker(&clock, 1, 2, 1, 0);
    run(&b, &clock, Outcome::Failure);
    run(&b, &clock, Outcome::Success);
    run(&b, &clock, Outcome::Ignored);
    assert_eq!(b.snapshot().unwrap().success_count, 1);
    assert_eq!(state(&b, &clock), State::HalfOpen);
    assert!(run(&b, &clock, Outcome::Success).is_some());
    assert_eq!(state(&b, &clock), State::Closed);
}

#[test]
fn late_outcomes_are_ignored() {
    let clock = Arc::new(ManualClock::new());
    let b = breaker(&clock, 1, 1, 1, 10);
    let slow = admit(&b, &clock);
    run(&b, &clock, Outcome::Failure);
    // The slow call started while CLOSED; its failure must not touch the OPEN circuit.
    let before = b.snapshot().unwrap();
    assert_eq!(b.record(slow, Outcome::Failure).unwrap(), None);
    assert_eq!(b.snapshot().unwrap(), before);
    // Nor may a success from before a reset clear a failure counted after it.
    let b = breaker(&clock, 2, 1, 1, 10);
    let slow = admit(&b, &clock);
    run(&b, &clock, Outcome::Failure);
    assert!(b.reset().unwrap().is_none());
    run(&b, &clock, Outcome::Failure);
    b.record(slow, Outcome::Success).unwrap();
    assert_eq!(b.snapshot().unwrap().failure_count, 1);
}

#[test]
fn reset_and_force_open_start_new_generations() {
    let clock = Arc::new(ManualClock::new());
    let b = breaker(&clock, 5, 1, 1, 30);
    let t = b.force_open(None).unwrap().unwrap();
    assert_eq!((t.from, t.to), (State::Closed, State::Open));
    clock.advance(20 * SECOND);
    // Forcing open again restarts the timer but is no transition.
    assert!(b.force_open(None).unwrap().is_none());
    assert_eq!(b.snapshot().unwrap().retry_after, 30 * SECOND);
    clock.advance(30 * SECOND);
    let trial = admit(&b, &clock);
    let t = b.reset().unwrap().unwrap();
    assert_eq!((t.from, t.to), (State::HalfOpen, State::Closed));
    // The trial admitted before the reset is late.
    assert_eq!(b.record(trial, Outcome::Failure).unwrap(), None);
    assert_eq!(b.snapshot().unwrap().failure_count, 0);
    assert_eq!(b.snapshot().unwrap().last_failure_time, None);
}

#[test]
fn reset_keeps_last_failure_time() {
    let clock = Arc::new(ManualClock::new());
    let b = breaker(&clock, 1, 1, 1, 30);
    run(&b, &clock, Outcome::Failure);
    let when = b.snapshot().unwrap().last_failure_time;
    assert!(when.is_some());
    b.reset().unwrap();
    let snap = b.snapshot().unwrap();
    assert_eq!(
        (snap.state, snap.failure_count, snap.last_failure_time),
        (State::Closed, 0, when)
    );
}

#[test]
fn reset_of_a_timed_out_open_circuit_reports_half_open() {
    let clock = Arc::new(ManualClock::new());
    let b = breaker(&clock, 1, 1, 1, 1);
    run(&b, &clock, Outcome::Failure);
    clock.advance(SECOND);
    let t = b.reset().unwrap().unwrap();
    assert_eq!(t.from, State::HalfOpen);
}

#[test]
fn a_hung_trial_gives_its_slot_away_and_its_outcome_still_counts() {
    let clock = Arc::new(ManualClock::new());
    let b = breaker(&clock, 1, 2, 1, 10);
    run(&b, &clock, Outcome::Failure);
    clock.advance(10 * SECOND);
    let hung = admit(&b, &clock);
    clock.advance(10 * SECOND - 1);
    assert!(matches!(b.acquire().unwrap(), Admission::Rejected(_)));
    assert_eq!(b.snapshot().unwrap().trials_in_flight, 1);
    clock.advance(1);
    assert_eq!(b.snapshot().unwrap().trials_in_flight, 0); // hung: not counted
    let fresh = admit(&b, &clock);
    // The slow trial succeeds at last, in the same half-open period: it counts.
    assert_eq!(b.record(hung, Outcome::Success).unwrap(), None);
    assert_eq!(b.snapshot().unwrap().success_count, 1);
    // Its slot was given away, and the call holding it now is still a trial.
    assert_eq!(b.snapshot().unwrap().trials_in_flight, 1);
    let t = b.record(fresh, Outcome::Success).unwrap().unwrap();
    assert_eq!((t.to, t.reason), (State::Closed, Reason::TrialSucceeded));
}

#[test]
fn a_service_slower_than_the_trial_timeout_still_gets_the_circuit_closed() {
    // Steady traffic against a service that answers in 15 s, with trials reclaimed after 10 s:
    // every trial is taken for hung before it answers, yet the answers close the circuit.
    let clock = Arc::new(ManualClock::new());
    let b = breaker(&clock, 1, 2, 1, 10);
    run(&b, &clock, Outcome::Failure);
    clock.advance(10 * SECOND);
    let mut running = std::collections::VecDeque::new();
    for _ in 0..5 {
        if let Admission::Admitted(ticket, _) = b.acquire().unwrap() {
            running.push_back((ticket, 15 * SECOND));
        }
        clock.advance(5 * SECOND);
        for (_, left) in running.iter_mut() {
            *left = left.saturating_sub(5 * SECOND);
        }
        while running.front().is_some_and(|(_, left)| *left == 0) {
            let (ticket, _) = running.pop_front().unwrap();
            b.record(ticket, Outcome::Success).unwrap();
        }
    }
    assert_eq!(state(&b, &clock), State::Closed);
}

#[test]
fn a_hung_trial_answering_after_the_circuit_moved_on_is_late() {
    let clock = Arc::new(ManualClock::new());
    let b = breaker(&clock, 1, 1, 1, 10);
    run(&b, &clock, Outcome::Failure);
    clock.advance(10 * SECOND);
    let hung = admit(&b, &clock);
    clock.advance(10 * SECOND);
    let fresh = admit(&b, &clock);
    assert!(b.record(fresh, Outcome::Success).unwrap().is_some()); // closed
    assert_eq!(b.record(hung, Outcome::Failure).unwrap(), None);
    assert_eq!(state(&b, &clock), State::Closed);
}

#[test]
fn only_hung_trials_are_reclaimed() {
    let clock = Arc::new(ManualClock::new());
    let b = breaker(&clock, 1, 5, 2, 10);
    run(&b, &clock, Outcome::Failure);
    clock.advance(10 * SECOND);
    let old = admit(&b, &clock);
    clock.advance(5 * SECOND);
    let young = admit(&b, &clock);
    clock.advance(5 * SECOND); // `old` is hung, `young` is not
    let third = admit(&b, &clock);
    assert!(matches!(b.acquire().unwrap(), Admission::Rejected(_)));
    assert_eq!(b.snapshot().unwrap().trials_in_flight, 2); // `young` and `third`
    assert_eq!(b.record(old, Outcome::Success).unwrap(), None);
    assert_eq!(b.snapshot().unwrap().trials_in_flight, 2); // `old` had no slot left to give
    b.record(young, Outcome::Success).unwrap();
    b.record(third, Outcome::Success).unwrap();
    assert_eq!(b.snapshot().unwrap().success_count, 3);
}

#[test]
fn trials_never_time_out_without_a_trial_timeout() {
    let clock = Arc::new(ManualClock::new());
    let b = breaker(&clock, 1, 1, 1, 0);
    assert_eq!(b.config().trial_timeout, None);
    run(&b, &clock, Outcome::Failure);
    let trial = admit(&b, &clock);
    clock.advance(1_000_000 * SECOND);
    assert!(matches!(b.acquire().unwrap(), Admission::Rejected(_)));
    assert!(b.record(trial, Outcome::Success).unwrap().is_some());
}

#[test]
fn trial_timeout_is_configurable() {
    let clock = Arc::new(ManualClock::new());
    let config = Config::new(1, 1, 1, 60 * SECOND, TrialTimeout::Limit(SECOND)).unwrap();
    let b = Breaker::new(config, MemoryStore::with_clock(Arc::clone(&clock)));
    b.force_open(None).unwrap();
    clock.advance(60 * SECOND);
    let _hung = admit(&b, &clock);
    clock.advance(SECOND);
    let _next = admit(&b, &clock);
}

#[test]
fn a_lock_free_admission_racing_a_transition_is_late() {
    let clock = Arc::new(ManualClock::new());
    let b = breaker(&clock, 1, 1, 1, 10);
    let before = admit(&b, &clock); // lock-free, CLOSED
    b.force_open(None).unwrap();
    clock.advance(10 * SECOND);
    let trial = admit(&b, &clock);
    assert_eq!(b.record(before, Outcome::Success).unwrap(), None);
    assert_eq!(state(&b, &clock), State::HalfOpen);
    assert!(b.record(trial, Outcome::Success).unwrap().is_some());
}

#[test]
fn threads_keep_exact_counts_on_both_paths() {
    let clock = Arc::new(ManualClock::new());
    let b = breaker(&clock, u32::MAX, 1, 1, 10);
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
    assert_eq!(b.snapshot().unwrap().failure_count, 4 * 5_000);
    run(&b, &clock, Outcome::Success);
    assert_eq!(b.snapshot().unwrap().failure_count, 0);
}

#[test]
fn a_wall_clock_jump_changes_nothing() {
    let clock = Arc::new(ManualClock::new());
    let b = breaker(&clock, 1, 1, 1, 60);
    run(&b, &clock, Outcome::Failure);
    clock.set_wall_seconds(1e12);
    assert_eq!(state(&b, &clock), State::Open);
    clock.set_wall_seconds(0.0);
    assert_eq!(state(&b, &clock), State::Open);
    assert_eq!(b.snapshot().unwrap().retry_after, 60 * SECOND);
}

#[test]
fn every_transition_carries_its_reason_and_time() {
    let clock = Arc::new(ManualClock::new());
    clock.set_wall_seconds(1_800_000_000.0);
    let b = breaker(&clock, 1, 1, 1, 10);
    let opened = run(&b, &clock, Outcome::Failure).unwrap();
    assert_eq!(opened.reason, Reason::FailureThreshold);
    assert_eq!((opened.failures_before, opened.time), (1, 1_800_000_000.0));
    clock.advance(10 * SECOND);
    let trial = match b.acquire().unwrap() {
        Admission::Admitted(ticket, Some(t)) => {
            assert_eq!(
                (t.from, t.to, t.reason),
                (State::Open, State::HalfOpen, Reason::RecoveryTimeout)
            );
            ticket
        }
        other => panic!("{other:?}"),
    };
    let failed = b.record(trial, Outcome::Failure).unwrap().unwrap();
    assert_eq!(
        (failed.to, failed.reason),
        (State::Open, Reason::TrialFailed)
    );
    clock.advance(10 * SECOND);
    let closed = run(&b, &clock, Outcome::Success).unwrap();
    assert_eq!(
        (closed.to, closed.reason, closed.successes_before),
        (State::Closed, Reason::TrialSucceeded, 1)
    );
    assert_eq!(b.force_open(None).unwrap().unwrap().reason, Reason::Forced);
    assert_eq!(b.reset().unwrap().unwrap().reason, Reason::Reset);
}

/// Runs one script of operations on a breaker, returning everything it observed.
fn script<S: Store>(b: &Breaker<S>, clock: &ManualClock) -> Vec<String> {
    let mut seen = Vec::new();
    let mut note = |what: String| seen.push(what);
    for _ in 0..3 {
        note(format!("{:?}", run(b, clock, Outcome::Failure)));
    }
    note(format!("{:?}", b.acquire().unwrap()));
    clock.advance(5 * SECOND);
    let first = admit(b, clock);
    let second = admit(b, clock);
    note(format!("{:?}", b.acquire().unwrap()));
    note(format!("{:?}", b.record(first, Outcome::Success).unwrap()));
    note(format!("{:?}", b.record(second, Outcome::Ignored).unwrap()));
    note(format!("{:?}", b.snapshot().unwrap()));
    note(format!("{:?}", run(b, clock, Outcome::Success)));
    note(format!("{:?}", b.force_open(None).unwrap()));
    note(format!("{:?}", b.reset().unwrap()));
    note(format!("{:?}", b.snapshot().unwrap()));
    seen
}

#[test]
fn the_seam_carries_everything_a_breaker_needs() {
    let config = Config::new(3, 2, 2, 5 * SECOND, TrialTimeout::RecoveryTimeout).unwrap();
    let memory_clock = Arc::new(ManualClock::new());
    let memory = Breaker::new(config, MemoryStore::with_clock(Arc::clone(&memory_clock)));
    let recording_clock = Arc::new(ManualClock::new());
    let recording = Breaker::new(config, RecordingStore::new(Arc::clone(&recording_clock)));
    let expected = script(&memory, &memory_clock);
    assert_eq!(script(&recording, &recording_clock), expected);
    assert!(expected.iter().any(|seen| seen.contains("TrialSucceeded")));
    let ops = recording.store().take_ops();
    assert_eq!(ops[..2], [Op::Acquire, Op::Record(Outcome::Failure)]);
    assert_eq!(ops.last(), Some(&Op::Snapshot));
    assert_eq!(memory.store().describe(), "memory");
}

#[test]
fn a_released_ticket_is_handed_on_by_the_next_operation_and_frees_its_slot() {
    let clock = Arc::new(ManualClock::new());
    let config = Config::new(1, 1, 1, 0, TrialTimeout::RecoveryTimeout).unwrap();
    let b = Breaker::new(config, RecordingStore::new(Arc::clone(&clock)));
    b.force_open(None).unwrap();
    let trial = admit(&b, &clock);
    assert!(trial.is_trial());
    assert!(matches!(b.acquire().unwrap(), Admission::Rejected(_)));
    b.store().take_ops();
    b.release(trial);
    // Nothing reached the machine yet: the release is queued.
    assert_eq!(b.store().take_ops(), [Op::Release]);
    let next = admit(&b, &clock);
    assert_eq!(b.store().take_ops(), [Op::Drain(1), Op::Acquire]);
    assert!(b.record(next, Outcome::Success).unwrap().is_some());
}

#[test]
fn a_store_error_reaches_the_caller_and_changes_nothing() {
    let clock = Arc::new(ManualClock::new());
    let config = Config::new(1, 1, 1, 10 * SECOND, TrialTimeout::RecoveryTimeout).unwrap();
    let b = Breaker::new(config, RecordingStore::new(Arc::clone(&clock)));
    let ticket = admit(&b, &clock);
    b.store().set_unavailable(true);
    let unavailable = StoreError::Unavailable("told to fail".to_owned());
    assert_eq!(b.record(ticket, Outcome::Failure), Err(unavailable.clone()));
    assert_eq!(b.acquire(), Err(unavailable.clone()));
    assert_eq!(b.force_open(None), Err(unavailable));
    assert!(b.snapshot().is_err());
    b.store().set_unavailable(false);
    assert_eq!(b.snapshot().unwrap().state, State::Closed);
    assert_eq!(b.snapshot().unwrap().failure_count, 0);
    assert_eq!(
        StoreError::Unavailable("down".into()).to_string(),
        "store unavailable: down"
    );
}

/// The binding's call: the lock-free paths first, the locked ones when they decline.
fn call<S: Store>(b: &Breaker<S>, outcome: Outcome) -> Option<Transition> {
    let ticket = match b.admit_closed() {
        Some(ticket) => ticket,
        None => match b.try_acquire().unwrap() {
            Admission::Admitted(ticket, _) => ticket,
            Admission::Rejected(r) => panic!("rejected: {r:?}"),
        },
    };
    match b.settle_quiet(ticket, outcome) {
        Ok(()) => None,
        Err(report) => b.try_report(report).unwrap(),
    }
}

#[test]
fn counters_count_every_outcome_and_transition_once() {
    let clock = Arc::new(ManualClock::new());
    let b = breaker(&clock, 2, 1, 1, 10);
    call(&b, Outcome::Success); // lock-free
    call(&b, Outcome::Ignored); // lock-free
    call(&b, Outcome::Failure); // locked
    call(&b, Outcome::Ignored); // locked: a failure is counted
    call(&b, Outcome::Failure); // opens
    assert!(matches!(b.acquire().unwrap(), Admission::Rejected(_)));
    b.counters().rejected(); // the bindings count what they turn away
    clock.advance(10 * SECOND);
    assert_eq!(call(&b, Outcome::Success).unwrap().to, State::Closed); // half-open, then closed
    b.force_open(None).unwrap();
    b.force_open(None).unwrap(); // already open: the timer restarts, no transition
    b.reset().unwrap();
    b.reset().unwrap(); // already closed: no transition
    let released = admit(&b, &clock);
    b.release(released); // no outcome: not a call that ended
    assert_eq!(
        b.counters().read(),
        Counts {
            success: 2,
            failure: 2,
            ignored: 2,
            rejected: 1,
            to_closed: 2,
            to_open: 2,
            to_half_open: 1,
            to_isolated: 0,
            to_disabled: 0,
        }
    );
}

#[test]
fn counters_are_exact_under_threads_on_both_paths() {
    let clock = Arc::new(ManualClock::new());
    let b = breaker(&clock, u32::MAX, 1, 1, 10);
    std::thread::scope(|scope| {
        for worker in 0..8 {
            let b = &b;
            scope.spawn(move || {
                for i in 0..5_000 {
                    // Successes take the lock-free path while no failure is counted and the
                    // locked one (to reset the streak) after one.
                    let outcome = match (worker % 4, i % 7) {
                        (0, 0) => Outcome::Failure,
                        (1, _) => Outcome::Ignored,
                        _ => Outcome::Success,
                    };
                    call(b, outcome);
                }
            });
        }
    });
    let counts = b.counters().read();
    let failures = 2 * 5_000_u64.div_ceil(7);
    assert_eq!(counts.failure, failures);
    assert_eq!(counts.ignored, 2 * 5_000);
    assert_eq!(counts.success, 8 * 5_000 - 2 * 5_000 - failures);
}

fn with_policies(clock: &Arc<ManualClock>, policies: Policies) -> Memory {
    let config = Config::new(5, 1, 1, 10 * SECOND, TrialTimeout::RecoveryTimeout)
        .unwrap()
        .with_policies(policies)
        .unwrap();
    Breaker::new(config, MemoryStore::with_clock(Arc::clone(clock)))
}

#[test]
fn a_failure_rate_opens_a_circuit_that_never_sees_failures_in_a_row() {
    let clock = Arc::new(ManualClock::new());
    let b = with_policies(
        &clock,
        Policies {
            failure_rate_threshold: Some(0.5),
            minimum_calls: Some(4),
            window_calls: Some(4),
            ..Policies::default()
        },
    );
    // Alternating: the consecutive count never passes 1.
    assert_eq!(run_fast(&b, Outcome::Failure), None);
    assert_eq!(run_fast(&b, Outcome::Success), None);
    assert_eq!(
        run_fast(&b, Outcome::Failure),
        None,
        "3 calls: below the minimum"
    );
    let t = run_fast(&b, Outcome::Success).expect("2 of 4 failed: 0.5");
    assert_eq!((t.to, t.reason), (State::Open, Reason::FailureRate));
    // The window starts over with the next CLOSED period.
    clock.advance(10 * SECOND);
    assert_eq!(run(&b, &clock, Outcome::Success).unwrap().to, State::Closed);
    assert_eq!(b.window_totals(), Some(Policy::totals(0, 0, 0)));
    assert_eq!(run_fast(&b, Outcome::Failure), None);
    assert_eq!(b.window_totals(), Some(Policy::totals(1, 1, 0)));
}

#[test]
fn a_burst_after_a_quiet_spell_is_judged_as_the_exact_window_would() {
    // The successes of a healthy circuit are counted in batches without reading the clock; the
    // first of each batch reads it, so that a burst long after the breaker was made (or last
    // read) is placed where it happened, and its minimum is met as exactly as its rate.
    let clock = Arc::new(ManualClock::new());
    let b = with_policies(
        &clock,
        Policies {
            failure_rate_threshold: Some(0.5),
            minimum_calls: Some(10),
            window_seconds: Some(10 * SECOND),
            ..Policies::default()
        },
    );
    clock.advance(100 * SECOND);
    for _ in 0..4 {
        assert_eq!(run_fast(&b, Outcome::Success), None);
    }
    for outcome in [Outcome::Failure, Outcome::Success] {
        assert_eq!(run_fast(&b, outcome), None);
    }
    for _ in 0..3 {
        assert_eq!(run_fast(&b, Outcome::Failure), None, "below the minimum");
    }
    assert_eq!(b.window_totals(), Some(Policy::totals(9, 4, 0)));
    let t = run_fast(&b, Outcome::Failure).expect("5 of 10 failed, 4 in a row");
    assert_eq!((t.to, t.reason), (State::Open, Reason::FailureRate));
}

#[test]
fn ignored_late_and_trial_outcomes_stay_out_of_the_window() {
    let clock = Arc::new(ManualClock::new());
    let b = with_policies(
        &clock,
        Policies {
            failure_rate_threshold: Some(1.0),
            minimum_calls: Some(2),
            ..Policies::default()
        },
    );
    let late = admit(&b, &clock);
    run_fast(&b, Outcome::Ignored);
    assert_eq!(b.window_totals(), Some(Policy::totals(0, 0, 0)));
    b.reset().unwrap();
    assert_eq!(b.record(late, Outcome::Failure).unwrap(), None);
    assert_eq!(b.window_totals(), Some(Policy::totals(0, 0, 0)), "late");
    b.force_open(Some(0)).unwrap();
    assert_eq!(run(&b, &clock, Outcome::Success).unwrap().to, State::Closed);
    assert_eq!(b.window_totals(), Some(Policy::totals(0, 0, 0)), "a trial");
}

#[test]
fn slow_calls_open_the_circuit_and_a_slow_failure_counts_twice() {
    let clock = Arc::new(ManualClock::new());
    let b = with_policies(
        &clock,
        Policies {
            no_failure_threshold: true,
            slow_call_duration: Some(SECOND),
            slow_call_rate_threshold: Some(0.5),
            minimum_calls: Some(4),
            window_seconds: Some(60 * SECOND),
            ..Policies::default()
        },
    );
    clock.advance(1_000 * SECOND); // a duration is measured from the admission, not from 0
    let slow = |outcome| {
        let ticket = admit(&b, &clock);
        clock.advance(SECOND + 1);
        b.record(ticket, outcome).unwrap()
    };
    assert_eq!(slow(Outcome::Failure), None, "below the minimum");
    assert_eq!(b.window_totals(), Some(Policy::totals(1, 1, 1)));
    for _ in 0..2 {
        let ticket = admit(&b, &clock);
        clock.advance(SECOND); // exactly the duration: not slow
        assert_eq!(
            b.record(ticket, Outcome::Success).unwrap(),
            None,
            "1 slow of 2, then of 3"
        );
    }
    assert_eq!(b.window_totals(), Some(Policy::totals(3, 1, 1)));
    let t = slow(Outcome::Success).expect("2 slow of 4");
    assert_eq!((t.to, t.reason), (State::Open, Reason::SlowCallRate));
}

#[test]
fn slow_successes_count_as_slow_in_a_window_where_nothing_went_wrong_yet() {
    // Successes of a healthy time window go to a batch that knows nothing of durations; a timed
    // call's must not, or a service that only ever got slow would never open its circuit.
    let clock = Arc::new(ManualClock::new());
    let b = with_policies(
        &clock,
        Policies {
            slow_call_duration: Some(SECOND),
            slow_call_rate_threshold: Some(0.5),
            minimum_calls: Some(2),
            window_seconds: Some(60 * SECOND),
            ..Policies::default()
        },
    );
    let slow_success = || {
        let ticket = admit(&b, &clock);
        clock.advance(2 * SECOND);
        b.record(ticket, Outcome::Success).unwrap()
    };
    assert_eq!(slow_success(), None, "below the minimum");
    assert_eq!(b.window_totals(), Some(Policy::totals(1, 0, 1)));
    let t = slow_success().expect("2 slow of 2");
    assert_eq!((t.to, t.reason), (State::Open, Reason::SlowCallRate));
}

#[test]
fn failure_threshold_none_leaves_only_the_rates() {
    let clock = Arc::new(ManualClock::new());
    let b = with_policies(
        &clock,
        Policies {
            no_failure_threshold: true,
            failure_rate_threshold: Some(1.0),
            minimum_calls: Some(100),
            ..Policies::default()
        },
    );
    for _ in 0..99 {
        assert_eq!(run_fast(&b, Outcome::Failure), None);
    }
    assert_eq!(b.snapshot().unwrap().failure_count, 99);
    assert_eq!(
        run_fast(&b, Outcome::Failure).unwrap().reason,
        Reason::FailureRate
    );
}

#[test]
fn backoff_lengthens_each_reopening_and_closing_starts_over() {
    let clock = Arc::new(ManualClock::new());
    let b = with_policies(
        &clock,
        Policies {
            recovery_backoff: Some(2.0),
            max_recovery_timeout: Some(30 * SECOND),
            ..Policies::default()
        },
    );
    for _ in 0..5 {
        run(&b, &clock, Outcome::Failure);
    }
    let mut durations = vec![b.snapshot().unwrap().open_duration];
    for _ in 0..3 {
        clock.advance(durations.last().copied().unwrap());
        run(&b, &clock, Outcome::Failure); // a failed trial
        durations.push(b.snapshot().unwrap().retry_after);
    }
    assert_eq!(durations, [10, 20, 30, 30].map(|s| s * SECOND));
    clock.advance(30 * SECOND);
    run(&b, &clock, Outcome::Success);
    assert_eq!(state(&b, &clock), State::Closed);
    for _ in 0..5 {
        run(&b, &clock, Outcome::Failure);
    }
    assert_eq!(
        b.snapshot().unwrap().retry_after,
        10 * SECOND,
        "starts over"
    );
}

#[test]
fn open_for_and_open_duration_set_the_time_exactly() {
    let clock = Arc::new(ManualClock::new());
    let b = breaker(&clock, 5, 1, 1, 60);
    let ticket = admit(&b, &clock);
    let t = b
        .report(Report::failure_open_for(ticket, 7 * SECOND))
        .unwrap()
        .expect("one failure, below the threshold, opens it");
    assert_eq!(
        (t.to, t.reason, t.failure_count),
        (State::Open, Reason::OpenFor, 1)
    );
    assert_eq!(b.snapshot().unwrap().retry_after, 7 * SECOND);
    assert_eq!(b.snapshot().unwrap().open_duration, 7 * SECOND);
    clock.advance(7 * SECOND);
    // A failed trial told when to come back: that long, not the usual minute.
    let trial = admit(&b, &clock);
    b.report(Report::failure_open_for(trial, 3 * SECOND))
        .unwrap();
    assert_eq!(b.snapshot().unwrap().retry_after, 3 * SECOND);
    // A late one changes nothing.
    b.force_open(Some(2 * SECOND)).unwrap();
    assert_eq!(
        b.report(Report::failure_open_for(trial, SECOND)).unwrap(),
        None
    );
    assert_eq!(b.snapshot().unwrap().retry_after, 2 * SECOND);
    b.force_open(None).unwrap();
    assert_eq!(
        b.snapshot().unwrap().retry_after,
        60 * SECOND,
        "the usual duration"
    );
    // The move is judged by the opening the caller met: reopening an open circuit for no time is
    // no transition, and reopening after that zero-length opening is from HALF_OPEN.
    assert_eq!(b.force_open(Some(0)).unwrap(), None, "open -> open");
    let t = b
        .force_open(Some(SECOND))
        .unwrap()
        .expect("half_open -> open");
    assert_eq!((t.from, t.to), (State::HalfOpen, State::Open));
}

/// Admits a call and settles it the way the bindings do: lock-free when it can.
fn run_fast(b: &Memory, outcome: Outcome) -> Option<Transition> {
    let ticket = b.admit_closed().expect("closed");
    match b.settle_quiet(ticket, outcome) {
        Ok(()) => None,
        Err(report) => b.report(report).unwrap(),
    }
}

/// Window totals, for comparisons.
struct Policy;

impl Policy {
    fn totals(calls: u64, failures: u64, slow: u64) -> crate::policy::Totals {
        crate::policy::Totals::exact(calls, failures, slow)
    }
}

#[test]
fn isolated_rejects_until_reset_whatever_the_time() {
    let clock = Arc::new(ManualClock::new());
    let b = breaker(&clock, 1, 1, 1, 1);
    let late = admit(&b, &clock);
    let t = b.isolate().unwrap().expect("closed -> isolated");
    assert_eq!(
        (t.from, t.to, t.reason),
        (State::Closed, State::Isolated, Reason::Isolated)
    );
    clock.advance(1_000 * SECOND);
    match b.acquire().unwrap() {
        Admission::Rejected(r) => assert_eq!(
            (r.state, r.retry_after),
            (State::Isolated, machine::FOREVER)
        ),
        other => panic!("admitted while isolated: {other:?}"),
    }
    assert_eq!(b.admit_closed(), None, "no lock-free admission either");
    assert_eq!(b.record(late, Outcome::Failure).unwrap(), None);
    let snap = b.snapshot().unwrap();
    assert_eq!(
        (snap.state, snap.retry_after),
        (State::Isolated, machine::FOREVER)
    );
    assert_eq!(snap.open_duration, machine::FOREVER);
    assert_eq!(b.reset().unwrap().unwrap().to, State::Closed);
    assert_eq!(run(&b, &clock, Outcome::Success), None);
}

#[test]
fn disabled_admits_everything_and_counts_nothing() {
    let clock = Arc::new(ManualClock::new());
    let b = with_policies(
        &clock,
        Policies {
            failure_rate_threshold: Some(0.5),
            minimum_calls: Some(1),
            ..Policies::default()
        },
    );
    b.disable().unwrap().expect("closed -> disabled");
    for _ in 0..20 {
        assert_eq!(run(&b, &clock, Outcome::Failure), None);
    }
    let snap = b.snapshot().unwrap();
    assert_eq!((snap.state, snap.failure_count), (State::Disabled, 0));
    assert_eq!(
        b.window_totals(),
        Some(Policy::totals(0, 0, 0)),
        "nothing in the window"
    );
    assert_eq!(b.counters().read().to_disabled, 1);
    b.force_open(None).unwrap();
    assert_eq!(b.snapshot().unwrap().state, State::Open);
}
