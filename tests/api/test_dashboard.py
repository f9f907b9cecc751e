"""The live dashboard's document over the API: what an admin and a tenant see, and the
site samples behind its series (in-memory sites, so power and state are predictable)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from suanli.control.service import LoopSettings
from tests.api.conftest import Api, bearer, running_api

JOB = {"profile": "dl-training", "hours_on_reference": 0.01, "command": "sleep 1"}


@pytest.fixture(scope="module")
def dash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """An API whose loop samples the sites every 0.2 s; jobs 'run' 1 s."""
    db = tmp_path_factory.mktemp("dash") / "dash.db"
    yield from running_api(str(db), 1.0, LoopSettings(poll_s=0.1, grace_s=0.2, sample_s=0.2))


def _doc(api: Api, who: dict[str, str], **params: Any) -> dict[str, Any]:
    r = api.client.get("/v1/dashboard", headers=who, params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = r.json()
    return body


def _wait(cond: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_page_needs_no_token_and_holds_no_data(dash: Api) -> None:
    r = dash.client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert '<meta name="suanli-data-url" content="/v1/dashboard">' in page
    assert '<meta name="suanli-auth" content="bearer">' in page
    assert 'id="suanli-data"' not in page  # the document is fetched, with a token


def test_document_needs_a_valid_token(dash: Api) -> None:
    assert dash.client.get("/v1/dashboard").status_code == 401
    r = dash.client.get("/v1/dashboard", headers=bearer("not-a-token-of-this-service"))
    assert r.status_code == 401 and r.json()["field"] == "Authorization"
    r = dash.client.get("/v1/dashboard", headers=dash.admin, params={"hours": -1})
    assert r.status_code == 422


def test_admin_sees_everything_tenant_only_its_own(dash: Api) -> None:
    c = dash.client
    lab = [
        c.post("/v1/jobs", json={**JOB, "name": f"lab-{i}", "gang": 2}, headers=dash.lab).json()
        for i in range(3)
    ]
    uni = c.post("/v1/jobs", json={**JOB, "name": "uni-0"}, headers=dash.uni).json()
    ids = [j["id"] for j in lab] + [uni["id"]]

    def all_done() -> bool:
        return all(
            c.get(f"/v1/jobs/{i}", headers=dash.admin).json()["state"] == "done" for i in ids
        )

    _wait(all_done)
    time.sleep(0.5)  # a few samples after the last job ended
    doc = _doc(dash, dash.admin)
    assert doc["format"] == "suanli-report-data" and doc["version"] == 1
    assert doc["kind"] == "live" and doc["live"]["viewer"] == {"role": "admin", "tenant": None}
    assert [s["id"] for s in doc["sites"]] == ["east", "west"]
    listed = dict(zip(doc["jobs"]["db_id"], doc["jobs"]["name"], strict=True))
    assert {i: listed[i] for i in ids} == {j["id"]: j["name"] for j in [*lab, uni]}
    pol = doc["policies"][0]
    assert pol["name"] == "backfill" and len(doc["policies"]) == 1
    m = pol["metrics"]
    assert m["jobs"]["done"] >= 4 and m["jobs"]["running"] == 0
    assert m["devices"]["running"] == 0  # the devices of the jobs running, not a sample's
    assert m["jct_h"]["mean"] is not None and m["jct_h"]["mean"] > 0
    rows = {q["tenant"]: q for q in doc["live"]["queues"]}
    assert {"lab", "uni"} <= set(rows)
    # every listed done job has its JCT, and ρ = JCT / run ≥ 1
    P = pol["jobs"]
    for r, db_id in enumerate(doc["jobs"]["db_id"]):
        if db_id in ids:
            assert P["statuses"][P["status"][r]] == "done"
            assert P["jct_s"][r] >= doc["jobs"]["alone_s"][r] > 0
            assert P["site"][r] >= 0 and P["devices"][r] >= 1
            assert P["reason"][r] == -1  # only waiting jobs have a reason
    assert m["tenants"]["lab"]["mean_rho"] >= 1.0
    assert any(d["action"] == "start" and d["job"] in ids for d in doc["live"]["decisions"])

    mine = _doc(dash, dash.uni)
    assert mine["live"]["viewer"] == {"role": "tenant", "tenant": "uni"}
    assert [t["id"] for t in mine["tenants"]] == ["uni"]
    assert set(mine["jobs"]["db_id"]) == {uni["id"]}
    assert {d["job"] for d in mine["live"]["decisions"]} <= {uni["id"]}
    assert [q["tenant"] for q in mine["live"]["queues"]] == ["uni", "(other tenants)"]
    assert set(mine["policies"][0]["metrics"]["tenants"]) == {"uni"}
    assert mine["policies"][0]["metrics"]["devices"]["running"] == 0  # its own: none
    # the fleet is the same for both
    assert mine["sites"] == doc["sites"]


def test_series_come_from_site_samples(dash: Api) -> None:
    """Samples every 0.2 s: idle power of every device × PUE when nothing runs; energy is
    the integral of the sampled power."""
    job = dash.client.post("/v1/jobs", json={**JOB, "gang": 8}, headers=dash.lab).json()
    _wait(
        lambda: (
            dash.client.get(f"/v1/jobs/{job['id']}", headers=dash.lab).json()["state"] == "running"
        )
    )
    time.sleep(0.5)
    doc = _doc(dash, dash.admin)
    pol = doc["policies"][0]
    n = len(doc["time"])
    assert n >= 5
    for key in ("utilisation", "allocated_share", "power_mw"):
        assert [len(row) for row in pol["series"][key]] == [n, n]
    assert [len(row) for row in doc["site_series"]["price"]] == [n, n]
    sc = dash.services.scenario
    idle_mw = [
        s.pue * sum(p.count * sc.catalog[p.accelerator].idle_power_w for p in s.pools) / 1e6
        for s in sc.sites
    ]
    power = pol["series"]["power_mw"]
    for i, row in enumerate(power):
        values = [v for v in row if v is not None]
        assert min(values) == pytest.approx(idle_mw[i], rel=1e-4)  # nothing ran at some point
    util = pol["series"]["utilisation"]
    assert max(v for row in util for v in row if v is not None) > 0  # the 8-device job ran
    m = pol["metrics"]
    # the devices running are those of the jobs running: the same rows of the job table
    assert m["devices"]["running"] == 8 * m["jobs"]["running"]
    assert m["energy_mwh"] > 0 and m["cost"]["gross"] >= m["cost"]["net"] > 0
    assert m["carbon_t"] > 0
    assert sum(s["energy_mwh"] for s in m["sites"].values()) == pytest.approx(m["energy_mwh"])
    short = _doc(dash, dash.admin, hours=1 / 3600)  # a one-second window: fewer samples
    assert len(short["time"]) < n
