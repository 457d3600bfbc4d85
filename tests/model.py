"""A small, obviously correct model of the circuit breaker contract, for model-based tests.

Time is in integer nanoseconds (as in the core, so that both agree to the nanosecond). Nothing
here is optimised or shared: every rule of the contract is a line or two. The sliding window is
kept as the plain list of every counted outcome of the current CLOSED period, and what it holds
at a given time is filtered out of that list when asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
SUCCESS, FAILURE, IGNORED = "success", "failure", "ignored"

DEFAULT_MINIMUM_CALLS = 20
DEFAULT_WINDOW = 30 * 1_000_000_000  # ns, when a rate is set and no window is given
BUCKETS = 10

# (from, to, reason), as the transition log lines say it.
Move = Tuple[str, str, str]


@dataclass(frozen=True)
class Ticket:
    generation: int
    trial: Optional[int]  # the trial's id in HALF_OPEN
    started: int  # ns: when the call was admitted


@dataclass(frozen=True)
class Sample:
    """One counted outcome in the window."""

    settled: int  # ns: when the outcome was reported
    failed: bool
    slow: bool


@dataclass
class Model:
    failure_threshold: Optional[int]  # None: the consecutive count never opens
    recovery_timeout: int  # ns
    success_threshold: int
    half_open_max_calls: int
    trial_timeout: Optional[int]  # ns; None: trials never time out
    failure_rate_threshold: Optional[float] = None
    slow_call_duration: Optional[int] = None  # ns
    slow_call_rate_threshold: Optional[float] = None
    minimum_calls: int = DEFAULT_MINIMUM_CALLS
    window_ns: Optional[int] = None  # a time window of this span
    window_calls: Optional[int] = None  # a count window of this many outcomes
    recovery_backoff: float = 1.0
    max_recovery_timeout: Optional[int] = None  # ns
    state: str = CLOSED
    failure_count: int = 0
    success_count: int = 0
    opened_at: int = 0
    open_for: int = 0  # ns: how long the current (or last) opening lasts
    failed_trials: int = 0  # since the circuit last closed
    generation: int = 0
    trials: List[Tuple[int, int]] = field(default_factory=list)  # (id, started), oldest first
    next_trial: int = 0
    failures_seen: int = 0  # counted failures, for last_failure_time
    window: List[Sample] = field(default_factory=list)  # the current CLOSED period's outcomes

    def __post_init__(self) -> None:
        if self.has_rates and self.window_ns is None and self.window_calls is None:
            self.window_ns = DEFAULT_WINDOW

    @property
    def has_rates(self) -> bool:
        return self.failure_rate_threshold is not None or self.slow_call_rate_threshold is not None

    # --- open durations ---------------------------------------------------------------------

    def backoff_duration(self, failed_trials: int) -> int:
        duration = int(float(self.recovery_timeout) * self.recovery_backoff**failed_trials)
        if self.max_recovery_timeout is not None:
            duration = min(duration, self.max_recovery_timeout)
        return duration

    # --- the window -------------------------------------------------------------------------

    def bucket_length(self) -> int:
        assert self.window_ns is not None
        return self.window_ns // BUCKETS

    def in_window(self, now: int) -> List[Sample]:
        if self.window_calls is not None:
            return self.window[max(0, len(self.window) - self.window_calls) :]
        bucket = self.bucket_length()
        oldest_epoch = now // bucket - (BUCKETS - 1)
        return [s for s in self.window if s.settled // bucket >= oldest_epoch]

    def window_totals(self, now: int) -> Tuple[int, int, int]:
        held = self.in_window(now)
        return len(held), sum(s.failed for s in held), sum(s.slow for s in held)

    def rate_reached(self, now: int) -> Optional[str]:
        calls, failures, slow = self.window_totals(now)
        minimum = self.minimum_calls
        if self.window_calls is not None:
            minimum = min(minimum, self.window_calls)
        if calls == 0 or calls < minimum:
            return None
        rate = self.failure_rate_threshold
        if rate is not None and failures / calls >= rate:
            return "failure_rate"
        rate = self.slow_call_rate_threshold
        if rate is not None and slow / calls >= rate:
            return "slow_call_rate"
        return None

    def is_slow(self, ticket: Ticket, now: int) -> bool:
        return (
            self.slow_call_duration is not None and now - ticket.started > self.slow_call_duration
        )

    # --- states -----------------------------------------------------------------------------

    def effective_state(self, now: int) -> str:
        if self.state == OPEN and now - self.opened_at >= self.open_for:
            return HALF_OPEN
        return self.state

    def _move(self, to: str, reason: str, now: int) -> Move:
        before = self.state
        self.state = to
        self.generation += 1
        self.trials = []
        self.window = []
        if to == OPEN:
            self.opened_at = now
        if to in (OPEN, HALF_OPEN):
            self.success_count = 0
        if to == CLOSED:
            self.failure_count = self.success_count = 0
            self.failed_trials = 0
        return before, to, reason

    def _open(self, reason: str, now: int, duration: Optional[int] = None) -> Move:
        self.open_for = self.backoff_duration(self.failed_trials) if duration is None else duration
        return self._move(OPEN, reason, now)

    def _count_failure(self) -> None:
        self.failure_count += 1
        self.failures_seen += 1

    def _hung(self, started: int, now: int) -> bool:
        return self.trial_timeout is not None and now - started >= self.trial_timeout

    def _start_trial(self, now: int) -> Ticket:
        self.trials.append((self.next_trial, now))
        self.next_trial += 1
        return Ticket(self.generation, self.next_trial - 1, now)

    # --- what the breaker is asked --------------------------------------------------------

    def acquire(self, now: int) -> Tuple[Optional[Ticket], int, List[Move]]:
        """(ticket or None when rejected, retry_after ns, transitions)."""
        if self.state == CLOSED:
            return Ticket(self.generation, None, now), 0, []
        if self.state == OPEN:
            if now - self.opened_at < self.open_for:
                return None, self.open_for - (now - self.opened_at), []
            moved = self._move(HALF_OPEN, "recovery_timeout", now)
            return self._start_trial(now), 0, [moved]
        self.trials = [(i, t) for i, t in self.trials if not self._hung(t, now)]
        if len(self.trials) >= self.half_open_max_calls:
            return None, 0, []
        return self._start_trial(now), 0, []

    def _settle(self, ticket: Ticket) -> bool:
        """Whether the ticket is of the current generation (else its outcome is late); gives its
        trial slot back."""
        if ticket.generation != self.generation:
            return False
        if ticket.trial is not None:
            # A trial taken for hung lost its slot, but its outcome still counts in the same
            # half-open period.
            self.trials = [(i, t) for i, t in self.trials if i != ticket.trial]
        return True

    def record(self, ticket: Ticket, outcome: str, now: int) -> List[Move]:
        if not self._settle(ticket) or outcome == IGNORED:
            return []
        if self.state == CLOSED:
            if outcome == SUCCESS:
                self.failure_count = 0
            else:
                self._count_failure()
            if self.has_rates:
                self.window.append(Sample(now, outcome == FAILURE, self.is_slow(ticket, now)))
                reason = self.rate_reached(now)
                if reason is not None:
                    return [self._open(reason, now)]
            threshold = self.failure_threshold
            if outcome == FAILURE and threshold is not None and self.failure_count >= threshold:
                return [self._open("failure_threshold", now)]
            return []
        # HALF_OPEN (nothing is admitted in an OPEN generation)
        if outcome == SUCCESS:
            self.success_count += 1
            if self.success_count >= self.success_threshold:
                return [self._move(CLOSED, "trial_succeeded", now)]
            return []
        self._count_failure()
        self.failed_trials += 1
        return [self._open("trial_failed", now)]

    def record_failure_open_for(self, ticket: Ticket, open_for: int, now: int) -> List[Move]:
        """`permit.record_failure(open_for=...)`: a failure that opens for exactly that long, from
        CLOSED (below the threshold too, and without going into the window) or a trial."""
        if not self._settle(ticket):
            return []
        self._count_failure()
        if self.state == HALF_OPEN:
            self.failed_trials += 1
        return [self._open("open_for", now, open_for)]

    def reset(self, now: int) -> List[Move]:
        before = self.effective_state(now)
        self._move(CLOSED, "reset", now)
        return [(before, CLOSED, "reset")] if before != CLOSED else []

    def force_open(self, now: int, duration: Optional[int] = None) -> List[Move]:
        before = self.effective_state(now)
        self._open("forced", now, duration)
        return [(before, OPEN, "forced")] if before != OPEN else []

    def retry_after(self, now: int) -> int:
        if self.effective_state(now) != OPEN:
            return 0
        return self.open_for - (now - self.opened_at)

    def status(self, now: int) -> dict:
        state = self.effective_state(now)
        retry_after = self.retry_after(now)
        window = None
        if self.has_rates:
            calls, failures, slow = self.window_totals(now)
            window = {"calls": calls, "failures": failures, "slow": slow}
        return {
            "state": state,
            "failure_count": self.failure_count,
            "success_count": self.success_count if state == self.state else 0,
            "retry_after": retry_after / 1_000_000_000,
            "open_duration": (self.recovery_timeout if self.state == CLOSED else self.open_for)
            / 1_000_000_000,
            "window": window,
        }
