"""The trip policies of issue 11, through the public API, on the manual clock: failure and
slow-call rates over sliding windows, `failure_threshold=None`, backoff and jitter of the open
duration, `open(duration)` and `record_failure(open_for=...)`.

Every scenario runs inside `manual_clock()`: time moves only when a test says so, so a time
window keeps its outcomes exactly as long as the test expects, and a "slow" call is one whose
function moved the clock.
"""

from __future__ import annotations

import asyncio
import json
import logging
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Optional

import pytest
from fastbreaker import (
    CircuitBreaker,
    CircuitBreakerError,
    TransitionEvent,
    circuit_breaker,
    get_circuit_breaker,
    get_circuit_breaker_status,
)
from fastbreaker._core import Options
from fastbreaker.testing import ManualClock, manual_clock
from helpers import boom, ok, outcome

# --- Helpers -----------------------------------------------------------------------------------


def run(breaker: CircuitBreaker, pattern: str) -> List[str]:
    """Calls through `breaker` as `pattern` says ("F": a failing call, "S": a successful one)."""
    return [outcome(breaker, boom if step == "F" else ok) for step in pattern]


def taking(clock: ManualClock, seconds: float, fail: bool = False) -> Callable[[], str]:
    """A function that takes `seconds` on the manual clock, then fails or returns "ok"."""

    def call() -> str:
        clock.advance(seconds)
        if fail:
            raise ConnectionError("slow and down")
        return "ok"

    return call


def window(breaker: CircuitBreaker) -> Optional[Dict[str, int]]:
    return breaker.get_status()["window"]


def listened(breaker: CircuitBreaker) -> List[TransitionEvent]:
    events: List[TransitionEvent] = []
    breaker.add_listener(events.append)
    return events


def moves(events: List[TransitionEvent]) -> List[tuple]:
    return [(e.old_state.value, e.new_state.value, e.reason) for e in events]


def rejected_retry_after(breaker: CircuitBreaker) -> float:
    with pytest.raises(CircuitBreakerError) as raised:
        breaker.call(ok)
    return raised.value.retry_after


# --- Validation --------------------------------------------------------------------------------

NAN, INF = float("nan"), float("inf")
RATE = {"failure_rate_threshold": 0.5}  # what makes window and minimum options meaningful
SLOW_RATE = {"slow_call_rate_threshold": 0.5}
SLOW_DURATION = {"slow_call_duration": 1}

# (options, the exception, the names its message must contain)
INVALID = [
    # types
    *[
        ({"failure_rate_threshold": value}, TypeError, ["failure_rate_threshold"])
        for value in (True, "0.5", [0.5], 1j)
    ],
    *[
        (
            {"slow_call_rate_threshold": value, **SLOW_DURATION},
            TypeError,
            ["slow_call_rate_threshold"],
        )
        for value in (True, "0.5")
    ],
    *[
        ({"slow_call_duration": value, **SLOW_RATE}, TypeError, ["slow_call_duration"])
        for value in (False, "1", [1])
    ],
    *[
        ({"minimum_calls": value, **RATE}, TypeError, ["minimum_calls"])
        for value in (True, 20.0, "20")
    ],
    *[({"window_seconds": value, **RATE}, TypeError, ["window_seconds"]) for value in (True, "30")],
    *[
        ({"window_calls": value, **RATE}, TypeError, ["window_calls"])
        for value in (True, 10.0, "10")
    ],
    *[({"recovery_backoff": value}, TypeError, ["recovery_backoff"]) for value in (True, "2")],
    *[
        ({"max_recovery_timeout": value}, TypeError, ["max_recovery_timeout"])
        for value in (True, "600")
    ],
    *[({"recovery_jitter": value}, TypeError, ["recovery_jitter"]) for value in (False, "0.1")],
    *[
        ({"honor_retry_after": value}, TypeError, ["honor_retry_after"])
        for value in (1, 0, "yes", "False")
    ],
    *[({"max_retry_after": value}, TypeError, ["max_retry_after"]) for value in (True, "600")],
    ({"failure_threshold": None}, TypeError, ["failure_threshold"]),
    ({"failure_threshold": None, **SLOW_DURATION}, TypeError, ["failure_threshold"]),
    # values
    *[
        ({"failure_rate_threshold": value}, ValueError, ["failure_rate_threshold"])
        for value in (0, 0.0, -0.1, 1.0000001, 2, NAN, INF, -INF, 10**400)
    ],
    *[
        (
            {"slow_call_rate_threshold": value, **SLOW_DURATION},
            ValueError,
            ["slow_call_rate_threshold"],
        )
        for value in (0, -1, 1.5, NAN)
    ],
    *[
        ({"slow_call_duration": value, **SLOW_RATE}, ValueError, ["slow_call_duration"])
        for value in (-1, -1e-9, NAN, INF)
    ],
    *[
        ({"minimum_calls": value, **RATE}, ValueError, ["minimum_calls"])
        for value in (0, -1, 2**32, 10**40)
    ],
    *[
        ({"window_seconds": value, **RATE}, ValueError, ["window_seconds"])
        for value in (0, 0.0, -1, NAN, INF)
    ],
    *[
        ({"window_calls": value, **RATE}, ValueError, ["window_calls"])
        for value in (0, -5, 1_000_001)
    ],
    *[
        ({"recovery_backoff": value}, ValueError, ["recovery_backoff"])
        for value in (0, 0.5, 0.999, -2, NAN, INF, 10**400)
    ],
    *[
        ({"recovery_jitter": value}, ValueError, ["recovery_jitter"])
        for value in (-0.1, 1, 1.0, 1.5, NAN, INF)
    ],
    *[
        ({"max_recovery_timeout": value}, ValueError, ["max_recovery_timeout"])
        for value in (-1, NAN, INF, 59.999)  # the default recovery_timeout is 60
    ],
    ({"max_recovery_timeout": 9, "recovery_timeout": 10}, ValueError, ["max_recovery_timeout"]),
    *[
        ({"max_retry_after": value}, ValueError, ["max_retry_after"])
        for value in (0, 0.0, -1, NAN, INF)
    ],
    # combinations
    (
        {"window_seconds": 10, "window_calls": 10, **RATE},
        ValueError,
        ["window_seconds", "window_calls"],
    ),
    (
        {"minimum_calls": 11, "window_calls": 10, **RATE},
        ValueError,
        ["minimum_calls", "window_calls"],
    ),
    ({"slow_call_duration": 1}, ValueError, ["slow_call_duration", "slow_call_rate_threshold"]),
    (
        {"slow_call_rate_threshold": 0.5},
        ValueError,
        ["slow_call_duration", "slow_call_rate_threshold"],
    ),
    *[
        ({argument: value}, ValueError, [argument, "has no effect without"])
        for argument, value in (("minimum_calls", 5), ("window_seconds", 10), ("window_calls", 10))
    ],
    *[
        ({argument: value, "recovery_backoff": 2}, ValueError, [argument, "has no effect without"])
        for argument, value in (("minimum_calls", 5), ("window_seconds", 10), ("window_calls", 10))
    ],
]

