"""`fastbreaker.testing.manual_clock()`: exact, refusing what cannot be exact, and leaving the
process clock as its docstring says."""

from __future__ import annotations

import time

import pytest
from fastbreaker import CircuitBreaker
from fastbreaker.testing import manual_clock


def test_an_advance_that_cannot_be_exact_is_refused_and_moves_nothing():
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=30)
    with manual_clock() as clock:
        breaker.open()
        before = clock.now()
        for seconds in (10**12, 1e300, 2**80):
            with pytest.raises(ValueError, match="cannot be advanced"):
                clock.advance(seconds)
        assert clock.now() == before
        clock.advance(30)  # exactly the timeout still reaches it
        assert breaker.state == "half_open"


def test_a_refused_advance_leaves_later_tests_a_working_clock():
    with manual_clock() as clock:
        with pytest.raises(ValueError):
            clock.advance(10**12)
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=0.05)
    breaker.open()
    assert 0 < breaker.get_status()["retry_after"] <= 0.05
    time.sleep(0.1)
    assert breaker.state == "half_open"


def test_time_resumes_from_the_manual_reading_not_the_real_one():
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=0.5)
    with manual_clock():
        breaker.open()
        time.sleep(0.6)  # real time passes; the manual clock does not move
        assert breaker.state == "open"
    # Leaving the block does not jump forward by the 0.6 s of real time spent inside it.
    assert breaker.state == "open"
    assert breaker.get_status()["retry_after"] > 0.3
