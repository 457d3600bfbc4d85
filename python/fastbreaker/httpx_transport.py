"""Circuit breaking for httpx clients: wrap their transport.

::

    client = httpx.Client(transport=CircuitBreakerTransport(failure_threshold=3))
    async_client = httpx.AsyncClient(transport=AsyncCircuitBreakerTransport())

Needs httpx (``pip install 'fastbreaker[httpx]'``). Each origin a client talks to
(``https://api.example.com``) gets its own breaker from the process registry, shared with the
``requests`` adapter and ``protected_*`` (or every request counts against one ``service_name``).
What counts is written once for every client, in ``fastbreaker._http_classification``: connection
errors, timeouts, broken or undecodable bodies and statuses >= 500 are failures; other answers
(4xx included) are successes; the caller's mistakes are ignored. A 429 or 503 with a valid
``Retry-After`` opens the circuit for that long (at most ``max_retry_after``), unless
``honor_retry_after=False``. The transports return responses as any transport does: they raise
nothing for a 4xx or 5xx.

In async code nothing waits: admission and recording are short synchronous steps of the core,
whose lock is never held across an ``await``; an open circuit (or a half-open one whose trial
slots are taken) raises ``CircuitBreakerError`` at once.
"""

from __future__ import annotations

from typing import AsyncIterator, Iterator, Optional, Tuple

try:
    import httpx
except ImportError as error:  # pragma: no cover - the extra is installed wherever tests run
    raise ImportError(
        "fastbreaker.httpx_transport needs httpx: pip install 'fastbreaker[httpx]'"
    ) from error

from . import _http_classification as rules
from ._core import CircuitBreaker, Permit

__all__ = ["AsyncCircuitBreakerTransport", "CircuitBreakerTransport"]

#: The caller's mistakes, found by the transport: a URL it cannot send to, a request it refuses to
#: write (an illegal header value), a request body already consumed.
CALLER_MISTAKES: rules.ExceptionClasses = (
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
    httpx.InvalidURL,
    httpx.StreamError,
)
#: Failures to talk to the service: connecting, timeouts, the network, the service breaking the
#: protocol, proxies; bodies that cannot be decoded.
SERVICE_FAILURES: rules.ExceptionClasses = (httpx.TransportError, httpx.DecodingError, OSError)


#: The origins of the URLs sent lately, by their ``(scheme, raw_host, port)``.
_known_origins = rules.KnownOrigins()


def request_origin(url: httpx.URL) -> str:
    """The breaker name of a request's service: its URL's origin, the host IDNA-encoded."""
    scheme, raw_host, port = url.scheme, url.raw_host, url.port
    key = (scheme, raw_host, port)
    name = _known_origins.get(key)
    if name is not None:
        return name
    host = raw_host.decode("ascii")
    if not host:
        raise httpx.UnsupportedProtocol(f"Request URL has no host: {url}")
    return _known_origins.add(key, rules.origin(scheme, host, port))


#: The header encodings httpx picks itself (``Headers.encoding``), where a name is its ASCII bytes.
_ASCII_ENCODINGS = ("ascii", "utf-8", "iso-8859-1")


def _length_and_encoding(headers: httpx.Headers) -> Tuple[Optional[str], str]:
    """``headers.get("Content-Length")`` and ``headers.get("Content-Encoding", "identity")``, in
    one pass over the raw headers (each ``get`` builds a list from the whole header list)."""
    charset = headers.encoding
    if charset in _ASCII_ENCODINGS:
        length: Optional[bytes] = None
        encoding: Optional[bytes] = None
        for raw_key, value in headers.raw:
            key = raw_key.lower()  # the name as httpx compares it
            if key == b"content-length":
                if length is not None:
                    break
                length = value
            elif key == b"content-encoding":
                if encoding is not None:
                    break
                encoding = value
        else:
            return (
                None if length is None else length.decode(charset),
                "identity" if encoding is None else encoding.decode(charset),
            )
    # A name given twice (httpx joins its values), or headers given another encoding by hand.
    return headers.get("Content-Length"), headers.get("Content-Encoding", "identity")


