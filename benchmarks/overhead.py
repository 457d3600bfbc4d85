"""fastbreaker against pybreaker and circuitbreaker, in one process, interleaved, best of several.

    pip install '.[benchmark]' && python benchmarks/overhead.py [--json results.json] [--quick]

Every measurement is a loop of N calls timed with perf_counter_ns; the cases of one section are
run round-robin, R rounds, and the best round of each case is kept (the least disturbed by the
machine). Overheads are "case minus the bare call" and the ratios are what to quote: absolute
numbers move with the machine, ratios from one run much less.

`functools.partial(target)` is a reference row, not a competitor: a wrapper written in C that
does nothing but call through, the floor for any C-level decorator. fastbreaker's decorated
overhead is also given as a multiple of it (and of a no-op Python decorator's). For counts that
do not move with the machine at all, see benchmarks/callgrind.py.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import importlib.metadata
import json
import os
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional

import circuitbreaker
import fastbreaker
import pybreaker
import requests
from _common import (
    Section,
    cpu_model,
    looped,
    looped_catching,
    machine,
    raising,
    target,
    write_json,
)
from fastbreaker.external_service_client import protected_get

HUGE = 10**9  # thresholds that are never reached while measuring the failure path


def best_of(cases: Dict[str, Callable[[int], None]], calls: int, rounds: int) -> Dict[str, float]:
    """ns per call of each case: the best of `rounds` interleaved rounds of `calls` calls."""
    best = {name: float("inf") for name in cases}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):
            for name, run in cases.items():
                start = time.perf_counter_ns()
                run(calls)
                elapsed = time.perf_counter_ns() - start
                best[name] = min(best[name], elapsed / calls)
    finally:
        if gc_was_enabled:
            gc.enable()
    return best


def noop_decorator(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return wrapper


# --- the three libraries, configured alike ------------------------------------------------------


def fast(failure_threshold: int = 5) -> fastbreaker.CircuitBreaker:
    return fastbreaker.CircuitBreaker(failure_threshold=failure_threshold, recovery_timeout=600)


def pyb(failure_threshold: int = 5) -> pybreaker.CircuitBreaker:
    return pybreaker.CircuitBreaker(fail_max=failure_threshold, reset_timeout=600)


def cib(failure_threshold: int = 5) -> circuitbreaker.CircuitBreaker:
    return circuitbreaker.CircuitBreaker(failure_threshold=failure_threshold, recovery_timeout=600)


LIBRARIES = {"fastbreaker": fast, "pybreaker": pyb, "circuitbreaker": cib}


def open_breaker(library: str) -> Any:
    breaker = LIBRARIES[library](1)
    if library == "pybreaker":
        breaker.open()
    elif library == "fastbreaker":
        breaker.open()
    else:
        try:
            breaker.call(raising, 0)
        except ValueError:
            pass
    return breaker


REJECTED = {
    "fastbreaker": fastbreaker.CircuitBreakerError,
    "pybreaker": pybreaker.CircuitBreakerError,
    "circuitbreaker": circuitbreaker.CircuitBreakerError,
}


# --- sections -------------------------------------------------------------------------------------


def without_counting(run: Callable[[int], None]) -> Callable[[int], None]:
    """`run` with fastbreaker's call counters switched off (they are always on otherwise): what
    counting costs is the difference, measured in the same run."""

    def uncounted(calls: int) -> None:
        fastbreaker._core._set_call_counting(False)
        try:
            run(calls)
        finally:
            fastbreaker._core._set_call_counting(True)

    return uncounted


def success_path(calls: int, rounds: int) -> Section:
    cases: Dict[str, Callable[[int], None]] = {
        "bare call": looped(target, 1),
        "functools.partial(target)": looped(functools.partial(target), 1),
        "no-op Python decorator": looped(noop_decorator(target), 1),
    }
    for library, make in LIBRARIES.items():
        cases[f"{library} decorated"] = looped(make()(target), 1)
        breaker = make()
        cases[f"{library} .call(f, x)"] = looped(breaker.call, target, 1)
    cases["fastbreaker decorated, call counters off"] = without_counting(looped(fast()(target), 1))
    # Issue 11's bound: a 30 s failure-rate window (ten time buckets) against no window.
    windowed = fastbreaker.CircuitBreaker(failure_rate_threshold=0.5, window_seconds=30)
    cases["fastbreaker decorated, 30 s failure-rate window"] = looped(windowed(target), 1)
    section = Section("success path (closed circuit)", "ns/call", best_of(cases, calls, rounds))
    return section


def rejection_path(calls: int, rounds: int) -> Section:
    """Calls to an open circuit, through the decorated function (what services call) and, where
    the library rejects there too, through `.call`. circuitbreaker's `.call` never checks the
    state (only its decorator does), so it has no `.call` row: it would call the function."""
    cases: Dict[str, Callable[[int], None]] = {
        "raise+catch ValueError": looped_catching(raising, ValueError, 1)
    }
    for library in LIBRARIES:
        breaker = open_breaker(library)
        protected = breaker(target)
        check_rejects(library, protected)
        cases[f"{library} decorated, rejected"] = looped_catching(protected, REJECTED[library], 1)
        if library != "circuitbreaker":
            check_rejects(library, functools.partial(breaker.call, target))
            cases[f"{library} .call, rejected"] = looped_catching(
                breaker.call, REJECTED[library], target, 1
            )
    return Section("rejection path (open circuit)", "ns/call", best_of(cases, calls, rounds))


def check_rejects(library: str, protected: Callable[[int], Any]) -> None:
    try:
        protected(1)
    except REJECTED[library]:
        return
    raise AssertionError(f"{library}: the open circuit did not reject the call")


def failure_path(calls: int, rounds: int) -> Section:
    cases: Dict[str, Callable[[int], None]] = {
        "bare raise+catch": looped_catching(raising, ValueError, 1)
    }
    for library, make in LIBRARIES.items():
        protected = make(HUGE)(raising)
        cases[f"{library} decorated, failure counted"] = looped_catching(protected, ValueError, 1)
    section = Section(
        "failure path (function raises, breaker counts)", "ns/call", best_of(cases, calls, rounds)
    )
    return section


def threads(calls_per_thread: int, rounds: int, thread_count: int = 8) -> Section:
    def throughput(func: Callable[[int], Any]) -> float:
        barrier = threading.Barrier(thread_count + 1)

        def work() -> None:
            barrier.wait()
            for _ in range(calls_per_thread):
                func(1)

        workers = [threading.Thread(target=work) for _ in range(thread_count)]
        for worker in workers:
            worker.start()
        start = time.perf_counter_ns()
        barrier.wait()
        for worker in workers:
            worker.join()
        return thread_count * calls_per_thread / ((time.perf_counter_ns() - start) / 1e9)

    funcs = {
        "bare call": target,
        **{library: make()(target) for library, make in LIBRARIES.items()},
    }
    best = {name: 0.0 for name in funcs}
    for _ in range(rounds):
        for name, func in funcs.items():
            best[name] = max(best[name], throughput(func))
    section = Section(
        f"{thread_count} threads on one breaker (decorated, success path)", "calls/s", best
    )
    return section


# A minimal keep-alive HTTP server: it answers every GET with a canned response and parses
# nothing, so that the client's own cost (what is being compared) dominates the round trip.
_SERVER_SCRIPT = r"""
import socket, threading

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"

