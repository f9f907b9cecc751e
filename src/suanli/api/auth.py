"""Who is calling: ``Authorization: Bearer <token>``, checked against the stored hashes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from suanli.api.errors import ApiError
from suanli.api.services import Services
from suanli.store.records import Principal

bearer = HTTPBearer(auto_error=False, description="An API token (tenant or admin).")


def services(request: Request) -> Services:
    """The application's services."""
    svc: Services = request.app.state.services
    return svc


def principal(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The caller, from a valid token; 401 otherwise."""
    if creds is None or not creds.credentials:
        raise ApiError(
            401,
            "missing API token (no 'Authorization: Bearer …' header)",
            field="Authorization",
            hint="send 'Authorization: Bearer TOKEN'",
        )
    token = creds.credentials
    if len(token) > 256:
        raise ApiError(401, "invalid API token", field="Authorization")
    who = services(request).tenants.authenticate(token)
    if who is None:
        raise ApiError(
            401,
            "invalid or revoked API token",
            field="Authorization",
            hint="ask an admin for a token (POST /v1/tenants/{id}/tokens)",
        )
    return who


def admin(who: Annotated[Principal, Depends(principal)]) -> Principal:
    """The caller, who must hold an admin token; 403 otherwise."""
    if not who.is_admin:
        raise ApiError(403, "this needs an admin token", field="Authorization")
    return who


def tenant(who: Annotated[Principal, Depends(principal)]) -> Principal:
    """The caller, who must hold a tenant token; 403 otherwise."""
    if who.tenant_id is None:
        raise ApiError(
            403,
            "this needs a tenant token",
            field="Authorization",
            hint="jobs are submitted by tenants; issue a token with POST /v1/tenants/{id}/tokens",
        )
    return who


Caller = Annotated[Principal, Depends(principal)]
Admin = Annotated[Principal, Depends(admin)]
TenantCaller = Annotated[Principal, Depends(tenant)]
Svc = Annotated[Services, Depends(services)]
