"""A small, obviously correct model of the circuit breaker contract, for model-based tests.

Time is in integer nanoseconds (as in the core, so that both agree to the nanosecond). Nothing
here is optimised or shared: every rule of the contract is a line or two. The sliding window is
kept as the plain list of every counted outcome of the current CLOSED period, and what it holds
at a given time is filtered out of that list when asked.

A time window counts the successes of a healthy circuit in batches, which it places only within
bounds (see `TimeWindow` in crates/fastbreaker-core/src/policy/window.rs): the model keeps each
batch as the span of epochs it was placed across, and what the window holds as a lower and an
upper bound of calls. When its batches are placed depends on when the window reads the clock
(`newest`, the latest epoch it read) and on its batch size, which the model follows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
SUCCESS, FAILURE, IGNORED = "success", "failure", "ignored"

DEFAULT_MINIMUM_CALLS = 20
DEFAULT_WINDOW = 30 * 1_000_000_000  # ns, when a rate is set and no window is given
BUCKETS = 10
# An isolated circuit's open duration, and the bound every opening's stays below (Nanos::MAX).
FOREVER = 2**64 - 1
# A time window's batches of successes: the first size, the bounds it adapts between, and the
# shortest bucket that takes them (2^20 ns).
FIRST_BATCH, MIN_BATCH, MAX_BATCH = 8, 2, 64
SHORTEST_BATCHED_BUCKET = 1 << 20

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


@dataclass(frozen=True)
class Batch:
    """Successes a time window counted without reading the clock, placed between two epochs."""

    first: int  # the earliest epoch they may have been recorded in
    last: int  # the latest
    lower: bool  # counted at `first` in the lower bound (not when that was the oldest bucket)
    count: int


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
    placed: List[Batch] = field(default_factory=list)  # batches of this period, placed
    pending: int = 0  # successes in the batch under way
    since: int = 0  # the epoch it began in
    limit: int = FIRST_BATCH  # the batch size (0: no batches)
    newest: int = 0  # the latest epoch the window read
    created: int = 0  # ns: when the breaker was made

    def __post_init__(self) -> None:
        if self.has_rates and self.window_ns is None and self.window_calls is None:
            self.window_ns = DEFAULT_WINDOW
        if self.window_ns is not None and self.window_calls is None:
            self.newest = self.created // self.bucket_length()
            timed = self.slow_call_duration is not None  # placed by the end of each call
            if timed or self.bucket_length() < SHORTEST_BATCHED_BUCKET:
                self.limit = 0

    @property
    def has_rates(self) -> bool:
        return self.failure_rate_threshold is not None or self.slow_call_rate_threshold is not None

    # --- open durations ---------------------------------------------------------------------

    def backoff_duration(self, failed_trials: int) -> int:
        duration = int(float(self.recovery_timeout) * self.recovery_backoff**failed_trials)
        if self.max_recovery_timeout is not None:
            duration = min(duration, self.max_recovery_timeout)
        return min(duration, FOREVER - 1)  # an opening has an end; only an isolation has none

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

    def bounds(self, now: int) -> Tuple[int, int, int, int]:
        """(at least, at most) calls, failures and slow calls in the window at `now`."""
        held = self.in_window(now)
        failures, slow = sum(s.failed for s in held), sum(s.slow for s in held)
        if self.window_calls is not None:
            return len(held), len(held), failures, slow
        oldest = now // self.bucket_length() - (BUCKETS - 1)
        lower = len(held) + sum(b.count for b in self.placed if b.lower and b.first >= oldest)
        upper = len(held) + sum(b.count for b in self.placed if b.last >= oldest) + self.pending
        return lower, upper, failures, slow

    def window_totals(self, now: int) -> Tuple[int, int, int]:
        """(calls, failures, slow) as the status says them (calls: the lower bound)."""
        lower, _, failures, slow = self.bounds(now)
        return lower, failures, slow

    def rate_reached(self, now: int) -> Optional[str]:
        # The minimum on the fewest calls the window may hold, the rates against the most.
        lower, upper, failures, slow = self.bounds(now)
        minimum = self.minimum_calls
        if self.window_calls is not None:
            minimum = min(minimum, self.window_calls)
        if lower == 0 or lower < minimum:
            return None
        rate = self.failure_rate_threshold
        if rate is not None and failures / upper >= rate:
            return "failure_rate"
        rate = self.slow_call_rate_threshold
        if rate is not None and slow / upper >= rate:
            return "slow_call_rate"
        return None

    # --- a time window's batches ------------------------------------------------------------

    def _read_clock(self, now: int) -> int:
        """The window reads the clock: its buckets are brought up to `now`'s epoch."""
        epoch = now // self.bucket_length()
        self.newest = max(self.newest, epoch)
        return epoch

    def _healthy(self) -> bool:
        """Nothing failed or was slow in the buckets as the window last brought them up."""
        bucket = self.bucket_length()
        oldest = self.newest - (BUCKETS - 1)
        return not any(s.failed or s.slow for s in self.window if s.settled // bucket >= oldest)

    def _place(self, now: int) -> None:
        """Places the batch under way (a batch's placement reads the clock at `now`)."""
        epoch = self._read_clock(now)
        count, self.pending = self.pending, 0
        if count == 0:
            return
        first, last = min(self.since, epoch), max(self.since, epoch)
        lower = first == last or first + (BUCKETS - 1) > self.newest
        self.placed.append(Batch(first, last, lower, count))
        if first != last:
            self.limit = max(self.limit // 2, MIN_BATCH)
        elif count >= self.limit:
            self.limit = min(self.limit * 2, MAX_BATCH)

    def _into_window(self, sample: Sample, now: int) -> bool:
        """Puts a counted outcome of the CLOSED period into the window; whether it is judged (a
        success in a batch is not: nothing in the window failed or was slow)."""
        if self.window_calls is None and self.limit and not sample.failed and not sample.slow:
            if self._healthy():
                if self.pending == 0:
                    self.since = self._read_clock(now)
                    self.pending = 1
                else:
                    self.pending += 1
                    if self.pending >= self.limit:
                        self._place(now)
                return False
        if self.window_calls is None:
            if self.pending:
                self._place(now)
            self._read_clock(now)
        self.window.append(sample)
        return True

    def status_window(self, now: int) -> Tuple[int, int, int]:
        """What a reading of the window says at `now`: it places the batch under way first."""
        if self.window_calls is None:
            if self.limit:
                self._place(now)
            else:
                self._read_clock(now)
        return self.window_totals(now)

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
        self.placed = []
        self.pending = 0
        if self.window_ns is not None and self.window_calls is None:
            self._read_clock(now)  # the window starts over at `now`
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
                sample = Sample(now, outcome == FAILURE, self.is_slow(ticket, now))
                reason = self.rate_reached(now) if self._into_window(sample, now) else None
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
            calls, failures, slow = self.status_window(now)
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
