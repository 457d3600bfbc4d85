"""Listeners: one event per transition, in the thread that made it, outside every lock; their
errors never reach the call and are logged once per listener."""

from __future__ import annotations

import gc
import logging
import threading
import time
import weakref
from typing import List

import pytest
from fastbreaker import (
    CircuitBreaker,
    CircuitBreakerError,
    CircuitState,
    TransitionEvent,
    circuit_breaker,
)
from fastbreaker.testing import manual_clock
from helpers import drain, failing


def recorder(breaker: CircuitBreaker) -> List[TransitionEvent]:
    events: List[TransitionEvent] = []
    breaker.add_listener(events.append)
    return events


def test_every_transition_is_one_event_with_its_reason():
    breaker = CircuitBreaker(
        name="events", failure_threshold=2, recovery_timeout=10, success_threshold=2
    )
    events = recorder(breaker)
    started = time.time()
    with manual_clock() as clock:
        drain(breaker, failing(), 2)  # closed -> open
        clock.advance(10)
        drain(breaker, failing(), 1)  # open -> half_open, then the trial fails: -> open
        clock.advance(10)
        breaker.call(lambda: None)  # open -> half_open
        breaker.call(lambda: None)  # second success: -> closed
        breaker.open()  # closed -> open, by hand
        breaker.open()  # open already: the timer restarts, no event
        breaker.reset()  # open -> closed, by hand
        breaker.reset()  # closed already: no event
    moves = [(e.old_state, e.new_state, e.reason) for e in events]
    assert moves == [
        ("closed", "open", "failure_threshold"),
        ("open", "half_open", "recovery_timeout"),
        ("half_open", "open", "trial_failed"),
        ("open", "half_open", "recovery_timeout"),
        ("half_open", "closed", "trial_succeeded"),
        ("closed", "open", "forced"),
        ("open", "closed", "reset"),
    ]
    first = events[0]
    assert first.name == "events"
    assert first.old_state is CircuitState.CLOSED and first.new_state is CircuitState.OPEN
    assert (first.failure_count, first.success_count) == (2, 0)
    assert started - 1 <= first.time <= time.time() + 1
    assert "reason='failure_threshold'" in repr(first)
    with pytest.raises(AttributeError):
        first.reason = "other"  # type: ignore[misc]


def test_events_come_from_every_way_of_calling():
    @circuit_breaker(failure_threshold=1, recovery_timeout=60)
    def decorated() -> None:
        raise ConnectionError

    events = recorder(decorated.circuit_breaker)
    with pytest.raises(ConnectionError):
        decorated()
    permitted = CircuitBreaker(failure_threshold=1)
    permit_events = recorder(permitted)
    permitted.acquire().record_failure()
    assert [e.reason for e in events] == ["failure_threshold"]
    assert [e.new_state for e in permit_events] == ["open"]


def test_a_listener_runs_in_the_calling_thread_outside_the_lock():
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=60)
    seen = []

    def listener(event: TransitionEvent) -> None:
        # Reading and changing the breaker from a listener must not deadlock.
        seen.append((threading.current_thread().name, breaker.state, breaker.get_status()))
        if event.new_state == "open":
            breaker.reset()

    breaker.add_listener(listener)
    worker = threading.Thread(target=drain, args=(breaker, failing(), 1), name="caller")
    worker.start()
    worker.join(10)
    assert not worker.is_alive()
    assert [name for name, _, _ in seen] == ["caller", "caller"]
    assert seen[0][1] == "open"
    assert breaker.state == "closed"


def test_a_failing_listener_never_reaches_the_call_and_is_logged_once(caplog):
    caplog.set_level(logging.ERROR, logger="fastbreaker")
    breaker = CircuitBreaker(name="noisy", failure_threshold=1, recovery_timeout=0)
    calls = []

    def broken(event: TransitionEvent) -> None:
        calls.append(event.reason)
        raise LookupError("listener bug")

    after = recorder(breaker)
    breaker.add_listener(broken)  # added after: the first still runs before it
    later = recorder(breaker)
    for _ in range(3):
        with pytest.raises(ConnectionError):  # the call's own error, not the listener's
            breaker.call(failing(ConnectionError()))
    assert breaker.call(lambda: "ok") == "ok"
    assert len(calls) == len(after) == len(later) >= 4
    errors = [r for r in caplog.records if r.name == "fastbreaker" and r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "noisy" in errors[0].getMessage()
    assert errors[0].exc_info is not None and errors[0].exc_info[0] is LookupError


def test_keyboard_interrupt_in_a_listener_is_not_swallowed():
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=60)

    def interrupt(event: TransitionEvent) -> None:
        raise KeyboardInterrupt

    breaker.add_listener(interrupt)
    with pytest.raises(KeyboardInterrupt):
        breaker.call(failing())
    assert breaker.state == "open"  # the transition itself happened
    with pytest.raises(CircuitBreakerError):
        breaker.call(lambda: None)


def test_remove_listener():
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=60)

    class Watcher:
        def __init__(self) -> None:
            self.events: List[TransitionEvent] = []

        def on_transition(self, event: TransitionEvent) -> None:
            self.events.append(event)

    watcher = Watcher()
    breaker.add_listener(watcher.on_transition)
    breaker.open()
    # A bound method is a new object at every access: removal goes by equality.
    breaker.remove_listener(watcher.on_transition)
    breaker.reset()
    assert [e.new_state for e in watcher.events] == ["open"]
    with pytest.raises(ValueError, match="not a listener"):
        breaker.remove_listener(watcher.on_transition)
    with pytest.raises(TypeError, match="listener must be callable"):
        breaker.add_listener(42)  # type: ignore[arg-type]


def test_a_listener_that_refers_to_its_breaker_is_collected():
    breaker = CircuitBreaker()
    breaker.add_listener(lambda event, breaker=breaker: breaker.get_status())
    ref = weakref.ref(breaker)
    del breaker
    gc.collect()
    assert ref() is None


def test_transitions_made_by_many_threads_are_all_delivered():
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=0, success_threshold=1)
    events = recorder(breaker)
    lock = threading.Lock()
    counted = []

    def count(event: TransitionEvent) -> None:
        with lock:
            counted.append(event)

    breaker.add_listener(count)

    def work() -> None:
        for i in range(300):
            try:
                breaker.call(failing() if i % 2 else (lambda: None))
            except (RuntimeError, CircuitBreakerError):
                pass

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(events) == len(counted) > 0
    opened = sum((e.old_state, e.new_state) == ("closed", "open") for e in events)
    closed = sum((e.old_state, e.new_state) == ("half_open", "closed") for e in events)
    # Every opening of a closed circuit but the last is followed by a closing.
    assert opened > 0 and opened - closed in (0, 1)
    assert (opened - closed == 1) == (breaker.state != "closed")
