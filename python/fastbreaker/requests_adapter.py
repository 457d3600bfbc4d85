"""Circuit breaking for any ``requests.Session``: mount :class:`CircuitBreakerAdapter`.

::

    session = requests.Session()
    session.mount("https://", CircuitBreakerAdapter(failure_threshold=3, recovery_timeout=30))

Each origin the session talks to through the adapter (``https://api.example.com``) gets its own
breaker from the process registry (or every request counts against one ``service_name``). What
counts is written once for every client, in ``fastbreaker._http_classification``: connection
errors, timeouts, broken or undecodable bodies and statuses >= 500 are failures; other answers
(4xx included) are successes; the caller's mistakes are ignored. A 429 or 503 with a valid
``Retry-After`` opens the circuit for that long (at most ``max_retry_after``), unless
``honor_retry_after=False``. The adapter returns responses as any adapter does: it raises no
``HTTPError`` for a 4xx or 5xx.
"""

from __future__ import annotations

import contextvars
from typing import Any, Dict, Iterator, Optional, Tuple, Union
from urllib.parse import urlsplit

import requests
from requests.adapters import DEFAULT_POOLBLOCK, DEFAULT_POOLSIZE, DEFAULT_RETRIES, HTTPAdapter
from requests.models import REDIRECT_STATI
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.util.retry import Retry

from . import _http_classification as rules
from ._core import CircuitBreaker, Permit

__all__ = ["CircuitBreakerAdapter"]

#: The caller's mistakes: raised before or instead of talking to the service.
CALLER_MISTAKES: rules.ExceptionClasses = (
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidURL,  # InvalidProxyURL too
    requests.exceptions.InvalidHeader,
    requests.exceptions.URLRequired,
    requests.exceptions.InvalidJSONError,
)
#: Everything else that can go wrong while talking to the service.
SERVICE_FAILURES: rules.ExceptionClasses = (requests.RequestException, Urllib3Error, OSError)

# `protected_*`: for the duration of one call, the breaker that guards its first URL's origin
# (its `service_name`'s, created with the call's options), as (adapter, first URL as prepared,
# origin, breaker). Other origins (a redirect elsewhere) keep their own breakers.
_call_breaker: contextvars.ContextVar[Optional[Tuple[Any, Optional[str], str, CircuitBreaker]]] = (
    contextvars.ContextVar("fastbreaker_call_breaker", default=None)
)


#: The origins of the URLs sent lately, by their ``(scheme, netloc)`` (shared with ``protected_*``).
_known_origins = rules.KnownOrigins()


def request_origin(url: Union[str, bytes, None]) -> str:
    """The origin of a prepared request's URL (requests has already checked and IDNA-encoded it).
    A URL without a host raises ``requests.exceptions.InvalidURL``, before any breaker exists."""
    text = url.decode("utf-8") if isinstance(url, bytes) else url or ""
    parts = urlsplit(text)
    key = (parts.scheme, parts.netloc)
    name = _known_origins.get(key)
    if name is not None:
        return name
    host = parts.hostname
    if not host:
        raise requests.exceptions.InvalidURL(f"Invalid URL {text!r}: No host supplied")
    try:
        port = parts.port
    except ValueError as error:
        raise requests.exceptions.InvalidURL(f"Invalid URL {text!r}: {error}") from None
    return _known_origins.add(key, rules.origin(parts.scheme, host, port))


