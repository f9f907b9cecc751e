"""This checkout against another revision, case by case: speed as ratios, outputs compared.

For a change that must not slow the simulator down or change its results (the move to
one scheduling core shared with the live control plane): every case runs in a fresh
subprocess, alternately on the other tree (``--base``, e.g. a ``git worktree`` of the
revision before) and on this one, ``--repeat`` times each; the table gives the median and
the best time of each, the ratio of the medians (this / base), and whether the two produced
the same outputs (a SHA-256 of every job's first start, finish, pool and preemptions, bit
for bit). Times are the simulation's (or the round's) alone; on a shared 2-core VM single
runs vary by ±10%, so use ``--repeat 5`` or more for a verdict.

Cases: the national default week under ``fifo``, ``backfill``, ``greedy-cost`` and
``suanli``; Philly replayed on ``philly-hetero`` at load 0.8 under ``fifo`` and
``backfill`` (needs ``--data``); 1M synthetic jobs on 100,000 devices under ``fifo`` and
``backfill`` (``--no-1m`` skips them); and one ``suanli`` scheduling round with 10,000 jobs
waiting on 100,000 devices (the policy benchmark's large case).

Run: ``git worktree add /tmp/base <rev>; python benchmarks/revisions.py --base /tmp/base``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def digest(r: Any) -> str:
    """SHA-256 of a run's per-job outcomes."""
    import numpy as np

    h = hashlib.sha256()
    for a in (r.first_start, r.finish, r.last_pool, r.preemptions, r.last_devices):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def run_case(case: str, data: Path) -> dict[str, Any]:
    """One case in this process (whichever suanli is on the path); seconds and outputs."""
    import numpy as np

    from suanli.config import load_scenario
    from suanli.policy.registry import make_policy
    from suanli.sim.engine import Simulator
    from suanli.workload.generator import generate_jobs

    kind, policy = case.split(":")
    if kind == "round":
        return _round_case(policy)
    if kind == "week":
        sys.path.insert(0, str(HERE))
        from policy_bench import batch_default

        sc = load_scenario(batch_default())
        jobs = generate_jobs(sc, np.random.default_rng(2026))
        drain = False
    elif kind == "philly":
        from suanli.trace import convert_source, replay, write_trace

        src = data / "traces/philly-pollux/simulator/traces/philly.csv"
        path = Path(os.environ.get("TMPDIR", "/tmp")) / f"philly-{os.getpid()}.parquet"
        write_trace(convert_source(src, "philly").trace, path)
        rp = replay(path, "philly-hetero", target_load=0.8)
        sc, jobs, drain = rp.scenario, rp.jobs, True
        path.unlink()
    else:
        sys.path.insert(0, str(HERE))
        from sim_bench import bench_scenario

        sc = bench_scenario(1_000_000)
        jobs = generate_jobs(sc, np.random.default_rng(2026))[:1_000_000]
        drain = False
    t0 = time.perf_counter()
    r = Simulator(sc, jobs, make_policy(policy), drain=drain).run()
    return {"seconds": time.perf_counter() - t0, "outputs": digest(r), "jobs": len(jobs)}


def _round_case(policy: str) -> dict[str, Any]:
    """One scheduling round of ``policy`` with 10,000 waiting on 100,000 devices (best of
    five), on the state the policy benchmark builds, with either revision's classes."""
    import numpy as np

    sys.path.insert(0, str(HERE))
    import policy_bench  # its kernel() finds either revision's classes

    ex, _ = policy_bench.snapshot(100_000, 10_000)
    times = policy_bench.time_rounds(ex, policy, 5)
    return {"seconds": float(np.min(times)), "outputs": "", "jobs": len(ex.waiting)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, required=False, help="the other tree (its src/)")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--no-1m", action="store_true", help="skip the 1M-job cases")
    ap.add_argument("--only", help="run only cases whose name contains one of these (a,b)")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.data)))
        return
    if args.base is None:
        ap.error("--base DIR is required")
    cases = [f"week:{p}" for p in ("fifo", "backfill", "greedy-cost", "suanli")]
    if (args.data / "traces/philly-pollux/simulator/traces/philly.csv").is_file():
        cases += ["philly:fifo", "philly:backfill"]
    if not args.no_1m:
        cases += ["million:fifo", "million:backfill"]
    cases += ["round:suanli"]
    if args.only:
        cases = [c for c in cases if any(o in c for o in args.only.split(","))]
    trees = {"base": args.base.resolve(), "this": ROOT}
    rows = []
    print("| case | base median (best) s | this median (best) s | this / base | same outputs |")
    print("|---|---:|---:|---:|---|")
    for case in cases:
        got: dict[str, list[dict[str, Any]]] = {"base": [], "this": []}
        for _ in range(args.repeat):
            for name, tree in trees.items():
                env = {**os.environ, "PYTHONPATH": str(tree / "src")}
                out = subprocess.run(
                    [sys.executable, __file__, "--case", case, "--data", str(args.data)],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                    cwd=tree,
                )
                got[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
        b = sorted(r["seconds"] for r in got["base"])
        t = sorted(r["seconds"] for r in got["this"])
        base, this = statistics.median(b), statistics.median(t)
        same = {r["outputs"] for r in got["base"]} == {r["outputs"] for r in got["this"]}
        row = {"case": case, "base_s": b, "this_s": t, "ratio": this / base, "same": same}
        rows.append(row)
        print(
            f"| {case} | {base:.2f} ({b[0]:.2f}) | {this:.2f} ({t[0]:.2f}) | "
            f"{this / base:.3f} | {'yes' if same else 'NO'} |",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
