"""fastbreaker.metrics.opentelemetry: what the OpenTelemetry SDK collects from the instruments,
through its in-memory reader on a meter provider of the test's own (the global provider is never
set)."""

from __future__ import annotations

import gc
import logging
import subprocess
import sys
from typing import Dict, FrozenSet, Iterator, Tuple

import fastbreaker.metrics
import pytest
from fastbreaker import CircuitBreaker, CircuitBreakerError
from fastbreaker.metrics import opentelemetry as otel_metrics
from fastbreaker.testing import manual_clock
from opentelemetry.metrics import get_meter_provider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader


class Collected:
    """One collection of the `fastbreaker` meter's metrics."""

    def __init__(self, reader: InMemoryMetricReader) -> None:
        self.points: Dict[Tuple[str, FrozenSet[Tuple[str, str]]], float] = {}
        self.instruments: Dict[str, Tuple[str, str, object]] = {}
        data = reader.get_metrics_data()
        for resource_metrics in data.resource_metrics if data else []:
            for scope_metrics in resource_metrics.scope_metrics:
                if scope_metrics.scope.name != "fastbreaker":
                    continue
                assert scope_metrics.scope.version == fastbreaker.__version__
                for metric in scope_metrics.metrics:
                    monotonic = getattr(metric.data, "is_monotonic", None)
                    self.instruments[metric.name] = (
                        type(metric.data).__name__,
                        metric.unit,
                        monotonic,
                    )
                    for point in metric.data.data_points:
                        key = (metric.name, frozenset(point.attributes.items()))
                        assert key not in self.points, f"{key} observed twice"
                        self.points[key] = point.value

    def of(self, breaker: str) -> Dict[str, float]:
        """One breaker's points, keyed `name{attribute=value,...}` without the breaker attribute."""
        found = {}
        for (name, attributes), value in self.points.items():
            if ("fastbreaker.breaker", breaker) in attributes:
                rest = ",".join(
                    f"{k}={v}" for k, v in sorted(attributes) if k != "fastbreaker.breaker"
                )
                found[f"{name}{{{rest}}}" if rest else name] = value
        return found

    def breakers(self) -> set:
        return {
            value
            for _, attributes in self.points
            for key, value in attributes
            if key == "fastbreaker.breaker"
        }


def expected(
    state: str,
    calls: Tuple[int, int, int, int],
    transitions: Tuple[int, ...],
    failure_count: int,
    retry_after: float,
) -> Dict[str, float]:
    """Every point of one breaker: calls as (success, failure, ignored, rejected), transitions
    as (to closed, to open, to half_open)."""
    return {
        "fastbreaker.state{fastbreaker.state=closed}": int(state == "closed"),
        "fastbreaker.state{fastbreaker.state=open}": int(state == "open"),
        "fastbreaker.state{fastbreaker.state=half_open}": int(state == "half_open"),
        "fastbreaker.state{fastbreaker.state=isolated}": int(state == "isolated"),
        "fastbreaker.state{fastbreaker.state=disabled}": int(state == "disabled"),
        "fastbreaker.calls{fastbreaker.outcome=success}": calls[0],
        "fastbreaker.calls{fastbreaker.outcome=failure}": calls[1],
        "fastbreaker.calls{fastbreaker.outcome=ignored}": calls[2],
        "fastbreaker.calls{fastbreaker.outcome=rejected}": calls[3],
        "fastbreaker.transitions{fastbreaker.to_state=closed}": transitions[0],
        "fastbreaker.transitions{fastbreaker.to_state=open}": transitions[1],
        "fastbreaker.transitions{fastbreaker.to_state=half_open}": transitions[2],
        "fastbreaker.transitions{fastbreaker.to_state=isolated}": transitions[3],
        "fastbreaker.transitions{fastbreaker.to_state=disabled}": transitions[4],
        "fastbreaker.failure_count": failure_count,
        "fastbreaker.retry_after": retry_after,
    }


SUCCESSES = "fastbreaker.calls{fastbreaker.outcome=success}"


@pytest.fixture
def reader() -> Iterator[InMemoryMetricReader]:
    """An in-memory reader on a meter provider of this test's own, instrumented."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    otel_metrics.instrument(provider)
    yield reader
    provider.shutdown()


@pytest.fixture
def provider_and_reader() -> Iterator[Tuple[MeterProvider, InMemoryMetricReader]]:
    """A meter provider of this test's own, not instrumented, and its in-memory reader."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    yield provider, reader
    provider.shutdown()


def fail() -> None:
    raise ConnectionError("service down")


def misuse() -> None:
    raise ValueError("the caller's mistake")


def test_every_point_after_each_outcome_and_a_full_cycle(reader, unique_name):
    breaker = CircuitBreaker(
        name=unique_name,
        failure_threshold=2,
        recovery_timeout=30,
        success_threshold=1,
        expected_exceptions=(ConnectionError,),
    )
    assert Collected(reader).of(unique_name) == expected(
        "closed", (0, 0, 0, 0), (0, 0, 0, 0, 0), 0, 0.0
    )

    with manual_clock() as clock:
        breaker.call(lambda: "ok")
        with pytest.raises(ValueError):  # not an expected exception: ignored
            breaker.call(misuse)
        for _ in range(2):
            with pytest.raises(ConnectionError):
                breaker.call(fail)
        for _ in range(3):
            with pytest.raises(CircuitBreakerError):
                breaker.call(lambda: "never called")
        clock.advance(10)
        assert Collected(reader).of(unique_name) == expected(
            "open", (1, 2, 1, 3), (0, 1, 0, 0, 0), 2, 20.0
        )

        clock.advance(20)
        assert Collected(reader).of(unique_name) == expected(
            "half_open", (1, 2, 1, 3), (0, 1, 0, 0, 0), 2, 0.0
        )
        breaker.call(lambda: "ok")  # the trial closes the circuit
        assert Collected(reader).of(unique_name) == expected(
            "closed", (2, 2, 1, 3), (1, 1, 1, 0, 0), 0, 0.0
        )


