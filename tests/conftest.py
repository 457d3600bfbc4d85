"""Shared fixtures: a real HTTP service on loopback, unique breaker names, the seed's shims."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Set, Tuple
from urllib.parse import parse_qs

import fastbreaker
import pytest
from fastbreaker.testing import RedisServer
from fastbreaker.testing import redis_server as start_redis_server

# The seed document's `src.circuit_breaker` / `src.external_service_client`, as one-line shims.
sys.path.insert(0, str(Path(__file__).parent / "seed_app"))

_names = itertools.count()


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A breaker name no other test uses (the registry is process-wide)."""
    return f"{request.node.name}-{next(_names)}"


class Service(ThreadingHTTPServer):
    """A loopback HTTP service whose answers a test controls. Counts every request it receives."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.status = 200
        self.delay = 0.0
        self.hits = 0
        self.requests: List[dict] = []
        self._lock = threading.Lock()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def url(self, path: str = "/api") -> str:
        return self.origin + path

    def record(self, entry: dict) -> None:
        with self._lock:
            self.hits += 1
            self.requests.append(entry)


class _Handler(BaseHTTPRequestHandler):
    server: Service
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.record(
            {
                "method": self.command,
                "path": self.path,
                "body": body,
                "headers": dict(self.headers),
                "client": self.client_address,
            }
        )
        if self.server.delay:
            time.sleep(self.server.delay)
        status = self.server.status
        payload = json.dumps({"status": status, "path": self.path}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def service(breaker_registry: object) -> Iterator[Service]:
    server = Service()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def services(breaker_registry: object) -> Iterator[Callable[[int], List[Service]]]:
    """Starts `count` loopback services (distinct origins) on demand; stops them all afterwards.

    Every fixture that hands out a loopback origin isolates the registry (`breaker_registry`):
    the breaker `protected_*` names after an origin would otherwise outlive the test, and a later
    test given the same port (the OS reuses them) would meet it, open, with its old options."""
    started: List[tuple] = []

    def start(count: int) -> List[Service]:
        new = []
        for _ in range(count):
            server = Service()
            thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
            thread.start()
            started.append((server, thread))
            new.append(server)
        return new

    try:
        yield start
    finally:
        with ThreadPoolExecutor(8) as pool:  # each shutdown waits for a poll interval
            list(pool.map(lambda entry: entry[0].shutdown(), started))
        for server, thread in started:
            server.server_close()
            thread.join(timeout=5)


@pytest.fixture
def dead_url(breaker_registry: object) -> str:
    """A loopback URL where nothing listens (connection refused)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/api"


# Scripted answers, the same from a threaded server (`scripted_service`) and an asyncio one
# (`async_scripted_service`), chosen by the request's path:
#   /status/<code>        that status, with a JSON body (none for 1xx, 204, 304 and HEAD)
#   /slow/<seconds>       a 200 after that long
#   /chunked/<count>      a 200 whose body is <count> chunks of 1,000 bytes
#   /empty                a 200 with a Content-Length of 0
#   /truncated            a Content-Length of 100, 10 bytes, then the connection closes
#   /chunked-broken       3 chunks, then the connection closes before the last chunk
#   /stall/<seconds>      10 bytes of a 20-byte body, a pause that long, the other 10
#   /bad-gzip             Content-Encoding: gzip over bytes that are not gzip
#   /zstd-truncated       Content-Encoding: zstd over the first half of a zstd frame: the body
#                         arrives whole, but its decoder finds it incomplete only at its end
#   /redirect?to=<url>    a 302 to <url>
#   anything else         a 200 with a JSON body


