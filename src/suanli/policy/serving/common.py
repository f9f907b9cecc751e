"""What every serving policy shares: sizing replicas for a load, ordering pools for a
region, and turning target replica counts into decisions (:func:`reconcile`).

**Sizing.** For a load ``λ`` (requests/s, inter-arrival CV ``c``) served from pool *p*
to users ``ℓ`` seconds away, the replicas needed are the fewest ``c_p`` whose fluid-model
attainment reaches the target (:func:`~suanli.perf.queueing.replicas_needed`).

**Reconciling** targets ``T_{kp}`` with the live replicas ``L_{kp}``: where
``L_{kp} > T_{kp}`` the surplus drains, replicas still starting first, then the newest;
where ``L_{kp} < T_{kp}`` replicas are added while the pool has room for them
(devices, power, the tenant's quotas), and, when the policy allows it, after preempting
running preemptible batch jobs on the pool — those that lose least work first (least
time since their last checkpoint, then fewest devices) — until the freed and free
devices hold the replica.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from suanli.core.serving import Scale, ServingDecision, ServingInput
from suanli.core.serving_tables import ServiceTable
from suanli.perf.queueing import ServiceLoad, replicas_needed


def load(t: ServiceTable, lam: float, cv: float) -> ServiceLoad:
    """The service's load at rate ``lam`` with inter-arrival CV ``cv``."""
    return ServiceLoad(lam, t.mean_input, t.mean_output, cv, t.scv_input, t.scv_output)


def needed(t: ServiceTable, p: int, lam: float, cv: float, latency_s: float, target: float) -> int:
    """Replicas of service table ``t`` on pool *p* that serve ``lam`` at ``target``
    attainment (0 for no load; a large number where none suffice)."""
    perf = t.perf[p]
    if lam <= 0.0 or perf is None:
        return 0
    n = replicas_needed(perf, t.service.slo, load(t, lam, cv), latency_s, target=target)
    return int(np.max(n))


def pools_for(inp: ServingInput, k: int, r: int) -> list[int]:
    """Pools that may serve region *r* of service *k*, by the service's preference, then
    latency, then pool index."""
    t = inp.tables.services[k]
    site = inp.fleet.pool_site
    pools = [p for p in t.pools if t.reach_pool[r, p]]
    return sorted(pools, key=lambda p: (t.rank[p], float(t.latency_s[r, site[p]]), p))


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
                    preempt
                    and _make_room(inp, p, cand.devices, taken, dec)
                    and cap.why_not(tenant, cand) is None
                ):
                    break
                cap.take(tenant, cand)
                added += 1
            if added:
                dec.add.append(Scale(k, p, added, why))
    return dec


def _make_room(
    inp: ServingInput, p: int, devices: int, taken: set[int], dec: ServingDecision
) -> bool:
    """Preempt batch jobs on pool *p* until ``devices`` would be free (False: they cannot
    be); the planning view counts their devices and power as freed."""
    cap = inp.capacity
    free = cap.free_devices(p)
    victims = sorted(
        (v for v in inp.preemptible_on(p) if v.job not in taken),
        key=lambda v: (v.since_checkpoint_s, v.devices, v.job),
    )
    chosen = []
    for v in victims:
        if free >= devices:
            break
        chosen.append(v)
        free += v.devices
    if free < devices:
        return False
    for v in chosen:
        taken.add(v.job)
        dec.preempt.append((v.job, "preempted for a service replica"))
        cap.release(v.tenant, p, v.devices, v.busy_w)
    return True


class Spreader:
    """Target replica counts of one service, placed pool by pool within the room each
    pool has: its live replicas of the service plus the replicas the devices free there
    (and, when preempting, held by preemptible batch jobs) would hold. ``room`` is shared
    by the services of one tick, so two services do not count the same free devices."""

    def __init__(self, inp: ServingInput, k: int, room: dict[int, int], preempt: bool) -> None:
        self.inp = inp
        self.k = k
        self.t = inp.tables.services[k]
        self.targets = np.zeros(inp.fleet.n_pools, dtype=np.int64)
        self.room = room
        self.preempt = preempt
        self.unclaimed = {p: len(inp.live[k][p]) for p in self.t.pools}

    def _free(self, p: int) -> int:
        if p not in self.room:
            free = self.inp.capacity.free_devices(p)
            if self.preempt:
                free += sum(v.devices for v in self.inp.preemptible_on(p))
            self.room[p] = free
        return self.room[p]

    def place(self, order: Sequence[int], count: int, sticky: bool) -> int:
        """Claim ``count`` replicas over ``order``: live ones first (in every pool of the
        order when ``sticky``, else pool by pool), then new ones in order; returns how
        many found no room."""
        if sticky:
            count = self._claim(order, count, new=False)
            return self._claim(order, count, new=True)
        for p in order:
            count = self._claim((p,), count, new=False)
            count = self._claim((p,), count, new=True)
        return count

    def _claim(self, order: Sequence[int], count: int, new: bool) -> int:
        for p in order:
            if count <= 0:
                break
            if new:
                n = self.t.devices[p]
                take = min(count, self._free(p) // n)
                self.room[p] -= take * n
            else:
                take = min(count, self.unclaimed[p])
                self.unclaimed[p] -= take
            self.targets[p] += take
            count -= take
        return count
