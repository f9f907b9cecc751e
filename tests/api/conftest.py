"""An API on a temporary SQLite database with in-memory sites, and tokens to call it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from suanli.api.app import create_app
from suanli.api.services import Services, build_services
from suanli.control.service import LoopSettings
from suanli.sites.config import dry_run_sites
from tests.control.helpers import two_sites

ADMIN = "admin-token-for-tests-0123456789"


@dataclass
class Api:
    """A running app with an admin and two tenants' tokens."""

    client: TestClient
    services: Services
    admin: dict[str, str]
    lab: dict[str, str]
    uni: dict[str, str]


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for a token."""
    return {"Authorization": f"Bearer {token}"}


def running_api(db: str, dry_run_s: float, loop: LoopSettings) -> Iterator[Api]:
    """An app on ``db`` (the two-site fixture, in-memory sites, ``backfill``: the tests
    expect its placements and reasons) with tenant tokens."""
    sc = two_sites()
    svc = build_services(
        sc, db, dry_run_sites(sc, dry_run_s), policy="backfill", admin_token=ADMIN, loop=loop
    )
    with TestClient(create_app(svc)) as client:
        tokens = {}
        for tenant in ("lab", "uni"):
            r = client.post(f"/v1/tenants/{tenant}/tokens", json={}, headers=bearer(ADMIN))
            assert r.status_code == 201, r.text
            tokens[tenant] = bearer(r.json()["token"])
        yield Api(client, svc, bearer(ADMIN), tokens["lab"], tokens["uni"])


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    db = tmp_path_factory.mktemp("api") / "api.db"
    yield from running_api(str(db), 1.5, LoopSettings(poll_s=0.1, grace_s=0.2))
