"""OpenTelemetry metrics of every live named breaker: observable instruments on a meter.

``pip install 'fastbreaker[opentelemetry]'`` (the API only; the application brings the SDK and its
exporter), then, once at start-up::

    from fastbreaker.metrics import opentelemetry

    opentelemetry.instrument()  # on the global meter provider

The instruments' callbacks read the breakers when the SDK collects (``all_circuit_breakers()``,
then each one's ``get_status()``); nothing runs on a protected call. Every measurement has the
attribute ``fastbreaker.breaker`` (the breaker's name):

- ``fastbreaker.calls`` (ObservableCounter, ``{call}``): calls by ``fastbreaker.outcome``,
  ``success``, ``failure``, ``ignored`` or ``rejected``, since the breaker was created.
- ``fastbreaker.transitions`` (ObservableCounter, ``{transition}``): transitions by
  ``fastbreaker.to_state``, made by this process or learned from others through a shared store.
- ``fastbreaker.state`` (ObservableUpDownCounter, ``1``): one measurement per
  ``fastbreaker.state``, 1 for the circuit's state and 0 for the two others (summed over
  processes: how many are in each state).
- ``fastbreaker.failure_count`` (ObservableGauge, ``{failure}``): the failures counted towards
  opening.
- ``fastbreaker.retry_after`` (ObservableGauge, ``s``): seconds until an open circuit admits a
  trial, 0 otherwise.

The instruments are created once per meter provider: ``instrument()`` on a provider it already
instrumented returns the same :class:`Instrumentation`. OpenTelemetry has no way to remove an
instrument, so :meth:`Instrumentation.close` makes its callbacks observe nothing; a later
``instrument()`` on that provider makes them report again.
"""

from __future__ import annotations

import threading
import weakref
from typing import Callable, Iterable, Iterator, Optional

try:
    from opentelemetry.metrics import (
        CallbackOptions,
        MeterProvider,
        Observation,
        get_meter_provider,
    )
except ImportError as error:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        "fastbreaker.metrics.opentelemetry needs opentelemetry-api: "
        "pip install 'fastbreaker[opentelemetry]'"
    ) from error

from .. import __version__
from . import CALL_OUTCOMES, STATES, BreakerReader, BreakerReading

__all__ = ["Instrumentation", "instrument"]

#: The name of the meter (the instrumentation scope) the instruments are created on.
METER_NAME = "fastbreaker"


class Instrumentation:
    """The instruments :func:`instrument` created on one meter provider (made by
    :func:`instrument` only: one per provider).

    While open, their callbacks report every live named breaker; once :meth:`close` d, they
    observe nothing (OpenTelemetry cannot remove an instrument). A breaker whose status cannot be
    read is left out of that collection and logged once on the ``fastbreaker`` logger, so one
    breaker cannot lose the others' measurements.
    """

    def __init__(self, meter_provider: MeterProvider) -> None:
        # The provider is not kept: the instruments it holds keep this object alive, and this
        # object must not keep the provider alive (the registry of instrumented providers holds
        # it weakly).
        self._closed = False
        self._reader = BreakerReader("fastbreaker.metrics.opentelemetry")
        meter = meter_provider.get_meter(METER_NAME, __version__)
        meter.create_observable_counter(
            "fastbreaker.calls",
            callbacks=[self._callback(_observe_calls)],
            unit="{call}",
            description="Calls through the breaker by outcome "
            "(success, failure, ignored, rejected).",
        )
        meter.create_observable_counter(
            "fastbreaker.transitions",
            callbacks=[self._callback(_observe_transitions)],
            unit="{transition}",
            description="Transitions of the circuit by the state they went to.",
        )
        meter.create_observable_up_down_counter(
            "fastbreaker.state",
            callbacks=[self._callback(_observe_state)],
            unit="1",
            description="Whether the circuit is in this state (1) or not (0); "
            "one measurement per state.",
        )
        meter.create_observable_gauge(
            "fastbreaker.failure_count",
            callbacks=[self._callback(_observe_failure_count)],
            unit="{failure}",
            description="Failures counted towards opening the circuit.",
        )
        meter.create_observable_gauge(
            "fastbreaker.retry_after",
            callbacks=[self._callback(_observe_retry_after)],
            unit="s",
            description="Seconds until an open circuit admits a trial call (0 otherwise).",
        )

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` stopped the instruments reporting."""
        return self._closed

    def close(self) -> None:
        """Stops the instruments reporting: from the next collection, they observe nothing."""
        self._closed = True

    def _reopen(self) -> None:
        self._closed = False

    def _callback(
        self, observe: Callable[[BreakerReading], Iterable[Observation]]
    ) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def callback(options: CallbackOptions) -> Iterable[Observation]:
            if self._closed:
                return []
            return [
                observation for reading in self._reader.read() for observation in observe(reading)
            ]

        return callback

    def __repr__(self) -> str:
        return f"<fastbreaker Instrumentation ({'closed' if self._closed else 'open'})>"


def _observe_calls(reading: BreakerReading) -> Iterator[Observation]:
    for outcome in CALL_OUTCOMES:
        yield Observation(
            reading.calls[outcome],
            {"fastbreaker.breaker": reading.breaker, "fastbreaker.outcome": outcome},
        )


def _observe_transitions(reading: BreakerReading) -> Iterator[Observation]:
    for state in STATES:
        yield Observation(
            reading.transitions[state],
            {"fastbreaker.breaker": reading.breaker, "fastbreaker.to_state": state},
        )


def _observe_state(reading: BreakerReading) -> Iterator[Observation]:
    for state in STATES:
        yield Observation(
            1 if reading.state == state else 0,
            {"fastbreaker.breaker": reading.breaker, "fastbreaker.state": state},
        )


def _observe_failure_count(reading: BreakerReading) -> Iterator[Observation]:
    yield Observation(reading.failure_count, {"fastbreaker.breaker": reading.breaker})


def _observe_retry_after(reading: BreakerReading) -> Iterator[Observation]:
    yield Observation(reading.retry_after, {"fastbreaker.breaker": reading.breaker})


_lock = threading.Lock()
# The instrumentation of each meter provider (held weakly: a provider that is dropped takes its
# entry with it).
_instrumented: weakref.WeakKeyDictionary[MeterProvider, Instrumentation] = (
    weakref.WeakKeyDictionary()
)


def instrument(meter_provider: Optional[MeterProvider] = None) -> Instrumentation:
    """Creates the instruments on ``meter_provider`` (default: the global one,
    ``opentelemetry.metrics.get_meter_provider()``) and returns their :class:`Instrumentation`.

    Idempotent per meter provider: on a provider already instrumented, it returns the same
    :class:`Instrumentation`, reopened if it was closed, so nothing is ever observed twice.
    Called before the application sets its global provider, the instruments go through
    OpenTelemetry's proxy provider and report once one is set.
    """
    if meter_provider is None:
        meter_provider = get_meter_provider()
    elif not isinstance(meter_provider, MeterProvider):
        raise TypeError(
            "meter_provider must be an opentelemetry.metrics.MeterProvider or None, got "
            f"{type(meter_provider).__qualname__}"
        )
    with _lock:
        instrumentation = _instrumented.get(meter_provider)
        if instrumentation is None:
            instrumentation = Instrumentation(meter_provider)
            _instrumented[meter_provider] = instrumentation
        else:
            instrumentation._reopen()
        return instrumentation
