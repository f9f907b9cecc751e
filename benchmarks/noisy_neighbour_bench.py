"""Noisy-neighbour benchmark of ``suanli serve``: does one tenant at its limits slow another?

Two runs, each on a fresh ``suanli serve --dry-run`` process (uvicorn; in-memory sites;
a fresh SQLite file), over loopback only (127.0.0.1):

* quiet: tenant ``uni`` submits one job every ``1/--quiet-rate`` s for ``--seconds`` s,
  alone;
* noisy: the same, while tenant ``lab`` floods — ``--flood-clients`` threads submitting
  back to back (answered 201 until its submission rate or queued-jobs limit is reached,
  429 after) and ``--dashboard-clients`` threads polling its dashboard document at the caps
  (``hours=168&jobs=20000``) back to back.

``lab`` keeps the server's default limits unless ``--noisy-rate`` / ``--noisy-max-queued``
set its own (``PATCH /v1/tenants/lab``). The load is bounded: ``--seconds`` per run and at
most ``--max-requests`` flood requests. Reported: the quiet tenant's submission latency
(p50, p99, max) in both runs and the ratio of the p99s; the flood's answers by status.

    .venv/bin/python benchmarks/noisy_neighbour_bench.py [--seconds 15] [--json out.json]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_bench import ADMIN, JOB, free_port, start_server

HOST = "127.0.0.1"


class Conn:
    """A keep-alive HTTP/1.1 connection (the standard library's: light on the client)."""

    def __init__(self, port: int, token: str) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=60)
        self.auth = {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        """One request; status and body."""
        h = dict(self.auth)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        self.conn.request(method, path, body=data, headers=h)
        r = self.conn.getresponse()
        return r.status, r.read()

    def close(self) -> None:
        self.conn.close()


def pct(xs: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of sorted ``xs``, in ms."""
    return 1000.0 * xs[min(len(xs) - 1, int(len(xs) * q))]


def one_run(args: argparse.Namespace, noisy: bool, tmp: Path) -> dict[str, Any]:
    """One run on a fresh server; the quiet tenant's latencies and the flood's answers."""
    port = free_port()
    db = str(tmp / f"noisy-{port}.db")
    proc = start_server(db, port, tmp / f"serve-{port}.log", "suanli")
    url = f"http://{HOST}:{port}"
    try:
        admin = {"Authorization": f"Bearer {ADMIN}"}
        tokens = {
            t: httpx.post(f"{url}/v1/tenants/{t}/tokens", json={}, headers=admin).json()["token"]
            for t in ("lab", "uni")
        }
        limits = {}
        if args.noisy_rate is not None:
            limits["submit_rate"] = args.noisy_rate
        if args.noisy_max_queued is not None:
            limits["max_queued"] = args.noisy_max_queued
        if limits:
            r = httpx.patch(f"{url}/v1/tenants/lab", json=limits, headers=admin)
            r.raise_for_status()
        warm = Conn(port, tokens["uni"])
        for _ in range(20):
            warm.call("POST", "/v1/jobs", JOB)
        warm.close()

        stop = threading.Event()
        lock = threading.Lock()
        flood: Counter[str] = Counter()
        dash_ms: list[float] = []
        budget = [args.max_requests]

        def flooder() -> None:
            c = Conn(port, tokens["lab"])
            try:
                while not stop.is_set():
                    with lock:
                        if budget[0] <= 0:
                            return
                        budget[0] -= 1
                    status, _ = c.call("POST", "/v1/jobs", JOB)
                    with lock:
                        flood[f"submit {status}"] += 1
            finally:
                c.close()

        def dasher() -> None:
            c = Conn(port, tokens["lab"])
            try:
                while not stop.is_set():
                    t0 = time.perf_counter()
                    status, _ = c.call("GET", "/v1/dashboard?hours=168&jobs=20000")
                    with lock:
                        flood[f"dashboard {status}"] += 1
                        dash_ms.append(1000.0 * (time.perf_counter() - t0))
            finally:
                c.close()

        threads = []
        if noisy:
            threads += [threading.Thread(target=flooder) for _ in range(args.flood_clients)]
            threads += [threading.Thread(target=dasher) for _ in range(args.dashboard_clients)]
        for t in threads:
            t.start()
        if noisy:
            time.sleep(args.ramp_s)  # let the flood spend its burst and reach its limits
        quiet = Conn(port, tokens["uni"])
        lat: list[float] = []
        quiet_codes: Counter[int] = Counter()
        period = 1.0 / args.quiet_rate
        t_end = time.monotonic() + args.seconds
        nxt = time.monotonic()
        while time.monotonic() < t_end:
            nxt += period
            t0 = time.perf_counter()
            status, _ = quiet.call("POST", "/v1/jobs", JOB)
            lat.append(time.perf_counter() - t0)
            quiet_codes[status] += 1
            time.sleep(max(0.0, nxt - time.monotonic()))
        quiet.close()
        stop.set()
        for t in threads:
            t.join(120)
        queued = httpx.get(f"{url}/v1/jobs?state=queued&tenant=lab&limit=1000", headers=admin)
        lab_queued = len(queued.json()["jobs"])
    finally:
        proc.terminate()
        proc.wait(30)
    lat.sort()
    dash_ms.sort()
    return {
        "quiet_submissions": len(lat),
        "quiet_statuses": dict(quiet_codes),
        "p50_ms": pct(lat, 0.5),
        "p99_ms": pct(lat, 0.99),
        "max_ms": 1000.0 * lat[-1],
        "flood": dict(flood),
        "dashboard_p50_ms": dash_ms[len(dash_ms) // 2] if dash_ms else None,
        "lab_queued_at_end_max1000": lab_queued,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=15.0, help="measured seconds per run")
    ap.add_argument("--ramp-s", type=float, default=5.0, help="flood seconds before measuring")
    ap.add_argument("--quiet-rate", type=float, default=5.0, help="quiet submissions per s")
    ap.add_argument("--flood-clients", type=int, default=4)
    ap.add_argument("--dashboard-clients", type=int, default=1)
    ap.add_argument("--max-requests", type=int, default=100_000, help="cap on flood submits")
    ap.add_argument("--noisy-rate", type=float, default=None, help="lab's submit_rate (jobs/s)")
    ap.add_argument("--noisy-max-queued", type=int, default=None, help="lab's max_queued")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="suanli-noisy-") as d:
        tmp = Path(d)
        quiet = one_run(args, noisy=False, tmp=tmp)
        noisy = one_run(args, noisy=True, tmp=tmp)
    out = {
        "settings": {k: v for k, v in vars(args).items() if k != "json"},
        "cpus": os.cpu_count(),
        "quiet": quiet,
        "noisy": noisy,
        "p99_ratio": noisy["p99_ms"] / quiet["p99_ms"],
    }
    print(
        f"quiet tenant submission latency: alone p50 {quiet['p50_ms']:.1f} ms "
        f"p99 {quiet['p99_ms']:.1f} ms; beside the flood p50 {noisy['p50_ms']:.1f} ms "
        f"p99 {noisy['p99_ms']:.1f} ms (max {noisy['max_ms']:.1f}); "
        f"p99 ratio {out['p99_ratio']:.2f}"
    )
    print(f"flood answers: {noisy['flood']}; dashboard p50 {noisy['dashboard_p50_ms']} ms")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
