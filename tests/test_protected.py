"""Decorated functions: both call paths (vectorcall and tp_call) and an immutable type."""

from __future__ import annotations

import sys

import pytest
from fastbreaker import CircuitBreaker, CircuitBreakerError, _core

Py_TPFLAGS_IMMUTABLETYPE = 1 << 8
Py_TPFLAGS_HAVE_VECTORCALL = 1 << 11


def test_the_type_is_called_through_vectorcall():
    assert _core.Protected.__flags__ & Py_TPFLAGS_HAVE_VECTORCALL


@pytest.mark.skipif(sys.version_info < (3, 10), reason="immutable types exist from 3.10")
def test_the_type_is_immutable():
    assert _core.Protected.__flags__ & Py_TPFLAGS_IMMUTABLETYPE
    with pytest.raises(TypeError):
        _core.Protected.__call__ = lambda self, *args: "replaced"  # type: ignore[method-assign]


@pytest.mark.parametrize("path", ["vectorcall", "tp_call"])
def test_both_call_paths_keep_the_contract(path):
    breaker = CircuitBreaker(failure_threshold=2, recovery_timeout=60)
    calls = []

    @breaker
    def service(x, *, scale=1):
        calls.append(x)
        if x < 0:
            raise ConnectionError(x)
        return x * scale

    def call(*args, **kwargs):
        if path == "tp_call":
            return service.__call__(*args, **kwargs)
        return service(*args, **kwargs)

    assert call(3, scale=2) == 6
    for x in (-1, -2):
        with pytest.raises(ConnectionError):
            call(x)
    assert breaker.state == "open" and breaker.failure_count == 2
    with pytest.raises(CircuitBreakerError):
        call(5)
    assert calls == [3, -1, -2]  # the rejected call never reached the function
