from fastbreaker.circuit_breaker import *  # noqa: F403
