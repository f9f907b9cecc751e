"""Helpers for control-plane tests: a live control on dry-run sites, and waiting."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from suanli.clock import Clock, SystemClock
from suanli.config import load_scenario
from suanli.control.service import LiveControl, LoopSettings
from suanli.model.scenario import Scenario
from suanli.sites.base import SiteBackend
from suanli.sites.dryrun import DryRunSettings, DryRunSite
from suanli.store.db import Database
from suanli.store.jobs import JobStore
from suanli.store.records import JobRecord
from suanli.store.tenants import TenantStore

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SPEC = {"kind": "pretrain", "profile": "dl-training", "gang": 1, "work_pflop": 1.0}
FAST = LoopSettings(poll_s=0.1, grace_s=0.2, sweep_s=0.5, orphan_wait_s=5)


def two_sites() -> Scenario:
    """The two-site scenario shaped like the local clusters."""
    return load_scenario(str(FIXTURES / "serve-two-sites.yaml"))


def dry(
    site: str, run_s: float = 0.3, start_s: float = 0.0, clock: Clock | None = None
) -> DryRunSite:
    """A dry-run site whose jobs are pending ``start_s`` and run ``run_s`` seconds."""
    return DryRunSite(
        site, DryRunSettings(run_seconds=run_s, start_seconds=start_s), clock or SystemClock()
    )


def control(
    db: Database, sc: Scenario, backends: dict[str, SiteBackend] | None = None, **kw: Any
) -> LiveControl:
    """A LiveControl on ``db`` (tenants seeded), dry-run sites unless given; ``backfill``
    unless another policy is given (the tests expect its placements and reasons)."""
    TenantStore(db).ensure(((t.id, t.name, t.weight, t.priority) for t in sc.tenants), "scenario")
    sites = backends or {s.id: dry(s.id) for s in sc.sites}
    kw.setdefault("policy", "backfill")
    return LiveControl(db, sc, sites, lambda site, acc: "h100", settings=FAST, **kw)


def submit(
    db: Database, ctl: LiveControl, n: int = 1, tenant: str = "lab", **spec: Any
) -> list[JobRecord]:
    """Submit ``n`` jobs as the API does."""
    js = JobStore(db)
    out = []
    for _ in range(n):
        rec, _new = js.submit(tenant, {**SPEC, **spec}, spec.get("command", "sleep 1"))
        ctl.submitted(rec)
        out.append(rec)
    return out


def wait_for(cond: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    """Poll ``cond`` until true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def states(db: Database, ids: list[int]) -> list[str]:
    """Current states of jobs."""
    js = JobStore(db)
    return [js.get(i).state for i in ids]  # type: ignore[union-attr]
