"""Decorated functions work wherever the undecorated function works: frameworks that tell functions
from other callables, pickling (by reference, as functions pickle), copying, process pools."""

from __future__ import annotations

import copy
import inspect
import pickle
import subprocess
import sys
import textwrap
from concurrent.futures import ProcessPoolExecutor

import pytest
from fastbreaker import CircuitBreaker, CircuitBreakerError, circuit_breaker


@circuit_breaker(failure_threshold=2)
def double(x: int) -> int:
    """Twice x."""
    return 2 * x


class Service:
    @circuit_breaker
    def triple(self, x: int) -> int:
        return 3 * x


def test_a_decorated_function_passes_for_a_function():
    assert inspect.isfunction(double) and callable(double)
    assert double.__code__ is double.__wrapped__.__code__
    assert double.__defaults__ is None and double.__globals__ is globals()
    assert inspect.signature(double) == inspect.signature(double.__wrapped__)
    assert inspect.ismethod(Service().triple)
    with pytest.raises(AttributeError):
        double.no_such_attribute  # noqa: B018
    # A protected callable object is not passed off as a function.
    wrapped_object = CircuitBreaker()(len)
    assert not inspect.isfunction(wrapped_object) and wrapped_object([1]) == 1


def test_stacked_breakers_still_pass_for_a_function():
    outer = CircuitBreaker()(CircuitBreaker()(double.__wrapped__))
    assert inspect.isfunction(outer) and outer(4) == 8


def test_a_protected_callable_object_copies_as_itself_and_says_why_it_cannot_pickle():
    import functools

    protected = CircuitBreaker()(functools.partial(pow, 2))
    assert copy.copy(protected) is protected and copy.deepcopy(protected) is protected
    with pytest.raises(TypeError, match="__qualname__"):
        pickle.dumps(protected)


def test_decorated_functions_pickle_by_reference_and_copy_as_themselves():
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        assert pickle.loads(pickle.dumps(double, protocol)) is double
    assert pickle.loads(pickle.dumps(Service.triple)) is Service.triple
    assert copy.copy(double) is double
    holder = {"f": double, "items": [1, 2]}
    copied = copy.deepcopy(holder)
    assert copied["f"] is double and copied["items"] is not holder["items"]
    # A function that cannot be found by its name cannot be pickled, like a lambda.
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        pickle.dumps(CircuitBreaker()(lambda x: x))


def test_decorated_functions_run_in_a_process_pool():
    with ProcessPoolExecutor(2) as pool:
        assert list(pool.map(double, range(5))) == [0, 2, 4, 6, 8]


def test_starlette_routes_call_a_decorated_sync_view():
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=60)

    @breaker
    def hello(request):  # type: ignore[no-untyped-def]
        return PlainTextResponse("hello")

    @breaker
    async def hello_async(request):  # type: ignore[no-untyped-def]
        return PlainTextResponse("hello async")

    app = Starlette(routes=[Route("/", hello), Route("/async", hello_async)])
    with TestClient(app) as client:
        assert client.get("/").text == "hello"
        assert client.get("/async").text == "hello async"
        breaker.open()
        with pytest.raises(CircuitBreakerError):
            client.get("/")


def test_flask_views():
    from flask import Flask

    app = Flask(__name__)

    @app.route("/")
    @circuit_breaker(failure_threshold=1)
    def index() -> str:
        return "index"

    assert app.test_client().get("/").get_data(as_text=True) == "index"


def test_click_commands():
    import click
    from click.testing import CliRunner

    @click.command()
    @click.option("--count", default=1)
    @circuit_breaker
    def greet(count: int) -> None:
        click.echo("hi " * count)

    result = CliRunner().invoke(greet, ["--count", "2"])
    assert result.exit_code == 0 and result.output.strip() == "hi hi"


def test_pytest_fixtures(tmp_path):
    (tmp_path / "test_fixture.py").write_text(
        textwrap.dedent(
            """
            import pytest
            from fastbreaker import circuit_breaker

            @pytest.fixture
            @circuit_breaker
            def number():
                return 41

            def test_it(number):
                assert number + 1 == 42
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
