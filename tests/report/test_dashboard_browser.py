"""The live dashboard of a real ``suanli serve`` process in a real browser (headless
Chromium): sign-in with API tokens, the numbers on the page against the API, live
updates, a job's page, a tenant's narrower view; on a big fleet the axes' ticks, the
legends against the tool bars, the running counts and deep links into the jobs table; and
with online inference services, their panel (replicas, demand against capacity, SLO
attainment) for the admin and a tenant's own only."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.control.helpers import FIXTURES
from tests.report.browser import screenshot, wait_for
from tests.report.charts import (
    assert_share_ticks,
    assert_time_ticks,
    in_view,
    legend_clashes,
    ticks,
)

pytestmark = pytest.mark.browser

ADMIN = "dashboard-admin-token-0123456789"
JOB = {"profile": "dl-training", "hours_on_reference": 0.01, "command": "sleep 1"}


@dataclass
class Served:
    """A running ``suanli serve --dry-run`` and tokens for it."""

    url: str
    proc: subprocess.Popen[bytes]
    tokens: dict[str, str]

    def api(self, method: str, path: str, who: str = "admin", **kw: Any) -> Any:
        r = httpx.request(
            method,
            self.url + path,
            headers={"Authorization": f"Bearer {self.tokens[who]}"},
            timeout=10,
            **kw,
        )
        r.raise_for_status()
        return r.json()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _serve(tmp: Path, scenario: Path, run_s: float) -> Iterator[Served]:
    """``suanli serve --dry-run`` of ``scenario`` (jobs 'run' ``run_s`` seconds), with an
    admin token and a token for each of the tenants lab and uni."""
    port = _free_port()
    argv = [
        sys.executable, "-m", "suanli", "serve",
        "--scenario", str(scenario),
        "--db", str(tmp / "dash.db"), "--dry-run", "--dry-run-seconds", str(run_s),
        "--port", str(port), "--poll-seconds", "0.2", "--sample-seconds", "0.5",
        "--dashboard-poll-seconds", "0.5", "--log-level", "warning",
    ]  # fmt: skip
    log = (tmp / "serve.log").open("wb")
    env = {**os.environ, "SUANLI_ADMIN_TOKEN": ADMIN}
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, (tmp / "serve.log").read_text()
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "suanli serve did not start"
        time.sleep(0.1)
    s = Served(url, proc, {"admin": ADMIN})
    for tenant in ("lab", "uni"):
        s.tokens[tenant] = s.api("POST", f"/v1/tenants/{tenant}/tokens", json={})["token"]
    try:
        yield s
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The two sites of 8 devices of ``serve-two-sites.yaml``; jobs run 3 s."""
    with _serve(tmp_path_factory.mktemp("dashboard"), FIXTURES / "serve-two-sites.yaml", 3) as s:
        yield s


