"""Retry-After in the HTTP integrations: the parser of the header's value (delay-seconds and the
three HTTP-date forms of RFC 9110, whatever the input), the rule that turns a 429 or 503 with a
valid one into a failure that opens the circuit for that long (capped by ``max_retry_after``,
off with ``honor_retry_after=False``), and that rule in every client that records by status:
the ``requests`` adapter, ``protected_get`` / ``protected_post``, and the httpx transports (sync
and async), against a real loopback service."""

from __future__ import annotations

import asyncio
import calendar
import email.utils
import inspect
import json
import math
import time
from typing import Any, Callable, Dict, Iterator, List, Optional
from urllib.parse import urlencode

import httpx
import pytest
import requests
from fastbreaker import (
    CircuitBreaker,
    CircuitBreakerError,
    get_circuit_breaker,
)
from fastbreaker import _http_classification as rules
from fastbreaker.external_service_client import protected_get, protected_post, protected_request
from fastbreaker.httpx_transport import AsyncCircuitBreakerTransport, CircuitBreakerTransport
from fastbreaker.requests_adapter import CircuitBreakerAdapter
from hypothesis import given, settings
from hypothesis import strategies as st

parse = rules.parse_retry_after
MAX = rules.MAX_RETRY_AFTER_SECONDS
HUGE = 10**6  # a threshold never reached: only an opening for Retry-After opens the circuit

# The wall clock of the parser tests, and of the integration tests that send a date: Friday
# 1 May 2026, 00:00:00 GMT.
NOW = calendar.timegm((2026, 5, 1, 0, 0, 0))

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
DAYS_LONG = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def imf_fixdate(moment: float) -> str:
    """``Fri, 01 May 2026 00:01:30 GMT``."""
    return email.utils.formatdate(moment, usegmt=True)


