"""What the processes of tests/test_redis_store.py run: importable functions for a `spawn`
multiprocessing pool (a spawned child imports this module by name; it finds it because the
parent's `sys.path`, which pytest gave `tests/`, travels with it).

Each function receives a `Spec` (where the breaker's state lives and its options) and returns
plain data. A worker keeps its breakers and stores from one task to the next of the same test
(`Spec.test`), so a later task meets the breaker an earlier one used; a task of another test
drops them all.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from fastbreaker import CircuitBreaker, CircuitBreakerError, RedisStore, TransitionEvent


@dataclass(frozen=True)
class Spec:
    """One shared breaker: the test it belongs to, the Redis and namespace, its name and options."""

    test: str
    url: str
    namespace: str
    name: str
    options: Dict[str, Any] = field(default_factory=dict)
    store_options: Dict[str, Any] = field(default_factory=dict)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: List[Tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.levelname, record.getMessage()))


_current_test: Optional[str] = None
_stores: Dict[Tuple[str, str, str], RedisStore] = {}
_breakers: Dict[str, CircuitBreaker] = {}
_events: Dict[str, List[TransitionEvent]] = {}
_records = _Records()
logging.getLogger("fastbreaker").addHandler(_records)
logging.getLogger("fastbreaker").setLevel(logging.DEBUG)


def breaker(spec: Spec) -> CircuitBreaker:
    """This process's breaker for `spec` (created on first use, with a listener recording its
    events)."""
    global _current_test
    if spec.test != _current_test:  # a new test: forget the last one's breakers and stores
        _current_test = spec.test
        _breakers.clear()
        _stores.clear()
        _events.clear()
        _records.records.clear()
    if spec.name not in _breakers:
        store_key = (spec.url, spec.namespace, repr(sorted(spec.store_options.items())))
        if store_key not in _stores:
            _stores[store_key] = RedisStore(
                spec.url, namespace=spec.namespace, **spec.store_options
            )
        created = CircuitBreaker(name=spec.name, store=_stores[store_key], **spec.options)
        _events[spec.name] = []
        created.add_listener(_events[spec.name].append)
        _breakers[spec.name] = created
    return _breakers[spec.name]


class ServiceError(Exception):
    """What the protected functions of these tests raise (so that no other error passes for
    theirs)."""


def _sleep_until(moment: float) -> None:
    delay = moment - time.time()
    if delay > 0:
        time.sleep(delay)


def outcome(shared: CircuitBreaker, func: Callable[[], Any]) -> str:
    """Calls `func` through `shared`: "passed", "failed" (a ServiceError, the function's own) or
    "rejected" (CircuitBreakerError). Any other error propagates."""
    try:
        shared.call(func)
    except CircuitBreakerError:
        return "rejected"
    except ServiceError:
        return "failed"
    return "passed"


def succeed() -> str:
    return "ok"


def fail() -> None:
    raise ServiceError("service failed")


def redis_command(url: str, *args: str) -> Any:
    """One command over a plain socket to the Redis at `url` (redis://127.0.0.1:PORT/0); returns
    the first line of the reply, parsed for integers and simple strings."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        payload = b"*%d\r\n" % len(args)
        for arg in args:
            payload += b"$%d\r\n%s\r\n" % (len(arg.encode()), arg.encode())
        connection.sendall(payload)
        with connection.makefile("rb") as stream:
            line = stream.readline().decode().rstrip("\r\n")
    if line.startswith(":"):
        return int(line[1:])
    return line


def hold(seconds: float) -> int:
    """Sleeps, and returns this process's id (to see that tasks ran in distinct processes)."""
    time.sleep(seconds)
    return os.getpid()


def fail_times(spec: Spec, count: int, start_at: float) -> Dict[str, Any]:
    """Creates the breaker, waits until `start_at` (time.time()), then calls a failing function
    through it `count` times in a row. Returns the outcomes."""
    shared = breaker(spec)
    _sleep_until(start_at)
    outcomes = [outcome(shared, fail) for _ in range(count)]
    return {"pid": os.getpid(), "outcomes": outcomes}


def call_once(spec: Spec, success: bool) -> str:
    """One call through the breaker, of a function that succeeds or fails: "passed", "failed"
    or "rejected"."""
    return outcome(breaker(spec), succeed if success else fail)


def timed_calls(spec: Spec, pattern: str) -> List[Tuple[str, float]]:
    """One call per letter of `pattern` ("s": succeeds, "f": fails): each outcome and how long
    the call took."""
    shared = breaker(spec)
    results = []
    for letter in pattern:
        started = time.monotonic()
        result = outcome(shared, succeed if letter == "s" else fail)
        results.append((result, time.monotonic() - started))
    return results


def status(spec: Spec) -> Dict[str, Any]:
    return dict(breaker(spec).get_status())


def open_breaker(spec: Spec) -> None:
    breaker(spec).open()


def reset_breaker(spec: Spec) -> None:
    breaker(spec).reset()


def wait_for_outcome(spec: Spec, wanted: str, timeout: float) -> Optional[float]:
    """Calls a succeeding function through the breaker every millisecond until a call's outcome is
    `wanted` ("rejected" or "passed"): returns the time.time() when it was, None after
    `timeout` seconds."""
    shared = breaker(spec)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if outcome(shared, succeed) == wanted:
            return time.time()
        time.sleep(0.001)
    return None


def wait_until_reachable(spec: Spec, timeout: float) -> bool:
    shared = breaker(spec)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if shared.get_status()["store_reachable"]:
            return True
        time.sleep(0.02)
    return False


def watch_for_rejection(spec: Spec, ready_key: str, timeout: float) -> Dict[str, Any]:
    """Creates the breaker, makes one successful call, counts itself ready (INCR `ready_key` in
    the Redis), then waits for a rejection like `wait_for_outcome`."""
    shared = breaker(spec)
    assert outcome(shared, succeed) == "passed"
    redis_command(spec.url, "INCR", ready_key)
    return {"pid": os.getpid(), "rejected_at": wait_for_outcome(spec, "rejected", timeout)}


def try_service(spec: Spec, url: str, start_at: float, window: float) -> Dict[str, Any]:
    """Creates the breaker, waits until `start_at`, then for `window` seconds calls the HTTP
    service at `url` through the breaker (every 10 ms; a call that gets through waits for the
    answer). Returns the outcomes."""
    shared = breaker(spec)
    shared.get_status()
    _sleep_until(start_at)

    def fetch() -> None:
        with urllib.request.urlopen(url, timeout=10) as answer:
            answer.read()
            if answer.status != 200:
                raise ServiceError(answer.status)

    outcomes = []
    while time.time() < start_at + window:
        outcomes.append(outcome(shared, fetch))
        time.sleep(0.01)
    return {"pid": os.getpid(), "outcomes": outcomes}


def events(spec: Spec) -> List[Dict[str, Any]]:
    """The transitions this process's breaker reported to its listener so far."""
    breaker(spec).get_status()  # learned events are delivered on a call or a status
    return [
        {
            "old": str(event.old_state),
            "new": str(event.new_state),
            "reason": event.reason,
            "remote": event.remote,
        }
        for event in _events[spec.name]
    ]


def log_records() -> List[Tuple[str, str]]:
    """What the `fastbreaker` logger logged in this process during the current test."""
    return list(_records.records)
