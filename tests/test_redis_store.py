"""Fleet-wide breakers through Redis (issue 10): a real `redis-server` per test (the `redis_server`
fixture), other processes spawned (never forked) from this one, and the test process itself as one
more member of the fleet.

Two pools of spawned processes serve the whole module: `peer`, one process (the same one for every
task of a test, so it keeps its breakers between tasks), and `fleet`, eight. What they run is in
tests/redis_workers.py. Every test has a namespace of its own, and most a Redis of their own.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import multiprocessing
import os
import socket
import subprocess
import sys
import threading
import time
from functools import partial
from multiprocessing.pool import Pool
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

import fastbreaker
import pytest
import redis_workers as w
from fastbreaker import (
    CircuitBreaker,
    RedisStore,
    circuit_breaker,
    get_circuit_breaker,
)
from fastbreaker.testing import RedisServer
from helpers import commands_processed
from redis_workers import Spec, fail, outcome, succeed

SPAWN = multiprocessing.get_context("spawn")
_namespaces = itertools.count()


# --- Infrastructure ---------------------------------------------------------------------------


def _spawn_pool(size: int) -> Pool:
    """`size` spawned processes, each started and holding redis_workers when this returns."""
    pool = SPAWN.Pool(size)
    for _ in range(20):
        pids = run_all(pool, w.hold, [(0.2,)] * size)
        if len(set(pids)) == size:
            return pool
    pool.terminate()
    pool.join()
    raise RuntimeError(f"the {size} spawned processes did not all start")


@pytest.fixture(scope="module")
def peer() -> Iterator[Pool]:
    """Another process of the fleet (spawned): one, the same for every task."""
    pool = _spawn_pool(1)
    try:
        yield pool
    finally:
        pool.terminate()
        pool.join()


@pytest.fixture(scope="module")
def fleet() -> Iterator[Pool]:
    """Eight other processes of the fleet (spawned)."""
    pool = _spawn_pool(8)
    try:
        yield pool
    finally:
        pool.terminate()
        pool.join()


def run(pool: Pool, func: Callable[..., Any], *args: Any, timeout: float = 30.0) -> Any:
    return pool.apply_async(func, args).get(timeout)


def run_all(
    pool: Pool, func: Callable[..., Any], arguments: List[Tuple[Any, ...]], timeout: float = 30.0
) -> List[Any]:
    """Runs `func` once per tuple of `arguments`, all at once."""
    pending = [pool.apply_async(func, args) for args in arguments]
    return [result.get(timeout) for result in pending]


def wait_for(predicate: Callable[[], object], timeout: float = 2.0) -> bool:
    """Polls `predicate` until it is true (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)


def integer(redis: RedisServer, *command: Union[str, bytes]) -> int:
    """The reply of a command that answers an integer."""
    reply = redis.command(*command)
    assert isinstance(reply, int), reply
    return reply


def listed(redis: RedisServer, *command: Union[str, bytes]) -> List[Any]:
    """The reply of a command that answers a list."""
    reply = redis.command(*command)
    assert isinstance(reply, list), reply
    return reply


def timed(func: Callable[[], str]) -> Tuple[str, float]:
    started = time.monotonic()
    result = func()
    return result, time.monotonic() - started


class Fleet:
    """Makes the specs of a test's shared breakers, and this process's breakers for them."""

    def __init__(self, test: str, url: str, namespace: str) -> None:
        self.test, self.url, self.namespace = test, url, namespace
        self.stores: Dict[str, RedisStore] = {}

    def spec(
        self,
        name: str,
        *,
        url: Optional[str] = None,
        store_options: Optional[Dict[str, Any]] = None,
        **options: Any,
    ) -> Spec:
        return Spec(self.test, url or self.url, self.namespace, name, options, store_options or {})

    def local(self, spec: Spec) -> CircuitBreaker:
        """This process's breaker for `spec` (its store is `self.stores[spec.name]`)."""
        store = RedisStore(spec.url, namespace=spec.namespace, **spec.store_options)
        self.stores[spec.name] = store
        return CircuitBreaker(name=spec.name, store=store, **spec.options)


@pytest.fixture
def namespace() -> str:
    return f"fbtest{os.getpid()}-{next(_namespaces)}"


@pytest.fixture
def shared(request: pytest.FixtureRequest, redis_url: str, namespace: str) -> Fleet:
    return Fleet(f"{request.node.nodeid}-{namespace}", redis_url, namespace)


def transitions(caplog: pytest.LogCaptureFixture, name: str) -> List[Tuple[str, str]]:
    return [
        (record.levelname, record.getMessage())
        for record in caplog.records
        if record.name == "fastbreaker"
        and f"'{name}'" in record.getMessage()
        and " -> " in record.getMessage()
    ]


def store_notices(caplog: pytest.LogCaptureFixture) -> List[Tuple[str, str]]:
    """What was logged about the store itself (anything but transitions)."""
    return [
        (record.levelname, record.getMessage())
        for record in caplog.records
        if record.name == "fastbreaker" and " -> " not in record.getMessage()
    ]


