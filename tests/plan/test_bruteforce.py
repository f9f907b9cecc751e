"""The MILP against exhaustive enumeration on small random instances (exact optimum)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from suanli.plan.explain import PlanInfeasibleError
from suanli.plan.solve import SolveOptions, solve_plan
from suanli.plan.violations import violations
from tests.plan.bruteforce import brute_force, random_instance

EXACT = SolveOptions(mip_rel_gap=1e-9, exact_shadow=0)
SHAPES = [(2, 2, 1), (2, 2, 2), (2, 3, 1), (2, 3, 2)]


def _cases(count: int) -> list[tuple[int, tuple[int, int, int]]]:
    return [(seed, SHAPES[seed % len(SHAPES)]) for seed in range(count)]


@pytest.mark.parametrize(("seed", "shape"), _cases(24))
def test_min_cost_matches_brute_force(seed: int, shape: tuple[int, int, int]) -> None:
    inst = random_instance(np.random.default_rng(seed), *shape)
    expected = brute_force(inst, "min-cost")
    if expected is None:
        with pytest.raises(PlanInfeasibleError):
            solve_plan(inst, "min-cost", EXACT)
        return
    plan = solve_plan(inst, "min-cost", EXACT)
    assert plan.totals.total_cost == pytest.approx(expected.cost, rel=1e-6, abs=1e-3)
    assert violations(inst, plan) == []


@pytest.mark.parametrize(("seed", "shape"), _cases(16))
def test_max_compute_matches_brute_force(seed: int, shape: tuple[int, int, int]) -> None:
    rng = np.random.default_rng(1000 + seed)
    inst = random_instance(rng, *shape)
    if inst.budget is None:
        inst = replace(inst, budget=float(rng.uniform(2e5, 2e6)))
    expected = brute_force(inst, "max-compute")
    if expected is None:
        with pytest.raises(PlanInfeasibleError):
            solve_plan(inst, "max-compute", EXACT)
        return
    plan = solve_plan(inst, "max-compute", EXACT)
    pairs = zip(plan.classes, inst.classes, strict=True)
    compute = sum(c.delivered_pflops * cl.weight for c, cl in pairs)
    assert compute == pytest.approx(expected.compute, rel=1e-6, abs=1e-6)
    assert plan.totals.total_cost == pytest.approx(expected.cost, rel=1e-5, abs=1e-2)
    assert violations(inst, plan) == []


def test_random_instances_are_mixed() -> None:
    """The generator makes both feasible and infeasible instances, so both paths are tested."""
    feasible = 0
    for seed, shape in _cases(24):
        try:
            solve_plan(random_instance(np.random.default_rng(seed), *shape), "min-cost", EXACT)
            feasible += 1
        except PlanInfeasibleError:
            pass
    assert 12 <= feasible < 24
