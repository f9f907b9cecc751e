"""The application factory: ``create_app(services)`` → a FastAPI app.

The control loop starts when the app starts (after it has recovered its state from
the database and waited for its sites' first answers to be possible) and stops with
it. Nothing is global: everything lives in the :class:`~suanli.api.services.Services`
given to the factory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute

from suanli.api import (
    routes_admin,
    routes_dashboard,
    routes_fleet,
    routes_jobs,
    routes_services,
)
from suanli.api.errors import ApiError, BodyLimit, install_error_handlers
from suanli.api.services import Services

DESCRIPTION = """\
suanli's control plane: tenants submit jobs; a scheduling policy places them on the
sites' pools; each site's Slurm cluster runs them. Authenticate with
`Authorization: Bearer TOKEN` (tenant tokens see their own jobs; admin tokens manage
tenants). Errors are `{"error", "field", "hint"}`.
"""


_QUERY_NAMES: dict[int, frozenset[str]] = {}


def known_query(request: Request) -> None:
    """Refuse (422, naming it) a query parameter the operation does not take, so that a
    misspelt one is not silently ignored."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    known = _QUERY_NAMES.get(id(route))
    if known is None:
        names: set[str] = set()
        todo = [route.dependant]
        while todo:
            dep = todo.pop()
            names.update(p.alias for p in dep.query_params)
            todo.extend(dep.dependencies)
        known = _QUERY_NAMES[id(route)] = frozenset(names)
    for name in request.query_params:
        if name not in known:
            raise ApiError(
                422,
                f"unknown query parameter {name!r}",
                field=f"query.{name}",
                hint="accepted: " + (", ".join(sorted(known)) or "none"),
            )


def create_app(services: Services, *, start_control: bool = True) -> FastAPI:
    """The API for ``services``; with ``start_control`` its loop runs with the app."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if start_control:
            services.control.start()
        try:
            yield
        finally:
            if start_control:
                services.control.stop()

    app = FastAPI(
        title="suanli",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        dependencies=[Depends(known_query)],
    )
    app.state.services = services
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    install_error_handlers(app)
    app.include_router(routes_fleet.router)
    app.include_router(routes_jobs.router)
    app.include_router(routes_admin.router)
    app.include_router(routes_services.router)
    app.include_router(routes_dashboard.router)
    app.add_middleware(BodyLimit, max_bytes=services.settings.max_body_bytes)
    return app


#: Answers every ``/v1`` operation may give besides its own (documented on each).
COMMON_ANSWERS = {
    "401": "Missing, invalid or revoked API token.",
    "413": "Request body too large.",
    "422": "Invalid parameters or body; the error names the field.",
    "429": "Too many requests; retry after the Retry-After header's seconds.",
    "503": "The database is unavailable for now; retry after the Retry-After header's seconds.",
}


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI description, every status code the server may answer documented on
    every ``/v1`` operation (each route lists its own: 403, 404, 409…)."""
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
        for path, ops in schema.get("paths", {}).items():
            if not path.startswith("/v1/"):
                continue
            for op in ops.values():
                answers = op.setdefault("responses", {})
                for code, text in COMMON_ANSWERS.items():
                    answers.setdefault(code, {"description": text, "content": error})
        app.openapi_schema = schema
    return app.openapi_schema