def test_the_instruments_kinds_and_units(reader, unique_name):
    breaker = CircuitBreaker(name=unique_name)
    collected = Collected(reader)
    assert collected.instruments == {
        "fastbreaker.calls": ("Sum", "{call}", True),
        "fastbreaker.transitions": ("Sum", "{transition}", True),
        "fastbreaker.state": ("Sum", "1", False),
        "fastbreaker.failure_count": ("Gauge", "{failure}", None),
        "fastbreaker.retry_after": ("Gauge", "s", None),
    }
    assert breaker.name in collected.breakers()


def test_the_attribute_values_are_every_outcome_and_state_the_core_counts(reader, unique_name):
    breaker = CircuitBreaker(name=unique_name)
    status = breaker.get_status()
    points = Collected(reader).of(unique_name)
    outcomes = {key[:-1].split("=")[1] for key in points if key.startswith("fastbreaker.calls")}
    to_states = {
        key[:-1].split("=")[1] for key in points if key.startswith("fastbreaker.transitions")
    }
    assert outcomes == set(status["calls"])
    assert to_states == set(status["transitions"])


def test_a_collected_breaker_disappears_and_shared_names_are_told_apart(reader, unique_name):
    first = CircuitBreaker(name=unique_name)
    second = CircuitBreaker(name=unique_name)
    second.call(lambda: "ok")
    points = Collected(reader)
    [second_label] = [label for label in points.breakers() if label.startswith(unique_name + "#")]
    assert points.of(unique_name)[SUCCESSES] == 0
    assert points.of(second_label)[SUCCESSES] == 1
    del first
    gc.collect()
    points = Collected(reader)
    assert points.of(unique_name)[SUCCESSES] == 1  # the second is the only one left
    assert second_label not in points.breakers()


def test_instrument_is_idempotent_per_meter_provider(provider_and_reader, unique_name):
    provider, reader = provider_and_reader
    breaker = CircuitBreaker(name=unique_name)
    breaker.call(lambda: "ok")
    instrumentation = otel_metrics.instrument(provider)
    assert otel_metrics.instrument(provider) is instrumentation
    # Each point once (`Collected` refuses a point observed twice), with its value.
    assert Collected(reader).of(unique_name)[SUCCESSES] == 1


def test_close_stops_the_reports_and_instrument_resumes_them(provider_and_reader, unique_name):
    provider, reader = provider_and_reader
    breaker = CircuitBreaker(name=unique_name)
    instrumentation = otel_metrics.instrument(provider)
    assert not instrumentation.closed
    assert breaker.name in Collected(reader).breakers()

    instrumentation.close()
    assert instrumentation.closed
    assert Collected(reader).breakers() == set()

    assert otel_metrics.instrument(provider) is instrumentation
    assert not instrumentation.closed
    breaker.call(lambda: "ok")
    assert Collected(reader).of(unique_name)[SUCCESSES] == 1


def test_each_meter_provider_has_its_own_instruments(unique_name):
    readers = [InMemoryMetricReader(), InMemoryMetricReader()]
    providers = [MeterProvider(metric_readers=[r], shutdown_on_exit=False) for r in readers]
    try:
        first, second = (otel_metrics.instrument(p) for p in providers)
        assert first is not second
        breaker = CircuitBreaker(name=unique_name)
        first.close()
        assert breaker.name not in Collected(readers[0]).breakers()
        assert breaker.name in Collected(readers[1]).breakers()
    finally:
        for provider in providers:
            provider.shutdown()


def test_instrument_defaults_to_the_global_meter_provider():
    # Whatever the global provider is (OpenTelemetry's proxy, here: the tests never set one),
    # instrument() with no argument is instrument() of it.
    instrumentation = otel_metrics.instrument()
    try:
        assert otel_metrics.instrument(get_meter_provider()) is instrumentation
    finally:
        instrumentation.close()


def test_a_breaker_that_fails_at_collection_is_skipped_and_logged_once(
    reader, unique_name, broken_breaker, caplog
):
    healthy = CircuitBreaker(name=unique_name)
    healthy.call(lambda: "ok")
    broken = broken_breaker
    with caplog.at_level(logging.ERROR, logger="fastbreaker"):
        for _ in range(3):
            points = Collected(reader)
            assert points.of(unique_name) == expected(
                "closed", (1, 0, 0, 0), (0, 0, 0, 0, 0), 0, 0.0
            )
            assert broken not in points.breakers()
    # Five instruments, three collections: one line.
    [record] = [r for r in caplog.records if broken in r.getMessage()]
    assert record.name == "fastbreaker" and record.levelno == logging.ERROR
    assert record.exc_info is not None and "the store exploded" in str(record.exc_info[1])


def test_without_opentelemetry_the_import_says_what_to_install():
    code = (
        "import sys; sys.modules['opentelemetry'] = None\n"
        "try:\n"
        "    import fastbreaker.metrics.opentelemetry\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert "pip install 'fastbreaker[opentelemetry]'" in result.stdout


@pytest.mark.parametrize("bad", ["global", 0, object()])
def test_instrument_refuses_what_is_not_a_meter_provider(bad):
    with pytest.raises(TypeError, match="meter_provider must be an opentelemetry"):
        otel_metrics.instrument(bad)
