"""CircuitBreakerAdapter mounted on plain requests.Sessions, against real loopback services: every
classification rule, streamed bodies, redirects, threads."""

from __future__ import annotations

import gc
import pickle
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator, List

import pytest
import requests
from fastbreaker import (
    CircuitBreaker,
    CircuitBreakerError,
    get_circuit_breaker,
    get_circuit_breaker_status,
)
from fastbreaker.requests_adapter import CircuitBreakerAdapter
from fastbreaker.testing import manual_clock

HUGE = 10**6  # a threshold never reached: every failure is counted, none opens the circuit


def session_with(adapter: CircuitBreakerAdapter) -> requests.Session:
    session = requests.Session()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with session_with(CircuitBreakerAdapter()) as mounted:
        yield mounted


def breaker_of(service: Any, **options: int) -> CircuitBreaker:
    """The breaker of a service's origin, created first (the adapter finds it in the registry):
    every failure counted, one successful trial closes it, unless `options` say otherwise."""
    settings = {"failure_threshold": HUGE, "recovery_timeout": 10, "success_threshold": 1}
    breaker = get_circuit_breaker(service.origin, **{**settings, **options})
    assert breaker.failure_threshold == {**settings, **options}["failure_threshold"]  # a new one
    return breaker


def half_open(breaker: CircuitBreaker, clock: Any) -> CircuitBreaker:
    breaker.open()
    clock.advance(breaker.recovery_timeout)
    assert breaker.state == "half_open"
    return breaker


def test_each_origin_has_its_own_breaker_named_by_its_origin(scripted_services, session):
    first, second = scripted_services(2)
    session.get(first.url("/status/500"))
    session.get(second.url("/a?b=c"))
    assert get_circuit_breaker_status(first.origin)["failure_count"] == 1
    assert get_circuit_breaker_status(second.origin)["failure_count"] == 0
    adapter = session.get_adapter(first.origin)
    assert adapter.circuit_breaker(first.url("/x")) is get_circuit_breaker(first.origin)


def test_service_name_gives_every_request_one_breaker(scripted_services, unique_name):
    first, second = scripted_services(2)
    adapter = CircuitBreakerAdapter(service_name=unique_name, failure_threshold=2)
    with session_with(adapter) as named:
        named.get(first.url("/status/503"))
        named.get(second.url("/status/503"))
    assert get_circuit_breaker_status(unique_name)["state"] == "open"
    assert adapter.service_name == unique_name
    assert get_circuit_breaker_status(first.origin) is None


@pytest.mark.parametrize(
    "status, failure",
    [
        (200, False),
        (204, False),
        (304, False),
        (399, False),
        (400, False),
        (404, False),
        (429, False),
        (499, False),
        (500, True),
        (503, True),
        (599, True),
        (600, True),
        (999, True),
    ],
)
def test_5xx_and_above_are_failures_and_other_answers_successes(
    scripted_service, session, status, failure
):
    breaker = breaker_of(scripted_service)
    response = session.get(scripted_service.url(f"/status/{status}"))
    assert response.status_code == status  # an adapter raises nothing for an answer
    assert breaker.failure_count == (1 if failure else 0)
    with manual_clock() as clock:
        half_open(breaker, clock)
        session.get(scripted_service.url(f"/status/{status}"))
        assert breaker.state == ("open" if failure else "closed")


def test_connection_refused_is_a_failure(refused_url, session):
    for _ in range(3):
        with pytest.raises(requests.ConnectionError):
            session.get(refused_url)
    status = get_circuit_breaker_status(refused_url.rsplit("/", 1)[0])
    assert (status["state"], status["failure_count"]) == ("closed", 3)
    with pytest.raises(requests.ConnectionError):
        session.get(refused_url)
    with pytest.raises(requests.ConnectionError):
        session.get(refused_url)
    with pytest.raises(CircuitBreakerError):  # the default threshold, 5, was reached
        session.get(refused_url)


def test_timeouts_before_and_during_the_body_are_failures(scripted_service, session):
    breaker = breaker_of(scripted_service)
    with pytest.raises(requests.Timeout):
        session.get(scripted_service.url("/slow/1"), timeout=0.1)
    with pytest.raises(requests.ConnectionError):  # a read timeout while reading the body
        session.get(scripted_service.url("/stall/1"), timeout=0.1)
    assert breaker.failure_count == 2


@pytest.mark.parametrize(
    "path, error",
    [
        ("/truncated", requests.exceptions.ChunkedEncodingError),
        ("/chunked-broken", requests.exceptions.ChunkedEncodingError),
        ("/bad-gzip", requests.exceptions.ContentDecodingError),
    ],
)
def test_broken_and_undecodable_bodies_are_failures(scripted_service, session, path, error):
    breaker = breaker_of(scripted_service)
    with pytest.raises(error):
        session.get(scripted_service.url(path))
    assert breaker.failure_count == 1


