"""Model-based test: Hypothesis drives the real breaker and tests/model.py with the same random
sequences of calls (overlapping ones too), outcomes of every kind, clock advances, resets, forced
openings and reads, and checks after every step that they agree: admission decisions,
retry_after, state, counts, and the transitions logged."""

from __future__ import annotations

import gc
import logging
import re
from typing import Any, List, Optional, Tuple

import pytest
from fastbreaker import CircuitBreaker, CircuitBreakerError, Permit
from fastbreaker.testing import manual_clock
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from model import FAILURE, IGNORED, SUCCESS, Model, Ticket

NS = 1_000_000_000
EXAMPLES = 150
STEPS = 60

# How a call can end, and what the breaker must make of it (expected_exceptions=ConnectionError).
ENDINGS = {
    "returns": SUCCESS,
    "raises ConnectionError": FAILURE,
    "raises ConnectionResetError": FAILURE,  # a subclass
    "raises ValueError": IGNORED,  # not expected
    "raises KeyboardInterrupt": IGNORED,  # BaseException
    "raises CancelledError": IGNORED,
}
_TRANSITION = re.compile(r"circuit breaker '(?P<name>.*)' (?P<from>\w+) -> (?P<to>\w+) \(")


def exception_for(ending: str) -> Optional[BaseException]:
    import asyncio

    return {
        "returns": None,
        "raises ConnectionError": ConnectionError(),
        "raises ConnectionResetError": ConnectionResetError(),
        "raises ValueError": ValueError(),
        "raises KeyboardInterrupt": KeyboardInterrupt(),
        "raises CancelledError": asyncio.CancelledError(),
    }[ending]


