"""``backfill``: EASY backfilling (Lifka 1995; as in Slurm's backfill scheduler).

1. Start jobs in queue order — higher effective priority first, then arrival
   (:mod:`suanli.policy.priority`) — first fit (as ``fifo``), until the head of the
   queue fits nowhere: the head is the highest-priority job that does not fit.
2. Reserve for the head: on each of its candidate pools, walk the running jobs
   by expected end and find the earliest time *T* its gang fits (whole nodes for
   gangs of a node or more) and its power draw ``w`` fits its site's cap — the
   site's headroom now plus the draw of the site's running jobs expected to end by
   *T* (:func:`earliest_fit`); keep the pool with the smallest *T*, the devices *S*
   that will still be free there at *T* after the head takes its own, and the power
   ``W = headroom + draw ended by T − w`` left at the site.
3. Backfill: a later job may start now on a candidate with room if it does not
   delay the head (:func:`beside`) — at another site, or expected to end by *T*, or
   running past *T* within what the reservation leaves: on another pool of the
   site within *W* watts, on the reserved pool within *S* devices and *W* watts
   (which it then consumes). Candidates for backfilling are taken in queue order
   too. Backfilling never delays the head, whatever its priority, and nothing is
   preempted.

Power is part of the reservation because a site's cap is shared by its pools: a head
held back by power alone (its devices free) would otherwise be reserved "now", and
small jobs on the site's other pools would take every watt the ends free, one at a
time, for as long as they keep coming (``tests/policy/test_backfill_power.py``).

Expected run times come from the throughput model (the simulator's estimate of
a job's duration is exact, unlike user estimates on real clusters). Reservations
do not consider quotas (a quota-bound head is passed over; ``suanli``'s reservations
time them with :func:`quota_free_at`). As in Slurm, the FIFO part runs on every
event and the backfill part every ``tick_s`` (Slurm's ``bf_interval``, default
30 s) and for jobs that just arrived; at most ``max_jobs_per_round`` jobs are
examined per backfill pass (Slurm's ``bf_max_job_test`` defaults to 500).
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from suanli.core.jobtable import Candidate
from suanli.core.policy import PolicyInput, PolicyOutput, PolicyParams, Start
from suanli.policy.common import explain, looks
from suanli.policy.costs import expected_end
from suanli.policy.freed import Freed
from suanli.policy.priority import Priorities
from suanli.policy.registry import register


@dataclass(slots=True)
class Reservation:
    """Where and when the head of the queue will start, and what is left over there:
    ``spare`` devices on its pool; ``spare_w`` watts at its site once the head (drawing
    ``need_w``) starts — at first the headroom when it was reserved less ``need_w``, a
    lower bound (ends only free power), raised once by the draw of the site's running
    jobs expected to end by ``time_s`` when a job asks for more (``exact``:
    :func:`spare_power`)."""

    pool: int
    time_s: float
    spare: int
    need_w: float
    spare_w: float
    exact: bool = False

    def copy(self) -> Reservation:
        """A copy, to keep (what later jobs take is taken from the original)."""
        return dataclasses.replace(self)


@register("backfill")
class Backfill:
    """EASY backfilling."""

    name = "backfill"

    class Params(PolicyParams):
        """Knobs of EASY backfilling."""

        tick_s: float = 30.0
        max_jobs_per_round: int = 500

    def __init__(self, params: Params, rng: np.random.Generator) -> None:
        self.tick_s = params.tick_s
        self.depth = params.max_jobs_per_round
        #: The outcome of the last full backfill pass that started nothing, while it holds.
        self._memo: _Memo | None = None
        self.priorities = Priorities()

    def decide(self, inp: PolicyInput) -> PolicyOutput:
        """FIFO starts, a reservation for the blocked head, then backfilling."""
        out = PolicyOutput(default_reason="waiting: cannot start without delaying the head")
        memo, self._memo = self._memo, None
        if inp.arrived or inp.freed:
            memo = None  # something changed since the last round
        cap = inp.capacity
        jobs = inp.jobs
        head = -1
        pr = self.priorities.update(inp)
        why_start = pr.in_order()
        for j in pr.order(inp):
            tenant = jobs.tenant[j]
            for c in jobs.candidates(j):
                if cap.why_not(tenant, c) is None:
                    cap.take(tenant, c)
                    out.starts.append(Start(j, c, why_start))
                    break
            else:
                head = j
                break
        if head < 0:
            return out
        if out.starts:
            out.reasons[head] = "head of the queue: " + explain(inp, head)
            out.again = True  # plan the reservation and backfill on the new state
            return out
        if inp.full or head in inp.arrived:
            out.reasons[head] = "head of the queue: " + explain(inp, head)
        if not inp.full and not inp.arrived:
            self._memo = memo  # nothing changed: a memo still holds
            return out  # the backfill pass runs on ticks (bf_interval) and for new arrivals
        plan = _LazyReservation(inp, head, out)
        if memo is not None and inp.full and memo.holds(inp, head):
            # Nothing changed since a full pass that started nothing: it would start nothing
            # again (capacity and the reservation are the same, and time only makes jobs
            # end later), and give the head the same reason.
            if memo.res is not None:
                plan.reuse(memo.res, memo.now)
            self._memo = memo
            return out
        scan = pr.scan(inp, freed=inp.freed if inp.full else 0)
        fits: dict[tuple[int, int], list[Candidate]] = {}  # until capacity changes
        pools = range(inp.tables.n_pools)
        # whether a device or share is free anywhere (None: not known since the last take);
        # once none is, no job fits and the scan can stop
        room: bool | None = any(cap.free_amount(p) > 0 for p in pools)
        for n, j in enumerate(scan):
            if n >= self.depth or room is False:
                break
            if j == head:
                continue
            slot, fitted, why = self._backfill_slot(inp, j, plan, fits)
            if slot is not None:
                cap.take(jobs.tenant[j], slot)
                fits.clear()
                room = None
                out.starts.append(Start(j, slot, f"backfilled ahead of job {jobs.ids[head]}{why}"))
            elif not fitted:  # capacity only shrinks within a round: skip its whole signature
                scan.skip(jobs.signature(j))
                if room is None:
                    room = any(cap.free_amount(p) > 0 for p in pools)
        if inp.full and not out.starts:
            self._memo = _Memo.take(inp, head, plan.res if plan.done else None)
        return out

    @staticmethod
    def _backfill_slot(
        inp: PolicyInput,
        j: int,
        plan: _LazyReservation,
        fits: dict[tuple[int, int], list[Candidate]],
    ) -> tuple[Candidate | None, bool, str]:
        """A candidate that fits now and does not delay the head, and why it does not;
        whether any fits. ``fits`` caches, per signature and tenant, the candidates that
        fit now (the caller clears it when it takes capacity)."""
        tenant = inp.jobs.tenant[j]
        key = (inp.jobs.signature(j), tenant)
        room = fits.get(key)
        if room is None:  # ask the capacity in the same order as without the cache
            why_not = inp.capacity.why_not
            cands: Iterable[Candidate] = (
                c for c in inp.jobs.candidates(j) if why_not(tenant, c) is None
            )
        else:
            cands = room
        seen: list[Candidate] = []
        for c in cands:
            seen.append(c)
            res = plan.get()
            if res is None:
                return c, True, ", which has no reservation (quota-bound, or no room in sight)"
            why = beside(inp, j, c, res)
            if why is not None:
                return c, True, why
        if room is None:
            fits[key] = seen
        return None, bool(seen), ""


@dataclass(slots=True)
class _Memo:
    """A full backfill pass that started nothing: the head, its reservation, when, and
    what the cluster looked like (free devices per node bucket and shared device, power,
    quotas, running jobs, data replicas)."""

    state: object
    head: int
    waiting: int
    now: float
    res: Reservation | None
    look: tuple[object, ...]

    @staticmethod
    def looks(inp: PolicyInput) -> tuple[object, ...]:
        """What the cluster looks like to the backfill pass (:func:`~suanli.policy.common.
        looks`) and where the data sets' replicas are."""
        return (*looks(inp), inp.replicas)

    @classmethod
    def take(cls, inp: PolicyInput, head: int, res: Reservation | None) -> _Memo:
        """The memo of this round's pass (``res``: the reservation, if it was computed)."""
        r = None if res is None else res.copy()
        return cls(inp.capacity.state, head, len(inp.waiting), inp.now, r, cls.looks(inp))

    def holds(self, inp: PolicyInput, head: int) -> bool:
        """Whether nothing the pass depends on changed since (time moving on aside)."""
        return (
            self.state is inp.capacity.state
            and self.head == head
            and self.waiting == len(inp.waiting)
            and inp.now >= self.now
            and self.look == self.looks(inp)
        )


