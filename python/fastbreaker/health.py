"""The health endpoint: ``GET /health/circuit-breakers`` answers with the status of every live
named breaker of the process as JSON, ``{"circuit_breakers": {name: status}}``.

Every live named breaker appears (:func:`fastbreaker.all_circuit_breakers`): the registry's
(``get_circuit_breaker(name)``, the HTTP clients' breakers) under their own names first, then
decorated functions' breakers (named ``module.qualname`` unless ``name=`` was given) and
``CircuitBreaker(name=...)`` objects, in the order they were created. A breaker that has been
garbage collected is gone; a ``CircuitBreaker()`` without a name never appears. When two live
breakers share a name, the others are listed as ``name#17``, each with a number of its own that
stays the same while it lives (each status's ``"name"`` is still the breaker's own).
``circuit_breakers_health(registered_only=True)`` lists the registry's breakers alone, as
:func:`fastbreaker.get_all_circuit_breaker_statuses` does.

Two framework-neutral apps serve it: :func:`wsgi_app` (mount it in Flask, gunicorn, any WSGI
server) and :func:`asgi_app` (mount it in FastAPI, Starlette, uvicorn). They route on the path
below the point where they are mounted (WSGI ``PATH_INFO``; ASGI ``path`` without ``root_path``),
so they work under a prefix (``SCRIPT_NAME``, ``root_path``) and inside nested mounts. Mounted at
``/health``, they answer ``/circuit-breakers`` below it; mounted at the root,
``/health/circuit-breakers``: the endpoint is ``{mount point}/circuit-breakers`` or
``{mount point}/health/circuit-breakers``. ``GET`` and ``HEAD`` answer 200, another method on
that path 405 (with ``Allow``), any other path 404.

Django: :func:`django_view` is a view for a URLconf,
``path("health/circuit-breakers", fastbreaker.health.django_view)``. Django routes to it, so it
answers on whatever path it is mounted at; the methods are treated as above. It is exempt from
CSRF checks (a ``POST`` gets 405, not ``CsrfViewMiddleware``'s 403), and imports Django only when
it is called: importing this module never imports Django.
"""

from __future__ import annotations

import json
from typing import Any, Awaitable, Callable, Dict, Iterable, List, MutableMapping, Optional, Tuple

from ._core import all_circuit_breakers, get_all_circuit_breaker_statuses
from ._state import CircuitBreakerStatus

__all__ = ["HEALTH_PATH", "asgi_app", "circuit_breakers_health", "django_view", "wsgi_app"]

HEALTH_PATH = "/health/circuit-breakers"
# The paths served, relative to the mount point: mounted at the root, or at `/health`.
_PATHS = frozenset({HEALTH_PATH, "/circuit-breakers"})
_ALLOWED = "GET, HEAD"


def circuit_breakers_health(
    *, registered_only: bool = False
) -> Dict[str, Dict[str, CircuitBreakerStatus]]:
    """The health payload: ``{"circuit_breakers": {name: status}}``, each status as
    ``get_status()`` gives it, for every live named breaker (as
    :func:`fastbreaker.all_circuit_breakers` names them: ``name``, ``name#17``... when several
    share a name). With ``registered_only=True``, the registry's breakers alone
    (``get_circuit_breaker(name)``), as :func:`fastbreaker.get_all_circuit_breaker_statuses`."""
    if not isinstance(registered_only, bool):
        raise TypeError(f"registered_only must be a bool, got {type(registered_only).__qualname__}")
    if registered_only:
        return {"circuit_breakers": get_all_circuit_breaker_statuses()}
    return {
        "circuit_breakers": {
            name: breaker.get_status() for name, breaker in all_circuit_breakers().items()
        }
    }


def _respond(method: str, path: Optional[str]) -> Tuple[int, str, List[Tuple[str, str]], bytes]:
    """Status code, reason, headers and body for a request to `path`, relative to the mount point,
    or to the endpoint itself when `path` is None (a router chose it: Django's URLconf). The body
    is dropped for HEAD; Content-Length stays the one GET would have."""
    payload: Dict[str, Any]
    extra: List[Tuple[str, str]]
    if path is not None and path.rstrip("/") not in _PATHS:
        status, reason, payload, extra = 404, "Not Found", {"error": "not found"}, []
    elif method not in ("GET", "HEAD"):
        status, reason = 405, "Method Not Allowed"
        payload, extra = {"error": "method not allowed"}, [("Allow", _ALLOWED)]
    else:
        status, reason, payload, extra = 200, "OK", circuit_breakers_health(), []
    body = json.dumps(payload).encode()
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store"),
        *extra,
    ]
    return status, reason, headers, b"" if method == "HEAD" else body


def wsgi_app(environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """WSGI application serving the health endpoint."""
    method = environ.get("REQUEST_METHOD", "GET").upper()
    # PATH_INFO is the path below the mount point (SCRIPT_NAME, prefix included).
    status, reason, headers, body = _respond(method, environ.get("PATH_INFO") or "/")
    start_response(f"{status} {reason}", headers)
    return [body]


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


def _route_path(scope: Scope) -> str:
    """The request's path below the mount point. The ASGI spec has `path` include `root_path`
    (Starlette's mounts, uvicorn); some servers and frameworks strip it: the path is taken as it
    is when it does not start with `root_path` followed by a `/` (or its end)."""
    path: str = scope["path"]
    root_path: str = (scope.get("root_path") or "").rstrip("/")
    if (
        root_path
        and path.startswith(root_path)
        and path[len(root_path) : len(root_path) + 1] in ("", "/")
    ):
        path = path[len(root_path) :]
    return path or "/"


async def asgi_app(
    scope: Scope,
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    """ASGI application serving the health endpoint (HTTP, plus the lifespan protocol)."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        raise ValueError(f"asgi_app serves HTTP only, got a {scope['type']!r} scope")
    status, _reason, headers, body = _respond(
        scope.get("method", "GET").upper(), _route_path(scope)
    )
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


def django_view(request: Any, *args: object, **kwargs: object) -> Any:
    """Django view serving the health endpoint on whatever path the URLconf mounts it at::

        from django.urls import path
        import fastbreaker.health

        urlpatterns = [path("health/circuit-breakers", fastbreaker.health.django_view)]

    ``GET`` and ``HEAD`` answer 200 (``HEAD`` without a body), any other method 405 with
    ``Allow: GET, HEAD``. Arguments captured by the URLconf (an ``include()`` under
    ``<slug:tenant>/``, say) are accepted and ignored. A sync view: under ASGI, Django runs it in a
    thread, as it runs every sync view."""
    from django.http import HttpResponse  # type: ignore[import-untyped]

    status, _reason, headers, body = _respond((request.method or "GET").upper(), None)
    response = HttpResponse(body, status=status)
    for name, value in headers:
        response[name] = value
    return response


# `csrf_exempt` without importing Django: `CsrfViewMiddleware` reads this attribute before the view
# runs, and would answer a POST without a CSRF token 403 where every other endpoint's rule is 405.
django_view.csrf_exempt = True  # type: ignore[attr-defined]
