"""A database outage is answered 503 with ``Retry-After``, never 500 or a dropped connection.

* PostgreSQL stopped and restarted mid-load: a real ``suanli serve --dry-run`` process on a
  real local PostgreSQL; client threads submit jobs, each with its own ``Idempotency-Key``,
  over keep-alive connections, retrying on 503. While the server is stopped every answer
  is 503 with ``Retry-After`` and a JSON error naming the cause, ``/ready`` is 503 and
  ``/health`` 200; no connection is closed by the server. Afterwards every job
  acknowledged (201, or 200 for a repeated key) is in the database exactly once, with the
  id it was acknowledged with, and the control loop has carried on.
* SQLite locked by another connection (``BEGIN EXCLUSIVE``): a submission and ``/ready``
  answer 503 within a few seconds (the busy timeout), and 201 again once it is released.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from devtools.pg_local import LocalPostgres
from devtools.pg_local import unavailable_reason as pg_unavailable_reason
from sqlalchemy import func, select

from suanli.store.db import SQLITE_BUSY_MS, Database
from suanli.store.schema import jobs
from tests.api.conftest import Api
from tests.control.helpers import FIXTURES
from tests.fixtures_infra import infra_missing

ADMIN = "outage-test-admin-token-0123456789"
JOB = {"profile": "dl-training", "hours_on_reference": 0.01, "command": "sleep 1"}
N_JOBS = 120
CLIENTS = 4
PAUSE_AFTER = 30  # acknowledged jobs before the outage
OUTAGE_S = 6.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Tally:
    """What the clients saw."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.acked: dict[str, int] = {}  # idempotency key → job id
        self.statuses: Counter[int] = Counter()
        self.dropped: list[str] = []
        self.bad_503: list[str] = []
        self.outage_503 = 0


def _client(port: int, tenant: str, token: str, keys: list[str], tally: Tally) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        for key in keys:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                headers = {
                    "Authorization": f"Bearer {token}",
                    "Content-Type": "application/json",
                    "Idempotency-Key": key,
                }
                try:
                    conn.request("POST", "/v1/jobs", body=json.dumps(JOB), headers=headers)
                    r = conn.getresponse()
                    body = r.read()
                except (OSError, http.client.HTTPException) as exc:
                    with tally.lock:
                        tally.dropped.append(f"{tenant}/{key}: {type(exc).__name__}: {exc}")
                    conn.close()
                    time.sleep(0.2)
                    continue
                with tally.lock:
                    tally.statuses[r.status] += 1
                    if r.will_close:
                        tally.dropped.append(f"{tenant}/{key}: server closed after {r.status}")
                if r.status in (200, 201):
                    with tally.lock:
                        tally.acked[key] = int(json.loads(body)["id"])
                    break
                if r.status == 503:
                    doc = json.loads(body)
                    with tally.lock:
                        tally.outage_503 += 1
                        if not r.getheader("Retry-After") or "database" not in doc["error"]:
                            tally.bad_503.append(f"{r.getheaders()} {body!r}")
                    time.sleep(0.2)  # shorter than Retry-After: keeps the test quick
                    continue
                raise AssertionError(f"{tenant}/{key}: {r.status} {body!r}")
            else:
                raise AssertionError(f"{tenant}/{key}: not accepted within 60 s")
    finally:
        conn.close()


