"""The planner plans online inference services, and the simulator checks the plan.

``tests/fixtures/plan-services.yaml`` plans two services of its scenario (``chat``: a
7B model for Shanghai within 10 ms, which only the east site reaches; ``assist``: a 32B
model for Xi'an and Shanghai within 30 ms) beside a batch class. The plan's scenario
runs the services with the ``suanli`` serving policy and the batch jobs with backfill
over its two days: every service meets its SLO attainment and the batch class gets its
demand in the second day. Without the devices the plan bought where it put a service,
the same check fails.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from suanli.config import load_scenario
from suanli.config.loader import parse_scenario
from suanli.core.serving_tables import build_serving_tables
from suanli.core.tables import build_tables
from suanli.errors import InputError
from suanli.perf.queueing import ServiceLoad, replicas_needed
from suanli.perf.serving import replica_perf
from suanli.perf.serving_defaults import serving_efficiency
from suanli.plan.delivery import SimCheck, check_simulation
from suanli.plan.load import load_planning
from suanli.plan.run import PlanRun, run_plan, write_outputs
from suanli.plan.scenario_out import plan_scenario_data
from suanli.plan.solve import SolveOptions
from suanli.policy.registry import make_policy, make_serving_policy
from suanli.policy.serving.common import Sizer
from suanli.sim.engine import Simulator
from suanli.workload.generator import generate_jobs
from tests.conftest import run_cli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PLANNING = FIXTURES / "plan-services.yaml"
SCENARIO = FIXTURES / "plan-services-scenario.yaml"


@pytest.fixture(scope="module")
def planned() -> PlanRun:
    return run_plan(PLANNING, options=SolveOptions(exact_shadow=0))


@pytest.fixture
def write_planning(tmp_path: Path) -> Callable[..., Path]:
    """The fixture's planning file beside a copy of its scenario, with ``classes`` changed."""
    shutil.copy(SCENARIO, tmp_path / SCENARIO.name)

    def write(classes: list[dict[str, Any]]) -> Path:
        data = yaml.safe_load(PLANNING.read_text("utf-8"))
        data["classes"] = classes
        path = tmp_path / "plan.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False), "utf-8")
        return path

    return write


def simulate(path: Path, plan: PlanRun) -> SimCheck:
    """Simulate a plan's scenario (backfill, services by ``suanli``) and check it."""
    sc = load_scenario(path)
    jobs = generate_jobs(sc, np.random.default_rng(0))
    result = Simulator(
        sc, jobs, make_policy("backfill"), serving=make_serving_policy("suanli")
    ).run()
    assert [o.service for o in result.services] == ["chat", "assist"]
    return check_simulation(plan.plan, result, sc.horizon_s / 2)


def test_a_service_class_is_one_class_per_region(planned: PlanRun) -> None:
    inst, plan = planned.instance, planned.plan
    assert [c.name for c in inst.classes] == [
        "chat@shanghai",
        "assist@xian",
        "assist@shanghai",
        "train",
    ]
    types = [t.id for t in inst.types]
    h100, h20, ascend = (
        types.index(a) for a in ("nvidia_h100_sxm5", "nvidia_h20", "huawei_ascend_910c")
    )
    chat, xian = inst.classes[0], inst.classes[1]
    assert chat.allowed_sites == (True, False)  # east only: west is 21 ms from Shanghai
    assert xian.allowed_sites == (True, True)
    assert chat.service == "chat" and chat.region == "shanghai" and chat.utilisation == 1.0
    # an H20 replica of the 7B chat misses its TPOT under prefill even lightly loaded
    assert chat.speed[h20] == 0.0 and chat.speed[ascend] == 0.0  # 910C: not a chat shape
    assert xian.speed[ascend] > 0 and xian.min_pool[h100] == 2
    # D = Λ (Ī + Ō) 2A: 120 requests/s (+5% headroom) of about 1,800 + 300 tokens of 7.61B
    assert chat.demand_pflops == pytest.approx(126 * 2100 * 2 * 7.61e9 / 1e15, rel=0.05)
    by_name = {c.name: c for c in plan.classes}
    assert by_name["chat@shanghai"].service == "chat"
    assert by_name["train"].service == ""
    for c in plan.classes:
        assert c.delivered_pflops == pytest.approx(c.demand_pflops, rel=1e-6)