#: Devices per site of the ``fleet`` fixture, and the jobs running there.
BIG, RUNNING = 4096, 55


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The same two sites with 4,096 devices each, and 55 one-device jobs of lab running
    (for ten minutes; uni has none): a few busy devices out of many, like a big fleet."""
    tmp = tmp_path_factory.mktemp("fleet")
    scenario = yaml.safe_load((FIXTURES / "serve-two-sites.yaml").read_text())
    for site in scenario["sites"]:
        site["power_capacity_mw"] = 10.0
        for pool in site["pools"]:
            pool["count"] = BIG
    path = tmp / "fleet.yaml"
    path.write_text(yaml.safe_dump(scenario))
    with _serve(tmp, path, 600) as s:
        for i in range(RUNNING):
            s.api("POST", "/v1/jobs", "lab", json={**JOB, "name": f"big-{i}", "gang": 1})
        deadline = time.monotonic() + 60
        while len(_running(s)) < RUNNING:
            assert time.monotonic() < deadline, "the jobs did not start"
            time.sleep(0.2)
        yield s


def _running(s: Served) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = s.api(
        "GET", "/v1/jobs", params={"state": "running", "limit": 1000}
    )["jobs"]
    return jobs


def _js(driver: Any, script: str) -> Any:
    return driver.execute_script(f"return ({script});")


def _sign_in(driver: Any, token: str) -> None:
    wait_for(driver, "document.body.dataset.login === '1'", timeout=60)
    box = driver.find_element("id", "login-token")
    box.clear()
    box.send_keys(token)
    driver.find_element("id", "login-open").click()


def _cell(path: str) -> str:
    return f"document.querySelector('#summary-table tr[data-path=\"{path}\"] td')"


def _severe(driver: Any) -> list[str]:
    """Console errors other than the refused (401) and missing (404) requests we caused."""
    return [
        e["message"]
        for e in driver.get_log("browser")
        if e["level"] == "SEVERE" and not ("401" in e["message"] or "404" in e["message"])
    ]


def test_admin_dashboard_follows_the_system(
    chromium: Any, served: Served, screenshot_dir: Path
) -> None:
    jobs = [
        served.api("POST", "/v1/jobs", who, json={**JOB, "name": f"{who}-{i}", "gang": 8})
        for i, who in enumerate(["lab", "lab", "uni"])
    ]  # two sites of 8 devices: the third job waits for the first to end
    chromium.get_log("browser")  # forget what earlier tests left in the log
    chromium.get(served.url + "/")
    assert _js(chromium, "document.getElementById('login').hidden") is False
    _sign_in(chromium, "a-token-this-service-never-issued")
    wait_for(chromium, "!document.getElementById('login-message').hidden", timeout=30)
    assert "invalid or revoked" in _js(
        chromium, "document.getElementById('login-message').textContent"
    )
    _sign_in(chromium, ADMIN)
    wait_for(chromium, "document.body.dataset.ready === '1'", timeout=60)
    assert _js(chromium, "document.body.dataset.kind") == "live"
    assert _js(chromium, "document.getElementById('viewer').textContent") == "signed in as admin"
    assert _js(chromium, "document.getElementById('queues-section').hidden") is False
    # no services in this scenario: no services panel, nor its link
    assert _js(chromium, "document.getElementById('services-section').hidden") is True
    assert _js(chromium, "document.getElementById('nav-services').hidden") is True
    # the sites: one marker each on the map, one table row each, both reachable
    states = _js(
        chromium,
        "[...document.querySelectorAll('#site-table tbody tr')]"
        ".map(tr => [tr.dataset.site, tr.dataset.state])",
    )
    assert states == [["east", "up"], ["west", "up"]]
    markers = _js(chromium, "document.getElementById('map').data.at(-1).x.length")
    assert markers == 2
    assert _js(chromium, "document.getElementById('series').data.length") == 2 * 5
    # every job ends; the page follows until its counts are the API's
    ids = [j["id"] for j in jobs]

    def all_done() -> bool:
        return all(served.api("GET", f"/v1/jobs/{i}")["state"] == "done" for i in ids)

    deadline = time.monotonic() + 60
    while not all_done():
        assert time.monotonic() < deadline, "jobs did not finish"
        time.sleep(0.2)
    done = len(served.api("GET", "/v1/jobs", params={"state": "done", "limit": 1000})["jobs"])
    wait_for(chromium, f"{_cell('jobs.done')}.dataset.value === '{done}'", timeout=30)
    assert _js(chromium, f"{_cell('jobs.done')}.textContent") == f"{done:,}"
    queue = _js(
        chromium,
        "Object.fromEntries([...document.querySelectorAll('#queue-table tbody tr')]"
        ".map(tr => [tr.dataset.tenant, tr.querySelector('[data-key=queued]').textContent]))",
    )
    assert queue == {"lab": "0", "uni": "0"}
    actions = _js(
        chromium,
        "[...document.querySelectorAll('#decisions tbody tr')].map(tr => tr.dataset.action)",
    )
    assert "start" in actions and "wait" in actions  # the third job was told why it waited
    # utilisation was drawn from the samples: some instant had the 16 devices busy
    util = _js(chromium, "document.getElementById('series').data[0].y")
    assert max(v for v in util if v is not None) == pytest.approx(1.0)
    screenshot(chromium, screenshot_dir / "dashboard-admin.png")
    # a job's page: click its row; its history comes from the API
    third = ids[2]
    rows = _js(
        chromium,
        "[...document.querySelectorAll('#jobs-table tbody tr')]"
        ".map(tr => [tr.dataset.row, tr.cells[0].textContent])",
    )
    row = next(r for r, text in rows if text == str(third))
    chromium.execute_script(
        f"document.querySelector('#jobs-table tbody tr[data-row=\"{row}\"]').click()"
    )
    wait_for(chromium, "document.getElementById('job-detail').dataset.loaded === '1'")
    detail = _js(chromium, "document.getElementById('job-detail').textContent")
    assert f"job {third} · uni-2 · done" in detail
    assert "queued" in detail and "running" in detail and "start at" in detail
    # times as everywhere on the page: the scenario's clock (UTC here), to the second
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d · queued: submitted", detail)
    assert _js(chromium, "location.hash") == f"#job={third}"
    screenshot(chromium, screenshot_dir / "dashboard-job.png", full_page=False)
    # a deep link opens the same page
    chromium.get(f"{served.url}/#job={ids[0]}")
    wait_for(chromium, f"document.getElementById('job-detail').dataset.job === '{ids[0]}'")
    wait_for(chromium, "document.getElementById('job-detail').dataset.loaded === '1'")
    # a job submitted now appears without reloading the page
    served.api("POST", "/v1/jobs", "lab", json={**JOB, "name": "late-arrival"})
    wait_for(
        chromium,
        "[...document.querySelectorAll('#jobs-table tbody tr')]"
        ".some(tr => tr.cells[1].textContent === 'late-arrival')",
        timeout=30,
    )
    assert _severe(chromium) == []


def test_tenant_sees_its_own_jobs_only(chromium: Any, served: Served, screenshot_dir: Path) -> None:
    lab_job = served.api("POST", "/v1/jobs", "lab", json={**JOB, "name": "lab-private"})
    served.api("POST", "/v1/jobs", "uni", json={**JOB, "name": "uni-visible"})
    chromium.get(served.url + "/")
    chromium.get_log("browser")
    chromium.execute_script("sessionStorage.clear()")
    chromium.get("about:blank")
    # a token handed over in the address: used, then taken out of it
    chromium.get(f"{served.url}/#token={served.tokens['uni']}")
    wait_for(chromium, "document.body.dataset.ready === '1'", timeout=60)
    assert "token" not in _js(chromium, "location.href")
    assert (
        _js(chromium, "document.getElementById('viewer').textContent") == "signed in as tenant uni"
    )
    wait_for(
        chromium,
        "[...document.querySelectorAll('#jobs-table tbody tr')]"
        ".some(tr => tr.cells[1].textContent === 'uni-visible')",
        timeout=30,
    )
    names = _js(
        chromium,
        "[...document.querySelectorAll('#jobs-table tbody tr')].map(tr => tr.cells[1].textContent)",
    )
    assert names and all(n.startswith("uni") for n in names)
    tenants = _js(
        chromium,
        "[...document.querySelectorAll('#queue-table tbody tr')].map(tr => tr.dataset.tenant)",
    )
    assert tenants == ["uni", "(other tenants)"]
    # another tenant's job cannot be opened
    chromium.get(f"{served.url}/#job={lab_job['id']}")
    wait_for(chromium, "document.getElementById('job-detail').textContent.includes('could not')")
    assert "404" in _js(chromium, "document.getElementById('job-detail').textContent")
    screenshot(chromium, screenshot_dir / "dashboard-tenant.png")
    # signing out forgets the token
    chromium.find_element("id", "sign-out").click()
    wait_for(chromium, "document.body.dataset.login === '1'", timeout=30)
    assert _js(chromium, "sessionStorage.getItem('suanli-token')") is None
    assert _severe(chromium) == []
    chromium.get("about:blank")


def _summary(driver: Any) -> dict[str, str]:
    """The summary table's raw values by row label."""
    rows: dict[str, str] = _js(
        driver,
        "Object.fromEntries([...document.querySelectorAll('#summary-table tbody tr')]"
        ".map(tr => [tr.querySelector('th').textContent.trim(),"
        " tr.querySelector('td').dataset.value]))",
    )
    return rows


