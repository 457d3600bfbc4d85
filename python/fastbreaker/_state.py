"""The states of a circuit, as a ``str`` enum (``CircuitState.OPEN == "open"``), and the shape of
a breaker's status."""

from __future__ import annotations

from enum import Enum
from typing import Optional, TypedDict

__all__ = [
    "CallCounts",
    "CircuitBreakerStatus",
    "CircuitState",
    "TransitionCounts",
    "WindowTotals",
]


class CircuitState(str, Enum):
    """The state of a circuit. Compares equal to its lower-case name."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"
    #: ``isolate()``: open until ``reset()``, whatever the timeout.
    ISOLATED = "isolated"
    #: ``disable()``: every call passes and nothing counts, until ``reset()``.
    DISABLED = "disabled"

    def __str__(self) -> str:
        return self.value


class CallCounts(TypedDict):
    """Calls through a breaker in this process since it was made, by outcome (never zeroed)."""

    #: Calls that returned (or raised an exception that counts as success: none by default).
    success: int
    #: Calls that raised one of the breaker's ``expected_exceptions``.
    failure: int
    #: Calls whose outcome says nothing about the service (exceptions outside
    #: ``expected_exceptions``, cancellation, ``CircuitBreakerError`` of a nested breaker).
    ignored: int
    #: Calls turned away with ``CircuitBreakerError``.
    rejected: int


class TransitionCounts(TypedDict):
    """Transitions by the state they led to, made in this process or, for a breaker in a shared
    store, learned from another process (never zeroed)."""

    closed: int
    open: int
    half_open: int
    isolated: int
    disabled: int


class WindowTotals(TypedDict):
    """What the sliding window of a breaker with a rate threshold holds now: the counted outcomes
    of calls of the current CLOSED period (ignored outcomes and half-open trials are not in it)."""

    #: At least this many. Exact for a count window, a slow-call rate, and windows under about
    #: 10.49 ms; otherwise a time window counts the successes of a healthy circuit in batches,
    #: and a batch that spanned several of its buckets is counted here only while its earliest
    #: possible bucket is in the window (and was not the oldest when the batch was placed). The
    #: rates are judged against the most the window may hold.
    calls: int
    failures: int
    #: Calls that took longer than ``slow_call_duration`` (failed ones included).
    slow: int


class CircuitBreakerStatus(TypedDict):
    """What ``CircuitBreaker.get_status()`` returns (JSON-serialisable)."""

    name: str
    #: ``"closed"``, ``"open"``, ``"half_open"``, ``"isolated"`` or ``"disabled"``: what the next
    #: call would meet.
    state: str
    failure_count: int
    success_count: int
    #: Unix time of the last counted failure.
    last_failure_time: Optional[float]
    #: Consecutive failures that open the circuit (``None``: only a rate does).
    failure_threshold: Optional[int]
    recovery_timeout: float
    success_threshold: int
    half_open_max_calls: int
    #: Seconds a trial may run before its slot is reclaimed (``None``: no limit).
    trial_timeout: Optional[float]
    #: Seconds until an open circuit admits a trial (0.0 otherwise; ``None`` while isolated: until
    #: ``reset()``).
    retry_after: Optional[float]
    #: Seconds the current (or last) opening lasts (backoff, ``open(duration)``, ``open_for``);
    #: ``recovery_timeout`` while closed (``None`` while isolated).
    open_duration: Optional[float]
    failure_rate_threshold: Optional[float]
    slow_call_duration: Optional[float]
    slow_call_rate_threshold: Optional[float]
    #: Outcomes the window must hold before a rate is judged (``None``: no rate threshold).
    minimum_calls: Optional[int]
    window_seconds: Optional[float]
    window_calls: Optional[int]
    #: The window's totals now (``None``: no rate threshold).
    window: Optional[WindowTotals]
    recovery_backoff: float
    max_recovery_timeout: Optional[float]
    recovery_jitter: float
    #: Whether the HTTP integrations open the circuit until a 503/429's ``Retry-After``.
    honor_retry_after: bool
    max_retry_after: float
    #: Where the state is kept: ``"memory"``, or the Redis URL (without its password).
    store: str
    #: Whether the store answered the last time it was asked (always true for memory).
    store_reachable: bool
    #: This process's count of calls by outcome (a reset does not zero it).
    calls: CallCounts
    #: This process's count of transitions by the state they led to.
    transitions: TransitionCounts