def test_devices_are_the_simulators_replicas_at_peak(planned: PlanRun) -> None:
    """The devices a region needs are what the closed form and the simulator's Sizer give."""
    inst = planned.instance
    sc = planned.planning.scenario.scenario
    chat_svc = next(s for s in sc.services if s.id == "chat")
    chat = inst.classes[0]
    h100 = [t.id for t in inst.types].index("nvidia_h100_sxm5")
    devices = round(chat.demand_pflops / chat.speed[h100])
    acc = sc.catalog["nvidia_h100_sxm5"]
    # the service's lengths: 1,800 / 300 tokens (log-normal bins), CV 1.5, 1 ms away
    tables = build_serving_tables(build_tables(sc))
    t = tables.services[0]
    assert t.service.id == "chat"
    perf = replica_perf(
        chat_svc.model,
        acc,
        1,
        serving_efficiency(acc.stack),
        chat_svc.slo.tpot_s,
        t.mean_input + t.mean_output / 2,
    )
    tokens = t.mean_input + t.mean_output  # the lengths' binned means
    assert chat.demand_pflops == pytest.approx(126 * tokens * 2 * 7.61e9 / 1e15, rel=1e-9)
    load = ServiceLoad(126.0, t.mean_input, t.mean_output, 1.5, t.scv_input, t.scv_output)
    closed = int(replicas_needed(perf, chat_svc.slo, load, 0.001, 0.99).item())
    assert devices == closed
    pool = next(p for p in t.pools if t.reach_pool[0, p])
    sized = Sizer().needed(t, pool, 126.0, 1.5, 0.001, 0.99)
    assert abs(sized - devices) <= 1  # the Sizer's bisection is to 0.1%


def test_headroom(write_planning: Callable[..., Path], planned: PlanRun) -> None:
    path = write_planning([{"name": "chat", "service": "chat", "headroom": 0}])
    run = run_plan(path, options=SolveOptions(exact_shadow=0))
    [exact] = run.instance.classes
    [chat] = (c for c in planned.instance.classes if c.name == "chat@shanghai")
    assert exact.demand_pflops == pytest.approx(chat.demand_pflops / 1.05)
    h100 = 0
    assert exact.demand_pflops / exact.speed[h100] < chat.demand_pflops / chat.speed[h100]


def test_headroom_is_for_services(write_planning: Callable[..., Path]) -> None:
    path = write_planning(
        [{"name": "x", "profile": "dl-training", "demand": {"pflops": 1}, "headroom": 0.1}]
    )
    [msg] = _problems(path)
    assert "headroom applies to a service class only" in msg


def test_plan_scenario_has_the_services(planned: PlanRun) -> None:
    data = plan_scenario_data(planned.planning, planned.plan, planned.instance)
    assert [s["id"] for s in data["services"]] == ["chat", "assist"]
    assert [r["id"] for r in data["user_regions"]] == ["shanghai", "xian"]
    chat = data["services"][0]
    assert chat["shapes"] == [{"accelerator": "nvidia_h100_sxm5", "devices": 1}]
    classes = data["workload"]["generator"]["classes"]
    assert [c["name"] for c in classes] == ["train"]  # services are not jobs
    text = yaml.safe_dump(data, sort_keys=False)
    sc = parse_scenario(text, "plan-scenario.yaml", SCENARIO.parent)
    assert [s.id for s in sc.services] == ["chat", "assist"]


def test_unplanned_services_are_left_out(write_planning: Callable[..., Path]) -> None:
    path = write_planning([{"name": "chat", "service": "chat"}])
    run = run_plan(path, options=SolveOptions(exact_shadow=0))
    data = plan_scenario_data(run.planning, run.plan, run.instance)
    assert [s["id"] for s in data["services"]] == ["chat"]
    assert "workload" not in data


