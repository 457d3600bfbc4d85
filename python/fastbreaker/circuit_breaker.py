"""Drop-in for the documented ``src.circuit_breaker`` module.

An existing service keeps its imports with a one-line shim, ``src/circuit_breaker.py``::

    from fastbreaker.circuit_breaker import *
"""

from __future__ import annotations

import sys
import types
from typing import Any, Callable, Literal, Optional, Sequence, Type, TypeVar, Union, overload

from ._core import CircuitBreaker, CircuitBreakerError, Options, RedisStore
from ._state import CircuitState
from ._wrapping import default_name

__all__ = ["CircuitBreaker", "CircuitBreakerError", "CircuitState", "circuit_breaker"]

F = TypeVar("F", bound=Callable[..., Any])
ExceptionClasses = Union[Type[Exception], Sequence[Type[Exception]]]


@overload
def circuit_breaker(func: F, /) -> F: ...


@overload
def circuit_breaker(
    *,
    failure_threshold: Optional[int] = ...,
    recovery_timeout: float = ...,
    success_threshold: int = ...,
    expected_exceptions: ExceptionClasses = ...,
    name: Optional[str] = None,
    half_open_max_calls: int = ...,
    trial_timeout: Optional[float] = ...,
    store: Union[RedisStore, Literal["memory"], None] = ...,
    failure_rate_threshold: Optional[float] = None,
    minimum_calls: Optional[int] = None,
    window_seconds: Optional[float] = None,
    window_calls: Optional[int] = None,
    slow_call_duration: Optional[float] = None,
    slow_call_rate_threshold: Optional[float] = None,
    recovery_backoff: Optional[float] = None,
    max_recovery_timeout: Optional[float] = None,
    recovery_jitter: Optional[float] = None,
    honor_retry_after: Optional[bool] = None,
    max_retry_after: Optional[float] = None,
    result_is_failure: Optional[Callable[[Any], object]] = None,
    exception_is_failure: Optional[Callable[[Exception], object]] = None,
    fallback: Optional[Callable[..., Any]] = None,
) -> Callable[[F], F]: ...


def circuit_breaker(
    func: Optional[Callable[..., Any]] = None,
    /,
    *,
    name: Optional[str] = None,
    fallback: Optional[Callable[..., Any]] = None,
    **options: Any,
) -> Any:
    """Protects a function with a circuit breaker of its own.

    ``@circuit_breaker(failure_threshold=3, recovery_timeout=30)`` (or bare ``@circuit_breaker``)
    gives every decorated function its own :class:`CircuitBreaker`, named ``name`` or else the
    function's ``module.qualname``, reachable as ``func.circuit_breaker``. The options (those of
    :class:`CircuitBreaker`, with its defaults) are checked here, before anything is decorated.
    With a shared store (``store=RedisStore(...)``, or a process default store), every process
    that decorates the same function shares the breaker: the name is what they agree on.

    ``fallback``: a call turned away by the open circuit calls ``fallback(*args, **kwargs)``
    instead and returns its result (awaited for an ``async def``); its exceptions propagate. A
    call that runs and fails still raises its own exception.
    """
    checked = Options(name=name, **options)
    if fallback is not None and not callable(fallback):
        raise TypeError(f"fallback must be callable, got {type(fallback).__qualname__}")

    def decorate(target: F) -> F:
        if not callable(target):
            raise TypeError(
                f"circuit_breaker() decorates a callable, got {type(target).__qualname__}"
            )
        return CircuitBreaker._from_options(checked, default_name(target))(target, fallback)

    if func is not None:
        return decorate(func)
    return decorate


class _CallableModule(types.ModuleType):
    """This module, callable as :func:`circuit_breaker`.

    The package re-exports the decorator under the module's own name, so
    ``fastbreaker.circuit_breaker`` must be both: ``import fastbreaker.circuit_breaker as m`` gives
    this module, and ``from fastbreaker import circuit_breaker`` gives the same object, which
    decorates.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return circuit_breaker(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
