"""The live control plane: the shared scheduling core on the wall clock, against real sites.

One thread owns the :class:`~suanli.core.state.SchedulingState` — the same object, with
the same methods, that the simulator drives — inside the :class:`~suanli.control.book.JobBook`
of unfinished jobs, and is the only writer of job state changes. It wakes on messages — a
job submitted or a cancellation asked for over the API, a site's answer — and on timers
(site polls, the state's own timers, the policy's tick, hour boundaries). Each
:meth:`LiveControl.step`

1. handles the messages (admissions, cancellations, submission results, listings,
   which it reconciles with :func:`~suanli.control.reconcile.reconcile`);
2. hands the state the timers it set that are due (a job's data and restart done, a
   deferred job's time come, an idle node's suspension; a job's real end comes from its
   site, so the model's ``FINISH`` timers are dropped);
3. runs a scheduling round of :class:`~suanli.core.loop.ControlLoop` when jobs arrived,
   capacity was freed, a site came or went, a tick or an hour is due — by the same rule
   as the simulator;
4. writes everything in one database transaction — dispatch *intents* included;
5. only then hands new jobs and cancellations to the sites' workers.

Ticks and hours fall on multiples of the policy's tick and of an hour since the
scenario's start, as in the simulator, so that a stepped clock replays a simulation's
rounds exactly (the equivalence test). Each site has a
:class:`~suanli.control.workers.SiteWorker` running its commands one at a time, so a slow
or dead controller delays nobody else. On start-up every backend first waits for what a
crashed predecessor left in flight, every unfinished job is reloaded, and each site stays
masked (no new work) until a first listing of it has been reconciled. A site whose listing
fails is *unreachable*: its jobs become ``unknown`` and no policy places work there until
it answers again. A policy decision that cannot be carried out is logged and counted; the
decisions before it stand.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from suanli.clock import Clock, SystemClock
from suanli.control.book import JobBook, SiteStatus
from suanli.control.jobspec import TIME_LIMIT_FACTOR
from suanli.control.samples import sample_sites
from suanli.control.serving import LiveServing, ServiceView
from suanli.control.telemetry import Telemetry
from suanli.control.workers import (
    Admit,
    Cancel,
    CancelDone,
    Listed,
    ServicesChanged,
    SiteWorker,
    Submitted,
    TenantsChanged,
)
from suanli.core.accounting import Accounting
from suanli.core.events import EventKind, EventQueue
from suanli.core.jobtable import JobTable
from suanli.core.loop import ControlLoop
from suanli.core.outlook import Outlook, outlook
from suanli.core.sharing import DEFAULT_PLACEMENT, placement_rule, pool_requests
from suanli.core.state import DEFERRED, RUNNING, WAITING, PolicyError, SchedulingState
from suanli.core.tables import FleetTables, build_tables
from suanli.model.fleet import Tenant
from suanli.model.scenario import GeneratorSpec, Scenario
from suanli.model.service import Service
from suanli.policy.registry import (
    DEFAULT_POLICY,
    DEFAULT_SERVING_POLICY,
    make_policy,
    make_serving_policy,
)
from suanli.sites.base import Feature, LogChunk, LogsUnavailable, SiteBackend
from suanli.store.db import Database, unavailable
from suanli.store.jobs import JobStore
from suanli.store.ledger import Ledger
from suanli.store.records import JobRecord
from suanli.store.schema import JobState
from suanli.store.services import ServiceStore
from suanli.store.tenants import TenantStore
from suanli.workload.generator import generate_jobs

log = logging.getLogger("suanli.control")


@dataclass(frozen=True, slots=True)
class LoopSettings:
    """Timing of the live loop (seconds).

    ``poll_s``: how often each site is listed; ``grace_s``: how long after a submission
    ended a listing may judge its absence; ``sweep_s``: how often the database is swept for
    jobs the loop was not told about; ``batch_s``: how long arrivals are gathered into one
    round; ``cancel_retry_s``: when to send an unanswered cancellation again;
    ``orphan_wait_s``: how long backends may wait at start-up for a predecessor's
    submissions; ``first_answer_s``: how long scheduling waits at start-up for every site's
    first answer; ``sample_s``: how often every site's state is sampled for the dashboard
    (:mod:`suanli.control.samples`); ``sample_keep_s``: how long samples are kept;
    ``time_limit_factor``: a job without a time limit of its own is given this many times
    the run time expected (:mod:`suanli.control.jobspec`; 0: none).
    """

    poll_s: float = 2.0
    grace_s: float = 1.0
    sweep_s: float = 10.0
    batch_s: float = 0.02
    cancel_retry_s: float = 10.0
    orphan_wait_s: float = 30.0
    first_answer_s: float = 30.0
    sample_s: float = 60.0
    sample_keep_s: float = 7 * 86400.0
    time_limit_factor: float = TIME_LIMIT_FACTOR


def _accelerator_id(site: str, accelerator: str) -> str:
    return accelerator


class NotSupported(Exception):
    """A site's backend lacks a feature (the message says why)."""


