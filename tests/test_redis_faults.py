"""Faults of a shared store found by review: one breaker's keys refused, a server that refuses
writes, a forked child, a trial whose outcome could not be told, keys gone. Each test has a
private redis-server (the `redis_server` fixture)."""

from __future__ import annotations

import os
import time
import warnings

import pytest
from fastbreaker import CircuitBreaker, RedisStore
from fastbreaker.testing import RedisServer
from helpers import outcome, wait_for


def fail() -> None:
    raise ConnectionError("down")


def test_one_breakers_refused_keys_leave_the_others_shared(redis_server: RedisServer) -> None:
    store = RedisStore(redis_server.url, timeout=1.0, refresh_interval=0.3)
    poisoned = CircuitBreaker(name="poisoned", failure_threshold=2, store=store)
    healthy = CircuitBreaker(name="healthy", failure_threshold=2, store=store)
    assert outcome(healthy, lambda: None) == "passed"
    redis_server.command("SET", "{fastbreaker:poisoned}", "not a hash")  # WRONGTYPE from now on
    assert outcome(poisoned, fail) == "failed"
    status = poisoned.get_status()
    assert (status["store_reachable"], store.reachable) == (False, True)
    time.sleep(0.7)  # a re-read or two: the poisoned key must not take the store down with it
    assert store.reachable
    # The healthy breaker still shares its state: its failures are counted in Redis.
    assert [outcome(healthy, fail) for _ in range(3)] == ["failed", "failed", "rejected"]
    assert redis_server.command("HGET", "{fastbreaker:healthy}", "st") == b"1"
    # The poisoned one protects this process on its own state meanwhile.
    assert [outcome(poisoned, fail) for _ in range(2)] == ["failed", "rejected"]
    # Its keys repaired, it rejoins the shared state at the next re-read.
    redis_server.command("DEL", "{fastbreaker:poisoned}")
    assert wait_for(lambda: poisoned.get_status()["store_reachable"])
    assert poisoned.get_status()["state"] == "closed"


def test_a_server_that_refuses_writes_is_unreachable_not_flapping(
    redis_server: RedisServer,
) -> None:
    store = RedisStore(redis_server.url, timeout=1.0)
    breaker = CircuitBreaker(name="oom", failure_threshold=3, recovery_timeout=60, store=store)
    assert outcome(breaker, lambda: None) == "passed"
    redis_server.command("CONFIG", "SET", "maxmemory-policy", "noeviction")
    redis_server.command("CONFIG", "SET", "maxmemory", "1")  # every write: OOM
    reached = 0
    deadline = time.monotonic() + 3.0  # three probes, each of which reads fine
    while time.monotonic() < deadline:
        if outcome(breaker, fail) == "failed":
            reached += 1
        time.sleep(0.01)
    # The dependency is called until the local count opens the circuit, and not again: a probe
    # that reads but cannot write does not rejoin (and so does not reset the local state).
    assert reached == 3
    assert not store.reachable


def test_a_forked_child_follows_the_fleet(redis_server: RedisServer) -> None:
    store = RedisStore(redis_server.url, timeout=1.0)
    breaker = CircuitBreaker(name="forked", failure_threshold=3, recovery_timeout=60, store=store)
    assert outcome(breaker, lambda: None) == "passed"
    read, write = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads: 3.12+
        pid = os.fork()
    if pid == 0:  # the child: its own connections and subscriber, the parent's breaker
        code = 1
        try:
            os.close(read)
            assert outcome(breaker, lambda: None) == "passed"
            os.write(write, b"x")
            code = 0 if wait_for(lambda: outcome(breaker, lambda: None) == "rejected") else 2
        finally:
            os._exit(code)
    os.close(write)
    assert os.read(read, 1) == b"x"
    os.close(read)
    breaker.open()  # the parent opens it for the fleet
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, "the child never learned of it"


def test_a_trial_whose_outcome_could_not_be_told_gives_its_slot_back(
    redis_server: RedisServer,
) -> None:
    store = RedisStore(redis_server.url, timeout=1.0)
    breaker = CircuitBreaker(
        name="trial", failure_threshold=1, recovery_timeout=0.2, trial_timeout=30, store=store
    )
    assert outcome(breaker, fail) == "failed"
    time.sleep(0.25)

    def trial() -> None:
        # The server drops every client connection while the trial runs: its success cannot
        # be told.
        redis_server.command("CLIENT", "KILL", "TYPE", "normal")
        redis_server.command("CLIENT", "KILL", "TYPE", "pubsub")

    assert outcome(breaker, trial) == "passed"
    # Once the store is back, the slot is handed back: another process gets a trial at once,
    # not after trial_timeout (30 s).
    other = CircuitBreaker(
        name="trial",
        failure_threshold=1,
        recovery_timeout=0.2,
        trial_timeout=30,
        store=RedisStore(redis_server.url, timeout=1.0),
    )
    assert wait_for(lambda: redis_server.command("ZCARD", "{fastbreaker:trial}:trials") == 0)
    assert outcome(other, lambda: None) == "passed"


def test_a_transition_after_the_keys_are_gone_is_learned(redis_server: RedisServer) -> None:
    first = CircuitBreaker(name="gone", store=RedisStore(redis_server.url, timeout=1.0))
    second = CircuitBreaker(name="gone", store=RedisStore(redis_server.url, timeout=1.0))
    events: list = []
    second.add_listener(events.append)

    def subscribers() -> object:
        reply = redis_server.command("PUBSUB", "NUMSUB", "fastbreaker:events")
        return isinstance(reply, list) and reply[1] == 2

    # Both subscribers listen (they connect in the background) before anything happens.
    assert wait_for(subscribers)
    for _ in range(5):  # a history of transitions: the seq counter climbs
        first.open()
        first.reset()
    assert wait_for(lambda: second.get_status() and len(events) == 10)
    redis_server.command("DEL", "{fastbreaker:gone}")  # expired, or flushed: counting restarts
    first.open()
    assert wait_for(lambda: second.get_status() and len(events) == 11)
    assert (events[-1].new_state, events[-1].reason, events[-1].remote) == ("open", "forced", True)


def test_a_shared_breaker_needs_a_finite_trial_timeout(redis_server: RedisServer) -> None:
    store = RedisStore(redis_server.url)
    with pytest.raises(ValueError, match="trial_timeout"):
        CircuitBreaker(name="forever", recovery_timeout=0, store=store)
    with pytest.raises(ValueError, match="trial_timeout"):
        CircuitBreaker(name="forever", trial_timeout=float("inf"), store=store)


def test_an_open_circuit_stays_open_when_redis_goes_away(redis_server: RedisServer) -> None:
    store = RedisStore(redis_server.url, timeout=0.2)
    breaker = CircuitBreaker(
        name="kept-open", failure_threshold=1, recovery_timeout=60, store=store
    )
    assert outcome(breaker, fail) == "failed"  # open for the fleet
    redis_server.kill()
    # The local state takes over from the fleet's: the dependency is not called again.
    assert [outcome(breaker, lambda: None) for _ in range(3)] == ["rejected"] * 3
    assert wait_for(lambda: breaker.get_status()["store_reachable"] is False)
    status = breaker.get_status()
    assert (status["state"], status["store_reachable"]) == ("open", False)
