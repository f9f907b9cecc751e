"""``fifo-het``: first come, first served on the fastest free devices, moving running
jobs up as faster ones free.

The strongest simple heterogeneity-aware baseline (the FIFO of Gavel's evaluation, where
every round puts each job on the best free device type): each round

1. **moves** running jobs, oldest first, each to the fastest of its candidates with room
   when that is faster than where it runs (:mod:`suanli.policy.moves`); a move keeps the
   job's last checkpoint and pays its restart and the checkpoint's copy
   (:mod:`suanli.core.migration`) — unlike Gavel's simulator, where moving is free —
   but ``fifo-het`` does not weigh that cost against the gain;
2. **starts** waiting jobs in arrival order, each on the fastest of its candidates with
   room of its most preferred accelerator type with room (a job's list of accepted types is
   an order, as for ``fifo``; ties: the nearest). A job that fits nowhere does not block
   those behind it. Moves, likewise, never take a job down its list.

**Priorities** (:mod:`suanli.policy.priority`): moves and starts go by effective
priority, highest level first; within a level, moves (oldest first) come before starts
(arrival order), as above. So a running job moves onto faster devices only after every
waiting job of a higher priority has had its pick, and a move displaces no one.

Devices a move leaves are free in the round's next pass (``again``), so the queue gets
them at once. A job only ever moves to faster devices, so it moves at most once per
distinct speed of its candidates between two starts; ``min_interval_s`` can space the
moves further.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import numpy as np

from suanli.core.policy import Migrate, PolicyInput, PolicyOutput, PolicyParams, Running, Start
from suanli.policy.common import JobScan, explain
from suanli.policy.moves import faster_with_room, movable
from suanli.policy.priority import LevelScan, Priorities
from suanli.policy.registry import register

#: Why a job started or moved.
FASTEST_FREE = "next in arrival order, on the fastest free devices it accepts"
#: Why a job started, when jobs have several effective priorities.
FASTEST_FREE_BY_PRIORITY = (
    "next in queue order (higher priority first, then arrival), on the fastest free devices "
    "it accepts"
)
MOVED_UP = "faster devices it accepts freed up (fifo-het moves the oldest jobs first)"


@register("fifo-het")
class FifoHet:
    """FIFO on the fastest free devices, with moves (see the module docstring)."""

    name = "fifo-het"
    moves_jobs = True

    class Params(PolicyParams):
        """How often it runs without events, and the least time between moves of a job."""

        tick_s: float = 300.0
        min_interval_s: float = 0.0

    def __init__(self, params: Params, rng: np.random.Generator) -> None:
        self.tick_s = params.tick_s
        self.min_interval_s = params.min_interval_s
        self.priorities = Priorities()

    def decide(self, inp: PolicyInput) -> PolicyOutput:
        """Moves, then starts in arrival order on the fastest free candidate (by level of
        priority, highest first, when jobs have several)."""
        out = PolicyOutput(default_reason="waiting: no free devices it accepts")
        if not (inp.full or inp.freed or inp.arrived):
            return out
        pr = self.priorities.update(inp)
        scan = pr.scan(inp)
        if isinstance(scan, LevelScan):
            on = _running_by_level(inp, pr) if inp.full or inp.freed else None
            for level, part in enumerate(scan.parts):
                if on is not None:  # movable() over this level's running jobs only
                    mine = dataclasses.replace(inp, running_on=on[level].__getitem__)
                    self._moves(inp, out, movable(mine, self.min_interval_s))
                self._starts(inp, out, part, scan, FASTEST_FREE_BY_PRIORITY)
        else:
            self._moves(inp, out, movable(inp, self.min_interval_s))
            self._starts(inp, out, scan, scan, FASTEST_FREE)
        out.again = bool(out.migrates)
        return out

    @staticmethod
    def _moves(inp: PolicyInput, out: PolicyOutput, runs: Iterable[Running]) -> None:
        """Move ``runs`` (oldest first) up to the fastest free devices faster than theirs."""
        cap = inp.capacity
        jobs = inp.jobs
        for run in runs:
            to = faster_with_room(inp, run)
            if to:
                cap.take(jobs.tenant[run.job], to[0])
                out.migrates.append(Migrate(run.job, to[0], MOVED_UP))

    @staticmethod
    def _starts(
        inp: PolicyInput,
        out: PolicyOutput,
        jobs_in: JobScan,
        scan: JobScan | LevelScan,
        why: str,
    ) -> None:
        """Start the jobs of ``jobs_in`` in order, each on the fastest free candidate;
        a signature that fits nowhere is skipped in the whole ``scan``."""
        cap = inp.capacity
        jobs = inp.jobs
        for j in jobs_in:
            tenant = jobs.tenant[j]
            best = None
            for c in jobs.candidates(j):  # by preference rank, then distance
                if best is not None and c.rank > best.rank:
                    break
                if (best is None or c.rate > best.rate) and cap.why_not(tenant, c) is None:
                    best = c
            if best is None:
                out.reasons[j] = explain(inp, j)
                scan.skip(jobs.signature(j))
                continue
            cap.take(tenant, best)
            out.starts.append(Start(j, best, why))


def _running_by_level(inp: PolicyInput, pr: Priorities) -> list[list[list[int]]]:
    """The running jobs of each pool (``[level][pool]``), by level of priority."""
    on: list[list[list[int]]] = [[[] for _ in range(inp.tables.n_pools)] for _ in pr.levels]
    rank = pr.rank
    for p in range(inp.tables.n_pools):
        for j in inp.running_on(p):
            on[rank(j)][p].append(j)
    return on
