"""The HTTP client integrations against the bare clients, on loopback.

    pip install '.[httpx]' && python benchmarks/http_clients.py [--json results.json] [--quick]

A canned keep-alive HTTP server runs in another process (so that it does not compete with the
client for this process's GIL). Sequential cases send one request of each case in turn, in a
shuffled order, and report the median request; the async case alternates bursts of the two
clients and reports the median burst. The ratios (guarded / bare throughput; 1.0 is parity, the
target is >= 0.97) are what to quote: absolute numbers move with the machine. Measure a release
build of the core (``pip install .``): ``maturin develop`` builds a debug one, several times
slower per call.

- requests: a ``Session`` with ``CircuitBreakerAdapter`` mounted, and ``protected_get``, against
  a bare ``Session``; and, as a note, ``protected_get`` against a bare ``Session`` given the same
  30 s timeout as ``protected_get`` (a socket with a timeout waits in ``poll()`` before each
  read and write: two system calls more per request here).
- httpx: ``Client(transport=CircuitBreakerTransport(...))`` against a bare ``Client`` over the
  same ``HTTPTransport`` settings.
- httpx async: 100 concurrent tasks on one ``AsyncClient`` (100 pooled connections), with
  ``AsyncCircuitBreakerTransport`` and without.

The same sequential requests counted in instructions, which the machine's noise does not move:
``http_callgrind.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import importlib.metadata
import random
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, Iterator, List, Optional

import fastbreaker
import httpx
import requests
from _common import Section, cpu_model, machine, write_json
from fastbreaker.external_service_client import DEFAULT_TIMEOUT, close_sessions, protected_get
from fastbreaker.httpx_transport import AsyncCircuitBreakerTransport, CircuitBreakerTransport
from fastbreaker.requests_adapter import CircuitBreakerAdapter

TASKS = 100  # concurrent tasks in the async case (10 in a --quick run)
TIMEOUT_CASE = f"requests.Session, timeout={DEFAULT_TIMEOUT}"

# A minimal keep-alive HTTP server: a thread per connection answers every request with a canned
# response and parses nothing, so that the client's own cost (what is compared) dominates.
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

listener = socket.create_server(("127.0.0.1", 0), backlog=256)
print(listener.getsockname()[1], flush=True)
while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"""


@contextlib.contextmanager
def canned_server() -> Iterator[str]:
    """The canned server, started in another process; yields a URL on it."""
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER_SCRIPT], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        yield f"http://127.0.0.1:{int(server.stdout.readline())}/data"
    finally:
        server.kill()
        server.wait()


def interleaved(
    cases: Dict[str, Callable[[str], object]], url: str, count: int
) -> Dict[str, float]:
    """Requests per second of each case, from its median request: `count` times, one request of
    each case, in a shuffled order (so that no case is always first after another), each timed
    alone. A noisy machine moves every case alike; the median shrugs off the outliers."""
    timings: Dict[str, List[float]] = {name: [] for name in cases}
    order = list(cases)
    shuffle = random.Random(0).shuffle
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(count):
            shuffle(order)
            for name in order:
                get = cases[name]
                start = time.perf_counter()
                get(url)
                timings[name].append(time.perf_counter() - start)
    finally:
        if gc_was_enabled:
            gc.enable()
    return {name: 1 / statistics.median(values) for name, values in timings.items()}


def requests_section(url: str, count: int) -> Section:
    bare = requests.Session()
    bare_with_timeout = requests.Session()
    guarded = requests.Session()
    guarded.mount("http://", CircuitBreakerAdapter())
    cases: Dict[str, Callable[[str], object]] = {
        "requests.Session": bare.get,
        # What protected_get sends when given no timeout: with one, the socket waits in poll().
        TIMEOUT_CASE: functools.partial(bare_with_timeout.get, timeout=DEFAULT_TIMEOUT),
        "Session + CircuitBreakerAdapter": guarded.get,
        "protected_get": protected_get,
    }
    try:
        interleaved(cases, url, 20)  # open the pooled connections, warm up
        section = Section(
            "requests, sequential GETs", "req/s", results=interleaved(cases, url, count)
        )
    finally:
        bare.close()
        bare_with_timeout.close()
        guarded.close()
        close_sessions()
    results = section.results
    section.notes.append(
        f"protected_get / {TIMEOUT_CASE} (its default timeout): "
        f"{results['protected_get'] / results[TIMEOUT_CASE]:.3f}"
    )
    return section


