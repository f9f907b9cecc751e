"""``las`` (Tiresias' 2D-LAS) against ``fifo`` and ``backfill`` on the public traces.

Each workload is replayed on its own fleet and drained (run until every job is done):
the eight Pollux workloads (160 jobs each on Pollux's 64 T4) and Tiresias' ``60_job``;
with ``--philly``, Philly on ``philly-hetero`` at offered load 0.8 (slow: minutes).
For each it reports the average JCT of every policy, ``las``'s and ``backfill``'s as a
ratio to ``fifo``'s in the same run, and ``las``'s preemptions (in all, and the most for
one job, against its bound ``max_preemptions``). The target (docs/scheduler.md): ``las``'s
average JCT at most ``fifo``'s on every workload.

Run: ``python benchmarks/las_bench.py [--data ../shared/data] [--only 1,2] [--philly]
[--las '{"min_run_s": 600}']``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from suanli.policy.registry import make_policy
from suanli.report.metrics import compute_metrics
from suanli.sim.engine import Simulator
from suanli.trace import convert_source, replay, write_trace

POLLUX = "traces/philly-pollux/simulator/workloads/workload-{}.csv"
TIRESIAS = "traces/tiresias/simulator/60_job.csv"
PHILLY = "traces/philly-pollux/simulator/traces/philly.csv"
POLICIES = ("fifo", "backfill", "las")


def workloads(only: list[str], philly: bool) -> list[tuple[str, str, str, str, float | None]]:
    """(name, path under the data folder, trace format, fleet, offered load)."""
    out: list[tuple[str, str, str, str, float | None]] = [
        (f"Pollux workload-{k}", POLLUX.format(k), "pollux", "own", None) for k in range(1, 9)
    ]
    out.append(("Tiresias 60_job", TIRESIAS, "tiresias", "own", None))
    if philly:
        out.append(("Philly", PHILLY, "philly", "philly-hetero", 0.8))
    if only:
        out = [w for w in out if any(w[0].endswith(f"-{k}") or w[0] == k for k in only)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data"
    )
    ap.add_argument("--only", default="", help="workload numbers or names, comma-separated")
    ap.add_argument("--philly", action="store_true", help="also Philly on philly-hetero, 0.8")
    ap.add_argument("--las", default="{}", help="las parameters as JSON")
    args = ap.parse_args()
    las_params = json.loads(args.las)
    bound = make_policy("las", las_params).p.max_preemptions  # type: ignore[attr-defined]
    only = [x for x in args.only.split(",") if x]
    tmp = Path(tempfile.mkdtemp(prefix="suanli-las-"))
    print(
        "| workload | jobs | fifo JCT (h) | backfill JCT (h) | vs fifo | las JCT (h) | vs fifo | "
        f"las preemptions | most for one job (bound {bound}) | las sim (s) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, rel, source, fleet, load in workloads(only, args.philly):
        src = args.data / rel
        if not src.is_file():
            print(f"| {name} | (not found at {src}) |")
            continue
        path = tmp / f"{source}.parquet"
        write_trace(convert_source(src, source).trace, path)
        rp = replay(path, fleet, target_load=load)
        jct: dict[str, float] = {}
        for policy in POLICIES:
            params = las_params if policy == "las" else None
            t0 = time.perf_counter()
            r = Simulator(rp.scenario, rp.jobs, make_policy(policy, params), drain=True).run()
            wall = time.perf_counter() - t0
            m = compute_metrics(r)
            jct[policy] = m["jct_h"]["mean"]
        pre, most, n = int(r.preemptions.sum()), int(r.preemptions.max(initial=0)), len(rp.jobs)
        print(
            f"| {name} | {n:,} | {jct['fifo']:.3f} | {jct['backfill']:.3f} | "
            f"{jct['backfill'] / jct['fifo']:.2f} | {jct['las']:.3f} | "
            f"{jct['las'] / jct['fifo']:.2f} | {pre:,} | {most} | {wall:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
