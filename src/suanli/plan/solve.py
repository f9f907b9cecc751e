"""Solve a plan: the MILP, the second stage of max-compute, duals, shadow prices.

:func:`solve_plan` is the entry point. It raises
:class:`~suanli.plan.explain.PlanInfeasibleError` (with the conflicting
constraints) when no plan exists, and :class:`~suanli.errors.SuanliError` when the
solver stops without a plan.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from suanli.errors import SuanliError
from suanli.plan.explain import PlanInfeasibleError, explain
from suanli.plan.extract import extract_plan
from suanli.plan.instance import PlanInstance
from suanli.plan.lp import DEFAULT_MIP_GAP, Solution, solve_lp, solve_milp
from suanli.plan.milp import Formulation, build
from suanli.plan.result import Plan, ShadowPrice
from suanli.plan.shadow import shadow_prices

OBJECTIVES = ("min-cost", "max-compute")


@dataclass(frozen=True, slots=True)
class SolveOptions:
    """Solver settings: time limit per MILP, relative MIP gap, exact re-solves of prices."""

    time_limit_s: float = 120.0
    mip_rel_gap: float = DEFAULT_MIP_GAP
    exact_shadow: int = 3


def optimum(
    inst: PlanInstance, objective: str, options: SolveOptions = SolveOptions()
) -> tuple[Formulation, Solution]:
    """The first-stage MILP of ``inst`` and its solution (any status)."""
    if objective not in OBJECTIVES:
        raise SuanliError(f"unknown objective {objective!r}; valid: {', '.join(OBJECTIVES)}")
    if objective == "max-compute" and inst.budget is None:
        raise SuanliError(
            "objective max-compute needs a budget: add 'budget: {amount: …, covers: tco}' "
            "to the planning file"
        )
    f = build(inst, objective)
    return f, solve_milp(f.model, options.time_limit_s, options.mip_rel_gap)


def objective_value(f: Formulation, sol: Solution) -> float:
    """Cost (min-cost, in the scenario currency) or weighted compute (max-compute)."""
    assert sol.objective is not None
    if f.objective == "max-compute":
        return -sol.objective
    return sol.objective * 1e6


def solve_plan(
    inst: PlanInstance,
    objective: str = "min-cost",
    options: SolveOptions = SolveOptions(),
    *,
    scenario: str = "",
    notes: tuple[str, ...] = (),
) -> Plan:
    """The optimal plan of ``inst``, with its binding constraints and shadow prices."""
    t0 = time.perf_counter()
    f, sol = optimum(inst, objective, options)
    if sol.status == "infeasible":
        raise PlanInfeasibleError(inst.name, explain(inst, objective))
    if not sol.ok or sol.x is None:
        raise SuanliError(
            f"plan {inst.name!r}: the solver stopped without a plan ({sol.status}: {sol.message}); "
            "raise the time limit or simplify the instance"
        )
    value = objective_value(f, sol)
    final_f, final = f, sol
    if objective == "max-compute":
        floor = value - 1e-7 * max(1.0, abs(value))
        f2 = build(inst, objective, compute_floor=floor)
        sol2 = solve_milp(f2.model, options.time_limit_s, options.mip_rel_gap)
        if sol2.ok:
            final_f, final = f2, sol2
    seconds = time.perf_counter() - t0
    # duals: node counts relaxed, gang-fit binaries held at the optimum (see shadow.py)
    relaxed = solve_lp(f.model, fix={j: float(round(sol.x[j])) for j in f.z.values()})
    prices: tuple[ShadowPrice, ...] = ()
    if relaxed.row_dual is not None:

        def resolve(changed: PlanInstance) -> float | None:
            g, s = optimum(changed, objective, options)
            return objective_value(g, s) if s.ok else None

        prices = shadow_prices(
            f,
            relaxed.row_dual,
            sol.x,
            base_value=value,
            resolve=resolve if options.exact_shadow > 0 else None,
            max_exact=options.exact_shadow,
        )
    assert final.x is not None
    status = "optimal" if final.status == "optimal" else f"feasible ({final.status})"
    return extract_plan(
        final_f,
        final.x,
        scenario=scenario,
        status=status,
        mip_gap=final.mip_gap,
        shadow_prices=prices,
        notes=notes,
        solve_seconds=seconds,
    )
