"""The health endpoint, raw and mounted in real frameworks (Flask, Starlette)."""

from __future__ import annotations

import asyncio
import json
from io import BytesIO

import pytest
from fastbreaker import get_circuit_breaker
from fastbreaker.health import HEALTH_PATH, asgi_app, circuit_breakers_health, wsgi_app


@pytest.fixture
def opened(unique_name: str) -> str:
    breaker = get_circuit_breaker(unique_name, failure_threshold=4)
    breaker.open()
    return unique_name


def test_payload_holds_every_registered_status(opened):
    payload = circuit_breakers_health()
    status = payload["circuit_breakers"][opened]
    assert status == get_circuit_breaker(opened).get_status() | {
        "retry_after": status["retry_after"]
    }
    assert (status["state"], status["failure_threshold"]) == ("open", 4)
    assert json.loads(json.dumps(payload)) == payload


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
