"""The book of unfinished jobs: every state change of the live control plane.

:class:`JobBook` keeps, for each unfinished job, what the control plane knows beyond the
scheduling core (its state in the database, attempt, site, external id, whether a
cancellation is wanted) and carries out transitions — admission, dispatch, preemption,
requeue, the end of a job, cancellation, a site's answers and their reconciliation — by
changing the shared :class:`~suanli.core.state.SchedulingState` (the same object and
methods the simulator uses), adding the database writes to :attr:`batch` and the site
commands to :attr:`submits` and :attr:`cancels`. The loop (:mod:`suanli.control.service`)
writes the batch, then sends the commands.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from suanli.clock import Clock
from suanli.control.jobspec import TIME_LIMIT_FACTOR, RunSettings, job_from_spec
from suanli.control.reconcile import Change, Tracked, reconcile
from suanli.control.telemetry import Telemetry
from suanli.core.jobtable import Candidate
from suanli.core.policy import Preempt
from suanli.core.state import DEFERRED, RUNNING, WAITING, SchedulingState
from suanli.sites.base import Listing, SubmitRequest, SubmitResult, make_tag
from suanli.store.ledger import Batch
from suanli.store.records import JobRecord
from suanli.store.schema import PLACED_STATES, DispatchState, JobState

log = logging.getLogger("suanli.control")


@dataclass(slots=True)
class SiteStatus:
    """What the service knows about a site's reachability (``None``: not yet asked)."""

    reachable: bool | None = None
    since: float = 0.0
    error: str = ""
    last_ok: float | None = None


#: Final states a job reaches only by having run.
RAN = frozenset({JobState.DONE, JobState.TIMEOUT})


@dataclass(slots=True)
class LiveJob:
    """Bookkeeping of one unfinished job (``j``: its index in the scheduling state;
    ``queued_at``: when it last entered the queue, POSIX s, for its wait;
    ``dispatched_at``: when its current attempt was dispatched, the earliest it can have
    started)."""

    j: int
    tenant: str
    name: str
    command: str
    state: JobState
    attempt: int
    site: str | None = None
    external_id: str | None = None
    submit_ended: float | None = None
    cancel_wanted: bool = False
    cancel_sent: float | None = None
    started_at: float | None = None
    queued_at: float | None = None
    dispatched_at: float | None = None
    run: RunSettings = dataclasses.field(default_factory=RunSettings)
    #: The service this job is a replica of (``None``: a batch job).
    service: str | None = None


