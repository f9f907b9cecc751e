"""Plans written to files: deterministic, a valid scenario, a generator producing the demand."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from suanli.config import load_scenario
from suanli.model.scenario import GeneratorSpec
from suanli.plan.delivery import check_delivery, profile_of
from suanli.plan.run import PlanRun, run_plan, write_outputs
from suanli.plan.solve import SolveOptions
from suanli.plan.violations import violations
from suanli.workload.generator import generate_jobs

Writer = Callable[..., Path]
FAST = SolveOptions(exact_shadow=1)


@pytest.fixture
def tiny_run(write_plan: Writer) -> PlanRun:
    return run_plan(write_plan(), options=FAST)


def test_tiny_plan_respects_every_constraint(tiny_run: PlanRun) -> None:
    plan = tiny_run.plan
    assert plan.status == "optimal"
    assert violations(tiny_run.instance, plan) == []
    assert plan.totals.new_devices > 0
    assert {c.name: round(c.delivered_pflops, 6) for c in plan.classes} == {
        c.name: round(c.demand_pflops, 6) for c in plan.classes
    }
    # serve-east may only run at east (5 ms bound, the link is 20 ms)
    [serve] = [c for c in plan.classes if c.name == "serve-east"]
    assert {site for site, _, _ in serve.devices} == {"east"}


def test_outputs_are_byte_identical(write_plan: Writer, tmp_path: Path) -> None:
    path = write_plan()
    files = {}
    for run_no in (1, 2):
        out = tmp_path / f"out{run_no}"
        written = write_outputs(run_plan(path, options=FAST), out)
        files[run_no] = {p.name: p.read_bytes() for p in written}
    assert set(files[1]) == {
        "plan.json",
        "plan.csv",
        "plan-scenario.yaml",
        "map.png",
        "devices.png",
        "cost.png",
        "index.html",
    }
    assert files[1] == files[2]


def test_plan_scenario_validates_and_holds_the_fleet(tiny_run: PlanRun, tmp_path: Path) -> None:
    write_outputs(tiny_run, tmp_path, plots=False)
    sc = load_scenario(tmp_path / "plan-scenario.yaml")
    for p in tiny_run.plan.pools:
        counts = {q.accelerator: q.count for q in sc.site(p.site).pools}
        assert counts.get(p.accelerator, 0) == p.total
    for s in tiny_run.plan.sites:
        assert sc.site(s.site).power_capacity_mw >= s.capacity_mw + s.expansion_mw - 1e-9
    assert isinstance(sc.workload, GeneratorSpec)
    assert [c.profile for c in sc.workload.classes] == [
        profile_of(c.name) for c in tiny_run.plan.classes
    ]
    serve = next(d for d in sc.datasets if d.id == "users-serve-east")
    assert serve.home == "east" and not serve.may_use("west")


def test_generator_produces_the_planned_demand(tiny_run: PlanRun, tmp_path: Path) -> None:
    """A perfect fleet (every generated job's work done) delivers the demand within 5%.

    The tiny scenario lasts a day, so 40 seeded days are pooled to make the Poisson
    noise of the job counts small (about 3% for the smaller class).
    """
    write_outputs(tiny_run, tmp_path, plots=False)
    sc = load_scenario(tmp_path / "plan-scenario.yaml")
    work: dict[str, float] = defaultdict(float)
    days = 40
    for seed in range(days):
        for job in generate_jobs(sc, np.random.default_rng(seed)):
            work[job.profile] += job.work_pflop
    checks = check_delivery(tiny_run.plan, work, sc.horizon_s * days)
    assert all(c.ok and c.ratio < 1.05 for c in checks), checks


def test_check_delivery_flags_a_shortfall(tiny_run: PlanRun) -> None:
    demand = {profile_of(c.name): c.demand_pflops * 3600 for c in tiny_run.plan.classes}
    demand[profile_of("train")] *= 0.9
    checks = {c.name: c for c in check_delivery(tiny_run.plan, demand, 3600)}
    assert not checks["train"].ok and checks["serve-east"].ok
    assert checks["train"].ratio == pytest.approx(0.9)
