"""Invariants every plan must satisfy, checked from the plan's own figures.

:func:`violations` recomputes each limit of the instance — site power (peak with
oversubscription, average), expansion, supply rules, budget, carbon, green share,
demand delivered, memory fit — from the plan's devices and allocations, and lists
what is broken. An empty list means the plan respects every constraint.
"""

from __future__ import annotations

from suanli.plan.instance import PlanInstance
from suanli.plan.result import Plan


def violations(inst: PlanInstance, plan: Plan, rel_tol: float = 1e-6) -> list[str]:
    """Every constraint of ``inst`` that ``plan`` breaks, in words (empty when none)."""
    out: list[str] = []

    def above(value: float, limit: float) -> bool:
        return value > limit + rel_tol * max(1.0, abs(limit))

    pools = {(p.site, p.accelerator): p for p in plan.pools}
    type_ix = {t.id: a for a, t in enumerate(inst.types)}
    for s, site in enumerate(inst.sites):
        sp = plan.sites[s]
        if above(sp.expansion_mw, site.max_expansion_mw):
            out.append(f"{site.id}: expansion {sp.expansion_mw:.3f} MW > {site.max_expansion_mw}")
        cap = site.capacity_mw + sp.expansion_mw
        if above(sp.peak_mw, site.oversubscription * cap):
            out.append(f"{site.id}: peak {sp.peak_mw:.3f} MW > {site.oversubscription} × {cap:.3f}")
        if above(sp.average_mw, cap):
            out.append(f"{site.id}: average {sp.average_mw:.3f} MW > {cap:.3f}")
        for a, t in enumerate(inst.types):
            p = pools.get((site.id, t.id))
            if p is None:
                continue
            if p.existing != inst.existing[s][a] or p.total < 0:
                out.append(f"{site.id}/{t.id}: device counts do not add up")
            if (p.added or p.retired) % t.devices_per_node or p.retired % t.devices_per_node:
                out.append(f"{site.id}/{t.id}: not whole nodes")
            if p.added and (not t.candidate or t.unit_price is None):
                out.append(f"{site.id}/{t.id}: bought but not for sale")
            if p.retired and not inst.allow_retirement:
                out.append(f"{site.id}/{t.id}: retired without permission")
    for cap_rule in inst.caps:
        bought = sum(p.added for p in plan.pools if type_ix[p.accelerator] in cap_rule.types)
        if bought > cap_rule.units:
            out.append(f"{cap_rule.label}: {bought} units > {cap_rule.units}")
    tot = plan.totals
    if inst.budget is not None:
        spend = tot.capex if inst.budget_covers == "capex" else tot.total_cost
        if above(spend, inst.budget):
            out.append(f"budget: {spend:,.0f} > {inst.budget:,.0f}")
    if inst.carbon_budget_t is not None and above(tot.carbon_t, inst.carbon_budget_t):
        out.append(f"carbon: {tot.carbon_t:,.1f} t > {inst.carbon_budget_t:,.1f}")
    if inst.min_green_share is not None:
        green = sum(s.green_mwh for s in plan.sites)
        if above(inst.min_green_share * tot.energy_mwh, green):
            out.append(f"green share {green / tot.energy_mwh:.4f} < {inst.min_green_share}")
    for s, sp in enumerate(plan.sites):
        if above(sp.green_mwh, inst.sites[s].green_max_share * sp.energy_mwh):
            out.append(f"{sp.site}: more green power than available")
    site_ix = {s.id: i for i, s in enumerate(inst.sites)}
    for cl, cp in zip(inst.classes, plan.classes, strict=True):
        delivered = 0.0
        for site_id, acc, devices in cp.devices:
            a, s = type_ix[acc], site_ix[site_id]
            if cl.speed[a] <= 0 or not cl.allowed_sites[s]:
                out.append(f"{cl.name}: runs on {site_id}/{acc}, which it may not use")
            pool = pools[(site_id, acc)]
            if cl.min_pool[a] > pool.total:
                out.append(f"{cl.name}: pool {site_id}/{acc} smaller than one gang")
            delivered += cl.utilisation * cl.speed[a] * devices
        if plan.objective == "min-cost" and delivered < cl.demand_pflops * (1 - rel_tol) - rel_tol:
            out.append(f"{cl.name}: delivers {delivered:.3f} < demand {cl.demand_pflops:.3f}")
        if abs(delivered - cp.delivered_pflops) > rel_tol * max(1.0, delivered):
            out.append(f"{cl.name}: delivered figure inconsistent")
    for (site_id, acc), pool in pools.items():
        allocated = sum(
            d for cp in plan.classes for s_, a_, d in cp.devices if (s_, a_) == (site_id, acc)
        )
        if above(allocated, pool.total):
            out.append(f"{site_id}/{acc}: {allocated:.1f} devices allocated of {pool.total}")
    return out