class LiveControl:
    """The control plane's loop thread and site workers (see the module docstring).

    ``device_type(site, accelerator)`` is a site backend's name for an accelerator;
    ``requests`` is the pools' target workload of the placement rule (by default, for
    ``fgd``, the scenario's generated workload). What each backend lacks comes from its
    class (:mod:`suanli.sites.registry`): jobs at a site whose backend cannot stop a
    running job are never preempted.
    """

    def __init__(
        self,
        db: Database,
        scenario: Scenario,
        backends: Mapping[str, SiteBackend],
        device_type: Callable[[str, str], str] = _accelerator_id,
        *,
        policy: str = DEFAULT_POLICY,
        policy_params: Mapping[str, Any] | None = None,
        placement: str = DEFAULT_PLACEMENT,
        requests: Sequence[Mapping[int, int]] | None = None,
        settings: LoopSettings | None = None,
        telemetry: Telemetry | None = None,
        clock: Clock | None = None,
        serving: str | None = DEFAULT_SERVING_POLICY,
    ) -> None:
        self.db = db
        self.scenario = scenario
        self.settings = settings or LoopSettings()
        self.telemetry = telemetry or Telemetry()
        self.telemetry.init_sites([s.id for s in scenario.sites])
        self.clock = clock or SystemClock()
        self.ledger = Ledger(db)
        self.tenant_store = TenantStore(db)
        self.install_id = db.install_id
        self.epoch0 = scenario.start.timestamp()
        params = policy_params if policy_params is not None else scenario.policy_params.get(policy)
        self.policy = make_policy(policy, params)
        self._policy_params = params
        self.policy_name = policy
        placement_rule(placement)  # an unknown name fails here
        self.placement = placement
        self._requests = requests
        self.backends = dict(backends)
        self.view_lock = threading.Lock()
        self.inbox: queue.Queue[object] = queue.Queue()
        self.workers = {s.id: SiteWorker(self.backends[s.id], self.inbox) for s in scenario.sites}
        self.sites = {s.id: SiteStatus(since=self.clock.time()) for s in scenario.sites}
        self.book = JobBook(
            self._new_state(),
            self.sites,
            install_id=db.install_id,
            epoch0=self.epoch0,
            policy_name=policy,
            device_type=device_type,
            telemetry=self.telemetry,
            grace_s=self.settings.grace_s,
            cancel_retry_s=self.settings.cancel_retry_s,
            clock=self.clock,
            time_limit_factor=self.settings.time_limit_factor,
        )
        self.loop = ControlLoop(self.policy, self.book.state)
        self.service_store = ServiceStore(db)
        self.serving: LiveServing | None = None
        if serving is not None:
            sparams = scenario.policy_params.get(f"serving/{serving}")
            self.serving = LiveServing(
                scenario,
                self.book,
                self.service_store,
                JobStore(db),
                make_serving_policy(serving, sparams),
            )
        self._next_tick_s = 0.0
        self._next_hour_s = 0.0
        self._next_poll: dict[str, float] = dict.fromkeys(self.sites, 0.0)
        self._next_sweep = 0.0
        self._next_sample = 0.0
        self._first_round_at: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.round_times: list[float] = []
        self.policy_errors: list[str] = []
        self.heartbeat = self.clock.time()
        #: Whether the loop's last write failed because the database was unavailable.
        self.db_down = False
        self.recovered = threading.Event()

    # -- API side (any thread) --------------------------------------------------------------
    def submitted(self, record: JobRecord) -> None:
        """A job was committed to the database: schedule it."""
        self.inbox.put(Admit(record))

    def cancel_requested(self, job_id: int) -> None:
        """A job's cancellation was committed to the database: carry it out."""
        self.inbox.put(Cancel(job_id))

    def tenants_changed(self) -> None:
        """A tenant was created: rebuild the scheduling tables."""
        self.inbox.put(TenantsChanged())

    def services_changed(self) -> None:
        """A service was created, changed or deleted in the database: serve what it says."""
        self.inbox.put(ServicesChanged())

    @property
    def state(self) -> SchedulingState:
        """The scheduling state (replaced when tenants change)."""
        return self.book.state

    def reason(self, job_id: int) -> str | None:
        """The policy's current reason for a waiting job (``None`` if it is not waiting)."""
        with self.view_lock:
            return self._reason(job_id)

    def _reason(self, job_id: int) -> str | None:
        lj = self.book.live.get(job_id)
        st = self.state
        if lj is None or lj.j >= len(st.status) or st.status[lj.j] not in (WAITING, DEFERRED):
            return None
        why = st.reason(lj.j)
        t = st.tables
        sites = {t.site_ids[t.pool_site[c.pool]] for c in st.jobs.candidates(lj.j)}
        down = sorted(s for s in sites if self.sites[s].reachable is not True)
        if down:
            why += f"; not reachable (or not yet reconciled): {', '.join(down)}"
        return why

    def outlook(self, job_id: int) -> tuple[Outlook, str | None] | None:
        """A waiting job's queue positions and expected start, with the site of the
        expected start (``None`` if the job is not waiting); :mod:`suanli.core.outlook`."""
        with self.view_lock:
            lj = self.book.live.get(job_id)
            st = self.state
            if lj is None or lj.j >= len(st.status) or st.status[lj.j] not in (WAITING, DEFERRED):
                return None
            got = outlook(st, self.book.now_s(), {lj.j}).get(lj.j)
            if got is None:
                return None
            t = st.tables
            p = got.expected_pool
            return got, t.site_ids[t.pool_site[p]] if p is not None else None

    def service_view(self, sid: str) -> ServiceView | None:
        """Service ``sid``'s live state (``None`` if it is not served)."""
        if self.serving is None:
            return None
        with self.view_lock:
            return self.serving.view(sid, self.book.now_s())

    def service_def(self, sid: str) -> Service | None:
        """Service ``sid`` as it is served (``None`` if it is not)."""
        if self.serving is None:
            return None
        with self.view_lock:
            return self.serving.service(sid)

    def service_why(self, sid: str) -> list[str]:
        """Why service ``sid`` is short of replicas (empty if it is not)."""
        if self.serving is None:
            return []
        with self.view_lock:
            return self.serving.why(sid, self.book.now_s())

    def supports(self, site: str, feature: Feature) -> bool:
        """Whether ``site``'s backend can do ``feature`` (as it declares, with its settings)."""
        return feature not in _unsupported(self.backends[site])

    def logs(self, site: str, external_id: str, offset: int) -> LogChunk:
        """A job's output from byte ``offset`` (< 0: its last ``-offset`` bytes), from its
        site's backend (in the caller's thread); raises :class:`NotSupported` or
        :class:`~suanli.sites.base.LogsUnavailable` with the reason."""
        backend = self.backends.get(site)
        if backend is None:
            raise LogsUnavailable(f"site {site} is not in the scenario any more")
        if not self.supports(site, Feature.LOGS):
            raise NotSupported(_unsupported(backend)[Feature.LOGS])
        return backend.logs(external_id, offset)

    @property
    def alive(self) -> bool:
        """Whether the loop thread runs."""
        return self._thread is not None and self._thread.is_alive()

    # -- life cycle -----------------------------------------------------------------------
    def start(self) -> None:
        """Recover state from the database and start the threads."""
        self.recover()
        for w in self.workers.values():
            w.start()
        self._thread = threading.Thread(target=self._run, name="suanli-control", daemon=True)
        self._thread.start()

    def settle_predecessor(self) -> None:
        """Let every backend wait (``orphan_wait_s``) for what a crashed predecessor left in
        flight; :class:`~suanli.sites.base.StillInFlight` if it is still there (done by
        :meth:`recover`; ``suanli serve`` calls it first, to exit with a clear message)."""
        for b in self.backends.values():
            b.before_recovery(self.install_id, self.settings.orphan_wait_s)

    def recover(self) -> None:
        """Let every backend settle what a predecessor left in flight, then take over every
        unfinished job from the database (done by :meth:`start`; call it directly to
        :meth:`step` the loop without threads)."""
        self.settle_predecessor()
        srv = self.serving
        if srv is not None:
            self.service_store.ensure_scenario((s.id, s.tenant) for s in self.scenario.services)
            srv.load(self._tenants())
        for rec in self.ledger.active_jobs():
            self.book.admit(rec)
        if srv is not None:
            srv.adopt()
            first = srv.start(self.book.now_s())
            self.state.events.push(first, EventKind.SERVE)
        self._flush()
        self.recovered.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop (after writing what it has) and the site workers."""
        self._stop.set()
        self.inbox.put(None)
        if self._thread is not None:
            self._thread.join(timeout)
        for w in self.workers.values():
            w.stop()
        for w in self.workers.values():
            if w.thread.is_alive():
                w.thread.join(timeout)

    # -- the loop -------------------------------------------------------------------------
    def _run(self) -> None:
        down_since: float | None = None  # the database has been unavailable since (monotonic)
        while not self._stop.is_set():
            try:
                self.step(self._wait_s())
            except Exception as exc:
                cause = unavailable(exc)
                if cause is None:
                    log.exception("control loop iteration failed; retrying in 1 s")
                elif down_since is None:  # once per outage: the batch is kept and retried
                    down_since = time.monotonic()
                    log.warning("%s; the control loop keeps its changes and retries", cause)
                self.db_down = cause is not None
                self._stop.wait(1.0)
                continue
            if down_since is not None:
                log.warning(
                    "database back after %.1f s; the control loop goes on",
                    time.monotonic() - down_since,
                )
                down_since = None
                self.db_down = False
        try:
            self._flush()
        except Exception:
            log.exception("final write failed")

    def _wait_s(self) -> float:
        """How long the loop may sleep before something is due."""
        now_m = self.clock.monotonic()
        wait = min(self._next_poll.values(), default=math.inf)
        wait = min(wait, self._next_sweep, self._next_sample) - now_m
        if self.state.round_due:
            wait = min(wait, self.settings.batch_s)
        due = (self.next_due() - self.book.now_s()) / self.clock.scale  # in real seconds
        return max(0.0, min(wait, due))

    def next_due(self) -> float:
        """Scenario seconds of the next tick, hour boundary or timer of the state."""
        return min(self._next_tick_s, self._next_hour_s, self.state.events.peek_time())

    def step(self, wait: float = 0.0) -> None:
        """One iteration of the loop (see the module docstring); waits up to ``wait``
        seconds for the first message."""
        messages = self._drain(wait)
        with self.view_lock:  # readers of the state (outlook) see it between changes
            self._step(messages)
        book = self.book
        for site in book.poll_now:
            self._next_poll[site] = 0.0
        book.poll_now.clear()
        now_m = self.clock.monotonic()
        for site, worker in self.workers.items():
            if now_m >= self._next_poll[site] and worker.request_listing():
                self._next_poll[site] = now_m + self.settings.poll_s
        self.heartbeat = self.clock.time()

    def _step(self, messages: list[object]) -> None:
        for m in messages:
            self._handle(m)
        st = self.state
        now_m = self.clock.monotonic()
        if now_m >= self._next_sweep:
            self._sweep()
            self._next_sweep = now_m + self.settings.sweep_s
            if len(st.jobs) > 2 * len(self.book.live) + 10_000:
                self._rebuild()  # compact: the job table keeps every job it was given
                st = self.state
        now = self.book.now_s()
        q = st.events
        while q.peek_time() <= now:
            when, kind, _, a, b = q.pop()
            if kind in (EventKind.SERVE, EventKind.DRAIN):
                if self.serving is not None:
                    self.serving.timer(kind, a, b, when)
            elif kind != EventKind.FINISH:  # real ends come from the sites
                st.timer(kind, a, b, when)
        if now >= self._next_tick_s:
            st.request_round(full=True)
            tick = float(self.policy.tick_s)
            self._next_tick_s = (math.floor(now / tick) + 1) * tick
        if now >= self._next_hour_s:
            st.request_round(full=True)
            self._next_hour_s = (math.floor(now / 3600.0) + 1) * 3600.0
        if st.round_due and self._sites_answered(now_m):
            self._round(now)
        if now_m >= self._next_sample:
            self._sample()
            self._next_sample = now_m + self.settings.sample_s
        self._flush()

    def run_sites(self) -> None:
        """Run every site's queued commands in this thread (workers never started)."""
        for w in self.workers.values():
            w.run_pending()

    def _sites_answered(self, now_m: float) -> bool:
        """Whether every site has answered once (or long enough has passed since start)."""
        if self._first_round_at is None:
            self._first_round_at = now_m + self.settings.first_answer_s
        if now_m >= self._first_round_at:
            return True
        return all(st.reachable is not None for st in self.sites.values())

    def _drain(self, wait: float) -> list[object]:
        msgs: list[object] = []
        try:
            msgs.append(self.inbox.get(timeout=wait) if wait > 0 else self.inbox.get_nowait())
        except queue.Empty:
            return msgs
        while True:
            try:
                msgs.append(self.inbox.get_nowait())
            except queue.Empty:
                return [m for m in msgs if m is not None]

    def _handle(self, m: object) -> None:
        book = self.book
        if isinstance(m, Admit):
            book.admit(m.record)
        elif isinstance(m, Cancel):
            book.on_cancel(m.job_id)
        elif isinstance(m, Submitted):
            book.on_submitted(m.result)
        elif isinstance(m, Listed):
            book.on_listing(m.listing)
        elif isinstance(m, CancelDone):
            if m.error:
                log.warning("site %s: cancelling job %s: %s", m.site, m.external_id, m.error)
        elif isinstance(m, TenantsChanged):
            self._rebuild()
        elif isinstance(m, ServicesChanged) and self.serving is not None:
            self.serving.load(self._tenants())

    def round_now(self, full: bool = True) -> float:
        """Run one scheduling round at once (a full one unless ``full`` is False, when it
        runs only if something changed) and write it; return its duration (s).

        For benchmarks and tests; the loop thread must not be running.
        """
        t0 = time.perf_counter()
        self.state.request_round(full=full)
        self._round(self.book.now_s())
        self._flush()
        return time.perf_counter() - t0

    def _round(self, now: float) -> None:
        t0 = time.perf_counter()
        book = self.book
        passes = len(self.loop.round_times)
        try:
            self.loop.run_due(now)
        except PolicyError as exc:
            log.error("policy %s: %s (the decisions before it stand)", self.policy_name, exc)
            self.telemetry.policy_errors.inc()
            self.policy_errors.append(str(exc))
        finally:
            if len(self.loop.round_times) > passes:
                book.rounds += 1
            book.carry_out()
            book.record_reasons()
        dt = time.perf_counter() - t0
        self.round_times.append(dt)
        self.telemetry.round_seconds.observe(dt)

    def _sample(self) -> None:
        """Add every site's sample (and the pruning of old ones) to the batch, and export
        it (:meth:`~suanli.control.telemetry.Telemetry.observe_sites`)."""
        book = self.book
        now = self.clock.time()
        running = [lj.j for lj in book.live.values() if lj.state is JobState.RUNNING]
        reachable = {k: v.reachable for k, v in self.sites.items()}
        samples = sample_sites(book.state, running, reachable, now, self.epoch0)
        book.batch.samples.extend(samples)
        book.batch.prune_samples_before = now - self.settings.sample_keep_s
        self.telemetry.observe_sites(  # a gap as the dashboard's (suanli.report.live_series)
            samples,
            currency=self.scenario.currency,
            max_gap_s=3.0 * self.settings.sample_s * self.clock.scale,
        )

    def _flush(self) -> None:
        """Write the batch, then hand its submissions and cancellations to the sites."""
        book = self.book
        if book.batch:
            self.ledger.write(book.batch)  # raises: keep everything for the next try
            book.batch = book.new_batch()
        submits, book.submits = book.submits, []
        for site, req in submits:
            self.workers[site].submit(req)
        cancels, book.cancels = book.cancels, []
        for site, external_id in cancels:
            self.workers[site].cancel(external_id)

    # -- the scheduling state ---------------------------------------------------------------
    def _tenants(self) -> tuple[Tenant, ...]:
        known = {t.id: t for t in self.scenario.tenants}
        tenants = tuple(
            known.get(t.id) or Tenant(id=t.id, name=t.name, weight=t.weight, priority=t.priority)
            for t in self.tenant_store.all()
        )
        for t in self.scenario.tenants:  # scenario tenants the database lacks (not seeded)
            if all(x.id != t.id for x in tenants):
                tenants += (t,)
        return tenants

    def _tables(self) -> FleetTables:
        return build_tables(replace(self.scenario, tenants=self._tenants()))

    def _new_state(self) -> SchedulingState:
        tables = self._tables()
        if self._requests is None and self.placement == "fgd":
            self._requests = _expected_requests(self.scenario, tables)
        st = SchedulingState(
            tables,
            JobTable([], tables),
            EventQueue(),
            Accounting(tables, 1),
            placement=self.placement,
            requests=self._requests,
            record=True,
        )
        st.site_can_preempt = [self.supports(s, Feature.PREEMPTION) for s in tables.site_ids]
        st.site_can_resize = [
            self.supports(s, Feature.RESIZE) and self.supports(s, Feature.PREEMPTION)
            for s in tables.site_ids
        ]
        now = self.clock.time() - self.epoch0
        st.set_sites_up([self.sites[s].reachable is True for s in tables.site_ids], now)
        return st

    def _rebuild(self) -> None:
        """A new scheduling state (new tenants, or compaction) holding the unfinished jobs."""
        book = self.book
        old = book.state
        st = self._new_state()
        now = book.now_s()
        book.state = st
        for db_id in sorted(book.live):
            lj = book.live[db_id]
            oj = lj.j
            lj.j = j = st.add(old.jobs.jobs[oj])
            st.work_done[j] = old.work_done[oj]
            st.attained[j] = old.attained[oj]
            st.preemptions[j] = old.preemptions[oj]
            if old.status[oj] in (WAITING, DEFERRED):  # the policy may defer it again
                st.arrive(j)
            elif old.status[oj] == RUNNING:
                rs = old.running[oj]
                cand = book.candidate_on(j, old.tables.pool_ids[rs.cand.pool], rs.cand.devices)
                if cand is not None:
                    st.restore(j, cand, rs.started_s, now)
        # a policy's own records are by job index, which the new state renumbers: afresh
        self.policy = make_policy(self.policy_name, self._policy_params)
        self.loop = ControlLoop(self.policy, st)
        book.recorded_reason.clear()
        if self.serving is not None:
            self.serving.rebind(self._tenants(), now)
        st.request_round(full=True)

    def _sweep(self) -> None:
        """Pick up queued jobs and cancellations the loop was not told about."""
        book = self.book
        missing = [i for i in self.ledger.queued_ids() if i not in book.live]
        for rec in self.ledger.jobs_by_id(missing):
            if rec.job_state is JobState.QUEUED:
                book.admit(rec)
        for job_id in self.ledger.cancel_requested_ids():
            lj = book.live.get(job_id)
            if lj is not None and not lj.cancel_wanted:
                book.on_cancel(job_id)


def _unsupported(backend: SiteBackend) -> Mapping[Feature, str]:
    """The features ``backend`` lacks, with the reasons (its class's, or its own where its
    settings change them)."""
    got = getattr(backend, "unsupported", {})
    return got if isinstance(got, Mapping) else {}


def _expected_requests(scenario: Scenario, tables: FleetTables) -> list[dict[int, int]] | None:
    """The pools' target workload for FGD: the requests of the scenario's own workload."""
    spec = scenario.workload
    if not isinstance(spec, GeneratorSpec):
        return None
    jobs = generate_jobs(scenario, np.random.default_rng(spec.seed))
    return pool_requests(JobTable(jobs, tables))
