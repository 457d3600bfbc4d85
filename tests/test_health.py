"""The health endpoint, raw and mounted in real frameworks (Flask, Starlette); Django's view is
in test_health_django.py."""

from __future__ import annotations

import asyncio
import gc
import json
import re
from io import BytesIO

import pytest
from fastbreaker import (
    CircuitBreaker,
    all_circuit_breakers,
    circuit_breaker,
    get_all_circuit_breaker_statuses,
    get_circuit_breaker,
)
from fastbreaker.health import HEALTH_PATH, asgi_app, circuit_breakers_health, wsgi_app


@pytest.fixture
def opened(unique_name: str) -> str:
    breaker = get_circuit_breaker(unique_name, failure_threshold=4)
    breaker.open()
    return unique_name


def test_payload_holds_a_registered_breakers_status_under_its_name(opened):
    payload = circuit_breakers_health()
    status = payload["circuit_breakers"][opened]
    assert status == get_circuit_breaker(opened).get_status() | {
        "retry_after": status["retry_after"]
    }
    assert (status["state"], status["failure_threshold"]) == ("open", 4)
    assert json.loads(json.dumps(payload)) == payload


def test_payload_holds_every_live_named_breaker(unique_name):
    # Before, only the registry's breakers were listed: a decorated function's breaker and a named
    # CircuitBreaker object were missing from the health endpoint.
    @circuit_breaker(failure_threshold=3)
    def load_profile() -> None:
        pass

    @circuit_breaker(name=unique_name + "-named-decorator")
    def load_orders() -> None:
        pass

    payments = CircuitBreaker(name=unique_name + "-object", failure_threshold=7)
    payments.open()
    unnamed = CircuitBreaker(failure_threshold=9)
    statuses = circuit_breakers_health()["circuit_breakers"]

    decorated = statuses[load_profile.circuit_breaker.name]
    assert load_profile.circuit_breaker.name.endswith("load_profile")
    assert (decorated["state"], decorated["failure_threshold"]) == ("closed", 3)
    assert statuses[unique_name + "-named-decorator"]["name"] == unique_name + "-named-decorator"
    assert (
        statuses[unique_name + "-object"]["state"],
        statuses[unique_name + "-object"]["failure_threshold"],
    ) == ("open", 7)
    # An unnamed breaker has a generated name, which is not a name to watch.
    assert unnamed.name not in statuses
    assert all(breaker is not unnamed for breaker in all_circuit_breakers().values())
    # None of these is in the registry, which the registry's own listing still says.
    registry = get_all_circuit_breaker_statuses()
    assert unique_name + "-object" not in registry
    assert load_profile.circuit_breaker.name not in registry


def test_a_collected_breaker_leaves_the_payload(unique_name):
    breaker = CircuitBreaker(name=unique_name)

    @circuit_breaker(name=unique_name + "-decorated")
    def fetch() -> None:
        pass

    assert {unique_name, unique_name + "-decorated"} <= set(
        circuit_breakers_health()["circuit_breakers"]
    )
    del breaker, fetch
    gc.collect()
    statuses = circuit_breakers_health()["circuit_breakers"]
    assert unique_name not in statuses and unique_name + "-decorated" not in statuses


def test_breakers_sharing_a_name_are_numbered(unique_name):
    first = CircuitBreaker(name=unique_name, failure_threshold=2)
    second = CircuitBreaker(name=unique_name, failure_threshold=3)

    def named() -> dict:
        statuses = circuit_breakers_health()["circuit_breakers"]
        return {
            key: status["failure_threshold"]
            for key, status in statuses.items()
            if status["name"] == unique_name
        }

    before = named()
    assert before[unique_name] == 2  # the first made keeps the name
    [second_key] = [key for key in before if key != unique_name]
    assert re.fullmatch(re.escape(unique_name) + r"#\d+", second_key)
    assert before[second_key] == 3
    # A registry breaker takes the name; the others are told apart by their own numbers, which
    # do not change while they live.
    get_circuit_breaker(unique_name, failure_threshold=4)
    after = named()
    assert after[unique_name] == 4 and after[second_key] == 3
    assert sorted(after.values()) == [2, 3, 4] and len(after) == 3
    del first, second


