"""Load, solve and write a plan: the steps ``suanli plan`` takes, as functions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from suanli.errors import InputError, Problem
from suanli.plan.html import write_plan_page
from suanli.plan.instance import PlanInstance, build_instance, oversubscription
from suanli.plan.load import Planning, load_planning
from suanli.plan.output import write_csv, write_json
from suanli.plan.page_data import plan_document
from suanli.plan.plots import plot_plan
from suanli.plan.result import Plan
from suanli.plan.scenario_out import write_plan_scenario
from suanli.plan.service_demand import scenario_shapes
from suanli.plan.solve import SolveOptions, solve_plan


@dataclass(frozen=True, slots=True)
class PlanRun:
    """A solved plan with the inputs it came from."""

    planning: Planning
    instance: PlanInstance
    plan: Plan


def parse_horizon(text: str) -> float:
    """``"3y"`` → 3, ``"18m"`` → 1.5, ``"2.5"`` → 2.5 years (raises InputError)."""
    t = text.strip().lower()
    factor = 1.0
    if t.endswith("y"):
        t = t[:-1]
    elif t.endswith("m"):
        t, factor = t[:-1], 1.0 / 12.0
    try:
        years = float(t) * factor
    except ValueError:
        years = -1.0
    if not 0 < years <= 30:
        raise InputError(
            [Problem("--horizon", "", f"{text!r} is not a horizon", "write e.g. 3y, 18m or 2.5")]
        )
    return years


def run_plan(
    demand: str | Path | None = None,
    scenario: str | Path | None = None,
    *,
    objective: str | None = None,
    horizon_years: float | None = None,
    options: SolveOptions | None = None,
    stage: Callable[[str], None] | None = None,
) -> PlanRun:
    """Load the planning inputs and their scenario, and solve the plan; ``stage``, when
    given, is told each step as it begins (loading, building the model, solving)."""
    say = stage or _quiet
    say("loading inputs")
    planning = load_planning(demand, scenario)
    sc = planning.scenario
    say("building the model")
    inst = build_instance(
        sc.scenario,
        planning.file,
        oversubscription(sc.text),
        horizon_years=horizon_years,
        service_shapes=scenario_shapes(sc.text) if sc.scenario.services else None,
    )
    notes = _notes(planning)
    say("solving the MILP")
    plan = solve_plan(
        inst,
        objective or planning.file.objective,
        options or SolveOptions(),
        scenario=sc.scenario.name,
        notes=notes,
    )
    return PlanRun(planning, inst, plan)


def _quiet(_: str) -> None:
    pass


def _notes(planning: Planning) -> tuple[str, ...]:
    pf = planning.file
    out = []
    for rule in pf.supply:
        if rule.period not in pf.purchase_periods:
            out.append(
                f"supply rule {rule.kind} on {', '.join(rule.accelerators)} is for period "
                f"{rule.period}, outside the purchase periods {', '.join(pf.purchase_periods)}; "
                "it does not limit this plan"
            )
    for cls in pf.classes:
        if cls.jobs is None and cls.service is None:
            out.append(
                f"class {cls.name} has no jobs: block, so the plan's scenario has no generator "
                "for it and the simulator cannot check it"
            )
    return tuple(out)


def inputs_record(run: PlanRun) -> dict[str, Any]:
    """Where a plan's inputs came from (for ``plan.json``)."""
    return {
        "planning": list(run.planning.chain),
        "scenario": run.planning.scenario.source,
        "objective": run.plan.objective,
        "horizon_years": run.instance.horizon_years,
        "sources": dict(run.planning.file.sources),
    }


def write_outputs(run: PlanRun, out: Path, plots: bool = True, html: bool = True) -> list[Path]:
    """Write ``plan.json``, ``plan.csv``, ``plan-scenario.yaml``, the plots and the page
    ``index.html`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "plan.json", out / "plan.csv", out / "plan-scenario.yaml"]
    inputs = inputs_record(run)
    write_json(run.plan, paths[0], inputs)
    write_csv(run.plan, paths[1])
    write_plan_scenario(run.planning, run.plan, run.instance, paths[2])
    if plots:
        paths += plot_plan(run.plan, out)
    if html:
        paths.append(out / "index.html")
        write_plan_page(paths[-1], plan_document(run.plan, inputs))
    return paths