# Every way a user gives options, each checked in the same place.
MAKERS: Dict[str, Callable[..., Any]] = {
    "constructor": lambda name, **options: CircuitBreaker(**options),
    "named": lambda name, **options: CircuitBreaker(name=name, **options),
    "decorator": lambda name, **options: circuit_breaker(**options),
    "registry": lambda name, **options: get_circuit_breaker(name, **options),
    "Options": lambda name, **options: Options(**options),
}


def case_id(case: tuple) -> str:
    options, error, _ = case
    return f"{error.__name__}-" + ",".join(f"{k}={v!r}" for k, v in options.items())


@pytest.mark.parametrize("maker", list(MAKERS))
@pytest.mark.parametrize("case", INVALID, ids=[case_id(c) for c in INVALID])
def test_invalid_policy_options_are_refused_naming_the_argument(maker, case, unique_name):
    options, error, names = case
    with pytest.raises(error) as raised:
        MAKERS[maker](unique_name, **options)
    assert type(raised.value) is error
    for name in names:
        assert name in str(raised.value)
    assert get_circuit_breaker_status(unique_name) is None  # nothing registered on the way


def test_the_registry_checks_options_for_a_name_it_already_holds(unique_name):
    breaker = get_circuit_breaker(unique_name, **RATE)
    with pytest.raises(ValueError, match="failure_rate_threshold"):
        get_circuit_breaker(unique_name, failure_rate_threshold=1.5)
    with pytest.raises(ValueError, match="window_calls"):
        get_circuit_breaker(unique_name, window_seconds=10, window_calls=10, **RATE)
    assert get_circuit_breaker(unique_name) is breaker


@pytest.mark.parametrize("maker", list(MAKERS))
@pytest.mark.parametrize("keyword", ["failure_rate", "window_second", "slow_call_rate", "jitter"])
def test_an_unknown_keyword_is_a_type_error_naming_it(maker, keyword, unique_name):
    with pytest.raises(TypeError, match=f"unexpected keyword argument '{keyword}'"):
        MAKERS[maker](unique_name, **{keyword: 0.5})


VALID_EDGES = [
    {"failure_rate_threshold": 1},
    {"failure_rate_threshold": 1.0},
    {"failure_rate_threshold": 1e-9},
    {"slow_call_duration": 0, "slow_call_rate_threshold": 1},
    {"failure_threshold": None, "failure_rate_threshold": 0.5},
    {"failure_threshold": None, "slow_call_duration": 1, "slow_call_rate_threshold": 0.5},
    {"minimum_calls": 1, **RATE},
    {"window_calls": 1, **RATE},
    {"window_calls": 1_000_000, **RATE},
    {"window_calls": 10, "minimum_calls": 10, **RATE},
    {"window_seconds": 0.001, **RATE},
    {"recovery_backoff": 1},
    {"recovery_backoff": 1.0000001},
    {"recovery_jitter": 0},
    {"recovery_jitter": 0.999},
    {"max_recovery_timeout": 60},  # == the default recovery_timeout
    {"max_recovery_timeout": 0, "recovery_timeout": 0},
    {"honor_retry_after": False},
    {"max_retry_after": 0.001},
]


@pytest.mark.parametrize("maker", list(MAKERS))
@pytest.mark.parametrize("options", VALID_EDGES, ids=[repr(o) for o in VALID_EDGES])
def test_the_edges_of_each_range_are_accepted(maker, options, unique_name):
    MAKERS[maker](unique_name, **options)


def test_none_for_a_new_option_means_not_given():
    new = [
        "failure_rate_threshold",
        "minimum_calls",
        "window_seconds",
        "window_calls",
        "slow_call_duration",
        "slow_call_rate_threshold",
        "recovery_backoff",
        "max_recovery_timeout",
        "recovery_jitter",
        "honor_retry_after",
        "max_retry_after",
    ]
    given = CircuitBreaker(name="nones", **dict.fromkeys(new)).get_status()
    assert given == CircuitBreaker(name="nones").get_status()
    # None beside a rate: the defaults of a rate threshold.
    status = CircuitBreaker(window_seconds=None, minimum_calls=None, **RATE).get_status()
    assert (status["window_seconds"], status["minimum_calls"]) == (30.0, 20)


# --- The failure rate --------------------------------------------------------------------------


def test_a_dependency_failing_40_percent_opens_on_the_rate_never_on_the_consecutive_count(caplog):
    """The issue's motivating example: two failures in five, never two in a row."""
    caplog.set_level(logging.WARNING, logger="fastbreaker")
    pattern = "FSFSS" * 200
    with manual_clock():
        consecutive = CircuitBreaker(name="consecutive-only", failure_threshold=5)
        assert "rejected" not in run(consecutive, pattern)
        assert consecutive.get_status()["transitions"]["open"] == 0

        # The defaults of a rate: a 30 s window, judged from 20 calls on.
        rated = CircuitBreaker(name="rated", failure_threshold=5, failure_rate_threshold=0.4)
        events = listened(rated)
        outcomes = run(rated, pattern[:19])
        assert "rejected" not in outcomes and rated.state == "closed"
        assert window(rated) == {"calls": 19, "failures": 8, "slow": 0}
        # The 20th call (a success) brings the window to 20 calls, 8 failed: 0.4.
        assert run(rated, pattern[19:21]) == ["passed", "rejected"]
    assert moves(events) == [("closed", "open", "failure_rate")]
    status = rated.get_status()
    assert (status["state"], status["window"]) == ("open", {"calls": 0, "failures": 0, "slow": 0})
    lines = [r.getMessage() for r in caplog.records if "'rated'" in r.getMessage()]
    assert len(lines) == 1 and "closed -> open (reason: failure_rate" in lines[0]
    assert [r.levelname for r in caplog.records if "'rated'" in r.getMessage()] == ["WARNING"]


