"""Tenants and tokens (admin token needed, except a tenant reading itself)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from suanli.api.auth import Admin, Caller, Svc
from suanli.api.convert import tenant_out, token_out
from suanli.api.errors import ApiError
from suanli.api.models import (
    ID_PATTERN,
    MAX_ID,
    ErrorOut,
    NewToken,
    TenantIn,
    TenantLimitsIn,
    TenantOut,
    TokenIn,
    TokenOut,
)
from suanli.store.schema import Role
from suanli.store.tenants import LastAdminError, TenantExistsError

router = APIRouter(prefix="/v1", tags=["tenants"])
ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 422)
}
TenantId = Annotated[str, Path(pattern=ID_PATTERN, description="The tenant's id.")]


@router.get("/tenants", response_model=list[TenantOut], responses=ERRORS, summary="List tenants")
def list_tenants(svc: Svc, who: Caller) -> list[TenantOut]:
    """All tenants (admin), or the caller's own."""
    return [tenant_out(t) for t in svc.tenants.all() if who.is_admin or t.id == who.tenant_id]


@router.post(
    "/tenants",
    status_code=status.HTTP_201_CREATED,
    response_model=TenantOut,
    responses=ERRORS,
    summary="Create a tenant",
)
def create_tenant(body: TenantIn, svc: Svc, _who: Admin) -> TenantOut:
    """A new tenant (issue it a token next); ``max_queued`` and ``submit_rate`` are its
    limits (null or left out: the server's defaults, docs/serve.md)."""
    try:
        t = svc.tenants.create(
            body.id,
            body.name,
            body.weight,
            body.priority,
            max_queued=body.max_queued,
            submit_rate=body.submit_rate,
        )
    except TenantExistsError:
        raise ApiError(409, f"tenant {body.id} exists already", field="body.id") from None
    svc.control.tenants_changed()
    return tenant_out(t)


@router.patch(
    "/tenants/{tenant_id}",
    response_model=TenantOut,
    responses=ERRORS,
    summary="Change a tenant's limits",
)
def set_tenant_limits(
    tenant_id: TenantId, body: TenantLimitsIn, svc: Svc, _who: Admin
) -> TenantOut:
    """Set the tenant's ``max_queued`` and/or ``submit_rate`` (the fields given; null: back
    to the server's default). They apply to its next submission."""
    given = {k: getattr(body, k) for k in body.model_fields_set}
    t = svc.tenants.set_limits(tenant_id, **given)
    if t is None:
        raise ApiError(404, f"no tenant {tenant_id}", field="tenant_id")
    svc.limits.forget(tenant_id)
    return tenant_out(t)


@router.get(
    "/tenants/{tenant_id}", response_model=TenantOut, responses=ERRORS, summary="Get a tenant"
)
def get_tenant(tenant_id: TenantId, svc: Svc, who: Caller) -> TenantOut:
    """One tenant (a tenant sees only itself)."""
    t = svc.tenants.get(tenant_id) if who.is_admin or who.tenant_id == tenant_id else None
    if t is None:
        raise ApiError(404, f"no tenant {tenant_id}", field="tenant_id")
    return tenant_out(t)


@router.post(
    "/tenants/{tenant_id}/tokens",
    status_code=status.HTTP_201_CREATED,
    response_model=NewToken,
    responses=ERRORS,
    summary="Issue a token",
)
def issue_token(tenant_id: TenantId, body: TokenIn, svc: Svc, _who: Admin) -> NewToken:
    """A new API token for the tenant; its secret is shown only in this answer."""
    if svc.tenants.get(tenant_id) is None:
        raise ApiError(
            404,
            f"no tenant {tenant_id}",
            field="tenant_id",
            hint="create it first with POST /v1/tenants",
        )
    secret, token_id = svc.tenants.issue_token(Role.TENANT, tenant_id, body.label)
    rec = next(t for t in svc.tenants.tokens(tenant_id) if t.id == token_id)
    return NewToken(**token_out(rec).model_dump(), token=secret)


@router.get("/tokens", response_model=list[TokenOut], responses=ERRORS, summary="List tokens")
def list_tokens(svc: Svc, _who: Admin) -> list[TokenOut]:
    """Every token, without secrets."""
    return [token_out(t) for t in svc.tenants.tokens()]


@router.delete(
    "/tokens/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ERRORS,
    summary="Revoke a token",
)
def revoke_token(token_id: Annotated[int, Path(ge=1, le=MAX_ID)], svc: Svc, _who: Admin) -> None:
    """Revoke a token (requests with it are refused from now on). The last active admin
    token cannot be revoked (409): start the server with a new ``SUANLI_ADMIN_TOKEN``
    instead, which replaces the old bootstrap token."""
    try:
        revoked = svc.tenants.revoke(token_id, keep_an_admin=True)
    except LastAdminError:
        raise ApiError(
            409,
            f"token {token_id} is the last active admin token; revoking it would lock every "
            "admin out",
            field="token_id",
            hint="rotate it instead: restart suanli serve with a new SUANLI_ADMIN_TOKEN",
        ) from None
    if not revoked:
        raise ApiError(404, f"no active token {token_id}", field="token_id")
