"""What every serving policy shares: sizing replicas for a load, ordering pools for a
region, and turning target replica counts into decisions (:func:`reconcile`).

**Sizing.** For a load ``λ`` (requests/s, inter-arrival CV ``c``) served from pool *p*
to users ``ℓ`` seconds away, the replicas needed are the fewest ``c_p`` whose fluid-model
attainment reaches the target (:class:`Sizer`, a lookup table of the fluid model).

**Reconciling** targets ``T_{kp}`` with the live replicas ``L_{kp}``: where
``L_{kp} > T_{kp}`` the surplus drains, replicas still starting first, then the newest;
where ``L_{kp} < T_{kp}`` replicas are added while the pool has room for them
(devices, power, the tenant's quotas), and, when the policy allows it, after preempting
running preemptible batch jobs on the pool — those that lose least work first (fewest
device-seconds since their last checkpoint, devices × time: a 1,024-device gang five
minutes past its checkpoint loses more than an 8-device job forty minutes past; then
fewest devices) — until the freed and free devices hold the replica.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from suanli.core.jobtable import Candidate
from suanli.core.serving import Scale, ServingDecision, ServingInput
from suanli.core.serving_tables import ServiceTable
from suanli.perf.queueing import ServiceLoad, slo_attainment


def load(t: ServiceTable, lam: float | np.ndarray, cv: float) -> ServiceLoad:
    """The service's load at rate ``lam`` (one, or one per interval) with inter-arrival
    CV ``cv``."""
    return ServiceLoad(lam, t.mean_input, t.mean_output, cv, t.scv_input, t.scv_output)


class Sizer:
    """The fewest replicas for a load, from a table of the most each count serves.

    For service table *t*, pool *p*, inter-arrival CV *c* (rounded up to a tenth) and
    latency ℓ (rounded up to the millisecond), ``Λ(n)`` is the highest rate *n* replicas
    serve at the target attainment, found by bisection on the fluid model for n = 1…N at
    once (N doubling as needed);
    then ``needed(λ) = min{n : Λ(n) ≥ λ}``, the same answer as
    :func:`~suanli.perf.queueing.replicas_needed` (to the bisection's tolerance, 0.1%)
    in a lookup, since policies ask every tick for every service and region. A target
    no number of replicas reaches (the TPOT, or the network latency alone, misses it) is
    lowered to what a lightly loaded replica attains, less half a point: more replicas
    would not help.
    """

    #: Bisection steps (relative tolerance 2⁻¹⁰ of the capacity n·μ).
    STEPS = 10

    def __init__(self) -> None:
        self._caps: dict[tuple[int, int, float, float, float], np.ndarray] = {}
        #: The target each key's table is built for (what a lightly loaded replica
        #: attains caps it), found once per key rather than once per extension.
        self._goal: dict[tuple[int, int, float, float, float], float] = {}

    def needed(
        self, t: ServiceTable, p: int, lam: float, cv: float, latency_s: float, target: float
    ) -> int:
        """Replicas of ``t`` on pool *p* that serve ``lam`` at ``target`` attainment
        (0 for no load; a large number where none suffice)."""
        if lam <= 0.0 or t.perf[p] is None or t.mu[p] <= 0:
            return 0
        caps = self._caps_for(t, p, cv, latency_s, target, rate=lam)
        if caps[-1] < lam:
            return MAX_REPLICAS + 1
        return int(np.searchsorted(caps, lam)) + 1

    def capacity(
        self, t: ServiceTable, p: int, n: int, cv: float, latency_s: float, target: float
    ) -> float:
        """``Λ(n)``: the highest rate ``n`` replicas of ``t`` on pool *p* serve at
        ``target`` attainment (0 for none)."""
        if n <= 0 or t.perf[p] is None or t.mu[p] <= 0:
            return 0.0
        n = min(n, MAX_REPLICAS)
        return float(self._caps_for(t, p, cv, latency_s, target, count=n)[n - 1])

    def _caps_for(
        self,
        t: ServiceTable,
        p: int,
        cv: float,
        latency_s: float,
        target: float,
        *,
        rate: float = 0.0,
        count: int = 0,
    ) -> np.ndarray:
        """The table ``Λ(1), Λ(2), …`` of ``t`` on pool *p* (CV to the tenth above, latency
        to the ms above), grown by doubling until it reaches ``rate`` and holds ``count``
        entries, or holds ``MAX_REPLICAS``."""
        cv = math.ceil(cv * 10 - 1e-9) / 10
        latency_s = math.ceil(latency_s * 1e3 - 1e-9) / 1e3
        key = (id(t), p, cv, latency_s, target)
        caps = self._caps.get(key)
        if caps is None:
            caps = self._caps[key] = self._table(t, p, cv, latency_s, target, 1, 16)
        while (caps[-1] < rate or len(caps) < count) and len(caps) < MAX_REPLICAS:
            more = self._table(t, p, cv, latency_s, target, len(caps) + 1, 2 * len(caps))
            caps = self._caps[key] = np.maximum.accumulate(np.concatenate([caps, more]))
        return caps

    def _table(
        self, t: ServiceTable, p: int, cv: float, latency_s: float, target: float, a: int, b: int
    ) -> np.ndarray:
        """Λ(n) for n = a…b."""
        perf = t.perf[p]
        assert perf is not None
        slo = t.service.slo
        key = (id(t), p, cv, latency_s, target)
        goal = self._goal.get(key)
        if goal is None:
            # a target the service cannot reach at any scale (its TPOT or the network
            # alone miss it) is lowered to what a lightly loaded replica attains, less ½
            # point
            light = slo_attainment(
                perf, slo, load(t, 1e-3 * float(t.mu[p]), cv), 1, latency_s, p99=False
            )
            goal = self._goal[key] = min(target, float(np.max(light.attainment)) - 0.005)
        target = goal
        c = np.arange(a, b + 1, dtype=float)
        lo, hi = np.zeros(len(c)), c * float(t.mu[p])
        for _ in range(self.STEPS):
            mid = (lo + hi) / 2
            att = slo_attainment(perf, slo, load(t, mid, cv), c, latency_s, p99=False).attainment
            ok = np.broadcast_to(att, mid.shape) >= target
            lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid)
        return np.maximum.accumulate(lo)  # more replicas never serve less


#: The most replicas :class:`Sizer` considers for one load.
MAX_REPLICAS = 4096


def pools_for(inp: ServingInput, k: int, r: int) -> list[int]:
    """Pools that may serve region *r* of service *k*, by the service's preference, then
    latency, then pool index (precomputed: :attr:`ServiceTable.region_pools`)."""
    return list(inp.tables.services[k].region_pools[r])


def clamp(t: ServiceTable, targets: np.ndarray) -> np.ndarray:
    """Targets within the service's ``min_replicas``/``max_replicas`` (trimmed from the
    pools with most replicas; raised on the pool that has most, else the first)."""
    svc = t.service
    out = targets.copy()
    cap = svc.max_replicas if svc.max_replicas is not None else math.inf
    while out.sum() > cap:
        out[int(np.argmax(out))] -= 1
    if out.sum() < svc.min_replicas and t.pools:
        p = int(np.argmax(out)) if out.any() else t.pools[0]
        out[p] += svc.min_replicas - int(out.sum())
    return out


def reconcile(
    inp: ServingInput, targets: Sequence[np.ndarray], preempt: bool, why: str
) -> ServingDecision:
    """Decisions that move the live replicas to ``targets[k][p]`` (module docstring)."""
    dec = ServingDecision()
    cap = inp.capacity
    taken: set[int] = set()
    for k, t in enumerate(inp.tables.services):
        tenant = inp.tenant_of[k]
        for p in t.pools:
            live = list(inp.live[k][p])
            goal = int(targets[k][p])
            if len(live) > goal:
                ready = inp.ready[k][p]
                starting = live[ready:] if ready < len(live) else []
                order = [*reversed(starting), *reversed(live[: len(live) - len(starting)])]
                for j in order[: len(live) - goal]:
                    dec.drain.append((j, f"scaled down: {why}"))
                continue
            cand = inp.candidate(k, p)
            if cand is None:
                continue
            added = 0
            for _ in range(goal - len(live)):
                if cap.why_not(tenant, cand) is not None and not (
                    preempt and _make_room(inp, tenant, cand, taken, dec)
                ):
                    break
                cap.take(tenant, cand)
                added += 1
            if added:
                dec.add.append(Scale(k, p, added, why))
    return dec


def _make_room(
    inp: ServingInput, tenant: int, cand: Candidate, taken: set[int], dec: ServingDecision
) -> bool:
    """Preempt batch jobs on the candidate's pool, least work lost first (device-seconds
    since the last checkpoint), until the replica would fit; False (and nothing preempted)
    when it cannot. The planning view counts the preempted jobs' devices and power as
    freed."""
    cap = inp.capacity
    p = cand.pool
    mark = cap.mark()
    victims = sorted(
        (v for v in inp.preemptible_on(p) if v.job not in taken),
        key=lambda v: (v.since_checkpoint_s * v.devices, v.devices, v.job),
    )
    chosen = []
    for v in victims:
        if cap.why_not(tenant, cand) is None:
            break
        cap.release(v.tenant, p, v.devices, v.busy_w)
        chosen.append(v)
    if cap.why_not(tenant, cand) is not None:
        cap.rollback(mark)
        return False
    for v in chosen:
        taken.add(v.job)
        dec.preempt.append((v.job, "preempted for a service replica"))
    return True


class Spreader:
    """Places one service's replicas pool by pool: live replicas are claimed, new ones
    reserved in the planning view where they fit (after preempting batch work when
    allowed); what fits nowhere is counted short. :meth:`settle` turns the result into
    decisions. ``dec`` and ``taken`` (jobs already chosen for preemption) are shared by the
    services of one tick, so two services never count the same free devices."""

    def __init__(
        self, inp: ServingInput, k: int, dec: ServingDecision, taken: set[int], preempt: bool
    ) -> None:
        self.inp = inp
        self.k = k
        self.t = inp.tables.services[k]
        self.dec = dec
        self.taken = taken
        self.preempt = preempt
        self.targets = np.zeros(inp.fleet.n_pools, dtype=np.int64)
        self.added = np.zeros(inp.fleet.n_pools, dtype=np.int64)
        self.unclaimed = {p: len(inp.live[k][p]) for p in self.t.pools}
        self.short = 0
        #: Replicas per pool once settled (:meth:`settle`).
        self.goal = self.targets

    def place(self, order: Sequence[int], count: int, sticky: bool) -> int:
        """Claim ``count`` replicas over ``order``: live ones first (in every pool of the
        order when ``sticky``, else pool by pool), then new ones in order; returns how
        many found no room (also added to :attr:`short`)."""
        if sticky:
            count = self._claim(order, count, new=False)
            count = self._claim(order, count, new=True)
        else:
            for p in order:
                count = self._claim((p,), count, new=False)
                count = self._claim((p,), count, new=True)
        self.short += count
        return count

    def _claim(self, order: Sequence[int], count: int, new: bool) -> int:
        for p in order:
            if count <= 0:
                break
            take = self._reserve(p, count) if new else min(count, self.unclaimed[p])
            if new:
                self.added[p] += take
            else:
                self.unclaimed[p] -= take
            self.targets[p] += take
            count -= take
        return count

    def _reserve(self, p: int, count: int) -> int:
        """Reserve up to ``count`` new replicas on pool *p*; how many fit."""
        inp = self.inp
        cand = inp.candidate(self.k, p)
        if cand is None:
            return 0
        tenant = inp.tenant_of[self.k]
        cap = inp.capacity
        got = 0
        while got < count and (
            cap.why_not(tenant, cand) is None
            or (self.preempt and _make_room(inp, tenant, cand, self.taken, self.dec))
        ):
            cap.take(tenant, cand)
            got += 1
        return got

    def settle(self, why: str) -> None:
        """Decisions for the service: its targets within ``min_replicas``/``max_replicas``
        (:func:`clamp`), new replicas where they were reserved, and the surplus drained
        (replicas still starting first, then the newest)."""
        inp, k, dec = self.inp, self.k, self.dec
        goal = self.goal = clamp(self.t, self.targets)
        for p in self.t.pools:
            live = list(inp.live[k][p])
            added = int(self.added[p])
            want = int(goal[p])
            if want > len(live) + added:
                added += self._reserve(p, want - len(live) - added)
            added = max(0, min(added, want - len(live)))
            if added:
                dec.add.append(Scale(k, p, added, why))
            if want < len(live):
                ready = inp.ready[k][p]
                starting = live[ready:] if ready < len(live) else []
                order = [*reversed(starting), *reversed(live[: len(live) - len(starting)])]
                for j in order[: len(live) - want]:
                    dec.drain.append((j, f"scaled down: {why}"))
        if self.short:
            dec.short[k] = dec.short.get(k, 0) + self.short
