"""Small helpers shared by the tests."""

from __future__ import annotations

from typing import Any, Callable, Optional, Tuple, Type, Union


def drain(
    breaker: Any,
    func: Callable[[], Any],
    times: int,
    expected: Union[Type[BaseException], Tuple[Type[BaseException], ...]] = Exception,
) -> None:
    """Calls `func` through `breaker` `times` times, swallowing `expected`."""
    for _ in range(times):
        try:
            breaker.call(func)
        except expected:
            pass


def failing(error: Optional[BaseException] = None) -> Callable[[], None]:
    def fail() -> None:
        raise error if error is not None else RuntimeError("service failed")

    return fail
