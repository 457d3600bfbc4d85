"""Every example of the seed document, run through the one-line shims in tests/seed_app/src.

Code inside each test is the document's, as written, except where it says otherwise: URLs point
at loopback services, and the names the examples leave undefined (`logger`, `fallback_response`,
`external_api_call`...) are defined here.
"""

from __future__ import annotations

import json
import logging
import sys
import types
import urllib.request

import pytest
import requests
from fastbreaker import health
from fastbreaker.testing import manual_clock
from src.circuit_breaker import CircuitBreaker, CircuitBreakerError, circuit_breaker
from src.external_service_client import (
    get_all_circuit_breaker_statuses,
    get_circuit_breaker,
    get_circuit_breaker_status,
    protected_get,
    protected_post,
    reset_circuit_breaker,
)

logger = logging.getLogger("seed-service")


def fallback_response() -> dict:
    return {"fallback": True}


def error_response() -> dict:
    return {"error": True}


# --- The document's unit test, unchanged ------------------------------------------------------


def test_circuit_opens_after_failures():
    breaker = CircuitBreaker(failure_threshold=3)

    def failing_func():
        raise RuntimeError("Service failed")

    # Cause failures
    for _ in range(3):
        with pytest.raises(RuntimeError):
            breaker.call(failing_func)

    # Circuit should be open
    with pytest.raises(CircuitBreakerError):
        breaker.call(failing_func)


# --- Usage ------------------------------------------------------------------------------------


def test_basic_circuit_breaker():
    calls = []

    def external_api_call(arg1, arg2):
        calls.append((arg1, arg2))
        raise ConnectionError("down")

    def handler(arg1, arg2):
        # Create a circuit breaker
        breaker = CircuitBreaker(
            failure_threshold=5,  # Open after 5 failures
            recovery_timeout=60,  # Wait 60s before retry
            success_threshold=2,  # Need 2 successes to close
        )
        results = []
        for _ in range(7):
            # Use the circuit breaker
            try:
                result = breaker.call(external_api_call, arg1, arg2)
            except CircuitBreakerError:
                # Circuit is open, service is degraded
                results.append(fallback_response())
            except ConnectionError:
                results.append("failed")
            else:
                results.append(result)
        return results

    assert handler("a", 2) == ["failed"] * 5 + [{"fallback": True}] * 2
    assert calls == [("a", 2)] * 5


def test_decorator_usage(service, capsys):
    service.status = 500

    @circuit_breaker(failure_threshold=3, recovery_timeout=30)
    def call_external_service():
        response = requests.get(
            service.url("/data"), timeout=5
        )  # seed: https://api.example.com/data
        response.raise_for_status()
        return response

    outcomes = []
    for _ in range(4):
        # Use the function normally
        try:
            result = call_external_service()
        except CircuitBreakerError:
            # Handle open circuit
            outcomes.append("open")
        except requests.HTTPError:
            outcomes.append("failed")

    # Access breaker state
    status = call_external_service.circuit_breaker.get_status()
    print(f"Circuit state: {status['state']}")
    assert outcomes == ["failed", "failed", "failed", "open"]
    assert capsys.readouterr().out == "Circuit state: open\n"
    assert service.hits == 3


def test_protected_http_requests(service, capsys):
    url = service.url("/match")  # seed: https://api.example.com/match

    def handler():
        # Make a protected POST request
        try:
            response = protected_post(
                url,
                json={"document": "data"},
                timeout=30,
                failure_threshold=5,  # Optional: override default
                recovery_timeout=60,  # Optional: override default
            )
        except CircuitBreakerError:
            # Circuit is open for this service
            logger.error("Matching service is unavailable")
            return fallback_response()
        except requests.RequestException as e:
            # Service call failed
            logger.error(f"Request failed: {e}")
            return error_response()
        return response.json()

    assert handler() == {"status": 200, "path": "/match"}
    assert service.requests[0]["body"] == b'{"document": "data"}'

    # Check circuit breaker status
    status = get_circuit_breaker_status(service.origin)  # seed: "https://api.example.com"
    print(f"Service status: {status['state']}")
    assert capsys.readouterr().out == "Service status: closed\n"

    service.status = 503
    assert [handler() for _ in range(6)] == [error_response()] * 5 + [fallback_response()]
    assert get_circuit_breaker_status(service.origin)["state"] == "open"
    assert service.hits == 6


