"""Green power is a purchase the planner weighs whenever a site offers it (issue 13): with a
carbon price above its premium it is bought without any green-share or carbon constraint,
and asking for a share of 0 changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from suanli.plan.run import run_plan
from suanli.plan.solve import SolveOptions

Writer = Callable[..., Path]
FAST = SolveOptions(exact_shadow=0)
#: 0.6 kg/kWh at east × 500 CNY/t = 0.30 CNY/kWh of carbon; green costs 0.05 CNY/kWh more
GREEN = {"green_max_share": 0.5, "green_premium_per_kwh": 0.05}
CARBON_PRICE = {"amount": 500, "currency": "CNY", "source": "test"}


@pytest.mark.parametrize("share", [None, 0.0])
def test_green_power_is_bought_when_cheaper_than_carbon(
    write_plan: Writer, share: float | None
) -> None:
    plan = run_plan(
        write_plan(
            site_defaults={"max_expansion_mw": 1.0, **GREEN},
            carbon_price_per_t=CARBON_PRICE,
            min_green_share=share,
        ),
        options=FAST,
    ).plan
    for site in plan.sites:
        if site.energy_mwh > 0:  # as much as each site offers: half its energy
            assert site.green_mwh == pytest.approx(0.5 * site.energy_mwh, rel=1e-6)
    assert plan.totals.opex_green > 0


def test_without_a_carbon_price_dearer_green_power_is_not_bought(write_plan: Writer) -> None:
    plan = run_plan(write_plan(site_defaults={"max_expansion_mw": 1.0, **GREEN}), options=FAST).plan
    assert all(site.green_mwh == pytest.approx(0.0, abs=1e-6) for site in plan.sites)
    same = run_plan(
        write_plan(site_defaults={"max_expansion_mw": 1.0, **GREEN}, min_green_share=0.0),
        options=FAST,
    ).plan
    assert same.totals.total_cost == pytest.approx(plan.totals.total_cost, rel=1e-9)
