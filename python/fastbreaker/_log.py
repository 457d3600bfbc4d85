"""How fastbreaker logs, called from the core.

Logging must never change what a breaker does or leak into a protected call: an error raised by a
filter or a handler on the ``fastbreaker`` logger is reported the way :mod:`logging` reports its
own errors (a traceback on stderr while ``logging.raiseExceptions`` is true), and swallowed.
"""

from __future__ import annotations

import logging
import sys
import traceback
from typing import Any, Callable

logger = logging.getLogger("fastbreaker")


def _report(what: str) -> None:
    if logging.raiseExceptions and sys.stderr is not None:
        try:
            sys.stderr.write(f"--- Logging error in fastbreaker ({what}) ---\n")
            traceback.print_exc(file=sys.stderr)
        except Exception:  # stderr itself is broken: nothing more can be done
            pass


def log(level: int, message: str) -> None:
    """Logs ``message`` at ``level``, never raising."""
    try:
        if logger.isEnabledFor(level):
            logger.log(level, message)
    except Exception:
        _report(message)


def listener_failed(listener: Callable[..., Any], breaker_name: str, error: BaseException) -> None:
    """Reports, once, that a listener raised (later errors of the same listener are not logged)."""
    try:
        logger.error(
            "listener %r of circuit breaker %r raised; its later errors will not be logged",
            listener,
            breaker_name,
            exc_info=error,
        )
    except Exception:
        _report(f"listener {listener!r} of circuit breaker {breaker_name!r} raised")


def predicate_failed(
    what: str, predicate: Callable[..., Any], breaker_name: str, error: BaseException
) -> None:
    """Reports, once per breaker, that ``result_is_failure`` or ``exception_is_failure`` raised:
    the call's outcome was ignored, and the caller got the call's own result or exception."""
    try:
        logger.error(
            "%s %r of circuit breaker %r raised; the call's outcome is ignored (later errors of "
            "this breaker's predicates will not be logged)",
            what,
            predicate,
            breaker_name,
            exc_info=error,
        )
    except Exception:
        _report(f"{what} {predicate!r} of circuit breaker {breaker_name!r} raised")
