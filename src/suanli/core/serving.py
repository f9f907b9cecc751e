"""Online inference services in the shared core: replicas that follow demand, beside the
batch work of the same :class:`~suanli.core.state.SchedulingState`.

A **replica** of service *k* is a job of the scheduling state that never finishes
(infinite work, not preemptible) holding ``n_{kp}`` devices of pool *p*: it is placed by
:meth:`SchedulingState.place`, serves once its cold start is over (the state's
``COMPUTE_START``), and when scaled down it stops taking requests and frees its devices
after draining (``DRAIN``). Batch policies see replicas as running jobs they cannot
preempt; a serving policy may preempt preemptible batch jobs to make room.

Every serving tick (``tick_s``) :meth:`ServingState.tick` first **accounts** for the
interval just ended, then asks the serving policy for decisions. Accounting, for each
service over ``[t₀, t₁)`` with Δ = t₁ − t₀:

* region *r* offers ``λ_r`` requests/s (its curve's mean over the interval);
* **routing**, in two passes. First, where the policy's last decision carried a
  :class:`RoutePlan` (the rate ``y_{rp}`` it sized pool *p*'s replicas for on behalf of
  region *r*, counting on ``n_p`` replicas there), each region sends its requests to its
  planned pools in proportion to their ready planned rates
  ``ỹ_{rp} = y_{rp} min(1, c_p / n_p)`` (``c_p`` ready replicas), up to
  ``Ỹ_r = Σ_p ỹ_{rp}``: ``x_{rp} = min(λ_r, Ỹ_r) ỹ_{rp} / Ỹ_r``. Then what is left of
  each region (all of ``λ_r`` without a plan), regions fewest reachable pools first, is
  spread over the pools holding ready replicas within the region's latency bound,
  filling the capacity still spare after the planned loads, ``c_p μ_p − x_p``, in
  proportion (what is left beyond all spare capacity goes in proportion to capacity).
  So a pool's load is the load its replicas were sized for, plus only what fits in
  capacity nobody planned for. A region with no reachable ready replica has its
  requests **dropped**;
* pool *p* then serves ``λ_p = Σ_r x_{rp}`` with inter-arrival SCV
  ``Σ_r x_{rp} c_r² / λ_p`` on ``c_p`` replicas, and the fluid model
  (:func:`~suanli.perf.queueing.slo_attainment`, with the backlog it carried from the
  previous interval) gives the attainment ``a_{rp}`` of region *r*'s requests there,
  their network latency ``ℓ_{rp}`` included;
* requests ``λ_r Δ``, on time ``Σ_p x_{rp} a_{rp} Δ``, tokens served
  ``Σ_p x_{rp} min(1, 1/ρ_p) Δ (Ī + Ō)``.

The observed rates (what a monitoring system would have seen) are kept per region and
interval for policies that forecast. The simulator calls :meth:`tick` on its virtual
clock and the live control plane on the wall clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import ClassVar, Protocol

import numpy as np

from suanli.core.capacity import Capacity
from suanli.core.events import EventKind, EventQueue
from suanli.core.jobtable import Candidate
from suanli.core.policy import PolicyParams, Preempt
from suanli.core.serving_tables import ServiceTable, ServingTables
from suanli.core.state import RUNNING, PolicyError, SchedulingState
from suanli.core.tables import FleetTables
from suanli.model.job import Job, JobKind
from suanli.perf.queueing import Attainment, ServiceLoad, slo_attainment
from suanli.perf.serving import SERVING_PROFILE as SERVING_PROFILE_MODEL

#: The profile replicas run under (added to a scenario with services).
SERVING_PROFILE = SERVING_PROFILE_MODEL.id


#: History a warm start gives the services (:meth:`ServingState.warm_start`): one day.
WARM_HISTORY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class Scale:
    """Add ``count`` replicas of service ``service`` on ``pool``."""

    service: int
    pool: int
    count: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class RoutePlan:
    """Which load a service's replicas were sized for: ``rates[r, p]`` requests/s of
    region *r* planned on pool *p*, counting on ``replicas[p]`` replicas there (routing
    sends each region's requests by this plan first: the module docstring)."""

    rates: np.ndarray
    replicas: np.ndarray
    #: ``limit[p]``: the rate ``replicas[p]`` replicas serve at the attainment they were
    #: sized for (routing fills a pool beyond it only when every pool in reach is there).
    limit: np.ndarray


@dataclass(slots=True)
class ServingDecision:
    """A serving policy's decisions: batch jobs to preempt (first), replicas to drain
    (job indices), replicas to add; and how many more it wanted but found no room for."""

    preempt: list[tuple[int, str]] = field(default_factory=list)
    drain: list[tuple[int, str]] = field(default_factory=list)
    add: list[Scale] = field(default_factory=list)
    #: Per service, replicas the policy wanted that found no room.
    short: dict[int, int] = field(default_factory=dict)
    #: Per service, the load each pool's replicas are sized for (routing follows it until
    #: the next decision); a service without one is routed by spare capacity alone.
    plan: dict[int, RoutePlan] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Victim:
    """A running batch job a replica may displace: ``devices`` held, ``busy_w`` drawn,
    seconds of work since its last checkpoint (lost if it is preempted now)."""

    job: int
    tenant: int
    devices: int
    busy_w: float
    since_checkpoint_s: float


@dataclass(frozen=True, eq=False)
class ServingInput:
    """What a serving policy sees at a tick.

    ``live[k][p]`` are the replicas of service *k* on pool *p* not draining (oldest
    first), ``ready`` those of them serving; ``observed[k]`` the rates each region of *k*
    offered in past intervals (``(regions, intervals)``, oldest first, one per tick);
    ``capacity`` the batch core's planning view (free devices, power, quotas);
    ``preemptible_on(p)`` the running batch jobs a replica may displace on pool *p*;
    ``candidate(k, p)`` what a replica of *k* takes on *p*.
    """

    now: float
    tick_s: float
    horizon_s: float
    fleet: FleetTables
    tables: ServingTables
    live: Sequence[Sequence[Sequence[int]]]
    ready: Sequence[Sequence[int]]
    observed: Sequence[np.ndarray]
    capacity: Capacity
    tenant_of: Sequence[int]
    preemptible_on: Callable[[int], Sequence[Victim]]
    candidate: Callable[[int, int], Candidate | None]


class ServingPolicy(Protocol):
    """Decides the replicas of every service at each serving tick."""

    name: ClassVar[str]
    tick_s: float

    def decide(self, inp: ServingInput) -> ServingDecision:
        """Decisions for one tick."""
        ...


class ServingParams(PolicyParams):
    """Base of serving-policy parameters (scenario ``policies: {name: {...}}``)."""


@dataclass(slots=True)
class Replica:
    """A replica of service ``service`` on ``pool`` (job index ``job``)."""

    job: int
    service: int
    pool: int
    started_s: float
    draining: bool = False


class History:
    """Rates observed per region and interval, oldest first: a ``(regions, n)`` array grown
    by doubling, so that a policy's view of it (:meth:`view`) costs no copy."""

    def __init__(self, regions: int) -> None:
        self._a = np.zeros((regions, 16))
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def append(self, rates: np.ndarray) -> None:
        """Add one interval's rates (one per region)."""
        if self._n == self._a.shape[1]:
            grown = np.zeros((self._a.shape[0], 2 * self._n))
            grown[:, : self._n] = self._a
            self._a = grown
        self._a[:, self._n] = rates
        self._n += 1

    def view(self) -> np.ndarray:
        """The history so far, ``(regions, intervals)`` (read only)."""
        out = self._a[:, : self._n]
        out.flags.writeable = False
        return out


@dataclass(slots=True)
class ServiceTotals:
    """A service's running totals per region (arrays over its regions)."""

    requests: np.ndarray
    on_time: np.ndarray
    dropped: np.ndarray
    tokens: np.ndarray
    cold_starts: int = 0
    #: Replicas a policy asked for that found no room when placed.
    unplaced: int = 0
    #: Per tick: (t₀, demand req/s, capacity req/s, ready replicas, devices held, attainment).
    series: list[tuple[float, float, float, int, float, float]] = field(default_factory=list)
    #: Ready replicas per pool per tick (pool → list aligned with ``series``).
    by_pool: dict[int, list[int]] = field(default_factory=dict)


class ServingState:
    """The replicas of every service and their accounting (see the module docstring)."""

    def __init__(
        self,
        st: SchedulingState,
        tables: ServingTables,
        events: EventQueue,
        tick_s: float,
        replica_id: Callable[[int, int], str] | None = None,
    ) -> None:
        self.st = st
        #: The job id of a new replica of service *k* on pool *p* (the live control plane
        #: names it by its database row); default ``<service>#r<n>``.
        self.replica_id = replica_id
        self.tables = tables
        self.events = events
        self.tick_s = tick_s
        self.replicas: dict[int, Replica] = {}
        #: Every replica ever placed (job index → service), for the outcomes.
        self.replica_service: dict[int, int] = {}
        n_pools = st.tables.n_pools
        self.live: list[list[list[int]]] = [[[] for _ in range(n_pools)] for _ in tables.services]
        self.backlog = [np.zeros(n_pools) for _ in tables.services]
        self.observed = [History(len(t.regions)) for t in tables.services]
        #: Fluid-model answers of recent intervals, by their inputs (:meth:`account`).
        self._fluid_memo: dict[tuple[object, ...], tuple[ServiceTable, Attainment]] = {}
        self.totals = [
            ServiceTotals(*(np.zeros(len(s.regions)) for _ in range(4)))  # type: ignore[arg-type]
            for s in tables.services
        ]
        self.last_t = 0.0
        #: Replicas placed at time 0 serve at once (a simulated run begins with its
        #: services already serving: :meth:`warm_start`).
        self.warm = False
        #: Replicas placed so far (the ``n`` of the default name ``<service>#r<n>``).
        self.seq = 0
        self._cands: dict[tuple[int, int], Candidate | None] = {}
        #: The routing plan of the last decision, per service (:class:`RoutePlan`).
        self.plans: dict[int, RoutePlan] = {}

    def warm_start(self) -> None:
        """Begin as if the services had been serving before time 0: replicas placed at 0
        need no cold start, and the last day before 0 counts as observed (what the
        monitoring of services already serving holds: a forecaster that reads yesterday
        works from the first tick, as it would in steady operation)."""
        self.warm = True
        ticks = max(1, round(WARM_HISTORY_S / self.tick_s))
        for k, t in enumerate(self.tables.services):
            if not self.observed[k]:
                for i in range(ticks, 0, -1):
                    a, b = -i * self.tick_s, -(i - 1) * self.tick_s
                    self.observed[k].append(np.array([d.mean_rate(a, b) for d in t.demand]))

    def seed(self, now: float) -> None:
        """Services without history get the tick before ``now`` as observed (what a
        monitoring system would have seen)."""
        for k, t in enumerate(self.tables.services):
            if not self.observed[k]:
                self.observed[k].append(
                    np.array([d.mean_rate(now - self.tick_s, now) for d in t.demand])
                )

    def adopt(self, j: int, k: int, p: int, started_s: float) -> None:
        """Running job *j* is a replica of service *k* on pool *p* (the live control
        plane's replicas, taken over after a restart)."""
        self.replicas[j] = Replica(j, k, p, started_s)
        self.replica_service[j] = k
        self.live[k][p].append(j)

    def retable(self, tables: ServingTables) -> list[int]:
        """Serve ``tables``' services from now on (services added, changed or removed in
        the live control plane): a service's replicas, history and totals follow its id;
        returns the replicas of services no longer there (they serve nothing more), for
        the caller to stop."""
        old = {t.service.id: k for k, t in enumerate(self.tables.services)}
        n_pools = self.st.tables.n_pools
        live: list[list[list[int]]] = []
        backlog: list[np.ndarray] = []
        observed: list[History] = []
        totals: list[ServiceTotals] = []
        for t in tables.services:
            k = old.get(t.service.id)
            same_regions = k is not None and self.tables.services[k].regions == t.regions
            if k is None or not same_regions:
                live.append([[] for _ in range(n_pools)])
                backlog.append(np.zeros(n_pools))
                observed.append(History(len(t.regions)))
                totals.append(ServiceTotals(*(np.zeros(len(t.regions)) for _ in range(4))))  # type: ignore[arg-type]
            else:
                live.append(self.live[k])
                backlog.append(self.backlog[k])
                observed.append(self.observed[k])
                totals.append(self.totals[k])
        new_k = {t.service.id: k for k, t in enumerate(tables.services)}
        orphans: list[int] = []
        for j, r in self.replicas.items():
            k2 = new_k.get(self.tables.services[r.service].service.id)
            kept = k2 is not None and live[k2] is self.live[r.service]
            if k2 is not None and kept and tables.services[k2].devices[r.pool]:
                r.service = k2
                self.replica_service[j] = k2
                continue
            if k2 is not None and kept and not r.draining:
                live[k2][r.pool].remove(j)
            if not r.draining:
                orphans.append(j)
            r.draining = True  # it serves nothing more; it ends when its job does
            self.replica_service.pop(j, None)
        self.tables, self.live, self.backlog = tables, live, backlog
        self.observed, self.totals = observed, totals
        self._cands.clear()
        self.plans = {}  # indices changed; the next decision plans again
        return orphans

    # -- the policy interface -------------------------------------------------------------
    def snapshot(self, now: float) -> ServingInput:
        """What a serving policy sees now."""
        self._forget_lost()
        st = self.st
        running, computing = st.running, attrgetter("computing")
        ready = [
            [
                sum(map(computing, filter(None, map(running.get, pool)))) if pool else 0
                for pool in svc
            ]
            for svc in self.live
        ]
        return ServingInput(
            now=now,
            tick_s=self.tick_s,
            horizon_s=st.tables.hours * 3600.0,
            fleet=st.tables,
            tables=self.tables,
            live=self.live,
            ready=ready,
            observed=[obs.view() for obs in self.observed],
            capacity=Capacity(st.cluster),
            tenant_of=[
                st.jobs.tables.tenant_ids.index(t.service.tenant) for t in self.tables.services
            ],
            preemptible_on=self._victims_at(now),
            candidate=self.candidate,
        )

    def apply(self, dec: ServingDecision, now: float) -> None:
        """Carry out a serving policy's decisions: preemptions, drains, then new replicas."""
        st = self.st
        for j, why in dec.preempt:
            if j in self.replicas or st.status[j] != RUNNING or not st.preemptible(j):
                raise PolicyError(
                    f"serving policy preempted job {st.jobs.ids[j]}, which it may not"
                )
            st.preempt(j, now, why)
            if st.record:  # the live control plane cancels it at its site
                st.applied.append(Preempt(j, why))
            st.round_due = True
        for j, why in dec.drain:
            self.drain(j, now, why)
        for k, n in dec.short.items():
            self.totals[k].unplaced += n
        self.plans = dict(dec.plan)
        for sc in dec.add:
            cand = self.candidate(sc.service, sc.pool)
            tenant = st.tables.tenant_ids.index(self.tables.services[sc.service].service.tenant)
            for _ in range(sc.count):
                # a policy plans on free devices; nodes may still be too fragmented
                if cand is None or Capacity(st.cluster).why_not(tenant, cand) is not None:
                    self.totals[sc.service].unplaced += 1
                    break
                self.add_replica(sc.service, sc.pool, now, sc.reason)

    def tick(self, policy: ServingPolicy, now: float) -> None:
        """Account for the interval since the last tick, then let ``policy`` decide."""
        self.account(self.last_t, now)
        self.last_t = now
        self.apply(policy.decide(self.snapshot(now)), now)

    # -- replicas ---------------------------------------------------------------------------
    def candidate(self, k: int, p: int) -> Candidate | None:
        """What a replica of service *k* takes on pool *p* (None: it cannot go there)."""
        key = (k, p)
        if key not in self._cands:
            t = self.tables.services[k]
            cand = None
            if t.devices[p]:
                cands = self.st.jobs.candidates_of(self._job(k, p, 0.0, "probe"))
                cand = next((c for c in cands if c.pool == p), None)
            self._cands[key] = cand
        return self._cands[key]

    def add_replica(self, k: int, p: int, now: float, why: str) -> int:
        """Place a new replica of service *k* on pool *p* (cold start before it serves)."""
        t = self.tables.services[k]
        self.seq += 1
        name = (
            self.replica_id(k, p) if self.replica_id is not None else f"{t.service.id}#r{self.seq}"
        )
        job = self._job(k, p, now, name)
        cold = not (self.warm and now == 0.0)
        j = self.st.place(job, p, now, t.cold_start_s if cold else 0.0, why or "for demand")
        self.replicas[j] = Replica(j, k, p, now)
        self.replica_service[j] = k
        self.live[k][p].append(j)
        self.totals[k].cold_starts += cold
        return j

    def drain(self, j: int, now: float, why: str) -> None:
        """Stop sending requests to replica *j*; it frees its devices after draining."""
        r = self.replicas.get(j)
        if r is None or r.draining:
            raise PolicyError(
                f"serving policy drained job {self.st.jobs.ids[j]}, not a live replica"
            )
        r.draining = True
        self.live[r.service][r.pool].remove(j)
        t = self.tables.services[r.service]
        delay = t.drain_s if self._ready(j) else 0.0  # a replica still starting has no requests
        self.events.push(now + delay, EventKind.DRAIN, j, self.st.epoch[j])

    def timer(self, kind: int, a: int, b: int, now: float) -> None:
        """A timer this state set is due: a drained replica frees its devices."""
        if kind == EventKind.DRAIN and a in self.replicas and self.st.epoch[a] == b:
            if self.st.status[a] == RUNNING:
                self.st.end(a, now, "drained (scaled down)")
            del self.replicas[a]

    def _job(self, k: int, p: int, now: float, name: str) -> Job:
        t = self.tables.services[k]
        svc = t.service
        return Job(
            id=name,
            submit_s=now,
            work_pflop=math.inf,
            gang=t.devices[p],
            tenant=svc.tenant,
            profile=SERVING_PROFILE,
            kind=JobKind.BATCH_INFERENCE,
            accepted_types=(self.st.tables.acc_ids[self.st.tables.pool_acc[p]],),
            preemptible=False,
            priority=svc.priority,
        )

    def _ready(self, j: int) -> bool:
        rs = self.st.running.get(j)
        return rs is not None and rs.computing

    def _forget_lost(self) -> None:
        """Replicas that ended without a drain (their node failed)."""
        for j in [j for j, r in self.replicas.items() if self.st.status[j] != RUNNING]:
            r = self.replicas.pop(j)
            if not r.draining:
                self.live[r.service][r.pool].remove(j)

    def _victims_at(self, now: float) -> Callable[[int], Sequence[Victim]]:
        """``preemptible_on`` for one snapshot: each pool's list built once (a policy asks
        for a pool's victims for every replica that does not fit there)."""
        lists: dict[int, list[Victim]] = {}

        def on(p: int) -> Sequence[Victim]:
            got = lists.get(p)
            if got is None:
                got = lists[p] = self._preemptible_on(p, now)
            return got

        return on

    def _preemptible_on(self, p: int, now: float) -> list[Victim]:
        st = self.st
        out = []
        for j in sorted(st.running_by_pool[p]):
            if j in self.replicas or not st.preemptible(j):
                continue
            rs = st.running[j]
            interval = st.jobs.checkpoint_s[j]
            since = max(0.0, now - rs.compute_start_s) if rs.computing else 0.0
            lost = since % interval if interval > 0 else 0.0
            out.append(Victim(j, st.jobs.tenant[j], rs.cand.devices, rs.cand.busy_w, lost))
        return out

    # -- accounting -------------------------------------------------------------------------
    def account(self, t0: float, t1: float) -> None:
        """Requests offered, routed and served over ``[t0, t1)`` (module docstring)."""
        if t1 <= t0:
            return
        self._forget_lost()
        dt = t1 - t0
        running = self.st.running
        computing = attrgetter("computing")
        pool_site = self.st.tables.pool_site
        for k, t in enumerate(self.tables.services):
            lam = np.array([d.mean_rate(t0, t1) for d in t.demand])
            cvs = np.array([d.cv(t0) for d in t.demand])
            self.observed[k].append(lam)
            # replicas serving (their RunState computing), counted without a Python frame
            # per replica
            ready = np.array(
                [
                    sum(map(computing, filter(None, map(running.get, pl)))) if pl else 0
                    for pl in self.live[k]
                ]
            )
            x = route(lam, ready, t, self.plans.get(k))
            tot = self.totals[k]
            tot.requests += lam * dt
            tot.dropped += np.where(x.sum(axis=1) > 0, 0.0, lam) * dt  # no replica in reach
            held = 0.0
            for p in t.pools:
                held += len(self.live[k][p]) * t.devices[p]
                tot.by_pool.setdefault(p, []).append(int(ready[p]))
            # Pools serving requests: (pool, its regions' rates, regions, CV).
            serving: list[tuple[int, np.ndarray, np.ndarray, float]] = []
            for p in (int(q) for q in np.flatnonzero(ready)):
                share = x[:, p]
                lam_p = float(share.sum())
                if lam_p <= 0.0:
                    self.backlog[k][p] = 0.0
                    continue
                rs = np.flatnonzero(share > 0)
                cv = math.sqrt(float((share[rs] * cvs[rs] ** 2).sum()) / lam_p)
                serving.append((p, share, rs, cv))
            # The fluid model once for the pools of one replica type (the latency of each
            # region that sends requests to one of them: to the others, left out below),
            # element by element the same as one call per pool.
            groups: dict[int, list[int]] = {}
            for i, (p, *_) in enumerate(serving):
                groups.setdefault(id(t.perf[p]), []).append(i)
            # Demand curves are often constant for a while (hourly means): the same
            # inputs give the same answer, kept for a few ticks.
            memo = self._fluid_memo
            found: list[tuple[Attainment | None, int, np.ndarray]] = [(None, 0, lam)] * len(serving)
            for members in groups.values():
                ps = [serving[i][0] for i in members]
                perf = t.perf[ps[0]]
                assert perf is not None
                used = np.unique(np.concatenate([serving[i][2] for i in members]))
                rate = np.array([[float(serving[i][1].sum())] for i in members])
                cv_p = np.array([[serving[i][3]] for i in members])
                c_p, b_p = ready[ps][:, None], self.backlog[k][ps][:, None]
                key = (id(t), *ps, dt, *(a.tobytes() for a in (used, rate, cv_p, c_p, b_p)))
                hit = memo.get(key)
                if hit is not None and hit[0] is t:
                    res = hit[1]
                else:
                    load = ServiceLoad(  # (pools, 1): the regions' latencies add an axis
                        rate, t.mean_input, t.mean_output, cv_p, t.scv_input, t.scv_output
                    )
                    res = slo_attainment(
                        perf,
                        t.service.slo,
                        load,
                        c_p,
                        t.latency_s[used][:, [pool_site[p] for p in ps]].T,
                        dt,
                        b_p,
                        p99=False,
                    )
                    if len(memo) >= 256:
                        memo.clear()
                    memo[key] = (t, res)
                for n, i in enumerate(members):
                    found[i] = (res, n, used)
            att_all = 0.0
            for (p, share, rs, _), (got, n, used) in zip(serving, found, strict=True):
                assert got is not None
                self.backlog[k][p] = float(got.backlog_end[n, 0])
                att = got.attainment[n, np.searchsorted(used, rs)]
                tot.on_time[rs] += share[rs] * att * dt
                served = min(1.0, 1.0 / max(float(got.utilisation[n, 0]), 1e-12))
                tot.tokens[rs] += share[rs] * served * dt * (t.mean_input + t.mean_output)
                att_all += float((share[rs] * att).sum())
            demand = float(lam.sum())
            cap = float((ready * t.mu).sum())
            tot.series.append(
                (t0, demand, cap, int(ready.sum()), held, att_all / demand if demand else 1.0)
            )


def route(
    lam: np.ndarray, ready: np.ndarray, t: ServiceTable, plan: RoutePlan | None = None
) -> np.ndarray:
    """``x[r, p]``: requests/s of region *r* sent to pool *p*: by ``plan`` first, then
    over the spare capacity (module docstring)."""
    x = np.zeros((len(lam), len(ready)))
    cap = ready * t.mu
    if not cap.any():
        return x
    ok = t.reach_pool & (cap > 0)[None, :]
    order = sorted(range(len(lam)), key=lambda r: (int(ok[r].sum()), r))
    used = np.zeros(len(ready))
    y = reserved = limit = None
    if plan is not None:
        n = plan.replicas
        scale = np.where(n > 0, np.minimum(1.0, ready / np.maximum(n, 1)), 0.0)
        y = np.where(ok, plan.rates * scale[None, :], 0.0)
        reserved = y.sum(axis=0)  # planned for the regions not routed yet
        # a pool no plan sized: its full capacity
        limit = np.where(n > 0, np.minimum(plan.limit * scale, cap), cap)

    def send(r: int, pools: np.ndarray, share: np.ndarray) -> None:
        x[r, pools] += share
        used[pools] += share

    for r in order:
        if y is not None and reserved is not None:
            reserved -= y[r]
        if lam[r] <= 0 or not ok[r].any():
            continue
        pools = np.flatnonzero(ok[r])
        rest = float(lam[r])
        if y is not None and reserved is not None and limit is not None:
            # the region's own plan, then capacity nobody planned for, then the rest of
            # the planned capacity, all within what the pools serve at the target
            lim = limit[pools]
            for tier in range(3):
                free = np.maximum(lim - used[pools], 0.0)
                if tier == 0:
                    room = np.minimum(y[r, pools], free)
                elif tier == 1:
                    room = np.maximum(free - np.maximum(reserved[pools], 0.0), 0.0)
                else:
                    room = free
                total = float(room.sum())
                if total <= 0:
                    continue
                take = min(rest, total)
                send(r, pools, take * room / total)
                rest -= take
                if rest <= 1e-12 * float(lam[r]):
                    break
            if rest <= 1e-12 * float(lam[r]):
                continue
        spare = np.maximum(cap[pools] - used[pools], 0.0)
        if spare.sum() >= rest:
            send(r, pools, rest * spare / spare.sum())
        else:
            send(r, pools, spare + (rest - spare.sum()) * cap[pools] / cap[pools].sum())
    return x


@dataclass(frozen=True, eq=False)
class ServiceOutcome:
    """What one service got over a run (per region where an array)."""

    service: str
    regions: tuple[str, ...]
    requests: np.ndarray
    on_time: np.ndarray
    dropped: np.ndarray
    tokens: np.ndarray
    cold_starts: int
    unplaced: int
    #: Device-seconds held by replicas, per pool; facility energy (kWh), cost, carbon (kg).
    device_s: np.ndarray
    energy_kwh: float
    cost: float
    carbon_kg: float
    #: Per tick: start (s), demand and capacity (req/s), ready replicas, devices held,
    #: attainment; ``ready_by_pool[p]`` ready replicas per tick.
    series: np.ndarray
    ready_by_pool: dict[int, np.ndarray]

    @property
    def attainment(self) -> float:
        """Share of all requests answered within the SLO (1 without requests)."""
        total = float(self.requests.sum())
        return float(self.on_time.sum()) / total if total > 0 else 1.0

    def per_mtok(self, value: float) -> float:
        """``value`` per million tokens served (NaN without tokens)."""
        tok = float(self.tokens.sum())
        return value / tok * 1e6 if tok > 0 else math.nan


def service_outcomes(srv: ServingState, end_s: float) -> tuple[ServiceOutcome, ...]:
    """Every service's outcome, its replicas' energy, cost and carbon from the stretches
    they held devices (idle power while starting, busy power once serving; PUE; the
    site's hourly net price and carbon intensity)."""
    st = srv.st
    t = st.tables
    n_pools = t.n_pools
    acc: list[list[float]] = [[0.0, 0.0, 0.0] for _ in srv.tables.services]
    dev = [np.zeros(n_pools) for _ in srv.tables.services]
    for sp in st.stretches:
        k = srv.replica_service.get(sp.job)
        if k is None:
            continue
        p, site = sp.pool, t.pool_site[sp.pool]
        t1 = end_s if math.isnan(sp.end_s) else min(sp.end_s, end_s)
        t0, tc = sp.start_s, min(max(sp.compute_start_s, sp.start_s), t1)
        if t1 <= t0:
            continue
        cand = srv.candidate(k, p)
        busy_kw = (cand.busy_w if cand is not None else 0.0) / 1e3
        idle_kw = sp.devices * float(t.pool_idle_w[p]) / 1e3
        pue = t.site_pue[site]
        dev[k][p] += sp.devices * (t1 - t0)
        kwh = pue * (idle_kw * (t1 - t0) + busy_kw * (t1 - tc)) / 3600.0
        acc[k][0] += kwh
        acc[k][1] += (
            pue
            * (
                idle_kw * t.net_price_integral(p, t0, t1)
                + busy_kw * t.net_price_integral(p, tc, t1)
            )
            / 3600.0
        )
        acc[k][2] += (
            pue
            * (
                idle_kw * t.carbon_integral(site, t0, t1)
                + busy_kw * t.carbon_integral(site, tc, t1)
            )
            / 3600.0
        )
    out = []
    for k, tab in enumerate(srv.tables.services):
        tot = srv.totals[k]
        n = len(tot.series)
        out.append(
            ServiceOutcome(
                service=tab.service.id,
                regions=tab.regions,
                requests=tot.requests.copy(),
                on_time=tot.on_time.copy(),
                dropped=tot.dropped.copy(),
                tokens=tot.tokens.copy(),
                cold_starts=tot.cold_starts,
                unplaced=tot.unplaced,
                device_s=dev[k],
                energy_kwh=acc[k][0],
                cost=acc[k][1],
                carbon_kg=acc[k][2],
                series=np.array(tot.series, dtype=float).reshape(n, 6),
                ready_by_pool={p: np.array(v) for p, v in sorted(tot.by_pool.items()) if any(v)},
            )
        )
    return tuple(out)
