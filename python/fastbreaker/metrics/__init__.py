"""Metrics of every live named breaker, for Prometheus and OpenTelemetry.

- :mod:`fastbreaker.metrics.prometheus`: a collector for ``prometheus_client``
  (``pip install 'fastbreaker[prometheus]'``), registered with one call, ``register()``.
- :mod:`fastbreaker.metrics.opentelemetry`: observable instruments on an OpenTelemetry meter
  (``pip install 'fastbreaker[opentelemetry]'``), created with one call, ``instrument()``.

Both read the breakers when they are scraped or collected (``all_circuit_breakers()``, then each
one's ``get_status()``): nothing runs on a protected call. The counts are this process's: under a
server with several worker processes, each worker has its own breakers and its own counts.

This module holds what the two exporters share (internal, nothing here is public API): the label
values, and the one reading of the breakers, which skips (and logs once) a breaker whose status
cannot be read rather than failing the whole scrape.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Dict, List, Literal, NamedTuple, Set, Tuple

from .. import all_circuit_breakers

__all__: List[str] = []

_logger = logging.getLogger("fastbreaker")

State = Literal["closed", "open", "half_open", "isolated", "disabled"]
Outcome = Literal["success", "failure", "ignored", "rejected"]

#: The states a circuit can be in (the keys of ``get_status()["transitions"]``), in the order the
#: series are written.
STATES: Tuple[State, ...] = ("closed", "open", "half_open", "isolated", "disabled")
#: The outcomes of a call (the keys of ``get_status()["calls"]``), in the order the series are
#: written. An outcome the core comes to count (slow calls, with slow-call policies) is added here
#: and to ``Outcome``; the tests check that the exported ones are the core's.
CALL_OUTCOMES: Tuple[Outcome, ...] = ("success", "failure", "ignored", "rejected")


class BreakerReading(NamedTuple):
    """What the exporters report about one breaker, read from one ``get_status()``.

    A new metric is a new field here (read in :meth:`BreakerReader.read`) and one instrument in
    each exporter; rate metrics arrive with windowed trip policies.
    """

    #: The ``breaker`` label: the breaker's key in ``all_circuit_breakers()`` (its name, or
    #: ``name#17`` for another live breaker of the same name: its own number, stable while it
    #: lives).
    breaker: str
    state: str
    #: Calls by outcome, one entry per :data:`CALL_OUTCOMES`.
    calls: Dict[str, int]
    #: Transitions by the state they went to, one entry per :data:`STATES`.
    transitions: Dict[str, int]
    failure_count: int
    #: Seconds until an open circuit admits a trial; ``math.inf`` while isolated (until reset).
    retry_after: float


class BreakerReader:
    """Reads every live named breaker for one exporter.

    A breaker whose status cannot be read (an exception from ``get_status()``, or a status without
    the expected fields) is left out of that reading, so one breaker cannot fail a whole scrape;
    the first time each breaker fails, the error is logged with its traceback on the
    ``fastbreaker`` logger, at ERROR (later failures of the same breaker are not logged again).
    """

    def __init__(self, exporter: str) -> None:
        self._exporter = exporter
        self._lock = threading.Lock()
        self._reported: Set[str] = set()

    def read(self) -> List[BreakerReading]:
        """One reading of every live named breaker, in ``all_circuit_breakers()``'s order."""
        readings = []
        for label, breaker in all_circuit_breakers().items():
            try:
                status = breaker.get_status()
                calls = status["calls"]
                transitions = status["transitions"]
                retry_after = status["retry_after"]
                reading = BreakerReading(
                    breaker=label,
                    state=status["state"],
                    calls={outcome: calls[outcome] for outcome in CALL_OUTCOMES},
                    transitions={state: transitions[state] for state in STATES},
                    failure_count=status["failure_count"],
                    retry_after=math.inf if retry_after is None else retry_after,
                )
            except Exception as error:
                self._report(label, error)
                continue
            readings.append(reading)
        return readings

    def _report(self, label: str, error: Exception) -> None:
        with self._lock:
            if label in self._reported:
                return
            self._reported.add(label)
        _logger.error(
            "%s: could not read circuit breaker %r, left out of the metrics; "
            "its later errors will not be logged",
            self._exporter,
            label,
            exc_info=error,
        )
