"""Small helpers shared by the tests."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable, Optional, Tuple, Type, Union

if TYPE_CHECKING:
    from fastbreaker.testing import RedisServer


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


def ok() -> str:
    return "ok"


def boom() -> None:
    raise ConnectionError("down")


def outcome(breaker: Any, func: Callable[[], Any] = ok) -> str:
    """One call through `breaker`: "passed", "failed" (it raised) or "rejected"."""
    from fastbreaker import CircuitBreakerError

    try:
        breaker.call(func)
    except CircuitBreakerError:
        return "rejected"
    except Exception:
        return "failed"
    return "passed"


def wait_for(predicate: Callable[[], object], timeout: float = 3.0) -> bool:
    """Polls `predicate` until it is true (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def commands_processed(redis: RedisServer) -> int:
    """The commands `redis` has run so far (not counting the INFO that asks)."""
    info = redis.command("INFO", "stats")
    assert isinstance(info, bytes)
    [line] = [line for line in info.decode().splitlines() if "total_commands_processed" in line]
    return int(line.split(":")[1]) - 1
