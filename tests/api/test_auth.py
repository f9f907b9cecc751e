"""Tokens and tenants: who may read, cancel and administer what."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api, bearer

JOB = {"profile": "dl-training", "hours_on_reference": 0.01, "command": "sleep 1"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/v1/jobs"),
        ("post", "/v1/jobs"),
        ("get", "/v1/jobs/1"),
        ("get", "/v1/sites"),
        ("post", "/v1/jobs/1/cancel"),
        ("get", "/v1/tenants"),
        ("get", "/v1/decisions"),
    ],
)
def test_requests_without_a_valid_token_are_refused(api: Api, method: str, path: str) -> None:
    for headers in ({}, bearer("nope"), {"Authorization": "Basic abc"}, bearer("x" * 300)):
        r = api.client.request(method, path, headers=headers, json=JOB)
        assert r.status_code == 401, (headers, r.text)
        assert r.json()["field"] == "Authorization" and r.headers["WWW-Authenticate"] == "Bearer"


def test_a_tenant_cannot_read_or_cancel_another_tenants_job(api: Api) -> None:
    c = api.client
    job = c.post("/v1/jobs", json={**JOB, "command": "sleep 5"}, headers=api.lab).json()
    for path in (
        f"/v1/jobs/{job['id']}",
        f"/v1/jobs/{job['id']}/why",
        f"/v1/jobs/{job['id']}/events",
        f"/v1/decisions?job_id={job['id']}",
    ):
        assert c.get(path, headers=api.uni).status_code == 404
    assert c.post(f"/v1/jobs/{job['id']}/cancel", headers=api.uni).status_code == 404
    assert c.get(f"/v1/jobs/{job['id']}", headers=api.lab).json()["cancel_requested"] is False
    assert all(j["tenant"] == "uni" for j in c.get("/v1/jobs", headers=api.uni).json()["jobs"])
    assert c.get("/v1/jobs?tenant=lab", headers=api.uni).status_code == 403
    assert all(d["job_id"] != job["id"] for d in c.get("/v1/decisions", headers=api.uni).json())
    assert c.get(f"/v1/jobs/{job['id']}", headers=api.admin).status_code == 200  # admins see all
    c.post(f"/v1/jobs/{job['id']}/cancel", headers=api.lab)


def test_admin_manages_tenants_and_tokens(api: Api) -> None:
    c = api.client
    body = {"id": "newco", "name": "New Co", "weight": 2}
    assert c.post("/v1/tenants", json=body, headers=api.lab).status_code == 403
    r = c.post("/v1/tenants", json=body, headers=api.admin)
    assert r.status_code == 201 and r.json()["origin"] == "api"
    assert c.post("/v1/tenants", json=body, headers=api.admin).status_code == 409
    assert c.post("/v1/tenants/newco/tokens", json={}, headers=api.lab).status_code == 403
    assert c.post("/v1/tenants/nosuch/tokens", json={}, headers=api.admin).status_code == 404
    tok = c.post("/v1/tenants/newco/tokens", json={"label": "ci"}, headers=api.admin).json()
    newco = bearer(tok["token"])
    assert [t["id"] for t in c.get("/v1/tenants", headers=newco).json()] == ["newco"]
    assert c.get("/v1/tenants/lab", headers=newco).status_code == 404
    job = c.post("/v1/jobs", json=JOB, headers=newco)
    assert job.status_code == 201, job.text  # the new tenant's jobs are scheduled too
    assert c.post("/v1/jobs", json=JOB, headers=api.admin).status_code == 403
    assert all("token" not in t for t in c.get("/v1/tokens", headers=api.admin).json())
    assert c.delete(f"/v1/tokens/{tok['id']}", headers=api.admin).status_code == 204
    assert c.get("/v1/jobs", headers=newco).status_code == 401
    assert c.delete(f"/v1/tokens/{tok['id']}", headers=api.admin).status_code == 404
