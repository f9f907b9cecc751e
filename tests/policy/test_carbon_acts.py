"""Carbon that acts on its own (issue 13): a carbon price in the scenario, in the placement,
in moves and in deferral, and a deferral rule under which a carbon saving alone can justify
waiting (docs/scheduler.md, "Carbon")."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from suanli.config import load_scenario
from suanli.core.policy import PolicyOutput
from suanli.model.fleet import CarbonIntensity, HourlySeries
from suanli.policy.registry import make_policy
from suanli.sim.engine import Simulator
from tests.config.test_bad_input import tiny, write
from tests.conftest import run_cli
from tests.sim.helpers import H100, job, scenario, site

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
GREEN = FIXTURES / "green-hours.yaml"
HOUR = 3600.0


def simulate(path: Path, out: Path, *policies: str) -> dict[str, Any]:
    """``suanli simulate PATH -p … --drain --output json``: per policy its metrics."""
    args = [a for p in policies for a in ("-p", p)]
    res = run_cli("simulate", str(path), *args, "--drain", "--out", str(out), "--output", "json")
    assert res.returncode == 0, res.stderr
    policies_out: dict[str, Any] = json.loads(res.stdout)["policies"]
    return policies_out


def test_flat_tariffs_carbon_alone_moves_deferrable_work_in_time_and_place(
    tmp_path: Path,
) -> None:
    got = simulate(GREEN, tmp_path / "run", "suanli", "greedy-cost")
    s, g = got["suanli"], got["greedy-cost"]
    # the same work on the same devices at flat prices: the same energy and cost ...
    assert s["energy_mwh"] == pytest.approx(g["energy_mwh"], rel=1e-6)
    assert s["cost"]["net"] == pytest.approx(g["cost"]["net"], rel=1e-6)
    # ... at well under half the carbon: run at the sunny site's green midday
    assert s["carbon_t"] < 0.5 * g["carbon_t"]
    with open(tmp_path / "run" / "jobs-suanli.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    waited = [r for r in rows if float(r["start_h"]) - float(r["submit_h"]) > 0.5]
    assert len(waited) >= len(rows) // 3
    for r in waited:  # each waited for a green hour (10-16 h UTC) at the sunny site
        assert r["site"] == "sunny"
        assert 10 <= float(r["start_h"]) % 24 < 16


def test_without_a_price_or_weight_on_carbon_nothing_waits(tmp_path: Path) -> None:
    # The same fleet with carbon worth nothing to the policy: flat tariffs leave no reason
    # to wait, so no job does — what moved the work above was carbon alone.
    data = yaml.safe_load(GREEN.read_text())
    data["policies"]["suanli"].update(w_carbon=0.0, carbon_price=0.0)
    data["sites"][0]["carbon"]["series"]["path"] = str(FIXTURES / "green-hours-carbon.csv")
    path = tmp_path / "blind.yaml"
    path.write_text(yaml.safe_dump(data))
    simulate(path, tmp_path / "run", "suanli")
    with open(tmp_path / "run" / "jobs-suanli.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert all(float(r["start_h"]) == pytest.approx(float(r["submit_h"])) for r in rows)


def test_a_carbon_saving_alone_passes_the_deferral_threshold() -> None:
    # One site, flat price, carbon 0.6 kg/kWh for the first 24 h and 0.2 after. The old
    # rule needed (w_cost·s_C + w_carbon·s_G) / (w_cost + w_carbon) ≥ 0.3: with s_C = 0 and
    # s_G = 2/3 that is 0.2 · 0.67 / 0.7 = 0.19 — never. Now a carbon saving of 2/3 ≥ 0.3
    # passes, and without a delay weight it is worth it.
    s = site("a", [(H100, 8)], price=0.5)
    sc = scenario([s], hours=48)
    carbon = [0.6] * 24 + [0.2] * 24
    sc_green = _with_carbon_series(sc, carbon)
    j = job("batch", 20 * HOUR, 8, 2 * HOUR, deferrable=True, deadline_s=40 * HOUR)
    policy = make_policy("suanli", {"w_delay": 0.0})
    seen: list[PolicyOutput] = []
    decide = policy.decide
    policy.decide = lambda inp: seen.append(decide(inp)) or seen[-1]  # type: ignore[method-assign]
    r = Simulator(sc_green, [j], policy, verify=True).run()
    assert r.first_start[0] == pytest.approx(24 * HOUR)
    (d,) = [d for out in seen for d in out.defers]
    assert "carbon 67%" in d.reason and "cost 0%" in d.reason


def _with_carbon_series(sc: Any, values: list[float]) -> Any:
    """``sc`` with its only site's carbon replaced by an hourly series (from the horizon's
    start)."""
    (s,) = sc.sites
    carbon = CarbonIntensity(HourlySeries(tuple(values), "test"), "test")
    return dataclasses.replace(sc, sites=(dataclasses.replace(s, carbon=carbon),))


def test_the_carbon_price_is_read_converted_and_checked(tmp_path: Path) -> None:
    data = tiny()
    data["currency"] = "USD"
    data["exchange_rates"] = {"EUR": 1.1}
    data["carbon_price"] = {"per_t": 80, "currency": "EUR", "source": "test"}
    sc = load_scenario(write(tmp_path, data))
    assert sc.carbon_price_per_t == pytest.approx(88.0)
    assert sc.carbon_price_source == "test"
    shown = run_cli("validate", str(write(tmp_path, data)))
    assert shown.returncode == 0 and "carbon price 88 USD per tonne" in shown.stdout
    del data["exchange_rates"]
    path = write(tmp_path, data)
    res = run_cli("validate", str(path))
    assert res.returncode == 2
    assert "carbon_price.currency" in res.stdout + res.stderr
    assert "Traceback" not in res.stderr


def test_a_carbon_price_places_work_where_it_is_greener() -> None:
    # Two sites at the same price; the greener one a little dearer. Carbon weight off: the
    # price on carbon alone turns the choice.
    dear_green = site("green", [(H100, 8)], price=0.52, carbon=0.1)
    cheap_dirty = site("dirty", [(H100, 8)], price=0.50, carbon=0.9)
    sc = scenario([dear_green, cheap_dirty], hours=24)
    jobs = [job("j", 0.0, 8, 2 * HOUR)]

    def where(price: float) -> str:
        p = make_policy("suanli", {"w_carbon": 0.0, "carbon_price": price})
        r = Simulator(sc, jobs, p, verify=True).run()
        return r.tables.site_ids[r.tables.pool_site[int(r.last_pool[0])]]

    assert where(0.0) == "dirty"
    assert where(100.0) == "green"  # 0.8 kg/kWh × 0.1 per kg = 0.08 > 0.02 per kWh
