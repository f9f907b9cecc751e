"""Exactly once across a crash: SIGKILL `suanli serve` mid-burst, restart it, count.

A real ``suanli serve`` process (uvicorn; on SQLite, then on PostgreSQL) dispatches to
two real local Slurm clusters. Eight client threads submit 200 jobs, each with its own
``Idempotency-Key``, retrying until accepted. When about a third are accepted the server
is killed with SIGKILL — while it is accepting jobs and dispatching them — and started
again on the same database. Then every job must be in the database once, done, and in
Slurm exactly once (counted by the tag in the Slurm job's comment), and the API must
answer the same state. The same runs against two real local Ray clusters (60 jobs, the
tag in each Ray job's submission id and metadata).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import yaml

from suanli.clock import SystemClock
from suanli.sites.base import SiteJob, parse_tag
from suanli.sites.ray import RaySettings, RaySite
from suanli.sites.slurm.backend import parse_squeue
from suanli.store.db import Database
from suanli.store.ledger import Ledger
from suanli.store.schema import dispatches, jobs
from tests.control.helpers import FIXTURES
from tests.control.test_live_slurm import sites_file
from tests.fixtures_infra import ClusterSpec, RayClusterFactory, RaySpec, SlurmClusterFactory
from tests.store.helpers import fresh_database

N_JOBS = 200
KILL_AFTER = 70
ADMIN = "crash-test-admin-token-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``suanli serve`` as a child process."""

    def __init__(self, tmp: Path, port: int, db_url: str) -> None:
        self.tmp, self.port, self.db_url = tmp, port, db_url
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = (self.tmp / f"serve-{self.starts}.log").open("wb")
        argv = [
            sys.executable,
            "-m",
            "suanli",
            "serve",
            "--scenario",
            str(FIXTURES / "serve-two-sites.yaml"),
            "--db",
            self.db_url,
            "--sites",
            str(self.tmp / "sites.yaml"),
            "--port",
            str(self.port),
            "--poll-seconds",
            "0.5",
            "--log-level",
            "warning",
        ]
        env = {**os.environ, "SUANLI_ADMIN_TOKEN": ADMIN}
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log_tail()
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("server did not start\n" + self.log_tail())

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def log_tail(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-3000:] for p in sorted(self.tmp.glob("serve-*.log"))
        )


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_sigkill_mid_burst_loses_nothing_and_runs_nothing_twice(
    slurm_clusters: SlurmClusterFactory,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    database: str,
) -> None:
    east_c, west_c = slurm_clusters(ClusterSpec("ska"), ClusterSpec("skb"))
    clusters = {"east": east_c, "west": west_c}
    (tmp_path / "sites.yaml").write_text(yaml.safe_dump(sites_file(clusters)))
    db_url = (
        str(tmp_path / "crash.db")
        if database == "sqlite"
        else fresh_database(request.getfixturevalue("postgres_url"))
    )

    def listings() -> dict[str, list[SiteJob]]:
        out = {}
        for site, cluster in clusters.items():
            listed, errors = parse_squeue(cluster.run("squeue", "--json", check=True).stdout)
            assert not errors
            out[site] = listed
        return out

    burst(tmp_path, db_url, listings, N_JOBS, KILL_AFTER, f"slurm, {database}")
    east_c.wait_ready(60)
    west_c.wait_ready(60)


def test_sigkill_mid_burst_on_ray_clusters(ray_clusters: RayClusterFactory, tmp_path: Path) -> None:
    """The same against two Ray clusters (fewer jobs: each Ray job starts processes)."""
    east_c, west_c = ray_clusters(RaySpec("ray-a"), RaySpec("ray-b"))
    clusters = {"east": east_c, "west": west_c}
    sites = {
        "device_types": {"nvidia_h100_sxm5": "h100"},
        "sites": {s: {"backend": "ray", "address": c.jobs_address} for s, c in clusters.items()},
    }
    (tmp_path / "sites.yaml").write_text(yaml.safe_dump(sites))

    def listings() -> dict[str, list[SiteJob]]:
        out = {}
        for site, c in clusters.items():
            listing = RaySite(site, RaySettings(address=c.jobs_address), SystemClock()).list_jobs()
            assert listing.ok, listing.error
            out[site] = list(listing.jobs)
        return out

    burst(tmp_path, str(tmp_path / "crash.db"), listings, 60, 20, "ray, sqlite")