def httpx_section(url: str, count: int) -> Section:
    bare = httpx.Client(transport=httpx.HTTPTransport())
    guarded = httpx.Client(transport=CircuitBreakerTransport(httpx.HTTPTransport()))
    cases: Dict[str, Callable[[str], object]] = {
        "httpx.Client": bare.get,
        "Client + CircuitBreakerTransport": guarded.get,
    }
    try:
        interleaved(cases, url, 20)
        return Section("httpx, sequential GETs", "req/s", results=interleaved(cases, url, count))
    finally:
        bare.close()
        guarded.close()


def async_section(url: str, tasks: int, per_task: int, rounds: int) -> Section:
    limits = httpx.Limits(max_connections=tasks, max_keepalive_connections=tasks)

    async def measure() -> Dict[str, float]:
        bare = httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(limits=limits))
        guarded = httpx.AsyncClient(
            transport=AsyncCircuitBreakerTransport(httpx.AsyncHTTPTransport(limits=limits))
        )
        clients = {"httpx.AsyncClient": bare, "AsyncClient + AsyncCircuitBreakerTransport": guarded}

        async def burst(client: httpx.AsyncClient, count: int) -> None:
            async def task() -> None:
                for _ in range(count):
                    (await client.get(url)).raise_for_status()

            await asyncio.gather(*(task() for _ in range(tasks)))

        throughputs: Dict[str, List[float]] = {name: [] for name in clients}
        order = list(clients)
        try:
            for client in clients.values():  # open the pooled connections
                await burst(client, 1)
            for _ in range(rounds):
                order.reverse()  # each goes first in every other round
                for name in order:
                    start = time.perf_counter()
                    await burst(clients[name], per_task)
                    elapsed = time.perf_counter() - start
                    throughputs[name].append(tasks * per_task / elapsed)
        finally:
            await bare.aclose()
            await guarded.aclose()
        return {name: statistics.median(values) for name, values in throughputs.items()}

    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        results = asyncio.run(measure())
    finally:
        if gc_was_enabled:
            gc.enable()
    return Section(f"httpx async, {tasks} concurrent tasks on one client", "req/s", results=results)


def ratios(sections: Dict[str, Section]) -> Dict[str, float]:
    pairs = [
        ("requests", "Session + CircuitBreakerAdapter", "requests.Session"),
        ("requests", "protected_get", "requests.Session"),
        ("httpx", "Client + CircuitBreakerTransport", "httpx.Client"),
        ("httpx_async", "AsyncClient + AsyncCircuitBreakerTransport", "httpx.AsyncClient"),
    ]
    return {
        f"{guarded} / {bare}": sections[key].results[guarded] / sections[key].results[bare]
        for key, guarded, bare in pairs
    }


def machine_info() -> Dict[str, str]:
    versions = ", ".join(
        [f"fastbreaker {fastbreaker.__version__}"]
        + [
            f"{name} {importlib.metadata.version(name)}"
            for name in ("requests", "urllib3", "httpx", "httpcore")
        ]
    )
    return machine(cpu_model(), versions)


def render(
    sections: Dict[str, Section], ratio_table: Dict[str, float], machine: Dict[str, str]
) -> str:
    lines = [machine["versions"], f"{machine['python']} on {machine['cpu']}, {machine['date']}", ""]
    for section in sections.values():
        lines.append(f"{section.title} ({section.unit})")
        lines.extend(f"  {name:<46}{value:12,.0f}" for name, value in section.results.items())
        lines.extend(f"  {note}" for note in section.notes)
        lines.append("")
    lines.append("ratios (guarded / bare throughput; target >= 0.97)")
    lines.extend(f"  {name:<72}{ratio:8.3f}" for name, ratio in ratio_table.items())
    return "\n".join(lines)


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
        sequential, tasks, per_task, rounds = 10, 10, 1, 2
    else:
        sequential, tasks, per_task, rounds = 3_000, TASKS, 2, 41
    with canned_server() as url:
        sections = {
            "requests": requests_section(url, sequential),
            "httpx": httpx_section(url, sequential),
            "httpx_async": async_section(url, tasks, per_task, rounds),
        }
    ratio_table = ratios(sections)
    machine_details = machine_info()
    print(render(sections, ratio_table, machine_details))
    write_json(args.json, machine_details, sections, ratio_table, args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
