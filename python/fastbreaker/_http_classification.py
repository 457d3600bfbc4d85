"""What an HTTP call means for its service's breaker: one set of rules, written once, shared by
the ``requests`` adapter (and so ``protected_*``) and the httpx transports.

- The breaker of a call is named after its URL's origin, ``scheme://host[:port]`` (host
  lower-cased and IDNA-encoded, default port left out), so that every client names a service
  alike.
- An answer with a status of 500 or more (5xx, and the non-standard 600-999) is a failure; any
  other answer is a success: the service answered, even if the request was wrong (4xx).
- Errors while talking to the service (connection refused, timeouts, TLS, a body that breaks or
  cannot be decoded) are failures. The caller's own mistakes (a bad URL, header or body, found by
  the client) and anything else (``KeyboardInterrupt``, a cancelled task, a bug in a hook) say
  nothing about the service: they are ignored, and give back any half-open trial slot.
- A body is part of its call. An answer whose body is still to be read when the client returns
  it (a streamed response) is recorded when its reading ends: a success once it is read to the
  end, a failure (once) if reading it breaks, ignored if it is closed before the end. One never
  read nor closed is ignored when it is garbage collected (its permit gives its slot back), and a
  half-open breaker takes back the slot of a trial older than ``trial_timeout`` anyway.
- Each hop of a redirect is a call of its own, counted by the breaker of the origin it went to.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Hashable, Optional, Tuple, Type

from ._core import CircuitBreaker, Options, Permit, get_circuit_breaker

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}

#: The breaker options an HTTP client integration takes, as keyword arguments (``None``: the
#: breaker's default). ``expected_exceptions`` is not one: these rules decide what fails.
OPTION_NAMES = (
    "failure_threshold",
    "recovery_timeout",
    "success_threshold",
    "half_open_max_calls",
    "trial_timeout",
)

SUCCESS = "success"
FAILURE = "failure"
IGNORED = "ignored"

ExceptionClasses = Tuple[Type[BaseException], ...]


def origin(scheme: str, host: str, port: Optional[int]) -> str:
    """``scheme://host[:port]``: the breaker name of a service. ``scheme`` and ``host`` are as the
    client normalised them (lower-cased, the host IDNA-encoded, an IPv6 address without its
    brackets)."""
    name = f"{scheme}://[{host}]" if ":" in host else f"{scheme}://{host}"
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        name += f":{port}"
    return name


class KnownOrigins:
    """Breaker names already worked out, by a key that determines them (the scheme and netloc of a
    URL as the client parsed it): the host and port are parsed once per service instead of once
    per request (``urlsplit``'s ``hostname`` and ``port`` parse the netloc again at each read).
    Only names made without error are kept, at most ``size``: beyond that they are forgotten all at
    once (a client that talks to more services than that parses more often, nothing else)."""

    __slots__ = ("_names", "_size", "get")

    def __init__(self, size: int = 256) -> None:
        self._names: Dict[Hashable, str] = {}
        self._size = size
        #: ``get(key)``: the name kept for ``key``, or ``None``.
        self.get: Callable[[Hashable], Optional[str]] = self._names.get

    def add(self, key: Hashable, name: str) -> str:
        """Keeps ``name`` for ``key``, and returns it."""
        if len(self._names) >= self._size:
            self._names.clear()
        self._names[key] = name
        return name


def status_outcome(status: int) -> str:
    """5xx (and the non-standard 600-999) are the service's failures; anything below, an
    answer."""
    return FAILURE if status >= 500 else SUCCESS


def answer_outcome(method: str, status: int, content_length: Optional[str]) -> Optional[str]:
    """What an answer's head decides: a failure for a status >= 500 (whatever its body does
    next), a success for an answer without a body, else ``None``: its body decides.

    An answer has no body (it is complete once its head has arrived) if it answers ``HEAD``, is a
    1xx, 204 or 304 (by the rules of HTTP), or says ``Content-Length: 0``."""
    if status >= 500:  # status_outcome(status), inlined: this runs for every answer
        return FAILURE
    if (
        method == "HEAD"
        or status < 200
        or status in (204, 304)
        or (content_length is not None and content_length.strip() == "0")
    ):
        return SUCCESS
    return None


def exception_outcome(
    error: BaseException, caller_mistakes: ExceptionClasses, service_failures: ExceptionClasses
) -> str:
    """A client's error: ignored if it is the caller's mistake (checked first: some clients
    derive those from their transport errors), a failure if it is a failure to talk to the
    service, ignored otherwise."""
    if isinstance(error, caller_mistakes):
        return IGNORED
    if isinstance(error, service_failures):
        return FAILURE
    return IGNORED


def record(permit: Permit, outcome: str) -> None:
    """Reports ``outcome`` on ``permit`` (a permit already reported ignores it)."""
    if outcome == SUCCESS:
        permit.record_success()
    elif outcome == FAILURE:
        permit.record_failure()
    else:
        permit.record_ignored()


def check_options(options: Dict[str, Any]) -> Dict[str, Any]:
    """The given breaker options (``None`` left out), checked now: a bad one raises the
    ``TypeError`` or ``ValueError`` a breaker would, naming it, when the client is built."""
    given = {name: value for name, value in options.items() if value is not None}
    Options(**given)
    return given


class Breakers:
    """The breakers of one adapter or transport: the one named ``service_name``, or one per origin,
    each taken from the process registry (created with ``options`` if it is new) once, then kept.
    Thread-safe: a race only looks the same name up twice."""

    __slots__ = ("_by_name", "options", "service_name")

    def __init__(self, service_name: Optional[str], options: Dict[str, Any]) -> None:
        if service_name is not None and not isinstance(service_name, str):
            raise TypeError(f"service_name must be a str, got {type(service_name).__qualname__}")
        self.service_name = service_name
        self.options = check_options(options)
        self._by_name: Dict[str, CircuitBreaker] = {}

    def get(self, service_origin: str) -> CircuitBreaker:
        name = service_origin if self.service_name is None else self.service_name
        breaker = self._by_name.get(name)
        if breaker is None:
            breaker = self._by_name[name] = get_circuit_breaker(name, **self.options)
        return breaker


class BodyWatch:
    """The outcome of a call whose answer's body is read after the client returned it.

    The client's stream reports ``received()`` when the last byte has arrived, ``broke(...)`` when
    reading it raised, and ``closed()`` when it is closed. Where the body is decoded above that
    stream (httpx), the decoding reader brackets its work with ``decoding()`` / ``decoded()``,
    so that a body that arrives whole but cannot be decoded is still a failure: its success waits
    for the decoder. The first outcome is the one recorded.
    """

    __slots__ = ("_decoders", "_permit", "_received")

    def __init__(self, permit: Permit) -> None:
        self._permit: Optional[Permit] = permit
        self._received = False
        self._decoders = 0

    @property
    def settled(self) -> bool:
        return self._permit is None

    def settle(self, outcome: str) -> None:
        permit, self._permit = self._permit, None
        if permit is not None:
            record(permit, outcome)

    def received(self) -> None:
        self._received = True
        if self._decoders == 0:
            # self.settle(SUCCESS), inlined: this ends the body of every answer watched.
            permit, self._permit = self._permit, None
            if permit is not None:
                permit.record_success()

    def broke(
        self,
        error: BaseException,
        caller_mistakes: ExceptionClasses,
        service_failures: ExceptionClasses,
    ) -> None:
        self.settle(exception_outcome(error, caller_mistakes, service_failures))

    def closed(self) -> None:
        if self._permit is None:
            return  # settled already: the common case, a body read to its end then closed
        # Closed before the end: the caller stopped reading, which says nothing of the service.
        if not self._received:
            self.settle(IGNORED)
        elif self._decoders == 0:
            self.settle(SUCCESS)

    def decoding(self) -> None:
        self._decoders += 1

    def decoded(self) -> None:
        """The decoding reader ended, by reaching the end or by being abandoned (a decoding error
        is reported with ``broke`` first)."""
        self._decoders -= 1
        if self._received and self._decoders == 0:
            self.settle(SUCCESS)
