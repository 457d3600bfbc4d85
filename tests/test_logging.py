"""Transitions are logged on the `fastbreaker` logger, one line each, at the documented levels."""

from __future__ import annotations

import logging

import pytest
from fastbreaker import CircuitBreaker, get_circuit_breaker
from fastbreaker.testing import manual_clock
from helpers import drain, failing


def transitions(caplog: pytest.LogCaptureFixture, name: str) -> list:
    return [
        (r.name, r.levelname, r.getMessage())
        for r in caplog.records
        if r.name.startswith("fastbreaker") and f"'{name}'" in r.getMessage()
    ]


def test_each_transition_is_logged_once(caplog):
    caplog.set_level(logging.DEBUG, logger="fastbreaker")
    breaker = CircuitBreaker(
        name="logged", failure_threshold=2, recovery_timeout=5, success_threshold=1
    )
    with manual_clock() as clock:
        drain(breaker, failing(), 2)
        breaker.get_status()
        _ = breaker.state  # reads log nothing
        clock.advance(5)
        assert breaker.get_status()["state"] == "half_open"
        breaker.call(lambda: None)
    assert transitions(caplog, "logged") == [
        (
            "fastbreaker",
            "WARNING",
            "circuit breaker 'logged' closed -> open "
            "(reason: failure_threshold, 2 consecutive failure(s))",
        ),
        (
            "fastbreaker",
            "INFO",
            "circuit breaker 'logged' open -> half_open "
            "(reason: recovery_timeout, failure_count=2, success_count=0)",
        ),
        (
            "fastbreaker",
            "INFO",
            "circuit breaker 'logged' half_open -> closed "
            "(reason: trial_succeeded, 1 successful trial(s))",
        ),
    ]


def test_reset_and_open_log_only_real_changes(caplog):
    caplog.set_level(logging.INFO, logger="fastbreaker")
    breaker = CircuitBreaker(name="forced")
    breaker.reset()  # closed already
    breaker.open()
    breaker.open()  # open already: timer restarts, no transition
    breaker.reset()
    assert [m for _, _, m in transitions(caplog, "forced")] == [
        "circuit breaker 'forced' closed -> open "
        "(reason: forced, failure_count=0, success_count=0)",
        "circuit breaker 'forced' open -> closed (reason: reset, failure_count=0, success_count=0)",
    ]


def test_a_level_set_after_import_takes_effect(caplog):
    logger = logging.getLogger("fastbreaker")
    caplog.set_level(logging.INFO, logger="fastbreaker")
    CircuitBreaker(name="before").open()
    logger.setLevel(logging.ERROR)
    CircuitBreaker(name="silenced").open()
    logger.setLevel(logging.INFO)
    CircuitBreaker(name="after").open()
    assert transitions(caplog, "before") and transitions(caplog, "after")
    assert transitions(caplog, "silenced") == []


def test_a_registry_option_clash_is_logged(caplog, unique_name):
    caplog.set_level(logging.WARNING, logger="fastbreaker")
    first = get_circuit_breaker(unique_name, failure_threshold=3, recovery_timeout=10)
    again = get_circuit_breaker(unique_name, failure_threshold=3)
    assert again is first and caplog.records == []
    other = get_circuit_breaker(
        unique_name, failure_threshold=7, recovery_timeout=10.5, expected_exceptions=OSError
    )
    assert other is first and other.failure_threshold == 3
    [record] = caplog.records
    assert record.levelname == "WARNING"
    message = record.getMessage()
    assert unique_name in message
    assert "failure_threshold=7 (registered: 3)" in message
    assert "recovery_timeout=10.5 (registered: 10)" in message
    assert "expected_exceptions=(<class 'OSError'>,)" in message
    assert "success_threshold" not in message


def test_a_failing_log_handler_does_not_corrupt_the_breaker():
    class Exploding(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            raise RuntimeError("handler broke")

        def handleError(self, record: logging.LogRecord) -> None:
            raise RuntimeError("handler broke again")

    logger = logging.getLogger("fastbreaker")
    handler = Exploding()
    logger.addHandler(handler)
    try:
        breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=0, success_threshold=1)
        drain(breaker, failing(), 1)
        assert breaker.state == "half_open"
        breaker.call(lambda: None)
        assert breaker.state == "closed"
    finally:
        logger.removeHandler(handler)


def test_a_raising_logging_filter_changes_nothing_and_leaks_into_no_call(capsys):
    """A request-id filter that reads a ContextVar without a default raises outside a request."""
    import contextvars

    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")

    class RequestIdFilter(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            record.request_id = request_id.get()  # LookupError here
            return True

    logger = logging.getLogger("fastbreaker")
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=0, success_threshold=1)
        drain(breaker, failing(), 1)  # opens: logged (and the filter raises)
        assert breaker.call(lambda: "healthy") == "healthy"  # the trial is not poisoned
        assert breaker.state == "closed"
        breaker.open()
        breaker.reset()
        assert breaker.acquire().record_failure()
        assert breaker.failure_count == 1  # counted, and the circuit opened (0 s timeout)
        get_circuit_breaker("filtered", failure_threshold=2)
        get_circuit_breaker("filtered", failure_threshold=3)  # a clash: logged
        import requests
        from fastbreaker.external_service_client import protected_get

        for _ in range(2):  # the second failure opens the circuit: logged
            with pytest.raises(requests.ConnectionError):
                protected_get("http://127.0.0.1:9/", service_name="filtered", timeout=2)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    # Reported the way logging reports its own errors.
    err = capsys.readouterr().err
    assert "--- Logging error in fastbreaker" in err and "LookupError" in err


def test_ctrl_c_in_a_logging_handler_is_not_swallowed():
    class Interrupted(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            raise KeyboardInterrupt

    logger = logging.getLogger("fastbreaker")
    handler = Interrupted()
    logger.addHandler(handler)
    try:
        breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=60)
        with pytest.raises(KeyboardInterrupt):
            drain(breaker, failing(), 1)
        assert breaker.state == "open"  # the transition itself happened
    finally:
        logger.removeHandler(handler)
