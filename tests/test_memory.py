"""No leaks: reference counts and live objects stay exactly flat over a million calls of every kind.

Only exact counts are asserted here. How much RSS grows over the same calls is a measurement, not
a pass/fail check: `python benchmarks/memory.py` prints it.
"""

from __future__ import annotations

import gc
import logging
import sys
import weakref

import pytest
from fastbreaker import CircuitBreaker, CircuitBreakerError

CALLS = 1_000_000


def tracked_objects() -> int:
    """How many objects the garbage collector tracks, once collecting changes nothing more.

    One collection is not enough: it frees garbage and untracks tuples that hold only untracked
    objects, which can make the tuples holding those untrackable at the next collection.
    """
    count = -1
    while True:
        gc.collect()
        now = len(gc.get_objects())
        if now == count:
            return now
        count = now


@pytest.fixture
def quiet_transitions():  # type: ignore[no-untyped-def]
    """Hundreds of thousands of transitions would otherwise pile up in pytest's log capture."""
    logger = logging.getLogger("fastbreaker")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    yield
    logger.setLevel(level)


@pytest.mark.timeout(120)
def test_a_million_mixed_calls_leak_nothing(quiet_transitions):
    payload, result = object(), object()
    expected, unexpected = ConnectionError("down"), KeyError("not counted")
    breaker = CircuitBreaker(
        failure_threshold=3, recovery_timeout=0, success_threshold=1, expected_exceptions=OSError
    )

    def succeed(arg: object) -> object:
        return result

    def fail(arg: object) -> None:
        raise expected.with_traceback(None)

    def wrong(arg: object) -> None:
        raise unexpected.with_traceback(None)

    def interrupt(arg: object) -> None:
        raise KeyboardInterrupt

    functions = [succeed, fail, fail, fail, wrong, interrupt]
    open_breaker = CircuitBreaker(recovery_timeout=3600)
    open_breaker.open()

    seen = {"ok": 0, "failed": 0, "ignored": 0, "rejected": 0}

    def round_of(count: int) -> None:
        for i in range(count):
            func = functions[i % len(functions)]
            target = open_breaker if i % 7 == 0 else breaker
            try:
                target.call(func, payload)
                seen["ok"] += 1
            except CircuitBreakerError:
                seen["rejected"] += 1
            except OSError:
                seen["failed"] += 1
            except (KeyError, KeyboardInterrupt):
                seen["ignored"] += 1

    def forget_last_tracebacks() -> None:
        """The reused exceptions keep the traceback (and frames) of their last raise: drop it."""
        expected.with_traceback(None)
        unexpected.with_traceback(None)

    round_of(100_000)  # warm up: caches, interned names, pymalloc arenas
    forget_last_tracebacks()
    refs = [sys.getrefcount(x) for x in (payload, result, expected, unexpected)]
    live = tracked_objects()  # exceptions, tracebacks, frames, permits, containers...
    round_of(CALLS)
    forget_last_tracebacks()
    assert all(count > 0 for count in seen.values()), seen
    assert [sys.getrefcount(x) for x in (payload, result, expected, unexpected)] == refs
    assert tracked_objects() == live


def test_breakers_in_reference_cycles_are_collected():
    class ServiceError(Exception):
        pass

    breaker = CircuitBreaker(expected_exceptions=ServiceError)
    ServiceError.breaker = breaker  # type: ignore[attr-defined]  # class -> breaker -> class
    protected = breaker(lambda: None)
    permit = breaker.acquire()
    refs = [weakref.ref(breaker), weakref.ref(protected)]
    del breaker, protected, permit, ServiceError
    gc.collect()
    assert [ref() for ref in refs] == [None, None]
