"""Clocks for the live control plane and its sites: the system's, or one a test steps.

The scheduling core reads no clock (every change takes ``now``); the live control plane and
the dry-run sites read one of these, so that a test can drive them through exactly the
instants a simulation visits (:class:`SteppedClock`).
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Wall-clock time (POSIX seconds) and a monotonic reading for intervals."""

    def time(self) -> float:
        """POSIX seconds now."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for intervals and timeouts)."""
        ...


class SystemClock:
    """The machine's clocks."""

    def time(self) -> float:
        """``time.time()``."""
        return time.time()

    def monotonic(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()


class SteppedClock:
    """A clock that stands still until :meth:`set` moves it (both readings alike)."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def set(self, now: float) -> None:
        """Move to ``now`` (never back)."""
        if now < self.now:
            raise ValueError(f"a stepped clock cannot go back from {self.now} to {now}")
        self.now = now

    def time(self) -> float:
        """The current instant."""
        return self.now

    def monotonic(self) -> float:
        """The current instant."""
        return self.now
