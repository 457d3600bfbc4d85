"""The process-wide registry of named breakers."""

from __future__ import annotations

from fastbreaker import (
    CircuitBreaker,
    get_all_circuit_breaker_statuses,
    get_circuit_breaker,
    get_circuit_breaker_status,
    reset_circuit_breaker,
)


def test_same_name_same_breaker(unique_name):
    breaker = get_circuit_breaker(unique_name, failure_threshold=10, recovery_timeout=120)
    assert isinstance(breaker, CircuitBreaker)
    assert get_circuit_breaker(unique_name) is breaker
    assert (breaker.name, breaker.failure_threshold, breaker.recovery_timeout) == (
        unique_name,
        10,
        120,
    )


def test_status_of_unknown_names_is_none(unique_name):
    assert get_circuit_breaker_status(unique_name) is None
    assert reset_circuit_breaker(unique_name) is False
    assert unique_name not in get_all_circuit_breaker_statuses()


def test_reset_by_name(unique_name):
    breaker = get_circuit_breaker(unique_name)
    breaker.open()
    assert get_circuit_breaker_status(unique_name)["state"] == "open"
    assert reset_circuit_breaker(unique_name) is True
    assert breaker.state == "closed"


def test_all_statuses_by_name(unique_name):
    get_circuit_breaker(unique_name + "-a")
    get_circuit_breaker(unique_name + "-b").open()
    statuses = get_all_circuit_breaker_statuses()
    assert statuses[unique_name + "-a"]["state"] == "closed"
    assert statuses[unique_name + "-b"]["state"] == "open"
    assert statuses[unique_name + "-b"]["name"] == unique_name + "-b"


def test_plain_breakers_are_not_registered():
    breaker = CircuitBreaker(name="unregistered-breaker")
    assert get_circuit_breaker_status(breaker.name) is None
