"""isolate() and disable(): the two states set by hand, held until reset()."""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from typing import Any, List, Tuple

import pytest
from fastbreaker import CircuitBreaker, CircuitBreakerError, CircuitState, RedisStore
from fastbreaker.testing import RedisServer, manual_clock
from helpers import commands_processed, drain, failing, ok, outcome, wait_for


def test_an_isolated_circuit_rejects_every_call_until_reset_whatever_the_time(unique_name):
    events: List[object] = []
    with manual_clock() as clock:
        breaker = CircuitBreaker(name=unique_name, recovery_timeout=1)
        breaker.add_listener(events.append)
        breaker.isolate()
        clock.advance(10_000)
        with pytest.raises(CircuitBreakerError) as rejected:
            breaker.call(lambda: "never called")
    assert rejected.value.retry_after == math.inf
    assert "isolated" in str(rejected.value) and "reset()" in str(rejected.value)
    assert breaker.state is CircuitState.ISOLATED
    status = breaker.get_status()
    assert (status["state"], status["retry_after"], status["open_duration"]) == (
        "isolated",
        None,
        None,
    )
    json.dumps(status, allow_nan=False)  # no infinity in a status
    breaker.reset()
    assert breaker.call(lambda: "ok") == "ok"
    assert [(e.old_state, e.new_state, e.reason) for e in events] == [  # type: ignore[attr-defined]
        ("closed", "isolated", "isolated"),
        ("isolated", "closed", "reset"),
    ]


def test_a_disabled_circuit_lets_every_call_through_and_counts_nothing(unique_name, caplog):
    breaker = CircuitBreaker(name=unique_name, failure_threshold=1)
    with caplog.at_level(logging.INFO, logger="fastbreaker"):
        breaker.disable()
    assert "closed -> disabled (reason: disabled" in caplog.text
    drain(breaker, failing(), 50)  # every one runs and raises its own error
    assert breaker.state is CircuitState.DISABLED
    assert (breaker.failure_count, breaker.get_status()["transitions"]["open"]) == (0, 0)
    assert breaker.get_status()["calls"]["failure"] == 50, "the call counters still count calls"
    breaker.reset()
    drain(breaker, failing(), 1)
    assert breaker.state is CircuitState.OPEN, "counting again after reset()"


def test_open_and_isolate_and_disable_move_between_each_other(unique_name):
    breaker = CircuitBreaker(name=unique_name)
    breaker.disable()
    breaker.isolate()
    assert breaker.state is CircuitState.ISOLATED
    breaker.open(duration=5)
    assert breaker.state is CircuitState.OPEN
    breaker.disable()
    assert breaker.state is CircuitState.DISABLED


def fleet_of_two(redis_server: RedisServer, name: str, **options: Any) -> Tuple[Any, Any, str]:
    """Two breakers of one name on two stores of one namespace (two processes' worth), both
    having met the shared state; and the key of its hash."""
    namespace = f"iso-{uuid.uuid4().hex}"

    def store() -> RedisStore:
        return RedisStore(redis_server.url, namespace=namespace)

    a, b = (CircuitBreaker(name=name, store=store(), **options) for _ in range(2))
    assert a.call(ok) == b.call(ok) == "ok"
    return a, b, f"{{{namespace}:{name}}}"


def rejected_as_isolated(breaker: Any) -> bool:
    try:
        breaker.call(ok)
    except CircuitBreakerError as error:
        return error.retry_after == math.inf
    return False


def test_isolate_holds_every_process_of_a_fleet_until_a_reset_anywhere(
    redis_server: RedisServer, unique_name: str
):
    a, b, key = fleet_of_two(redis_server, unique_name, recovery_timeout=1)
    events: List[Any] = []
    b.add_listener(events.append)
    a.isolate()
    assert wait_for(lambda: rejected_as_isolated(b))  # learned from the channel
    for breaker in (a, b):
        status = breaker.get_status()
        assert (status["state"], status["retry_after"], status["open_duration"]) == (
            "isolated",
            None,
            None,
        )
        assert breaker.state is CircuitState.ISOLATED
    # Held whatever the time (the recovery timeout is 1 s) and however long nobody writes: its
    # keys do not expire, as an abandoned breaker's do.
    assert redis_server.command("TTL", key) == -1
    time.sleep(1.1)
    assert rejected_as_isolated(a) and rejected_as_isolated(b)
    # Rejected in each process without asking Redis.
    before = commands_processed(redis_server)
    assert all(rejected_as_isolated(b) for _ in range(1000))
    assert commands_processed(redis_server) - before < 50
    b.reset()
    assert wait_for(lambda: outcome(a) == "passed")
    ttl = redis_server.command("TTL", key)
    assert isinstance(ttl, int) and ttl > 0, "expiring again once let go"
    assert wait_for(lambda: b.get_status() and len(events) >= 2)
    seen = [(e.old_state, e.new_state, e.remote) for e in events]
    assert seen == [("closed", "isolated", True), ("isolated", "closed", False)], seen
    assert events[0].reason in ("isolated", "synchronised")


def test_disable_lets_every_process_of_a_fleet_call_and_counts_nothing(
    redis_server: RedisServer, unique_name: str
):
    a, b, key = fleet_of_two(redis_server, unique_name, failure_threshold=1)
    a.disable()
    assert wait_for(lambda: b.state is CircuitState.DISABLED)
    before = commands_processed(redis_server)
    drain(b, failing(), 200)  # each runs and raises its own error
    assert all(b.call(ok) == "ok" for _ in range(200))
    # Neither the calls nor their outcomes went to Redis.
    assert commands_processed(redis_server) - before < 50
    for breaker in (a, b):
        status = breaker.get_status()
        assert (status["state"], status["failure_count"]) == ("disabled", 0)
    assert b.get_status()["calls"]["failure"] == 200, "the call counters still count calls"
    assert redis_server.command("TTL", key) == -1
    a.reset()
    assert wait_for(lambda: b.state is CircuitState.CLOSED)
    drain(b, failing(), 1)
    assert wait_for(lambda: a.state is CircuitState.OPEN), "counting again, for the fleet"


def test_a_local_isolation_the_fleet_has_let_go_is_let_go_at_the_next_outage(
    redis_server: RedisServer, unique_name: str
):
    a, b, _ = fleet_of_two(redis_server, unique_name)
    a.isolate()
    assert wait_for(lambda: rejected_as_isolated(b))
    redis_server.kill()
    b.get_status()  # finds the server gone: the process holds the isolation on its own
    assert rejected_as_isolated(b)
    redis_server.start()  # empty
    assert wait_for(lambda: b.get_status()["store_reachable"], 6.0)
    a.reset()  # the fleet lets it go
    assert wait_for(lambda: outcome(b) == "passed")
    redis_server.kill()
    b.get_status()  # the second outage: the fleet's last state was closed
    assert b.get_status()["state"] == "closed"
    assert outcome(b) == "passed"
