"""Where a waiting job stands: its place in the queue, and when it is expected to start.

**Queue order** (for positions): higher priority first, then earlier submission, then
the order of arrival — Slurm's multifactor order with the priority and age factors only.
A job's *position* counts the waiting jobs ahead of it plus one: in the whole queue, in its
tenant's, and, per site where it can run, among the jobs that can run there too. A policy
may start jobs in another order (``suanli`` weighs cost and fairness); positions say how
much is ahead, the expected start says when.

**Expected start** — a reservation profile, as Slurm's backfill computes ``StartTime``.
For every pool *p* the free devices over time,

.. math::

    F_p(t) = n_p - h_p + \\sum_{j\\ \\text{running on}\\ p,\\ e_j \\le t} d_j ,

with *n_p* the pool's devices, *h_p* those held now, and each running job *j* releasing its
*d_j* devices at its expected end ``e_j`` (one already overdue releases them now). Waiting
jobs are taken in queue order; job *i* with candidate *c* = (pool *p*, devices *d*, rate *r*)
runs for ``D = transfer + restart + (W_i − w_i) / r`` and can start at

.. math::

    s_{i,c} = \\min \\{ t \\ge \\text{now} : F_p(\\tau) \\ge d\\ \\forall \\tau \\in [t, t + D) \\},

the earliest breakpoint of *F_p* from which the devices stay free long enough; the job
takes the candidate with the smallest ``s`` (ties: the candidates' order), and its devices
are taken out of *F_p* over ``[s, s + D)`` for the jobs after it. Pools at sites that are
down are left out. The estimate ignores jobs still to come, preemptions, power caps and
node shapes; its error is measured in the simulator (:mod:`suanli.experiment.outlook`).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from suanli.core.state import DEFERRED, WAITING, SchedulingState


@dataclass(frozen=True, slots=True)
class Outlook:
    """A waiting job's positions and expected start (scenario seconds; ``None``: no pool
    it can use is up)."""

    position: int
    tenant_position: int
    site_positions: dict[str, int]
    expected_start_s: float | None
    expected_pool: int | None


def queue_order(st: SchedulingState) -> list[int]:
    """The waiting (and deferred) jobs in queue order (module docstring)."""
    jt = st.jobs
    waiting = [j for j in range(len(st.status)) if st.status[j] in (WAITING, DEFERRED)]
    return sorted(waiting, key=lambda j: (-jt.priority[j], jt.submit[j], j))


class _Profile:
    """Free devices of one pool over time: breakpoints ``ts`` and the level from each."""

    def __init__(self, now: float, free: float, releases: list[tuple[float, float]]) -> None:
        self.ts = [now]
        self.free = [free]
        for t, d in sorted(releases):
            t = max(t, now)
            if t == self.ts[-1]:
                self.free[-1] += d
            else:
                self.ts.append(t)
                self.free.append(self.free[-1] + d)

    def earliest(self, need: float, dur: float) -> float:
        """The earliest breakpoint from which ``need`` devices stay free for ``dur``."""
        ts, free = self.ts, self.free
        for k in range(len(ts)):
            if free[k] < need:
                continue
            end = ts[k] + dur
            m = k + 1
            while m < len(ts) and ts[m] < end and free[m] >= need:
                m += 1
            if m == len(ts) or ts[m] >= end:
                return ts[k]
        return float("inf")

    def take(self, start: float, dur: float, amount: float) -> None:
        """Hold ``amount`` devices over ``[start, start + dur)``."""
        for t in (start, start + dur):
            k = bisect.bisect_left(self.ts, t)
            if k == len(self.ts) or self.ts[k] != t:
                self.ts.insert(k, t)
                self.free.insert(k, self.free[k - 1] if k else 0.0)
        lo = bisect.bisect_left(self.ts, start)
        hi = bisect.bisect_left(self.ts, start + dur)
        for k in range(lo, hi):
            self.free[k] -= amount


def outlook(st: SchedulingState, now: float, only: set[int] | None = None) -> dict[int, Outlook]:
    """Positions and expected starts of the waiting jobs (of ``only``, if given: the profile
    still takes every job ahead of them into account)."""
    t, jt = st.tables, st.jobs
    order = queue_order(st)
    profiles: list[_Profile] = []
    for p in range(t.n_pools):
        releases = [(end, st.running[j].cand.amount) for end, j in st.ends_by_pool[p]]
        profiles.append(_Profile(now, t.pool_count[p] - st.acct.allocated[p], releases))
    last = max((order.index(j) for j in only if j in order), default=-1) if only else None
    by_tenant: dict[int, int] = {}
    by_site: dict[int, int] = {}
    out: dict[int, Outlook] = {}
    for pos, j in enumerate(order):
        if last is not None and pos > last:
            break
        cands = [c for c in jt.candidates(j) if st.site_up[t.pool_site[c.pool]]]
        sites = sorted({t.pool_site[c.pool] for c in jt.candidates(j)})
        tenant = jt.tenant[j]
        best: tuple[float, int] | None = None
        remaining = jt.work[j] - st.work_done[j]
        restart = jt.restart_s[j] if st.preemptions[j] else 0.0
        for k, c in enumerate(cands):
            dur = c.transfer_s + restart + remaining / c.rate
            s = profiles[c.pool].earliest(c.amount, dur)
            if s < float("inf") and (best is None or s < best[0]):
                best = (s, k)
        if best is not None:
            c = cands[best[1]]
            profiles[c.pool].take(best[0], c.transfer_s + restart + remaining / c.rate, c.amount)
        if only is None or j in only:
            out[j] = Outlook(
                position=pos + 1,
                tenant_position=by_tenant.get(tenant, 0) + 1,
                site_positions={t.site_ids[s]: by_site.get(s, 0) + 1 for s in sites},
                expected_start_s=best[0] if best is not None else None,
                expected_pool=cands[best[1]].pool if best is not None else None,
            )
        by_tenant[tenant] = by_tenant.get(tenant, 0) + 1
        for s in sites:
            by_site[s] = by_site.get(s, 0) + 1
    return out
