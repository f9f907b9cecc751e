"""The suanli policy on small scenarios where the right answer is known."""

from __future__ import annotations

import dataclasses

import pytest

from suanli.core.policy import PolicyOutput
from suanli.policy.registry import make_policy
from suanli.sim.engine import Simulator
from suanli.sim.result import SimResult
from tests.sim.helpers import ASCEND, H100, job, scenario, site

HOUR = 3600.0
TOU = [
    {"name": "valley", "multiplier": 0.4, "hours": ["00-08"]},
    {"name": "peak", "multiplier": 1.6, "hours": ["08-22"]},
]


def run(sc, jobs, policy="suanli", params=None):  # type: ignore[no-untyped-def]
    return Simulator(sc, jobs, make_policy(policy, params), verify=True).run()


def site_of(r: SimResult, j: int) -> str:
    return r.tables.site_ids[r.tables.pool_site[int(r.last_pool[j])]]


def acc_of(r: SimResult, j: int) -> str:
    return r.tables.acc_ids[r.tables.pool_acc[int(r.last_pool[j])]]


def test_deferrable_job_waits_for_the_valley_tariff() -> None:
    s = site("a", [(H100, 8)])
    s["tariff"] = {"base_per_kwh": 0.6, "time_of_use": TOU}
    sc = scenario([s], hours=48)
    # submitted at 20:00 local; valley from 00:00; deadline leaves room
    j = job("batch", 20 * HOUR, 8, 3 * HOUR, deferrable=True, deadline_s=40 * HOUR)
    r = run(sc, [j], params={"w_delay": 0.0})
    assert r.first_start[0] == pytest.approx(24 * HOUR)  # midnight: the valley starts
    # it was set aside at 20:00 until midnight, saying why
    policy = make_policy("suanli", {"w_delay": 0.0})
    seen: list[PolicyOutput] = []
    decide = policy.decide
    policy.decide = lambda inp: seen.append(decide(inp)) or seen[-1]  # type: ignore[method-assign]
    Simulator(sc, [j], policy).run()
    (defer,) = [d for out in seen for d in out.defers]
    assert defer.until_s == pytest.approx(24 * HOUR)
    assert defer.reason.startswith("deferred 4.0 h") and "lower" in defer.reason
    now = run(sc, [j], "fifo")
    assert now.first_start[0] == pytest.approx(20 * HOUR)
    # not deferrable: starts at once
    urgent = run(sc, [job("urgent", 20 * HOUR, 8, 3 * HOUR)], params={"w_delay": 0.0})
    assert urgent.first_start[0] == pytest.approx(20 * HOUR)


def test_deferral_respects_the_deadline() -> None:
    s = site("a", [(H100, 8)])
    s["tariff"] = {"base_per_kwh": 0.6, "time_of_use": TOU}
    sc = scenario([s], hours=48)
    # must finish by 23:30: a 3-hour job cannot wait for midnight
    j = job("tight", 20 * HOUR, 8, 3 * HOUR, deferrable=True, deadline_s=23.5 * HOUR)
    r = run(sc, [j], params={"w_delay": 0.0})
    assert r.first_start[0] == pytest.approx(20 * HOUR)
    assert r.finish[0] <= 23.5 * HOUR


def test_short_jobs_are_not_deferred_by_default() -> None:
    s = site("a", [(H100, 8)])
    s["tariff"] = {"base_per_kwh": 0.6, "time_of_use": TOU}
    sc = scenario([s], hours=48)
    j = job("short", 20 * HOUR, 8, 0.5 * HOUR, deferrable=True, deadline_s=40 * HOUR)
    r = run(sc, [j])  # w_delay = 1: waiting 4 h for a 30-minute job is not worth it
    assert r.first_start[0] == pytest.approx(20 * HOUR)


@pytest.mark.parametrize(
    "policy", ["suanli", "fifo", "backfill", "greedy-cost", "las", "maxmin-het"]
)
def test_cann_only_job_never_lands_on_cuda(policy: str) -> None:
    sc = scenario([site("a", [(H100, 16), (ASCEND, 8)])], hours=24)
    jobs = [job(f"c{i}", 60.0 * i, 8, HOUR, accepted_stacks=("cann",)) for i in range(3)]
    r = run(sc, jobs, policy)
    assert all(acc_of(r, j) == ASCEND for j in range(3) if r.last_pool[j] >= 0)
    assert r.done.sum() >= 1