def test_a_rate_equal_to_the_threshold_opens_the_circuit():
    with manual_clock():
        at = CircuitBreaker(failure_threshold=None, failure_rate_threshold=0.3, window_calls=10)
        assert run(at, "SSSSSSSFFF") == ["passed"] * 7 + ["failed"] * 3  # 3 of 10: 0.3
        assert at.state == "open"
        below = CircuitBreaker(failure_threshold=None, failure_rate_threshold=0.3, window_calls=10)
        run(below, "SSSSSSSSFF")  # 2 of 10
        assert below.state == "closed"


def test_no_rate_is_judged_before_the_window_holds_minimum_calls():
    with manual_clock():
        breaker = CircuitBreaker(
            failure_threshold=None, failure_rate_threshold=0.5, minimum_calls=10, window_calls=100
        )
        run(breaker, "F" * 9)  # a rate of 1.0, over too few calls
        assert (breaker.state, window(breaker)["calls"]) == ("closed", 9)
        assert run(breaker, "F") == ["failed"]
        assert breaker.state == "open"

        # Successes count towards the minimum as much as failures.
        mixed = CircuitBreaker(
            failure_threshold=None, failure_rate_threshold=0.5, minimum_calls=10, window_calls=100
        )
        run(mixed, "SSSSSFFFF")
        assert mixed.state == "closed"
        run(mixed, "F")  # 5 of 10
        assert mixed.state == "open"


def test_a_count_window_smaller_than_the_default_minimum_is_judged_once_full():
    with manual_clock():
        breaker = CircuitBreaker(failure_threshold=None, failure_rate_threshold=0.5, window_calls=4)
        assert breaker.get_status()["minimum_calls"] == 4
        run(breaker, "FFF")
        assert breaker.state == "closed"
        run(breaker, "S")  # 2 of 4
        assert breaker.state == "open"
        wide = CircuitBreaker(failure_rate_threshold=0.5, window_calls=50)
        assert wide.get_status()["minimum_calls"] == 20


def test_a_count_window_keeps_only_the_last_calls():
    with manual_clock():
        breaker = CircuitBreaker(
            failure_threshold=None, failure_rate_threshold=0.75, window_calls=4
        )
        run(breaker, "FFSS")  # 0.5
        run(breaker, "S")  # the first failure leaves: F S S S
        assert window(breaker) == {"calls": 4, "failures": 1, "slow": 0}
        run(breaker, "S")  # S S S S
        assert window(breaker) == {"calls": 4, "failures": 0, "slow": 0}
        run(breaker, "FF")  # the window: S S F F; 4 failures of 8 overall
        assert window(breaker) == {"calls": 4, "failures": 2, "slow": 0}
        assert breaker.state == "closed"
        run(breaker, "F")  # S F F F: 0.75 (5 failures of 9 overall: 0.56)
        assert breaker.state == "open"


def test_a_time_window_forgets_outcomes_once_they_are_a_window_old():
    with manual_clock() as clock:
        breaker = CircuitBreaker(
            failure_threshold=None, failure_rate_threshold=0.5, minimum_calls=4, window_seconds=10
        )
        run(breaker, "FFF")
        clock.advance(9)  # not yet a window old (buckets are a tenth of the window)
        assert window(breaker) == {"calls": 3, "failures": 3, "slow": 0}
        clock.advance(1)
        assert window(breaker) == {"calls": 0, "failures": 0, "slow": 0}
        # Judged on the new outcomes alone: 1 failure in 4 (with the old ones: 4 in 7).
        run(breaker, "FSSS")
        assert (breaker.state, window(breaker)) == (
            "closed",
            {"calls": 4, "failures": 1, "slow": 0},
        )


def test_a_time_window_forgets_bucket_by_bucket():
    with manual_clock() as clock:
        breaker = CircuitBreaker(
            failure_threshold=None, failure_rate_threshold=1.0, minimum_calls=100, window_seconds=10
        )
        run(breaker, "FF")
        clock.advance(5)
        run(breaker, "SSS")
        assert window(breaker) == {"calls": 5, "failures": 2, "slow": 0}
        clock.advance(5)  # the failures are a window old, the successes half of one
        assert window(breaker) == {"calls": 3, "failures": 0, "slow": 0}
        clock.advance(5)
        assert window(breaker) == {"calls": 0, "failures": 0, "slow": 0}


def test_a_time_window_within_its_span_judges_every_outcome():
    with manual_clock() as clock:
        breaker = CircuitBreaker(
            failure_threshold=None, failure_rate_threshold=0.5, minimum_calls=4, window_seconds=10
        )
        run(breaker, "FSS")
        # Nine seconds: inside the window whatever the alignment of the buckets (one second
        # each) to the manual clock's start; 9.5 s would be in the window or just out of it.
        clock.advance(9)
        run(breaker, "F")  # 2 of 4, the oldest 9 s old
        assert breaker.state == "open"


def test_ignored_outcomes_are_not_in_the_window():
    with manual_clock():
        breaker = CircuitBreaker(
            failure_threshold=None,
            failure_rate_threshold=0.5,
            window_calls=4,
            expected_exceptions=ConnectionError,
        )

        def unexpected() -> None:
            raise KeyError("not the service's fault")

        for _ in range(10):
            assert outcome(breaker, unexpected) == "failed"
        permit = breaker.acquire()
        permit.record_ignored()
        assert window(breaker) == {"calls": 0, "failures": 0, "slow": 0}
        assert breaker.get_status()["calls"]["ignored"] == 11
        run(breaker, "FSS")
        assert window(breaker) == {"calls": 3, "failures": 1, "slow": 0}


