"""Everything the API needs, built once per application (no global state)."""

from __future__ import annotations

from dataclasses import dataclass, field

from suanli.api.submit import SubmitValidator
from suanli.clock import Clock, SystemClock
from suanli.control.service import LiveControl, LoopSettings
from suanli.control.telemetry import Telemetry
from suanli.core.sharing import DEFAULT_PLACEMENT
from suanli.errors import InputError, Problem
from suanli.model.scenario import Scenario
from suanli.policy.registry import DEFAULT_POLICY
from suanli.sites.config import SitesConfig
from suanli.store.db import Database
from suanli.store.jobs import JobStore
from suanli.store.schema import Role
from suanli.store.tenants import TenantStore, hash_token


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """Limits of the HTTP API."""

    max_body_bytes: int = 64 * 1024
    max_page: int = 1000
    #: Seconds between the dashboard page's polls of its document.
    dashboard_poll_s: float = 5.0
    #: Recent decisions the dashboard shows.
    dashboard_decisions: int = 100
    #: Seconds between reads of a job's output while it is followed.
    log_follow_s: float = 1.0


@dataclass(slots=True)
class Services:
    """The database, the control loop and the helpers the routes use."""

    db: Database
    scenario: Scenario
    control: LiveControl
    telemetry: Telemetry
    settings: ApiSettings = field(default_factory=ApiSettings)
    jobs: JobStore = field(init=False)
    tenants: TenantStore = field(init=False)
    validator: SubmitValidator = field(init=False)

    def __post_init__(self) -> None:
        self.jobs = JobStore(self.db)
        self.tenants = TenantStore(self.db)
        self.validator = SubmitValidator(self.scenario)
        self.telemetry.watch_jobs(self.jobs.counts_by_state)
        self.telemetry.watch_tenants(self.jobs.active_by_tenant)


#: The least length of an admin token.
MIN_ADMIN_TOKEN = 16


def admin_token_problem(token: str | None, *, database_has_admin: bool) -> Problem | None:
    """What is wrong with the admin token given at start (``None``: nothing): one is needed
    until the database holds one, and it must be long."""
    if token:
        if len(token) < MIN_ADMIN_TOKEN:
            return Problem(
                "SUANLI_ADMIN_TOKEN",
                "",
                f"admin token shorter than {MIN_ADMIN_TOKEN} characters",
                "use a long random string, e.g. from `openssl rand -hex 32`",
            )
        return None
    if not database_has_admin:
        return Problem(
            "SUANLI_ADMIN_TOKEN",
            "",
            "no admin token: the database has none yet",
            "export SUANLI_ADMIN_TOKEN=$(openssl rand -hex 32) or pass --admin-token-file FILE",
        )
    return None


def seed(db: Database, scenario: Scenario, admin_token: str | None) -> None:
    """Create the scenario's tenants and store the admin token's hash (both idempotent).

    Without ``admin_token`` the database must hold an admin token already.
    """
    store = TenantStore(db)
    problem = admin_token_problem(
        admin_token, database_has_admin=bool(admin_token) or store.has_admin()
    )
    if problem is not None:
        raise InputError([problem])
    store.ensure(((t.id, t.name, t.weight, t.priority) for t in scenario.tenants), "scenario")
    if admin_token:
        store.add_token_hash(hash_token(admin_token), Role.ADMIN, None, "bootstrap")


def build_services(
    scenario: Scenario,
    db_url: str,
    sites: SitesConfig,
    *,
    policy: str = DEFAULT_POLICY,
    placement: str = DEFAULT_PLACEMENT,
    admin_token: str | None = None,
    loop: LoopSettings | None = None,
    settings: ApiSettings | None = None,
    clock: Clock | None = None,
) -> Services:
    """Open (and migrate) the database, seed it, and wire the control loop to the sites
    (each built by its backend, :mod:`suanli.sites`)."""
    db = Database(db_url)
    seed(db, scenario, admin_token)
    telemetry = Telemetry()
    clock = clock or SystemClock()
    control = LiveControl(
        db,
        scenario,
        sites.build(clock),
        sites.device_type,
        policy=policy,
        placement=placement,
        settings=loop,
        telemetry=telemetry,
        clock=clock,
    )
    return Services(db, scenario, control, telemetry, settings or ApiSettings())
