"""Per-tenant limits on submissions: a rate, and the jobs queued at once.

Each tenant has a token bucket of ``submit_rate × submit_burst_s`` submissions (at least
one), refilled at ``submit_rate`` per second; a ``POST /v1/jobs`` takes one, and without one
it is answered 429 with ``Retry-After`` (the seconds until the next). A tenant whose queued
jobs (state ``queued``) number ``max_queued`` or more is answered 429 too (``Retry-After``:
``queue_full_retry_s``). A tenant's own limits (``tenants.max_queued``,
``tenants.submit_rate``; set by an admin) override the server's defaults
(:class:`~suanli.api.services.ApiSettings`). The buckets live in this process; the queued
count is read from the database (an index range: cheap), so concurrent submissions can
pass it by at most their number.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select

from suanli.api.errors import ApiError
from suanli.store.db import Database
from suanli.store.schema import JobState, jobs
from suanli.store.tenants import TenantStore


@dataclass(frozen=True, slots=True)
class LimitDefaults:
    """The server's defaults of the per-tenant limits."""

    #: Most jobs a tenant may have queued at once.
    max_queued: int = 5_000
    #: Sustained submissions per second of one tenant.
    submit_rate: float = 50.0
    #: A tenant may submit ``submit_rate × submit_burst_s`` jobs at once after a pause.
    submit_burst_s: float = 10.0
    #: ``Retry-After`` (s) when a tenant's queue is full.
    queue_full_retry_s: float = 10.0


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class TenantLimits:
    """Checks a tenant's submission against its limits (see the module docstring).

    A tenant's limits are read from the database at most every ``cache_s`` seconds
    (:meth:`forget` drops them at once, as after an admin changed them).
    """

    def __init__(
        self,
        db: Database,
        tenants: TenantStore,
        defaults: LimitDefaults,
        *,
        cache_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.tenants = tenants
        self.defaults = defaults
        self.cache_s = cache_s
        self.clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}
        self._limits: dict[str, tuple[float, int, float]] = {}  # tenant → (until, queued, rate)

    def limits(self, tenant_id: str) -> tuple[int, float]:
        """The tenant's effective ``(max_queued, submit_rate)``."""
        now = self.clock()
        with self._lock:
            hit = self._limits.get(tenant_id)
        if hit is not None and hit[0] > now:
            return hit[1], hit[2]
        rec = self.tenants.get(tenant_id)
        d = self.defaults
        queued = rec.max_queued if rec is not None and rec.max_queued is not None else d.max_queued
        rate = rec.submit_rate if rec is not None and rec.submit_rate is not None else None
        rate = d.submit_rate if rate is None else rate
        with self._lock:
            self._limits[tenant_id] = (now + self.cache_s, queued, rate)
        return queued, rate

    def forget(self, tenant_id: str | None = None) -> None:
        """Read the limits of ``tenant_id`` (of everyone: ``None``) afresh next time."""
        with self._lock:
            if tenant_id is None:
                self._limits.clear()
                self._buckets.clear()
            else:
                self._limits.pop(tenant_id, None)
                self._buckets.pop(tenant_id, None)

    def check_submit(self, tenant_id: str) -> None:
        """Take one submission of the tenant's rate and check its queue; :class:`ApiError`
        429 with ``Retry-After`` when either is exhausted."""
        max_queued, rate = self.limits(tenant_id)
        self._take(tenant_id, rate)
        queued = self.queued(tenant_id)
        if queued >= max_queued:
            self._give_back(tenant_id, rate)
            raise ApiError(
                429,
                f"tenant {tenant_id} has {queued} jobs queued, its limit is {max_queued}",
                hint="wait for some to start (or cancel some), then submit again; "
                "an admin can raise the limit (PATCH /v1/tenants/{id}: max_queued)",
                retry_after=self.defaults.queue_full_retry_s,
            )

    def queued(self, tenant_id: str) -> int:
        """The tenant's jobs in state ``queued`` now."""
        q = select(func.count()).where(
            jobs.c.tenant_id == tenant_id, jobs.c.state == JobState.QUEUED.value
        )
        with self.db.read() as conn:
            return int(conn.execute(q).scalar() or 0)

    def _take(self, tenant_id: str, rate: float) -> None:
        burst = max(1.0, rate * self.defaults.submit_burst_s)
        now = self.clock()
        with self._lock:
            b = self._buckets.get(tenant_id)
            if b is None:
                b = self._buckets[tenant_id] = _Bucket(burst, now)
            b.tokens = min(burst, b.tokens + (now - b.at) * rate)
            b.at = now
            if b.tokens >= 1.0:
                b.tokens -= 1.0
                return
            wait = (1.0 - b.tokens) / rate
        raise ApiError(
            429,
            f"tenant {tenant_id} submits faster than its limit of {rate:g} jobs/s",
            hint=f"slow down: retry after {wait:.2f} s (a burst of {burst:g} is allowed "
            "after a pause); an admin can raise the limit (PATCH /v1/tenants/{id}: "
            "submit_rate)",
            retry_after=wait,
        )

    def _give_back(self, tenant_id: str, rate: float) -> None:
        burst = max(1.0, rate * self.defaults.submit_burst_s)
        with self._lock:
            b = self._buckets.get(tenant_id)
            if b is not None:
                b.tokens = min(burst, b.tokens + 1.0)
