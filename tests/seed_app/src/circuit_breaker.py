from fastbreaker.circuit_breaker import *  # noqa: F401,F403
