"""What the live dashboard reads: site samples, the jobs to list, queues per tenant.

Every query can be narrowed to one tenant (a tenant's token sees only its own jobs);
site samples are fleet-wide (any token may see the sites, as ``GET /v1/sites``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from suanli.store.db import Database
from suanli.store.records import JobRecord, SampleRecord
from suanli.store.schema import FINAL_STATES, jobs, site_samples


@dataclass(frozen=True, slots=True)
class QueueRow:
    """Jobs of one tenant in one state, and the devices they hold (placed jobs)."""

    tenant_id: str
    state: str
    jobs: int
    devices: int


class DashboardReader:
    """Read-only queries of the dashboard (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def samples(self, since: float) -> list[SampleRecord]:
        """Site samples taken at or after ``since`` (POSIX s), by time and site."""
        q = (
            select(site_samples)
            .where(site_samples.c.at >= since)
            .order_by(site_samples.c.at, site_samples.c.site)
        )
        with self.db.read() as conn:
            return [SampleRecord.from_row(r._mapping) for r in conn.execute(q).all()]

    def jobs(self, tenant_id: str | None, limit: int) -> list[JobRecord]:
        """The jobs to list, by id: every unfinished one, then the newest ended ones,
        ``limit`` in all (the newest unfinished ones first if there are more)."""
        final = [s.value for s in FINAL_STATES]
        q = select(jobs).order_by(jobs.c.id.desc()).limit(limit)
        if tenant_id is not None:
            q = q.where(jobs.c.tenant_id == tenant_id)
        with self.db.read() as conn:
            active = conn.execute(q.where(jobs.c.state.not_in(final))).all()
            ended = conn.execute(q.where(jobs.c.state.in_(final)).limit(limit - len(active))).all()
        rows = [JobRecord.from_row(r._mapping) for r in (*active, *ended)]
        return sorted(rows, key=lambda r: r.id)

    def queues(self, tenant_id: str | None = None) -> list[QueueRow]:
        """Jobs and held devices per tenant and state (all jobs, not only those listed)."""
        q = (
            select(
                jobs.c.tenant_id,
                jobs.c.state,
                func.count(),
                func.coalesce(func.sum(jobs.c.devices), 0),
            )
            .group_by(jobs.c.tenant_id, jobs.c.state)
            .order_by(jobs.c.tenant_id, jobs.c.state)
        )
        if tenant_id is not None:
            q = q.where(jobs.c.tenant_id == tenant_id)
        with self.db.read() as conn:
            rows = conn.execute(q).all()
        return [QueueRow(str(t), str(s), int(n), int(d)) for t, s, n, d in rows]
