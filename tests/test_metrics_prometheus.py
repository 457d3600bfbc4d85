"""fastbreaker.metrics.prometheus: what a real prometheus_client registry exposes, parsed back
from its text exposition, after driving real breakers."""

from __future__ import annotations

import gc
import logging
import math
import subprocess
import sys
import threading
from typing import Dict, Iterator, List, Tuple

import fastbreaker.metrics
import pytest
from fastbreaker import CircuitBreaker, CircuitBreakerError, circuit_breaker, get_circuit_breaker
from fastbreaker.metrics import STATES, prometheus
from fastbreaker.testing import manual_clock
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

Sample = Tuple[str, Dict[str, str], float]
SUCCESSES = 'fastbreaker_calls_total{outcome="success"}'


def scrape(registry: CollectorRegistry) -> List[Sample]:
    """Every sample of the registry's exposition, as Prometheus would read it."""
    text = generate_latest(registry).decode()
    return [
        (sample.name, dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def series(samples: List[Sample], breaker: str) -> Dict[str, float]:
    """One breaker's samples, keyed `name{label="value",...}` without the `breaker` label."""
    found: Dict[str, float] = {}
    for name, labels, value in samples:
        if labels.get("breaker") != breaker:
            continue
        rest = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "breaker")
        key = f"{name}{{{rest}}}" if rest else name
        assert key not in found, f"{key} written twice"
        found[key] = value
    return found


def breakers_in(samples: List[Sample]) -> List[str]:
    """The `breaker` label values of the state series, in exposition order."""
    return [labels["breaker"] for name, labels, _ in samples if name == "fastbreaker_state"][
        :: len(STATES)
    ]


def expected(
    state: str,
    calls: Tuple[int, int, int, int],
    transitions: Tuple[int, ...],
    failure_count: int,
    retry_after: float,
) -> Dict[str, float]:
    """Every series of one breaker: calls as (success, failure, ignored, rejected), transitions
    as (to closed, to open, to half_open)."""
    return {
        'fastbreaker_state{state="closed"}': float(state == "closed"),
        'fastbreaker_state{state="open"}': float(state == "open"),
        'fastbreaker_state{state="half_open"}': float(state == "half_open"),
        'fastbreaker_state{state="isolated"}': float(state == "isolated"),
        'fastbreaker_state{state="disabled"}': float(state == "disabled"),
        'fastbreaker_calls_total{outcome="success"}': calls[0],
        'fastbreaker_calls_total{outcome="failure"}': calls[1],
        'fastbreaker_calls_total{outcome="ignored"}': calls[2],
        'fastbreaker_calls_total{outcome="rejected"}': calls[3],
        'fastbreaker_transitions_total{to_state="closed"}': transitions[0],
        'fastbreaker_transitions_total{to_state="open"}': transitions[1],
        'fastbreaker_transitions_total{to_state="half_open"}': transitions[2],
        'fastbreaker_transitions_total{to_state="isolated"}': transitions[3],
        'fastbreaker_transitions_total{to_state="disabled"}': transitions[4],
        "fastbreaker_failure_count": failure_count,
        "fastbreaker_retry_after_seconds": retry_after,
    }


@pytest.fixture
def registry() -> Iterator[CollectorRegistry]:
    registry = CollectorRegistry()
    prometheus.register(registry)
    yield registry
    prometheus.unregister(registry)


def fail() -> None:
    raise ConnectionError("service down")


def misuse() -> None:
    raise ValueError("the caller's mistake")


def test_every_series_after_each_outcome_and_a_full_cycle(registry, unique_name):
    breaker = CircuitBreaker(
        name=unique_name,
        failure_threshold=2,
        recovery_timeout=30,
        success_threshold=1,
        expected_exceptions=(ConnectionError,),
    )
    assert series(scrape(registry), unique_name) == expected(
        "closed", (0, 0, 0, 0), (0, 0, 0, 0, 0), 0, 0
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
        assert series(scrape(registry), unique_name) == expected(
            "open", (1, 2, 1, 3), (0, 1, 0, 0, 0), 2, 20.0
        )

        clock.advance(20)  # the timeout has passed: the next call is a trial
        assert series(scrape(registry), unique_name) == expected(
            "half_open", (1, 2, 1, 3), (0, 1, 0, 0, 0), 2, 0.0
        )
        breaker.call(lambda: "ok")
        assert series(scrape(registry), unique_name) == expected(
            "closed", (2, 2, 1, 3), (1, 1, 1, 0, 0), 0, 0.0
        )

    breaker.open()
    breaker.reset()  # closes the circuit, but never zeroes the counters
    assert series(scrape(registry), unique_name) == expected(
        "closed", (2, 2, 1, 3), (2, 2, 1, 0, 0), 0, 0.0
    )

    breaker.isolate()  # open until reset(): the time left is infinite
    assert series(scrape(registry), unique_name) == expected(
        "isolated", (2, 2, 1, 3), (2, 2, 1, 1, 0), 0, math.inf
    )


def test_the_metric_families_and_their_types(registry, unique_name):
    breaker = CircuitBreaker(name=unique_name)
    text = generate_latest(registry).decode()
    families = {
        family.name: family.type
        for family in text_string_to_metric_families(text)
        if family.name.startswith("fastbreaker_")
    }
    assert families == {
        "fastbreaker_state": "gauge",
        "fastbreaker_calls": "counter",
        "fastbreaker_transitions": "counter",
        "fastbreaker_failure_count": "gauge",
        "fastbreaker_retry_after_seconds": "gauge",
    }
    assert breaker.name in breakers_in(scrape(registry))


def test_the_label_values_are_every_outcome_and_state_the_core_counts(registry, unique_name):
    breaker = CircuitBreaker(name=unique_name)
    status = breaker.get_status()
    found = series(scrape(registry), unique_name)
    outcomes = {key.split('"')[1] for key in found if key.startswith("fastbreaker_calls_total")}
    to_states = {
        key.split('"')[1] for key in found if key.startswith("fastbreaker_transitions_total")
    }
    assert outcomes == set(status["calls"])
    assert to_states == set(status["transitions"])


def test_registry_decorated_and_named_breakers_appear_auto_named_ones_do_not(registry, unique_name):
    from_registry = get_circuit_breaker(f"{unique_name}-registry")
    named = CircuitBreaker(name=f"{unique_name}-object")

    @circuit_breaker
    def fetch() -> str:
        return "ok"

    @circuit_breaker(name=f"{unique_name}-decorated")
    def fetch_named() -> str:
        return "ok"

    anonymous = CircuitBreaker()
    fetch()
    fetch_named()
    fetch_named()
    samples = scrape(registry)
    labels = breakers_in(samples)
    assert fetch.circuit_breaker.name == f"{__name__}.{fetch.__qualname__}"
    for breaker in (from_registry, named, fetch.circuit_breaker, fetch_named.circuit_breaker):
        assert labels.count(breaker.name) == 1
    assert anonymous.name not in labels
    assert series(samples, fetch.circuit_breaker.name)[SUCCESSES] == 1
    assert series(samples, f"{unique_name}-decorated")[SUCCESSES] == 2


def test_a_collected_breaker_disappears_from_the_next_scrape(registry, unique_name):
    breaker = CircuitBreaker(name=unique_name)
    keeper = CircuitBreaker(name=f"{unique_name}-kept")
    assert unique_name in breakers_in(scrape(registry))
    del breaker
    gc.collect()
    labels = breakers_in(scrape(registry))
    assert unique_name not in labels
    assert keeper.name in labels


def test_breakers_sharing_a_name_get_distinct_labels(registry, unique_name):
    first = CircuitBreaker(name=unique_name)
    second = CircuitBreaker(name=unique_name)
    shared = get_circuit_breaker(unique_name)  # the registry's comes first, under the name
    for breaker, calls in ((shared, 1), (first, 2), (second, 3)):
        for _ in range(calls):
            breaker.call(lambda: "ok")
    samples = scrape(registry)
    labels = fastbreaker.all_circuit_breakers()
    label_of = {id(breaker): label for label, breaker in labels.items()}
    assert label_of[id(shared)] == unique_name
    assert label_of[id(first)] != label_of[id(second)]
    for breaker, calls in ((shared, 1), (first, 2), (second, 3)):
        assert series(samples, label_of[id(breaker)])[SUCCESSES] == calls


def test_register_twice_returns_the_collector_already_there(unique_name):
    registry = CollectorRegistry()
    breaker = CircuitBreaker(name=unique_name)
    breaker.call(lambda: "ok")
    collector = prometheus.register(registry)
    assert prometheus.register(registry) is collector
    # Each series once (`series` refuses a key written twice), with its value.
    assert series(scrape(registry), unique_name)[SUCCESSES] == 1

    other = CollectorRegistry()
    assert prometheus.register(other) is not collector
    assert unique_name in breakers_in(scrape(other))

    assert prometheus.unregister(registry) is True
    assert prometheus.unregister(registry) is False
    assert breakers_in(scrape(registry)) == []
    assert unique_name in breakers_in(scrape(other))  # the other registry keeps its collector

    # Taken off by hand, the collector goes back on at the next register().
    again = prometheus.register(registry)
    registry.unregister(again)
    assert breakers_in(scrape(registry)) == []
    assert prometheus.register(registry) is again
    assert unique_name in breakers_in(scrape(registry))
    prometheus.unregister(registry)
    prometheus.unregister(other)


def test_a_collector_registered_by_hand_conflicts_with_register():
    registry = CollectorRegistry()
    registry.register(prometheus.CircuitBreakerCollector())
    with pytest.raises(ValueError, match="fastbreaker_state"):
        prometheus.register(registry)


def test_register_defaults_to_the_global_registry(unique_name):
    breaker = CircuitBreaker(name=unique_name)
    collector = prometheus.register()
    try:
        assert prometheus.register(REGISTRY) is collector
        assert breaker.name in breakers_in(scrape(REGISTRY))
    finally:
        assert prometheus.unregister() is True
    assert breaker.name not in breakers_in(scrape(REGISTRY))


def test_registering_reads_no_breaker(monkeypatch):
    # A registry that describes its collectors (the global one does) learns the names from
    # describe(), without a scrape: nothing is read at start-up, from a store or otherwise.
    reads = []
    monkeypatch.setattr(fastbreaker.metrics, "all_circuit_breakers", lambda: reads.append(1) or {})
    registry = CollectorRegistry(auto_describe=True)
    prometheus.register(registry)
    assert reads == []
    scrape(registry)
    assert reads == [1]


def test_a_breaker_that_fails_at_scrape_time_is_skipped_and_logged_once(
    registry, unique_name, broken_breaker, caplog
):
    healthy = CircuitBreaker(name=unique_name)
    healthy.call(lambda: "ok")
    broken = broken_breaker
    with caplog.at_level(logging.ERROR, logger="fastbreaker"):
        for _ in range(3):
            samples = scrape(registry)
            assert series(samples, unique_name)[SUCCESSES] == 1
            assert broken not in breakers_in(samples)
    [record] = [r for r in caplog.records if broken in r.getMessage()]
    assert record.name == "fastbreaker" and record.levelno == logging.ERROR
    assert record.exc_info is not None and "the store exploded" in str(record.exc_info[1])


def test_counts_stay_exact_while_threads_call_and_a_scraper_reads(registry, unique_name):
    breaker = CircuitBreaker(name=unique_name)
    threads, calls = 4, 2_000
    start = threading.Barrier(threads + 1)
    seen: List[float] = []

    def work() -> None:
        start.wait()
        for _ in range(calls):
            breaker.call(lambda: None)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()
    while any(worker.is_alive() for worker in workers):
        seen.append(series(scrape(registry), unique_name)[SUCCESSES])
    for worker in workers:
        worker.join()
    seen.append(series(scrape(registry), unique_name)[SUCCESSES])
    assert seen == sorted(seen)  # a counter never goes back
    assert seen[-1] == threads * calls


def test_without_prometheus_client_the_import_says_what_to_install():
    code = (
        "import sys; sys.modules['prometheus_client'] = None\n"
        "try:\n"
        "    import fastbreaker.metrics.prometheus\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert "pip install 'fastbreaker[prometheus]'" in result.stdout


@pytest.mark.parametrize("bad", ["REGISTRY", 0, object()])
def test_register_refuses_what_is_not_a_registry(bad):
    with pytest.raises(TypeError, match="registry must be a prometheus_client CollectorRegistry"):
        prometheus.register(bad)
    with pytest.raises(TypeError, match="registry must be"):
        prometheus.unregister(bad)