def burst(
    tmp_path: Path,
    db_url: str,
    listings: Callable[[], dict[str, list[SiteJob]]],
    n_jobs: int,
    kill_after: int,
    label: str,
) -> None:
    """Submit ``n_jobs`` from 8 threads, SIGKILL the server after ``kill_after`` are
    accepted, restart it; check every job is done, once in the database and once at its
    site (by tag, across ``listings()``), and that the API agrees."""
    server = Server(tmp_path, _free_port(), db_url)
    server.start()
    try:
        admin = {"Authorization": f"Bearer {ADMIN}"}
        r = httpx.post(f"{server.url}/v1/tenants/lab/tokens", json={}, headers=admin)
        lab = {"Authorization": f"Bearer {r.json()['token']}"}
        accepted: dict[str, int] = {}
        first_answer: dict[str, dict[str, object]] = {}
        lock = threading.Lock()
        killed = threading.Event()

        def submit(k: int) -> None:
            key = f"crash-{k}"
            body = {"profile": "dl-training", "hours_on_reference": 0.01, "command": "sleep 1"}
            deadline = time.monotonic() + 120
            with httpx.Client(timeout=10) as client:
                while time.monotonic() < deadline:
                    try:
                        resp = client.post(
                            f"{server.url}/v1/jobs",
                            json=body,
                            headers={**lab, "Idempotency-Key": key},
                        )
                    except httpx.HTTPError:
                        time.sleep(0.2)  # the server is down: retry with the same key
                        continue
                    if resp.status_code in (200, 201):
                        with lock:
                            assert accepted.setdefault(key, resp.json()["id"]) == resp.json()["id"]
                            first_answer.setdefault(key, resp.json())
                        return
                    raise AssertionError(resp.text)
            raise AssertionError(f"{key} never accepted")

        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(submit, k) for k in range(n_jobs)]
            while len(accepted) < kill_after:
                time.sleep(0.01)
            server.kill()
            killed_at = time.time()
            killed.set()
            n_before = len(accepted)
            server.start()
            for f in futures:
                f.result()

        assert len(accepted) == n_jobs and len(set(accepted.values())) == n_jobs
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            page = httpx.get(f"{server.url}/v1/jobs?limit=1000", headers=lab).json()["jobs"]
            if len(page) == n_jobs and all(j["state"] == "done" for j in page):
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"not quiescent: {[j['state'] for j in page]}")
        api = {j["id"]: j for j in page}

        # the API gives the same job for every key, after the restart too
        for key, job_id in list(accepted.items())[:20]:
            again = httpx.post(
                f"{server.url}/v1/jobs",
                json={"profile": "dl-training", "work_pflop": 1, "command": "true"},
                headers={**lab, "Idempotency-Key": key},
            )
            assert again.status_code == 200 and again.json()["id"] == job_id
        for key, job_id in accepted.items():
            assert api[job_id]["command"] == first_answer[key]["command"]
            assert api[job_id]["submitted_at"] == first_answer[key]["submitted_at"]

        # every job is at its site exactly once, by its tag, and the API agrees with the site
        db = Database(db_url)
        at_site: dict[int, list[tuple[str, str, str]]] = {}
        for site, listed in listings().items():
            for info in listed:
                tag = parse_tag(info.tag, db.install_id)
                if tag is not None:
                    at_site.setdefault(tag[0], []).append(
                        (site, info.external_id, info.native_state)
                    )
        assert sorted(at_site) == sorted(accepted.values())
        twice = {j: v for j, v in at_site.items() if len(v) != 1}
        assert not twice, twice
        for job_id, [(site, external_id, state)] in at_site.items():
            assert state in ("COMPLETED", "SUCCEEDED")
            assert (api[job_id]["site"], api[job_id]["external_id"]) == (site, external_id)

        # the database: each job once, done; dispatch outcomes, and what the kill interrupted
        with db.read() as conn:
            rows = conn.execute(jobs.select()).all()
            outbox = conn.execute(dispatches.select()).all()
        assert len(rows) == n_jobs and {r.state for r in rows} == {"done"}
        assert {r.id: r.state for r in rows} == {i: api[i]["state"] for i in api}
        submitted = [d for d in outbox if d.state == "submitted"]
        assert sorted(d.job_id for d in submitted) == sorted(accepted.values())
        open_at_kill = [
            d
            for d in outbox
            if d.created_at < killed_at and (d.resolved_at is None or d.resolved_at > killed_at)
        ]
        found = [d for d in outbox if d.detail == "found by its tag"]
        lost = [d for d in outbox if d.state == "lost"]
        assert Ledger(db).active_jobs() == []
        summary = {
            "accepted_before_kill": n_before,
            "dispatched_before_kill": sum(d.created_at < killed_at for d in outbox),
            "intents_open_at_kill": len(open_at_kill),
            "adopted_by_tag": len(found),
            "requeued_never_reached_site": len(lost),
            "site_jobs": sum(len(v) for v in at_site.values()),
        }
        print(f"crash test ({label}):", json.dumps(summary))
        (tmp_path / "summary.json").write_text(json.dumps(summary))
        db.dispose()
    finally:
        server.stop()
