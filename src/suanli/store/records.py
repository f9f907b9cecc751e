"""Rows of the control plane's tables as frozen dataclasses (what the store returns)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Self

from suanli.store.schema import JobState, Role


class _FromRow:
    """Build a record from a SQLAlchemy row mapping, ignoring extra columns."""

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Self:
        """The record for one row (``row._mapping``)."""
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in row.items() if k in names})


@dataclass(frozen=True, slots=True)
class TenantRecord(_FromRow):
    """A tenant: from the scenario, or created over the API by an admin."""

    id: str
    name: str
    weight: float
    priority: int
    origin: str
    created_at: float
    #: Most jobs queued at once (``None``: the server's default).
    max_queued: int | None = None
    #: Sustained submissions per second (``None``: the server's default).
    submit_rate: float | None = None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request comes from: an admin, or a tenant (``tenant_id``)."""

    token_id: int
    role: Role
    tenant_id: str | None

    @property
    def is_admin(self) -> bool:
        """Whether this is an admin token."""
        return self.role is Role.ADMIN


@dataclass(frozen=True, slots=True)
class TokenRecord(_FromRow):
    """An API token, without its secret (only the hash is stored)."""

    id: int
    role: str
    tenant_id: str | None
    label: str
    created_at: float
    revoked_at: float | None


@dataclass(frozen=True, slots=True)
class JobRecord(_FromRow):
    """A job as the database holds it."""

    id: int
    tenant_id: str
    client_key: str | None
    name: str
    state: str
    spec: dict[str, Any]
    command: str
    submitted_at: float
    updated_at: float
    attempt: int
    site: str | None
    pool: str | None
    devices: int | None
    external_id: str | None
    site_state: str | None
    last_state: str | None
    reason: str
    cancel_requested: bool
    started_at: float | None
    ended_at: float | None
    exit_code: int | None
    preemptions: int
    progress_pflop: float
    attained_s: float
    #: The service this job is a replica of (``None``: a batch job).
    service_id: str | None = None

    @property
    def job_state(self) -> JobState:
        """The state as an enum."""
        return JobState(self.state)


@dataclass(frozen=True, slots=True)
class EventRecord(_FromRow):
    """One entry of a job's history."""

    id: int
    job_id: int
    at: float
    state: str
    message: str


@dataclass(frozen=True, slots=True)
class DecisionRecord(_FromRow):
    """A policy decision about a job (start, preempt, a new waiting reason, …)."""

    id: int
    at: float
    round: int
    policy: str
    job_id: int
    action: str
    site: str | None
    pool: str | None
    devices: int | None
    detail: str


@dataclass(frozen=True, slots=True)
class DispatchRecord(_FromRow):
    """One hand-over of a job to a site (the outbox)."""

    id: int
    job_id: int
    attempt: int
    site: str
    pool: str
    devices: int
    state: str
    external_id: str | None
    created_at: float
    resolved_at: float | None
    detail: str


@dataclass(frozen=True, slots=True)
class SampleRecord(_FromRow):
    """One site at one instant, as the live loop estimated it (``at``: POSIX seconds).

    Devices in all, up (0 while the site is unreachable), held by suanli's jobs and
    running; facility power (MW); the tariff (currency/kWh, gross), the net cost rate
    (currency/h, subsidies deducted) and the grid's carbon intensity (kg CO₂/kWh).
    See :mod:`suanli.control.samples`.
    """

    at: float
    site: str
    devices: int
    up: int
    allocated: int
    busy: int
    power_mw: float
    price: float
    cost_per_h: float
    carbon: float


@dataclass(frozen=True, slots=True)
class ServiceRecord(_FromRow):
    """An online inference service the control plane runs: the scenario's (``spec``
    ``None``) or one created over the API (``spec``: the scenario file's ``services:``
    entry), with what the API set on top of it: requests/s per user region (``None``:
    the spec's demand curve) and replica bounds (``None``: the spec's)."""

    id: str
    tenant_id: str
    origin: str
    spec: dict[str, Any] | None
    demand_rps: dict[str, float] | None
    min_replicas: int | None
    max_replicas: int | None
    created_at: float
    updated_at: float
    deleted_at: float | None = None


@dataclass(frozen=True, slots=True)
class ServiceSampleRecord(_FromRow):
    """One service at one serving tick (``at``: POSIX s of the tick's start): demand and
    ready capacity (requests/s), ready and starting replicas, devices held, the share of
    requests within the SLO over the tick, tokens/s served."""

    at: float
    service: str
    demand_rps: float
    capacity_rps: float
    ready: int
    starting: int
    devices: int
    attainment: float
    tokens_per_s: float
