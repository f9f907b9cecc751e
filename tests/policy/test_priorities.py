"""Priorities in every policy that takes them (docs/scheduler.md, "Priorities";
:mod:`suanli.policy.priority`): higher effective priority first — the tenant's priority a
tier above the job's — arrival order among equals, ``backfill``'s reservation for the
highest-priority blocked job, and preemption only in favour of a higher priority (or an
equal one by the policy's own rule).

One site of 8 H100 (one node); jobs are worked out by hand."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from suanli.model.job import Job
from suanli.policy.priority import Priorities, may_displace
from suanli.policy.registry import make_policy
from suanli.sim.engine import Simulator
from suanli.sim.result import SimResult
from tests.sim.helpers import H100, job, scenario, site

HOUR = 3600.0
A100 = "nvidia_a100_sxm4_80g"
POLICIES = ["fifo", "backfill", "greedy-cost", "maxmin-het", "fifo-het"]
TIERS = [{"id": "bronze", "name": "Bronze"}, {"id": "gold", "name": "Gold", "priority": 10}]


def run(policy: str, jobs: list[Job], **params: Any) -> SimResult:
    """Simulate ``jobs`` on one site of 8 H100 (tenants ``bronze`` and ``gold``, the
    latter of priority 10) under ``policy``."""
    sc = scenario([site("a", [(H100, 8)])], hours=24, tenants=TIERS)
    return Simulator(sc, jobs, make_policy(policy, params), verify=True).run()


def occupier(**fields: Any) -> Job:
    """Holds all 8 devices from 0 to 2,000 s (not a multiple of any tick), so that every
    later job queues behind it."""
    return job("occupier", 0.0, 8, 2000.0, tenant="bronze", **fields)


def order(r: SimResult) -> list[str]:
    """Job ids by first start."""
    starts = r.first_start
    assert np.isfinite(starts).all()
    return [r.jobs.ids[j] for j in np.argsort(starts, kind="stable")]


@pytest.mark.parametrize("policy", POLICIES)
def test_a_later_high_priority_job_starts_first(policy: str) -> None:
    jobs = [
        occupier(),
        job("low1", 10.0, 8, 1800.0, tenant="bronze"),
        job("low2", 20.0, 8, 1800.0, tenant="bronze"),
        job("high", 30.0, 8, 1800.0, tenant="bronze", priority=5),
    ]
    assert order(run(policy, jobs)) == ["occupier", "high", "low1", "low2"]


@pytest.mark.parametrize("policy", POLICIES)
def test_equal_priorities_keep_arrival_order(policy: str) -> None:
    jobs = [
        occupier(),
        job("low", 10.0, 8, 1800.0, tenant="bronze"),
        job("high1", 20.0, 8, 1800.0, tenant="bronze", priority=5),
        job("high2", 30.0, 8, 1800.0, tenant="bronze", priority=5),
    ]
    assert order(run(policy, jobs)) == ["occupier", "high1", "high2", "low"]


@pytest.mark.parametrize("policy", POLICIES)
def test_the_tenant_priority_is_a_tier_above_the_job_priority(policy: str) -> None:
    # bronze's job priority 1000 does not lift it above gold's (tenant priority 10) job of
    # priority 0: (10, 0) ≻ (0, 1000); among bronze's, the job priority orders
    jobs = [
        occupier(),
        job("bronze0", 10.0, 8, 1800.0, tenant="bronze"),
        job("bronze1000", 20.0, 8, 1800.0, tenant="bronze", priority=1000),
        job("gold", 30.0, 8, 1800.0, tenant="gold"),
    ]
    assert order(run(policy, jobs)) == ["occupier", "gold", "bronze1000", "bronze0"]


def test_backfill_reserves_for_the_highest_priority_blocked_job() -> None:
    # 'r4' holds 4 devices until 1 h, 'r2' 2 until 2 h: 2 are free. 'wide' (8, priority 0)
    # came first, 'high' (4, priority 5) second: the head is 'high', reserved from 1 h when
    # 'r4' ends, with 6 − 4 = 2 devices spare there, so 'small' (2 devices, 5 h) backfills
    # at once. Reserving for 'wide' (from 2 h, nothing spare) it would have waited.
    jobs = [
        job("r4", 0.0, 4, HOUR, tenant="bronze"),
        job("r2", 0.5, 2, 2 * HOUR, tenant="bronze"),
        job("wide", 1.0, 8, HOUR, tenant="bronze"),
        job("high", 2.0, 4, HOUR, tenant="bronze", priority=5),
        job("small", 3.0, 2, 5 * HOUR, tenant="bronze"),
    ]
    r = run("backfill", jobs)
    start = dict(zip(r.jobs.ids, r.first_start.tolist(), strict=True))
    assert start["small"] == pytest.approx(3.0)
    assert start["high"] == pytest.approx(HOUR)
    assert start["wide"] > start["high"]
    assert "backfilled ahead of job high" in r.start_why[r.jobs.ids.index("small")]


def test_maxmin_het_preempts_only_for_a_higher_priority() -> None:
    # Both checkpoint every 10 minutes, so Gavel's rounds would time-share them.
    ck = {"checkpoint_interval_s": 600.0, "restart_cost_s": 60.0}
    # 'high' runs first and is never stopped for the lower 'low', though they share a pool
    jobs = [
        job("high", 0.0, 8, 2 * HOUR, tenant="bronze", priority=5, **ck),
        job("low", 10.0, 8, HOUR, tenant="bronze", **ck),
    ]
    r = run("maxmin-het", jobs)
    assert r.preemptions.tolist() == [0, 0]
    assert r.first_start[1] >= r.finish[0]
    # the other way round 'high' takes the devices at the first round 'low' may stop
    jobs = [
        job("low", 0.0, 8, 2 * HOUR, tenant="bronze", **ck),
        job("high", 10.0, 8, HOUR, tenant="bronze", priority=5, **ck),
    ]
    r = run("maxmin-het", jobs)
    assert r.preemptions.tolist() == [1, 0]
    assert r.finish[1] < r.finish[0]
    assert r.preemptions[1] == 0


def test_fifo_het_moves_a_running_job_only_after_higher_priority_starts() -> None:
    # 'fast' holds the H100s for an hour, so 'low' starts on the A100s and 'high' waits.
    # When the H100s free, 'high' takes them (for the rest of the 12 hours); 'low' stays
    # where it is. Without priorities 'low' would move up first (running jobs before
    # waiting ones) and 'high' get the A100s it leaves.
    sc = scenario([site("a", [(H100, 8), (A100, 8)])], hours=12, tenants=TIERS)
    jobs = [
        job("fast", 0.0, 8, HOUR, tenant="bronze"),
        job("low", 1.0, 8, 20 * HOUR, tenant="bronze"),
        job("high", 2.0, 8, 20 * HOUR, tenant="bronze", priority=5),
    ]
    r = Simulator(sc, jobs, make_policy("fifo-het"), verify=True).run()
    h100 = r.tables.pool_acc.index(r.tables.acc_ids.index(H100))
    assert r.migrations.tolist() == [0, 0, 0]
    assert r.last_pool[2] == h100
    assert r.first_start[2] == pytest.approx(HOUR)


def test_the_rule() -> None:
    assert may_displace((0, 1), (0, 0))
    assert may_displace((1, -5), (0, 1000))  # the tenant's tier first
    assert not may_displace((0, 0), (0, 0))
    assert may_displace((0, 0), (0, 0), equal=True)
    assert not may_displace((0, 0), (0, 1), equal=True)
    assert isinstance(Priorities().levels, list)
