"""One core, two clocks: the simulator and the live control plane (stepped clock, dry-run
sites, a real SQLite database) hand every policy the same view and get the same decisions,
round by round — on a hand-made fleet and on generated ones (hypothesis)."""

from __future__ import annotations

import csv
import dataclasses
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suanli.config import load_scenario, parse_scenario
from suanli.core.reasons import NO_START_REASON
from suanli.core.sharing import PLACEMENTS
from suanli.experiment.run import scenario_workload
from suanli.model.job import Job, JobKind
from suanli.model.scenario import Scenario
from suanli.policy.registry import make_policy, policy_names
from suanli.report.files import write_jobs_csv
from suanli.scenarios import builtin_dir
from suanli.sim.engine import Simulator
from suanli.store.db import Database
from suanli.store.jobs import JobStore
from tests.control.helpers import FIXTURES
from tests.core.two_clocks import both, counts, first_difference, run_live, simulate

SCENARIO = FIXTURES / "two-clocks.yaml"


@pytest.fixture(scope="module")
def fleet() -> tuple[Scenario, list[Job]]:
    """The hand-made fleet (three sites, two accelerator types, power cap, power saving,
    tariffs, a subsidy, a data set to copy, a quota) and its generated jobs."""
    return scenario_workload(load_scenario(str(SCENARIO)), 7)


@pytest.mark.parametrize("policy", policy_names())
def test_every_policy_sees_the_same_and_decides_the_same(
    policy: str, fleet: tuple[Scenario, list[Job]], tmp_path: Path
) -> None:
    sc, jobs = fleet
    sim, live = both(sc, jobs, policy, tmp_path)
    assert first_difference(sim, live) == ""
    n = counts(sim)
    assert n["rounds"] > 200 and n["starts"] > 50, n  # the test exercises the policy
    if policy == "las":
        assert n["preempts"] > 0, n
    if policy == "fifo-het":
        assert n["migrates"] > 0, n
    if policy == "suanli":
        assert n["defers"] > 0, n


@pytest.mark.parametrize("policy", ["fifo-het", "suanli"])
def test_moves_are_the_same_on_both_clocks(policy: str, tmp_path: Path) -> None:
    """A job moves up to faster devices at another site (its checkpoint copied there) in
    the simulator, and the live control plane requeues it and dispatches it there, round
    by round the same; the live database ends with the job done at the new site."""
    from tests.core.test_migration import FLEET, moving_jobs

    sc = load_scenario(str(FLEET))
    sim, live = both(sc, moving_jobs(sc, 20 * 3600.0), policy, tmp_path)
    assert first_difference(sim, live) == ""
    assert counts(sim)["migrates"] == 1
    moved = JobStore(Database(f"sqlite:///{tmp_path / f'live-{policy}.db'}")).get(4)
    assert moved is not None and (moved.state, moved.site, moved.attempt) == ("done", "west", 2)


@pytest.mark.parametrize("policy", ["backfill", "greedy-cost", "suanli"])
def test_every_start_has_a_reason_in_the_same_words_on_both_clocks(
    policy: str, fleet: tuple[Scenario, list[Job]], tmp_path: Path
) -> None:
    """The simulator's per-job CSV and the live control plane's start decisions say why
    each job started where it did, in the same words (one core: suanli.core.reasons)."""
    sc, jobs = fleet
    ordered = [
        dataclasses.replace(j, id=str(k + 1))
        for k, j in enumerate(sorted(jobs, key=lambda j: j.submit_s))
    ]
    result = Simulator(sc, ordered, make_policy(policy, sc.policy_params.get(policy))).run()
    write_jobs_csv(tmp_path / "jobs.csv", result)
    with (tmp_path / "jobs.csv").open() as fh:
        sim = {
            row["job"]: row["reason"]
            for row in csv.DictReader(fh)
            if row["status"] in ("finished", "running")
        }
    run_live(sc, ordered, policy, tmp_path / "live.db")
    db = Database(str(tmp_path / "live.db"))
    live: dict[str, str] = {}
    for d in JobStore(db).decisions(limit=1_000_000):  # newest first: each job's last start
        if d.action == "start":
            live.setdefault(str(d.job_id), d.detail)
    db.dispose()
    assert len(sim) > 50 and sim == live
    assert all(r.startswith("started on ") and NO_START_REASON not in r for r in sim.values())


