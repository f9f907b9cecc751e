"""Everything the API needs, built once per application (no global state)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from suanli.api.submit import SubmitValidator
from suanli.control.service import LiveControl, LoopSettings
from suanli.control.telemetry import Telemetry
from suanli.errors import InputError, Problem
from suanli.executor.site import MemorySite, SiteBackend
from suanli.executor.slurm import SlurmSite, wait_for_orphans
from suanli.executor.slurm_config import SlurmConfig, gres_type
from suanli.model.scenario import Scenario
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


def seed(db: Database, scenario: Scenario, admin_token: str | None) -> None:
    """Create the scenario's tenants and store the admin token's hash (both idempotent).

    Without ``admin_token`` the database must hold an admin token already.
    """
    store = TenantStore(db)
    store.ensure(((t.id, t.name, t.weight, t.priority) for t in scenario.tenants), "scenario")
    if admin_token:
        if len(admin_token) < 16:
            raise InputError(
                [
                    Problem(
                        "SUANLI_ADMIN_TOKEN",
                        "",
                        "admin token shorter than 16 characters",
                        "use a long random string, e.g. from `openssl rand -hex 32`",
                    )
                ]
            )
        store.add_token_hash(hash_token(admin_token), Role.ADMIN, None, "bootstrap")
    elif not store.has_admin():
        raise InputError(
            [
                Problem(
                    "SUANLI_ADMIN_TOKEN",
                    "",
                    "no admin token: the database has none yet",
                    "export SUANLI_ADMIN_TOKEN=$(openssl rand -hex 32) or pass "
                    "--admin-token-file FILE",
                )
            ]
        )


def build_services(
    scenario: Scenario,
    db_url: str,
    *,
    slurm: SlurmConfig | None = None,
    dry_run_s: float = 1.0,
    policy: str = "backfill",
    admin_token: str | None = None,
    loop: LoopSettings | None = None,
    settings: ApiSettings | None = None,
) -> Services:
    """Open (and migrate) the database, seed it, and wire the control loop to the sites.

    With ``slurm`` each site is a :class:`~suanli.executor.slurm.SlurmSite`; without, a
    :class:`~suanli.executor.site.MemorySite` whose jobs run ``dry_run_s`` seconds.
    """
    db = Database(db_url)
    seed(db, scenario, admin_token)
    telemetry = Telemetry()
    backends: dict[str, SiteBackend] = {}
    before: Callable[[], None] | None = None
    if slurm is not None:
        cfg = slurm
        for s in scenario.sites:
            backends[s.id] = SlurmSite(s.id, cfg.sites[s.id])

        def gres(site: str, acc: str) -> str:
            return gres_type(cfg, site, acc) or acc

        def before() -> None:
            left = wait_for_orphans(db.install_id, (loop or LoopSettings()).orphan_wait_s)
            if left:
                raise RuntimeError(f"sbatch processes of a previous run still alive: {left}")

    else:
        for s in scenario.sites:
            backends[s.id] = MemorySite(s.id, run_s=dry_run_s)

        def gres(site: str, acc: str) -> str:
            return acc

    control = LiveControl(
        db,
        scenario,
        backends,
        gres,
        policy=policy,
        settings=loop,
        telemetry=telemetry,
        before_recovery=before,
    )
    return Services(db, scenario, control, telemetry, settings or ApiSettings())
