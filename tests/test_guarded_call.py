"""The awaitable a protected ``async def`` returns (``GuardedCall``, driven from Rust): it behaves
as the coroutine it wraps (send, throw, close, reuse, re-entry, warnings, tracebacks) and records
the outcome once, whichever way the call ends."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import gc
import inspect
import pickle
import subprocess
import sys
import sysconfig
import traceback
import types
import warnings
import weakref
from typing import Any, Dict, List

import pytest
from fastbreaker import CircuitBreaker, CircuitBreakerError
from fastbreaker.testing import manual_clock


@types.coroutine
def suspend(value: Any = None) -> Any:
    """Suspends the coroutine awaiting it, handing `value` up; returns what is sent back in."""
    return (yield value)


def calls(breaker: CircuitBreaker) -> Dict[str, int]:
    return dict(breaker.get_status()["calls"])


def counts(success: int = 0, failure: int = 0, ignored: int = 0, rejected: int = 0) -> Dict:
    return {"success": success, "failure": failure, "ignored": ignored, "rejected": rejected}


def make(**options: Any) -> Any:
    breaker = CircuitBreaker(failure_threshold=2, **options)

    @breaker
    async def echo(tag: str) -> Any:
        received = await suspend(tag)  # hands `tag` up, gets what is sent in
        if isinstance(received, BaseException):
            raise received
        return (tag, received)

    return breaker, echo


def test_send_passes_values_both_ways_and_the_return_value_comes_back():
    breaker, echo = make()
    call = echo("a")
    assert call.send(None) == "a"  # started: admitted, suspended at the first await
    with pytest.raises(StopIteration) as stop:
        call.send(42)
    assert stop.value.value == ("a", 42)
    assert calls(breaker) == counts(success=1)


AWKWARD_RESULTS = [None, 0, "", (), (1, 2), [3], ValueError("not raised"), StopIteration(7)]


@pytest.mark.parametrize("result", AWKWARD_RESULTS, ids=repr)
def test_a_returned_value_comes_back_as_it_is_however_the_call_is_driven(result: Any):
    # From Python 3.12, `await` (and `yield from`, and `next()`) take a returned value from a
    # StopIteration that the call builds itself: a tuple must not become the arguments, an
    # exception must not be raised, None must come back as None.
    breaker = CircuitBreaker()

    @breaker
    async def give() -> Any:
        return result

    async def awaiting() -> Any:
        return await give()

    assert asyncio.run(awaiting()) is result

    def delegating():  # a generator driving it with `yield from`, as asyncio's wrappers do
        return (yield from give())

    with pytest.raises(StopIteration) as stop:
        next(delegating())
    assert stop.value.value is result

    with pytest.raises(StopIteration) as stop:
        next(give())
    assert stop.value.value is result
    # What `StopIteration(result)` would carry (`next()` makes `StopIteration()` for None).
    assert stop.value.args in ([(), (None,)] if result is None else [(result,)])
    assert calls(breaker) == counts(success=3)


def test_a_returned_object_gains_and_loses_no_reference_on_the_way():
    # The result reaches the awaiting frame through am_send (3.10, 3.11) or a StopIteration the
    # call builds itself (3.12+): 1,000 awaits and 1,000 next() leave its reference count as it
    # was (a leak would add one per call, a missing reference take one away).
    breaker = CircuitBreaker()

    @breaker
    async def give(result: Any) -> Any:
        return result

    async def awaiting(result: Any) -> None:
        for _ in range(1000):
            assert await give(result) is result

    def stepping(result: Any) -> None:
        for _ in range(1000):
            try:
                next(give(result))
            except StopIteration as stop:
                assert stop.value is result

    for result in (object(), (object(), "pair"), ValueError("fresh")):
        before = sys.getrefcount(result)
        asyncio.run(awaiting(result))
        stepping(result)
        gc.collect()
        assert sys.getrefcount(result) == before, type(result)
    assert calls(breaker) == counts(success=6000)


# From 3.12 `await` takes a result from a StopIteration, which on 3.12 and 3.13 (with a GIL) the
# call makes from a free list of one: the memory of the last one, cleared when it was dropped.
REUSES_STOP_ITERATION = (
    sys.implementation.name == "cpython"
    and (3, 12) <= sys.version_info[:2] <= (3, 13)
    and not sysconfig.get_config_var("Py_GIL_DISABLED")
)


def returning() -> Any:
    breaker = CircuitBreaker()

    @breaker
    async def give(result: Any) -> Any:
        return result

    return give


def stop_of(call: Any) -> StopIteration:
    """The StopIteration that ends `call` at its first step."""
    try:
        next(call)
    except StopIteration as stop:
        return stop
    raise AssertionError("the call did not end at its first step")


def dropped_arguments_id(give: Any) -> int:
    """The address of the arguments' tuple of a StopIteration that `give` ended with and that
    was dropped at once (kept, emptied, for the next one where they are reused)."""
    stop = stop_of(give("first"))
    address = id(stop.args)
    del stop
    return address


def test_a_result_is_let_go_as_soon_as_whoever_took_it_lets_go():
    # The StopIteration the result travels in is kept for the next one, emptied: the result must
    # not live on in it (no garbage collection needed: the last reference goes at the `del`).
    give = returning()

    class Result:
        pass

    async def awaiting() -> None:
        for _ in range(3):
            result = await give(Result())
            alive = weakref.ref(result)
            del result
            assert alive() is None

    asyncio.run(awaiting())
    for _ in range(3):
        alive = weakref.ref(stop_of(give(Result())).value)
        assert alive() is None


def test_a_stop_iteration_or_its_arguments_kept_by_whoever_caught_them_never_change():
    give = returning()
    kept = [stop_of(give(number)) for number in range(5)]
    args_only = [stop_of(give(number)).args for number in range(5, 10)]

    async def awaiting() -> List[int]:
        return [await give(number) for number in range(10, 20)]

    assert asyncio.run(awaiting()) == list(range(10, 20))
    assert [(stop.value, stop.args) for stop in kept] == [(n, (n,)) for n in range(5)]
    assert args_only == [(n,) for n in range(5, 10)]


@pytest.mark.skipif(not REUSES_STOP_ITERATION, reason="no StopIteration is kept here")
def test_an_emptied_arguments_tuple_found_through_the_collector_is_left_alone():
    # The tuple of the last StopIteration's arguments waits, emptied, for the next one. The
    # collector tracks it, so anyone can take hold of it: then it is never filled again.
    give = returning()
    kept_id = dropped_arguments_id(give)
    found = [obj for obj in gc.get_objects() if id(obj) == kept_id]
    assert found == [(None,)]
    assert [stop_of(give(number)).value for number in range(3)] == [0, 1, 2]
    assert found == [(None,)]


@pytest.mark.skipif(not REUSES_STOP_ITERATION, reason="no StopIteration is kept here")
def test_an_emptied_arguments_tuple_the_collector_let_go_of_is_tracked_again_once_filled():
    give = returning()
    kept_id = dropped_arguments_id(give)
    gc.collect()  # holding only None, the tuple is no longer tracked (nothing to follow)
    assert not any(id(obj) == kept_id for obj in gc.get_objects())
    stop = stop_of(give([]))  # a list can be in a cycle: the tuple holding it must be tracked
    assert id(stop.args) == kept_id
    assert gc.is_tracked(stop.args)


def test_what_was_set_on_a_stop_iteration_is_gone_from_the_next():
    give = returning()
    stop = stop_of(give("first"))
    first = id(stop)
    stop.__cause__ = ValueError("cause")  # also sets __suppress_context__
    if sys.version_info >= (3, 11):
        stop.add_note("a note")
    stop.extra = "attribute"
    del stop
    stop = stop_of(give("second"))
    if REUSES_STOP_ITERATION:
        assert id(stop) == first  # the same memory: this test checks what reusing it leaves
    assert (stop.value, stop.args) == ("second", ("second",))
    assert stop.__cause__ is None and stop.__context__ is None
    assert stop.__suppress_context__ is False
    assert not hasattr(stop, "__notes__") and not hasattr(stop, "extra")
    # Tracked by the collector again: a cycle through it is collected.
    assert gc.is_tracked(stop)

    class Result:
        pass

    stop = stop_of(give(Result()))
    stop.itself = stop
    alive = weakref.ref(stop.value)
    del stop
    gc.collect()
    assert alive() is None


def test_arguments_taken_hold_of_while_a_stop_iteration_is_cleared_never_change():
    # Clearing a StopIteration lets go of what was set on it, which can run code; that code can
    # find the arguments' tuple through the collector and keep it (as a dict key, say).
    give = returning()
    marker = object()
    grabbed: List[Any] = []

    class Grab:
        def __del__(self) -> None:
            grabbed.extend(obj for obj in gc.get_objects() if id(obj) == args_id)

    stop = stop_of(give(marker))
    args_id = id(stop.args)
    stop.extra = Grab()  # in the exception's __dict__: let go of when it is cleared
    del stop
    assert grabbed == [(marker,)]
    assert [stop_of(give(number)).value for number in range(3)] == [0, 1, 2]
    assert grabbed == [(marker,)]


def test_arguments_replaced_on_a_stop_iteration_are_not_the_next_ones():
    give = returning()
    for replaced in [[], ["one"], ["one", "two"], ["one", "two", "three"]]:
        stop = stop_of(give("first"))
        stop.args = tuple(replaced)  # a new tuple, which the exception alone holds
        del stop
        assert stop_of(give("next")).args == ("next",)


def test_a_call_whose_memory_runs_out_anywhere_releases_its_result_and_breaks_nothing():
    testcapi = pytest.importorskip("_testcapi")
    if not hasattr(testcapi, "set_nomemory"):
        pytest.skip("no _testcapi.set_nomemory")
    give = returning()

    class Result:
        pass

    outcomes = set()
    for failing in range(12):  # the n-th allocation from the call's first step fails
        stop_of(give("a StopIteration to reuse"))
        result = Result()
        alive = weakref.ref(result)
        call = give(result)
        del result
        testcapi.set_nomemory(failing, failing + 1)
        try:
            next(call)
        except MemoryError:
            outcomes.add("MemoryError")
        except StopIteration:
            outcomes.add("returned")
        finally:
            testcapi.remove_mem_hooks()
        del call
        gc.collect()
        assert alive() is None, failing
    assert outcomes == {"MemoryError", "returned"}
    assert [stop_of(give(number)).value for number in range(3)] == [0, 1, 2]


def test_a_stop_iteration_passes_for_one_and_copies_as_a_plain_one():
    stop = stop_of(returning()((1, 2)))
    assert isinstance(stop, StopIteration)
    assert type(stop).__name__ == "StopIteration"
    assert (repr(stop), str(stop)) == ("StopIteration((1, 2))", "(1, 2)")
    stop.extra = "attribute"
    for copied in (copy.copy(stop), copy.deepcopy(stop), pickle.loads(pickle.dumps(stop))):
        assert type(copied) is StopIteration
        assert (copied.value, copied.args, copied.extra) == ((1, 2), ((1, 2),), "attribute")


def test_a_result_whose_finaliser_drives_another_call_as_the_stop_iteration_goes():
    # The StopIteration holds the last reference to the result: its finaliser runs while the
    # StopIteration is being emptied for reuse, and makes and drops another one.
    give = returning()
    seen: List[Any] = []

    class Noisy:
        def __del__(self) -> None:
            seen.append(stop_of(give("inner")).value)

    for number in range(3):
        try:
            next(give(Noisy()))
        except StopIteration:
            pass
        assert stop_of(give(number)).value == number
    assert seen == ["inner"] * 3


def test_the_extension_imported_a_second_time_keeps_working():
    # Taken out of sys.modules and imported again, the module runs its initialisation again (in
    # a child: the test process keeps its one module).
    script = """