def test_registered_only_lists_the_registry_alone(opened, unique_name):
    named = CircuitBreaker(name=unique_name + "-object")
    payload = circuit_breakers_health(registered_only=True)
    assert opened in payload["circuit_breakers"]
    assert named.name not in payload["circuit_breakers"]
    assert named.name in circuit_breakers_health(registered_only=False)["circuit_breakers"]
    for wrong in ("yes", 1, None):
        with pytest.raises(TypeError, match="registered_only must be a bool"):
            circuit_breakers_health(registered_only=wrong)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        circuit_breakers_health(True)  # type: ignore[misc]


def call_wsgi(method: str, path: str, script_name: str = "") -> tuple:
    seen = {}

    def start_response(status: str, headers: list) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": script_name,
        "wsgi.input": BytesIO(),
    }
    body = b"".join(wsgi_app(environ, start_response))
    return seen["status"], seen["headers"], body


def test_raw_wsgi(opened):
    status, headers, body = call_wsgi("GET", HEALTH_PATH)
    assert status == "200 OK"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["circuit_breakers"][opened]["state"] == "open"
    assert int(headers["Content-Length"]) == len(body)

    status, headers, body = call_wsgi("HEAD", HEALTH_PATH)
    assert (status, body) == ("200 OK", b"") and int(headers["Content-Length"]) > 0

    status, headers, _ = call_wsgi("POST", HEALTH_PATH)
    assert status == "405 Method Not Allowed" and headers["Allow"] == "GET, HEAD"

    assert call_wsgi("GET", "/health")[0] == "404 Not Found"
    assert call_wsgi("GET", "/circuit-breakers", script_name="/health")[0] == "200 OK"


def test_the_apps_serve_every_live_named_breaker(opened, unique_name):
    @circuit_breaker(name=unique_name + "-decorated")
    def fetch() -> None:
        pass

    payments = CircuitBreaker(name=unique_name + "-object")
    payments.open()
    for served in (call_wsgi("GET", HEALTH_PATH)[2], call_asgi("GET", HEALTH_PATH)[2]):
        statuses = json.loads(served)["circuit_breakers"]
        assert statuses[opened]["state"] == "open"
        assert statuses[unique_name + "-object"]["state"] == "open"
        assert statuses[unique_name + "-decorated"]["state"] == "closed"


def call_asgi(method: str, path: str, root_path: str = "") -> tuple:
    sent = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": root_path,
        "headers": [],
        "query_string": b"",
    }
    asyncio.run(asgi_app(scope, receive, send))
    start, body = sent
    return start["status"], dict(start["headers"]), body["body"]


def test_raw_asgi(opened):
    status, headers, body = call_asgi("GET", HEALTH_PATH)
    assert status == 200 and headers[b"content-type"] == b"application/json"
    assert json.loads(body)["circuit_breakers"][opened]["state"] == "open"
    assert call_asgi("HEAD", HEALTH_PATH)[::2] == (200, b"")
    status, headers, _ = call_asgi("DELETE", HEALTH_PATH)
    assert status == 405 and headers[b"allow"] == b"GET, HEAD"
    assert call_asgi("GET", "/nope")[0] == 404


def test_asgi_lifespan():
    messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent = []

    async def receive() -> dict:
        return messages.pop(0)

    async def send(message: dict) -> None:
        sent.append(message["type"])

    asyncio.run(asgi_app({"type": "lifespan"}, receive, send))
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_flask_mount(opened):
    from flask import Flask
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    app = Flask("service")

    @app.get("/")
    def index() -> str:
        return "service"

    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/health": wsgi_app})  # type: ignore[method-assign]
    client = app.test_client()
    response = client.get("/health/circuit-breakers")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.get_json()["circuit_breakers"][opened]["state"] == "open"
    assert client.post("/health/circuit-breakers").status_code == 405
    assert client.get("/").data == b"service"


def test_starlette_mount(opened):
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route
    from starlette.testclient import TestClient

    async def index(request: object) -> PlainTextResponse:
        return PlainTextResponse("service")

    app = Starlette(routes=[Route("/", index), Mount("/health", app=asgi_app)])
    with TestClient(app) as client:
        response = client.get("/health/circuit-breakers")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json()["circuit_breakers"][opened]["state"] == "open"
        assert client.put("/health/circuit-breakers").status_code == 405
        assert client.get("/health/other").status_code == 404
        assert client.get("/").text == "service"


