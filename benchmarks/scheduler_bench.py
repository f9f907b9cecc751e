"""The scheduler benchmark of issue 5: every policy on the national default week and on
Philly replayed on a three-generation fleet, as ratios to ``fifo`` from the same run.

* ``cn-hubs-2026-batch`` (the national default without its services), seed 2026 (the
  scenario's): fifo, backfill, greedy-cost, las, maxmin-het, suanli — average JCT, energy
  cost (net), carbon, worst tenant mean ρ.
* Philly (``../shared/data``) converted and replayed on ``philly-hetero`` (800 V100,
  800 A100, 400 H100) at offered load ``--philly-load`` (default 0.8), drained.

Runs the cases on all cores. Writes a markdown table to stdout (and ``--json``).
Run: ``python benchmarks/scheduler_bench.py [--data ../shared/data]``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

POLICIES = ("fifo", "backfill", "greedy-cost", "las", "maxmin-het", "suanli")
PHILLY_POLICIES = ("fifo", "backfill", "las", "maxmin-het", "suanli")


def default_case(policy: str) -> dict[str, Any]:
    """One policy on the national default week."""
    import numpy as np

    from suanli.config import load_scenario
    from suanli.policy.registry import make_policy
    from suanli.report.metrics import compute_metrics
    from suanli.sim.engine import Simulator
    from suanli.workload.generator import generate_jobs

    sc = load_scenario("cn-hubs-2026-batch")
    jobs = generate_jobs(sc, np.random.default_rng(2026))
    r = Simulator(sc, jobs, make_policy(policy, sc.policy_params.get(policy)), seed=2026).run()
    return {"case": "cn-hubs-2026", "policy": policy, "wall_s": r.wall_s, **compute_metrics(r)}


def philly_case(trace: str, load: float, policy: str) -> dict[str, Any]:
    """One policy on Philly replayed on philly-hetero."""
    from suanli.policy.registry import make_policy
    from suanli.report.metrics import compute_metrics
    from suanli.sim.engine import Simulator
    from suanli.trace.replay import replay

    rp = replay(trace, "philly-hetero", target_load=load)
    r = Simulator(rp.scenario, rp.jobs, make_policy(policy), drain=True).run()
    return {"case": f"philly@{load:g}", "policy": policy, "wall_s": r.wall_s, **compute_metrics(r)}


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown: policies × metrics, with ratios to fifo."""
    out = []
    for case in dict.fromkeys(r["case"] for r in rows):
        sel = {r["policy"]: r for r in rows if r["case"] == case}
        base = sel["fifo"]
        out.append(f"\n**{case}**\n")
        out.append(
            "| policy | avg JCT (h) | vs fifo | p99 JCT (h) | queueing (h) | net cost | vs fifo | "
            "carbon (t) | vs fifo | worst tenant ρ | unfinished | sim time (s) |"
        )
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for pol, r in sel.items():
            jct, cost, co2 = r["jct_h"]["mean"], r["cost"]["net"], r["carbon_t"]
            out.append(
                f"| {pol} | {jct:.2f} | {jct / base['jct_h']['mean']:.2f} | "
                f"{r['jct_h']['p99']:.1f} | {r['queueing_delay_h']['mean']:.2f} | "
                f"{cost:,.0f} | {cost / base['cost']['net']:.2f} | "
                f"{co2:,.0f} | {co2 / base['carbon_t']:.2f} | "
                f"{r['fairness']['max_tenant_mean_rho']:.2f} | {r['jobs']['unfinished']:,} | "
                f"{r['wall_s']:.0f} |"
            )
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data"
    )
    ap.add_argument("--philly-load", type=float, default=0.8)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    jobs: list[tuple[Any, ...]] = [(default_case, p) for p in POLICIES]
    tmp = tempfile.mkdtemp(prefix="suanli-bench-")
    src = args.data / "traces" / "philly-pollux" / "simulator" / "traces" / "philly.csv"
    if src.is_file():
        from suanli.trace.io import write_trace
        from suanli.trace.sources import convert_source

        trace = str(Path(tmp) / "philly.parquet")
        write_trace(convert_source(src, "philly").trace, trace)
        jobs += [(philly_case, trace, args.philly_load, p) for p in PHILLY_POLICIES]
    else:
        print(f"(Philly not found at {src}: skipped)")
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = [pool.submit(fn, *a) for fn, *a in jobs]
        rows = [f.result() for f in futures]
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