def _start_server(db_url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    argv = [
        *(sys.executable, "-m", "suanli", "serve", "--dry-run"),
        *("--scenario", str(FIXTURES / "serve-two-sites.yaml")),
        *("--db", db_url, "--port", str(port), "--log-level", "warning"),
    ]
    proc = subprocess.Popen(
        argv,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "SUANLI_ADMIN_TOKEN": ADMIN},
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(log.read_text())
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("suanli serve did not become ready: " + log.read_text())


def test_postgres_outage_mid_load(tmp_path: Path) -> None:
    reason = pg_unavailable_reason()
    if reason is not None:
        infra_missing(reason)
    with LocalPostgres() as pg:
        port = _free_port()
        log = tmp_path / "serve.log"
        proc = _start_server(pg.url, port, log)
        url = f"http://127.0.0.1:{port}"
        try:
            admin = {"Authorization": f"Bearer {ADMIN}"}
            tokens = {
                t: httpx.post(f"{url}/v1/tenants/{t}/tokens", json={}, headers=admin).json()[
                    "token"
                ]
                for t in ("lab", "uni")
            }
            tally = Tally()
            threads = []
            for i in range(CLIENTS):
                tenant = ("lab", "uni")[i % 2]
                keys = [f"c{i}-{k}" for k in range(N_JOBS // CLIENTS)]
                threads.append(
                    threading.Thread(
                        target=_client, args=(port, tenant, tokens[tenant], keys, tally)
                    )
                )
            for t in threads:
                t.start()
            deadline = time.monotonic() + 60
            while len(tally.acked) < PAUSE_AFTER and time.monotonic() < deadline:
                time.sleep(0.01)
            pg.pause()
            down: dict[str, Any] = {}
            with httpx.Client(base_url=url, timeout=10) as c:
                time.sleep(1.0)
                t0 = time.monotonic()
                ready = c.get("/ready")
                down["ready_s"] = time.monotonic() - t0
                down["ready"] = (ready.status_code, ready.headers.get("Retry-After"), ready.json())
                down["health"] = c.get("/health").status_code
                time.sleep(max(0.0, OUTAGE_S - 1.0 - down["ready_s"]))
            acked_during = len(tally.acked)
            pg.resume()
            for t in threads:
                t.join(120)
            assert not any(t.is_alive() for t in threads)
            with httpx.Client(base_url=url, timeout=10) as c:
                ready_after = c.get("/ready").status_code
                health_after = c.get("/health").json()
                # the loop picks up: jobs accepted after the outage leave the queue
                last = max(tally.acked.values())
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    got = c.get(f"/v1/jobs/{last}", headers=admin).json()
                    if got["state"] != "queued":
                        break
                    time.sleep(0.2)
                assert got["state"] != "queued", got
        finally:
            proc.terminate()
            proc.wait(30)
        server_log = log.read_text()
        print(f"outage: answers {dict(tally.statuses)}, ready while down {down}")
        print("\n".join(line for line in server_log.splitlines() if "database" in line))

        assert down["ready"][0] == 503 and down["ready"][1], down
        assert "database" in down["ready"][2]["error"], down
        assert down["ready_s"] < 8.0, down
        assert down["health"] == 200
        assert ready_after == 200
        assert health_after["loop"] == "ok", health_after
        assert tally.outage_503 > 0, tally.statuses  # the outage was seen
        assert tally.dropped == [], tally.dropped
        assert tally.bad_503 == [], tally.bad_503[:3]
        assert set(tally.statuses) <= {200, 201, 503}, tally.statuses
        assert acked_during >= PAUSE_AFTER
        assert len(tally.acked) == N_JOBS
        assert "Traceback" not in server_log, server_log[-3000:]
        assert "answering 503: database unavailable" in server_log

        db = Database(pg.url)
        try:
            with db.read() as conn:
                rows = conn.execute(select(jobs.c.client_key, jobs.c.id)).all()
                per_key = dict(
                    conn.execute(
                        select(jobs.c.client_key, func.count()).group_by(jobs.c.client_key)
                    ).all()
                )
        finally:
            db.dispose()
        assert len(rows) == N_JOBS
        assert all(n == 1 for n in per_key.values())
        assert {str(k): int(i) for k, i in rows} == tally.acked


def test_locked_sqlite_answers_503_quickly(sqlite_api: Api) -> None:
    c, svc = sqlite_api.client, sqlite_api.services
    path = svc.db.url.removeprefix("sqlite:///")
    assert c.post("/v1/jobs", json=JOB, headers=sqlite_api.lab).status_code == 201
    holder = sqlite3.connect(path, isolation_level=None, timeout=0.1)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        t0 = time.monotonic()
        r = c.post("/v1/jobs", json=JOB, headers=sqlite_api.lab)
        took = time.monotonic() - t0
        assert r.status_code == 503, r.text
        assert r.headers["Retry-After"].isdigit()
        assert "locked" in r.json()["error"]
        assert took < SQLITE_BUSY_MS / 1000.0 + 3.0, took
        ready = c.get("/ready")
        assert ready.status_code == 503 and "locked" in ready.json()["error"]
        assert ready.headers["Retry-After"]
        assert c.get("/health").status_code == 200
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert c.get("/ready").status_code == 200
    assert c.post("/v1/jobs", json=JOB, headers=sqlite_api.lab).status_code == 201
    assert svc.control.alive


@pytest.fixture
def sqlite_api(tmp_path: Path) -> Any:
    from suanli.control.service import LoopSettings
    from tests.api.conftest import running_api

    yield from running_api(str(tmp_path / "locked.db"), 1.5, LoopSettings(poll_s=0.1))
