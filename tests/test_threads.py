"""Many threads on one breaker: exact counts, bounded trials, no deadlock on re-entry."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastbreaker import CircuitBreaker, CircuitBreakerError, circuit_breaker

THREADS = 16


def hammer(worker, threads: int = THREADS) -> list:  # type: ignore[no-untyped-def]
    barrier = threading.Barrier(threads)

    def run(i: int) -> object:
        barrier.wait()
        return worker(i)

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(run, range(threads)))


def test_failure_counts_are_exact_under_threads():
    breaker = CircuitBreaker(failure_threshold=10**9)

    def fail() -> None:
        raise RuntimeError

    def worker(_: int) -> None:
        for _ in range(2_000):
            try:
                breaker.call(fail)
            except RuntimeError:
                pass

    hammer(worker)
    assert breaker.failure_count == THREADS * 2_000


def test_exactly_threshold_failures_are_let_through_before_opening():
    breaker = CircuitBreaker(failure_threshold=50, recovery_timeout=60)
    attempts = []
    lock = threading.Lock()

    def fail() -> None:
        with lock:
            attempts.append(1)
        raise ConnectionError

    def worker(_: int) -> int:
        rejected = 0
        for _ in range(200):
            try:
                breaker.call(fail)
            except ConnectionError:
                pass
            except CircuitBreakerError:
                rejected += 1
        return rejected

    rejected = sum(hammer(worker))
    assert breaker.state == "open"
    # Calls admitted before the 50th failure was recorded may still be running: they are late.
    assert len(attempts) >= 50
    assert len(attempts) + rejected == THREADS * 200
    assert breaker.failure_count == 50


def test_half_open_never_admits_more_than_its_trial_slots():
    breaker = CircuitBreaker(
        failure_threshold=1, recovery_timeout=0, success_threshold=10**6, half_open_max_calls=3
    )
    breaker.open()
    in_flight = 0
    peak = 0
    lock = threading.Lock()

    def trial() -> None:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        try:
            for _ in range(50):
                pass
        finally:
            with lock:
                in_flight -= 1

    def worker(_: int) -> int:
        admitted = 0
        for _ in range(2_000):
            try:
                breaker.call(trial)
                admitted += 1
            except CircuitBreakerError:
                pass
        return admitted

    admitted = sum(hammer(worker))
    assert 1 <= peak <= 3
    assert breaker.success_count == admitted
    assert breaker.state == "half_open"


def test_a_protected_function_can_call_back_into_its_breaker():
    breaker = CircuitBreaker(failure_threshold=2)

    @breaker
    def reentrant(depth: int) -> dict:
        status = breaker.get_status()
        if depth:
            return reentrant(depth - 1)
        breaker.reset()
        return status

    results = hammer(lambda _: reentrant(20))
    assert all(r["state"] == "closed" for r in results)


def test_registry_hands_every_thread_the_same_breaker(unique_name):
    from fastbreaker import get_circuit_breaker

    breakers = hammer(lambda _: get_circuit_breaker(unique_name, failure_threshold=3))
    assert all(b is breakers[0] for b in breakers)


@pytest.mark.timeout(30)
def test_decorated_functions_under_threads_keep_counts():
    calls = 0
    lock = threading.Lock()

    @circuit_breaker(failure_threshold=3)
    def work(i: int) -> int:
        nonlocal calls
        with lock:
            calls += 1
        return i

    results = hammer(lambda i: sum(work(j) for j in range(1_000)))
    assert results == [sum(range(1_000))] * THREADS
    assert calls == THREADS * 1_000
