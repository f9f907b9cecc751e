"""The book of unfinished jobs: every state change of the live control plane.

:class:`JobBook` keeps, for each unfinished job, what the control loop knows (its
index in the :class:`~suanli.control.live.LiveExecutor`, state, attempt, site, Slurm id,
whether a cancellation is wanted) and carries out transitions — admission, dispatch,
preemption, requeue, the end of a job, cancellation, a site's answers and their
reconciliation — by updating the executor, adding the database writes to :attr:`batch`
and the site commands to :attr:`submits` and :attr:`cancels`. The loop
(:mod:`suanli.control.service`) writes the batch, then sends the commands.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from suanli.control.jobspec import job_from_spec
from suanli.control.live import DEFERRED, PLACED, WAITING, LiveExecutor
from suanli.control.reconcile import Change, Tracked, reconcile
from suanli.control.telemetry import Telemetry
from suanli.executor.site import Listing, SubmitRequest, SubmitResult, make_tag
from suanli.sim.jobtable import Candidate
from suanli.store.ledger import Batch
from suanli.store.records import JobRecord
from suanli.store.schema import PLACED_STATES, DispatchState, JobState

log = logging.getLogger("suanli.control")


@dataclass(slots=True)
class SiteStatus:
    """What the service knows about a site's reachability (``None``: not yet asked)."""

    reachable: bool | None = None
    since: float = field(default_factory=time.time)
    error: str = ""
    last_ok: float | None = None


@dataclass(slots=True)
class LiveJob:
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