@pytest.mark.parametrize("placement", [p for p in PLACEMENTS if p != "best-fit"])
def test_placement_rules_place_alike(
    placement: str, fleet: tuple[Scenario, list[Job]], tmp_path: Path
) -> None:
    sc, jobs = fleet
    sim, live = both(sc, jobs, "backfill", tmp_path, placement)
    assert first_difference(sim, live) == ""


def test_the_comparison_sees_a_difference(
    fleet: tuple[Scenario, list[Job]], tmp_path: Path
) -> None:
    """Not vacuous: one job 1% longer on the live side parts the two recordings."""
    sc, jobs = fleet
    ordered = [
        dataclasses.replace(j, id=str(k + 1))
        for k, j in enumerate(sorted(jobs, key=lambda j: j.submit_s))
    ]
    sim = simulate(sc, ordered, "fifo")
    longer = [dataclasses.replace(ordered[0], work_pflop=ordered[0].work_pflop * 1.01)]
    live = run_live(sc, longer + ordered[1:], "fifo", tmp_path / "live.db")
    assert "submit, work, remaining, attained, resumed" in first_difference(sim, live)


SITE = """
  - id: s{i}
    name: Site {i}
    location: {{lat: {lat}, lon: {lon}}}
    grid_region: R{i}
    pue: 1.2
    power_capacity_mw: {mw}
    max_power_oversubscription: 2.0
    tariff:
      base_per_kwh: {price}
      time_of_use:
        - {{name: peak, multiplier: {peak}, hours: ["00-01"]}}
        - {{name: valley, multiplier: 0.5, hours: ["01-03"]}}
    carbon: {{kg_per_kwh: 0.5}}
{saving}    pools:
      - {{accelerator: {acc}, count: {count}}}
"""


@st.composite
def cases(draw: st.DrawFn) -> tuple[Scenario, list[Job], str, str]:
    """A small random fleet (epoch start, 3 h), random jobs, a policy and a placement rule."""
    n_sites = draw(st.integers(1, 3))
    sites = []
    accs = []
    for i in range(n_sites):
        acc = draw(st.sampled_from(["nvidia_h100_sxm5", "huawei_ascend_910b3"]))
        accs.append(acc)
        saving = (
            "    power_saving: {idle_minutes: 10, resume_minutes: 2}\n"
            if draw(st.booleans())
            else ""
        )
        sites.append(
            SITE.format(
                i=i,
                lat=30 + 3 * i,
                lon=110 + 4 * i,
                mw=draw(st.sampled_from([0.03, 0.06, 0.5])),
                price=draw(st.sampled_from([0.4, 0.6])),
                peak=draw(st.sampled_from([1.0, 2.5])),
                saving=saving,
                acc=acc,
                count=8 * draw(st.integers(1, 4)),
            )
        )
    quota = draw(st.sampled_from(["", "    quotas: [{max_devices: 8}]\n"]))
    text = (
        "name: generated\nhorizon: {start: 1970-01-01T00:00:00+00:00, hours: 3}\n"
        "sites:" + "".join(sites) + "links:\n  default: {bandwidth_gbps: 5, latency_ms: 20,"
        " cost_per_gb: 0.05}\n"
        "datasets:\n  - {id: data, size_tb: 1, home: s0}\n"
        f"tenants:\n  - {{id: a, name: A, home: s0}}\n  - id: b\n    name: B\n{quota}"
        "policies:\n  suanli: {w_delay: 0.05}\n"
    )
    sc = parse_scenario(text, "generated.yaml", builtin_dir())
    n_jobs = draw(st.integers(1, 25))
    jobs = []
    for k in range(n_jobs):
        deferrable = draw(st.booleans())
        jobs.append(
            Job(
                id=f"g{k}",
                tenant=draw(st.sampled_from(["a", "b"])),
                kind=JobKind.PRETRAIN,
                profile="dl-training",
                submit_s=60.0 * draw(st.integers(0, 150)),
                gang=draw(st.sampled_from([1, 2, 4, 8, 16])),
                work_pflop=draw(st.floats(50.0, 20_000.0)),
                accepted_types=draw(st.sampled_from([(), (accs[0],)])),
                dataset=draw(st.sampled_from([None, "data"])),
                deadline_s=10_800.0 if deferrable else None,
                deferrable=deferrable,
                preemptible=draw(st.booleans()),
                checkpoint_interval_s=draw(st.sampled_from([300.0, 3600.0])),
                restart_cost_s=draw(st.sampled_from([0.0, 120.0])),
            )
        )
    policy = draw(st.sampled_from(policy_names()))
    placement = draw(st.sampled_from(sorted(PLACEMENTS)))
    return sc, jobs, policy, placement


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(cases())
def test_generated_fleets_and_jobs(case: tuple[Scenario, list[Job], str, str]) -> None:
    sc, jobs, policy, placement = case
    with tempfile.TemporaryDirectory() as d:
        sim, live = both(sc, jobs, policy, Path(d), placement)
    assert first_difference(sim, live) == ""


