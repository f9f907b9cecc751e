"""Everything the API needs, built once per application (no global state)."""

from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass, field

from suanli.api.limits import LimitDefaults, TenantLimits
from suanli.api.submit import SubmitValidator
from suanli.clock import Clock, SystemClock
from suanli.control.service import LiveControl, LoopSettings
from suanli.control.telemetry import Telemetry
from suanli.core.sharing import DEFAULT_PLACEMENT
from suanli.errors import InputError, Problem
from suanli.model.scenario import Scenario
from suanli.policy.registry import DEFAULT_POLICY, DEFAULT_SERVING_POLICY
from suanli.sites.config import SitesConfig
from suanli.store.db import Database
from suanli.store.jobs import JobStore
from suanli.store.tenants import TenantStore, TokenRevokedError, hash_token


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """Limits of the HTTP API."""

    max_body_bytes: int = 64 * 1024
    max_page: int = 1000
    #: Seconds between the dashboard page's polls of its document.
    dashboard_poll_s: float = 5.0
    #: Recent decisions the dashboard shows.
    dashboard_decisions: int = 100
    #: Seconds a dashboard document is reused for the same viewer and query (0: never):
    #: bounds what polling it costs, however often one polls.
    dashboard_cache_s: float = 2.0
    #: Seconds between reads of a job's output while it is followed.
    log_follow_s: float = 1.0
    #: The defaults of the per-tenant limits (:mod:`suanli.api.limits`).
    tenant_limits: LimitDefaults = field(default_factory=LimitDefaults)


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
    limits: TenantLimits = field(init=False)

    def __post_init__(self) -> None:
        self.jobs = JobStore(self.db)
        self.tenants = TenantStore(self.db)
        self.limits = TenantLimits(self.db, self.tenants, self.settings.tenant_limits)
        self.validator = SubmitValidator(self.scenario)
        self.telemetry.watch_jobs(self.jobs.counts_by_state)
        self.telemetry.watch_tenants(self.jobs.active_by_tenant)


#: The least length of a token a person chooses (the admin token of ``suanli serve``).
MIN_TOKEN_LENGTH = 32
MIN_ADMIN_TOKEN = MIN_TOKEN_LENGTH  # the old name
#: The least entropy of such a token, estimated as length × log2(size of the character
#: classes it uses: lower case 26, upper case 26, digits 10, others 33).
MIN_TOKEN_BITS = 128
#: The label of the admin token given at start (``SUANLI_ADMIN_TOKEN`` or its file).
BOOTSTRAP_LABEL = "bootstrap"
_TOKEN_HINT = "use a long random string, e.g. from `openssl rand -hex 32`"

log = logging.getLogger("suanli.serve")


def token_bits(token: str) -> float:
    """The estimated entropy of ``token`` in bits: its length × log2 of the size of the
    character classes it draws from."""
    pool = 0
    for present, size in (
        (any(c.islower() and c.isascii() for c in token), 26),
        (any(c.isupper() and c.isascii() for c in token), 26),
        (any(c.isdigit() and c.isascii() for c in token), 10),
        (any(not (c.isascii() and c.isalnum()) for c in token), 33),
    ):
        pool += size if present else 0
    return len(token) * math.log2(pool) if pool > 1 else 0.0


def weak_token_reason(token: str) -> str | None:
    """Why ``token`` is too weak to be chosen as an API token (``None``: it is not): at
    least :data:`MIN_TOKEN_LENGTH` characters, :data:`MIN_TOKEN_BITS` estimated bits, and
    no simple pattern (one character repeated, a short run repeated, a sequence such as
    ``abcdef…``, few distinct characters)."""
    n = len(token)
    if n < MIN_TOKEN_LENGTH:
        return f"shorter than {MIN_TOKEN_LENGTH} characters"
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in token):
        return "contains blanks or control characters"
    bits = token_bits(token)
    if bits < MIN_TOKEN_BITS:
        return f"about {bits:.0f} bits of entropy, fewer than {MIN_TOKEN_BITS}"
    if len(set(token)) < 8:
        return "fewer than 8 distinct characters"
    for period in range(1, n // 2 + 1):
        if all(token[k] == token[k - period] for k in range(period, n)):
            return f"a run of {period} character(s) repeated"
    steps = [ord(b) - ord(a) for a, b in itertools.pairwise(token)]
    if sum(1 for d in steps if abs(d) <= 1) * 2 > len(steps):
        return "mostly a sequence of neighbouring characters (e.g. aaaa, abcd, 4321)"
    return None


def admin_token_problem(token: str | None, *, database_has_admin: bool) -> Problem | None:
    """What is wrong with the admin token given at start (``None``: nothing): one is needed
    until the database holds one, and it must be strong (:func:`weak_token_reason`)."""
    if token:
        weak = weak_token_reason(token)
        if weak is not None:
            return Problem("SUANLI_ADMIN_TOKEN", "", f"admin token too weak: {weak}", _TOKEN_HINT)
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

    Without ``admin_token`` the database must hold an admin token already. The admin token
    given at start is the *bootstrap* token (labelled ``bootstrap``): when it changes, the
    previous bootstrap token is revoked (rotation) and the change is logged. A token revoked
    before cannot be given again.
    """
    store = TenantStore(db)
    problem = admin_token_problem(
        admin_token, database_has_admin=bool(admin_token) or store.has_admin()
    )
    if problem is not None:
        raise InputError([problem])
    store.ensure(((t.id, t.name, t.weight, t.priority) for t in scenario.tenants), "scenario")
    if admin_token:
        try:
            token_id, revoked = store.set_bootstrap(hash_token(admin_token), BOOTSTRAP_LABEL)
        except TokenRevokedError:
            raise InputError(
                [
                    Problem(
                        "SUANLI_ADMIN_TOKEN",
                        "",
                        "this admin token was revoked; it cannot be used again",
                        _TOKEN_HINT,
                    )
                ]
            ) from None
        for old in revoked:
            log.warning(
                "admin token rotated: revoked the previous bootstrap admin token (id %d); "
                "the new one has id %d",
                old,
                token_id,
            )


def build_services(
    scenario: Scenario,
    db_url: str,
    sites: SitesConfig,
    *,
    policy: str = DEFAULT_POLICY,
    placement: str = DEFAULT_PLACEMENT,
    serving: str | None = DEFAULT_SERVING_POLICY,
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
        serving=serving,
    )
    return Services(db, scenario, control, telemetry, settings or ApiSettings())