def test_the_window_is_emptied_by_reset_and_by_every_transition():
    with manual_clock() as clock:
        breaker = CircuitBreaker(
            failure_threshold=None,
            failure_rate_threshold=0.5,
            window_calls=10,
            recovery_timeout=5,
            success_threshold=2,
        )
        run(breaker, "FSSS")
        breaker.reset()  # CLOSED already: no transition, and still a new period
        assert window(breaker) == {"calls": 0, "failures": 0, "slow": 0}
        run(breaker, "SSSSSSFFFF")  # 4 of 10
        assert breaker.state == "closed"
        run(breaker, "F")  # the oldest S leaves: 5 of 10
        assert (breaker.state, window(breaker)["calls"]) == ("open", 0)
        clock.advance(5)
        assert outcome(breaker) == "passed"  # a trial: not in the window
        assert (breaker.state, window(breaker)["calls"]) == ("half_open", 0)
        assert outcome(breaker) == "passed"
        assert (breaker.state, window(breaker)["calls"]) == ("closed", 0)
        # The new CLOSED period is judged on its own calls only.
        run(breaker, "FFFFSSSSSS")
        assert (breaker.state, window(breaker)) == (
            "closed",
            {"calls": 10, "failures": 4, "slow": 0},
        )


def test_a_late_outcome_is_not_in_the_window():
    with manual_clock():
        breaker = CircuitBreaker(failure_threshold=None, failure_rate_threshold=0.5, window_calls=4)
        late = breaker.acquire()
        breaker.reset()  # a new CLOSED period: `late` belongs to the old one
        assert late.record_failure() is True
        assert window(breaker) == {"calls": 0, "failures": 0, "slow": 0}
        assert breaker.failure_count == 0


# --- Slow calls --------------------------------------------------------------------------------


def test_a_call_is_slow_only_when_it_takes_longer_than_slow_call_duration():
    with manual_clock() as clock:
        breaker = CircuitBreaker(
            slow_call_duration=2,
            slow_call_rate_threshold=1,
            minimum_calls=100,
            window_calls=100,
        )
        assert outcome(breaker, taking(clock, 2)) == "passed"  # exactly the duration
        assert window(breaker) == {"calls": 1, "failures": 0, "slow": 0}
        assert outcome(breaker, taking(clock, 2.000000001)) == "passed"
        assert window(breaker) == {"calls": 2, "failures": 0, "slow": 1}
        assert outcome(breaker, taking(clock, 0)) == "passed"
        assert window(breaker) == {"calls": 3, "failures": 0, "slow": 1}
        # A permit is timed from acquire() to its record_*().
        permit = breaker.acquire()
        clock.advance(3)
        permit.record_success()
        assert window(breaker) == {"calls": 4, "failures": 0, "slow": 2}


def test_a_slow_failure_counts_as_failed_and_as_slow():
    with manual_clock() as clock:
        breaker = CircuitBreaker(
            failure_rate_threshold=1,
            slow_call_duration=1,
            slow_call_rate_threshold=1,
            minimum_calls=100,
            window_calls=100,
        )
        assert outcome(breaker, taking(clock, 1.5, fail=True)) == "failed"
        assert window(breaker) == {"calls": 1, "failures": 1, "slow": 1}
        assert outcome(breaker, taking(clock, 0.5, fail=True)) == "failed"
        assert window(breaker) == {"calls": 2, "failures": 2, "slow": 1}


def test_a_count_window_forgets_slow_calls_too():
    with manual_clock() as clock:
        breaker = CircuitBreaker(slow_call_duration=1, slow_call_rate_threshold=1, window_calls=2)
        outcome(breaker, taking(clock, 2))
        outcome(breaker, ok)
        assert window(breaker) == {"calls": 2, "failures": 0, "slow": 1}
        outcome(breaker, ok)
        assert window(breaker) == {"calls": 2, "failures": 0, "slow": 0}


def test_the_slow_call_rate_opens_the_circuit_on_successes(caplog):
    caplog.set_level(logging.WARNING, logger="fastbreaker")
    with manual_clock() as clock:
        breaker = CircuitBreaker(
            name="slowing",
            slow_call_duration=1,
            slow_call_rate_threshold=0.5,
            window_calls=4,
        )
        events = listened(breaker)
        for seconds in (0, 5, 0):
            assert outcome(breaker, taking(clock, seconds)) == "passed"
        assert breaker.state == "closed"
        assert outcome(breaker, taking(clock, 5)) == "passed"  # 2 slow of 4
        assert breaker.state == "open"
        assert breaker.failure_count == 0
    assert moves(events) == [("closed", "open", "slow_call_rate")]
    [line] = [r.getMessage() for r in caplog.records if "'slowing'" in r.getMessage()]
    assert "closed -> open (reason: slow_call_rate" in line


def test_a_breaker_on_slowness_alone_ignores_fast_failures():
    with manual_clock() as clock:
        breaker = CircuitBreaker(
            failure_threshold=None,
            slow_call_duration=1,
            slow_call_rate_threshold=0.5,
            window_calls=40,
        )
        run(breaker, "F" * 100)
        assert breaker.state == "closed"
        assert breaker.failure_count == 100
        for _ in range(19):
            outcome(breaker, taking(clock, 2, fail=True))
        assert breaker.state == "closed"
        outcome(breaker, taking(clock, 2, fail=True))  # 20 slow of 40
        assert breaker.state == "open"


def test_the_failure_rate_is_named_when_both_rates_are_reached():
    with manual_clock() as clock:
        breaker = CircuitBreaker(
            failure_rate_threshold=0.5,
            slow_call_duration=1,
            slow_call_rate_threshold=0.5,
            window_calls=2,
        )
        events = listened(breaker)
        outcome(breaker, taking(clock, 2, fail=True))
        outcome(breaker, ok)  # 1 of 2 failed, 1 of 2 slow
    assert moves(events) == [("closed", "open", "failure_rate")]


# --- failure_threshold=None --------------------------------------------------------------------


def test_failure_threshold_none_turns_the_consecutive_count_off():
    with manual_clock():
        breaker = CircuitBreaker(
            failure_threshold=None, failure_rate_threshold=0.9, minimum_calls=50, window_calls=100
        )
        assert breaker.failure_threshold is None
        assert breaker.get_status()["failure_threshold"] is None
        run(breaker, "F" * 49)
        assert (breaker.state, breaker.failure_count) == ("closed", 49)
        run(breaker, "F")
        assert breaker.state == "open"

        counting = CircuitBreaker(
            failure_rate_threshold=0.9, minimum_calls=50, window_calls=100
        )  # failure_threshold stays 5 beside the rate
        events = listened(counting)
        run(counting, "FFFFF")
        assert counting.state == "open"
    assert moves(events) == [("closed", "open", "failure_threshold")]


