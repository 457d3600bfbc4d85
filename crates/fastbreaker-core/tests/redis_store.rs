//! The Redis store's scripts and cache against a real `redis-server` on a private loopback port.
//! Two `RedisStore` handles on one server stand for two processes of a fleet (each has its own
//! connections, subscriber thread, cache and origin). Skipped when `redis-server` is not
//! installed, except under CI (`CI` set), where it must be.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fastbreaker_core::clock::NANOS_PER_SECOND;
use fastbreaker_core::machine::FOREVER;
use fastbreaker_core::{
    Admission, Config, Notice, Outcome, Policies, Reason, RedisBreakerStore, RedisSettings,
    RedisStore, State, Store, TrialTimeout, Unavailable,
};

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn server() -> Option<Server> {
    let port = free_port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let child = match child {
        Ok(child) => child,
        Err(_) if std::env::var_os("CI").is_none() => {
            eprintln!("redis-server is not installed: skipped");
            return None;
        }
        Err(error) => panic!("redis-server is needed under CI: {error}"),
    };
    let server = Server {
        child,
        url: format!("redis://127.0.0.1:{port}/0"),
    };
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "redis-server did not start"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    Some(server)
}

fn config(failures: u32, recovery_ms: u64, max_trials: u32, trial_timeout: TrialTimeout) -> Config {
    Config::new(
        failures,
        1,
        max_trials,
        recovery_ms * NANOS_PER_SECOND / 1000,
        trial_timeout,
    )
    .unwrap()
}

fn settings() -> RedisSettings {
    RedisSettings {
        timeout: Duration::from_millis(500),
        ..RedisSettings::default()
    }
}