class JobBook:
    """Unfinished jobs and their transitions (see the module docstring)."""

    def __init__(
        self,
        ex: LiveExecutor,
        sites: dict[str, SiteStatus],
        *,
        install_id: str,
        epoch0: float,
        policy_name: str,
        gres_type: Callable[[str, str], str],
        telemetry: Telemetry,
        grace_s: float,
        cancel_retry_s: float,
    ) -> None:
        self.ex = ex
        self.sites = sites
        self.install_id = install_id
        self.epoch0 = epoch0
        self.policy_name = policy_name
        self.gres_type = gres_type
        self.telemetry = telemetry
        self.grace_s = grace_s
        self.cancel_retry_s = cancel_retry_s
        self.live: dict[int, LiveJob] = {}
        self.batch = Batch()
        self.submits: list[tuple[str, SubmitRequest]] = []
        self.cancels: list[tuple[str, int]] = []
        self.recorded_reason: dict[int, str] = {}
        self.poll_now: set[str] = set()
        self.need_round = True
        self.full_round = True
        self.rounds = 0

    def record_reasons(self) -> None:
        """Write the policy's waiting reasons that changed in the last round."""
        ex = self.ex
        for j, reason in ex.last_reasons.items():
            if self.recorded_reason.get(j) != reason:
                self.recorded_reason[j] = reason
                db_id = ex.db_ids[j]
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
        lj = LiveJob(
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
                self.finish(rec.id, JobState.FAILED, "no pool of the fleet can run this job")
            elif rec.cancel_requested:
                self.finish(rec.id, JobState.CANCELLED, "cancelled while queued")
            else:
                self.ex.enqueue(j)
                self.need_round = True
            return
        # placed before a restart: hold its devices; reconciliation will tell the rest
        lj.submit_ended = time.monotonic()
        started = (rec.started_at or rec.updated_at) - self.epoch0
        if rec.pool is None or not self.ex.place(j, rec.pool, rec.devices or 0, started):
            log.warning("job %s: pool %s is not in the fleet any more", rec.id, rec.pool)

    # -- decisions --------------------------------------------------------------------------
    def dispatch(self, j: int, cand: Candidate) -> None:
        """Start job *j* on ``cand``: write the intent, queue the ``sbatch`` for after the write."""
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
        self.submits.append((site, req))

    def preempt(self, j: int, reason: str) -> None:
        """Stop job *j* as the policy asked (``scancel``) and put it back in the queue."""
        db_id = self.ex.db_ids[j]
        lj = self.live[db_id]
        if lj.slurm_id is not None and lj.site is not None:
            self.cancels.append((lj.site, lj.slurm_id))
        self.batch.decision(
            round=self.rounds,
            policy=self.policy_name,
            job_id=db_id,
            action="preempt",
            site=lj.site,
            detail=reason,
        )
        self.requeue(db_id, f"preempted: {reason}")

    def requeue(self, db_id: int, why: str) -> None:
        """Put a placed job back in the queue with a new attempt (or end it if cancelled)."""
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
            self.finish(db_id, JobState.CANCELLED, "cancelled")
            return
        self.ex.enqueue(lj.j)
        self.need_round = True

    def finish(
        self,
        db_id: int,
        state: JobState,
        why: str,
        *,
        exit_code: int | None = None,
        ended_at: float | None = None,
        slurm_state: str | None = None,
    ) -> None:
        """End a job in ``state``: free its place, write its end."""
        lj = self.live.pop(db_id)
        ex = self.ex
        if ex.status[lj.j] == PLACED:
            self.need_round = True
        ex.forget(lj.j)
        self.recorded_reason.pop(lj.j, None)
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

    def on_cancel(self, db_id: int) -> None:
        """A cancellation was asked for: at once while queued, else by ``scancel``."""
        lj = self.live.get(db_id)
        if lj is None:
            return
        lj.cancel_wanted = True
        if self.ex.status[lj.j] in (WAITING, DEFERRED) or lj.state is JobState.QUEUED:
            self.finish(db_id, JobState.CANCELLED, "cancelled while queued")
        elif lj.slurm_id is not None and lj.site is not None and self.sites[lj.site].reachable:
            lj.cancel_sent = time.monotonic()
            self.cancels.append((lj.site, lj.slurm_id))

    # -- site answers -----------------------------------------------------------------------
    def on_submitted(self, res: SubmitResult) -> None:
        """A site answered a submission: accepted, refused for good, or uncertain."""
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
                self.cancels.append((site, res.slurm_job_id))
        elif res.rejected:
            self.telemetry.dispatches.labels(site, "rejected").inc()
            b.resolve(req.job_id, req.attempt, DispatchState.REJECTED, detail=res.error)
            self.finish(req.job_id, JobState.FAILED, f"{site} refused the job: {res.error}")
        else:
            self.telemetry.dispatches.labels(site, "uncertain").inc()
            b.event(
                req.job_id,
                lj.state.value,
                f"submission to {site} uncertain ({res.error}); checking with Slurm",
            )
            self.poll_now.add(site)

    def _site_of_request(self, req: SubmitRequest) -> str:
        lj = self.live.get(req.job_id)
        return lj.site if lj is not None and lj.site is not None else "?"

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
        st = self.sites[site]
        idx = self.ex.tables.site_ids.index(site)
        self.telemetry.site_reachable.labels(site).set(1 if listing.ok else 0)
        if not listing.ok:
            if st.reachable is not False:
                log.warning("site %s unreachable: %s", site, listing.error)
                st.reachable, st.since = False, time.time()
                self.ex.set_site_up(idx, False)
                self.need_round = self.full_round = True
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
            self.need_round = self.full_round = True
        st.error, st.last_ok = "", time.time()
        tracked = [
            Tracked(db_id, lj.attempt, lj.state, lj.slurm_id, lj.submit_ended)
            for db_id, lj in self.live.items()
            if lj.site == site and lj.state in PLACED_STATES
        ]
        rec = reconcile(tracked, listing, self.install_id, self.grace_s)
        for ch in rec.changes:
            self._apply_change(site, ch)
        for stray in rec.strays:
            log.warning(
                "site %s: cancelling stray Slurm job %s (%s)", site, stray.slurm_job_id, stray.tag
            )
            self.telemetry.strays.labels(site).inc()
            self.cancels.append((site, stray.slurm_job_id))
        now_m = time.monotonic()
        for lj in self.live.values():
            if (
                lj.site == site
                and lj.cancel_wanted
                and lj.slurm_id is not None
                and (lj.cancel_sent is None or now_m - lj.cancel_sent > self.cancel_retry_s)
            ):
                lj.cancel_sent = now_m
                self.cancels.append((site, lj.slurm_id))

    def _apply_change(self, site: str, ch: Change) -> None:
        lj = self.live.get(ch.job_id)
        if lj is None:
            return
        if ch.action == "requeue":
            self.telemetry.dispatches.labels(site, "lost").inc()
            self.batch.resolve(ch.job_id, lj.attempt, DispatchState.LOST, detail=ch.message)
            self.requeue(ch.job_id, f"back in the queue: {ch.message} ({site})")
            return
        if ch.action == "vanished" or ch.slurm is None or ch.state is None:
            self.finish(ch.job_id, JobState.FAILED, ch.message)
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
                self.cancels.append((site, info.slurm_job_id))
        if ch.state.final:
            why = {JobState.DONE: "completed", JobState.CANCELLED: "cancelled"}.get(
                ch.state, f"Slurm: {info.state} ({info.reason})"
            )
            self.finish(
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
