"""Concurrency invariants under 16 threads and 1,000 asyncio tasks.

Each scenario runs in a subprocess under a hard timeout, so that a deadlock fails the test
instead of hanging the suite. The subprocess prints what it observed as JSON; the assertions are
made here. Only what must hold exactly is asserted: no timing (the 60 s limit only catches a
deadlock) and no memory figures.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

THREADS = 16
TASKS = 1_000
HARD_TIMEOUT = 60

PRELUDE = """
import asyncio, json, logging, re, threading, time
from fastbreaker import CircuitBreaker, CircuitBreakerError

TRANSITION = re.compile(r"circuit breaker '(?P<name>.*)' (?P<old>\\w+) -> (?P<new>\\w+) \\(")

class Transitions(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.seen = []
    def emit(self, record):
        match = TRANSITION.search(record.getMessage())
        if match:
            self.seen.append(f"{match['old']} -> {match['new']}")

transitions = Transitions()
logging.getLogger("fastbreaker").addHandler(transitions)
logging.getLogger("fastbreaker").setLevel(logging.DEBUG)

class Gauge:
    '''How many calls run at once, and the most ever seen.'''
    def __init__(self):
        self.lock = threading.Lock()
        self.now = self.peak = self.total = 0
    def __enter__(self):
        with self.lock:
            self.now += 1
            self.total += 1
            self.peak = max(self.peak, self.now)
    def __exit__(self, *exc):
        with self.lock:
            self.now -= 1

def run_threads(count, work):
    barrier = threading.Barrier(count)
    results = [None] * count
    def target(i):
        barrier.wait()
        results[i] = work(i)
    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for t in threads: t.start()
    for t in threads: t.join()
    return results
"""


def run_scenario(body: str) -> dict:
    code = PRELUDE + textwrap.dedent(body)
    try:
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=HARD_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"deadlock: the scenario did not finish within {HARD_TIMEOUT}s")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_threads_half_open_admits_at_most_its_slots_and_counts_every_trial():
    observed = run_scenario(f"""
        breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=0.05,
                                 success_threshold=10**9, half_open_max_calls=3,
                                 trial_timeout=float("inf"))
        gauge = Gauge()
        def trial():
            with gauge:
                time.sleep(0.0005)  # lets the other threads try to get in meanwhile
        breaker.open()
        time.sleep(0.06)
        def work(i):
            admitted = rejected = 0
            for _ in range(300):
                try:
                    breaker.call(trial)
                    admitted += 1
                except CircuitBreakerError:
                    rejected += 1
            return admitted, rejected
        results = run_threads({THREADS}, work)
        print(json.dumps({{"peak": gauge.peak, "admitted": sum(a for a, _ in results),
                          "rejected": sum(r for _, r in results), "ran": gauge.total,
                          "status": breaker.get_status(), "transitions": transitions.seen}}))
    """)
    assert 1 <= observed["peak"] <= 3
    assert observed["admitted"] == observed["ran"] == observed["status"]["success_count"]
    assert observed["admitted"] + observed["rejected"] == THREADS * 300
    assert observed["rejected"] > 0
    assert observed["transitions"] == ["closed -> open", "open -> half_open"]


def test_threads_keep_exact_counts_and_log_each_transition_once():
    observed = run_scenario(f"""
        breaker = CircuitBreaker(failure_threshold=500, recovery_timeout=0.05, success_threshold=1)
        calls = Gauge()
        def fail():
            with calls:
                raise ConnectionError
        def work(i):
            for _ in range(31):  # 16 * 31 = 496: four short of opening
                try:
                    breaker.call(fail)
                except ConnectionError:
                    pass
        run_threads({THREADS}, work)
        closed_count = breaker.failure_count
        # Now all threads fail at once: the circuit must open exactly once.
        def burst(i):
            outcomes = []
            for _ in range(5):
                try:
                    breaker.call(fail)
                    outcomes.append("ok")
                except ConnectionError:
                    outcomes.append("failed")
                except CircuitBreakerError:
                    outcomes.append("rejected")
            return outcomes
        burst_outcomes = sum(run_threads({THREADS}, burst), [])
        open_count = breaker.failure_count
        time.sleep(0.06)
        # Every thread races to be the trial; the first success closes the circuit.
        def probe(i):
            try:
                breaker.call(lambda: None)
                return "ok"
            except CircuitBreakerError:
                return "rejected"
        probes = run_threads({THREADS}, probe)
        print(json.dumps({{"closed_count": closed_count, "open_count": open_count,
                          "burst": burst_outcomes, "probes": probes, "ran": calls.total,
                          "state": breaker.get_status()["state"],
                          "transitions": transitions.seen}}))
    """)
    assert observed["closed_count"] == THREADS * 31
    failed = observed["burst"].count("failed")
    # Calls admitted before the 500th failure was recorded may still fail after it: those are
    # late and ignored, so the count stops at exactly the threshold. Each thread has at most one
    # call in flight, and the one whose failure opened the circuit none: at most 15 are late.
    assert 4 <= failed <= 4 + THREADS - 1 and observed["open_count"] == 500
    assert observed["ran"] == THREADS * 31 + failed
    assert "ok" in observed["probes"] and observed["state"] == "closed"
    assert observed["transitions"] == [
        "closed -> open",
        "open -> half_open",
        "half_open -> closed",
    ]


def test_asyncio_tasks_half_open_admits_at_most_its_slots():
    observed = run_scenario(f"""
        breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=0, success_threshold=10**9,
                                 half_open_max_calls=5)
        gauge = Gauge()
        async def trial():
            with gauge:
                await asyncio.sleep(0.001)

        async def task():
            try:
                await breaker.call_async(trial)
                return "ok"
            except CircuitBreakerError:
                return "rejected"

        async def main():
            breaker.open()
            outcomes = []
            for _ in range(3):  # waves of {TASKS} concurrent tasks
                outcomes += await asyncio.gather(*(task() for _ in range({TASKS})))
            return outcomes

        outcomes = asyncio.run(main())
        print(json.dumps({{"peak": gauge.peak, "ok": outcomes.count("ok"),
                          "rejected": outcomes.count("rejected"), "ran": gauge.total,
                          "status": breaker.get_status(), "transitions": transitions.seen}}))
    """)
    # One event loop, no threads: in each wave the first 5 tasks are admitted and suspend inside
    # their trials before any other task runs, and the other 995 are rejected in the same pass.
    # So the peak is exactly 5 (16 or 1,000 without a cap) and exactly 5 trials ran per wave.
    assert observed["peak"] == 5
    assert observed["ok"] == observed["ran"] == observed["status"]["success_count"] == 3 * 5
    assert observed["ok"] + observed["rejected"] == 3 * TASKS
    assert observed["transitions"] == ["closed -> open", "open -> half_open"]


def test_asyncio_tasks_keep_exact_counts_and_open_once():
    observed = run_scenario(f"""
        breaker = CircuitBreaker(failure_threshold=10**6)
        async def fail(i):
            await asyncio.sleep(0)
            if i % 3 == 0:
                raise ValueError("counted too: expected_exceptions defaults to Exception")
            raise ConnectionError

        async def main():
            results = await asyncio.gather(*(breaker.call_async(fail, i) for i in range({TASKS})),
                                           return_exceptions=True)
            return results

        results = asyncio.run(main())
        counted = breaker.failure_count
        tight = CircuitBreaker(failure_threshold=100, recovery_timeout=600)
        async def slow_fail():
            await asyncio.sleep(0.001)
            raise ConnectionError
        async def second():
            return await asyncio.gather(*(tight.call_async(slow_fail) for _ in range({TASKS})),
                                        return_exceptions=True)
        second_results = asyncio.run(second())
        print(json.dumps({{"counted": counted, "errors": len(results),
                          "tight_count": tight.failure_count,
                          "tight_state": tight.get_status()["state"],
                          "failed": sum(isinstance(r, ConnectionError) for r in second_results),
                          "transitions": transitions.seen}}))
    """)
    assert observed["counted"] == observed["errors"] == TASKS
    # All 1,000 coroutines were admitted before any failed (they all sleep first); the first 100
    # failures open the circuit and the other 900 are late: counted nowhere.
    assert observed["failed"] == TASKS
    assert (observed["tight_count"], observed["tight_state"]) == (100, "open")
    assert observed["transitions"] == ["closed -> open"]
