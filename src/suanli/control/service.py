"""The live control plane: the shared control loop on the wall clock, against real sites.

One thread owns the scheduling state (:class:`~suanli.control.live.LiveExecutor`, inside
the :class:`~suanli.control.book.JobBook` of unfinished jobs) and is the only writer of
job state changes. It wakes on messages — a job submitted or a cancellation asked for
over the API, a site's answer — and on timers (site polls, the policy's tick). Each
iteration it

1. handles the messages (admissions, cancellations, submission results, listings,
   which it reconciles with :func:`~suanli.control.reconcile.reconcile`);
2. runs a scheduling round of :class:`~suanli.control.loop.ControlLoop` when jobs
   arrived, capacity was freed, a site came or went, or the policy's tick is due;
3. writes everything in one database transaction — dispatch *intents* included;
4. only then hands new jobs and cancellations to the sites' worker threads.

Each site has a :class:`~suanli.control.workers.SiteWorker` thread running its commands
one at a time, so a slow or dead controller delays nobody else. On start-up the service
first waits for ``sbatch`` processes a crashed predecessor left behind, reloads every
unfinished job, and keeps each site masked (no new work) until a first listing of it
has been reconciled. A site whose listing fails is *unreachable*: its jobs become
``unknown`` and the policy stops placing work there until it answers again.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from suanli.control.book import JobBook, SiteStatus
from suanli.control.live import DEFERRED, PLACED, WAITING, LiveExecutor
from suanli.control.loop import ControlLoop
from suanli.control.samples import sample_sites
from suanli.control.telemetry import Telemetry
from suanli.control.workers import (
    Admit,
    Cancel,
    CancelDone,
    Listed,
    SiteWorker,
    Submitted,
    TenantsChanged,
)
from suanli.executor.site import SiteBackend
from suanli.model.fleet import Tenant
from suanli.model.scenario import Scenario
from suanli.policy.registry import make_policy
from suanli.sim.tables import build_tables
from suanli.store.db import Database
from suanli.store.ledger import Batch, Ledger
from suanli.store.records import JobRecord
from suanli.store.schema import JobState
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
    ``first_answer_s``: how long scheduling waits at start-up for every site's first answer;
    ``sample_s``: how often every site's state is sampled for the dashboard
    (:mod:`suanli.control.samples`); ``sample_keep_s``: how long samples are kept.
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
        self.book = JobBook(
            self._new_executor(),
            self.sites,
            install_id=db.install_id,
            epoch0=self.epoch0,
            policy_name=policy,
            gres_type=gres_type,
            telemetry=self.telemetry,
            grace_s=self.settings.grace_s,
            cancel_retry_s=self.settings.cancel_retry_s,
        )
        self.loop = ControlLoop(self.policy, self.book.ex)
        self._next_tick = 0.0
        self._next_poll: dict[str, float] = dict.fromkeys(self.sites, 0.0)
        self._next_sweep = 0.0
        self._next_sample = 0.0
        self._first_round_at: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.round_times: list[float] = []
        self.heartbeat = time.time()
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

    @property
    def ex(self) -> LiveExecutor:
        """The scheduling state (replaced when tenants change)."""
        return self.book.ex

    def reason(self, job_id: int) -> str | None:
        """The policy's current reason for a waiting job (``None`` if it is not waiting)."""
        ex = self.ex
        j = ex.index.get(job_id)
        if j is None or j >= len(ex.status) or ex.status[j] not in (WAITING, DEFERRED):
            return None
        why = ex.reason(j)
        t = ex.tables
        sites = {t.site_ids[t.pool_site[c.pool]] for c in ex.jobs.candidates(j)}
        down = sorted(s for s in sites if self.sites[s].reachable is not True)
        if down:
            why += f"; not reachable (or not yet reconciled): {', '.join(down)}"
        return why

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
        wait = (
            min([self._next_tick, *self._next_poll.values(), self._next_sweep, self._next_sample])
            - now_m
        )
        book = self.book
        if book.need_round:
            wait = min(wait, self.settings.batch_s)
        wake = self.ex.next_wake()
        if wake is not None:
            wait = min(wait, wake - (time.time() - self.epoch0))
        msgs = self._drain(max(0.0, wait))
        for m in msgs:
            self._handle(m)
        now_m = time.monotonic()
        if now_m >= self._next_sweep:
            self._sweep()
            self._next_sweep = now_m + self.settings.sweep_s
            if len(self.ex.db_ids) > 2 * len(book.live) + 10_000:
                self._rebuild()  # compact: the job table keeps every job it was given
        if self.ex.wake_due(time.time() - self.epoch0):
            book.need_round = True
        if now_m >= self._next_tick:
            book.need_round = book.full_round = True
            self._next_tick = now_m + float(self.policy.tick_s)
        if book.need_round and self._sites_answered(now_m):
            self._round()
        if now_m >= self._next_sample:
            self._sample()
            self._next_sample = now_m + self.settings.sample_s
        self._flush()
        for site in book.poll_now:
            self._next_poll[site] = 0.0
        book.poll_now.clear()
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
                log.warning("site %s: cancelling Slurm job %s: %s", m.site, m.slurm_id, m.error)
        elif isinstance(m, TenantsChanged):
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
        book = self.book
        full = book.full_round
        book.need_round = book.full_round = False
        self.loop.round(time.time() - self.epoch0, full=full)
        ex = book.ex
        book.rounds += 1
        for j, reason in ex.preempted:
            book.preempt(j, reason)
        ex.preempted.clear()
        for j, cand in ex.started:
            book.dispatch(j, cand)
        ex.started.clear()
        book.record_reasons()
        dt = time.perf_counter() - t0
        self.round_times.append(dt)
        self.telemetry.round_seconds.observe(dt)

    def _sample(self) -> None:
        """Add every site's sample (and the pruning of old ones) to the batch."""
        book = self.book
        now = time.time()
        running = [lj.j for lj in book.live.values() if lj.state is JobState.RUNNING]
        reachable = {k: v.reachable for k, v in self.sites.items()}
        book.batch.samples.extend(sample_sites(book.ex, running, reachable, now, self.epoch0))
        book.batch.prune_samples_before = now - self.settings.sample_keep_s

    def _flush(self) -> None:
        """Write the batch, then hand its submissions and cancellations to the sites."""
        book = self.book
        if book.batch:
            self.ledger.write(book.batch)  # raises: keep everything for the next try
            book.batch = Batch()
        submits, book.submits = book.submits, []
        for site, req in submits:
            self.workers[site].submit(req)
        cancels, book.cancels = book.cancels, []
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
            self.book.admit(rec)
        self._flush()
        self.recovered.set()

    def _rebuild(self) -> None:
        book = self.book
        old = book.ex
        ex = self._new_executor()
        for db_id in sorted(book.live):
            lj = book.live[db_id]
            oj = old.index[db_id]
            lj.j = ex.add(old.jobs.jobs[oj], db_id)
            if old.status[oj] in (WAITING, DEFERRED):  # the policy may defer it again
                ex.enqueue(lj.j)
            elif old.status[oj] == PLACED:
                pl = old.placed[oj]
                ex.place(lj.j, ex.tables.pool_ids[pl.cand.pool], pl.cand.devices, pl.started_s)
        book.ex = ex
        self.loop = ControlLoop(self.policy, ex)
        book.recorded_reason.clear()
        book.need_round = book.full_round = True

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
