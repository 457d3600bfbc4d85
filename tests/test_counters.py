"""Call counters (``get_status()["calls"]``, ``["transitions"]``) and ``all_circuit_breakers()``:
what the health endpoint and the metrics exporters read."""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref
from typing import Any, Dict

import fastbreaker
import pytest
from fastbreaker import CircuitBreaker, CircuitBreakerError, circuit_breaker
from fastbreaker.testing import manual_clock
from helpers import drain, failing


def calls(breaker: CircuitBreaker) -> Dict[str, int]:
    return dict(breaker.get_status()["calls"])


def transitions(breaker: CircuitBreaker) -> Dict[str, int]:
    return dict(breaker.get_status()["transitions"])


def counts(
    success: int = 0, failure: int = 0, ignored: int = 0, rejected: int = 0
) -> Dict[str, int]:
    return {"success": success, "failure": failure, "ignored": ignored, "rejected": rejected}


def test_every_outcome_of_a_sync_call_is_counted_once():
    breaker = CircuitBreaker(failure_threshold=3, expected_exceptions=(ValueError,))
    for _ in range(4):
        breaker.call(lambda: "ok")  # the lock-free path
    drain(breaker, failing(ValueError("bad")), 2, ValueError)
    breaker.call(lambda: "ok")  # the locked path: it resets the streak
    drain(breaker, failing(KeyError("not ours")), 3, KeyError)
    assert calls(breaker) == counts(success=5, failure=2, ignored=3)


def test_decorated_functions_permits_and_rejections_are_counted():
    @circuit_breaker(failure_threshold=1, recovery_timeout=60, name="counted-decorated")
    def flaky(fail: bool) -> str:
        if fail:
            raise RuntimeError("down")
        return "up"

    breaker = flaky.circuit_breaker
    assert flaky(False) == "up"
    with pytest.raises(RuntimeError):
        flaky(True)
    for _ in range(3):
        with pytest.raises(CircuitBreakerError):
            flaky(False)
    with pytest.raises(CircuitBreakerError):
        breaker.acquire()
    assert calls(breaker) == counts(success=1, failure=1, rejected=4)

    breaker.reset()
    permit = breaker.acquire()
    permit.record_ignored()
    second = breaker.acquire()
    second.record_success()
    dropped = breaker.acquire()  # admission handed back unreported: no call ended
    del dropped
    gc.collect()
    assert calls(breaker) == counts(success=2, failure=1, ignored=1, rejected=4)


def test_a_reset_does_not_zero_the_counters():
    breaker = CircuitBreaker(failure_threshold=1)
    drain(breaker, failing(), 1)
    breaker.reset()
    assert calls(breaker) == counts(failure=1)
    assert transitions(breaker) == {
        "closed": 1,
        "open": 1,
        "half_open": 0,
        "isolated": 0,
        "disabled": 0,
    }


def test_transitions_are_counted_by_the_state_they_lead_to():
    with manual_clock() as clock:
        breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=10, success_threshold=1)
        drain(breaker, failing(), 1)  # closed -> open
        clock.advance(10)
        drain(breaker, failing(), 1)  # open -> half_open -> open
        clock.advance(10)
        breaker.call(lambda: None)  # open -> half_open -> closed
        breaker.open()  # closed -> open
        breaker.open()  # open already: the timer restarts, no transition
        breaker.reset()  # open -> closed
        breaker.reset()  # closed already: no transition
        breaker.isolate()  # closed -> isolated
        breaker.disable()  # isolated -> disabled
        breaker.disable()  # disabled already: no transition
        breaker.reset()  # disabled -> closed
    assert transitions(breaker) == {
        "closed": 3,
        "open": 3,
        "half_open": 2,
        "isolated": 1,
        "disabled": 1,
    }


def test_async_calls_are_counted_when_they_end_and_a_cancelled_one_is_ignored():
    breaker = CircuitBreaker(failure_threshold=2)

    @breaker
    async def service(delay: float, fail: bool = False) -> str:
        await asyncio.sleep(delay)
        if fail:
            raise RuntimeError("down")
        return "up"

    async def scenario() -> None:
        coroutine = service(0)  # made, never awaited: no call
        coroutine.close()
        assert await service(0) == "up"
        with pytest.raises(RuntimeError):
            await service(0, fail=True)
        slow = asyncio.ensure_future(service(10))
        await asyncio.sleep(0.01)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        with pytest.raises(RuntimeError):
            await service(0, fail=True)  # opens
        with pytest.raises(CircuitBreakerError):
            await service(0)

    asyncio.run(scenario())
    assert calls(breaker) == counts(success=1, failure=2, ignored=1, rejected=1)