class Transitions(logging.Handler):
    def __init__(self, name: str) -> None:
        super().__init__(logging.DEBUG)
        self.name_ = name
        self.seen: List[Tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        match = _TRANSITION.search(record.getMessage())
        if match and match["name"] == self.name_:
            self.seen.append((match["from"], match["to"]))


class BreakerAgainstModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock_context = manual_clock()
        self.clock = self.clock_context.__enter__()
        self.now = 0
        self.in_flight: List[Tuple[Permit, Ticket]] = []
        self.expected_transitions: List[Tuple[str, str]] = []
        self.breaker: Any = None
        self.model: Any = None
        self.logger = logging.getLogger("fastbreaker")
        self.handler: Optional[Transitions] = None
        self.level = self.logger.level

    @initialize(
        failure_threshold=st.integers(1, 4),
        success_threshold=st.integers(1, 3),
        half_open_max_calls=st.integers(1, 3),
        recovery_timeout_ns=st.sampled_from([0, NS // 4, NS, 10 * NS]),
        trial_timeout_ns=st.sampled_from([None, NS // 2, 3 * NS]),
    )
    def create(
        self,
        failure_threshold: int,
        success_threshold: int,
        half_open_max_calls: int,
        recovery_timeout_ns: int,
        trial_timeout_ns: Optional[int],
    ) -> None:
        self.breaker = CircuitBreaker(
            failure_threshold=failure_threshold,
            recovery_timeout=recovery_timeout_ns / NS,
            success_threshold=success_threshold,
            half_open_max_calls=half_open_max_calls,
            expected_exceptions=ConnectionError,
            trial_timeout=None if trial_timeout_ns is None else trial_timeout_ns / NS,
        )
        default_trial_timeout = recovery_timeout_ns or None
        self.model = Model(
            failure_threshold=failure_threshold,
            recovery_timeout=recovery_timeout_ns,
            success_threshold=success_threshold,
            half_open_max_calls=half_open_max_calls,
            trial_timeout=trial_timeout_ns
            if trial_timeout_ns is not None
            else default_trial_timeout,
        )
        self.handler = Transitions(self.breaker.name)
        self.logger.addHandler(self.handler)
        self.logger.setLevel(logging.DEBUG)

    def teardown(self) -> None:
        if self.handler is not None:
            self.logger.removeHandler(self.handler)
        self.logger.setLevel(self.level)
        self.in_flight.clear()
        gc.collect()
        self.clock_context.__exit__(None, None, None)

    # --- rules ------------------------------------------------------------------------------

    def _admit(self) -> Optional[Ticket]:
        ticket, retry_after, moved = self.model.acquire(self.now)
        self.expected_transitions += moved
        return ticket if ticket is not None else self._rejected(retry_after)

    def _rejected(self, retry_after: int) -> None:
        self.last_rejection = retry_after / NS
        return None

    @rule()
    def start_call(self) -> None:
        """A call that stays in flight until a later step ends it."""
        ticket = self._admit()
        try:
            permit = self.breaker.acquire()
        except CircuitBreakerError as error:
            assert ticket is None, "the breaker rejected a call the model admits"
            assert error.retry_after == self.last_rejection
            assert error.name == self.breaker.name
            return
        assert ticket is not None, "the breaker admitted a call the model rejects"
        assert permit.is_trial == (ticket.trial is not None)
        self.in_flight.append((permit, ticket))

    @rule()
    def start_calls_until_rejected(self) -> None:
        """Fills every trial slot (or a few calls' worth while closed)."""
        for _ in range(4):
            before = len(self.in_flight)
            self.start_call()
            if len(self.in_flight) == before:
                break

    @precondition(lambda self: self.in_flight)
    @rule(data=st.data(), ending=st.sampled_from([*ENDINGS, "is dropped unreported"]))
    def end_call(self, data: st.DataObject, ending: str) -> None:
        index = data.draw(st.integers(0, len(self.in_flight) - 1))
        permit, ticket = self.in_flight.pop(index)
        if ending == "is dropped unreported":
            del permit
            gc.collect()
            outcome = IGNORED
        else:
            error = exception_for(ending)
            if error is None:
                permit.record_success()
            else:
                permit.record_exception(error)
            outcome = ENDINGS[ending]
        self.expected_transitions += self.model.record(ticket, outcome, self.now)

    @rule(ending=st.sampled_from(list(ENDINGS)))
    def call_now(self, ending: str) -> None:
        """A call that runs to its end within the step, through breaker.call()."""
        error = exception_for(ending)

        def protected() -> str:
            if error is not None:
                raise error
            return "result"

        ticket = self._admit()
        try:
            result = self.breaker.call(protected)
        except CircuitBreakerError:
            assert ticket is None, "the breaker rejected a call the model admits"
            return
        except BaseException as raised:
            assert raised is error
        else:
            assert result == "result" and error is None
        assert ticket is not None, "the breaker admitted a call the model rejects"
        self.expected_transitions += self.model.record(ticket, ENDINGS[ending], self.now)

    @rule(data=st.data())
    def advance(self, data: st.DataObject) -> None:
        """Moves the clock, mostly to and around the breaker's own timeouts."""
        timeouts = [self.model.recovery_timeout, self.model.trial_timeout or 0]
        near = sorted({max(1, t + d) for t in timeouts for d in (-1, 0, 1)})
        nanoseconds = data.draw(st.sampled_from([*near, NS // 3, 10 * NS]))
        self.clock.advance(nanoseconds / NS)
        self.now += nanoseconds

    @rule()
    def reset(self) -> None:
        self.breaker.reset()
        self.expected_transitions += self.model.reset(self.now)

    @rule()
    def force_open(self) -> None:
        self.breaker.open()
        self.expected_transitions += self.model.force_open(self.now)

    # --- checked after every step ----------------------------------------------------------

    @invariant()
    def agrees_with_the_model(self) -> None:
        if self.breaker is None:
            return
        status = self.breaker.get_status()
        assert {
            k: status[k] for k in ("state", "failure_count", "success_count", "retry_after")
        } == (self.model.status(self.now))
        assert self.breaker.state == status["state"]
        assert (status["last_failure_time"] is None) == (self.model.failures_seen == 0)
        assert self.handler is not None
        assert self.handler.seen == self.expected_transitions


BreakerAgainstModel.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.mark.timeout(300)
class TestBreakerAgainstModel(BreakerAgainstModel.TestCase):  # type: ignore[name-defined,misc]
    pass
