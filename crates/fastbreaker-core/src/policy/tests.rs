//! The windows, the rates and the backoff on their own; their use by a breaker is in
//! `crate::tests` (the window tests there drive a breaker on the manual clock).

use std::sync::Arc;

use super::window::{CountWindow, TimeWindow, MAX_BATCH};
use super::*;
use crate::clock::NANOS_PER_SECOND;
use crate::machine::FOREVER;

const SECOND: Nanos = NANOS_PER_SECOND;
const OK: Sample = Sample {
    failed: false,
    slow: false,
};
const FAILED: Sample = Sample {
    failed: true,
    slow: false,
};
const SLOW: Sample = Sample {
    failed: false,
    slow: true,
};

fn totals(calls: u64, failures: u64, slow: u64) -> Totals {
    Totals::exact(calls, failures, slow)
}

#[test]
fn a_count_window_keeps_the_last_n_outcomes() {
    let window = CountWindow::new(3);
    assert_eq!(window.record(FAILED), totals(1, 1, 0));
    assert_eq!(window.record(SLOW), totals(2, 1, 1));
    assert_eq!(window.record(OK), totals(3, 1, 1));
    // The failure leaves, then the slow call.
    assert_eq!(window.record(OK), totals(3, 0, 1));
    assert_eq!(window.record(FAILED), totals(3, 1, 0));
    window.clear();
    assert_eq!(window.totals(), totals(0, 0, 0));
    assert_eq!(window.record(OK), totals(1, 0, 0));
}

#[test]
fn a_quiet_success_is_taken_only_while_nothing_failed_or_was_slow() {
    // Count window: taken and counted while healthy; refused (and not counted) once something in
    // it failed or was slow, until that has left it.
    let count = CountWindow::new(2);
    assert!(count.record_quiet_success());
    assert_eq!(count.totals(), totals(1, 0, 0));
    count.record(FAILED);
    assert!(!count.record_quiet_success());
    assert_eq!(count.totals(), totals(2, 1, 0));
    count.record(SLOW);
    count.record(OK); // the failure leaves
    assert!(!count.record_quiet_success());
    count.record(OK); // the slow call leaves
    assert!(count.record_quiet_success());
    assert_eq!(count.totals(), totals(2, 0, 0));

    // Time window: the same, the success going to the batch (placed by the reading).
    let time = TimeWindow::new(10 * SECOND, 0);
    assert!(time.record_quiet_success(|| SECOND));
    assert_eq!(time.totals(|| SECOND), totals(1, 0, 0));
    time.record_at(SLOW, SECOND);
    assert!(!time.record_quiet_success(|| SECOND));
    assert_eq!(time.totals(|| SECOND), totals(2, 0, 1));
    time.record_at(FAILED, 12 * SECOND); // the slow call has left, a failure came
    assert!(!time.record_quiet_success(|| 12 * SECOND));
    assert_eq!(time.totals(|| 12 * SECOND), totals(1, 1, 0));
    // Once the failure has left, the window learns it from the next outcome that reads the
    // clock (a quiet success reads none), and takes successes quietly again.
    assert!(!time.record_quiet_success(|| 23 * SECOND));
    assert_eq!(time.record(OK, || 23 * SECOND), None);
    assert!(time.record_quiet_success(|| 23 * SECOND));
    assert_eq!(time.totals(|| 23 * SECOND), totals(2, 0, 0));
    // Buckets too short to batch in: every success is placed one by one, never quietly.
    let short = TimeWindow::new(10, 0);
    assert!(!short.record_quiet_success(|| 0));
    assert_eq!(short.totals(|| 0), totals(0, 0, 0));
}

/// Records at `now`; the totals after (`record` gives them only when something failed or was
/// slow, and says `None` exactly when nothing did).
fn record_then_read(window: &TimeWindow, sample: Sample, now: Nanos) -> Totals {
    match window.record(sample, || now) {
        Some(totals) => totals,
        None => {
            let totals = window.totals(|| now);
            assert_eq!(
                (totals.failures, totals.slow),
                (0, 0),
                "None with {totals:?}"
            );
            totals
        }
    }
}

