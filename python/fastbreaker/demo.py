"""``python -m fastbreaker demo``: the whole mission on this machine, nothing to set up.

A flaky HTTP service starts on loopback (healthy, then failing, then recovering). A few threads
call it with ``protected_post``. The circuit opens while the service fails, turns calls away
without touching the network, probes the service in HALF_OPEN once the recovery timeout has
passed, and closes again when it has recovered. The health endpoint is served meanwhile.
"""

from __future__ import annotations

import argparse
import errno
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import ThreadingMixIn
from typing import Dict, List, Optional, TextIO
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import requests

from . import health
from ._core import TransitionEvent
from .circuit_breaker import CircuitBreakerError
from .external_service_client import get_circuit_breaker, protected_post

SERVICE = "demo-matching-service"
WORKERS = 4
MIN_DURATION = 1.5

#: What `python -m fastbreaker demo --help` says (plain text: the module docstring is for Sphinx).
DESCRIPTION = """\
Runs the whole story on this machine, with nothing to set up.

A flaky HTTP service starts on loopback: healthy, then failing, then recovering.
Four threads call it through protected_post. The circuit opens while the service
fails, turns calls away without touching the network, probes the service in
half_open once the recovery timeout has passed, and closes again when it has
recovered. Meanwhile the health endpoint is served on --port.

Ctrl-C ends it early, with the summary."""


