"""Tiny random plan instances, and their optimum by exhaustive enumeration.

The brute force enumerates every integer decision (nodes bought and retired per
site and type); for each it checks the rules that depend on them alone (supply
rules, peak power within the largest expansion, memory fit) and solves what is
left — allocation of devices to classes, expansion, green power — as a small
dense LP with :func:`scipy.optimize.linprog`, written here from the model's
definition and independently of :mod:`suanli.plan.milp`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog

from suanli.plan.instance import CapData, ClassData, PlanInstance, SiteData, TypeData


def random_instance(
    rng: np.random.Generator, n_sites: int = 2, n_types: int = 2, n_classes: int = 2
) -> PlanInstance:
    """A small instance with at most a few nodes of each type per site."""
    sites = tuple(
        SiteData(
            id=f"s{s}",
            name=f"site {s}",
            lat=30.0 + s,
            lon=110.0 + s,
            pue=float(rng.choice([1.1, 1.2, 1.3])),
            capacity_mw=float(rng.choice([0.002, 0.003, 0.004])),
            oversubscription=float(rng.choice([1.0, 1.2])),
            max_expansion_mw=float(rng.choice([0.0, 0.001, 0.002])),
            expansion_cost_per_mw=float(rng.uniform(1e6, 3e7)),
            carbon_kg_per_kwh=float(rng.uniform(0.1, 0.8)),
            green_max_share=float(rng.choice([0.0, 0.5, 0.9])),
            green_premium_per_kwh=float(rng.uniform(0.0, 0.1)),
        )
        for s in range(n_sites)
    )
    types = []
    for a in range(n_types):
        tdp = float(rng.choice([300.0, 500.0, 700.0]))
        types.append(
            TypeData(
                id=f"t{a}",
                vendor=f"v{a % 2}",
                stack="cuda",
                domestic=bool(a % 2),
                devices_per_node=2,
                tdp_w=tdp,
                idle_w=0.2 * tdp,
                candidate=bool(rng.random() < 0.85),
                unit_price=float(rng.uniform(5e4, 3e5)),
                node_cost=float(rng.uniform(0, 1e5)),
            )
        )
    classes = []
    for c in range(n_classes):
        speed = tuple(float(rng.choice([0.0, 0.1, 0.3, 0.8])) for _ in range(n_types))
        if not any(speed):
            speed = (0.5, *speed[1:])
        classes.append(
            ClassData(
                name=f"c{c}",
                profile="p",
                demand_pflops=float(rng.uniform(0.05, 1.5)),
                utilisation=float(rng.choice([0.5, 0.8, 1.0])),
                power_factor=float(rng.choice([0.7, 0.9])),
                speed=speed,
                min_pool=tuple(int(rng.choice([0, 2, 4])) for _ in range(n_types)),
                allowed_sites=tuple(bool(rng.random() < 0.8) or s == 0 for s in range(n_sites)),
                weight=float(rng.choice([1.0, 2.0])),
            )
        )
    existing = tuple(
        tuple(int(rng.choice([0, 0, 2])) for _ in range(n_types)) for _ in range(n_sites)
    )
    prices = tuple(
        tuple(float(rng.uniform(0.3, 0.7)) for _ in range(n_types)) for _ in range(n_sites)
    )
    caps = []
    if rng.random() < 0.6:
        caps.append(CapData("cap on t0", "cap", (0,), int(rng.choice([0, 2, 4]))))
    if n_types > 2 and rng.random() < 0.5:
        caps.append(CapData("cap on t1+t2", "cap", (1, 2), int(rng.choice([2, 4]))))
    return PlanInstance(
        name="random",
        currency="CNY",
        sites=sites,
        types=tuple(types),
        classes=tuple(classes),
        existing=existing,
        energy_price=prices,
        caps=tuple(caps),
        horizon_years=1.0,
        opex_years=1.0,
        budget=float(rng.uniform(2e5, 2e6)) if rng.random() < 0.4 else None,
        budget_covers=str(rng.choice(["capex", "tco"])),
        carbon_budget_t=float(rng.uniform(5.0, 40.0)) if rng.random() < 0.3 else None,
        min_green_share=float(rng.choice([0.2, 0.5])) if rng.random() < 0.3 else None,
        allow_retirement=bool(rng.random() < 0.3),
        carbon_price_per_t=float(rng.choice([0.0, 0.0, 500.0])),
    )


@dataclass(frozen=True)
class BruteResult:
    """Best compute (max-compute) and best cost over every integer decision."""

    compute: float
    cost: float


def brute_force(inst: PlanInstance, objective: str) -> BruteResult | None:
    """The optimum of ``inst`` by enumeration (``None`` when no decision is feasible)."""
    S, A = len(inst.sites), len(inst.types)
    choices = []
    for s in range(S):
        for a in range(A):
            t = inst.types[a]
            n_max = 0
            if t.candidate and t.unit_price is not None:
                n_max = max(0, (inst.max_devices(s, a) - inst.existing[s][a]) // t.devices_per_node)
            r_max = inst.existing[s][a] // t.devices_per_node if inst.allow_retirement else 0
            choices.append([(n, r) for n in range(n_max + 1) for r in range(r_max + 1)])
    results = []
    for combo in itertools.product(*choices):
        res = _evaluate(inst, objective, combo, None)
        if res is not None:
            results.append((combo, res))
    if not results:
        return None
    if objective == "min-cost":
        return BruteResult(0.0, min(r[1] for _, r in results))
    best = max(r[0] for _, r in results)
    floor = best - 1e-7 * max(1.0, abs(best))  # as the planner's second stage
    costs = [
        c for combo, _ in results if (c := _evaluate(inst, objective, combo, floor)) is not None
    ]
    return BruteResult(best, min(r[1] for r in costs))


def _evaluate(
    inst: PlanInstance, objective: str, combo: tuple[tuple[int, int], ...], floor: float | None
) -> tuple[float, float] | None:
    """(compute, cost) of the best continuous completion of integer decisions ``combo``."""
    S, A, C = len(inst.sites), len(inst.types), len(inst.classes)
    N = np.zeros((S, A))
    capex = 0.0
    for k, (n, r) in enumerate(combo):
        s, a = divmod(k, A)
        t = inst.types[a]
        N[s, a] = inst.existing[s][a] + t.devices_per_node * (n - r)
        capex += n * (t.devices_per_node * (t.unit_price or 0.0) + t.node_cost)
    for cap in inst.caps:
        bought = sum(
            inst.types[a].devices_per_node * combo[s * A + a][0]
            for s in range(S)
            for a in cap.types
        )
        if bought > cap.units:
            return None
    # continuous variables: x[s,a,c] (only where allowed), e[s], g[s], y[c]
    xs = [
        (s, a, c)
        for s in range(S)
        for a in range(A)
        for c in range(C)
        if inst.classes[c].speed[a] > 0
        and inst.classes[c].allowed_sites[s]
        and N[s, a] > 0
        and not (
            inst.classes[c].min_pool[a] > inst.types[a].devices_per_node
            and N[s, a] < inst.classes[c].min_pool[a]
        )
    ]
    nx = len(xs)
    ie, ig, iy = nx, nx + S, nx + 2 * S
    nv = nx + 2 * S + C
    H = inst.opex_hours
    # energy per site: E_s = E0[s] + sum_j ek[j] x_j (MWh); energy cost likewise
    E0 = np.zeros(S)
    cost0 = 0.0
    for s in range(S):
        for a in range(A):
            t = inst.types[a]
            e = H * inst.sites[s].pue * t.idle_w * N[s, a] / 1e6
            E0[s] += e
            cost0 += e * inst.energy_price[s][a] * 1e3
    ek = np.zeros((S, nv))
    cost = np.zeros(nv)
    ub = np.full(nv, np.inf)
    for j, (s, a, c) in enumerate(xs):
        t, cl = inst.types[a], inst.classes[c]
        per = H * inst.sites[s].pue * cl.utilisation * (t.tdp_w * cl.power_factor - t.idle_w) / 1e6
        ek[s, j] = per
        cost[j] = per * inst.energy_price[s][a] * 1e3
        ub[j] = cl.demand_pflops / (cl.utilisation * cl.speed[a])
    for s in range(S):  # carbon price on facility energy, less green power
        iota = inst.sites[s].carbon_kg_per_kwh * inst.carbon_price_per_t
        cost += iota * ek[s]
        cost0 += iota * E0[s]
        cost[ig + s] -= iota
    for s in range(S):
        cost[ie + s] = inst.sites[s].expansion_cost_per_mw
        cost[ig + s] += inst.sites[s].green_premium_per_kwh * 1e3
        ub[ie + s] = inst.sites[s].max_expansion_mw
        ub[ig + s] = np.inf if inst.sites[s].green_max_share > 0 else 0.0
    rows, rhs = [], []

    def le(coefs: np.ndarray, b: float) -> None:
        rows.append(coefs)
        rhs.append(b)

    for s in range(S):
        for a in range(A):
            v = np.zeros(nv)
            for j, (s2, a2, _) in enumerate(xs):
                if (s2, a2) == (s, a):
                    v[j] = 1.0
            le(v, N[s, a])
        site = inst.sites[s]
        peak = site.pue * sum(inst.types[a].tdp_w * N[s, a] for a in range(A)) / 1e6
        v = np.zeros(nv)
        v[ie + s] = -site.oversubscription
        le(v, site.oversubscription * site.capacity_mw - peak)
        v = ek[s] / H
        v[ie + s] = -1.0
        le(v, site.capacity_mw - E0[s] / H)
        v = -site.green_max_share * ek[s]
        v[ig + s] = 1.0
        le(v, site.green_max_share * E0[s])
    for c, cl in enumerate(inst.classes):
        v = np.zeros(nv)
        for j, (_, a, c2) in enumerate(xs):
            if c2 == c:
                v[j] = -cl.utilisation * cl.speed[a]
        if objective == "min-cost":
            le(v, -cl.demand_pflops)
        else:
            v[iy + c] = 1.0  # y_c <= delivered
            le(v, 0.0)
            ub[iy + c] = cl.demand_pflops
    if objective == "min-cost":
        ub[iy:] = 0.0
    if inst.budget is not None:
        v = cost.copy() if inst.budget_covers == "tco" else np.zeros(nv)
        v[ie : ie + S] = cost[ie : ie + S]
        fixed = capex + (cost0 if inst.budget_covers == "tco" else 0.0)
        le(v, inst.budget - fixed)
    if inst.carbon_budget_t is not None:
        v = sum(inst.sites[s].carbon_kg_per_kwh * ek[s] for s in range(S))
        v = np.asarray(v, dtype=float)
        for s in range(S):
            v[ig + s] -= inst.sites[s].carbon_kg_per_kwh
        le(v, inst.carbon_budget_t - sum(inst.sites[s].carbon_kg_per_kwh * E0[s] for s in range(S)))
    if inst.min_green_share is not None:
        v = inst.min_green_share * ek.sum(axis=0)
        v[ig : ig + S] = -1.0
        le(v, -inst.min_green_share * E0.sum())
    weights = np.zeros(nv)
    for c, cl in enumerate(inst.classes):
        weights[iy + c] = cl.weight
    if floor is not None:
        le(-weights, -floor)
    c_obj = -weights if (objective == "max-compute" and floor is None) else cost
    res = linprog(
        c_obj,
        A_ub=np.array(rows),
        b_ub=np.array(rhs),
        bounds=list(zip(np.zeros(nv), ub, strict=True)),
        method="highs",
    )
    if res.status != 0:
        return None
    x = res.x
    return float(weights @ x), float(capex + cost0 + cost @ x)
