"""The live control plane: the shared control loop on the wall clock, against real sites.

One thread owns the scheduling state (:class:`~suanli.control.live.LiveExecutor`) and
is the only writer of job state changes. It wakes on messages — a job submitted or a
cancellation asked for over the API, a site's answer — and on timers (site polls,
the policy's tick). Each iteration it

1. handles the messages (admissions, cancellations, submission results, listings,
   which it reconciles with :func:`~suanli.control.reconcile.reconcile`);
2. runs a scheduling round of :class:`~suanli.control.loop.ControlLoop` when jobs
   arrived, capacity was freed, a site came or went, or the policy's tick is due;
3. writes everything in one database transaction — dispatch *intents* included;
4. only then hands new jobs and cancellations to the sites' worker threads.

Each site has a :class:`SiteWorker` thread running its commands one at a time, so a
slow or dead controller delays nobody else. On start-up the service first waits for
``sbatch`` processes a crashed predecessor left behind, reloads every unfinished job,
and keeps each site masked (no new work) until a first listing of it has been
reconciled. A site whose listing fails is *unreachable*: its jobs become ``unknown``
and the policy stops placing work there until it answers again.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from suanli.control.jobspec import job_from_spec
from suanli.control.live import PLACED, WAITING, LiveExecutor
from suanli.control.loop import ControlLoop
from suanli.control.reconcile import Change, Tracked, reconcile
from suanli.control.telemetry import Telemetry
from suanli.executor.site import Listing, SiteBackend, SubmitRequest, SubmitResult, make_tag
from suanli.model.fleet import Tenant
from suanli.model.scenario import Scenario
from suanli.policy.registry import make_policy
from suanli.sim.jobtable import Candidate
from suanli.sim.tables import build_tables
from suanli.store.db import Database
from suanli.store.ledger import Batch, Ledger
from suanli.store.records import JobRecord
from suanli.store.schema import PLACED_STATES, DispatchState, JobState
from suanli.store.tenants import TenantStore

log = logging.getLogger("suanli.control")


@dataclass(frozen=True, slots=True)
class LoopSettings:
    """Timing of the live loop (seconds).

    ``poll_s``: how often each site is listed; ``grace_s``: how long after a submission
    ended a listing may judge its absence; ``sweep_s``: how often the database is swept for
    jobs the loop was not told about; ``batch_s``: how long arrivals are gathered into one
    round; ``cancel_retry_s``: when to send an unanswered ``scancel`` again;
    ``orphan_wait_s``: how long to wait at start-up for a predecessor's ``sbatch``es;
    ``first_answer_s``: how long scheduling waits at start-up for every site's first answer.
    """

    poll_s: float = 2.0
    grace_s: float = 1.0
    sweep_s: float = 10.0
    batch_s: float = 0.02
    cancel_retry_s: float = 10.0
    orphan_wait_s: float = 30.0
    first_answer_s: float = 30.0


@dataclass(slots=True)
class SiteStatus:
    """What the service knows about a site's reachability (``None``: not yet asked)."""

    reachable: bool | None = None
    since: float = field(default_factory=time.time)
    error: str = ""
    last_ok: float | None = None


@dataclass(slots=True)
class _LiveJob:
    """Bookkeeping of one unfinished job."""

    j: int
    tenant: str
    name: str
    command: str
    state: JobState
    attempt: int
    site: str | None = None
    slurm_id: int | None = None
    submit_ended: float | None = None
    cancel_wanted: bool = False
    cancel_sent: float | None = None
    started_at: float | None = None


# messages to the loop thread
@dataclass(frozen=True, slots=True)
class _Admit:
    record: JobRecord


@dataclass(frozen=True, slots=True)
class _Cancel:
    job_id: int


@dataclass(frozen=True, slots=True)
class _Submitted:
    result: SubmitResult


@dataclass(frozen=True, slots=True)
class _Listed:
    listing: Listing


@dataclass(frozen=True, slots=True)
class _CancelDone:
    site: str
    slurm_id: int
    error: str | None