import asyncio, sys
import fastbreaker._core
del sys.modules["fastbreaker._core"]
import fastbreaker._core as again
from fastbreaker import CircuitBreaker

@CircuitBreaker()
async def give(value):
    return value

async def main():
    return [await give(number) for number in range(3)]

assert asyncio.run(main()) == [0, 1, 2]
try:
    next(give("by hand"))
except StopIteration as stop:
    assert stop.value == "by hand"
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr


def test_a_just_started_call_takes_only_none():
    breaker, echo = make()
    call = echo("a")
    with pytest.raises(TypeError, match="just-started coroutine"):
        call.send(1)
    assert call.send(None) == "a"  # still startable
    call.close()
    assert calls(breaker) == counts(ignored=1)


def test_throw_into_a_running_call_reaches_the_coroutine_and_its_outcome_counts():
    breaker, echo = make(expected_exceptions=(ConnectionError,))
    call = echo("a")
    call.send(None)
    with pytest.raises(ConnectionError, match="down"):
        call.throw(ConnectionError("down"))

    @breaker
    async def catching() -> str:
        try:
            await suspend("waiting")
        except KeyError:
            return "handled"
        return "not thrown into"

    handled = catching()
    assert handled.send(None) == "waiting"
    with pytest.raises(StopIteration) as stop:
        handled.throw(KeyError("caught inside"))
    assert stop.value.value == "handled"
    legacy = echo("c")
    legacy.send(None)
    # The three-argument form, passed on as given (coroutines deprecate it from 3.12, and say so).
    deprecated = sys.version_info >= (3, 12)
    with pytest.warns(DeprecationWarning) if deprecated else contextlib.nullcontext():
        with pytest.raises(ValueError, match="old style"):
            legacy.throw(ValueError, ValueError("old style"), None)
    assert calls(breaker) == counts(success=1, failure=1, ignored=1)


