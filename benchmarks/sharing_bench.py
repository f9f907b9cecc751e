"""GPU sharing on Alibaba's openb trace: placement rules against best fit.

1. **Packing** (the experiment of the FGD paper, Weng et al., ATC'23): pods drawn at
   random, with replacement, from the trace arrive one by one on the trace's own fleet
   (6,212 GPUs, 1,523 nodes) and never leave; each goes to the first of its candidate
   pools where it fits, placed there by the rule, or fails. Reported: the share of GPU
   capacity left unallocated when the GPUs the arrived pods asked for reach 80 … 120 %
   of the fleet, the mean over ``--runs`` draws, and its ratio to best fit (the
   baseline, measured in the same run); the time per placement, also against best fit.
   The placements are those of :class:`suanli.core.capacity.ClusterState`, the
   simulator's own.
2. **Replay**: the trace through the simulator under ``backfill`` on its own fleet and,
   loaded, on 64 G2 GPUs at offered load 0.9, under each rule: JCT, queueing, the
   devices shared and fragmented, and simulation time.

Run: ``python benchmarks/sharing_bench.py [--data ../shared/data] [--runs 10]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from suanli.core.capacity import ClusterState
from suanli.core.jobtable import JobTable
from suanli.core.sharing import PLACEMENTS, pool_requests
from suanli.core.tables import build_tables
from suanli.policy.registry import make_policy
from suanli.report.metrics import compute_metrics
from suanli.sim.engine import Simulator
from suanli.trace import convert_source, replay, write_trace

TRACES = (
    ("openb (default)", "openb_pod_list_default.csv"),
    ("openb (gpuspec33)", "openb_pod_list_gpuspec33.csv"),
)
MARKS = (0.8, 0.9, 1.0, 1.1, 1.2)
RULES = ("best-fit", *sorted(set(PLACEMENTS) - {"best-fit"}))


def pack(jobs: JobTable, rule: str, rng: np.random.Generator) -> tuple[list[float], float, int]:
    """One packing run: unallocated share at each mark, seconds spent placing, placements."""
    t = jobs.tables
    capacity = sum(t.pool_count) * 1000
    cl = ClusterState(t, rule, pool_requests(jobs))
    asked = held = placed = 0
    out: list[float] = []
    spent = 0.0
    runnable = [j for j in range(len(jobs)) if jobs.candidates(j)]
    while len(out) < len(MARKS):
        j = runnable[int(rng.integers(len(runnable)))]
        cands = jobs.candidates(j)
        asked += cands[0].milli
        t0 = time.perf_counter()
        for c in cands:
            if cl.fits(c):
                cl.allocate(j, jobs.tenant[j], c)
                held += c.milli
                placed += 1
                break
        spent += time.perf_counter() - t0
        while len(out) < len(MARKS) and asked >= MARKS[len(out)] * capacity:
            out.append(1.0 - held / capacity)
    return out, spent, placed


def packing(path: Path, name: str, runs: int) -> None:
    """The packing table of one trace file."""
    rp = replay(path, "own")
    jobs = JobTable(rp.jobs, build_tables(rp.scenario))
    rows = {}
    for rule in RULES:
        fractions, spent, placed = [], 0.0, 0
        for seed in range(runs):
            f, s, n = pack(jobs, rule, np.random.default_rng(seed))
            fractions.append(f)
            spent += s
            placed += n
        rows[rule] = (np.mean(fractions, axis=0), spent / placed * 1e6)
    base, base_us = rows["best-fit"]
    print(f"\n**{name}**, {runs} draws, unallocated GPU capacity when the arrived pods ask for:\n")
    marks = " | ".join(f"{m:.0%}" for m in MARKS)
    print(f"| rule | {marks} | × best fit at 100 % | µs per placement | × best fit |")
    print("|---|" + "---:|" * (len(MARKS) + 3))
    at = MARKS.index(1.0)
    for rule, (frac, us) in rows.items():
        cells = " | ".join(f"{x:.2%}" for x in frac)
        print(f"| {rule} | {cells} | {frac[at] / base[at]:.3f} | {us:.1f} | {us / base_us:.2f} |")


def replays(path: Path) -> None:
    """The replay table."""
    print(
        "\n| fleet | load | rule | avg JCT (h) | p99 JCT (h) | queueing (h) | shared devices "
        "(mean) | fragmented (mean) | sim (s) |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for fleet, load in (("own", None), ("alibaba_openb_g2:64", 0.9)):
        rp = replay(path, fleet, target_load=load)
        for rule in RULES:
            r = Simulator(
                rp.scenario, rp.jobs, make_policy("backfill"), drain=True, placement=rule
            ).run()
            m = compute_metrics(r)
            sh = m["sharing"]
            print(
                f"| {fleet} | {'trace' if load is None else load} | {rule} | "
                f"{m['jct_h']['mean']:.2f} | {m['jct_h']['p99']:.1f} | "
                f"{m['queueing_delay_h']['mean']:.2f} | {sh['shared_devices_mean']:.2f} | "
                f"{sh['fragmented_devices_mean']:.2f} | {r.wall_s:.1f} |",
                flush=True,
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data"
    )
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    folder = args.data / "traces" / "alibaba-gpu-v2023" / "data" / "csv"
    if not folder.is_dir():
        raise SystemExit(f"openb trace not found at {folder} (give --data)")
    tmp = Path(tempfile.mkdtemp(prefix="suanli-sharing-"))
    paths = {}
    for name, file in TRACES:
        path = tmp / f"{file}.parquet"
        write_trace(convert_source(folder / file, "openb").trace, path)
        paths[name] = path
        packing(path, name, args.runs)
    replays(paths["openb (default)"])


if __name__ == "__main__":
    main()
