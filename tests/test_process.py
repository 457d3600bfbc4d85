"""Fork safety: gunicorn and Celery fork workers after import (`--preload`)."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest
from fastbreaker import CircuitBreaker, CircuitBreakerError, get_circuit_breaker

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
    # Python 3.12+ warns about forking a process with threads; forking such a process is the point.
    pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning"),
]


def run_in_child(work) -> dict:  # type: ignore[no-untyped-def]
    """Forks; the child runs `work()` and reports its JSON result. Fails on a hung child."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read_end)
        status = 0
        try:
            payload = json.dumps(work()).encode()
        except BaseException as error:  # report anything to the parent
            payload, status = json.dumps({"error": repr(error)}).encode(), 1
        os.write(write_end, payload)
        os._exit(status)
    os.close(write_end)
    deadline = time.monotonic() + 20
    while True:
        finished, status = os.waitpid(pid, os.WNOHANG)
        if finished:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung (a lock inherited in a locked state?)")
        time.sleep(0.01)
    with os.fdopen(read_end, "rb") as pipe:
        result = json.loads(pipe.read() or b"{}")
    assert os.waitstatus_to_exitcode(status) == 0, result
    return result


def test_a_forked_child_has_working_breakers_of_its_own(unique_name):
    shared = get_circuit_breaker(unique_name, failure_threshold=2)
    hammered = CircuitBreaker(failure_threshold=10**9)
    stop = threading.Event()

    def hammer() -> None:  # keeps the parent's breakers busy while it forks
        while not stop.is_set():
            hammered.call(lambda: None)
            get_circuit_breaker(unique_name).get_status()

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        for _ in range(10):

            def child_work() -> dict:
                child_breaker = get_circuit_breaker(unique_name)
                assert child_breaker is shared
                for _ in range(2):
                    try:
                        child_breaker.call(lambda: 1 / 0)
                    except ZeroDivisionError:
                        pass
                try:
                    child_breaker.call(lambda: None)
                    rejected = False
                except CircuitBreakerError:
                    rejected = True
                fresh = get_circuit_breaker(unique_name + "-child")
                return {
                    "state": child_breaker.get_status()["state"],
                    "rejected": rejected,
                    "hammered": hammered.call(lambda: "works"),
                    "fresh": fresh.get_status()["state"],
                }

            assert run_in_child(child_work) == {
                "state": "open",
                "rejected": True,
                "hammered": "works",
                "fresh": "closed",
            }
    finally:
        stop.set()
        thread.join()
    # The child's failures and breakers were its own.
    assert shared.get_status()["state"] == "closed" and shared.failure_count == 0
    from fastbreaker import get_circuit_breaker_status

    assert get_circuit_breaker_status(unique_name + "-child") is None
