"""isolate() and disable(): the two states set by hand, held until reset()."""

from __future__ import annotations

import json
import logging
import math
import uuid
from typing import List

import pytest
from fastbreaker import CircuitBreaker, CircuitBreakerError, CircuitState, RedisStore
from fastbreaker.testing import RedisServer, manual_clock
from helpers import drain, failing


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


def test_a_breaker_kept_in_redis_refuses_isolate_and_disable_and_stays_as_it_was(
    redis_server: RedisServer, unique_name: str
):
    store = RedisStore(redis_server.url, namespace=f"iso-{uuid.uuid4().hex}")
    breaker = CircuitBreaker(name=unique_name, store=store)
    for method in (breaker.isolate, breaker.disable):
        with pytest.raises(NotImplementedError, match="not supported by a breaker kept in Redis"):
            method()
    assert breaker.state is CircuitState.CLOSED
    assert breaker.call(lambda: "ok") == "ok"
