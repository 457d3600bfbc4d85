"""The Python half of wrapping calls: decorators and coroutines.

Calls are wrapped in Rust (``_core.Protected``); so is the awaitable a protected ``async def``
returns (``_core.GuardedCall``), on a CLOSED circuit. What is naturally Python stays here: the
coroutines that run a call under the whole protocol (rejection, trials with their context), which a
``GuardedCall`` hands over to when the circuit is not CLOSED, and ``call_async``. They take
admission when the coroutine starts running (a coroutine that is never awaited holds nothing) and
report the outcome through the permit when it finishes, whichever way it finishes.
"""

from __future__ import annotations

import functools
import inspect
import sys
import threading
from contextvars import ContextVar, Token
from typing import (
    TYPE_CHECKING,
    Any,
    Awaitable,
    Callable,
    Coroutine,
    List,
    Mapping,
    Optional,
    Tuple,
    TypeVar,
)

from . import _core

if TYPE_CHECKING:
    import asyncio

T = TypeVar("T")


# The trials running in this thread or asyncio task, innermost last: (breaker, runner, live), where
# runner is the task (or thread) that runs the trial and live a one-item list that stays [True]
# only while the trial runs. A context is copied into new tasks, threads and callbacks, which may
# outlive the trial; neither another runner nor a finished trial gives a pass. A call made from
# inside a running trial of the same breaker, in the same thread or task, is part of that trial
# (see `CircuitBreaker.acquire`). Only the half-open path reads or writes it.
_Trial = Tuple[_core.CircuitBreaker, object, List[bool]]
_current_trials: ContextVar[Tuple[_Trial, ...]] = ContextVar(
    "fastbreaker_current_trials", default=()
)


def _runner() -> object:
    """The asyncio task running this code, or else this thread's id."""
    asyncio = sys.modules.get("asyncio")  # no task can exist before asyncio is imported
    if asyncio is not None and asyncio._get_running_loop() is not None:
        task = asyncio.current_task()
        if task is not None:
            return task
    return threading.get_ident()


def in_trial(breaker: _core.CircuitBreaker) -> bool:
    """Whether this thread or task is running a trial of ``breaker`` right now."""
    trials = _current_trials.get()
    if not trials:
        return False
    runner = _runner()
    return any(
        running is breaker and owner == runner and live[0] for running, owner, live in trials
    )


def enter_trial(breaker: _core.CircuitBreaker) -> Tuple[Token[Tuple[_Trial, ...]], List[bool]]:
    """Marks this thread or task as running a trial of ``breaker``, until ``leave_trial``."""
    live = [True]
    return _current_trials.set((*_current_trials.get(), (breaker, _runner(), live))), live


def leave_trial(entered: Tuple[Token[Tuple[_Trial, ...]], List[bool]]) -> None:
    token, live = entered
    live[0] = False  # whatever copies of the context still hold it, the trial is over
    try:
        _current_trials.reset(token)
    except ValueError:
        pass  # a coroutine finalised in another context (by the garbage collector): nothing to undo


