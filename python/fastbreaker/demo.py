"""``python -m fastbreaker demo``: the whole mission on this machine, nothing to set up.

A flaky HTTP service starts on loopback (healthy, then failing, then recovering). A few threads
call it with ``protected_post``. The circuit opens while the service fails, turns calls away
without touching the network, probes the service in HALF_OPEN once the recovery timeout has
passed, and closes again when it has recovered. The health endpoint is served meanwhile.

``python -m fastbreaker demo --workers 4 --store redis://127.0.0.1:6379/0`` runs the same story
with processes instead of threads, sharing one breaker through Redis: the circuit opens in every
process at once (one made the transition, the others learn it), and each recovery window lets a
single trial reach the service, fleet-wide.
"""

from __future__ import annotations

import argparse
import errno
import json
import multiprocessing
import os
import queue
import secrets
import shutil
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import ThreadingMixIn
from typing import Any, Dict, List, Optional, TextIO, Tuple
from urllib.parse import urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import requests

from . import health
from ._core import RedisStore, TransitionEvent
from ._state import CircuitBreakerStatus
from .circuit_breaker import CircuitBreakerError
from .external_service_client import get_circuit_breaker, protected_post

SERVICE = "demo-matching-service"
WORKERS = 4
MAX_WORKERS = 32  # --workers
MIN_DURATION = 1.5

#: What `python -m fastbreaker demo --help` says (plain text: the module docstring is for Sphinx).
DESCRIPTION = """\
Runs the whole story on this machine, with nothing to set up.

A flaky HTTP service starts on loopback: healthy, then failing, then recovering.
Four threads call it through protected_post. The circuit opens while the service
fails, turns calls away without touching the network, probes the service in
half_open once the recovery timeout has passed, and closes again when it has
recovered. Meanwhile the health endpoint is served on --port.

With --workers N --store redis://HOST:PORT/DB, N processes call the service
instead, through one breaker shared through that Redis: the circuit opens in all
of them at once (one process makes the transition, the others learn it), and
each recovery window lets a single trial reach the service, fleet-wide.

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


def _health_server(port: int) -> Optional[_HealthServer]:
    """The health endpoint's server on `port`, or None (with the reason on stderr) when the port
    is taken."""
    try:
        return make_server(
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
            return None
        raise


def run(port: int = 8000, duration: float = 20.0, out: TextIO = sys.stdout) -> int:
    """Runs the demo; returns the exit status (0 when every step of the story was seen)."""
    if duration < MIN_DURATION:
        raise ValueError(f"duration must be at least {MIN_DURATION:g} seconds")
    health_server = _health_server(port)
    if health_server is None:
        return 2
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


# --- fleet mode: processes sharing one breaker through Redis ------------------------------------

FLEET_DURATION = 6.0  # the default --duration with --workers
REDIS_HELP = """\
Start one:
    apt-get install redis-server && redis-server {listen} --save ''
or, from Python, a private throwaway one: fastbreaker.testing.redis_server()"""


def redis_problem(url: str, timeout: float = 1.0) -> Optional[str]:
    """Why no Redis answers at ``url`` (None when one does). Sends a PING on a plain connection:
    a ``-NOAUTH`` error is an answer too. A ``rediss://`` URL is only connected to (the store
    itself does the TLS handshake)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    sock: Optional[socket.socket] = None
    try:
        if scheme == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(parts.path)
        else:
            sock = socket.create_connection(
                (parts.hostname or "127.0.0.1", parts.port or 6379), timeout
            )
        if scheme == "rediss":
            return None
        sock.sendall(b"*1\r\n$4\r\nPING\r\n")
        answer = sock.recv(64)
    except OSError as error:
        return error.strerror or str(error) or type(error).__name__
    finally:
        if sock is not None:
            sock.close()
    if answer[:1] in (b"+", b"-"):  # +PONG, or an error such as -NOAUTH: a Redis answered
        return None
    return "something answers there, but not like a Redis server"


