"""Faults in the breaker's own callbacks, and the permit API they are reported through."""

from __future__ import annotations

import pytest
from fastbreaker import CircuitBreaker, CircuitBreakerError, Permit
from helpers import drain, failing


class BrokenCheck(type):
    def __instancecheck__(cls, instance: object) -> bool:
        raise LookupError("isinstance check broke")

    def __subclasscheck__(cls, subclass: type) -> bool:
        raise LookupError("issubclass check broke")


class Flaky(Exception, metaclass=BrokenCheck):
    pass


def test_a_raising_instancecheck_leaks_no_trial_slot():
    breaker = CircuitBreaker(
        failure_threshold=1, recovery_timeout=0, success_threshold=1, expected_exceptions=(Flaky,)
    )
    breaker.open()
    original = ValueError("the call's own error")

    with pytest.raises(LookupError) as raised:
        breaker.call(failing(original))
    assert raised.value.__cause__ is original
    # Ignored: still half-open, and the slot is free for the next trial.
    assert breaker.state == "half_open"
    assert breaker.call(lambda: "ok") == "ok"
    assert breaker.state == "closed"


def test_a_raising_repr_of_the_function_is_harmless():
    class Odd:
        def __repr__(self) -> str:
            raise RuntimeError("repr broke")

        def __call__(self) -> str:
            return "called"

    breaker = CircuitBreaker()
    assert breaker.call(Odd()) == "called"


def test_permits_report_each_outcome_once():
    breaker = CircuitBreaker(failure_threshold=2, recovery_timeout=0, success_threshold=1)
    permit = breaker.acquire()
    assert isinstance(permit, Permit) and permit.circuit_breaker is breaker
    assert permit.is_trial is False
    assert permit.record_failure() is True
    assert permit.record_failure() is False  # settled already
    assert breaker.failure_count == 1
    breaker.acquire().record_failure()
    assert breaker.state == "half_open"
    trial = breaker.acquire()
    assert trial.is_trial
    with pytest.raises(CircuitBreakerError):
        breaker.acquire()
    assert trial.record_exception(KeyError()) is True  # default expected_exceptions: counts
    assert breaker.state == "half_open"  # failure re-opened, timeout 0


def test_a_permit_dropped_unreported_gives_back_its_slot():
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=0, success_threshold=1)
    breaker.open()
    permit = breaker.acquire()
    with pytest.raises(CircuitBreakerError):
        breaker.acquire()
    del permit
    breaker.acquire().record_success()
    assert breaker.state == "closed"


def test_record_exception_classifies_like_call():
    breaker = CircuitBreaker(failure_threshold=1, expected_exceptions=OSError)
    assert breaker.acquire().record_exception(KeyError()) is True
    assert breaker.acquire().record_exception(KeyboardInterrupt()) is True
    assert breaker.state == "closed"
    with pytest.raises(TypeError, match="error"):
        breaker.acquire().record_exception("not an exception")  # type: ignore[arg-type]
    breaker.acquire().record_exception(ConnectionResetError())
    assert breaker.state == "open"


def test_a_function_that_raises_in_its_own_exception_str():
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("str broke")

    breaker = CircuitBreaker(failure_threshold=1)
    drain(breaker, failing(Unprintable()), 1, Unprintable)
    assert breaker.state == "open"
