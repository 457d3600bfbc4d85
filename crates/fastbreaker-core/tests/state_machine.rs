//! Property tests of the plain-Rust state machine: random sequences of admissions, outcomes
//! (in any order, late ones included), clock advances, resets and forced openings, with the
//! contract's invariants checked after every step.

use std::sync::Arc;

use fastbreaker_core::clock::{ManualClock, Nanos};
use fastbreaker_core::{
    Admission, Breaker, Config, MemoryStore, Outcome, State, Ticket, Transition, TrialTimeout,
};
use proptest::prelude::*;

const SECOND: Nanos = 1_000_000_000;

#[derive(Clone, Debug)]
enum Op {
    Acquire,
    /// Ends the in-flight call at this index (modulo their number).
    Record(usize, Outcome),
    Advance(Nanos),
    Reset,
    ForceOpen,
    Isolate,
    Disable,
}

fn op() -> impl Strategy<Value = Op> {
    let outcome = prop_oneof![
        Just(Outcome::Success),
        Just(Outcome::Failure),
        Just(Outcome::Ignored)
    ];
    prop_oneof![
        4 => Just(Op::Acquire),
        4 => (any::<usize>(), outcome).prop_map(|(i, o)| Op::Record(i, o)),
        2 => prop_oneof![Just(1), Just(SECOND / 2), Just(SECOND), Just(5 * SECOND)]
            .prop_map(Op::Advance),
        1 => Just(Op::Reset),
        1 => Just(Op::ForceOpen),
        1 => Just(Op::Isolate),
        1 => Just(Op::Disable),
    ]
}

fn config() -> impl Strategy<Value = Config> {
    (
        1u32..5,
        1u32..4,
        1u32..4,
        prop_oneof![Just(0), Just(SECOND), Just(3 * SECOND)],
        prop_oneof![Just(None), Just(Some(SECOND / 2)), Just(Some(2 * SECOND))],
    )
        .prop_map(|(failures, successes, trials, recovery, trial_timeout)| {
            let trial_timeout =
                trial_timeout.map_or(TrialTimeout::RecoveryTimeout, TrialTimeout::Limit);
            Config::new(failures, successes, trials, recovery, trial_timeout).unwrap()
        })
}

