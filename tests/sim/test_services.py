"""Online inference services in the simulator (issue 14, items 4 and 5): replicas follow
demand beside batch work, under each serving policy."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from suanli.cli import app, simulate  # noqa: F401  (registers the commands)
from suanli.config import load_scenario, parse_scenario
from suanli.core.serving import RoutePlan, ServingDecision, ServingInput, route
from suanli.core.serving_tables import build_serving_tables
from suanli.core.tables import build_tables
from suanli.errors import UnknownNameError
from suanli.experiment.run import run_policies, scenario_workload
from suanli.model.fleet import Failure
from suanli.model.job import Job, JobKind
from suanli.model.scenario import Scenario
from suanli.policy.registry import make_policy
from suanli.sim.engine import Simulator
from suanli.sim.result import SimResult

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "tiny-services.yaml"


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return load_scenario(FIXTURE)


def run(sc: Scenario, serving: str | None, jobs: list[Job] | None = None) -> SimResult:
    sc2, generated = scenario_workload(sc, 1)
    (r,) = run_policies(sc2, generated if jobs is None else jobs, ["backfill"], 1, serving=serving)
    return r


@pytest.fixture(scope="module")
def results(scenario: Scenario) -> dict[str, SimResult]:
    return {name: run(scenario, name) for name in ("static-peak", "reactive", "suanli")}


def test_every_policy_keeps_the_slo(results: dict[str, SimResult]) -> None:
    for name, r in results.items():
        (o,) = r.services
        assert o.service == "chat" and r.serving_policy == name
        assert o.attainment >= 0.98, name
        assert float(o.requests.sum()) == pytest.approx(3_542_400, rel=0.01)
        assert float(o.dropped.sum()) == 0.0
        assert o.energy_kwh > 0 and o.cost > 0 and o.carbon_kg > 0
        assert float(o.tokens.sum()) > 0


def test_static_peak_never_changes(results: dict[str, SimResult]) -> None:
    (o,) = results["static-peak"].services
    assert o.cold_starts == 0  # placed warm at time 0 and kept
    assert len(set(o.series[:, 3].tolist())) == 1


def test_suanli_follows_demand(results: dict[str, SimResult]) -> None:
    (peak,) = results["static-peak"].services
    (tidal,) = results["suanli"].services
    assert tidal.device_s.sum() < 0.9 * peak.device_s.sum()
    assert tidal.attainment >= 0.99
    ready = tidal.series[:, 3]
    demand = tidal.series[:, 1]
    assert np.corrcoef(ready, demand)[0, 1] > 0.9  # replicas follow the day
    # cheaper per token than provisioning for the peak
    assert tidal.per_mtok(tidal.cost) < peak.per_mtok(peak.cost)


def test_batch_results_leave_replicas_out(
    scenario: Scenario, results: dict[str, SimResult]
) -> None:
    _, jobs = scenario_workload(scenario, 1)
    for r in results.values():
        assert len(r.jobs) == len(jobs) == len(r.finish)
        assert all(sp.job < len(jobs) for sp in r.stretches)
        assert not any(j.id.startswith("chat#") for j in r.jobs.jobs)


def test_runs_are_deterministic(scenario: Scenario, results: dict[str, SimResult]) -> None:
    again = run(scenario, "suanli")
    (a,), (b,) = again.services, results["suanli"].services
    assert np.array_equal(a.series, b.series) and a.cold_starts == b.cold_starts
    assert np.array_equal(again.finish, results["suanli"].finish, equal_nan=True)


def test_without_a_serving_policy_services_are_left_out(scenario: Scenario) -> None:
    r = run(scenario, None)
    assert r.services == () and r.serving_policy == ""


def test_replicas_preempt_batch_work_when_demand_rises(scenario: Scenario) -> None:
    # the fleet is full of long preemptible batch jobs from the start
    jobs = [
        Job(
            id=f"big{i}",
            submit_s=0.0,
            work_pflop=1e9,
            gang=8,
            tenant="lab",
            profile="dl-training",
            kind=JobKind.PRETRAIN,
            accepted_types=("nvidia_h100_sxm5",),
        )
        for i in range(12)
    ]
    r = run(scenario, "suanli", jobs)
    (o,) = r.services
    assert o.attainment >= 0.97
    assert int(r.preemptions.sum()) > 0  # batch gave way to the replicas
    assert o.cold_starts > 0


def test_a_failed_node_loses_its_replica_and_it_is_replaced(scenario: Scenario) -> None:
    failing = replace(
        scenario, failures=(Failure("west", 12 * 3600.0, 1800.0, "nvidia_h100_sxm5"),)
    )
    r = run(failing, "suanli")
    (o,) = r.services
    during = o.series[(o.series[:, 0] >= 12 * 3600) & (o.series[:, 0] < 12.5 * 3600)]
    assert during[:, 3].min() >= 1  # east took over while west was down
    assert o.attainment >= 0.95


def test_routing_spreads_load_within_reach(scenario: Scenario) -> None:
    tables = build_serving_tables(build_tables(scenario))
    t = tables.services[0]
    ready = np.array([2, 3])
    x = route(np.array([30.0]), ready, t)
    assert x.sum() == pytest.approx(30.0)
    spare = ready * t.mu
    assert x[0] / spare == pytest.approx(np.full(2, 30.0 / spare.sum()))
    # beyond all capacity: the excess in proportion to capacity, nothing dropped
    x = route(np.array([10 * spare.sum()]), ready, t)
    assert x.sum() == pytest.approx(10 * spare.sum())
    assert route(np.array([5.0]), np.array([0, 0]), t).sum() == 0.0


def test_an_unknown_serving_policy_lists_the_valid_ones(scenario: Scenario) -> None:
    with pytest.raises(UnknownNameError, match=r"reactive.*static-peak.*suanli"):
        run(scenario, "hpa")


def test_simulate_prints_the_services(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["simulate", str(FIXTURE), "-p", "backfill", "--serving", "reactive", "--no-plots"]
    result = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Services" in result.output and "reactive" in result.output and "chat" in result.output
    result = CliRunner().invoke(app, [*args[:-3], "--serving", "none", "--out", str(out)])
    assert result.exit_code == 0 and "Services" not in result.output


def test_routing_follows_the_plan_then_spills_to_what_is_spare(scenario: Scenario) -> None:
    """A region's requests go to the replicas sized for it first, and only the rest over
    the capacity still spare after the planned loads, within what each pool serves at
    the target."""
    tables = build_serving_tables(build_tables(scenario))
    t = tables.services[0]
    ready = np.array([2, 3])
    cap = ready * t.mu
    limit = 0.9 * cap
    plan = RoutePlan(np.array([[0.5 * cap[0], 0.0]]), ready.astype(float), limit)
    # within the plan: all on the planned pool, though the other has more spare
    x = route(np.array([0.4 * cap[0]]), ready, t, plan)
    assert x[0] == pytest.approx([0.4 * cap[0], 0.0])
    # beyond it: the rest over what is spare within the limits, in proportion
    lam = 0.5 * cap[0] + 0.2 * limit.sum()
    x = route(np.array([lam]), ready, t, plan)
    room = limit - np.array([0.5 * cap[0], 0.0])
    want = np.array([0.5 * cap[0], 0.0]) + 0.2 * limit.sum() * room / room.sum()
    assert x[0] == pytest.approx(want)
    # replicas still starting: the plan counts only the ready share of a pool
    half = RoutePlan(plan.rates, 2 * ready.astype(float), 2 * limit)
    x = route(np.array([0.4 * cap[0]]), ready, t, half)
    assert x.sum() == pytest.approx(0.4 * cap[0])
    assert x[0, 0] >= 0.25 * cap[0] - 1e-9  # its ready half of the plan, then shared
    assert x[0, 1] > 0
    # beyond every limit and all capacity: as without a plan, nothing dropped
    x = route(np.array([10 * cap.sum()]), ready, t, plan)
    assert x.sum() == pytest.approx(10 * cap.sum())


class _Recorder:
    """A serving policy that places nothing and keeps what each tick observed."""

    name = "recorder"
    tick_s = 300.0

    def __init__(self) -> None:
        self.seen: list[np.ndarray] = []

    def decide(self, inp: ServingInput) -> ServingDecision:
        self.seen.append(np.array(inp.observed[0]))
        return ServingDecision()


@pytest.mark.parametrize("warm", [True, False])
def test_a_warm_start_gives_the_services_a_day_of_history(scenario: Scenario, warm: bool) -> None:
    """Services already serving at 0 come with the monitoring of the day before (so a
    forecaster that reads yesterday works from the first tick); a cold start (as the live
    control plane starts) has only the interval before ``now``."""
    sc2, jobs = scenario_workload(scenario, 1)
    rec = _Recorder()
    Simulator(sc2, jobs, make_policy("backfill"), seed=1, serving=rec, warm_services=warm).run()
    first = rec.seen[0]
    (demand,) = build_serving_tables(build_tables(sc2)).services[0].demand
    ticks = 288 if warm else 1
    assert first.shape == (1, ticks)
    expected = [demand.mean_rate(-(i + 1) * 300.0, -i * 300.0) for i in reversed(range(ticks))]
    assert first[0].tolist() == pytest.approx(expected)
    # the hourly curve of the day before: quiet at night, busy by day
    if warm:
        assert first[0].max() > 2 * first[0].min()
    # from then on one interval per tick, the history kept
    assert rec.seen[1].shape == (1, ticks + 1)


def test_suanli_sizes_replicas_within_its_utilisation_ceiling() -> None:
    """``max_utilisation`` ρ_max: with a flat demand (the forecast exact), the ready
    replicas' capacity is never less than the demand / ρ_max — set through the scenario's
    own policy parameters; without the ceiling the SLO alone allows a higher utilisation."""
    data = yaml.safe_load(FIXTURE.read_text())
    data["services"][0]["regions"][0]["demand"]["hourly"] = [5] * 24

    def utilisation(rho: float) -> float:
        data["policies"] = {"serving/suanli": {"max_utilisation": rho}}
        sc = parse_scenario(yaml.safe_dump(data), "flat", FIXTURE.parent)
        (o,) = run(sc, "suanli").services
        _, demand, cap, *_ = o.series.T
        return float((demand / cap).max())

    assert utilisation(0.5) <= 0.5 + 1e-9
    assert utilisation(1.0) > 0.6
