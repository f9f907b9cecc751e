"""The control plane's tables (SQLAlchemy Core), and the job state machine.

A job moves through::

    queued ──▶ dispatching ──▶ pending ──▶ running ──▶ done | failed | timeout | cancelled
       ▲            │  (intent written,      (at the site)
       └────────────┘   then submitted)
    any of dispatching/pending/running ──▶ unknown (site unreachable) ──▶ reconciled

``dispatching`` is written *before* the job is handed to its site (a transactional
outbox: the ``dispatches`` row is the intent); the site's job carries the suanli job
id in its tag, so a crash between the two is resolved by reconciliation. A job's
``external_id`` is its site's id for it (:mod:`suanli.sites`), ``site_state`` the site's
own name for its state.
Times are POSIX seconds (floats), the same on SQLite and PostgreSQL.
The tables are created by the Alembic migrations in ``suanli/store/migrations``;
``metadata`` here must match them (a test compares the two).
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)


class JobState(StrEnum):
    """Where a job is in its life (see the module docstring)."""

    QUEUED = "queued"
    DISPATCHING = "dispatching"
    PENDING = "pending"
    RUNNING = "running"
    UNKNOWN = "unknown"
    DONE = "done"
    FAILED = "failed"
    TIMEOUT = "timeout"  # ended by its site at its time limit
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        """Whether the job has ended (nothing will change it again)."""
        return self in FINAL_STATES


FINAL_STATES = frozenset({JobState.DONE, JobState.FAILED, JobState.TIMEOUT, JobState.CANCELLED})
#: States in which a job holds capacity at a site.
PLACED_STATES = frozenset(
    {JobState.DISPATCHING, JobState.PENDING, JobState.RUNNING, JobState.UNKNOWN}
)


class DispatchState(StrEnum):
    """Outcome of one hand-over of a job to a site."""

    INTENT = "intent"  # written before the submission; resolved by its result or reconciliation
    SUBMITTED = "submitted"  # the site gave it an id (or the job was found by its tag)
    REJECTED = "rejected"  # the site refused it for good (e.g. no node can ever run it)
    LOST = "lost"  # never reached the site: the job went back to the queue
    CANCELLED = "cancelled"  # the job was cancelled before the site had it


class Role(StrEnum):
    """What an API token may do."""

    ADMIN = "admin"
    TENANT = "tenant"


metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

tenants = Table(
    "tenants",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("weight", Float, nullable=False, default=1.0),
    Column("priority", Integer, nullable=False, default=0),
    Column("origin", String(16), nullable=False),  # "scenario" or "api"
    Column("created_at", Float, nullable=False),
    # limits (NULL: the server's default; docs/serve.md)
    Column("max_queued", Integer, nullable=True),  # most jobs queued at once
    Column("submit_rate", Float, nullable=True),  # sustained submissions per second
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("tenant_id", String(64), ForeignKey("tenants.id"), nullable=True),
    Column("label", String(200), nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float, nullable=True),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant_id", String(64), ForeignKey("tenants.id"), nullable=False),
    Column("client_key", String(128), nullable=True),
    Column("name", String(128), nullable=False, default=""),
    Column("state", String(16), nullable=False),
    Column("spec", JSON, nullable=False),
    Column("command", Text, nullable=False),
    Column("submitted_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("attempt", Integer, nullable=False, default=0),
    Column("site", String(64), nullable=True),
    Column("pool", String(128), nullable=True),
    Column("devices", Integer, nullable=True),
    Column("external_id", String(128), nullable=True),
    Column("site_state", String(32), nullable=True),
    Column("last_state", String(16), nullable=True),
    Column("reason", Text, nullable=False, default=""),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("started_at", Float, nullable=True),
    Column("ended_at", Float, nullable=True),
    Column("exit_code", Integer, nullable=True),
    Column("preemptions", Integer, nullable=False, server_default="0"),
    Column("progress_pflop", Float, nullable=False, server_default="0"),
    Column("attained_s", Float, nullable=False, server_default="0"),
    # the service a replica serves (NULL: a batch job)
    Column("service_id", String(64), nullable=True),
    UniqueConstraint("tenant_id", "client_key", name="uq_jobs_tenant_client_key"),
)
Index("ix_jobs_state", jobs.c.state)
Index("ix_jobs_tenant_id", jobs.c.tenant_id, jobs.c.id)
Index("ix_jobs_tenant_state", jobs.c.tenant_id, jobs.c.state)
Index("ix_jobs_service_state", jobs.c.service_id, jobs.c.state)

dispatches = Table(
    "dispatches",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", Integer, ForeignKey("jobs.id"), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("site", String(64), nullable=False),
    Column("pool", String(128), nullable=False),
    Column("devices", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("external_id", String(128), nullable=True),
    Column("created_at", Float, nullable=False),
    Column("resolved_at", Float, nullable=True),
    Column("detail", Text, nullable=False, default=""),
    UniqueConstraint("job_id", "attempt", name="uq_dispatches_job_attempt"),
)
Index("ix_dispatches_state", dispatches.c.state)

job_events = Table(
    "job_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", Integer, ForeignKey("jobs.id"), nullable=False),
    Column("at", Float, nullable=False),
    Column("state", String(16), nullable=False),
    Column("message", Text, nullable=False, default=""),
)
Index("ix_job_events_job_id", job_events.c.job_id, job_events.c.id)

decisions = Table(
    "decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("round", Integer, nullable=False),
    Column("policy", String(64), nullable=False),
    Column("job_id", Integer, ForeignKey("jobs.id"), nullable=False),
    Column("action", String(16), nullable=False),
    Column("site", String(64), nullable=True),
    Column("pool", String(128), nullable=True),
    Column("devices", Integer, nullable=True),
    Column("detail", Text, nullable=False, default=""),
)
Index("ix_decisions_job_id", decisions.c.job_id, decisions.c.id)

site_samples = Table(
    "site_samples",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("site", String(64), nullable=False),
    Column("devices", Integer, nullable=False),
    Column("up", Integer, nullable=False),
    Column("allocated", Integer, nullable=False),
    Column("busy", Integer, nullable=False),
    Column("power_mw", Float, nullable=False),
    Column("price", Float, nullable=False),
    Column("cost_per_h", Float, nullable=False),
    Column("carbon", Float, nullable=False),
)
Index("ix_site_samples_at", site_samples.c.at)

services = Table(
    "services",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("tenant_id", String(64), ForeignKey("tenants.id"), nullable=False),
    Column("origin", String(16), nullable=False),  # "scenario" or "api"
    # the service as the scenario file's ``services:`` entry has it (NULL: the scenario's)
    Column("spec", JSON, nullable=True),
    # requests/s per user region set over the API (NULL: the demand curve)
    Column("demand_rps", JSON, nullable=True),
    Column("min_replicas", Integer, nullable=True),  # NULL: the spec's
    Column("max_replicas", Integer, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("deleted_at", Float, nullable=True),
)

service_samples = Table(
    "service_samples",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("service", String(64), nullable=False),
    Column("demand_rps", Float, nullable=False),
    Column("capacity_rps", Float, nullable=False),
    Column("ready", Integer, nullable=False),
    Column("starting", Integer, nullable=False),
    Column("devices", Integer, nullable=False),
    Column("attainment", Float, nullable=False),
    Column("tokens_per_s", Float, nullable=False),
)
Index("ix_service_samples_at", service_samples.c.at)