def serve(conn):
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buffer = b""
    with conn:
        while True:
            while b"\r\n\r\n" not in buffer:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            _, buffer = buffer.split(b"\r\n\r\n", 1)
            conn.sendall(RESPONSE)

listener = socket.create_server(("127.0.0.1", 0))
print(listener.getsockname()[1], flush=True)
while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"""


def http(requests_count: int, rounds: int) -> Section:
    """Sequential GETs to a loopback server in another process (so that the server does not
    compete with the client for this process's GIL)."""
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER_SCRIPT], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{int(server.stdout.readline())}/data"
        session = requests.Session()
        cases = {
            "requests.get": looped(requests.get, url),
            "requests.Session().get": looped(session.get, url),
            "fastbreaker protected_get": looped(protected_get, url),
        }
        for run in cases.values():  # open the pooled connections
            run(3)
        per_request = best_of(cases, requests_count, rounds)
    finally:
        server.kill()
        server.wait()
    results = {name: 1e9 / ns for name, ns in per_request.items()}
    return Section("HTTP GET to a loopback server", "req/s", results)


_SCALE_SCRIPT = r"""
import json, resource, sys, time
from fastbreaker import get_circuit_breaker

def rss_kib():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 1024

def lookup_ns(rounds=7, calls=100_000):
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter_ns()
        for _ in range(calls):
            get_circuit_breaker("svc-0")
        best = min(best, (time.perf_counter_ns() - start) / calls)
    return best

protected = get_circuit_breaker("svc-0")(lambda x: x)

def call_ns(rounds=7, calls=200_000):
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter_ns()
        for _ in range(calls):
            protected(1)
        best = min(best, (time.perf_counter_ns() - start) / calls)
    return best

count = int(sys.argv[1])
small = {"lookup_ns": lookup_ns(), "call_ns": call_ns()}
before = rss_kib()
for i in range(1, count):
    get_circuit_breaker(f"svc-{i}")
after = rss_kib()
large = {"lookup_ns": lookup_ns(), "call_ns": call_ns()}
print(json.dumps({"bytes_per_breaker": (after - before) * 1024 / (count - 1),
                  "one": small, "many": large, "count": count}))
"""