def rfc850_date(moment: float) -> str:
    """``Friday, 01-May-26 00:01:30 GMT``."""
    t = time.gmtime(moment)
    return (
        f"{DAYS_LONG[t.tm_wday]}, {t.tm_mday:02d}-{MONTHS[t.tm_mon - 1]}-{t.tm_year % 100:02d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


def asctime_date(moment: float) -> str:
    """``Fri May  1 00:01:30 2026`` (``time.asctime`` names days and months in English)."""
    return time.asctime(time.gmtime(moment))


DATE_FORMS = {"IMF-fixdate": imf_fixdate, "RFC 850": rfc850_date, "asctime": asctime_date}


def short(value: object) -> str:
    """A test id that stays short for the values of a million characters."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:30]}...({len(text)} chars)"


# The parser.


@pytest.mark.parametrize(
    "value, seconds",
    [
        # delay-seconds
        ("0", 0.0),
        ("1", 1.0),
        ("120", 120.0),
        ("007", 7.0),
        ("86400", 86400.0),
        ("999999999999999", 999999999999999.0),  # the longest delay read as it is
        ("1" + "0" * 15, MAX),  # 10**15 and beyond read as MAX
        ("9" * 100, MAX),
        ("9" * 5000, MAX),  # more digits than int() takes from a str
        ("0" * 5000 + "5", 5.0),
        (" 120", 120.0),  # whitespace around the value is not part of it
        ("120 ", 120.0),
        ("\t60\t", 60.0),
        (" \t\r\n 60 \n", 60.0),
        (b"30", 30.0),  # the header's raw bytes
        (bytearray(b"45"), 45.0),
        # HTTP-date, its three forms
        ("Fri, 01 May 2026 00:02:00 GMT", 120.0),
        ("Friday, 01-May-26 00:02:00 GMT", 120.0),
        ("Fri May  1 00:02:00 2026", 120.0),
        ("Fri May 01 00:02:00 2026", 120.0),  # date3 with two digits
        (" Fri, 01 May 2026 00:02:00 GMT\t", 120.0),
        (b"Fri, 01 May 2026 00:02:00 GMT", 120.0),
        ("Mon, 01 May 2026 00:02:00 GMT", 120.0),  # the day name is not checked against the date
        ("Tue, 29 Feb 2028 00:00:00 GMT", calendar.timegm((2028, 2, 29, 0, 0, 0)) - NOW),
        # a leap second: 23:59:60 is the second before midnight
        ("Thu, 31 Dec 2026 23:59:60 GMT", calendar.timegm((2027, 1, 1, 0, 0, 0)) - NOW),
        ("Fri, 31 Dec 9999 23:59:59 GMT", calendar.timegm((9999, 12, 31, 23, 59, 59)) - NOW),
        # dates already past: 0
        ("Fri, 01 May 2026 00:00:00 GMT", 0.0),
        ("Thu, 30 Apr 2026 23:59:59 GMT", 0.0),
        ("Sun, 06 Nov 1994 08:49:37 GMT", 0.0),
        ("Sunday, 06-Nov-94 08:49:37 GMT", 0.0),
        ("Sun Nov  6 08:49:37 1994", 0.0),
        ("Mon, 01 Jan 0001 00:00:00 GMT", 0.0),
    ],
    ids=short,
)
def test_valid_values(value, seconds):
    assert parse(value, NOW) == seconds
    assert type(parse(value, NOW)) is float


@pytest.mark.parametrize(
    "value",
    [
        # not delay-seconds: 1*DIGIT, ASCII digits only
        "",
        " ",
        "\t \r\n",
        "-5",
        "+5",
        "-0",
        "1.5",
        "1.",
        ".5",
        "1e3",
        "0x10",
        "1_000",
        "5s",
        "5 s",
        "1 2",
        "120, 120",  # two Retry-After headers, joined by the client
        "inf",
        "NaN",
        "\u0661\u0662",  # ARABIC-INDIC DIGIT ONE, TWO: str.isdigit() says yes
        "\uff11\uff12\uff10",  # FULLWIDTH 120
        "\u00b2",  # SUPERSCRIPT TWO
        "5\x00",
        "\u00a0120",  # NO-BREAK SPACE is not whitespace around a header's value
        b"\xa0120",
        b"\x85120",  # NEXT LINE (latin-1), which str.strip() would strip
        b"\xff\xfe",
        "soon",
        # dates that do not exist
        "Mon, 30 Feb 2026 00:00:00 GMT",
        "Sun, 29 Feb 2027 00:00:00 GMT",
        "Fri, 00 May 2026 00:00:00 GMT",
        "Fri, 32 May 2026 00:00:00 GMT",
        "Fri, 01 May 2026 24:00:00 GMT",
        "Fri, 01 May 2026 00:60:00 GMT",
        "Fri, 01 May 2026 00:00:61 GMT",
        "Fri, 01 May 0000 00:00:00 GMT",
        "Friday, 31-Feb-26 00:00:00 GMT",
        "Fri Feb 30 00:00:00 2026",
        # not one of the three forms
        "Fri, 01 May 2026 00:02:00 UTC",
        "Fri, 01 May 2026 00:02:00 +0000",
        "Fri, 01 May 2026 00:02:00",
        "fri, 01 may 2026 00:02:00 gmt",  # HTTP-date is case-sensitive
        "FRI, 01 MAY 2026 00:02:00 GMT",
        "01 May 2026 00:02:00 GMT",
        "Fri 01 May 2026 00:02:00 GMT",
        "Fri, 1 May 2026 00:02:00 GMT",
        "Fri, 01 May 26 00:02:00 GMT",
        "Fri,  01 May 2026 00:02:00 GMT",
        "Fri, 01 May 2026 0:02:00 GMT",
        "Fri, 01 May 2026 00:02 GMT",
        "Fri, 01 Mai 2026 00:02:00 GMT",
        "Friday, 01 May 2026 00:02:00 GMT",
        "Fri, 01-May-26 00:02:00 GMT",  # RFC 850 takes the full day name
        "Friday, 01-May-2026 00:02:00 GMT",
        "Fri May 1 00:02:00 2026",  # asctime pads a one-digit day with a space
        "Fri May  1 00:02:00 2026 GMT",
        "Fri, 01 May 2026 00:02:00 GMT, Fri, 01 May 2026 00:02:00 GMT",  # two headers, joined
        "2026-05-01T00:02:00Z",
        "Fri, 01 May 2026 00:02:00 GMT\x00",
        "Fri, 01 May 2026 00:02:00 GMT and then some",
        "Fri, \uff10\uff11 May 2026 00:02:00 GMT",  # fullwidth digits in a date
        # not a str nor bytes
        None,
        120,
        120.0,
        ["120"],
        memoryview(b"120"),
        object(),
    ],
    ids=short,
)
def test_invalid_values(value):
    assert parse(value, NOW) is None


@pytest.mark.parametrize("form", DATE_FORMS)
@pytest.mark.parametrize("offset", [-86400 * 365, -1, 0, 1, 90, 3600, 86400 * 30])
def test_every_date_form_is_read_against_now(form, offset):
    assert parse(DATE_FORMS[form](NOW + offset), NOW) == max(offset, 0)


@pytest.mark.parametrize(
    "value, year",
    [
        # RFC 9110: a two-digit year more than 50 years ahead is the latest past year with them.
        ("Thursday, 01-Jan-76 00:00:00 GMT", 2076),  # 49.7 years ahead of 1 May 2026
        ("Wednesday, 01-Jan-77 00:00:00 GMT", 1977),  # 50.7 years ahead: the past
        ("Friday, 01-May-26 00:00:01 GMT", 2026),
        ("Thursday, 30-Apr-26 23:59:59 GMT", 2026),
        ("Saturday, 01-Jan-00 00:00:00 GMT", 2000),
        ("Sunday, 31-Dec-99 23:59:59 GMT", 1999),
    ],
)
def test_an_rfc850_year_is_at_most_50_years_ahead(value, year):
    moment = calendar.timegm((year, *time.strptime(value[-22:-4], "%d-%b-%y %H:%M:%S")[1:6]))
    assert parse(value, NOW) == max(moment - NOW, 0.0)


def test_the_rfc850_century_follows_now():
    value = "Monday, 01-Jan-80 00:00:00 GMT"
    assert parse(value, NOW) == 0.0  # 2080 is 53.7 years ahead of May 2026: it is 1980, past
    in_2040 = calendar.timegm((2040, 1, 1, 0, 0, 0))  # 2080 is 40 years ahead: it is 2080
    assert parse(value, in_2040) == calendar.timegm((2080, 1, 1, 0, 0, 0)) - in_2040


class HostileStr(str):
    """A str whose methods raise: the parser reads the characters, not the methods."""

    def strip(self, *args: Any) -> str:
        raise RuntimeError("strip called")

    def isdigit(self) -> bool:
        raise RuntimeError("isdigit called")

    def __str__(self) -> str:
        raise RuntimeError("__str__ called")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("__eq__ called")

    __hash__ = str.__hash__


class HostileBytes(bytes):
    def decode(self, *args: Any) -> str:
        raise RuntimeError("decode called")


@pytest.mark.parametrize(
    "value, seconds",
    [
        (HostileStr(" 120 "), 120.0),
        (HostileStr("Fri, 01 May 2026 00:02:00 GMT"), 120.0),
        (HostileStr("nope"), None),
        (HostileBytes(b"120"), 120.0),
        ("9" * 10**6, MAX),
        ("x" * 10**6, None),
        ("Fri, 01 May 2026 00:02:00 GMT" * 10**4, None),
        (" " * 10**6, None),
        (b"\x00" * 10**6, None),
    ],
    ids=short,
)
def test_hostile_values_never_raise(value, seconds):
    assert parse(value, NOW) == seconds


@pytest.mark.parametrize("now", [math.nan, math.inf, -math.inf, 1e300, -1e300])
def test_a_now_out_of_range_never_raises(now):
    for value in ("Fri, 01 May 2026 00:02:00 GMT", "Friday, 01-May-26 00:02:00 GMT"):
        result = parse(value, now)
        assert result is None or 0.0 <= result <= MAX
    assert parse("120", now) == 120.0  # a delay does not read the clock


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(), st.binary(), st.from_regex(r"\A\s*[0-9]{0,40}\s*\Z")))
def test_any_value_gives_none_or_a_delay_in_range(value):
    result = parse(value, NOW)
    assert result is None or (type(result) is float and 0.0 <= result <= MAX)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=10**15 - 1))
def test_any_delay_seconds_reads_as_its_number(number):
    assert parse(str(number), NOW) == float(number)
    assert parse(str(number).encode(), NOW) == float(number)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(DATE_FORMS)),
    # From year 1000 (time.asctime writes the year without padding it to four digits).
    st.integers(min_value=calendar.timegm((1000, 1, 1, 0, 0, 0)), max_value=253402300799),
)
def test_any_date_reads_as_the_time_until_it(form, moment):
    if form == "RFC 850":  # two digits of year: only the century around now
        moment = NOW - 49 * 365 * 86400 + moment % (99 * 365 * 86400)
    assert parse(DATE_FORMS[form](moment), NOW) == max(moment - NOW, 0.0)


# The rule, on a stand-in breaker and permit.


class StandInBreaker:
    def __init__(self, honor_retry_after: bool = True, max_retry_after: float = 600) -> None:
        self.honor_retry_after = honor_retry_after
        self.max_retry_after = max_retry_after


class StandInPermit:
    def __init__(self, breaker: StandInBreaker) -> None:
        self.circuit_breaker = breaker
        self.recorded: List[Any] = []

    def record_failure(self, open_for: Optional[float] = None) -> bool:
        self.recorded.append(("failure", open_for))
        return True


class UntouchableHeaders(dict):  # type: ignore[type-arg]
    def get(self, *args: Any) -> Any:
        raise AssertionError("the headers of this answer were looked at")


@pytest.mark.parametrize(
    "status, headers, breaker, open_for",
    [
        (503, {"Retry-After": "120"}, StandInBreaker(), 120.0),
        (429, {"Retry-After": "120"}, StandInBreaker(), 120.0),
        (503, {"Retry-After": "1"}, StandInBreaker(), 1.0),
        # nothing to wait for: no opening, the status decides
        (503, {"Retry-After": "0"}, StandInBreaker(), None),
        (429, {"Retry-After": "Sun, 06 Nov 1994 08:49:37 GMT"}, StandInBreaker(), None),
        (429, {"Retry-After": "Fri, 01 May 2026 00:01:30 GMT"}, StandInBreaker(), 90.0),
        (503, {"Retry-After": "601"}, StandInBreaker(), 600.0),  # the default cap
        (503, {"Retry-After": "9" * 50}, StandInBreaker(), 600.0),
        (503, {"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"}, StandInBreaker(), 600.0),
        (503, {"Retry-After": "120"}, StandInBreaker(max_retry_after=5), 5.0),
        (503, {"Retry-After": "120"}, StandInBreaker(max_retry_after=2.5), 2.5),
        (503, {"Retry-After": "2"}, StandInBreaker(max_retry_after=2.5), 2.0),
        # no Retry-After, an invalid one, or not honoured: the status decides
        (503, {}, StandInBreaker(), None),
        (429, {}, StandInBreaker(), None),
        (429, {"Retry-After": "1.5"}, StandInBreaker(), None),
        (503, {"Retry-After": "soon"}, StandInBreaker(), None),
        (503, {"Retry-After": "120"}, StandInBreaker(honor_retry_after=False), None),
        (429, {"Retry-After": "120"}, StandInBreaker(honor_retry_after=False), None),
        # other statuses: the header is not even looked at
        (200, UntouchableHeaders(), StandInBreaker(), None),
        (500, UntouchableHeaders(), StandInBreaker(), None),
        (502, UntouchableHeaders(), StandInBreaker(), None),
        (504, UntouchableHeaders(), StandInBreaker(), None),
        (301, UntouchableHeaders(), StandInBreaker(), None),
        (404, UntouchableHeaders(), StandInBreaker(), None),
        (428, UntouchableHeaders(), StandInBreaker(), None),
    ],
)
def test_the_rule(status, headers, breaker, open_for):
    result = rules.retry_after_open_for(breaker, status, headers, now=NOW)
    assert result == open_for
    assert open_for is None or type(result) is float
    permit = StandInPermit(breaker)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rules, "wall_clock", lambda: NOW)
        recorded = rules.record_retry_after(permit, status, headers)  # type: ignore[arg-type]
    assert recorded is (open_for is not None)
    assert permit.recorded == ([] if open_for is None else [("failure", open_for)])


def test_the_rule_reads_dates_against_the_wall_clock(monkeypatch):
    headers = {"Retry-After": "Fri, 01 May 2026 00:01:30 GMT"}
    monkeypatch.setattr(rules, "wall_clock", lambda: NOW + 30)
    assert rules.retry_after_open_for(StandInBreaker(), 503, headers) == 60.0  # type: ignore[arg-type]
    monkeypatch.setattr(rules, "wall_clock", lambda: NOW + 300)
    assert rules.retry_after_open_for(StandInBreaker(), 503, headers) is None  # type: ignore[arg-type]


def test_every_client_takes_the_retry_after_options():
    assert {"honor_retry_after", "max_retry_after"} <= set(rules.OPTION_NAMES)
    for client in (CircuitBreakerAdapter, CircuitBreakerTransport, AsyncCircuitBreakerTransport):
        assert set(rules.OPTION_NAMES) <= set(inspect.signature(client).parameters), client
    for name in ("honor_retry_after", "max_retry_after"):
        parameter = inspect.signature(protected_request).parameters[name]
        assert (parameter.kind, parameter.default) == (inspect.Parameter.KEYWORD_ONLY, None)


# The clients, against the conftest's scripted service, which answers
# `/status/<status>?retry-after=<value>` with that status and one Retry-After header per value.


@pytest.fixture
def retry_service(scripted_service: Any) -> Any:
    """The conftest's scripted service (a threaded server on a loopback address of its own, so
    that its origin's breaker is new)."""
    return scripted_service


def url(service: Any, status: int, *retry_after: str) -> str:
    query = urlencode([("retry-after", value) for value in retry_after])
    return str(service.url(f"/status/{status}?{query}" if query else f"/status/{status}"))


def breaker_of(service: Any, **options: Any) -> CircuitBreaker:
    """The breaker of a service's origin, created first (the clients find it in the registry):
    no number of failures opens it, one successful trial closes it."""
    settings = {"failure_threshold": HUGE, "recovery_timeout": 10, "success_threshold": 1}
    breaker = get_circuit_breaker(service.origin, **{**settings, **options})
    assert breaker.failure_threshold == HUGE  # a new one
    return breaker


Send = Callable[[str], int]

CLIENTS = ["adapter", "protected_get", "protected_post", "httpx", "httpx_async"]


@pytest.fixture
def make_client() -> Iterator[Callable[..., Send]]:
    """`make_client(kind, **options)`: a function that sends a request through that client, with
    those breaker options, reads the answer whole and returns its status (`protected_*` raises
    `HTTPError` from 400 on: its response's status). Closes what it opened afterwards."""
    opened: List[Any] = []

    def make(kind: str, **options: Any) -> Send:
        if kind == "adapter":
            session = requests.Session()
            session.mount("http://", CircuitBreakerAdapter(**options))
            opened.append(session)
            return lambda target: session.get(target).status_code
        if kind in ("protected_get", "protected_post"):
            call = protected_get if kind == "protected_get" else protected_post

            def send_protected(target: str) -> int:
                try:
                    return call(target, **options).status_code
                except requests.HTTPError as error:
                    assert error.response is not None
                    return error.response.status_code

            return send_protected
        if kind == "httpx":
            client = httpx.Client(transport=CircuitBreakerTransport(**options))
            opened.append(client)
            return lambda target: client.get(target).status_code
        assert kind == "httpx_async"

        def send_async(target: str) -> int:
            async def scenario() -> int:
                transport = AsyncCircuitBreakerTransport(**options)
                async with httpx.AsyncClient(transport=transport) as client:
                    return (await client.get(target)).status_code

            return asyncio.run(scenario())

        return send_async

    yield make
    for resource in opened:
        resource.close()


@pytest.fixture(params=CLIENTS)
def send(request: pytest.FixtureRequest, make_client: Callable[..., Send]) -> Send:
    """Each client in turn, with the options of the breaker it finds in the registry."""
    return make_client(request.param)


def status_of(breaker: CircuitBreaker) -> Dict[str, Any]:
    return dict(breaker.get_status())


def assert_opened_for(breaker: CircuitBreaker, seconds: float) -> None:
    status = status_of(breaker)
    assert status["state"] == "open"
    assert status["open_duration"] == seconds
    assert status["retry_after"] == seconds


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_opens_the_circuit_for_exactly_that_long(
    retry_service, send, manual_clock, status
):
    breaker = breaker_of(retry_service)
    events: List[Any] = []
    breaker.add_listener(events.append)
    assert send(url(retry_service, status, "120")) == status
    assert_opened_for(breaker, 120.0)  # far below the failure threshold
    assert breaker.failure_count == 1  # the failure is counted
    assert [(event.new_state, event.reason) for event in events] == [("open", "open_for")]
    with pytest.raises(CircuitBreakerError) as raised:
        send(url(retry_service, 200))
    assert raised.value.retry_after == 120.0
    assert retry_service.hits == 1  # nothing sent while open
    manual_clock.advance(119.5)
    assert (breaker.state, status_of(breaker)["retry_after"]) == ("open", 0.5)
    manual_clock.advance(0.5)
    assert breaker.state == "half_open"
    assert send(url(retry_service, 200)) == 200
    assert breaker.state == "closed"


@pytest.mark.parametrize("form", DATE_FORMS)
def test_an_http_date_opens_the_circuit_until_then(
    retry_service, send, manual_clock, monkeypatch, form
):
    monkeypatch.setattr(rules, "wall_clock", lambda: NOW)
    breaker = breaker_of(retry_service)
    assert send(url(retry_service, 503, DATE_FORMS[form](NOW + 90))) == 503
    assert_opened_for(breaker, 90.0)


def test_no_time_to_wait_opens_nothing_and_the_status_decides(retry_service, send, manual_clock):
    breaker = breaker_of(retry_service)
    # A date already past (often a clock skew) or 0: the server said "now". A 429 is then a
    # success as any 4xx, a 503 a failure as any 5xx; the circuit does not open.
    for value in ("Sun, 06 Nov 1994 08:49:37 GMT", "0"):
        assert send(url(retry_service, 429, value)) == 429
        assert (breaker.state, breaker.failure_count) == ("closed", 0)
        assert send(url(retry_service, 503, value)) == 503
        assert (breaker.state, breaker.failure_count) == ("closed", 1)
        breaker.reset()


def test_the_opening_is_capped_by_max_retry_after(retry_service, make_client, manual_clock):
    breaker = breaker_of(retry_service, max_retry_after=30)
    for kind in CLIENTS:
        breaker.reset()
        assert make_client(kind)(url(retry_service, 503, "3600")) == 503
        assert_opened_for(breaker, 30.0)


def test_the_default_cap_is_600_seconds(retry_service, send, manual_clock):
    breaker = breaker_of(retry_service)
    assert breaker.max_retry_after == 600
    assert send(url(retry_service, 429, "86400")) == 429
    assert_opened_for(breaker, 600.0)
    breaker.reset()
    assert send(url(retry_service, 503, "Fri, 31 Dec 9999 23:59:59 GMT")) == 503
    assert_opened_for(breaker, 600.0)


def test_a_429_without_retry_after_is_a_success(retry_service, send, manual_clock):
    breaker = breaker_of(retry_service)
    assert send(url(retry_service, 503)) == 503
    assert send(url(retry_service, 429)) == 429
    assert (breaker.state, breaker.failure_count) == ("closed", 0)  # the success reset the streak
    breaker.open()
    manual_clock.advance(10)
    assert send(url(retry_service, 429)) == 429
    assert breaker.state == "closed"  # a 429 trial closes a half-open circuit


def test_a_503_without_retry_after_is_a_failure_like_any_5xx(retry_service, send, manual_clock):
    breaker = breaker_of(retry_service)
    assert send(url(retry_service, 503)) == 503
    assert (breaker.state, breaker.failure_count) == ("closed", 1)
    breaker.open()
    manual_clock.advance(10)
    assert send(url(retry_service, 503)) == 503
    assert_opened_for(breaker, 10.0)  # back open for its recovery_timeout


@pytest.mark.parametrize(
    "values",
    [
        ["soon"],
        ["1.5"],
        ["-1"],
        [""],
        ["Mon, 30 Feb 2026 00:00:00 GMT"],
        ["Fri, 01 May 2026 00:02:00 +0000"],
        ["60", "60"],  # two headers: the client joins them into one invalid value
    ],
)
def test_an_invalid_retry_after_leaves_the_status_to_decide(
    retry_service, send, manual_clock, values
):
    breaker = breaker_of(retry_service)
    assert send(url(retry_service, 503, *values)) == 503
    assert (breaker.state, breaker.failure_count) == ("closed", 1)
    assert send(url(retry_service, 429, *values)) == 429
    assert (breaker.state, breaker.failure_count) == ("closed", 0)


@pytest.mark.parametrize("status", [200, 404, 500, 502])
def test_retry_after_on_other_statuses_is_not_honoured(retry_service, send, manual_clock, status):
    breaker = breaker_of(retry_service)
    assert send(url(retry_service, status, "120")) == status
    assert breaker.state == "closed"
    assert breaker.failure_count == (1 if status >= 500 else 0)


@pytest.mark.parametrize("kind", CLIENTS)
def test_honor_retry_after_false_turns_it_off(retry_service, make_client, manual_clock, kind):
    # The option is given to the client, which creates the breaker with it.
    send = make_client(kind, honor_retry_after=False, failure_threshold=2, recovery_timeout=7)
    assert send(url(retry_service, 429, "120")) == 429
    breaker = get_circuit_breaker(retry_service.origin)
    assert breaker.honor_retry_after is False
    assert (breaker.state, breaker.failure_count) == ("closed", 0)  # a 4xx: a success
    assert send(url(retry_service, 503, "120")) == 503
    assert (breaker.state, breaker.failure_count) == ("closed", 1)  # a 5xx: a failure
    assert send(url(retry_service, 503, "120")) == 503
    assert_opened_for(breaker, 7.0)  # at the threshold, for its recovery_timeout


@pytest.mark.parametrize("kind", CLIENTS)
def test_max_retry_after_given_to_the_client_applies(
    retry_service, make_client, manual_clock, kind
):
    send = make_client(kind, max_retry_after=2.5, honor_retry_after=True)
    assert send(url(retry_service, 503, "120")) == 503
    breaker = get_circuit_breaker(retry_service.origin)
    assert (breaker.honor_retry_after, breaker.max_retry_after) == (True, 2.5)
    assert_opened_for(breaker, 2.5)


def test_a_trial_answered_with_retry_after_opens_the_circuit_again_for_that_long(
    retry_service, send, manual_clock
):
    breaker = breaker_of(retry_service)
    breaker.open()
    manual_clock.advance(10)
    assert breaker.state == "half_open"
    assert send(url(retry_service, 429, "45")) == 429
    assert_opened_for(breaker, 45.0)


def test_the_options_are_checked_when_the_client_is_built(retry_service):
    for client in (CircuitBreakerAdapter, CircuitBreakerTransport, AsyncCircuitBreakerTransport):
        with pytest.raises(TypeError, match="honor_retry_after"):
            client(honor_retry_after="no")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="max_retry_after"):
            client(max_retry_after=0)
        with pytest.raises(ValueError, match="max_retry_after"):
            client(max_retry_after=math.inf)
    with pytest.raises(ValueError, match="max_retry_after"):
        protected_get(url(retry_service, 200), max_retry_after=-1)
    with pytest.raises(TypeError, match="honor_retry_after"):
        protected_post(url(retry_service, 200), honor_retry_after=1)
    assert retry_service.hits == 0