def _redis_help(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme.lower() == "unix":
        listen = f"--unixsocket {parts.path} --port 0"
    else:
        try:
            listen = f"--port {parts.port or 6379}"
        except ValueError:  # not a port: the store refused the URL already
            listen = "--port 6379"
    text = REDIS_HELP.format(listen=listen)
    if shutil.which("redis-server") is None:
        text = "redis-server is not installed here. " + text.replace("Start one", "Install it")
    return text


class _FleetService(FlakyService):
    """The flaky service, also noting when each request arrived and left (Unix time, to compare
    with the workers' transitions: one clock for every process of this machine)."""

    def __init__(self) -> None:
        super().__init__()
        self.RequestHandlerClass = _FleetHandler
        self.log: List[Tuple[float, float]] = []

    def record(self, arrived: float, left: float) -> None:
        with self._lock:
            self.log.append((arrived, left))


class _FleetHandler(_FlakyHandler):
    server: _FleetService

    def do_POST(self) -> None:
        arrived = time.time()
        super().do_POST()
        self.server.record(arrived, time.time())


def _fleet_worker(
    index: int,
    store_options: Dict[str, Any],
    breaker_options: Dict[str, Any],
    service_url: str,
    pause: float,
    events: Any,
    go: Any,
    stop: Any,
) -> None:
    """One worker process: the breaker shared through Redis, a listener that reports every
    transition it sees (made here or learned) to the parent, and a loop of ``protected_post``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent ends the run on Ctrl-C
    try:
        breaker = get_circuit_breaker(SERVICE, store=RedisStore(**store_options), **breaker_options)
    except Exception as error:
        events.put(("error", index, f"{type(error).__name__}: {error}"))
        return

    def report(event: TransitionEvent) -> None:
        # A transition this worker made is timed by the transition itself (`event.time`: with a
        # Redis store, the server's clock read by the script that made it, before any other
        # worker could learn it). Not by this listener's own clock: on a busy machine it may run
        # after another worker has learned the new state and sent a request, which would then be
        # counted in the wrong half_open window. Learned transitions keep the time they arrive.
        at = time.time() if event.remote else event.time
        events.put(
            (
                "transition",
                index,
                at,
                str(event.old_state),
                str(event.new_state),
                event.reason,
                event.failure_count,
                bool(event.remote),
            )
        )

    breaker.add_listener(report)
    counts = {"ok": 0, "failed": 0, "rejected": 0}
    events.put(("ready", index, os.getpid()))
    go.wait()
    while not stop.is_set():
        try:
            protected_post(service_url, service_name=SERVICE, json={"document": "demo"}, timeout=5)
            counts["ok"] += 1
        except CircuitBreakerError:
            counts["rejected"] += 1
        except requests.RequestException:
            counts["failed"] += 1
        stop.wait(pause)
    status = breaker.get_status()
    breaker.remove_listener(report)
    events.put(("done", index, counts, dict(status)))


class _Seen:
    """A transition as a worker saw it."""

    __slots__ = ("failure_count", "new", "old", "reason", "remote", "time", "worker")

    def __init__(
        self,
        worker: int,
        at: float,
        old: str,
        new: str,
        reason: str,
        failure_count: int,
        remote: bool,
    ) -> None:
        self.worker, self.time, self.old, self.new = worker, at, old, new
        self.reason, self.failure_count, self.remote = reason, failure_count, remote

    @property
    def move(self) -> str:
        return f"{self.old} -> {self.new}"


def _fleet_why(seen: _Seen, success_threshold: int) -> str:
    if seen.remote:
        return "learned from another process"
    if seen.reason == "failure_threshold":
        return f"after {seen.failure_count} consecutive failures, counted across the fleet"
    if seen.reason == "recovery_timeout":
        return "recovery timeout passed: this process runs the trial"
    if seen.reason == "trial_failed":
        return "the trial failed"
    if seen.reason == "trial_succeeded":
        return f"after {success_threshold} successful trials"
    return f"({seen.reason})"


class _Window:
    """One half_open period of the shared circuit, and the service requests that arrived in it."""

    def __init__(self, start: float, end: float, outcome: str) -> None:
        self.start, self.end, self.outcome = start, end, outcome
        self.trials = 0
        self.most_at_once = 0


def _windows(transitions: List[_Seen], log: List[Tuple[float, float]], end: float) -> List[_Window]:
    """The half_open windows, from the transitions the workers made themselves (each transition of
    the shared circuit is made by one process), with the requests that reached the service in
    each: the trials."""
    own = sorted((t for t in transitions if not t.remote), key=lambda t: t.time)
    windows: List[_Window] = []
    for i, seen in enumerate(own):
        if seen.new != "half_open":
            continue
        leaving = next((t for t in own[i + 1 :] if t.old == "half_open"), None)
        window = _Window(
            seen.time,
            leaving.time if leaving else end,
            leaving.new if leaving else "still half_open",
        )
        inside = sorted((a, b) for a, b in log if window.start <= a <= window.end)
        window.trials = len(inside)
        for arrived, _ in inside:  # requests in the service at once
            at_once = sum(1 for a, b in inside if a <= arrived <= b)
            window.most_at_once = max(window.most_at_once, at_once)
        windows.append(window)
    return windows


def run_fleet(
    store_url: str,
    workers: int = WORKERS,
    port: int = 8000,
    duration: float = FLEET_DURATION,
    out: TextIO = sys.stdout,
) -> int:
    """The demo with ``workers`` processes sharing the breaker through the Redis at ``store_url``;
    returns the exit status (0 when every step of the story was seen, 2 when Redis is not there)."""
    if duration < MIN_DURATION:
        raise ValueError(f"duration must be at least {MIN_DURATION:g} seconds")
    if workers < 1:
        raise ValueError("workers must be at least 1")
    # A namespace of its own: runs do not meet each other's state, and the keys expire soon after.
    store_options: Dict[str, Any] = {
        "url": store_url,
        "namespace": f"fastbreaker-demo-{secrets.token_hex(4)}",
        "key_ttl": 600.0,
    }
    try:
        store = RedisStore(**store_options)
    except (TypeError, ValueError) as error:
        print(f"error: --store: {error}", file=sys.stderr)
        return 2
    problem = redis_problem(store_url)
    if problem is not None:
        print(
            f"error: cannot reach Redis at {store.url} ({problem}).\n"
            f"The fleet demo shares its breaker through Redis. {_redis_help(store_url)}",
            file=sys.stderr,
        )
        return 2
    health_server = _health_server(port)
    if health_server is None:
        return 2

    recovery_timeout = round(max(0.2, min(2.0, duration / 10)), 2)
    breaker_options: Dict[str, Any] = {
        "failure_threshold": 5,
        "recovery_timeout": recovery_timeout,
        "success_threshold": 2,
    }
    # The parent never calls the service: its breaker (served on the health endpoint) only
    # watches the shared state.
    watcher = get_circuit_breaker(SERVICE, store=store, **breaker_options)
    service = _FleetService()
    healthy_until, failing_until = duration * 0.25, duration * 0.55
    context = multiprocessing.get_context("spawn")
    events = context.Queue()
    go, stop = context.Event(), context.Event()
    processes = [
        context.Process(
            target=_fleet_worker,
            args=(
                i + 1,
                store_options,
                breaker_options,
                service.url,
                0.02,
                events,
                go,
                stop,
            ),
            name=f"fastbreaker-demo-worker-{i + 1}",
            daemon=True,
        )
        for i in range(workers)
    ]
    threads = [
        threading.Thread(target=s.serve_forever, daemon=True) for s in (service, health_server)
    ]
    health_url = f"http://127.0.0.1:{health_server.server_port}{health.HEALTH_PATH}"
    print(
        f"fastbreaker demo: {workers} processes call a flaky service at {service.url}\n"
        f"  through one breaker shared in {store.url} (namespace {store.namespace})\n"
        f"  healthy for {healthy_until:.1f}s, failing until {failing_until:.1f}s, "
        f"then recovering; ends after {duration:.1f}s\n"
        f"  breaker '{SERVICE}': failure_threshold=5, recovery_timeout={recovery_timeout}s, "
        f"success_threshold=2, half_open_max_calls=1 (for the whole fleet)\n"
        f"  health endpoint of this (watching) process: curl {health_url}",
        file=out,
        flush=True,
    )

    pids: Dict[int, int] = {}
    done: Dict[int, Tuple[Dict[str, int], Dict[str, Any]]] = {}
    errors: List[str] = []
    transitions: List[_Seen] = []
    pending: List[_Seen] = []
    started_wall = time.time()

    def drain(block: float = 0.0) -> None:
        deadline = time.monotonic() + block
        while True:
            try:
                message = events.get(timeout=max(0.0, deadline - time.monotonic()) or 0.001)
            except queue.Empty:
                return
            kind = message[0]
            if kind == "ready":
                pids[message[1]] = message[2]
            elif kind == "error":
                errors.append(f"worker {message[1]}: {message[2]}")
            elif kind == "done":
                done[message[1]] = (message[2], message[3])
            elif kind == "transition":
                seen = _Seen(*message[1:])
                transitions.append(seen)
                pending.append(seen)

    def show(until: float) -> None:
        # Transitions arrive from several processes: printed in the order they happened.
        pending.sort(key=lambda s: s.time)
        while pending and pending[0].time <= until:
            seen = pending.pop(0)
            print(
                f"[{seen.time - started_wall:5.2f}s] worker {seen.worker}: {seen.move:<21} "
                f"{_fleet_why(seen, 2)}",
                file=out,
                flush=True,
            )

    interrupted: Optional[float] = None
    end_wall = started_wall
    try:
        for thread in threads:
            thread.start()
        # The workers start with Ctrl-C ignored (inherited through exec): the whole process group
        # gets the signal, and this process ends the run.
        in_main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if in_main else None
        try:
            for process in processes:
                process.start()
        finally:
            if in_main:
                signal.signal(signal.SIGINT, previous)
        startup_deadline = time.monotonic() + 60
        while len(pids) + len(errors) < workers:
            if time.monotonic() > startup_deadline or not all(p.is_alive() for p in processes):
                drain(0.5)
                if len(pids) + len(errors) < workers:
                    errors.append("a worker process did not start")
                break
            drain(0.1)
        if errors:
            for problem in errors:
                print(f"error: {problem}", file=sys.stderr)
            return 1
        started = time.monotonic()
        started_wall = time.time()
        go.set()
        phase = "healthy"
        while (elapsed := time.monotonic() - started) < duration:
            failing = healthy_until <= elapsed < failing_until
            now = "failing" if failing else ("healthy" if elapsed < healthy_until else "recovered")
            if now != phase:
                phase = now
                service.failing = failing
                show(time.time())
                print(
                    f"[{elapsed:5.2f}s] service: "
                    + ("starts failing (503)" if failing else "has recovered (200)"),
                    file=out,
                    flush=True,
                )
            drain(0.01)
            show(time.time() - 0.1)
            watcher.get_status()  # the watching process learns what the workers did
        end_wall = time.time()
    except KeyboardInterrupt:
        interrupted = time.monotonic() - started if go.is_set() else 0.0
        end_wall = time.time()
    finally:
        stop.set()
        go.set()
        deadline = time.monotonic() + 15
        while len(done) + len(errors) < len(pids) and time.monotonic() < deadline:
            if not any(p.is_alive() for p in processes):
                drain(0.2)
                break
            drain(0.1)
        for process in processes:
            process.join(timeout=max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        service.shutdown()
        health_server.shutdown()
        service.server_close()
        health_server.server_close()
        show(float("inf"))
    if interrupted is not None:
        print(f"interrupted after {interrupted:.1f}s (Ctrl-C)", file=out)
    status = _fleet_summary(
        out, workers, service, done, errors, transitions, end_wall, watcher.get_status()
    )
    return 130 if interrupted is not None else status


def _fleet_summary(
    out: TextIO,
    workers: int,
    service: _FleetService,
    done: Dict[int, Tuple[Dict[str, int], Dict[str, Any]]],
    errors: List[str],
    transitions: List[_Seen],
    end: float,
    watcher: CircuitBreakerStatus,
) -> int:
    every = range(1, workers + 1)
    opened = {
        w: min((t.time for t in transitions if t.worker == w and t.new == "open"), default=None)
        for w in every
    }
    first_open = [t for t in transitions if t.old == "closed" and t.new == "open"]
    openers = sorted({t.worker for t in first_open if not t.remote})
    spread = None
    if all(at is not None for at in opened.values()):
        times = [at for at in opened.values() if at is not None]
        spread = (max(times) - min(times)) * 1000
    windows = _windows(transitions, service.log, end)
    closing = [w for w in windows if w.outcome == "closed"]
    failed_windows = [w for w in windows if w.outcome == "open"]
    totals = {k: sum(c[k] for c, _ in done.values()) for k in ("ok", "failed", "rejected")}
    hits = len(service.log)
    final = {w: done[w][1]["state"] if w in done else "?" for w in every}

    print("\nsummary:", file=out)
    print("  worker  calls     ok  failed  rejected  transitions (own + learned)  final", file=out)
    for w in every:
        counts = done.get(w, ({"ok": 0, "failed": 0, "rejected": 0}, {}))[0]
        own = sum(1 for t in transitions if t.worker == w and not t.remote)
        learned = sum(1 for t in transitions if t.worker == w and t.remote)
        print(
            f"  {w:>6}  {sum(counts.values()):>5}  {counts['ok']:>5}  {counts['failed']:>6}  "
            f"{counts['rejected']:>8}  {own:>6} + {learned:<20}  {final[w]}",
            file=out,
        )
    for i, window in enumerate(windows, 1):
        print(
            f"  recovery window {i}: {window.trials} trial(s) reached the service"
            f"{f', {window.most_at_once} at most at once' if window.trials > 1 else ''}"
            f" -> {window.outcome}",
            file=out,
        )
    spread_text = "n/a" if spread is None else f"{spread:.0f} ms"
    checks = [
        (
            f"the circuit opened in all {workers} workers within {spread_text} "
            f"(made by worker {', '.join(map(str, openers)) or '-'}, learned by the others)",
            spread is not None and len(openers) == 1,
        ),
        (
            f"{totals['rejected']} calls were rejected without touching the network "
            f"(service hits {hits} = ok {totals['ok']} + failed {totals['failed']})",
            totals["rejected"] > 0 and hits == totals["ok"] + totals["failed"],
        ),
        (
            "a single trial per recovery window, fleet-wide (trials per window: "
            f"{', '.join(str(w.trials) for w in windows) or 'none'}; the last one closed the "
            "circuit with 2, one at a time)",
            bool(closing)
            and all(w.trials == 1 for w in failed_windows)
            and all(w.most_at_once <= 1 for w in windows)
            and windows[-1] is closing[-1]
            and closing[-1].trials == 2,
        ),
        (
            "the circuit closed again in every worker and in this watching process",
            not errors
            and len(done) == workers
            and all(state == "closed" for state in final.values())
            and watcher.get("state") == "closed",
        ),
    ]
    for error in errors:
        print(f"  error: {error}", file=out)
    for text, held in checks:
        print(f"  [{'ok' if held else 'FAILED'}] {text}", file=out)
    print(f"  final status (watching process): {json.dumps(watcher)}", file=out, flush=True)
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
        default=None,
        help=f"seconds to run, at least {MIN_DURATION:g} "
        f"(default 20; {FLEET_DURATION:g} with --store)",
    )
    parser.add_argument(
        "--store",
        metavar="URL",
        default=None,
        help="share the breaker between processes through this Redis "
        "(redis://HOST:PORT/DB, rediss://..., unix:///PATH); runs --workers processes",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help=f"processes calling the service, with --store (default {WORKERS})",
    )
