"""pytest fixtures for code protected by fastbreaker.

Installing fastbreaker registers this plugin with pytest (the ``pytest11`` entry point
``fastbreaker``). It only defines fixtures, so it does nothing in a test that does not ask for one:
no autouse fixture, no hook. ``-p no:fastbreaker`` turns it off; under
``PYTEST_DISABLE_PLUGIN_AUTOLOAD``, ``-p fastbreaker`` turns it on. Naming the module
(``-p fastbreaker.pytest_plugin``, ``pytest_plugins``) where the entry point loads it as well
makes pytest refuse to start: one plugin, registered under two names.

``breaker_registry``
    Isolates the process-wide registry of named breakers (``get_circuit_breaker(name)``, and the
    breakers of ``protected_*``, ``CircuitBreakerAdapter`` and the httpx transports, which come
    from it) for one test. When the test starts, every breaker already registered is reset
    (``reset()``: closed, failure and success counts zeroed), so an open circuit left by an
    earlier test does not leak into it; those breakers stay registered and visible. When it ends,
    the registry holds exactly the entries it held before (the same objects), each reset again,
    and the breakers registered during the test are reset and dropped from it: the next
    ``get_circuit_breaker(name)`` creates a new one. It yields a :class:`BreakerRegistry`, a
    read-only view of the registry. Not restored: listeners a test adds to a breaker registered
    before it, and the ``calls``/``transitions`` counters of the status (never zeroed). An
    object that took a breaker from the registry during the test (an adapter, a transport, a
    module global) keeps using it afterwards, reset but no longer registered. ``reset()`` acts on
    the breaker's store: a breaker in a shared ``RedisStore`` is reset for the whole fleet.

``manual_clock``
    Freezes the clock every breaker reads for the test's duration and yields the
    :class:`fastbreaker.testing.ManualClock` that moves it (``clock.advance(seconds)``), as
    ``with fastbreaker.testing.manual_clock()`` does: recovery timeouts pass without sleeping.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Iterator, Mapping

import pytest

from ._core import CircuitBreaker, _registry_restore, _registry_snapshot
from ._state import CircuitBreakerStatus

if TYPE_CHECKING:
    from .testing import ManualClock

__all__ = ["BreakerRegistry", "breaker_registry", "manual_clock"]


class BreakerRegistry(Mapping[str, CircuitBreaker]):
    """A read-only view of the process-wide registry, as the ``breaker_registry`` fixture yields
    it: ``registry[name]`` is the breaker registered under ``name`` (``KeyError`` if there is
    none), ``registry.get(name)`` the same or ``None``; ``name in registry``, ``len(registry)``
    and iteration (over the names) work as for a dict. Each access reads the registry as it is at
    that moment, and none creates a breaker (``fastbreaker.get_circuit_breaker(name)`` does).
    ``statuses()`` is ``{name: status}`` of every registered breaker."""

    __slots__ = ()

    def __getitem__(self, name: str) -> CircuitBreaker:
        return _registry_snapshot()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(_registry_snapshot())

    def __len__(self) -> int:
        return len(_registry_snapshot())

    def statuses(self) -> Dict[str, CircuitBreakerStatus]:
        """``{name: breaker.get_status()}`` for every registered breaker."""
        return {name: breaker.get_status() for name, breaker in _registry_snapshot().items()}

    def __repr__(self) -> str:
        return f"<BreakerRegistry {sorted(_registry_snapshot())!r}>"


@pytest.fixture
def breaker_registry() -> Iterator[BreakerRegistry]:
    """The process-wide breaker registry, isolated for this test (see the module's docstring)."""
    before = _registry_snapshot()
    for breaker in before.values():
        breaker.reset()
    yield BreakerRegistry()
    during = _registry_snapshot()
    _registry_restore(before)
    for name, breaker in during.items():
        if before.get(name) is not breaker:
            breaker.reset()  # still used by whatever kept it (an adapter, a module global)
    for breaker in before.values():
        breaker.reset()


@pytest.fixture
def manual_clock() -> Iterator[ManualClock]:
    """The manual clock every breaker reads during this test (``fastbreaker.testing``)."""
    from .testing import manual_clock as manual_clock_context

    with manual_clock_context() as clock:
        yield clock
