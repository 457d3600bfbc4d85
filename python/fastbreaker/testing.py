"""Helpers for tests of code protected by fastbreaker.

``manual_clock()`` lets a test drive breakers past their recovery timeout without sleeping::

    from fastbreaker.testing import manual_clock

    def test_recovers():
        breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=30)
        with manual_clock() as clock:
            ...  # open the circuit
            clock.advance(30)  # exactly the timeout: the next call is a trial
            ...

``redis_server()`` starts a private ``redis-server`` (Debian's ``redis-server`` package) for tests
of fleet-wide breakers, and stops it when the block ends::

    from fastbreaker import CircuitBreaker, RedisStore
    from fastbreaker.testing import redis_server

    def test_survives_a_redis_outage():
        with redis_server() as redis:
            breaker = CircuitBreaker(name="orders", store=RedisStore(redis.url))
            redis.pause()  # SIGSTOP: connections hang, nothing answers
            ...
            redis.resume()  # SIGCONT
            redis.kill()  # SIGKILL
            redis.start()  # a new, empty server on the same port

The server listens on a free loopback port (``redis.url`` is ``redis://127.0.0.1:PORT/0``) and on
a Unix socket (``redis.unix_url``), keeps nothing on disk (``--save "" --appendonly no``), and
answers PING before the block starts. ``redis.command("TTL", key)`` sends one command over a
plain socket and returns the reply, for looking at what a breaker stored. ``redis-server`` must be
installed: without it ``redis_server()`` raises ``RuntimeError`` saying how to install it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from typing import BinaryIO, Iterator, List, Optional, Tuple, Union

from . import _core

__all__ = ["ManualClock", "RedisReplyError", "RedisServer", "manual_clock", "redis_server"]


class ManualClock:
    """The process-wide monotonic clock while :func:`manual_clock` is active."""

    __slots__ = ()

    def advance(self, seconds: float) -> float:
        """Moves time forward by ``seconds`` (an int or float >= 0) for every breaker in every
        thread. The clock counts whole nanoseconds, and ``seconds`` is rounded to the nearest one
        (``1e-12`` moves nothing); advancing by a breaker's ``recovery_timeout`` reaches it
        exactly. An advance past about 292 years from the clock's origin raises ``ValueError``
        and moves nothing. Returns the new reading, in seconds."""
        return _core._manual_clock_advance(seconds)

    def now(self) -> float:
        """The clock's reading, in seconds (its origin is arbitrary)."""
        return _core._monotonic()

    def __repr__(self) -> str:
        return f"<ManualClock now={self.now():.9f}>"


@contextmanager
def manual_clock() -> Iterator[ManualClock]:
    """Freezes the monotonic clock that every breaker reads, until the block ends.

    Inside the block time moves only by ``clock.advance(seconds)``. Afterwards the real clock
    resumes from where the manual one stopped: it neither goes backwards nor jumps forward by the
    real time the block took. Manual clocks do not nest: entering a second one raises
    ``RuntimeError``.
    """
    _core._manual_clock_start()
    try:
        yield ManualClock()
    finally:
        _core._manual_clock_stop()


#: A reply of Redis, as :meth:`RedisServer.command` returns it (``None`` for a null reply).
RedisReply = Union[None, int, bytes, str, List["RedisReply"]]


class RedisReplyError(RuntimeError):
    """Redis answered a command with an error (``-ERR ...``, ``-OOM ...``)."""