def test_throw_before_the_start_runs_nothing_and_counts_nothing():
    breaker, echo = make()
    call = echo("a")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "never awaited" warning may follow
        with pytest.raises(KeyError):
            call.throw(KeyError("early"))
        del call
        gc.collect()
    assert calls(breaker) == counts()
    unstarted = echo("b")
    with pytest.raises(TypeError, match="at least 1 argument"):
        unstarted.throw()
    unstarted.close()


def test_close_before_the_start_is_quiet_and_while_running_ends_ignored():
    breaker, echo = make()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        echo("never").close()
        gc.collect()
    running = echo("a")
    running.send(None)
    running.close()
    running.close()  # closing twice is fine
    assert calls(breaker) == counts(ignored=1)
    with pytest.raises(RuntimeError, match="cannot reuse already awaited coroutine"):
        running.send(None)


def test_a_finished_call_cannot_be_awaited_again():
    breaker = CircuitBreaker()

    @breaker
    async def quick() -> int:
        return 1

    async def twice() -> None:
        call = quick()
        assert await call == 1
        with pytest.raises(RuntimeError, match="cannot reuse already awaited coroutine"):
            await call

    asyncio.run(twice())
    assert calls(breaker) == counts(success=1)


def test_a_call_cannot_drive_itself():
    breaker = CircuitBreaker()
    box: List[Any] = []

    @breaker
    async def reentrant() -> None:
        box[0].send(None)

    call = reentrant()
    box.append(call)
    with pytest.raises(ValueError, match="already executing"):
        call.send(None)
    assert calls(breaker) == counts(failure=1)  # a ValueError raised by the call itself


