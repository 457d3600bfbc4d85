"""A small, obviously correct model of the circuit breaker contract, for model-based tests.

Time is in integer nanoseconds (as in the core, so that both agree to the nanosecond). Nothing
here is optimised or shared: every rule of the contract is a line or two.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
SUCCESS, FAILURE, IGNORED = "success", "failure", "ignored"


@dataclass(frozen=True)
class Ticket:
    generation: int
    trial: Optional[int]  # the trial's id in HALF_OPEN


@dataclass
class Model:
    failure_threshold: int
    recovery_timeout: int  # ns
    success_threshold: int
    half_open_max_calls: int
    trial_timeout: Optional[int]  # ns; None: trials never time out
    state: str = CLOSED
    failure_count: int = 0
    success_count: int = 0
    opened_at: int = 0
    generation: int = 0
    trials: List[Tuple[int, int]] = field(default_factory=list)  # (id, started), oldest first
    next_trial: int = 0
    failures_seen: int = 0  # counted failures, for last_failure_time

    def effective_state(self, now: int) -> str:
        if self.state == OPEN and now - self.opened_at >= self.recovery_timeout:
            return HALF_OPEN
        return self.state

    def _move(self, to: str, now: int) -> Tuple[str, str]:
        before = self.state
        self.state = to
        self.generation += 1
        self.trials = []
        if to == OPEN:
            self.opened_at = now
        if to in (OPEN, HALF_OPEN):
            self.success_count = 0
        if to == CLOSED:
            self.failure_count = self.success_count = 0
        return before, to

    def _hung(self, started: int, now: int) -> bool:
        return self.trial_timeout is not None and now - started >= self.trial_timeout

    def _start_trial(self, now: int) -> Ticket:
        self.trials.append((self.next_trial, now))
        self.next_trial += 1
        return Ticket(self.generation, self.next_trial - 1)

    def acquire(self, now: int) -> Tuple[Optional[Ticket], int, List[Tuple[str, str]]]:
        """(ticket or None when rejected, retry_after ns, transitions)."""
        if self.state == CLOSED:
            return Ticket(self.generation, None), 0, []
        if self.state == OPEN:
            if now - self.opened_at < self.recovery_timeout:
                return None, self.recovery_timeout - (now - self.opened_at), []
            moved = self._move(HALF_OPEN, now)
            return self._start_trial(now), 0, [moved]
        self.trials = [(i, t) for i, t in self.trials if not self._hung(t, now)]
        if len(self.trials) >= self.half_open_max_calls:
            return None, 0, []
        return self._start_trial(now), 0, []

    def record(self, ticket: Ticket, outcome: str, now: int) -> List[Tuple[str, str]]:
        if ticket.generation != self.generation:
            return []  # late
        if ticket.trial is not None:
            # A trial taken for hung lost its slot, but its outcome still counts in the same
            # half-open period.
            self.trials = [(i, t) for i, t in self.trials if i != ticket.trial]
        if outcome == IGNORED:
            return []
        if self.state == CLOSED:
            if outcome == SUCCESS:
                self.failure_count = 0
                return []
            self.failure_count += 1
            self.failures_seen += 1
            if self.failure_count >= self.failure_threshold:
                return [self._move(OPEN, now)]
            return []
        # HALF_OPEN (nothing is admitted in an OPEN generation)
        if outcome == SUCCESS:
            self.success_count += 1
            if self.success_count >= self.success_threshold:
                return [self._move(CLOSED, now)]
            return []
        self.failure_count += 1
        self.failures_seen += 1
        return [self._move(OPEN, now)]

    def reset(self, now: int) -> List[Tuple[str, str]]:
        before = self.effective_state(now)
        self._move(CLOSED, now)
        return [(before, CLOSED)] if before != CLOSED else []

    def force_open(self, now: int) -> List[Tuple[str, str]]:
        before = self.effective_state(now)
        self._move(OPEN, now)
        return [(before, OPEN)] if before != OPEN else []

    def status(self, now: int) -> dict:
        state = self.effective_state(now)
        retry_after = 0
        if state == OPEN:
            retry_after = self.recovery_timeout - (now - self.opened_at)
        return {
            "state": state,
            "failure_count": self.failure_count,
            "success_count": self.success_count if state == self.state else 0,
            "retry_after": retry_after / 1_000_000_000,
        }
