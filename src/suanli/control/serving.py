"""Online inference services in the live control plane: the shared
:class:`~suanli.core.serving.ServingState` on the wall clock, its replicas as jobs.

The services are the database's (:class:`~suanli.store.services.ServiceStore`): the
scenario's, seeded once, and those created over the API, with the demand and replica
bounds the API set on top. Every serving tick the loop thread calls :meth:`LiveServing.tick`
— the same :meth:`ServingState.tick <suanli.core.serving.ServingState.tick>` the simulator
calls on its virtual clock, with the same serving policy code. Then:

* a **new replica** is a row of ``jobs`` (``service_id`` set, no work: it runs until
  stopped) inserted when the policy places it, and dispatched to its site like any job
  (intent written first, then submitted: :class:`~suanli.control.book.JobBook`); Slurm
  runs it as a long-running job without a time limit;
* it **serves** once its cold start is over (the model's, from its dispatch);
* a **drained** replica frees its devices when the drain ends: the book cancels its job
  at the site and ends its row (``cancelled``, "drained");
* a replica that **ends at its site** on its own (failed, node lost) leaves the service;
  the next tick replaces it if demand needs it;
* a replica **lost at dispatch** (its site never had it) is not requeued as a batch job
  would be: it ends (``failed``) and the policy places another.

**Restarts.** Replica rows are reloaded with the other unfinished jobs, hold their devices
again and are reconciled with their sites' listings, so no replica is lost or doubled: a
row inserted but never dispatched (a crash in between) is ended, never submitted. After a
restart the replicas serve at once (their cold start was before); one that was draining
serves again, and the next tick decides anew (its drain starts over).

**Demand.** Live, what users offer is what the API says: a service's demand curve (the
scenario's or the one it was created with), or the rates per region set with ``PATCH
/v1/services/{id}``; a deployment feeds its gateway's measured rates that way. Changing
the services or their demand rebuilds the serving tables (:meth:`ServingState.retable
<suanli.core.serving.ServingState.retable>`); replicas stay with their services, and a
deleted service's replicas are stopped at once.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from suanli.config.service_schema import ServiceConfig
from suanli.config.services import service_from_config
from suanli.control.book import JobBook
from suanli.core.capacity import Capacity
from suanli.core.events import EventKind
from suanli.core.serving import SERVING_PROFILE, ServingPolicy, ServingState, route
from suanli.core.serving_tables import ServingTables, build_serving_tables
from suanli.core.state import RUNNING, PolicyError
from suanli.errors import InputError
from suanli.model.fleet import Tenant
from suanli.model.job import JobKind
from suanli.model.scenario import Scenario
from suanli.model.service import Service
from suanli.store.jobs import JobStore
from suanli.store.records import ServiceRecord, ServiceSampleRecord
from suanli.store.schema import JobState
from suanli.store.services import ServiceStore

log = logging.getLogger("suanli.control")

#: What a replica runs when its service names no command: it holds the devices until
#: stopped (a deployment sets ``command`` to start its model server).
DEFAULT_REPLICA_COMMAND = "exec sleep infinity"


@dataclass(frozen=True, slots=True)
class ReplicaView:
    """One replica as the API shows it."""

    job_id: int
    site: str
    pool: str
    accelerator: str
    devices: int
    state: str  # "starting", "ready" or "draining"
    job_state: str
    external_id: str | None
    since: float  # POSIX s of its placement


@dataclass(frozen=True, slots=True)
class RouteView:
    """Where one user region's requests go: a pool, its share (requests/s), latency."""

    region: str
    site: str
    pool: str
    rps: float
    latency_ms: float


@dataclass(frozen=True, slots=True)
class ServiceView:
    """A service's live state: demand and capacity now (requests/s), replicas, the last
    tick's SLO attainment and the run's so far, replicas wanted without room."""

    id: str
    tenant: str
    origin: str
    demand_rps: dict[str, float]
    capacity_rps: float
    replicas: tuple[ReplicaView, ...]
    attainment_last: float | None
    attainment: float | None
    tokens_per_s: float
    short: int
    routes: tuple[RouteView, ...]


