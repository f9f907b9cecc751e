"""``maxmin-het`` as in Gavel (OSDI'20): the LP normalised by the equal share and scaled by
the device count, on examples solved by hand, and round-based time-sharing by Gavel's
priority rule (docs/scheduler.md, ``maxmin-het``)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from suanli.core.state import SchedulingState
from suanli.model.job import Job
from suanli.model.scenario import Scenario
from suanli.policy.maxmin_het import MaxMinHet, gavel_allocation
from suanli.policy.registry import make_policy
from suanli.sim.engine import Simulator
from suanli.sim.result import SimResult
from tests.sim.helpers import ASCEND, H100, job, scenario, site

HOUR = 3600.0
ROUND = 360.0
BIG = 1e12  # PFLOP: jobs that do not finish within the horizon


def fleet(hours: int = 24) -> Scenario:
    """One site: 8 H100 (pool 0) and 16 Ascend 910B2 (pool 1)."""
    return scenario([site("a", [(H100, 8), (ASCEND, 16)])], hours=hours)


def measured(jid: str, h100: float, ascend: float, **fields: Any) -> Job:
    """An 8-device job at ``h100`` / ``ascend`` PFLOP/s per device, never finishing."""
    j = job(jid, 0.0, 8, 1.0, **fields)
    return dataclasses.replace(j, work_pflop=BIG, measured_pflops={H100: h100, ASCEND: ascend})


def simulate(
    sc: Scenario, jobs: list[Job], **params: Any
) -> tuple[SimResult, MaxMinHet, list[dict[int, int]]]:
    """Run ``maxmin-het``; return the result, the policy and, at every round's start (after
    its passes), the pool of each running job."""
    policy = make_policy("maxmin-het", params)
    assert isinstance(policy, MaxMinHet)
    seen: list[dict[int, int]] = []

    def observe(st: SchedulingState, t: float) -> None:
        if t % policy.tick_s == 0.0:
            seen.append({j: rs.cand.pool for j, rs in st.running.items()})

    r = Simulator(sc, jobs, policy, verify=True, observe=observe).run()
    return r, policy, seen


def x_by_pool(sim_jobs: Any, policy: MaxMinHet, j: int) -> dict[int, float]:
    return {
        c.pool: float(v) for c, v in zip(sim_jobs.candidates(j), policy.allocation[j], strict=True)
    }


# -- the LP -----------------------------------------------------------------------------------


def test_equal_share_normalisation_on_a_hand_solved_example() -> None:
    """Two 8-device jobs, 8 fast devices (H) and 16 slow ones (S). Per device, job A runs at
    4 on H and 1 on S, job B at 2 and 1. Equal share: half of each pool's device time, i.e.
    ½·8/8 = ½ of the time on H and ½·16/8 = 1 on S, capped at all of its time: X^eq = (⅓, ⅔),
    so E_A = 8·(4·⅓ + 1·⅔) = 16 and E_B = 8·(2·⅓ + 1·⅔) = 32/3. With h the share of H given to
    A (both jobs use all their time, H is full): A's term is 8·8(4h + 1 − h)/16 = 4(1 + 3h),
    B's is 8·8(2(1 − h) + h)/(32/3) = 6(2 − h); equal at h = 4/9, value 28/3. Each job needs
    more than that on H to do better, so the optimum is unique:
    X_A = (4/9, 5/9), X_B = (5/9, 4/9)."""
    rates = [np.array([32.0, 8.0]), np.array([16.0, 8.0])]
    devices = [np.array([8.0, 8.0])] * 2
    pools = [np.array([0, 1])] * 2
    a = gavel_allocation(
        rates, devices, pools, np.array([8.0, 8.0]), np.ones(2), np.ones(2), np.array([8.0, 16.0])
    )
    assert a.equal == pytest.approx([16.0, 32.0 / 3.0])
    assert a.y[0] == pytest.approx([4 / 9, 5 / 9], abs=1e-6)
    assert a.y[1] == pytest.approx([5 / 9, 4 / 9], abs=1e-6)
    assert a.z == pytest.approx(28 / 3)
    # suanli's earlier normalisation by the best rate would give A 3/5 of H instead:
    # A: h + (1 − h)/4, B: (1 − h) + h/2, equal at h = 3/5 — the test tells them apart.
    assert abs(a.y[0][0] - 3 / 5) > 0.1


def test_the_policy_solves_the_same_lp_on_the_fleet() -> None:
    """The same example through the simulator: the rates come from the jobs' measured
    throughput, the capacity from the fleet."""
    jobs = [measured("A", 4.0, 1.0), measured("B", 2.0, 1.0)]
    sc = fleet(hours=1)
    policy = make_policy("maxmin-het")
    assert isinstance(policy, MaxMinHet)
    sim = Simulator(sc, jobs, policy)
    sim.run()
    assert x_by_pool(sim.jobs, policy, 0) == pytest.approx({0: 4 / 9, 1: 5 / 9}, abs=1e-6)
    assert x_by_pool(sim.jobs, policy, 1) == pytest.approx({0: 5 / 9, 1: 4 / 9}, abs=1e-6)


def test_scale_factor_for_multi_device_jobs() -> None:
    """One pool of 8 devices; two 4-device jobs (one class, rate 4) and one 8-device job
    (rate 8). Equal share ⅓ of the device time each: X^eq = ⅔ for a 4-device job, ⅓ for the
    8-device one, so each one's rate relative to its equal share is x/(⅔) and x/(⅓). Gavel
    multiplies by the scale factor: 4·x_A·3/2 = 6 x_A against 8·x_B·3 = 24 x_B, with
    4·2x_A + 8x_B ≤ 8: x_A = 0.8, x_B = 0.2, z = 4.8 (unique: both bounds are tight).
    Without the scale factor every job gets its equal share (x_A = ⅔, x_B = ⅓)."""
    rates = [np.array([4.0]), np.array([8.0])]
    devices = [np.array([4.0]), np.array([8.0])]
    pools = [np.array([0]), np.array([0])]
    count = np.array([2.0, 1.0])
    a = gavel_allocation(
        rates, devices, pools, np.array([4.0, 8.0]), np.ones(2), count, np.array([8.0])
    )
    assert a.y[0] == pytest.approx([1.6])  # the class: 0.8 for each of its two jobs
    assert a.y[1] == pytest.approx([0.2])
    assert a.z == pytest.approx(4.8)
    plain = gavel_allocation(rates, devices, pools, np.ones(2), np.ones(2), count, np.array([8.0]))
    assert plain.y[0] == pytest.approx([4 / 3]) and plain.y[1] == pytest.approx([1 / 3])
    # through the policy: the scale factor is the job's gang
    sc = scenario([site("a", [(H100, 8)])], hours=1)
    jobs = [job("a1", 0.0, 4, 1e6), job("a2", 0.0, 4, 1e6), job("b", 0.0, 8, 1e6)]
    policy = make_policy("maxmin-het")
    assert isinstance(policy, MaxMinHet)
    Simulator(sc, jobs, policy).run()
    got = [float(policy.allocation[j][0]) for j in range(3)]
    assert got == pytest.approx([0.8, 0.8, 0.2], abs=1e-6)


def test_fill_takes_the_optimum_with_the_most_throughput() -> None:
    """A runs only on the slow pool (8 devices, rate 8), B on both (32 fast, 8 slow), 8
    devices each. E_A = 8·½ = 4, E_B = ½·32 + ½·8 = 20; B's term is at most 8·32/20 = 12.8
    (all its time on the fast pool), A's is 16·x_A: the minimum is B's, z* = 12.8, and any
    x_A in [0.8, 1] is optimal. ``fill`` picks x_A = 1 (the slow pool would idle otherwise)."""
    rates = [np.array([8.0]), np.array([32.0, 8.0])]
    devices = [np.array([8.0]), np.array([8.0, 8.0])]
    pools = [np.array([1]), np.array([0, 1])]
    args = (rates, devices, pools, np.array([8.0, 8.0]), np.ones(2), np.ones(2))
    a = gavel_allocation(*args, np.array([8.0, 8.0]))
    assert a.z == pytest.approx(12.8)
    assert a.y[1] == pytest.approx([1.0, 0.0], abs=1e-6)
    assert a.y[0] == pytest.approx([1.0], abs=1e-6)
    bare = gavel_allocation(*args, np.array([8.0, 8.0]), fill=False)
    assert bare.z == pytest.approx(12.8) and 0.8 - 1e-6 <= bare.y[0][0] <= 1.0 + 1e-6


# -- rounds -----------------------------------------------------------------------------------


def test_time_sharing_gives_each_job_its_share_of_rounds() -> None:
    """The hand-solved example over 12 hours (121 rounds): A should be on the H100 pool in
    4/9 of the rounds and B in 5/9 (each on the Ascend pool otherwise). Gavel's priority
    X_mp / (n_mp / R) is highest for the job furthest below its share, so with one H100 slot
    shared by two jobs whose X on it sum to 1 the count after t rounds stays within one round
    of X·t (a deficit scheme): checked at every round, which also bounds the share over the
    horizon within 1/121. suanli's earlier form keeps A on the H100 throughout (share 1)."""
    jobs = [
        measured("A", 4.0, 1.0, checkpoint_interval_s=60.0, restart_cost_s=0.0),
        measured("B", 2.0, 1.0, checkpoint_interval_s=60.0, restart_cost_s=0.0),
    ]
    r, _, seen = simulate(fleet(hours=12), jobs)
    assert len(seen) >= 120
    assert all(len(s) == 2 for s in seen)  # both always run: no device idles
    on_h100 = [0, 0]
    for t, s in enumerate(seen, start=1):
        for j, share in ((0, 4 / 9), (1, 5 / 9)):
            on_h100[j] += s[j] == 0
            assert abs(on_h100[j] - share * t) <= 1.0, (j, t, on_h100)
    assert r.preemptions.sum() > 50  # they move between the pools, paying for it
    greedy, _, seen_greedy = simulate(fleet(hours=12), jobs, mode="greedy")
    assert greedy.preemptions.sum() == 0
    assert sum(s.get(0) == 0 for s in seen_greedy) / len(seen_greedy) > 0.9