async def call_async(
    breaker: _core.CircuitBreaker,
    func: Callable[..., Awaitable[T]],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    fallback: Optional[Callable[..., Any]] = None,
) -> T:
    """Awaits ``func(*args, **kwargs)`` under ``breaker``; turned away, returns
    ``fallback(*args, **kwargs)`` (awaited if awaitable) instead, when there is one."""
    try:
        permit = breaker.acquire()
    except _core.CircuitBreakerError:
        if fallback is None:
            raise
        result = fallback(*args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result  # type: ignore[no-any-return]
    token = enter_trial(breaker) if permit.is_trial else None
    try:
        try:
            awaitable = func(*args, **kwargs)
        except BaseException as error:
            permit.record_exception(error)
            raise
        if not inspect.isawaitable(awaitable):
            # The caller's mistake, not the service's failure: nothing is counted.
            permit.record_ignored()
            raise TypeError(
                f"call_async() needs a callable that returns an awaitable; {func!r} returned "
                f"{type(awaitable).__qualname__} (use call() for synchronous functions)"
            )
        try:
            result = await awaitable
        except BaseException as error:
            permit.record_exception(error)
            raise
    finally:
        if token is not None:
            leave_trial(token)
    permit._record_result(result)
    return result


async def _guarded_coroutine(
    breaker: _core.CircuitBreaker,
    coroutine: Coroutine[Any, Any, T],
    fallback: Optional[Callable[[], Any]] = None,
) -> T:
    """Awaits a coroutine that was created before admission could be taken, under the whole
    protocol (rejection, trials and their context). A ``GuardedCall`` (the awaitable of a protected
    coroutine function) hands itself over to this when the circuit is not CLOSED as it starts;
    the CLOSED circuit it runs itself. ``fallback``: what to return instead when the call is turned
    away (called with the call's arguments bound, its result awaited if it is awaitable)."""
    try:
        permit = breaker.acquire()
    except _core.CircuitBreakerError:
        coroutine.close()
        if fallback is None:
            raise
        result = fallback()
        if inspect.isawaitable(result):
            result = await result
        return result  # type: ignore[no-any-return]
    except BaseException:
        coroutine.close()
        raise
    token = enter_trial(breaker) if permit.is_trial else None
    try:
        result = await coroutine
    except BaseException as error:
        permit.record_exception(error)
        raise
    finally:
        if token is not None:
            leave_trial(token)
    permit._record_result(result)
    return result


def guard_awaitable(permit: _core.Permit, awaitable: Awaitable[T]) -> Awaitable[T]:
    """Records the outcome of work already under way (a future, a task, any awaitable) when it
    completes. A future is returned as it is, with a callback; anything else is awaited by the
    coroutine returned in its place."""
    import asyncio

    if asyncio.isfuture(awaitable):
        awaitable.add_done_callback(functools.partial(_record_future, permit))
        return awaitable
    return _await_and_record(permit, awaitable)


def _record_future(permit: _core.Permit, future: asyncio.Future[Any]) -> None:
    if future.cancelled():
        permit.record_ignored()
        return
    try:
        # asyncio's futures keep their exception here; reading it so leaves it unretrieved, and
        # asyncio still reports an exception that nobody awaits, as it does unprotected.
        error = future._exception
    except AttributeError:
        error = future.exception()
    if error is None:
        permit._record_result(future.result())
    else:
        permit.record_exception(error)


async def _await_and_record(permit: _core.Permit, awaitable: Awaitable[T]) -> T:
    try:
        result = await awaitable
    except BaseException as error:
        permit.record_exception(error)
        raise
    permit._record_result(result)
    return result


def decorate(
    breaker: _core.CircuitBreaker,
    func: Callable[..., Any],
    fallback: Optional[Callable[..., Any]] = None,
) -> Callable[..., Any]:
    """Wraps ``func`` so that every call goes through ``breaker``; a call turned away returns
    ``fallback(*args, **kwargs)`` instead (awaited for an ``async def``), when there is one.

    The wrapper keeps the function's metadata (``functools.wraps``), binds as a method like a
    function does, and exposes the breaker as ``.circuit_breaker``. An ``async def`` function stays
    a coroutine function. Generator functions are refused: their work happens while they are
    iterated, outside any call the breaker could see.
    """
    if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
        kind = "an async generator" if inspect.isasyncgenfunction(func) else "a generator"
        raise TypeError(
            f"a circuit breaker cannot protect {kind} function ({func!r}): its work and its "
            "errors come while it is iterated, outside the call; protect the calls it makes instead"
        )
    protected = _core.Protected(breaker, func, fallback)
    if protected._drives_coroutines:
        # An `async def`: the call makes its coroutine and returns it guarded (a `GuardedCall`,
        # driven from Rust). It passes `inspect.iscoroutinefunction` as the function it wraps does.
        return functools.update_wrapper(protected, func)
    if _core._is_coroutine_function(func):
        # Another callable marked as a coroutine function (`inspect.markcoroutinefunction`): an
        # `async def` around it keeps it one.

        @functools.wraps(func)
        async def protected_coroutine_function(*args: Any, **kwargs: Any) -> Any:
            return await call_async(breaker, func, args, kwargs, fallback)

        protected_coroutine_function.circuit_breaker = breaker  # type: ignore[attr-defined]
        return protected_coroutine_function
    return functools.update_wrapper(protected, func)


def default_name(func: Callable[..., Any]) -> str:
    """``module.qualname`` of a function, for a breaker that was given no name."""
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None) or getattr(func, "__name__", None)
    if qualname is None:
        qualname = type(func).__qualname__
    return f"{module}.{qualname}" if module else str(qualname)
