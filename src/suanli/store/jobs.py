"""Jobs as the API sees them: submit, read, list, ask to cancel; history and decisions.

State changes after submission are written by the control loop (:mod:`suanli.store.ledger`);
the API only inserts jobs and sets ``cancel_requested``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from suanli.store.db import Database
from suanli.store.records import DecisionRecord, EventRecord, JobRecord
from suanli.store.schema import FINAL_STATES, JobState, decisions, job_events, jobs


class JobStore:
    """The API's access to jobs."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def submit(
        self,
        tenant_id: str,
        spec: Mapping[str, Any],
        command: str,
        *,
        name: str = "",
        client_key: str | None = None,
        at: float | None = None,
        service_id: str | None = None,
    ) -> tuple[JobRecord, bool]:
        """Insert a queued job; return it and whether it is new.

        With a ``client_key`` (the ``Idempotency-Key`` header) a second submission with
        the same key by the same tenant returns the first job instead of a new one.
        ``at`` is the submission time (POSIX s; default now: a stepped clock's in tests);
        ``service_id`` makes the job a replica of that service (the control loop's own).
        """
        now = time.time() if at is None else at
        row: dict[str, Any] = dict(
            tenant_id=tenant_id,
            client_key=client_key,
            name=name,
            state=JobState.QUEUED.value,
            spec=dict(spec),
            command=command,
            submitted_at=now,
            updated_at=now,
            attempt=0,
            reason="submitted",
            cancel_requested=False,
            service_id=service_id,
        )
        try:
            with self.db.write() as conn:
                res = conn.execute(insert(jobs), row)
                job_id = int(res.inserted_primary_key[0])  # type: ignore[index]
                conn.execute(
                    insert(job_events),
                    dict(job_id=job_id, at=now, state=JobState.QUEUED.value, message="submitted"),
                )
        except IntegrityError:
            if client_key is None:
                raise
            existing = self.by_client_key(tenant_id, client_key)
            if existing is None:  # pragma: no cover - the conflicting row cannot vanish
                raise
            return existing, False
        full = {
            **row,
            "id": job_id,
            "site": None,
            "pool": None,
            "devices": None,
            "external_id": None,
            "site_state": None,
            "last_state": None,
            "started_at": None,
            "ended_at": None,
            "exit_code": None,
            "preemptions": 0,
            "progress_pflop": 0.0,
            "attained_s": 0.0,
        }
        return JobRecord.from_row(full), True

    def by_client_key(self, tenant_id: str, client_key: str) -> JobRecord | None:
        """The tenant's job submitted with this idempotency key."""
        with self.db.read() as conn:
            row = conn.execute(
                select(jobs).where(jobs.c.tenant_id == tenant_id, jobs.c.client_key == client_key)
            ).first()
        return JobRecord.from_row(row._mapping) if row is not None else None

    def get(self, job_id: int, tenant_id: str | None = None) -> JobRecord | None:
        """A job by id; with ``tenant_id`` only if it belongs to that tenant."""
        q = select(jobs).where(jobs.c.id == job_id)
        if tenant_id is not None:
            q = q.where(jobs.c.tenant_id == tenant_id)
        with self.db.read() as conn:
            row = conn.execute(q).first()
        return JobRecord.from_row(row._mapping) if row is not None else None

    def page(
        self,
        tenant_id: str | None = None,
        state: JobState | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[JobRecord]:
        """Jobs, newest first (``before_id`` pages backwards)."""
        q = select(jobs).order_by(jobs.c.id.desc()).limit(limit)
        if tenant_id is not None:
            q = q.where(jobs.c.tenant_id == tenant_id)
        if state is not None:
            q = q.where(jobs.c.state == state.value)
        if before_id is not None:
            q = q.where(jobs.c.id < before_id)
        with self.db.read() as conn:
            return [JobRecord.from_row(r._mapping) for r in conn.execute(q).all()]

    def request_cancel(self, job_id: int, tenant_id: str | None = None) -> JobRecord | None:
        """Ask for a job to be cancelled (the control loop carries it out); the job, or None."""
        cond = [jobs.c.id == job_id]
        if tenant_id is not None:
            cond.append(jobs.c.tenant_id == tenant_id)
        now = time.time()
        with self.db.write() as conn:
            row = conn.execute(select(jobs.c.state, jobs.c.cancel_requested).where(*cond)).first()
            if row is None:
                return None
            if not row.cancel_requested and JobState(row.state) not in FINAL_STATES:
                conn.execute(
                    update(jobs).where(*cond).values(cancel_requested=True, updated_at=now)
                )
                conn.execute(
                    insert(job_events).values(
                        job_id=job_id, at=now, state=row.state, message="cancel requested"
                    )
                )
        return self.get(job_id)

    def events(self, job_id: int, limit: int = 200) -> list[EventRecord]:
        """A job's history, oldest first."""
        q = (
            select(job_events)
            .where(job_events.c.job_id == job_id)
            .order_by(job_events.c.id)
            .limit(limit)
        )
        with self.db.read() as conn:
            return [EventRecord.from_row(r._mapping) for r in conn.execute(q).all()]

    def decisions(
        self,
        *,
        job_id: int | None = None,
        tenant_id: str | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[DecisionRecord]:
        """Policy decisions, newest first, about one job and/or one tenant's jobs."""
        q = select(decisions).order_by(decisions.c.id.desc()).limit(limit)
        if job_id is not None:
            q = q.where(decisions.c.job_id == job_id)
        if tenant_id is not None:
            q = q.where(
                decisions.c.job_id.in_(select(jobs.c.id).where(jobs.c.tenant_id == tenant_id))
            )
        if before_id is not None:
            q = q.where(decisions.c.id < before_id)
        with self.db.read() as conn:
            return [DecisionRecord.from_row(r._mapping) for r in conn.execute(q).all()]

    def counts_by_state(self) -> dict[str, int]:
        """Number of jobs in each state."""
        with self.db.read() as conn:
            rows = conn.execute(select(jobs.c.state, func.count()).group_by(jobs.c.state)).all()
        return {str(s): int(n) for s, n in rows}

    def active_by_tenant(self) -> dict[tuple[str, str], tuple[int, int]]:
        """Per tenant and unfinished state: the number of jobs and the devices they hold."""
        active = [s.value for s in JobState if not s.final]
        q = (
            select(
                jobs.c.tenant_id,
                jobs.c.state,
                func.count(),
                func.coalesce(func.sum(jobs.c.devices), 0),
            )
            .where(jobs.c.state.in_(active))
            .group_by(jobs.c.tenant_id, jobs.c.state)
        )
        with self.db.read() as conn:
            rows = conn.execute(q).all()
        return {(str(t), str(s)): (int(n), int(d)) for t, s, n, d in rows}