def _devices_running(rows: dict[str, str]) -> str:
    """The value of the row of devices running (whatever its exact words)."""
    return next(v for k, v in rows.items() if "devices" in k and "run" in k)


def _redrawn(driver: Any) -> None:
    """Wait until the page has drawn the next document in full (charts included)."""
    n = int(_js(driver, "document.body.dataset.updates"))
    wait_for(driver, f"Number(document.body.dataset.updates) > {n}", timeout=30)


def _open(driver: Any, url: str, token: str, job: int | None = None) -> None:
    """Open the dashboard afresh with ``token`` handed over in the address (and a job)."""
    driver.get("about:blank")
    driver.get(f"{url}/#token={token}" + (f"&job={job}" if job is not None else ""))
    wait_for(driver, "document.body.dataset.ready === '1'", timeout=60)


def test_big_fleet_axes_legends_and_counts(
    chromium: Any, fleet: Served, screenshot_dir: Path
) -> None:
    """A few busy devices out of thousands: the utilisation axis reads in distinct
    percentages; no legend runs into a chart's tool bar; the devices running are those of
    the jobs running, for the admin and for a tenant with none running."""
    _open(chromium, fleet.url, ADMIN)
    wait_for(chromium, f"{_cell('jobs.running')}.dataset.value === '{RUNNING}'", timeout=30)
    # the series have sampled the running jobs (a fraction of a percent of the fleet)
    wait_for(
        chromium,
        "document.getElementById('series').data.filter(t => t.yaxis === 'y')"
        ".some(t => t.y.some(v => v > 0))",
        timeout=30,
    )
    _redrawn(chromium)
    assert_share_ticks(ticks(chromium, "series", "y"))
    charts, clashes = legend_clashes(chromium)
    assert {"series", "queues"} <= set(charts), charts
    assert clashes == {}
    rows = _summary(chromium)
    devices = sum(j["devices"] for j in _running(fleet))
    assert rows["jobs running"] == str(RUNNING)
    assert _devices_running(rows) == str(devices) == str(RUNNING)
    screenshot(chromium, screenshot_dir / "dashboard-fleet.png")
    # a tenant with no job running sees no devices running, though the fleet is busy
    _open(chromium, fleet.url, fleet.tokens["uni"])
    wait_for(chromium, "document.getElementById('viewer').textContent.includes('uni')")
    rows = _summary(chromium)
    assert float(_js(chromium, f"{_cell('utilisation_now')}.dataset.value")) > 0
    assert rows["jobs running"] == "0"
    assert _devices_running(rows) == "0"
    assert _severe(chromium) == []
    chromium.get("about:blank")


