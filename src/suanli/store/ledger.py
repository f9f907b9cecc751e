"""The control loop's writes: batches of job transitions, dispatch intents, decisions,
site samples.

The loop collects what changed in one iteration into a :class:`Batch` and writes
it in one transaction (:meth:`Ledger.write`). Dispatch intents are written — and
committed — *before* the loop hands the jobs to their sites; that ordering is what makes
a crash between the two recoverable.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import and_, bindparam, delete, insert, select, update

from suanli.store.db import Database
from suanli.store.records import DispatchRecord, JobRecord, SampleRecord, ServiceSampleRecord
from suanli.store.schema import (
    FINAL_STATES,
    DispatchState,
    JobState,
    decisions,
    dispatches,
    job_events,
    jobs,
    service_samples,
    site_samples,
)


@dataclass(slots=True)
class Batch:
    """Changes of one loop iteration, written together (timestamps from ``clock``)."""

    job_updates: dict[int, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    new_dispatches: list[dict[str, Any]] = field(default_factory=list)
    dispatch_updates: list[dict[str, Any]] = field(default_factory=list)
    samples: list[SampleRecord] = field(default_factory=list)
    service_samples: list[ServiceSampleRecord] = field(default_factory=list)
    #: Delete site and service samples taken before this time (POSIX s), if set.
    prune_samples_before: float | None = None
    clock: Callable[[], float] = time.time

    def __bool__(self) -> bool:
        return bool(
            self.job_updates
            or self.events
            or self.decisions
            or self.new_dispatches
            or self.dispatch_updates
            or self.samples
            or self.service_samples
            or self.prune_samples_before is not None
        )

    def update_job(self, job_id: int, **values: Any) -> None:
        """Set columns of a job (merged with earlier updates in this batch)."""
        self.job_updates.setdefault(job_id, {}).update(values)

    def event(self, job_id: int, state: str, message: str, at: float | None = None) -> None:
        """Add an entry to a job's history."""
        self.events.append(
            dict(job_id=job_id, at=self.clock() if at is None else at, state=state, message=message)
        )

    def decision(self, **values: Any) -> None:
        """Record a policy decision (columns of ``decisions``)."""
        values.setdefault("at", self.clock())
        values.setdefault("detail", "")
        values.setdefault("site", None)
        values.setdefault("pool", None)
        values.setdefault("devices", None)
        self.decisions.append(values)

    def intent(self, job_id: int, attempt: int, site: str, pool: str, devices: int) -> None:
        """A dispatch intent: ``job_id`` (attempt ``attempt``) is about to go to ``site``."""
        self.new_dispatches.append(
            dict(
                job_id=job_id,
                attempt=attempt,
                site=site,
                pool=pool,
                devices=devices,
                state=DispatchState.INTENT.value,
                external_id=None,
                created_at=self.clock(),
                resolved_at=None,
                detail="",
            )
        )

    def resolve(
        self,
        job_id: int,
        attempt: int,
        state: DispatchState,
        external_id: str | None = None,
        detail: str = "",
    ) -> None:
        """Record the outcome of a dispatch."""
        self.dispatch_updates.append(
            dict(
                _job=job_id,
                _attempt=attempt,
                state=state.value,
                external_id=external_id,
                resolved_at=self.clock(),
                detail=detail,
            )
        )


class Ledger:
    """The control loop's access to the database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def write(self, batch: Batch) -> None:
        """Write a batch in one transaction."""
        if not batch:
            return
        now = batch.clock()
        with self.db.write() as conn:
            if batch.new_dispatches:
                conn.execute(insert(dispatches), batch.new_dispatches)
            groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for job_id, values in batch.job_updates.items():
                values = {**values, "updated_at": now}
                groups.setdefault(tuple(sorted(values)), []).append({"_id": job_id, **values})
            for cols, rows in groups.items():
                stmt = (
                    update(jobs)
                    .where(jobs.c.id == bindparam("_id"))
                    .values({c: bindparam(c) for c in cols})
                )
                conn.execute(stmt, rows)
            if batch.dispatch_updates:
                stmt = (
                    update(dispatches)
                    .where(
                        and_(
                            dispatches.c.job_id == bindparam("_job"),
                            dispatches.c.attempt == bindparam("_attempt"),
                        )
                    )
                    .values(
                        state=bindparam("state"),
                        external_id=bindparam("external_id"),
                        resolved_at=bindparam("resolved_at"),
                        detail=bindparam("detail"),
                    )
                )
                conn.execute(stmt, batch.dispatch_updates)
            if batch.events:
                conn.execute(insert(job_events), batch.events)
            if batch.decisions:
                conn.execute(insert(decisions), batch.decisions)
            if batch.samples:
                conn.execute(insert(site_samples), [asdict(x) for x in batch.samples])
            if batch.service_samples:
                conn.execute(insert(service_samples), [asdict(x) for x in batch.service_samples])
            if batch.prune_samples_before is not None:
                cut = batch.prune_samples_before
                conn.execute(delete(site_samples).where(site_samples.c.at < cut))
                conn.execute(delete(service_samples).where(service_samples.c.at < cut))

    def active_jobs(self) -> list[JobRecord]:
        """Jobs not yet ended, by id."""
        final = [s.value for s in FINAL_STATES]
        with self.db.read() as conn:
            rows = conn.execute(
                select(jobs).where(jobs.c.state.not_in(final)).order_by(jobs.c.id)
            ).all()
        return [JobRecord.from_row(r._mapping) for r in rows]

    def jobs_by_id(self, ids: Iterable[int]) -> list[JobRecord]:
        """These jobs (those that exist), by id."""
        wanted = sorted(set(ids))
        out: list[JobRecord] = []
        with self.db.read() as conn:
            for i in range(0, len(wanted), 500):
                chunk = wanted[i : i + 500]
                rows = conn.execute(
                    select(jobs).where(jobs.c.id.in_(chunk)).order_by(jobs.c.id)
                ).all()
                out.extend(JobRecord.from_row(r._mapping) for r in rows)
        return out

    def queued_ids(self) -> list[int]:
        """Ids of queued batch jobs (a sweep for jobs the loop has not been told about; a
        queued replica is the loop's own, between its row's insertion and its dispatch)."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(jobs.c.id)
                .where(jobs.c.state == JobState.QUEUED.value, jobs.c.service_id.is_(None))
                .order_by(jobs.c.id)
            ).all()
        return [int(r[0]) for r in rows]

    def cancel_requested_ids(self) -> list[int]:
        """Ids of unfinished jobs whose cancellation was asked for."""
        final = [s.value for s in FINAL_STATES]
        with self.db.read() as conn:
            rows = conn.execute(
                select(jobs.c.id).where(
                    jobs.c.cancel_requested.is_(True), jobs.c.state.not_in(final)
                )
            ).all()
        return [int(r[0]) for r in rows]

    def dispatches_of(self, job_id: int) -> list[DispatchRecord]:
        """A job's dispatches, oldest first."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(dispatches).where(dispatches.c.job_id == job_id).order_by(dispatches.c.id)
            ).all()
        return [DispatchRecord.from_row(r._mapping) for r in rows]
