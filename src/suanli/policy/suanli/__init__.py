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
4. **Reserve** for every job that has waited ``reserve_after_s`` of a class that fits
   nowhere and is *next in line* — worth at least as much as every other class on the
   pools it wants, so that it waits for room, not behind better work — longest-waiting
   first, each on a pool of its own: on the pool where it would end first, work that runs
   past the reservation may start only in the devices it leaves spare (backfilling inside
   the optimisation, conservative as Slurm's backfill rather than EASY's single
   reservation); reservations are kept from round to round until their jobs start, so big
   gangs do not starve (docs/scheduler.md, "Big gangs and starvation").
5. **Decide** starts: on full rounds the round LP/MILP with HiGHS (:mod:`.round_lp`),
   split POP-style when large; on event rounds a greedy pass in decreasing worth.
   Every start is checked against the real node shapes, power and quotas. Then
   **bridge** (:mod:`.bridge`): a class next in line with no room where it is worth
   running starts its first job on slower devices the starts left idle, when moving up
   later ends it sooner than waiting or spares a wait longer than ``reserve_after_s`` at
   little cost; the fast pool is then held for the move, as a reservation holds one.
6. **Move** running jobs to faster devices left free when the time gained pays for the
   move with a margin and is worth its energy cost, egress and carbon (:mod:`.moves`).
7. **Size** elastic jobs: grow them into room no waiting job wants, take devices back
   from them for a waiting job that found no room (:mod:`.elastic`).

Every waiting job gets a reason: deferred until when and why, reserved, waiting
for a faster accelerator, or no room.

**Priorities** (:mod:`suanli.policy.priority`). Let ``λ_1 ≻ λ_2 ≻ … ≻ λ_m`` be the
effective priorities ``π = (P_tenant, p_job)`` of the job table, highest first, and
``K_ℓ`` the classes of the considered jobs of level ``λ_ℓ`` (classes are built per level,
so a class has one level; the ``max_jobs_per_round`` considered are taken highest level
first). First, **reserve** (before any start, as without levels) for the blocked classes of
the highest level that has one: ``ℓ* = min{ℓ : B_ℓ ≠ ∅}``, ``B_ℓ`` the classes of ``K_ℓ``
that have waited ``reserve_after_s``, have no option with room and are next in line
among the classes of ``K_ℓ``; each of their jobs that has itself waited ``reserve_after_s``
gets a pool of its own, longest-waiting first, while pools are left; each window restricts
the classes of levels ``ℓ ≥ ℓ*`` only (the levels above may take the pool first). Then the
round is decided level by level, ``ℓ = 1, …, m``, each level on the capacity
``(F^ℓ, H^ℓ, Q^ℓ)`` — free devices, power headroom, quota room — that the starts of the
levels above it left:

* **Decide** starts for ``K_ℓ`` alone: the round LP over ``K_ℓ`` on ``(F^ℓ, H^ℓ, Q^ℓ)``,
  then the greedy fill; worth ``u_kp`` (and the fair-share factor ``f_t``, computed over
  every tenant with work) is compared only within a level. So every class of level ℓ has
  started all its jobs or has no option worth taking with room before a class of a lower
  level sees any capacity, whatever their worth.
* **Move** (full rounds), after every level's starts — as without levels, a move takes
  only devices no waiting job was worth starting on — the running jobs level by level,
  ``ℓ = 1, …, m``, each level's moves planned on their own (by net gain) on what the
  higher levels' moves left: a running job moves onto faster devices only after every
  level has started and every higher level has moved; a move displaces no one.
* **Defer**: a deferral concerns its own class only and takes no capacity, so it acts
  within its level unchanged.

