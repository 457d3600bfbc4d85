"""fastbreaker: a circuit breaker for Python services, with its state machine in Rust.

The public API::

    from fastbreaker import CircuitBreaker, CircuitBreakerError, CircuitState, circuit_breaker

Fleet-wide breakers: ``RedisStore(url)``, passed as ``store=`` or made the process default with
``set_default_store`` (or the environment variable ``FASTBREAKER_STORE_URL``, read at import).

Drop-in modules for existing services: :mod:`fastbreaker.circuit_breaker`,
:mod:`fastbreaker.external_service_client`; the health endpoint: :mod:`fastbreaker.health`;
test helpers: :mod:`fastbreaker.testing` (and the pytest fixtures of ``fastbreaker.pytest_plugin``);
metrics: :mod:`fastbreaker.metrics`. ``all_circuit_breakers()`` lists every live named breaker.
"""

import logging
import os
from typing import TYPE_CHECKING

from . import _core
from ._core import (
    CircuitBreaker,
    CircuitBreakerError,
    Permit,
    RedisStore,
    TransitionEvent,
    __version__,
    all_circuit_breakers,
    get_all_circuit_breaker_statuses,
    get_circuit_breaker,
    get_circuit_breaker_status,
    get_default_store,
    reset_circuit_breaker,
    set_default_store,
)
from ._state import (
    CallCounts,
    CircuitBreakerStatus,
    CircuitState,
    TransitionCounts,
    WindowTotals,
)

if TYPE_CHECKING:
    from .circuit_breaker import circuit_breaker
else:
    # `fastbreaker.circuit_breaker` is both the documented module (`import
    # fastbreaker.circuit_breaker as m` must give it) and the decorator (`from fastbreaker import
    # circuit_breaker`): the module, made callable as the decorator.
    from . import circuit_breaker

__all__ = [
    "CallCounts",
    "CircuitBreaker",
    "CircuitBreakerError",
    "CircuitBreakerStatus",
    "CircuitState",
    "Permit",
    "RedisStore",
    "TransitionCounts",
    "WindowTotals",
    "TransitionEvent",
    "__version__",
    "all_circuit_breakers",
    "circuit_breaker",
    "get_all_circuit_breaker_statuses",
    "get_circuit_breaker",
    "get_circuit_breaker_status",
    "get_default_store",
    "reset_circuit_breaker",
    "set_default_store",
]

# A library logs; the application decides where to. Without this, Python's last-resort handler
# would print every WARNING (a circuit opening) to stderr in applications that configured nothing.
logging.getLogger("fastbreaker").addHandler(logging.NullHandler())

# A forked child (gunicorn's workers, multiprocessing's fork start method) must not use the
# parent's connections to a shared store, nor count on its background thread.
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_core._after_fork)

# How a service that only uses the drop-in API becomes fleet-wide without changing a line.
_store_url = os.environ.get("FASTBREAKER_STORE_URL", "").strip()
if _store_url:
    try:
        set_default_store(_store_url)
    except ValueError as error:
        raise ValueError(f"FASTBREAKER_STORE_URL: {error}") from None
del _store_url