def test_a_call_nested_in_a_trial_is_not_a_rejection():
    with manual_clock() as clock:
        breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=1, success_threshold=1)
        drain(breaker, failing(), 1)
        clock.advance(1)
        # The trial calls through the same breaker: the nested call is part of the trial.
        assert breaker.call(lambda: breaker.call(lambda: "inner")) == "inner"
    assert calls(breaker) == counts(success=1, failure=1)


def test_counts_are_exact_under_threads():
    breaker = CircuitBreaker(failure_threshold=10**9, expected_exceptions=(ValueError,))
    per_thread, threads = 2_000, 8
    start = threading.Barrier(threads)

    def work(index: int) -> None:
        start.wait()
        for i in range(per_thread):
            try:
                if index % 2 and i % 5 == 0:
                    breaker.call(failing(ValueError("bad")))
                elif index % 4 == 2 and i % 3 == 0:
                    breaker.call(failing(KeyError("ignored")))
                else:
                    breaker.call(lambda: None)
            except (ValueError, KeyError):
                pass

    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    failures = 4 * len(range(0, per_thread, 5))
    ignored = 2 * len(range(0, per_thread, 3))
    assert calls(breaker) == counts(
        success=threads * per_thread - failures - ignored, failure=failures, ignored=ignored
    )


def test_every_live_named_breaker_is_listed_and_none_is_kept_alive():
    tag = "listed-" + str(id(object()))
    registered = fastbreaker.get_circuit_breaker(tag)
    named = CircuitBreaker(name=tag)  # the registry's name, on another object
    other = CircuitBreaker(name=tag + "-object")
    CircuitBreaker()  # unnamed: auto-named breakers are not listed

    @circuit_breaker()
    def decorated() -> None: ...

    listed = fastbreaker.all_circuit_breakers()
    assert listed[tag] is registered
    [named_key] = [key for key in listed if key.startswith(tag + "#")]
    assert listed[named_key] is named
    assert listed[tag + "-object"] is other
    assert listed[f"{__name__}.{decorated.__qualname__}"] is decorated.circuit_breaker
    assert not any(name.startswith("breaker-") for name in listed)
    assert "probe" not in listed

    del named, other, decorated, listed
    gc.collect()
    listed = fastbreaker.all_circuit_breakers()
    assert named_key not in listed and tag + "-object" not in listed
    assert listed[tag] is registered


def test_a_breaker_keeps_its_listed_name_while_others_of_that_name_come_and_go():
    tag = "stable-" + str(id(object()))
    first = CircuitBreaker(name=tag)
    second = CircuitBreaker(name=tag)

    def key_of(breaker: CircuitBreaker) -> str:
        [key] = [k for k, b in fastbreaker.all_circuit_breakers().items() if b is breaker]
        return key

    assert key_of(first) == tag
    second_key = key_of(second)
    third = CircuitBreaker(name=tag)
    assert key_of(second) == second_key != key_of(third)
    del first
    gc.collect()
    # The name is free again: the oldest live one takes it; the others keep theirs.
    assert key_of(second) == tag
    assert key_of(third).startswith(tag + "#")
    registered = fastbreaker.get_circuit_breaker(tag)
    assert key_of(registered) == tag
    assert key_of(second) == second_key


def dead_weak_references() -> int:
    return sum(1 for o in gc.get_objects() if type(o) is weakref.ReferenceType and o() is None)


def test_the_list_drops_dead_breakers_even_when_nobody_asks_for_it():
    gc.collect()
    before = dead_weak_references()
    for i in range(5_000):
        CircuitBreaker(name=f"short-lived-{i}")  # dropped at once
    gc.collect()
    # Pruned as it grows: a bounded number of dead references waits for the next pruning.
    assert dead_weak_references() - before < 200


def test_listing_while_other_threads_make_and_drop_breakers():
    stop = threading.Event()
    errors: list[BaseException] = []

    def churn() -> None:
        try:
            while not stop.is_set():
                CircuitBreaker(name="churned").call(lambda: None)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    keeper = CircuitBreaker(name="kept-while-churning")
    workers = [threading.Thread(target=churn) for _ in range(3)]
    for worker in workers:
        worker.start()
    try:
        for _ in range(200):
            listed: Dict[str, Any] = fastbreaker.all_circuit_breakers()
            assert listed["kept-while-churning"] is keeper
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    assert errors == []


def test_the_counters_switch_stops_and_resumes_counting():
    breaker = CircuitBreaker()
    breaker.call(lambda: None)
    fastbreaker._core._set_call_counting(False)
    try:
        breaker.call(lambda: None)
    finally:
        fastbreaker._core._set_call_counting(True)
    breaker.call(lambda: None)
    assert calls(breaker) == counts(success=2)