def test_equal_jobs_take_turns_round_by_round() -> None:
    """Three 8-device jobs on one 8-device pool: X = ⅓ each; the priority rule is then round
    robin (in arrival order on ties), so over 60 rounds each runs in 20 (± 1)."""
    sc = scenario([site("a", [(H100, 8)])], hours=6)
    jobs = [
        job(f"j{i}", 0.0, 8, 1e6, checkpoint_interval_s=0.0, restart_cost_s=0.0) for i in range(3)
    ]
    _, _, seen = simulate(sc, jobs)
    runs = [sum(j in s for s in seen) for j in range(3)]
    assert all(len(s) == 1 for s in seen)
    assert max(runs) - min(runs) <= 1 and sum(runs) == len(seen) >= 60
    assert [next(iter(s)) for s in seen[:6]] == [0, 1, 2, 0, 1, 2]


def test_preemption_waits_for_a_checkpoint_unless_told_otherwise() -> None:
    """With suanli's defaults (a checkpoint every hour, 300 s to restart) stopping a job at
    every six-minute round loses all its work: no job ever finishes. By default a job is
    stopped only at the first round after a checkpoint, so each runs an hour at a time."""
    sc = scenario([site("a", [(H100, 8)])], hours=24)
    jobs = [job(f"j{i}", 0.0, 8, 2 * HOUR) for i in range(3)]
    r, _, _ = simulate(sc, jobs)
    assert r.done.all()
    assert r.lost_pflop.sum() == pytest.approx(0.0, abs=1e-6)  # stopped on checkpoints
    assert r.preemptions.sum() >= 3
    free, _, _ = simulate(sc, jobs, checkpoint_aligned=False)
    assert not free.done.any()  # each round restarts (300 s) and loses the rest (60 s)


