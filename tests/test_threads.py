"""Many threads on one breaker: exact counts, bounded trials, no deadlock on re-entry.

The protected functions that matter here block on a `threading.Event` or `Barrier` (which
releases the GIL), so that calls really are in flight together: a breaker that let too many
through would be seen doing it, every run, not one run in five.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, List

import pytest
from fastbreaker import CircuitBreaker, CircuitBreakerError, circuit_breaker

THREADS = 16
WAIT = 10  # seconds: how long a blocked call waits before the test gives up on it


def hammer(worker, threads: int = THREADS) -> list:  # type: ignore[no-untyped-def]
    barrier = threading.Barrier(threads)

    def run(i: int) -> object:
        barrier.wait()
        return worker(i)

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(run, range(threads)))


def in_threads(work: Callable[[int], object], threads: int = THREADS) -> List[threading.Thread]:
    """Starts `threads` daemon threads running `work(i)`; the caller joins them."""
    started = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(threads)]
    for thread in started:
        thread.start()
    return started


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
    """Free-running: 16 threads x 200 failing calls on a threshold of 50.

    Exactly 50 failures are counted. A call admitted (lock-free, in CLOSED) before the opening was
    published may still run, and its failure is late: uncounted. Each thread has at most one call
    in flight, and the thread whose failure opened the circuit has none, so at most THREADS - 1
    calls are late. Once a thread has been rejected it is rejected to the end (60 s timeout).
    """
    breaker = CircuitBreaker(failure_threshold=50, recovery_timeout=60)
    attempts = 0
    lock = threading.Lock()

    def fail() -> None:
        nonlocal attempts
        with lock:
            attempts += 1
        raise ConnectionError

    def worker(_: int) -> str:
        outcomes = ""
        for _ in range(200):
            try:
                breaker.call(fail)
            except ConnectionError:
                outcomes += "F"
            except CircuitBreakerError:
                outcomes += "R"
        return outcomes

    outcomes = hammer(worker)
    rejected = sum(o.count("R") for o in outcomes)
    assert breaker.state == "open"
    assert breaker.failure_count == 50
    assert 50 <= attempts <= 50 + THREADS - 1
    assert attempts == sum(o.count("F") for o in outcomes)
    assert attempts + rejected == THREADS * 200
    # Failures, then rejections only: nothing was let through after a thread saw the circuit open.
    assert all(o == "F" * o.count("F") + "R" * o.count("R") for o in outcomes), outcomes


def test_failures_admitted_together_are_late_once_the_circuit_opens():
    """Waves of 16 failing calls that are all admitted before any of them fails.

    Every call of a wave waits inside the protected function until all 16 are in (a barrier),
    so the race is fixed: waves 1-3 count 48 failures; wave 4 is admitted whole in CLOSED, its
    first 2 failures open the circuit at 50 and its other 14 are late (uncounted); wave 5 is
    rejected whole.
    """
    breaker = CircuitBreaker(failure_threshold=50, recovery_timeout=60)
    wave = threading.Barrier(THREADS, timeout=WAIT)
    everyone_in = threading.Barrier(THREADS, timeout=WAIT)
    attempts = 0
    lock = threading.Lock()
    outcomes = [""] * THREADS

    def fail() -> None:
        nonlocal attempts
        with lock:
            attempts += 1
        everyone_in.wait()
        raise ConnectionError

    def worker(i: int) -> None:
        for _ in range(5):
            try:
                wave.wait()
                breaker.call(fail)
                outcomes[i] += "S"
            except ConnectionError:
                outcomes[i] += "F"
            except CircuitBreakerError:
                outcomes[i] += "R"
            except threading.BrokenBarrierError:
                outcomes[i] += "B"  # a wave was not admitted whole, or not rejected whole

    for thread in in_threads(worker):
        thread.join()
    assert outcomes == ["FFFFR"] * THREADS
    assert attempts == 4 * THREADS
    assert breaker.failure_count == 50
    assert breaker.state == "open"


@pytest.mark.parametrize("cap", [1, 3])
def test_half_open_never_admits_more_than_its_trial_slots(cap):
    """Rounds of 16 threads racing for `cap` trial slots; the trials block until the round ends.

    In each round every thread makes one call at once. An admitted trial waits on an event that
    is set only once all 16 threads are either inside a trial or rejected, so at that moment the
    number of trials in flight is the number the breaker admitted: without a cap it would be 16.
    It must be exactly `cap`, every round (the slots come back when the trials succeed).
    """
    rounds = 30
    breaker = CircuitBreaker(
        failure_threshold=1,
        recovery_timeout=0,
        success_threshold=10**6,
        half_open_max_calls=cap,
        trial_timeout=math.inf,
    )
    breaker.open()
    start = threading.Barrier(THREADS + 1, timeout=WAIT)
    release = [threading.Event() for _ in range(rounds)]
    changed = threading.Condition()
    in_flight = peak = settled = 0  # settled: threads of this round inside a trial or rejected
    admitted = [0] * THREADS

    def trial(round_: int) -> None:
        nonlocal in_flight, peak, settled
        with changed:
            in_flight += 1
            peak = max(peak, in_flight)
            settled += 1
            changed.notify_all()
        try:
            assert release[round_].wait(WAIT), "the round was never released"
        finally:
            with changed:
                in_flight -= 1

    def worker(i: int) -> None:
        nonlocal settled
        for round_ in range(rounds):
            try:
                start.wait()
            except threading.BrokenBarrierError:
                return  # the test failed and gave up on the rounds
            try:
                breaker.call(trial, round_)
                admitted[i] += 1
            except CircuitBreakerError:
                with changed:
                    settled += 1
                    changed.notify_all()

    def everyone_settled() -> bool:
        return settled == THREADS

    threads = in_threads(worker)
    at_once = []
    try:
        for round_ in range(rounds):
            start.wait()
            with changed:
                assert changed.wait_for(everyone_settled, WAIT), settled
                at_once.append(in_flight)
                settled = 0
            release[round_].set()
    finally:
        for event in release:
            event.set()
        start.abort()  # if a round failed: frees the workers blocked on the next one
        for thread in threads:
            thread.join(WAIT)
    assert at_once == [cap] * rounds
    assert peak == cap
    assert sum(admitted) == breaker.success_count == cap * rounds
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
