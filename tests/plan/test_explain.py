"""Infeasible inputs get an explanation of which constraints conflict, never a bare word."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from suanli.plan.explain import PlanInfeasibleError
from suanli.plan.run import run_plan
from suanli.plan.solve import SolveOptions

Writer = Callable[..., Path]
FAST = SolveOptions(exact_shadow=0)


def _explain(path: Path) -> PlanInfeasibleError:
    with pytest.raises(PlanInfeasibleError) as info:
        run_plan(path, options=FAST)
    return info.value


def test_banned_types_and_small_caps_are_named(write_plan: Writer) -> None:
    err = _explain(
        write_plan(
            supply=[
                {"accelerators": ["nvidia_h100_sxm5"], "kind": "ban"},
                {"accelerators": ["nvidia_h20"], "kind": "ban"},
                {"accelerators": ["huawei_ascend_910c"], "kind": "domestic_production", "units": 8},
            ]
        )
    )
    text = str(err)
    assert "no plan meets every constraint" in text
    families = {r.family for r in err.explanation.rules}
    assert families <= {"supply", "expansion"} and "supply" in families
    assert "would have to" in text
    assert "at most this much demand can be met" in text and "class train:" in text


def test_power_limit_is_named(write_plan: Writer) -> None:
    train = {"name": "train", "profile": "dl-training", "demand": {"reference_devices": 4000}}
    err = _explain(
        write_plan(site_defaults={"max_expansion_mw": 0.5}, sites={}, supply=[], classes=[train])
    )
    assert {r.family for r in err.explanation.rules} == {"expansion"}
    assert "site west would need" in str(err)
    assert "more power than its 1.00 MW plus the 500.0 kW of expansion allowed" in str(err)


def test_budget_is_named(write_plan: Writer) -> None:
    err = _explain(write_plan(budget={"amount": 1.0e6, "covers": "tco"}))
    assert "budget" in {r.family for r in err.explanation.rules}
    [alone] = [r for r in err.explanation.alone if r.family == "budget"]
    assert alone.sentence.startswith("the tco budget of 1.0 M CNY would have to grow by")
    assert "Any one of these changes alone would also allow a plan" in str(err)


def test_green_share_is_named(write_plan: Writer) -> None:
    err = _explain(write_plan(min_green_share=0.9))
    assert "green-power share would have to fall from 90%" in str(err)


def test_carbon_budget_is_named(write_plan: Writer) -> None:
    err = _explain(write_plan(carbon_budget_t=10.0))
    assert "the carbon budget of 10 t CO₂ would have to grow" in str(err)
