"""Shared fixtures: a real HTTP service on loopback, unique breaker names, the seed's shims."""

from __future__ import annotations

import itertools
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterator, List

import pytest

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
def service() -> Iterator[Service]:
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
def services() -> Iterator[Callable[[int], List[Service]]]:
    """Starts `count` loopback services (distinct origins) on demand; stops them all afterwards."""
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
def dead_url() -> str:
    """A loopback URL where nothing listens (connection refused)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/api"
