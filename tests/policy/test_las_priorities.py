"""Priorities in ``las`` (docs/scheduler.md, "Priorities"; :mod:`suanli.policy.las`): the
queue goes by effective priority, then Tiresias' queue, then arrival; a waiting job may
preempt a running job of a lower effective priority whatever its queue, or of the same one
in a strictly lower queue, and never one of a higher effective priority.

One site of 8 H100 (one node); jobs are worked out by hand. Preemption needs the victim to
have computed ``min_run_s`` (600 s by default) and, with checkpoints, to be just past one;
jobs that checkpoint never (``checkpoint_interval_s`` 0) keep their work and are eligible
whenever their minimum run is done."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from suanli.config import load_scenario
from suanli.experiment.run import scenario_workload
from suanli.model.job import Job
from suanli.policy.registry import make_policy
from suanli.sim.engine import Simulator
from suanli.sim.result import SimResult
from tests.control.helpers import FIXTURES
from tests.core.two_clocks import both, counts, first_difference
from tests.sim.helpers import ASCEND, H100, job, scenario, site

HOUR = 3600.0
TIERS = [{"id": "bronze", "name": "Bronze"}, {"id": "gold", "name": "Gold", "priority": 10}]
#: Queue 0 up to 100 device-hours: nothing leaves it in these tests, so that a same-priority
#: job is never of a lower queue than a waiting one.
ONE_QUEUE = {"queue_limits_h": (100.0,)}
NO_CHECKPOINT = {"checkpoint_interval_s": 0.0, "restart_cost_s": 60.0}


def run(jobs: list[Job], **params: Any) -> SimResult:
    """``las`` on one site of 8 H100 (tenants ``bronze`` and ``gold``, the latter of
    priority 10), drained."""
    sc = scenario([site("a", [(H100, 8)])], hours=48, tenants=TIERS)
    return Simulator(sc, jobs, make_policy("las", params), verify=True, drain=True).run()


def start(r: SimResult, jid: str) -> float:
    return float(r.first_start[r.jobs.ids.index(jid)])


def finish(r: SimResult, jid: str) -> float:
    return float(r.finish[r.jobs.ids.index(jid)])


def preempted_by(r: SimResult) -> list[tuple[str, str]]:
    """(victim, how the stretch ended) for every preemption."""
    return [(r.jobs.ids[sp.job], sp.end) for sp in r.stretches if sp.end.startswith("preempted by")]


def test_a_later_high_priority_job_jumps_the_queue() -> None:
    # all three wait in queue 0 behind 'occupier' (not preemptible): arrival order would
    # start 'low1' first; 'high' (priority 5) goes first
    jobs = [
        job("occupier", 0.0, 8, 2000.0, tenant="bronze", preemptible=False),
        job("low1", 10.0, 8, 1800.0, tenant="bronze"),
        job("low2", 20.0, 8, 1800.0, tenant="bronze"),
        job("high", 30.0, 8, 1800.0, tenant="bronze", priority=5),
    ]
    r = run(jobs)
    assert start(r, "high") < start(r, "low1") < start(r, "low2")
    assert start(r, "high") == pytest.approx(finish(r, "occupier"))
    assert r.preemptions.sum() == 0


def test_priority_comes_before_the_queue() -> None:
    # 'old' ran 2 h on 8 devices before 'blocker' preempted it (queue 2: 16 device-hours);
    # it is requeued in a higher queue than 'fresh' (queue 0), but of a higher priority:
    # it resumes before 'fresh' when the devices free. Neither 'old' nor 'fresh' can
    # preempt 'blocker' (priority 9, not preemptible).
    jobs = [
        job("old", 0.0, 8, 4 * HOUR, tenant="bronze", priority=5, **NO_CHECKPOINT),
        job("blocker", 2 * HOUR, 8, HOUR, tenant="bronze", priority=9, preemptible=False),
        job("fresh", 2 * HOUR + 10.0, 8, HOUR, tenant="bronze"),
    ]
    r = run(jobs)
    assert r.preemptions.tolist() == [1, 0, 0]
    i_old = r.jobs.ids.index("old")
    (resumed,) = (sp.start_s for sp in r.stretches if sp.job == i_old and sp.start_s > 0)
    assert resumed == pytest.approx(finish(r, "blocker"))
    assert start(r, "fresh") >= finish(r, "old") - 1e-6


@pytest.mark.parametrize("high", [{"priority": 5}, {"tenant": "gold", "priority": -5}])
def test_a_higher_priority_preempts_what_an_equal_one_could_not(high: dict[str, Any]) -> None:
    # 'low' runs in queue 0 (one queue): 'peer', of its priority, waits for it to finish;
    # 'high' (a higher job priority, or a higher tenant tier whatever its job priority)
    # preempts it once its minimum run is done
    low = job("low", 0.0, 8, 2 * HOUR, tenant="bronze", **NO_CHECKPOINT)
    r = run([low, job("peer", 10.0, 8, HOUR, tenant="bronze")], **ONE_QUEUE)
    assert r.preemptions.sum() == 0
    assert start(r, "peer") == pytest.approx(finish(r, "low"))

    fields = {"tenant": "bronze", **high}
    r = run([low, job("high", 10.0, 8, HOUR, **fields)], **ONE_QUEUE)
    assert r.preemptions.tolist() == [1, 0]
    assert 600.0 <= start(r, "high") <= 600.0 + 60.0 + 60.0  # min run, restart, a tick
    assert finish(r, "high") < finish(r, "low")
    assert r.start_why[r.jobs.ids.index("high")].endswith(
        "preempting 1 job of lower priority or with more"
    )


def test_a_lower_priority_never_preempts_a_higher_one() -> None:
    # 'big' (8 devices) is in queue 1 after 450 s; 'small' arrives at 1,000 s in queue 0.
    # Of one priority, Tiresias' rule lets 'small' preempt 'big' (q_r > q_i); when 'big'
    # has the higher priority, never, and 'small' waits for it to finish.
    for prio, stopped in [(0, 1), (5, 0)]:
        jobs = [
            job("big", 0.0, 8, 3 * HOUR, tenant="bronze", priority=prio, **NO_CHECKPOINT),
            job("small", 1000.0, 8, 0.5 * HOUR, tenant="bronze"),
        ]
        r = run(jobs)
        assert r.preemptions.tolist() == [stopped, 0]
        if not stopped:
            assert start(r, "small") == pytest.approx(finish(r, "big"))


def test_victims_lowest_priority_first() -> None:
    # 'low' (priority 0) and 'mid' (priority 1) hold 4 devices each, both in queue 1 by the
    # time 'top' (priority 2, 4 devices) arrives. Among equals the later arrival ('mid')
    # would be stopped first; by priority 'low' is.
    def jobs(mid_priority: int) -> list[Job]:
        return [
            job("low", 0.0, 4, 4 * HOUR, tenant="bronze", **NO_CHECKPOINT),
            job("mid", 1.0, 4, 4 * HOUR, tenant="bronze", priority=mid_priority, **NO_CHECKPOINT),
            job("top", 1800.0, 4, HOUR, tenant="bronze", priority=2),
        ]

    r = run(jobs(1))
    assert r.preemptions.tolist() == [1, 0, 0]
    assert start(r, "top") == pytest.approx(1800.0)
    # the same with 'mid' at 'low''s priority: the later of the two goes first
    r = run(jobs(0))
    assert r.preemptions.tolist() == [0, 1, 0]


def test_priorities_are_the_same_on_both_clocks(tmp_path: Path) -> None:
    """The two-clocks fleet's generated jobs with random job priorities (and the tenants'
    as the fixture sets them) decide the same in the simulator and the live control plane,
    round by round."""
    sc, jobs = scenario_workload(load_scenario(str(FIXTURES / "two-clocks.yaml")), 7)
    rng = np.random.default_rng(3)
    jobs = [dataclasses.replace(j, priority=int(rng.choice([0, 0, 1, 5]))) for j in jobs]
    sim, live = both(sc, jobs, "las", tmp_path)
    assert first_difference(sim, live) == ""
    n = counts(sim)
    assert n["starts"] > 50 and n["preempts"] > 0, n


def test_queue_order_is_priority_then_queue_then_arrival() -> None:
    """Every pass of a deep queue with random job priorities, tenant tiers, preemptions and
    starvation promotions serves its jobs in the order of sorting the whole queue by
    ``(g_j, submit_j, j)``: grade (level, then queue), then arrival."""
    from suanli.core.policy import PolicyInput
    from suanli.policy.las import Las
    from tests.policy.test_deep_queue import deep_queue

    class Sorted(Las):
        passes = 0

        def in_priority_order(self, inp: PolicyInput, n: int) -> tuple[list[int], list[int]]:
            order, grades = super().in_priority_order(inp, n)
            want = sorted(self.priority(inp, j) for j in inp.waiting)[:n]
            assert [(g, j) for g, _, j in want] == list(zip(grades, order, strict=True))
            Sorted.passes += 1
            return order, grades

    rng = np.random.default_rng(2)
    jobs = [
        dataclasses.replace(j, priority=int(rng.choice([0, 0, 3])), tenant=str(t))
        for j, t in zip(deep_queue(200, seed=4), rng.choice(["t", "u"], 200), strict=True)
    ]
    sc = scenario(  # test_deep_queue's fleet, tenant 'u' of priority 2
        [site("a", [(H100, 16)]), site("b", [(ASCEND, 16)], lat=31.0, lon=121.0)],
        hours=24 * 6,
        tenants=[{"id": "t", "name": "T"}, {"id": "u", "name": "U", "priority": 2}],
    )
    policy = Sorted(Las.Params(starve_factor=2.0, max_jobs_per_round=50), None)  # type: ignore[arg-type]
    r = Simulator(sc, jobs, policy, drain=True).run()
    assert r.done.all() and r.preemptions.sum() > 0 and policy.promotions > 0
    assert Sorted.passes > 100


def test_a_service_replica_is_not_ranked_as_a_victim() -> None:
    """With several effective priorities, a pool holding a service's replica (started by the
    serving policy, never announced to ``las`` as an arrival) is ranked for preemption
    without the replica: it used to raise ``KeyError`` on the replica's missing level."""
    from suanli.core.tables import build_tables
    from suanli.experiment.run import Run, default_seed, run_policy
    from suanli.policy.registry import DEFAULT_SERVING_POLICY

    sc = load_scenario(str(FIXTURES / "plan-services-scenario.yaml"))
    lab = dataclasses.replace(sc.tenants[0], priority=1)
    sc = dataclasses.replace(sc, tenants=(lab, *sc.tenants[1:]))
    seed = default_seed(sc)
    sc, jobs = scenario_workload(sc, seed)
    run = Run(sc, build_tables(sc), jobs, seed, False, "best-fit", DEFAULT_SERVING_POLICY)
    r = run_policy(run, "las")
    assert int(r.preemptions.sum()) > 0  # the preemption search ran
    assert len(r.services) > 0  # and replicas ran beside the batch jobs
