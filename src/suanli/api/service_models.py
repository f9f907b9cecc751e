"""Request and answer bodies of ``/v1/services`` (a service's own fields are the scenario
file's: :class:`suanli.config.service_schema.ServiceConfig`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Rate = Annotated[float, Field(ge=0, le=10_000_000, allow_inf_nan=False, strict=True)]


class ServicePatch(BaseModel):
    """What may change on a running service. ``demand_rps``: requests/s per user region
    from now on (regions left out keep their demand; ``null``: back to the demand curve
    for every region); ``min_replicas``/``max_replicas`` (``null``: the spec's). Fields
    not sent stay as they are."""

    model_config = ConfigDict(extra="forbid")

    demand_rps: dict[Annotated[str, Field(max_length=64)], Rate] | None = Field(
        default=None, max_length=1000
    )
    min_replicas: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    max_replicas: Annotated[int, Field(ge=1, le=1_000_000)] | None = None


class ReplicaCounts(BaseModel):
    """Replicas by state: serving, in their cold start, draining."""

    ready: int
    starting: int
    draining: int


class ServiceOut(BaseModel):
    """A service: its spec's essentials and its live state (the live fields are empty
    until the control loop has taken the service up, within a moment of its creation)."""

    id: str
    name: str
    tenant: str
    origin: str = Field(description="'scenario' or 'api'")
    model: str
    regions: list[str]
    min_replicas: int
    max_replicas: int | None
    demand_set: dict[str, float] | None = Field(
        description="requests/s per region set over the API (null: the demand curve)"
    )
    created_at: datetime
    updated_at: datetime
    served: bool = Field(description="whether the control loop serves it now")
    demand_rps: dict[str, float] = Field(description="requests/s offered now, per region")
    capacity_rps: float = Field(description="requests/s its ready replicas serve within SLO")
    replicas: ReplicaCounts
    attainment_last: float | None = Field(description="share within SLO over the last tick")
    attainment: float | None = Field(description="share within SLO since the server started")
    tokens_per_s: float
    short: int = Field(description="replicas its policy wanted at the last tick without room")


class ServiceList(BaseModel):
    """Services the caller may see, by id."""

    services: list[ServiceOut]


class ReplicaOut(BaseModel):
    """One replica: its job, where it runs, its state."""

    job_id: int
    site: str
    pool: str
    accelerator: str
    devices: int
    state: str = Field(description="'starting', 'ready' or 'draining'")
    job_state: str
    external_id: str | None
    since: datetime


class RouteOut(BaseModel):
    """Requests of one user region sent to one pool now."""

    region: str
    site: str
    pool: str
    rps: float
    latency_ms: float


class EndpointsOut(BaseModel):
    """Which replicas serve which region."""

    service: str
    replicas: list[ReplicaOut]
    routes: list[RouteOut]


class ServiceWhyOut(BaseModel):
    """Why a service has fewer replicas than its policy wants (``short`` 0: it has all)."""

    service: str
    short: int
    reasons: list[str]