class _LazyReservation:
    """The head's reservation, computed the first time a job could backfill."""

    def __init__(self, inp: PolicyInput, head: int, out: PolicyOutput) -> None:
        self.inp, self.head, self.out = inp, head, out
        self.done = False
        self.res: Reservation | None = None

    def get(self) -> Reservation | None:
        """The reservation (``None``: the head is quota-bound or can never start)."""
        if not self.done:
            self.done = True
            self._explain(reservation(self.inp, self.head))
        return self.res

    def reuse(self, res: Reservation, then: float) -> None:
        """Take the reservation a pass at time ``then`` computed (unless it was ``then``
        itself: the head fitted its devices, and it would be now)."""
        self.done = True
        if res.time_s == then:
            self._explain(reservation(self.inp, self.head))
        else:
            self._explain(res.copy())

    def _explain(self, res: Reservation | None) -> None:
        self.res = res
        if res is not None:
            self.out.reasons[self.head] = (
                f"head of the queue, reserved on {self.inp.tables.pool_label(res.pool)} "
                f"from t={res.time_s:,.0f} s: " + explain(self.inp, self.head)
            )


def reservation(inp: PolicyInput, head: int) -> Reservation | None:
    """The earliest start of ``head`` over its candidates (``None``: quota-bound or never)."""
    best: Reservation | None = None
    tenant = inp.jobs.tenant[head]
    for c in inp.jobs.candidates(head):
        if inp.capacity.why_not(tenant, c) == "quota":
            continue
        r = earliest_fit(inp, c)
        if r is not None and (best is None or r.time_s < best.time_s):
            best = r
    return best


