"""A sweep on local Ray clusters of one and of two nodes: does it scale past one process?

The same sweep (the national default week without its services, ``cn-hubs-2026-batch``,
under ``fifo`` and ``backfill`` at four loads, one seed: 8 simulations) runs on this
machine with one worker process, then as Ray tasks on a Ray cluster of one node with one
CPU, and on one of two nodes with one CPU each (local clusters of :mod:`devtools.ray_local`).
The baseline, measured in the same run, is the one-node cluster; the ratio of the two-node
run to it is the speed-up Ray gives. The rows of every run must be the same.

Run: ``python benchmarks/ray_sweep_bench.py`` (needs ``pip install '.[ray]'``; about 5 min
on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # devtools/

from devtools.ray_local import LocalRayCluster, unavailable_reason

from suanli.experiment.sweep import run_sweep

LOADS = (0.4, 0.6, 0.8, 1.0)
POLICIES = ("fifo", "backfill")


def sweep(**where: Any) -> tuple[float, list[dict[str, Any]]]:
    """Seconds and rows of the benchmark's sweep, run ``where`` says."""
    t0 = time.perf_counter()
    rows = run_sweep("cn-hubs-2026-batch", POLICIES, [1], LOADS, **where)
    return time.perf_counter() - t0, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    reason = unavailable_reason()
    if reason:
        sys.exit(reason)
    results: dict[str, float] = {}
    local_s, reference = sweep(workers=1)
    results["this machine, 1 process"] = local_s
    for nodes in (1, 2):
        with LocalRayCluster(f"bench{nodes}", {"h100": 8}, cpus=1, workers=nodes - 1) as c:
            seconds, rows = sweep(ray=c.gcs_address)
        assert rows == reference, "a Ray sweep differs from the local one"
        results[f"Ray, {nodes} node{'s' if nodes > 1 else ''} × 1 CPU"] = seconds
    base = results["Ray, 1 node × 1 CPU"]
    print(f"{len(reference)} simulations of the default week; rows identical everywhere")
    print("| where | seconds | vs 1 Ray node |")
    print("|---|---:|---:|")
    for where, seconds in results.items():
        print(f"| {where} | {seconds:.1f} | {seconds / base:.2f} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
