"""Per-tenant limits (a submission rate, the jobs queued at once) and bounded reads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from suanli.api.app import create_app
from suanli.api.errors import ApiError
from suanli.api.limits import LimitDefaults, TenantLimits
from suanli.api.services import ApiSettings, build_services
from suanli.sites.config import dry_run_sites
from tests.api.conftest import ADMIN, bearer
from tests.control.helpers import two_sites

JOB = {"profile": "dl-training", "hours_on_reference": 0.01, "command": "true"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    """An app whose control loop does not run: submitted jobs stay queued."""
    sc = two_sites()
    settings = ApiSettings(tenant_limits=LimitDefaults(max_queued=5, submit_rate=1000.0))
    svc = build_services(
        sc, str(tmp_path / "l.db"), dry_run_sites(sc, 1.0), admin_token=ADMIN, settings=settings
    )
    with TestClient(create_app(svc, start_control=False)) as c:
        yield c
    svc.db.dispose()


def _tenant(c: TestClient, tenant_id: str, **limits: float | int | None) -> dict[str, str]:
    r = c.post(
        "/v1/tenants", json={"id": tenant_id, "name": tenant_id, **limits}, headers=bearer(ADMIN)
    )
    assert r.status_code == 201, r.text
    for k, v in limits.items():
        assert r.json()[k] == v
    tok = c.post(f"/v1/tenants/{tenant_id}/tokens", json={}, headers=bearer(ADMIN))
    return bearer(tok.json()["token"])


def test_submission_rate_is_limited_per_tenant(client: TestClient) -> None:
    slow = _tenant(client, "slow", submit_rate=0.5, max_queued=100)  # burst: 5 (10 s × 0.5/s)
    other = _tenant(client, "other", max_queued=100)
    codes = [client.post("/v1/jobs", json=JOB, headers=slow).status_code for _ in range(6)]
    assert codes == [201] * 5 + [429]
    r = client.post("/v1/jobs", json=JOB, headers=slow)
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) >= 1
    assert "0.5 jobs/s" in r.json()["error"] and "submit_rate" in r.json()["hint"]
    assert client.post("/v1/jobs", json=JOB, headers=other).status_code == 201  # not its limit
    # an admin raises the limit: it applies at once
    r = client.patch("/v1/tenants/slow", json={"submit_rate": 1000}, headers=bearer(ADMIN))
    assert r.status_code == 200 and r.json()["submit_rate"] == 1000
    assert r.json()["max_queued"] == 100  # kept: not given
    assert client.post("/v1/jobs", json=JOB, headers=slow).status_code == 201


def test_queued_jobs_are_limited_per_tenant(client: TestClient) -> None:
    lab = _tenant(client, "few")  # the server's default here: 5 queued
    for _ in range(5):
        assert client.post("/v1/jobs", json=JOB, headers=lab).status_code == 201
    r = client.post("/v1/jobs", json=JOB, headers=lab)
    assert r.status_code == 429, r.text
    assert r.headers["Retry-After"] == "10"
    assert "5 jobs queued, its limit is 5" in r.json()["error"]
    # a tenant's own limit overrides the default; null goes back to it
    r = client.patch("/v1/tenants/few", json={"max_queued": 7}, headers=bearer(ADMIN))
    assert r.json()["max_queued"] == 7
    assert client.post("/v1/jobs", json=JOB, headers=lab).status_code == 201
    assert client.post("/v1/jobs", json=JOB, headers=lab).status_code == 201
    assert client.post("/v1/jobs", json=JOB, headers=lab).status_code == 429
    r = client.patch("/v1/tenants/few", json={"max_queued": None}, headers=bearer(ADMIN))
    assert r.status_code == 200 and r.json()["max_queued"] is None
    assert client.post("/v1/jobs", json=JOB, headers=lab).status_code == 429


def test_limits_are_set_by_admins_only_and_checked(client: TestClient) -> None:
    lab = _tenant(client, "t1")
    assert client.patch("/v1/tenants/t1", json={"max_queued": 9}, headers=lab).status_code == 403
    admin = bearer(ADMIN)
    assert client.patch("/v1/tenants/nope", json={}, headers=admin).status_code == 404
    for bad in (
        {"max_queued": -1},
        {"submit_rate": 0},
        {"submit_rate": "x"},
        {"submit_rate": True},  # JSON numbers only: no true for 1, no "2" for 2
        {"submit_rate": "2"},
        {"other": 1},
    ):
        assert client.patch("/v1/tenants/t1", json=bad, headers=admin).status_code == 422, bad
    r = client.post("/v1/tenants", json={"id": "t2", "name": "t2", "weight": True}, headers=admin)
    assert r.status_code == 422 and "weight" in r.text
    got = client.get("/v1/tenants/t1", headers=lab).json()
    assert got["max_queued"] is None and got["submit_rate"] is None


def test_reads_are_bounded(client: TestClient) -> None:
    admin = bearer(ADMIN)
    for url in (
        "/v1/jobs?limit=1001",
        "/v1/jobs?limit=0",
        "/v1/dashboard?hours=169",
        "/v1/dashboard?jobs=20001",
        "/v1/decisions?limit=1001",
    ):
        r = client.get(url, headers=admin)
        assert r.status_code == 422, (url, r.text)
    lab = _tenant(client, "pager", max_queued=100)
    ids = [client.post("/v1/jobs", json=JOB, headers=lab).json()["id"] for _ in range(5)]
    page = client.get("/v1/jobs?limit=2", headers=lab).json()
    seen = [j["id"] for j in page["jobs"]]
    while page["next_before_id"] is not None:
        page = client.get(
            f"/v1/jobs?limit=2&before_id={page['next_before_id']}", headers=lab
        ).json()
        seen += [j["id"] for j in page["jobs"]]
    assert seen == sorted(ids, reverse=True)


class _Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_the_bucket_refills_at_the_rate(tmp_path: Path) -> None:
    from suanli.store.db import Database
    from suanli.store.tenants import TenantStore

    db = Database(str(tmp_path / "b.db"))
    store = TenantStore(db)
    store.create("a", "A", 1.0, 0, submit_rate=2.0)
    clock = _Clock()
    limits = TenantLimits(db, store, LimitDefaults(submit_burst_s=1.0), clock=clock)
    assert limits.limits("a") == (5_000, 2.0)
    limits.check_submit("a")
    limits.check_submit("a")  # the burst: 2
    with pytest.raises(ApiError) as err:
        limits.check_submit("a")
    assert err.value.status == 429 and err.value.retry_after == pytest.approx(0.5)
    clock.t += 0.5
    limits.check_submit("a")
    db.dispose()