class CircuitBreakerAdapter(HTTPAdapter):
    """A ``requests`` transport adapter that sends each request through the circuit breaker of its
    service. Mount it on a session: ``session.mount("https://", CircuitBreakerAdapter())``.

    The service is ``service_name``, or else the origin of each request's URL
    (``https://api.example.com/match`` is guarded by the breaker ``https://api.example.com``).
    Breakers come from the process registry (``get_circuit_breaker``): the threshold options apply
    to those this adapter creates, and are checked here (``None``: the breaker's default). So do
    ``honor_retry_after`` (default true: a 429 or 503 answer with a valid ``Retry-After``, in
    seconds or an HTTP date, opens the circuit at once until then) and ``max_retry_after`` (the
    longest such opening, in seconds; default 600). The remaining keyword arguments are
    ``HTTPAdapter``'s (``pool_connections``, ``pool_maxsize``, ``max_retries``, ``pool_block``);
    retries made by urllib3 inside one ``send`` count as one call.

    An open circuit raises ``CircuitBreakerError`` from ``send`` without touching the network.
    With ``stream=False`` the body is read inside ``send``, so the outcome is known when it
    returns. With ``stream=True`` it is recorded when the caller's reading ends (through
    ``iter_content``, ``iter_lines``, ``content``, ``text``, ``json()``): a success at the end of
    the body, a failure if reading breaks, ignored if the response is closed first or is garbage
    collected unread. Reading ``response.raw`` directly bypasses that: such a call is ignored.
    """

    # What pickling keeps (HTTPAdapter.__getstate__): the breaker options too.
    __attrs__ = [*HTTPAdapter.__attrs__, "_service_name", "_options"]  # noqa: RUF012

    def __init__(
        self,
        *,
        service_name: Optional[str] = None,
        failure_threshold: Optional[int] = None,
        recovery_timeout: Optional[float] = None,
        success_threshold: Optional[int] = None,
        half_open_max_calls: Optional[int] = None,
        trial_timeout: Optional[float] = None,
        honor_retry_after: Optional[bool] = None,
        max_retry_after: Optional[float] = None,
        pool_connections: int = DEFAULT_POOLSIZE,
        pool_maxsize: int = DEFAULT_POOLSIZE,
        max_retries: Union[int, Retry] = DEFAULT_RETRIES,
        pool_block: bool = DEFAULT_POOLBLOCK,
    ) -> None:
        self._breakers = rules.Breakers(
            service_name,
            {
                "failure_threshold": failure_threshold,
                "recovery_timeout": recovery_timeout,
                "success_threshold": success_threshold,
                "half_open_max_calls": half_open_max_calls,
                "trial_timeout": trial_timeout,
                "honor_retry_after": honor_retry_after,
                "max_retry_after": max_retry_after,
            },
        )
        self._service_name = service_name
        self._options = self._breakers.options
        super().__init__(
            pool_connections=pool_connections,
            pool_maxsize=pool_maxsize,
            max_retries=max_retries,
            pool_block=pool_block,
        )

    def __setstate__(self, state: Dict[str, Any]) -> None:
        super().__setstate__(state)
        self._breakers = rules.Breakers(self._service_name, self._options)

    @property
    def service_name(self) -> Optional[str]:
        """The one breaker name of every request, or ``None``: one breaker per origin."""
        return self._service_name

    def circuit_breaker(self, url: str) -> CircuitBreaker:
        """The breaker that guards requests to ``url`` through this adapter."""
        prepared = requests.PreparedRequest()
        prepared.prepare_url(url, None)
        return self._breaker_for(prepared.url)

    def _breaker_for(self, url: Union[str, bytes, None]) -> CircuitBreaker:
        call = _call_breaker.get()
        if call is not None and call[0] is self and url is call[1]:
            return call[3]  # the first request of a protected_* call: its origin is known
        service_origin = request_origin(url)
        if call is not None and call[0] is self and call[2] == service_origin:
            return call[3]
        return self._breakers.get(service_origin)

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Union[bool, str] = True,
        cert: Any = None,
        proxies: Optional[Dict[str, str]] = None,
    ) -> requests.Response:
        """Sends ``request`` through its service's breaker (see the class)."""
        breaker = self._breaker_for(request.url)  # a URL without a host: no breaker
        permit = breaker.acquire()  # CircuitBreakerError while open: nothing is sent
        try:
            response = super().send(
                request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies
            )
        except BaseException as error:
            rules.record(permit, rules.exception_outcome(error, CALLER_MISTAKES, SERVICE_FAILURES))
            raise
        return _watch(permit, request, response, stream)


