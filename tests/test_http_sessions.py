"""The pool of per-service sessions: bounded (least recently used closed first), closable with
close_sessions(), and never closing a session under a request in flight. Open sockets are counted
in /proc (Linux): a client socket is one of this process's whose remote port is a test service's."""

from __future__ import annotations

import os
import random
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable, List

import fastbreaker.external_service_client as client
import pytest
import requests
from fastbreaker.external_service_client import protected_get

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/net/tcp").exists(), reason="counts sockets through /proc (Linux)"
)


def client_sockets(services: Iterable) -> int:
    """Sockets this process holds open to the given services (not the services' own ends)."""
    ports = {service.server_address[1] for service in services}
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    count = 0
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if remote_port in ports and fields[9] in inodes:
                count += 1
    return count


@pytest.fixture(autouse=True)
def fresh_pool() -> Iterable[None]:
    client.close_sessions()
    yield
    client.close_sessions()


def test_the_pool_keeps_at_most_32_sessions_and_closes_the_least_recently_used(services):
    # Issue 9: one session per origin, forever: 120 origins left 120 sockets open.
    origins = services(40)
    for service in origins:
        assert protected_get(service.url()).status_code == 200
    assert client_sockets(origins) == 32
    assert client.MAX_SESSIONS == 32  # the documented default
    assert client_sockets(origins[:8]) == 0  # the 8 least recently used were closed
    # A call refreshes its service: it is the newest, and the oldest goes instead.
    protected_get(origins[8].url())
    protected_get(services(1)[0].url())
    assert client_sockets(origins[8:10]) == 1 and client_sockets(origins[9:10]) == 0


def test_the_bound_is_configurable(services, monkeypatch):
    monkeypatch.setattr(client, "MAX_SESSIONS", 4)
    origins = services(10)
    for service in origins:
        protected_get(service.url())
    assert client_sockets(origins) == client_sockets(origins[-4:]) == 4


def test_close_sessions_closes_every_socket_and_later_calls_open_new_ones(services):
    origins = services(5)
    for service in origins:
        protected_get(service.url())
    assert client_sockets(origins) == 5
    client.close_sessions()
    assert client_sockets(origins) == 0
    assert protected_get(origins[0].url()).status_code == 200
    assert client_sockets(origins) == 1
    assert "close_sessions" in client.__all__


def test_a_streamed_response_outlives_the_eviction_of_its_session(services, monkeypatch):
    monkeypatch.setattr(client, "MAX_SESSIONS", 1)
    first, second = services(2)
    streamed = protected_get(first.url("/streamed"), stream=True)
    protected_get(second.url())  # evicts the first service's session
    assert streamed.json() == {"status": 200, "path": "/streamed"}
    assert client_sockets([first]) == 0  # its connection was closed once read


def test_threads_never_lose_a_request_to_a_session_closed_under_them(services, monkeypatch):
    # Many threads, many origins, a pool far smaller than both, and close_sessions() called over
    # and over: sessions are evicted and closed all the time while others use them.
    monkeypatch.setattr(client, "MAX_SESSIONS", 3)
    origins = services(12)
    threads, calls = 16, 40
    barrier = threading.Barrier(threads + 1)
    done = threading.Event()
    errors: List[BaseException] = []

    def worker(seed: int) -> int:
        pick = random.Random(seed)
        barrier.wait()
        answered = 0
        for _ in range(calls):
            try:
                response = protected_get(pick.choice(origins).url(), failure_threshold=10**6)
                answered += response.status_code == 200
            except requests.RequestException as error:
                errors.append(error)
        return answered

    def closer() -> int:
        barrier.wait()
        closes = 0
        while not done.is_set():
            client.close_sessions()
            closes += 1
        return closes

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often: more interleavings
    try:
        with ThreadPoolExecutor(threads + 1) as pool:
            closing = pool.submit(closer)
            try:
                answered = sum(pool.map(worker, range(threads)))
            finally:
                done.set()  # a worker's error ends the test, not a closer left spinning
            assert closing.result() > 0
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
    assert answered == threads * calls == sum(service.hits for service in origins)
    client.close_sessions()
    assert client_sockets(origins) == 0
