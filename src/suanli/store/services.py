"""Online inference services in the database: what the live control plane runs.

The scenario's services are seeded once (:meth:`ServiceStore.ensure_scenario`); services
created over the API keep their spec (a scenario file's ``services:`` entry, as JSON).
The API may then set, on either kind, the demand per user region and replica bounds.
Deleting a service keeps its row (``deleted_at``), so its replicas' history stays
readable; a service created again with the same id replaces a deleted one.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import insert, select, update

from suanli.store.db import Database
from suanli.store.records import ServiceRecord, ServiceSampleRecord
from suanli.store.schema import service_samples, services


class ServiceExistsError(Exception):
    """A service with this id exists already."""


#: Marks a field of :meth:`ServiceStore.update` as not to be changed.
KEEP: Any = object()


class ServiceStore:
    """Services and their samples in the database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def ensure_scenario(self, rows: Iterable[tuple[str, str]]) -> int:
        """Add the scenario's services ``(id, tenant)`` that have never been in the
        database (a deleted one stays deleted); returns how many were added."""
        now = time.time()
        added = 0
        with self.db.write() as conn:
            known = {r[0] for r in conn.execute(select(services.c.id)).all()}
            for sid, tenant in rows:
                if sid in known:
                    continue
                conn.execute(
                    insert(services).values(
                        id=sid,
                        tenant_id=tenant,
                        origin="scenario",
                        spec=None,
                        demand_rps=None,
                        min_replicas=None,
                        max_replicas=None,
                        created_at=now,
                        updated_at=now,
                        deleted_at=None,
                    )
                )
                added += 1
        return added

    def create(self, sid: str, tenant: str, spec: Mapping[str, Any]) -> ServiceRecord:
        """A new service from the API (:class:`ServiceExistsError` if ``sid`` is live)."""
        now = time.time()
        values = dict(
            tenant_id=tenant,
            origin="api",
            spec=dict(spec),
            demand_rps=None,
            min_replicas=None,
            max_replicas=None,
            created_at=now,
            updated_at=now,
            deleted_at=None,
        )
        with self.db.write() as conn:
            row = conn.execute(select(services).where(services.c.id == sid)).first()
            if row is not None and row._mapping["deleted_at"] is None:
                raise ServiceExistsError(sid)
            if row is None:
                conn.execute(insert(services).values(id=sid, **values))
            else:
                conn.execute(update(services).where(services.c.id == sid).values(**values))
        got = self.get(sid)
        assert got is not None
        return got

    def get(self, sid: str, *, deleted: bool = False) -> ServiceRecord | None:
        """The service ``sid`` (``None`` if absent, or deleted unless ``deleted``)."""
        with self.db.read() as conn:
            row = conn.execute(select(services).where(services.c.id == sid)).first()
        if row is None:
            return None
        rec = ServiceRecord.from_row(row._mapping)
        return rec if deleted or rec.deleted_at is None else None

    def all(self) -> list[ServiceRecord]:
        """Every service not deleted, by id."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(services).where(services.c.deleted_at.is_(None)).order_by(services.c.id)
            ).all()
        return [ServiceRecord.from_row(r._mapping) for r in rows]

    def update(
        self,
        sid: str,
        *,
        demand_rps: dict[str, float] | None = KEEP,
        min_replicas: int | None = KEEP,
        max_replicas: int | None = KEEP,
    ) -> ServiceRecord | None:
        """Set what the API may change on a live service (fields left at :data:`KEEP`
        stay; ``None`` goes back to the spec's); ``None`` if there is no such service."""
        values: dict[str, Any] = {"updated_at": time.time()}
        for name, v in (
            ("demand_rps", demand_rps),
            ("min_replicas", min_replicas),
            ("max_replicas", max_replicas),
        ):
            if v is not KEEP:
                values[name] = v
        with self.db.write() as conn:
            done = conn.execute(
                update(services)
                .where(services.c.id == sid, services.c.deleted_at.is_(None))
                .values(**values)
            ).rowcount
        return self.get(sid) if done else None

    def delete(self, sid: str) -> bool:
        """Mark a live service deleted; False if there is none."""
        now = time.time()
        with self.db.write() as conn:
            done = conn.execute(
                update(services)
                .where(services.c.id == sid, services.c.deleted_at.is_(None))
                .values(deleted_at=now, updated_at=now)
            ).rowcount
        return bool(done)

    # -- samples (written by the control loop's batches) --------------------------------------
    def samples(self, since: float, service: str | None = None) -> list[ServiceSampleRecord]:
        """Samples taken at or after ``since``, by time and service (one service's only
        if ``service``)."""
        q = select(service_samples).where(service_samples.c.at >= since)
        if service is not None:
            q = q.where(service_samples.c.service == service)
        with self.db.read() as conn:
            rows = conn.execute(q.order_by(service_samples.c.at, service_samples.c.service)).all()
        return [ServiceSampleRecord.from_row(r._mapping) for r in rows]
