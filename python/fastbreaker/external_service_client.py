"""Drop-in for the documented ``src.external_service_client`` module: HTTP calls through
``requests``, each service guarded by its own named circuit breaker.

An existing service keeps its imports with a one-line shim, ``src/external_service_client.py``::

    from fastbreaker.external_service_client import *

What counts against a service: connection errors (SSL included), timeouts, broken or undecodable
bodies, any other ``requests`` error raised while sending, and answers with a status of 500 or
more (5xx, and the non-standard 600-999 that a broken service or proxy may send). A 4xx answer is
a success for the breaker (the service is up; the request was wrong). A 429 or 503 with a valid
``Retry-After`` is a failure that opens the circuit until then (at most ``max_retry_after``,
default 600 s), unless ``honor_retry_after=False``. Every answer with a status of 400 or more
raises ``requests.HTTPError`` with ``.response``. An answer is classified by its status whatever
raised: a response hook that calls ``raise_for_status()`` on a 404 leaves a success. The caller's
own mistakes, found before anything is sent (a bad URL or header, a body that is not
JSON-serialisable), propagate untouched and leave the breaker alone.

Each service has its own pooled ``requests.Session``; at most :data:`MAX_SESSIONS` are kept (the
least recently used one beyond that is closed, with its connections, once no request is using it),
and :func:`close_sessions` closes them all.

Every request goes through :class:`fastbreaker.requests_adapter.CircuitBreakerAdapter`, mounted on
those sessions: the rules above are the adapter's (each hop of a redirect counts against the
breaker of its own origin), and ``protected_*`` adds the service's breaker and options, the default
timeout, and the ``HTTPError``.
"""

from __future__ import annotations

import http.cookiejar
import threading
from collections import OrderedDict
from typing import Any, Dict, List, Optional
from urllib.parse import urlsplit

import requests

from . import _http_classification as rules
from ._core import (
    CircuitBreaker,
    CircuitBreakerError,
    get_all_circuit_breaker_statuses,
    get_circuit_breaker,
    get_circuit_breaker_status,
    reset_circuit_breaker,
)
from .requests_adapter import (
    CircuitBreakerAdapter,
    _call_breaker,
    _known_origins,
    _settle_by_status,
)

__all__ = [
    "CircuitBreakerError",
    "close_sessions",
    "get_all_circuit_breaker_statuses",
    "get_circuit_breaker",
    "get_circuit_breaker_status",
    "protected_delete",
    "protected_get",
    "protected_head",
    "protected_patch",
    "protected_post",
    "protected_put",
    "protected_request",
    "reset_circuit_breaker",
]

#: Seconds a protected call waits for the service when the caller gives no ``timeout``.
DEFAULT_TIMEOUT = 30

#: Connections kept open per service (more threads than this still work; the surplus connections
#: are closed after use instead of pooled).
POOL_SIZE = 32

#: Sessions (one per service, each with its own connections) kept open at most. Beyond this, the
#: least recently used one is closed once no request is using it. Read at each new session: set
#: ``fastbreaker.external_service_client.MAX_SESSIONS`` to change the bound.
MAX_SESSIONS = 32

_SCHEMES = ("http", "https")

# Arguments of requests.Request, and of Session.send (with their defaults as in Session.request).
_REQUEST_ARGUMENTS = frozenset(
    {"params", "data", "headers", "cookies", "files", "auth", "hooks", "json"}
)
_SEND_ARGUMENTS = frozenset({"timeout", "allow_redirects", "proxies", "stream", "verify", "cert"})
_ARGUMENTS = _REQUEST_ARGUMENTS | _SEND_ARGUMENTS


class _PooledSession:
    """A service's session and its adapter, with the number of requests using it right now."""

    __slots__ = ("adapter", "evicted", "session", "users")

    def __init__(self, session: requests.Session, adapter: CircuitBreakerAdapter) -> None:
        self.session = session
        self.adapter = adapter
        self.users = 0
        self.evicted = False  # out of the pool: closed when its last user is done


# Least recently used first. Guarded by `_sessions_lock`, which is never held while a session is
# closed or used.
_sessions: OrderedDict[str, _PooledSession] = OrderedDict()
_sessions_lock = threading.Lock()


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """Keeps a shared session from storing cookies: each protected call sends only the cookies it
    is given, as ``requests.post`` does, so one caller's cookies never reach another's request.
    (``response.cookies`` still holds what the service sent.)"""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


def _new_session() -> _PooledSession:
    session = requests.Session()
    session.cookies.set_policy(_NoCookies())
    adapter = CircuitBreakerAdapter(pool_connections=4, pool_maxsize=POOL_SIZE)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return _PooledSession(session, adapter)


# Prepares every request (the per-service sessions only differ in their connection pools).
_preparer = _new_session().session


