"""The state machine's contract, through the Python API, on the manual clock."""

from __future__ import annotations

import json
import time

import pytest
from fastbreaker import CircuitBreaker, CircuitBreakerError, CircuitState
from fastbreaker.testing import manual_clock
from helpers import drain, failing


def ok(value: object = "ok") -> object:
    return value


def test_a_new_breaker_is_closed_with_empty_counts():
    breaker = CircuitBreaker(name="fresh")
    status = breaker.get_status()
    assert status == {
        "name": "fresh",
        "state": "closed",
        "failure_count": 0,
        "success_count": 0,
        "last_failure_time": None,
        "failure_threshold": 5,
        "recovery_timeout": 60,
        "success_threshold": 2,
        "half_open_max_calls": 1,
        "trial_timeout": 60.0,
        "retry_after": 0.0,
        "open_duration": 60.0,
        "failure_rate_threshold": None,
        "slow_call_duration": None,
        "slow_call_rate_threshold": None,
        "minimum_calls": None,
        "window_seconds": None,
        "window_calls": None,
        "window": None,
        "recovery_backoff": 1.0,
        "max_recovery_timeout": None,
        "recovery_jitter": 0.0,
        "honor_retry_after": True,
        "max_retry_after": 600,
        "store": "memory",
        "store_reachable": True,
        "calls": {"success": 0, "failure": 0, "ignored": 0, "rejected": 0},
        "transitions": {"closed": 0, "open": 0, "half_open": 0, "isolated": 0, "disabled": 0},
    }
    assert json.loads(json.dumps(status)) == status
    assert breaker.state is CircuitState.CLOSED
    assert (breaker.failure_count, breaker.success_count, breaker.name) == (0, 0, "fresh")


def test_call_passes_arguments_and_returns_the_result():
    breaker = CircuitBreaker()
    assert breaker.call(lambda a, b, *, c: (a, b, c), 1, 2, c=3) == (1, 2, 3)
    assert breaker.call(dict, func=1) == {"func": 1}  # `func` is positional-only


def test_failures_are_consecutive():
    breaker = CircuitBreaker(failure_threshold=3)
    drain(breaker, failing(), 2)
    assert breaker.failure_count == 2
    breaker.call(ok)
    assert breaker.failure_count == 0
    drain(breaker, failing(), 2)
    assert breaker.state == "closed"
    drain(breaker, failing(), 1)
    assert breaker.state == "open"


def test_open_rejects_without_calling_and_keeps_the_failure_count():
    calls = []
    breaker = CircuitBreaker(failure_threshold=2, recovery_timeout=30, name="payments")
    with manual_clock() as clock:
        drain(breaker, failing(), 2)
        assert breaker.failure_count == 2
        clock.advance(10)
        with pytest.raises(CircuitBreakerError) as raised:
            breaker.call(calls.append, 1)
    assert calls == []
    error = raised.value
    assert error.name == "payments"
    assert error.retry_after == pytest.approx(20.0)
    assert "payments" in str(error) and "20.000s" in str(error)
    assert breaker.get_status()["failure_count"] == 2


def test_last_failure_time_is_wall_clock_time():
    breaker = CircuitBreaker()
    before = time.time()
    drain(breaker, failing(), 1)
    assert before <= breaker.get_status()["last_failure_time"] <= time.time()


def test_half_open_after_exactly_the_recovery_timeout():
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=0.1)
    with manual_clock() as clock:
        drain(breaker, failing(), 1)
        clock.advance(0.099999999)
        assert breaker.state == "open"
        clock.advance(0.000000001)
        # Reading says what the next call would meet, without taking a trial slot.
        assert breaker.get_status()["state"] == "half_open"
        assert breaker.get_status()["retry_after"] == 0.0
        assert breaker.call(ok) == "ok"


def test_zero_recovery_timeout_probes_at_once():
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=0, success_threshold=1)
    drain(breaker, failing(), 1)
    assert breaker.state == "half_open"
    breaker.call(ok)
    assert breaker.state == "closed"


def test_success_threshold_consecutive_trials_close_the_circuit():
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=5, success_threshold=3)
    with manual_clock() as clock:
        drain(breaker, failing(), 1)
        clock.advance(5)
        breaker.call(ok)
        breaker.call(ok)
        assert (breaker.state, breaker.success_count) == ("half_open", 2)
        breaker.call(ok)
        assert (breaker.state, breaker.success_count, breaker.failure_count) == ("closed", 0, 0)


