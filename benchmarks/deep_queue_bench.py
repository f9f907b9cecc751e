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

With ``--run H``, each policy is also timed **in a run**: the same fleet under the
simulator for ``H`` hours, the jobs that filled it and ``N`` more submitted at time 0 and the
rest of the generated week arriving at offered load ``--load`` (default 2.0: the queue
grows), every round timed as the control loop times it; the row gives the mean, p50 and p95
of the rounds taken while ``0.8 N``–``1.25 N`` jobs waited, how many there were, and a hash of
every job's first start, finish and preemptions (a check that two runs decided alike, not a
proof: pools, moves and resizes are not in it). Rounds in a run mix the kinds above as they
come: after a job ends, after arrivals, on ticks. ``fifo`` is always timed, and first.

Times are in milliseconds, with the ratio to ``fifo``'s in the same run on the same state.
``--policies`` picks policies (default: every registered one). ``--flat`` sets every tenant's
and job's priority to 0 (the scenario gives one tenant and its jobs priority 1), as
workloads were before priorities: policies then decide as they did without them.

Run: ``python benchmarks/deep_queue_bench.py [--waiting 1000,10000] [--repeat 5] [--settled]
[--flat] [--run HOURS [--load 2.0] [--only-run]]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import time
from collections.abc import Callable
from functools import partial
from typing import cast

import numpy as np
import yaml

from suanli.config import parse_scenario
from suanli.core.accounting import Accounting
from suanli.core.events import EventQueue
from suanli.core.jobtable import JobTable
from suanli.core.policy import Policy, PolicyInput, PolicyOutput
from suanli.core.state import SchedulingState
from suanli.core.tables import build_tables
from suanli.model.job import Job
from suanli.model.scenario import Scenario
from suanli.policy.registry import make_policy, policy_names
from suanli.scenarios import builtin_dir, builtin_text
from suanli.sim.engine import Simulator
from suanli.trace.jobs import offered_load
from suanli.workload.generator import generate_jobs


def fleet(
    devices: int, seed: int = 1, flat: bool = False, hours: float = 24 * 7
) -> tuple[Scenario, list[Job]]:
    """The national default's batch week scaled to about ``devices`` devices (power scaled
    with it), its horizon ``hours``, and the jobs of up to 64 devices its generator submits
    in a week (``seed``); with ``flat``, every tenant and job of priority 0."""
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
    jobs = [
        dataclasses.replace(j, priority=0 if flat else j.priority)
        for j in generate_jobs(sc, np.random.default_rng(seed))
        if j.gang <= 64
    ]
    if hours != 24 * 7:
        data["horizon"]["hours"] = hours
        sc = parse_scenario(yaml.safe_dump(data), "bench", builtin_dir())
    return sc, jobs


def saturated(devices: int, waiting: int, seed: int = 1, flat: bool = False) -> SchedulingState:
    """A fleet of about ``devices`` devices (:func:`fleet`) filled until the FIFO head
    blocks, then ``waiting`` more jobs queued (all submitted at time 0, in arrival order)."""
    return _filled(devices, waiting, seed, flat)[0]


def _filled(
    devices: int, waiting: int, seed: int = 1, flat: bool = False
) -> tuple[SchedulingState, int]:
    """:func:`saturated`, and how many of :func:`fleet`'s jobs it submitted."""
    sc, jobs = fleet(devices, seed, flat)
    jobs = [dataclasses.replace(j, submit_s=0.0) for j in jobs[: 2 * waiting + 5000]]
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
    return ex, j


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


class _Timed:
    """A policy whose rounds are timed and counted by queue length (all else delegated)."""

    def __init__(self, policy: Policy) -> None:
        self._policy = policy
        #: Per round: (jobs waiting, seconds).
        self.log: list[tuple[int, float]] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self._policy, name)

    def decide(self, inp: PolicyInput) -> PolicyOutput:
        t0 = time.perf_counter()
        out = self._policy.decide(inp)
        self.log.append((len(inp.waiting), time.perf_counter() - t0))
        return out


