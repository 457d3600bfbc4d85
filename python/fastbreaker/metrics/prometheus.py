"""Prometheus metrics of every live named breaker: a collector for ``prometheus_client``.

``pip install 'fastbreaker[prometheus]'``, then, once at start-up::

    from fastbreaker.metrics import prometheus

    prometheus.register()  # on prometheus_client's global REGISTRY

The collector reads the breakers at scrape time (``all_circuit_breakers()``, then each one's
``get_status()``); nothing runs on a protected call. Each series is labelled by ``breaker``:

- ``fastbreaker_state{breaker, state}`` (gauge): one series per state, 1 for the circuit's state
  and 0 for the two others.
- ``fastbreaker_calls_total{breaker, outcome}`` (counter): calls by outcome, ``success``,
  ``failure``, ``ignored`` or ``rejected``, since the breaker was created (``reset()`` does not
  zero them).
- ``fastbreaker_transitions_total{breaker, to_state}`` (counter): transitions by the state they
  went to, made by this process or learned from others through a shared store.
- ``fastbreaker_failure_count{breaker}`` (gauge): the failures counted towards opening.
- ``fastbreaker_retry_after_seconds{breaker}`` (gauge): seconds until an open circuit admits a
  trial, 0 otherwise.

``register()`` is idempotent per registry: a second call on the same registry returns the
collector already there. ``unregister()`` removes it.
"""

from __future__ import annotations

import threading
import weakref
from typing import Iterator, List, Optional

try:
    from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
    from prometheus_client.registry import REGISTRY, Collector, CollectorRegistry
except ImportError as error:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        "fastbreaker.metrics.prometheus needs prometheus_client: "
        "pip install 'fastbreaker[prometheus]'"
    ) from error

from . import CALL_OUTCOMES, STATES, BreakerReader, BreakerReading

__all__ = ["CircuitBreakerCollector", "register", "unregister"]


class CircuitBreakerCollector(Collector):
    """A ``prometheus_client`` collector of every live named breaker's metrics.

    :func:`register` creates and registers one; a collector made by hand is registered with
    ``registry.register(collector)`` like any other. A breaker whose status cannot be read at
    scrape time is left out of that scrape (and logged once on the ``fastbreaker`` logger), so
    one breaker cannot fail the whole scrape.
    """

    def __init__(self) -> None:
        self._reader = BreakerReader("fastbreaker.metrics.prometheus")

    def describe(self) -> List[Metric]:
        """The metric families without samples: the registry learns the names from this, so
        registering reads no breaker."""
        return list(_families([]))

    def collect(self) -> List[Metric]:
        """The metric families with one sample set per live named breaker."""
        return list(_families(self._reader.read()))


def _families(readings: List[BreakerReading]) -> Iterator[Metric]:
    state = GaugeMetricFamily(
        "fastbreaker_state",
        "Whether the circuit is in this state (1) or not (0); one series per state.",
        labels=["breaker", "state"],
    )
    calls = CounterMetricFamily(
        "fastbreaker_calls",
        "Calls through the breaker by outcome (success, failure, ignored, rejected).",
        labels=["breaker", "outcome"],
    )
    transitions = CounterMetricFamily(
        "fastbreaker_transitions",
        "Transitions of the circuit by the state they went to.",
        labels=["breaker", "to_state"],
    )
    failure_count = GaugeMetricFamily(
        "fastbreaker_failure_count",
        "Failures counted towards opening the circuit.",
        labels=["breaker"],
    )
    retry_after = GaugeMetricFamily(
        "fastbreaker_retry_after_seconds",
        "Seconds until an open circuit admits a trial call (0 otherwise).",
        labels=["breaker"],
        unit="seconds",
    )
    for reading in readings:
        for name in STATES:
            state.add_metric([reading.breaker, name], 1.0 if reading.state == name else 0.0)
        for outcome in CALL_OUTCOMES:
            calls.add_metric([reading.breaker, outcome], reading.calls[outcome])
        for name in STATES:
            transitions.add_metric([reading.breaker, name], reading.transitions[name])
        failure_count.add_metric([reading.breaker], reading.failure_count)
        retry_after.add_metric([reading.breaker], reading.retry_after)
    yield from (state, calls, transitions, failure_count, retry_after)


_lock = threading.Lock()
# The collector that `register()` put on each registry (held weakly: a registry that is dropped
# takes its entry with it).
_registered: weakref.WeakKeyDictionary[CollectorRegistry, CircuitBreakerCollector] = (
    weakref.WeakKeyDictionary()
)


def _registry(registry: Optional[CollectorRegistry]) -> CollectorRegistry:
    if registry is None:
        return REGISTRY
    if not isinstance(registry, CollectorRegistry):
        raise TypeError(
            "registry must be a prometheus_client CollectorRegistry or None, got "
            f"{type(registry).__qualname__}"
        )
    return registry


def register(registry: Optional[CollectorRegistry] = None) -> CircuitBreakerCollector:
    """Registers a :class:`CircuitBreakerCollector` on ``registry`` (default:
    ``prometheus_client``'s global ``REGISTRY``) and returns it.

    Idempotent: on a registry where ``register()`` already put one, it returns that collector
    (registered again if it was taken off with ``registry.unregister``), so the series are never
    written twice. A registry on which something else already writes ``fastbreaker_*`` metrics
    (a :class:`CircuitBreakerCollector` registered by hand, say) raises ``ValueError`` from
    ``registry.register``.
    """
    registry = _registry(registry)
    with _lock:
        collector = _registered.get(registry)
        if collector is not None:
            try:
                registry.register(collector)  # only succeeds if it was unregistered by hand
            except ValueError:  # already there: its names are taken
                pass
            return collector
        collector = CircuitBreakerCollector()
        registry.register(collector)
        _registered[registry] = collector
        return collector


def unregister(registry: Optional[CollectorRegistry] = None) -> bool:
    """Takes the collector that :func:`register` put on ``registry`` (default: the global
    ``REGISTRY``) off it; returns whether there was one."""
    registry = _registry(registry)
    with _lock:
        collector = _registered.pop(registry, None)
        if collector is None:
            return False
        try:
            registry.unregister(collector)
        except KeyError:  # already taken off with registry.unregister
            pass
        return True
