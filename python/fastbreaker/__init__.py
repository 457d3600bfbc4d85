"""fastbreaker: a circuit breaker for Python services, with its state machine in Rust.

The public API::

    from fastbreaker import CircuitBreaker, CircuitBreakerError, CircuitState, circuit_breaker

Drop-in modules for existing services: :mod:`fastbreaker.circuit_breaker`,
:mod:`fastbreaker.external_service_client`; the health endpoint: :mod:`fastbreaker.health`;
test helpers: :mod:`fastbreaker.testing`.
"""

import logging
from typing import TYPE_CHECKING

from ._core import (
    CircuitBreaker,
    CircuitBreakerError,
    Permit,
    TransitionEvent,
    __version__,
    get_all_circuit_breaker_statuses,
    get_circuit_breaker,
    get_circuit_breaker_status,
    reset_circuit_breaker,
)
from ._state import CircuitBreakerStatus, CircuitState

if TYPE_CHECKING:
    from .circuit_breaker import circuit_breaker
else:
    # `fastbreaker.circuit_breaker` is both the documented module (`import
    # fastbreaker.circuit_breaker as m` must give it) and the decorator (`from fastbreaker import
    # circuit_breaker`): the module, made callable as the decorator.
    from . import circuit_breaker

__all__ = [
    "CircuitBreaker",
    "CircuitBreakerError",
    "CircuitBreakerStatus",
    "CircuitState",
    "Permit",
    "TransitionEvent",
    "__version__",
    "circuit_breaker",
    "get_all_circuit_breaker_statuses",
    "get_circuit_breaker",
    "get_circuit_breaker_status",
    "reset_circuit_breaker",
]

# A library logs; the application decides where to. Without this, Python's last-resort handler
# would print every WARNING (a circuit opening) to stderr in applications that configured nothing.
logging.getLogger("fastbreaker").addHandler(logging.NullHandler())
