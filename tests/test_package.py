"""The package: public names, the shims, the version."""

from __future__ import annotations

import importlib
import importlib.metadata

import fastbreaker
import fastbreaker.external_service_client as client_module

circuit_breaker_module = importlib.import_module("fastbreaker.circuit_breaker")


def test_circuit_breaker_module_exports_exactly_the_documented_names():
    assert sorted(circuit_breaker_module.__all__) == [
        "CircuitBreaker",
        "CircuitBreakerError",
        "CircuitState",
        "circuit_breaker",
    ]


def test_star_import_shims_are_drop_ins():
    import src.circuit_breaker as shim
    import src.external_service_client as client_shim

    assert shim.CircuitBreaker is fastbreaker.CircuitBreaker
    assert shim.circuit_breaker is circuit_breaker_module.circuit_breaker
    assert client_shim.CircuitBreakerError is shim.CircuitBreakerError
    for name in client_module.__all__:
        assert getattr(client_shim, name) is getattr(client_module, name)


def test_every_public_name_exists():
    for module in (fastbreaker, circuit_breaker_module, client_module):
        for name in module.__all__:
            assert hasattr(module, name), (module.__name__, name)


def test_version_is_the_crate_version():
    assert fastbreaker.__version__ == importlib.metadata.version("fastbreaker")


def test_no_top_level_src_package_is_shipped():
    files = importlib.metadata.files("fastbreaker") or []
    assert not [f for f in files if str(f).startswith("src/")]


def test_the_error_class_is_shared_and_picklable():
    import pickle

    error = fastbreaker.CircuitBreakerError("boom")
    assert (error.name, error.retry_after, error.args, str(error)) == (None, 0.0, ("boom",), "boom")
    error = fastbreaker.CircuitBreakerError("boom", name="svc", retry_after=1.5)
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), copy.name, copy.retry_after) == (
        fastbreaker.CircuitBreakerError,
        "boom",
        "svc",
        1.5,
    )
    assert issubclass(fastbreaker.CircuitBreakerError, Exception)
    assert fastbreaker.CircuitBreakerError.__module__ == "fastbreaker"


def test_errors_raised_by_a_breaker_pickle_with_their_message():
    import pickle

    breaker = fastbreaker.CircuitBreaker(name="pickled")
    breaker.open()
    try:
        breaker.call(print)
    except fastbreaker.CircuitBreakerError as error:
        raised = error
    copy = pickle.loads(pickle.dumps(raised))
    assert str(copy) == str(raised) and str(raised).startswith("circuit breaker 'pickled' is open")
    assert (copy.name, copy.retry_after) == ("pickled", raised.retry_after)
    assert repr(raised) == f"CircuitBreakerError({str(raised)!r})"


def test_the_error_can_be_subclassed():
    class ServiceDown(fastbreaker.CircuitBreakerError):
        pass

    error = ServiceDown("down", name="svc")
    assert isinstance(error, fastbreaker.CircuitBreakerError) and error.name == "svc"
    assert repr(error) == "ServiceDown('down')"


def test_the_typed_status_names_every_field_of_a_status():
    status = fastbreaker.CircuitBreaker().get_status()
    assert set(status) == set(fastbreaker.CircuitBreakerStatus.__annotations__)


def test_states_are_the_enum_members_themselves():
    breaker = fastbreaker.CircuitBreaker()
    assert breaker.state is fastbreaker.CircuitState.CLOSED
    breaker.open()
    assert breaker.state is fastbreaker.CircuitState.OPEN


def test_errors_pickle_with_their_notes_and_attributes():
    import pickle
    import sys

    breaker = fastbreaker.CircuitBreaker(name="noted")
    breaker.open()
    try:
        breaker.call(lambda: None)
    except fastbreaker.CircuitBreakerError as error:
        raised = error
    raised.request_id = "abc-123"
    if sys.version_info >= (3, 11):
        raised.add_note("while charging order 42")
    copy = pickle.loads(pickle.dumps(raised))
    assert copy.request_id == "abc-123"
    assert getattr(copy, "__notes__", None) == getattr(raised, "__notes__", None)
    assert (str(copy), copy.name) == (str(raised), "noted")


def test_every_import_form_of_the_drop_in_modules_gives_the_module():
    import types

    import fastbreaker.circuit_breaker as aliased
    import fastbreaker.external_service_client as client_aliased
    from fastbreaker import circuit_breaker as from_package
    from fastbreaker import external_service_client as client_from_package

    for module in (aliased, from_package, fastbreaker.circuit_breaker):
        assert module is circuit_breaker_module and isinstance(module, types.ModuleType)
        assert module.CircuitBreaker is fastbreaker.CircuitBreaker
    assert client_aliased is client_from_package is client_module


def test_the_package_attribute_still_decorates_both_ways():
    from fastbreaker import circuit_breaker

    @circuit_breaker
    def bare() -> int:
        return 1

    @circuit_breaker(failure_threshold=3, name="decorated-through-the-module")
    def configured() -> int:
        return 2

    assert (bare(), configured()) == (1, 2)
    assert configured.circuit_breaker.failure_threshold == 3
    assert bare.circuit_breaker.name.endswith("bare")
