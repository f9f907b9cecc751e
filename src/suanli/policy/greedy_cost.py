"""``greedy-cost``: start each job now where its expected energy cost is lowest.

Waiting jobs are taken in queue order — higher effective priority first, then arrival
(:mod:`suanli.policy.priority`); each starts at once on the candidate
that has room and the lowest expected cost (:func:`suanli.policy.costs.estimate`:
energy at the site's tariff net of subsidies over the job's expected run, plus
data egress). A job that fits nowhere is skipped, not waited for, so small jobs
may overtake large ones (no reservation: large gangs can starve under load), and a
lower-priority job may start where a higher-priority one does not fit. It never preempts.
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
            best: tuple[float, int, Candidate] | None = None
            for i, c in enumerate(jobs.candidates(j)):
                if cap.why_not(tenant, c) is None:
                    cost = estimate(inp, j, c, inp.now, carbon=False).cost
                    if best is None or cost < best[0]:
                        best = (cost, i, c)
            if best is None:
                scan.skip(sig)
                out.sig_reasons[sig] = explain(inp, j)
                continue
            cap.take(tenant, best[2])
            out.starts.append(Start(j, best[2], _cheapest(inp, best[0])))
        return out


def _cheapest(inp: PolicyInput, cost: float) -> str:
    """Why a job started where it did: the cheapest of its places with room."""
    return (
        f"cheapest of its places with room now (expected energy and data cost "
        f"{cost:,.2f} {inp.tables.scenario.currency})"
    )