class Answer:
    """How a scripted service answers one request: its head, its body in parts, and whether it
    finishes the body or drops the connection half-way."""

    def __init__(
        self,
        status: int = 200,
        headers: Optional[List[Tuple[str, str]]] = None,
        parts: Optional[List[bytes]] = None,
        *,
        chunked: bool = False,
        length: Optional[int] = None,
        delay: float = 0.0,
        pause: float = 0.0,
        finish: bool = True,
    ) -> None:
        self.status = status
        self.headers = list(headers or [])
        self.parts = list(parts or [])
        self.chunked = chunked
        self.length = sum(map(len, self.parts)) if length is None else length
        self.delay = delay
        self.pause = pause
        self.finish = finish

    def head(self, method: str) -> bytes:
        lines = [f"HTTP/1.1 {self.status} Scripted"]
        lines.extend(f"{name}: {value}" for name, value in self.headers)
        if self.chunked:
            lines.append("Transfer-Encoding: chunked")
        elif self.status >= 200 and self.status not in (204, 304):
            lines.append(f"Content-Length: {self.length}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def body(self, method: str) -> List[bytes]:
        """The writes that follow the head (the last one ends a chunked body)."""
        if method == "HEAD" or self.status < 200 or self.status in (204, 304):
            return []
        if not self.chunked:
            return self.parts
        writes = [b"%x\r\n%s\r\n" % (len(part), part) for part in self.parts]
        return writes + ([b"0\r\n\r\n"] if self.finish else [])


def scripted_answer(target: str) -> Answer:
    path, _, query = target.partition("?")
    kind, _, argument = path.strip("/").partition("/")
    json_body = [json.dumps({"path": target}).encode()]
    json_type = [("Content-Type", "application/json")]
    if kind == "status":
        # `?retry-after=<value>`, repeatable: one Retry-After header per value, in order.
        status = int(argument)
        retry_after = parse_qs(query, keep_blank_values=True).get("retry-after", [])
        headers = json_type + [("Retry-After", value) for value in retry_after]
        return Answer(status, headers, [] if status in (204, 304) else json_body)
    if kind == "slow":
        return Answer(200, json_type, json_body, delay=float(argument))
    if kind == "chunked":
        return Answer(200, [], [b"x" * 1000] * int(argument), chunked=True)
    if kind == "empty":
        return Answer(200)
    if kind == "truncated":
        return Answer(200, [], [b"x" * 10], length=100, finish=False)
    if kind == "chunked-broken":
        return Answer(200, [], [b"x" * 1000] * 3, chunked=True, finish=False)
    if kind == "stall":
        return Answer(200, [], [b"x" * 10, b"y" * 10], pause=float(argument))
    if kind == "bad-gzip":
        return Answer(200, [("Content-Encoding", "gzip")], [b"this is not gzip at all"])
    if kind == "zstd-truncated":
        import zstandard

        frame = zstandard.ZstdCompressor().compress(bytes(range(256)) * 64)
        return Answer(200, [("Content-Encoding", "zstd")], [frame[: len(frame) // 2]])
    if kind == "redirect":
        [location] = parse_qs(query)["to"]
        return Answer(302, [("Location", location)], [b"moved"])
    return Answer(200, json_type, json_body)


_loopback_hosts = itertools.count(1)


def unique_loopback_host() -> str:
    """A loopback address that no other scripted service of this run has used (Linux routes all
    of 127.0.0.0/8 to the loopback interface). The breakers of HTTP clients are named by origin and
    live as long as the process: a service on an address of its own has breakers of its own,
    where a port reused from an earlier test on 127.0.0.1 would inherit that test's breaker."""
    number = next(_loopback_hosts)
    return f"127.77.{number // 250}.{number % 250 + 1}"


class ScriptedService(ThreadingHTTPServer):
    """A threaded loopback service that answers as `scripted_answer` says, on an address of its
    own. Counts every request it receives (`hits`), and the paths (`paths`)."""

    daemon_threads = True
    request_queue_size = 128  # many threads connect at once

    def __init__(self) -> None:
        super().__init__((unique_loopback_host(), 0), _ScriptedHandler)
        self.hits = 0
        self.paths: List[str] = []
        self._lock = threading.Lock()

    @property
    def origin(self) -> str:
        return f"http://{self.server_address[0]}:{self.server_address[1]}"

    def url(self, path: str = "/") -> str:
        return self.origin + path

    def record(self, path: str) -> None:
        with self._lock:
            self.hits += 1
            self.paths.append(path)

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients that close a connection before the answer's end are part of the script.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class _ScriptedHandler(BaseHTTPRequestHandler):
    server: ScriptedService
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.server.record(self.path)
        answer = scripted_answer(self.path)
        if answer.delay:
            time.sleep(answer.delay)
        self.wfile.write(answer.head(self.command))
        for number, write in enumerate(answer.body(self.command)):
            if number and answer.pause:
                self.wfile.flush()
                time.sleep(answer.pause)
            self.wfile.write(write)
        self.wfile.flush()
        if not answer.finish:
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def scripted_service(breaker_registry: object) -> Iterator[ScriptedService]:
    server = ScriptedService()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def scripted_services(
    breaker_registry: object,
) -> Iterator[Callable[[int], List[ScriptedService]]]:
    """Starts `count` scripted services (distinct origins) on demand; stops them afterwards."""
    started: List[Tuple[ScriptedService, threading.Thread]] = []

    def start(count: int) -> List[ScriptedService]:
        new = []
        for _ in range(count):
            server = ScriptedService()
            thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
            thread.start()
            started.append((server, thread))
            new.append(server)
        return new

    try:
        yield start
    finally:
        for server, thread in started:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)


class AsyncScriptedService:
    """The asyncio form of `ScriptedService`, serving on the running event loop (so a client that
    blocked the loop would stall it too): ``async with AsyncScriptedService() as service``."""

    def __init__(self) -> None:
        self.hits = 0
        self.paths: List[str] = []
        self._writers: Set[asyncio.StreamWriter] = set()
        self._server: Optional[asyncio.AbstractServer] = None
        self.host = unique_loopback_host()
        self.port = 0

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.origin + path

    async def __aenter__(self) -> AsyncScriptedService:
        self._server = await asyncio.start_server(self._serve, self.host, 0, backlog=128)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                request_line = await reader.readline()
                if not request_line.strip():
                    return
                method, target, _ = request_line.decode("latin-1").split(" ", 2)
                length = 0
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = line.decode("latin-1").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                if length:
                    await reader.readexactly(length)
                self.hits += 1
                self.paths.append(target)
                answer = scripted_answer(target)
                if answer.delay:
                    await asyncio.sleep(answer.delay)
                writer.write(answer.head(method))
                for number, write in enumerate(answer.body(method)):
                    if number and answer.pause:
                        await writer.drain()
                        await asyncio.sleep(answer.pause)
                    writer.write(write)
                await writer.drain()
                if not answer.finish:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()


@pytest.fixture
def refused_url(breaker_registry: object) -> str:
    """A URL on an address of its own where nothing listens (connection refused)."""
    import socket

    host = unique_loopback_host()
    with socket.socket() as sock:
        sock.bind((host, 0))
        port = sock.getsockname()[1]
    return f"http://{host}:{port}/api"


@pytest.fixture
def async_scripted_service(breaker_registry: object) -> Callable[[], AsyncScriptedService]:
    """Makes `AsyncScriptedService`s, to be started inside the test's event loop."""
    return AsyncScriptedService


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A private `redis-server` on a free loopback port, without persistence, stopped afterwards
    (`fastbreaker.testing.redis_server`). Without `redis-server` installed the test is skipped,
    except in CI (the variable `CI` is set), which installs it: there the test fails."""
    if shutil.which("redis-server") is None:
        message = "redis-server is not installed (apt-get install redis-server)"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI must install it (.ci/run does)")
        pytest.skip(message)
    with start_redis_server() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """`redis://127.0.0.1:PORT/0` of the test's private `redis_server`."""
    return redis_server.url


class _BrokenBreaker:
    def get_status(self) -> None:
        raise RuntimeError("the store exploded")


@pytest.fixture
def broken_breaker(unique_name: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Lists, for the metrics exporters, a breaker whose status cannot be read beside the live
    ones; its label."""
    import fastbreaker.metrics

    real = fastbreaker.metrics.all_circuit_breakers
    broken = f"{unique_name}-broken"
    monkeypatch.setattr(
        fastbreaker.metrics, "all_circuit_breakers", lambda: {broken: _BrokenBreaker(), **real()}
    )
    return broken


@pytest.fixture
def no_default_store() -> Iterator[None]:
    """Runs the test with no default store, and puts the process's default back afterwards."""
    before = fastbreaker.get_default_store()
    fastbreaker.set_default_store(None)
    try:
        yield
    finally:
        fastbreaker.set_default_store(before)
