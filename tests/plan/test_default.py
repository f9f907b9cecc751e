"""The built-in national planning inputs: size, invariants, comparison."""

from __future__ import annotations

from pathlib import Path

import pytest

from suanli.config import load_scenario
from suanli.plan.compare import comparison_rows
from suanli.plan.load import DEFAULT_COMPARISON, load_planning
from suanli.plan.run import run_plan, write_outputs
from suanli.plan.solve import SolveOptions
from suanli.plan.violations import violations

FAST = SolveOptions(exact_shadow=0)


def test_default_inputs_are_national_scale() -> None:
    planning = load_planning()
    sc = planning.scenario.scenario
    assert sc.name == "cn-hubs-2026" and len(sc.sites) == 8
    types = {p.accelerator for p in sc.pools} | set(planning.file.candidates)
    assert len(types) >= 15
    assert len(planning.file.classes) >= 10
    for rule in planning.file.supply:
        assert rule.source, rule
    for acc, price in planning.file.prices.items():
        assert price.source, acc


def test_default_plan_respects_every_constraint(tmp_path: Path) -> None:
    run = run_plan(options=FAST)
    assert run.plan.status == "optimal"
    assert violations(run.instance, run.plan) == []
    families = {sp.family for sp in run.plan.shadow_prices}
    assert {"supply", "power", "demand"} <= families
    write_outputs(run, tmp_path, plots=False)
    load_scenario(tmp_path / "plan-scenario.yaml")


@pytest.mark.slow
def test_default_comparison() -> None:
    runs = [run_plan(name, options=FAST) for name in DEFAULT_COMPARISON]
    rows = {r["plan"]: r for r in comparison_rows(runs)}
    assert list(rows) == ["today", "no-h200", "h200-cap-x2", "910c-halved"]
    assert rows["no-h200"]["new_NVIDIA"] < rows["today"]["new_NVIDIA"]
    assert rows["h200-cap-x2"]["total_cost"] < rows["today"]["total_cost"]
    assert rows["no-h200"]["total_cost"] > rows["today"]["total_cost"]
    assert rows["910c-halved"]["total_cost"] > rows["today"]["total_cost"]
    for run in runs:
        assert violations(run.instance, run.plan) == []