def _origin(prepared_url: str, url: Any) -> str:
    # `prepared_url` went through requests' own parsing and normalisation (IDNA, port check).
    parts = urlsplit(prepared_url)
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise requests.exceptions.InvalidSchema(f"No connection adapters were found for {url!r}")
    key = (scheme, parts.netloc)
    name = _known_origins.get(key)
    if name is not None:
        return name
    host = parts.hostname
    if not host:
        raise requests.exceptions.InvalidURL(f"Invalid URL {url!r}: No host supplied")
    return _known_origins.add(key, rules.origin(scheme, host, parts.port))


def service_origin(url: str) -> str:
    """The breaker name for a URL: ``scheme://host[:port]``, host lower-cased, default port left
    out. Raises the same ``requests`` errors as a request to that URL would (``MissingSchema``,
    ``InvalidSchema``, ``InvalidURL``)."""
    if not isinstance(url, (str, bytes)):
        raise TypeError(f"url must be a str, got {type(url).__qualname__}")
    prepared = requests.PreparedRequest()
    prepared.prepare_url(url, None)  # MissingSchema, InvalidURL
    return _origin(prepared.url or "", url)


def _close(session: requests.Session) -> None:
    """Closes a session no request is using, with its connections. ``Session.close()`` alone
    forgets the connection pools without closing them (recent urllib3 leaves that to the garbage
    collector), so their idle connections are closed here; a connection still held by a streamed
    response is closed when that response gives it back."""
    pools: List[Any] = []
    for adapter in session.adapters.values():
        managers = [getattr(adapter, "poolmanager", None)]
        managers.extend(getattr(adapter, "proxy_manager", {}).values())
        for manager in managers:
            container = getattr(manager, "pools", None)
            if container is not None:
                pools.extend(container.get(key) for key in container.keys())
    session.close()
    for pool in pools:
        if pool is not None:
            pool.close()


def _evict(pooled: _PooledSession, idle: List[requests.Session]) -> None:
    # Called under `_sessions_lock`: a session in use is closed by its last user instead.
    pooled.evicted = True
    if pooled.users == 0:
        idle.append(pooled.session)


def _check_out(service: str) -> _PooledSession:
    """The service's pooled session, marked in use until :func:`_check_in`."""
    idle: List[requests.Session] = []
    with _sessions_lock:
        pooled = _sessions.get(service)
        if pooled is None:
            pooled = _sessions[service] = _new_session()
            pooled.users += 1
            while len(_sessions) > max(MAX_SESSIONS, 0):
                _evict(_sessions.popitem(last=False)[1], idle)
        else:
            pooled.users += 1
            _sessions.move_to_end(service)
    for session in idle:
        _close(session)
    return pooled


def _check_in(pooled: _PooledSession) -> None:
    with _sessions_lock:
        pooled.users -= 1
        close = pooled.evicted and pooled.users == 0
    if close:
        _close(pooled.session)


def close_sessions() -> None:
    """Closes every pooled session and its connections (a session in use is closed as soon as its
    requests are done). Later calls open new sessions."""
    idle: List[requests.Session] = []
    with _sessions_lock:
        pooled_sessions = list(_sessions.values())
        _sessions.clear()
        for pooled in pooled_sessions:
            _evict(pooled, idle)
    for session in idle:
        _close(session)


def _breaker(
    service: str,
    failure_threshold: Optional[int],
    recovery_timeout: Optional[float],
    success_threshold: Optional[int],
    honor_retry_after: Optional[bool],
    max_retry_after: Optional[float],
) -> CircuitBreaker:
    options: Dict[str, Any] = {}
    if failure_threshold is not None:
        options["failure_threshold"] = failure_threshold
    if recovery_timeout is not None:
        options["recovery_timeout"] = recovery_timeout
    if success_threshold is not None:
        options["success_threshold"] = success_threshold
    if honor_retry_after is not None:
        options["honor_retry_after"] = honor_retry_after
    if max_retry_after is not None:
        options["max_retry_after"] = max_retry_after
    return get_circuit_breaker(service, **options)


