"""``suanli serve`` at first look (issue 20), through what a user touches — the command
line and the HTTP API:

* every input is checked before anything is created: a bad one exits 2 naming the option,
  and leaves no database file behind;
* at start it says where the dashboard and the API are;
* it runs suanli's own policy unless told otherwise;
* every start carries a reason in words;
* a job that can never run is refused at submission, naming the field (HTTP 422;
  ``suanli jobs submit`` exits 2);
* every job that ran has a start time, however short it ran.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient

from suanli.api.app import create_app
from suanli.api.services import Services, seed
from suanli.clock import SystemClock
from suanli.config import load_scenario
from suanli.control.service import LiveControl
from suanli.control.telemetry import Telemetry
from suanli.sites.base import Listing, SiteJob, SiteJobState
from suanli.sites.dryrun import DryRunSettings, DryRunSite
from suanli.store.db import Database
from tests.control.helpers import FAST, FIXTURES, wait_for

SCENARIO = FIXTURES / "serve-two-sites.yaml"
ADMIN = "admin-token-for-the-first-look-0123456789"
#: A job of the flat form, short.
JOB = {"profile": "dl-training", "hours_on_reference": 0.001, "command": "true"}


def _at(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def _ran_in_order(job: dict[str, Any]) -> bool:
    """Submitted, then started, then ended."""
    return _at(job["submitted_at"]) <= _at(job["started_at"]) <= _at(job["ended_at"])


def suanli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the ``suanli`` command in ``cwd`` as a user would (no admin token unless
    ``env`` gives one)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("SUANLI_")}
    return subprocess.run(
        [sys.executable, "-m", "suanli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**base, "COLUMNS": "400", **(env or {})},
        timeout=120,
    )


# -- 1. everything checked before a file is created -------------------------------------------
BAD_SITES = "sites:\n  east: {backend: slurm, slurm_conf: /x}\n  mars: {backend: slurm}\n"


@pytest.mark.parametrize(
    ("args", "token", "words"),
    [
        ([], None, ["SUANLI_ADMIN_TOKEN: no admin token: the database has none yet"]),
        (
            ["--policy", "nope", "--placement", "nowhere", "--db", "no/such/dir/s.db"],
            "short",
            [
                "4 problems found",
                "--policy: unknown policy 'nope'; valid policies: backfill",
                "--placement: unknown placement rule 'nowhere'",
                "--db: no directory",
                "no/such/dir",
                "SUANLI_ADMIN_TOKEN: admin token too weak: shorter than 32 characters",
            ],
        ),
        (
            ["--sites", "sites.yaml", "--db", "mysql://u@h/db"],
            ADMIN,
            [
                "sites.yaml: sites.west: missing",
                "sites.mars",
                "--db: unsupported database 'mysql'",
            ],
        ),
        (["--scenario", "missing.yaml"], None, ["missing.yaml", "no admin token"]),
    ],
)
def test_bad_input_exits_2_naming_it_and_creates_no_file(
    tmp_path: Path, args: list[str], token: str | None, words: list[str]
) -> None:
    (tmp_path / "sites.yaml").write_text(BAD_SITES)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    backend = [] if "--sites" in args else ["--dry-run"]
    scenario = [] if "--scenario" in args else ["--scenario", str(SCENARIO)]
    r = suanli(
        "serve",
        *scenario,
        *backend,
        *args,
        cwd=tmp_path,
        env={"SUANLI_ADMIN_TOKEN": token} if token else None,
    )
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    for w in words:
        assert w in r.stderr, r.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # no suanli.db, -wal, -shm


# -- 2–6. a live server --------------------------------------------------------------------------
@dataclass
class Served:
    """A running ``suanli serve --dry-run`` with tokens of its tenants."""

    url: str
    port: int
    log: Path
    tmp: Path
    tokens: dict[str, str]

    def api(self, method: str, path: str, who: str = "admin", **kw: Any) -> httpx.Response:
        token = ADMIN if who == "admin" else self.tokens[who]
        return httpx.request(
            method, self.url + path, headers={"Authorization": f"Bearer {token}"}, **kw
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The two-site fixture, tenant ``uni`` held to 4 devices, every job 'running'
    0.05 s; the policy left to its default."""
    tmp = tmp_path_factory.mktemp("first-look")
    text = SCENARIO.read_text().replace(
        "  - {id: uni, name: University, home: east}",
        "  - {id: uni, name: University, home: east, quotas: [{max_devices: 4}]}",
    )
    assert "max_devices" in text
    (tmp / "scenario.yaml").write_text(text)
    port = _free_port()
    log = tmp / "serve.log"
    argv = [
        sys.executable, "-m", "suanli", "serve",
        "--scenario", str(tmp / "scenario.yaml"), "--db", str(tmp / "suanli.db"),
        "--dry-run", "--dry-run-seconds", "0.05", "--port", str(port), "--poll-seconds", "0.2",
    ]  # fmt: skip
    env = {**os.environ, "SUANLI_ADMIN_TOKEN": ADMIN}
    env.pop("SUANLI_POLICY", None)
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            assert proc.poll() is None, log.read_text()
            try:
                return httpx.get(url + "/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, 60, "suanli serve to answer")
        served = Served(url, port, log, tmp, {})
        for tenant in ("lab", "uni"):
            r = served.api("POST", f"/v1/tenants/{tenant}/tokens", json={})
            assert r.status_code == 201, r.text
            served.tokens[tenant] = r.json()["token"]
        yield served
    finally:
        proc.terminate()
        proc.wait(30)


def test_it_says_where_the_dashboard_and_the_api_are(served: Served) -> None:
    text = served.log.read_text()
    base = f"http://127.0.0.1:{served.port}"
    assert f"dashboard: {base}/ " in text
    assert f"API: {base}/v1/ (OpenAPI at {base}/docs)" in text
    assert httpx.get(base + "/docs").status_code == 200


def _run_jobs(served: Served, n: int) -> list[dict[str, Any]]:
    """Submit ``n`` short jobs of lab (gangs 1 to 8) and wait until every one is done."""
    ids = []
    for i in range(n):
        r = served.api("POST", "/v1/jobs", "lab", json={**JOB, "gang": 1 << (i % 4)})
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])

    def jobs() -> list[dict[str, Any]]:
        got = served.api("GET", "/v1/jobs", "lab", params={"limit": 1000}).json()["jobs"]
        return [j for j in got if j["id"] in ids]

    wait_for(lambda: all(j["state"] == "done" for j in jobs()), 90, "every job done")
    return jobs()


