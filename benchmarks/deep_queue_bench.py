"""Per-round time of every policy on a deep queue (issue 18, item 5).

The national default's pools scaled to ``--devices`` devices are filled in arrival order
(``fifo`` rounds after each arrival) until the head of the queue blocks; then ``N``
more jobs arrive (N = 1,000 and 10,000 by default): a saturated fleet with a deep queue,
where a round can start little and must look at many jobs to find it. Each policy (a
fresh instance, on a state of its own built the same way) is timed on

* its **first full** round (``full=True``, as on a tick): what it starts, preempts or
  reserves on the deep queue, one round;
* **full** rounds after it, carried out as they come (p50 of R): the steady state of a
  saturated fleet between changes, where a policy should find quickly that nothing changed;
* **event** rounds after a first full one (p50 of R), each with one job announced as just
  arrived (the last in the queue), as between ticks when jobs keep coming;
* with ``--settled``, also **settled full** and **settled event** rounds: the same, once
  full rounds carried out after the first (at most ``--settle`` of them, time not moving
  on) have come to one that decides nothing. A policy that preempts (``las``: one
  preemption-start per pool and round) keeps deciding on the rounds after its first, so
  its "full" and "event" rounds are rounds that act; the settled ones are the steady state
  between changes, where it should find quickly that nothing changed.

Times are in milliseconds, with the ratio to ``fifo``'s in the same run on the same state.
``--policies`` picks policies (default: every registered one). ``--flat`` sets every tenant's
and job's priority to 0 (the scenario gives one tenant and its jobs priority 1), as
workloads were before priorities: policies then decide as they did without them.

Run: ``python benchmarks/deep_queue_bench.py [--waiting 1000,10000] [--repeat 5] [--settled]
[--flat]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable
from functools import partial

import numpy as np
import yaml

from suanli.config import parse_scenario
from suanli.core.accounting import Accounting
from suanli.core.events import EventQueue
from suanli.core.jobtable import JobTable
from suanli.core.state import SchedulingState
from suanli.core.tables import build_tables
from suanli.policy.registry import make_policy, policy_names
from suanli.scenarios import builtin_dir, builtin_text
from suanli.workload.generator import generate_jobs


def saturated(devices: int, waiting: int, seed: int = 1, flat: bool = False) -> SchedulingState:
    """A fleet of about ``devices`` devices filled until the FIFO head blocks, then
    ``waiting`` more jobs queued (all submitted at time 0, in arrival order); with ``flat``,
    every tenant and job of priority 0."""
    data = yaml.safe_load(builtin_text("cn-hubs-2026-batch"))
    if flat:
        for t in data["tenants"]:
            t["priority"] = 0
    total = sum(p["count"] for s in data["sites"] for p in s["pools"])
    scale = devices / total
    for s in data["sites"]:
        for p in s["pools"]:
            p["count"] = max(8, round(p["count"] * scale / 8) * 8)
        s["power_capacity_mw"] = round(s["power_capacity_mw"] * max(scale, 0.05) * 1.5, 3)
        s["max_power_oversubscription"] = 2.0
    data["horizon"]["hours"] = 24 * 7
    sc = parse_scenario(yaml.safe_dump(data), "bench", builtin_dir())
    jobs = [j for j in generate_jobs(sc, np.random.default_rng(seed)) if j.gang <= 64]
    jobs = [
        dataclasses.replace(j, submit_s=0.0, priority=0 if flat else j.priority)
        for j in jobs[: 2 * waiting + 5000]
    ]
    tables = build_tables(sc)
    jt = JobTable(jobs, tables)
    ex = SchedulingState(tables, jt, EventQueue(), Accounting(tables, sc.hours))
    fifo = make_policy("fifo")
    j = 0
    while j < len(jobs) and not ex.waiting:  # as one fifo round per arrival would fill it
        for k in range(j, min(j + 256, len(jobs))):
            ex.arrive(k)
        j = min(j + 256, len(jobs))
        ex.apply(fifo.decide(ex.snapshot(0.0, full=True)), 0.0)
    while j < len(jobs) and len(ex.waiting) < waiting:
        ex.arrive(j)
        j += 1
    if len(ex.waiting) < waiting:
        raise SystemExit(f"only {len(ex.waiting)} jobs to queue (asked for {waiting})")
    ex.snapshot(0.0, full=True)  # clear the record of arrivals
    return ex


def time_rounds(
    build: Callable[[], SchedulingState], policy: str, repeat: int, event: bool, settle: int = 0
) -> tuple[float, list[float], int]:
    """Seconds of a fresh ``policy``'s first full round on a fresh state, and of
    ``repeat`` rounds after it (full, or with one arrival each); every round's decisions
    are carried out, as in a run (without time moving on). With ``settle``, up to that
    many full rounds are carried out first, until one decides nothing; the last value is
    how many were (``-1``: none decided nothing)."""
    ex = build()
    pol = make_policy(policy)
    now = 3600.0
    inp = ex.snapshot(now, full=True)
    t0 = time.perf_counter()
    out = pol.decide(inp)
    first = time.perf_counter() - t0
    ex.apply(out, now)
    settled = 0
    if settle:
        settled = -1
        for k in range(1, settle + 1):
            out = pol.decide(ex.snapshot(now, full=True))
            ex.apply(out, now)
            if not (out.starts or out.preempts or out.migrates or out.defers):
                settled = k
                break
    rounds = []
    for _ in range(repeat):
        inp = ex.snapshot(now, full=not event)
        if event and inp.waiting:
            inp = dataclasses.replace(inp, arrived=[inp.waiting[-1]])
        t0 = time.perf_counter()
        out = pol.decide(inp)
        rounds.append(time.perf_counter() - t0)
        ex.apply(out, now)
    return first, rounds, settled


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=10_000)
    ap.add_argument("--waiting", default="1000,10000")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--policies", default="")
    ap.add_argument("--settled", action="store_true", help="also time settled rounds")
    ap.add_argument("--settle", type=int, default=200, help="the most rounds to settle")
    ap.add_argument("--flat", action="store_true", help="every tenant and job of priority 0")
    args = ap.parse_args()
    names = [p for p in args.policies.split(",") if p] or policy_names()
    if "fifo" not in names:
        names.insert(0, "fifo")
    print("| waiting | round | " + " | ".join(names) + " |")
    print("|---:|---|" + "---:|" * len(names))
    for n in (int(x) for x in args.waiting.split(",")):
        size = len(saturated(args.devices, n, flat=args.flat).waiting)
        rows: dict[str, dict[str, float]] = {"first full": {}, "full": {}, "event": {}}
        if args.settled:
            rows |= {"settled full": {}, "settled event": {}}
        after: dict[str, int] = {}
        for name in names:
            build = partial(saturated, args.devices, n, flat=args.flat)
            first, full, _ = time_rounds(build, name, args.repeat, event=False)
            _, event, _ = time_rounds(build, name, args.repeat, event=True)
            rows["first full"][name] = first
            rows["full"][name] = float(np.median(full))
            rows["event"][name] = float(np.median(event))
            if args.settled:
                _, full, after[name] = time_rounds(build, name, args.repeat, False, args.settle)
                _, event, _ = time_rounds(build, name, args.repeat, True, args.settle)
                rows["settled full"][name] = float(np.median(full))
                rows["settled event"][name] = float(np.median(event))
        for kind, p50 in rows.items():
            base = max(p50["fifo"], 1e-7)
            cells = " | ".join(f"{p50[x] * 1e3:.2f} ms (×{p50[x] / base:,.0f})" for x in names)
            print(f"| {size:,} | {kind} | {cells} |", flush=True)
        if after:
            said = ", ".join(f"{x} {k if k >= 0 else 'not'}" for x, k in after.items())
            print(f"\n(rounds to settle at {size:,} waiting: {said})\n", flush=True)


if __name__ == "__main__":
    main()
