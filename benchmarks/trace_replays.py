"""FIFO and backfill on every public trace, on its own fleet (and Philly on the 2,000-GPU
three-generation fleet ``philly-hetero``): the table of docs/trace-format.md §6.

Each replay is drained (run until every job is done). Wall times are simulation only; the
budget for Philly on ``philly-hetero`` is 20 s per policy for ``fifo`` and ``backfill``,
60 s for every policy (issue 18). The baseline, measured in the same run, is the time to
build the replay's jobs (convert + load). ``--policies`` picks the policies (default
``fifo,backfill``; ``all``: every registered one), ``--fleet`` keeps the replays on one
fleet (``own`` or ``philly-hetero``).

Run: ``python benchmarks/trace_replays.py [--data ../shared/data] [--policies all]
[--fleet philly-hetero]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from suanli.policy.registry import make_policy, policy_names
from suanli.report.metrics import compute_metrics
from suanli.sim.engine import Simulator
from suanli.trace import convert_source, replay, write_trace

TRACES = (
    ("Philly", "traces/philly-pollux/simulator/traces/philly.csv", "philly", "own", None),
    ("Philly", "traces/philly-pollux/simulator/traces/philly.csv", "philly", "philly-hetero", 0.8),
    (
        "openb (default)",
        "traces/alibaba-gpu-v2023/data/csv/openb_pod_list_default.csv",
        "openb",
        "own",
        None,
    ),
    (
        "Pollux workload-1",
        "traces/philly-pollux/simulator/workloads/workload-1.csv",
        "pollux",
        "own",
        None,
    ),
    ("Tiresias 60_job", "traces/tiresias/simulator/60_job.csv", "tiresias", "own", None),
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data"
    )
    ap.add_argument("--policies", default="fifo,backfill", help="comma-separated, or 'all'")
    ap.add_argument("--fleet", default="", help="only the replays on this fleet")
    args = ap.parse_args()
    policies = (
        list(policy_names())
        if args.policies == "all"
        else [x for x in args.policies.split(",") if x]
    )
    tmp = Path(tempfile.mkdtemp(prefix="suanli-replays-"))
    print(
        "| trace | fleet | load | jobs | policy | avg JCT (h) | p99 JCT (h) | queueing (h) | "
        "makespan (h) | utilisation | sim (s) | build (s) |"
    )
    print("|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, rel, source, fleet, load in TRACES:
        if args.fleet and fleet != args.fleet:
            continue
        src = args.data / rel
        if not src.is_file():
            print(f"| {name} | (not found at {src}) |")
            continue
        t0 = time.perf_counter()
        trace = convert_source(src, source).trace
        path = tmp / f"{source}.parquet"
        write_trace(trace, path)
        rp = replay(path, fleet, target_load=load)
        build = time.perf_counter() - t0
        for policy in policies:
            r = Simulator(rp.scenario, rp.jobs, make_policy(policy), drain=True).run()
            m = compute_metrics(r)
            print(
                f"| {name} | {fleet} | {'trace' if load is None else load} | "
                f"{m['jobs']['submitted']:,} | {policy} | {m['jct_h']['mean']:.2f} | "
                f"{m['jct_h']['p99']:.1f} | {m['queueing_delay_h']['mean']:.2f} | "
                f"{m['makespan_h']:.1f} | {m['utilisation']:.1%} | {r.wall_s:.1f} | {build:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