def test_a_job_that_is_not_preemptible_keeps_its_place() -> None:
    sc = scenario([site("a", [(H100, 8)])], hours=6)
    jobs = [
        job("fixed", 0.0, 8, 2 * HOUR, preemptible=False),
        job("other", 0.0, 8, HOUR, checkpoint_interval_s=0.0, restart_cost_s=0.0),
    ]
    r, _, seen = simulate(sc, jobs)
    assert r.preemptions.tolist() == [0, 0]
    assert r.first_start[0] == 0.0 and r.finish[0] == pytest.approx(2 * HOUR)
    assert all(s == {0: 0} for s in seen[:20])  # rounds 0–19: 'fixed' alone, never stopped
    assert r.first_start[1] == pytest.approx(2 * HOUR, abs=ROUND)


def test_decisions_are_deterministic() -> None:
    jobs = [
        measured("A", 4.0, 1.0, checkpoint_interval_s=60.0, restart_cost_s=30.0),
        measured("B", 2.0, 1.0, checkpoint_interval_s=600.0, restart_cost_s=0.0),
        measured("C", 3.0, 2.0, checkpoint_interval_s=0.0, restart_cost_s=60.0),
    ]
    runs = [simulate(fleet(hours=6), jobs) for _ in range(2)]
    (r1, p1, s1), (r2, p2, s2) = runs
    assert s1 == s2
    assert r1.preemptions.tolist() == r2.preemptions.tolist()
    assert np.array_equal(r1.first_start, r2.first_start)
    assert p1.received == p2.received and p1.active_rounds == p2.active_rounds


def test_jobs_beyond_max_classes_get_spare_devices() -> None:
    """With room for both, a job whose class is left out of the LP still starts."""
    sc = scenario([site("a", [(H100, 16)])], hours=1)
    jobs = [job("big", 0.0, 8, 1e6), job("small", 0.0, 4, 1e6), job("small2", 0.0, 4, 1e6)]
    r, policy, _ = simulate(sc, jobs, max_classes=1)
    assert set(policy.allocation) == {1, 2}  # the larger class only
    assert r.first_start.tolist() == [0.0, 0.0, 0.0]
