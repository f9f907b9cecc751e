"""Schedules small enough to compute by hand: exact start and finish times, energy, cost."""

from __future__ import annotations

import math

import pytest

from suanli.policy.registry import make_policy
from suanli.report.metrics import compute_metrics
from suanli.sim.engine import Simulator
from tests.sim.helpers import ASCEND, H100, job, scenario, site

HOUR = 3600.0


def run(sc, jobs, policy="fifo", **kw):  # type: ignore[no-untyped-def]
    return Simulator(sc, jobs, make_policy(policy), verify=True, **kw).run()


def test_two_jobs_one_node_fifo_exact_times_energy_cost() -> None:
    sc = scenario([site("a", [(H100, 8)], price=0.5, carbon=0.6, pue=1.25)], hours=4)
    jobs = [job("j1", 0.0, 8, HOUR), job("j2", 60.0, 8, HOUR)]
    r = run(sc, jobs)
    assert r.first_start.tolist() == pytest.approx([0.0, HOUR])
    assert r.finish.tolist() == pytest.approx([HOUR, 2 * HOUR])
    # busy 8 × 700 W for 2 h, idle power 0, PUE 1.25 → 14 kWh; flat 0.5/kWh → 7.0
    m = compute_metrics(r)
    assert m["energy_mwh"] == pytest.approx(0.014)
    assert m["cost"]["gross"] == pytest.approx(7.0)
    assert m["carbon_t"] == pytest.approx(0.014 * 0.6)
    assert m["jct_h"]["mean"] == pytest.approx((1.0 + (2.0 - 60 / HOUR)) / 2)
    assert m["queueing_delay_h"]["mean"] == pytest.approx((0 + (1 - 60 / HOUR)) / 2)


def test_slower_accelerator_takes_longer() -> None:
    sc = scenario([site("a", [(ASCEND, 8)])], hours=10)
    r = run(sc, [job("j", 0.0, 8, HOUR)])
    # Ascend 910B2 BF16 353.89 TFLOPS vs H100 989.4 (efficiency 1 on both)
    assert r.finish[0] == pytest.approx(HOUR * 989.4 / 353.89)


def test_fifo_blocks_behind_head_backfill_does_not() -> None:
    sc = scenario([site("a", [(H100, 16)])], hours=10)
    jobs = [
        job("big1", 0.0, 8, 2 * HOUR),
        job("big2", 1.0, 16, HOUR),  # needs both nodes: waits for big1
        job("small", 2.0, 8, HOUR),  # fits now on the free node, ends before big1
    ]
    fifo = run(sc, jobs, "fifo")
    assert fifo.first_start.tolist() == pytest.approx([0.0, 2 * HOUR, 3 * HOUR])
    bf = run(sc, jobs, "backfill")
    assert bf.first_start[2] == pytest.approx(
        2.0
    )  # backfilled: ends at 1 h + 2 s < 2 h, the reservation
    assert bf.first_start[1] == pytest.approx(2 * HOUR)  # the head is not delayed


def test_backfill_never_delays_the_head() -> None:
    sc = scenario([site("a", [(H100, 16)])], hours=10)
    jobs = [
        job("big1", 0.0, 8, 2 * HOUR),
        job("big2", 1.0, 16, HOUR),
        job("long", 2.0, 8, 5 * HOUR),  # would end after big1: may not take the free node
    ]
    bf = run(sc, jobs, "backfill")
    assert bf.first_start[1] == pytest.approx(2 * HOUR)
    assert bf.first_start[2] == pytest.approx(3 * HOUR)


def test_gang_in_whole_nodes_and_node_shapes() -> None:
    sc = scenario([site("a", [(H100, 16)])], hours=10)
    jobs = [job("three", 0.0, 3, HOUR), job("six", 0.0, 6, HOUR), job("eight", 0.0, 8, HOUR)]
    r = run(sc, jobs)
    # 3 → 4 devices (node shape), 6 → 8 devices: both nodes taken, 'eight' waits;
    # padding devices stay idle, so 'three' still takes an hour on its 3 devices
    assert r.last_devices.tolist() == [4, 8, 8]
    assert r.finish[0] == pytest.approx(HOUR)
    assert r.first_start[2] == pytest.approx(HOUR)
    assert compute_metrics(r)["utilisation"] < compute_metrics(r)["allocated_share"]


def test_data_transfer_delays_the_start_and_costs_egress() -> None:
    sites = [site("home", [(H100, 8)], lat=40.0), site("away", [(H100, 8)], lat=30.0)]
    sc = scenario(sites, datasets=[{"id": "d", "size_tb": 1.0, "home": "home"}], hours=10)
    jobs = [
        job("local", 0.0, 8, 4 * HOUR, dataset="d"),
        job("remote", 0.0, 8, HOUR, dataset="d"),  # home is full: goes away, waits 80 s for data
        job("again", 100.0, 8, HOUR, dataset="d"),  # the replica is there: no transfer
    ]
    r = run(sc, jobs)
    assert r.first_start[1] == pytest.approx(0.0)
    assert r.finish[1] == pytest.approx(80.0 + HOUR)
    assert r.first_start[2] == pytest.approx(80.0 + HOUR)
    assert r.finish[2] == pytest.approx(80.0 + 2 * HOUR)
    assert r.transfers.tb == 1.0 and r.transfers.count == 1
    assert r.transfers.cost == pytest.approx(10.0)  # 1000 GB × 0.01


