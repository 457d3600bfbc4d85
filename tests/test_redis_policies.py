"""Trip policies with the Redis store (issue 11).

What the fleet's shared state cannot keep yet (a sliding window) is refused when the breaker is
built, with a ValueError that names each option it cannot honour; what it can keep (an opening of
a given length: `open(duration)`, `record_failure(open_for=...)`; the backoff, its limit and its
jitter) holds for the whole fleet.

Two `RedisStore` objects on one server stand for two processes: each has its own connections,
subscriber and cached state, and learns what the other did only through Redis. Redis decides on
its own clock (`TIME`), so these tests run on real time (the manual clock moves no Redis state),
with openings long enough for the checks to run well inside them.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import time
from typing import Any, Callable, Dict, List, Tuple

import fastbreaker
import pytest
from fastbreaker import (
    CircuitBreaker,
    CircuitBreakerError,
    RedisStore,
    TransitionEvent,
    circuit_breaker,
    get_circuit_breaker,
    get_circuit_breaker_status,
)
from fastbreaker.testing import RedisServer
from helpers import ok, outcome, wait_for

_namespaces = itertools.count()


@pytest.fixture
def namespace() -> str:
    return f"fbpolicies{os.getpid()}-{next(_namespaces)}"


def assert_rejects_for(breaker: CircuitBreaker, duration: float) -> None:
    """Checks that `breaker` comes to turn calls away with a retry_after from `duration` - 1 to
    `duration` seconds (it may learn of an opening, or of a new one, a moment late)."""
    seen: List[float] = []

    def rejected_in_range() -> bool:
        try:
            breaker.call(ok)
        except CircuitBreakerError as error:
            seen.append(error.retry_after)
            return duration - 1.0 < error.retry_after <= duration
        return False

    assert wait_for(rejected_in_range), f"retry_after seen: {seen[-10:]}"


Fleet = Callable[..., Tuple[CircuitBreaker, CircuitBreaker]]


@pytest.fixture
def fleet(redis_server: RedisServer, namespace: str, unique_name: str) -> Fleet:
    """Makes two breakers of one name, each on a store of its own (two processes' worth)."""

    def make(**options: Any) -> Tuple[CircuitBreaker, CircuitBreaker]:
        a, b = (
            CircuitBreaker(
                name=unique_name,
                store=RedisStore(redis_server.url, namespace=namespace),
                **options,
            )
            for _ in range(2)
        )
        assert outcome(a) == outcome(b) == "passed"  # both have met the shared state
        return a, b

    return make


def listened(breaker: CircuitBreaker) -> List[TransitionEvent]:
    events: List[TransitionEvent] = []
    breaker.add_listener(events.append)
    return events


def opened(breaker: CircuitBreaker, duration: float) -> Dict[str, Any]:
    """The status of `breaker`, checked to be open for `duration` with most of it left."""
    status = breaker.get_status()
    assert status["state"] == "open"
    assert status["open_duration"] == duration
    assert duration - 1.0 < status["retry_after"] <= duration
    return status


# --- Refused at construction -------------------------------------------------------------------

UNSUPPORTED = [
    "failure_rate_threshold",
    "slow_call_rate_threshold",
]

# (options, the names the refusal must give)
REFUSED = [
    ({"failure_rate_threshold": 0.5}, ["failure_rate_threshold"]),
    (
        {"failure_rate_threshold": 0.5, "window_calls": 10, "minimum_calls": 5},
        ["failure_rate_threshold"],
    ),
    ({"failure_threshold": None, "failure_rate_threshold": 0.5}, ["failure_rate_threshold"]),
    ({"slow_call_duration": 1, "slow_call_rate_threshold": 0.5}, ["slow_call_rate_threshold"]),
    (
        {
            "failure_rate_threshold": 0.5,
            "slow_call_duration": 1,
            "slow_call_rate_threshold": 0.5,
            "recovery_backoff": 2,
            "recovery_jitter": 0.1,
        },
        UNSUPPORTED,
    ),
]


def refusal_of(make: Callable[[], Any], names: List[str]) -> str:
    with pytest.raises(ValueError) as raised:
        make()
    message = str(raised.value)
    assert "Redis" in message and "not support" in message, message
    for name in UNSUPPORTED:
        assert (name in message) == (name in names), (name, message)
    return message


@pytest.mark.parametrize(("options", "names"), REFUSED, ids=[repr(o) for o, _ in REFUSED])
def test_policies_the_fleet_cannot_keep_are_refused_naming_them(
    redis_server: RedisServer, unique_name: str, options: Dict[str, Any], names: List[str]
) -> None:
    store = RedisStore(redis_server.url)
    refusal_of(lambda: CircuitBreaker(name=unique_name, store=store, **options), names)
    refusal_of(lambda: get_circuit_breaker(unique_name, store=store, **options), names)
    assert get_circuit_breaker_status(unique_name) is None  # the refused breaker is not kept

    decorate = circuit_breaker(name=unique_name, store=store, **options)  # options are valid
    refusal_of(lambda: decorate(ok), names)


def test_the_refusal_needs_no_server(unique_name: str) -> None:
    """A configuration matter: refused the same with nothing listening where the store points."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = RedisStore(f"redis://127.0.0.1:{port}/0")
    refusal_of(
        lambda: CircuitBreaker(name=unique_name, store=store, failure_rate_threshold=0.5),
        ["failure_rate_threshold"],
    )


@pytest.mark.usefixtures("no_default_store")
def test_the_default_store_keeps_such_a_breaker_in_memory_and_says_why(
    redis_server: RedisServer, unique_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A service made fleet-wide by configuration must not fail where it ran before (as for a
    # breaker whose trials may run for ever).
    fastbreaker.set_default_store(RedisStore(redis_server.url))
    with caplog.at_level(logging.WARNING, logger="fastbreaker"):
        breaker = CircuitBreaker(name=unique_name, failure_rate_threshold=0.5)
    assert breaker.get_status()["store"] == "memory"
    [warning] = [r.getMessage() for r in caplog.records if unique_name in r.getMessage()]
    assert "stays in this process" in warning and "failure_rate_threshold" in warning
    # Without the policy, the same name goes to the default store.
    shared = CircuitBreaker(name=unique_name + "-plain")
    assert shared.get_status()["store"] != "memory"
    # An unnamed breaker has no name to share, and stays in memory whatever its policies.
    assert CircuitBreaker(failure_rate_threshold=0.5).get_status()["store"] == "memory"


def test_the_refusal_advises_a_store_that_accepts_the_breaker(
    redis_server: RedisServer, unique_name: str
) -> None:
    message = refusal_of(
        lambda: CircuitBreaker(
            name=unique_name, failure_rate_threshold=0.5, store=RedisStore(redis_server.url)
        ),
        ["failure_rate_threshold"],
    )
    assert 'store="memory"' in message, message
    # ... and the advice works.
    assert CircuitBreaker(name=unique_name, failure_rate_threshold=0.5, store="memory")


@pytest.mark.parametrize(
    "options",
    [
        {"recovery_backoff": 1},
        {"recovery_jitter": 0},
        {"recovery_backoff": 1.0, "recovery_jitter": 0.0, "max_recovery_timeout": 120},
        {"recovery_backoff": 2},
        {"recovery_backoff": 2, "max_recovery_timeout": 600, "recovery_jitter": 0.1},
        {"recovery_jitter": 0.5},
        {"honor_retry_after": False, "max_retry_after": 5},
    ],
    ids=repr,
)
def test_what_the_fleet_can_keep_is_accepted(
    redis_server: RedisServer, unique_name: str, options: Dict[str, Any]
) -> None:
    breaker = CircuitBreaker(name=unique_name, store=RedisStore(redis_server.url), **options)
    assert breaker.get_status()["store"] == redis_server.url
    assert outcome(breaker) == "passed"


# --- Openings of a given length, fleet-wide ----------------------------------------------------


def test_open_for_a_duration_holds_for_the_whole_fleet(fleet: Fleet) -> None:
    a, b = fleet(failure_threshold=5, recovery_timeout=60)
    a.open(30)
    assert_rejects_for(b, 30)  # learned from the channel
    for breaker in (a, b):
        opened(breaker, 30.0)
    assert_rejects_for(a, 30)
    b.reset()
    assert wait_for(lambda: outcome(a) == "passed")
    for breaker in (a, b):
        status = breaker.get_status()
        assert (status["state"], status["open_duration"]) == ("closed", 60.0)


def test_open_without_a_duration_is_the_recovery_timeout_for_the_fleet(fleet: Fleet) -> None:
    a, b = fleet(recovery_timeout=45)
    a.open(5)
    b.open()  # the usual duration, not the one the last opening had
    assert_rejects_for(a, 45)
    for breaker in (a, b):
        opened(breaker, 45.0)


def test_a_short_opening_ends_for_the_fleet_and_a_failed_trial_reopens_for_the_usual_time(
    fleet: Fleet,
) -> None:
    a, b = fleet(failure_threshold=5, recovery_timeout=60)
    a.open(0.5)
    for breaker in (a, b):
        opened(breaker, 0.5)
    time.sleep(0.6)
    for breaker in (a, b):
        assert breaker.get_status()["state"] == "half_open"
    trial = b.acquire()
    assert trial.is_trial
    trial.record_failure()
    for breaker in (a, b):
        opened(breaker, 60.0)


def test_record_failure_open_for_below_the_threshold_opens_the_fleet(fleet: Fleet) -> None:
    a, b = fleet(failure_threshold=5, recovery_timeout=60)
    b_events, a_events = listened(b), listened(a)
    permit = b.acquire()
    assert not permit.is_trial
    assert permit.record_failure(open_for=7) is True
    assert_rejects_for(a, 7)
    for breaker in (a, b):
        status = opened(breaker, 7.0)
        assert status["failure_count"] == 1
    assert [(e.new_state, e.reason, e.remote) for e in b_events] == [("open", "open_for", False)]
    assert wait_for(lambda: a.get_status() and a_events)
    # Remote: with its reason from the channel, or "synchronised" when a read of the shared
    # state got there before the message did.
    [learned] = a_events
    assert (learned.new_state, learned.remote) == ("open", True)
    assert learned.reason in ("open_for", "synchronised")


def test_record_failure_open_for_from_a_trial_holds_for_the_fleet(fleet: Fleet) -> None:
    a, b = fleet(failure_threshold=1, recovery_timeout=60)
    a.open(0)  # the next call anywhere is a trial
    assert b.get_status()["state"] == "half_open"
    trial = b.acquire()
    assert trial.is_trial
    trial.record_failure(open_for=9)
    assert_rejects_for(a, 9)
    for breaker in (a, b):
        opened(breaker, 9.0)


def test_a_late_permit_open_for_changes_nothing_for_the_fleet(fleet: Fleet) -> None:
    a, b = fleet(failure_threshold=5, recovery_timeout=60)
    late = a.acquire()
    b.open(30)
    late.record_failure(open_for=100)
    for breaker in (a, b):
        opened(breaker, 30.0)

    b.reset()
    assert wait_for(lambda: outcome(a) == "passed")
    late = a.acquire()
    b.reset()  # CLOSED again, in a new period
    late.record_failure(open_for=100)
    for breaker in (a, b):
        status = breaker.get_status()
        assert (status["state"], status["failure_count"]) == ("closed", 0)


# --- Backoff and jitter, fleet-wide ------------------------------------------------------------


def test_each_trial_failed_anywhere_lengthens_the_next_opening_for_the_fleet(fleet: Fleet) -> None:
    a, b = fleet(
        failure_threshold=1, recovery_timeout=10, recovery_backoff=3, max_recovery_timeout=50
    )
    for trial_in, then in ((b, 30.0), (a, 50.0)):
        trial_in.open(0)  # the next call anywhere is a trial
        trial = trial_in.acquire()
        assert trial.is_trial
        trial.record_failure()
        for breaker in (a, b):
            opened(breaker, then)
    # Closing starts over, for every process.
    a.reset()
    b.open()
    for breaker in (a, b):
        opened(breaker, 10.0)


def test_the_jitter_spreads_the_fleets_openings_within_its_bounds(fleet: Fleet) -> None:
    a, b = fleet(recovery_timeout=100, recovery_jitter=0.5)
    durations = set()
    for opener in (a, b) * 5:
        opener.open()
        duration = a.get_status()["open_duration"]
        assert b.get_status()["open_duration"] == duration  # one opening for the fleet
        assert 50.0 <= duration <= 150.0
        durations.add(duration)
    assert len(durations) > 5, durations  # drawn afresh for each opening
