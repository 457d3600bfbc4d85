"""fastbreaker.health.django_view, served by Django itself: its test client, its WSGI handler
(which, unlike the test client, keeps whatever body a view returns to HEAD) and its ASGI handler,
with CsrfViewMiddleware and CommonMiddleware enabled, at the root, under a prefix and below an
``include()`` that captures arguments."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
import types
from io import BytesIO
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pytest
from fastbreaker import CircuitBreaker, get_circuit_breaker
from fastbreaker.health import HEALTH_PATH, django_view, wsgi_app
from fastbreaker.testing import manual_clock

# Django's modules are imported by the fixtures and tests, not when this module is collected: an
# unconfigured `django.conf.settings` raises on any attribute read, `__class__` included, which
# would break code elsewhere that inspects every object (a `gc.get_objects()` walk).
django = pytest.importorskip("django")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
]
_urlconf_numbers = itertools.count()


@pytest.fixture(scope="module", autouse=True)
def django_settings() -> None:
    """Django configured once for the process (settings are process-wide); each test then sets
    the URLconf and middleware it needs with `override_settings`."""
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="fastbreaker-tests",
            ALLOWED_HOSTS=["testserver"],
            INSTALLED_APPS=[],
            DATABASES={},
            MIDDLEWARE=[],
            ROOT_URLCONF="fastbreaker_no_urls",
            # Django 4.2's test client imports staticfiles, whose lazy storage object cannot be
            # set up without it once anything reads it (its `__class__`, in a gc walk).
            STATIC_URL="/static/",
            USE_TZ=True,
        )
        django.setup()


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """`serve(*urlpatterns, middleware=MIDDLEWARE)`: makes these the URLconf (a module built here)
    and the middleware until the test ends."""
    from django.test import override_settings

    overrides: List[Any] = []

    def serve(*urlpatterns: Any, middleware: List[str] = MIDDLEWARE) -> None:
        module = types.ModuleType(f"fastbreaker_test_urls_{next(_urlconf_numbers)}")
        module.urlpatterns = list(urlpatterns)  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, module.__name__, module)
        override = override_settings(ROOT_URLCONF=module.__name__, MIDDLEWARE=middleware)
        override.enable()
        overrides.append(override)

    yield serve
    for override in reversed(overrides):
        override.disable()


@pytest.fixture
def opened(unique_name: str) -> str:
    get_circuit_breaker(unique_name, failure_threshold=4).open()
    return unique_name


def test_get_answers_with_every_live_named_breaker(serve, opened, unique_name):
    from django.test import Client
    from django.urls import path

    serve(path("health/circuit-breakers", django_view))
    payments = CircuitBreaker(name=unique_name + "-object", failure_threshold=7)
    payments.open()
    response = Client().get(HEALTH_PATH)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    assert int(response.headers["Content-Length"]) == len(response.content)
    statuses = json.loads(response.content)["circuit_breakers"]
    assert (statuses[opened]["state"], statuses[opened]["failure_threshold"]) == ("open", 4)
    assert statuses[payments.name]["state"] == "open"


def test_the_body_is_the_wsgi_apps(serve, opened):
    from django.test import Client
    from django.urls import path

    serve(path("health/circuit-breakers", django_view))
    client = Client()
    with manual_clock():  # the same `retry_after` in both
        from_django = json.loads(client.get(HEALTH_PATH).content)["circuit_breakers"][opened]
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": HEALTH_PATH, "wsgi.input": BytesIO()}
        from_wsgi = json.loads(b"".join(wsgi_app(environ, lambda *args: None)))
    assert from_django == from_wsgi["circuit_breakers"][opened]


def test_other_methods_get_405_even_with_csrf_checks(serve):
    from django.test import Client
    from django.urls import path

    # CsrfViewMiddleware answers 403 to a POST without a CSRF token before the view runs, unless
    # the view is exempt; the test client skips CSRF checks unless told to enforce them.
    serve(path("health/circuit-breakers", django_view))
    client = Client(enforce_csrf_checks=True)
    for method in ("post", "put", "patch", "delete", "options"):
        response = getattr(client, method)(HEALTH_PATH)
        assert response.status_code == 405, method
        assert response.headers["Allow"] == "GET, HEAD"
        assert response.headers["Content-Type"] == "application/json"
        assert json.loads(response.content) == {"error": "method not allowed"}


def call_wsgi_handler(
    method: str, path_info: str, script_name: str = ""
) -> Tuple[str, Dict[str, str], bytes]:
    """A request through Django's WSGI handler (middleware included), as a WSGI server makes it."""
    from django.core.handlers.wsgi import WSGIHandler

    seen: Dict[str, Any] = {}

    def start_response(status: str, headers: List[Tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path_info,
        "SCRIPT_NAME": script_name,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": BytesIO(),
    }
    response = WSGIHandler()(environ, start_response)
    try:
        body = b"".join(response)
    finally:
        response.close()
    return seen["status"], seen["headers"], body


def test_head_has_no_body(serve, opened):
    from django.urls import path

    # Django's test client drops a HEAD response's body itself: its WSGI handler does not.
    serve(path("health/circuit-breakers", django_view))
    status, headers, body = call_wsgi_handler("HEAD", HEALTH_PATH)
    assert (status, body) == ("200 OK", b"")
    assert headers["Content-Type"] == "application/json" and headers["Cache-Control"] == "no-store"
    assert int(headers["Content-Length"]) > 0  # the length GET would have
    status, headers, body = call_wsgi_handler("GET", HEALTH_PATH)
    assert status == "200 OK"
    assert json.loads(body)["circuit_breakers"][opened]["state"] == "open"
    status, headers, _ = call_wsgi_handler("POST", HEALTH_PATH)
    assert status == "405 Method Not Allowed" and headers["Allow"] == "GET, HEAD"


def test_it_answers_wherever_the_urlconf_mounts_it(serve, opened):
    from django.test import Client
    from django.urls import include, path

    serve(
        path("status", django_view),
        path("myapp/v1/", include([path("health/circuit-breakers", django_view)])),
        # A prefix that captures an argument passes it to every view below it.
        path("<slug:tenant>/", include([path("health/circuit-breakers", django_view)])),
    )
    client = Client(enforce_csrf_checks=True)
    for url in ("/status", "/myapp/v1/health/circuit-breakers", "/acme/health/circuit-breakers"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert json.loads(response.content)["circuit_breakers"][opened]["state"] == "open"
        assert client.post(url).status_code == 405, url
    # Served under a prefix by the server (SCRIPT_NAME): the URLconf sees the path below it.
    response = client.get("/status", SCRIPT_NAME="/myapp")
    assert response.status_code == 200 and response.wsgi_request.path == "/myapp/status"
    status, _, body = call_wsgi_handler("GET", "/myapp/v1/health/circuit-breakers", "/prefix")
    assert status == "200 OK" and opened in json.loads(body)["circuit_breakers"]
    # Elsewhere, Django's own 404: the view has no routing of its own.
    assert client.get("/health").status_code == 404


def call_asgi_handler(method: str, path_info: str) -> Tuple[int, Dict[bytes, bytes], bytes]:
    """A request through Django's ASGI handler, as an ASGI server makes it: the sync view runs in
    the thread Django gives sync views."""
    from django.core.handlers.asgi import ASGIHandler

    sent: List[Dict[str, Any]] = []
    requested = False

    async def receive() -> Dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # the client stays connected
        raise AssertionError("unreachable")

    async def send(message: Dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path_info,
        "raw_path": path_info.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
    }
    asyncio.run(ASGIHandler()(scope, receive, send))
    start = sent[0]
    body = b"".join(message.get("body", b"") for message in sent[1:])
    return start["status"], dict(start["headers"]), body


def test_under_asgi(serve, opened):
    from django.urls import path

    serve(path("health/circuit-breakers", django_view))
    status, headers, body = call_asgi_handler("GET", HEALTH_PATH)
    assert status == 200 and headers[b"Content-Type"] == b"application/json"
    assert json.loads(body)["circuit_breakers"][opened]["state"] == "open"
    assert call_asgi_handler("HEAD", HEALTH_PATH)[::2] == (200, b"")
    status, headers, _ = call_asgi_handler("POST", HEALTH_PATH)
    assert status == 405 and headers[b"Allow"] == b"GET, HEAD"


def test_importing_the_health_module_does_not_import_django():
    code = "import sys, fastbreaker.health; print('django' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "False"
