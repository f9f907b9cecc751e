"""``las``: two-dimensional least-attained-service with preemption (Tiresias, NSDI'19).

A job's *attained service* is the device-time it has received (devices × seconds —
Tiresias's second dimension is the gang size). Jobs fall into queues by attained
service, with thresholds ``queue_limits_h`` (device-hours); lower queues come first,
and within a queue jobs keep arrival order (Tiresias's discretised 2D-LAS, which
needs no job-size estimate). A job that has waited longer than ``starve_factor`` ×
its attained service is promoted to the first queue (Tiresias's starvation rule).

Each round, waiting jobs in priority order start where they fit (first fit over
their candidates, preference first). A job that fits nowhere may preempt running,
preemptible jobs of strictly lower priority on one of its pools — the fewest,
lowest-priority ones that free enough whole nodes, one node with room, or (for a
job that takes a share of a device) a device with room — paying
their checkpoint loss and restart cost; at most one such preemption-start per pool
per round. Only jobs in a lower queue are preempted: within a queue jobs run to
completion in arrival order, which keeps two jobs from taking turns for ever.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Iterator
from itertools import islice, takewhile

import numpy as np
from pydantic import Field

from suanli.core.jobtable import Candidate
from suanli.core.policy import PolicyInput, PolicyOutput, PolicyParams, Preempt, Start
from suanli.policy.common import explain
from suanli.policy.freed import Freed
from suanli.policy.registry import register

#: Why a job starts: it has had the least service of the jobs that can start.
LEAST_FIRST = "least attained service first"


@register("las")
class Las:
    """Discretised two-dimensional least-attained-service."""

    name = "las"

    class Params(PolicyParams):
        """Knobs of 2D-LAS."""

        tick_s: float = 60.0
        queue_limits_h: tuple[float, ...] = Field((1.0, 10.0, 100.0))
        starve_factor: float = Field(10.0, gt=0)
        max_jobs_per_round: int = Field(2000, gt=0)

    def __init__(self, params: Params, rng: np.random.Generator) -> None:
        self.p = params
        self.tick_s = params.tick_s
        self.limits = [h * 3600.0 for h in params.queue_limits_h]

    def priority(self, inp: PolicyInput, j: int) -> tuple[int, float, int]:
        """(queue, submit, job): smaller is served first."""
        service = inp.attained(j)
        queue = bisect.bisect_right(self.limits, service)
        waited = inp.now - inp.jobs.submit[j] - service / max(inp.jobs.gang[j], 1)
        if queue > 0 and waited > self.p.starve_factor * max(
            service / max(inp.jobs.gang[j], 1), 1.0
        ):
            queue = 0
        return (queue, inp.jobs.submit[j], j)

    def in_priority_order(self, inp: PolicyInput) -> Iterator[tuple[int, float, int]]:
        """Waiting jobs by priority without sorting the whole queue: jobs that never ran
        have no service (queue 0) and come in arrival order; only requeued jobs (few)
        are sorted."""
        requeued = sorted(self.priority(inp, j) for j in inp.requeued)
        fresh = ((0, inp.jobs.submit[j], j) for j in inp.waiting if j not in inp.requeued)
        first = [p for p in requeued if p[0] == 0]
        rest = [p for p in requeued if p[0] > 0]
        yield from heapq.merge(fresh, first)
        yield from rest

    def decide(self, inp: PolicyInput) -> PolicyOutput:
        """Start by priority; preempt lower-priority jobs for a job that fits nowhere."""
        out = PolicyOutput(default_reason="queued behind jobs with less attained service")
        if not (inp.full or inp.arrived or inp.freed):
            return out
        cap = inp.capacity
        jobs = inp.jobs
        waiting = list(islice(self.in_priority_order(inp), self.p.max_jobs_per_round))
        touched: set[int] = set()  # pools with a preemption planned: no other start there
        used: set[int] = set()  # pools with an ordinary start: no preemption plan there
        victims: set[int] = set()
        # Within a round capacity only shrinks, and jobs come in increasing queue order, so
        # a tenant's signature that could neither start nor preempt stays blocked: its later
        # jobs get the same explanation without being tried again.
        blocked: dict[tuple[int, int], str] = {}
        ranked: dict[int, list[tuple[tuple[int, float, int], int]]] = {}
        for prio in waiting:
            j = prio[2]
            tenant = jobs.tenant[j]
            sig = (jobs.signature(j), tenant)
            if sig in blocked:
                out.reasons[j] = f"queue {prio[0]}: {blocked[sig]}"
                continue
            cand = next(
                (
                    c
                    for c in jobs.candidates(j)
                    if c.pool not in touched and cap.why_not(tenant, c) is None
                ),
                None,
            )
            if cand is not None:
                cap.take(tenant, cand)
                out.starts.append(Start(j, cand, f"{LEAST_FIRST} (priority queue {prio[0]})"))
                used.add(cand.pool)
                continue
            plan = self._preempt_for(inp, j, prio, touched | used, victims, ranked)
            if plan is None:
                blocked[sig] = explain(inp, j)
                out.reasons[j] = f"queue {prio[0]}: {blocked[sig]}"
                continue
            cand, chosen = plan
            freed_w = sum(inp.running[v].candidate.busy_w for v in chosen)
            cap.adjust(tenant, cand.pool, cand.busy_w - freed_w, cand.milli)
            for v in chosen:
                if jobs.tenant[v] != tenant:
                    continue
                cap.adjust(jobs.tenant[v], cand.pool, 0.0, -inp.running[v].candidate.milli)
            for v in chosen:
                victims.add(v)
                out.preempts.append(
                    Preempt(v, f"preempted by {jobs.ids[j]} (less attained service)")
                )
            touched.add(cand.pool)
            n = len(chosen)
            why = (
                f"{LEAST_FIRST} (priority queue {prio[0]}): preempting {n} "
                f"job{'s' if n != 1 else ''} with more"
            )
            out.starts.append(Start(j, cand, why))
        return out

    def _preempt_for(
        self,
        inp: PolicyInput,
        j: int,
        prio: tuple[int, float, int],
        touched: set[int],
        victims: set[int],
        ranked: dict[int, list[tuple[tuple[int, float, int], int]]],
    ) -> tuple[Candidate, list[int]] | None:
        """Lower-priority running jobs whose devices would let ``j`` start, on one pool.

        ``ranked`` caches, per pool and round, its preemptible running jobs from the lowest
        priority down."""
        tenant = inp.jobs.tenant[j]
        for c in inp.jobs.candidates(j):
            if c.pool in touched:
                continue
            if inp.capacity.why_not(tenant, c) != "devices":
                continue  # power or quota bound: checked below once victims are chosen
            order = ranked.get(c.pool)
            if order is None:
                order = ranked[c.pool] = sorted(
                    (
                        (self.priority(inp, r), r)
                        for r in inp.running_on(c.pool)
                        if inp.jobs.preemptible[r]
                    ),
                    reverse=True,
                )
            lower = [  # lower queues only
                (pr, r)
                for pr, r in takewhile(lambda x: x[0][0] > prio[0], order)
                if r not in victims
            ]
            if not lower:
                continue
            freed = Freed(inp, c.pool)
            chosen: list[int] = []
            for _, r in lower:
                chosen.append(r)
                freed.stop(r)
                if freed.fits(c) and self._power_and_quota_ok(inp, j, c, chosen):
                    return c, chosen
        return None

    @staticmethod
    def _power_and_quota_ok(inp: PolicyInput, j: int, c: Candidate, chosen: list[int]) -> bool:
        """Whether ``j`` fits power and quotas once ``chosen`` (on ``c.pool``) have stopped."""
        cap = inp.capacity
        st = cap.state
        freed_w = sum(inp.running[v].candidate.busy_w for v in chosen)
        site = inp.tables.pool_site[c.pool]
        if c.busy_w > cap.power_headroom_w(site) + freed_w + 1e-6:
            return False
        tenant = inp.jobs.tenant[j]
        mine = sum(inp.running[v].candidate.milli for v in chosen if inp.jobs.tenant[v] == tenant)
        for qi in st.tenant_quotas[tenant]:
            if st.quota_mask[qi][c.pool]:
                left = st.quota_max[qi] - st.quota_usage[qi] - cap.quota_delta(qi)
                if c.milli > left + mine:
                    return False
        return True
