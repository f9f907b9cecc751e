"""The fleet (sites and pools, read-only), the scenario, liveness, readiness and metrics."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Path, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from suanli.api.auth import Caller, Svc
from suanli.api.errors import DB_RETRY_AFTER_S, ApiError
from suanli.api.models import (
    ID_PATTERN,
    ErrorOut,
    HealthOut,
    PoolOut,
    ReadyOut,
    ScenarioOut,
    SiteOut,
    iso,
)
from suanli.api.services import Services
from suanli.model.fleet import Site
from suanli.store.db import unavailable

router = APIRouter(tags=["fleet"])
ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut} for code in (401, 403, 404, 422)
}


def _site_out(svc: Services, s: Site) -> SiteOut:
    st = svc.control.sites[s.id]
    since = iso(st.since)
    assert since is not None
    return SiteOut(
        id=s.id,
        name=s.name,
        grid_region=s.grid_region,
        pue=s.pue,
        power_capacity_mw=s.power_capacity_mw,
        pools=[
            PoolOut(
                id=p.id,
                site=p.site,
                accelerator=p.accelerator,
                count=p.count,
                devices_per_node=p.devices_per_node,
            )
            for p in s.pools
        ],
        reachable=st.reachable,
        reachable_since=since,
        error=st.error,
    )


@router.get("/health", response_model=HealthOut, summary="Liveness")
def health(svc: Svc) -> HealthOut:
    """Liveness: the process is up and answers (no token needed). The database is not
    asked — a database outage does not make the process unhealthy; ``GET /ready`` says
    whether it can write. ``status`` is ``degraded`` when the control loop has stopped."""
    loop = "ok" if svc.control.alive else "stopped"
    return HealthOut(
        status="ok" if loop == "ok" else "degraded",
        database="not checked (see /ready)",
        loop=loop,
        sites={k: v.reachable for k, v in svc.control.sites.items()},
    )


@router.get(
    "/ready",
    response_model=ReadyOut,
    responses={503: {"model": ErrorOut, "description": "the database cannot write now"}},
    summary="Readiness",
)
def ready(svc: Svc) -> ReadyOut:
    """Readiness: whether the database takes a write now (no token needed). It runs one
    tiny write transaction (SQLite: ``BEGIN IMMEDIATE``, so a database locked by another
    process fails after the busy timeout; PostgreSQL: rewrites one row). 503 with
    ``Retry-After`` and the cause when it fails."""
    t0 = time.perf_counter()
    try:
        svc.db.check_writable()
    except Exception as exc:  # every failure means "not ready", with its cause
        cause = unavailable(exc) or f"database error ({type(exc).__name__})"
        raise ApiError(
            503, f"not ready: {cause}", hint="retry later", retry_after=DB_RETRY_AFTER_S
        ) from None
    return ReadyOut(
        status="ready",
        database="ok",
        loop="ok" if svc.control.alive else "stopped",
        check_ms=round((time.perf_counter() - t0) * 1000.0, 3),
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(svc: Svc) -> Response:
    """Metrics in Prometheus' text format (no token needed)."""
    return Response(generate_latest(svc.telemetry.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/scenario", response_model=ScenarioOut, responses=ERRORS, summary="Scenario")
def scenario(svc: Svc, _who: Caller) -> ScenarioOut:
    """Names a job may use: profiles (with their kind), accelerators, stacks, data sets."""
    sc = svc.scenario
    v = svc.validator
    return ScenarioOut(
        name=sc.name,
        policy=svc.control.policy_name,
        reference_accelerator=v.reference,
        profiles={k: p.kind.value for k, p in sorted(sc.profiles.items())},
        accelerators=list(v.tables.acc_ids),
        stacks=v.stacks,
        datasets=list(v.tables.dataset_ids),
    )


@router.get("/v1/sites", response_model=list[SiteOut], responses=ERRORS, summary="Sites")
def sites(svc: Svc, _who: Caller) -> list[SiteOut]:
    """Sites and their pools, from the scenario, with reachability."""
    return [_site_out(svc, s) for s in svc.scenario.sites]


@router.get("/v1/sites/{site_id}", response_model=SiteOut, responses=ERRORS, summary="One site")
def site(site_id: Annotated[str, Path(pattern=ID_PATTERN)], svc: Svc, _who: Caller) -> SiteOut:
    """One site."""
    for s in svc.scenario.sites:
        if s.id == site_id:
            return _site_out(svc, s)
    raise ApiError(
        404,
        f"no site {site_id}",
        field="site_id",
        hint=f"sites: {', '.join(s.id for s in svc.scenario.sites)}",
    )


@router.get("/v1/pools", response_model=list[PoolOut], responses=ERRORS, summary="Pools")
def pools(svc: Svc, _who: Caller) -> list[PoolOut]:
    """All pools of the fleet."""
    return [
        PoolOut(
            id=p.id,
            site=p.site,
            accelerator=p.accelerator,
            count=p.count,
            devices_per_node=p.devices_per_node,
        )
        for p in svc.scenario.pools
    ]