#[test]
fn a_time_window_forgets_what_time_leaves_behind() {
    let window = TimeWindow::new(10 * SECOND, 0); // ten buckets of one second
    assert_eq!(record_then_read(&window, FAILED, 0), totals(1, 1, 0));
    assert_eq!(record_then_read(&window, SLOW, 5 * SECOND), totals(2, 1, 1));
    // 9.999 s: the first bucket is still in the window.
    assert_eq!(window.totals(|| 10 * SECOND - 1), totals(2, 1, 1));
    // 10 s: it has left (its bucket is the one 10 s maps onto).
    assert_eq!(window.totals(|| 10 * SECOND), totals(1, 0, 1));
    assert_eq!(record_then_read(&window, OK, 10 * SECOND), totals(2, 0, 1));
    // A long silence empties everything, once.
    assert_eq!(window.totals(|| 100 * SECOND), totals(0, 0, 0));
    assert_eq!(
        record_then_read(&window, FAILED, 100 * SECOND),
        totals(1, 1, 0)
    );
    window.clear(100 * SECOND);
    assert_eq!(window.totals(|| 100 * SECOND), totals(0, 0, 0));
}

#[test]
fn a_time_window_matches_a_list_of_timestamps() {
    // Against the obvious model: the outcomes whose bucket is among the last ten.
    let length = SECOND / 10;
    let window = TimeWindow::new(length * 10, 0);
    let mut kept: Vec<(Nanos, Sample)> = Vec::new();
    let mut now = 0;
    for step in 0u64..2_000 {
        now += (step * 7919) % (length / 2 + 3); // irregular, sometimes several buckets
        let sample = Sample {
            failed: step % 3 == 0,
            slow: step % 5 == 0,
        };
        let got = record_then_read(&window, sample, now);
        kept.push((now, sample));
        let oldest = (now / length).saturating_sub(9);
        kept.retain(|(at, _)| at / length >= oldest);
        let want = totals(
            kept.len() as u64,
            kept.iter().filter(|(_, s)| s.failed).count() as u64,
            kept.iter().filter(|(_, s)| s.slow).count() as u64,
        );
        assert_eq!(got, want, "at step {step}, {now} ns");
    }
}

