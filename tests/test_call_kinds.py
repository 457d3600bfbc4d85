"""What a protected call can be and return: nested calls in a trial, proxies, futures and other
awaitables, generators, coroutine functions however they are marked, and callers' mistakes."""

from __future__ import annotations

import asyncio
import gc
import inspect
import sys
import threading
import warnings
from typing import Any, List

import pytest
from fastbreaker import CircuitBreaker, CircuitBreakerError, circuit_breaker
from fastbreaker.testing import manual_clock


def half_open(**options: Any) -> CircuitBreaker:
    options = {"failure_threshold": 1, "recovery_timeout": 0, "success_threshold": 1, **options}
    breaker = CircuitBreaker(**options)
    breaker.open()
    assert breaker.state == "half_open"
    return breaker


# Recursion: a call made inside a half-open trial of the same breaker is part of that trial.


def test_a_recursive_function_in_half_open_closes_the_circuit():
    breaker = half_open()

    @breaker
    def walk(depth: int) -> int:
        return 0 if depth == 0 else 1 + walk(depth - 1)

    assert walk(5) == 5
    assert breaker.state == "closed"


def test_a_nested_call_takes_no_slot_and_its_outcome_does_not_count():
    breaker = half_open(success_threshold=2)
    seen: List[str] = []

    @breaker
    def inner(fail: bool) -> str:
        if fail:
            raise ConnectionError("inner")
        return "inner ok"

    @breaker
    def outer() -> str:
        try:
            inner(True)  # its failure is not the trial's outcome
        except ConnectionError:
            seen.append("inner failed")
        seen.append(inner(False))
        return "outer ok"

    assert outer() == "outer ok"
    assert seen == ["inner failed", "inner ok"]
    status = breaker.get_status()
    assert (status["state"], status["success_count"], status["failure_count"]) == (
        "half_open",
        1,
        0,  # nothing nested was counted
    )


def test_a_nested_failure_that_escapes_is_the_trials_failure():
    breaker = half_open()

    @breaker
    def fetch(page: int) -> None:
        if page == 3:
            raise ConnectionError("page 3")
        fetch(page + 1)

    with pytest.raises(ConnectionError):
        fetch(1)
    # The trial failed once (pages 2 and 3 failed inside it, uncounted): opened again, by the
    # trial's own failure.
    assert breaker.failure_count == 1


def test_another_thread_is_not_part_of_the_trial():
    breaker = half_open()
    outcome: List[str] = []

    def other_thread() -> None:
        try:
            breaker.call(lambda: "other")
            outcome.append("admitted")
        except CircuitBreakerError:
            outcome.append("rejected")

    @breaker
    def trial() -> str:
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        return "trial"

    assert trial() == "trial"
    assert outcome == ["rejected"]
    assert breaker.state == "closed"


def test_a_recursive_coroutine_in_half_open_closes_the_circuit():
    breaker = half_open()

    @breaker
    async def walk(depth: int) -> int:
        await asyncio.sleep(0)
        return 0 if depth == 0 else 1 + await walk(depth - 1)

    async def scenario() -> None:
        other = asyncio.ensure_future(breaker.call_async(asyncio.sleep, 0.05))
        assert await walk(3) == 3
        with pytest.raises(CircuitBreakerError):  # another task: not part of the trial
            await other

    breaker2 = breaker
    assert breaker2.state == "half_open"
    asyncio.run(scenario())
    assert breaker.state == "closed"


def test_a_callback_scheduled_by_a_trial_gets_no_pass_once_the_trial_is_over():
    breaker = half_open(success_threshold=2)
    outcome: List[str] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()

        def later() -> None:  # runs in a copy of the trial's context, after the trial
            try:
                breaker.call(lambda: "reached the service")
                outcome.append("admitted")
            except CircuitBreakerError:
                outcome.append("rejected")

        # A trial made from a loop callback (no task), which schedules `later`.
        loop.call_soon(lambda: breaker.call(lambda: loop.call_soon(later)))
        await asyncio.sleep(0)
        other = breaker.acquire()  # another caller holds the only slot now
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        other.record_ignored()

    asyncio.run(scenario())
    assert outcome == ["rejected"]
    assert breaker.get_status()["success_count"] == 1  # only the trial itself counted


def test_a_circuit_breaker_error_from_a_nested_breaker_is_ignored():
    downstream = CircuitBreaker(name="downstream")
    downstream.open()
    upstream = CircuitBreaker(failure_threshold=1, name="upstream")

    @upstream
    def handler() -> None:
        downstream.call(lambda: None)

    for _ in range(3):
        with pytest.raises(CircuitBreakerError) as raised:
            handler()
        assert raised.value.name == "downstream"
    assert (upstream.state, upstream.failure_count) == ("closed", 0)


# The rejection path runs nothing of the caller's.


class ExplodingProxy:
    """A lazy or remote proxy: any attribute it does not have raises."""

    def __init__(self) -> None:
        self.looked_up: List[str] = []

    def __getattr__(self, name: str) -> Any:
        self.looked_up.append(name)
        raise RuntimeError(f"the proxy cannot reach its target for {name!r}")

    def __call__(self, *args: Any) -> str:
        return "called"


