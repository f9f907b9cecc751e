"""Bad requests get a 4xx with {"error", "field", "hint"}."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api

JOB = {"profile": "dl-training", "hours_on_reference": 0.01, "command": "sleep 1"}


@pytest.mark.parametrize(
    ("body", "status", "field", "words"),
    [
        ({**JOB, "gang": -1}, 422, "body.gang", "greater than"),
        ({**JOB, "gang": "4"}, 422, "body.gang", "integer"),
        ({**JOB, "gang": 1.5}, 422, "body.gang", "integer"),
        ({**JOB, "hours_on_reference": -2}, 422, "body.hours_on_reference", "greater than"),
        ({**JOB, "work_pflop": 5}, 422, "body", "exactly one"),
        ({**JOB, "gang": 4, "gang_max": 2}, 422, "body", "gang_max ≥ gang"),
        ({**JOB, "gang": 4, "gang_min": 8}, 422, "body", "gang_min ≤ gang"),
        ({**JOB, "gang_min": 0}, 422, "body.gang_min", "greater than"),
        ({**JOB, "accepted_types": ["tpu_v9"]}, 422, "body.accepted_types.0", "unknown accel"),
        ({**JOB, "accepted_stacks": ["opencl"]}, 422, "body.accepted_stacks.0", "unknown"),
        ({**JOB, "profile": "nope"}, 422, "body.profile", "unknown profile"),
        ({**JOB, "kind": "finetune"}, 422, "body.kind", "pretrain"),
        ({**JOB, "dataset": "nope"}, 422, "body.dataset", "unknown data set"),
        ({**JOB, "gang": 64}, 422, "body.gang", "more than any pool"),
        ({**JOB, "command": ""}, 422, "body.command", "at least 1"),
        ({**JOB, "command": "a\x00b"}, 422, "body.command", "NUL"),
        ({**JOB, "deadline": "2026-01-01T00:00:00"}, 422, "body.deadline", "timezone"),
        ({**JOB, "surprise": 1}, 422, "body.surprise", "Extra inputs"),
        ({**JOB, "preemptible": "yes"}, 422, "body.preemptible", "boolean"),
        ([], 422, "body", "dictionary"),
    ],
)
def test_invalid_jobs(api: Api, body: object, status: int, field: str, words: str) -> None:
    r = api.client.post("/v1/jobs", json=body, headers=api.lab)
    assert r.status_code == status, r.text
    got = r.json()
    assert got["field"] == field and words.lower() in got["error"].lower(), got
    assert got["hint"]


def test_malformed_json_and_oversize(api: Api) -> None:
    h = {**api.lab, "Content-Type": "application/json"}
    r = api.client.post("/v1/jobs", content=b'{"profile": ', headers=h)
    assert r.status_code == 400 and r.json()["error"].startswith("malformed JSON")
    big = {**JOB, "command": "x" * 100_000}
    r = api.client.post("/v1/jobs", json=big, headers=api.lab)
    assert r.status_code == 413 and "larger than" in r.json()["error"]

    def chunks() -> object:
        yield b'{"command": "'
        for _ in range(100):
            yield b"x" * 1000
        yield b'"}'

    r = api.client.post("/v1/jobs", content=chunks(), headers=h)  # no Content-Length
    assert r.status_code == 413


def test_bad_paths_and_queries(api: Api) -> None:
    c = api.client
    assert c.get("/v1/jobs/0", headers=api.lab).status_code == 422
    assert c.get("/v1/jobs/abc", headers=api.lab).status_code == 422
    assert c.get(f"/v1/jobs/{2**40}", headers=api.lab).status_code == 422
    assert c.get("/v1/jobs/999999", headers=api.lab).status_code == 404
    assert c.get("/v1/jobs?limit=0", headers=api.lab).status_code == 422
    assert c.get("/v1/jobs?state=bogus", headers=api.lab).status_code == 422
    r = c.get("/v1/nothing", headers=api.lab)
    assert r.status_code == 404 and r.json()["error"] == "Not Found"
    assert c.put("/v1/jobs", headers=api.lab).status_code == 405
    r = c.post("/v1/jobs", json=JOB, headers={**api.lab, "Idempotency-Key": "a" * 200})
    assert r.status_code == 422 and r.json()["field"] == "header.Idempotency-Key"
