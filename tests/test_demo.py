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

    demo = subprocess.Popen(
        [sys.executable, "-m", "fastbreaker", "demo", "--duration", "30", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert demo.stdout is not None
        first_line = demo.stdout.readline()  # the demo has started
        assert first_line.startswith("fastbreaker demo:")
        time.sleep(0.5)
        demo.send_signal(signal.SIGINT)
        out, err = demo.communicate(timeout=30)
    finally:
        demo.kill()
    assert demo.returncode == 130
    assert "interrupted after" in out and "summary:" in out
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
