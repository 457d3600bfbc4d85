"""fastbreaker with its Redis store against its in-memory store, and against pybreaker with
``CircuitRedisStorage``, on one private Redis.

    pip install . pybreaker redis
    python benchmarks/redis_store.py [--json results.json] [--quick]

Needs ``redis-server`` on PATH (``apt-get install redis-server``): the script starts a private one
on a free loopback port with ``fastbreaker.testing.redis_server()`` and stops it at the end.

- Success path (closed circuit, no failure counted), rejections (open circuit) and the failure path
  (the function raises; the breaker counts it, which with Redis is a round trip): every case of a
  section runs round-robin, R rounds of N calls each (fewer calls for the cases that go to Redis),
  and the best round of each case is kept, as in ``benchmarks/overhead.py``. pybreaker with
  ``CircuitRedisStorage`` runs in the same rounds, on the same Redis.
- Propagation: 8 processes (spawned) share one breaker per round. One process (a different one
  each round) opens it with a failing call; the 7 others call it every millisecond and note when
  they are first rejected. The latency is that moment minus the moment the opening call returned,
  on CLOCK_MONOTONIC (one clock for every process of the machine; Unix time elsewhere).

The ratios (one run, the cases interleaved) are what to quote: absolute numbers move with the
machine. Nothing here is asserted: the script measures and prints.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import multiprocessing
import os
import queue
import random
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import fastbreaker
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
from fastbreaker.testing import redis_server

try:
    import pybreaker
    import redis
except ImportError:  # the comparison is left out, with a note
    pybreaker = None  # type: ignore[assignment]
    redis = None  # type: ignore[assignment]

HUGE = 10**9  # a failure threshold never reached while measuring the failure path
PROCESSES = 8  # in the propagation section
POLL = 0.001  # seconds between the calls of a polling process


# A case: what to run, and how many calls a round of it makes.
Case = Tuple[Callable[[int], None], int]


def best_of(cases: Dict[str, Case], rounds: int) -> Dict[str, float]:
    """ns per call of each case: the best of `rounds` interleaved rounds."""
    best = {name: float("inf") for name in cases}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):
            for name, (run, calls) in cases.items():
                start = time.perf_counter_ns()
                run(calls)
                elapsed = time.perf_counter_ns() - start
                best[name] = min(best[name], elapsed / calls)
    finally:
        if gc_was_enabled:
            gc.enable()
    return best


# --- the breakers ---------------------------------------------------------------------------------


class Breakers:
    """Makes every breaker of the run: fastbreaker in memory and in Redis, pybreaker in memory and
    with CircuitRedisStorage (each Redis breaker under its own name, so that none meets another's
    state)."""

    def __init__(self, url: str, port: int) -> None:
        self.store = fastbreaker.RedisStore(url, namespace="bench")
        self.port = port
        self.count = 0
        self.redis_clients: List[Any] = []

    def _name(self, what: str) -> str:
        self.count += 1
        return f"{what}-{self.count}"

    def fast(self, in_redis: bool, failure_threshold: int = 5) -> fastbreaker.CircuitBreaker:
        breaker = fastbreaker.CircuitBreaker(
            failure_threshold=failure_threshold,
            recovery_timeout=600,
            name=self._name("fastbreaker"),
            store=self.store if in_redis else "memory",
        )
        if in_redis:
            status = breaker.get_status()
            assert status["store"] != "memory", status
        return breaker

    def pyb(self, in_redis: bool, failure_threshold: int = 5) -> Any:
        assert pybreaker is not None and redis is not None
        storage = None
        if in_redis:
            client = redis.Redis(host="127.0.0.1", port=self.port)
            self.redis_clients.append(client)
            name = self._name("pybreaker")
            storage = pybreaker.CircuitRedisStorage(pybreaker.STATE_CLOSED, client, namespace=name)
        return pybreaker.CircuitBreaker(
            fail_max=failure_threshold, reset_timeout=600, state_storage=storage
        )

    def check_reachable(self, section: Section) -> None:
        """Notes in `section` when the store lost Redis while it was measured: its breakers then
        ran on their in-process state, and the "Redis" rows measured memory."""
        if not self.store.reachable:
            section.notes.append("warning: Redis was unreachable: the Redis rows are not valid")

    def close(self) -> None:
        for client in self.redis_clients:
            client.close()


def check_rejects(protected: Callable[[int], Any], error: Any) -> None:
    try:
        protected(1)
    except error:
        return
    raise AssertionError("the open circuit did not reject the call")


# --- sections -------------------------------------------------------------------------------------


def success_path(make: Breakers, calls: int, slow_calls: int, rounds: int) -> Section:
    memory, in_redis = make.fast(False), make.fast(True)
    cases: Dict[str, Case] = {
        "bare call": (looped(target, 1), calls),
        "fastbreaker memory, decorated": (looped(memory(target), 1), calls),
        "fastbreaker Redis, decorated": (looped(in_redis(target), 1), calls),
        "fastbreaker memory, .call": (looped(memory.call, target, 1), calls),
        "fastbreaker Redis, .call": (looped(in_redis.call, target, 1), calls),
    }
    if pybreaker is not None:
        cases["pybreaker memory, decorated"] = (looped(make.pyb(False)(target), 1), slow_calls)
        cases["pybreaker+Redis, decorated"] = (looped(make.pyb(True)(target), 1), slow_calls)
    for run, _ in cases.values():
        run(10)  # warm up: connections, script loading
    section = Section("success path (closed circuit)", "ns/call", best_of(cases, rounds))
    status = in_redis.get_status()
    if status["failure_count"] or status["state"] != "closed":
        section.notes.append(f"warning: the Redis breaker is not clean: {status}")
    make.check_reachable(section)
    return section


def rejection_path(make: Breakers, calls: int, slow_calls: int, rounds: int) -> Section:
    cases: Dict[str, Case] = {
        "raise+catch ValueError": (looped_catching(raising, ValueError, 1), calls)
    }
    for label, in_redis in (("memory", False), ("Redis", True)):
        breaker = make.fast(in_redis)
        breaker.open()
        protected = breaker(target)
        check_rejects(protected, fastbreaker.CircuitBreakerError)
        cases[f"fastbreaker {label}, decorated, rejected"] = (
            looped_catching(protected, fastbreaker.CircuitBreakerError, 1),
            calls,
        )
    if pybreaker is not None:
        for label, in_redis in (("pybreaker memory", False), ("pybreaker+Redis", True)):
            breaker = make.pyb(in_redis)
            breaker.open()
            protected = breaker(target)
            check_rejects(protected, pybreaker.CircuitBreakerError)
            cases[f"{label}, decorated, rejected"] = (
                looped_catching(protected, pybreaker.CircuitBreakerError, 1),
                slow_calls,
            )
    for run, _ in cases.values():
        run(10)
    section = Section("rejection path (open circuit)", "ns/call", best_of(cases, rounds))
    make.check_reachable(section)
    return section


def failure_path(make: Breakers, calls: int, slow_calls: int, rounds: int) -> Section:
    cases: Dict[str, Case] = {
        "bare raise+catch": (looped_catching(raising, ValueError, 1), calls),
        "fastbreaker memory, failure counted": (
            looped_catching(make.fast(False, HUGE)(raising), ValueError, 1),
            calls,
        ),
        "fastbreaker Redis, failure counted": (
            looped_catching(make.fast(True, HUGE)(raising), ValueError, 1),
            slow_calls,
        ),
    }
    if pybreaker is not None:
        cases["pybreaker+Redis, failure counted"] = (
            looped_catching(make.pyb(True, HUGE)(raising), ValueError, 1),
            slow_calls,
        )
    for run, _ in cases.values():
        run(10)
    best = best_of(cases, rounds)
    section = Section(
        "failure path (the function raises, the breaker counts it)",
        "us/call",
        {name: ns / 1000 for name, ns in best.items()},
    )
    make.check_reachable(section)
    return section


def _clock() -> int:
    """Nanoseconds on one clock for every process of this machine."""
    if sys.platform.startswith("linux"):
        return time.monotonic_ns()  # CLOCK_MONOTONIC: system-wide on Linux
    return time.time_ns()


def _propagation_worker(
    index: int,
    url: str,
    namespace: str,
    rounds: int,
    processes: int,
    barrier: Any,
    results: Any,
) -> None:
    store = fastbreaker.RedisStore(url, namespace=namespace)
    breakers = [
        fastbreaker.CircuitBreaker(
            failure_threshold=1, recovery_timeout=600, name=f"propagation-{r}", store=store
        )
        for r in range(rounds)
    ]
    protected = [breaker(target) for breaker in breakers]
    failing = [breaker(raising) for breaker in breakers]
    jitter = random.Random(index)
    barrier.wait()  # every process has its breakers
    for r in range(rounds):
        barrier.wait()
        if r % processes == index:
            time.sleep(0.005 + jitter.random() * 0.01)  # the others are polling by now
            try:
                failing[r](1)
            except ValueError:
                pass
            results.put(("opened", r, index, _clock()))
        else:
            deadline = _clock() + 2_000_000_000
            rejected_at: Optional[int] = None
            while _clock() < deadline:
                try:
                    protected[r](1)
                except fastbreaker.CircuitBreakerError:
                    rejected_at = _clock()
                    break
                time.sleep(POLL)
            results.put(("rejected", r, index, rejected_at))
    barrier.wait()


def propagation(url: str, rounds: int, processes: int = PROCESSES) -> Section:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    results = context.Queue()
    namespace = f"bench-propagation-{os.getpid()}"
    workers = [
        context.Process(
            target=_propagation_worker,
            args=(i, url, namespace, rounds, processes, barrier, results),
            daemon=True,
        )
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    opened: Dict[int, int] = {}
    rejected: List[Tuple[int, Optional[int]]] = []
    expected = rounds * processes
    deadline = time.monotonic() + 120 + rounds * 3
    try:
        while len(opened) + len(rejected) < expected and time.monotonic() < deadline:
            try:
                kind, r, _, at = results.get(timeout=1)
            except queue.Empty:
                if not any(worker.is_alive() for worker in workers):
                    break
                continue
            if kind == "opened":
                opened[r] = at
            else:
                rejected.append((r, at))
    finally:
        for worker in workers:
            worker.join(timeout=10)
            if worker.is_alive():
                worker.kill()
                worker.join()
    latencies = sorted(
        (at - opened[r]) / 1e6 for r, at in rejected if at is not None and r in opened
    )
    missed = sum(1 for _, at in rejected if at is None)
    section = Section(f"propagation of an opening to {processes - 1} other processes", "ms")
    if latencies:
        section.results = {
            "p50": statistics.median(latencies),
            "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
            "max": latencies[-1],
            "min": latencies[0],
        }
    section.notes.append(
        f"{len(latencies)} samples ({len(opened)} openings x {processes - 1} processes polling "
        f"every {POLL * 1000:g} ms); {missed} not rejected within 2 s"
    )
    if len(opened) + len(rejected) < expected:
        section.notes.append(
            f"warning: {expected - len(opened) - len(rejected)} results missing "
            "(a process died or hung)"
        )
    return section


# --- report ---------------------------------------------------------------------------------------


def ratios(sections: Dict[str, Section]) -> Dict[str, Optional[float]]:
    ok, rej, fail = (sections[k].results for k in ("success", "rejection", "failure"))
    bare = ok["bare call"]
    pairs: List[Tuple[str, Optional[float], Optional[float]]] = [
        (
            "success, decorated overhead: Redis / memory (target <= 1.2)",
            ok["fastbreaker Redis, decorated"] - bare,
            ok["fastbreaker memory, decorated"] - bare,
        ),
        (
            "success, decorated, whole call: Redis / memory",
            ok["fastbreaker Redis, decorated"],
            ok["fastbreaker memory, decorated"],
        ),
        (
            "success, .call overhead: Redis / memory",
            ok["fastbreaker Redis, .call"] - bare,
            ok["fastbreaker memory, .call"] - bare,
        ),
        (
            "rejection: Redis / memory",
            rej["fastbreaker Redis, decorated, rejected"],
            rej["fastbreaker memory, decorated, rejected"],
        ),
        (
            "failure: Redis / memory",
            fail["fastbreaker Redis, failure counted"],
            fail["fastbreaker memory, failure counted"],
        ),
        (
            "success calls/s: fastbreaker+Redis / pybreaker+Redis (target >= 300)",
            ok.get("pybreaker+Redis, decorated"),
            ok["fastbreaker Redis, decorated"],
        ),
        (
            "rejections/s: fastbreaker+Redis / pybreaker+Redis",
            rej.get("pybreaker+Redis, decorated, rejected"),
            rej["fastbreaker Redis, decorated, rejected"],
        ),
        (
            "failures/s: fastbreaker+Redis / pybreaker+Redis",
            fail.get("pybreaker+Redis, failure counted"),
            fail["fastbreaker Redis, failure counted"],
        ),
    ]
    # An overhead measured at or below zero (noise, in a --quick run) has no meaningful ratio.
    return {label: None if a is None or b is None or b <= 0 else a / b for label, a, b in pairs}


def render(
    sections: Dict[str, Section], ratio_table: Dict[str, Optional[float]], machine: Dict[str, str]
) -> str:
    lines = [machine["versions"], f"{machine['python']} on {machine['cpu']}, {machine['date']}", ""]
    for section in sections.values():
        lines.append(f"{section.title} ({section.unit})")
        bare = section.results.get("bare call")
        for name, value in section.results.items():
            extra = ""
            if section.unit == "ns/call":
                extra = f"   {1e9 / value:14,.0f} calls/s"
                if bare is not None and name != "bare call":
                    extra = f"   overhead {value - bare:10.1f}" + extra
            lines.append(f"  {name:<44}{value:12.2f}{extra}")
        lines.extend(f"  {note}" for note in section.notes)
        lines.append("")
    lines.append("ratios (lower is better for costs, higher for throughput)")
    for name, ratio in ratio_table.items():
        shown = "n/a" if ratio is None else f"{ratio:10.3f}"
        lines.append(f"  {name:<70}{shown:>10}")
    return "\n".join(lines)


def machine_info() -> Dict[str, str]:
    versions = []
    for name in ("fastbreaker", "pybreaker", "redis"):
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name} not installed")
    server = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout
    versions.append(server.split(" sha=")[0].strip())
    return machine(f"{cpu_model()} ({os.cpu_count()} cores)", ", ".join(versions))


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
        calls, slow_calls, rounds, propagation_rounds = 200, 20, 2, 3
    else:
        calls, slow_calls, rounds, propagation_rounds = 200_000, 2_000, 7, 200
    with redis_server() as server:
        make = Breakers(server.url, server.port)
        try:
            sections = {
                "success": success_path(make, calls, slow_calls, rounds),
                "rejection": rejection_path(make, calls // 2, slow_calls, rounds),
                "failure": failure_path(make, calls // 20, slow_calls, rounds),
                "propagation": propagation(server.url, propagation_rounds),
            }
        finally:
            make.close()
    if pybreaker is None:
        sections["success"].notes.append(
            "pybreaker not compared: pip install pybreaker redis (the redis client for its storage)"
        )
    ratio_table = ratios(sections)
    machine_details = machine_info()
    print(render(sections, ratio_table, machine_details))
    write_json(args.json, machine_details, sections, ratio_table, args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
