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

With ``--seeds 0,1,2`` the Philly comparison is made for each draw of which jobs are elastic
(``--elastic-share 0.5 --seed N``), and the mean, least and greatest change are printed.

Run: ``python benchmarks/elastic_bench.py [--data ../shared/data] [--only 1,3] [--philly
[--seeds 0,1,2]] [--suanli '{"elastic_min_runs": 10}']``.
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
from suanli.trace import Replay, convert_source, replay, write_trace

POLLUX = "traces/philly-pollux/simulator/workloads/workload-{}.csv"
PHILLY = "traces/philly-pollux/simulator/traces/philly.csv"


def fixed(jobs: list[Job]) -> list[Job]:
    """The jobs with their elastic range removed."""
    return [
        dataclasses.replace(j, gang_min=None, gang_max=None, speedup=(), throughput=())
        if j.elastic
        else j
        for j in jobs
    ]


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


def philly(data: Path, params: dict[str, Any] | None, tmp: Path, seeds: list[int]) -> None:
    """Philly with half the jobs elastic, one draw of which per seed; the fixed-gang run
    (the same jobs whatever the draw) once."""
    src = data / PHILLY
    if not src.is_file():
        print(f"(Philly not found at {src})")
        return
    base: tuple[SimResult, float] | None = None
    changes = []
    for seed in seeds:
        path = tmp / f"philly-0.5-{seed}.parquet"
        write_trace(convert_source(src, "philly", elastic_share=0.5, seed=seed).trace, path)
        rp = replay(path, "philly-hetero", target_load=0.8)
        if base is None:
            r, _, wall = run(rp.scenario, fixed(rp.jobs), "suanli", params)
            base = (r, wall)
        changes.append(philly_draw(rp, params, seed, base))
    if len(changes) > 1:
        print(
            f"\nover the {len(changes)} draws (seeds {', '.join(map(str, seeds))}): average JCT "
            f"change elastic vs fixed, mean {np.mean(changes):+.2%}, "
            f"min {min(changes):+.2%}, max {max(changes):+.2%}"
        )


def philly_draw(
    rp: Replay, params: dict[str, Any] | None, seed: int, base: tuple[SimResult, float]
) -> float:
    """One draw of elastic jobs against the fixed run ``base``: the table; returns the
    change of average JCT."""
    el = np.array([j.elastic for j in rp.jobs])
    gang = np.array([j.gang for j in rp.jobs])
    submit = np.array([j.submit_s for j in rp.jobs])
    r, _, wall = run(rp.scenario, rp.jobs, "suanli", params)
    runs = {"fixed": base, "elastic": (r, wall)}
    print(
        f"\n**Philly** on philly-hetero at 0.8, {len(rp.jobs):,} jobs, {int(el.sum()):,} elastic "
        f"(gang to 2 x gang; draw seed {seed}); `suanli` on the same jobs with the range "
        "removed (fixed) and kept\n"
    )
    print("| jobs | n | fixed JCT (h) | elastic JCT (h) | change | wait (h) | run (h) |")
    print("|---|---:|---:|---:|---:|---|---|")
    (rf, wf), (re_, we) = runs["fixed"], runs["elastic"]
    resized = re_.resizes > 0
    groups = [
        ("all", np.ones(len(el), bool)),
        ("elastic", el),
        ("fixed-gang", ~el),
        ("resized (elastic run)", resized),
        *((f"gang {g}", gang == g) for g in (1, 2, 4, 8, 16)),
    ]
    for name, m in groups:
        if not m.any():
            continue
        jf, je = (rf.finish - submit)[m] / 3600, (re_.finish - submit)[m] / 3600
        af, ae = (rf.first_start - submit)[m] / 3600, (re_.first_start - submit)[m] / 3600
        print(
            f"| {name} | {int(m.sum()):,} | {jf.mean():.4f} | {je.mean():.4f} | "
            f"{je.mean() / jf.mean() - 1:+.2%} | {af.mean():.4f} → {ae.mean():.4f} | "
            f"{(jf - af).mean():.4f} → {(je - ae).mean():.4f} |"
        )
    above = sum(
        (s.end_s - s.start_s) * (s.devices - gang[s.job]) / 3600
        for s in re_.stretches
        if s.devices > gang[s.job] and not np.isnan(s.end_s)
    )
    print(
        f"\nresizes {int(re_.resizes.sum()):,} ({int(resized.sum()):,} jobs), lost to resizes "
        f"{re_.resize_lost_s.sum() / 3600:.1f} job-hours, device-hours above the gang "
        f"{above:,.0f}; sim {wf:.0f} s fixed, {we:.0f} s elastic ({we / wf:.2f}x)"
    )
    return float((re_.finish - submit).mean() / (rf.finish - submit).mean() - 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data"
    )
    ap.add_argument("--only", default="", help="Pollux workload numbers, comma-separated")
    ap.add_argument("--philly", action="store_true", help="also Philly, half the jobs elastic")
    ap.add_argument("--suanli", default="{}", help="suanli parameters as JSON")
    ap.add_argument(
        "--seeds", default="0", help="Philly: draws of which jobs are elastic, comma-separated"
    )
    args = ap.parse_args()
    params = json.loads(args.suanli) or None
    only = [x for x in args.only.split(",") if x]
    tmp = Path(tempfile.mkdtemp(prefix="suanli-elastic-"))
    pollux(args.data, only, params, tmp)
    if args.philly:
        philly(args.data, params, tmp, [int(x) for x in args.seeds.split(",") if x])


if __name__ == "__main__":
    main()