def test_failure_threshold_none_works_with_the_decorator_and_the_registry(unique_name):
    @circuit_breaker(failure_threshold=None, failure_rate_threshold=1.0, window_calls=10)
    def service() -> None:
        raise ConnectionError

    with manual_clock():
        for _ in range(9):
            with pytest.raises(ConnectionError):
                service()
        assert service.circuit_breaker.state == "closed"
        with pytest.raises(ConnectionError):
            service()
        assert service.circuit_breaker.state == "open"

    registered = get_circuit_breaker(
        unique_name, failure_threshold=None, slow_call_duration=1, slow_call_rate_threshold=0.5
    )
    assert registered.failure_threshold is None


# --- Backoff and jitter ------------------------------------------------------------------------


def test_each_failed_trial_multiplies_the_open_duration_up_to_the_cap():
    with manual_clock() as clock:
        breaker = CircuitBreaker(
            failure_threshold=1,
            recovery_timeout=10,
            recovery_backoff=2,
            max_recovery_timeout=50,
            success_threshold=1,
        )
        events = listened(breaker)
        assert breaker.get_status()["open_duration"] == 10.0
        assert outcome(breaker, boom) == "failed"
        durations = []
        for _ in range(6):
            status = breaker.get_status()
            durations.append(status["open_duration"])
            assert status["retry_after"] == status["open_duration"]
            clock.advance(status["open_duration"] - 0.001)
            assert rejected_retry_after(breaker) == pytest.approx(0.001)
            clock.advance(0.001)
            assert outcome(breaker, boom) == "failed"  # a trial, failed
        assert durations == [10.0, 20.0, 40.0, 50.0, 50.0, 50.0]

        # Closing starts over.
        clock.advance(50)
        assert outcome(breaker) == "passed"
        assert breaker.state == "closed"
        assert breaker.get_status()["open_duration"] == 10.0
        assert outcome(breaker, boom) == "failed"
        assert breaker.get_status()["open_duration"] == 10.0
        clock.advance(10)
        assert outcome(breaker, boom) == "failed"
        assert breaker.get_status()["open_duration"] == 20.0

        # So does reset().
        breaker.reset()
        assert outcome(breaker, boom) == "failed"
        assert breaker.get_status()["open_duration"] == 10.0
    assert {e.reason for e in events if e.new_state == "open"} == {
        "failure_threshold",
        "trial_failed",
    }


def test_backoff_without_a_cap_keeps_growing():
    with manual_clock() as clock:
        breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=1, recovery_backoff=3)
        outcome(breaker, boom)
        durations = []
        for _ in range(5):
            duration = breaker.get_status()["open_duration"]
            durations.append(duration)
            clock.advance(duration)
            outcome(breaker, boom)
        assert durations == [1.0, 3.0, 9.0, 27.0, 81.0]


def spread_of(durations: List[float], base: float, jitter: float) -> None:
    """Checks that every duration is within `jitter` of `base`, and that they spread."""
    low, high = base * (1 - jitter), base * (1 + jitter)
    assert all(low - 1e-6 <= d <= high + 1e-6 for d in durations), (base, durations)
    assert max(durations) - min(durations) > base * jitter  # over half the allowed range
    assert len(set(durations)) > len(durations) * 0.9


def test_jitter_spreads_each_opening_within_its_fraction():
    openings = 300
    with manual_clock():
        breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=100, recovery_jitter=0.2)
        assert breaker.get_status()["open_duration"] == 100.0  # CLOSED: the recovery timeout
        by_failure = []
        for _ in range(openings):
            outcome(breaker, boom)
            status = breaker.get_status()
            assert status["retry_after"] == status["open_duration"]
            assert rejected_retry_after(breaker) == status["open_duration"]
            by_failure.append(status["open_duration"])
            breaker.reset()
        spread_of(by_failure, 100, 0.2)
        assert 90 < statistics.mean(by_failure) < 110

        by_hand = []
        for _ in range(openings):
            breaker.open()  # the usual open duration: jittered too
            by_hand.append(breaker.get_status()["open_duration"])
        spread_of(by_hand, 100, 0.2)


def test_jitter_spreads_the_backed_off_durations():
    with manual_clock() as clock:
        breaker = CircuitBreaker(
            failure_threshold=1,
            recovery_timeout=10,
            recovery_backoff=2,
            max_recovery_timeout=40,
            recovery_jitter=0.5,
        )
        bases = [10.0, 20.0, 40.0, 40.0]
        seen: List[List[float]] = [[] for _ in bases]
        for _ in range(100):
            outcome(breaker, boom)
            for durations in seen:
                duration = breaker.get_status()["open_duration"]
                durations.append(duration)
                clock.advance(duration)
                outcome(breaker, boom)  # a failed trial
            breaker.reset()
        for base, durations in zip(bases, seen):
            spread_of(durations, base, 0.5)


def test_explicit_open_durations_are_exact_whatever_the_backoff_and_jitter():
    with manual_clock() as clock:
        breaker = CircuitBreaker(
            failure_threshold=1, recovery_timeout=10, recovery_backoff=3, recovery_jitter=0.9
        )
        for _ in range(20):
            breaker.open(7)
            assert breaker.get_status()["open_duration"] == 7.0
            breaker.reset()
            permit = breaker.acquire()
            permit.record_failure(open_for=7.5)
            assert breaker.get_status()["open_duration"] == 7.5
            clock.advance(7.5)
            assert breaker.acquire().record_failure(open_for=2) is True  # a trial
            assert breaker.get_status()["open_duration"] == 2.0
            breaker.reset()


# --- open(duration) ----------------------------------------------------------------------------


def test_open_for_a_duration():
    with manual_clock() as clock:
        breaker = CircuitBreaker(failure_threshold=5, recovery_timeout=60, success_threshold=2)
        events = listened(breaker)
        breaker.open(5)
        status = breaker.get_status()
        assert (status["state"], status["retry_after"], status["open_duration"]) == (
            "open",
            5.0,
            5.0,
        )
        clock.advance(4.999)
        assert rejected_retry_after(breaker) == pytest.approx(0.001)
        clock.advance(0.001)
        assert breaker.get_status()["state"] == "half_open"
        trial = breaker.acquire()
        assert trial.is_trial
        trial.record_failure()  # a failed trial reopens for the usual duration, not for 5
        status = breaker.get_status()
        assert (status["state"], status["retry_after"], status["open_duration"]) == (
            "open",
            60.0,
            60.0,
        )
    assert moves(events) == [
        ("closed", "open", "forced"),
        ("open", "half_open", "recovery_timeout"),
        ("half_open", "open", "trial_failed"),
    ]