class _TenantsChanged:
    pass


class SiteWorker:
    """Runs one site's commands in a thread of its own, in order; posts results back."""

    def __init__(self, backend: SiteBackend, inbox: queue.Queue[object]) -> None:
        self.backend = backend
        self.inbox = inbox
        self.commands: queue.Queue[tuple[str, Any] | None] = queue.Queue()
        self.listing = False
        self.thread = threading.Thread(
            target=self._run, name=f"suanli-site-{backend.name}", daemon=True
        )

    def start(self) -> None:
        """Start the thread."""
        self.thread.start()

    def stop(self) -> None:
        """Finish the queued commands' current one, then end the thread."""
        self.commands.put(None)

    def submit(self, req: SubmitRequest) -> None:
        """Queue a submission."""
        self.commands.put(("submit", req))

    def cancel(self, slurm_id: int) -> None:
        """Queue a cancellation."""
        self.commands.put(("cancel", slurm_id))

    def request_listing(self) -> bool:
        """Queue a listing unless one is pending; whether one was queued."""
        if self.listing:
            return False
        self.listing = True
        self.commands.put(("list", None))
        return True

    def _run(self) -> None:
        while True:
            cmd = self.commands.get()
            if cmd is None:
                return
            kind, arg = cmd
            try:
                if kind == "submit":
                    self.inbox.put(_Submitted(self.backend.submit(arg)))
                elif kind == "cancel":
                    err = self.backend.cancel(arg)
                    self.inbox.put(_CancelDone(self.backend.name, arg, err))
                else:
                    listing = self.backend.list_jobs()
                    self.listing = False
                    self.inbox.put(_Listed(listing))
            except Exception:  # a backend bug must not kill the worker
                log.exception("site %s: %s failed", self.backend.name, kind)
                if kind == "list":
                    self.listing = False


