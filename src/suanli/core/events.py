"""The event queue: one heap with a total, deterministic order.

Entries are ``(time, kind, sequence, a, b)``. At equal times events run in the
order of :class:`EventKind` (accounting boundaries first, then finishes, which
free capacity before new work is placed), and within a kind in the order they
were pushed (``sequence``). Nothing else — in particular no object identity or
hash order — decides which event runs first.
"""

from __future__ import annotations

import heapq
from enum import IntEnum


class EventKind(IntEnum):
    """Kinds of events, in the order they run at equal times."""

    HOUR = 0  # an hour boundary: prices and carbon intensity change
    FINISH = 1  # a job completes its work
    RECOVERY = 2  # failed nodes come back
    FAILURE = 3  # nodes or a site go down (their jobs are preempted)
    COMPUTE_START = 4  # data transfer and restart are over: the job starts computing
    ARRIVAL = 5  # a job is submitted
    WAKE = 6  # a deferred job returns to the queue
    TICK = 7  # a periodic scheduling round
    SLEEP = 8  # an idle node is suspended (power saving)
    SERVE = 9  # a serving tick: account for the interval, scale services
    DRAIN = 10  # a drained service replica frees its devices


Event = tuple[float, int, int, int, int]


class EventQueue:
    """A min-heap of events ``(time, kind, seq, a, b)``; ``a``/``b`` are integer payloads."""

    def __init__(self) -> None:
        self._heap: list[Event] = []
        self._seq = 0

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, time: float, kind: EventKind, a: int = 0, b: int = 0) -> None:
        """Schedule an event."""
        self._seq += 1
        heapq.heappush(self._heap, (time, int(kind), self._seq, a, b))

    def extend(self, events: list[tuple[float, EventKind, int, int]]) -> None:
        """Schedule many events at once (in list order for equal time and kind)."""
        for time, kind, a, b in events:
            self._seq += 1
            self._heap.append((time, int(kind), self._seq, a, b))
        heapq.heapify(self._heap)

    def peek_time(self) -> float:
        """Time of the next event (``inf`` when empty)."""
        return self._heap[0][0] if self._heap else float("inf")

    def pop(self) -> Event:
        """Remove and return the next event."""
        return heapq.heappop(self._heap)
