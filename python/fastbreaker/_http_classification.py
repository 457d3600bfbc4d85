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
- A 429 (Too Many Requests) or 503 (Service Unavailable) with a valid ``Retry-After`` (seconds, or
  an HTTP date) is a failure that opens the service's circuit at once, for that long (at most the
  breaker's ``max_retry_after``), unless the breaker's ``honor_retry_after`` is false. It is
  decided by the answer's head, whatever its body does next. Without a valid ``Retry-After``, a
  429 is a 4xx and a 503 a 5xx like any other.
"""

from __future__ import annotations

import calendar
import re
import string
import time
from datetime import datetime
from typing import Any, Callable, Dict, Hashable, Mapping, Optional, Tuple, Type

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
    "honor_retry_after",
    "max_retry_after",
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


#: The longest delay :func:`parse_retry_after` returns, in seconds (about 32 million years): a
#: longer one reads as this, so that what it returns is always a finite float, whatever the
#: digits. Far above any ``max_retry_after`` a breaker accepts.
MAX_RETRY_AFTER_SECONDS = 1e15

# RFC 9110 section 5.6.7. HTTP-date is case-sensitive, and its three forms have fixed widths; the
# day name is not checked against the date (nothing depends on it).
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBERS = {name: number for number, name in enumerate(_MONTHS, 1)}
_MONTH = "|".join(_MONTHS)
_DAY_NAME = "Mon|Tue|Wed|Thu|Fri|Sat|Sun"
_DAY_NAME_LONG = "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
_TIME = "([0-9]{2}):([0-9]{2}):([0-9]{2})"
# IMF-fixdate, the preferred form: "Sun, 06 Nov 1994 08:49:37 GMT".
_IMF_FIXDATE = re.compile(f"(?:{_DAY_NAME}), ([0-9]{{2}}) ({_MONTH}) ([0-9]{{4}}) {_TIME} GMT")
# The obsolete forms a recipient must still accept: RFC 850, "Sunday, 06-Nov-94 08:49:37 GMT",
# and ANSI C's asctime(), "Sun Nov  6 08:49:37 1994" (in GMT, though it does not say so).
_RFC850_DATE = re.compile(f"(?:{_DAY_NAME_LONG}), ([0-9]{{2}})-({_MONTH})-([0-9]{{2}}) {_TIME} GMT")
_ASCTIME_DATE = re.compile(f"(?:{_DAY_NAME}) ({_MONTH}) ([0-9]{{2}}| [0-9]) {_TIME} ([0-9]{{4}})")
# RFC 850's two-digit year is the latest one that is not more than 50 years ahead.
_FIFTY_YEARS = 50 * 365.2425 * 86400

#: The wall clock an HTTP date in ``Retry-After`` is read against (Unix time; a test may replace
#: it). The circuit then stays open for that long on the breaker's own monotonic clock.
wall_clock: Callable[[], float] = time.time


def parse_retry_after(value: object, now: float) -> Optional[float]:
    """The seconds from ``now`` (Unix time, as ``time.time()`` gives it) that a ``Retry-After``
    header's value asks to wait, or ``None`` if the value is not valid. Never raises.

    RFC 9110 section 10.2.3: either delay-seconds, one or more ASCII digits (no sign, no fraction;
    a delay beyond :data:`MAX_RETRY_AFTER_SECONDS` reads as that), or an HTTP-date: the
    IMF-fixdate form (``Sun, 06 Nov 1994 08:49:37 GMT``), or one of the obsolete forms RFC 9110
    says a recipient must accept, RFC 850 (``Sunday, 06-Nov-94 08:49:37 GMT``) and asctime
    (``Sun Nov  6 08:49:37 1994``, GMT). A date already past gives 0. Whitespace around the value
    is ignored. ``value`` is a ``str``, or the header's raw ``bytes``; anything else is not
    valid."""
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("latin-1")  # any bytes decode; a non-ASCII one matches nothing
    if not isinstance(value, str):
        return None
    text = str.strip(value, string.whitespace)  # a plain str, even from a subclass of str
    if text.isdigit() and text.isascii():
        digits = text.lstrip("0")
        if len(digits) > 15:  # 10**15 or more: also keeps int() from a million digits
            return MAX_RETRY_AFTER_SECONDS
        return float(int(digits or "0"))
    try:
        moment = _http_date(text, now)
    except (ValueError, OverflowError, OSError):  # February 30th, hour 24; a `now` out of range
        return None
    if moment is None:
        return None
    delay = moment - now
    if delay > 0:
        return min(delay, MAX_RETRY_AFTER_SECONDS)
    return 0.0 if delay <= 0 else None  # None: a `now` that is not a number


def _http_date(text: str, now: float) -> Optional[float]:
    """The Unix time of an HTTP-date in one of its three forms, ``None`` if it is in none of them;
    ``ValueError`` for a date or time that does not exist."""
    match = _IMF_FIXDATE.fullmatch(text)
    if match is not None:
        day, month, year, hour, minute, second = match.groups()
        numbers = [int(year), _MONTH_NUMBERS[month], int(day), int(hour), int(minute), int(second)]
    else:
        match = _ASCTIME_DATE.fullmatch(text)
        if match is not None:
            month, day, hour, minute, second, year = match.groups()
            numbers = [int(year), _MONTH_NUMBERS[month], int(day), int(hour), int(minute)]
            numbers.append(int(second))
        else:
            match = _RFC850_DATE.fullmatch(text)
            if match is None:
                return None
            day, month, year, hour, minute, second = match.groups()
            this_year = time.gmtime(now).tm_year
            numbers = [this_year - this_year % 100 + int(year), _MONTH_NUMBERS[month], int(day)]
            numbers.extend((int(hour), int(minute), int(second)))
            if calendar.timegm(tuple(numbers)) - now > _FIFTY_YEARS:
                numbers[0] -= 100
    year, month, day, hour, minute, second = numbers
    # Checks the date and time exist (second 60: a leap second, which timegm counts on into the
    # next minute).
    datetime(year, month, day, hour, minute, min(second, 59))
    if second > 60:
        raise ValueError("second must be in 0..60")
    return float(calendar.timegm((year, month, day, hour, minute, second)))


def retry_after_open_for(
    breaker: CircuitBreaker, status: int, headers: Mapping[str, Any], now: Optional[float] = None
) -> Optional[float]:
    """How long an answer opens its service's circuit because of its ``Retry-After``, in
    seconds, or ``None`` if it does not: its status decides as for any other answer.

    A 429 or 503 whose ``breaker`` honours ``Retry-After`` (``honor_retry_after``) and whose
    ``headers`` give a valid one (:func:`parse_retry_after`, from ``now``, default
    :data:`wall_clock`'s reading) opens it for that long, at most the breaker's
    ``max_retry_after``. A delay of 0 (or a date already past) is no opening: the status
    decides. The headers are only looked at for a 429 or 503."""
    if status != 429 and status != 503:
        return None
    if not breaker.honor_retry_after:
        return None
    value = headers.get("Retry-After")
    if value is None:
        return None
    seconds = parse_retry_after(value, wall_clock() if now is None else now)
    if seconds is None or seconds <= 0:
        # Nothing to wait for ("0", or a date already past, often a clock skew): the server said
        # "now". Opening for no time would only throttle every caller to the half-open trials.
        return None
    return float(min(seconds, breaker.max_retry_after))


def record_retry_after(permit: Permit, status: int, headers: Mapping[str, Any]) -> bool:
    """Records the answer of ``permit``'s call as a failure that opens the circuit for its
    ``Retry-After`` (:func:`retry_after_open_for`), if it does: whether it did."""
    open_for = retry_after_open_for(permit.circuit_breaker, status, headers)
    if open_for is None:
        return False
    permit.record_failure(open_for=open_for)
    return True


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
