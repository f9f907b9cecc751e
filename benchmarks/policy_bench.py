"""Policy time per round, and the POP split against the full round LP.

For N waiting jobs on a fleet of D devices (the national default's pools scaled
to D, its job classes for the jobs, half the devices busy), the ``suanli``
policy's full round (the LP over job classes × candidates, HiGHS) is timed R
times; p50/p95 are reported. The baseline, measured in the same run, is one
``fifo`` round on the same snapshot. The split check solves the largest round
problem whole and in POP groups and reports the split objective as a share of
the whole LP's.

Run: ``python benchmarks/policy_bench.py`` (``--quick`` for the small case only).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import yaml

from suanli.config import parse_scenario
from suanli.policy.registry import make_policy
from suanli.policy.suanli.params import SuanliParams
from suanli.policy.suanli.round_lp import RoundProblem, solve
from suanli.scenarios import builtin_dir, builtin_text
from suanli.workload.generator import generate_jobs


def kernel() -> tuple[Any, Any, Any, Any, Any]:
    """The scheduling core's classes: ``Accounting``, ``EventQueue``, ``JobTable``,
    ``build_tables`` and the state; from ``suanli.core``, or from ``suanli.sim`` in
    revisions before it (so that benchmarks/revisions.py can time both)."""
    try:
        from suanli.core.accounting import Accounting
        from suanli.core.events import EventQueue
        from suanli.core.jobtable import JobTable
        from suanli.core.state import SchedulingState
        from suanli.core.tables import build_tables
    except ImportError:  # before the scheduling core was shared
        from suanli.sim.accounting import Accounting  # type: ignore[no-redef]
        from suanli.sim.events import EventQueue  # type: ignore[no-redef]
        from suanli.sim.executor import SimExecutor as SchedulingState  # type: ignore
        from suanli.sim.jobtable import JobTable  # type: ignore[no-redef]
        from suanli.sim.tables import build_tables  # type: ignore[no-redef]
    return Accounting, EventQueue, JobTable, build_tables, SchedulingState


def batch_default() -> str:
    """The national default without its services; the default itself in revisions before
    the batch-only variant existed (benchmarks/revisions.py runs this file on both)."""
    from suanli.scenarios import builtin_names

    return "cn-hubs-2026-batch" if "cn-hubs-2026-batch" in builtin_names() else "cn-hubs-2026"


def snapshot(devices: int, waiting: int, seed: int = 1) -> tuple[Any, Any]:
    """A scheduling state with about half the fleet busy and ``waiting`` jobs queued."""
    Accounting, EventQueue, JobTable, build_tables, SchedulingState = kernel()
    data = yaml.safe_load(builtin_text(batch_default()))
    total = sum(p["count"] for s in data["sites"] for p in s["pools"])
    scale = devices / total
    for s in data["sites"]:
        for p in s["pools"]:
            p["count"] = max(8, round(p["count"] * scale / 8) * 8)
        s["power_capacity_mw"] = round(s["power_capacity_mw"] * max(scale, 0.05) * 1.5, 3)
        s["max_power_oversubscription"] = 2.0
    data["horizon"]["hours"] = 24 * 30
    sc = parse_scenario(yaml.safe_dump(data), "bench", builtin_dir())
    jobs = generate_jobs(sc, np.random.default_rng(seed))
    jobs = [j for j in jobs if j.gang <= devices // 64 or j.gang <= 16][: waiting * 3]
    tables = build_tables(sc)
    jt = JobTable(jobs, tables)
    ex = SchedulingState(tables, jt, EventQueue(), Accounting(tables, sc.hours))
    fifo = make_policy("fifo")
    target_busy = devices // 2
    j = 0
    while j < len(jobs) and sum(ex.cluster.tenant_milli) < target_busy * 1000:
        ex.arrive(j)
        ex.apply(fifo.decide(ex.snapshot(0.0, full=True)), 0.0)
        j += 1
    start = j
    while j < len(jobs) and j - start < waiting:
        ex.arrive(j)
        j += 1
    return ex, sc


def time_rounds(ex: Any, policy: str, repeat: int) -> list[float]:
    """Seconds per full round of ``policy`` on the state's snapshot (not applied)."""
    pol = make_policy(policy)
    out = []
    for _ in range(repeat):
        inp = ex.snapshot(3600.0, full=True)
        t0 = time.perf_counter()
        pol.decide(inp)
        out.append(time.perf_counter() - t0)
    return out


def split_quality(seed: int = 3) -> dict[str, float]:
    """A large synthetic round problem solved whole and split POP-style."""
    rng = np.random.default_rng(seed)
    n_classes, n_pools = 2000, 30
    k = np.repeat(np.arange(n_classes), n_pools)
    p = np.tile(np.arange(n_pools), n_classes)
    keep = rng.random(k.size) < 0.6
    pr = RoundProblem(
        n=rng.integers(1, 30, size=n_classes),
        k=k[keep],
        p=p[keep],
        d=rng.choice([1, 2, 4, 8, 16, 64], size=int(keep.sum())).astype(float),
        w=rng.uniform(300, 50_000, size=int(keep.sum())),
        u=rng.uniform(0.05, 3.0, size=int(keep.sum())),
        free=rng.integers(200, 4000, size=n_pools).astype(float),
        pool_site=np.arange(n_pools) % 8,
        headroom=np.full(8, 5e6),
    )
    groups = -(-pr.size // SuanliParams().split_above)  # as the policy splits it
    t0 = time.perf_counter()
    whole = solve(pr, exact=False)
    t1 = time.perf_counter()
    pop = solve(pr, exact=False, split=groups)
    t2 = time.perf_counter()
    pop4 = solve(pr, exact=False, split=4)
    return {
        "columns": float(pr.size),
        "groups": float(groups),
        "whole_s": t1 - t0,
        "split_s": t2 - t1,
        "split_share_of_lp": pop.value / whole.bound,
        "split4_share_of_lp": pop4.value / whole.bound,
        "whole_share_of_lp": whole.value / whole.bound,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    cases = [(10_000, 1_000)] + ([] if args.quick else [(100_000, 10_000)])
    for devices, waiting in cases:
        ex, _ = snapshot(devices, waiting)
        base = np.array(time_rounds(ex, "fifo", args.repeat)) * 1e3
        ours = np.array(time_rounds(ex, "suanli", args.repeat)) * 1e3
        print(
            f"{devices:>7,} devices {len(ex.waiting):>6,} waiting: suanli round "
            f"p50 {np.percentile(ours, 50):7.1f} ms p95 {np.percentile(ours, 95):7.1f} ms | "
            f"fifo round p50 {np.percentile(base, 50):6.2f} ms "
            f"(ratio ×{np.percentile(ours, 50) / max(np.percentile(base, 50), 1e-6):.0f})",
            flush=True,
        )
    q = split_quality()
    print(
        f"round LP with {q['columns']:,.0f} columns: whole {q['whole_s']:.2f} s; split as the "
        f"policy does ({q['groups']:.0f} groups) {q['split_s']:.2f} s = "
        f"{q['split_share_of_lp']:.2%} of the LP optimum; in 4 groups "
        f"{q['split4_share_of_lp']:.2%}; whole, rounded: {q['whole_share_of_lp']:.2%}"
    )


if __name__ == "__main__":
    main()
