"""Benchmark of ``suanli serve``: submissions over loopback HTTP, and one scheduling round.

For each database (SQLite file; PostgreSQL when the Debian package is installed) it starts
a real ``suanli serve --dry-run`` process (uvicorn; in-memory sites, so the control loop
dispatches and completes jobs while the API is loaded), then from ``--clients`` threads:

* baseline: ``--requests`` ``GET /health`` (one trivial database query per request);
* ``--requests`` ``POST /v1/jobs`` (validation, one write transaction, hand-over to the loop).

It reports throughput and p50/p99 latency, and the ratio of each to the baseline measured in
the same run. Then it times the live loop's scheduling round (snapshot, policy, bookkeeping
and the database write of intents and reasons) with ``--queued`` jobs waiting, in process.

    .venv/bin/python benchmarks/serve_bench.py [--requests 1000] [--clients 8] [--json out.json]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
SCENARIO = REPO / "tests" / "fixtures" / "serve-two-sites.yaml"
ADMIN = "benchmark-admin-token-0123456789"
JOB = {"profile": "dl-training", "hours_on_reference": 0.01, "command": "sleep 1"}


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(db: str, port: int, log: Path, policy: str) -> subprocess.Popen[bytes]:
    """``suanli serve --dry-run --policy POLICY`` on ``port``; returns when /ready answers."""
    argv = [
        sys.executable,
        "-m",
        "suanli",
        "serve",
        "--dry-run",
        "--scenario",
        str(SCENARIO),
        "--db",
        db,
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--policy",
        policy,
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
            raise RuntimeError(log.read_text())
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("server did not start: " + log.read_text())


class Client:
    """A keep-alive HTTP/1.1 connection (the standard library's: light on the client's CPU)."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        """One request; returns status and body."""
        h = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        self.conn.request(method, path, body=data, headers=h)
        r = self.conn.getresponse()
        return r.status, r.read()

    def close(self) -> None:
        self.conn.close()


def load(
    n: int, clients: int, port: int, call: Callable[[Client], tuple[int, bytes]], ok: set[int]
) -> dict[str, float]:
    """``n`` calls from ``clients`` threads (keep-alive); throughput and latency percentiles."""
    lat: list[float] = []
    lock = threading.Lock()
    counter = iter(range(n))

    def worker() -> None:
        client = Client(port)
        try:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                t0 = time.perf_counter()
                status, body = call(client)
                dt = time.perf_counter() - t0
                if status not in ok:
                    raise RuntimeError(f"{status}: {body!r}")
                with lock:
                    lat.append(dt)
        finally:
            client.close()

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for f in [pool.submit(worker) for _ in range(clients)]:
            f.result()
    wall = time.perf_counter() - t0
    lat.sort()
    return {
        "requests": len(lat),
        "per_s": len(lat) / wall,
        "p50_ms": 1000 * lat[len(lat) // 2],
        "p99_ms": 1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))],
        "max_ms": 1000 * lat[-1],
    }


def http_bench(db: str, requests: int, clients: int, tmp: Path, policy: str) -> dict[str, Any]:
    """Baseline and submissions against one database."""
    port = free_port()
    proc = start_server(db, port, tmp / f"serve-{port}.log", policy)
    url = f"http://127.0.0.1:{port}"
    try:
        admin = {"Authorization": f"Bearer {ADMIN}"}
        tok = httpx.post(f"{url}/v1/tenants/lab/tokens", json={}, headers=admin).json()["token"]
        lab = {"Authorization": f"Bearer {tok}"}
        # measure the server, not the per-tenant limits (docs/serve.md): lift them for lab
        lift = {"submit_rate": 1e6, "max_queued": 10_000_000}
        httpx.patch(f"{url}/v1/tenants/lab", json=lift, headers=admin).raise_for_status()
        load(50, clients, port, lambda c: c.call("GET", "/health"), {200})  # warm up
        load(50, clients, port, lambda c: c.call("POST", "/v1/jobs", JOB, lab), {201})
        base = load(requests, clients, port, lambda c: c.call("GET", "/health"), {200})
        sub = load(requests, clients, port, lambda c: c.call("POST", "/v1/jobs", JOB, lab), {201})
    finally:
        proc.terminate()
        proc.wait(30)
    return {
        "baseline_health": base,
        "submit": sub,
        "submit_vs_baseline": {
            "throughput": sub["per_s"] / base["per_s"],
            "p50": sub["p50_ms"] / base["p50_ms"],
            "p99": sub["p99_ms"] / base["p99_ms"],
        },
    }


def round_bench(
    db_url: str, queued: int, rounds: int, scenario: str, policy: str
) -> dict[str, Any]:
    """Scheduling rounds of the live loop with at least ``queued`` jobs waiting.

    Jobs come from the scenario's own workload generator (a realistic mix of profiles,
    gangs, tenants, data sets and accepted types), submitted at once until ``queued`` wait
    after the first round. Then ``rounds`` times: a full round (the policy's tick: every
    job is looked at) and a round after one running job ended (capacity freed).
    """
    from suanli.clock import SystemClock
    from suanli.config import load_scenario
    from suanli.control.jobspec import job_from_spec
    from suanli.control.service import LiveControl
    from suanli.experiment.run import scenario_workload
    from suanli.sites.config import dry_run_sites
    from suanli.store.db import Database
    from suanli.store.jobs import JobStore
    from suanli.store.tenants import TenantStore

    sc, generated = scenario_workload(load_scenario(scenario), 1)
    db = Database(db_url)
    TenantStore(db).ensure(((t.id, t.name, t.weight, t.priority) for t in sc.tenants), "scenario")
    ctl = LiveControl(db, sc, dry_run_sites(sc).build(SystemClock()), policy=policy)
    for i, st in enumerate(ctl.sites.values()):
        st.reachable = True
        ctl.state.set_site_up(i, True)
    js = JobStore(db)
    first = 0.0
    for start in range(0, len(generated), 500):
        for job in generated[start : start + 500]:
            spec = {
                "kind": job.kind.value,
                "profile": job.profile,
                "gang": job.gang,
                "work_pflop": job.work_pflop,
                "accepted_types": list(job.accepted_types),
                "accepted_stacks": list(job.accepted_stacks),
                "dataset": job.dataset,
                "preemptible": job.preemptible,
                "priority": job.priority,
            }
            job_from_spec(spec, 0, job.tenant, 0.0, 0.0)  # the spec is valid
            rec, _ = js.submit(job.tenant, spec, "sleep 1")
            ctl.book.admit(rec)
        ctl._flush()
        first = ctl.round_now()  # the new jobs: start what fits, reasons for the rest
        if len(ctl.state.waiting) >= queued:
            break
    full, freed = [], []
    for _ in range(rounds):
        full.append(ctl.round_now())
        j = next(iter(ctl.state.running))
        ctl.state.end(j, ctl.book.now_s(), "ended for the benchmark")
        freed.append(ctl.round_now(full=False))
    out = {
        "scenario": sc.name,
        "policy": policy,
        "devices": sum(p.count for p in sc.pools),
        "queued": len(ctl.state.waiting),
        "placed": len(ctl.state.running),
        "signatures": len(ctl.state.jobs.sig_candidates),
        "last_arrival_round_ms": 1000 * first,
        "full_round_p50_ms": 1000 * statistics.median(full),
        "full_round_max_ms": 1000 * max(full),
        "freed_round_p50_ms": 1000 * statistics.median(freed),
        "freed_round_max_ms": 1000 * max(freed),
    }
    db.dispose()
    return out


def main() -> int:
    """Run the benchmark; print a summary (and write JSON with --json)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--clients", default="4,8", help="client threads (comma-separated runs)")
    ap.add_argument("--queued", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--scenario", default="cn-hubs-2026-batch", help="fleet of the round benchmark")
    ap.add_argument(
        "--policy", default="backfill", help="the server's policy (the figures': backfill)"
    )
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # devtools/
    from devtools.pg_local import LocalPostgres, unavailable_reason

    clients = [int(c) for c in args.clients.split(",")]
    results: dict[str, Any] = {"machine": f"{os.cpu_count()} cores"}
    with tempfile.TemporaryDirectory(prefix="suanli-bench-") as d:
        tmp = Path(d)
        dbs: dict[str, Callable[[str], str]] = {"sqlite": lambda n: f"sqlite:///{tmp / n}.db"}
        pg: LocalPostgres | None = None
        if not args.no_postgres and unavailable_reason() is None:
            pg = LocalPostgres()
            pg.start()
            dbs["postgresql"] = pg.create_database
        try:
            for name, fresh in dbs.items():
                print(f"[{name}] {args.requests} submissions, clients {clients} …", flush=True)
                results[name] = {
                    f"{c}_clients": http_bench(
                        fresh(f"bench{c}"), args.requests, c, tmp, args.policy
                    )
                    for c in clients
                }
                results[name]["round"] = round_bench(
                    fresh("rounds"), args.queued, args.rounds, args.scenario, args.policy
                )
        finally:
            if pg is not None:
                pg.stop()
    for name in dbs:
        for c in clients:
            r = results[name][f"{c}_clients"]
            b, s = r["baseline_health"], r["submit"]
            print(
                f"{name:10s} {c} clients: GET /health {b['per_s']:5.0f}/s p50 {b['p50_ms']:5.1f} "
                f"ms p99 {b['p99_ms']:5.1f} ms | POST /v1/jobs {s['per_s']:5.0f}/s p50 "
                f"{s['p50_ms']:5.1f} ms p99 {s['p99_ms']:5.1f} ms "
                f"({r['submit_vs_baseline']['throughput']:.2f}x baseline throughput)"
            )
        q = results[name]["round"]
        print(
            f"{name:10s} round on {q['scenario']} ({q['devices']} devices), {q['queued']} queued, "
            f"{q['placed']} placed, {q['signatures']} signatures: with 500 arrivals "
            f"{q['last_arrival_round_ms']:.1f} ms, full p50 {q['full_round_p50_ms']:.1f} ms "
            f"(max {q['full_round_max_ms']:.1f}), after a job ends p50 "
            f"{q['freed_round_p50_ms']:.1f} ms (max {q['freed_round_max_ms']:.1f})"
        )
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