def test_default_policy_is_suanlis_own_and_every_start_has_a_reason(served: Served) -> None:
    done = _run_jobs(served, 12)
    why = served.api("GET", f"/v1/jobs/{done[0]['id']}/why", "lab").json()
    assert why["policy"] == "suanli"
    for job in done:
        decisions = served.api("GET", "/v1/decisions", "lab", params={"job_id": job["id"]}).json()
        starts = [d for d in decisions if d["action"] == "start"]
        assert starts and all(d["policy"] == "suanli" for d in decisions)
        detail = starts[0]["detail"]
        assert detail.startswith(f"started on {job['site']}/nvidia_h100_sxm5 ("), detail
        assert "worth" in detail.split(": ", 1)[1], detail  # the suanli policy's own words


def test_every_job_that_ran_has_a_start_time(served: Served) -> None:
    """Jobs of 0.05 s, listed every 0.2 s: most end before a listing sees them run."""
    done = _run_jobs(served, 30)
    for job in done:
        assert job["started_at"] is not None and _ran_in_order(job), job
    doc = served.api("GET", "/v1/dashboard", params={"jobs": 1000}).json()
    counted = len(doc["policies"][0]["jct_cdf"]["jct_h"])
    finished = served.api("GET", "/v1/jobs", params={"state": "done", "limit": 1000}).json()
    assert counted == len(finished["jobs"])  # every finished job counts in JCT (and wait)