def in_run(
    devices: int, waiting: int, policy: str, hours: float, load: float, flat: bool
) -> tuple[np.ndarray, int, str]:
    """Seconds of each round ``policy`` took while ``0.8 N``–``1.25 N`` jobs waited in a run
    of ``hours`` (module docstring), the number of rounds in the run, and a hash of its
    decisions."""
    submitted = _filled(devices, waiting, flat=flat)[1]
    sc, jobs = fleet(devices, flat=flat, hours=hours)
    head, tail = jobs[:submitted], jobs[submitted:]
    scale = offered_load(sc, tail) / load  # the tail's span stretched to offer ``load``
    t0 = tail[0].submit_s

    def at(j: Job, submit: float, deadline: float | None) -> Job:
        return dataclasses.replace(j, submit_s=submit, deadline_s=deadline)

    moved = [  # deadlines kept relative to submission at 0, mapped with the tail's times
        at(j, 0.0, None if j.deadline_s is None else j.deadline_s - j.submit_s) for j in head
    ] + [
        at(
            j,
            1.0 + (j.submit_s - t0) * scale,
            None if j.deadline_s is None else 1.0 + (j.deadline_s - t0) * scale,
        )
        for j in tail
    ]
    timed = cast(Policy, _Timed(make_policy(policy)))
    res = Simulator(sc, [j for j in moved if j.submit_s < sc.horizon_s], timed).run()
    log = np.asarray(cast(_Timed, timed).log)
    band = (log[:, 0] >= 0.8 * waiting) & (log[:, 0] <= 1.25 * waiting)
    digest = hashlib.sha256()
    for a in (res.first_start, res.finish, res.preemptions):
        digest.update(np.ascontiguousarray(a).tobytes())
    return log[band, 1], len(log), digest.hexdigest()[:12]


def run_table(args: argparse.Namespace, names: list[str]) -> None:
    """Print the rows of ``--run``."""
    print(
        f"\nIn a run ({args.run:g} h, offered load {args.load:g}): rounds with 0.8–1.25 N waiting\n"
    )
    print("| N | policy | rounds in band (of all) | mean | p50 | p95 | mean × fifo | decisions |")
    print("|---:|---|---:|---:|---:|---:|---:|---|")
    for n in (int(x) for x in args.waiting.split(",")):
        base = 0.0
        for name in names:
            band, total, digest = in_run(args.devices, n, name, args.run, args.load, args.flat)
            if not len(band):
                print(f"| {n:,} | {name} | 0 (of {total:,}) | – | – | – | – | {digest} |")
                continue
            mean = float(band.mean())
            if name == "fifo":
                base = mean
            ratio = f"×{mean / base:,.1f}" if base else "–"
            p50, p95 = np.percentile(band, [50, 95])
            print(
                f"| {n:,} | {name} | {len(band):,} (of {total:,}) | {mean * 1e3:.3f} ms | "
                f"{p50 * 1e3:.3f} ms | {p95 * 1e3:.3f} ms | {ratio} | {digest} |",
                flush=True,
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=10_000)
    ap.add_argument("--waiting", default="1000,10000")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--policies", default="")
    ap.add_argument("--settled", action="store_true", help="also time settled rounds")
    ap.add_argument("--settle", type=int, default=200, help="the most rounds to settle")
    ap.add_argument("--flat", action="store_true", help="every tenant and job of priority 0")
    ap.add_argument("--run", type=float, default=0.0, help="also time rounds in a run (hours)")
    ap.add_argument("--load", type=float, default=2.0, help="offered load of --run's arrivals")
    ap.add_argument("--only-run", action="store_true", help="time rounds in a run only")
    args = ap.parse_args()
    names = [p for p in args.policies.split(",") if p] or policy_names()
    if "fifo" in names:
        names.remove("fifo")
    names.insert(0, "fifo")
    if args.only_run:
        run_table(args, names)
        return
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
    if args.run:
        run_table(args, names)


if __name__ == "__main__":
    main()