fn allowed(t: &Transition, cause: &str) -> bool {
    use State::{Closed, HalfOpen, Open};
    match cause {
        "acquire" => (t.from, t.to) == (Open, HalfOpen),
        "record" => matches!(
            (t.from, t.to),
            (Closed, Open) | (HalfOpen, Closed) | (HalfOpen, Open)
        ),
        "reset" => t.to == Closed && t.from != Closed,
        "force_open" => t.to == Open && t.from != Open,
        "isolate" => t.to == State::Isolated && t.from != State::Isolated,
        "disable" => t.to == State::Disabled && t.from != State::Disabled,
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn invariants_hold_for_any_sequence(config in config(), ops in prop::collection::vec(op(), 1..80)) {
        let clock = Arc::new(ManualClock::new());
        let breaker = Breaker::new(config, MemoryStore::with_clock(Arc::clone(&clock)));
        // Tickets in flight, with the number of generation changes seen when each was issued.
        let mut in_flight: Vec<(Ticket, usize)> = Vec::new();
        let mut changes = 0usize;
        for op in ops {
            let before = breaker.snapshot().unwrap();
            match op {
                Op::Acquire => match breaker.acquire().unwrap() {
                    Admission::Admitted(ticket, transition) => {
                        if let Some(t) = transition {
                            prop_assert!(allowed(&t, "acquire"), "{t:?}");
                            changes += 1;
                        }
                        let after = breaker.snapshot().unwrap();
                        prop_assert_eq!(ticket.is_trial(), after.state == State::HalfOpen);
                        in_flight.push((ticket, changes));
                    }
                    Admission::Rejected(rejection) => {
                        prop_assert_eq!(rejection.state, before.state);
                        match rejection.state {
                            State::Open => {
                                prop_assert!(rejection.retry_after > 0);
                                prop_assert!(rejection.retry_after <= config.recovery_timeout);
                                prop_assert_eq!(rejection.retry_after, before.retry_after);
                            }
                            State::HalfOpen => prop_assert_eq!(rejection.retry_after, 0),
                            State::Isolated => {
                                prop_assert_eq!(rejection.retry_after, fastbreaker_core::machine::FOREVER)
                            }
                            State::Closed | State::Disabled => {
                                prop_assert!(false, "a {:?} circuit rejected a call", rejection.state)
                            }
                        }
                    }
                },
                Op::Record(index, outcome) if !in_flight.is_empty() => {
                    let (ticket, issued_at) = in_flight.remove(index % in_flight.len());
                    let transition = breaker.record(ticket, outcome).unwrap();
                    if issued_at != changes {
                        // Late: nothing may change.
                        prop_assert!(transition.is_none());
                        prop_assert_eq!(breaker.snapshot().unwrap(), before);
                    }
                    if let Some(t) = transition {
                        prop_assert!(allowed(&t, "record"), "{t:?}");
                        prop_assert!(outcome != Outcome::Ignored);
                        changes += 1;
                    }
                    if outcome == Outcome::Ignored {
                        prop_assert_eq!(breaker.snapshot().unwrap().failure_count, before.failure_count);
                    }
                }
                Op::Record(..) => {}
                Op::Advance(nanos) => {
                    clock.advance(nanos);
                    let after = breaker.snapshot().unwrap();
                    prop_assert_eq!(after.failure_count, before.failure_count);
                    if matches!(before.state, State::Closed | State::Isolated | State::Disabled) {
                        prop_assert_eq!(after.state, before.state, "time moves only OPEN");
                    }
                }
                Op::Reset => {
                    if let Some(t) = breaker.reset().unwrap() {
                        prop_assert!(allowed(&t, "reset"), "{t:?}");
                    }
                    changes += 1; // a new generation, transition or not
                    let after = breaker.snapshot().unwrap();
                    prop_assert_eq!((after.state, after.failure_count, after.success_count), (State::Closed, 0, 0));
                    prop_assert_eq!(after.last_failure_time, before.last_failure_time);
                }
                Op::ForceOpen => {
                    if let Some(t) = breaker.force_open(None).unwrap() {
                        prop_assert!(allowed(&t, "force_open"), "{t:?}");
                    }
                    changes += 1;
                    let after = breaker.snapshot().unwrap();
                    prop_assert_eq!(after.retry_after, config.recovery_timeout);
                    if config.recovery_timeout > 0 {
                        prop_assert_eq!(after.state, State::Open);
                    }
                }
                Op::Isolate => {
                    if let Some(t) = breaker.isolate().unwrap() {
                        prop_assert!(allowed(&t, "isolate"), "{t:?}");
                    }
                    changes += 1;
                    prop_assert_eq!(breaker.snapshot().unwrap().state, State::Isolated);
                }
                Op::Disable => {
                    if let Some(t) = breaker.disable().unwrap() {
                        prop_assert!(allowed(&t, "disable"), "{t:?}");
                    }
                    changes += 1;
                    prop_assert_eq!(breaker.snapshot().unwrap().state, State::Disabled);
                }
            }
            let now = breaker.snapshot().unwrap();
            prop_assert!(now.trials_in_flight <= config.half_open_max_calls);
            match now.state {
                State::Closed => {
                    prop_assert!(now.failure_count < config.failure_threshold.unwrap());
                    prop_assert_eq!(now.success_count, 0);
                    prop_assert_eq!(now.retry_after, 0);
                }
                State::HalfOpen => prop_assert!(now.success_count < config.success_threshold),
                State::Open => {
                    prop_assert!(now.retry_after > 0 && now.retry_after <= config.recovery_timeout);
                    prop_assert_eq!(now.success_count, 0);
                }
                State::Isolated => {
                    prop_assert_eq!(now.retry_after, fastbreaker_core::machine::FOREVER);
                    prop_assert_eq!(now.success_count, 0);
                }
                State::Disabled => {
                    prop_assert_eq!((now.failure_count, now.success_count, now.retry_after), (0, 0, 0));
                }
            }
            if now.failure_count > 0 {
                prop_assert!(now.last_failure_time.is_some());
            }
        }
    }

    #[test]
    fn half_open_never_admits_more_than_its_slots(config in config(), attempts in 1usize..20) {
        let clock = Arc::new(ManualClock::new());
        let breaker = Breaker::new(config, MemoryStore::with_clock(Arc::clone(&clock)));
        breaker.force_open(None).unwrap();
        clock.advance(config.recovery_timeout);
        let admitted = (0..attempts)
            .filter(|_| matches!(breaker.acquire().unwrap(), Admission::Admitted(..)))
            .count();
        prop_assert_eq!(admitted, attempts.min(config.half_open_max_calls as usize));
    }
}
