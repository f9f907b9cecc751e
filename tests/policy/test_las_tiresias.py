"""``las`` as Tiresias meant it, on small scenarios whose answer is worked out by hand:
the minimum run time, checkpoint-aligned preemption, the starvation limit and the bound on
preemptions per job (docs/scheduler.md, ``las``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from suanli.core.state import Stretch
from suanli.model.job import Job
from suanli.policy.las import Las
from suanli.policy.registry import make_policy
from suanli.sim.engine import Simulator
from suanli.sim.result import SimResult
from tests.sim.helpers import H100, job, scenario, site

HOUR = 3600.0


def run(jobs: list[Job], hours: int = 72, **params: Any) -> tuple[SimResult, Las]:
    """Simulate ``jobs`` on one site of 8 H100 under ``las`` with ``params``."""
    policy = make_policy("las", params)
    assert isinstance(policy, Las)
    sc = scenario([site("a", [(H100, 8)])], hours=hours)
    return Simulator(sc, jobs, policy, verify=True).run(), policy


def stretches(r: SimResult, j: int) -> list[Stretch]:
    return [sp for sp in r.stretches if sp.job == j]


def preempted(r: SimResult) -> list[Stretch]:
    """Stretches that ended because ``las`` preempted the job."""
    return [sp for sp in r.stretches if sp.end.startswith("preempted by")]


def test_minimum_run_time_holds() -> None:
    jobs = [
        job("long", 0.0, 8, 10 * HOUR, checkpoint_interval_s=600.0, restart_cost_s=60.0),
        job("short", 600.0, 8, 0.5 * HOUR),  # arrives 10 min in: 'long' is in queue 1
    ]
    r, _ = run(jobs, min_run_s=1800.0)
    assert r.preemptions.tolist() == [1, 0]
    (sp,) = preempted(r)
    # 'long' computed its 30 minutes first (and checkpointed then: nothing lost)
    assert sp.end_s == pytest.approx(1800.0)
    assert r.first_start[1] == pytest.approx(1800.0)
    assert r.lost_pflop[0] == pytest.approx(0.0)
    # without a minimum run time the newcomer preempts at once
    r0, _ = run(jobs, min_run_s=0.0)
    assert r0.first_start[1] == pytest.approx(600.0)


def test_preemption_waits_for_the_victims_checkpoint() -> None:
    jobs = [
        job("long", 0.0, 8, 10 * HOUR, checkpoint_interval_s=HOUR, restart_cost_s=300.0),
        job("short", 2.5 * HOUR, 8, 0.5 * HOUR),  # half an hour past a checkpoint of 'long'
    ]
    r, _ = run(jobs)
    assert r.first_start[1] == pytest.approx(3 * HOUR)  # at the next checkpoint
    assert r.lost_pflop[0] == pytest.approx(0.0)
    assert r.finish[0] == pytest.approx(10.5 * HOUR + 300.0)  # the short job, its restart
    # preempting at once loses half an hour of 'long' (and it runs half an hour longer)
    now, _ = run(jobs, max_loss_s=float("inf"))
    assert now.first_start[1] == pytest.approx(2.5 * HOUR)
    assert now.lost_pflop[0] > 0
    assert now.finish[0] == pytest.approx(11 * HOUR + 300.0)


def starving_jobs() -> list[Job]:
    """'big' runs 2 h (16 device-hours: queue 1 with an 8-device-hour threshold); at 2 h
    thirty 0.9-hour jobs arrive (queue 0), the first preempts it and they hold the fleet
    back to back until 29 h."""
    big = job("big", 0.0, 8, 10 * HOUR, checkpoint_interval_s=600.0)
    return [big] + [job(f"s{k}", 2 * HOUR, 8, 0.9 * HOUR) for k in range(30)]


def test_starvation_limit_promotes_to_the_first_queue() -> None:
    # σ = 2: 'big' ran E = 2 h since it first started at 0; promoted when t − 0 − E ≥ 2E,
    # at 6 h; it then comes before the later-submitted jobs of queue 0 and starts when the
    # running one ends, at 2 + 5 × 0.9 = 6.5 h
    r, policy = run(starving_jobs(), queue_limits_h=(8.0,), starve_factor=2.0)
    assert policy.promotions >= 1
    first, second = stretches(r, 0)[:2]
    assert first.end_s == pytest.approx(2 * HOUR)
    assert second.start_s == pytest.approx(6.5 * HOUR)
    # without the starvation limit it waits for all thirty
    r0, policy0 = run(starving_jobs(), queue_limits_h=(8.0,), starve_factor=0.0)
    assert policy0.promotions == 0
    assert stretches(r0, 0)[1].start_s == pytest.approx(29 * HOUR)


def bound_jobs() -> list[Job]:
    """A 20-hour job that checkpoints every minute, and a 15-minute job every 2 hours:
    each newcomer could preempt it (it has run 1.75 h since its restart)."""
    long = job("long", 0.0, 8, 20 * HOUR, checkpoint_interval_s=60.0)
    return [long] + [job(f"s{k}", 2 * HOUR * k, 8, 0.25 * HOUR) for k in range(1, 16)]


def test_preemptions_per_job_stay_under_the_bound() -> None:
    r, _ = run(bound_jobs(), max_preemptions=3)
    assert r.preemptions[0] == 3
    assert r.preemptions.max() <= 3
    assert r.done.all()
    unbounded, _ = run(bound_jobs(), max_preemptions=100)
    assert unbounded.preemptions[0] > 3  # the bound is what stopped it


def test_random_mixes_keep_every_bound() -> None:
    """On random mixes of gangs, lengths and checkpoint intervals every preemption comes
    after the minimum run time, at most ℓ past a checkpoint, at most N per job."""
    rng = np.random.default_rng(7)
    params = {"min_run_s": 1200.0, "max_loss_s": 60.0, "max_preemptions": 2}
    for _ in range(3):
        jobs = [
            job(
                f"j{k}",
                float(rng.uniform(0, 24 * HOUR)),
                int(rng.choice([1, 2, 4, 8])),
                float(rng.lognormal(np.log(HOUR), 1.0)),
                checkpoint_interval_s=float(rng.choice([60.0, 600.0, HOUR])),
            )
            for k in range(60)
        ]
        r, _ = run(jobs, hours=96, **params)
        stops = preempted(r)
        assert stops, "the mix exercises preemption"
        assert r.preemptions.max() <= params["max_preemptions"]
        for sp in stops:
            computed = sp.end_s - sp.compute_start_s
            assert computed >= params["min_run_s"] - 1e-6
            interval = jobs[sp.job].checkpoint_interval_s
            assert computed % interval <= params["max_loss_s"] + 1e-6


def test_queue_limits_must_increase() -> None:
    with pytest.raises(Exception, match="increasing"):
        make_policy("las", {"queue_limits_h": (10.0, 1.0)})
