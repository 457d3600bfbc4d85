"""Drop-in for the documented ``src.circuit_breaker`` module.

An existing service keeps its imports with a one-line shim, ``src/circuit_breaker.py``::

    from fastbreaker.circuit_breaker import *
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Sequence, Type, TypeVar, Union, overload

from ._core import CircuitBreaker, CircuitBreakerError
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
    failure_threshold: int = 5,
    recovery_timeout: float = 60,
    success_threshold: int = 2,
    expected_exceptions: ExceptionClasses = (Exception,),
    name: Optional[str] = None,
    half_open_max_calls: int = 1,
    trial_timeout: Optional[float] = None,
) -> Callable[[F], F]: ...


def circuit_breaker(
    func: Optional[Callable[..., Any]] = None,
    /,
    *,
    failure_threshold: int = 5,
    recovery_timeout: float = 60,
    success_threshold: int = 2,
    expected_exceptions: ExceptionClasses = (Exception,),
    name: Optional[str] = None,
    half_open_max_calls: int = 1,
    trial_timeout: Optional[float] = None,
) -> Any:
    """Protects a function with a circuit breaker of its own.

    ``@circuit_breaker(failure_threshold=3, recovery_timeout=30)`` (or bare ``@circuit_breaker``)
    gives every decorated function its own :class:`CircuitBreaker`, named ``name`` or else the
    function's ``module.qualname``, reachable as ``func.circuit_breaker``. The options are checked
    here, before anything is decorated.
    """
    options: Dict[str, Any] = dict(
        failure_threshold=failure_threshold,
        recovery_timeout=recovery_timeout,
        success_threshold=success_threshold,
        expected_exceptions=expected_exceptions,
        half_open_max_calls=half_open_max_calls,
        trial_timeout=trial_timeout,
    )
    # Build (and throw away) one breaker now, so that bad options fail at the decorator line.
    CircuitBreaker(**options, name=name if name is not None else "circuit_breaker")

    def decorate(target: F) -> F:
        if not callable(target):
            raise TypeError(
                f"circuit_breaker() decorates a callable, got {type(target).__qualname__}"
            )
        breaker = CircuitBreaker(**options, name=name if name is not None else default_name(target))
        return breaker(target)

    if func is not None:
        return decorate(func)
    return decorate
