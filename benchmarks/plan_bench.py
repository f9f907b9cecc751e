"""Planner speed: solve times of the capacity MILP as the instance grows.

Run as ``python benchmarks/plan_bench.py`` (``--quick`` for the two smallest sizes).
The national default (8 sites, 17 accelerator types, 12 demand classes) is solved
from its YAML; larger instances are made from it by cloning sites, types and
classes with seeded ±15% jitter on capacities, prices, speeds and demand (demand
grows with the number of sites so that the instances stay feasible). Every
instance is solved to HiGHS's default relative gap (10⁻⁴), and its LP relaxation
is solved in the same run as a baseline: the table reports MILP seconds and the
ratio MILP / LP, and the ratio to the smallest instance. Times are the best of
``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import replace

import numpy as np

from suanli.plan.instance import CapData, ClassData, PlanInstance, build_instance, oversubscription
from suanli.plan.load import load_planning
from suanli.plan.lp import solve_lp, solve_milp
from suanli.plan.milp import build

SIZES = [(4, 10, 6), (16, 24, 16), (24, 32, 24), (32, 40, 32), (48, 48, 40)]


def default_instance() -> PlanInstance:
    """The national default instance."""
    planning = load_planning()
    sc = planning.scenario
    return build_instance(sc.scenario, planning.file, oversubscription(sc.text))


def _jitter(rng: np.random.Generator, value: float, spread: float = 0.15) -> float:
    return float(value * rng.uniform(1 - spread, 1 + spread))


def _spread(n: int, base: int) -> list[int]:
    """``n`` indices into ``base`` items: evenly spread when fewer, then cycling."""
    if n <= base:
        return [k * base // n for k in range(n)]
    return list(range(base)) + [k % base for k in range(base, n)]


def scaled(
    base: PlanInstance, n_sites: int, n_types: int, n_classes: int, seed: int
) -> PlanInstance:
    """An instance of the given size grown from ``base`` by seeded cloning."""
    rng = np.random.default_rng(seed)
    bs, bt, bc = len(base.sites), len(base.types), len(base.classes)
    site_src = _spread(n_sites, bs)
    type_src = _spread(n_types, bt)
    class_src = _spread(n_classes, bc)
    sites = []
    for s, k in enumerate(site_src):
        src = base.sites[k]
        sites.append(
            src
            if s < bs
            else replace(
                src,
                id=f"{src.id}-{s}",
                lat=src.lat + rng.uniform(-2, 2),
                lon=src.lon + rng.uniform(-2, 2),
                capacity_mw=_jitter(rng, src.capacity_mw),
                max_expansion_mw=_jitter(rng, src.max_expansion_mw),
                expansion_cost_per_mw=_jitter(rng, src.expansion_cost_per_mw),
            )
        )
    types = []
    for a, k in enumerate(type_src):
        src = base.types[k]
        price = None if src.unit_price is None else _jitter(rng, src.unit_price)
        clone = a >= bt
        types.append(replace(src, id=f"{src.id}-{a}", unit_price=price) if clone else src)
    speed_factor = [1.0 if a < bt else _jitter(rng, 1.0) for a in range(n_types)]
    classes = []
    for c, k in enumerate(class_src):
        src = base.classes[k]
        classes.append(
            ClassData(
                name=src.name if n_classes <= bc else f"{src.name}-{c}",
                profile=src.profile,
                demand_pflops=_jitter(rng, src.demand_pflops)
                * n_sites
                / bs
                * min(1.0, bc / n_classes),
                utilisation=src.utilisation,
                power_factor=src.power_factor,
                speed=tuple(src.speed[k] * f for k, f in zip(type_src, speed_factor, strict=True)),
                min_pool=tuple(src.min_pool[k] for k in type_src),
                allowed_sites=tuple(src.allowed_sites[k] for k in site_src),
                weight=src.weight,
            )
        )
    existing = tuple(
        tuple(base.existing[ks][ka] if a < bt else 0 for a, ka in enumerate(type_src))
        for ks in site_src
    )
    type_ids = [t.id for t in types]
    assert len(set(type_ids)) == len(type_ids) and len({s.id for s in sites}) == len(sites)
    prices = tuple(
        tuple(_jitter(rng, base.energy_price[ks][ka], 0.1) for ka in type_src) for ks in site_src
    )
    caps = []
    for cap in base.caps:
        members = tuple(a for a, k in enumerate(type_src) if k in cap.types)
        caps.append(
            CapData(cap.label, cap.kind, members, int(cap.units * n_sites / bs), cap.source)
        )
    return replace(
        base,
        name=f"{n_sites}x{n_types}x{n_classes}",
        sites=tuple(sites),
        types=tuple(types),
        classes=tuple(classes),
        existing=existing,
        energy_price=prices,
        caps=tuple(caps),
        budget=None,
    )


def measure(inst: PlanInstance, repeat: int, time_limit: float) -> dict[str, float | str]:
    """Best-of-``repeat`` seconds for the MILP and its LP relaxation."""
    f = build(inst)
    milp_s, lp_s, status, gap = [], [], "", 0.0
    for k in range(repeat):
        if k and min(milp_s) > 20.0:
            break  # long solves are timed once
        t0 = time.perf_counter()
        sol = solve_milp(f.model, time_limit_s=time_limit)
        milp_s.append(time.perf_counter() - t0)
        status, gap = sol.status, sol.mip_gap or 0.0
        t0 = time.perf_counter()
        solve_lp(f.model)
        lp_s.append(time.perf_counter() - t0)
    rows, cols, ints = f.model.shape
    return {
        "rows": rows,
        "cols": cols,
        "ints": ints,
        "milp_s": min(milp_s),
        "lp_s": min(lp_s),
        "status": status,
        "gap": gap,
    }


def main() -> None:
    """Run the benchmark and print a Markdown table, a row as each instance is solved."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--time-limit", type=float, default=300.0)
    parser.add_argument(
        "--quick", action="store_true", help="only the default and the smallest size"
    )
    args = parser.parse_args()
    sizes = SIZES[:1] if args.quick else SIZES
    print(
        f"# plan_bench on {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, best of {args.repeat}\n"
    )
    t0 = time.perf_counter()
    default = default_instance()
    load_s = time.perf_counter() - t0
    print(
        "| instance (sites × types × classes) | rows | columns | integer | MILP s | LP s "
        "| MILP / LP | × smallest | status (gap) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|", flush=True)
    cases = [(f"{s} × {t} × {c}", scaled(default, s, t, c, seed=s * 1000 + t)) for s, t, c in sizes]
    cases.insert(1, ("national default (YAML), 8 × 17 × 12", default))
    smallest = 0.0
    for label, inst in cases:
        r = measure(inst, args.repeat, args.time_limit)
        milp, lp = float(r["milp_s"]), float(r["lp_s"])
        smallest = smallest or milp
        print(
            f"| {label} | {r['rows']:,} | {r['cols']:,} | {r['ints']:,} | {milp:.2f} | "
            f"{lp:.3f} | {milp / lp:.0f} | {milp / smallest:.1f} | {r['status']} "
            f"({float(r['gap']):.1e}) |",
            flush=True,
        )
    print(f"\nLoading and checking the national inputs and building the instance: {load_s:.2f} s")


if __name__ == "__main__":
    main()
