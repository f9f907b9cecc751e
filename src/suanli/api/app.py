"""The application factory: ``create_app(services)`` → a FastAPI app.

The control loop starts when the app starts (after it has recovered its state from
the database and waited for its sites' first answers to be possible) and stops with
it. Nothing is global: everything lives in the :class:`~suanli.api.services.Services`
given to the factory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from suanli.api import routes_admin, routes_dashboard, routes_fleet, routes_jobs
from suanli.api.errors import BodyLimit, install_error_handlers
from suanli.api.services import Services

DESCRIPTION = """\
suanli's control plane: tenants submit jobs; a scheduling policy places them on the
sites' pools; each site's Slurm cluster runs them. Authenticate with
`Authorization: Bearer TOKEN` (tenant tokens see their own jobs; admin tokens manage
tenants). Errors are `{"error", "field", "hint"}`.
"""


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
    )
    app.state.services = services
    install_error_handlers(app)
    app.include_router(routes_fleet.router)
    app.include_router(routes_jobs.router)
    app.include_router(routes_admin.router)
    app.include_router(routes_dashboard.router)
    app.add_middleware(BodyLimit, max_bytes=services.settings.max_body_bytes)
    return app
