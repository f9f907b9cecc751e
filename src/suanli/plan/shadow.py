"""Binding constraints and their shadow prices, in words.

**Where the prices come from.** The marginal values are the row duals
(``∂ optimum / ∂ limit``) of an LP solved at the MILP's optimum: the binary
decisions (which pools are large enough for a class's gangs) are **fixed** at their
optimal values, and the node counts are **relaxed** to continuous values. Fixing
every integer, node counts included, would make the duals useless: with the
purchases frozen, a site's power row or a supply cap can only price the continuous
allocation, and reports a MW or a licence as worth nothing even where it is what
limits the plan (we measured exactly that). Relaxing the binaries as well (the plain
LP relaxation) is no better the other way: their big-M rows are weak, and on the
national instance without H200 the relaxation's optimum is 8% below the MILP's and
overstates the value of a banned chip five-fold. With the binaries fixed the LP's
optimum is within 0.01% of the MILP's, and its duals match exact re-solves. Because
a dual is a rate at the margin, the most valuable constraints are also **re-solved
exactly**: the MILP is solved again with the limit moved by a stated step (one MW,
1,000 units, 1% of a budget) and the change in the optimum is reported next to the
rate.

For min-cost plans values are money saved over the horizon; for max-compute plans
they are PFLOP/s of delivered compute gained.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial

import numpy as np

from suanli.plan import fmt
from suanli.plan.instance import PlanInstance
from suanli.plan.milp import MONEY, Formulation
from suanli.plan.result import ShadowPrice

TOL = 1e-7

Resolve = Callable[[PlanInstance], float | None]


def _rows(f: Formulation, family: str) -> dict[str, int]:
    return {r.key: i for i, r in enumerate(f.model.rows) if r.family == family}


def shadow_prices(
    f: Formulation,
    duals: np.ndarray,
    x: np.ndarray,
    *,
    base_value: float,
    resolve: Resolve | None = None,
    max_exact: int = 5,
) -> tuple[ShadowPrice, ...]:
    """Binding constraints of ``f`` with LP ``duals`` (see above) and MILP solution ``x``.

    ``resolve`` solves a modified instance and returns its optimum (``base_value`` is
    the plan's); the ``max_exact`` most valuable constraints are re-solved with it.
    """
    inst = f.inst
    cost = f.objective == "min-cost"
    scale = MONEY if cost else 1.0
    cur = inst.currency
    Y = inst.horizon_years
    found: list[tuple[ShadowPrice, Callable[[], PlanInstance] | None]] = []

    def worth(v: float) -> str:
        return (
            f"would save {fmt.money(v, cur)} over {fmt.years(Y)}"
            if cost
            else f"would add {fmt.number(v, 2)} PFLOP/s of delivered compute"
        )

    power, avg, expansion = _rows(f, "power"), _rows(f, "avg_power"), _rows(f, "expansion")
    for s, site in enumerate(inst.sites):
        if duals[expansion[site.id]] >= -TOL:
            continue
        value = -(site.oversubscription * duals[power[site.id]] + duals[avg[site.id]]) * scale
        limit = (
            f"expansion there is capped at {fmt.number(site.max_expansion_mw)} MW"
            if site.max_expansion_mw > 0
            else "the site cannot be expanded"
        )
        if cost:
            text = (
                f"One more MW at {site.id} is worth {fmt.money(value / Y, cur)}/year "
                f"({fmt.money(value, cur)} over {fmt.years(Y)}); {limit}"
            )
            if site.expansion_cost_per_mw > 0 and site.max_expansion_mw > 0:
                text += f" at {fmt.money(site.expansion_cost_per_mw, cur)} per MW"
        else:
            text = f"One more MW at {site.id} {worth(value)}; {limit}"

        def bump(s: int = s) -> PlanInstance:
            sites = list(inst.sites)
            sites[s] = replace(sites[s], capacity_mw=sites[s].capacity_mw + 1.0)
            return replace(inst, sites=tuple(sites))

        found.append((ShadowPrice("power", site.id, text + ".", value, "MW", 1.0), bump))
    supply = _rows(f, "supply")
    for k, cap in enumerate(inst.caps):
        i = supply.get(cap.label)
        if i is None or duals[i] >= -TOL:
            continue
        value = -duals[i] * scale
        what = (
            f"Allowing 1,000 units under the {cap.label} (now none)"
            if cap.kind == "ban"
            else f"Raising the {cap.label} by 1,000 units (now {cap.units:,})"
        )

        def more(k: int = k) -> PlanInstance:
            caps = list(inst.caps)
            caps[k] = replace(caps[k], units=caps[k].units + 1000)
            return replace(inst, caps=tuple(caps))

        text = f"{what} {worth(1000 * value)}."
        found.append((ShadowPrice("supply", cap.label, text, value, "unit", 1000.0), more))
    for i in _rows(f, "budget").values():
        if duals[i] < -TOL and inst.budget is not None:
            value = -duals[i] * scale / MONEY  # per unit of currency
            step = 0.01 * inst.budget
            text = f"A budget 1% larger ({fmt.money(step, cur)} more) {worth(step * value)}."
            budget = inst.budget
            found.append(
                (
                    ShadowPrice("budget", inst.budget_covers, text, value, cur, step),
                    partial(replace, inst, budget=budget + step),
                )
            )
    for i in _rows(f, "carbon").values():
        if duals[i] < -TOL and inst.carbon_budget_t is not None:
            value = -duals[i] * scale
            step = max(1.0, 0.01 * inst.carbon_budget_t)
            text = f"Allowing 1% more CO₂ ({fmt.number(step)} t) {worth(step * value)}."
            cb = inst.carbon_budget_t
            found.append(
                (
                    ShadowPrice("carbon", "budget", text, value, "t", step),
                    partial(replace, inst, carbon_budget_t=cb + step),
                )
            )
    for i in _rows(f, "green").values():
        if duals[i] > TOL and inst.min_green_share is not None:
            energy = sum(f.value(expr, x) for expr in f.site_energy.values())
            value = duals[i] * scale * energy * 0.01
            gamma = inst.min_green_share
            text = (
                f"Lowering the green-power share from {gamma:.0%} to {gamma - 0.01:.0%} "
                f"{worth(value)}."
            )
            found.append(
                (
                    ShadowPrice("green", "share", text, value, "percentage point", 1.0),
                    partial(replace, inst, min_green_share=max(0.0, gamma - 0.01)),
                )
            )
    for cl in inst.classes:
        i = _rows(f, "demand").get(cl.name)
        if i is None or duals[i] <= TOL:
            continue
        value = duals[i] * scale
        text = (
            f"Each extra PFLOP/s of {cl.name} costs {fmt.money(value, cur)} over "
            f"{fmt.years(Y)} (now {fmt.number(cl.demand_pflops)} PFLOP/s)."
        )
        found.append((ShadowPrice("demand", cl.name, text, value, "PFLOP/s", 1.0), None))
    return _with_exact(found, base_value, resolve, max_exact, cost, cur, Y)


def _with_exact(
    found: list[tuple[ShadowPrice, Callable[[], PlanInstance] | None]],
    base_value: float,
    resolve: Resolve | None,
    max_exact: int,
    cost: bool,
    cur: str,
    years: float,
) -> tuple[ShadowPrice, ...]:
    order = sorted(
        range(len(found)),
        key=lambda k: (
            found[k][0].family == "demand",
            -abs(found[k][0].marginal * found[k][0].step),
        ),
    )
    out: dict[int, ShadowPrice] = {}
    budget = max_exact if resolve is not None else 0
    for k in order:
        sp, make = found[k]
        if budget > 0 and make is not None and resolve is not None:
            budget -= 1
            new = resolve(make())
            if new is not None:
                delta = base_value - new if cost else new - base_value
                note = fmt.money(delta, cur) if cost else f"{fmt.number(delta, 2)} PFLOP/s"
                sp = replace(
                    sp, exact=delta, sentence=sp.sentence[:-1] + f" (exact re-solve: {note})."
                )
        out[k] = sp
    return tuple(out[k] for k in order)