def test_deep_link_turns_to_the_page_of_the_job(chromium: Any, fleet: Served) -> None:
    """``/#job=ID`` opens the job's page and scrolls its row into view, on the page of
    the jobs table that has it (the newest jobs come first, 50 a page); so does a change
    of the address later."""
    ids = sorted(j["id"] for j in _running(fleet))
    selected = "#jobs-table tbody tr.selected"
    _open(chromium, fleet.url, ADMIN, job=ids[0])  # the oldest: on the second page
    for i, job in enumerate((ids[0], ids[-1])):
        if i:
            chromium.execute_script(
                "window.scrollTo(0, 0); location.hash = arguments[0]", f"#job={job}"
            )
        wait_for(
            chromium, f"document.querySelector('{selected}')?.cells[0].textContent === '{job}'"
        )
        wait_for(chromium, f"document.getElementById('job-detail').dataset.job === '{job}'")
        assert in_view(chromium, selected), job
        page = "page 2 of 2" if i == 0 else "page 1 of 2"
        assert page in _js(chromium, "document.getElementById('jobs-count').textContent")
    assert _severe(chromium) == []
    chromium.get("about:blank")


def test_jct_axes_read_as_times(chromium: Any, served: Served) -> None:
    """Jobs of 3 s: the JCT axes (the CDF's, the fairness chart's mean JCT) read in
    seconds with their unit, not in micro-hours ("834μ")."""
    ids = [
        served.api("POST", "/v1/jobs", "lab", json={**JOB, "name": f"short-{i}"})["id"]
        for i in range(2)
    ]
    deadline = time.monotonic() + 60
    while any(served.api("GET", f"/v1/jobs/{i}")["state"] != "done" for i in ids):
        assert time.monotonic() < deadline, "jobs did not finish"
        time.sleep(0.2)
    _open(chromium, served.url, ADMIN)
    wait_for(chromium, "document.getElementById('cdf').data[0].x.length >= 2", timeout=30)
    _redrawn(chromium)
    for chart, axis in (("cdf", "x"), ("fairness", "y2")):
        texts = ticks(chromium, chart, axis)
        assert_time_ticks(texts)
        assert all(t.endswith(" s") for t in texts), texts
    chromium.get("about:blank")


