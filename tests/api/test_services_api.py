"""``/v1/services`` end to end: a running server (dry-run sites, the ``reactive`` serving
policy ticking every second) creates, scales, explains and deletes services."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from suanli.api.app import create_app
from suanli.api.services import build_services
from suanli.config import load_scenario
from suanli.control.service import LoopSettings
from suanli.sites.config import dry_run_sites
from suanli.store.jobs import JobStore
from tests.api.conftest import ADMIN, Api, bearer

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "serve-services.yaml"


def _api(db: Path, serving: str | None) -> Iterator[Api]:
    sc = load_scenario(str(FIXTURE))
    svc = build_services(
        sc,
        str(db),
        dry_run_sites(sc, 1.0),
        policy="backfill",
        serving=serving,
        admin_token=ADMIN,
        loop=LoopSettings(poll_s=0.1, grace_s=0.2),
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
    yield from _api(tmp_path_factory.mktemp("services") / "s.db", "reactive")


def _wait(cond: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _service(api: Api, sid: str, who: dict[str, str] | None = None) -> dict[str, Any]:
    r = api.client.get(f"/v1/services/{sid}", headers=who or api.admin)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def _ready(api: Api, sid: str, n: int) -> bool:
    s = _service(api, sid)
    return s["replicas"] == {"ready": n, "starting": 0, "draining": 0}


def spec(sid: str = "qa", tenant: str = "uni", **over: Any) -> dict[str, Any]:
    """A small service for users in Shanghai (1 × H100 replicas)."""
    body: dict[str, Any] = {
        "id": sid,
        "tenant": tenant,
        "model": "qwen2.5-7b",
        "slo": {"ttft_p99_ms": 2000, "tpot_ms": 60},
        "shapes": [{"accelerator": "nvidia_h100_sxm5", "devices": 1}],
        "replicas": {"min": 1},
        "startup_s": 1,
        "load_gbps": 1000,
        "regions": [
            {
                "region": "shanghai",
                "max_latency_ms": 30,
                "demand": {
                    "peak_rps": 0.01,
                    "hourly": [1] * 24,
                    "cv": 0,
                    "input_tokens": {"mean": 200, "cv": 0},
                    "output_tokens": {"mean": 10, "cv": 0},
                },
            }
        ],
    }
    body.update(over)
    return body


def test_the_scenarios_service_is_served(api: Api) -> None:
    r = api.client.get("/v1/services", headers=api.admin)
    assert r.status_code == 200, r.text
    ids = {s["id"]: s for s in r.json()["services"]}
    assert ids["chat"]["origin"] == "scenario" and ids["chat"]["tenant"] == "lab"
    _wait(lambda: _ready(api, "chat", 1), "chat's one replica ready")
    s = _service(api, "chat")
    assert s["served"] and s["capacity_rps"] > 0 and s["demand_rps"]["shanghai"] > 0
    # the replica is a job of the service's tenant, running at a site
    ep = api.client.get("/v1/services/chat/endpoints", headers=api.lab).json()
    (rep,) = ep["replicas"]
    job = api.client.get(f"/v1/jobs/{rep['job_id']}", headers=api.lab).json()
    assert job["state"] == "running" and job["site"] == rep["site"]
    assert [x["region"] for x in ep["routes"]] == ["shanghai"]
    # a tenant does not see another's service
    assert api.client.get("/v1/services/chat", headers=api.uni).status_code == 404
    listed = api.client.get("/v1/services", headers=api.uni).json()["services"]
    assert all(s["tenant"] == "uni" for s in listed)


def test_create_scale_explain_delete(api: Api) -> None:
    c = api.client
    r = c.post("/v1/services", json=spec(), headers=api.uni)
    assert r.status_code == 201, r.text
    assert r.json()["origin"] == "api" and r.json()["min_replicas"] == 1
    assert c.post("/v1/services", json=spec(), headers=api.uni).status_code == 409
    _wait(lambda: _ready(api, "qa", 1), "qa's first replica")

    # demand rises: the reactive policy scales to what the rate needs
    t = api.services.control.serving
    assert t is not None
    mu = max(float(x) for x in t.srv.tables.services[-1].mu)
    rate = 2.5 * mu * 0.7  # three replicas at reactive's default 70% target
    r = c.patch("/v1/services/qa", json={"demand_rps": {"shanghai": rate}}, headers=api.uni)
    assert r.status_code == 200, r.text
    assert r.json()["demand_set"] == {"shanghai": rate}
    _wait(lambda: _ready(api, "qa", 3), "three ready replicas")
    ep = c.get("/v1/services/qa/endpoints", headers=api.uni).json()
    assert len({x["job_id"] for x in ep["replicas"]}) == 3
    assert sum(x["rps"] for x in ep["routes"]) == pytest.approx(rate)
    assert c.get("/v1/services/qa/why", headers=api.uni).json()["short"] == 0

    # more than the fleet holds (16 devices, one replica is chat's): short, and why
    r = c.patch("/v1/services/qa", json={"demand_rps": {"shanghai": 40 * mu}}, headers=api.uni)
    assert r.status_code == 200
    why = _wait(
        lambda: (w := c.get("/v1/services/qa/why", headers=api.uni).json())["short"] > 0 and w,
        "a shortage",
    )
    assert why["reasons"][0].startswith("the reactive serving policy wanted")
    assert any("east" in x or "west" in x for x in why["reasons"][1:]), why

    # back to the curve: down to the minimum, the others drained
    r = c.patch("/v1/services/qa", json={"demand_rps": None}, headers=api.uni)
    assert r.status_code == 200 and r.json()["demand_set"] is None
    _wait(lambda: _ready(api, "qa", 1), "down to one replica", timeout=60)

    ids = [
        x["job_id"] for x in c.get("/v1/services/qa/endpoints", headers=api.uni).json()["replicas"]
    ]
    assert c.delete("/v1/services/qa", headers=api.uni).status_code == 204
    assert c.get("/v1/services/qa", headers=api.uni).status_code == 404
    js = JobStore(api.services.db)
    _wait(
        lambda: all(js.get(i).state == "cancelled" for i in ids),  # type: ignore[union-attr]
        "the replicas stopped",
    )
    assert "deleted" in js.get(ids[0]).reason  # type: ignore[union-attr]
    # the id may be used again
    assert c.post("/v1/services", json=spec(), headers=api.uni).status_code == 201
    assert c.delete("/v1/services/qa", headers=api.admin).status_code == 204


@pytest.mark.parametrize(
    ("over", "field", "words"),
    [
        ({"model": "no-such-model"}, "model", "unknown model"),
        ({"shapes": [{"accelerator": "nvidia_h100_sxm5", "devices": 1}], "model": "deepseek-v3"},
         "shapes[0].devices", "cannot hold"),
        ({"regions": [{**spec()["regions"][0], "max_latency_ms": 0.5}]},
         "regions[0].max_latency_ms", "no site within"),
        ({"regions": [{**spec()["regions"][0], "region": "paris"}]},
         "regions[0].region", "unknown user region"),
        ({"regions": [{"region": "shanghai", "max_latency_ms": 30,
                       "demand": {"file": "/etc/passwd"}}]},
         "regions[0].demand.file", "cannot read a demand file"),
    ],
)  # fmt: skip
def test_bad_services_are_refused_naming_the_field(
    api: Api, over: dict[str, Any], field: str, words: str
) -> None:
    r = api.client.post("/v1/services", json=spec("bad", **over), headers=api.admin)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["field"] == field and words in body["error"], body
    assert api.client.get("/v1/services/bad", headers=api.admin).status_code == 404


def test_requests_a_caller_may_not_make(api: Api) -> None:
    c = api.client
    r = c.post("/v1/services", json=spec("mine", tenant="lab"), headers=api.uni)
    assert r.status_code == 403 and r.json()["field"] == "tenant"
    assert (
        c.patch("/v1/services/chat", json={"min_replicas": 2}, headers=api.uni).status_code == 404
    )
    assert c.delete("/v1/services/chat", headers=api.uni).status_code == 404
    r = c.patch("/v1/services/chat", json={"demand_rps": {"paris": 1}}, headers=api.lab)
    assert r.status_code == 422 and r.json()["field"] == "demand_rps.paris"
    r = c.patch("/v1/services/chat", json={"min_replicas": 5, "max_replicas": 2}, headers=api.lab)
    assert r.status_code == 422 and "above" in r.json()["error"]
    r = c.patch("/v1/services/chat", json={"demand_rps": {"shanghai": -1}}, headers=api.lab)
    assert r.status_code == 422
    assert c.get("/v1/services", headers={}).status_code == 401


def test_bounds_set_over_the_api_override_the_specs_each_on_its_own(api: Api) -> None:
    """A minimum of 0 set over the API stands (it is not the spec's 2 again) when a
    maximum is set later; ``null`` gives a bound back to the spec."""
    c = api.client
    assert c.post("/v1/services", json=spec("bounds", replicas={"min": 2}), headers=api.uni)
    r = c.patch("/v1/services/bounds", json={"min_replicas": 0}, headers=api.uni)
    assert r.status_code == 200 and (r.json()["min_replicas"], r.json()["max_replicas"]) == (
        0,
        None,
    )
    r = c.patch("/v1/services/bounds", json={"max_replicas": 1}, headers=api.uni)
    assert r.status_code == 200, r.json()
    assert (r.json()["min_replicas"], r.json()["max_replicas"]) == (0, 1)
    r = c.patch("/v1/services/bounds", json={"min_replicas": None}, headers=api.uni)
    assert r.status_code == 422 and r.json()["field"] == "min_replicas"  # the spec's 2 > 1
    r = c.patch("/v1/services/bounds", json={"max_replicas": None}, headers=api.uni)
    assert (r.json()["min_replicas"], r.json()["max_replicas"]) == (0, None)
    assert c.delete("/v1/services/bounds", headers=api.uni).status_code in (200, 204)


def test_a_server_without_services_says_so(tmp_path: Path) -> None:
    for api in _api(tmp_path / "none.db", None):
        r = api.client.get("/v1/services", headers=api.admin)
        assert r.status_code == 409 and "--serving none" in r.json()["hint"]