def test_named_service_management(capsys):
    # Get circuit breaker for specific service
    breaker = get_circuit_breaker(
        "external-api",
        failure_threshold=10,
        recovery_timeout=120,
    )
    assert (breaker.failure_threshold, breaker.recovery_timeout) == (10, 120)
    breaker.open()

    # Manually reset a circuit breaker
    reset_circuit_breaker("external-api")
    assert breaker.state == "closed"

    # Get all circuit breaker statuses
    statuses = get_all_circuit_breaker_statuses()
    for service, status in statuses.items():
        print(f"{service}: {status['state']} ({status['failure_count']} failures)")
    assert "external-api: closed (0 failures)\n" in capsys.readouterr().out


def test_recommended_settings():
    high_availability = CircuitBreaker(
        failure_threshold=3,  # Open quickly
        recovery_timeout=30,  # Retry sooner
        success_threshold=3,  # Need more confidence to close
    )
    batch_processing = CircuitBreaker(
        failure_threshold=10,  # More tolerant of failures
        recovery_timeout=300,  # Wait longer before retry
        success_threshold=2,  # Standard recovery
    )
    critical_real_time = CircuitBreaker(
        failure_threshold=2,  # Very sensitive to failures
        recovery_timeout=15,  # Quick recovery attempts
        success_threshold=5,  # High confidence needed
    )
    for breaker, (failures, timeout, successes) in [
        (high_availability, (3, 30, 3)),
        (batch_processing, (10, 300, 2)),
        (critical_real_time, (2, 15, 5)),
    ]:
        status = breaker.get_status()
        assert (status["failure_threshold"], status["recovery_timeout"]) == (failures, timeout)
        assert status["success_threshold"] == successes


def test_default_parameters():
    status = CircuitBreaker().get_status()
    assert (status["failure_threshold"], status["recovery_timeout"]) == (5, 60)
    assert status["success_threshold"] == 2


# --- Monitoring -------------------------------------------------------------------------------


