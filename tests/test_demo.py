"""`python -m fastbreaker demo` end to end."""

from __future__ import annotations

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
    for duration in ("1", "nan"):
        bad = subprocess.run([*run, "demo", "--duration", duration], capture_output=True, text=True)
        assert bad.returncode == 2 and "--duration" in bad.stderr
    assert subprocess.run(run, capture_output=True, text=True).returncode == 2
