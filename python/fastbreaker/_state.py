"""The states of a circuit, as a ``str`` enum (``CircuitState.OPEN == "open"``), and the shape of
a breaker's status."""

from __future__ import annotations

from enum import Enum
from typing import Optional, TypedDict

__all__ = ["CircuitBreakerStatus", "CircuitState"]


class CircuitState(str, Enum):
    """The state of a circuit. Compares equal to its lower-case name."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"

    def __str__(self) -> str:
        return self.value


class CircuitBreakerStatus(TypedDict):
    """What ``CircuitBreaker.get_status()`` returns (JSON-serialisable)."""

    name: str
    #: ``"closed"``, ``"open"`` or ``"half_open"``: what the next call would meet.
    state: str
    failure_count: int
    success_count: int
    #: Unix time of the last counted failure.
    last_failure_time: Optional[float]
    failure_threshold: int
    recovery_timeout: float
    success_threshold: int
    half_open_max_calls: int
    #: Seconds a trial may run before its slot is reclaimed (``None``: no limit).
    trial_timeout: Optional[float]
    #: Seconds until an open circuit admits a trial (0.0 otherwise).
    retry_after: float
    #: Where the state is kept: ``"memory"``, or the Redis URL (without its password).
    store: str
    #: Whether the store answered the last time it was asked (always true for memory).
    store_reachable: bool
