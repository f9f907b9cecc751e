"""The live dashboard: the report page at ``/`` and its document at ``/v1/dashboard``.

The page holds no data: it asks for an API token (kept in the browser tab's session
storage; ``/#token=…`` hands one over once) and polls ``GET /v1/dashboard`` with it.
The document (:mod:`suanli.report.live`) shows an admin everything and a tenant only its
own jobs, decisions and fairness, with the fleet's sites and one queue row for all other
tenants together; with services served, an admin every service's replicas, demand against
capacity and SLO attainment, a tenant its own services'.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse

from suanli.api.auth import Caller, Svc
from suanli.api.models import ErrorOut
from suanli.api.services import Services
from suanli.report.html import document_bytes, render_page
from suanli.report.live import LiveInputs, live_data
from suanli.report.services import LiveService
from suanli.store.dashboard import DashboardReader
from suanli.store.records import ServiceSampleRecord

router = APIRouter(tags=["dashboard"])
ERRORS: dict[int | str, dict[str, object]] = {code: {"model": ErrorOut} for code in (401, 403, 422)}
DOCUMENT_URL = "/v1/dashboard"


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def dashboard_page(request: Request, svc: Svc) -> HTMLResponse:
    """The live dashboard (no token needed to load it; its data needs one). The page is the
    same for everyone: rendered once per application and kept in its state."""
    state = request.app.state
    page: str | None = getattr(state, "dashboard_page", None)
    if page is None:
        page = state.dashboard_page = render_page(
            data_url=DOCUMENT_URL, poll_s=svc.settings.dashboard_poll_s, auth="bearer", title="live"
        )
    return HTMLResponse(page, headers={"Cache-Control": "no-cache"})


@router.get(
    DOCUMENT_URL,
    responses={
        200: {
            "description": "A report data document (kind 'live').",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        **ERRORS,
    },
    summary="Dashboard data",
    response_class=Response,
)
def dashboard_data(
    request: Request,
    svc: Svc,
    who: Caller,
    hours: Annotated[
        float, Query(gt=0, le=168, description="Window of the series and totals, in hours.")
    ] = 24.0,
    jobs: Annotated[int, Query(ge=1, le=20_000, description="Most jobs to list.")] = 2000,
) -> Response:
    """The report data document of the running system (docs/report.md, ``kind: live``):
    sites over time, queues per tenant, recent decisions, the jobs. A tenant sees only
    its own jobs and decisions. ``hours`` is at most 168 and ``jobs`` at most 20000 (422
    beyond); the same viewer asking the same again within a couple of seconds gets the
    same document (``dashboard_cache_s``), so polling costs at most one build per
    viewer and query in that time."""
    tenant = None if who.is_admin else who.tenant_id
    ttl = svc.settings.dashboard_cache_s
    if ttl <= 0:
        return Response(_build(svc, tenant, hours, jobs), media_type="application/json")
    cache: _Cache = _cache_of(request)
    key = (tenant, hours, jobs)
    with cache.lock:
        entry = cache.entries.get(key)
        if entry is None:
            entry = cache.entries[key] = _Entry()
            if len(cache.entries) > 1000:  # many distinct queries: start over
                cache.entries = {key: entry}
    with entry.lock:  # one build at a time per key; the others wait for it
        if entry.doc is None or time.monotonic() >= entry.until:
            entry.doc = _build(svc, tenant, hours, jobs)
            entry.until = time.monotonic() + ttl
        doc = entry.doc
    return Response(doc, media_type="application/json")


@dataclass(slots=True)
class _Entry:
    lock: threading.Lock = field(default_factory=threading.Lock)
    doc: bytes | None = None
    until: float = 0.0


@dataclass(slots=True)
class _Cache:
    lock: threading.Lock = field(default_factory=threading.Lock)
    entries: dict[tuple[str | None, float, int], _Entry] = field(default_factory=dict)


def _cache_of(request: Request) -> _Cache:
    state = request.app.state
    cache: _Cache | None = getattr(state, "dashboard_cache", None)
    if cache is None:
        cache = state.dashboard_cache = _Cache()
    return cache


@dataclass(frozen=True, slots=True)
class _Serving:
    """What the document's services part is built from (none: services are off)."""

    policy: str | None = None
    tick_s: float = 300.0
    samples: tuple[ServiceSampleRecord, ...] = ()
    now: tuple[LiveService, ...] = ()
    tenants: dict[str, str] = field(default_factory=dict)


def _serving(svc: Services, tenant: str | None, since: float) -> _Serving:
    """The services a viewer sees (a tenant: its own): their samples since ``since``,
    their state now, and the tenant of each (deleted services sampled in the window too)."""
    control = svc.control
    serving = control.serving
    if serving is None:
        return _Serving()
    store = control.service_store
    tenants = {r.id: r.tenant_id for r in store.all()}
    samples = store.samples(since)
    for sid in {x.service for x in samples} - set(tenants):  # deleted since
        rec = store.get(sid, deleted=True)
        if rec is not None:
            tenants[sid] = rec.tenant_id
    if tenant is not None:
        samples = [x for x in samples if tenants.get(x.service) == tenant]
    now = []
    for sid, owner in sorted(tenants.items()):
        if tenant is not None and owner != tenant:
            continue
        view = control.service_view(sid)
        if view is None:
            continue
        now.append(
            LiveService(
                id=view.id,
                tenant=view.tenant,
                replicas=tuple((r.site, r.state) for r in view.replicas),
                demand_rps=float(sum(view.demand_rps.values())),
                capacity_rps=view.capacity_rps,
                attainment=view.attainment,
                attainment_last=view.attainment_last,
                tokens_per_s=view.tokens_per_s,
                short=view.short,
            )
        )
    return _Serving(serving.policy_name, serving.policy.tick_s, tuple(samples), tuple(now), tenants)


def _build(svc: Services, tenant: str | None, hours: float, jobs: int) -> bytes:
    now = time.time()
    window_s = hours * 3600.0
    reader = DashboardReader(svc.db)
    control = svc.control
    serving = _serving(svc, tenant, now - window_s)
    inputs = LiveInputs(
        scenario=svc.scenario,
        policy=control.policy_name,
        now=now,
        window_s=window_s,
        sample_s=control.settings.sample_s,
        poll_s=svc.settings.dashboard_poll_s,
        samples=reader.samples(now - window_s),
        jobs=reader.jobs(tenant, jobs),
        decisions=svc.jobs.decisions(tenant_id=tenant, limit=svc.settings.dashboard_decisions),
        queues=reader.queues(),
        tenants=svc.tenants.all(),
        viewer_tenant=tenant,
        site_status={k: (v.reachable, v.since, v.error) for k, v in control.sites.items()},
        service_samples=serving.samples,
        services_now=serving.now,
        service_tenants=serving.tenants,
        serving_policy=serving.policy,
        serving_tick_s=serving.tick_s,
    )
    return document_bytes(live_data(inputs))