def test_open_restarts_the_timer_and_takes_floats_and_keywords():
    with manual_clock() as clock:
        breaker = CircuitBreaker(recovery_timeout=60)
        breaker.open(duration=2.5)
        assert breaker.get_status()["open_duration"] == 2.5
        clock.advance(2)
        breaker.open(2.5)  # open already: the timer starts again
        assert breaker.get_status()["retry_after"] == 2.5
        breaker.open(duration=None)  # the usual duration
        status = breaker.get_status()
        assert (status["retry_after"], status["open_duration"]) == (60.0, 60.0)
        breaker.open()
        assert breaker.get_status()["open_duration"] == 60.0


def test_open_for_zero_seconds_admits_a_trial_at_once():
    with manual_clock():
        breaker = CircuitBreaker(failure_threshold=5, recovery_timeout=60, success_threshold=1)
        events = listened(breaker)
        breaker.open(0)
        status = breaker.get_status()
        assert (status["state"], status["retry_after"], status["open_duration"]) == (
            "half_open",
            0.0,
            0.0,
        )
        trial = breaker.acquire()
        assert trial.is_trial
        trial.record_success()
        assert breaker.state == "closed"
    assert moves(events) == [
        ("closed", "open", "forced"),
        ("open", "half_open", "recovery_timeout"),
        ("half_open", "closed", "trial_succeeded"),
    ]


def test_the_default_open_duration_follows_the_backoff():
    with manual_clock() as clock:
        breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=10, recovery_backoff=2)
        outcome(breaker, boom)
        clock.advance(10)
        outcome(breaker, boom)  # a failed trial: 20 s now
        breaker.open()  # "the usual open duration" is the backed-off one
        assert breaker.get_status()["open_duration"] == 20.0


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (-1, ValueError),
        (-0.001, ValueError),
        (NAN, ValueError),
        (INF, ValueError),
        (10**400, ValueError),
        ("5", TypeError),
        (True, TypeError),
        ([5], TypeError),
    ],
)
def test_bad_open_durations_are_refused_naming_the_argument(value, error):
    breaker = CircuitBreaker()
    with pytest.raises(error, match="duration"):
        breaker.open(value)
    assert breaker.state == "closed"
    permit = breaker.acquire()
    with pytest.raises(error, match="open_for"):
        permit.record_failure(open_for=value)
    assert breaker.state == "closed"
    assert permit.record_success() is True  # the refused report left the permit unsettled


# --- record_failure(open_for=...) --------------------------------------------------------------


def test_record_failure_open_for_opens_at_once_below_the_threshold(caplog):
    caplog.set_level(logging.WARNING, logger="fastbreaker")
    with manual_clock() as clock:
        breaker = CircuitBreaker(
            name="told-when", failure_threshold=5, recovery_timeout=60, success_threshold=1
        )
        events = listened(breaker)
        permit = breaker.acquire()
        assert permit.record_failure(open_for=7) is True
        assert permit.record_failure(open_for=7) is False  # settled already
        status = breaker.get_status()
        assert (status["state"], status["failure_count"]) == ("open", 1)
        assert (status["retry_after"], status["open_duration"]) == (7.0, 7.0)
        assert status["calls"]["failure"] == 1
        clock.advance(6.999)
        assert rejected_retry_after(breaker) == pytest.approx(0.001)
        clock.advance(0.001)
        assert outcome(breaker) == "passed"  # the trial
        assert breaker.state == "closed"
    assert moves(events)[0] == ("closed", "open", "open_for")
    lines = [r.getMessage() for r in caplog.records if "'told-when'" in r.getMessage()]
    assert "closed -> open (reason: open_for" in lines[0]


def test_record_failure_open_for_from_a_trial():
    with manual_clock() as clock:
        breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=10, recovery_backoff=2)
        events = listened(breaker)
        outcome(breaker, boom)
        clock.advance(10)
        trial = breaker.acquire()
        assert trial.is_trial
        trial.record_failure(open_for=3)
        status = breaker.get_status()
        assert (status["state"], status["retry_after"], status["open_duration"]) == (
            "open",
            3.0,
            3.0,
        )
        clock.advance(3)
        assert breaker.get_status()["state"] == "half_open"
        # A plain failed trial after it: the backoff counts both failed trials.
        assert outcome(breaker, boom) == "failed"
        assert breaker.get_status()["open_duration"] == 40.0
    assert moves(events)[:3] == [
        ("closed", "open", "failure_threshold"),
        ("open", "half_open", "recovery_timeout"),
        ("half_open", "open", "open_for"),
    ]


def test_record_failure_open_for_zero_admits_a_trial_at_once():
    with manual_clock():
        breaker = CircuitBreaker(recovery_timeout=60)
        breaker.acquire().record_failure(open_for=0)
        assert breaker.get_status()["state"] == "half_open"
        assert breaker.acquire().is_trial


def test_a_late_permit_open_for_changes_nothing():
    with manual_clock():
        breaker = CircuitBreaker(failure_threshold=5, recovery_timeout=60)
        late = breaker.acquire()
        breaker.open(5)
        late.record_failure(open_for=100)
        status = breaker.get_status()
        assert (status["state"], status["retry_after"], status["open_duration"]) == (
            "open",
            5.0,
            5.0,
        )

        closed = CircuitBreaker(failure_threshold=5, recovery_timeout=60)
        late = closed.acquire()
        closed.reset()
        late.record_failure(open_for=100)
        assert (closed.state, closed.failure_count) == ("closed", 0)


def test_open_for_works_without_a_consecutive_threshold():
    with manual_clock():
        breaker = CircuitBreaker(failure_threshold=None, failure_rate_threshold=0.5)
        breaker.acquire().record_failure(open_for=4)
        assert breaker.get_status()["retry_after"] == 4.0


# --- Status ------------------------------------------------------------------------------------


POLICY_KEYS = [
    "open_duration",
    "failure_rate_threshold",
    "slow_call_duration",
    "slow_call_rate_threshold",
    "minimum_calls",
    "window_seconds",
    "window_calls",
    "window",
    "recovery_backoff",
    "max_recovery_timeout",
    "recovery_jitter",
    "honor_retry_after",
    "max_retry_after",
]


