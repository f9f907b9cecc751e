"""``fifo``: first come, first served; first fit; nearest site first.

Jobs start strictly in queue order — higher effective priority first, then arrival
(:mod:`suanli.policy.priority`). Each goes to the first of its
candidates that has room — in the job's order of preference of accelerator
types, then by distance from its data (or its tenant's home site). When the job
at the head of the queue fits nowhere, no job behind it starts (head-of-line
blocking: this is what EASY backfilling improves on) — with priorities, the head is the
highest-priority job that does not fit. It never preempts.
"""

from __future__ import annotations

import numpy as np

from suanli.core.policy import PolicyInput, PolicyOutput, PolicyParams, Start
from suanli.policy.common import explain
from suanli.policy.priority import Priorities
from suanli.policy.registry import register


@register("fifo")
class Fifo:
    """First come, first served."""

    name = "fifo"

    class Params(PolicyParams):
        """FIFO has one knob: how often it runs without events."""

        tick_s: float = 300.0

    def __init__(self, params: Params, rng: np.random.Generator) -> None:
        self.tick_s = params.tick_s
        self.priorities = Priorities()

    def decide(self, inp: PolicyInput) -> PolicyOutput:
        """Start jobs in queue order (priority, then arrival) until the first that does
        not fit."""
        out = PolicyOutput(default_reason="queued behind the head of the FIFO queue")
        if not inp.full and not inp.freed and not inp.arrived:
            return out
        cap = inp.capacity
        jobs = inp.jobs
        pr = self.priorities.update(inp)
        why = pr.in_order()
        for j in pr.order(inp):
            tenant = jobs.tenant[j]
            for c in jobs.candidates(j):
                if cap.why_not(tenant, c) is None:
                    cap.take(tenant, c)
                    out.starts.append(Start(j, c, why))
                    break
            else:
                if inp.full or out.starts or inp.freed & jobs.sig_pools[jobs.signature(j)]:
                    out.reasons[j] = "head of the FIFO queue: " + explain(inp, j)
                break
        return out
