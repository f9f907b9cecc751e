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
   room (ties: the job's own order of candidates — preferred type, then nearest). A job
   that fits nowhere does not block those behind it.

Devices a move leaves are free in the round's next pass (``again``), so the queue gets
them at once. A job only ever moves to faster devices, so it moves at most once per
distinct speed of its candidates between two starts; ``min_interval_s`` can space the
moves further.
"""

from __future__ import annotations

import numpy as np

from suanli.core.policy import Migrate, PolicyInput, PolicyOutput, PolicyParams, Start
from suanli.policy.common import JobScan, explain
from suanli.policy.moves import faster_with_room, movable
from suanli.policy.registry import register

#: Why a job started or moved.
FASTEST_FREE = "next in arrival order, on the fastest free devices it accepts"
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

    def decide(self, inp: PolicyInput) -> PolicyOutput:
        """Moves, then starts in arrival order on the fastest free candidate."""
        out = PolicyOutput(default_reason="waiting: no free devices it accepts")
        if not (inp.full or inp.freed or inp.arrived):
            return out
        cap = inp.capacity
        jobs = inp.jobs
        for run in movable(inp, self.min_interval_s):
            to = faster_with_room(inp, run)
            if to:
                cap.take(jobs.tenant[run.job], to[0])
                out.migrates.append(Migrate(run.job, to[0], MOVED_UP))
        scan = JobScan(inp)
        for j in scan:
            tenant = jobs.tenant[j]
            best = None
            for c in jobs.candidates(j):
                if (best is None or c.rate > best.rate) and cap.why_not(tenant, c) is None:
                    best = c
            if best is None:
                out.reasons[j] = explain(inp, j)
                scan.skip(jobs.signature(j))
                continue
            cap.take(tenant, best)
            out.starts.append(Start(j, best, FASTEST_FREE))
        out.again = bool(out.migrates)
        return out
