"""``suanli``: heterogeneity-, power-, price-, carbon- and data-aware, fair scheduling.

Each round:

1. **Consider** the waiting jobs that could have become startable (new arrivals,
   capacity freed on their pools; every job on a full round, every ``tick_s``) and
   group them into classes (:mod:`.classes`).
2. **Value** every candidate (site × accelerator type × device count) of every class:
   speed on that accelerator from the throughput matrix, data transfer and restart,
   energy cost net of subsidies, carbon, the tenant's fair share, and how long the
   jobs have waited (:mod:`.utility`). Candidates worth less than waiting are dropped.
3. **Defer** deferrable classes whose cost and carbon fall enough later, within
   their deadline (:mod:`.deferral`).
4. **Reserve** for the most urgent class that has waited ``reserve_after_s`` and
   fits nowhere: on its best pool, only work that ends before the reservation may
   start (EASY backfilling inside the optimisation).
5. **Decide** starts: on full rounds the round LP/MILP with HiGHS (:mod:`.round_lp`),
   split POP-style when large; on event rounds a greedy pass in decreasing worth.
   Every start is checked against the real node shapes, power and quotas.
6. **Move** running jobs to faster devices left free when the time gained pays for the
   move with a margin and is worth its energy cost, egress and carbon (:mod:`.moves`).
7. **Size** elastic jobs: grow them into room no waiting job wants, take devices back
   from them for a waiting job that found no room (:mod:`.elastic`).

Every waiting job gets a reason: deferred until when and why, reserved, waiting
for a faster accelerator, or no room.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from suanli.core.jobtable import Candidate, JobTable
from suanli.core.policy import Defer, PolicyInput, PolicyOutput, Start
from suanli.policy.backfill import earliest_fit
from suanli.policy.common import Explainer, JobScan
from suanli.policy.registry import register
from suanli.policy.resizing import sizes
from suanli.policy.suanli.classes import JobClass, build_classes
from suanli.policy.suanli.deferral import defer_until
from suanli.policy.suanli.elastic import MAX_ADMIT, Blocked, plan_elastic
from suanli.policy.suanli.moves import plan_moves
from suanli.policy.suanli.params import SuanliParams
from suanli.policy.suanli.round_lp import RoundProblem, solve
from suanli.policy.suanli.utility import fairness, value_all

#: Why a job started, by how the round placed it.
BY_OPTIMUM = "best worth in the round's optimisation (speed, energy cost, carbon, fair share, wait)"
BEST_OPTION = "its best place by worth (speed, energy cost, carbon, fair share, wait)"
BEST_WITH_ROOM = "the best place by worth with room (speed, energy cost, carbon, fair share, wait)"


@dataclass(slots=True)
class _Option:
    """A candidate worth taking, with its expected run time and worth."""

    cand: Candidate
    tau_s: float
    utility: float


@dataclass(slots=True)
class _Item:
    """A class with the options worth taking, best first."""

    cls: JobClass
    good: list[_Option]
    placed: int = 0


@register("suanli")
class Suanli:
    """The suanli scheduler (see the module docstring)."""

    name = "suanli"
    Params = SuanliParams

    def __init__(self, params: SuanliParams, rng: np.random.Generator) -> None:
        self.p = params
        self.tick_s = params.tick_s
        #: Elastic jobs grow when devices free, with nothing waiting (:mod:`.elastic`).
        self.moves_jobs = params.elastic

        self._fast: dict[int, int] = {}
        self._fast_of: JobTable | None = None
        self._shapes: dict[tuple[int, int], list[Candidate]] = {}
        self._shapes_of: JobTable | None = None
        #: Running elastic jobs above their smallest shape (:func:`.elastic.plan_elastic`).
        self._lent: set[int] = set()
        self._lent_of: JobTable | None = None

    def fast_pools(self, jobs: JobTable, sig: int) -> int:
        """The pools (bit mask) where signature ``sig`` runs at least θ (``patience``) × its
        best rate: the only ones worth a look at first, since its utility is negative
        elsewhere until it has waited (:mod:`.utility`). Cached per job table."""
        if self._fast_of is not jobs:
            self._fast, self._fast_of = {}, jobs
        mask = self._fast.get(sig)
        if mask is None:
            a = jobs.sig_arrays(sig)
            best = a.rates.max() if a.rates.size else 0.0
            mask = 0
            for pool, rate in zip(a.pools.tolist(), a.rates.tolist(), strict=True):
                if rate >= self.p.patience * best:
                    mask |= 1 << pool
            self._fast[sig] = mask
        return mask

    def shapes(self, jobs: JobTable, j: int, base: Candidate) -> list[Candidate]:
        """Elastic job *j*'s shapes on ``base``'s pool (cached per job table)."""
        if self._shapes_of is not jobs:
            self._shapes, self._shapes_of = {}, jobs
        key = (j, base.pool)
        got = self._shapes.get(key)
        if got is None:
            got = self._shapes[key] = sizes(jobs, j, base)
        return got

    def lent(self, inp: PolicyInput) -> set[int]:
        """The running elastic jobs above their smallest shape: found once per job table
        (a new run, or the live control plane's rebuilt state), then kept up to date by
        the elastic step; on full rounds jobs no longer running are dropped."""
        jobs = inp.jobs
        if self._lent_of is not jobs:
            self._lent_of = jobs
            self._lent = {
                j
                for j in inp.running
                if jobs.elastic(j) and inp.running[j].candidate.used > jobs.gang_min[j]
            }
        elif inp.full:
            self._lent = {j for j in self._lent if j in inp.running}
        return self._lent

    def decide(self, inp: PolicyInput) -> PolicyOutput:
        """One round: consider, value, defer, reserve, decide."""
        p = self.p
        out = PolicyOutput(default_reason="waiting: no start worth making for it yet")
        if not (inp.full or inp.arrived or inp.freed):
            return out
        scan = JobScan(inp, pools_of=lambda sig: self.fast_pools(inp.jobs, sig))
        considered = scan.first(p.max_jobs_per_round)
        if not considered:
            self._move(inp, out)
            self._size(inp, out, [], None)
            return out
        classes = build_classes(inp, considered)
        fair = fairness(inp, classes, p.w_fair)
        items: list[_Item] = []
        for cls, (val, best, order) in zip(classes, value_all(inp, classes, fair, p), strict=True):
            if p.defer and cls.deferrable:
                d = defer_until(inp, cls, val, best, p)
                if d is not None:
                    why = (
                        f"deferred {(d.until_s - inp.now) / 3600.0:.1f} h, to run on "
                        f"{inp.tables.pool_label(cls.candidates[best].pool)} when cost and "
                        f"carbon are {d.saving:.0%} lower"
                    )
                    out.defers.extend(Defer(j, d.until_s, why) for j in cls.jobs)
                    continue
            tau_l, util_l = val.tau_s.tolist(), val.utility.tolist()
            good = [_Option(cls.candidates[i], tau_l[i], util_l[i]) for i in order if util_l[i] > 0]
            if not good:
                why = (
                    "waiting for a faster accelerator: the best free option now, "
                    f"{inp.tables.pool_label(cls.candidates[best].pool)}, is not yet worth it"
                )
                for j in cls.jobs:
                    out.reasons[j] = why
                continue
            items.append(_Item(cls, good))
        head = self._reserve(inp, items, out)
        if inp.full and len(items) > 1:
            self._solve(inp, items, out)
        self._greedy(inp, items, out)
        # Capacity no longer changes: jobs of one tenant and signature share an explanation.
        explainer = Explainer(inp, "no room on the pools where it is worth running")
        reasons = out.reasons
        for it in items:
            because = ""  # one explanation per class (one tenant and signature)
            for j in it.cls.jobs[it.placed :]:
                if j not in reasons:
                    if not because:
                        because = explainer(j)
                    reasons[j] = because
        self._move(inp, out)
        self._size(inp, out, items, head)
        return out

    def _move(self, inp: PolicyInput, out: PolicyOutput) -> None:
        """Moves of running jobs into the room the round's starts left (:mod:`.moves`)."""
        if self.p.migrate:
            plan_moves(inp, out, self.p)

    def _size(
        self, inp: PolicyInput, out: PolicyOutput, items: list[_Item], head: _Item | None
    ) -> None:
        """Size elastic jobs (:mod:`.elastic`): the jobs the round wanted to start but could
        not (the reserved class first, then by worth) are offered to the allocation."""
        if not self.p.elastic or not inp.jobs.elastic_count:
            return  # no elastic job: nothing to size, and no cost on the round
        blocked: list[Blocked] = []
        ranked = sorted(
            (it for it in items if it.good and it.placed < it.cls.n),
            key=lambda it: (-it.good[0].utility, it.cls.jobs[it.placed]),
        )
        for it in ([head] if head is not None else []) + ranked:
            options = tuple(o.cand for o in it.good)
            for j in it.cls.jobs[it.placed :]:
                if len(blocked) == MAX_ADMIT:
                    break
                blocked.append(Blocked(j, options))
        plan_elastic(
            inp,
            out,
            self.p,
            blocked,
            lambda sig: self.fast_pools(inp.jobs, sig),
            lambda j, base: self.shapes(inp.jobs, j, base),
            self.lent(inp),
        )

    def _reserve(self, inp: PolicyInput, items: list[_Item], out: PolicyOutput) -> _Item | None:
        """Hold the best pool of the most urgent long-blocked class (EASY-style); returns
        it."""
        cap = inp.capacity
        blocked = [
            it
            for it in items
            if it.cls.wait_s >= self.p.reserve_after_s
            and all(cap.why_not(it.cls.tenant, o.cand) is not None for o in it.good)
        ]
        if not blocked:
            return None
        head = max(blocked, key=lambda it: (it.cls.wait_s, -it.cls.jobs[0]))
        res = None
        for o in head.good:
            r = earliest_fit(inp, o.cand)
            if r is not None and (res is None or r.time_s < res.time_s):
                res = r
        if res is None:
            return None
        window = res.time_s - inp.now
        for it in items:
            if it is head:
                continue
            it.good = [o for o in it.good if o.cand.pool != res.pool or o.tau_s <= window]
        why = (
            f"reserved {inp.tables.pool_label(res.pool)} from t={res.time_s:,.0f} s "
            f"(waited {head.cls.wait_s / 3600:.1f} h)"
        )
        for j in head.cls.jobs:
            out.reasons[j] = why
        items.remove(head)
        return head

    def _solve(self, inp: PolicyInput, items: list[_Item], out: PolicyOutput) -> None:
        """Full round: starts from the round LP, placed on the real node layout."""
        t = inp.tables
        cap = inp.capacity
        ks, ps, ds, ws, us, refs = [], [], [], [], [], []
        for k, it in enumerate(items):
            for o in it.good:
                ks.append(k)
                ps.append(o.cand.pool)
                ds.append(o.cand.amount)
                ws.append(o.cand.busy_w)
                us.append(o.utility)
                refs.append((it, o))
        n_pools = t.n_pools
        quota_rows = []
        st = cap.state
        for qi, (tenant, mask, _, _) in enumerate(t.quotas):
            cols = np.array(
                [
                    items[k].cls.tenant == tenant and bool(mask[pp])
                    for k, pp in zip(ks, ps, strict=True)
                ]
            )
            if cols.any():
                quota_rows.append((cols, (st.quota_max[qi] - st.quota_usage[qi]) / 1000))
        pr = RoundProblem(
            n=np.array([it.cls.n - it.placed for it in items]),
            k=np.array(ks),
            p=np.array(ps),
            d=np.array(ds, dtype=float),
            w=np.array(ws, dtype=float),
            u=np.array(us, dtype=float),
            free=np.array([cap.free_amount(q) for q in range(n_pools)]),
            pool_site=np.asarray(t.pool_site),
            headroom=np.array([max(cap.power_headroom_w(s), 0.0) for s in range(len(t.site_ids))]),
            quota_rows=tuple(quota_rows),
        )
        groups = max(1, -(-pr.size // self.p.split_above))
        sol = solve(pr, split=groups)
        for i in np.argsort(-pr.u, kind="stable"):
            n = int(sol.x[i])
            it, o = refs[i]
            while n > 0 and it.placed < it.cls.n:
                j = it.cls.jobs[it.placed]
                if cap.why_not(it.cls.tenant, o.cand) is not None:
                    break
                cap.take(it.cls.tenant, o.cand)
                out.starts.append(Start(j, o.cand, BY_OPTIMUM))
                it.placed += 1
                n -= 1

    def _greedy(self, inp: PolicyInput, items: list[_Item], out: PolicyOutput) -> None:
        """Place what is left in decreasing worth, as many jobs as fit."""
        cap = inp.capacity
        pairs = sorted(
            ((o.utility, k, o) for k, it in enumerate(items) for o in it.good),
            key=lambda x: (-x[0], x[1]),
        )
        for _, k, o in pairs:
            it = items[k]
            why = BEST_OPTION if o is it.good[0] else BEST_WITH_ROOM
            while it.placed < it.cls.n and cap.why_not(it.cls.tenant, o.cand) is None:
                cap.take(it.cls.tenant, o.cand)
                out.starts.append(Start(it.cls.jobs[it.placed], o.cand, why))
                it.placed += 1
