"""Time of a round with services (issue 14): 100 services and 10,000 waiting jobs on
100,000 devices; target ≤ 1 s at p95.

The fleet is the national default's pools scaled to 100,000 devices, about half of them
busy with batch work, 10,000 more jobs waiting (as ``policy_bench.py`` builds it). One
hundred services (the built-in models in turn, two eastern user regions each, inline
daily demand) are added with peaks sized to hold about a fifth of the fleet. A *round*
is a serving tick (account for the last 5 minutes, the ``suanli`` serving policy's
decisions, carried out) followed by the ``suanli`` batch policy's full round on the
state it leaves (decided, not carried out, so the queue stays 10,000 long). The
baseline, measured in the same run, is the batch round alone on the same state without
services. Rounds are taken at successive ticks of the morning ramp
(demand rising, replicas added and batch jobs preempted).

Run: ``python benchmarks/serving_round_bench.py [--services 100 --devices 100000
--waiting 10000 --ticks 20]``.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import yaml

from suanli.config import parse_scenario
from suanli.core.accounting import Accounting
from suanli.core.events import EventKind, EventQueue
from suanli.core.jobtable import JobTable
from suanli.core.serving import ServingState
from suanli.core.serving_tables import build_serving_tables
from suanli.core.state import SchedulingState
from suanli.core.tables import build_tables
from suanli.policy.registry import make_policy, make_serving_policy
from suanli.scenarios import builtin_dir, builtin_text
from suanli.workload.generator import generate_jobs

CITIES = (
    ("beijing", 39.90, 116.40),
    ("shanghai", 31.23, 121.47),
    ("guangzhou", 23.13, 113.26),
    ("hangzhou", 30.27, 120.15),
    ("nanjing", 32.06, 118.80),
    ("wuhan", 30.59, 114.31),
)
MODELS = ("qwen2.5-7b", "qwen2.5-32b", "deepseek-v3", "glm-5")
#: A chat day by local hour (relative; ASSUMPTION: low at night, high 9-22 h).
DAY = [3, 2, 1.5, 1, 1, 1.5, 2, 4, 6, 8, 9, 9, 8, 8, 9, 9, 9, 8, 8, 9, 9, 8, 6, 4]


def scenario_data(devices: int, services: int) -> dict[str, Any]:
    """The national default scaled to ``devices``, with ``services`` services (0: none)."""
    data = yaml.safe_load(builtin_text("cn-hubs-2026-batch"))
    data.pop("user_regions", None)
    data.pop("services", None)
    total = sum(p["count"] for s in data["sites"] for p in s["pools"])
    scale = devices / total
    for s in data["sites"]:
        for p in s["pools"]:
            p["count"] = max(8, round(p["count"] * scale / 8) * 8)
        s["power_capacity_mw"] = round(s["power_capacity_mw"] * max(scale, 0.05) * 1.5, 3)
        s["max_power_oversubscription"] = 2.0
    data["horizon"]["hours"] = 24 * 30
    if services:
        tenant = data["tenants"][0]["id"]
        data["user_regions"] = [
            {"id": c, "location": {"lat": lat, "lon": lon}, "timezone": "Asia/Shanghai"}
            for c, lat, lon in CITIES
        ]
        data["services"] = [
            {
                "id": f"svc-{i}",
                "tenant": tenant,
                "model": MODELS[i % len(MODELS)],
                "slo": {"ttft_p99_ms": 3000, "tpot_ms": 80},
                "regions": [
                    {
                        "region": CITIES[(i + k) % len(CITIES)][0],
                        "max_latency_ms": 40,
                        "demand": {
                            "peak_rps": 2.0 if i % len(MODELS) >= 2 else 20.0,
                            "hourly": DAY,
                            "cv": 1.5,
                            "input_tokens": {"mean": 1500, "cv": 1.2},
                            "output_tokens": {"mean": 400, "cv": 1.0},
                        },
                    }
                    for k in range(2)
                ],
            }
            for i in range(services)
        ]
    return data


def state(data: dict[str, Any], devices: int, waiting: int, seed: int = 1) -> Any:
    """A scheduling state with about half the fleet busy and ``waiting`` jobs queued."""
    sc = parse_scenario(yaml.safe_dump(data), "bench", builtin_dir())
    jobs = generate_jobs(sc, np.random.default_rng(seed))
    jobs = [j for j in jobs if j.gang <= devices // 64 or j.gang <= 16][: waiting * 3]
    tables = build_tables(sc)
    q = EventQueue()
    st = SchedulingState(tables, JobTable(jobs, tables), q, Accounting(tables, sc.hours))
    fifo = make_policy("fifo")
    j = 0
    while j < len(jobs) and sum(st.cluster.tenant_milli) < devices // 2 * 1000:
        st.arrive(j)
        st.apply(fifo.decide(st.snapshot(0.0, full=True)), 0.0)
        j += 1
    start = j
    while j < len(jobs) and j - start < waiting:
        st.arrive(j)
        j += 1
    return st, q


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=100)
    ap.add_argument("--devices", type=int, default=100_000)
    ap.add_argument("--waiting", type=int, default=10_000)
    ap.add_argument("--ticks", type=int, default=20)
    args = ap.parse_args()

    batch = make_policy("suanli")
    st0, _ = state(scenario_data(args.devices, 0), args.devices, args.waiting)
    base = []
    for i in range(args.ticks):
        inp = st0.snapshot(6 * 3600.0 + 300.0 * i, full=True)
        t0 = time.perf_counter()
        batch.decide(inp)
        base.append(time.perf_counter() - t0)

    st, q = state(scenario_data(args.devices, args.services), args.devices, args.waiting)
    serving = make_serving_policy("suanli")
    srv = ServingState(st, build_serving_tables(st.tables), q, serving.tick_s)
    srv.warm_start()
    t_start = 6 * 3600.0  # the morning ramp
    srv.last_t = t_start - serving.tick_s
    srv.tick(serving, t_start - serving.tick_s)
    tick_s, batch_s = [], []
    for i in range(args.ticks):
        now = t_start + 300.0 * i
        while q.peek_time() <= now:  # cold starts over, drains done
            when, kind, _, a, b = q.pop()
            if kind == EventKind.DRAIN:
                srv.timer(kind, a, b, when)
            else:
                st.timer(kind, a, b, when)
        t0 = time.perf_counter()
        srv.tick(serving, now)
        t1 = time.perf_counter()
        batch.decide(st.snapshot(now, full=True))  # timed, not applied: the queue stays
        t2 = time.perf_counter()
        tick_s.append(t1 - t0)
        batch_s.append(t2 - t1)
    tick = np.array(tick_s) * 1e3
    bat = np.array(batch_s) * 1e3
    both = tick + bat
    ref = np.array(base) * 1e3
    replicas = len(srv.replicas)
    print(
        f"{args.devices:,} devices, {len(st.waiting):,} waiting, {args.services} services "
        f"({replicas:,} replicas at the end): round p50 {np.percentile(both, 50):.0f} ms, "
        f"p95 {np.percentile(both, 95):.0f} ms (serving tick p95 "
        f"{np.percentile(tick, 95):.0f} ms, batch round p95 {np.percentile(bat, 95):.0f} ms); "
        f"batch round without services p95 {np.percentile(ref, 95):.0f} ms "
        f"(ratio ×{np.percentile(both, 95) / max(np.percentile(ref, 95), 1e-6):.2f})"
    )


if __name__ == "__main__":
    main()
