"""result_is_failure, exception_is_failure and fallback, through every way a call is made."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, List

import pytest
from fastbreaker import CircuitBreaker, CircuitBreakerError, circuit_breaker
from helpers import drain, failing


def is_503(result: Any) -> bool:
    return result == 503


def test_a_returned_value_marked_a_failure_counts_and_is_returned_unchanged():
    breaker = CircuitBreaker(failure_threshold=2, result_is_failure=is_503)
    assert breaker.call(lambda: 200) == 200
    assert breaker.failure_count == 0
    assert breaker.call(lambda: 503) == 503
    assert breaker.failure_count == 1
    protected = breaker(lambda: 503)
    assert protected() == 503
    assert breaker.state == "open"
    assert breaker.get_status()["calls"]["failure"] == 2


def test_result_is_failure_judges_coroutines_on_every_path():
    async def answer(value: int) -> int:
        return value

    async def main() -> None:
        breaker = CircuitBreaker(failure_threshold=3, result_is_failure=is_503)
        decorated = breaker(answer)
        assert await decorated(503) == 503  # a GuardedCall, closed fast path
        assert await breaker.call_async(answer, 503) == 503  # the Python protocol
        assert breaker.failure_count == 2
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        future.set_result(503)
        assert await breaker.call(lambda: future) == 503  # a future: recorded when done...
        await asyncio.sleep(0)  # ...by its done callback, which the loop runs next
        assert breaker.state == "open"

    asyncio.run(main())


def test_a_raising_predicate_makes_the_outcome_ignored_and_is_logged_once(caplog):
    seen: List[Any] = []

    def broken(result: Any) -> bool:
        seen.append(result)
        raise RuntimeError("predicate bug")

    breaker = CircuitBreaker(name="flaky-predicate", result_is_failure=broken)
    with caplog.at_level(logging.ERROR, logger="fastbreaker"):
        assert [breaker.call(lambda n=n: n) for n in range(3)] == [0, 1, 2]
    assert seen == [0, 1, 2]
    calls = breaker.get_status()["calls"]
    assert (calls["success"], calls["failure"], calls["ignored"]) == (0, 0, 3)
    [record] = [r for r in caplog.records if "flaky-predicate" in r.getMessage()]
    assert "result_is_failure" in record.getMessage() and record.exc_info is not None


def test_a_predicate_interrupted_with_a_base_exception_propagates_and_frees_the_trial():
    def interrupted(result: Any) -> bool:
        raise KeyboardInterrupt

    breaker = CircuitBreaker(recovery_timeout=0, result_is_failure=interrupted)
    breaker.open()
    with pytest.raises(KeyboardInterrupt):
        breaker.call(lambda: "trial")  # a half-open trial
    assert breaker.get_status()["calls"]["ignored"] == 0  # no outcome recorded...
    assert breaker.acquire().is_trial  # ...and the slot came back


def test_exception_is_failure_waves_expected_exceptions_through():
    breaker = CircuitBreaker(
        failure_threshold=1,
        exception_is_failure=lambda error: not isinstance(error, KeyError),
    )
    with pytest.raises(KeyError):
        breaker.call(lambda: {}["missing"])
    assert (breaker.state, breaker.get_status()["calls"]["ignored"]) == ("closed", 1)
    drain(breaker, failing(), 1)
    assert breaker.state == "open"


def test_a_raising_exception_predicate_ignores_the_outcome_and_the_call_raises_its_own(caplog):
    def broken(error: BaseException) -> bool:
        raise RuntimeError("predicate bug")

    breaker = CircuitBreaker(failure_threshold=1, exception_is_failure=broken)
    with caplog.at_level(logging.ERROR, logger="fastbreaker"):
        with pytest.raises(RuntimeError, match="service failed"):
            breaker.call(failing())
    assert (breaker.state, breaker.get_status()["calls"]["ignored"]) == ("closed", 1)
    assert any("exception_is_failure" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("option", ["result_is_failure", "exception_is_failure"])
def test_a_predicate_must_be_callable(option):
    with pytest.raises(TypeError, match=option):
        CircuitBreaker(**{option: 503})
    with pytest.raises(TypeError, match=option):
        circuit_breaker(**{option: "yes"})


def test_a_rejected_call_returns_the_fallback_with_the_same_arguments():
    calls: List[Any] = []

    def fallback(*args: Any, **kwargs: Any) -> str:
        calls.append((args, kwargs))
        return "cached"

    @circuit_breaker(failure_threshold=1, fallback=fallback)
    def fetch(key: str, *, fresh: bool = False) -> str:
        raise ConnectionError(key)

    with pytest.raises(ConnectionError):  # a call that runs and fails raises its own error
        fetch("a")
    assert fetch("b", fresh=True) == "cached"
    assert calls == [(("b",), {"fresh": True})]
    assert fetch.circuit_breaker.get_status()["calls"]["rejected"] == 1
    assert fetch.fallback is fallback


def test_the_fallback_s_own_exception_propagates():
    def fallback() -> None:
        raise LookupError("no cache either")

    breaker = CircuitBreaker(failure_threshold=1)
    protected = breaker(failing(), fallback=fallback)
    with pytest.raises(RuntimeError):
        protected()
    with pytest.raises(LookupError):
        protected()


def test_a_method_s_fallback_gets_self():
    class Client:
        def cached(self, key: str) -> str:
            return f"cached {key}"

        @circuit_breaker(failure_threshold=1, fallback=lambda self, key: self.cached(key))
        def fetch(self, key: str) -> str:
            raise ConnectionError(key)

    client = Client()
    with pytest.raises(ConnectionError):
        client.fetch("a")
    assert client.fetch("b") == "cached b"


def test_an_async_function_s_fallback_is_awaited_sync_or_async():
    async def async_fallback(key: str) -> str:
        return f"async {key}"

    @circuit_breaker(failure_threshold=1, fallback=async_fallback)
    async def fetch(key: str) -> str:
        raise ConnectionError(key)

    @circuit_breaker(failure_threshold=1, fallback=lambda key: f"sync {key}")
    async def other(key: str) -> str:
        raise ConnectionError(key)

    async def main() -> None:
        for protected, word in ((fetch, "async"), (other, "sync")):
            with pytest.raises(ConnectionError):
                await protected("a")
            assert await protected("b") == f"{word} b"
            # Created while closed, turned away when it starts: the fallback still answers.
            protected.circuit_breaker.reset()
            pending = protected("c")
            protected.circuit_breaker.open()
            assert await pending == f"{word} c"

    asyncio.run(main())


def test_a_fallback_must_be_callable():
    with pytest.raises(TypeError, match="fallback"):
        circuit_breaker(fallback=42)
    with pytest.raises(TypeError, match="fallback"):
        CircuitBreaker()(lambda: None, fallback="not callable")


def test_without_a_fallback_the_rejection_is_raised():
    breaker = CircuitBreaker()
    protected = breaker(lambda: "ok")
    breaker.open()
    with pytest.raises(CircuitBreakerError):
        protected()
    assert protected.fallback is None
