"""Issue 14's targets for online inference services, over a built-in scenario's week.

Four cases, each in a fresh process (so its wall time is its own), on the same batch jobs
(the scenario's generator, seed 2026 or ``--seed``) under the same batch policy (``suanli``):

* ``batch`` — the scenario without its services (``cn-hubs-2026-batch`` for the national
  default; for another built-in, ``<name>-batch``, cut from its file the same way,
  :func:`suanli.scenarios.without_services`): the baseline of the wall-time ratio;
* ``static-peak``, ``reactive``, ``suanli`` — the scenario with its services, scaled by
  that serving policy: the baselines of the serving ratios are the first two.

Figures, as ratios to the baselines measured in the same run:

* per service, the share of requests answered within its SLO (target: ``suanli`` ≥ 99%
  for every service), and against ``reactive`` (equal or better);
* serving device-hours: devices held by the replicas over the week, all services
  (target: ``suanli`` ≥ 30% fewer than ``static-peak``);
* batch work done in the week: the work (PFLOP, the jobs' ``work_pflop``: device-hours on
  the generator's reference accelerator up to a constant) the batch jobs did within the
  week — all of it for those that finished, the progress of the others (their last
  checkpoint, plus what a stretch still running at the end computed; work lost to
  preemptions does not count) — (target: ``suanli`` ≥ ``static-peak``). Also given: the
  work of the jobs that finished (which moves by a whole job's work when a long job ends
  just before or just after the week's end, so by more than the serving policies differ
  on a fleet where batch work is not short of devices), the jobs finished, and the
  device-hours of every stretch (devices held × time, stretches before a preemption too)
  of those jobs — which grows when the same work runs on slower devices, so it measures
  where batch work ran more than how much finished;
* cold starts, all services (target: ``suanli`` fewer than ``reactive``);
* simulation wall time with services (``suanli`` serving) against the batch-only week
  (target: ≤ 2×); also the processes' CPU time, which other work on a shared machine
  moves less.

Run from the repository root: ``python benchmarks/services_bench.py [--scenario NAME]
[--hours H] [--seed S] [--cases a,b] [--json out.json]`` — ``--scenario`` a built-in with
services (default ``cn-hubs-2026``; ``eu-na-2026`` the second fleet), ``--hours`` shortens
the horizon for a check, ``--seed`` draws other batch jobs (default 2026), ``--cases`` runs
some of the four (the tables need all of them). About 5 minutes for ``cn-hubs-2026`` and 2
for ``eu-na-2026`` on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SERVING = ("static-peak", "reactive", "suanli")
SEED = 2026
DEFAULT = "cn-hubs-2026"
CASES = ("batch", "suanli", "static-peak", "reactive")


def scenario(name: str, hours: int | None, batch: bool = False) -> Any:
    """The built-in ``name`` (without its services when ``batch``: ``name-batch``), its
    horizon cut to ``hours`` when given."""
    import yaml

    from suanli.config import parse_scenario
    from suanli.scenarios import builtin_dir, builtin_text, without_services

    text = builtin_text(name)
    if batch:
        text = without_services(text, name, f"{name}-batch")
    if hours is not None:
        data = yaml.safe_load(text)
        data["horizon"]["hours"] = hours
        text = yaml.safe_dump(data, sort_keys=False)
    return parse_scenario(text, f"{name}-batch" if batch else name, builtin_dir())


def run_case(case: str, hours: int | None, name: str = DEFAULT, seed: int = SEED) -> dict[str, Any]:
    """One case in this process: build, generate, simulate; measure."""
    import numpy as np

    from suanli.experiment.run import run_policies
    from suanli.workload.generator import generate_jobs

    batch = case == "batch"
    sc = scenario(name, hours, batch)
    jobs = generate_jobs(sc, np.random.default_rng(seed))
    t0, c0 = time.perf_counter(), time.process_time()
    (r,) = run_policies(sc, jobs, ["suanli"], seed, serving=None if batch else case)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    done = np.asarray(r.done, dtype=bool)
    held = sum(s.devices * (s.end_s - s.start_s) for s in r.stretches if done[s.job])
    work = float(np.asarray(r.jobs.work)[done].sum())
    worked = float(r.work_done.sum())
    services = {
        o.service: {
            "attainment": o.attainment,
            "requests": float(o.requests.sum()),
            "dropped": float(o.dropped.sum()),
            "device_h": float(o.device_s.sum()) / 3600,
            "peak_devices": float(o.series[:, 4].max()) if len(o.series) else 0.0,
            "cold_starts": int(o.cold_starts),
            "unplaced": int(o.unplaced),
        }
        for o in r.services
    }
    return {
        "case": case,
        "jobs": len(jobs),
        "devices": sum(p.count for p in sc.pools),
        "hours": sc.hours,
        "wall_s": wall,
        "cpu_s": cpu,
        "batch_done": int(done.sum()),
        "batch_device_h": held / 3600,
        "batch_work_pflop": work,
        "batch_worked_pflop": worked,
        "services": services,
    }


def table(rows: dict[str, dict[str, Any]], name: str = DEFAULT) -> str:
    """The markdown tables of the run: services by policy, then the totals and ratios."""
    names = list(rows["suanli"]["services"])
    out = ["| service | " + " | ".join(f"SLO met, {p}" for p in SERVING) + " | suanli − reactive |"]
    out.append("|---|" + "---:|" * (len(SERVING) + 1))
    for n in names:
        att = [rows[p]["services"][n]["attainment"] for p in SERVING]
        diff = (att[2] - att[1]) * 100
        out.append(f"| {n} | " + " | ".join(f"{a:.2%}" for a in att) + f" | {diff:+.2f} points |")
    out.append("")
    out.append("| figure | " + " | ".join(SERVING) + " | suanli vs baseline | target |")
    out.append("|---|" + "---:|" * (len(SERVING) + 1) + "---|")

    def total(p: str, key: str) -> float:
        return float(sum(s[key] for s in rows[p]["services"].values()))

    sp, su = rows["static-peak"], rows["suanli"]
    dev = [total(p, "device_h") for p in SERVING]
    peak = [total(p, "peak_devices") for p in SERVING]
    cold = [total(p, "cold_starts") for p in SERVING]
    bdh = [rows[p]["batch_device_h"] for p in SERVING]
    out.append(
        "| serving device-hours | "
        + " | ".join(f"{v:,.0f}" for v in dev)
        + f" | {dev[2] / dev[0]:.3f} × static-peak | ≤ 0.70 |"
    )
    out.append(
        "| replicas' devices at peak (sum of services' peaks) | "
        + " | ".join(f"{v:,.0f}" for v in peak)
        + f" | {peak[2] / sp['devices']:.1%} of {sp['devices']:,} devices | – |"
    )
    out.append(
        "| batch work finished (EFLOP) | "
        + " | ".join(f"{rows[p]['batch_work_pflop'] / 1e3:,.0f}" for p in SERVING)
        + f" | {su['batch_work_pflop'] / sp['batch_work_pflop']:.4f} × static-peak | – |"
    )
    out.append(
        "| batch work done in the week (EFLOP) | "
        + " | ".join(f"{rows[p]['batch_worked_pflop'] / 1e3:,.0f}" for p in SERVING)
        + f" | {su['batch_worked_pflop'] / sp['batch_worked_pflop']:.4f} × static-peak | ≥ 1 |"
    )
    out.append(
        "| batch jobs finished | "
        + " | ".join(f"{rows[p]['batch_done']:,}" for p in SERVING)
        + f" | {su['batch_done'] - sp['batch_done']:+,} vs static-peak | – |"
    )
    out.append(
        "| device-hours of the finished batch jobs | "
        + " | ".join(f"{v:,.0f}" for v in bdh)
        + f" | {bdh[2] / bdh[0]:.3f} × static-peak | – |"
    )
    out.append(
        "| cold starts | "
        + " | ".join(f"{v:,.0f}" for v in cold)
        + f" | {cold[2] / cold[1] if cold[1] else math.nan:.2f} × reactive | < 1 |"
    )
    b = rows["batch"]
    out.append(
        "| wall time (s) | "
        + " | ".join(f"{rows[p]['wall_s']:.0f}" for p in SERVING)
        + f" | {su['wall_s'] / b['wall_s']:.2f} × batch-only ({b['wall_s']:.0f} s) | ≤ 2 |"
    )
    out.append(  # the process's own CPU time: less moved by other work on the machine
        "| CPU time (s) | "
        + " | ".join(f"{rows[p]['cpu_s']:.0f}" for p in SERVING)
        + f" | {su['cpu_s'] / b['cpu_s']:.2f} × batch-only ({b['cpu_s']:.0f} s) | – |"
    )
    out.append("")
    out.append(
        f"Batch-only week (`{name}-batch`, suanli): {b['batch_done']:,} jobs finished, "
        f"{b['batch_work_pflop'] / 1e3:,.0f} EFLOP, {b['batch_device_h']:,.0f} device-hours, "
        f"{b['wall_s']:.0f} s."
    )
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--scenario", default=DEFAULT, help="a built-in scenario with services")
    ap.add_argument("--hours", type=int, default=None, help="shorten the horizon (a check)")
    ap.add_argument("--seed", type=int, default=SEED, help="seed of the batch jobs and the run")
    ap.add_argument(
        "--cases",
        default=",".join(CASES),
        help="comma-separated subset of the cases (the tables need all four)",
    )
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.hours, args.scenario, args.seed)))
        return
    cases = [c for c in args.cases.split(",") if c]
    if unknown := sorted(set(cases) - set(CASES)):
        ap.error(f"unknown cases {unknown}; choose from {', '.join(CASES)}")
    rows: dict[str, dict[str, Any]] = {}
    for case in cases:
        cmd = [sys.executable, __file__, "--case", case, "--scenario", args.scenario]
        cmd += ["--seed", str(args.seed)]
        if args.hours is not None:
            cmd += ["--hours", str(args.hours)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows[case] = json.loads(out.stdout.strip().splitlines()[-1])
        if args.json:  # as it goes: the week takes a while
            args.json.write_text(json.dumps(rows, indent=2) + "\n")
        r = rows[case]
        print(
            f"{case:12} wall {r['wall_s']:7.1f} s  cpu {r['cpu_s']:7.1f} s  "
            f"batch done {r['batch_done']:,}  "
            + "  ".join(
                f"{n} {s['attainment']:.4f}/{s['device_h']:,.0f} dh/{s['cold_starts']} cold"
                for n, s in r["services"].items()
            ),
            file=sys.stderr,
            flush=True,
        )
    if set(rows) != set(CASES):
        return
    if rows["batch"]["jobs"] != rows["suanli"]["jobs"]:
        raise SystemExit("the batch-only and the services runs have different jobs")
    print(table(rows, args.scenario))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