@pytest.mark.parametrize(
    ("who", "fields", "field", "words"),
    [
        ("uni", {"gang": 8}, "body.gang", "more than tenant uni may ever hold"),
        ("lab", {"gang": 64}, "body.gang", "more than any pool it can run on holds"),
        ("lab", {"accepted_types": ["B200"]}, "body.accepted_types", "no site of this fleet has"),
    ],
)
def test_an_impossible_job_is_refused_at_submission(
    served: Served, who: str, fields: dict[str, Any], field: str, words: str
) -> None:
    r = served.api("POST", "/v1/jobs", who, json={**JOB, **fields})
    assert r.status_code == 422, r.text
    got = r.json()
    assert got["field"] == field and words in got["error"] and got["hint"], got


def test_jobs_submit_exits_2_on_an_impossible_job(served: Served) -> None:
    path = served.tmp / "too-big.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "profile": "dl-training",
                "resources": {"accelerators": "H100:8"},
                "work": {"hours": 0.01},
                "run": "true",
            }
        )
    )
    line = 1 + path.read_text().splitlines().index("  accelerators: H100:8")
    env = {"SUANLI_URL": served.url, "SUANLI_TOKEN": served.tokens["uni"]}
    r = suanli("jobs", "submit", str(path), cwd=served.tmp, env=env)
    assert r.returncode == 2, r.stdout + r.stderr
    where = f"{path}:{line}: resources.accelerators"
    assert f"{where}: a gang of 8 devices is more than tenant uni" in r.stderr, r.stderr
    assert "ask for at most 4 devices" in r.stderr
    four = served.api("POST", "/v1/jobs", "uni", json={**JOB, "gang": 4})
    assert four.status_code == 201, four.text  # within the quota: taken
    listed = served.api("GET", "/v1/jobs", "uni").json()["jobs"]
    assert [j["gang"] for j in listed] == [4]  # the refused ones were never stored


# -- 6. a site that reports no start times -------------------------------------------------------
class NoStartTimes(DryRunSite):
    """A dry-run site whose listings carry no start times (as a backend may not) and
    never catch a job running: pending, then ended."""

    def list_jobs(self) -> Listing:
        got = super().list_jobs()
        return replace(got, jobs=tuple(_unseen(j) for j in got.jobs))


def _unseen(job: SiteJob) -> SiteJob:
    """``job`` without its start time, pending while it runs."""
    if job.state is SiteJobState.RUNNING:
        job = replace(job, state=SiteJobState.PENDING, native_state="PENDING")
    return replace(job, start_time=None)


def test_a_job_never_seen_running_gets_its_dispatch_as_start(tmp_path: Path) -> None:
    """Without the site's start, a job that went from dispatched to done starts when it
    was dispatched: the earliest it can have (docs/serve.md)."""
    sc = load_scenario(str(SCENARIO))
    db = Database(str(tmp_path / "s.db"))
    seed(db, sc, ADMIN)
    clock = SystemClock()
    sites = {s.id: NoStartTimes(s.id, DryRunSettings(run_seconds=0.05), clock) for s in sc.sites}
    ctl = LiveControl(db, sc, dict(sites), settings=replace(FAST, poll_s=0.5), clock=clock)
    svc = Services(db, sc, ctl, Telemetry())
    admin = {"Authorization": f"Bearer {ADMIN}"}
    with TestClient(create_app(svc)) as client:
        token = client.post("/v1/tenants/lab/tokens", json={}, headers=admin).json()["token"]
        lab = {"Authorization": f"Bearer {token}"}
        ids = [client.post("/v1/jobs", json=JOB, headers=lab).json()["id"] for _ in range(6)]

        def jobs() -> list[dict[str, Any]]:
            return [client.get(f"/v1/jobs/{i}", headers=lab).json() for i in ids]

        wait_for(lambda: all(j["state"] == "done" for j in jobs()), 60, "every job done")
        for job in jobs():
            assert job["started_at"] is not None and _ran_in_order(job), job
            events = client.get(f"/v1/jobs/{job['id']}/events", headers=lab).json()
            assert "running" not in [e["state"] for e in events]  # never seen running
    db.dispose()
