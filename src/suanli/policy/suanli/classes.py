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


#: What :class:`ClassKeys` keeps of a job: its remaining work and restart status when
#: kept, class key (signature, tenant, bucket), submit time, deadline, deferrability.
_Kept = tuple[float, bool, tuple[int, int, int], float, float | None, bool]


class ClassKeys:
    """Per waiting job, what :func:`build_classes` derives from it alone — its class key
    (signature, tenant, run-time bucket), submit time, deadline and deferrability — kept
    from round to round while its remaining work and restart status are the same (they
    change only while it runs or when it is preempted), for one job table. A waiting job
    that is not requeued (``PolicyInput.requeued``) has not run since it was kept: its
    entry is used without looking at its work again."""

    __slots__ = ("_jobs", "_memo")

    def __init__(self) -> None:
        self._jobs: object = None
        self._memo: dict[int, _Kept] = {}

    def of(self, inp: PolicyInput) -> dict[int, _Kept]:
        """The memo for ``inp``'s job table, with the entries of jobs no longer waiting
        dropped once it holds twice as many as are waiting (amortised O(1) a job)."""
        if self._jobs is not inp.jobs:
            self._jobs, self._memo = inp.jobs, {}
        elif len(self._memo) > 2 * len(inp.waiting) + 1000:
            waiting = set(inp.waiting)
            self._memo = {j: v for j, v in self._memo.items() if j in waiting}
        return self._memo


def build_classes(
    inp: PolicyInput, considered: Iterable[int], keys: ClassKeys | None = None
) -> list[JobClass]:
    """Group ``considered`` waiting jobs into classes (deterministic order: first job);
    ``keys`` keeps what each job alone decides between rounds (same classes)."""
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
    memo = {} if keys is None else keys.of(inp)
    memo_get = memo.get
    requeued = inp.requeued  # the only waiting jobs that have run: the others' work is whole
    for j in considered:
        m = memo_get(j)
        if m is None or j in requeued:
            remaining = float(remaining_of(j))
            resumed = bool(resumed_of(j))
            if m is None or m[0] != remaining or m[1] != resumed:
                sig = signature(j)
                best = best_rate.get(sig)
                if best is None:
                    best = best_rate[sig] = max(c.rate for c in candidates(j))
                bucket = floor(log2(max(remaining / best / 3600.0, 1e-3)))
                key = (sig, tenants[j], bucket)
                m = memo[j] = (remaining, resumed, key, submit[j], deadline[j], deferrable[j])
        else:
            remaining, resumed = m[0], m[1]
        key = m[2]
        cls = by_key.get(key)
        if cls is None:
            cls = by_key[key] = JobClass(key[1], key[0], candidates(j))
        cls.jobs.append(j)
        cls.remaining += remaining
        cls.wait_s += now - m[3]
        dl = m[4]
        if dl is not None:
            cls.deadline_s = min(cls.deadline_s, dl)
        cls.deferrable &= m[5]
        cls.resumed |= resumed
    out = list(by_key.values())
    for cls in out:
        cls.remaining /= cls.n
        cls.wait_s /= cls.n
    return out