def protected_request(
    method: str,
    url: str,
    *,
    service_name: Optional[str] = None,
    failure_threshold: Optional[int] = None,
    recovery_timeout: Optional[float] = None,
    success_threshold: Optional[int] = None,
    honor_retry_after: Optional[bool] = None,
    max_retry_after: Optional[float] = None,
    **requests_kwargs: Any,
) -> requests.Response:
    """Sends an HTTP request through the circuit breaker of its service.

    The service is ``service_name``, or else the URL's origin (``https://api.example.com/match``
    is guarded by the breaker ``https://api.example.com``). The threshold options apply when the
    service's breaker is created (``None``: the breaker's default), and so do
    ``honor_retry_after`` (default true: a 429 or 503 answer with a valid ``Retry-After``, in
    seconds or an HTTP date, opens the circuit at once until then) and ``max_retry_after`` (the
    longest such opening, in seconds; default 600). ``requests_kwargs`` are those of
    ``requests.request``; ``timeout`` defaults to :data:`DEFAULT_TIMEOUT` seconds.

    Raises ``CircuitBreakerError`` without touching the network while the circuit is open, and
    ``requests.HTTPError`` (with ``.response``) for any answer with status >= 400.
    """
    if not isinstance(method, str) or not method:
        raise TypeError("method must be a non-empty str")
    if not _ARGUMENTS.issuperset(requests_kwargs):
        unknown = set(requests_kwargs) - _ARGUMENTS
        raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(unknown))}")
    if service_name is not None and not isinstance(service_name, str):
        raise TypeError(f"service_name must be a str, got {type(service_name).__qualname__}")
    if not isinstance(url, (str, bytes)):
        raise TypeError(f"url must be a str, got {type(url).__qualname__}")

    method = method.upper()
    request = requests.Request(
        method, url, **{k: v for k, v in requests_kwargs.items() if k in _REQUEST_ARGUMENTS}
    )
    # The caller's mistakes raise here, before any breaker exists: MissingSchema, InvalidURL,
    # InvalidHeader, InvalidJSONError...
    prepared = _preparer.prepare_request(request)
    origin = _origin(prepared.url or "", url)  # InvalidSchema
    service = origin if service_name is None else service_name
    breaker = _breaker(
        service,
        failure_threshold,
        recovery_timeout,
        success_threshold,
        honor_retry_after,
        max_retry_after,
    )
    timeout = requests_kwargs.get("timeout")
    # The environment's proxies and certificates, as every session sees them.
    settings = _preparer.merge_environment_settings(
        prepared.url or url,
        requests_kwargs.get("proxies") or {},
        requests_kwargs.get("stream"),
        requests_kwargs.get("verify"),
        requests_kwargs.get("cert"),
    )
    send_kwargs: Dict[str, Any] = {
        "timeout": DEFAULT_TIMEOUT if timeout is None else timeout,
        "allow_redirects": requests_kwargs.get("allow_redirects", method != "HEAD"),
        **settings,
    }

    pooled = _check_out(service)
    # The adapter counts each hop of the call against its origin's breaker; the first URL's origin
    # against `service`'s, created above with this call's options.
    token = _call_breaker.set((pooled.adapter, prepared.url, origin, breaker))
    try:
        # CircuitBreakerError while the circuit is open: nothing is sent.
        response = pooled.session.send(prepared, **send_kwargs)
    except requests.HTTPError as error:
        # Raised by a response hook (`raise_for_status()`): the adapter has counted the answer by
        # its status already, before the hook ran; a streamed one is counted now, by its status.
        _settle_by_status(error.response)
        raise
    finally:
        _call_breaker.reset(token)
        _check_in(pooled)
    if response.status_code >= 400:
        _settle_by_status(response)  # a streamed answer raised as an error: its status decides
    _raise_for_status(response)
    return response


def _raise_for_status(response: requests.Response) -> None:
    """``response.raise_for_status()``, extended to the statuses of 600 and more that requests
    lets through: every status >= 400 raises ``requests.HTTPError`` with ``.response``."""
    response.raise_for_status()  # 4xx, 5xx
    if response.status_code >= 600:
        raise requests.HTTPError(
            f"{response.status_code} Server Error (non-standard status): {response.reason} "
            f"for url: {response.url}",
            response=response,
        )


def protected_get(url: str, **kwargs: Any) -> requests.Response:
    """``GET`` through the service's breaker; see :func:`protected_request`."""
    return protected_request("GET", url, **kwargs)


def protected_post(url: str, **kwargs: Any) -> requests.Response:
    """``POST`` through the service's breaker; see :func:`protected_request`."""
    return protected_request("POST", url, **kwargs)


def protected_put(url: str, **kwargs: Any) -> requests.Response:
    """``PUT`` through the service's breaker; see :func:`protected_request`."""
    return protected_request("PUT", url, **kwargs)


def protected_patch(url: str, **kwargs: Any) -> requests.Response:
    """``PATCH`` through the service's breaker; see :func:`protected_request`."""
    return protected_request("PATCH", url, **kwargs)


def protected_delete(url: str, **kwargs: Any) -> requests.Response:
    """``DELETE`` through the service's breaker; see :func:`protected_request`."""
    return protected_request("DELETE", url, **kwargs)


def protected_head(url: str, **kwargs: Any) -> requests.Response:
    """``HEAD`` through the service's breaker (no redirects followed unless
    ``allow_redirects=True``); see :func:`protected_request`."""
    return protected_request("HEAD", url, **kwargs)