def test_fast_accelerator_preferred_over_slow_one() -> None:
    sc = scenario([site("a", [(ASCEND, 8), (H100, 8)])], hours=24)
    r = run(sc, [job("j", 0.0, 8, HOUR)])
    assert acc_of(r, 0) == H100  # 989 vs 354 TFLOPS; fifo would take the first pool
    fifo = run(sc, [job("j", 0.0, 8, HOUR)], "fifo")
    assert acc_of(fifo, 0) == ASCEND


@pytest.mark.parametrize(("size_tb", "where"), [(0.5, "away"), (200.0, "home")])
def test_job_stays_with_its_data_when_moving_it_costs_more_than_it_saves(
    size_tb: float, where: str
) -> None:
    sites = [site("home", [(ASCEND, 8)], lat=40.0), site("away", [(H100, 8)], lat=30.0)]
    sc = scenario(sites, datasets=[{"id": "d", "size_tb": size_tb, "home": "home"}], hours=48)
    # 2 h on an H100, ~5.6 h on the Ascend; 200 TB take 4.4 h to copy at 100 Gbit/s
    r = run(sc, [job("j", 0.0, 8, 2 * HOUR, dataset="d")])
    assert site_of(r, 0) == where


def test_cheaper_subsidised_site_when_speeds_are_equal() -> None:
    sub = {"name": "s", "eligible": "domestic_accelerators", "discount_fraction": 0.5}
    sites = [
        site("east", [(ASCEND, 8)], price=0.8),
        site("west", [(ASCEND, 8)], price=0.8, subsidies=[sub]),
    ]
    r = run(scenario(sites, hours=24), [job("j", 0.0, 8, HOUR)])
    assert site_of(r, 0) == "west"


def test_lower_carbon_site_when_speeds_and_prices_are_equal() -> None:
    sites = [site("coal", [(H100, 8)], carbon=0.9), site("hydro", [(H100, 8)], carbon=0.1)]
    r = run(scenario(sites, hours=24), [job("j", 0.0, 8, HOUR)])
    assert site_of(r, 0) == "hydro"


def test_long_blocked_job_gets_a_reservation() -> None:
    sc = scenario([site("a", [(H100, 16)])], hours=48)
    jobs = (
        [job("big", 0.0, 16, HOUR)]
        + [job(f"s{i}", 60.0 + i, 8, 3 * HOUR) for i in range(2)]
        + [job(f"t{i}", 1800.0 + 600.0 * i, 8, 3 * HOUR) for i in range(20)]
    )
    jobs[0] = job("big", 120.0, 16, HOUR)  # arrives after the small ones took the nodes
    jobs.sort(key=lambda x: x.submit_s)
    r = run(sc, jobs)
    big = next(i for i, x in enumerate(jobs) if x.id == "big")
    # without a reservation the stream of 8-device jobs would keep it out all horizon
    assert r.done[big]
    assert r.first_start[big] == pytest.approx(3 * HOUR + 61.0)  # as soon as both nodes free


def test_las_preempts_a_job_with_more_attained_service() -> None:
    sc = scenario([site("a", [(H100, 8)])], hours=48)
    jobs = [
        job("long", 0.0, 8, 10 * HOUR, checkpoint_interval_s=600.0, restart_cost_s=60.0),
        job("short", 2 * HOUR, 8, 0.5 * HOUR),  # 'long' has 16 device-hours: queue 2
    ]
    r = run(sc, jobs, "las")
    assert r.preemptions.tolist() == [1, 0]
    assert r.first_start[1] == pytest.approx(2 * HOUR)
    assert r.finish[1] == pytest.approx(2.5 * HOUR)
    # 'long' lost nothing (checkpoint every 10 min, preempted on the hour) and paid its restart
    assert r.finish[0] == pytest.approx(10.5 * HOUR + 60.0)


def test_maxmin_het_gives_the_fast_pool_to_the_job_that_gains_most() -> None:
    # an inference-like job (memory-bound) gains little on the H100; a compute-bound one a lot
    sc = scenario(
        [site("a", [(H100, 8), ("nvidia_h20", 8)])],
        hours=48,
        profiles={
            "unit": {
                "kind": "pretrain",
                "precisions": ["bf16"],
                "flops_per_byte": 1e6,
                "memory_gb": 1.0,
                "power_factor": 1.0,
            },
            "decode": {
                "kind": "pretrain",
                "precisions": ["bf16"],
                "flops_per_byte": 5.0,
                "memory_gb": 1.0,
                "power_factor": 1.0,
            },
        },
    )
    dec = dataclasses.replace(job("decode", 0.0, 8, HOUR), profile="decode")
    r = run(sc, [job("train", 0.0, 8, HOUR), dec], "maxmin-het")
    assert acc_of(r, 0) == H100 and acc_of(r, 1) == "nvidia_h20"