class RedisServer:
    """A private ``redis-server`` process, as :func:`redis_server` yields it."""

    #: The address it listens on.
    host = "127.0.0.1"

    def __init__(self, executable: str, directory: str, startup_timeout: float) -> None:
        self._executable = executable
        self._directory = directory
        self._startup_timeout = startup_timeout
        self._process: Optional[subprocess.Popen[bytes]] = None
        self._paused = False
        self.port = 0
        #: The Unix socket it also listens on.
        self.unix_socket = os.path.join(directory, "redis.sock")

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://{self.host}:{self.port}/0"

    @property
    def unix_url(self) -> str:
        """``unix://PATH``: the same server through its Unix socket."""
        return f"unix://{self.unix_socket}"

    @property
    def pid(self) -> Optional[int]:
        """The server's process id (``None`` while it is stopped)."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        """Whether the server process exists (a paused one does)."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Starts the server (a running one is stopped first: a restart), empty, on the same port
        as before (a free one the first time), and waits until it answers PING."""
        if self._process is not None:
            self.stop()
        if self.port:
            if not self._launch(self.port):
                raise RuntimeError(
                    f"redis-server could not start again on port {self.port}:\n{self._log_tail()}"
                )
            return
        for _ in range(20):  # another process may take the free port before redis-server binds it
            if self._launch(_free_port(self.host)):
                return
        raise RuntimeError(f"redis-server did not start:\n{self._log_tail()}")

    def stop(self) -> None:
        """Stops the server (SIGTERM, SIGKILL after 5 s) and waits for it to exit."""
        process = self._process
        if process is None:
            return
        if self._paused:
            self.resume()
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._process = None

    def kill(self) -> None:
        """Kills the server (SIGKILL, even while paused) and waits for it to exit."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.kill()
            process.wait()
        self._process = None
        self._paused = False

    def pause(self) -> None:
        """Freezes the server (SIGSTOP): connections are accepted by the kernel but nothing
        answers, as with a server that hangs."""
        self._signal(signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        """Lets a paused server go on (SIGCONT)."""
        self._signal(signal.SIGCONT)
        self._paused = False

    def command(self, *args: Union[str, bytes, int, float], timeout: float = 5.0) -> RedisReply:
        """Sends one command and returns its reply: ``int``, ``bytes`` (bulk strings), ``str``
        (simple strings such as ``"OK"``), ``None`` or a list of those. An error reply raises
        :class:`RedisReplyError`; a server that does not answer, ``OSError``."""
        with socket.create_connection((self.host, self.port), timeout=timeout) as connection:
            connection.sendall(_encode(args))
            with connection.makefile("rb") as stream:
                reply = _read_reply(stream)
        if isinstance(reply, RedisReplyError):
            raise reply
        return reply

    def __repr__(self) -> str:
        state = "paused" if self._paused else "running" if self.running else "stopped"
        return f"<RedisServer {self.url} pid={self.pid} {state}>"

    def _signal(self, number: int) -> None:
        if not self.running:
            raise RuntimeError("redis-server is not running")
        assert self._process is not None
        self._process.send_signal(number)

    def _launch(self, port: int) -> bool:
        """Starts redis-server on `port`; False when it exited before answering PING (the port
        was taken)."""
        log = os.path.join(self._directory, "redis.log")
        with open(log, "ab") as output:
            process = subprocess.Popen(
                [
                    self._executable,
                    "--port", str(port),
                    "--bind", self.host,
                    "--save", "",
                    "--appendonly", "no",
                    "--dir", self._directory,
                    "--unixsocket", self.unix_socket,
                    "--unixsocketperm", "700",
                    "--daemonize", "no",
                    "--logfile", "",
                ],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        self._process, self._paused, self.port = process, False, port
        deadline = time.monotonic() + self._startup_timeout
        while process.poll() is None:
            try:
                if self.command("PING", timeout=1.0) == "PONG":
                    return True
            except (OSError, RedisReplyError):  # not listening yet, or still loading
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(
                    f"redis-server did not answer PING within {self._startup_timeout} s:\n"
                    + self._log_tail()
                )
            time.sleep(0.01)
        self._process = None
        return False

    def _log_tail(self) -> str:
        try:
            with open(os.path.join(self._directory, "redis.log"), "rb") as log:
                return log.read()[-2000:].decode(errors="replace")
        except OSError:
            return ""


@contextmanager
def redis_server(
    *, executable: Optional[str] = None, startup_timeout: float = 10.0
) -> Iterator[RedisServer]:
    """Starts a private ``redis-server`` on a free loopback port, with no persistence, waits until
    it answers PING, and stops it when the block ends (see :class:`RedisServer` for the controls:
    ``stop()``, ``start()``, ``pause()``, ``resume()``, ``kill()``, ``command()``).

    ``executable`` is the server's path (default: ``redis-server`` on ``PATH``). Raises
    ``RuntimeError`` when it is not installed, or when it does not start within
    ``startup_timeout`` seconds.
    """
    path = shutil.which(executable or "redis-server")
    if path is None:
        raise RuntimeError(
            f"{executable or 'redis-server'} is not installed; install it: "
            "apt-get install redis-server"
        )
    with tempfile.TemporaryDirectory(prefix="fastbreaker-redis-") as directory:
        server = RedisServer(path, directory, startup_timeout)
        try:
            server.start()
            yield server
        finally:
            server.stop()


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _encode(args: Tuple[Union[str, bytes, int, float], ...]) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def _read_reply(stream: BinaryIO) -> Union[RedisReply, RedisReplyError]:
    line = stream.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("redis-server closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        return RedisReplyError(rest.decode(errors="replace"))
    if kind == b":":
        return int(rest)
    if kind == b"$":
        length = int(rest)
        if length < 0:
            return None
        data = stream.read(length + 2)
        if len(data) != length + 2:
            raise ConnectionError("redis-server closed the connection")
        return data[:-2]
    if kind == b"*":
        count = int(rest)
        if count < 0:
            return None
        items: List[RedisReply] = []
        for _ in range(count):
            item = _read_reply(stream)
            if isinstance(item, RedisReplyError):
                raise item
            items.append(item)
        return items
    raise ConnectionError(f"not a RESP reply: {line!r}")