def test_the_callers_mistakes_leave_the_breaker_alone(scripted_service, session):
    with manual_clock() as clock:
        breaker = half_open(breaker_of(scripted_service), clock)
        # A malformed proxy URL: refused by the adapter itself.
        with pytest.raises(requests.exceptions.InvalidProxyURL):
            session.get(scripted_service.url(), proxies={"http": "http://"})
        # A header smuggled past requests' checks: refused by http.client while sending.
        prepared = session.prepare_request(requests.Request("GET", scripted_service.url()))
        prepared.headers["X-Bad"] = "a\r\nInjected: yes"
        with pytest.raises(ValueError):
            session.send(prepared)
        # Nothing was counted, and each gave its trial slot back: this trial is admitted.
        assert (breaker.state, breaker.failure_count, scripted_service.hits) == ("half_open", 0, 0)
        session.get(scripted_service.url())
        assert breaker.state == "closed"


def test_an_open_circuit_sends_nothing(scripted_service, session):
    get_circuit_breaker(scripted_service.origin).open()
    for _ in range(5):
        with pytest.raises(CircuitBreakerError) as raised:
            session.get(scripted_service.url())
        assert raised.value.name == scripted_service.origin
    assert scripted_service.hits == 0


def test_a_streamed_body_is_a_success_once_read_to_the_end(scripted_service, session):
    with manual_clock() as clock:
        breaker = half_open(breaker_of(scripted_service), clock)
        response = session.get(scripted_service.url("/chunked/5"), stream=True)
        # The trial is not over before the body is: its slot is still taken.
        with pytest.raises(CircuitBreakerError):
            session.get(scripted_service.url())
        assert breaker.state == "half_open"
        assert sum(map(len, response.iter_content(300))) == 5000
        assert breaker.state == "closed"


@pytest.mark.parametrize("path", ["/truncated", "/chunked-broken"])
def test_a_streamed_body_that_breaks_while_read_is_one_failure(scripted_service, session, path):
    breaker = breaker_of(scripted_service)
    response = session.get(scripted_service.url(path), stream=True)
    assert breaker.failure_count == 0  # not before it is read
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        for _ in response.iter_content(100):
            pass
    try:  # reading on, then closing, counts nothing more
        response.content  # noqa: B018
    except (requests.RequestException, RuntimeError):
        pass
    response.close()
    assert breaker.failure_count == 1  # once


def test_lines_text_and_json_of_a_streamed_body_are_watched_too(scripted_service, session):
    breaker = breaker_of(scripted_service)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        list(session.get(scripted_service.url("/truncated"), stream=True).iter_lines())
    with pytest.raises(requests.exceptions.ContentDecodingError):
        session.get(scripted_service.url("/bad-gzip"), stream=True).text  # noqa: B018
    assert breaker.failure_count == 2
    assert session.get(scripted_service.url("/j"), stream=True).json() == {"path": "/j"}
    assert breaker.failure_count == 0


def test_a_streamed_response_closed_before_its_end_is_ignored(scripted_service, session):
    with manual_clock() as clock:
        breaker = half_open(breaker_of(scripted_service), clock)
        with session.get(scripted_service.url("/chunked/50"), stream=True) as response:
            next(response.iter_content(100))
        # Neither a success nor a failure, and the trial slot is free again.
        assert (breaker.state, breaker.failure_count) == ("half_open", 0)
        session.get(scripted_service.url())
        assert breaker.state == "closed"


def test_a_streamed_response_never_read_gives_its_slot_back_when_dropped(scripted_service, session):
    with manual_clock() as clock:
        breaker = half_open(breaker_of(scripted_service), clock)
        response = session.get(scripted_service.url("/chunked/50"), stream=True)
        with pytest.raises(CircuitBreakerError):
            session.get(scripted_service.url())
        del response
        gc.collect()
        session.get(scripted_service.url())
        assert breaker.state == "closed"


def test_the_trial_timeout_reclaims_the_slot_of_a_stream_left_unread(scripted_service, session):
    with manual_clock() as clock:
        breaker = half_open(breaker_of(scripted_service), clock)
        kept = session.get(scripted_service.url("/chunked/50"), stream=True)
        with pytest.raises(CircuitBreakerError):
            session.get(scripted_service.url())
        clock.advance(breaker.trial_timeout)
        session.get(scripted_service.url())
        assert breaker.state == "closed"
        kept.close()


def test_answers_without_a_body_and_5xx_count_at_once_when_streamed(scripted_service, session):
    breaker = breaker_of(scripted_service)
    session.get(scripted_service.url("/status/503"), stream=True)
    assert breaker.failure_count == 1
    with manual_clock() as clock:
        half_open(breaker, clock)
        session.head(scripted_service.url(), stream=True)  # nothing to read: done
        assert breaker.state == "closed"
        half_open(breaker, clock)
        session.get(scripted_service.url("/status/204"), stream=True)
        assert breaker.state == "closed"
        half_open(breaker, clock)
        session.get(scripted_service.url("/empty"), stream=True)  # Content-Length: 0
        assert breaker.state == "closed"