class ErroringRedis:
    """A loopback TCP server speaking RESP that answers every command with an error."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.05)
        self.commands = 0
        self.connections = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self._listener.getsockname()[1]}/0"

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except socket.timeout:
                continue
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(connection,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, connection: socket.socket) -> None:
        buffer = b""
        connection.settimeout(0.05)
        with connection:
            while not self._stop.is_set():
                try:
                    data = connection.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    return
                if not data:
                    return
                buffer += data
                count, buffer = complete_commands(buffer)
                self.commands += count
                try:
                    connection.sendall(b"-ERR this server fails every command\r\n" * count)
                except OSError:
                    return


def complete_commands(buffer: bytes) -> Tuple[int, bytes]:
    """How many whole RESP commands `buffer` starts with, and what follows them."""
    count = 0
    while buffer:
        if not buffer.startswith(b"*"):  # an inline command: one line
            line_end = buffer.find(b"\r\n")
            if line_end < 0:
                break
            buffer, count = buffer[line_end + 2 :], count + 1
            continue
        position = buffer.find(b"\r\n")
        if position < 0:
            break
        items, position = int(buffer[1:position]), position + 2
        for _ in range(items):
            line_end = buffer.find(b"\r\n", position)
            if line_end < 0:
                return count, buffer
            position = line_end + 2 + int(buffer[position + 1 : line_end]) + 2
        if position > len(buffer):
            break
        buffer, count = buffer[position:], count + 1
    return count, buffer


@pytest.fixture
def erroring_redis() -> Iterator[ErroringRedis]:
    server = ErroringRedis()
    try:
        yield server
    finally:
        server.close()


# --- Sharing -----------------------------------------------------------------------------------


def test_two_processes_share_one_breaker(peer: Pool, shared: Fleet) -> None:
    spec = shared.spec("orders", failure_threshold=3, recovery_timeout=0.5, success_threshold=1)
    local = shared.local(spec)
    assert outcome(local, succeed) == "passed"
    assert run(peer, w.fail_times, spec, 2, 0)["outcomes"] == ["failed", "failed"]
    # Two failures there and one here are three consecutive failures of the fleet.
    assert outcome(local, fail) == "failed"
    assert outcome(local, succeed) == "rejected"
    assert local.get_status()["state"] == "open"
    assert run(peer, w.wait_for_outcome, spec, "rejected", 2.0) is not None
    seen = run(peer, w.status, spec)
    assert (seen["state"], seen["failure_count"]) == ("open", 3)
    # After the recovery timeout a trial here closes the circuit for the other process too.
    assert wait_for(lambda: outcome(local, succeed) == "passed", 3.0)
    assert local.get_status()["state"] == "closed"
    assert run(peer, w.wait_for_outcome, spec, "passed", 2.0) is not None
    seen = run(peer, w.status, spec)
    assert (seen["state"], seen["failure_count"]) == ("closed", 0)


@pytest.mark.parametrize("threshold", [40, 41])
def test_failures_of_eight_processes_at_once_are_counted_exactly(
    fleet: Pool, shared: Fleet, threshold: int
) -> None:
    """8 processes x 5 failures, all at once, against a threshold of 40 (must open) and of 41 (must
    not, until one more failure): a lost or a doubled update fails one of the two."""
    spec = shared.spec("payments", failure_threshold=threshold, recovery_timeout=60)
    local = shared.local(spec)
    local.get_status()
    start = time.time() + 0.5
    results = run_all(fleet, w.fail_times, [(spec, 5, start)] * 8)
    assert len({result["pid"] for result in results}) == 8
    outcomes = [each for result in results for each in result["outcomes"]]
    # Nothing is rejected: the circuit cannot open before the 40th failure is counted.
    assert outcomes == ["failed"] * 40
    if threshold == 40:
        assert wait_for(lambda: local.get_status()["state"] == "open")
        assert outcome(local, succeed) == "rejected"
    else:
        assert wait_for(lambda: local.get_status()["failure_count"] == 40), local.get_status()
        assert local.get_status()["state"] == "closed"
        assert outcome(local, fail) == "failed"  # the 41st
        assert outcome(local, succeed) == "rejected"


def test_half_open_trials_are_capped_across_the_fleet(
    fleet: Pool, shared: Fleet, service: Any
) -> None:
    """After the recovery timeout, 8 processes call for 0.3 s while the trials hang for 1 s:
    exactly `half_open_max_calls` requests reach the service, from the whole fleet."""
    service.delay = 1.0
    spec = shared.spec(
        "inventory",
        failure_threshold=1,
        recovery_timeout=0.5,
        half_open_max_calls=2,
        success_threshold=2,
    )
    local = shared.local(spec)
    local.open()
    start = time.time() + 1.0
    results = run_all(fleet, w.try_service, [(spec, service.url(), start, 0.3)] * 8)
    assert len({result["pid"] for result in results}) == 8
    outcomes = [each for result in results for each in result["outcomes"]]
    assert service.hits == 2, outcomes
    assert outcomes.count("passed") == 2
    assert outcomes.count("rejected") == len(outcomes) - 2 >= 6
    # Both trials succeeded: the circuit is closed for this process too.
    assert wait_for(lambda: outcome(local, succeed) == "passed", 3.0)
    assert local.get_status()["state"] == "closed"


def test_a_hung_trial_gives_its_fleet_wide_slot_back_after_trial_timeout(
    peer: Pool, shared: Fleet
) -> None:
    spec = shared.spec(
        "hung-trial",
        failure_threshold=1,
        recovery_timeout=0.2,
        half_open_max_calls=1,
        success_threshold=1,
        trial_timeout=1.5,
    )
    local = shared.local(spec)
    local.open()
    assert wait_for(lambda: local.get_status()["state"] == "half_open", 2.0)
    taken = time.time()
    permit = local.acquire()  # a trial that never reports
    assert permit.is_trial
    assert run(peer, w.call_once, spec, True) == "rejected"  # the fleet's only slot is taken
    assert time.time() - taken < 1.5, "too slow to check that the slot was taken"
    came_back = run(peer, w.wait_for_outcome, spec, "passed", 5.0)
    assert came_back is not None
    assert came_back - taken >= 1.5 - 0.02  # not before trial_timeout
    assert run(peer, w.status, spec)["state"] == "closed"
    permit.record_success()  # a late report of a reclaimed trial changes nothing and raises nothing
    assert wait_for(lambda: local.get_status()["state"] == "closed")


def test_trials_of_different_processes_add_up_and_a_failed_one_reopens_for_all(
    peer: Pool, shared: Fleet
) -> None:
    spec = shared.spec(
        "trials-shared",
        failure_threshold=1,
        recovery_timeout=0.3,
        success_threshold=2,
        half_open_max_calls=1,
    )
    local = shared.local(spec)
    local.open()
    assert wait_for(lambda: local.get_status()["state"] == "half_open")
    assert run(peer, w.call_once, spec, False) == "failed"  # the trial fails there
    assert outcome(local, succeed) == "rejected"  # open again here, for a new recovery timeout
    assert local.get_status()["retry_after"] > 0.1
    assert wait_for(lambda: local.get_status()["state"] == "half_open")
    assert outcome(local, succeed) == "passed"  # one successful trial here ...
    assert (local.get_status()["state"], local.get_status()["success_count"]) == ("half_open", 1)
    assert run(peer, w.call_once, spec, True) == "passed"  # ... and one there: closed
    assert run(peer, w.status, spec)["state"] == "closed"
    assert wait_for(lambda: local.get_status()["state"] == "closed")


def test_reset_and_open_act_on_the_whole_fleet(peer: Pool, shared: Fleet) -> None:
    spec = shared.spec("manual", failure_threshold=5, recovery_timeout=60)
    local = shared.local(spec)
    assert outcome(local, succeed) == "passed"
    run(peer, w.open_breaker, spec)
    assert wait_for(lambda: outcome(local, succeed) == "rejected")
    local.reset()
    assert outcome(local, succeed) == "passed"
    assert run(peer, w.wait_for_outcome, spec, "passed", 2.0) is not None
    local.open()
    assert outcome(local, succeed) == "rejected"
    assert run(peer, w.wait_for_outcome, spec, "rejected", 2.0) is not None
    run(peer, w.reset_breaker, spec)
    assert wait_for(lambda: outcome(local, succeed) == "passed")
    assert run(peer, w.status, spec)["state"] == "closed"


def test_every_process_rejects_soon_after_the_opening_call_returns(
    fleet: Pool, shared: Fleet, redis_server: RedisServer, namespace: str
) -> None:
    # One failure opens it (with more, the successes of the watchers would reset the count).
    spec = shared.spec("propagation", failure_threshold=1, recovery_timeout=60)
    local = shared.local(spec)
    assert outcome(local, succeed) == "passed"
    ready = f"ready-{namespace}"
    pending = [fleet.apply_async(w.watch_for_rejection, (spec, ready, 10.0)) for _ in range(8)]
    assert wait_for(lambda: redis_server.command("GET", ready) == b"8", 15.0)
    # Subscribed too, when the implementation subscribes to the channel itself (not asserted).
    wait_for(lambda: subscribers(redis_server, namespace) >= 9, 3.0)
    before = time.time()
    assert outcome(local, fail) == "failed"
    opened = time.time()
    assert outcome(local, succeed) == "rejected"
    results = [result.get(20) for result in pending]
    assert len({result["pid"] for result in results}) == 8
    lags = []
    for result in results:
        assert result["rejected_at"] is not None, "a process never learned that the circuit opened"
        assert result["rejected_at"] >= before, "a process rejected before the circuit opened"
        lags.append(result["rejected_at"] - opened)
    assert max(lags) < 1.0, sorted(lags)


def test_one_host_failing_cannot_open_the_circuit_while_the_others_succeed(
    peer: Pool, shared: Fleet
) -> None:
    """The peer (a host with a broken network) fails every call; this process succeeds between
    its failures: the count is of consecutive failures across the fleet, so it never opens."""
    spec = shared.spec("one-bad-host", failure_threshold=3, recovery_timeout=60)
    local = shared.local(spec)
    for _ in range(6):
        assert run(peer, w.call_once, spec, False) == "failed"
        wait_for(lambda: local.get_status()["failure_count"] >= 1, 1.0)  # learned (not asserted)
        assert outcome(local, succeed) == "passed"
    assert local.get_status()["state"] == "closed"
    assert run(peer, w.status, spec)["state"] == "closed"
    # The same failures without successes between them open it, for everyone.
    assert [run(peer, w.call_once, spec, False) for _ in range(3)] == ["failed"] * 3
    assert wait_for(lambda: outcome(local, succeed) == "rejected")


def subscribers(redis: RedisServer, namespace: str) -> int:
    """How many connections follow the namespace's channel."""
    return int(listed(redis, "PUBSUB", "NUMSUB", f"{namespace}:events")[1])


