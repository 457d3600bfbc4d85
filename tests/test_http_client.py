"""protected_* against real HTTP services on loopback (no mocking of requests)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from fastbreaker import CircuitBreakerError, get_circuit_breaker, get_circuit_breaker_status
from fastbreaker.external_service_client import (
    DEFAULT_TIMEOUT,
    protected_delete,
    protected_get,
    protected_head,
    protected_patch,
    protected_post,
    protected_put,
    protected_request,
    service_origin,
)
from fastbreaker.testing import manual_clock


@pytest.mark.parametrize(
    "url, origin",
    [
        ("https://api.example.com/match", "https://api.example.com"),
        ("https://API.Example.com:443/a?b=c", "https://api.example.com"),
        ("http://api.example.com:80/", "http://api.example.com"),
        ("http://api.example.com:8080/x", "http://api.example.com:8080"),
        ("HTTP://127.0.0.1:9/x#frag", "http://127.0.0.1:9"),
        ("http://[::1]:8000/x", "http://[::1]:8000"),
    ],
)
def test_the_breaker_is_keyed_by_origin(url, origin):
    assert service_origin(url) == origin


def test_paths_and_queries_share_one_breaker(service):
    for path in ("/a", "/b?x=1", "/c/d"):
        protected_get(service.url(path))
    status = get_circuit_breaker_status(service.origin)
    assert status is not None and status["state"] == "closed"
    assert not [name for name in _names() if name.startswith(service.origin + "/")]


def _names() -> list:
    from fastbreaker import get_all_circuit_breaker_statuses

    return list(get_all_circuit_breaker_statuses())


@pytest.mark.parametrize(
    "call, method",
    [
        (protected_get, "GET"),
        (protected_post, "POST"),
        (protected_put, "PUT"),
        (protected_patch, "PATCH"),
        (protected_delete, "DELETE"),
        (protected_head, "HEAD"),
    ],
)
def test_every_method_sends_a_real_request(service, call, method, unique_name):
    response = call(service.url("/thing?q=1"), service_name=unique_name, headers={"X-T": "1"})
    assert isinstance(response, requests.Response) and response.status_code == 200
    [seen] = service.requests
    assert (seen["method"], seen["path"], seen["headers"]["X-T"]) == (method, "/thing?q=1", "1")


def test_json_data_and_params_are_passed_through(service, unique_name):
    protected_post(service.url("/p"), service_name=unique_name, json={"a": 1}, params={"b": "2"})
    protected_request("put", service.url("/p"), service_name=unique_name, data=b"raw")
    first, second = service.requests
    assert (first["path"], first["body"]) == ("/p?b=2", b'{"a": 1}')
    assert (second["method"], second["body"]) == ("PUT", b"raw")


def test_5xx_trips_the_circuit_and_raises_http_error(service, unique_name):
    service.status = 503
    for _ in range(3):
        with pytest.raises(requests.HTTPError) as raised:
            protected_get(service.url(), service_name=unique_name, failure_threshold=3)
        assert raised.value.response.status_code == 503
    assert get_circuit_breaker_status(unique_name)["state"] == "open"


def test_4xx_raises_but_counts_as_a_success(service, unique_name):
    breaker = get_circuit_breaker(
        unique_name, failure_threshold=2, recovery_timeout=5, success_threshold=1
    )
    service.status = 500
    with pytest.raises(requests.HTTPError):
        protected_get(service.url(), service_name=unique_name)
    service.status = 404
    with pytest.raises(requests.HTTPError) as raised:
        protected_get(service.url(), service_name=unique_name)
    assert raised.value.response.status_code == 404
    assert breaker.failure_count == 0  # the success reset the streak
    with manual_clock() as clock:
        breaker.open()
        clock.advance(5)
        with pytest.raises(requests.HTTPError):
            protected_get(service.url(), service_name=unique_name)
        assert breaker.state == "closed"  # a 4xx trial closes a half-open circuit


def test_an_open_circuit_sends_nothing(service, unique_name):
    get_circuit_breaker(unique_name).open()
    for _ in range(20):
        with pytest.raises(CircuitBreakerError) as raised:
            protected_post(service.url(), service_name=unique_name, json={})
        assert raised.value.name == unique_name
    assert service.hits == 0


def test_timeouts_count_as_failures(service, unique_name):
    service.delay = 0.5
    for _ in range(2):
        with pytest.raises(requests.Timeout):
            protected_get(
                service.url(), service_name=unique_name, timeout=0.05, failure_threshold=2
            )
    assert get_circuit_breaker_status(unique_name)["state"] == "open"


def test_connection_errors_count_as_failures(dead_url, unique_name):
    for _ in range(2):
        with pytest.raises(requests.ConnectionError):
            protected_get(dead_url, service_name=unique_name, failure_threshold=2)
    assert get_circuit_breaker_status(unique_name)["state"] == "open"


@pytest.mark.parametrize(
    "url, error",
    [
        ("no-scheme.example.com/x", requests.exceptions.MissingSchema),
        ("ftp://files.example.com/x", requests.exceptions.InvalidSchema),
        ("http://", requests.exceptions.InvalidURL),
    ],
)
def test_bad_urls_raise_requests_errors_and_create_no_breaker(url, error):
    before = set(_names())
    with pytest.raises(error):
        protected_get(url)
    assert set(_names()) == before


def test_caller_mistakes_are_ignored_by_the_breaker(service, unique_name):
    breaker = get_circuit_breaker(unique_name, failure_threshold=1)
    with pytest.raises(requests.exceptions.InvalidHeader):
        protected_get(service.url(), service_name=unique_name, headers={"X-Bad": "a\nb"})
    with pytest.raises(requests.exceptions.InvalidJSONError):
        protected_post(service.url(), service_name=unique_name, json={"x": float("nan")})
    with pytest.raises(TypeError, match="bogus"):
        protected_get(service.url(), service_name=unique_name, bogus=1)
    assert (breaker.state, breaker.failure_count, service.hits) == ("closed", 0, 0)


def test_timeout_defaults_to_30_seconds(service, unique_name, monkeypatch):
    import fastbreaker.external_service_client as client

    seen = []
    real_send = requests.Session.send

    def spy(self, request, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(kwargs["timeout"])
        return real_send(self, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", spy)
    protected_get(service.url(), service_name=unique_name)
    protected_get(service.url(), service_name=unique_name, timeout=None)
    protected_get(service.url(), service_name=unique_name, timeout=2)
    assert seen == [DEFAULT_TIMEOUT, DEFAULT_TIMEOUT, 2] == [30, 30, 2]
    assert client.DEFAULT_TIMEOUT == 30


def test_connections_are_pooled_per_service(service, unique_name):
    for _ in range(5):
        protected_get(service.url(), service_name=unique_name)
    # One keep-alive connection: every request came from the same client address.
    assert len({r["client"] for r in service.requests}) == 1


def test_threads_share_one_service(service, unique_name):
    barrier = threading.Barrier(8)

    def worker(_: int) -> int:
        barrier.wait()
        return sum(
            protected_get(service.url(), service_name=unique_name).status_code == 200
            for _ in range(25)
        )

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(worker, range(8))) == 200
    assert service.hits == 200
    assert get_circuit_breaker_status(unique_name)["failure_count"] == 0


def test_service_failures_do_not_touch_other_services(service, dead_url):
    for _ in range(5):
        with pytest.raises(requests.ConnectionError):
            protected_get(dead_url)
    assert get_circuit_breaker_status(service_origin(dead_url))["state"] == "open"
    assert protected_get(service.url()).status_code == 200
    assert get_circuit_breaker_status(service.origin)["state"] == "closed"


def test_options_apply_when_the_breaker_is_created(service, unique_name):
    protected_get(
        service.url(),
        service_name=unique_name,
        failure_threshold=7,
        recovery_timeout=12.5,
        success_threshold=3,
    )
    status = get_circuit_breaker_status(unique_name)
    assert (
        status["failure_threshold"],
        status["recovery_timeout"],
        status["success_threshold"],
    ) == (7, 12.5, 3)
    with pytest.raises(ValueError, match="failure_threshold"):
        protected_get(service.url(), service_name=unique_name + "-x", failure_threshold=0)


def test_cookies_set_by_a_service_are_not_sent_on_later_calls(service, unique_name):
    # One pooled session serves every caller of a service: it must not carry one caller's
    # cookies into another caller's request (plain requests.get does not either).
    import http.server

    class SetsCookie(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            service.record({"client": self.client_address, "cookie": self.headers.get("Cookie")})
            self.send_response(200)
            self.send_header("Set-Cookie", "session=secret; Path=/")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    service.RequestHandlerClass = SetsCookie
    first = protected_get(service.url(), service_name=unique_name)
    assert first.cookies.get("session") == "secret"  # the response still shows them
    protected_get(service.url(), service_name=unique_name)
    protected_get(service.url(), service_name=unique_name, cookies={"mine": "1"})
    assert [r["cookie"] for r in service.requests] == [None, None, "mine=1"]


def _raise_for_status_hook(response: requests.Response, *args: object, **kwargs: object) -> None:
    response.raise_for_status()


def test_a_hook_that_raises_for_status_leaves_a_4xx_a_success(service, unique_name):
    # Issue 9: the HTTPError raised by the hook was taken for a failure of the service.
    breaker = get_circuit_breaker(unique_name, failure_threshold=1)
    service.status = 404
    for _ in range(3):
        with pytest.raises(requests.HTTPError) as raised:
            protected_get(
                service.url(),
                service_name=unique_name,
                hooks={"response": [_raise_for_status_hook]},
            )
        assert raised.value.response.status_code == 404
        assert raised.value.response.json() == {"status": 404, "path": "/api"}
    assert (breaker.state, breaker.failure_count, service.hits) == ("closed", 0, 3)


def test_a_hook_that_raises_for_status_on_a_5xx_counts_a_failure(service, unique_name):
    breaker = get_circuit_breaker(unique_name, failure_threshold=2)
    service.status = 502
    for _ in range(2):
        with pytest.raises(requests.HTTPError) as raised:
            protected_get(
                service.url(),
                service_name=unique_name,
                hooks={"response": [_raise_for_status_hook]},
            )
        assert raised.value.response.status_code == 502
    assert breaker.state == "open"
    # The body was read for the caller: the connection went back to the pool and was reused.
    assert len({r["client"] for r in service.requests}) == 1


@pytest.mark.parametrize(
    "status, raises, failure",
    [
        (200, False, False),
        (399, False, False),
        (400, True, False),
        (499, True, False),
        (500, True, True),
        (599, True, True),
        (600, True, True),
        (999, True, True),
    ],
)
def test_every_status_from_400_raises_and_from_500_counts_a_failure(
    service, unique_name, status, raises, failure
):
    # Issue 9: 600-999 came back without HTTPError, yet counted as failures.
    breaker = get_circuit_breaker(unique_name, failure_threshold=5)
    service.status = status
    if raises:
        with pytest.raises(requests.HTTPError) as raised:
            protected_get(service.url(), service_name=unique_name)
        assert raised.value.response.status_code == status
        assert str(status) in str(raised.value)
    else:
        assert protected_get(service.url(), service_name=unique_name).status_code == status
    assert breaker.failure_count == (1 if failure else 0)


# protected_* rides on CircuitBreakerAdapter: the adapter's rules, the service's breaker.


def test_protected_calls_go_through_the_adapter(service, unique_name):
    import fastbreaker.external_service_client as client
    from fastbreaker.requests_adapter import CircuitBreakerAdapter

    protected_get(service.url(), service_name=unique_name)
    session = client._sessions[unique_name].session
    assert isinstance(session.get_adapter(service.url()), CircuitBreakerAdapter)
    assert isinstance(session.get_adapter("https://example.com/"), CircuitBreakerAdapter)


@pytest.mark.parametrize("named", [False, True])
def test_a_redirect_elsewhere_counts_against_the_origin_that_failed(
    scripted_services, unique_name, named
):
    first, second = scripted_services(2)
    target = second.url("/status/503")
    options = {"service_name": unique_name} if named else {}
    for _ in range(3):
        with pytest.raises(requests.HTTPError) as raised:
            protected_get(first.url(f"/redirect?to={target}"), **options)
        assert raised.value.response.status_code == 503
    first_breaker = unique_name if named else first.origin
    assert get_circuit_breaker_status(first_breaker)["failure_count"] == 0
    assert get_circuit_breaker_status(second.origin)["failure_count"] == 3
    # A same-origin redirect stays with the call's breaker.
    with pytest.raises(requests.HTTPError):
        protected_get(first.url("/redirect?to=/status/500"), **options)
    assert get_circuit_breaker_status(first_breaker)["failure_count"] == 1


def test_a_streamed_protected_call_counts_its_body_when_read(scripted_service, unique_name):
    breaker = get_circuit_breaker(unique_name, failure_threshold=10)
    response = protected_get(
        scripted_service.url("/truncated"), service_name=unique_name, stream=True
    )
    assert breaker.failure_count == 0
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        response.content  # noqa: B018
    assert breaker.failure_count == 1


def test_a_streamed_4xx_raised_by_a_hook_counts_a_success(scripted_service, unique_name):
    breaker = get_circuit_breaker(unique_name, recovery_timeout=5, success_threshold=1)
    with manual_clock() as clock:
        breaker.open()
        clock.advance(5)
        with pytest.raises(requests.HTTPError):  # from the hook, its body never read
            protected_get(
                scripted_service.url("/status/404"),
                service_name=unique_name,
                stream=True,
                hooks={"response": [_raise_for_status_hook]},
            )
        assert breaker.state == "closed"


def test_a_streamed_4xx_counts_a_success_when_protected_raises_it(scripted_service, unique_name):
    breaker = get_circuit_breaker(unique_name, recovery_timeout=5, success_threshold=1)
    with manual_clock() as clock:
        breaker.open()
        clock.advance(5)
        with pytest.raises(requests.HTTPError):  # its body never read
            protected_get(
                scripted_service.url("/status/404"), service_name=unique_name, stream=True
            )
        assert breaker.state == "closed"