def test_a_failed_trial_reopens_and_restarts_the_timer():
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=5, success_threshold=2)
    with manual_clock() as clock:
        drain(breaker, failing(), 1)
        clock.advance(5)
        breaker.call(ok)
        drain(breaker, failing(), 1)
        assert breaker.state == "open"
        assert breaker.success_count == 0
        clock.advance(4.5)
        with pytest.raises(CircuitBreakerError) as raised:
            breaker.call(ok)
        assert raised.value.retry_after == pytest.approx(0.5)


def test_half_open_admits_at_most_half_open_max_calls_at_once():
    breaker = CircuitBreaker(
        failure_threshold=1, recovery_timeout=1, success_threshold=5, half_open_max_calls=2
    )
    with manual_clock() as clock:
        drain(breaker, failing(), 1)
        clock.advance(1)
        first, second = breaker.acquire(), breaker.acquire()
        assert first.is_trial and second.is_trial
        with pytest.raises(CircuitBreakerError) as raised:
            breaker.call(ok)
        assert raised.value.retry_after == 0.0
        assert first.record_success() and second.record_success()
        assert breaker.call(ok) == "ok"  # the slots came back
    assert breaker.success_count == 3


def test_unexpected_exceptions_are_ignored_and_propagate_untouched():
    breaker = CircuitBreaker(failure_threshold=2, expected_exceptions=ConnectionError)
    drain(breaker, failing(ConnectionError()), 1)
    error = KeyError("not a service failure")

    def raise_it() -> None:
        raise error

    with pytest.raises(KeyError) as raised:
        breaker.call(raise_it)
    assert raised.value is error
    assert raised.value.__traceback__ is not None
    assert raised.traceback[-1].name == "raise_it"
    # Neither a success (the streak survives) nor a failure.
    assert breaker.failure_count == 1
    drain(breaker, failing(ConnectionError()), 1)
    assert breaker.state == "open"


def test_expected_exception_subclasses_count():
    class Timeout(ConnectionError):
        pass

    breaker = CircuitBreaker(failure_threshold=1, expected_exceptions=[OSError, ValueError])
    drain(breaker, failing(Timeout()), 1)
    assert breaker.state == "open"
    assert breaker.expected_exceptions == (OSError, ValueError)


@pytest.mark.parametrize("error", [KeyboardInterrupt(), SystemExit(3), GeneratorExit()])
def test_base_exceptions_are_ignored_and_give_back_the_trial_slot(error):
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=1, success_threshold=1)
    with manual_clock() as clock:
        drain(breaker, failing(), 1)
        clock.advance(1)
        with pytest.raises(type(error)):
            breaker.call(failing(error))
        assert breaker.state == "half_open"
        breaker.call(ok)  # the slot was given back
    assert breaker.state == "closed"


def test_ignored_trials_neither_add_to_nor_break_the_streak():
    breaker = CircuitBreaker(
        failure_threshold=1, recovery_timeout=0, success_threshold=2, expected_exceptions=OSError
    )
    drain(breaker, failing(OSError()), 1)
    breaker.call(ok)
    drain(breaker, failing(ValueError()), 1, ValueError)
    assert (breaker.state, breaker.success_count) == ("half_open", 1)
    breaker.call(ok)
    assert breaker.state == "closed"


def test_late_outcomes_are_ignored():
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=60)

    def slow_failure() -> None:
        # While this call runs, another one opens the circuit and the breaker is reset.
        drain(breaker, failing(), 1)
        assert breaker.state == "open"
        breaker.reset()
        raise RuntimeError("late")

    with pytest.raises(RuntimeError):
        breaker.call(slow_failure)
    assert (breaker.state, breaker.failure_count) == ("closed", 0)


def test_a_slow_success_cannot_close_a_circuit_that_opened_meanwhile():
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=0, success_threshold=1)

    def slow_success() -> str:
        breaker.open()
        return "done"

    assert breaker.call(slow_success) == "done"
    assert breaker.get_status()["state"] == "half_open"  # open, timeout 0: not closed
    assert breaker.failure_count == 0


