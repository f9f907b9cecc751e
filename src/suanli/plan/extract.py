"""Read a plan out of a solved formulation: devices, costs, power, energy, carbon, delivery.

Every figure is recomputed from the decisions (devices bought, retired, allocated;
MW expanded; green MWh) with the formulas of :mod:`suanli.plan.milp`, so that
:mod:`suanli.plan.violations` can verify the plan against the instance independently of
the solver's row activities.
"""

from __future__ import annotations

import numpy as np

from suanli.plan.milp import Formulation
from suanli.plan.result import ClassPlan, Plan, PoolPlan, ShadowPrice, SitePlan, Totals


def _round(v: float) -> int:
    return round(float(v))


def extract_plan(
    f: Formulation,
    x: np.ndarray,
    *,
    scenario: str,
    status: str,
    mip_gap: float | None,
    shadow_prices: tuple[ShadowPrice, ...] = (),
    notes: tuple[str, ...] = (),
    solve_seconds: float = 0.0,
) -> Plan:
    """The :class:`Plan` of solution ``x`` of formulation ``f``."""
    inst = f.inst
    alloc = {k: max(0.0, float(x[j])) for k, j in f.x.items()}
    pools: list[PoolPlan] = []
    sites: list[SitePlan] = []
    for s, site in enumerate(inst.sites):
        site_pools: list[PoolPlan] = []
        expansion = max(0.0, float(x[f.e[s]]))
        green = max(0.0, float(x[f.g[s]])) if s in f.g else 0.0
        for a, t in enumerate(inst.types):
            d = t.devices_per_node
            added = d * _round(x[f.n[s, a]]) if (s, a) in f.n else 0
            retired = d * _round(x[f.retire[s, a]]) if (s, a) in f.retire else 0
            existing = inst.existing[s][a]
            if not (existing or added):
                continue
            total = existing + added - retired
            busy_w = sum(
                cl.utilisation * (t.tdp_w * cl.power_factor - t.idle_w) * alloc.get((s, a, c), 0.0)
                for c, cl in enumerate(inst.classes)
            )
            energy = inst.opex_hours * site.pue * (t.idle_w * total + busy_w) / 1e6
            capex = added / d * (d * (t.unit_price or 0.0) + t.node_cost) if added else 0.0
            site_pools.append(
                PoolPlan(
                    site=site.id,
                    accelerator=t.id,
                    vendor=t.vendor,
                    domestic=inst.is_domestic(s, a),
                    existing=existing,
                    added=added,
                    retired=retired,
                    unit_price=t.unit_price,
                    capex=capex,
                    energy_mwh=energy,
                    energy_cost=energy * inst.energy_price[s][a] * 1e3,
                    peak_mw=site.pue * t.tdp_w * total / 1e6,
                )
            )
        energy = sum(p.energy_mwh for p in site_pools)
        sites.append(
            SitePlan(
                site=site.id,
                name=site.name,
                lat=site.lat,
                lon=site.lon,
                capacity_mw=site.capacity_mw,
                expansion_mw=expansion,
                peak_mw=sum(p.peak_mw for p in site_pools),
                average_mw=energy / inst.opex_hours,
                energy_mwh=energy,
                energy_cost=sum(p.energy_cost for p in site_pools)
                + green * site.green_premium_per_kwh * 1e3,
                green_mwh=green,
                carbon_t=site.carbon_kg_per_kwh * (energy - green),
                capex=sum(p.capex for p in site_pools) + expansion * site.expansion_cost_per_mw,
                devices=sum(p.total for p in site_pools),
                added=sum(p.added for p in site_pools),
            )
        )
        pools += site_pools
    classes = []
    for c, cl in enumerate(inst.classes):
        rows = tuple(
            (inst.sites[s].id, inst.types[a].id, v)
            for (s, a, c2), v in sorted(alloc.items())
            if c2 == c and v > 1e-6
        )
        delivered = sum(
            cl.utilisation * cl.speed[a] * v for (s, a, c2), v in alloc.items() if c2 == c
        )
        classes.append(
            ClassPlan(cl.name, cl.profile, cl.demand_pflops, delivered, rows, cl.service, cl.region)
        )
    totals = Totals(
        capex_devices=sum(p.capex for p in pools),
        capex_expansion=sum(
            s.expansion_mw * inst.sites[i].expansion_cost_per_mw for i, s in enumerate(sites)
        ),
        opex_energy=sum(p.energy_cost for p in pools),
        opex_green=sum(
            s.green_mwh * inst.sites[i].green_premium_per_kwh * 1e3 for i, s in enumerate(sites)
        ),
        carbon_t=sum(s.carbon_t for s in sites),
        energy_mwh=sum(s.energy_mwh for s in sites),
        new_devices=sum(p.added for p in pools),
        retired_devices=sum(p.retired for p in pools),
        expansion_mw=sum(s.expansion_mw for s in sites),
        demand_pflops=sum(c.demand_pflops for c in classes),
        delivered_pflops=sum(c.delivered_pflops for c in classes),
        opex_carbon=sum(s.carbon_t for s in sites) * inst.carbon_price_per_t,
    )
    return Plan(
        name=inst.name,
        scenario=scenario,
        objective=f.objective,
        currency=inst.currency,
        horizon_years=inst.horizon_years,
        status=status,
        mip_gap=mip_gap,
        totals=totals,
        pools=tuple(pools),
        sites=tuple(sites),
        classes=tuple(classes),
        shadow_prices=shadow_prices,
        notes=notes,
        model_size=f.model.shape,
        solve_seconds=solve_seconds,
    )
