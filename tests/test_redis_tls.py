"""A shared store over TLS (``rediss://``): a private redis-server with a certificate of a private
CA, made for the test with the ``openssl`` command."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest
from fastbreaker import CircuitBreaker, CircuitBreakerError, RedisStore

needed = [tool for tool in ("openssl", "redis-server") if shutil.which(tool) is None]
if needed and not os.environ.get("CI"):
    pytest.skip(f"needs {', '.join(needed)}", allow_module_level=True)


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, and a server certificate it signed for 127.0.0.1."""
    d = tmp_path_factory.mktemp("tls")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.pem", "-days", "2", "-subj", "/CN=fastbreaker test CA", cwd=d)  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out",
            "server.csr", "-subj", "/CN=127.0.0.1", cwd=d)  # fmt: skip
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf",
            cwd=d)  # fmt: skip
    return d


@pytest.fixture(scope="module")
def tls_url(certificates: Path) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    d = str(certificates)
    server = subprocess.Popen(
        ["redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", f"{d}/server.pem", "--tls-key-file", f"{d}/server.key",
         "--tls-ca-cert-file", f"{d}/ca.pem", "--tls-auth-clients", "no",
         "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "redis-server (TLS) did not start"
                assert server.poll() is None, "redis-server (TLS) exited: built without TLS?"
                time.sleep(0.02)
        yield f"rediss://127.0.0.1:{port}/0"
    finally:
        server.kill()
        server.wait()


def fail() -> None:
    raise ConnectionError("down")


def test_breakers_share_state_over_tls(certificates: Path, tls_url: str) -> None:
    # Two stores: two processes' worth of connections, subscriber threads and caches.
    ca = certificates / "ca.pem"
    first, second = (
        CircuitBreaker(
            name="tls-shared",
            failure_threshold=2,
            store=RedisStore(tls_url, ssl_ca_certs=ca, timeout=1.0),
        )
        for _ in range(2)
    )
    with pytest.raises(ConnectionError):
        first.call(fail)
    with pytest.raises(ConnectionError):
        second.call(fail)  # the second failure in a row of the fleet
    for breaker in (first, second):
        status = breaker.get_status()
        assert (status["state"], status["store"], status["store_reachable"]) == (
            "open",
            tls_url,
            True,
        )
    with pytest.raises(CircuitBreakerError):
        first.call(lambda: None)


def test_a_server_whose_certificate_is_not_trusted_is_unreachable(tls_url: str) -> None:
    # Without the private CA, the system's roots do not trust the server: the breaker goes on
    # in-process (the default), and says so.
    breaker = CircuitBreaker(name="tls-untrusted", store=RedisStore(tls_url, timeout=1.0))
    assert breaker.call(lambda: "served") == "served"
    status = breaker.get_status()
    assert (status["state"], status["store_reachable"]) == ("closed", False)


def test_tls_options_are_checked(certificates: Path, tls_url: str) -> None:
    with pytest.raises(ValueError, match="ssl_ca_certs: cannot read"):
        RedisStore(tls_url, ssl_ca_certs=certificates / "missing.pem")
    with pytest.raises(TypeError, match="ssl_ca_certs must be a path"):
        RedisStore(tls_url, ssl_ca_certs=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ssl_certfile needs ssl_keyfile"):
        RedisStore(tls_url, ssl_certfile=certificates / "server.pem")
    with pytest.raises(ValueError, match="not a rediss:// URL"):
        RedisStore("redis://127.0.0.1:6379/0", ssl_ca_certs=certificates / "ca.pem")
