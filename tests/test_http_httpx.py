"""CircuitBreakerTransport and AsyncCircuitBreakerTransport in real httpx clients, against a
threaded loopback service (sync) and an asyncio one on the test's own event loop (async): every
classification rule, streamed bodies, redirects, threads and tasks, and a loop never blocked."""

from __future__ import annotations

import asyncio
import gc
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Awaitable, Callable, Iterator, List, TypeVar

import httpx
import pytest
from fastbreaker import (
    CircuitBreaker,
    CircuitBreakerError,
    get_all_circuit_breaker_statuses,
    get_circuit_breaker,
    get_circuit_breaker_status,
)
from fastbreaker.httpx_transport import AsyncCircuitBreakerTransport, CircuitBreakerTransport
from fastbreaker.testing import manual_clock

HUGE = 10**6  # a threshold never reached: every failure is counted, none opens the circuit
T = TypeVar("T")

STATUSES = [
    (200, False),
    (204, False),
    (304, False),
    (399, False),
    (404, False),
    (429, False),
    (499, False),
    (500, True),
    (503, True),
    (599, True),
    (600, True),
    (999, True),
]


def breaker_of(service: Any, **options: int) -> CircuitBreaker:
    """The breaker of a service's origin, created first (the transport finds it in the registry):
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


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(scenario())


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(transport=CircuitBreakerTransport()) as guarded:
        yield guarded


# The sync transport.


def test_each_origin_has_its_own_breaker_named_as_protected_names_it(scripted_services, client):
    first, second = scripted_services(2)
    client.get(first.url("/status/500"))
    client.get(second.url("/x"))
    assert get_circuit_breaker_status(first.origin)["failure_count"] == 1
    assert get_circuit_breaker_status(second.origin)["failure_count"] == 0
    transport = CircuitBreakerTransport()
    assert transport.circuit_breaker(first.url("/y")) is get_circuit_breaker(first.origin)
    assert transport.circuit_breaker("HTTPS://Example.COM:443/") is get_circuit_breaker(
        "https://example.com"
    )


@pytest.mark.parametrize(
    "url, name",
    [
        ("HTTPS://API.Example.com:443/match?x=1", "https://api.example.com"),
        ("http://example.com:8080/", "http://example.com:8080"),
        ("http://B\u00fccher.example/", "http://xn--bcher-kva.example"),
        ("http://[::1]:8000/x", "http://[::1]:8000"),
    ],
)
def test_every_client_names_a_service_alike(url, name):
    from fastbreaker.external_service_client import service_origin
    from fastbreaker.requests_adapter import CircuitBreakerAdapter

    assert service_origin(url) == name
    breaker = get_circuit_breaker(name)
    assert CircuitBreakerTransport().circuit_breaker(url) is breaker
    assert AsyncCircuitBreakerTransport().circuit_breaker(url) is breaker
    assert CircuitBreakerAdapter().circuit_breaker(url) is breaker


def test_service_name_gives_every_request_one_breaker(scripted_services, unique_name):
    first, second = scripted_services(2)
    transport = CircuitBreakerTransport(service_name=unique_name, failure_threshold=2)
    with httpx.Client(transport=transport) as named:
        named.get(first.url("/status/503"))
        named.get(second.url("/status/503"))
    assert get_circuit_breaker_status(unique_name)["state"] == "open"
    assert get_circuit_breaker_status(first.origin) is None


@pytest.mark.parametrize("status, failure", STATUSES)
def test_5xx_and_above_are_failures_and_other_answers_successes(
    scripted_service, client, status, failure
):
    breaker = breaker_of(scripted_service)
    response = client.get(scripted_service.url(f"/status/{status}"))
    assert response.status_code == status  # a transport raises nothing for an answer
    assert breaker.failure_count == (1 if failure else 0)
    with manual_clock() as clock:
        half_open(breaker, clock)
        client.get(scripted_service.url(f"/status/{status}"))
        assert breaker.state == ("open" if failure else "closed")


def test_connection_refused_and_timeouts_are_failures(refused_url, scripted_service, client):
    breaker = breaker_of(scripted_service)
    with pytest.raises(httpx.ConnectError):
        client.get(refused_url)
    assert get_circuit_breaker_status(refused_url.rsplit("/", 1)[0])["failure_count"] == 1
    with pytest.raises(httpx.ReadTimeout):
        client.get(scripted_service.url("/slow/1"), timeout=0.1)
    with pytest.raises(httpx.ReadTimeout):  # while reading the body
        client.get(scripted_service.url("/stall/1"), timeout=0.1)
    assert breaker.failure_count == 2


@pytest.mark.parametrize(
    "path, error",
    [
        ("/truncated", httpx.RemoteProtocolError),
        ("/chunked-broken", httpx.RemoteProtocolError),
        ("/bad-gzip", httpx.DecodingError),
        ("/zstd-truncated", httpx.DecodingError),  # found by the decoder after the last byte
    ],
)
def test_broken_and_undecodable_bodies_are_failures(scripted_service, client, path, error):
    breaker = breaker_of(scripted_service)
    with pytest.raises(error):
        client.get(scripted_service.url(path))
    assert breaker.failure_count == 1
    with pytest.raises(error):  # streamed: when the caller reads it
        with client.stream("GET", scripted_service.url(path)) as response:
            assert breaker.failure_count == 1
            response.read()
    assert breaker.failure_count == 2


def test_the_raw_body_of_an_undecodable_answer_is_a_success(scripted_service, client):
    # iter_raw() does not decode: the body arrived whole, which is all the service owed.
    with manual_clock() as clock:
        breaker = half_open(breaker_of(scripted_service), clock)
        with client.stream("GET", scripted_service.url("/bad-gzip")) as response:
            assert b"".join(response.iter_raw()) == b"this is not gzip at all"
        assert breaker.state == "closed"


def test_the_callers_mistakes_leave_the_breaker_alone(scripted_service, client):
    with manual_clock() as clock:
        breaker = half_open(breaker_of(scripted_service), clock)
        with pytest.raises(httpx.LocalProtocolError):  # refused by the HTTP/1.1 writer
            client.get(scripted_service.url(), headers={"X-Bad": "a\r\nInjected: yes"})
        before = set(get_all_circuit_breaker_statuses())
        with pytest.raises(httpx.UnsupportedProtocol):  # no host: no breaker either
            client.get("http:///nowhere")
        assert set(get_all_circuit_breaker_statuses()) == before
        assert (breaker.state, breaker.failure_count, scripted_service.hits) == ("half_open", 0, 0)
        client.get(scripted_service.url())  # the trial slot was given back
        assert breaker.state == "closed"


def test_an_open_circuit_sends_nothing(scripted_service, client):
    get_circuit_breaker(scripted_service.origin).open()
    for _ in range(5):
        with pytest.raises(CircuitBreakerError) as raised:
            client.get(scripted_service.url())
        assert raised.value.name == scripted_service.origin
    assert scripted_service.hits == 0


def test_a_streamed_body_is_a_success_once_read_to_the_end(scripted_service, client):
    with manual_clock() as clock:
        breaker = half_open(breaker_of(scripted_service), clock)
        with client.stream("GET", scripted_service.url("/chunked/5")) as response:
            with pytest.raises(CircuitBreakerError):  # the trial's slot is still taken
                client.get(scripted_service.url())
            assert sum(map(len, response.iter_bytes())) == 5000
            assert breaker.state == "closed"


def test_a_streamed_response_closed_before_its_end_is_ignored(scripted_service, client):
    with manual_clock() as clock:
        breaker = half_open(breaker_of(scripted_service), clock)
        with client.stream("GET", scripted_service.url("/chunked/50")) as response:
            next(response.iter_bytes())
        assert (breaker.state, breaker.failure_count) == ("half_open", 0)
        client.get(scripted_service.url())
        assert breaker.state == "closed"


def test_a_streamed_response_never_read_gives_its_slot_back_when_dropped(scripted_service, client):
    with manual_clock() as clock:
        breaker = half_open(breaker_of(scripted_service), clock)
        response = client.send(
            client.build_request("GET", scripted_service.url("/chunked/50")), stream=True
        )
        with pytest.raises(CircuitBreakerError):
            client.get(scripted_service.url())
        del response
        gc.collect()
        client.get(scripted_service.url())
        assert breaker.state == "closed"


def test_the_trial_timeout_reclaims_the_slot_of_a_stream_left_unread(scripted_service, client):
    with manual_clock() as clock:
        breaker = half_open(breaker_of(scripted_service), clock)
        with client.stream("GET", scripted_service.url("/chunked/50")):
            with pytest.raises(CircuitBreakerError):
                client.get(scripted_service.url())
            clock.advance(breaker.trial_timeout)
            client.get(scripted_service.url())
            assert breaker.state == "closed"


def test_answers_without_a_body_and_5xx_count_at_once_when_streamed(scripted_service, client):
    breaker = breaker_of(scripted_service)
    with client.stream("GET", scripted_service.url("/status/503")):
        assert breaker.failure_count == 1
    with manual_clock() as clock:
        half_open(breaker, clock)
        with client.stream("HEAD", scripted_service.url()):
            assert breaker.state == "closed"
        for path in ("/status/204", "/empty"):  # nothing to read, by status or by length
            half_open(breaker, clock)
            with client.stream("GET", scripted_service.url(path)):
                assert breaker.state == "closed"


def test_a_redirect_to_another_origin_counts_against_that_origin(scripted_services):
    first, second = scripted_services(2)
    target = second.url("/status/503")
    with httpx.Client(transport=CircuitBreakerTransport(), follow_redirects=True) as client:
        for _ in range(3):
            response = client.get(first.url(f"/redirect?to={target}"))
            assert response.status_code == 503 and len(response.history) == 1
        assert get_circuit_breaker_status(second.origin)["failure_count"] == 3
        assert get_circuit_breaker_status(first.origin)["failure_count"] == 0
        get_circuit_breaker(second.origin).open()
        with pytest.raises(CircuitBreakerError) as raised:
            client.get(first.url(f"/redirect?to={target}"))
        assert raised.value.name == second.origin
    assert (first.hits, second.hits) == (4, 3)


def test_many_threads_on_one_transport_count_every_outcome_once(scripted_service, client):
    breaker = breaker_of(scripted_service)
    threads, calls = 8, 25
    barrier = threading.Barrier(threads)

    def worker(_: int) -> int:
        barrier.wait()
        for call in range(calls):
            if call % 2:
                assert client.get(scripted_service.url("/status/500")).status_code == 500
            else:
                with pytest.raises(httpx.RemoteProtocolError):
                    client.get(scripted_service.url("/truncated"))
        return calls

    with ThreadPoolExecutor(threads) as pool:
        assert sum(pool.map(worker, range(threads))) == threads * calls
    assert breaker.failure_count == threads * calls == scripted_service.hits


def test_the_half_open_cap_holds_under_threads(scripted_service, client):
    threads = 12
    with manual_clock() as clock:
        breaker = half_open(
            breaker_of(scripted_service, half_open_max_calls=3, success_threshold=2), clock
        )
        barrier = threading.Barrier(threads)

        def worker(_: int) -> str:
            barrier.wait()
            try:
                client.get(scripted_service.url("/slow/0.3"))
            except CircuitBreakerError:
                return "rejected"
            return "answered"

        with ThreadPoolExecutor(threads) as pool:
            outcomes: List[str] = list(pool.map(worker, range(threads)))
        assert outcomes.count("answered") == scripted_service.hits == 3
        assert outcomes.count("rejected") == threads - 3
        assert breaker.state == "closed"


def test_the_wrapped_transport_is_used_and_closed(scripted_service):
    seen: List[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(502, text="bad gateway")

    mock = httpx.MockTransport(answer)
    transport = CircuitBreakerTransport(mock, failure_threshold=1)
    assert transport.transport is mock
    with httpx.Client(transport=transport) as client:
        assert client.get(scripted_service.url("/x")).text == "bad gateway"
        with pytest.raises(CircuitBreakerError):
            client.get(scripted_service.url("/x"))
    assert seen == [scripted_service.url("/x")] and scripted_service.hits == 0


def test_options_and_transport_are_checked_when_built():
    with pytest.raises(ValueError, match="success_threshold"):
        CircuitBreakerTransport(success_threshold=0)
    with pytest.raises(TypeError, match="half_open_max_calls"):
        AsyncCircuitBreakerTransport(half_open_max_calls=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="AsyncBaseTransport"):
        AsyncCircuitBreakerTransport(httpx.HTTPTransport())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="BaseTransport"):
        CircuitBreakerTransport(httpx.AsyncHTTPTransport())  # type: ignore[arg-type]


# The async transport, against an asyncio service on the same event loop.


def async_client(**options: Any) -> httpx.AsyncClient:
    follow = options.pop("follow_redirects", False)
    return httpx.AsyncClient(
        transport=AsyncCircuitBreakerTransport(**options), follow_redirects=follow
    )


@pytest.mark.parametrize("status, failure", STATUSES)
def test_async_5xx_and_above_are_failures_and_other_answers_successes(
    async_scripted_service, status, failure
):
    async def scenario() -> None:
        async with async_scripted_service() as service, async_client() as client:
            breaker = breaker_of(service)
            response = await client.get(service.url(f"/status/{status}"))
            assert response.status_code == status
            assert breaker.failure_count == (1 if failure else 0)
            with manual_clock() as clock:
                half_open(breaker, clock)
                await client.get(service.url(f"/status/{status}"))
                assert breaker.state == ("open" if failure else "closed")

    run(scenario)


@pytest.mark.parametrize(
    "path, error",
    [
        ("/slow/1", httpx.ReadTimeout),
        ("/stall/1", httpx.ReadTimeout),
        ("/truncated", httpx.RemoteProtocolError),
        ("/chunked-broken", httpx.RemoteProtocolError),
        ("/bad-gzip", httpx.DecodingError),
        ("/zstd-truncated", httpx.DecodingError),
    ],
)
def test_async_timeouts_broken_and_undecodable_bodies_are_failures(
    async_scripted_service, path, error
):
    async def scenario() -> None:
        async with async_scripted_service() as service, async_client() as client:
            breaker = breaker_of(service)
            with pytest.raises(error):
                await client.get(service.url(path), timeout=0.2)
            assert breaker.failure_count == 1
            with pytest.raises(error):  # streamed: when the caller reads it
                async with client.stream("GET", service.url(path), timeout=0.2) as response:
                    await response.aread()
            assert breaker.failure_count == 2

    run(scenario)


def test_async_connection_refused_is_a_failure_and_mistakes_are_ignored(refused_url):
    async def scenario() -> None:
        async with async_client() as client:
            with pytest.raises(httpx.ConnectError):
                await client.get(refused_url)
            with pytest.raises(httpx.UnsupportedProtocol):
                await client.get("http:///nowhere")
        assert get_circuit_breaker_status(refused_url.rsplit("/", 1)[0])["failure_count"] == 1

    run(scenario)


def test_async_an_open_circuit_sends_nothing(async_scripted_service):
    async def scenario() -> None:
        async with async_scripted_service() as service, async_client() as client:
            get_circuit_breaker(service.origin).open()
            for _ in range(5):
                with pytest.raises(CircuitBreakerError):
                    await client.get(service.url())
            assert service.hits == 0

    run(scenario)


def test_async_streamed_bodies_read_closed_or_cancelled(async_scripted_service):
    async def scenario() -> None:
        async with async_scripted_service() as service, async_client() as client:
            with manual_clock() as clock:
                breaker = half_open(breaker_of(service), clock)
                # Read to the end: a success, and the trial's slot is held until then.
                async with client.stream("GET", service.url("/chunked/5")) as response:
                    with pytest.raises(CircuitBreakerError):
                        await client.get(service.url())
                    assert sum([len(chunk) async for chunk in response.aiter_bytes()]) == 5000
                assert breaker.state == "closed"
                # Closed before the end: ignored, and the slot is free again.
                half_open(breaker, clock)
                async with client.stream("GET", service.url("/chunked/50")) as response:
                    await response.aiter_bytes().__anext__()
                assert breaker.state == "half_open"
                # Cancelled while reading: ignored, the slot given back.
                started = asyncio.Event()

                async def read_slowly() -> None:
                    async with client.stream("GET", service.url("/stall/5")) as response:
                        async for _ in response.aiter_raw():
                            started.set()

                reader = asyncio.ensure_future(read_slowly())
                await started.wait()
                reader.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await reader
                assert (breaker.state, breaker.failure_count) == ("half_open", 0)
                await client.get(service.url())
                assert breaker.state == "closed"

    run(scenario)


def test_async_a_task_cancelled_while_it_waits_counts_nothing(async_scripted_service):
    async def scenario() -> None:
        async with async_scripted_service() as service, async_client() as client:
            with manual_clock() as clock:
                breaker = half_open(breaker_of(service), clock)
                waiting = asyncio.ensure_future(client.get(service.url("/slow/5")))
                while service.hits == 0:
                    await asyncio.sleep(0.01)
                with pytest.raises(CircuitBreakerError):  # the trial holds the only slot
                    await client.get(service.url())
                waiting.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await waiting
                assert (breaker.state, breaker.failure_count) == ("half_open", 0)
                await client.get(service.url())  # the slot was given back
                assert breaker.state == "closed"

    run(scenario)


def test_async_a_redirect_to_another_origin_counts_against_that_origin(async_scripted_service):
    async def scenario() -> None:
        async with async_scripted_service() as first, async_scripted_service() as second:
            async with async_client(follow_redirects=True) as client:
                target = second.url("/status/503")
                for _ in range(3):
                    response = await client.get(first.url(f"/redirect?to={target}"))
                    assert response.status_code == 503
                assert get_circuit_breaker_status(second.origin)["failure_count"] == 3
                assert get_circuit_breaker_status(first.origin)["failure_count"] == 0

    run(scenario)


def test_async_many_tasks_on_one_transport_count_every_outcome_once(async_scripted_service):
    tasks = 200

    async def scenario() -> None:
        async with async_scripted_service() as service, async_client() as client:
            breaker = breaker_of(service)

            async def call(number: int) -> int:
                if number % 2:
                    return (await client.get(service.url("/status/500"))).status_code
                with pytest.raises(httpx.RemoteProtocolError):
                    await client.get(service.url("/truncated"))
                return 0

            statuses = await asyncio.gather(*(call(n) for n in range(tasks)))
            assert statuses.count(500) == tasks // 2
            assert breaker.failure_count == tasks == service.hits

    run(scenario)


def test_async_the_half_open_cap_holds_under_many_tasks(async_scripted_service):
    tasks = 50

    async def scenario() -> None:
        async with async_scripted_service() as service, async_client() as client:
            with manual_clock() as clock:
                breaker = half_open(
                    breaker_of(service, half_open_max_calls=3, success_threshold=3), clock
                )

                async def call() -> str:
                    try:
                        await client.get(service.url("/slow/0.2"))
                    except CircuitBreakerError:
                        return "rejected"
                    return "answered"

                outcomes = await asyncio.gather(*(call() for _ in range(tasks)))
                assert outcomes.count("answered") == service.hits == 3
                assert outcomes.count("rejected") == tasks - 3
                assert breaker.state == "closed"

    run(scenario)


def test_async_a_slow_service_does_not_block_other_tasks(async_scripted_service):
    async def scenario() -> None:
        async with async_scripted_service() as slow, async_scripted_service() as fast:
            async with async_client() as client:
                with manual_clock() as clock:
                    # A slow half-open trial holds its slot while the loop goes on: other tasks
                    # reach another service, and a second trial is turned away, not queued.
                    half_open(breaker_of(slow), clock)
                    trial = asyncio.ensure_future(client.get(slow.url("/slow/1")))
                    while slow.hits == 0:
                        await asyncio.sleep(0.01)
                    answers = await asyncio.gather(*(client.get(fast.url()) for _ in range(20)))
                    assert [a.status_code for a in answers] == [200] * 20
                    with pytest.raises(CircuitBreakerError):
                        await client.get(slow.url())
                    assert not trial.done()
                    assert (await trial).status_code == 200
                    assert get_circuit_breaker(slow.origin).state == "closed"

    run(scenario)


def test_httpx_stays_optional():
    import subprocess
    import sys

    # Nothing but the httpx module imports httpx; without it, that module names the extra.
    script = (
        "import sys; sys.modules['httpx'] = None\n"
        "import fastbreaker, fastbreaker.external_service_client, fastbreaker.requests_adapter\n"
        "try:\n"
        "    import fastbreaker.httpx_transport\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "pip install 'fastbreaker[httpx]'" in result.stdout