SERVICES = """
user_regions:
  - {id: shanghai, name: Shanghai, location: {lat: 31.23, lon: 121.47},
     timezone: Asia/Shanghai}
services:
  - id: chat
    tenant: lab
    model: qwen2.5-7b
    slo: {ttft_p99_ms: 2000, tpot_ms: 60}
    replicas: {min: 1}
    regions:
      - region: shanghai
        max_latency_ms: 30
        demand:
          peak_rps: 60
          # the run is 08:00-14:00 in Shanghai: up, down, up, down
          hourly: [1, 1, 1, 1, 1, 1, 1, 2, 3, 5, 2, 1, 4, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
          cv: 1.5
          input_tokens: {mean: 1800, cv: 1.2}
          output_tokens: {mean: 300, cv: 1.0}
"""


@pytest.mark.parametrize(("policy", "serving"), [("suanli", "suanli"), ("fifo", "reactive")])
def test_services_scale_the_same_on_both_clocks(policy: str, serving: str, tmp_path: Path) -> None:
    """With an online inference service beside the batch jobs, the serving policy sees the
    same replicas, demand and free devices at every tick and decides the same, and the
    batch policy's rounds agree too (jobs named alike: the database numbers replicas and
    batch jobs in one sequence)."""
    text = SCENARIO.read_text() + SERVICES
    sc = parse_scenario(text, "two-clocks-services", SCENARIO.parent)
    sc, jobs = scenario_workload(sc, 7)
    ordered = [
        dataclasses.replace(j, id=str(k + 1))
        for k, j in enumerate(sorted(jobs, key=lambda j: j.submit_s))
    ]
    sim_srv: list = []
    live_srv: list = []
    sim = simulate(sc, ordered, policy, serving=serving, serving_rounds=sim_srv)
    live = run_live(
        sc, ordered, policy, tmp_path / "live.db", serving=serving, serving_rounds=live_srv
    )
    assert first_difference(sim_srv, live_srv) == ""
    assert first_difference(sim, live) == ""
    adds = sum(a[2] for r in sim_srv for a in r.decisions[2][1])
    drains = sum(len(r.decisions[1][1]) for r in sim_srv)
    assert len(sim_srv) >= 70 and adds >= 3 and drains >= 1, (len(sim_srv), adds, drains)
    assert counts(sim)["starts"] > 50


