"""The health endpoint: ``GET /health/circuit-breakers`` answers with every registered breaker's
status as JSON, ``{"circuit_breakers": {name: status}}``.

Two framework-neutral apps serve it: :func:`wsgi_app` (mount it in Flask, Django, gunicorn) and
:func:`asgi_app` (mount it in FastAPI, Starlette, uvicorn). They route on the path below the point
where they are mounted (WSGI ``PATH_INFO``; ASGI ``path`` without ``root_path``), so they work
under a prefix (``SCRIPT_NAME``, ``root_path``) and inside nested mounts. Mounted at ``/health``,
they answer ``/circuit-breakers`` below it; mounted at the root, ``/health/circuit-breakers``: the
endpoint is ``{mount point}/circuit-breakers`` or ``{mount point}/health/circuit-breakers``.
``GET`` and ``HEAD`` answer 200, another method on that path 405 (with ``Allow``), any other
path 404.
"""

from __future__ import annotations

import json
from typing import Any, Awaitable, Callable, Dict, Iterable, List, MutableMapping, Tuple

from ._core import get_all_circuit_breaker_statuses
from ._state import CircuitBreakerStatus

__all__ = ["HEALTH_PATH", "asgi_app", "circuit_breakers_health", "wsgi_app"]

HEALTH_PATH = "/health/circuit-breakers"
# The paths served, relative to the mount point: mounted at the root, or at `/health`.
_PATHS = frozenset({HEALTH_PATH, "/circuit-breakers"})
_ALLOWED = "GET, HEAD"


def circuit_breakers_health() -> Dict[str, Dict[str, CircuitBreakerStatus]]:
    """The health payload: ``{"circuit_breakers": {name: status}}``, each as ``get_status()``."""
    return {"circuit_breakers": get_all_circuit_breaker_statuses()}


def _respond(method: str, path: str) -> Tuple[int, str, List[Tuple[str, str]], bytes]:
    """Status code, reason, headers and body for a request to `path`, relative to the mount point
    (the body is dropped for HEAD)."""
    payload: Dict[str, Any]
    extra: List[Tuple[str, str]]
    if path.rstrip("/") not in _PATHS:
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
