"""Helpers for tests of code protected by fastbreaker.

``manual_clock()`` lets a test drive breakers past their recovery timeout without sleeping::

    from fastbreaker.testing import manual_clock

    def test_recovers():
        breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=30)
        with manual_clock() as clock:
            ...  # open the circuit
            clock.advance(30)  # exactly the timeout: the next call is a trial
            ...
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from . import _core

__all__ = ["ManualClock", "manual_clock"]


class ManualClock:
    """The process-wide monotonic clock while :func:`manual_clock` is active."""

    __slots__ = ()

    def advance(self, seconds: float) -> float:
        """Moves time forward by ``seconds`` (an int or float >= 0) for every breaker in every
        thread. The clock counts whole nanoseconds, and ``seconds`` is rounded to the nearest one
        (``1e-12`` moves nothing); advancing by a breaker's ``recovery_timeout`` reaches it
        exactly. An advance past about 292 years from the clock's origin raises ``ValueError``
        and moves nothing. Returns the new reading, in seconds."""
        return _core._manual_clock_advance(seconds)

    def now(self) -> float:
        """The clock's reading, in seconds (its origin is arbitrary)."""
        return _core._monotonic()

    def __repr__(self) -> str:
        return f"<ManualClock now={self.now():.9f}>"


@contextmanager
def manual_clock() -> Iterator[ManualClock]:
    """Freezes the monotonic clock that every breaker reads, until the block ends.

    Inside the block time moves only by ``clock.advance(seconds)``. Afterwards the real clock
    resumes from where the manual one stopped: it neither goes backwards nor jumps forward by the
    real time the block took. Manual clocks do not nest: entering a second one raises
    ``RuntimeError``.
    """
    _core._manual_clock_start()
    try:
        yield ManualClock()
    finally:
        _core._manual_clock_stop()