def test_learned_transitions_are_logged_at_info_and_reach_listeners_as_remote(
    peer: Pool, shared: Fleet, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="fastbreaker")
    spec = shared.spec("learned", failure_threshold=2, recovery_timeout=60)
    local = shared.local(spec)
    events: List[Any] = []
    local.add_listener(events.append)
    assert outcome(local, succeed) == "passed"
    assert wait_for(lambda: subscribers(redis_server, shared.namespace) >= 1, 3.0)
    assert run(peer, w.fail_times, spec, 2, 0)["outcomes"] == ["failed", "failed"]
    assert wait_for(lambda: outcome(local, succeed) == "rejected")
    local.get_status()
    # Reported once, as remote, with the peer's reason (also when a backstop re-read happens to
    # find the new state before the message arrives: the message's report wins).
    assert [(e.old_state, e.new_state, e.reason, e.remote) for e in events] == [
        ("closed", "open", "failure_threshold", True)
    ]
    # A learned transition is counted where it is learned, as one made here would be.
    assert local.get_status()["transitions"] == {
        "closed": 0,
        "open": 1,
        "half_open": 0,
        "isolated": 0,
        "disabled": 0,
    }
    [(level, message)] = transitions(caplog, spec.name)
    assert level == "INFO"
    assert "closed -> open" in message
    assert message.endswith("(learned from another process)")
    # In the process that made it: its own event, logged as a WARNING, as in-process.
    assert run(peer, w.events, spec) == [
        {"old": "closed", "new": "open", "reason": "failure_threshold", "remote": False}
    ]
    peer_logs = [entry for entry in run(peer, w.log_records) if " -> " in entry[1]]
    assert len(peer_logs) == 1 and peer_logs[0][0] == "WARNING", peer_logs
    assert not peer_logs[0][1].endswith("(learned from another process)")
    # The other way round: a reset here is this process's own, and learned there.
    assert wait_for(lambda: subscribers(redis_server, shared.namespace) >= 2, 3.0)
    caplog.clear()
    local.reset()
    assert (events[-1].old_state, events[-1].new_state, events[-1].remote) == (
        "open",
        "closed",
        False,
    )
    assert [level for level, _ in transitions(caplog, spec.name)] == ["INFO"]
    assert run(peer, w.wait_for_outcome, spec, "passed", 2.0) is not None
    learned = run(peer, w.events, spec)[1:]
    assert learned == [{"old": "open", "new": "closed", "reason": "reset", "remote": True}]
    counted = {"closed": 1, "open": 1, "half_open": 0, "isolated": 0, "disabled": 0}
    assert local.get_status()["transitions"] == counted
    assert run(peer, w.status, spec)["transitions"] == counted
    peer_logs = [entry for entry in run(peer, w.log_records) if " -> " in entry[1]]
    assert len(peer_logs) == 2 and peer_logs[1][0] == "INFO", peer_logs
    assert peer_logs[1][1].endswith("(learned from another process)")


