"""The three states of a circuit, as a ``str`` enum (``CircuitState.OPEN == "open"``)."""

from __future__ import annotations

from enum import Enum

__all__ = ["CircuitState"]


class CircuitState(str, Enum):
    """The state of a circuit. Compares equal to its lower-case name."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"

    def __str__(self) -> str:
        return self.value