def test_the_status_reports_every_policy_option(unique_name):
    with manual_clock() as clock:
        breaker = CircuitBreaker(
            name=unique_name,
            recovery_timeout=10,
            failure_rate_threshold=0.5,
            slow_call_duration=1.5,
            slow_call_rate_threshold=0.8,
            minimum_calls=3,
            window_seconds=12.5,
            recovery_backoff=2,
            max_recovery_timeout=40,
            recovery_jitter=0.1,
            honor_retry_after=False,
            max_retry_after=30,
        )
        status = breaker.get_status()
        policy = {key: status[key] for key in POLICY_KEYS}
        assert policy == {
            "open_duration": 10.0,
            "failure_rate_threshold": 0.5,
            "slow_call_duration": 1.5,
            "slow_call_rate_threshold": 0.8,
            "minimum_calls": 3,
            "window_seconds": 12.5,
            "window_calls": None,
            "window": {"calls": 0, "failures": 0, "slow": 0},
            "recovery_backoff": 2.0,
            "max_recovery_timeout": 40.0,
            "recovery_jitter": 0.1,
            "honor_retry_after": False,
            "max_retry_after": 30,
        }
        assert json.loads(json.dumps(status)) == status
        assert (breaker.honor_retry_after, breaker.max_retry_after) == (False, 30)
        outcome(breaker, taking(clock, 2))
        outcome(breaker, boom)
        assert window(breaker) == {"calls": 2, "failures": 1, "slow": 1}


def test_the_status_of_a_count_window_and_of_no_window():
    status = CircuitBreaker(failure_rate_threshold=1, window_calls=100).get_status()
    assert (status["window_seconds"], status["window_calls"], status["minimum_calls"]) == (
        None,
        100,
        20,
    )
    assert status["failure_rate_threshold"] == 1.0
    assert status["window"] == {"calls": 0, "failures": 0, "slow": 0}
    plain = CircuitBreaker(recovery_backoff=1.5).get_status()
    assert (plain["window"], plain["window_seconds"], plain["minimum_calls"]) == (None, None, None)
    assert (plain["recovery_backoff"], plain["max_recovery_timeout"]) == (1.5, None)


def test_the_status_follows_the_open_duration_through_its_life():
    with manual_clock() as clock:
        breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=8, recovery_backoff=2)
        outcome(breaker, boom)
        clock.advance(3)
        status = breaker.get_status()
        assert (status["retry_after"], status["open_duration"]) == (5.0, 8.0)
        clock.advance(5)
        status = breaker.get_status()
        assert (status["state"], status["retry_after"], status["open_duration"]) == (
            "half_open",
            0.0,
            8.0,
        )
        outcome(breaker, boom)
        status = breaker.get_status()
        assert (status["retry_after"], status["open_duration"]) == (16.0, 16.0)
        breaker.reset()
        assert breaker.get_status()["open_duration"] == 8.0


# --- The registry ------------------------------------------------------------------------------


REGISTERED = {
    "recovery_timeout": 10,
    "failure_rate_threshold": 0.5,
    "slow_call_duration": 2,
    "slow_call_rate_threshold": 0.5,
    "minimum_calls": 10,
    "window_seconds": 60,
    "recovery_backoff": 2,
    "max_recovery_timeout": 600,
    "recovery_jitter": 0.1,
    "honor_retry_after": False,
    "max_retry_after": 30,
}


def registry_warnings(caplog: pytest.LogCaptureFixture, name: str) -> List[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "fastbreaker" and f"'{name}' already exists" in r.getMessage()
    ]


def test_the_registry_reports_different_policy_options(unique_name, caplog):
    caplog.set_level(logging.WARNING, logger="fastbreaker")
    breaker = get_circuit_breaker(unique_name, **REGISTERED)
    assert get_circuit_breaker(unique_name, **REGISTERED) is breaker
    assert registry_warnings(caplog, unique_name) == []

    again = get_circuit_breaker(
        unique_name,
        failure_threshold=None,
        failure_rate_threshold=0.25,
        slow_call_duration=2.5,
        slow_call_rate_threshold=0.75,
        minimum_calls=5,
        window_calls=100,
        recovery_backoff=3,
        max_recovery_timeout=300,
        recovery_jitter=0.2,
        honor_retry_after=True,
        max_retry_after=60,
    )
    assert again is breaker
    [warning] = registry_warnings(caplog, unique_name)
    differences = warning.split("ignoring different options: ", 1)[1].split(", ")
    assert differences == [
        "failure_threshold=None (registered: 5)",
        "failure_rate_threshold=0.25 (registered: 0.5)",
        "slow_call_duration=2.5 (registered: 2)",
        "slow_call_rate_threshold=0.75 (registered: 0.5)",
        "minimum_calls=5 (registered: 10)",
        "window_calls=100 (registered: None)",
        "recovery_backoff=3 (registered: 2)",
        "max_recovery_timeout=300 (registered: 600)",
        "recovery_jitter=0.2 (registered: 0.1)",
        "honor_retry_after=True (registered: False)",
        "max_retry_after=60 (registered: 30)",
    ]
    # The registered breaker keeps its own options.
    status = breaker.get_status()
    assert (
        status["failure_rate_threshold"],
        status["window_seconds"],
        status["failure_threshold"],
    ) == (
        0.5,
        60.0,
        5,
    )
    assert breaker.honor_retry_after is False


@pytest.mark.parametrize(
    ("asked", "reported"),
    [
        ({"recovery_jitter": 0.3}, "recovery_jitter=0.3 (registered: 0.1)"),
        ({"recovery_backoff": 1}, "recovery_backoff=1 (registered: 2)"),
        ({"honor_retry_after": True}, "honor_retry_after=True (registered: False)"),
        ({"max_retry_after": 31}, "max_retry_after=31 (registered: 30)"),
        ({"window_seconds": 30, **RATE}, "window_seconds=30 (registered: 60)"),
        ({"minimum_calls": 20, **RATE}, "minimum_calls=20 (registered: 10)"),
        ({"slow_call_duration": 1, **SLOW_RATE}, "slow_call_duration=1 (registered: 2)"),
    ],
)
def test_one_different_policy_option_is_enough_to_be_reported(unique_name, caplog, asked, reported):
    caplog.set_level(logging.WARNING, logger="fastbreaker")
    breaker = get_circuit_breaker(unique_name, **REGISTERED)
    assert get_circuit_breaker(unique_name, **asked) is breaker
    [warning] = registry_warnings(caplog, unique_name)
    assert warning.endswith("ignoring different options: " + reported)