@pytest.mark.parametrize("policy", ["suanli", "pollux"])
def test_resizes_are_the_same_on_both_clocks(policy: str, tmp_path: Path) -> None:
    """An elastic job starts on all of a pool nobody else wants, gives half back to a
    newcomer and grows again once alone — in the simulator, and live (the control plane
    requeues it and dispatches it on its new shape), round by round the same."""
    from tests.core.test_resize import FLEET, elastic_pair

    sc = load_scenario(str(FLEET))
    sim, live = both(sc, elastic_pair(sc), policy, tmp_path)
    assert first_difference(sim, live) == ""
    assert counts(sim)["resizes"] == 2
    grower = JobStore(Database(f"sqlite:///{tmp_path / f'live-{policy}.db'}")).get(1)
    assert grower is not None and (grower.state, grower.attempt) == ("done", 3)


@pytest.mark.parametrize("policy", ["suanli", "greedy-cost", "maxmin-het", "fifo-het"])
def test_preferences_and_a_carbon_price_on_both_clocks(
    policy: str, fleet: tuple[Scenario, list[Job]], tmp_path: Path
) -> None:
    """Issue 13 on both clocks: jobs that list Ascend 910B3 before H100 (an order of
    preference), others that take either as a set, and a carbon price in the scenario —
    the same decisions round by round."""
    sc, jobs = fleet
    sc = dataclasses.replace(sc, carbon_price_per_t=300.0)
    both_types = ("huawei_ascend_910b3", "nvidia_h100_sxm5")
    mixed = [
        dataclasses.replace(j, accepted_types=both_types, types_ordered=i % 3 != 0)
        if not j.accepted_types and i % 2 == 0
        else j
        for i, j in enumerate(jobs)
    ]
    sim, live = both(sc, mixed, policy, tmp_path)
    assert first_difference(sim, live) == ""
    assert counts(sim)["starts"] > 50


def test_a_bridge_and_its_move_up_are_the_same_on_both_clocks(tmp_path: Path) -> None:
    """``suanli`` bridges a gang on slower devices while its fast pool is full, holds that
    pool for the move (small jobs that would run past it are kept off), and moves the gang
    up when it frees (tests/policy/test_bridge.py) — round by round the same on both clocks."""
    from tests.sim.helpers import ASCEND, H100, job, scenario, site

    epoch = {"start": "1970-01-01T00:00:00+00:00", "hours": 12}  # the stepped clock's
    sc = scenario([site("a", [(H100, 16)]), site("b", [(ASCEND, 16)])], horizon=epoch)
    jobs = [job("hog", 0.0, 16, 5 * 3600.0), job("big", 60.0, 16, 10 * 3600.0)]
    jobs += [job(f"s{i}", 3600.0 + 600.0 * i, 4, 4 * 3600.0) for i in range(8)]
    sim, live = both(sc, jobs, "suanli", tmp_path)
    assert first_difference(sim, live) == ""
    assert counts(sim)["migrates"] == 1
    starts = [s for r in sim for s in r.decisions[0][1]]
    assert any(why.startswith("room now, to work while it waits") for _, _, why in starts)


def test_a_quota_bound_reservation_is_the_same_on_both_clocks(tmp_path: Path) -> None:
    """``suanli`` reserves for a job its tenant's quota holds back from when the quota
    allows it, and other tenants' jobs take the idle devices meanwhile
    (tests/policy/test_big_gangs.py) — round by round the same on both clocks."""
    from tests.policy.test_big_gangs import quota_fleet
    from tests.sim.helpers import job

    hour = 3600.0
    epoch = {"start": "1970-01-01T00:00:00+00:00", "hours": 14}  # the stepped clock's
    sc = quota_fleet(sites=1, hours=14, horizon=epoch)
    jobs = [
        job("u1", 0.0, 8, 10 * hour, tenant="u"),
        job("t1", 0.0, 8, 2 * hour),
        job("u2", 60.0, 8, 1 * hour, tenant="u"),
        job("t2", 2.5 * hour, 8, 1.5 * hour),
        job("t3", 4.5 * hour, 8, 1.5 * hour),
    ]
    sim, live = both(sc, jobs, "suanli", tmp_path)
    assert first_difference(sim, live) == ""
    starts = [s for r in sim for s in r.decisions[0][1]]
    assert len(starts) == 5