def test_a_transition_missed_on_the_channel_is_still_reported(
    peer: Pool, shared: Fleet, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The subscriber's connection drops (CLIENT KILL) just before another process opens the
    circuit: this process learns it when it re-reads the state, and must report it as it
    reports a transition learned from the channel."""
    caplog.set_level(logging.INFO, logger="fastbreaker")
    spec = shared.spec("missed", failure_threshold=2, recovery_timeout=60)
    local = shared.local(spec)
    events: List[Any] = []
    local.add_listener(events.append)
    assert outcome(local, succeed) == "passed"
    assert wait_for(lambda: subscribers(redis_server, shared.namespace) >= 1, 3.0)
    assert integer(redis_server, "CLIENT", "KILL", "TYPE", "pubsub") >= 1
    assert run(peer, w.fail_times, spec, 2, 0)["outcomes"] == ["failed", "failed"]
    assert wait_for(lambda: outcome(local, succeed) == "rejected", 6.0)
    # A change found by re-reading waits a moment for its own message (which would carry the
    # real reason) before it is reported; a status read collects it.
    assert wait_for(lambda: local.get_status() and events, 2.0)
    assert [(e.old_state, e.new_state, e.remote) for e in events] == [("closed", "open", True)]
    [(level, message)] = transitions(caplog, spec.name)
    assert level == "INFO" and message.endswith("(learned from another process)"), message


def test_closed_successes_and_open_rejections_touch_no_network(
    shared: Fleet, redis_server: RedisServer
) -> None:
    spec = shared.spec("hot-path", failure_threshold=3, recovery_timeout=60)
    local = shared.local(spec)
    assert outcome(local, succeed) == "passed"
    assert wait_for(lambda: subscribers(redis_server, shared.namespace) >= 1, 3.0)
    before = commands_processed(redis_server)
    assert {outcome(local, succeed) for _ in range(5000)} == {"passed"}
    # The server is shared with the rest of the file: other processes' backstop re-reads land
    # here too. A hot path that went to Redis would be 5,000 commands or more.
    assert commands_processed(redis_server) - before < 100
    local.open()
    before = commands_processed(redis_server)
    assert {outcome(local, succeed) for _ in range(5000)} == {"rejected"}
    assert commands_processed(redis_server) - before < 100


def test_namespaces_keep_breakers_of_the_same_name_apart(
    redis_server: RedisServer, namespace: str, unique_name: str
) -> None:
    breakers = [
        CircuitBreaker(
            name=unique_name,
            failure_threshold=1,
            store=RedisStore(redis_server.url, namespace=namespace + suffix),
        )
        for suffix in ("-a", "-b")
    ]
    assert outcome(breakers[0], fail) == "failed"
    assert outcome(breakers[0], succeed) == "rejected"
    time.sleep(0.2)  # what the other namespace might (wrongly) learn meanwhile
    assert outcome(breakers[1], succeed) == "passed"
    assert breakers[1].get_status()["state"] == "closed"


# --- Redis down, slow, restarted, erroring -----------------------------------------------------


def test_redis_not_running_at_start(
    peer: Pool, shared: Fleet, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="fastbreaker")
    redis_server.stop()
    spec = shared.spec(
        "late-redis", failure_threshold=2, recovery_timeout=60, store_options={"timeout": 0.1}
    )
    local = shared.local(spec)
    assert outcome(local, succeed) == "passed"
    assert wait_for(lambda: local.get_status()["store_reachable"] is False, 3.0)
    assert shared.stores[spec.name].reachable is False
    # Each process protects itself meanwhile.
    calls = [timed(lambda: outcome(local, fail)) for _ in range(2)]
    assert [result for result, _ in calls] == ["failed", "failed"]
    assert max(seconds for _, seconds in calls) < 1.0
    assert outcome(local, succeed) == "rejected"
    status = local.get_status()
    assert (status["store"], status["store_reachable"]) == (shared.url, False)
    notices = store_notices(caplog)
    assert [level for level, _ in notices] == ["WARNING"], notices
    redis_server.start()
    assert wait_for(lambda: local.get_status()["store_reachable"], 6.0)
    assert shared.stores[spec.name].reachable is True
    notices = store_notices(caplog)
    assert [level for level, _ in notices] == ["WARNING", "INFO"], notices
    # Shared again: a reset here, then two failures in another process open it here.
    local.reset()
    assert run(peer, w.fail_times, spec, 2, 0)["outcomes"] == ["failed", "failed"]
    assert wait_for(lambda: outcome(local, succeed) == "rejected")


def test_redis_killed_mid_run_then_restarted_empty(
    peer: Pool, shared: Fleet, redis_server: RedisServer
) -> None:
    spec = shared.spec(
        "killed", failure_threshold=3, recovery_timeout=60, store_options={"timeout": 0.1}
    )
    local = shared.local(spec)
    assert outcome(local, succeed) == "passed"
    assert run(peer, w.call_once, spec, False) == "failed"
    redis_server.kill()
    # Both processes go on, and no call waits on the dead server.
    calls = [timed(partial(outcome, local, succeed if i % 2 else fail)) for i in range(6)]
    assert [result for result, _ in calls] == ["failed", "passed"] * 3
    assert max(seconds for _, seconds in calls) < 1.0, calls
    peer_calls = run(peer, w.timed_calls, spec, "sfsfsf")
    assert [result for result, _ in peer_calls] == ["passed", "failed"] * 3
    assert max(seconds for _, seconds in peer_calls) < 1.0, peer_calls
    assert wait_for(lambda: local.get_status()["store_reachable"] is False, 3.0)
    redis_server.start()  # empty
    assert wait_for(lambda: local.get_status()["store_reachable"], 6.0)
    assert run(peer, w.wait_until_reachable, spec, 6.0)
    # The fleet shares state again, in the new server.
    assert run(peer, w.fail_times, spec, 3, 0)["outcomes"] == ["failed"] * 3
    assert wait_for(lambda: outcome(local, succeed) == "rejected")
    assert redis_server.command("EXISTS", f"{{{shared.namespace}:{spec.name}}}") == 1


def test_a_restart_that_empties_redis_changes_no_state_silently(
    shared: Fleet, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """An open circuit, then Redis restarts empty. Whether the fleet keeps it open (rebuilt from
    what the processes knew) or starts afresh, closed, what a process reports must agree: its
    status, its listeners and its log."""
    caplog.set_level(logging.INFO, logger="fastbreaker")
    spec = shared.spec(
        "emptied", failure_threshold=2, recovery_timeout=60, store_options={"timeout": 0.1}
    )
    local = shared.local(spec)
    events: List[Any] = []
    local.add_listener(events.append)
    assert [outcome(local, fail) for _ in range(2)] == ["failed", "failed"]
    assert outcome(local, succeed) == "rejected"
    redis_server.kill()
    redis_server.start()  # empty
    assert wait_for(lambda: local.get_status()["store_reachable"], 6.0)
    # What the rejoin re-read, reported once its grace (250 ms, waiting for a message that would
    # explain it) has passed.
    time.sleep(0.6)
    state = local.get_status()["state"]
    assert state == events[-1].new_state, (
        f"the state is {state!r}, but the last transition listeners heard of went to "
        f"{events[-1].new_state!r}: {[(e.old_state, e.new_state, e.reason) for e in events]}"
    )
    logged = [message for _, message in transitions(caplog, spec.name)]
    assert f"-> {state}" in logged[-1], logged
    assert outcome(local, succeed) == ("rejected" if state == "open" else "passed")


def test_redis_paused_no_call_waits_past_the_timeout(
    shared: Fleet, redis_server: RedisServer
) -> None:
    spec = shared.spec(
        "paused", failure_threshold=3, recovery_timeout=60, store_options={"timeout": 0.1}
    )
    # A timeout long enough to tell one wait from two, whatever the machine's load.
    busy = shared.spec("paused-threads", failure_threshold=10**6, store_options={"timeout": 0.5})
    local, many = shared.local(spec), shared.local(busy)
    for breaker in (local, many):  # connected, and the store's scripts loaded
        assert outcome(breaker, fail) == "failed"
        assert outcome(breaker, succeed) == "passed"
    redis_server.pause()
    try:
        calls = [timed(lambda: outcome(local, fail)) for _ in range(3)]
        calls.append(timed(lambda: outcome(local, succeed)))
        assert [result for result, _ in calls] == ["failed"] * 3 + ["rejected"]
        assert max(seconds for _, seconds in calls) < 0.1 + 0.4, calls
        # Four threads failing at once: none waits longer than the timeout, so none waits for
        # another thread's round trip and then for its own.
        results: List[Tuple[str, float]] = []
        barrier = threading.Barrier(4)

        def hammer() -> None:
            barrier.wait()
            for _ in range(3):
                results.append(timed(lambda: outcome(many, fail)))

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        elapsed = time.monotonic() - started
        assert [result for result, _ in results] == ["failed"] * 12
        assert max(seconds for _, seconds in results) < 0.5 + 0.4, sorted(results)
        assert elapsed < 2.0, "calls waited on the paused Redis in turn"
        assert wait_for(lambda: local.get_status()["store_reachable"] is False, 2.0)
    finally:
        redis_server.resume()
    assert wait_for(lambda: local.get_status()["store_reachable"], 6.0)
    local.reset()
    assert outcome(local, succeed) == "passed"


def test_a_redis_that_answers_errors_is_not_an_outage(
    shared: Fleet, erroring_redis: ErroringRedis
) -> None:
    spec = shared.spec(
        "erroring",
        url=erroring_redis.url,
        failure_threshold=10**6,
        store_options={"timeout": 0.1},
    )
    local = shared.local(spec)
    assert outcome(local, succeed) == "passed"
    calls = [timed(lambda: outcome(local, fail)) for _ in range(200)]
    assert {result for result, _ in calls} == {"failed"}
    assert max(seconds for _, seconds in calls) < 1.0
    assert wait_for(lambda: local.get_status()["store_reachable"] is False)
    # The store is protected by a breaker of its own: 200 failures do not mean 200 commands.
    assert erroring_redis.commands < 60, erroring_redis.commands
    # Each process protects itself meanwhile.
    small = shared.spec("erroring-small", url=erroring_redis.url, failure_threshold=2)
    breaker = shared.local(small)
    assert [outcome(breaker, fail) for _ in range(2)] == ["failed", "failed"]
    assert outcome(breaker, succeed) == "rejected"


def test_a_redis_out_of_memory_is_not_an_outage(shared: Fleet, redis_server: RedisServer) -> None:
    spec = shared.spec(
        "oom", failure_threshold=3, recovery_timeout=60, store_options={"timeout": 0.1}
    )
    local = shared.local(spec)
    assert outcome(local, succeed) == "passed"
    assert wait_for(lambda: local.get_status()["store_reachable"])
    redis_server.command("CONFIG", "SET", "maxmemory-policy", "noeviction")
    redis_server.command("CONFIG", "SET", "maxmemory", "1")  # every write: -OOM
    calls = [timed(lambda: outcome(local, fail)) for _ in range(3)]
    calls.append(timed(lambda: outcome(local, succeed)))
    assert [result for result, _ in calls] == ["failed"] * 3 + ["rejected"]
    assert max(seconds for _, seconds in calls) < 1.0


@pytest.mark.parametrize(
    ("mode", "expected", "invocations"),
    [
        ("local", ["failed", "failed", "rejected", "rejected", "rejected"], 2),
        ("closed", ["failed"] * 5, 5),
        ("open", ["rejected"] * 5, 0),
    ],
)
def test_store_unavailable_decides_what_calls_meet_while_redis_is_down(
    shared: Fleet, redis_server: RedisServer, mode: str, expected: List[str], invocations: int
) -> None:
    redis_server.stop()
    spec = shared.spec(
        f"down-{mode}",
        failure_threshold=2,
        recovery_timeout=60,
        store_options={"store_unavailable": mode, "timeout": 0.1},
    )
    local = shared.local(spec)
    assert shared.stores[spec.name].store_unavailable == mode
    assert wait_for(lambda: local.get_status()["store_reachable"] is False, 3.0)
    called = []

    def failing() -> None:
        called.append(1)
        fail()

    assert [outcome(local, failing) for _ in range(5)] == expected
    assert len(called) == invocations
    if mode == "open":  # and calls go through again once Redis is back
        redis_server.start()
        assert wait_for(lambda: outcome(local, succeed) == "passed", 6.0)


# --- Keys ---------------------------------------------------------------------------------------


def test_keys_carry_the_hash_tag_and_a_ttl_refreshed_on_writes(
    shared: Fleet, redis_server: RedisServer
) -> None:
    spec = shared.spec(
        "keys",
        failure_threshold=5,
        recovery_timeout=0.2,
        half_open_max_calls=1,
        store_options={"key_ttl": 100},
    )
    local = shared.local(spec)
    assert outcome(local, fail) == "failed"
    tag = f"{{{shared.namespace}:{spec.name}}}".encode()

    probe = f"{shared.namespace}:probe".encode()  # the store's own write check, 10 s to live

    def keys() -> List[bytes]:
        return [key for key in listed(redis_server, "KEYS", "*") if key != probe]

    # Written by the subscriber when it connects (it may not have yet): never without a TTL.
    assert integer(redis_server, "PTTL", probe) in range(-2, 10_001)
    assert integer(redis_server, "PTTL", probe) != -1
    assert tag in keys()
    assert all(key.startswith(tag) for key in keys()), keys()
    for key in keys():
        assert 0 < integer(redis_server, "TTL", key) <= 100
    assert redis_server.command("PERSIST", tag) == 1
    assert redis_server.command("TTL", tag) == -1
    assert outcome(local, fail) == "failed"  # a write: the TTL is back
    assert 0 < integer(redis_server, "TTL", tag) <= 100
    # The half-open trials have a key of their own, under the same tag, with a TTL too.
    local.open()
    assert wait_for(lambda: local.get_status()["state"] == "half_open")
    permit = local.acquire()
    assert permit.is_trial
    assert tag + b":trials" in keys()
    assert all(key.startswith(tag) for key in keys()), keys()
    for key in keys():
        assert 0 < integer(redis_server, "TTL", key) <= 100, key
    permit.record_success()


# --- Configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "",
        "localhost:6379",
        "http://127.0.0.1:6379/0",
        "redis//127.0.0.1:6379/0",
        "redis://127.0.0.1:notaport/0",
        "redis://127.0.0.1:99999/0",
        "redis://127.0.0.1:6379/notadb",
    ],
)
def test_bad_urls_are_refused_naming_the_url(url: str) -> None:
    with pytest.raises(ValueError, match=r"(?i)url"):
        RedisStore(url)


@pytest.mark.parametrize("url", [None, 6379, b"redis://127.0.0.1:6379/0"])
def test_urls_that_are_not_strings_are_a_type_error(url: Any) -> None:
    with pytest.raises(TypeError, match="url"):
        RedisStore(url)


@pytest.mark.parametrize(
    ("option", "value", "error"),
    [
        ("timeout", 0, ValueError),
        ("timeout", -1, ValueError),
        ("timeout", math.nan, ValueError),
        ("timeout", math.inf, ValueError),
        ("timeout", "0.1", TypeError),
        ("store_unavailable", "maybe", ValueError),
        ("store_unavailable", 1, TypeError),
        ("refresh_interval", 0, ValueError),
        ("refresh_interval", -1, ValueError),
        ("refresh_interval", math.nan, ValueError),
        ("key_ttl", 0, ValueError),
        ("key_ttl", -5, ValueError),
        ("key_ttl", math.nan, ValueError),
        ("namespace", 1, TypeError),
    ],
)
def test_bad_options_are_refused_naming_the_option(option: str, value: Any, error: Any) -> None:
    with pytest.raises(error, match=option):
        RedisStore("redis://127.0.0.1:6379/0", **{option: value})


def test_store_options_are_keyword_only_and_kept() -> None:
    with pytest.raises(TypeError):
        RedisStore("redis://127.0.0.1:6379/0", "namespace")  # type: ignore[call-arg]
    store = RedisStore("redis://127.0.0.1:6379/0")
    assert (store.url, store.namespace, store.timeout, store.store_unavailable) == (
        "redis://127.0.0.1:6379/0",
        "fastbreaker",
        0.05,
        "local",
    )
    assert "127.0.0.1:6379" in repr(store)
    unix = RedisStore("unix:///tmp/redis.sock", namespace="orders", timeout=0.2)
    assert (unix.namespace, unix.timeout) == ("orders", 0.2)
    assert RedisStore("rediss://127.0.0.1:6380/0").url.startswith("rediss://")


def test_bad_store_arguments_are_refused(no_default_store: None, unique_name: str) -> None:
    with pytest.raises(ValueError, match="store"):
        CircuitBreaker(name=unique_name, store="disk")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="store"):
        CircuitBreaker(name=unique_name, store=42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"(?i)url"):
        fastbreaker.set_default_store("ftp://127.0.0.1/0")
    with pytest.raises(TypeError):
        fastbreaker.set_default_store(42)  # type: ignore[arg-type]
    assert fastbreaker.get_default_store() is None


def test_status_names_the_store_without_its_password(
    redis_server: RedisServer,
    namespace: str,
    unique_name: str,
    caplog: pytest.LogCaptureFixture,
    no_default_store: None,
) -> None:
    caplog.set_level(logging.DEBUG, logger="fastbreaker")
    plain = CircuitBreaker(name=unique_name + "-memory")
    assert (plain.get_status()["store"], plain.get_status()["store_reachable"]) == ("memory", True)
    store = RedisStore(redis_server.url, namespace=namespace)
    breaker = CircuitBreaker(name=unique_name, store=store)
    assert breaker.get_status()["store"] == redis_server.url
    assert wait_for(lambda: breaker.get_status()["store_reachable"] is True)
    assert store.reachable is True
    redis_server.command("CONFIG", "SET", "requirepass", "hunter2")  # the last raw command
    for url in (
        f"redis://:hunter2@127.0.0.1:{redis_server.port}/0",
        f"redis://default:hunter2@127.0.0.1:{redis_server.port}/0",
    ):
        secret = RedisStore(url, namespace=namespace)
        protected = CircuitBreaker(name=unique_name + "-secret", store=secret)
        assert outcome(protected, fail) == "failed"  # the password is used: it reaches Redis
        assert wait_for(lambda: protected.get_status()["store_reachable"] is True)  # noqa: B023
        status = protected.get_status()
        assert f"127.0.0.1:{redis_server.port}" in status["store"]
        for text in (secret.url, repr(secret), json.dumps(status)):
            assert "hunter2" not in text
    # Without the password the server refuses the store: not reachable.
    refused = CircuitBreaker(name=unique_name + "-refused", store=RedisStore(redis_server.url))
    assert outcome(refused, fail) == "failed"
    assert wait_for(lambda: refused.get_status()["store_reachable"] is False)
    assert "hunter2" not in caplog.text


def test_a_unix_socket_url_reaches_the_same_redis(
    redis_server: RedisServer, namespace: str, unique_name: str
) -> None:
    over_tcp = CircuitBreaker(
        name=unique_name,
        failure_threshold=2,
        store=RedisStore(redis_server.url, namespace=namespace),
    )
    unix = RedisStore(redis_server.unix_url, namespace=namespace)
    assert unix.url == redis_server.unix_url
    over_unix = CircuitBreaker(name=unique_name, failure_threshold=2, store=unix)
    assert outcome(over_tcp, succeed) == "passed"
    assert [outcome(over_unix, fail) for _ in range(2)] == ["failed", "failed"]
    assert outcome(over_unix, succeed) == "rejected"
    assert wait_for(lambda: outcome(over_tcp, succeed) == "rejected")


def test_the_default_store_and_breaker_names(
    redis_url: str, no_default_store: None, unique_name: str
) -> None:
    fastbreaker.set_default_store(redis_url)
    default = fastbreaker.get_default_store()
    assert isinstance(default, RedisStore) and default.url == redis_url
    # An auto-named breaker has no stable name: it stays in the process.
    assert CircuitBreaker().get_status()["store"] == "memory"
    assert CircuitBreaker(name=unique_name).get_status()["store"] == redis_url
    assert get_circuit_breaker(unique_name + "-registry").get_status()["store"] == redis_url
    kept = CircuitBreaker(name=unique_name + "-memory", store="memory")
    assert kept.get_status()["store"] == "memory"

    def fetch() -> str:
        return "ok"

    expected_name = f"{fetch.__module__}.{fetch.__qualname__}"
    decorated = circuit_breaker(fetch)
    assert decorated.circuit_breaker.name == expected_name  # type: ignore[attr-defined]
    assert decorated.circuit_breaker.get_status()["store"] == redis_url  # type: ignore[attr-defined]
    own = RedisStore(redis_url, namespace="elsewhere")
    named = circuit_breaker(name=unique_name + "-decorated", store=own)(fetch)
    assert named.circuit_breaker.get_status()["store"] == redis_url  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="name"):
        CircuitBreaker(store=own)
    fastbreaker.set_default_store(own)
    assert fastbreaker.get_default_store() is own
    fastbreaker.set_default_store(None)
    assert fastbreaker.get_default_store() is None
    assert CircuitBreaker(name=unique_name + "-after").get_status()["store"] == "memory"


def _python(code: str, **environment: str) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    env = {k: v for k, v in os.environ.items() if k != "FASTBREAKER_STORE_URL"}
    env.update(environment)
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30
    )


def test_fastbreaker_store_url_is_read_at_import(redis_url: str) -> None:
    code = (
        "import json, fastbreaker\n"
        "store = fastbreaker.get_default_store()\n"
        "print(json.dumps({\n"
        "    'default': store.url if store else None,\n"
        "    'named': fastbreaker.get_circuit_breaker('env-named').get_status()['store'],\n"
        "    'auto': fastbreaker.CircuitBreaker().get_status()['store'],\n"
        "}))\n"
    )
    done = _python(code, FASTBREAKER_STORE_URL=redis_url)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"default": redis_url, "named": redis_url, "auto": "memory"}
    done = _python(code)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"default": None, "named": "memory", "auto": "memory"}
    done = _python("import fastbreaker", FASTBREAKER_STORE_URL="ftp://127.0.0.1/0")
    assert done.returncode != 0
    assert "ValueError" in done.stderr and "FASTBREAKER_STORE_URL" in done.stderr, done.stderr


def test_the_helper_server_controls(redis_server: RedisServer) -> None:
    """fastbreaker.testing.redis_server() itself: restarts empty on the same port, pauses."""
    port, pid = redis_server.port, redis_server.pid
    assert redis_server.url == f"redis://127.0.0.1:{port}/0"
    assert redis_server.command("SET", "k", "v") == "OK"
    redis_server.pause()
    with pytest.raises(OSError):
        redis_server.command("PING", timeout=0.2)
    redis_server.resume()
    assert redis_server.command("GET", "k") == b"v"
    redis_server.kill()
    with pytest.raises(OSError):
        redis_server.command("PING")
    redis_server.start()
    assert (redis_server.port, redis_server.command("GET", "k")) == (port, None)
    assert redis_server.pid != pid
