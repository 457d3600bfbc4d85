"""Hostile input: whatever the arguments, a breaker is built whole or a TypeError/ValueError names
the argument. Never a crash, a panic, another exception type, or a half-built breaker."""

from __future__ import annotations

import itertools
import math

from fastbreaker import CircuitBreaker, get_circuit_breaker, get_circuit_breaker_status
from hypothesis import given, settings
from hypothesis import strategies as st


class OddInt(int):
    def __index__(self) -> int:
        raise RuntimeError("__index__ called")

    def __int__(self) -> int:
        raise RuntimeError("__int__ called")


class OddFloat(float):
    def __float__(self) -> float:
        raise RuntimeError("__float__ called")


class RaisingEq:
    def __eq__(self, other: object) -> bool:
        raise RuntimeError("__eq__ called")

    __hash__ = object.__hash__


class Indexable:
    def __index__(self) -> int:
        return 3


class CustomError(Exception):
    pass


class Meta(type):
    def __eq__(cls, other: object) -> bool:
        raise RuntimeError("metaclass __eq__ called")

    __hash__ = type.__hash__


class WeirdError(Exception, metaclass=Meta):
    pass


numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, 2**31, 2**32, 2**63, 10**400, -0]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([-0.0, 0.5, math.nan, math.inf, -math.inf, 1e308]),
    st.integers(-5, 2**40).map(OddInt),
    st.floats(allow_nan=True).map(OddFloat),
    st.booleans(),
)
valid = st.one_of(
    st.integers(1, 10),
    st.floats(0, 100),
    st.sampled_from([None, "svc", ConnectionError, (OSError, ValueError)]),
)
objects = st.one_of(
    valid,
    numbers,
    st.none(),
    st.text(max_size=5),
    st.sampled_from(["\ud800", "", "svc", b"bytes"]),
    st.builds(RaisingEq),
    st.builds(Indexable),
    st.sampled_from([int, str, type, object, ValueError, KeyboardInterrupt, BaseException]),
    st.sampled_from([CustomError, WeirdError, ConnectionError]),
)
exception_specs = st.one_of(
    objects,
    st.lists(objects, max_size=3),
    st.lists(objects, max_size=3).map(tuple),
    st.lists(st.sampled_from([CustomError, WeirdError, OSError]), max_size=3).map(tuple),
)
# Mostly valid values, so that the one invalid argument among them is the one checked.
ARGUMENTS = {
    "failure_threshold": st.one_of(st.integers(1, 10), objects),
    "recovery_timeout": st.one_of(st.floats(0, 100), objects),
    "success_threshold": st.one_of(st.integers(1, 10), objects),
    "expected_exceptions": st.one_of(st.sampled_from([OSError, (ValueError,)]), exception_specs),
    "name": st.one_of(st.sampled_from([None, "svc"]), objects),
    "half_open_max_calls": st.one_of(st.integers(1, 10), objects),
    "trial_timeout": st.one_of(st.sampled_from([None, 1.5, math.inf]), objects),
}


def check_outcome(build, kwargs: dict) -> object:  # type: ignore[no-untyped-def]
    try:
        breaker = build(**kwargs)
    except (TypeError, ValueError) as error:
        assert type(error) in (TypeError, ValueError), repr(error)
        assert any(name in str(error) for name in kwargs), (str(error), kwargs)
        return None
    # Built: whole and usable.
    status = breaker.get_status()
    assert status["state"] == "closed"
    assert breaker.call(lambda: "ok") == "ok"
    return breaker


@settings(max_examples=400, deadline=None)
@given(st.fixed_dictionaries({}, optional=ARGUMENTS))
def test_constructor_arguments(kwargs):
    check_outcome(CircuitBreaker, kwargs)


_registry_names = itertools.count()


@settings(max_examples=150, deadline=None)
@given(st.fixed_dictionaries({}, optional={k: v for k, v in ARGUMENTS.items() if k != "name"}))
def test_registry_arguments(kwargs):
    name = f"hostile-{next(_registry_names)}"
    breaker = check_outcome(lambda **kw: get_circuit_breaker(name, **kw), kwargs)
    if breaker is None:
        # Nothing half-built: an invalid first call registered nothing.
        assert get_circuit_breaker_status(name) is None


@settings(max_examples=100, deadline=None)
@given(objects)
def test_registry_lookups_by_any_name(name):
    from fastbreaker import reset_circuit_breaker

    for lookup in (get_circuit_breaker_status, reset_circuit_breaker, get_circuit_breaker):
        try:
            lookup(name)
        except (TypeError, ValueError) as error:
            assert type(error) in (TypeError, ValueError) and "name" in str(error)


@settings(max_examples=200, deadline=None)
@given(objects, st.lists(objects, max_size=3))
def test_call_arguments(func, args):
    # The candidates are types and plain values: calling one directly has no side effect, and says
    # what the protected call must do (whatever the callable raises, `str(b"", "")`'s LookupError
    # included, propagates untouched; something not callable is a TypeError either way).
    def outcome(call):
        try:
            return ("returned", type(call()))
        except Exception as error:
            return ("raised", type(error))

    breaker = CircuitBreaker()
    assert outcome(lambda: breaker.call(func, *args)) == outcome(lambda: func(*args))
    assert breaker.get_status()["state"] == "closed"