Elastic sizing (:mod:`.elastic`) comes after every level, unchanged, and is offered the
jobs the round could not start by level, then worth (it may still take lent devices, those
above a running elastic job's minimum, for a waiting job of a lower level). With one
level (every job and tenant of one effective priority, e.g. all 0) this is the round
above, decision for decision, at no extra cost.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from suanli.core.capacity import PoolNodes
from suanli.core.jobtable import Candidate, JobTable
from suanli.core.policy import Defer, PolicyInput, PolicyOutput, Start
from suanli.policy.backfill import Reservation, earliest_fit, quota_free_at, spare_at
from suanli.policy.common import Explainer
from suanli.policy.priority import Priorities
from suanli.policy.registry import register
from suanli.policy.resizing import sizes
from suanli.policy.suanli.bridge import plan_bridge
from suanli.policy.suanli.classes import ClassKeys, JobClass, build_classes
from suanli.policy.suanli.deferral import defer_until
from suanli.policy.suanli.elastic import MAX_ADMIT, Blocked, plan_elastic
from suanli.policy.suanli.moves import by_level, plan_moves
from suanli.policy.suanli.params import SuanliParams
from suanli.policy.suanli.round_lp import RoundProblem, solve
from suanli.policy.suanli.utility import Layouts, fairness, value_all

#: Why a job started, by how the round placed it.
BY_OPTIMUM = "best worth in the round's optimisation (speed, energy cost, carbon, fair share, wait)"
BEST_OPTION = "its best place by worth (speed, energy cost, carbon, fair share, wait)"
BEST_WITH_ROOM = "the best place by worth with room (speed, energy cost, carbon, fair share, wait)"
ON_RESERVATION = "its reservation: the pool held for it since it waited too long"
BRIDGING = "room now, to work while it waits: no room where it is worth running"


@dataclass(slots=True)
class _Option:
    """A candidate worth taking, with its expected run time and worth; ``held`` is the
    reserved pool whose spare devices it would draw on (it runs past the reservation's
    time there), −1 if none."""

    cand: Candidate
    tau_s: float
    utility: float
    held: int = -1


@dataclass(frozen=True, slots=True)
class _Held:
    """A reservation kept between rounds: for the class of waiting ``job`` (its first job
    when reserved), on candidate ``cand`` (its pool ``pool``) from ``time_s``, in the job
    table ``of``; ``moving``: a hold for running ``job``'s move up to ``cand``, due from
    ``time_s`` (:mod:`.bridge`); ``bridge``: a reservation for a bridge start now, ended
    if the start is not made in its round."""

    job: int
    cand: Candidate
    pool: int
    time_s: float
    of: JobTable
    moving: bool = False
    bridge: bool = False


#: A bridge start's hold, made when it starts: the candidate to move up to, from when,
#: against which levels' classes (:meth:`Suanli._hold_for`).
_Pending = tuple[Candidate, float, list[list["_Item"]]]


@dataclass(slots=True)
class _Item:
    """A class with the options worth taking, best first."""

    cls: JobClass
    good: list[_Option]
    placed: int = 0
    level: int = 0  # position of its effective priority among the table's, 0: highest
    #: Its options worth taking as valued, before any reservation restricted them.
    valued: list[_Option] = field(default_factory=list)


def _first_free(
    inp: PolicyInput,
    it: _Item,
    taken: set[int],
    options: list[_Option] | None = None,
    held: Mapping[int, int] | None = None,
) -> tuple[Reservation | None, Candidate | None]:
    """Of ``it``'s options worth taking (or ``options``) on pools outside ``taken``, the
    one whose devices and power free first as running jobs end and that its tenant's quotas
    then allow (:func:`reserve_at`, ``held`` the quotas the round's reservations will
    take), with when."""
    res, cand = None, None
    for o in it.good if options is None else options:
        if o.cand.pool in taken:
            continue
        r = reserve_at(inp, it.cls.tenant, o.cand, held)
        if r is not None and math.isfinite(r.time_s) and (res is None or r.time_s < res.time_s):
            res, cand = r, o.cand
    return res, cand


def reserve_at(
    inp: PolicyInput, tenant: int, cand: Candidate, held: Mapping[int, int] | None = None
) -> Reservation | None:
    """When ``cand``'s devices and power free (:func:`earliest_fit`) and ``tenant``'s quotas
    allow it (:func:`quota_free_at`; ``held``: milli per quota that reservations made
    before will take), whichever is later — with the devices spare then."""
    r = earliest_fit(inp, cand)
    if r is None:
        return None
    t_q = quota_free_at(inp, tenant, cand, held)
    if t_q is None:
        return None
    if t_q <= r.time_s:
        return r
    return Reservation(r.pool, t_q, spare_at(inp, cand, t_q), r.need_w, r.spare_w)


def _next_in_line(blocked: list[_Item], items: list[_Item]) -> list[_Item]:
    """The classes of ``blocked`` that are next in line among ``items`` (their level): a
    class ``b`` with options ``O_b`` (worth taking, best first) is, if

    .. math::

        u_{b,O_b[0]} \\ge \\max \\{ u_{kp} : k \\ne b,\\ p \\in \\text{pools}(O_b) \\},

    worth at least as much on its best option as any other class on any pool ``b`` wants:
    the class the round would start first there if it fitted. Another class worth more
    waits ahead of it by the round's order (highest response ratio next), not for want of
    room; as ``b`` waits its ratio rises without bound, so it comes next in line in time.
    Reserving for ``b`` earlier would put it first, out of that order — first come, first
    served among the long waiters, at the cost of the short-jobs-first gain (Philly on
    ``philly-hetero``, docs/benchmarks.md). Per pool the two best classes are kept, so this
    is linear in the options."""
    wanted = {o.cand.pool for b in blocked for o in b.good}
    top: dict[int, list[tuple[float, int]]] = {}  # pool -> the two best (worth, class id)
    for it in items:
        seen: set[int] = set()
        for o in it.good:
            q = o.cand.pool
            if q in seen or q not in wanted:
                continue
            seen.add(q)
            best = top.setdefault(q, [])
            best.append((o.utility, id(it)))
            best.sort(reverse=True)
            del best[2:]
    out = []
    for b in blocked:
        rival = max(
            (u for o in b.good for u, k in top.get(o.cand.pool, ()) if k != id(b)),
            default=-math.inf,
        )
        if b.good and b.good[0].utility >= rival:
            out.append(b)
    return out


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
        #: Effective priorities of the jobs (:mod:`suanli.policy.priority`).
        self.priorities = Priorities()
        #: Each waiting job's class key, kept between rounds (:class:`.classes.ClassKeys`).
        self._keys = ClassKeys()
        #: The candidate arrays of the round's sequences of signatures (:func:`.value_all`).
        self._layouts = Layouts()
        #: The reservations of the last round that made any, longest-waiting first, while
        #: their jobs wait (:meth:`_hold`).
        self._held: list[_Held] = []
        #: This round: the level, class and candidate of each reservation with room now,
        #: and for a bridge that will move up, the hold to make when it starts (:meth:`_honour`).
        self._due: list[tuple[int, _Item, Candidate, _Pending | None]] = []
        #: This round: per reserved pool, the devices its reservation leaves spare at its
        #: time, which work running past that time may still take (:meth:`_restrict`).
        self._spare: dict[int, int] = {}
        #: This round: per pool of a kept reservation, its candidate and time, whose spare
        #: devices are counted when an option first needs them (:meth:`_spare_of`).
        self._kept_at: dict[int, tuple[Candidate, float]] = {}
        #: This round: per quota, the thousandths of a device that the reservations kept or
        #: made so far will take when their time comes (:meth:`_count_quota`).
        self._quota_held: dict[int, int] = {}
        #: What :meth:`_spare_at` counted, per pool, shape and time: the pool's nodes and
        #: their count of changes then, and the devices.
        self._counted: dict[tuple[int, int, int, float], tuple[PoolNodes, int, int]] = {}

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
                if jobs.elastic(j) and inp.running.held(j).used > jobs.gang_min[j]
            }
        elif inp.full:
            self._lent = {j for j in self._lent if j in inp.running}
        return self._lent

    def decide(self, inp: PolicyInput) -> PolicyOutput:
        """One round: consider, value, defer, reserve, decide, move, size — level by level
        of priority, highest first, when jobs have several (module docstring)."""
        p = self.p
        out = PolicyOutput(default_reason="waiting: no start worth making for it yet")
        if not (inp.full or inp.arrived or inp.freed):
            return out
        pr = self.priorities.update(inp)
        scan = pr.scan(inp, pools_of=lambda sig: self.fast_pools(inp.jobs, sig))
        considered = scan.first(p.max_jobs_per_round)
        # Running jobs by level, for moves within a level (only with several levels).
        views = None if pr.single or not (p.migrate and inp.full) else by_level(inp, pr)
        if not considered:
            for view in views or ():
                plan_moves(view, out, p, self._until(), self._own(inp.jobs))
            if views is None:
                self._move(inp, out)
            self._unheld(inp, out)
            self._size(inp, out, [], None)
            return out
        levels = self._value(inp, [considered] if pr.single else pr.groups(considered), out)
        heads: list[_Item] = []
        self._due, self._spare, self._kept_at, self._quota_held = [], {}, {}, {}
        self._hold(inp, levels, pr)  # the reservations kept from earlier rounds (no starvation)
        for lv, items in enumerate(levels):  # the highest level with a long-blocked class
            blocked = self._blocked(inp, items)
            if blocked:
                heads = self._reserve(inp, blocked, levels[lv:], out, lv)
                break
        for lv, items in enumerate(levels):
            self._honour(inp, lv, out)
            if inp.full and len(items) > 1:
                self._solve(inp, items, out)
            self._greedy(inp, items, out)
            self._bridge(inp, items, out, levels[lv + 1 :])  # idle slower devices, moving up
            self._explain(inp, items, out)
        for view in views or ():  # moves after every start, level by level
            plan_moves(view, out, p, self._until(), self._own(inp.jobs))
        if views is None:
            self._move(inp, out)
        self._unheld(inp, out)
        self._size(inp, out, levels, heads[0] if heads else None)
        return out

    def _value(
        self, inp: PolicyInput, groups: list[list[int]], out: PolicyOutput
    ) -> list[list[_Item]]:
        """The considered jobs of each level (``groups``, highest first) as classes with the
        options worth taking; deferred classes and those with none get their reasons."""
        p = self.p
        per_level = [build_classes(inp, g, self._keys) for g in groups]
        classes = per_level[0] if len(per_level) == 1 else [c for lv in per_level for c in lv]
        fair = fairness(inp, classes, p.w_fair)
        valued = iter(
            value_all(inp, classes, fair, p, self._layouts)
        )  # in the order of ``classes``
        levels: list[list[_Item]] = []
        for lv, level in enumerate(per_level):
            items: list[_Item] = []
            levels.append(items)
            for cls in level:
                v = next(valued)
                if p.defer and cls.deferrable:
                    d = defer_until(inp, cls, v.valuation(), v.best, v.order, p)
                    if d is not None:
                        why = (
                            f"deferred {(d.until_s - inp.now) / 3600.0:.1f} h, to run on "
                            f"{inp.tables.pool_label(cls.candidates[d.option].pool)} for lower "
                            f"{d.what}"
                        )
                        out.defers.extend(Defer(j, d.until_s, why) for j in cls.jobs)
                        continue
                tau_l, util_l = v.tau_s, v.utility
                good = []
                for i in v.order:  # by decreasing worth (NaN last): those worth taking lead
                    if not util_l[i] > 0:
                        break
                    good.append(_Option(cls.candidates[i], tau_l[i], util_l[i]))
                if not good:
                    why = (
                        "waiting for a faster accelerator: the best free option now, "
                        f"{inp.tables.pool_label(cls.candidates[v.best].pool)}, is not yet worth it"
                    )
                    for j in cls.jobs:
                        out.reasons[j] = why
                    continue
                items.append(_Item(cls, good, level=lv, valued=good))
        return levels

    def _explain(self, inp: PolicyInput, items: list[_Item], out: PolicyOutput) -> None:
        """Why the jobs of ``items`` left waiting wait, once their level's starts are made:
        jobs of one tenant and signature share an explanation."""
        explainer = Explainer(inp, "no room on the pools where it is worth running")
        reasons = out.reasons
        for it in items:
            because = ""  # one explanation per class (one tenant and signature)
            for j in it.cls.jobs[it.placed :]:
                if j not in reasons:
                    if not because:
                        because = explainer(j)
                    reasons[j] = because

    def _move(self, inp: PolicyInput, out: PolicyOutput) -> None:
        """Moves of running jobs into the room the round's starts left (:mod:`.moves`)."""
        if self.p.migrate:
            plan_moves(inp, out, self.p, self._until(), self._own(inp.jobs))

    def _until(self) -> dict[int, float]:
        """Per reserved pool, the earliest time a reservation on it begins."""
        until: dict[int, float] = {}
        for h in self._held:
            until[h.pool] = min(until.get(h.pool, h.time_s), h.time_s)
        return until

    def _own(self, jobs: JobTable) -> dict[int, int]:
        """Per bridging job of ``jobs``, the pool held for its move up (:mod:`.bridge`)."""
        return {h.job: h.pool for h in self._held if h.moving and h.of is jobs}

    def _unheld(self, inp: PolicyInput, out: PolicyOutput) -> None:
        """On a full round, end the holds for moves that were due and not made: with room
        (the move no longer pays: the job stays where it runs), or a tick after they were
        due (the move cannot be made — a quota, a site that cannot stop the job — or the
        pool is late to free: the job moves up when there is room, unheld)."""
        if not inp.full or not any(h.moving for h in self._held):
            return
        moved = {m.job for m in out.migrates}
        cap, tenant = inp.capacity, inp.jobs.tenant
        self._held = [
            h
            for h in self._held
            if not (
                h.moving
                and inp.now >= h.time_s
                and h.job not in moved
                and (
                    inp.now >= h.time_s + self.tick_s or cap.why_not(tenant[h.job], h.cand) is None
                )
            )
        ]

    def _bridge(
        self, inp: PolicyInput, items: list[_Item], out: PolicyOutput, below: list[list[_Item]]
    ) -> None:
        """Bridges (:mod:`.bridge`), once the starts of their level are made, for the classes
        of ``items`` with jobs left, no option worth taking with room and next in line — on
        full rounds, and on event rounds for a class whose next job has just arrived:
        the first waiting job of each starts now on slower devices the starts left idle,
        when that ends it sooner than waiting for the option that frees first (or spares a
        long wait). That option's pool is then held for the move up from when it frees
        (:meth:`_hold_for`) unless a reservation or hold has it already; the classes of
        ``items`` and ``below`` (the lower levels) are held to it."""
        if not self.p.bridge:
            return
        fresh = None if inp.full else set(inp.arrived)
        if fresh is not None and not fresh:
            return  # event rounds bridge only jobs that just arrived
        cap = inp.capacity
        stuck = [
            it
            for it in items
            if it.placed < it.cls.n
            and (fresh is None or it.cls.jobs[it.placed] in fresh)
            and all(cap.why_not(it.cls.tenant, o.cand) is not None for o in it.valued)
        ]
        if not stuck:
            return
        taken = {h.pool for h in self._held}
        label = inp.tables.pool_label
        for it in _next_in_line(stuck, items):
            if not any(cap.why_not(it.cls.tenant, c) is None for c in it.cls.candidates):
                continue  # no room anywhere: nothing to bridge on
            res, to = _first_free(inp, it, set(), it.valued, self._quota_held)
            if res is None or to is None:
                continue
            j = it.cls.jobs[it.placed]
            b = plan_bridge(inp, j, it.cls.tenant, it.cls.candidates, to, res, self.p, taken)
            if b is None:
                continue
            cap.take(it.cls.tenant, b.on)
            it.placed += 1
            if not b.moves:
                out.starts.append(Start(j, b.on, BRIDGING))
                continue
            why = f"{BRIDGING}; to move up to {label(to.pool)} (free at t={res.time_s:,.0f} s)"
            out.starts.append(Start(j, b.on, why))
            if to.pool not in taken:  # else held already: it moves up when there is room
                self._hold_for(inp, it, b.job, to, res.time_s, [items, *below])
                taken.add(to.pool)

    def _hold_for(
        self,
        inp: PolicyInput,
        it: _Item,
        job: int,
        to: Candidate,
        t_r: float,
        levels: list[list[_Item]],
    ) -> None:
        """Hold ``to``'s pool for bridging ``job``'s move up (of class ``it``) from when it
        is due — the pool frees at ``t_r`` and the job has run ``migrate_min_interval_s``
        — as a reservation holds a pool, against the classes of ``levels``."""
        t_r = max(t_r, inp.now + self.p.migrate_min_interval_s)
        self._set_spare(inp, to.pool, self._spare_at(inp, to, t_r))
        for items in levels:
            for x in items:  # its own class too: only the move is excepted (``own``)
                self._restrict(inp, x, to.pool, t_r - inp.now)
        self._held.append(_Held(job, to, to.pool, t_r, inp.jobs, True))

    def _size(
        self, inp: PolicyInput, out: PolicyOutput, levels: list[list[_Item]], head: _Item | None
    ) -> None:
        """Size elastic jobs (:mod:`.elastic`): the jobs the round wanted to start but could
        not are offered to the allocation — by level of priority, highest first, and within
        a level the reserved class first, then by worth."""
        if not self.p.elastic or not inp.jobs.elastic_count:
            return  # no elastic job: nothing to size, and no cost on the round
        blocked: list[Blocked] = []
        wanted = [it for items in levels for it in items if it.good and it.placed < it.cls.n]
        if head is not None and head.placed < head.cls.n:  # not started on its reservation
            wanted = [head, *wanted]
        ranked = sorted(
            wanted,
            key=lambda it: (it.level, it is not head, -it.good[0].utility, it.cls.jobs[it.placed]),
        )
        for it in ranked:
            options = tuple(o.cand for o in it.good if o.held < 0)  # not a reservation's spare
            if not options:
                continue
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

    def _blocked(self, inp: PolicyInput, items: list[_Item]) -> list[_Item]:
        """The classes of ``items`` that have waited ``reserve_after_s``, fit nowhere and
        are next in line (:func:`_next_in_line`)."""
        cap = inp.capacity
        waited = [
            it
            for it in items
            if it.cls.wait_s >= self.p.reserve_after_s
            and all(cap.why_not(it.cls.tenant, o.cand) is not None for o in it.good)
        ]
        return _next_in_line(waited, items) if waited else []

    def _reserve(
        self,
        inp: PolicyInput,
        blocked: list[_Item],
        levels: list[list[_Item]],
        out: PolicyOutput,
        lv: int = 0,
    ) -> list[_Item]:
        """Reserve for the jobs of the ``blocked`` classes (:meth:`_blocked`) that have each
        waited ``reserve_after_s``, longest-waiting first, each on a pool no other
        reservation holds (those kept from earlier rounds first), against the classes of
        ``levels`` (their own and those below); returns the classes with a reservation,
        removed from their level (docs/scheduler.md, "Big gangs and starvation")."""
        submit = inp.jobs.submit
        due = inp.now - self.p.reserve_after_s
        waited = [(it, j) for it in blocked for j in it.cls.jobs[it.placed :] if submit[j] <= due]
        waited.sort(key=lambda x: (submit[x[1]], x[1]))
        heads: list[_Item] = []
        full: set[int] = set()  # classes with no pool left to reserve
        for it, j in waited:
            if id(it) in full:
                continue
            held = self._reserve_one(inp, it, j, levels, out, lv, {h.pool for h in self._held})
            if held is None:
                full.add(id(it))
                continue
            self._held.append(held)
            self._count_quota(inp, held)
            if all(h is not it for h in heads):
                heads.append(it)
                levels[0][:] = [x for x in levels[0] if x is not it]  # in place: a slice
        return heads

    def _reserve_one(
        self,
        inp: PolicyInput,
        head: _Item,
        job: int,
        levels: list[list[_Item]],
        out: PolicyOutput,
        lv: int,
        taken: set[int],
    ) -> _Held | None:
        """Hold a pool outside ``taken`` for ``job`` of the blocked class ``head``. With
        ``t_c`` the earliest time candidate ``c``'s devices and power are free as running
        jobs end and its tenant's quotas allow it (:func:`reserve_at`),
        ``x_c`` its data transfer, ``W`` the work left and ``r_c`` its rate,
        ``E_c = t_c + x_c + W/r_c`` is when it would end there. The pool is that of the option worth
        taking with the earliest finite ``t_c`` (as EASY), ``g``; but a candidate ``c`` with
        room now, worth taking or not, that ends no later, ``E_c ≤ E_g``, is taken instead
        (the class starts there first in its level ``lv``, :meth:`_honour`); and without a
        finite ``t_g``, the candidate with the least finite ``E_c``. Failing those, a
        bridge (:mod:`.bridge`) on a slower candidate with room now is taken the same way."""
        work = inp.remaining(job)

        def ends(c: Candidate, t: float) -> float:
            return t + c.transfer_s + work / c.rate if c.rate > 0 else math.inf

        res, cand = _first_free(inp, head, taken, held=self._quota_held)
        best = math.inf if res is None or cand is None else ends(cand, res.time_s)
        now_c = None
        cap = inp.capacity
        free = [c for c in head.cls.candidates if c.pool not in taken]
        for c in free:  # room now, ending no later (or no finite g)
            if cap.why_not(head.cls.tenant, c) is None and ends(c, inp.now) <= best:
                best, now_c = ends(c, inp.now), c
        pending: _Pending | None = None
        bridged = False
        if now_c is None and res is not None and cand is not None and self.p.bridge:
            b = plan_bridge(inp, job, head.cls.tenant, free, cand, res, self.p, taken)
            if b is not None:  # worth bridging on, moving up later (held once it starts)
                now_c, bridged = b.on, True
                pending = (b.to, b.res.time_s, levels) if b.moves else None
        if now_c is not None:
            res, cand = earliest_fit(inp, now_c), now_c
        elif res is None:
            for c in free:  # no finite reservation worth taking: any
                r = reserve_at(inp, head.cls.tenant, c, self._quota_held)
                if r is not None and math.isfinite(r.time_s) and ends(c, r.time_s) < best:
                    res, cand, best = r, c, ends(c, r.time_s)
        if res is None or cand is None:
            return None
        if now_c is not None:
            self._due.append((lv, head, cand, pending))
        self._set_spare(inp, res.pool, res.spare)
        window = res.time_s - inp.now
        for items in levels:
            for it in items:
                if it is not head:
                    self._restrict(inp, it, res.pool, window)
        why = (
            f"reserved {inp.tables.pool_label(res.pool)} from t={res.time_s:,.0f} s "
            f"(waited {(inp.now - inp.jobs.submit[job]) / 3600:.1f} h)"
        )
        if any(x is head for x in levels[0]):  # its class's first: the others wait behind
            for j in head.cls.jobs:
                out.reasons[j] = why
        out.reasons[job] = why
        return _Held(job, cand, res.pool, res.time_s, inp.jobs, bridge=bridged)

    def _hold(self, inp: PolicyInput, levels: list[list[_Item]], pr: Priorities) -> None:
        """Keep the reservations of earlier rounds (docs/scheduler.md, "Big gangs and
        starvation"). While the job ``h`` of one waits, the classes of its level
        and those below it may take its pool ``q`` only with options that end by its time
        ``t_R``, ``τ_kp ≤ t_R − now`` — after ``t_R`` not at all, so the pool is left to
        ``h``'s class — also in the rounds that do not consider ``h`` (an arrival, a finish
        elsewhere) and in the round where ``h`` fits again, when ``h`` starts on its
        reserved candidate first in its level if that has room (:meth:`_honour`). A
        reservation ends when ``h`` is no longer waiting or in a round that considers
        ``h``'s class (it starts then if it has room, or, still blocked, is reserved anew
        by :meth:`_reserve`). Without reservations made earlier this does nothing."""
        kept = []
        jobs = inp.jobs
        for h in self._held:
            if h.moving:  # held for a bridging job's move up
                if self._hold_move(inp, h, levels, pr):
                    kept.append(h)
                continue
            if h.bridge:
                continue  # its bridge start was not made: valued anew
            sig = jobs.signature(h.job)
            waiting = sig in inp.waiting_sigs and h.job in inp.waiting_of(sig)
            if h.of is not jobs or h.job in inp.running or not waiting:
                continue
            window = h.time_s - inp.now
            tenant = jobs.tenant[h.job]
            first = 0 if pr.single else pr.rank(h.job)
            keep = True
            self._kept_at[h.pool] = (h.cand, h.time_s)
            for lv, items in enumerate(levels[first:], start=first):
                for it in items:
                    c = it.cls
                    if c.sig == sig and c.tenant == tenant and h.job in c.jobs:
                        # considered, with room somewhere: it starts on its pool if that has
                        # room (:meth:`_honour`), else as the round decides, or is reserved
                        # anew
                        keep = False
                        if h.job in c.jobs[it.placed :]:
                            self._due.append((lv, it, h.cand, None))
                        continue
                    self._restrict(inp, it, h.pool, window)
            if keep:
                kept.append(h)
                self._count_quota(inp, h)
        self._held = kept

    def _count_quota(self, inp: PolicyInput, h: _Held) -> None:
        """Reservation ``h`` for a waiting job will take its candidate's share of its
        tenant's quotas at its time: later reservations this round count it
        (:func:`~suanli.policy.backfill.quota_free_at`). One with room now starts this
        round instead, and is counted by the capacity as it does."""
        if h.time_s <= inp.now:
            return
        st = inp.capacity.state
        for qi in st.tenant_quotas[inp.jobs.tenant[h.job]]:
            if st.quota_mask[qi][h.pool]:
                self._quota_held[qi] = self._quota_held.get(qi, 0) + h.cand.milli

    def _hold_move(
        self, inp: PolicyInput, h: _Held, levels: list[list[_Item]], pr: Priorities
    ) -> bool:
        """Keep the hold ``h`` for a bridging job's move up while the job runs below the
        held candidate (:meth:`_hold`, as for a waiting job); False when it has ended."""
        if h.of is not inp.jobs or h.job not in inp.running:
            return False
        on = inp.running[h.job].candidate
        if on.pool == h.pool or on.rate >= h.cand.rate:
            return False  # moved up (there or elsewhere)
        self._kept_at[h.pool] = (h.cand, h.time_s)
        window = h.time_s - inp.now
        first = 0 if pr.single else pr.rank(h.job)
        for items in levels[first:]:
            for it in items:
                self._restrict(inp, it, h.pool, window)
        return True

    def _set_spare(self, inp: PolicyInput, pool: int, spare: int) -> None:
        """A new reservation or hold on ``pool`` leaves ``spare`` devices at its time, and no
        more than one of before there does (:meth:`_spare_of`)."""
        if pool in self._spare or pool in self._kept_at:
            spare = min(spare, self._spare_of(inp, pool))
        self._spare[pool] = spare

    def _spare_of(self, inp: PolicyInput, pool: int) -> int:
        """The devices the reservation on ``pool`` leaves spare at its time (what is left
        of them this round); for one kept from an earlier round, counted on first use."""
        got = self._spare.get(pool)
        if got is None:
            cand, t = self._kept_at[pool]
            got = self._spare[pool] = self._spare_at(inp, cand, t)
        return got

    def _spare_at(self, inp: PolicyInput, cand: Candidate, t: float) -> int:
        """``spare_at(inp, cand, t)``, counted again only once ``cand``'s pool changed: the
        same :class:`~suanli.core.capacity.PoolNodes` (the live plane builds new ones when
        a site is masked or comes back) with the same count of changes — devices taken,
        given back, failed or recovered; the running jobs there, their nodes and expected
        ends change only with them. A hold kept for hours is asked every round."""
        pn = inp.capacity.state.pools[cand.pool]
        key = (cand.pool, cand.devices, cand.share, t)
        kept = self._counted.get(key)
        if kept is not None and kept[0] is pn and kept[1] == pn.changes:
            return kept[2]
        if len(self._counted) > 4 * len(self._held) + 16:
            self._counted = {}
        got = spare_at(inp, cand, t)
        self._counted[key] = (pn, pn.changes, got)
        return got

    def _restrict(self, inp: PolicyInput, it: _Item, pool: int, window: float) -> None:
        """A reservation on ``pool`` from ``now + window``: ``it``'s options there that run
        past it, ``τ > window``, are kept only where they fit in the devices it leaves
        spare, ``d ≤ S`` (as EASY backfilling lends them), and marked to draw on them
        (:meth:`_lend`); the others are dropped."""
        good = it.good
        if all(o.cand.pool != pool or o.tau_s <= window for o in good):
            return  # nothing of it runs past the reservation there
        kept: list[_Option] = []
        for o in good:
            if o.cand.pool != pool or o.tau_s <= window:
                kept.append(o)
            elif o.cand.devices <= self._spare_of(inp, pool):
                kept.append(_Option(o.cand, o.tau_s, o.utility, pool))
        it.good = kept

    def _lend(self, o: _Option) -> bool:
        """Whether option ``o`` may be taken: it draws on no reservation, or the devices its
        reserved pool leaves spare still hold it (they are then taken)."""
        if o.held < 0:
            return True
        left = self._spare[o.held]
        if o.cand.devices > left:
            return False
        self._spare[o.held] = left - o.cand.devices
        return True

    def _honour(self, inp: PolicyInput, lv: int, out: PolicyOutput) -> None:
        """Before level ``lv``'s starts: start the job of each reservation of that level
        whose reserved candidate has room now (:meth:`_hold`), worth or not, the
        longest-waiting first."""
        cap = inp.capacity
        for due in [d for d in self._due if d[0] == lv]:
            _, it, cand, pending = due
            if it.placed < it.cls.n and cap.why_not(it.cls.tenant, cand) is None:
                cap.take(it.cls.tenant, cand)
                j = it.cls.jobs[it.placed]
                out.starts.append(Start(j, cand, ON_RESERVATION))
                it.placed += 1
                if pending is not None:  # a bridge: hold its fast pool for the move up
                    self._hold_for(inp, it, j, *pending)
        self._due = [d for d in self._due if d[0] != lv]

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
        held = np.array([o.held for _, o in refs])
        for q, left in self._spare.items():  # what runs past a reservation: its spare only
            cols = held == q
            if cols.any():
                quota_rows.append((cols, float(left)))
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
                if cap.why_not(it.cls.tenant, o.cand) is not None or not self._lend(o):
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
            while (
                it.placed < it.cls.n
                and cap.why_not(it.cls.tenant, o.cand) is None
                and self._lend(o)
            ):
                cap.take(it.cls.tenant, o.cand)
                out.starts.append(Start(it.cls.jobs[it.placed], o.cand, why))
                it.placed += 1