def beside(inp: PolicyInput, j: int, c: Candidate, res: Reservation) -> str | None:
    """Why job ``j`` may start now on ``c`` (which has room) without delaying the head
    reserved by ``res`` — at another site; expected to end by the reservation; or within
    what it leaves spare at its time: on another pool of its site, power; on its pool,
    devices and power (taken from ``res``) — else ``None``."""
    t = inp.tables
    if t.pool_site[c.pool] != t.pool_site[res.pool]:
        return " without delaying it: the head is reserved on another pool"
    if expected_end(inp, j, c, inp.now) <= res.time_s:
        return " without delaying it: expected to end before its reserved start"
    if c.busy_w > res.spare_w + 1e-6 and c.busy_w > spare_power(inp, res) + 1e-6:
        return None
    if c.pool != res.pool:
        res.spare_w -= c.busy_w
        return " without delaying it: on another pool, in power the reservation leaves spare"
    if c.devices > res.spare:
        return None
    res.spare -= c.devices
    res.spare_w -= c.busy_w
    return " without delaying it: on devices its reservation leaves spare"


def earliest_fit(inp: PolicyInput, cand: Candidate) -> Reservation | None:
    """When ``cand``'s devices (or share) will be free on its pool and its power draw
    within its site's cap, as running jobs end as expected (quotas aside).

    With ``h`` the site's power headroom now, ``w`` the draw of ``cand``, and ``e_k``,
    ``w_k`` the expected ends and draws of the site's running jobs in order of end, the
    power allows ``cand`` from ``t_w = min{e_k : h + Σ_{i ≤ k} w_i ≥ w}`` (now if
    ``h ≥ w``); the reservation is at ``max(t_devices, t_w)``."""
    freed = Freed(inp, cand.pool)
    t = freed.until_fits(cand, inp.ending_on(cand.pool))
    if t is None:
        return None
    site = inp.tables.pool_site[cand.pool]
    w = cand.busy_w
    left = inp.capacity.power_headroom_w(site) - w
    short = -left
    if short <= 1e-6:  # the power allows it now, so at t too (ends only free power)
        return Reservation(cand.pool, t, _spare(freed, cand), w, left)
    for end, drawn in _site_ends(inp, site):
        short -= drawn
        if short <= 1e-6:
            if end <= t:
                return Reservation(cand.pool, t, _spare(freed, cand), w, left)
            return Reservation(cand.pool, end, spare_at(inp, cand, end), w, left)
    return None  # not even with every running job of the site ended