def test_reset_closes_and_keeps_last_failure_time():
    breaker = CircuitBreaker(failure_threshold=1)
    drain(breaker, failing(), 1)
    when = breaker.last_failure_time
    breaker.reset()
    status = breaker.get_status()
    assert (status["state"], status["failure_count"], status["success_count"]) == ("closed", 0, 0)
    assert status["last_failure_time"] == when


def test_open_forces_open_and_restarts_the_timer():
    breaker = CircuitBreaker(recovery_timeout=10)
    with manual_clock() as clock:
        breaker.open()
        assert breaker.state == "open"
        clock.advance(8)
        breaker.open()
        clock.advance(8)
        assert breaker.state == "open"
        clock.advance(2)
        assert breaker.state == "half_open"


def test_names():
    first, second = CircuitBreaker(), CircuitBreaker()
    assert first.name.startswith("breaker-") and second.name.startswith("breaker-")
    assert first.name != second.name
    named = CircuitBreaker(name="inventory")

    @named
    def fetch() -> str:
        return "x"

    assert fetch.circuit_breaker is named
    assert named.name == "inventory"
    assert "inventory" in repr(named)


def test_state_enum_compares_as_str():
    assert CircuitState.OPEN == "open" and CircuitState.HALF_OPEN == "half_open"
    assert str(CircuitState.CLOSED) == "closed"
    assert json.dumps({"state": CircuitState.OPEN}) == '{"state": "open"}'


def test_manual_clock_does_not_nest_and_never_goes_backwards():
    with manual_clock() as clock:
        start = clock.now()
        with pytest.raises(RuntimeError, match="already active"):
            with manual_clock():
                pass
        clock.advance(3600)
        assert clock.now() == pytest.approx(start + 3600)
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=1)
    drain(breaker, failing(), 1)
    assert breaker.state == "open"  # real time resumed after the manual hour, not before it
    with pytest.raises(RuntimeError, match="no manual clock"):
        from fastbreaker import _core

        _core._manual_clock_advance(1)


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf")])
def test_manual_clock_rejects_bad_advances(bad):
    with manual_clock() as clock:
        with pytest.raises(ValueError, match="seconds"):
            clock.advance(bad)
    with manual_clock() as clock:
        with pytest.raises(TypeError, match="seconds"):
            clock.advance("1")  # type: ignore[arg-type]


def test_the_manual_clock_is_shared_by_every_thread():
    import threading

    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=30)
    states = []
    with manual_clock() as clock:
        drain(breaker, failing(), 1)
        clock.advance(30)
        thread = threading.Thread(target=lambda: states.append(breaker.state))
        thread.start()
        thread.join()
    assert states == ["half_open"]


def test_a_hung_trial_does_not_wedge_the_breaker():
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=10, success_threshold=1)
    with manual_clock() as clock:
        breaker.open()
        clock.advance(10)
        hung = breaker.acquire()  # a trial that never comes back (in time)
        assert hung.is_trial
        clock.advance(9.5)
        with pytest.raises(CircuitBreakerError) as raised:
            breaker.call(ok)
        assert raised.value.retry_after == 0.0
        clock.advance(0.5)  # out for trial_timeout (= recovery_timeout): taken for hung
        assert breaker.get_status()["state"] == "half_open"
        assert breaker.call(ok) == "ok"
        assert breaker.state == "closed"
        # Its outcome, arriving at last, is late: it cannot re-open the closed circuit.
        hung.record_failure()
        assert (breaker.state, breaker.failure_count) == ("closed", 0)


def test_trial_timeout_can_be_set_or_lifted():
    import math

    quick = CircuitBreaker(failure_threshold=1, recovery_timeout=60, trial_timeout=0.5)
    never = CircuitBreaker(failure_threshold=1, recovery_timeout=60, trial_timeout=math.inf)
    assert (quick.trial_timeout, quick.get_status()["trial_timeout"]) == (0.5, 0.5)
    assert (never.trial_timeout, never.get_status()["trial_timeout"]) == (math.inf, None)
    assert CircuitBreaker(recovery_timeout=0).trial_timeout == math.inf
    with manual_clock() as clock:
        for breaker in (quick, never):
            breaker.open()
        clock.advance(60)
        quick_trial, never_trial = quick.acquire(), never.acquire()
        clock.advance(3600)
        assert quick.acquire().is_trial
        with pytest.raises(CircuitBreakerError):
            never.acquire()
    del quick_trial, never_trial
