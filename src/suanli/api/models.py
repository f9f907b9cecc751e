"""Request and response bodies of the API (pydantic; requests forbid unknown fields).

Every string a client sends is bounded and must be valid UTF-8 without NUL characters,
so that whatever passes validation can be stored by SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    model_validator,
)

from suanli.model.job import (
    DEFAULT_CHECKPOINT_INTERVAL_S,
    DEFAULT_PREEMPTIBLE,
    DEFAULT_RESTART_COST_S,
    JobKind,
)
from suanli.store.schema import JobState

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
MAX_ID = 2**31 - 1


def _clean(s: str) -> str:
    if "\x00" in s:
        raise ValueError("must not contain NUL characters")
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid UTF-8 (no lone surrogates)") from None
    return s


Text = Annotated[str, AfterValidator(_clean)]


def _no_controls(s: str) -> str:
    _clean(s)
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in s):
        raise ValueError("must not contain control characters")
    return s


#: A one-line string (query and path parameters, names): no NUL, no control characters.
Line = Annotated[str, AfterValidator(_no_controls)]

#: Every date and time the API takes names its offset, and its date as written lies in the
#: years ``MIN_YEAR``..``MAX_YEAR`` (so in UTC too, give or take a day); others answer 422
#: naming the field (docs/serve.md, "Dates and times").
MIN_YEAR = 2000
MAX_YEAR = 2199
TIME_PATTERN = r"^2[01][0-9][0-9]-"


def _in_range(t: datetime) -> datetime:
    if not MIN_YEAR <= t.year <= MAX_YEAR:
        raise ValueError(
            f"must be in the years {MIN_YEAR} to {MAX_YEAR} "
            f"(from {MIN_YEAR}-01-01T00:00:00 to {MAX_YEAR}-12-31T23:59:59.999999, any offset)"
        )
    return t


When = Annotated[
    AwareDatetime,
    AfterValidator(_in_range),
    Field(
        description="An RFC 3339 date-time with its offset (e.g. 2026-12-08T09:00:00+08:00) "
        f"in the years {MIN_YEAR} to {MAX_YEAR}.",
        json_schema_extra={"pattern": TIME_PATTERN},
    ),
]

Name = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_no_controls)]


def _integral(v: object) -> object:
    """An integral float (``-648.0``) as the integer it is: JSON Schema's ``integer``."""
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


#: An integer; a float with no fraction (``-648.0``) is taken as one, as JSON Schema's
#: ``integer`` says; booleans and strings are not.
Whole = Annotated[StrictInt, BeforeValidator(_integral)]
#: A finite number (an integer is one); booleans and strings are not, as JSON Schema says.
Number = Annotated[float, Field(allow_inf_nan=False, strict=True)]


