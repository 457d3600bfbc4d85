"""Bad input gets a TypeError or ValueError naming the argument, before anything runs."""

from __future__ import annotations

import pytest
from fastbreaker import CircuitBreaker, circuit_breaker, get_circuit_breaker

THRESHOLDS = ["failure_threshold", "success_threshold", "half_open_max_calls"]


@pytest.mark.parametrize("argument", THRESHOLDS)
@pytest.mark.parametrize("value", [True, 1.0, "3", None, [1]])
def test_thresholds_must_be_ints(argument, value):
    with pytest.raises(TypeError, match=argument):
        CircuitBreaker(**{argument: value})


@pytest.mark.parametrize("argument", THRESHOLDS)
@pytest.mark.parametrize("value", [0, -1, 2**32, 10**40])
def test_thresholds_must_be_in_range(argument, value):
    with pytest.raises(ValueError, match=argument):
        CircuitBreaker(**{argument: value})


def test_int_subclasses_are_ints():
    class Count(int):
        pass

    assert CircuitBreaker(failure_threshold=Count(3)).failure_threshold == 3


@pytest.mark.parametrize("value", [True, "60", None, [60], 1j])
def test_recovery_timeout_must_be_a_number(value):
    with pytest.raises(TypeError, match="recovery_timeout"):
        CircuitBreaker(recovery_timeout=value)


@pytest.mark.parametrize("value", [-1, -0.5, float("nan"), float("inf"), float("-inf"), 10**400])
def test_recovery_timeout_must_be_finite_and_not_negative(value):
    with pytest.raises(ValueError, match="recovery_timeout"):
        CircuitBreaker(recovery_timeout=value)


def test_recovery_timeout_keeps_its_type_and_normalises_negative_zero():
    assert CircuitBreaker(recovery_timeout=0).recovery_timeout == 0
    assert CircuitBreaker(recovery_timeout=2.5).get_status()["recovery_timeout"] == 2.5
    assert str(CircuitBreaker(recovery_timeout=-0.0).recovery_timeout) == "0.0"
    assert type(CircuitBreaker(recovery_timeout=60).get_status()["recovery_timeout"]) is int


@pytest.mark.parametrize(
    "value", [42, "ValueError", [ValueError, 3], (KeyboardInterrupt,), BaseException, int, None]
)
def test_expected_exceptions_must_be_exception_classes(value):
    with pytest.raises(TypeError, match="expected_exceptions"):
        CircuitBreaker(expected_exceptions=value)


@pytest.mark.parametrize("value", [(), []])
def test_expected_exceptions_must_not_be_empty(value):
    with pytest.raises(ValueError, match="expected_exceptions"):
        CircuitBreaker(expected_exceptions=value)


@pytest.mark.parametrize("value", [3, b"name", ["a"]])
def test_name_must_be_a_str(value):
    with pytest.raises(TypeError, match="name"):
        CircuitBreaker(name=value)


def test_name_must_not_be_empty():
    with pytest.raises(ValueError, match="name"):
        CircuitBreaker(name="")


def test_call_needs_a_callable():
    breaker = CircuitBreaker()
    with pytest.raises(TypeError, match="func"):
        breaker.call(42)
    with pytest.raises(TypeError, match="func"):
        breaker.call_async("not callable")
    with pytest.raises(TypeError, match="callable"):
        breaker(3)
    with pytest.raises(TypeError):
        breaker.call()  # type: ignore[call-arg]


def test_decorator_options_are_checked_before_decorating():
    with pytest.raises(TypeError, match="failure_threshold"):
        circuit_breaker(failure_threshold="3")
    with pytest.raises(ValueError, match="recovery_timeout"):
        circuit_breaker(recovery_timeout=-1)
    with pytest.raises(TypeError, match="callable"):
        circuit_breaker(failure_threshold=2)(None)
    with pytest.raises(TypeError):
        circuit_breaker(failure_threshold=2, unknown=1)  # type: ignore[call-overload]


def test_registry_checks_its_arguments(unique_name):
    with pytest.raises(TypeError, match="name"):
        get_circuit_breaker(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="success_threshold"):
        get_circuit_breaker(unique_name, success_threshold=None)
    with pytest.raises(ValueError, match="failure_threshold"):
        get_circuit_breaker(unique_name, failure_threshold=0)
    from fastbreaker import get_circuit_breaker_status

    assert get_circuit_breaker_status(unique_name) is None  # nothing half-built


@pytest.mark.parametrize("value", [True, "1", [1]])
def test_trial_timeout_must_be_a_number(value):
    with pytest.raises(TypeError, match="trial_timeout"):
        CircuitBreaker(trial_timeout=value)


@pytest.mark.parametrize("value", [0, -1, 0.0, float("nan"), float("-inf")])
def test_trial_timeout_must_be_positive(value):
    with pytest.raises(ValueError, match="trial_timeout"):
        CircuitBreaker(trial_timeout=value)


def test_regression_a_name_with_a_lone_surrogate_is_a_value_error_naming_it():
    # Found by tests/test_hostile_input.py: this raised a bare UnicodeEncodeError.
    from fastbreaker import get_circuit_breaker_status, reset_circuit_breaker

    for attempt in (
        lambda: CircuitBreaker(name="\ud800"),
        lambda: get_circuit_breaker("\ud800"),
        lambda: get_circuit_breaker_status("\ud800"),
        lambda: reset_circuit_breaker("\ud800"),
    ):
        with pytest.raises(ValueError, match="name") as raised:
            attempt()
        assert type(raised.value) is ValueError
