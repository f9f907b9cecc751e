"""Waiting jobs grouped into classes for the round problem.

A class is the jobs of one tenant with the same candidates (a job *signature*:
profile, accepted types and stacks, data set, gang, origin) whose expected run
time on their fastest candidate falls in the same power-of-two bucket (hours).
Within a class, jobs keep arrival order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from suanli.core.jobtable import Candidate
from suanli.core.policy import PolicyInput


@dataclass(slots=True)
class JobClass:
    """Jobs that are interchangeable for the round problem."""

    tenant: int
    sig: int
    candidates: tuple[Candidate, ...]
    jobs: list[int] = field(default_factory=list)
    remaining: float = 0.0  # mean PFLOP still to do
    wait_s: float = 0.0  # mean time waited so far
    deadline_s: float = math.inf  # earliest deadline of its jobs
    deferrable: bool = True  # all its jobs are deferrable
    resumed: bool = False  # some job pays a restart cost

    @property
    def n(self) -> int:
        """Number of jobs."""
        return len(self.jobs)


def build_classes(inp: PolicyInput, considered: Iterable[int]) -> list[JobClass]:
    """Group ``considered`` waiting jobs into classes (deterministic order: first job)."""
    jobs = inp.jobs
    now = inp.now
    signature, candidates, remaining_of, resumed_of = (
        jobs.signature,
        jobs.candidates,
        inp.remaining,
        inp.resumed,
    )
    tenants, submit, deadline, deferrable = jobs.tenant, jobs.submit, jobs.deadline, jobs.deferrable
    floor, log2 = math.floor, math.log2
    by_key: dict[tuple[int, int, int], JobClass] = {}
    best_rate: dict[int, float] = {}  # per signature (its jobs share their candidates)
    for j in considered:
        sig = signature(j)
        best = best_rate.get(sig)
        if best is None:
            best = best_rate[sig] = max(c.rate for c in candidates(j))
        remaining = remaining_of(j)
        bucket = floor(log2(max(remaining / best / 3600.0, 1e-3)))
        tenant = tenants[j]
        key = (sig, tenant, bucket)
        cls = by_key.get(key)
        if cls is None:
            cls = by_key[key] = JobClass(tenant, sig, candidates(j))
        cls.jobs.append(j)
        cls.remaining += remaining
        cls.wait_s += now - submit[j]
        dl = deadline[j]
        if dl is not None:
            cls.deadline_s = min(cls.deadline_s, dl)
        cls.deferrable &= deferrable[j]
        cls.resumed |= resumed_of(j)
    out = list(by_key.values())
    for cls in out:
        cls.remaining /= cls.n
        cls.wait_s /= cls.n
    return out