#[test]
fn a_time_window_stays_exact_while_threads_cross_its_buckets() {
    // The clock moves while four threads record: buckets are entered, found by the fast path or
    // by division, and emptied as time leaves them, all under way. Once every thread is done, the
    // running totals are the sum of what the buckets hold.
    use std::sync::atomic::{AtomicU64, Ordering};
    let window = Arc::new(TimeWindow::new(10 * SECOND, 0)); // buckets of one second
    let clock = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let (window, clock) = (Arc::clone(&window), Arc::clone(&clock));
            std::thread::spawn(move || {
                for i in 0..20_000u64 {
                    // Each thread moves the shared clock on now and then: 1/8 s steps, so a
                    // bucket is crossed every 8 steps and the window turns over many times.
                    if (i + t) % 50 == 0 {
                        clock.fetch_add(SECOND / 8, Ordering::Relaxed);
                    }
                    let sample = Sample {
                        failed: (i + t) % 3 == 0,
                        slow: (i + t) % 7 == 0,
                    };
                    let _ = window.record(sample, || clock.load(Ordering::Relaxed));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let now = clock.load(Ordering::Relaxed);
    assert!(
        now > 100 * SECOND,
        "the clock crossed many windows ({now} ns)"
    );
    let totals = window.totals(|| now);
    assert_eq!(totals, window.recount());
    assert!(
        totals.calls > 0 && totals.failures > 0 && totals.slow > 0,
        "{totals:?}"
    );
}

#[test]
fn windows_stay_exact_under_threads() {
    let count = Arc::new(CountWindow::new(1_000));
    let time = Arc::new(TimeWindow::new(1_000 * SECOND, 0));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (count, time) = (Arc::clone(&count), Arc::clone(&time));
            std::thread::spawn(move || {
                for i in 0..10_000u64 {
                    let sample = Sample {
                        failed: (i + t) % 4 == 0,
                        slow: (i + t) % 8 == 0,
                    };
                    count.record(sample);
                    // All within the window, across several buckets.
                    let _ = time.record(sample, || (i % 100) * SECOND);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(time.totals(|| 99 * SECOND), totals(40_000, 10_000, 5_000));
    let last = count.totals();
    assert_eq!(last.calls, 1_000);
    // The slots and the running totals agree once every thread is done (each thread's last 250
    // outcomes hold 62 or 63 failures and 31 or 32 slow calls, so the totals are not trivial).
    assert_eq!((last.failures, last.slow), count.recount());
    assert!(last.failures > 200 && last.slow > 100, "{last:?}");
}

/// The bounds a time window gives are `(calls, calls_at_most)`.
fn bounds(totals: Totals) -> (u64, u64) {
    (totals.calls, totals.calls_at_most)
}

#[test]
fn healthy_successes_are_counted_in_batches_and_placed_exactly_within_a_bucket() {
    let window = TimeWindow::new(10 * SECOND, 0);
    for _ in 0..1_000 {
        assert_eq!(window.record(OK, || 1_500_000_000), None);
    }
    // Every batch began and ended in the bucket of 1 s: known exactly.
    assert_eq!(window.totals(|| 1_500_000_000), totals(1_000, 0, 0));
    assert_eq!(
        window.batch_limit(),
        64,
        "full batches within one bucket grow to the largest"
    );
    // The batch under way is placed before a failure is judged.
    for _ in 0..10 {
        window.record(OK, || 1_500_000_000);
    }
    assert_eq!(
        window.record(FAILED, || 1_700_000_000),
        Some(totals(1_011, 1, 0))
    );
    // While something in the window failed, successes are placed one by one.
    assert_eq!(window.record(OK, || 3 * SECOND), Some(totals(1_012, 1, 0)));
    assert_eq!(window.totals(|| 11 * SECOND), totals(1, 0, 0), "1 s left");
    assert_eq!(window.totals(|| 13 * SECOND), totals(0, 0, 0));
    // A new period starts without the batch under way, and from the time it starts.
    for _ in 0..3 {
        window.record(OK, || 13 * SECOND);
    }
    window.clear(25 * SECOND);
    for _ in 0..3 {
        window.record(OK, || 25 * SECOND);
    }
    assert_eq!(window.totals(|| 25_500_000_000), totals(3, 0, 0));
    assert_eq!(
        window.totals(|| 35 * SECOND),
        totals(0, 0, 0),
        "placed at 25 s, not before"
    );
}

#[test]
fn a_batch_that_spans_buckets_is_counted_at_both_ends_until_both_have_left() {
    // Buckets of one second. A batch begins in bucket 1 (its first success reads the clock); four
    // more successes join it in bucket 3, which no clock read says.
    let window = TimeWindow::new(10 * SECOND, 0);
    window.record(OK, || 1_500_000_000);
    for _ in 0..4 {
        window.record(OK, || 3_500_000_000);
    }
    // Placed at 4.5 s: somewhere in buckets 1 to 4, so at bucket 1 and at bucket 4.
    assert_eq!(bounds(window.totals(|| 4_500_000_000)), (5, 5));
    assert_eq!(
        window.batch_limit(),
        4,
        "a batch that spanned buckets halves the size"
    );
    // 11 s: bucket 1 has left (the lower bound; exactly, 4 are still in), bucket 4 has not (the
    // upper).
    assert_eq!(bounds(window.totals(|| 11 * SECOND)), (0, 5));
    assert_eq!(bounds(window.totals(|| 14 * SECOND)), (0, 0));
}

#[test]
fn a_batch_starts_when_its_first_success_comes_not_at_the_last_placement() {
    // After a quiet spell (and after a period of failures placed one by one), the first success
    // of a batch reads the clock: the batch is placed where its successes were, exactly.
    let window = TimeWindow::new(10 * SECOND, 0);
    for _ in 0..5 {
        window.record(OK, || 40 * SECOND);
    }
    assert_eq!(window.totals(|| 40 * SECOND), totals(5, 0, 0));
    assert_eq!(window.totals(|| 49 * SECOND), totals(5, 0, 0));
    window.record(FAILED, || 50 * SECOND);
    window.record(OK, || 55 * SECOND); // placed one by one: a failure is in the window
    for _ in 0..5 {
        window.record(OK, || 61 * SECOND); // the failure has left: a batch again
    }
    assert_eq!(window.totals(|| 61 * SECOND), totals(6, 0, 0));
}

#[test]
fn a_clock_reading_behind_the_batch_start_widens_the_batch_the_other_way() {
    // The batch began at 5.5 s by one thread's reading; another's, a moment behind, places it
    // at 4.5 s. Its success is in bucket 5, in the window until 15 s.
    let window = TimeWindow::new(10 * SECOND, 0);
    window.record(OK, || 5_500_000_000);
    assert_eq!(bounds(window.totals(|| 4_500_000_000)), (1, 1));
    assert_eq!(bounds(window.totals(|| 14_500_000_000)), (0, 1));
    assert_eq!(bounds(window.totals(|| 15 * SECOND)), (0, 0));
}

#[test]
fn a_reading_counts_the_batch_under_way_in_its_upper_bound() {
    // A failure placed where the batch could not be placed first (a time window given the time
    // of a timed call) still counts the successes waiting in the batch.
    let window = TimeWindow::new(10 * SECOND, 0);
    for _ in 0..3 {
        window.record(OK, || SECOND);
    }
    let got = window
        .record_at(FAILED, SECOND)
        .expect("a failure is judged");
    assert_eq!(bounds(got), (1, 4));
}

#[test]
fn buckets_shorter_than_about_a_millisecond_take_no_batches() {
    let short = TimeWindow::new(10 * ((1 << 20) - 1), 0);
    assert_eq!(short.batch_limit(), 0);
    short.record(OK, || 0);
    assert_eq!(short.recount(), totals(1, 0, 0), "placed at once");
    let long = TimeWindow::new(10 * (1 << 20), 0);
    assert_eq!(long.batch_limit(), 8);
    long.record(OK, || 0);
    assert_eq!(long.recount().calls, 0, "in the batch");
}

#[test]
fn a_batch_older_than_the_window_counts_in_the_upper_bound_alone() {
    let window = TimeWindow::new(10 * SECOND, 0);
    for _ in 0..3 {
        window.record(OK, || 500_000_000); // bucket 0
    }
    // Placed at 10.5 s: its first bucket has left, the successes may be anywhere up to now.
    assert_eq!(
        window.record(FAILED, || 10_500_000_000),
        Some(Totals {
            calls: 1,
            calls_at_most: 4,
            failures: 1,
            slow: 0,
        })
    );
}

#[test]
fn a_rate_trips_only_where_it_would_with_every_success_placed_exactly() {
    let rates = |minimum_calls| Rates {
        failure_rate: Some(0.5),
        slow_calls: None,
        minimum_calls,
        window: WindowSize::Time(10 * SECOND),
    };
    // A batch of two successes in bucket 0, placed by the first of three failures at 10.5 s
    // (so, as far as the window knows, anywhere from bucket 0 to 10): exactly, the window holds
    // three calls (the successes have left), below a minimum of four. Judged on the upper bound,
    // five calls at 60% would trip.
    let window = TimeWindow::new(10 * SECOND, 0);
    window.record(OK, || 500_000_000);
    window.record(OK, || 500_000_000);
    let mut last = None;
    for _ in 0..3 {
        last = window.record(FAILED, || 10_500_000_000);
    }
    let last = last.expect("failures are judged");
    assert_eq!(bounds(last), (3, 5));
    assert_eq!(
        rates(4).reached(last),
        None,
        "the minimum, on the lower bound"
    );
    // A batch that began in bucket 1 and took three more successes in bucket 10, then three
    // failures: exactly, 3 of 7 failed (43%); on the lower bound alone it would be 3 of 3.
    let window = TimeWindow::new(10 * SECOND, 0);
    window.record(OK, || 1_500_000_000);
    for _ in 0..3 {
        window.record(OK, || 10_500_000_000);
    }
    let mut last = None;
    for _ in 0..3 {
        last = window.record(FAILED, || 10_500_000_000);
    }
    let last = last.expect("failures are judged");
    assert_eq!(bounds(last), (3, 7));
    assert_eq!(rates(3).reached(last), None, "the rate, on the upper bound");
    // A fourth failure: 4 of 8 exactly, and 4 of 8 on the upper bound.
    let last = window.record(FAILED, || 10_500_000_000).unwrap();
    assert_eq!(rates(3).reached(last), Some(Reason::FailureRate));
}

/// A time window against a list of timestamped outcomes, under every order of successes,
/// failures, slow calls, readings and clock moves (from none to beyond the window): the failed
/// and slow counts are exact, the calls within the bounds, the bounds at most a few batches
/// apart, and a rate reached on them is reached exactly.
#[test]
fn batched_successes_stay_within_bounds_of_the_exact_window() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config as RunnerConfig, TestRunner};

    #[derive(Clone, Copy, Debug)]
    enum Step {
        Record(Sample),
        Advance(Nanos),
        Read,
        Clear,
    }
    let length = SECOND + 7_919; // ten buckets of about a second, not a divisor of the clock
    let step = prop_oneof![
        6 => Just(Step::Record(OK)),
        1 => Just(Step::Record(FAILED)),
        1 => Just(Step::Record(SLOW)),
        2 => prop_oneof![
            Just(0),
            1..length / 10,
            1..length,
            Just(length),
            length..3 * length,
            9 * length..12 * length,
        ]
        .prop_map(Step::Advance),
        1 => Just(Step::Read),
        1 => Just(Step::Clear),
    ];
    let rates = Rates {
        failure_rate: Some(0.3),
        slow_calls: Some(SlowCalls {
            duration: SECOND,
            rate: 0.5,
        }),
        minimum_calls: 5,
        window: WindowSize::Time(10 * length),
    };
    let mut runner = TestRunner::new(RunnerConfig {
        cases: 300,
        ..RunnerConfig::default()
    });
    runner
        .run(
            &(0..1_000 * length, proptest::collection::vec(step, 1..400)),
            |(start, steps)| {
                let window = TimeWindow::new(10 * length, start);
                let mut kept: Vec<(Nanos, Sample)> = Vec::new();
                let mut now = start;
                for (i, step) in steps.into_iter().enumerate() {
                    let totals = match step {
                        Step::Advance(by) => {
                            now += by;
                            continue;
                        }
                        Step::Record(sample) => {
                            kept.push((now, sample));
                            window.record(sample, || now)
                        }
                        Step::Read => Some(window.totals(|| now)),
                        Step::Clear => {
                            window.clear(now);
                            kept.clear();
                            continue;
                        }
                    };
                    let oldest = (now / length).saturating_sub(9);
                    kept.retain(|(at, _)| at / length >= oldest);
                    let exact = totals_of(&kept);
                    let Some(got) = totals else {
                        prop_assert_eq!((exact.failures, exact.slow), (0, 0), "None at {}", i);
                        continue;
                    };
                    prop_assert_eq!((got.failures, got.slow), (exact.failures, exact.slow));
                    prop_assert!(
                        got.calls <= exact.calls && exact.calls <= got.calls_at_most,
                        "step {}: {:?} against {} calls",
                        i,
                        got,
                        exact.calls
                    );
                    prop_assert!(got.calls_at_most - got.calls <= 3 * u64::from(MAX_BATCH));
                    if let Some(reason) = rates.reached(got) {
                        prop_assert_eq!(rates.reached(exact), Some(reason), "step {}", i);
                    }
                }
                Ok(())
            },
        )
        .unwrap();
}

fn totals_of(kept: &[(Nanos, Sample)]) -> Totals {
    totals(
        kept.len() as u64,
        kept.iter().filter(|(_, s)| s.failed).count() as u64,
        kept.iter().filter(|(_, s)| s.slow).count() as u64,
    )
}

#[test]
fn no_success_is_lost_while_threads_place_batches() {
    // Successes only, from four threads, each reading the totals now and then: batches are
    // filled, taken and placed concurrently (the clock moving within one bucket, so that each is
    // placed exactly). Once the threads are done, both bounds are the number recorded.
    use std::sync::atomic::{AtomicU64, Ordering};
    let window = Arc::new(TimeWindow::new(1_000 * SECOND, 0)); // buckets of 100 s
    let clock = Arc::new(AtomicU64::new(0));
    let recorded = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let (window, clock, recorded) = (
                Arc::clone(&window),
                Arc::clone(&clock),
                Arc::clone(&recorded),
            );
            std::thread::spawn(move || {
                for i in 0..50_000u64 {
                    if (i + t) % 10_000 == 0 {
                        clock.fetch_add(SECOND, Ordering::Relaxed);
                    }
                    assert_eq!(window.record(OK, || clock.load(Ordering::Relaxed)), None);
                    recorded.fetch_add(1, Ordering::SeqCst);
                    if i % 50 == 0 {
                        // Whatever was recorded before the reading is within its upper bound,
                        // however many batches other threads are taking or placing meanwhile.
                        let before = recorded.load(Ordering::SeqCst);
                        let read = window.totals(|| clock.load(Ordering::Relaxed));
                        let after = recorded.load(Ordering::SeqCst);
                        assert!(read.calls_at_most >= before, "{read:?}, {before} before");
                        // (Each other thread may have one success recorded and not yet told.)
                        assert!(read.calls <= after + 3, "{read:?}, {after} after");
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let now = clock.load(Ordering::Relaxed);
    assert!(now < 100 * SECOND, "within one bucket");
    assert_eq!(window.totals(|| now), totals(200_000, 0, 0));
    assert_eq!(window.totals(|| now), window.recount());
}

#[test]
fn rates_are_judged_from_the_minimum_and_at_the_threshold_exactly() {
    let rates = Rates {
        failure_rate: Some(0.28),
        slow_calls: Some(SlowCalls {
            duration: SECOND,
            rate: 0.5,
        }),
        minimum_calls: 10,
        window: WindowSize::Calls(25),
    };
    assert_eq!(rates.reached(totals(9, 9, 9)), None, "below the minimum");
    assert_eq!(rates.reached(totals(25, 6, 12)), None);
    // 7 of 25 is 0.28, as written: a product (0.28 * 25 = 7.000000000000001) would miss it.
    assert!(
        std::hint::black_box(0.28_f64) * 25.0 > 7.0,
        "the product this test misses"
    );
    assert_eq!(rates.reached(totals(25, 7, 0)), Some(Reason::FailureRate));
    assert_eq!(rates.reached(totals(10, 0, 5)), Some(Reason::SlowCallRate));
    assert_eq!(rates.reached(totals(25, 7, 13)), Some(Reason::FailureRate));
    assert!(
        !rates.is_slow(SECOND),
        "exactly the duration is not slower than it"
    );
    assert!(rates.is_slow(SECOND + 1));
}

#[test]
fn backoff_grows_to_its_cap_and_jitter_stays_within_its_fraction() {
    let backoff = Backoff {
        multiplier: 2.0,
        max: Some(35 * SECOND),
        jitter: 0.0,
    };
    let durations: Vec<Nanos> = (0..5).map(|k| backoff.next(10 * SECOND, k)).collect();
    assert_eq!(
        durations,
        [10, 20, 35, 35, 35].map(|s| s * SECOND),
        "doubles per failed trial, capped"
    );
    assert_eq!(
        Backoff::default().next(7, 1000),
        7,
        "no backoff: always the timeout"
    );
    let huge = Backoff {
        multiplier: 10.0,
        max: None,
        jitter: 0.0,
    };
    // Saturates below FOREVER, which only an isolation lasts: an opening has an end.
    assert_eq!(huge.duration(SECOND, u32::MAX), FOREVER - 1);
    let spread_wide = Backoff {
        jitter: 0.5,
        ..huge
    };
    assert_eq!(spread_wide.spread(FOREVER - 1, 0.99), FOREVER - 1);

    let jittered = Backoff {
        multiplier: 1.0,
        max: None,
        jitter: 0.25,
    };
    assert_eq!(jittered.spread(100, 0.0), 75);
    assert_eq!(jittered.spread(100, 0.5), 100);
    let draws: Vec<Nanos> = (0..1_000).map(|_| jittered.next(1_000_000, 0)).collect();
    assert!(draws.iter().all(|d| (750_000..=1_250_000).contains(d)));
    let distinct: std::collections::HashSet<_> = draws.iter().collect();
    assert!(
        distinct.len() > 900,
        "spread, not one value: {}",
        distinct.len()
    );
    let mean = draws.iter().sum::<Nanos>() as f64 / draws.len() as f64;
    assert!((950_000.0..1_050_000.0).contains(&mean), "centred: {mean}");
}