class LiveControl:
    """The control plane's loop thread and site workers (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        scenario: Scenario,
        backends: Mapping[str, SiteBackend],
        gres_type: Callable[[str, str], str],
        *,
        policy: str = "backfill",
        policy_params: Mapping[str, Any] | None = None,
        settings: LoopSettings | None = None,
        telemetry: Telemetry | None = None,
        before_recovery: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.scenario = scenario
        self.settings = settings or LoopSettings()
        self.telemetry = telemetry or Telemetry()
        self.ledger = Ledger(db)
        self.tenant_store = TenantStore(db)
        self.install_id = db.install_id
        self.epoch0 = scenario.start.timestamp()
        params = policy_params if policy_params is not None else scenario.policy_params.get(policy)
        self.policy = make_policy(policy, params)
        self.policy_name = policy
        self.gres_type = gres_type
        self.before_recovery = before_recovery
        self.inbox: queue.Queue[object] = queue.Queue()
        self.workers = {s.id: SiteWorker(backends[s.id], self.inbox) for s in scenario.sites}
        self.sites = {s.id: SiteStatus() for s in scenario.sites}
        self.live: dict[int, _LiveJob] = {}
        self.ex = self._new_executor()
        self.loop = ControlLoop(self.policy, self.ex)
        self.batch = Batch()
        self._submits: list[tuple[str, SubmitRequest]] = []
        self._cancels: list[tuple[str, int]] = []
        self._recorded_reason: dict[int, str] = {}
        self._need_round = True
        self._full_round = True
        self._next_tick = 0.0
        self._next_poll: dict[str, float] = dict.fromkeys(self.sites, 0.0)
        self._next_sweep = 0.0
        self._first_round_at: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.rounds = 0
        self.round_times: list[float] = []
        self.heartbeat = time.time()
        self.recovered = threading.Event()

    # -- API side (any thread) --------------------------------------------------------------
    def submitted(self, record: JobRecord) -> None:
        """A job was committed to the database: schedule it."""
        self.inbox.put(_Admit(record))

    def cancel_requested(self, job_id: int) -> None:
        """A job's cancellation was committed to the database: carry it out."""
        self.inbox.put(_Cancel(job_id))

    def tenants_changed(self) -> None:
        """A tenant was created: rebuild the scheduling tables."""
        self.inbox.put(_TenantsChanged())

    def reason(self, job_id: int) -> str | None:
        """The policy's current reason for a waiting job (``None`` if it is not waiting)."""
        ex = self.ex
        j = ex.index.get(job_id)
        if j is None or j >= len(ex.status) or ex.status[j] != WAITING:
            return None
        return ex.reason(j)

    @property
    def alive(self) -> bool:
        """Whether the loop thread runs."""
        return self._thread is not None and self._thread.is_alive()

    # -- life cycle -----------------------------------------------------------------------
    def start(self) -> None:
        """Recover state from the database and start the threads."""
        if self.before_recovery is not None:
            self.before_recovery()
        self._recover()
        for w in self.workers.values():
            w.start()
        self._thread = threading.Thread(target=self._run, name="suanli-control", daemon=True)
        self._thread.start()

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
        while not self._stop.is_set():
            try:
                self._iteration()
            except Exception:
                log.exception("control loop iteration failed; retrying in 1 s")
                time.sleep(1.0)
        try:
            self._flush()
        except Exception:
            log.exception("final write failed")

    def _iteration(self) -> None:
        now_m = time.monotonic()
        wait = min([self._next_tick, *self._next_poll.values(), self._next_sweep]) - now_m
        if self._need_round:
            wait = min(wait, self.settings.batch_s)
        msgs = self._drain(max(0.0, wait))
        for m in msgs:
            self._handle(m)
        now_m = time.monotonic()
        if now_m >= self._next_sweep:
            self._sweep()
            self._next_sweep = now_m + self.settings.sweep_s
            if len(self.ex.db_ids) > 2 * len(self.live) + 10_000:
                self._rebuild()  # compact: the job table keeps every job it was given
        if now_m >= self._next_tick:
            self._need_round = self._full_round = True
            self._next_tick = now_m + float(self.policy.tick_s)
        if self._need_round and self._sites_answered(now_m):
            self._round()
        self._flush()
        for site, worker in self.workers.items():
            if now_m >= self._next_poll[site] and worker.request_listing():
                self._next_poll[site] = now_m + self.settings.poll_s
        self.heartbeat = time.time()

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
        if isinstance(m, _Admit):
            self._admit(m.record)
        elif isinstance(m, _Cancel):
            self._on_cancel(m.job_id)
        elif isinstance(m, _Submitted):
            self._on_submitted(m.result)
        elif isinstance(m, _Listed):
            self._on_listing(m.listing)
        elif isinstance(m, _CancelDone):
            if m.error:
                log.warning("site %s: cancelling Slurm job %s: %s", m.site, m.slurm_id, m.error)
        elif isinstance(m, _TenantsChanged):
            self._rebuild()

    def round_now(self) -> float:
        """Run one scheduling round at once and write it; return its duration (s).

        For benchmarks and tests; the loop thread must not be running.
        """
        t0 = time.perf_counter()
        self._round()
        self._flush()
        return time.perf_counter() - t0

    def _round(self) -> None:
        t0 = time.perf_counter()
        full = self._full_round
        self._need_round = self._full_round = False
        self.loop.round(time.time() - self.epoch0, full=full)
        ex = self.ex
        for j, reason in ex.preempted:
            self._preempt(j, reason)
        ex.preempted.clear()
        for j, cand in ex.started:
            self._dispatch(j, cand)
        ex.started.clear()
        self.rounds += 1
        for j, reason in ex.last_reasons.items():
            if self._recorded_reason.get(j) != reason:
                self._recorded_reason[j] = reason
                db_id = ex.db_ids[j]
                self.batch.update_job(db_id, reason=reason)
                self.batch.decision(
                    round=self.rounds,
                    policy=self.policy_name,
                    job_id=db_id,
                    action="wait",
                    detail=reason,
                )
        dt = time.perf_counter() - t0
        self.round_times.append(dt)
        self.telemetry.round_seconds.observe(dt)

    def _flush(self) -> None:
        """Write the batch, then hand its submissions and cancellations to the sites."""
        if self.batch:
            self.ledger.write(self.batch)  # raises: keep everything for the next try
            self.batch = Batch()
        submits, self._submits = self._submits, []
        for site, req in submits:
            self.workers[site].submit(req)
        cancels, self._cancels = self._cancels, []
        for site, slurm_id in cancels:
            self.workers[site].cancel(slurm_id)

    # -- recovery and admission -------------------------------------------------------------
    def _new_executor(self) -> LiveExecutor:
        known = {t.id: t for t in self.scenario.tenants}
        tenants = tuple(
            known.get(t.id) or Tenant(id=t.id, name=t.name, weight=t.weight, priority=t.priority)
            for t in self.tenant_store.all()
        )
        for t in self.scenario.tenants:  # scenario tenants the database lacks (not seeded)
            if all(x.id != t.id for x in tenants):
                tenants += (t,)
        tables = build_tables(replace(self.scenario, tenants=tenants))
        ex = LiveExecutor(tables)
        ex.site_up = [self.sites[s].reachable is True for s in tables.site_ids]
        ex.rebuild_mirror()
        return ex

    def _recover(self) -> None:
        for rec in self.ledger.active_jobs():
            self._admit(rec, recovering=True)
        self._flush()
        self.recovered.set()

    def _rebuild(self) -> None:
        old = self.ex
        ex = self._new_executor()
        for db_id in sorted(self.live):
            lj = self.live[db_id]
            oj = old.index[db_id]
            lj.j = ex.add(old.jobs.jobs[oj], db_id)
            if old.status[oj] == WAITING:
                ex.enqueue(lj.j)
            elif old.status[oj] == PLACED:
                pl = old.placed[oj]
                ex.place(lj.j, ex.tables.pool_ids[pl.cand.pool], pl.cand.devices, pl.started_s)
        self.ex = ex
        self.loop = ControlLoop(self.policy, ex)
        self._recorded_reason.clear()
        self._need_round = self._full_round = True

    def _sweep(self) -> None:
        """Pick up queued jobs and cancellations the loop was not told about."""
        missing = [i for i in self.ledger.queued_ids() if i not in self.live]
        for rec in self.ledger.jobs_by_id(missing):
            if rec.job_state is JobState.QUEUED:
                self._admit(rec)
        for job_id in self.ledger.cancel_requested_ids():
            lj = self.live.get(job_id)
            if lj is not None and not lj.cancel_wanted:
                self._on_cancel(job_id)

    def _admit(self, rec: JobRecord, recovering: bool = False) -> None:
        if rec.id in self.live or rec.job_state.final:
            return
        try:
            job = job_from_spec(rec.spec, rec.id, rec.tenant_id, rec.submitted_at, self.epoch0)
            j = self.ex.add(job, rec.id)
        except (KeyError, ValueError, TypeError) as exc:
            self.batch.update_job(
                rec.id,
                state=JobState.FAILED.value,
                ended_at=time.time(),
                reason=f"cannot schedule this job: {exc!r}",
            )
            self.batch.event(rec.id, JobState.FAILED.value, f"cannot schedule: {exc!r}")
            return
        state = rec.job_state
        lj = _LiveJob(
            j=j,
            tenant=rec.tenant_id,
            name=rec.name,
            command=rec.command,
            state=state,
            attempt=rec.attempt,
            site=rec.site,
            slurm_id=rec.slurm_job_id,
            cancel_wanted=rec.cancel_requested,
            started_at=rec.started_at,
        )
        self.live[rec.id] = lj
        if state is JobState.QUEUED:
            if not self.ex.runnable(j):
                self._finish(rec.id, JobState.FAILED, "no pool of the fleet can run this job")
            elif rec.cancel_requested:
                self._finish(rec.id, JobState.CANCELLED, "cancelled while queued")
            else:
                self.ex.enqueue(j)
                self._need_round = True
            return
        # placed before a restart: hold its devices; reconciliation will tell the rest
        lj.submit_ended = time.monotonic()
        started = (rec.started_at or rec.updated_at) - self.epoch0
        if rec.pool is None or not self.ex.place(j, rec.pool, rec.devices or 0, started):
            log.warning("job %s: pool %s is not in the fleet any more", rec.id, rec.pool)

    # -- decisions --------------------------------------------------------------------------
    def _dispatch(self, j: int, cand: Candidate) -> None:
        ex = self.ex
        db_id = ex.db_ids[j]
        lj = self.live[db_id]
        t = ex.tables
        site = t.site_ids[t.pool_site[cand.pool]]
        pool = t.pool_ids[cand.pool]
        per_node = t.pool_per_node[cand.pool]
        nodes, per = (
            (cand.devices // per_node, per_node) if cand.devices >= per_node else (1, cand.devices)
        )
        lj.attempt += 1
        lj.site, lj.slurm_id, lj.submit_ended = site, None, None
        lj.state = JobState.DISPATCHING
        self._recorded_reason.pop(j, None)
        b = self.batch
        b.intent(db_id, lj.attempt, site, pool, cand.devices)
        b.update_job(
            db_id,
            state=lj.state.value,
            attempt=lj.attempt,
            site=site,
            pool=pool,
            devices=cand.devices,
            slurm_job_id=None,
            slurm_state=None,
            last_state=None,
            reason=f"dispatching to {site} ({cand.devices} × {t.acc_ids[t.pool_acc[cand.pool]]})",
        )
        b.event(db_id, lj.state.value, f"dispatching to {site}, attempt {lj.attempt}")
        b.decision(
            round=self.rounds,
            policy=self.policy_name,
            job_id=db_id,
            action="start",
            site=site,
            pool=pool,
            devices=cand.devices,
        )
        self.telemetry.transitions.labels(lj.state.value).inc()
        req = SubmitRequest(
            job_id=db_id,
            attempt=lj.attempt,
            tag=make_tag(self.install_id, db_id, lj.attempt),
            name=f"suanli-{db_id}",
            command=lj.command,
            gres_type=self.gres_type(site, t.acc_ids[t.pool_acc[cand.pool]]),
            nodes=nodes,
            gpus_per_node=per,
        )
        self._submits.append((site, req))

    def _preempt(self, j: int, reason: str) -> None:
        db_id = self.ex.db_ids[j]
        lj = self.live[db_id]
        if lj.slurm_id is not None and lj.site is not None:
            self._cancels.append((lj.site, lj.slurm_id))
        self.batch.decision(
            round=self.rounds,
            policy=self.policy_name,
            job_id=db_id,
            action="preempt",
            site=lj.site,
            detail=reason,
        )
        self._requeue(db_id, f"preempted: {reason}")

    def _requeue(self, db_id: int, why: str) -> None:
        lj = self.live[db_id]
        self.ex.release(lj.j)
        lj.site, lj.slurm_id, lj.state, lj.started_at = None, None, JobState.QUEUED, None
        self.batch.update_job(
            db_id,
            state=lj.state.value,
            site=None,
            pool=None,
            devices=None,
            slurm_job_id=None,
            slurm_state=None,
            reason=why,
            started_at=None,
        )
        self.batch.event(db_id, lj.state.value, why)
        if lj.cancel_wanted:
            self._finish(db_id, JobState.CANCELLED, "cancelled")
            return
        self.ex.enqueue(lj.j)
        self._need_round = True

    def _finish(
        self,
        db_id: int,
        state: JobState,
        why: str,
        *,
        exit_code: int | None = None,
        ended_at: float | None = None,
        slurm_state: str | None = None,
    ) -> None:
        lj = self.live.pop(db_id)
        ex = self.ex
        if ex.status[lj.j] == WAITING:
            ex.dequeue(lj.j)
        elif ex.status[lj.j] == PLACED:
            ex.release(lj.j)
            self._need_round = True
        self._recorded_reason.pop(lj.j, None)
        values: dict[str, Any] = dict(
            state=state.value,
            ended_at=ended_at or time.time(),
            reason=why,
            exit_code=exit_code,
            last_state=None,
        )
        if slurm_state is not None:
            values["slurm_state"] = slurm_state
        self.batch.update_job(db_id, **values)
        self.batch.event(db_id, state.value, why)
        self.telemetry.transitions.labels(state.value).inc()

    def _on_cancel(self, db_id: int) -> None:
        lj = self.live.get(db_id)
        if lj is None:
            return
        lj.cancel_wanted = True
        if self.ex.status[lj.j] == WAITING or lj.state is JobState.QUEUED:
            self._finish(db_id, JobState.CANCELLED, "cancelled while queued")
        elif lj.slurm_id is not None and lj.site is not None and self.sites[lj.site].reachable:
            lj.cancel_sent = time.monotonic()
            self._cancels.append((lj.site, lj.slurm_id))

    # -- site answers -----------------------------------------------------------------------
    def _on_submitted(self, res: SubmitResult) -> None:
        req = res.request
        site = self._site_of_request(req)
        lj = self.live.get(req.job_id)
        if lj is None or lj.attempt != req.attempt:
            log.warning("stale submission result for job %s attempt %s", req.job_id, req.attempt)
            return
        lj.submit_ended = res.ended
        b = self.batch
        if res.slurm_job_id is not None:
            self.telemetry.dispatches.labels(site, "submitted").inc()
            b.resolve(req.job_id, req.attempt, DispatchState.SUBMITTED, res.slurm_job_id)
            if lj.slurm_id is None:
                lj.slurm_id = res.slurm_job_id
                b.update_job(req.job_id, slurm_job_id=res.slurm_job_id)
            if lj.state in (JobState.DISPATCHING, JobState.UNKNOWN):
                self._set_state(
                    req.job_id,
                    lj,
                    JobState.PENDING,
                    f"submitted to {site} as Slurm job {res.slurm_job_id}",
                )
            if lj.cancel_wanted:
                lj.cancel_sent = time.monotonic()
                self._cancels.append((site, res.slurm_job_id))
        elif res.rejected:
            self.telemetry.dispatches.labels(site, "rejected").inc()
            b.resolve(req.job_id, req.attempt, DispatchState.REJECTED, detail=res.error)
            self._finish(req.job_id, JobState.FAILED, f"{site} refused the job: {res.error}")
        else:
            self.telemetry.dispatches.labels(site, "uncertain").inc()
            b.event(
                req.job_id,
                lj.state.value,
                f"submission to {site} uncertain ({res.error}); checking with Slurm",
            )
            self._next_poll[site] = 0.0

    def _site_of_request(self, req: SubmitRequest) -> str:
        lj = self.live.get(req.job_id)
        return lj.site if lj is not None and lj.site is not None else "?"

    def _set_state(self, db_id: int, lj: _LiveJob, state: JobState, why: str, **extra: Any) -> None:
        if state is JobState.UNKNOWN:
            extra["last_state"] = lj.state.value
        elif lj.state is JobState.UNKNOWN:
            extra["last_state"] = None
        lj.state = state
        self.batch.update_job(db_id, state=state.value, reason=why, **extra)
        self.batch.event(db_id, state.value, why)
        self.telemetry.transitions.labels(state.value).inc()

    def _on_listing(self, listing: Listing) -> None:
        site = listing.site
        st = self.sites[site]
        idx = self.ex.tables.site_ids.index(site)
        self.telemetry.site_reachable.labels(site).set(1 if listing.ok else 0)
        if not listing.ok:
            if st.reachable is not False:
                log.warning("site %s unreachable: %s", site, listing.error)
                st.reachable, st.since = False, time.time()
                self.ex.set_site_up(idx, False)
                self._need_round = self._full_round = True
                for db_id, lj in self.live.items():
                    if lj.site == site and lj.state in PLACED_STATES - {JobState.UNKNOWN}:
                        self._set_state(
                            db_id, lj, JobState.UNKNOWN, f"site {site} unreachable: {listing.error}"
                        )
            st.error = listing.error
            return
        if st.reachable is not True:
            log.info("site %s reachable", site)
            st.reachable, st.since = True, time.time()
            self.ex.set_site_up(idx, True)
            self._need_round = self._full_round = True
        st.error, st.last_ok = "", time.time()
        tracked = [
            Tracked(db_id, lj.attempt, lj.state, lj.slurm_id, lj.submit_ended)
            for db_id, lj in self.live.items()
            if lj.site == site and lj.state in PLACED_STATES
        ]
        rec = reconcile(tracked, listing, self.install_id, self.settings.grace_s)
        for ch in rec.changes:
            self._apply_change(site, ch)
        for stray in rec.strays:
            log.warning(
                "site %s: cancelling stray Slurm job %s (%s)", site, stray.slurm_job_id, stray.tag
            )
            self.telemetry.strays.labels(site).inc()
            self._cancels.append((site, stray.slurm_job_id))
        now_m = time.monotonic()
        for lj in self.live.values():
            if (
                lj.site == site
                and lj.cancel_wanted
                and lj.slurm_id is not None
                and (
                    lj.cancel_sent is None or now_m - lj.cancel_sent > self.settings.cancel_retry_s
                )
            ):
                lj.cancel_sent = now_m
                self._cancels.append((site, lj.slurm_id))

    def _apply_change(self, site: str, ch: Change) -> None:
        lj = self.live.get(ch.job_id)
        if lj is None:
            return
        if ch.action == "requeue":
            self.telemetry.dispatches.labels(site, "lost").inc()
            self.batch.resolve(ch.job_id, lj.attempt, DispatchState.LOST, detail=ch.message)
            self._requeue(ch.job_id, f"back in the queue: {ch.message} ({site})")
            return
        if ch.action == "vanished" or ch.slurm is None or ch.state is None:
            self._finish(ch.job_id, JobState.FAILED, ch.message)
            return
        info = ch.slurm
        if lj.slurm_id != info.slurm_job_id:
            if lj.slurm_id is None:  # found by its tag: the submission's answer was lost
                self.batch.resolve(
                    ch.job_id,
                    lj.attempt,
                    DispatchState.SUBMITTED,
                    info.slurm_job_id,
                    detail="found by its tag",
                )
                self.telemetry.dispatches.labels(site, "adopted").inc()
            lj.slurm_id = info.slurm_job_id
            self.batch.update_job(ch.job_id, slurm_job_id=info.slurm_job_id)
            if lj.cancel_wanted:
                lj.cancel_sent = time.monotonic()
                self._cancels.append((site, info.slurm_job_id))
        if ch.state.final:
            why = {JobState.DONE: "completed", JobState.CANCELLED: "cancelled"}.get(
                ch.state, f"Slurm: {info.state} ({info.reason})"
            )
            self._finish(
                ch.job_id,
                ch.state,
                why,
                exit_code=info.exit_code,
                ended_at=info.end_time,
                slurm_state=info.state,
            )
            return
        extra: dict[str, Any] = {"slurm_state": info.state}
        if ch.state is JobState.RUNNING and lj.started_at is None:
            lj.started_at = info.start_time or time.time()
            extra["started_at"] = lj.started_at
        if ch.state != lj.state:
            what = "running" if ch.state is JobState.RUNNING else f"in Slurm: {info.state}"
            self._set_state(
                ch.job_id,
                lj,
                ch.state,
                f"{what} at {site} (Slurm job {info.slurm_job_id})",
                **extra,
            )
        else:
            self.batch.update_job(ch.job_id, **extra)
