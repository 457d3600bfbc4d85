//! The windows, the rates and the backoff on their own; their use by a breaker is in
//! `crate::tests` (the window tests there drive a breaker on the manual clock).

use std::sync::Arc;

use super::window::{CountWindow, TimeWindow};
use super::*;
use crate::clock::NANOS_PER_SECOND;

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
    Totals {
        calls,
        failures,
        slow,
    }
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

/// Records at `now`; the totals after (`record` gives them only when something failed or was
/// slow, and says `None` exactly when nothing did).
fn record_at(window: &TimeWindow, sample: Sample, now: Nanos) -> Totals {
    match window.record(sample, || now) {
        Some(totals) => totals,
        None => {
            let totals = window.totals(now);
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
    let window = TimeWindow::new(10 * SECOND); // ten buckets of one second
    assert_eq!(record_at(&window, FAILED, 0), totals(1, 1, 0));
    assert_eq!(record_at(&window, SLOW, 5 * SECOND), totals(2, 1, 1));
    // 9.999 s: the first bucket is still in the window.
    assert_eq!(window.totals(10 * SECOND - 1), totals(2, 1, 1));
    // 10 s: it has left (its bucket is the one 10 s maps onto).
    assert_eq!(window.totals(10 * SECOND), totals(1, 0, 1));
    assert_eq!(record_at(&window, OK, 10 * SECOND), totals(2, 0, 1));
    // A long silence empties everything, once.
    assert_eq!(window.totals(100 * SECOND), totals(0, 0, 0));
    assert_eq!(record_at(&window, FAILED, 100 * SECOND), totals(1, 1, 0));
    window.clear();
    assert_eq!(window.totals(100 * SECOND), totals(0, 0, 0));
}

#[test]
fn a_time_window_matches_a_list_of_timestamps() {
    // Against the obvious model: the outcomes whose bucket is among the last ten.
    let length = SECOND / 10;
    let window = TimeWindow::new(length * 10);
    let mut kept: Vec<(Nanos, Sample)> = Vec::new();
    let mut now = 0;
    for step in 0u64..2_000 {
        now += (step * 7919) % (length / 2 + 3); // irregular, sometimes several buckets
        let sample = Sample {
            failed: step % 3 == 0,
            slow: step % 5 == 0,
        };
        let got = record_at(&window, sample, now);
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
    let window = Arc::new(TimeWindow::new(10 * SECOND)); // buckets of one second
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
    let totals = window.totals(now);
    assert_eq!(totals, window.recount());
    assert!(
        totals.calls > 0 && totals.failures > 0 && totals.slow > 0,
        "{totals:?}"
    );
}

#[test]
fn windows_stay_exact_under_threads() {
    let count = Arc::new(CountWindow::new(1_000));
    let time = Arc::new(TimeWindow::new(1_000 * SECOND));
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
    assert_eq!(time.totals(99 * SECOND), totals(40_000, 10_000, 5_000));
    let last = count.totals();
    assert_eq!(last.calls, 1_000);
    // The slots and the running totals agree once every thread is done (each thread's last 250
    // outcomes hold 62 or 63 failures and 31 or 32 slow calls, so the totals are not trivial).
    assert_eq!((last.failures, last.slow), count.recount());
    assert!(last.failures > 200 && last.slow > 100, "{last:?}");
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
    assert_eq!(huge.duration(SECOND, u32::MAX), Nanos::MAX, "saturates");

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