@pytest.mark.slow
def test_planned_fleet_meets_the_services_slos(planned: PlanRun, tmp_path: Path) -> None:
    write_outputs(planned, tmp_path, plots=False, html=False)
    check = simulate(tmp_path / "plan-scenario.yaml", planned)
    assert check.ok, check.lines()
    attainment = {s.service: s.attainment for s in check.services}
    assert attainment["chat"] >= 0.99 and attainment["assist"] >= 0.99
    assert all(s.target == 0.99 for s in check.services)
    [train] = check.classes
    assert train.name == "train" and train.ratio >= 0.95
    assert all(not math.isnan(s.device_hours) and s.device_hours > 0 for s in check.services)


@pytest.mark.slow
def test_without_the_devices_bought_for_a_service_the_check_fails(
    planned: PlanRun, tmp_path: Path
) -> None:
    plan = planned.plan
    chat_sites = {site for c in plan.classes if c.service == "chat" for site, _, _ in c.devices}
    assert chat_sites == {"east"}
    bought = {(p.site, p.accelerator): p.added for p in plan.pools if p.added}
    assert bought.get(("east", "nvidia_h100_sxm5"), 0) > 0
    data = plan_scenario_data(planned.planning, plan, planned.instance)
    for site in data["sites"]:
        if site["id"] in chat_sites:
            for pool in site["pools"]:
                pool["count"] -= bought.get((site["id"], pool["accelerator"]), 0)
    path = tmp_path / "shrunk.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), "utf-8")
    check = simulate(path, planned)
    assert not check.ok
    by_id = {s.service: s for s in check.services}
    assert not by_id["chat"].ok and by_id["chat"].attainment < 0.9
    assert by_id["assist"].ok


def test_cli_plans_services(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli(
        "plan", "--demand", str(PLANNING), "--out", str(out), "--exact", "0", "--no-plots"
    )
    assert result.returncode == 0, result.stderr
    assert "chat@shanghai" in result.stdout and "assist@xian" in result.stdout
    check = run_cli("validate", str(out / "plan-scenario.yaml"))
    assert check.returncode == 0, check.stderr


def _problems(path: Path) -> list[str]:
    with pytest.raises(InputError) as info:
        load_planning(path)
    return [str(p) for p in info.value.problems]


def test_unknown_service_exits_2_naming_the_field(write_planning: Callable[..., Path]) -> None:
    path = write_planning([{"name": "chat", "service": "chta"}])
    result = run_cli("plan", "--demand", str(path), "--exact", "0")
    assert result.returncode == 2
    assert "classes[0].service" in result.stderr and "unknown service 'chta'" in result.stderr
    assert "did you mean 'chat'" in result.stderr and "Traceback" not in result.stderr


def test_service_class_with_demand_of_its_own(write_planning: Callable[..., Path]) -> None:
    path = write_planning(
        [{"name": "chat", "service": "chat", "profile": "dl-training", "demand": {"pflops": 1}}]
    )
    [msg] = _problems(path)
    assert "classes[0]" in msg and "takes its profile, demand from the service" in msg


def test_class_without_profile_or_service(write_planning: Callable[..., Path]) -> None:
    [msg] = _problems(write_planning([{"name": "x"}]))
    assert "give profile and demand, or service" in msg


def test_service_no_accepted_type_can_serve(write_planning: Callable[..., Path]) -> None:
    path = write_planning([{"name": "chat", "service": "chat", "accepted_types": ["nvidia_h20"]}])
    [msg] = _problems(path)
    assert "classes[0].service" in msg
    assert "service chat cannot serve region shanghai" in msg
    assert "nvidia_h20" in msg and "meets the SLO" in msg


def test_service_planned_twice(write_planning: Callable[..., Path]) -> None:
    path = write_planning([{"name": "a", "service": "chat"}, {"name": "b", "service": "chat"}])
    [msg] = _problems(path)
    assert "classes[1].service" in msg and "already planned by class a" in msg