def iso(t: float | None) -> datetime | None:
    """A POSIX time as an aware UTC datetime; one outside the years datetime can hold (a
    value stored before times were bounded) is clamped to its first or last instant."""
    if t is None:
        return None
    try:
        return datetime.fromtimestamp(t, UTC)
    except (OverflowError, ValueError, OSError):
        if t != t:  # NaN
            return None
        edge = datetime.max if t > 0 else datetime.min
        return edge.replace(tzinfo=UTC)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobIn(_In):
    """A job to submit. Give its work as ``hours_on_reference`` (hours on ``gang`` devices
    of the scenario's reference accelerator) or as ``work_pflop``: exactly one of them."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [
                {"required": [name], "properties": {name: {"type": "number"}}}
                for name in ("hours_on_reference", "work_pflop")
            ]
        },
    )

    profile: Name = Field(description="Workload profile of the scenario (GET /v1/scenario).")
    command: Annotated[str, Field(min_length=1, max_length=4096), AfterValidator(_clean)] = Field(
        description="Shell command line the job runs (sbatch --wrap)."
    )
    name: Annotated[str, Field(max_length=128, pattern=r"^[A-Za-z0-9._ -]*$")] = ""
    kind: JobKind | None = Field(None, description="Defaults to the profile's kind.")
    gang: Whole = Field(1, ge=1, le=65536, description="Devices the job runs on.")
    gang_max: Whole | None = Field(
        None,
        ge=1,
        le=65536,
        description="Elastic jobs: the most devices it can use; a policy may run and "
        "resize it on any count from gang_min to gang_max (docs/elastic.md).",
    )
    gang_min: Whole | None = Field(
        None,
        ge=1,
        le=65536,
        description="Elastic jobs: the fewest devices it can run on (≤ gang).",
    )
    hours_on_reference: Number | None = Field(None, gt=0, le=100_000)
    work_pflop: Number | None = Field(None, gt=0, le=1e12)
    accepted_types: list[Name] = Field(
        default_factory=list, max_length=32, description="Accelerator ids, best first."
    )
    types_ordered: StrictBool = Field(
        True,
        description="Whether accepted_types is an order of preference (false: any of them, "
        "equally good).",
    )
    accepted_stacks: list[Name] = Field(default_factory=list, max_length=16)
    dataset: Name | None = None
    deadline: When | None = None
    deferrable: StrictBool = False
    preemptible: StrictBool = DEFAULT_PREEMPTIBLE
    priority: Whole = Field(0, ge=-1000, le=1000)
    checkpoint_interval_s: Number = Field(DEFAULT_CHECKPOINT_INTERVAL_S, gt=0, le=1e7)
    restart_cost_s: Number = Field(DEFAULT_RESTART_COST_S, ge=0, le=1e7)

    @model_validator(mode="after")
    def _one_work(self) -> JobIn:
        if (self.hours_on_reference is None) == (self.work_pflop is None):
            raise ValueError("give exactly one of hours_on_reference and work_pflop")
        if self.gang_max is not None and self.gang_max < self.gang:
            raise ValueError(
                f"gang_max {self.gang_max} is below gang {self.gang}: give gang_max ≥ gang"
            )
        if self.gang_min is not None and self.gang_min > self.gang:
            raise ValueError(
                f"gang_min {self.gang_min} is above gang {self.gang}: give gang_min ≤ gang"
            )
        return self


class JobOut(BaseModel):
    """A job and where it is."""

    id: int
    tenant: str
    name: str
    state: JobState
    reason: str
    cancel_requested: bool
    profile: str
    kind: str
    gang: int
    gang_min: int | None = Field(None, description="elastic: the fewest devices (null: gang)")
    gang_max: int | None = Field(None, description="elastic: the most devices (null: gang)")
    work_pflop: float | None = Field(description="null: runs until stopped (a replica)")
    accepted_types: list[str]
    types_ordered: bool = Field(True, description="accepted_types is an order of preference")
    accepted_stacks: list[str]
    dataset: str | None
    deadline: datetime | None
    deferrable: bool
    preemptible: bool
    priority: int
    command: str
    site: str | None
    pool: str | None
    devices: int | None
    attempt: int
    external_id: str | None = Field(description="the site's id for the job (e.g. a Slurm job id)")
    site_state: str | None = Field(description="the site's own name for the job's state")
    last_state: str | None
    submitted_at: datetime
    updated_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    exit_code: int | None
    service: str | None = Field(
        default=None, description="the online inference service this job is a replica of"
    )


class JobList(BaseModel):
    """A page of jobs, newest first; pass ``next_before_id`` as ``before_id`` for more."""

    jobs: list[JobOut]
    next_before_id: int | None


class PositionOut(BaseModel):
    """A waiting job's place in the queue (1: next), by the queue order of
    docs/scheduler.md: in the whole queue, its tenant's, and each site's it can run at."""

    queue: int
    tenant: int
    sites: dict[str, int]


class WhyOut(BaseModel):
    """Why a job is where it is: the policy's reason while it waits, its position and when
    it is expected to start (an estimate from the current state: see docs/scheduler.md)."""

    job_id: int
    state: JobState
    waiting: bool
    reason: str
    policy: str
    position: PositionOut | None = None
    expected_start: datetime | None = None
    expected_site: str | None = None


class LogsOut(BaseModel):
    """A job's output as its site keeps it: ``logs`` ends at byte ``end`` of the whole
    output (ask again with ``offset=end`` for what follows); ``final``: the job has ended."""

    job_id: int
    site: str
    external_id: str
    logs: str
    end: int
    final: bool


class EventOut(BaseModel):
    """An entry of a job's history."""

    at: datetime
    state: str
    message: str