class LiveServing:
    """The services of one live control plane (see the module docstring)."""

    def __init__(
        self,
        scenario: Scenario,
        book: JobBook,
        store: ServiceStore,
        jobs: JobStore,
        policy: ServingPolicy,
    ) -> None:
        self.scenario = scenario
        self.book = book
        self.store = store
        self.jobs = jobs
        self.policy = policy
        self.policy_name = policy.name
        self.records: dict[str, ServiceRecord] = {}
        self.srv = ServingState(
            book.state,
            ServingTables(()),
            book.state.events,
            policy.tick_s,
            replica_id=self._new_row,
        )
        self._pending: list[int] = []  # rows inserted this tick (database ids)
        self._names: dict[int, str] = {}  # their names
        self.short: dict[str, int] = {}
        self._tokens: dict[str, float] = {}  # tokens served so far, per service
        self.tokens_per_s: dict[str, float] = {}  # over the last tick

    # -- services ---------------------------------------------------------------------------
    def load(self, tenants: Sequence[Tenant]) -> None:
        """Read the services from the database and serve them from now on (replicas of
        services gone are stopped)."""
        records = {r.id: r for r in self.store.all()}
        services: list[Service] = []
        rates: dict[str, dict[str, float]] = {}
        builtin = {s.id: s for s in self.scenario.services}
        for rec in records.values():
            svc = self._service(rec, builtin, tenants)
            if svc is None:
                continue
            services.append(svc)
            if rec.demand_rps:
                rates[svc.id] = {r: float(v) for r, v in rec.demand_rps.items()}
        self.records = {s.id: records[s.id] for s in services}
        tables = build_serving_tables(self.book.state.tables, services, rates)
        for j in self.srv.retable(tables):
            self.book.stop(self.book.db_id(j), "its service was deleted")
        self.srv.seed(self.book.now_s())

    def _service(
        self, rec: ServiceRecord, builtin: Mapping[str, Service], tenants: Sequence[Tenant]
    ) -> Service | None:
        if rec.spec is None:
            svc = builtin.get(rec.id)
            if svc is None:
                log.warning("service %s: no longer in the scenario; not served", rec.id)
                return None
        else:
            try:
                svc = service_from_config(
                    ServiceConfig.model_validate(rec.spec), self.scenario, tenants, rec.id
                )
            except (InputError, ValueError) as exc:
                log.warning("service %s cannot be served on this fleet: %s", rec.id, exc)
                return None
        return svc.bounded(rec.min_replicas, rec.max_replicas)

    def rebind(self, tenants: Sequence[Tenant], now: float) -> None:
        """The book's scheduling state was replaced (new tenants, or compaction): serve
        from it, the services' history kept and their running replicas taken over (a
        replica that was draining is stopped now: its drain's timer went with the old
        state)."""
        old = self.srv
        draining = [j for j, r in old.replicas.items() if r.draining]
        db_draining = {int(old.st.jobs.ids[j]) for j in draining}
        self.srv = ServingState(
            self.book.state,
            ServingTables(()),
            self.book.state.events,
            self.policy.tick_s,
            replica_id=self._new_row,
        )
        self.load(tenants)
        by_id = {t.service.id: k for k, t in enumerate(old.tables.services)}
        for k, t in enumerate(self.srv.tables.services):
            k0 = by_id.get(t.service.id)
            if k0 is not None and old.tables.services[k0].regions == t.regions:
                self.srv.observed[k] = old.observed[k0]
                self.srv.totals[k] = old.totals[k0]
                self.srv.backlog[k] = old.backlog[k0]
        self.srv.last_t = old.last_t
        for db_id in sorted(db_draining):
            self.book.stop(db_id, "drained (scaled down)")
        self.adopt()
        tick = self.policy.tick_s
        self.srv.events.push(math.floor(now / tick) * tick + tick, EventKind.SERVE)

    def adopt(self) -> None:
        """Take over the replicas the book reloaded after a restart."""
        st = self.book.state
        by_id = {t.service.id: k for k, t in enumerate(self.srv.tables.services)}
        for db_id, lj in sorted(self.book.live.items()):
            if lj.service is None or st.status[lj.j] != RUNNING:
                continue
            k = by_id.get(lj.service)
            p = st.running[lj.j].cand.pool
            if k is None or not self.srv.tables.services[k].devices[p]:
                self.book.stop(db_id, f"service {lj.service} is not served any more")
                continue
            self.srv.adopt(lj.j, k, p, st.running[lj.j].started_s)

    # -- the clock --------------------------------------------------------------------------
    def start(self, now: float) -> float:
        """Begin at scenario second ``now``; returns the first tick's time (now, when
        ``now`` falls on a tick)."""
        tick = self.policy.tick_s
        first = math.ceil(now / tick) * tick
        self.srv.last_t = now
        self.srv.seed(now)
        return first

    def timer(self, kind: int, a: int, b: int, now: float) -> None:
        """A serving timer is due: a tick (then the next is set), or a drain's end."""
        srv = self.srv
        if kind == EventKind.SERVE:
            srv.events.push(now + self.policy.tick_s, EventKind.SERVE)  # first: ticks go on
            try:
                self.tick(now)
            except PolicyError as exc:
                log.error(
                    "serving policy %s: %s (decisions before it stand)", self.policy_name, exc
                )
                self.book.telemetry.policy_errors.inc()
        elif kind == EventKind.DRAIN:
            st = self.book.state
            if a in srv.replicas and st.epoch[a] == b and st.status[a] == RUNNING:
                self.book.stop(self.book.db_id(a), "drained (scaled down)")
            srv.timer(kind, a, b, now)

    def tick(self, now: float) -> None:
        """One serving tick: account, let the policy decide, dispatch new replicas."""
        srv = self.srv
        before = {k: t.unplaced for k, t in enumerate(srv.totals)}
        try:
            srv.tick(self.policy, now)
        finally:  # replicas placed before a failure (a policy error, the database) go out
            for j in self._pending_jobs():
                db_id = self.book.db_id(j)
                r = srv.replicas[j]
                svc = srv.tables.services[r.service].service
                name = self._names.pop(db_id)
                self.book.adopt_replica(db_id, j, svc.tenant, svc.id, name, self._command(svc))
            self.book.carry_out()
        self.short = {
            t.service.id: srv.totals[k].unplaced - before.get(k, 0)
            for k, t in enumerate(srv.tables.services)
        }
        self._samples()

    def _new_row(self, k: int, p: int) -> str:
        """Insert the row of a new replica of service *k* on pool *p*; its id."""
        t = self.srv.tables.services[k]
        st = self.book.state
        spec = dict(
            kind=JobKind.BATCH_INFERENCE.value,
            profile=SERVING_PROFILE,
            gang=t.devices[p],
            work_pflop=None,
            accepted_types=[st.tables.acc_ids[st.tables.pool_acc[p]]],
            preemptible=False,
            priority=t.service.priority,
            service=t.service.id,
        )
        rec, _ = self.jobs.submit(
            t.service.tenant,
            spec,
            self._command(t.service),
            name=f"{t.service.id}#r{self.srv.seq}",
            at=self.book.clock.time(),
            service_id=t.service.id,
        )
        self._pending.append(rec.id)
        self._names[rec.id] = rec.name
        return str(rec.id)

    def _pending_jobs(self) -> list[int]:
        st = self.book.state
        index = {int(st.jobs.ids[j]): j for j in self.srv.replicas if st.jobs.ids[j].isdigit()}
        out = []
        for db_id in self._pending:
            j = index.get(db_id)
            if j is None:  # inserted, then not placed: never dispatched
                self._names.pop(db_id, None)
                self.book.discard_row(db_id, "replica not placed (no room when placed)")
            else:
                out.append(j)
        self._pending = []
        return out

    @staticmethod
    def _command(svc: Service) -> str:
        return svc.command or DEFAULT_REPLICA_COMMAND

    def _samples(self) -> None:
        """This tick's sample of every service (for the dashboard and the metrics)."""
        srv = self.srv
        epoch0 = self.book.epoch0
        out = []
        for k, t in enumerate(srv.tables.services):
            tot = srv.totals[k]
            if not tot.series:
                continue
            t0, demand, cap, _, _, att = tot.series[-1]
            # replicas and devices as the tick left them; demand, capacity and attainment
            # over the interval it accounted for
            live = [j for pl in srv.live[k] for j in pl]
            st = self.book.state
            ready = sum(1 for j in live if j in st.running and st.running[j].computing)
            starting = len(live) - ready
            held = sum(
                st.running[j].cand.devices
                for j in srv.replicas
                if j in st.running and srv.replica_service.get(j) == k
            )
            dt = max(srv.last_t - t0, 1e-9)
            tokens = float(tot.tokens.sum())
            prev = self._tokens.get(t.service.id, tokens)
            self._tokens[t.service.id] = tokens
            self.tokens_per_s[t.service.id] = max(0.0, tokens - prev) / dt
            out.append(
                ServiceSampleRecord(
                    at=epoch0 + t0,
                    service=t.service.id,
                    demand_rps=demand,
                    capacity_rps=cap,
                    ready=int(ready),
                    starting=int(starting),
                    devices=int(held),
                    attainment=att,
                    tokens_per_s=self.tokens_per_s[t.service.id],
                )
            )
        self.book.batch.service_samples.extend(out)
        self.book.telemetry.observe_services(out)

    # -- what the API shows -----------------------------------------------------------------
    def view(self, sid: str, now: float) -> ServiceView | None:
        """Service ``sid`` now (``None`` if it is not served)."""
        srv = self.srv
        k = next((i for i, t in enumerate(srv.tables.services) if t.service.id == sid), None)
        if k is None:
            return None
        t = srv.tables.services[k]
        st = self.book.state
        ft = st.tables
        lam = np.array([d.mean_rate(now, now) for d in t.demand])
        ready = np.zeros(ft.n_pools)
        replicas = []
        for j, r in sorted(srv.replicas.items()):
            if r.service != k and srv.replica_service.get(j) != k:
                continue
            rs = st.running.get(j)
            if rs is None:
                continue
            ok = rs.computing and not r.draining
            if ok:
                ready[r.pool] += 1
            lj = self.book.live.get(self.book.db_id(j))
            replicas.append(
                ReplicaView(
                    job_id=self.book.db_id(j),
                    site=ft.site_ids[ft.pool_site[r.pool]],
                    pool=ft.pool_ids[r.pool],
                    accelerator=ft.acc_ids[ft.pool_acc[r.pool]],
                    devices=rs.cand.devices,
                    state="draining" if r.draining else "ready" if ok else "starting",
                    job_state=lj.state.value if lj is not None else JobState.CANCELLED.value,
                    external_id=lj.external_id if lj is not None else None,
                    since=self.book.epoch0 + r.started_s,
                )
            )
        x = route(lam, ready, t, srv.plans.get(k))
        routes = tuple(
            RouteView(
                region=t.regions[r],
                site=ft.site_ids[ft.pool_site[p]],
                pool=ft.pool_ids[p],
                rps=float(x[r, p]),
                latency_ms=float(t.latency_s[r, ft.pool_site[p]]) * 1000.0,
            )
            for r in range(len(t.regions))
            for p in np.flatnonzero(x[r] > 0)
        )
        tot = srv.totals[k]
        requests = float(tot.requests.sum())
        rec = self.records[sid]
        last = tot.series[-1] if tot.series else None
        return ServiceView(
            id=sid,
            tenant=t.service.tenant,
            origin=rec.origin,
            demand_rps={t.regions[r]: float(lam[r]) for r in range(len(t.regions))},
            capacity_rps=float((ready * t.mu).sum()),
            replicas=tuple(replicas),
            attainment_last=last[5] if last is not None else None,
            attainment=float(tot.on_time.sum()) / requests if requests > 0 else None,
            tokens_per_s=self.tokens_per_s.get(sid, 0.0),
            short=self.short.get(sid, 0),
            routes=routes,
        )

    def service(self, sid: str) -> Service | None:
        """Service ``sid`` as served (with the replica bounds set over the API), if it is."""
        return next((t.service for t in self.srv.tables.services if t.service.id == sid), None)

    def why(self, sid: str, now: float) -> list[str]:
        """Why service ``sid`` has fewer replicas than its policy wants (empty if it does
        not): per pool in reach of its users, what stops a replica there."""
        srv = self.srv
        k = next((i for i, t in enumerate(srv.tables.services) if t.service.id == sid), None)
        if k is None:
            return []
        short = self.short.get(sid, 0)
        if short <= 0:
            return []
        t = srv.tables.services[k]
        st = self.book.state
        ft = st.tables
        tenant = st.tables.tenant_ids.index(t.service.tenant)
        cap = Capacity(st.cluster)
        out = [f"the {self.policy_name} serving policy wanted {short} more replica(s)"]
        reach = np.flatnonzero(t.reach_pool.any(axis=0))
        for p in (int(q) for q in reach):
            where = ft.pool_label(p)
            site = ft.pool_site[p]
            if not st.site_up[site]:
                out.append(f"{where}: site {ft.site_ids[site]} is not reachable")
                continue
            cand = srv.candidate(k, p)
            if cand is None:
                out.append(f"{where}: cannot hold a replica of {t.devices[p]} devices")
                continue
            why = cap.why_not(tenant, cand)
            out.append(f"{where}: {why}" if why else f"{where}: has room now")
        return out

    def replica_counts(self) -> dict[str, int]:
        """Service id → its live replicas (ready or starting; draining ones not counted)."""
        return {
            t.service.id: sum(len(pl) for pl in self.srv.live[k])
            for k, t in enumerate(self.srv.tables.services)
        }