class _Guard:
    """The breakers of a transport, and what it does with an answer."""

    __slots__ = ("breakers",)

    def __init__(self, breakers: rules.Breakers) -> None:
        self.breakers = breakers

    def admit(self, request: httpx.Request) -> Permit:
        breaker = self.breakers.get(request_origin(request.url))
        return breaker.acquire()  # CircuitBreakerError while open: nothing is sent

    @staticmethod
    def failed(permit: Permit, error: BaseException) -> None:
        rules.record(permit, rules.exception_outcome(error, CALLER_MISTAKES, SERVICE_FAILURES))

    @staticmethod
    def answered(
        permit: Permit, request: httpx.Request, response: httpx.Response, asynchronous: bool
    ) -> httpx.Response:
        """The response, decided by its head (its status, a ``Retry-After``) or method, or else
        watched until its body has been read (httpx reads it after the transport returns, even
        without streaming)."""
        status = response.status_code
        if rules.record_retry_after(permit, status, response.headers):
            return response
        content_length, content_encoding = _length_and_encoding(response.headers)
        decided = rules.answer_outcome(request.method, status, content_length)
        if decided is not None:
            rules.record(permit, decided)
            return response
        watch = rules.BodyWatch(permit)
        if asynchronous:
            response.stream = _WatchedAsyncStream(response.stream, watch)  # type: ignore[arg-type]
        else:
            response.stream = _WatchedStream(response.stream, watch)  # type: ignore[arg-type]
        if content_encoding != "identity":
            # httpx decodes above the stream: the success waits for the decoder, which may find
            # the body incomplete after its last byte. (A subclass of httpx.Response, from a
            # custom transport, is only watched as far as its stream goes.)
            if type(response) is httpx.Response:
                response.__class__ = _DecodedResponse
                response._watch = watch  # type: ignore[attr-defined]
        return response