class DecisionOut(BaseModel):
    """A policy decision about a job."""

    id: int
    at: datetime
    round: int
    policy: str
    job_id: int
    action: str
    site: str | None
    pool: str | None
    devices: int | None
    detail: str


class TenantIn(_In):
    """A tenant to create."""

    id: Annotated[str, Field(pattern=ID_PATTERN)]
    name: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_no_controls)]
    weight: Number = Field(1.0, gt=0, le=1e6)
    priority: Whole = Field(0, ge=-1000, le=1000)
    max_queued: StrictInt | None = Field(
        None, ge=0, le=10_000_000, description="Most jobs queued at once (null: the default)."
    )
    submit_rate: Number | None = Field(
        None, gt=0, le=1e6, description="Sustained submissions per second (null: the default)."
    )


class TenantLimitsIn(_In):
    """A tenant's limits to change: the fields given are set (null: back to the server's
    default), the others kept."""

    max_queued: StrictInt | None = Field(
        None, ge=0, le=10_000_000, description="Most jobs queued at once (null: the default)."
    )
    submit_rate: Number | None = Field(
        None, gt=0, le=1e6, description="Sustained submissions per second (null: the default)."
    )


class TenantOut(BaseModel):
    """A tenant; ``max_queued`` and ``submit_rate`` are its own limits (null: the server's
    default applies)."""

    id: str
    name: str
    weight: float
    priority: int
    origin: str
    created_at: datetime
    max_queued: int | None = None
    submit_rate: float | None = None


class TokenIn(_In):
    """A token to issue."""

    label: Annotated[str, Field(max_length=200), AfterValidator(_no_controls)] = ""


class TokenOut(BaseModel):
    """A token, without its secret."""

    id: int
    role: str
    tenant: str | None
    label: str
    created_at: datetime
    revoked_at: datetime | None


class NewToken(TokenOut):
    """A freshly issued token: ``token`` is shown only this once."""

    token: str


class PoolOut(BaseModel):
    """Accelerators of one type at a site."""

    id: str
    site: str
    accelerator: str
    count: int
    devices_per_node: int


class SiteOut(BaseModel):
    """A site of the scenario and whether its cluster answers."""

    id: str
    name: str
    grid_region: str
    pue: float
    power_capacity_mw: float
    pools: list[PoolOut]
    reachable: bool | None
    reachable_since: datetime
    error: str


class ScenarioOut(BaseModel):
    """What a client needs to write a job: profiles, accelerators, data sets."""

    name: str
    policy: str
    reference_accelerator: str | None
    profiles: dict[str, str]
    accelerators: list[str]
    stacks: list[str]
    datasets: list[str]


class HealthOut(BaseModel):
    """Liveness of the service: the process answers (the database is not asked: see
    ``GET /ready``; ``database`` says so)."""

    status: str
    database: str
    loop: str
    sites: dict[str, bool | None]


class ReadyOut(BaseModel):
    """Readiness: a write transaction on the database succeeded just now."""

    status: str
    database: str
    loop: str
    check_ms: float


class ErrorOut(BaseModel):
    """Every error: what was wrong, in which field, and how to fix it."""

    error: str
    field: str | None = None
    hint: str | None = None