def test_an_open_circuit_rejects_a_proxy_without_touching_it():
    breaker = CircuitBreaker()
    proxy = ExplodingProxy()
    assert breaker.call(proxy) == "called"
    breaker.open()
    proxy.looked_up.clear()
    for _ in range(2):
        with pytest.raises(CircuitBreakerError):
            breaker.call(proxy)
    assert proxy.looked_up == []  # not touched at all, not merely touched and forgiven


# Slow services: a trial taken for hung still counts when it answers in the same half-open period.


def test_a_service_slower_than_the_trial_timeout_closes_the_circuit():
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=10, success_threshold=2)
    with manual_clock() as clock:
        breaker.open()
        clock.advance(10)
        first = breaker.acquire()
        clock.advance(10)  # `first` is taken for hung: its slot goes to the next caller
        second = breaker.acquire()
        assert first.record_success()  # the slow answer arrives: it counts
        assert breaker.get_status()["success_count"] == 1
        assert second.record_success()
        assert breaker.state == "closed"


# Awaitables that are not coroutines: the outcome is what they complete with.


def test_futures_are_recorded_when_they_complete():
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=60)

    def blocking_failure() -> None:
        raise ConnectionError("down")

    @breaker
    def submit() -> asyncio.Future[None]:
        return asyncio.get_running_loop().run_in_executor(None, blocking_failure)

    async def scenario() -> None:
        future = submit()
        assert asyncio.isfuture(future)  # handed back as it is
        assert breaker.state == "closed"  # not an instant success, not yet a failure
        with pytest.raises(ConnectionError):
            await future
        await asyncio.sleep(0)  # the done callback runs
        assert breaker.state == "open"

    asyncio.run(scenario())


def test_an_unawaited_failed_future_is_still_reported_by_asyncio():
    breaker = CircuitBreaker(failure_threshold=5)
    reported: List[str] = []

    @breaker
    def submit() -> asyncio.Future[None]:
        future = asyncio.get_running_loop().create_future()
        future.set_exception(ConnectionError("down"))
        return future

    async def scenario() -> None:
        asyncio.get_running_loop().set_exception_handler(
            lambda loop, context: reported.append(context["message"])
        )
        submit()  # nobody awaits it
        await asyncio.sleep(0)  # the done callback records the failure
        gc.collect()

    asyncio.run(scenario())
    assert breaker.failure_count == 1
    assert any("never retrieved" in message for message in reported), reported


def test_other_awaitables_are_recorded_when_awaited():
    breaker = CircuitBreaker(failure_threshold=2, recovery_timeout=60)

    class Request:
        def __await__(self):  # type: ignore[no-untyped-def]
            yield from asyncio.sleep(0).__await__()
            raise TimeoutError("slow")

    call = breaker(lambda: Request())

    async def scenario() -> None:
        for _ in range(2):
            with pytest.raises(TimeoutError):
                await call()

    asyncio.run(scenario())
    assert breaker.state == "open"


# One definition of a coroutine function, for the decorator and for call().


@pytest.mark.skipif(sys.version_info < (3, 12), reason="inspect.markcoroutinefunction is 3.12+")
def test_a_marked_coroutine_function_is_one_for_call_and_for_the_decorator():
    async def fetch() -> str:
        return "data"

    def marked() -> Any:
        return fetch()

    inspect.markcoroutinefunction(marked)
    breaker = CircuitBreaker()
    decorated = breaker(marked)
    assert inspect.iscoroutinefunction(decorated)
    assert asyncio.run(breaker.call(marked)) == "data"
    breaker.open()
    rejected = breaker.call(marked)  # deferred, as for any coroutine function
    with pytest.raises(CircuitBreakerError):
        asyncio.run(rejected)


# Generators are refused, never silently unprotected.


def test_generator_functions_are_refused():
    def pages() -> Any:
        yield 1

    async def stream() -> Any:
        yield 1

    breaker = CircuitBreaker()
    for function in (pages, stream):
        with pytest.raises(TypeError, match="generator"):
            breaker(function)
        with pytest.raises(TypeError, match="generator"):
            circuit_breaker(function)


def test_calling_a_generator_function_through_call_is_refused_and_counts_nothing():
    def pages() -> Any:
        yield 1

    breaker = half_open()
    with pytest.raises(TypeError, match="generator"):
        breaker.call(pages)
    # Nothing recorded, and the trial slot was given back.
    assert breaker.get_status()["state"] == "half_open" and breaker.failure_count == 0
    assert breaker.call(lambda: "ok") == "ok"
    assert breaker.state == "closed"


# The caller's mistakes are not the service's failures.


def test_call_async_of_a_sync_function_is_a_type_error_that_counts_nothing():
    breaker = half_open()

    def sync() -> str:
        return "sync"

    with pytest.raises(TypeError, match="call_async"):
        asyncio.run(breaker.call_async(sync))
    assert breaker.get_status()["state"] == "half_open" and breaker.failure_count == 0
    assert breaker.call(lambda: "ok") == "ok"  # the slot came back
    assert breaker.state == "closed"


def test_a_task_cancelled_before_it_starts_warns_of_nothing():
    breaker = CircuitBreaker()

    async def fetch() -> str:
        return "data"

    async def scenario() -> None:
        task = asyncio.ensure_future(breaker.call(fetch))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(scenario())
        gc.collect()
    assert [str(w.message) for w in caught if "never awaited" in str(w.message)] == []
    assert breaker.state == "closed"
