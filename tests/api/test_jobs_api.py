"""Jobs over the API: submit, read, list, why, events, decisions, cancel; idempotency."""

from __future__ import annotations

import time

from tests.api.conftest import Api

JOB = {"profile": "dl-training", "hours_on_reference": 0.01, "command": "sleep 1"}


def _wait_state(api: Api, job_id: int, want: set[str], timeout: float = 15) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, object] = api.client.get(f"/v1/jobs/{job_id}", headers=api.lab).json()
        if body["state"] in want or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def test_submit_run_and_read(api: Api) -> None:
    c = api.client
    r = c.post("/v1/jobs", json={**JOB, "name": "first", "gang": 2}, headers=api.lab)
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["tenant"] == "lab" and job["state"] == "queued" and job["kind"] == "pretrain"
    assert job["work_pflop"] > 0 and job["gang"] == 2
    done = _wait_state(api, job["id"], {"done"})
    assert done["state"] == "done" and done["site"] in ("east", "west") and done["exit_code"] == 0
    why = c.get(f"/v1/jobs/{job['id']}/why", headers=api.lab).json()
    assert why["waiting"] is False and why["policy"] == "backfill"
    events = [e["state"] for e in c.get(f"/v1/jobs/{job['id']}/events", headers=api.lab).json()]
    assert events[0] == "queued" and events[-1] == "done"
    decisions = c.get(f"/v1/decisions?job_id={job['id']}", headers=api.lab).json()
    assert any(d["action"] == "start" for d in decisions)
    listed = c.get("/v1/jobs?limit=1", headers=api.lab).json()
    assert len(listed["jobs"]) == 1 and listed["next_before_id"] == listed["jobs"][0]["id"]
    logs = c.get(f"/v1/jobs/{job['id']}/logs", headers=api.lab)  # dry-run sites keep none
    assert logs.status_code == 409 and "runs nothing" in logs.json()["error"]
    assert c.get(f"/v1/jobs/{job['id']}/logs", headers=api.uni).status_code == 404


def test_idempotency_key(api: Api) -> None:
    h = {**api.lab, "Idempotency-Key": "req-42"}
    a = api.client.post("/v1/jobs", json=JOB, headers=h)
    b = api.client.post("/v1/jobs", json={**JOB, "command": "other"}, headers=h)
    assert (a.status_code, b.status_code) == (201, 200)
    assert a.json()["id"] == b.json()["id"] and b.json()["command"] == "sleep 1"


def test_waiting_reason_and_cancel(api: Api) -> None:
    c = api.client
    ids = [
        c.post("/v1/jobs", json={**JOB, "gang": 8, "command": "sleep 9"}, headers=api.lab).json()[
            "id"
        ]
        for _ in range(3)
    ]  # two sites of 8 devices: the third waits
    deadline = time.monotonic() + 10
    jobs: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        jobs = [c.get(f"/v1/jobs/{i}", headers=api.lab).json() for i in ids]
        if any(j["state"] == "queued" for j in jobs) and any(
            j["state"] in ("pending", "running") for j in jobs
        ):
            break
        time.sleep(0.02)
    waiting = next(j for j in jobs if j["state"] == "queued")
    why = c.get(f"/v1/jobs/{waiting['id']}/why", headers=api.lab).json()
    assert why["waiting"] is True and why["reason"]
    logs = c.get(f"/v1/jobs/{waiting['id']}/logs", headers=api.lab)
    assert logs.status_code == 409 and "has not reached a site" in logs.json()["error"]
    r = c.post(f"/v1/jobs/{waiting['id']}/cancel", headers=api.lab)
    assert r.status_code == 202 and r.json()["cancel_requested"] is True
    assert _wait_state(api, waiting["id"], {"cancelled"})["state"] == "cancelled"
    for i in ids:
        c.post(f"/v1/jobs/{i}/cancel", headers=api.lab)
    for i in ids:
        assert _wait_state(api, i, {"cancelled", "done"})["state"] in ("cancelled", "done")


def test_fleet_endpoints(api: Api) -> None:
    c = api.client
    sites = c.get("/v1/sites", headers=api.lab).json()
    assert [s["id"] for s in sites] == ["east", "west"]
    assert sites[0]["pools"][0]["count"] == 8
    assert c.get("/v1/sites/west", headers=api.lab).json()["id"] == "west"
    assert c.get("/v1/sites/moon", headers=api.lab).status_code == 404
    assert len(c.get("/v1/pools", headers=api.lab).json()) == 2
    sc = c.get("/v1/scenario", headers=api.lab).json()
    assert sc["reference_accelerator"] == "nvidia_h100_sxm5" and "dl-training" in sc["profiles"]
    health = c.get("/health").json()
    assert health["status"] == "ok" and health["sites"] == {"east": True, "west": True}
    metrics = c.get("/metrics").text
    for name in (
        "suanli_jobs{",
        "suanli_round_seconds_bucket",
        "suanli_site_reachable{",
        "suanli_dispatches_total{",
    ):
        assert name in metrics


def test_an_elastic_job_is_submitted_with_its_range(api: Api) -> None:
    body = {**JOB, "gang": 2, "gang_min": 1, "gang_max": 4}
    r = api.client.post("/v1/jobs", json=body, headers=api.lab)
    assert r.status_code == 201, r.text
    job = r.json()
    assert (job["gang_min"], job["gang"], job["gang_max"]) == (1, 2, 4)
    done = _wait_state(api, job["id"], {"done"})
    assert done["state"] == "done" and 1 <= done["devices"] <= 4
    plain = api.client.post("/v1/jobs", json=JOB, headers=api.lab).json()
    assert (plain["gang_min"], plain["gang_max"]) == (None, None)