def test_a_call_never_awaited_warns_with_the_functions_own_name():
    breaker = CircuitBreaker()

    @breaker
    async def forgotten() -> None: ...

    with pytest.warns(RuntimeWarning, match="coroutine '.*forgotten' was never awaited"):
        forgotten()
        gc.collect()
    assert calls(breaker) == counts()


def test_the_traceback_shows_the_coroutine_where_it_raised():
    breaker = CircuitBreaker()

    @breaker
    async def failing() -> None:
        await asyncio.sleep(0)
        raise ConnectionError("the line below")  # the frame the traceback must show

    with pytest.raises(ConnectionError) as raised:
        asyncio.run(failing())
    frames = traceback.extract_tb(raised.value.__traceback__)
    assert frames[-1].name == "failing"
    assert frames[-1].line is not None and frames[-1].line.startswith("raise ConnectionError")


def test_it_is_a_coroutine_to_asyncio_and_its_function_a_coroutine_function():
    breaker = CircuitBreaker()

    @breaker
    async def lookup(key: str) -> str:
        return key

    assert inspect.iscoroutinefunction(lookup)
    assert asyncio.iscoroutinefunction(lookup)
    call = lookup("k")
    assert asyncio.iscoroutine(call) and inspect.isawaitable(call)

    async def main() -> str:
        return await asyncio.create_task(lookup("task"))  # create_task takes only coroutines

    assert asyncio.run(main()) == "task"
    call.close()


def test_an_open_circuit_rejects_at_the_await_and_closes_the_coroutine():
    breaker = CircuitBreaker(recovery_timeout=60)

    @breaker
    async def service() -> str:
        return "ran"

    breaker.open()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the coroutine is closed, not left to warn
        call = service()  # making it is not running it: no rejection yet
        with pytest.raises(CircuitBreakerError):
            asyncio.run(call)
        del call
        gc.collect()
    assert calls(breaker) == counts(rejected=1)


def test_a_half_open_trial_runs_with_its_trial_context():
    with manual_clock() as clock:
        breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=5, success_threshold=1)

        @breaker
        async def outer() -> str:
            # Nested in the trial of the same breaker: part of it, not turned away.
            return await inner()

        @breaker
        async def inner() -> str:
            return "inner"

        breaker.open()
        clock.advance(5)
        assert asyncio.run(outer()) == "inner"
    assert breaker.state == "closed"
    assert calls(breaker) == counts(success=1)


def test_stacked_breakers_both_admit_when_it_starts_and_both_count():
    outer_breaker = CircuitBreaker(name="stacked-outer")
    inner_breaker = CircuitBreaker(name="stacked-inner", recovery_timeout=60)

    @outer_breaker
    @inner_breaker
    async def service(fail: bool) -> str:
        if fail:
            raise ConnectionError("down")
        return "up"

    assert inspect.iscoroutinefunction(service)
    assert asyncio.run(service(False)) == "up"
    with pytest.raises(ConnectionError):
        asyncio.run(service(True))
    never = service(False)  # nothing admitted by either breaker
    inner_breaker.open()
    with pytest.raises(CircuitBreakerError):
        asyncio.run(service(False))
    expected_inner = counts(success=1, failure=1, rejected=1)
    # A nested breaker's rejection says nothing about the outer service: ignored there.
    assert calls(inner_breaker) == expected_inner
    assert calls(outer_breaker) == counts(success=1, failure=1, ignored=1)
    never.close()