fn admit(store: &RedisBreakerStore, config: &Config) -> Option<fastbreaker_core::Ticket> {
    match store.acquire(config).unwrap() {
        Admission::Admitted(ticket, _) => Some(ticket),
        Admission::Rejected(_) => None,
    }
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(3), "never: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The breaker `name` in two processes of a fleet: each on a store of its own (own
/// connections, subscriber, cache and origin) on `server`.
fn two_processes(
    server: &Server,
    name: &str,
    config: Config,
) -> (RedisBreakerStore, RedisBreakerStore) {
    let store = || {
        RedisStore::new(&server.url, settings())
            .unwrap()
            .breaker(name, config)
    };
    (store(), store())
}

#[test]
fn failures_count_across_the_fleet_and_a_success_anywhere_resets_them() {
    let Some(server) = server() else { return };
    let config = config(3, 60_000, 1, TrialTimeout::RecoveryTimeout);
    let (a, b) = two_processes(&server, "db", config);

    let ticket = admit(&a, &config).unwrap();
    assert_eq!(
        a.record(&config, ticket, Outcome::Failure, None).unwrap(),
        None
    );
    let ticket = admit(&b, &config).unwrap();
    assert_eq!(
        b.record(&config, ticket, Outcome::Failure, None).unwrap(),
        None
    );
    assert_eq!(a.snapshot(&config).unwrap().failure_count, 2);

    // A success in A resets the fleet's consecutive count: B's next failure is the first again.
    wait_for("A hears of the failures", || {
        a.snapshot(&config).unwrap().failure_count == 2
    });
    let ticket = admit(&a, &config).unwrap();
    assert_eq!(
        a.record(&config, ticket, Outcome::Success, None).unwrap(),
        None
    );
    assert_eq!(b.snapshot(&config).unwrap().failure_count, 0);

    let mut transitions = Vec::new();
    for store in [&a, &b, &a] {
        let ticket = admit(store, &config).unwrap();
        transitions.push(
            store
                .record(&config, ticket, Outcome::Failure, None)
                .unwrap(),
        );
    }
    assert_eq!(transitions[..2], [None, None]);
    let opened = transitions[2].expect("the third failure in a row, fleet-wide, opens it");
    assert_eq!((opened.from, opened.to), (State::Closed, State::Open));
    assert_eq!(opened.failures_before, 3); // as in-process: the count that opened it
    assert_eq!(b.snapshot(&config).unwrap().state, State::Open);
    // B learns it from the channel, and rejects without the server.
    wait_for(
        "B rejects locally",
        || matches!(b.try_acquire(&config), Some(Admission::Rejected(r)) if r.state == State::Open),
    );
    wait_for("B reports the transition it learned", || b.has_news());
    let news = b.take_news();
    assert!(
        news.iter()
            .any(|n| matches!(n, Notice::Learned(t) if t.to == State::Open)),
        "{news:?}"
    );
    assert!(!a
        .take_news()
        .iter()
        .any(|n| matches!(n, Notice::Learned(_))));
}

#[test]
fn the_trial_cap_holds_for_the_whole_fleet_and_hung_trials_give_their_slot_back() {
    let Some(server) = server() else { return };
    let config = config(
        1,
        100,
        2,
        TrialTimeout::Limit(300 * NANOS_PER_SECOND / 1000),
    );
    let stores: Vec<RedisBreakerStore> = (0..4)
        .map(|_| {
            RedisStore::new(&server.url, settings())
                .unwrap()
                .breaker("api", config)
        })
        .collect();
    let ticket = admit(&stores[0], &config).unwrap();
    stores[0]
        .record(&config, ticket, Outcome::Failure, None)
        .unwrap();
    std::thread::sleep(Duration::from_millis(150));
    let admitted: Vec<_> = (0..12)
        .filter_map(|i| admit(&stores[i % 4], &config))
        .collect();
    assert_eq!(
        admitted.len(),
        2,
        "exactly half_open_max_calls trials in the fleet"
    );
    assert!(admitted.iter().all(|t| t.is_trial()));
    assert_eq!(stores[3].snapshot(&config).unwrap().trials_in_flight, 2);
    // Both trials hang: after trial_timeout their slots go to new callers.
    std::thread::sleep(Duration::from_millis(350));
    let late = admit(&stores[1], &config).expect("a hung trial's slot comes back");
    assert!(late.is_trial());
    // The first trial's success still counts (same half-open period): success_threshold 1.
    let transition = stores[0]
        .record(&config, admitted[0], Outcome::Success, None)
        .unwrap()
        .expect("closes");
    assert_eq!(transition.to, State::Closed);
    // The other tickets are late now: they change nothing.
    assert_eq!(
        stores[1]
            .record(&config, late, Outcome::Failure, None)
            .unwrap(),
        None
    );
    assert_eq!(stores[2].snapshot(&config).unwrap().state, State::Closed);
}

#[test]
fn reset_and_open_act_on_the_whole_fleet() {
    let Some(server) = server() else { return };
    let config = config(5, 60_000, 1, TrialTimeout::RecoveryTimeout);
    let (a, b) = two_processes(&server, "x", config);
    let ticket = admit(&a, &config).unwrap();
    let opened = b
        .force_open(&config, None)
        .unwrap()
        .expect("closed -> open");
    assert_eq!(opened.from, State::Closed);
    assert_eq!(a.snapshot(&config).unwrap().state, State::Open);
    // A call admitted before the opening is late: its failure counts nothing.
    assert_eq!(
        a.record(&config, ticket, Outcome::Failure, None).unwrap(),
        None
    );
    assert_eq!(a.snapshot(&config).unwrap().failure_count, 0);
    let closed = a.reset(&config).unwrap().expect("open -> closed");
    assert_eq!((closed.from, closed.to), (State::Open, State::Closed));
    wait_for("B admits again without the server", || {
        matches!(b.try_acquire(&config), Some(Admission::Admitted(..)))
    });
}

const MS: u64 = NANOS_PER_SECOND / 1000;

#[test]
fn the_backoff_grows_with_each_trial_failed_anywhere_in_the_fleet() {
    let Some(server) = server() else { return };
    let config = config(1, 100, 1, TrialTimeout::RecoveryTimeout)
        .with_policies(Policies {
            recovery_backoff: Some(3.0),
            max_recovery_timeout: Some(600 * MS),
            ..Policies::default()
        })
        .unwrap();
    let (a, b) = two_processes(&server, "backoff", config);
    let open_duration = |store: &RedisBreakerStore| {
        let snapshot = store.snapshot(&config).unwrap();
        assert_eq!(snapshot.state, State::Open);
        snapshot.open_duration
    };
    let fail = |store: &RedisBreakerStore| {
        let ticket = admit(store, &config).expect("admitted");
        store
            .record(&config, ticket, Outcome::Failure, None)
            .unwrap()
    };
    assert_eq!(fail(&a).unwrap().to, State::Open);
    assert_eq!(
        open_duration(&b),
        100 * MS,
        "the first opening: recovery_timeout"
    );
    // Each failed trial, in whichever process, multiplies the next opening, up to the limit.
    for (trial_in, then) in [(&b, 300 * MS), (&a, 600 * MS), (&b, 600 * MS)] {
        wait_for("half-open", || {
            trial_in.snapshot(&config).unwrap().state == State::HalfOpen
        });
        assert_eq!(
            fail(trial_in).unwrap().reason,
            fastbreaker_core::Reason::TrialFailed
        );
        assert_eq!((open_duration(&a), open_duration(&b)), (then, then));
        assert!(a.snapshot(&config).unwrap().retry_after > then - 100 * MS);
    }
    // A forced opening takes the backoff's duration too; closing starts over.
    a.force_open(&config, None).unwrap();
    assert_eq!(open_duration(&b), 600 * MS);
    b.reset(&config).unwrap();
    b.force_open(&config, None).unwrap();
    assert_eq!(open_duration(&a), 100 * MS);
    b.reset(&config).unwrap();
    // A read of the shared state: A's cached copy still says open until the reset's message.
    assert_eq!(a.snapshot(&config).unwrap().state, State::Closed);
    assert_eq!(fail(&a).unwrap().to, State::Open);
    assert_eq!(open_duration(&b), 100 * MS);
}

/// Two processes' breakers `name` (one failure opens; a 50 ms recovery timeout times
/// `backoff` per failed trial), opened by a failure in A and again by a trial failed in B: the
/// fleet's second opening, the backoff's.
fn after_a_failed_trial(
    server: &Server,
    name: &str,
    backoff: f64,
) -> (Config, RedisBreakerStore, RedisBreakerStore) {
    let config = config(1, 50, 1, TrialTimeout::RecoveryTimeout)
        .with_policies(Policies {
            recovery_backoff: Some(backoff),
            ..Policies::default()
        })
        .unwrap();
    let (a, b) = two_processes(server, name, config);
    let ticket = admit(&a, &config).unwrap();
    a.record(&config, ticket, Outcome::Failure, None).unwrap();
    wait_for("half-open", || {
        b.snapshot(&config).unwrap().state == State::HalfOpen
    });
    let trial = admit(&b, &config).unwrap();
    b.record(&config, trial, Outcome::Failure, None).unwrap();
    (config, a, b)
}

#[test]
fn a_backoff_past_any_clock_stays_open_for_centuries_for_the_fleet() {
    // 1e300 times the recovery timeout does not fit a reply or an EXPIRE: capped (as the
    // in-memory breaker's nanoseconds saturate), the circuit stays open rather than wrapping to
    // a duration that has passed.
    let Some(server) = server() else { return };
    let (config, a, b) = after_a_failed_trial(&server, "forever", 1e300);
    const CENTURY: u64 = 100 * 365 * 24 * 3600 * NANOS_PER_SECOND;
    for store in [&a, &b] {
        let snapshot = store.snapshot(&config).unwrap();
        assert_eq!(snapshot.state, State::Open);
        assert!(snapshot.open_duration > 5 * CENTURY, "{snapshot:?}");
        assert!(snapshot.retry_after > 5 * CENTURY, "{snapshot:?}");
        // Open, with an end: not taken for an isolation by the cached copy either.
        assert!(
            matches!(store.try_acquire(&config), Some(Admission::Rejected(r))
                if r.state == State::Open && r.retry_after < FOREVER),
        );
    }
    // The longest open(duration) there is (the bindings cap it below FOREVER): open, not held.
    a.force_open(&config, Some(FOREVER - 1)).unwrap();
    for store in [&a, &b] {
        let snapshot = store.snapshot(&config).unwrap();
        assert_eq!(snapshot.state, State::Open);
        assert!(snapshot.open_duration < FOREVER, "{snapshot:?}");
        assert!(snapshot.retry_after < FOREVER, "{snapshot:?}");
    }
}

#[test]
fn the_jitter_spreads_each_opening_of_the_fleet_within_its_bounds() {
    let Some(server) = server() else { return };
    let config = config(1, 10_000, 1, TrialTimeout::RecoveryTimeout)
        .with_policies(Policies {
            recovery_jitter: Some(0.5),
            ..Policies::default()
        })
        .unwrap();
    let (a, b) = two_processes(&server, "jitter", config);
    let mut durations = Vec::new();
    for round in 0..20 {
        let opener = if round % 2 == 0 { &a } else { &b };
        opener.force_open(&config, None).unwrap();
        let seen = a.snapshot(&config).unwrap().open_duration;
        assert_eq!(
            b.snapshot(&config).unwrap().open_duration,
            seen,
            "one for the fleet"
        );
        assert!((5_000 * MS..=15_000 * MS).contains(&seen), "{seen}");
        durations.push(seen);
    }
    durations.sort_unstable();
    durations.dedup();
    // Twenty draws from a continuous range: alike only if the draw were fixed.
    assert!(durations.len() > 15, "{durations:?}");
}

#[test]
fn isolated_and_disabled_hold_for_the_fleet_and_outlive_the_server() {
    let Some(server) = server() else { return };
    let config = config(1, 50, 1, TrialTimeout::RecoveryTimeout);
    let stores = [
        RedisStore::new(&server.url, settings()).unwrap(),
        RedisStore::new(&server.url, settings()).unwrap(),
    ];
    let breakers = |name: &str| {
        (
            stores[0].breaker(name, config),
            stores[1].breaker(name, config),
        )
    };
    let is_isolated = |admission: Option<Admission>| {
        matches!(admission, Some(Admission::Rejected(r))
            if r.state == State::Isolated && r.retry_after == FOREVER)
    };

    let (a, b) = breakers("isolated");
    let isolated = a.isolate(&config).unwrap().expect("closed -> isolated");
    assert_eq!(
        (isolated.from, isolated.to, isolated.reason),
        (State::Closed, State::Isolated, Reason::Isolated)
    );
    wait_for("B rejects it without the server", || {
        is_isolated(b.try_acquire(&config))
    });
    std::thread::sleep(Duration::from_millis(100)); // twice the recovery timeout
    assert!(is_isolated(Some(b.acquire(&config).unwrap())));
    let snapshot = b.snapshot(&config).unwrap();
    assert_eq!(
        (snapshot.state, snapshot.retry_after, snapshot.open_duration),
        (State::Isolated, FOREVER, FOREVER)
    );

    let (c, d) = breakers("disabled");
    c.disable(&config).unwrap().expect("closed -> disabled");
    wait_for("D admits without the server", || {
        matches!(d.try_acquire(&config), Some(Admission::Admitted(..)))
    });
    // Its failures count nowhere, and need no round trip to tell.
    for _ in 0..3 {
        let Some(Admission::Admitted(ticket, _)) = d.try_acquire(&config) else {
            panic!("disabled, yet not admitted");
        };
        assert_eq!(
            d.try_record(&config, ticket, Outcome::Failure, None),
            Some(None)
        );
    }
    assert_eq!(
        c.snapshot(&config).unwrap(),
        d.snapshot(&config).unwrap(),
        "one state for the fleet"
    );
    assert_eq!(d.snapshot(&config).unwrap().failure_count, 0);

    // A process that meets them first through the server (nothing cached yet) is told the same.
    let fresh = RedisStore::new(&server.url, settings()).unwrap();
    let admission = fresh.breaker("isolated", config).acquire(&config).unwrap();
    let described = format!("{admission:?}");
    assert!(is_isolated(Some(admission)), "{described}");
    let fresh = fresh.breaker("disabled", config);
    match fresh.acquire(&config).unwrap() {
        Admission::Admitted(ticket, None) if !ticket.is_trial() => {
            assert_eq!(
                fresh
                    .record(&config, ticket, Outcome::Failure, None)
                    .unwrap(),
                None
            );
        }
        other => panic!("disabled, yet {other:?}"),
    }

    // The server goes away: each process keeps the state the operator set.
    drop(server);
    assert_eq!(b.snapshot(&config).unwrap().state, State::Isolated);
    assert!(is_isolated(Some(b.acquire(&config).unwrap())));
    assert_eq!(d.snapshot(&config).unwrap().state, State::Disabled);
    let Admission::Admitted(ticket, _) = d.acquire(&config).unwrap() else {
        panic!("disabled, yet not admitted without the server");
    };
    assert_eq!(
        d.record(&config, ticket, Outcome::Failure, None).unwrap(),
        None
    );
    assert_eq!(d.snapshot(&config).unwrap().state, State::Disabled);
}

#[test]
fn without_the_server_an_opening_goes_on_for_what_is_left_of_the_fleets() {
    let Some(server) = server() else { return };
    let (config, a, b) = after_a_failed_trial(&server, "left", 100.0);
    assert_eq!(a.snapshot(&config).unwrap().open_duration, 5_000 * MS);
    drop(server);
    for store in [&a, &b] {
        // The local state takes over with the fleet's backoff, not from its own first opening.
        let snapshot = store.snapshot(&config).unwrap();
        assert_eq!(snapshot.state, State::Open);
        assert!(snapshot.retry_after > 4_000 * MS, "{snapshot:?}");
        assert!(admit(store, &config).is_none());
    }
}

#[test]
fn a_held_state_outlives_the_server_whatever_store_unavailable_says() {
    let config = config(1, 60_000, 1, TrialTimeout::RecoveryTimeout);
    for unavailable in [Unavailable::Local, Unavailable::Closed, Unavailable::Open] {
        let Some(server) = server() else { return };
        let settings = || RedisSettings {
            unavailable,
            ..settings()
        };
        let first = RedisStore::new(&server.url, settings()).unwrap();
        first.breaker("isolated", config).isolate(&config).unwrap();
        first.breaker("disabled", config).disable(&config).unwrap();
        // Another process, held by what the first did.
        let other = RedisStore::new(&server.url, settings()).unwrap();
        let isolated = other.breaker("isolated", config);
        let disabled = other.breaker("disabled", config);
        assert_eq!(isolated.snapshot(&config).unwrap().state, State::Isolated);
        assert_eq!(disabled.snapshot(&config).unwrap().state, State::Disabled);
        drop(server);
        for _ in 0..2 {
            // The first reading finds the server gone; each goes on as the operator set it.
            assert_eq!(isolated.snapshot(&config).unwrap().state, State::Isolated);
            assert_eq!(disabled.snapshot(&config).unwrap().state, State::Disabled);
        }
        let rejected = isolated.acquire(&config).unwrap();
        assert!(
            matches!(rejected, Admission::Rejected(r)
                if r.state == State::Isolated && r.retry_after == FOREVER),
            "{unavailable:?}"
        );
        let Admission::Admitted(ticket, _) = disabled.acquire(&config).unwrap() else {
            panic!("{unavailable:?}: disabled, yet not admitted");
        };
        assert_eq!(
            disabled
                .record(&config, ticket, Outcome::Failure, None)
                .unwrap(),
            None
        );
        assert_eq!(disabled.snapshot(&config).unwrap().state, State::Disabled);
    }
}

#[test]
fn an_unreachable_server_leaves_each_breaker_to_itself_as_configured() {
    let port = free_port(); // nothing listens there
    let url = format!("redis://127.0.0.1:{port}/0");
    let config = config(2, 60_000, 1, TrialTimeout::RecoveryTimeout);
    for mode in [Unavailable::Local, Unavailable::Closed, Unavailable::Open] {
        let store = RedisStore::new(
            &url,
            RedisSettings {
                unavailable: mode,
                ..settings()
            },
        )
        .unwrap();
        let breaker = store.breaker(&format!("down-{}", mode.as_str()), config);
        let started = Instant::now();
        let first = breaker.acquire(&config).unwrap();
        assert!(
            started.elapsed() < Duration::from_millis(600),
            "waited past the timeout"
        );
        assert!(!store.is_reachable());
        match mode {
            Unavailable::Local => {
                // Its own state: two failures open it, in this process only.
                let Admission::Admitted(ticket, _) = first else {
                    panic!("{first:?}")
                };
                breaker
                    .record(&config, ticket, Outcome::Failure, None)
                    .unwrap();
                let ticket = admit(&breaker, &config).unwrap();
                let opened = breaker
                    .record(&config, ticket, Outcome::Failure, None)
                    .unwrap();
                assert_eq!(opened.map(|t| t.to), Some(State::Open));
                assert!(admit(&breaker, &config).is_none());
            }
            Unavailable::Closed => {
                for _ in 0..5 {
                    let ticket = admit(&breaker, &config).expect("let through");
                    assert_eq!(
                        breaker
                            .record(&config, ticket, Outcome::Failure, None)
                            .unwrap(),
                        None
                    );
                }
            }
            Unavailable::Open => assert!(matches!(first, Admission::Rejected(_))),
        }
        let news = breaker.take_news();
        let warnings = news
            .iter()
            .filter(|n| matches!(n, Notice::StoreUnreachable(_)))
            .count();
        assert_eq!(warnings, 1, "{news:?}");
        assert!(breaker.take_news().is_empty(), "warned once");
    }
}