def _breakers(
    service_name: Optional[str],
    failure_threshold: Optional[int],
    recovery_timeout: Optional[float],
    success_threshold: Optional[int],
    half_open_max_calls: Optional[int],
    trial_timeout: Optional[float],
    honor_retry_after: Optional[bool],
    max_retry_after: Optional[float],
) -> rules.Breakers:
    return rules.Breakers(
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


class CircuitBreakerTransport(httpx.BaseTransport):
    """An httpx transport that sends each request through the circuit breaker of its service,
    over ``transport`` (default: ``httpx.HTTPTransport()``; pass your own for ``verify``,
    ``limits``, ``retries``, a proxy...). ``httpx.Client(transport=CircuitBreakerTransport())``.

    The service is ``service_name``, or else the origin of each request's URL. Breakers come from
    the process registry; the threshold options apply to those this transport creates, and are
    checked here (``None``: the breaker's default). So do ``honor_retry_after`` (default true: a
    429 or 503 answer with a valid ``Retry-After``, in seconds or an HTTP date, opens the circuit
    at once until then) and ``max_retry_after`` (the longest such opening, in seconds; default
    600). A body is part of its call: the outcome of any other answer below 500 is recorded
    when its body has been read (by the client, or by the caller of a streamed request) and
    decoded, a failure if that breaks, ignored if the response is closed first or garbage
    collected unread.
    """

    def __init__(
        self,
        transport: Optional[httpx.BaseTransport] = None,
        *,
        service_name: Optional[str] = None,
        failure_threshold: Optional[int] = None,
        recovery_timeout: Optional[float] = None,
        success_threshold: Optional[int] = None,
        half_open_max_calls: Optional[int] = None,
        trial_timeout: Optional[float] = None,
        honor_retry_after: Optional[bool] = None,
        max_retry_after: Optional[float] = None,
    ) -> None:
        if transport is not None and not isinstance(transport, httpx.BaseTransport):
            raise TypeError(
                f"transport must be an httpx.BaseTransport, got {type(transport).__qualname__}"
            )
        self._guard = _Guard(
            _breakers(
                service_name,
                failure_threshold,
                recovery_timeout,
                success_threshold,
                half_open_max_calls,
                trial_timeout,
                honor_retry_after,
                max_retry_after,
            )
        )
        self._transport = httpx.HTTPTransport() if transport is None else transport

    @property
    def transport(self) -> httpx.BaseTransport:
        """The wrapped transport."""
        return self._transport

    def circuit_breaker(self, url: str) -> CircuitBreaker:
        """The breaker that guards requests to ``url`` through this transport."""
        return self._guard.breakers.get(request_origin(httpx.URL(url)))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        guard = self._guard
        permit = guard.admit(request)
        try:
            response = self._transport.handle_request(request)
        except BaseException as error:
            guard.failed(permit, error)
            raise
        return guard.answered(permit, request, response, asynchronous=False)

    def close(self) -> None:
        self._transport.close()


class AsyncCircuitBreakerTransport(httpx.AsyncBaseTransport):
    """The asyncio (and trio) form of :class:`CircuitBreakerTransport`, over ``transport``
    (default: ``httpx.AsyncHTTPTransport()``):
    ``httpx.AsyncClient(transport=AsyncCircuitBreakerTransport())``.

    The options are those of :class:`CircuitBreakerTransport`. Admission and recording never
    await: a rejected request raises ``CircuitBreakerError`` at once, and a slow service only
    holds the tasks that wait for it. A task cancelled while it waits for an answer or reads a
    body records nothing (its trial slot, if any, is given back).
    """

    def __init__(
        self,
        transport: Optional[httpx.AsyncBaseTransport] = None,
        *,
        service_name: Optional[str] = None,
        failure_threshold: Optional[int] = None,
        recovery_timeout: Optional[float] = None,
        success_threshold: Optional[int] = None,
        half_open_max_calls: Optional[int] = None,
        trial_timeout: Optional[float] = None,
        honor_retry_after: Optional[bool] = None,
        max_retry_after: Optional[float] = None,
    ) -> None:
        if transport is not None and not isinstance(transport, httpx.AsyncBaseTransport):
            raise TypeError(
                f"transport must be an httpx.AsyncBaseTransport, got {type(transport).__qualname__}"
            )
        self._guard = _Guard(
            _breakers(
                service_name,
                failure_threshold,
                recovery_timeout,
                success_threshold,
                half_open_max_calls,
                trial_timeout,
                honor_retry_after,
                max_retry_after,
            )
        )
        self._transport = httpx.AsyncHTTPTransport() if transport is None else transport

    @property
    def transport(self) -> httpx.AsyncBaseTransport:
        """The wrapped transport."""
        return self._transport

    def circuit_breaker(self, url: str) -> CircuitBreaker:
        """The breaker that guards requests to ``url`` through this transport."""
        return self._guard.breakers.get(request_origin(httpx.URL(url)))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        guard = self._guard
        permit = guard.admit(request)
        try:
            response = await self._transport.handle_async_request(request)
        except BaseException as error:
            guard.failed(permit, error)
            raise
        return guard.answered(permit, request, response, asynchronous=True)

    async def aclose(self) -> None:
        await self._transport.aclose()


class _WatchedStream(httpx.SyncByteStream):
    """A body as it arrives: reports its end, its breaking and its closing to the call's watch."""

    def __init__(self, stream: httpx.SyncByteStream, watch: rules.BodyWatch) -> None:
        self._stream = stream
        self._watch = watch

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._stream
        except GeneratorExit:
            raise  # the reader stopped: closing the response (or dropping it) decides
        except BaseException as error:
            self._watch.broke(error, CALLER_MISTAKES, SERVICE_FAILURES)
            raise
        self._watch.received()

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            self._watch.closed()


class _WatchedAsyncStream(httpx.AsyncByteStream):
    """The async form of :class:`_WatchedStream`."""

    def __init__(self, stream: httpx.AsyncByteStream, watch: rules.BodyWatch) -> None:
        self._stream = stream
        self._watch = watch

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._stream:
                yield chunk
        except GeneratorExit:
            raise
        except BaseException as error:
            self._watch.broke(error, CALLER_MISTAKES, SERVICE_FAILURES)
            raise
        self._watch.received()

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            self._watch.closed()


class _DecodedResponse(httpx.Response):
    """A response whose encoded body (gzip, brotli, zstd...) is still to be read: the same object,
    with two more methods. httpx decodes a body above its stream, after the last byte has arrived:
    reading through ``iter_bytes`` (and so ``read``, ``text``, ``json()``, ``iter_text``,
    ``iter_lines``) holds the call's success until decoding has ended, so that a body that cannot
    be decoded is a failure. (``iter_raw`` does not decode: its end is the body's.)"""

    _watch: rules.BodyWatch

    def iter_bytes(self, chunk_size: Optional[int] = None) -> Iterator[bytes]:
        if hasattr(self, "_content"):
            yield from super().iter_bytes(chunk_size)
            return
        watch = self._watch
        watch.decoding()
        try:
            yield from super().iter_bytes(chunk_size)
        except httpx.DecodingError as error:
            watch.broke(error, CALLER_MISTAKES, SERVICE_FAILURES)
            raise
        finally:
            watch.decoded()

    async def aiter_bytes(self, chunk_size: Optional[int] = None) -> AsyncIterator[bytes]:
        if hasattr(self, "_content"):
            async for chunk in super().aiter_bytes(chunk_size):
                yield chunk
            return
        watch = self._watch
        watch.decoding()
        try:
            async for chunk in super().aiter_bytes(chunk_size):
                yield chunk
        except httpx.DecodingError as error:
            watch.broke(error, CALLER_MISTAKES, SERVICE_FAILURES)
            raise
        finally:
            watch.decoded()
