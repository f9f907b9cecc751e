"""The live dashboard's document over the API: what an admin and a tenant see, the site
samples behind its series (in-memory sites, so power and state are predictable), and the
services part, from the samples a running control loop writes at its serving ticks."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from suanli.api.app import create_app
from suanli.api.services import build_services
from suanli.config import load_scenario
from suanli.control.service import LoopSettings
from suanli.report.live import MAX_POINTS
from suanli.report.services import LiveService, live_service_part
from suanli.sites.config import dry_run_sites
from suanli.store.records import ServiceSampleRecord
from tests.api.conftest import ADMIN, Api, bearer, running_api
from tests.control.helpers import FIXTURES

#: Two sites of 8 devices, lab's service chat (20 requests/s) and uni's search (5), a
#: serving tick every 2 s.
SERVICES = FIXTURES / "dashboard-services.yaml"

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


def test_no_services_no_services_part(dash: Api) -> None:
    """A scenario without services: the document has no services part (the page shows no
    panel), whoever asks."""
    for who in (dash.admin, dash.lab):
        pol = _doc(dash, who)["policies"][0]
        assert "services" not in pol and "services" not in pol["metrics"]


# -- services ----------------------------------------------------------------------------------
def services_api(db: str, loop: LoopSettings) -> Iterator[Api]:
    """An app on ``db`` serving :data:`SERVICES` (dry-run sites whose jobs run an hour, so
    replicas stay; ``backfill`` for batch, the ``suanli`` serving policy) with tenant
    tokens."""
    sc = load_scenario(str(SERVICES))
    svc = build_services(
        sc, db, dry_run_sites(sc, 3600.0), policy="backfill", admin_token=ADMIN, loop=loop
    )
    with TestClient(create_app(svc)) as client:
        tokens = {}
        for tenant in ("lab", "uni"):
            r = client.post(f"/v1/tenants/{tenant}/tokens", json={}, headers=bearer(ADMIN))
            assert r.status_code == 201, r.text
            tokens[tenant] = bearer(r.json()["token"])
        yield Api(client, svc, bearer(ADMIN), tokens["lab"], tokens["uni"])


def sampled(api: Api, n: int) -> None:
    """Wait until the control loop has sampled every service ``n`` times with a replica
    placed (ready or starting) at the last sample."""
    store = api.services.control.service_store

    def enough() -> bool:
        got: dict[str, list[ServiceSampleRecord]] = {}
        for x in store.samples(0.0):
            got.setdefault(x.service, []).append(x)
        return set(got) == {"chat", "search"} and all(
            len(v) >= n and v[-1].ready + v[-1].starting >= 1 for v in got.values()
        )

    _wait(enough, timeout=60)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    db = tmp_path_factory.mktemp("dash-services") / "dash.db"
    yield from services_api(str(db), LoopSettings(poll_s=0.1, grace_s=0.2, sample_s=0.5))


def _series(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in doc["policies"][0].get("services", [])}


def test_services_part_from_the_loops_samples(served: Api) -> None:
    """The admin's document has every service: its series are the samples the running
    loop wrote (the store's, tick by tick), its replicas by site the loop's view now, and
    its window totals the samples' integrals."""
    sampled(served, 3)
    doc = _doc(served, served.admin)
    pol = doc["policies"][0]
    series = _series(doc)
    assert sorted(series) == ["chat", "search"]
    control = served.services.control
    store = control.service_store
    for sid, tenant, rps in (("chat", "lab", 20.0), ("search", "uni", 5.0)):
        s = series[sid]
        assert s["tenant"] == tenant
        n = len(s["time"])
        assert n >= 3
        for key in ("demand", "capacity", "ready", "starting", "devices", "attainment"):
            assert len(s[key]) == n, key
        # the document was built from the store's samples of the window (fewer than
        # MAX_POINTS: one instant each), in order
        rows = [x for x in store.samples(0.0, sid) if x.at <= _at(s["time"][-1]) + 1.0]
        assert len(rows) == n
        assert s["demand"] == pytest.approx([x.demand_rps for x in rows])
        assert s["ready"] == [x.ready for x in rows] and s["starting"] == [x.starting for x in rows]
        assert s["devices"] == [x.devices for x in rows]
        assert s["attainment"] == pytest.approx([x.attainment for x in rows])
        assert s["demand"][-1] == pytest.approx(rps)  # the scenario's flat demand
        assert all(0.0 <= a <= 1.0 for a in s["attainment"])
        assert s["ready"][-1] + s["starting"][-1] >= 1 and s["devices"][-1] >= 1
        # replicas by site now: the loop's view of the service
        view = control.service_view(sid)
        assert view is not None
        by_site: dict[str, dict[str, int]] = {}
        for r in view.replicas:
            by_site.setdefault(r.site, {"ready": 0, "starting": 0, "draining": 0})[r.state] += 1
        assert s["replicas_by_site"] == by_site and view.replicas
        m = pol["metrics"]["services"][sid]
        assert m["serving_policy"] == "suanli" and m["tenant"] == tenant and m["served"]
        assert m["replicas"] == {
            st: sum(c[st] for c in by_site.values()) for st in ("ready", "starting", "draining")
        }
        assert m["demand_rps"] == pytest.approx(rps)
        # over the window: each sample stands for the span to the next (the last: a tick)
        at = np.asarray([x.at for x in rows])
        dt = np.append(np.diff(at), 2.0)
        demand = np.asarray([x.demand_rps for x in rows])
        assert m["requests"] == pytest.approx(float((demand * dt).sum()), rel=1e-6)
        devices = np.asarray([x.devices for x in rows])
        assert m["device_hours"] == pytest.approx(float((devices * dt).sum()) / 3600, rel=1e-6)
        assert m["device_hours"] > 0
        assert m["attainment"] is not None and 0.0 <= m["attainment"] <= 1.0


def _at(label: str) -> float:
    """POSIX seconds of a document time (the scenario's clock is UTC)."""
    return datetime.strptime(label, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()


def test_tenant_sees_only_its_own_services(served: Api) -> None:
    sampled(served, 2)
    for who, mine in ((served.lab, "chat"), (served.uni, "search")):
        doc = _doc(served, who)
        assert list(_series(doc)) == [mine]
        assert list(doc["policies"][0]["metrics"]["services"]) == [mine]
    assert sorted(_series(_doc(served, served.admin))) == ["chat", "search"]


def _sample(at: float, demand: float, att: float, ready: int = 1) -> ServiceSampleRecord:
    return ServiceSampleRecord(
        at=at, service="s", demand_rps=demand, capacity_rps=10.0, ready=ready, starting=0,
        devices=2 * ready, attainment=att, tokens_per_s=100.0,
    )  # fmt: skip


def test_live_service_part_bins_and_integrates() -> None:
    """More ticks than MAX_POINTS: binned, a bin's attainment weighted by demand; the
    window's totals over every sample, a gap of more than three ticks counting for
    nothing; a tenant's document has only its services."""
    now = LiveService(
        id="s", tenant="a", replicas=(("east", "ready"), ("west", "starting")),
        demand_rps=2.0, capacity_rps=10.0, attainment=0.9, attainment_last=0.5,
        tokens_per_s=100.0, short=1,
    )  # fmt: skip

    def part(samples: list[ServiceSampleRecord], viewer: str | None = None) -> Any:
        return live_service_part(
            samples, [now], {"s": "a"}, viewer, str, serving_policy="reactive", tick_s=10.0,
            max_points=MAX_POINTS,
        )  # fmt: skip

    # 4 ticks a bin: two of 1 request/s all late, two of 4 requests/s all on time
    n = 4 * MAX_POINTS + 1
    alternating = [
        _sample(1000.0 + 10.0 * i, 4.0 if i % 2 else 1.0, 1.0 if i % 2 else 0.0) for i in range(n)
    ]
    (doc,), metrics = part(alternating)
    assert len(doc["time"]) == MAX_POINTS and len(doc["attainment"]) == MAX_POINTS
    assert doc["attainment"][:-1] == pytest.approx([8.0 / 10.0] * (MAX_POINTS - 1))
    assert doc["demand"][:-1] == pytest.approx([2.5] * (MAX_POINTS - 1))
    assert doc["replicas_by_site"] == {
        "east": {"ready": 1, "starting": 0, "draining": 0},
        "west": {"ready": 0, "starting": 1, "draining": 0},
    }
    m = metrics["s"]
    assert m["requests"] == pytest.approx(10.0 * (4.0 * (n // 2) + 1.0 * (n // 2 + 1)))
    assert m["attainment"] == pytest.approx(4.0 * (n // 2) / (4.0 * (n // 2) + n // 2 + 1))
    assert m["replicas"] == {"ready": 1, "starting": 1, "draining": 0}
    assert m["short"] == 1 and m["serving_policy"] == "reactive"
    # a gap of 11 ticks (the server was down): the sample before it stands for nothing
    gap = [_sample(0.0, 1.0, 1.0), _sample(10.0, 3.0, 0.5), _sample(120.0, 2.0, 0.0)]
    (doc,), metrics = part(gap)
    assert doc["demand"] == [1.0, 3.0, 2.0] and len(doc["time"]) == 3
    assert metrics["s"]["requests"] == pytest.approx(10.0 + 0.0 + 20.0)
    assert metrics["s"]["on_time"] == pytest.approx(10.0)
    assert metrics["s"]["device_hours"] == pytest.approx(2 * 20.0 / 3600)
    # another tenant sees none of it
    assert part(gap, "b") == ([], {})