# -- services ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def with_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``dashboard-services.yaml``: lab's service chat (20 requests/s) and uni's search
    (5), the suanli serving policy ticking every 2 s; replicas 'run' an hour."""
    tmp = tmp_path_factory.mktemp("services")
    with _serve(tmp, FIXTURES / "dashboard-services.yaml", 3600) as s:
        yield s


def _traces(driver: Any, chart: str) -> dict[str, list[Any]]:
    """A chart's traces as drawn: name → y values."""
    got: dict[str, list[Any]] = _js(
        driver,
        f"Object.fromEntries(document.getElementById('{chart}').data.map(t => [t.name, t.y]))",
    )
    return got


def _service_rows(driver: Any) -> dict[str, dict[str, str]]:
    """The services table: service → its cells' text by key."""
    rows: dict[str, dict[str, str]] = _js(
        driver,
        "Object.fromEntries([...document.querySelectorAll('#service-table tbody tr')]"
        ".map(tr => [tr.dataset.service, Object.fromEntries([...tr.querySelectorAll('td')]"
        ".filter(td => td.dataset.key).map(td => [td.dataset.key, td.textContent])) ]))",
    )
    return rows


def test_services_panel(chromium: Any, with_services: Served, screenshot_dir: Path) -> None:
    """The panel of a running control plane's services: a row per service with its
    replicas now, demand against capacity and the SLO attainment drawn from the samples
    of the serving ticks, the replicas over the window; a tenant sees its own only."""
    s = with_services
    _open(chromium, s.url, ADMIN)
    assert _js(chromium, "document.body.dataset.kind") == "live"
    # a few serving ticks sampled, each drawn
    wait_for(
        chromium,
        "(document.getElementById('service-demand').data || [])"
        ".filter(t => t.name === 'chat demand' || t.name === 'search demand')"
        ".every(t => t.y.length >= 3) && "
        "(document.getElementById('service-demand').data || []).length === 6",
        timeout=60,
    )
    _redrawn(chromium)
    assert _js(chromium, "document.getElementById('services-section').hidden") is False
    assert _js(chromium, "document.getElementById('nav-services').hidden") is False
    # the document the page drew, fetched with the same token: the page shows its numbers
    doc = s.api("GET", "/v1/dashboard")
    series = {x["id"]: x for x in doc["policies"][0]["services"]}
    assert sorted(series) == ["chat", "search"]
    rows = _service_rows(chromium)
    assert sorted(rows) == ["chat", "search"]
    for sid, rps in (("chat", 20.0), ("search", 5.0)):
        row = rows[sid]
        assert row["tenant"] == {"chat": "lab", "search": "uni"}[sid]
        assert int(row["ready"]) + int(row["starting"]) >= 1
        assert row["demand_rps"] == f"{rps:g}"
        assert re.fullmatch(r"(east|west): \d+ (ready|starting).*", row["sites"]), row["sites"]
    demand = _traces(chromium, "service-demand")
    for sid, rps in (("chat", 20.0), ("search", 5.0)):
        assert demand[f"{sid} demand"][-1] == pytest.approx(rps)
        assert len(demand[f"{sid} capacity"]) == len(demand[f"{sid} demand"])
        att = [v for v in demand[f"{sid} SLO met"] if v is not None]
        assert att and all(0.0 <= v <= 1.0 for v in att)
    replicas = _traces(chromium, "service-replicas")
    assert sorted(replicas) == ["chat ready", "chat starting", "search ready", "search starting"]
    for sid in ("chat", "search"):
        assert replicas[f"{sid} ready"][-1] + replicas[f"{sid} starting"][-1] >= 1
    # drawn: the charts have plotted lines (SVG paths), the cost chart is hidden
    for chart in ("service-demand", "service-replicas"):
        assert _js(chromium, f"document.querySelectorAll('#{chart} .scatterlayer path').length") > 0
    assert _js(chromium, "document.getElementById('service-cost').hidden") is True
    screenshot(chromium, screenshot_dir / "dashboard-services.png")
    # a tenant: its own service only
    _open(chromium, s.url, s.tokens["uni"])
    wait_for(chromium, "document.getElementById('service-table').querySelector('tbody tr')")
    assert sorted(_service_rows(chromium)) == ["search"]
    assert sorted(_traces(chromium, "service-demand")) == [
        "search SLO met",
        "search capacity",
        "search demand",
    ]
    assert _severe(chromium) == []
    chromium.get("about:blank")
