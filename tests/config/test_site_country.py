"""A site stands in a country of its own (issue 13: "domestic" judged per site): an
accelerator is domestic where its designer is of the site's country, for electricity
subsidies and for the planner's domestic share."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from suanli.config import load_scenario
from suanli.core.tables import build_tables
from suanli.errors import InputError
from suanli.plan.run import run_plan
from suanli.plan.solve import SolveOptions
from tests.control.helpers import FIXTURES

SUBSIDY = {"name": "domestic chips", "discount_fraction": 0.5, "source": "test"}


def _tiny(tmp_path: Path, west_country: str | None) -> Path:
    """tiny.yaml with both sites subsidising domestic chips at half price, west in
    ``west_country`` (None: the scenario's, China)."""
    data = yaml.safe_load((FIXTURES / "tiny.yaml").read_text("utf-8"))
    for site in data["sites"]:
        site["subsidies"] = [SUBSIDY]
    if west_country is not None:
        data["sites"][1]["country"] = west_country
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), "utf-8")
    return path


def test_an_h100_is_domestic_at_a_us_site_only(tmp_path: Path) -> None:
    sc = load_scenario(str(_tiny(tmp_path, "US")))
    assert not sc.is_domestic("nvidia_h100_sxm5", "east")
    assert sc.is_domestic("nvidia_h100_sxm5", "west")
    assert not sc.is_domestic("nvidia_h100_sxm5")  # the scenario's country: CN
    t = build_tables(sc)
    east, west = (t.site_ids.index(s) for s in ("east", "west"))
    pools = {t.pool_site[p]: p for p in range(t.n_pools)}
    assert t.pool_domestic[pools[west]] and not t.pool_domestic[pools[east]]
    assert t.pool_subsidy[pools[east]].max() == 0.0
    assert t.pool_subsidy[pools[west]] == pytest.approx(0.5 * t.price[west])


def test_without_a_country_a_site_is_in_the_scenarios(tmp_path: Path) -> None:
    t = build_tables(load_scenario(str(_tiny(tmp_path, None))))
    assert not any(t.pool_domestic) and all(s.max() == 0.0 for s in t.pool_subsidy)


def test_a_bad_country_is_refused_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"sites\[1\]\.country"):
        load_scenario(str(_tiny(tmp_path, "usa")))


def test_the_planners_domestic_share_is_per_site(write_plan_us: Path) -> None:
    plan = run_plan(write_plan_us, options=SolveOptions(exact_shadow=0)).plan
    dom = {(p.site, p.accelerator): p.domestic for p in plan.pools}
    assert dom[("west", "nvidia_h100_sxm5")] and not dom[("east", "nvidia_h100_sxm5")]


@pytest.fixture
def write_plan_us(tmp_path: Path) -> Path:
    """The tiny planning file over tiny.yaml with its west site in the US."""
    _tiny(tmp_path, "US")
    path = tmp_path / "plan.yaml"
    path.write_text((FIXTURES / "tiny-plan.yaml").read_text("utf-8"), "utf-8")
    return path
