"""Elastic jobs (issue 15): ``suanli`` sizing elastic jobs against the same jobs with fixed
gangs, on the eight Pollux workloads and (``--philly``) Philly with half the jobs elastic.

**Pollux** (160 jobs each on Pollux's 64 T4, drained): the converted jobs are elastic from
``gang_min`` to ``gang_max`` with their measured speed-up (docs/trace-format.md); "fixed"
is the same jobs with the range removed (each runs on the ``gang`` it asks for, the
workload's ``num_replicas``). Reported per workload: average JCT of ``backfill`` and of
``suanli`` fixed, of the ``pollux`` baseline on the elastic jobs, and of ``suanli`` elastic
with its ratio to ``suanli`` fixed, its resizes and its simulation time; the last row is
the mean over the workloads (the issue's target: elastic at least 35 % below fixed, below
``backfill``, and at or below ``pollux``).

**Philly** (``--philly``; slow): Philly on ``philly-hetero`` at offered load 0.8, drained,
with ``--elastic-share 0.5`` (half the jobs elastic from ``gang`` to 2 × ``gang``, default
scaling) against the same trace with no elastic jobs; ``suanli`` on both, with the wall time
of each (the issue's target: elastic JCT below fixed, in at most 3 × the fixed time).

Run: ``python benchmarks/elastic_bench.py [--data ../shared/data] [--only 1,3] [--philly]
[--suanli '{"elastic_min_runs": 10}']``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from suanli.model.job import Job
from suanli.model.scenario import Scenario
from suanli.policy.registry import make_policy
from suanli.sim.engine import Simulator
from suanli.sim.result import SimResult
from suanli.trace import convert_source, replay, write_trace

POLLUX = "traces/philly-pollux/simulator/workloads/workload-{}.csv"
PHILLY = "traces/philly-pollux/simulator/traces/philly.csv"


def fixed(jobs: list[Job]) -> list[Job]:
    """The jobs with their elastic range removed."""
    drop = {"gang_min": None, "gang_max": None, "speedup": (), "throughput": ()}
    return [dataclasses.replace(j, **drop) if j.elastic else j for j in jobs]


def run(
    sc: Scenario, jobs: list[Job], policy: str, params: dict[str, Any] | None
) -> tuple[SimResult, float, float]:
    """The drained run, its average JCT (hours) and wall seconds."""
    t0 = time.perf_counter()
    r = Simulator(sc, jobs, make_policy(policy, params), drain=True).run()
    wall = time.perf_counter() - t0
    submit = np.array([j.submit_s for j in jobs])
    return r, float(np.mean(r.finish - submit) / 3600.0), wall


def pollux(data: Path, only: list[str], params: dict[str, Any] | None, tmp: Path) -> None:
    print(
        "| workload | elastic jobs | backfill JCT (h) | suanli fixed JCT (h) | pollux JCT (h) | "
        "suanli elastic JCT (h) | elastic / fixed | elastic / pollux | resizes | sim (s) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows: list[tuple[float, float, float, float]] = []
    for k in range(1, 9):
        if only and str(k) not in only:
            continue
        src = data / POLLUX.format(k)
        if not src.is_file():
            print(f"| workload-{k} | (not found at {src}) |")
            continue
        path = tmp / f"pollux-{k}.parquet"
        write_trace(convert_source(src, "pollux").trace, path)
        rp = replay(path, "own")
        _, bf, _ = run(rp.scenario, fixed(rp.jobs), "backfill", None)
        _, fx, _ = run(rp.scenario, fixed(rp.jobs), "suanli", params)
        _, px, _ = run(rp.scenario, rp.jobs, "pollux", None)
        r, el, wall = run(rp.scenario, rp.jobs, "suanli", params)
        n_el = sum(j.elastic for j in rp.jobs)
        rows.append((bf, fx, px, el))
        print(
            f"| workload-{k} | {n_el} | {bf:.3f} | {fx:.3f} | {px:.3f} | {el:.3f} | "
            f"{el / fx:.2f} | {el / px:.3f} | {int(r.resizes.sum()):,} | {wall:.1f} |",
            flush=True,
        )
    if rows:
        bf, fx, px, el = (float(np.mean(c)) for c in zip(*rows, strict=True))
        print(
            f"| **mean** | | {bf:.3f} | {fx:.3f} | {px:.3f} | {el:.3f} | **{el / fx:.2f}** | "
            f"**{el / px:.3f}** | | |"
        )


def philly(data: Path, params: dict[str, Any] | None, tmp: Path) -> None:
    src = data / PHILLY
    if not src.is_file():
        print(f"(Philly not found at {src})")
        return
    print("\n| Philly, philly-hetero, 0.8 | jobs | elastic | suanli JCT (h) | resizes | sim (s) |")
    print("|---|---:|---:|---:|---:|---:|")
    base: float | None = None
    for share in (0.0, 0.5):
        path = tmp / f"philly-{share}.parquet"
        write_trace(convert_source(src, "philly", elastic_share=share, seed=0).trace, path)
        rp = replay(path, "philly-hetero", target_load=0.8)
        r, jct, wall = run(rp.scenario, rp.jobs, "suanli", params)
        base = base or wall
        print(
            f"| elastic share {share:.1f} | {len(rp.jobs):,} | {sum(j.elastic for j in rp.jobs):,} "
            f"| {jct:.3f} | {int(r.resizes.sum()):,} | {wall:.1f} ({wall / base:.2f}×) |",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data"
    )
    ap.add_argument("--only", default="", help="Pollux workload numbers, comma-separated")
    ap.add_argument("--philly", action="store_true", help="also Philly, half the jobs elastic")
    ap.add_argument("--suanli", default="{}", help="suanli parameters as JSON")
    args = ap.parse_args()
    params = json.loads(args.suanli) or None
    only = [x for x in args.only.split(",") if x]
    tmp = Path(tempfile.mkdtemp(prefix="suanli-elastic-"))
    pollux(args.data, only, params, tmp)
    if args.philly:
        philly(args.data, params, tmp)


if __name__ == "__main__":
    main()
