"""The Python half of wrapping calls: decorators and coroutines.

Synchronous calls are wrapped entirely in Rust (``_core.Protected``). Coroutines are naturally
Python, so their wrapper is an ``async def`` here; it takes admission when the coroutine starts
running (a coroutine that is never awaited holds nothing) and reports the outcome through the
permit when it finishes, whichever way it finishes.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Awaitable, Callable, Coroutine, Mapping, TypeVar

from . import _core

T = TypeVar("T")


async def call_async(
    breaker: _core.CircuitBreaker,
    func: Callable[..., Awaitable[T]],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
) -> T:
    """Awaits ``func(*args, **kwargs)`` under ``breaker``."""
    permit = breaker.acquire()
    try:
        result = await func(*args, **kwargs)
    except BaseException as error:
        permit.record_exception(error)
        raise
    permit.record_success()
    return result


async def guard_coroutine(breaker: _core.CircuitBreaker, coroutine: Coroutine[Any, Any, T]) -> T:
    """Awaits a coroutine that was created before admission could be taken."""
    try:
        permit = breaker.acquire()
    except BaseException:
        coroutine.close()
        raise
    try:
        result = await coroutine
    except BaseException as error:
        permit.record_exception(error)
        raise
    permit.record_success()
    return result


def decorate(breaker: _core.CircuitBreaker, func: Callable[..., Any]) -> Callable[..., Any]:
    """Wraps ``func`` so that every call goes through ``breaker``.

    The wrapper keeps the function's metadata (``functools.wraps``), binds as a method like a
    function does, and exposes the breaker as ``.circuit_breaker``. An ``async def`` function stays
    a coroutine function.
    """
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def protected_coroutine_function(*args: Any, **kwargs: Any) -> Any:
            return await call_async(breaker, func, args, kwargs)

        protected_coroutine_function.circuit_breaker = breaker  # type: ignore[attr-defined]
        return protected_coroutine_function
    return functools.update_wrapper(_core.Protected(breaker, func), func)


def default_name(func: Callable[..., Any]) -> str:
    """``module.qualname`` of a function, for a breaker that was given no name."""
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None) or getattr(func, "__name__", None)
    if qualname is None:
        qualname = type(func).__qualname__
    return f"{module}.{qualname}" if module else str(qualname)
