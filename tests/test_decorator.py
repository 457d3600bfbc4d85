"""`circuit_breaker(...)` and `@breaker`: wrapped callables behave like the functions they wrap."""

from __future__ import annotations

import gc
import inspect
import weakref

import pytest
from fastbreaker import CircuitBreaker, CircuitBreakerError, circuit_breaker


@circuit_breaker(failure_threshold=2, recovery_timeout=30)
def documented(a: int, b: int = 2) -> int:
    """Adds two numbers."""
    return a + b


def test_metadata_is_kept():
    assert documented.__name__ == "documented"
    assert documented.__qualname__ == "documented"
    assert documented.__doc__ == "Adds two numbers."
    assert documented.__module__ == __name__
    assert documented.__wrapped__(1) == 3
    assert str(inspect.signature(documented)) == "(a: 'int', b: 'int' = 2) -> 'int'"
    assert documented(1, b=5) == 6


def test_each_decorated_function_has_its_own_breaker_named_after_it():
    breaker = documented.circuit_breaker
    assert isinstance(breaker, CircuitBreaker)
    assert breaker.name == f"{__name__}.documented"
    assert (breaker.failure_threshold, breaker.recovery_timeout) == (2, 30)

    decorate = circuit_breaker(failure_threshold=1)

    @decorate
    def first() -> None:
        raise RuntimeError

    @decorate
    def second() -> str:
        return "fine"

    with pytest.raises(RuntimeError):
        first()
    assert first.circuit_breaker.state == "open"
    assert second() == "fine"
    assert second.circuit_breaker.name.endswith("second")


def test_bare_decorator_and_explicit_name():
    @circuit_breaker
    def bare() -> int:
        return 1

    @circuit_breaker(name="billing")
    def named() -> int:
        return 2

    assert bare() == 1 and bare.circuit_breaker.failure_threshold == 5
    assert named.circuit_breaker.name == "billing"


def test_methods_bind_self_like_functions():
    class Client:
        def __init__(self, base: str) -> None:
            self.base = base

        @circuit_breaker(failure_threshold=1)
        def fetch(self, path: str) -> str:
            return self.base + path

        @circuit_breaker(failure_threshold=1)
        def broken(self) -> None:
            raise ConnectionError

        @staticmethod
        @circuit_breaker
        def static(x: int) -> int:
            return x

        @classmethod
        @circuit_breaker
        def klass(cls, x: int) -> tuple:
            return (cls, x)

    client = Client("http://svc")
    assert client.fetch("/a") == "http://svc/a"
    assert Client.fetch(client, "/b") == "http://svc/b"
    assert client.fetch.circuit_breaker is Client.fetch.circuit_breaker
    assert client.fetch.__name__ == "fetch"
    assert Client.static(3) == 3 and client.static(4) == 4
    assert Client.klass(5) == (Client, 5)
    with pytest.raises(ConnectionError):
        client.broken()
    with pytest.raises(CircuitBreakerError):
        Client("other").broken()  # one breaker per function, shared by instances


def test_a_decorated_bound_method_does_not_keep_its_instance_alive():
    class Thing:
        @circuit_breaker
        def method(self) -> int:
            return 1

    thing = Thing()
    assert thing.method() == 1
    ref = weakref.ref(thing)
    del thing
    gc.collect()
    assert ref() is None


def test_wrappers_are_collected_with_their_cycles():
    def make() -> weakref.ref:
        @circuit_breaker
        def recursive(n: int) -> int:
            return n if n == 0 else recursive(n - 1)  # refers to itself: a cycle

        assert recursive(3) == 0
        return weakref.ref(recursive)

    ref = make()
    gc.collect()
    assert ref() is None


def test_breaker_as_decorator_keeps_its_own_name():
    breaker = CircuitBreaker(name="shared", failure_threshold=1)

    @breaker
    def one() -> None:
        raise ValueError

    @breaker
    def two() -> str:
        return "two"

    with pytest.raises(ValueError):
        one()
    with pytest.raises(CircuitBreakerError) as raised:
        two()
    assert raised.value.name == "shared"
    assert one.circuit_breaker is two.circuit_breaker is breaker


def test_decorated_callables_objects():
    class Callable:
        def __call__(self, x: int) -> int:
            return x * 2

    protected = circuit_breaker(Callable())
    assert protected(4) == 8
    assert protected.circuit_breaker.name.endswith("Callable")