def test_raw_apps_route_on_the_path_below_their_mount_point(opened):
    # Issue 9: the apps routed on the full path, so any prefix (SCRIPT_NAME, root_path) gave 404.
    assert call_wsgi("GET", "/circuit-breakers", script_name="/myapp/health")[0] == "200 OK"
    assert call_wsgi("GET", HEALTH_PATH, script_name="/myapp")[0] == "200 OK"
    assert call_wsgi("GET", "/other", script_name="/myapp/health")[0] == "404 Not Found"
    assert call_wsgi("PUT", "/circuit-breakers", script_name="/a/b")[0] == "405 Method Not Allowed"
    # ASGI: `path` includes `root_path` (the spec, Starlette, uvicorn), or does not (older servers).
    assert call_asgi("GET", "/myapp/health/circuit-breakers", root_path="/myapp/health")[0] == 200
    assert call_asgi("GET", "/circuit-breakers", root_path="/myapp/health")[0] == 200
    assert call_asgi("GET", "/myapp/health/circuit-breakers", root_path="/myapp")[0] == 200
    assert call_asgi("GET", "/myapp/health/other", root_path="/myapp/health")[0] == 404
    assert call_asgi("GET", "/myapp/healthz/circuit-breakers", root_path="/myapp/health")[0] == 404
    assert call_asgi("POST", "/x/circuit-breakers", root_path="/x")[0] == 405


def _flask_app():  # type: ignore[no-untyped-def]
    from flask import Flask
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    app = Flask("service")

    @app.get("/")
    def index() -> str:
        return "service"

    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/health": wsgi_app})  # type: ignore[method-assign]
    return app


def _check_health(client, prefix: str, opened: str) -> None:  # type: ignore[no-untyped-def]
    """The endpoint at `prefix`/health/circuit-breakers, through a werkzeug or Starlette client."""

    def body(response) -> bytes:  # type: ignore[no-untyped-def]
        return response.data if hasattr(response, "data") else response.content

    response = client.get(prefix + "/health/circuit-breakers")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert json.loads(body(response))["circuit_breakers"][opened]["state"] == "open"
    head = client.head(prefix + "/health/circuit-breakers")
    assert head.status_code == 200 and body(head) == b""
    posted = client.post(prefix + "/health/circuit-breakers")
    assert posted.status_code == 405 and posted.headers["allow"] == "GET, HEAD"
    assert client.get(prefix + "/health/other").status_code == 404
    assert body(client.get(prefix + "/")) == b"service"


def test_flask_mount_under_a_script_name_prefix(opened):
    from werkzeug.exceptions import NotFound
    from werkzeug.middleware.dispatcher import DispatcherMiddleware
    from werkzeug.test import Client

    app = _flask_app()
    # The host app served under /myapp by an outer dispatcher (SCRIPT_NAME=/myapp/health below).
    outer = DispatcherMiddleware(NotFound(), {"/myapp": app.wsgi_app})
    _check_health(Client(outer), "/myapp", opened)
    # ... or by its server: the test client's base URL sets SCRIPT_NAME=/myapp.
    prefixed = app.test_client()
    response = prefixed.get("/health/circuit-breakers", base_url="http://localhost/myapp/")
    assert response.request.environ["SCRIPT_NAME"] == "/myapp"
    assert response.status_code == 200
    assert response.get_json()["circuit_breakers"][opened]["state"] == "open"
    # And at the root, as before.
    _check_health(app.test_client(), "", opened)


def test_starlette_mount_under_a_root_path_and_nested(opened):
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route
    from starlette.testclient import TestClient

    async def index(request: object) -> PlainTextResponse:
        return PlainTextResponse("service")

    app = Starlette(routes=[Route("/", index), Mount("/health", app=asgi_app)])
    # Served under a root_path (uvicorn --root-path /myapp, behind a proxy).
    with TestClient(app, root_path="/myapp") as client:
        _check_health(client, "/myapp", opened)
    # Nested mounts: the host app mounted at /api of another app.
    outer = Starlette(routes=[Mount("/api", app=app)])
    with TestClient(outer) as client:
        _check_health(client, "/api", opened)
    nested = Starlette(
        routes=[Route("/", index), Mount("/v1", routes=[Mount("/health", app=asgi_app)])]
    )
    with TestClient(nested, root_path="/myapp") as client:
        assert client.get("/myapp/v1/health/circuit-breakers").status_code == 200
        assert client.get("/myapp/v1/health").status_code == 404
    # Mounted at the root, it answers on the full path.
    with TestClient(Starlette(routes=[Mount("/", app=asgi_app)])) as client:
        assert client.get("/health/circuit-breakers").status_code == 200
        assert client.get("/other").status_code == 404
    with TestClient(asgi_app, root_path="/myapp") as client:
        assert client.get("/myapp/health/circuit-breakers").status_code == 200
