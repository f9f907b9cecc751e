"""When demand exceeds the fleet: every policy on Philly replayed on ``philly-hetero`` at
offered load 0.8, 1.2 and 1.5 (issue 18).

The trace (``../shared/data``) is cut into ``--windows`` consecutive windows of equal
submission span — the "seeds": different jobs, arrival bursts and mixes — and each window is
replayed on ``philly-hetero`` (800 V100, 800 A100, 400 H100) at each load, drained (run
until every job is done, never cut off early). For each load and policy the table gives the
mean average JCT over the windows and its spread (min–max), the mean ratio to ``suanli``'s
JCT on the same window, moves (migrations) and preemptions per window, and the simulation's
wall time per window. The baseline measured in the same run is ``fifo``'s wall time.

Run: ``python benchmarks/overload_bench.py [--windows 3] [--loads 0.8,1.2,1.5]
[--policies fifo,fifo-het,...] [--data ../shared/data]``; a policy may carry parameters,
``suanli:migrate=false`` (values as JSON).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import pyarrow.compute as pc

from suanli.policy.registry import make_policy, policy_names
from suanli.report.metrics import compute_metrics
from suanli.sim.engine import Simulator
from suanli.trace import convert_source, read_trace, replay, write_trace

PHILLY = "traces/philly-pollux/simulator/traces/philly.csv"


def policy_of(spec: str) -> tuple[str, dict[str, object]]:
    """``"name:key=value:key=value"`` → the policy's name and parameters."""
    name, *pairs = spec.split(":")
    return name, {k: json.loads(v) for k, v in (p.split("=", 1) for p in pairs)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data"
    )
    ap.add_argument("--windows", type=int, default=3, help="consecutive windows of the trace")
    ap.add_argument("--loads", default="0.8,1.2,1.5", help="offered loads, comma-separated")
    ap.add_argument("--policies", default=",".join(policy_names()), help="comma-separated")
    args = ap.parse_args()
    src = args.data / PHILLY
    if not src.is_file():
        raise SystemExit(f"Philly not found at {src}: pass --data")
    path = Path(tempfile.mkdtemp(prefix="suanli-overload-")) / "philly.parquet"
    write_trace(convert_source(src, "philly").trace, path)
    submit = read_trace(path).table.column("submit_s")
    lo, hi = float(pc.min(submit).as_py()), float(pc.max(submit).as_py())
    k = args.windows
    edges = [lo + (hi - lo) * i / k for i in range(k + 1)]
    edges[-1] = hi + 1.0
    policies = args.policies.split(",")
    print(
        f"Philly on philly-hetero, {k} windows of {(hi - lo) / k / 86400:.1f} days each, drained\n"
    )
    print(
        "| load | policy | avg JCT (h), mean | spread (min–max) | vs suanli | moves | "
        "preemptions | sim (s) per window | vs fifo's sim time |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for load in (float(x) for x in args.loads.split(",")):
        rows: dict[str, list[tuple[float, int, int, float]]] = {p: [] for p in policies}
        for w in range(k):
            rp = replay(path, "philly-hetero", target_load=load, window_s=(edges[w], edges[w + 1]))
            for pol in policies:
                t0 = time.perf_counter()
                name, params = policy_of(pol)
                r = Simulator(rp.scenario, rp.jobs, make_policy(name, params), drain=True).run()
                wall = time.perf_counter() - t0
                m = compute_metrics(r)
                rows[pol].append((m["jct_h"]["mean"], m["migrations"], m["preemptions"], wall))
        ref = [x[0] for x in rows.get("suanli", [])]
        fifo_wall = statistics.mean(x[3] for x in rows["fifo"]) if "fifo" in rows else None
        for pol in policies:
            jct = [x[0] for x in rows[pol]]
            walls = [x[3] for x in rows[pol]]
            vs = (
                f"{statistics.mean(a / b for a, b in zip(jct, ref, strict=True)):.2f}×"
                if ref
                else "–"
            )
            slow = f"{statistics.mean(walls) / fifo_wall:.0f}×" if fifo_wall else "–"
            print(
                f"| {load:g} | {pol} | {statistics.mean(jct):.3f} | {min(jct):.3f}–{max(jct):.3f} "
                f"| {vs} | {statistics.mean(x[1] for x in rows[pol]):,.0f} "
                f"| {statistics.mean(x[2] for x in rows[pol]):,.0f} "
                f"| {statistics.mean(walls):.1f} | {slow} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