def scale(count: int) -> Section:
    out = subprocess.run(
        [sys.executable, "-c", _SCALE_SCRIPT, str(count)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    data = json.loads(out)
    section = Section(
        f"registry scale: 1 vs {count:,} named breakers",
        "ns/call",
        {
            "registry lookup, 1 breaker": data["one"]["lookup_ns"],
            f"registry lookup, {count:,} breakers": data["many"]["lookup_ns"],
            "decorated call, 1 breaker": data["one"]["call_ns"],
            f"decorated call, {count:,} breakers": data["many"]["call_ns"],
        },
    )
    section.notes.append(f"memory: {data['bytes_per_breaker']:.0f} bytes of RSS per named breaker")
    return section


# --- report ---------------------------------------------------------------------------------------


async def async_target(x: int) -> int:
    return x


def noop_async_decorator(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        return await func(*args, **kwargs)

    return wrapper


def async_peers() -> Dict[str, Callable[..., Any]]:
    """The asyncio circuit breakers installed (the `benchmark` extra installs them all), each
    decorating `async_target` with a threshold that is never reached."""
    peers: Dict[str, Callable[..., Any]] = {
        "circuitbreaker": circuitbreaker.circuit(failure_threshold=HUGE)(async_target),
    }
    try:
        import aiobreaker

        peers["aiobreaker"] = aiobreaker.CircuitBreaker(fail_max=HUGE)(async_target)
    except ImportError:
        pass
    try:
        import aiocircuitbreaker

        peers["aiocircuitbreaker"] = aiocircuitbreaker.circuit(failure_threshold=HUGE)(async_target)
    except ImportError:
        pass
    try:
        import purgatory

        factory = purgatory.AsyncCircuitBreakerFactory(default_threshold=HUGE)
        peers["purgatory"] = factory(circuit="benchmark")(async_target)
    except ImportError:
        pass
    return peers


def async_path(calls: int, rounds: int) -> Section:
    """`await g(1)` in a loop, inside one running event loop (nothing suspends, so no scheduling
    is measured): the cost of awaiting a decorated `async def` against awaiting it bare."""
    cases: Dict[str, Callable[..., Any]] = {
        "bare await": async_target,
        "no-op async def wrapper": noop_async_decorator(async_target),
        "fastbreaker decorated": fast(HUGE)(async_target),
    }
    cases.update({f"{name} decorated": g for name, g in async_peers().items()})

    async def loop(g: Callable[[int], Any], n: int) -> None:
        for _ in range(n):
            await g(1)

    async def measure() -> Dict[str, float]:
        best = {name: float("inf") for name in cases}
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            for _ in range(rounds):
                for name, g in cases.items():
                    start = time.perf_counter_ns()
                    await loop(g, calls)
                    best[name] = min(best[name], (time.perf_counter_ns() - start) / calls)
        finally:
            if gc_was_enabled:
                gc.enable()
        return best

    section = Section("async def, awaited (closed circuit)", "ns/call", asyncio.run(measure()))
    missing = {"aiobreaker", "aiocircuitbreaker", "purgatory"} - set(async_peers())
    if missing:
        section.notes.append(
            f"not installed, not measured: {', '.join(sorted(missing))} "
            "(pip install '.[benchmark]')"
        )
    return section


def overheads(success: Section) -> Dict[str, float]:
    bare = success.results["bare call"]
    return {name: ns - bare for name, ns in success.results.items() if name != "bare call"}


def ratios(sections: Dict[str, Section]) -> Dict[str, Optional[float]]:
    over = overheads(sections["success"])
    rej, fail, thr, web = (sections[k].results for k in ("rejection", "failure", "threads", "http"))
    fb_rej, fb_fail = (
        rej["fastbreaker decorated, rejected"],
        fail["fastbreaker decorated, failure counted"],
    )
    pairs = [
        (
            "decorated overhead: fastbreaker / circuitbreaker",
            over["fastbreaker decorated"],
            over["circuitbreaker decorated"],
        ),
        (
            "decorated overhead: fastbreaker / pybreaker",
            over["fastbreaker decorated"],
            over["pybreaker decorated"],
        ),
        (
            "decorated overhead: fastbreaker / no-op decorator",
            over["fastbreaker decorated"],
            over["no-op Python decorator"],
        ),
        (
            "decorated overhead: fastbreaker / functools.partial",
            over["fastbreaker decorated"],
            over["functools.partial(target)"],
        ),
        (
            "decorated overhead: call counters on / off",
            over["fastbreaker decorated"],
            over["fastbreaker decorated, call counters off"],
        ),
        (
            "decorated overhead: 30 s failure-rate window / none",
            over["fastbreaker decorated, 30 s failure-rate window"],
            over["fastbreaker decorated"],
        ),
        (
            ".call overhead: fastbreaker / circuitbreaker",
            over["fastbreaker .call(f, x)"],
            over["circuitbreaker .call(f, x)"],
        ),
        (
            ".call overhead: fastbreaker / pybreaker",
            over["fastbreaker .call(f, x)"],
            over["pybreaker .call(f, x)"],
        ),
        (
            "rejection: fastbreaker / circuitbreaker",
            fb_rej,
            rej["circuitbreaker decorated, rejected"],
        ),
        ("rejection: fastbreaker / pybreaker", fb_rej, rej["pybreaker decorated, rejected"]),
        (
            "failure: fastbreaker / circuitbreaker",
            fb_fail,
            fail["circuitbreaker decorated, failure counted"],
        ),
        ("failure: fastbreaker / pybreaker", fb_fail, fail["pybreaker decorated, failure counted"]),
        ("8-thread throughput: fastbreaker / pybreaker", thr["fastbreaker"], thr["pybreaker"]),
        (
            "8-thread throughput: fastbreaker / circuitbreaker",
            thr["fastbreaker"],
            thr["circuitbreaker"],
        ),
        (
            "HTTP: protected_get / Session().get",
            web["fastbreaker protected_get"],
            web["requests.Session().get"],
        ),
        (
            "HTTP: protected_get / requests.get",
            web["fastbreaker protected_get"],
            web["requests.get"],
        ),
    ]
    asynchronous = sections["async"].results
    bare_await = asynchronous["bare await"]
    fb_async = asynchronous["fastbreaker decorated"] - bare_await
    pairs.append(
        (
            "async overhead: fastbreaker / no-op async def wrapper",
            fb_async,
            asynchronous["no-op async def wrapper"] - bare_await,
        )
    )
    for peer in ("circuitbreaker", "aiobreaker", "aiocircuitbreaker", "purgatory"):
        measured = asynchronous.get(f"{peer} decorated")
        pairs.append(
            (
                f"async overhead: fastbreaker / {peer}",
                fb_async,
                float("nan") if measured is None else measured - bare_await,
            )
        )
    # An overhead measured at or below zero (noise, in a --quick run) has no meaningful ratio;
    # a peer that is not installed has none either.
    return {
        label: numerator / denominator if denominator > 0 else None  # NaN > 0 is False
        for label, numerator, denominator in pairs
    }


def render(
    sections: Dict[str, Section], ratio_table: Dict[str, Optional[float]], machine: Dict[str, str]
) -> str:
    lines = [
        f"{machine['versions']}",
        f"{machine['python']} on {machine['cpu']}, {machine['date']}",
        "",
    ]
    for section in sections.values():
        lines.append(f"{section.title} ({section.unit})")
        bare = section.results.get("bare call")
        for name, value in section.results.items():
            extra = ""
            if section.unit == "ns/call" and bare is not None and name != "bare call":
                extra = f"   overhead {value - bare:8.1f}"
            shown = f"{value:12.1f}" if section.unit == "ns/call" else f"{value:12,.0f}"
            lines.append(f"  {name:<42}{shown}{extra}")
        lines.extend(f"  {note}" for note in section.notes)
        lines.append("")
    if ratio_table:
        lines.append("ratios (lower is better for costs, higher for throughput)")
        for name, ratio in ratio_table.items():
            shown = "n/a" if ratio is None else f"{ratio:8.3f}"
            lines.append(f"  {name:<52}{shown:>8}")
    return "\n".join(lines)


def machine_info() -> Dict[str, str]:
    installed = []
    for name in (
        "fastbreaker",
        "pybreaker",
        "circuitbreaker",
        "aiobreaker",
        "aiocircuitbreaker",
        "purgatory",
        "requests",
    ):
        try:
            installed.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    versions = ", ".join(installed)
    return machine(f"{cpu_model()} ({os.cpu_count()} cores)", versions)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument(
        "--quick", action="store_true", help="tiny counts: a smoke run, not a measurement"
    )
    args = parser.parse_args(argv)
    if args.quick:
        calls, rounds, per_thread, http_requests, registry = 200, 2, 200, 5, 1_000
    else:
        calls, rounds, per_thread, http_requests, registry = 200_000, 7, 50_000, 300, 100_000
    sections = {
        "success": success_path(calls, rounds),
        "async": async_path(calls // 4, rounds),
        "rejection": rejection_path(calls // 2, rounds),
        "failure": failure_path(calls // 2, rounds),
        "threads": threads(per_thread, max(2, rounds // 2)),
        "http": http(http_requests, rounds + 2),
        "scale": scale(registry),
    }
    ratio_table = ratios(sections)
    machine_details = machine_info()
    print(render(sections, ratio_table, machine_details))
    write_json(args.json, machine_details, sections, ratio_table, args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