class FlakyService(ThreadingHTTPServer):
    """A loopback HTTP service that answers 200 or 503 depending on ``failing``, and counts hits."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _FlakyHandler)
        self.failing = False
        self.hits = 0
        self._lock = threading.Lock()

    def hit(self) -> bool:
        with self._lock:
            self.hits += 1
            return self.failing

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/match"


class _FlakyHandler(BaseHTTPRequestHandler):
    server: FlakyService
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        failing = self.server.hit()
        body = json.dumps({"matched": not failing}).encode()
        self.send_response(503 if failing else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


class _HealthServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class _Transitions:
    """A listener of the breaker: prints each transition and remembers them for the summary."""

    def __init__(self, out: TextIO, started: float, live: bool) -> None:
        self.out = out
        self.live = live
        self.started = started
        self.seen: List[str] = []
        self._lock = threading.Lock()

    def __call__(self, event: TransitionEvent) -> None:
        move = f"{event.old_state} -> {event.new_state}"
        prefix = "\n" if self.live else ""  # leave the live line
        elapsed = time.monotonic() - self.started
        with self._lock:  # listeners run in the worker thread that made the transition
            self.seen.append(move)
            print(
                f"{prefix}[{elapsed:5.1f}s] {move:<21} {_why(event)}",
                file=self.out,
                flush=True,
            )


def _why(event: TransitionEvent) -> str:
    """What made the transition, in words."""
    if event.reason == "failure_threshold":
        return f"after {event.failure_count} consecutive failures"
    if event.reason == "recovery_timeout":
        return "recovery timeout passed: the next call is a trial"
    if event.reason == "trial_failed":
        return f"the trial failed (failure_count={event.failure_count})"
    if event.reason == "trial_succeeded":
        successes = get_circuit_breaker(SERVICE).success_threshold
        return f"after {successes} successful trials"
    return f"({event.reason})"


class _Counts:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls = self.ok = self.failed = self.rejected = 0

    def add(self, outcome: str) -> None:
        with self.lock:
            self.calls += 1
            setattr(self, outcome, getattr(self, outcome) + 1)

    def snapshot(self) -> Dict[str, int]:
        with self.lock:
            return {
                "calls": self.calls,
                "ok": self.ok,
                "failed": self.failed,
                "rejected": self.rejected,
            }


def _worker(url: str, stop: threading.Event, counts: _Counts, pause: float) -> None:
    while not stop.is_set():
        try:
            protected_post(url, service_name=SERVICE, json={"document": "demo"}, timeout=5)
            counts.add("ok")
        except CircuitBreakerError:
            counts.add("rejected")
        except requests.RequestException:
            counts.add("failed")
        stop.wait(pause)


def run(port: int = 8000, duration: float = 20.0, out: TextIO = sys.stdout) -> int:
    """Runs the demo; returns the exit status (0 when every step of the story was seen)."""
    if duration < MIN_DURATION:
        raise ValueError(f"duration must be at least {MIN_DURATION:g} seconds")
    try:
        health_server = make_server(
            "127.0.0.1",
            port,
            health.wsgi_app,
            server_class=_HealthServer,
            handler_class=_QuietHandler,
        )
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            print(
                f"error: port {port} is already in use; choose another with --port "
                "(--port 0 picks a free one)",
                file=sys.stderr,
            )
            return 2
        raise
    service = FlakyService()
    recovery_timeout = round(max(0.2, min(2.0, duration / 10)), 2)
    breaker = get_circuit_breaker(
        SERVICE, failure_threshold=5, recovery_timeout=recovery_timeout, success_threshold=2
    )
    healthy_until, failing_until = duration * 0.25, duration * 0.55

    started = time.monotonic()
    live = out.isatty()
    transitions = _Transitions(out, started, live)
    breaker.add_listener(transitions)

    interrupted: Optional[float] = None
    threads = [
        threading.Thread(target=s.serve_forever, daemon=True) for s in (service, health_server)
    ]
    stop = threading.Event()
    counts = _Counts()
    workers = [
        threading.Thread(target=_worker, args=(service.url, stop, counts, 0.02), daemon=True)
        for _ in range(WORKERS)
    ]
    health_url = f"http://127.0.0.1:{health_server.server_port}{health.HEALTH_PATH}"
    print(
        f"fastbreaker demo: {WORKERS} threads call a flaky service at {service.url}\n"
        f"  healthy for {healthy_until:.1f}s, failing until {failing_until:.1f}s, "
        f"then recovering; ends after {duration:.1f}s\n"
        f"  breaker '{SERVICE}': failure_threshold=5, recovery_timeout={recovery_timeout}s, "
        f"success_threshold=2\n"
        f"  health endpoint: curl {health_url}",
        file=out,
        flush=True,
    )
    try:
        for thread in threads + workers:
            thread.start()
        last_line = 0.0
        while (elapsed := time.monotonic() - started) < duration:
            service.failing = healthy_until <= elapsed < failing_until
            if elapsed - last_line >= (0.2 if live else 1.0):
                last_line = elapsed
                line = _live_line(elapsed, service, counts)
                print(f"\r{line}" if live else line, end="" if live else "\n", file=out, flush=True)
            time.sleep(0.02)
    except KeyboardInterrupt:
        interrupted = time.monotonic() - started
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=10)
        service.shutdown()
        health_server.shutdown()
        service.server_close()
        health_server.server_close()
        breaker.remove_listener(transitions)
    if interrupted is not None:
        print(f"{chr(10) if live else ''}interrupted after {interrupted:.1f}s (Ctrl-C)", file=out)
    status = _summary(out, live, service, counts, transitions.seen)
    return 130 if interrupted is not None else status


def _live_line(elapsed: float, service: FlakyService, counts: _Counts) -> str:
    c = counts.snapshot()
    state = get_circuit_breaker(SERVICE).get_status()["state"]
    return (
        f"[{elapsed:5.1f}s] service {'FAILING' if service.failing else 'healthy'}  "
        f"circuit {state:<9}  calls={c['calls']} ok={c['ok']} failed={c['failed']} "
        f"rejected={c['rejected']} service_hits={service.hits}"
    )


def _summary(
    out: TextIO, live: bool, service: FlakyService, counts: _Counts, seen: List[str]
) -> int:
    c = counts.snapshot()
    status = get_circuit_breaker(SERVICE).get_status()
    checks = [
        ("the circuit opened while the service failed", "closed -> open" in seen),
        (
            f"{c['rejected']} calls were rejected without touching the network "
            f"(service hits {service.hits} = ok {c['ok']} + failed {c['failed']})",
            c["rejected"] > 0 and service.hits == c["ok"] + c["failed"],
        ),
        ("the breaker probed the service in half_open", "open -> half_open" in seen),
        (
            "the circuit closed again once the service recovered",
            "half_open -> closed" in seen and status["state"] == "closed",
        ),
    ]
    print(("\n" if live else "") + "\nsummary:", file=out)
    print(f"  transitions: {', '.join(seen) or 'none'}", file=out)
    for text, held in checks:
        print(f"  [{'ok' if held else 'FAILED'}] {text}", file=out)
    print(f"  final status: {json.dumps(status)}", file=out, flush=True)
    return 0 if all(held for _, held in checks) else 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port",
        type=int,
        default=8000,
        help="port of the health endpoint on 127.0.0.1 (default 8000; 0 = any)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=20.0,
        help=f"seconds to run, at least {MIN_DURATION:g} (default 20)",
    )
