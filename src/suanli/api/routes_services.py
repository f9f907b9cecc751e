"""Online inference services: create, list, get, change, delete; endpoints; why short.

A service is given as a scenario file's ``services:`` entry (docs/scenario-format.md,
Services), checked against the running fleet and user regions as a scenario's is; its
demand is an inline daily shape, or rates per region set with ``PATCH``. An admin may
act on every service, a tenant on its own. The control loop takes a change up at once
and scales the replicas at its next serving tick (docs/services.md, Live).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from suanli.api.auth import Caller, Svc
from suanli.api.errors import ApiError
from suanli.api.models import ErrorOut, iso
from suanli.api.service_models import (
    EndpointsOut,
    ReplicaCounts,
    ReplicaOut,
    RouteOut,
    ServiceList,
    ServiceOut,
    ServicePatch,
    ServiceWhyOut,
)
from suanli.api.services import Services
from suanli.config.service_schema import ServiceConfig
from suanli.config.services import service_from_config
from suanli.control.serving import ServiceView
from suanli.errors import InputError
from suanli.model.fleet import Tenant
from suanli.model.service import Service
from suanli.store.records import Principal, ServiceRecord
from suanli.store.services import KEEP, ServiceExistsError, ServiceStore

router = APIRouter(prefix="/v1", tags=["services"])
ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 422)
}
ServiceId = Annotated[str, Path(min_length=1, max_length=64, description="The service's id.")]


def _store(svc: Services) -> ServiceStore:
    if svc.control.serving is None:
        raise ApiError(
            409,
            "this server runs no online inference services",
            hint="start suanli serve without --serving none",
        )
    return svc.control.service_store


def _own(svc: Services, who: Principal, sid: str) -> ServiceRecord:
    rec = _store(svc).get(sid)
    if rec is None or not (who.is_admin or rec.tenant_id == who.tenant_id):
        raise ApiError(
            404, f"no service {sid!r}", field="service_id", hint="list them with GET /v1/services"
        )
    return rec


def _tenants(svc: Services) -> list[Tenant]:
    return [
        Tenant(id=t.id, name=t.name, weight=t.weight, priority=t.priority)
        for t in svc.tenants.all()
    ]


def _spec_service(svc: Services, rec: ServiceRecord, served: bool = True) -> Service | None:
    """The service as the control loop serves it (``served``; replica bounds set over the
    API included), else — or when it is not served yet — as its spec says."""
    got = svc.control.service_def(rec.id) if served else None
    if got is not None:
        return got
    if rec.spec is None:
        return next((s for s in svc.scenario.services if s.id == rec.id), None)
    try:
        return service_from_config(
            ServiceConfig.model_validate(rec.spec), svc.scenario, _tenants(svc)
        )
    except (InputError, ValueError):
        return None


def _bounds(spec: Service | None, lo: int | None, hi: int | None) -> tuple[int, int | None]:
    """Replica bounds ``lo``, ``hi`` set over the API (None: the spec's) over ``spec``'s."""
    if spec is None:
        return (0 if lo is None else lo), hi
    b = spec.bounded(lo, hi)
    return b.min_replicas, b.max_replicas


def _out(svc: Services, rec: ServiceRecord) -> ServiceOut:
    spec = _spec_service(svc, rec)  # served: its bounds are already the record's over the spec's
    view: ServiceView | None = svc.control.service_view(rec.id)
    counts = {"ready": 0, "starting": 0, "draining": 0}
    for r in view.replicas if view is not None else ():
        counts[r.state] += 1
    created, updated = iso(rec.created_at), iso(rec.updated_at)
    assert created is not None and updated is not None
    lo, hi = _bounds(spec, rec.min_replicas, rec.max_replicas)
    return ServiceOut(
        id=rec.id,
        name=spec.name if spec else rec.id,
        tenant=rec.tenant_id,
        origin=rec.origin,
        model=spec.model.id if spec else "",
        regions=[r.region for r in spec.regions] if spec else [],
        min_replicas=lo,
        max_replicas=hi,
        demand_set=rec.demand_rps,
        created_at=created,
        updated_at=updated,
        served=view is not None,
        demand_rps=view.demand_rps if view else {},
        capacity_rps=view.capacity_rps if view else 0.0,
        replicas=ReplicaCounts(**counts),
        attainment_last=view.attainment_last if view else None,
        attainment=view.attainment if view else None,
        tokens_per_s=view.tokens_per_s if view else 0.0,
        short=view.short if view else 0,
    )


@router.post(
    "/services",
    status_code=status.HTTP_201_CREATED,
    response_model=ServiceOut,
    responses=ERRORS,
    summary="Create a service",
)
def create_service(body: ServiceConfig, svc: Svc, who: Caller) -> ServiceOut:
    """Create an online inference service (a scenario file's ``services:`` entry, its
    demand inline). A tenant creates services of its own only. 409 if the id is taken;
    422 names the field of a service the fleet cannot serve (its model fits no replica
    shape, no site within a region's latency bound, …)."""
    store = _store(svc)
    if not who.is_admin and body.tenant != who.tenant_id:
        raise ApiError(
            403,
            f"a tenant token creates services of its own tenant ({who.tenant_id}) only",
            field="tenant",
        )
    try:
        service_from_config(body, svc.scenario, _tenants(svc))
    except InputError as exc:
        p = exc.problems[0]
        raise ApiError(422, p.message, field=p.field or None, hint=p.hint or None) from None
    try:
        rec = store.create(
            body.id, body.tenant, body.model_dump(mode="json", exclude_defaults=True)
        )
    except ServiceExistsError:
        raise ApiError(
            409,
            f"service {body.id!r} exists",
            field="id",
            hint="pick another id, or DELETE it first",
        ) from None
    svc.control.services_changed()
    return _out(svc, rec)


@router.get("/services", response_model=ServiceList, responses=ERRORS, summary="List services")
def list_services(svc: Svc, who: Caller) -> ServiceList:
    """Services the caller may see (an admin every one, a tenant its own), by id."""
    recs = _store(svc).all()
    return ServiceList(
        services=[_out(svc, r) for r in recs if who.is_admin or r.tenant_id == who.tenant_id]
    )


@router.get(
    "/services/{service_id}", response_model=ServiceOut, responses=ERRORS, summary="Get a service"
)
def get_service(service_id: ServiceId, svc: Svc, who: Caller) -> ServiceOut:
    """One service with its live state."""
    return _out(svc, _own(svc, who, service_id))


@router.patch(
    "/services/{service_id}",
    response_model=ServiceOut,
    responses=ERRORS,
    summary="Set a service's demand or replica bounds",
)
def patch_service(service_id: ServiceId, body: ServicePatch, svc: Svc, who: Caller) -> ServiceOut:
    """Set the demand per user region (requests/s; a gateway's measured rates, or a
    target) or the replica bounds; the replicas follow at the next serving tick."""
    rec = _own(svc, who, service_id)
    spec = _spec_service(svc, rec, served=False)  # the spec's bounds, not the ones set
    given = body.model_fields_set
    rates: dict[str, float] | None = KEEP
    if "demand_rps" in given:
        if body.demand_rps is None:
            rates = None
        else:
            regions = [r.region for r in spec.regions] if spec else []
            for region in body.demand_rps:
                if region not in regions:
                    raise ApiError(
                        422,
                        f"service {service_id} has no users in region {region!r}",
                        field=f"demand_rps.{region}",
                        hint=f"its regions: {', '.join(regions) or 'none'}",
                    )
            rates = {**(rec.demand_rps or {}), **body.demand_rps}
    lo = body.min_replicas if "min_replicas" in given else KEEP
    hi = body.max_replicas if "max_replicas" in given else KEEP
    eff_lo, eff_hi = _bounds(
        spec,
        rec.min_replicas if lo is KEEP else lo,
        rec.max_replicas if hi is KEEP else hi,
    )
    if eff_hi is not None and eff_lo > eff_hi:
        raise ApiError(
            422,
            f"min_replicas ({eff_lo}) is above max_replicas ({eff_hi})",
            field="min_replicas" if "min_replicas" in given else "max_replicas",
        )
    got = _store(svc).update(service_id, demand_rps=rates, min_replicas=lo, max_replicas=hi)
    if got is None:
        raise ApiError(404, f"no service {service_id!r}", field="service_id")
    svc.control.services_changed()
    return _out(svc, got)


@router.delete(
    "/services/{service_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=ERRORS,
    summary="Delete a service",
)
def delete_service(service_id: ServiceId, svc: Svc, who: Caller) -> Response:
    """Delete a service: its replicas are stopped at once (their jobs cancelled)."""
    _own(svc, who, service_id)
    _store(svc).delete(service_id)
    svc.control.services_changed()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/services/{service_id}/endpoints",
    response_model=EndpointsOut,
    responses=ERRORS,
    summary="Which replicas serve which region",
)
def service_endpoints(service_id: ServiceId, svc: Svc, who: Caller) -> EndpointsOut:
    """The service's replicas (site, pool, job, state) and, per user region, the pools
    its requests go to now (requests/s, latency) by the routing of docs/services.md."""
    _own(svc, who, service_id)
    view = svc.control.service_view(service_id)
    if view is None:
        return EndpointsOut(service=service_id, replicas=[], routes=[])
    return EndpointsOut(
        service=service_id,
        replicas=[
            ReplicaOut(
                job_id=r.job_id,
                site=r.site,
                pool=r.pool,
                accelerator=r.accelerator,
                devices=r.devices,
                state=r.state,
                job_state=r.job_state,
                external_id=r.external_id,
                since=iso(r.since),
            )
            for r in view.replicas
        ],
        routes=[
            RouteOut(region=x.region, site=x.site, pool=x.pool, rps=x.rps, latency_ms=x.latency_ms)
            for x in view.routes
        ],
    )


@router.get(
    "/services/{service_id}/why",
    response_model=ServiceWhyOut,
    responses=ERRORS,
    summary="Why a service is short of replicas",
)
def service_why(service_id: ServiceId, svc: Svc, who: Caller) -> ServiceWhyOut:
    """When the serving policy wanted more replicas than found room at its last tick:
    how many, and per pool within reach of the service's users what stops a replica
    there (no free devices, power, quota, the site unreachable)."""
    _own(svc, who, service_id)
    view = svc.control.service_view(service_id)
    reasons = svc.control.service_why(service_id)
    return ServiceWhyOut(
        service=service_id, short=view.short if view is not None else 0, reasons=reasons
    )