def test_the_same_value_written_differently_is_no_difference(unique_name, caplog):
    caplog.set_level(logging.WARNING, logger="fastbreaker")
    get_circuit_breaker(unique_name, **REGISTERED)
    get_circuit_breaker(
        unique_name,
        failure_rate_threshold=0.5,
        slow_call_duration=2.0,
        slow_call_rate_threshold=0.5,
        window_seconds=60.0,
        recovery_backoff=2.0,
        max_recovery_timeout=600.0,
        max_retry_after=30.0,
    )
    assert registry_warnings(caplog, unique_name) == []


# --- Coroutines --------------------------------------------------------------------------------


def test_a_decorated_coroutine_function_opens_on_the_failure_rate():
    @circuit_breaker(failure_threshold=None, failure_rate_threshold=0.5, window_calls=4)
    async def fetch(fail: bool) -> str:
        await asyncio.sleep(0)
        if fail:
            raise ConnectionError("down")
        return "ok"

    async def main() -> List[str]:
        outcomes = []
        for fail in (False, True, False, True, False):
            try:
                outcomes.append(await fetch(fail))
            except ConnectionError:
                outcomes.append("failed")
            except CircuitBreakerError:
                outcomes.append("rejected")
        return outcomes

    breaker = fetch.circuit_breaker
    events = listened(breaker)
    with manual_clock():
        assert asyncio.run(main()) == ["ok", "failed", "ok", "failed", "rejected"]
    assert moves(events) == [("closed", "open", "failure_rate")]


def test_a_coroutine_is_timed_from_its_start_to_its_end():
    with manual_clock() as clock:
        breaker = CircuitBreaker(
            slow_call_duration=1,
            slow_call_rate_threshold=0.5,
            failure_rate_threshold=1,
            window_calls=4,
        )

        async def fetch(seconds: float, fail: bool = False) -> str:
            await asyncio.sleep(0)
            clock.advance(seconds)
            await asyncio.sleep(0)
            if fail:
                raise ConnectionError("down")
            return "ok"

        async def main() -> None:
            assert await breaker.call_async(fetch, 1) == "ok"  # exactly the duration
            assert await breaker(fetch)(3) == "ok"
            with pytest.raises(ConnectionError):
                await breaker.call(fetch, 2, fail=True)
            assert window(breaker) == {"calls": 3, "failures": 1, "slow": 2}
            assert await breaker.call_async(fetch, 0) == "ok"  # 2 slow of 4
            with pytest.raises(CircuitBreakerError):
                await breaker.call_async(fetch, 0)

        asyncio.run(main())
        assert breaker.state == "open"


# --- Threads -----------------------------------------------------------------------------------

THREADS = 16
CALLS = 2_000


def yielding_ok() -> str:
    time.sleep(0)  # lets the other threads run: calls are in flight together
    return "ok"


def yielding_boom() -> None:
    time.sleep(0)
    raise ConnectionError("down")


def hammer(breaker: CircuitBreaker) -> None:
    """Every thread calls `breaker` CALLS times: three successes, then a failure, and again.
    Each call gives the GIL away while it runs, so that the threads' admissions and outcomes
    interleave (without it, each thread would run its calls in one go)."""
    barrier = threading.Barrier(THREADS)

    def work(_: int) -> None:
        barrier.wait()
        for i in range(CALLS):
            try:
                breaker.call(yielding_boom if i % 4 == 3 else yielding_ok)
            except ConnectionError:
                pass

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(work, range(THREADS)))


# failure_rate_threshold=1: never reached, since every thread succeeds before it first fails and
# never fails twice in a row; failure_threshold: never reached either.
QUIET = {"failure_threshold": 10**9, "failure_rate_threshold": 1}


@pytest.mark.parametrize(
    "window_option", [{"window_calls": 1_000_000}, {"window_seconds": 30}], ids=["count", "time"]
)
def test_threads_lose_no_outcome_in_a_window(window_option):
    total = THREADS * CALLS
    with manual_clock():  # no time passes: a time window never rotates
        breaker = CircuitBreaker(**QUIET, **window_option)
        hammer(breaker)
        status = breaker.get_status()
    assert status["state"] == "closed"
    assert status["window"] == {"calls": total, "failures": total // 4, "slow": 0}
    assert status["calls"] == {
        "success": total - total // 4,
        "failure": total // 4,
        "ignored": 0,
        "rejected": 0,
    }


def test_threads_fill_a_count_window_smaller_than_their_calls():
    with manual_clock():
        breaker = CircuitBreaker(**QUIET, window_calls=1_000)
        hammer(breaker)
        status = breaker.get_status()
    assert status["state"] == "closed"
    assert status["window"]["calls"] == 1_000
    # No thread fails twice in a row, nor before its first success: a quarter, give or take
    # the interleaving at the window's edges.
    assert 0 < status["window"]["failures"] < 1_000 * 0.5


def test_threads_open_a_rated_breaker_once():
    """Every thread fails at once: exactly one opening, however many reach the rate together."""
    with manual_clock():
        breaker = CircuitBreaker(
            failure_threshold=None, failure_rate_threshold=0.5, minimum_calls=20, window_calls=100
        )
        events = listened(breaker)
        barrier = threading.Barrier(THREADS)

        def work(_: int) -> List[str]:
            barrier.wait()
            return [outcome(breaker, yielding_boom) for _ in range(50)]

        with ThreadPoolExecutor(THREADS) as pool:
            outcomes = [o for result in pool.map(work, range(THREADS)) for o in result]
    assert moves(events) == [("closed", "open", "failure_rate")]
    assert breaker.get_status()["transitions"]["open"] == 1
    assert outcomes.count("failed") >= 20
    assert outcomes.count("failed") + outcomes.count("rejected") == THREADS * 50


def test_the_window_is_kept_per_breaker():
    with manual_clock():
        first = CircuitBreaker(failure_threshold=None, failure_rate_threshold=0.5, window_calls=4)
        second = CircuitBreaker(failure_threshold=None, failure_rate_threshold=0.5, window_calls=4)
        run(first, "FFF")
        run(second, "S")
        assert window(first) == {"calls": 3, "failures": 3, "slow": 0}
        assert window(second) == {"calls": 1, "failures": 0, "slow": 0}
