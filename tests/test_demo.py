"""`python -m fastbreaker demo` end to end."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest


@pytest.mark.timeout(60)
def test_the_demo_shows_all_three_states():
    # The shortest run the demo allows: its timeline scales with the duration.
    result = subprocess.run(
        [sys.executable, "-m", "fastbreaker", "demo", "--duration", "1.5", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "closed -> open" in out
    assert "open -> half_open" in out
    assert "half_open -> closed" in out
    # Each line says what made the transition; a closing names the trials that closed it.
    assert "after 5 consecutive failures" in out
    assert "half_open -> closed   after 2 successful trials" in out
    assert "health endpoint: curl http://127.0.0.1:" in out
    summary = out.split("summary:", 1)[1]
    assert summary.count("[ok]") == 4 and "FAILED" not in summary


def test_a_port_in_use_is_a_clear_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "fastbreaker", "demo", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 2
    assert f"port {port} is already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_and_bad_arguments():
    run = [sys.executable, "-m", "fastbreaker"]
    help_text = subprocess.run([*run, "demo", "--help"], capture_output=True, text=True)
    assert help_text.returncode == 0 and "--duration" in help_text.stdout
    assert "``" not in help_text.stdout and "Ctrl-C" in help_text.stdout  # plain text
    for duration in ("1", "nan"):
        bad = subprocess.run([*run, "demo", "--duration", duration], capture_output=True, text=True)
        assert bad.returncode == 2 and "--duration" in bad.stderr
    assert subprocess.run(run, capture_output=True, text=True).returncode == 2


@pytest.mark.timeout(60)
def test_ctrl_c_ends_the_demo_with_its_summary_and_no_traceback():
    import signal
    import time

    # Ctrl-C at a terminal reaches a demo whose SIGINT is at its default. A test run started in
    # the background by a non-interactive shell (`bash .ci/run &`) has SIGINT ignored, and a
    # child inherits that (Python then installs no KeyboardInterrupt handler): the demo would
    # run its 30 s. A handled signal is reset to its default in a new program, so SIGINT is
    # handled here while the demo starts.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        demo = subprocess.Popen(
            [sys.executable, "-m", "fastbreaker", "demo", "--duration", "30", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        assert demo.stdout is not None
        first_line = demo.stdout.readline()  # the demo has started
        assert first_line.startswith("fastbreaker demo:")
        time.sleep(0.5)
        demo.send_signal(signal.SIGINT)
        out, err = demo.communicate(timeout=30)
    finally:
        demo.kill()
        demo.communicate()  # reaped, its pipes closed, whatever happened
    assert demo.returncode == 130
    assert "interrupted after" in out and "summary:" in out
    assert "Traceback" not in err and "KeyboardInterrupt" not in err


# --- fleet mode: --workers N --store redis://... ------------------------------------------------


@pytest.mark.timeout(120)
def test_the_fleet_demo_opens_every_worker_at_once_and_lets_one_trial_through(redis_server):
    """Four processes, one breaker shared through the private Redis. Catches breakers that do not
    share their state (each worker would open by itself after its own failures, and the others
    would not learn it), learned transitions that never reach the listeners, and a trial cap per
    process instead of per fleet (a recovery window would let up to four trials through)."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fastbreaker",
            "demo",
            "--workers",
            "4",
            "--store",
            redis_server.url,
            "--duration",
            "3",
            "--port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=110,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "4 processes call a flaky service" in out
    opened = [line for line in out.splitlines() if ": closed -> open" in line]
    # One worker made the transition (5 failures counted across the fleet); three learned it.
    assert len(opened) == 4, out
    assert {line.split("worker ", 1)[1].split(":")[0] for line in opened} == {"1", "2", "3", "4"}
    assert sum("after 5 consecutive failures, counted across the fleet" in x for x in opened) == 1
    assert sum("learned from another process" in x for x in opened) == 3
    # Every half_open window let exactly one trial reach the service (two, one after the other,
    # in the window that closed the circuit).
    windows = [x.strip() for x in out.splitlines() if x.startswith("  recovery window ")]
    assert windows and windows[-1].endswith(
        "2 trial(s) reached the service, 1 at most at once -> closed"
    )
    assert all(w.endswith("1 trial(s) reached the service -> open") for w in windows[:-1]), out
    summary = out.split("summary:", 1)[1]
    assert summary.count("[ok]") == 4 and "FAILED" not in summary, out
    # The state lived in the Redis it was given, under the demo's own namespace (with a TTL).
    namespace = out.split("(namespace ", 1)[1].split(")", 1)[0]
    key = f"{{{namespace}:demo-matching-service}}"
    assert redis_server.command("EXISTS", key) == 1
    assert 0 < redis_server.command("TTL", key) <= 600


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.timeout(60)
def test_the_fleet_demo_without_redis_says_how_to_run_one(tmp_path):
    port = _free_port()  # nothing listens there
    run = [sys.executable, "-m", "fastbreaker", "demo", "--workers", "2", "--port", "0"]
    result = subprocess.run(
        [*run, "--store", f"redis://127.0.0.1:{port}/0"], capture_output=True, text=True, timeout=50
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"cannot reach Redis at redis://127.0.0.1:{port}/0" in result.stderr
    assert f"redis-server --port {port} --save ''" in result.stderr
    assert "fastbreaker.testing.redis_server()" in result.stderr
    assert "Traceback" not in result.stderr and "fastbreaker demo:" not in result.stdout
    # Without redis-server installed, the message says to install it.
    environment = {**os.environ, "PATH": str(tmp_path)}
    result = subprocess.run(
        [*run, "--store", f"redis://127.0.0.1:{port}/0"],
        capture_output=True,
        text=True,
        timeout=50,
        env=environment,
    )
    assert result.returncode == 2
    assert "redis-server is not installed here" in result.stderr
    assert "apt-get install redis-server" in result.stderr


def test_fleet_arguments_are_checked():
    run = [sys.executable, "-m", "fastbreaker", "demo"]
    environment = {k: v for k, v in os.environ.items() if k != "FASTBREAKER_STORE_URL"}
    alone = subprocess.run(
        [*run, "--workers", "2"], capture_output=True, text=True, env=environment
    )
    assert alone.returncode == 2 and "--workers needs --store" in alone.stderr
    for workers in ("0", "33"):
        bad = subprocess.run(
            [*run, "--workers", workers, "--store", "redis://127.0.0.1:1/0"],
            capture_output=True,
            text=True,
        )
        assert bad.returncode == 2 and "--workers must be between 1 and 32" in bad.stderr
    url = subprocess.run(
        [*run, "--store", "http://127.0.0.1:6379/0"], capture_output=True, text=True, timeout=30
    )
    assert url.returncode == 2 and "error: --store:" in url.stderr, url.stderr
    assert "url" in url.stderr and "Traceback" not in url.stderr