def quota_free_at(
    inp: PolicyInput, tenant: int, cand: Candidate, held: Mapping[int, int] | None = None
) -> float | None:
    """When ``tenant``'s quotas let ``cand`` start, as its running jobs end as expected
    (devices and power aside; ``None``: never, with every one of them ended).

    For each quota ``q`` of the tenant that covers ``cand``'s pool, with ``U_q`` its use,
    ``Δ_q`` what the round took of it so far, ``M_q`` its limit and ``m`` what ``cand``
    takes (thousandths of a device) and ``H_q`` what reservations made before it for the
    tenant's other jobs will take (``held``, per quota), the excess is
    ``x_q = U_q + Δ_q + H_q + m − M_q``; with ``e_k``, ``m_k`` the expected ends and holdings
    of the tenant's running jobs on ``q``'s pools in order of end, ``q`` allows ``cand`` from
    ``t_q = min{e_k : Σ_{i ≤ k} m_i ≥ x_q}`` (now if ``x_q ≤ 0``); the answer is
    ``max(now, max_q t_q)``. What the round started and the reservations will take are
    not seen to end: where the running jobs' ends alone fall short, ``None``. A running
    job held outside the cluster's account (the live plane's, with no room after a
    restart) holds nothing of a quota and frees nothing."""
    cap = inp.capacity
    st = cap.state
    t = inp.now
    owner = inp.jobs.tenant
    for qi in st.tenant_quotas[tenant]:
        mask = st.quota_mask[qi]
        if not mask[cand.pool]:
            continue
        excess = st.quota_usage[qi] + cap.quota_delta(qi) + cand.milli - st.quota_max[qi]
        if held:
            excess += held.get(qi, 0)
        if excess <= 0:
            continue
        pools = [p for p, covered in enumerate(mask) if covered]
        for end, j in heapq.merge(*(inp.ending_on(p) for p in pools)):
            if owner[j] != tenant or (not inp.nodes_of(j) and inp.share_of(j) is None):
                continue
            excess -= inp.running.held(j).milli
            if excess <= 0:
                t = max(t, end)
                break
        else:
            return None
    return t


def spare_power(inp: PolicyInput, res: Reservation) -> float:
    """Watts the reserved pool's site has left at ``res.time_s`` once the head starts,
    less what later jobs took: the first time, ``res.spare_w`` is raised by the draw of
    the site's running jobs expected to end by then."""
    if not res.exact:
        res.exact = True
        for end, w in _site_ends(inp, inp.tables.pool_site[res.pool]):
            if end > res.time_s:
                break
            res.spare_w += w
    return res.spare_w


def _site_ends(inp: PolicyInput, site: int) -> Iterator[tuple[float, float]]:
    """``(expected end, power draw)`` of the running jobs of ``site``, in order of end."""
    t = inp.tables
    pools = [p for p in range(t.n_pools) if t.pool_site[p] == site]
    for end, j in heapq.merge(*(inp.ending_on(p) for p in pools)):
        yield end, inp.running.held(j).busy_w


def spare_at(inp: PolicyInput, cand: Candidate, t: float) -> int:
    """Devices free on ``cand``'s pool at time ``t`` — running jobs expected to end by
    then stopped — after ``cand`` takes its own (as :func:`_spare`); 0 if it does not fit
    then. A reservation kept from an earlier round lends these to work that runs past
    its time (the round's own starts are already running, so counted)."""
    freed = Freed(inp, cand.pool)
    for end, j in inp.ending_on(cand.pool):
        if end > t:
            break
        freed.stop(j)
    return max(_spare(freed, cand), 0) if freed.fits(cand) else 0


def _spare(freed: Freed, cand: Candidate) -> int:
    """Devices free at the reservation after the head takes its own (whole nodes for
    gangs; none counted beside a share)."""
    d = freed.pn.per_node
    if cand.share:
        return 0
    if cand.devices >= d:
        return (freed.full_nodes - cand.devices // d) * d
    return max(freed.free_devices - cand.devices, 0)
