"""``greedy-cost``: start each job now where its expected energy cost is lowest.

Waiting jobs are taken in queue order — higher effective priority first, then arrival
(:mod:`suanli.policy.priority`); each starts at once on the candidate
that has room and the lowest expected cost (:func:`suanli.policy.costs.estimate`:
energy at the site's tariff net of subsidies over the job's expected run, plus
data egress) among those of its most preferred accelerator type with room: a job's list
of accepted types is an order, as for ``fifo`` (the cheapest place of its first choice,
the second choice only where the first has no room). A job that fits nowhere is skipped,
not waited for, so small jobs may overtake large ones (no reservation: large gangs can
starve under load), and a lower-priority job may start where a higher-priority one does not
fit. It never preempts. Carbon, and the scenario's carbon price, are not looked at.
"""

from __future__ import annotations

import numpy as np

from suanli.core.jobtable import Candidate
from suanli.core.policy import PolicyInput, PolicyOutput, PolicyParams, Start
from suanli.policy.common import explain
from suanli.policy.costs import estimate
from suanli.policy.priority import Priorities
from suanli.policy.registry import register


@register("greedy-cost")
class GreedyCost:
    """Cheapest feasible place, now."""

    name = "greedy-cost"

    class Params(PolicyParams):
        """Knobs of greedy-cost."""

        tick_s: float = 300.0
        max_jobs_per_round: int = 2000

    def __init__(self, params: Params, rng: np.random.Generator) -> None:
        self.tick_s = params.tick_s
        self.depth = params.max_jobs_per_round
        self.priorities = Priorities()

    def decide(self, inp: PolicyInput) -> PolicyOutput:
        """Start every job that fits somewhere, on its cheapest candidate."""
        out = PolicyOutput(default_reason="no room on any of its pools when last checked")
        cap = inp.capacity
        jobs = inp.jobs
        scan = self.priorities.update(inp).scan(inp)
        for n, j in enumerate(scan):
            if n >= self.depth:
                break
            sig = jobs.signature(j)
            tenant = jobs.tenant[j]
            best: tuple[int, float, Candidate] | None = None
            for c in jobs.candidates(j):  # by preference rank, then distance
                if best is not None and c.rank > best[0]:
                    break
                if cap.why_not(tenant, c) is None:
                    cost = estimate(inp, j, c, inp.now, carbon=False).cost
                    if best is None or cost < best[1]:
                        best = (c.rank, cost, c)
            if best is None:
                scan.skip(sig)
                out.sig_reasons[sig] = explain(inp, j)
                continue
            cap.take(tenant, best[2])
            out.starts.append(Start(j, best[2], _cheapest(inp, best[1])))
        return out


def _cheapest(inp: PolicyInput, cost: float) -> str:
    """Why a job started where it did: the cheapest of its places with room."""
    return (
        f"cheapest of its places with room now (expected energy and data cost "
        f"{cost:,.2f} {inp.tables.scenario.currency})"
    )