def test_cancelled_tasks_are_ignored_whether_or_not_they_started():
    breaker = CircuitBreaker()

    @breaker
    async def slow() -> None:
        await asyncio.sleep(10)

    async def main() -> None:
        started = asyncio.create_task(slow())
        not_started = asyncio.create_task(slow())
        not_started.cancel()  # before it ever runs
        await asyncio.sleep(0.01)
        started.cancel()
        for task in (started, not_started):
            with pytest.raises(asyncio.CancelledError):
                await task

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        asyncio.run(main())
        gc.collect()
    assert calls(breaker) == counts(ignored=1)


def test_a_reference_cycle_through_a_call_is_collected():
    breaker = CircuitBreaker()

    @breaker
    async def holder(box: List[Any]) -> None:
        await suspend()

    # Calls are made from a free list of one: the first from new memory, the next ones from the
    # memory of the one before (with a GIL), which must be tracked by the collector again.
    gc.collect()  # no call left over by another test to be freed into the free list in between
    addresses = set()
    for _ in range(3):
        box: List[Any] = []
        call = holder(box)
        box.append(call)  # the call -> its coroutine -> box -> the call
        assert gc.is_tracked(call)
        addresses.add(id(call))
        call.send(None)
        alive = weakref.ref(call)
        del call, box
        gc.collect()
        assert alive() is None
    if not sysconfig.get_config_var("Py_GIL_DISABLED"):
        assert len(addresses) == 1
    # Collected while running: it will never end; counted as a cancelled call is.
    assert calls(breaker) == counts(ignored=3)


def test_a_cancelled_trial_gives_back_its_slot():
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=0, success_threshold=1)

    @breaker
    async def service(delay: float) -> str:
        await asyncio.sleep(delay)
        return "done"

    async def main() -> None:
        breaker.open()
        trial = asyncio.create_task(service(10))  # takes the one trial slot when it starts
        await asyncio.sleep(0.01)
        with pytest.raises(CircuitBreakerError):
            await service(0)
        trial.cancel()
        with pytest.raises(asyncio.CancelledError):
            await trial
        assert breaker.state == "half_open"  # cancelled: neither a failure nor a success
        assert await service(0) == "done"  # the slot is free again

    asyncio.run(main())
    assert breaker.state == "closed"
    assert calls(breaker) == counts(success=1, ignored=1, rejected=1)


def test_a_call_under_way_cannot_be_awaited_by_a_second_awaiter():
    breaker = CircuitBreaker()

    @breaker
    async def slow() -> str:
        await asyncio.sleep(0.01)
        return "once"

    async def main() -> None:
        call = slow()
        first = asyncio.ensure_future(call)
        await asyncio.sleep(0)  # the first task has started it
        with pytest.raises(RuntimeError, match="being awaited already"):
            await call
        assert await first == "once"

    asyncio.run(main())
    assert calls(breaker) == counts(success=1)


def test_a_clean_up_that_raises_on_close_is_that_calls_outcome():
    breaker = CircuitBreaker(expected_exceptions=(ConnectionError,))

    @breaker
    async def leaky() -> None:
        try:
            await suspend()
        finally:
            raise ConnectionError("could not release the connection")

    call = leaky()
    call.send(None)
    with pytest.raises(ConnectionError):
        call.close()
    assert calls(breaker) == counts(failure=1)


def test_tasks_and_reprs_name_the_protected_function():
    breaker = CircuitBreaker()

    @breaker
    async def named_work() -> None:
        await asyncio.sleep(0)

    call = named_work()
    assert call.__name__ == "named_work" and call.__qualname__.endswith("named_work")
    assert call.cr_code is named_work.__wrapped__.__code__
    assert not call.cr_running and "named_work" in repr(call)

    async def main() -> None:
        task = asyncio.ensure_future(call)
        assert "named_work" in repr(task)
        await task
        breaker.open()
        rejected = asyncio.ensure_future(named_work())  # handed to the Python protocol
        assert "named_work" in repr(rejected)
        with pytest.raises(CircuitBreakerError):
            await rejected

    asyncio.run(main())
    # Finished: as a coroutine, it keeps its name and has no frame.
    assert call.cr_frame is None and call.__name__ == "named_work"
