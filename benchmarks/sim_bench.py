"""Simulator benchmarks: wall time, events per second and peak memory.

Cases (each in a fresh subprocess, so peak memory is its own):

* the national default week without its services (``cn-hubs-2026-batch``, the batch
  workload of ``cn-hubs-2026``) for each policy;
* 10k, 100k and 1M synthetic jobs on a 100,000-accelerator, 8-site fleet (the
  default's pools scaled up, its job classes, a horizon long enough for N jobs)
  for ``fifo`` and ``backfill``.

Every figure is also given as a ratio to a baseline measured in the same run: a
bare ``heapq`` event loop pushing and popping the same number of events, i.e.
how many times the cost of the least a discrete-event simulator must do.

Run: ``python benchmarks/sim_bench.py`` (all cases; ``--quick`` skips 1M jobs).
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

FLEET_DEVICES = 100_000


def bench_scenario(n_jobs: int) -> Any:
    """The default scenario scaled to ~100,000 devices with a horizon for ``n_jobs`` jobs."""
    from suanli.config import parse_scenario
    from suanli.scenarios import builtin_dir, builtin_text

    data = yaml.safe_load(builtin_text("cn-hubs-2026-batch"))
    total = sum(p["count"] for s in data["sites"] for p in s["pools"])
    scale = FLEET_DEVICES / total
    for s in data["sites"]:
        for p in s["pools"]:
            p["count"] = max(8, round(p["count"] * scale / 8) * 8)
        s["power_capacity_mw"] = round(s["power_capacity_mw"] * scale, 3)
    per_day = sum(c["jobs_per_day"] for c in data["workload"]["generator"]["classes"])
    data["horizon"]["hours"] = max(24, math.ceil(n_jobs / per_day * 24))
    data["name"] = f"bench-{n_jobs}"
    return parse_scenario(yaml.safe_dump(data, sort_keys=False), "bench", builtin_dir())


def run_case(kind: str, policy: str, n_jobs: int) -> dict[str, Any]:
    """One case, in this process: build, generate, simulate; measure."""
    import numpy as np

    from suanli.config import load_scenario
    from suanli.policy.registry import make_policy
    from suanli.sim.engine import Simulator
    from suanli.workload.generator import generate_jobs

    t0 = time.perf_counter()
    sc = load_scenario("cn-hubs-2026-batch") if kind == "default" else bench_scenario(n_jobs)
    jobs = generate_jobs(sc, np.random.default_rng(2026))
    if kind != "default":
        jobs = jobs[:n_jobs]
    t1 = time.perf_counter()
    r = Simulator(sc, jobs, make_policy(policy)).run()
    t2 = time.perf_counter()
    rt = np.asarray(r.round_times) * 1e3
    return {
        "case": kind,
        "policy": policy,
        "jobs": len(jobs),
        "devices": sum(p.count for p in sc.pools),
        "hours": sc.hours,
        "events": r.events,
        "setup_s": t1 - t0,
        "sim_s": t2 - t1,
        "events_per_s": r.events / (t2 - t1),
        "round_ms_p95": float(np.percentile(rt, 95)),
        "finished": int(r.done.sum()),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def baseline(events: int) -> float:
    """Seconds for a bare heapq loop to push and pop ``events`` events."""
    t0 = time.perf_counter()
    heap: list[tuple[float, int, int]] = []
    for i in range(events):
        heapq.heappush(heap, (float((i * 7919) % events), 1, i))
    while heap:
        heapq.heappop(heap)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="skip the 1M-job cases")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    if args.case:
        kind, policy, n = args.case.split(":")
        print(json.dumps(run_case(kind, policy, int(n))))
        return
    cases = [("default", p, 0) for p in ("fifo", "backfill", "greedy-cost")]
    sizes = [10_000, 100_000] + ([] if args.quick else [1_000_000])
    cases += [("synthetic", p, n) for n in sizes for p in ("fifo", "backfill")]
    rows = []
    for kind, policy, n in cases:
        out = subprocess.run(
            [sys.executable, __file__, "--case", f"{kind}:{policy}:{n}"],
            capture_output=True,
            text=True,
            check=True,
        )
        row = json.loads(out.stdout.strip().splitlines()[-1])
        row["baseline_s"] = baseline(row["events"])
        row["ratio"] = row["sim_s"] / row["baseline_s"]
        rows.append(row)
        print(
            f"{kind:9} {policy:12} jobs {row['jobs']:>9,} devices {row['devices']:>7,} "
            f"events {row['events']:>9,}  sim {row['sim_s']:7.1f} s  "
            f"{row['events_per_s']:>8,.0f} ev/s  ×{row['ratio']:5.1f} baseline  "
            f"round p95 {row['round_ms_p95']:6.2f} ms  peak {row['peak_rss_mb']:7,.0f} MB",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