class JobBook:
    """Unfinished jobs and their transitions (see the module docstring).

    ``epoch0`` is the POSIX time of the scenario's start: scheduling times are seconds
    since then. ``device_type(site, accelerator)`` is the site backend's name for an
    accelerator.
    """

    def __init__(
        self,
        state: SchedulingState,
        sites: dict[str, SiteStatus],
        *,
        install_id: str,
        epoch0: float,
        policy_name: str,
        device_type: Callable[[str, str], str],
        telemetry: Telemetry,
        grace_s: float,
        cancel_retry_s: float,
        clock: Clock,
        time_limit_factor: float = TIME_LIMIT_FACTOR,
    ) -> None:
        self.state = state
        self.sites = sites
        self.install_id = install_id
        self.epoch0 = epoch0
        self.policy_name = policy_name
        self.device_type = device_type
        self.telemetry = telemetry
        self.grace_s = grace_s
        self.cancel_retry_s = cancel_retry_s
        self.clock = clock
        self.time_limit_factor = time_limit_factor
        self.live: dict[int, LiveJob] = {}
        self.batch = self.new_batch()
        self.submits: list[tuple[str, SubmitRequest]] = []
        self.cancels: list[tuple[str, str]] = []
        self.recorded_reason: dict[int, str] = {}
        self.poll_now: set[str] = set()
        self.rounds = 0

    def new_batch(self) -> Batch:
        """An empty batch stamped by this book's clock."""
        return Batch(clock=self.clock.time)

    def now_s(self) -> float:
        """Scenario seconds now."""
        return self.clock.time() - self.epoch0

    def db_id(self, j: int) -> int:
        """The database id of the job at index *j*."""
        return int(self.state.jobs.ids[j])

    def record_reasons(self) -> None:
        """Write the policy's waiting reasons that changed in the last round."""
        st = self.state
        for j, reason in st.last_reasons.items():
            if self.recorded_reason.get(j) != reason and st.status[j] in (WAITING, DEFERRED):
                self.recorded_reason[j] = reason
                db_id = self.db_id(j)
                self.batch.update_job(db_id, reason=reason)
                self.batch.decision(
                    round=self.rounds,
                    policy=self.policy_name,
                    job_id=db_id,
                    action="wait",
                    detail=reason,
                )

    def admit(self, rec: JobRecord) -> None:
        """Take over a job from the database: queue it, or (after a restart) hold its place."""
        if rec.id in self.live or rec.job_state.final:
            return
        st = self.state
        try:
            job = job_from_spec(rec.spec, rec.id, rec.tenant_id, rec.submitted_at, self.epoch0)
            j = st.add(job)
        except (KeyError, ValueError, TypeError) as exc:
            self.batch.update_job(
                rec.id,
                state=JobState.FAILED.value,
                ended_at=self.clock.time(),
                reason=f"cannot schedule this job: {exc!r}",
            )
            self.batch.event(rec.id, JobState.FAILED.value, f"cannot schedule: {exc!r}")
            return
        st.work_done[j] = rec.progress_pflop
        st.attained[j] = rec.attained_s
        st.preemptions[j] = rec.preemptions
        lj = LiveJob(
            j=j,
            tenant=rec.tenant_id,
            name=rec.name,
            command=rec.command,
            state=rec.job_state,
            attempt=rec.attempt,
            site=rec.site,
            external_id=rec.external_id,
            cancel_wanted=rec.cancel_requested,
            started_at=rec.started_at,
            queued_at=rec.submitted_at,
            run=RunSettings.of(rec.spec),
            service=rec.service_id,
        )
        self.live[rec.id] = lj
        if lj.state is JobState.QUEUED and lj.service is not None:
            # inserted, never dispatched (the loop stopped before writing the dispatch)
            self.finish(rec.id, JobState.CANCELLED, "replica not dispatched before a restart")
            return
        if lj.state is JobState.QUEUED:
            if rec.cancel_requested:
                self.finish(rec.id, JobState.CANCELLED, "cancelled while queued")
            elif not st.arrive(j):
                self.finish(rec.id, JobState.FAILED, "no pool of the fleet can run this job")
            return
        # placed before a restart: hold its devices; reconciliation will tell the rest
        lj.submit_ended = self.clock.monotonic()
        cand = self.candidate_on(j, rec.pool, rec.devices or 0)
        if cand is None:
            log.warning("job %s: pool %s is not in the fleet any more", rec.id, rec.pool)
            return
        started = (rec.started_at or rec.updated_at) - self.epoch0
        st.restore(j, cand, min(started, self.now_s()), self.now_s())

    def candidate_on(self, j: int, pool: str | None, devices: int) -> Candidate | None:
        """Job *j*'s candidate on ``pool`` with ``devices`` held (a restart's recovery):
        its gang's shape if that holds as many, else an elastic job's shape that does
        (:meth:`~suanli.core.jobtable.JobTable.holding`)."""
        t = self.state.tables
        p = t.pool_ids.index(pool) if pool in t.pool_ids else -1
        jobs = self.state.jobs
        cand = jobs.base_candidate(j, p)
        if cand is not None and devices and cand.devices != devices and not cand.share:
            sized = jobs.holding(j, cand, devices)
            if sized is not None:
                return sized  # an elastic job resized before the restart
            cand = dataclasses.replace(cand, devices=devices, used=min(cand.used, devices))
        return cand

    # -- decisions --------------------------------------------------------------------------
    def carry_out(self) -> None:
        """Turn the round's carried-out decisions into dispatches and cancellations."""
        applied, self.state.applied = self.state.applied, []
        for d in applied:
            if isinstance(d, Preempt):
                self.preempted(d.job, d.reason)
            else:
                self.dispatch(d.job, d.candidate)

    def dispatch(self, j: int, cand: Candidate) -> None:
        """Job *j* was started on ``cand``: write the intent, queue the submission for after
        the write."""
        st = self.state
        db_id = self.db_id(j)
        lj = self.live[db_id]
        t = st.tables
        site = t.site_ids[t.pool_site[cand.pool]]
        pool = t.pool_ids[cand.pool]
        acc = t.acc_ids[t.pool_acc[cand.pool]]
        per_node = t.pool_per_node[cand.pool]
        nodes, per = (
            (cand.devices // per_node, per_node) if cand.devices >= per_node else (1, cand.devices)
        )
        lj.attempt += 1
        lj.site, lj.external_id, lj.submit_ended = site, None, None
        lj.dispatched_at = self.clock.time()
        lj.state = JobState.DISPATCHING
        self.recorded_reason.pop(j, None)
        b = self.batch
        b.intent(db_id, lj.attempt, site, pool, cand.devices)
        b.update_job(
            db_id,
            state=lj.state.value,
            attempt=lj.attempt,
            site=site,
            pool=pool,
            devices=cand.devices,
            external_id=None,
            site_state=None,
            last_state=None,
            reason=f"dispatching to {site} ({cand.devices} × {acc})",
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
            detail=st.start_reason(j),
        )
        self.telemetry.transitions.labels(lj.state.value).inc()
        expected_end_s = st.running[j].expected_end_s
        req = SubmitRequest(
            job_id=db_id,
            attempt=lj.attempt,
            tag=make_tag(self.install_id, db_id, lj.attempt),
            name=f"suanli-{db_id}",
            command=lj.command,
            device_type=self.device_type(site, acc),
            nodes=nodes,
            devices_per_node=per,
            expected_end_at=self.epoch0 + expected_end_s,
            time_limit_s=lj.run.limit_for(
                max(0.0, expected_end_s - self.now_s()), self.time_limit_factor
            ),
            env=lj.run.env,
            workdir=lj.run.workdir,
            tenant=lj.tenant,
        )
        self.submits.append((site, req))

    def preempted(self, j: int, reason: str) -> None:
        """The policy preempted job *j* (the scheduling state has requeued it): cancel it at
        its site and write it back to the queue."""
        db_id = self.db_id(j)
        lj = self.live[db_id]
        if lj.external_id is not None and lj.site is not None:
            self.cancels.append((lj.site, lj.external_id))
        self.batch.decision(
            round=self.rounds,
            policy=self.policy_name,
            job_id=db_id,
            action="preempt",
            site=lj.site,
            detail=reason,
        )
        self._queued_again(db_id, lj, f"preempted: {reason}")

    def requeue(self, db_id: int, why: str) -> None:
        """A placed job never reached its site: back to the queue with a new attempt (a
        replica ends instead: its service's policy places another where it is needed)."""
        lj = self.live[db_id]
        if lj.service is not None:
            self.finish(db_id, JobState.FAILED, f"replica lost: {why}")
            return
        self.state.requeue(lj.j, self.now_s(), why)
        self._queued_again(db_id, lj, why)

    def _queued_again(self, db_id: int, lj: LiveJob, why: str) -> None:
        st = self.state
        lj.site, lj.external_id, lj.state, lj.started_at = None, None, JobState.QUEUED, None
        lj.dispatched_at = None
        lj.queued_at = self.clock.time()
        self.batch.update_job(
            db_id,
            state=lj.state.value,
            site=None,
            pool=None,
            devices=None,
            external_id=None,
            site_state=None,
            reason=why,
            started_at=None,
            preemptions=st.preemptions[lj.j],
            progress_pflop=st.work_done[lj.j],
            attained_s=st.attained[lj.j],
        )
        self.batch.event(db_id, lj.state.value, why)
        if lj.cancel_wanted:
            self.finish(db_id, JobState.CANCELLED, "cancelled")

    def finish(
        self,
        db_id: int,
        state: JobState,
        why: str,
        *,
        exit_code: int | None = None,
        ended_at: float | None = None,
        site_state: str | None = None,
        started_at: float | None = None,
    ) -> None:
        """End a job in ``state``: free its place, write its end (and its start, if it
        ended before it was ever seen running: :meth:`_start_of_unseen`)."""
        lj = self.live.pop(db_id)
        st = self.state
        now = self.now_s()
        rs = st.running.get(lj.j)
        if ended_at is not None and rs is not None:  # the site's own end, if it is plausible
            now = max(rs.started_s, min(now, ended_at - self.epoch0))
        if state is JobState.DONE and st.status[lj.j] == RUNNING:
            st.complete(lj.j, now)
        else:
            st.end(lj.j, now, why)
        self.recorded_reason.pop(lj.j, None)
        values: dict[str, Any] = dict(
            state=state.value,
            ended_at=ended_at or self.clock.time(),
            reason=why,
            exit_code=exit_code,
            last_state=None,
        )
        if site_state is not None:
            values["site_state"] = site_state
        start = self._start_of_unseen(lj, state, started_at, values["ended_at"])
        if start is not None:
            values["started_at"] = start
            self._started(lj, start)
        self.batch.update_job(db_id, **values)
        self.batch.event(db_id, state.value, why)
        self.telemetry.transitions.labels(state.value).inc()

    @staticmethod
    def _start_of_unseen(
        lj: LiveJob, state: JobState, site_start: float | None, ended_at: float
    ) -> float | None:
        """When a job that ends in ``state`` without ever having been seen running
        started (``None``: it never started, or its start is known already): the site's
        own start if it reports one; else, for a job that ran (done, timed out), the
        earliest it can have started — its dispatch (no later than its end)."""
        if lj.started_at is not None:
            return None
        if site_start is not None:
            return site_start
        if state in RAN and lj.dispatched_at is not None:
            return min(lj.dispatched_at, ended_at)
        return None

    def _started(self, lj: LiveJob, at: float) -> None:
        """Job ``lj`` started at its site at ``at``: export its wait."""
        if lj.queued_at is not None:
            self.telemetry.observe_wait(lj.tenant, at - lj.queued_at)

    # -- replicas ---------------------------------------------------------------------------
    def adopt_replica(
        self, db_id: int, j: int, tenant: str, service: str, name: str, command: str
    ) -> None:
        """Replica row ``db_id`` (``name``) was placed as job *j*
        (:mod:`suanli.control.serving`): track it; :meth:`carry_out` dispatches it."""
        now = self.clock.time()
        self.live[db_id] = LiveJob(
            j=j,
            tenant=tenant,
            name=name,
            command=command,
            state=JobState.QUEUED,
            attempt=0,
            queued_at=now,
            service=service,
        )

    def stop(self, db_id: int, why: str) -> None:
        """End a running replica now (drained, or its service deleted): its devices are
        free in the model at once; its site is told to cancel it (a job whose submission
        is still unanswered is found as a stray by the next listing and cancelled)."""
        lj = self.live.get(db_id)
        if lj is None:
            return
        if lj.external_id is not None and lj.site is not None:
            self.cancels.append((lj.site, lj.external_id))
        self.batch.decision(
            round=self.rounds,
            policy=self.policy_name,
            job_id=db_id,
            action="stop",
            site=lj.site,
            detail=why,
        )
        self.finish(db_id, JobState.CANCELLED, why)

    def discard_row(self, db_id: int, why: str) -> None:
        """A replica row inserted but never placed: end it (it was never dispatched)."""
        now = self.clock.time()
        self.batch.update_job(db_id, state=JobState.CANCELLED.value, ended_at=now, reason=why)
        self.batch.event(db_id, JobState.CANCELLED.value, why)

    def on_cancel(self, db_id: int) -> None:
        """A cancellation was asked for: at once while queued, else at the job's site."""
        lj = self.live.get(db_id)
        if lj is None:
            return
        lj.cancel_wanted = True
        if self.state.status[lj.j] in (WAITING, DEFERRED) or lj.state is JobState.QUEUED:
            self.finish(db_id, JobState.CANCELLED, "cancelled while queued")
        elif lj.external_id is not None and lj.site is not None and self.sites[lj.site].reachable:
            lj.cancel_sent = self.clock.monotonic()
            self.cancels.append((lj.site, lj.external_id))

    # -- site answers -----------------------------------------------------------------------
    def on_submitted(self, res: SubmitResult) -> None:
        """A site answered a submission: accepted, refused for good, or uncertain."""
        req = res.request
        lj = self.live.get(req.job_id)
        if lj is None or lj.attempt != req.attempt:
            log.warning("stale submission result for job %s attempt %s", req.job_id, req.attempt)
            return
        site = lj.site or "?"
        lj.submit_ended = res.ended
        b = self.batch
        if res.external_id is not None:
            self.telemetry.dispatches.labels(site, "submitted").inc()
            b.resolve(req.job_id, req.attempt, DispatchState.SUBMITTED, res.external_id)
            if lj.external_id is None:
                lj.external_id = res.external_id
                b.update_job(req.job_id, external_id=res.external_id)
            if lj.state in (JobState.DISPATCHING, JobState.UNKNOWN):
                self._set_state(
                    req.job_id, lj, JobState.PENDING, f"submitted to {site} as {res.external_id}"
                )
            if lj.cancel_wanted:
                lj.cancel_sent = self.clock.monotonic()
                self.cancels.append((site, res.external_id))
        elif res.rejected:
            self.telemetry.dispatches.labels(site, "rejected").inc()
            b.resolve(req.job_id, req.attempt, DispatchState.REJECTED, detail=res.error)
            self.finish(req.job_id, JobState.FAILED, f"{site} refused the job: {res.error}")
        else:
            self.telemetry.dispatches.labels(site, "uncertain").inc()
            b.event(
                req.job_id,
                lj.state.value,
                f"submission to {site} uncertain ({res.error}); checking with the site",
            )
            self.poll_now.add(site)

    def _set_state(self, db_id: int, lj: LiveJob, state: JobState, why: str, **extra: Any) -> None:
        if state is JobState.UNKNOWN:
            extra["last_state"] = lj.state.value
        elif lj.state is JobState.UNKNOWN:
            extra["last_state"] = None
        lj.state = state
        self.batch.update_job(db_id, state=state.value, reason=why, **extra)
        self.batch.event(db_id, state.value, why)
        self.telemetry.transitions.labels(state.value).inc()

    def on_listing(self, listing: Listing) -> None:
        """A site's listing: mark reachability, reconcile its jobs, cancel strays."""
        site = listing.site
        status = self.sites[site]
        idx = self.state.tables.site_ids.index(site)
        self.telemetry.site_reachable.labels(site).set(1 if listing.ok else 0)
        if not listing.ok:
            if status.reachable is not False:
                log.warning("site %s unreachable: %s", site, listing.error)
                status.reachable, status.since = False, self.clock.time()
                self.state.set_site_up(idx, False, self.now_s())
                for db_id, lj in self.live.items():
                    if lj.site == site and lj.state in PLACED_STATES - {JobState.UNKNOWN}:
                        self._set_state(
                            db_id, lj, JobState.UNKNOWN, f"site {site} unreachable: {listing.error}"
                        )
            status.error = listing.error
            return
        if status.reachable is not True:
            log.info("site %s reachable", site)
            status.reachable, status.since = True, self.clock.time()
            self.state.set_site_up(idx, True, self.now_s())
        status.error, status.last_ok = "", self.clock.time()
        tracked = [
            Tracked(db_id, lj.attempt, lj.state, lj.external_id, lj.submit_ended)
            for db_id, lj in self.live.items()
            if lj.site == site and lj.state in PLACED_STATES
        ]
        rec = reconcile(tracked, listing, self.install_id, self.grace_s)
        for ch in rec.changes:
            self._apply_change(site, ch)
        for stray in rec.strays:
            log.warning("site %s: cancelling stray job %s (%s)", site, stray.external_id, stray.tag)
            self.telemetry.strays.labels(site).inc()
            self.cancels.append((site, stray.external_id))
        now_m = self.clock.monotonic()
        for lj in self.live.values():
            if (
                lj.site == site
                and lj.cancel_wanted
                and lj.external_id is not None
                and (lj.cancel_sent is None or now_m - lj.cancel_sent > self.cancel_retry_s)
            ):
                lj.cancel_sent = now_m
                self.cancels.append((site, lj.external_id))

    def _apply_change(self, site: str, ch: Change) -> None:
        lj = self.live.get(ch.job_id)
        if lj is None:
            return
        if ch.action == "requeue":
            self.telemetry.dispatches.labels(site, "lost").inc()
            self.batch.resolve(ch.job_id, lj.attempt, DispatchState.LOST, detail=ch.message)
            self.requeue(ch.job_id, f"back in the queue: {ch.message} ({site})")
            return
        if ch.action == "vanished" or ch.site_job is None or ch.state is None:
            self.finish(ch.job_id, JobState.FAILED, ch.message)
            return
        info = ch.site_job
        if lj.external_id != info.external_id:
            if lj.external_id is None:  # found by its tag: the submission's answer was lost
                self.batch.resolve(
                    ch.job_id,
                    lj.attempt,
                    DispatchState.SUBMITTED,
                    info.external_id,
                    detail="found by its tag",
                )
                self.telemetry.dispatches.labels(site, "adopted").inc()
            lj.external_id = info.external_id
            self.batch.update_job(ch.job_id, external_id=info.external_id)
            if lj.cancel_wanted:
                lj.cancel_sent = self.clock.monotonic()
                self.cancels.append((site, info.external_id))
        if ch.state.final:
            native = f"{info.native_state} ({info.reason})" if info.reason else info.native_state
            why = {
                JobState.DONE: "completed",
                JobState.CANCELLED: "cancelled",
                JobState.TIMEOUT: f"reached its time limit at {site} ({native})",
            }.get(ch.state, f"{site}: {native}")
            self.finish(
                ch.job_id,
                ch.state,
                why,
                exit_code=info.exit_code,
                ended_at=info.end_time,
                site_state=info.native_state,
                started_at=info.start_time,
            )
            return
        extra: dict[str, Any] = {"site_state": info.native_state}
        if ch.state is JobState.RUNNING and lj.started_at is None:
            lj.started_at = info.start_time or self.clock.time()
            extra["started_at"] = lj.started_at
            self._started(lj, lj.started_at)
        if ch.state != lj.state:
            what = "running" if ch.state is JobState.RUNNING else f"{info.native_state}"
            self._set_state(
                ch.job_id, lj, ch.state, f"{what} at {site} (job {info.external_id})", **extra
            )
        else:
            self.batch.update_job(ch.job_id, **extra)
