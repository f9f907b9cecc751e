"""The live dashboard: the report page at ``/`` and its document at ``/v1/dashboard``.

The page holds no data: it asks for an API token (kept in the browser tab's session
storage; ``/#token=…`` hands one over once) and polls ``GET /v1/dashboard`` with it.
The document (:mod:`suanli.report.live`) shows an admin everything and a tenant only its
own jobs, decisions and fairness, with the fleet's sites and one queue row for all other
tenants together.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse

from suanli.api.auth import Caller, Svc
from suanli.api.models import ErrorOut
from suanli.report.html import document_bytes, render_page
from suanli.report.live import LiveInputs, live_data
from suanli.store.dashboard import DashboardReader

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
    svc: Svc,
    who: Caller,
    hours: Annotated[
        float, Query(gt=0, le=168, description="Window of the series and totals, in hours.")
    ] = 24.0,
    jobs: Annotated[int, Query(ge=1, le=20_000, description="Most jobs to list.")] = 2000,
) -> Response:
    """The report data document of the running system (docs/report.md, ``kind: live``):
    sites over time, queues per tenant, recent decisions, the jobs. A tenant sees only
    its own jobs and decisions."""
    now = time.time()
    window_s = hours * 3600.0
    tenant = None if who.is_admin else who.tenant_id
    reader = DashboardReader(svc.db)
    control = svc.control
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
    )
    return Response(document_bytes(live_data(inputs)), media_type="application/json")