def test_a_redirect_to_another_origin_counts_against_that_origin(scripted_services, session):
    first, second = scripted_services(2)
    target = second.url("/status/503")
    for _ in range(3):
        response = session.get(first.url(f"/redirect?to={target}"))
        assert response.status_code == 503 and len(response.history) == 1
    assert get_circuit_breaker_status(second.origin)["failure_count"] == 3
    assert get_circuit_breaker_status(first.origin)["failure_count"] == 0
    # Once the other origin's circuit is open, following a redirect to it is turned away.
    get_circuit_breaker(second.origin).open()
    with pytest.raises(CircuitBreakerError) as raised:
        session.get(first.url(f"/redirect?to={target}"))
    assert raised.value.name == second.origin
    assert (first.hits, second.hits) == (4, 3)
    assert get_circuit_breaker_status(first.origin)["state"] == "closed"


def test_a_redirect_left_unfollowed_is_counted_when_its_body_is_read(scripted_service, session):
    with manual_clock() as clock:
        breaker = half_open(breaker_of(scripted_service), clock)
        response = session.get(scripted_service.url("/redirect?to=/x"), allow_redirects=False)
        assert response.status_code == 302 and response.content == b"moved"
        assert breaker.state == "closed"


def test_many_threads_on_one_adapter_count_every_outcome_once(scripted_service, session):
    breaker = breaker_of(scripted_service)
    threads, calls = 8, 25
    barrier = threading.Barrier(threads)

    def worker(number: int) -> int:
        barrier.wait()
        done = 0
        for call in range(calls):
            if call % 2:
                assert session.get(scripted_service.url("/status/500")).status_code == 500
            else:
                with pytest.raises(requests.exceptions.ChunkedEncodingError):
                    session.get(scripted_service.url("/truncated"), stream=True).content  # noqa: B018
            done += 1
        return done

    with ThreadPoolExecutor(threads) as pool:
        assert sum(pool.map(worker, range(threads))) == threads * calls
    # Consecutive failures: each one counted once, none lost.
    assert breaker.failure_count == threads * calls == scripted_service.hits


def test_the_half_open_cap_holds_under_threads(scripted_service, session):
    threads = 12
    with manual_clock() as clock:
        breaker = half_open(
            breaker_of(scripted_service, half_open_max_calls=3, success_threshold=2), clock
        )
        barrier = threading.Barrier(threads)

        def worker(_: int) -> str:
            barrier.wait()
            try:
                session.get(scripted_service.url("/slow/0.3"))
            except CircuitBreakerError:
                return "rejected"
            return "answered"

        with ThreadPoolExecutor(threads) as pool:
            outcomes: List[str] = list(pool.map(worker, range(threads)))
        assert outcomes.count("answered") == scripted_service.hits == 3
        assert outcomes.count("rejected") == threads - 3
        assert breaker.state == "closed"  # success_threshold (2) successful trials


def test_options_are_checked_when_the_adapter_is_built(unique_name):
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreakerAdapter(failure_threshold=0)
    with pytest.raises(TypeError, match="recovery_timeout"):
        CircuitBreakerAdapter(recovery_timeout="soon")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="service_name"):
        CircuitBreakerAdapter(service_name=3)  # type: ignore[arg-type]
    adapter = CircuitBreakerAdapter(
        service_name=unique_name, failure_threshold=7, half_open_max_calls=2, trial_timeout=5
    )
    status = adapter.circuit_breaker("http://example.invalid/").get_status()
    assert (status["failure_threshold"], status["half_open_max_calls"]) == (7, 2)
    assert status["trial_timeout"] == 5


def test_a_session_with_the_adapter_pickles_with_its_options(scripted_service, unique_name):
    adapter = CircuitBreakerAdapter(service_name=unique_name, failure_threshold=2, max_retries=1)
    copy = pickle.loads(pickle.dumps(session_with(adapter)))
    copied = copy.get_adapter(scripted_service.origin)
    assert isinstance(copied, CircuitBreakerAdapter) and copied.service_name == unique_name
    assert copied.max_retries.total == 1
    copy.get(scripted_service.url("/status/500"))
    copy.get(scripted_service.url("/status/500"))
    assert get_circuit_breaker_status(unique_name)["state"] == "open"


@pytest.mark.parametrize("stream", [False, True])
def test_a_body_shorter_than_its_length_is_a_failure_even_where_urllib3_lets_it_pass(
    scripted_service, session, monkeypatch, stream
):
    # urllib3 1.26 (which requests >= 2.28 still allows) ends such a body quietly; urllib3 2 raises.
    import urllib3

    real_init = urllib3.HTTPResponse.__init__

    def lenient(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        kwargs["enforce_content_length"] = False
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(urllib3.HTTPResponse, "__init__", lenient)
    breaker = breaker_of(scripted_service)
    response = session.get(scripted_service.url("/truncated"), stream=stream)
    assert response.content == b"x" * 10  # no error reaches the caller
    assert breaker.failure_count == 1
