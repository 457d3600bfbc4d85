"""Coroutines: admission when the coroutine starts, outcome when it finishes, slots never kept."""

from __future__ import annotations

import asyncio
import functools
import gc
import inspect
import types

import pytest
from fastbreaker import CircuitBreaker, CircuitBreakerError, circuit_breaker
from fastbreaker.testing import manual_clock


async def fetch(value: object = "ok", delay: float = 0) -> object:
    await asyncio.sleep(delay)
    return value


async def broken() -> None:
    await asyncio.sleep(0)
    raise ConnectionError("down")


def opened(**options: object) -> CircuitBreaker:
    breaker = CircuitBreaker(failure_threshold=1, **options)
    breaker.open()
    return breaker


def test_call_on_a_coroutine_function_returns_an_awaitable():
    breaker = CircuitBreaker(failure_threshold=1)
    awaitable = breaker.call(fetch, 42)
    assert inspect.isawaitable(awaitable)
    assert asyncio.run(awaitable) == 42
    with pytest.raises(ConnectionError):
        asyncio.run(breaker.call(broken))
    assert breaker.state == "open"


def test_call_async_is_the_explicit_form():
    breaker = CircuitBreaker()
    assert asyncio.run(breaker.call_async(fetch, value=7)) == 7
    assert asyncio.run(breaker.call_async(functools.partial(fetch, 8))) == 8


def test_rejection_happens_when_the_coroutine_runs():
    breaker = opened()
    awaitable = breaker.call_async(fetch)  # creating it is not calling it
    with pytest.raises(CircuitBreakerError):
        asyncio.run(awaitable)


def test_decorated_coroutine_functions_stay_coroutine_functions():
    @circuit_breaker(failure_threshold=2)
    async def lookup(key: str) -> str:
        """Looks up a key."""
        await asyncio.sleep(0)
        return key.upper()

    assert inspect.iscoroutinefunction(lookup)
    assert (lookup.__name__, lookup.__doc__) == ("lookup", "Looks up a key.")
    assert asyncio.run(lookup("a")) == "A"
    assert lookup.circuit_breaker.name.endswith("lookup")

    class Api:
        @circuit_breaker(failure_threshold=1)
        async def get(self, key: str) -> tuple:
            return (self, key)

    api = Api()
    assert asyncio.run(api.get("k")) == (api, "k")


def test_a_coroutine_that_is_never_awaited_holds_no_trial_slot():
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=0, success_threshold=1)
    breaker.open()
    never = breaker.call_async(fetch)
    assert asyncio.run(breaker.call_async(fetch, "probe")) == "probe"
    assert breaker.state == "closed"
    never.close()


def test_cancelled_trials_give_back_their_slot():
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=0, success_threshold=1)

    async def scenario() -> None:
        breaker.open()
        slow = asyncio.ensure_future(breaker.call_async(fetch, "slow", 10))
        await asyncio.sleep(0.01)
        with pytest.raises(CircuitBreakerError):  # the one slot is taken
            await breaker.call_async(fetch)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        assert breaker.state == "half_open"  # cancellation is not a failure
        assert await breaker.call_async(fetch, "after") == "after"

    asyncio.run(scenario())
    assert breaker.state == "closed"


def test_a_coroutine_closed_half_way_gives_back_its_slot():
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=0, success_threshold=1)
    breaker.open()

    @types.coroutine
    def suspend():  # type: ignore[no-untyped-def]
        yield

    async def paused() -> str:
        await suspend()
        return "x"

    started = breaker.call_async(paused)
    started.send(None)  # runs to the first await: admission taken
    with pytest.raises(CircuitBreakerError):
        asyncio.run(breaker.call_async(fetch))
    started.close()  # GeneratorExit inside: ignored, slot given back
    del started
    gc.collect()
    assert asyncio.run(breaker.call_async(fetch, "y")) == "y"
    assert breaker.state == "closed"


def test_unexpected_exceptions_in_coroutines_are_ignored():
    breaker = CircuitBreaker(failure_threshold=1, expected_exceptions=ConnectionError)

    async def wrong() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        asyncio.run(breaker.call_async(wrong))
    assert breaker.state == "closed"


def test_callable_objects_returning_coroutines_are_guarded_when_awaited():
    class AsyncCallable:
        async def __call__(self, value: object) -> object:
            return value

    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=5, success_threshold=1)
    with manual_clock() as clock:
        breaker.open()
        clock.advance(5)
        awaitable = breaker.call(AsyncCallable(), "v")
        assert breaker.get_status()["state"] == "half_open"
        assert asyncio.run(awaitable) == "v"
    assert breaker.state == "closed"


def test_many_tasks_share_one_breaker_with_exact_counts():
    breaker = CircuitBreaker(failure_threshold=10_000)

    async def scenario() -> list:
        tasks = [breaker.call_async(fetch, i, 0.001) for i in range(500)]
        return await asyncio.gather(*tasks)

    assert asyncio.run(scenario()) == list(range(500))
    assert breaker.failure_count == 0

    async def failures() -> None:
        results = await asyncio.gather(
            *(breaker.call_async(broken) for _ in range(300)), return_exceptions=True
        )
        assert all(isinstance(r, ConnectionError) for r in results)

    asyncio.run(failures())
    assert breaker.failure_count == 300


def test_an_open_circuit_defers_a_coroutine_function_to_its_await_with_all_its_arguments():
    from fastbreaker._core import Protected

    async def lookup(a: int, b: int, *, c: int) -> tuple:
        return (a, b, c)

    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=3600)
    protected = Protected(breaker, lookup)
    breaker.open()
    awaitable = protected(1, 2, c=3)  # no error yet: the coroutine would take admission later
    with pytest.raises(CircuitBreakerError):
        asyncio.run(awaitable)
    awaitable = protected(1, 2, c=3)
    breaker.reset()
    assert asyncio.run(awaitable) == (1, 2, 3)