def test_residency_keeps_data_home() -> None:
    sites = [site("home", [(H100, 8)]), site("away", [(H100, 8)])]
    sc = scenario(
        sites, datasets=[{"id": "d", "size_tb": 1.0, "home": "home", "residency": "home"}]
    )
    r = run(sc, [job("a", 0.0, 8, HOUR, dataset="d"), job("b", 0.0, 8, HOUR, dataset="d")])
    assert r.first_start[1] == pytest.approx(HOUR)  # waits rather than leave home
    assert r.transfers.count == 0


def test_failure_preempts_loses_work_since_checkpoint_and_pays_restart() -> None:
    sc = scenario(
        [site("a", [(H100, 8)])],
        hours=20,
        failures=[{"site": "a", "at_hour": 2.5, "hours": 1.0, "label": "power cut"}],
    )
    j = job("j", 0.0, 8, 4 * HOUR, checkpoint_interval_s=HOUR, restart_cost_s=600.0)
    r = run(sc, [j])
    # 2 h checkpointed, 0.5 h lost; back at 3.5 h, restart 600 s, 2 h of work left
    assert r.preemptions[0] == 1
    assert r.finish[0] == pytest.approx(3.5 * HOUR + 600.0 + 2 * HOUR)
    assert r.lost_pflop[0] == pytest.approx(0.5 * HOUR * 8 * 0.9894)


def test_power_cap_holds_back_a_second_job() -> None:
    # 16 H100 at 700 W = 11.2 kW busy; capacity 6 kW fits one 8-device job (5.6 kW)
    sc = scenario([site("a", [(H100, 16)], cap_mw=0.006, max_power_oversubscription=2.0)], hours=10)
    r = run(sc, [job("a", 0.0, 8, HOUR), job("b", 0.0, 8, HOUR)])
    assert r.first_start.tolist() == pytest.approx([0.0, HOUR])
    assert compute_metrics(r)["sites"]["a"]["peak_power_mw"] <= 0.006


def test_quota_holds_back_a_tenant() -> None:
    tenants = [
        {"id": "capped", "name": "C", "quotas": [{"max_devices": 8}]},
        {"id": "free", "name": "F"},
    ]
    sc = scenario([site("a", [(H100, 24)])], tenants=tenants, hours=10)
    jobs = [
        job("c1", 0.0, 8, HOUR, tenant="capped"),
        job("c2", 1.0, 8, HOUR, tenant="capped"),
        job("f1", 2.0, 8, HOUR, tenant="free"),
    ]
    r = run(sc, jobs, "backfill")
    assert r.first_start[0] == pytest.approx(0.0)
    assert r.first_start[2] == pytest.approx(2.0)  # not stuck behind the capped tenant's second job
    assert r.first_start[1] == pytest.approx(HOUR)


def test_unschedulable_job_is_reported_not_lost() -> None:
    sc = scenario([site("a", [(H100, 8)])], hours=5)
    r = run(sc, [job("huge", 0.0, 64, HOUR), job("ok", 0.0, 8, HOUR)])
    m = compute_metrics(r)
    assert m["jobs"] == {
        "submitted": 2,
        "finished": 1,
        "unfinished": 1,
        "never_startable": 1,
        "gangs_raised": 0,
    }
    assert "no pool can ever run it" in r.reasons[0]


def test_unfinished_at_horizon_and_drain() -> None:
    sc = scenario([site("a", [(H100, 8)])], hours=2)
    jobs = [job("long", 0.0, 8, 3 * HOUR)]
    cut = run(sc, jobs)
    assert not cut.done[0] and math.isnan(cut.finish[0])
    drained = run(sc, jobs, drain=True)
    assert drained.finish[0] == pytest.approx(3 * HOUR)


def test_greedy_cost_prefers_cheaper_subsidised_site() -> None:
    sub = {"name": "s", "eligible": "domestic_accelerators", "discount_fraction": 0.5}
    sites = [
        site("east", [(H100, 8), (ASCEND, 8)], price=0.8),
        site("west", [(H100, 8), (ASCEND, 8)], price=0.8, subsidies=[sub]),
    ]
    sc = scenario(sites, hours=10)
    j = job("j", 0.0, 8, HOUR, accepted_types=(ASCEND,))
    r = run(sc, [j], "greedy-cost")
    assert r.tables.site_ids[r.tables.pool_site[int(r.last_pool[0])]] == "west"
    fifo = run(sc, [j], "fifo")
    assert fifo.tables.site_ids[fifo.tables.pool_site[int(fifo.last_pool[0])]] == "east"


def test_power_saving_sleeps_idle_nodes_and_boots_them_for_work() -> None:
    ps = {"idle_minutes": 15, "resume_minutes": 5, "sleep_fraction": 0.1}
    sc = scenario(
        [site("a", [(H100, 8)], power_saving=ps)],
        hours=4,
        catalog={"overrides": {H100: {"idle_w": 100.0}}},
    )
    r = run(sc, [job("first", 0.0, 8, HOUR), job("second", 2 * HOUR, 8, HOUR)])
    assert r.finish[0] == pytest.approx(HOUR)  # the node was awake at t = 0
    assert r.first_start[1] == pytest.approx(2 * HOUR)
    assert r.finish[1] == pytest.approx(2 * HOUR + 300 + HOUR)  # five minutes to boot
    busy = 2 * 8 * 0.700  # kWh
    idle = (0.25 + 5 / 60 + 0.25) * 8 * 0.100
    asleep = (0.75 + 40 / 60) * 8 * 0.010
    assert compute_metrics(r)["energy_mwh"] * 1e3 == pytest.approx(busy + idle + asleep)
    assert float(r.up_s.sum()) == pytest.approx(4 * HOUR * 8)