# Streamed answers: a 429 or 503 with Retry-After is decided by its head.


def test_a_streamed_answer_with_retry_after_opens_the_circuit_before_its_body_is_read(
    retry_service, manual_clock
):
    breaker = breaker_of(retry_service)
    with requests.Session() as session:
        session.mount("http://", CircuitBreakerAdapter())
        target = url(retry_service, 429, "30")
        response = session.get(target, stream=True)
        assert_opened_for(breaker, 30.0)
        # Reading it on changes nothing (the scripted service's body names the path it answered).
        assert response.json() == {"path": target.split(retry_service.origin, 1)[1]}
        response.close()
        assert_opened_for(breaker, 30.0)
        assert breaker.failure_count == 1
        # Without Retry-After, a streamed 429 is a 4xx: a success once its body is read.
        manual_clock.advance(30)
        response = session.get(url(retry_service, 429), stream=True)
        assert breaker.state == "half_open"  # the trial waits for the body
        response.content  # noqa: B018
        assert breaker.state == "closed"


def test_a_streamed_httpx_answer_with_retry_after_opens_the_circuit_at_its_head(
    retry_service, manual_clock
):
    breaker = breaker_of(retry_service)
    with httpx.Client(transport=CircuitBreakerTransport()) as client:
        target = url(retry_service, 503, "30")
        with client.stream("GET", target) as response:
            assert_opened_for(breaker, 30.0)
            assert json.loads(response.read()) == {"path": target.split(retry_service.origin, 1)[1]}
        assert_opened_for(breaker, 30.0)
        manual_clock.advance(30)
        with client.stream("GET", url(retry_service, 429)) as response:
            assert breaker.state == "half_open"  # the trial waits for the body
            response.read()
        assert breaker.state == "closed"


def test_a_streamed_async_httpx_answer_with_retry_after_opens_the_circuit_at_its_head(
    retry_service, manual_clock
):
    breaker = breaker_of(retry_service)

    async def scenario() -> None:
        async with httpx.AsyncClient(transport=AsyncCircuitBreakerTransport()) as client:
            async with client.stream("GET", url(retry_service, 429, "30")) as response:
                assert_opened_for(breaker, 30.0)
                await response.aread()
            assert_opened_for(breaker, 30.0)

    asyncio.run(scenario())


def test_a_streamed_protected_call_with_retry_after_raises_and_opens_the_circuit(
    retry_service, manual_clock, unique_name
):
    with pytest.raises(requests.HTTPError) as raised:
        protected_get(
            url(retry_service, 429, "30"), service_name=unique_name, stream=True, max_retry_after=20
        )
    response = raised.value.response
    assert response is not None and response.status_code == 429
    response.close()  # its body never read: give its connection back
    breaker = get_circuit_breaker(unique_name)
    assert_opened_for(breaker, 20.0)
    with pytest.raises(CircuitBreakerError):
        protected_get(url(retry_service, 200), service_name=unique_name)
    assert retry_service.hits == 1