def test_health_endpoint_response(service):
    protected_get(service.url("/ping"))
    # `curl http://localhost:8000/health/circuit-breakers`, against the WSGI app on loopback.
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    import threading

    server = make_server("127.0.0.1", 0, health.wsgi_app, handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/health/circuit-breakers"
        with urllib.request.urlopen(url, timeout=5) as response:
            assert response.headers["Content-Type"] == "application/json"
            payload = json.load(response)
    finally:
        server.shutdown()
        server.server_close()
    status = payload["circuit_breakers"][service.origin]
    assert {
        "state": "closed",
        "failure_count": 0,
        "success_count": 0,
        "last_failure_time": None,
        "failure_threshold": 5,
        "recovery_timeout": 60,
    }.items() <= status.items()


def test_programmatic_status_checking(caplog):
    get_circuit_breaker("my-service", failure_threshold=2).open()

    status = get_circuit_breaker_status("my-service")
    if status and status["state"] == "open":
        logger.warning(f"Service is down: {status['failure_count']} failures")

    assert "Service is down: 0 failures" in caplog.text
    assert get_circuit_breaker_status("no-such-service") is None


# --- Best practices ---------------------------------------------------------------------------


def test_service_isolation(service, dead_url):
    matching, storage = dead_url, service.url("/save")  # seed: two public services
    # Good: Separate breakers per service
    for _ in range(5):
        with pytest.raises(requests.ConnectionError):
            protected_post(matching, service_name="matching-api")
    protected_post(storage, service_name="storage-api")

    assert get_circuit_breaker_status("matching-api")["state"] == "open"
    assert get_circuit_breaker_status("storage-api")["state"] == "closed"
    assert service.hits == 1


def test_graceful_degradation(service):
    service.status = 502
    url, data = service.url("/match"), {"document": "data"}

    def handler():
        try:
            result = protected_post(url, json=data, service_name="graceful-degradation")
        except CircuitBreakerError:
            # Graceful degradation
            return {
                "status": "degraded",
                "message": "Service temporarily unavailable",
                "fallback": True,
            }
        except requests.HTTPError:
            return "failed"
        return result

    assert [handler() for _ in range(5)] == ["failed"] * 5
    assert handler() == {
        "status": "degraded",
        "message": "Service temporarily unavailable",
        "fallback": True,
    }


def test_logging_and_alerting(caplog):
    get_circuit_breaker("critical-service").open()

    breaker = get_circuit_breaker("critical-service")
    status = breaker.get_status()

    if status["state"] == "open":
        logger.error(f"ALERT: Circuit open for critical-service")
        # Send alert to monitoring system
    assert "ALERT: Circuit open for critical-service" in caplog.text


def test_testing_recovery(service):
    url = service.url("/health")  # seed: https://test-service.com/health
    breaker = get_circuit_breaker("test-service")
    breaker.open()
    with pytest.raises(CircuitBreakerError):
        protected_get(url, service_name="test-service")
    assert service.hits == 0

    # Simulate service recovery
    reset_circuit_breaker("test-service")

    # Make test request
    response = protected_get(url, service_name="test-service")
    assert response.status_code == 200
    assert service.hits == 1


def test_integration_test_from_the_document(dead_url):
    # The document's integration test, with its unreachable service on loopback.
    # Make requests until circuit opens
    for _ in range(10):
        try:
            protected_post(dead_url, service_name="test-integration")
        except (CircuitBreakerError, requests.RequestException):
            pass

    # Verify circuit is open
    status = get_circuit_breaker_status("test-integration")
    assert status["state"] == "open"


def test_troubleshooting_manual_reset():
    get_circuit_breaker("service-name").open()
    reset_circuit_breaker("service-name")
    assert get_circuit_breaker_status("service-name")["state"] == "closed"


# --- Examples ---------------------------------------------------------------------------------


def fallback_match(document, candidates):
    return {"fallback": True, "candidates": candidates}


def test_example_1_external_api_integration(service, caplog):
    url = service.url("/match")  # seed: https://matching-api.example.com/match

    def match_documents(document, candidates):
        """Match documents using external API with circuit breaker protection."""
        try:
            response = protected_post(
                url,
                service_name="document-matching",
                json={"document": document, "candidates": candidates},
                timeout=30,
                failure_threshold=5,
                recovery_timeout=60,
            )
            return response.json()

        except CircuitBreakerError:
            logger.warning("Matching service circuit is open, using fallback")
            # Fallback to simple matching logic
            return fallback_match(document, candidates)

        except requests.RequestException as e:
            logger.error(f"Matching service request failed: {e}")
            raise

    assert match_documents("d", ["a"]) == {"status": 200, "path": "/match"}
    service.status = 500
    for _ in range(5):
        with pytest.raises(requests.HTTPError):
            match_documents("d", ["a"])
    assert match_documents("d", ["a"]) == {"fallback": True, "candidates": ["a"]}
    assert "Matching service circuit is open, using fallback" in caplog.text
    assert service.hits == 6


@pytest.fixture
def psycopg2(monkeypatch):
    """A stand-in for psycopg2 whose server is down (no database here)."""
    module = types.ModuleType("psycopg2")

    class OperationalError(Exception):
        pass

    attempts = []

    def connect(dsn):
        attempts.append(dsn)
        raise OperationalError("could not connect to server")

    module.OperationalError = OperationalError
    module.connect = connect
    module.attempts = attempts
    monkeypatch.setitem(sys.modules, "psycopg2", module)
    return module


def test_example_2_custom_circuit_breaker_for_database(psycopg2):
    DATABASE_URL = "postgresql://localhost/app"
    import psycopg2 as imported

    @circuit_breaker(
        failure_threshold=3,
        recovery_timeout=120,
        expected_exceptions=(imported.OperationalError,),
    )
    def query_database(query, params):
        """Execute database query with circuit breaker protection."""
        conn = imported.connect(DATABASE_URL)
        cursor = conn.cursor()
        cursor.execute(query, params)
        return cursor.fetchall()

    for _ in range(3):
        with pytest.raises(imported.OperationalError):
            query_database("SELECT 1", ())
    with pytest.raises(CircuitBreakerError):
        query_database("SELECT 1", ())
    assert len(psycopg2.attempts) == 3
    assert query_database.__doc__ == "Execute database query with circuit breaker protection."
    assert query_database.circuit_breaker.name.endswith("query_database")

    with manual_clock() as clock:
        query_database.circuit_breaker.open()
        clock.advance(120)
        assert query_database.circuit_breaker.state == "half_open"
