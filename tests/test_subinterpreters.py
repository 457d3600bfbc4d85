"""Sub-interpreters (mod_wsgi runs applications in them): a clear ImportError there, and the main
interpreter's breakers untouched, whichever imports first."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

try:  # the private module that runs code in a sub-interpreter (3.13 renamed it)
    import _interpreters as interpreters  # type: ignore[import-not-found]
except ImportError:
    try:
        import _xxsubinterpreters as interpreters  # type: ignore[import-not-found,no-redef]
    except ImportError:
        interpreters = None

pytestmark = pytest.mark.skipif(interpreters is None, reason="no sub-interpreter module")

RUNNER = textwrap.dedent(
    """
    try:
        import _interpreters as interpreters
    except ImportError:
        import _xxsubinterpreters as interpreters

    def in_sub_interpreter(code):
        interp = interpreters.create()
        try:
            result = interpreters.run_string(interp, code)
            # 3.13 returns the error; 3.9-3.12 raise it.
            return None if result is None else result
        except Exception as error:
            return error
        finally:
            interpreters.destroy(interp)

    SUB = '''
    try:
        import fastbreaker
    except ImportError as error:
        # Ours says "sub-interpreter"; from 3.12 an isolated interpreter may be refused by
        # CPython itself first ("does not support loading in subinterpreters").
        assert "interpreter" in str(error), error
        outcome = "refused"
    else:
        fastbreaker.CircuitBreaker(name="sub").open()
        outcome = "imported"
    assert outcome == "refused", outcome
    '''
    """
)


def run(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", RUNNER + textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_sub_interpreter_is_refused_and_the_main_one_keeps_working():
    result = run(
        """
        import logging
        import fastbreaker
        logging.basicConfig(level=logging.INFO)
        breaker = fastbreaker.CircuitBreaker(name="main", failure_threshold=1)
        error = in_sub_interpreter(SUB)
        assert error is None, error
        breaker.open()
        breaker.reset()
        assert breaker.state == "closed"
        wrapped = breaker(lambda: "ok")
        assert wrapped() == "ok"
        print("main ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert "main ok" in result.stdout
    assert "Exception ignored" not in result.stderr
    # The main interpreter's transitions are logged by the main interpreter's logging.
    assert "circuit breaker 'main' closed -> open" in result.stderr


def test_a_sub_interpreter_importing_first_does_not_block_the_main_one():
    result = run(
        """
        error = in_sub_interpreter(SUB)
        assert error is None, error
        import fastbreaker
        assert fastbreaker.CircuitBreaker()(lambda: 7)() == 7
        print("main ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert "main ok" in result.stdout