def _watch(
    permit: Permit, request: requests.PreparedRequest, response: requests.Response, stream: bool
) -> requests.Response:
    """Records the outcome of an answer: at once where its head decides (its status, a
    ``Retry-After``) or it has no body, else when its body has been read (here for
    ``stream=False``, by the caller otherwise)."""
    status = response.status_code
    decided: Optional[str]
    if rules.record_retry_after(permit, status, response.headers):
        decided = rules.FAILURE
    else:
        decided = rules.answer_outcome(
            request.method or "", status, response.headers.get("Content-Length")
        )
        if decided is not None:
            rules.record(permit, decided)
    if not stream and not _is_redirect(response):
        # What `Session.send` does after the hooks, done first so that the outcome is known when
        # `send` returns. (A redirect's body is requests' to read and discard, or the caller's
        # with `allow_redirects=False`: it is watched like a streamed one.)
        try:
            response.content  # noqa: B018
        except BaseException as error:
            rules.record(permit, rules.exception_outcome(error, CALLER_MISTAKES, SERVICE_FAILURES))
            raise
        # Unless decided above (a permit records its first outcome only).
        if _cut_short(response):
            permit.record_failure()
        else:
            permit.record_success()
    elif decided is None:
        if type(response) is requests.Response:
            # The same object, with two more methods: its reading reports to the permit.
            response.__class__ = _WatchedResponse
            response._body_watch = rules.BodyWatch(permit)  # type: ignore[attr-defined]
        else:  # the response class of an overridden build_response: by its status
            permit.record_success()
    return response


def _is_redirect(response: requests.Response) -> bool:
    """``response.is_redirect``, with the cheap half of its test first where it is requests' own
    (its test of the headers raises and catches a ``KeyError`` for an answer without Location)."""
    if type(response) is requests.Response and response.status_code not in REDIRECT_STATI:
        return False
    return response.is_redirect


def _cut_short(response: requests.Response) -> bool:
    """Whether a body read to its end was shorter than its Content-Length. urllib3 2 raises for
    that (a ``ChunkedEncodingError``); urllib3 1.26 ends the body quietly."""
    remaining = getattr(response.raw, "length_remaining", None)
    return isinstance(remaining, int) and remaining > 0


def _settle_by_status(response: Any) -> None:
    """Records a watched response's outcome by its status alone, now (``protected_*`` turns its
    answers >= 400 into errors, whose bodies are seldom read)."""
    watch = getattr(response, "_body_watch", None)
    if isinstance(watch, rules.BodyWatch) and isinstance(response.status_code, int):
        watch.settle(rules.status_outcome(response.status_code))


class _WatchedResponse(requests.Response):
    """A response whose body is still to be read: its reading reports to the call's permit. Only
    ever made from a ``requests.Response`` by the adapter (and pickled, it comes back plain)."""

    _body_watch: Optional[rules.BodyWatch] = None

    def iter_content(
        self, chunk_size: Optional[int] = 1, decode_unicode: bool = False
    ) -> Iterator[Any]:
        chunks = super().iter_content(chunk_size, decode_unicode=decode_unicode)  # type: ignore[call-overload]
        watch = self._body_watch
        if watch is None or watch.settled or self._content_consumed:
            return chunks  # type: ignore[no-any-return]
        return _reported(self, chunks, watch)

    def close(self) -> None:
        try:
            super().close()
        finally:
            watch = self._body_watch
            if watch is not None:
                watch.closed()


def _reported(
    response: requests.Response, chunks: Iterator[Any], watch: rules.BodyWatch
) -> Iterator[Any]:
    try:
        yield from chunks
    except GeneratorExit:
        raise  # the caller stopped reading: closing the response (or dropping it) decides
    except BaseException as error:
        watch.broke(error, CALLER_MISTAKES, SERVICE_FAILURES)
        raise
    if _cut_short(response):
        watch.settle(rules.FAILURE)
    else:
        watch.received()
