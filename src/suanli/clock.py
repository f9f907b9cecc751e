"""Clocks for the live control plane and its sites: the system's, one a test steps, or one
that runs faster than the wall clock.

The scheduling core reads no clock (every change takes ``now``); the live control plane and
the dry-run sites read one of these, so that a test can drive them through exactly the
instants a simulation visits (:class:`SteppedClock`), and a replay can run a day of
scenario time in minutes against real clusters (:class:`ScaledClock`). ``time()`` is the
control plane's time (POSIX seconds, in scenario time when scaled); ``monotonic()`` is for
intervals that must pass in real time (polling, timeouts); ``scale`` is how many seconds
of ``time()`` pass per real second; ``from_wall`` turns a real POSIX time a site reports
into ``time()``'s terms.
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

    @property
    def scale(self) -> float:
        """Seconds of :meth:`time` per real second."""
        ...

    def from_wall(self, t: float) -> float:
        """A real POSIX time (a site's report) as a time of this clock."""
        ...


class SystemClock:
    """The machine's clocks."""

    scale = 1.0

    def time(self) -> float:
        """``time.time()``."""
        return time.time()

    def monotonic(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    def from_wall(self, t: float) -> float:
        """``t`` itself."""
        return t


class ScaledClock:
    """Scenario time running ``scale`` times faster than the wall clock: at the real time
    ``real0`` it reads ``epoch0`` (the scenario's start), and ``scale`` seconds later each
    real second. Intervals (:meth:`monotonic`) stay real."""

    def __init__(self, epoch0: float, scale: float, real0: float | None = None) -> None:
        if scale <= 0:
            raise ValueError(f"a clock's scale must be positive, not {scale}")
        self.epoch0 = epoch0
        self.scale = scale
        self.real0 = time.time() if real0 is None else real0

    def time(self) -> float:
        """Scenario time now (POSIX seconds)."""
        return self.from_wall(time.time())

    def monotonic(self) -> float:
        """``time.monotonic()``: real seconds."""
        return time.monotonic()

    def from_wall(self, t: float) -> float:
        """The scenario time at the real time ``t``."""
        return self.epoch0 + (t - self.real0) * self.scale

    def to_wall(self, t: float) -> float:
        """The real time at which this clock reads ``t``."""
        return self.real0 + (t - self.epoch0) / self.scale


class SteppedClock:
    """A clock that stands still until :meth:`set` moves it (both readings alike)."""

    scale = 1.0

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

    def from_wall(self, t: float) -> float:
        """``t`` itself (sites on a stepped clock report its times)."""
        return t
