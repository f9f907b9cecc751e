"""Moving running jobs (:mod:`suanli.core.migration`): the estimate, the state carrying a
move out, and the policies that move — hand-computed cases."""

from __future__ import annotations

import math

import pytest

from suanli.config import load_scenario
from suanli.core.accounting import Accounting
from suanli.core.events import EventQueue
from suanli.core.invariants import check_invariants
from suanli.core.jobtable import Candidate, JobTable
from suanli.core.migration import MoveEstimate, estimate
from suanli.core.policy import Migrate, PolicyOutput, Preempt, Start
from suanli.core.state import DONE, RUNNING, PolicyError, SchedulingState
from suanli.core.tables import build_tables
from suanli.model.job import Job, JobKind
from suanli.model.scenario import Scenario
from suanli.policy.registry import make_policy
from suanli.policy.suanli.moves import worth_moving
from suanli.sim.engine import Simulator
from tests.control.helpers import FIXTURES

#: A slow type at home, a fast one 1,000 km away over a 100 Gbit/s link (20 ms), and a
#: third site with the fast type but no link.
FLEET = FIXTURES / "moves.yaml"
V100, H100_EAST, H100_WEST, H100_ISLAND = 0, 1, 2, 3
GB = 12.0  # dl-training's memory_gb: its checkpoint


@pytest.fixture(scope="module")
def fleet() -> Scenario:
    return load_scenario(str(FLEET))


def _job(i: int, work: float, gang: int = 8, submit: float = 0.0, **kw: object) -> Job:
    return Job(
        str(i),
        "lab",
        JobKind.PRETRAIN,
        "dl-training",
        submit,
        gang,
        work,
        **kw,  # type: ignore[arg-type]
    )


def _state(sc: Scenario, jobs: list[Job]) -> SchedulingState:
    tables = build_tables(sc)
    st = SchedulingState(
        tables, JobTable([], tables), EventQueue(), Accounting(tables, 1), record=True
    )
    for job in jobs:
        st.arrive(st.add(job))
    return st


def _on(st: SchedulingState, j: int, pool: int) -> Candidate:
    return next(c for c in st.jobs.candidates(j) if c.pool == pool)


def test_the_estimate_is_the_docstrings_arithmetic(fleet: Scenario) -> None:
    st = _state(fleet, [_job(0, 1.0, checkpoint_interval_s=600.0, restart_cost_s=300.0)])
    slow, fast, far = _on(st, 0, V100), _on(st, 0, H100_EAST), _on(st, 0, H100_WEST)
    r, r2 = slow.rate, fast.rate
    work = 3600.0 * r
    st.jobs.work[0] = work
    # computing since 0, nothing done before; at t = 1000 one checkpoint (600 s) is kept
    e = estimate(st.tables, st.jobs, 0, 1000.0, slow, 0.0, 0.0, fast)
    assert e is not None
    assert e.kept_pflop == pytest.approx(600.0 * r) and e.lost_pflop == pytest.approx(400.0 * r)
    assert e.checkpoint_s == 0.0 and e.data_s == 0.0
    assert e.stay_s == pytest.approx(2600.0)
    assert e.move_s == pytest.approx(300.0 + 3000.0 * r / r2)
    assert e.gain_s == pytest.approx(2600.0 * r * (1 / r - 1 / r2))
    assert e.cost_s == pytest.approx(300.0 + 400.0 * r / r2)
    assert e.net_s == pytest.approx(e.gain_s - e.cost_s)
    # to another site: the checkpoint crosses the link (8 G / β + λ), and pays egress
    e2 = estimate(st.tables, st.jobs, 0, 1000.0, slow, 0.0, 0.0, far)
    assert e2 is not None
    copy = 8 * GB / 100 + 0.020
    assert e2.checkpoint_s == pytest.approx(copy) and e2.egress == pytest.approx(GB * 0.05)
    assert e2.move_s == pytest.approx(copy + 300.0 + 3000.0 * r / far.rate)
    # no link, no move
    assert estimate(st.tables, st.jobs, 0, 1000.0, slow, 0.0, 0.0, _on(st, 0, H100_ISLAND)) is None


def test_a_move_keeps_the_checkpoint_and_restarts_on_the_new_pool(fleet: Scenario) -> None:
    st = _state(fleet, [_job(0, 1.0, checkpoint_interval_s=600.0, restart_cost_s=300.0)])
    slow, far = _on(st, 0, V100), _on(st, 0, H100_WEST)
    st.jobs.work[0] = work = 3600.0 * slow.rate
    st.apply(PolicyOutput(starts=[Start(0, slow)]), 0.0)
    st.applied.clear()
    e = estimate(st.tables, st.jobs, 0, 1000.0, slow, 0.0, 0.0, far)
    assert e is not None
    st.apply(PolicyOutput(migrates=[Migrate(0, far, "faster")]), 1000.0)
    assert st.status[0] == RUNNING and st.migrations[0] == 1 and st.preemptions[0] == 0
    assert st.work_done[0] == pytest.approx(e.kept_pflop)
    assert st.lost_pflop[0] == pytest.approx(e.lost_pflop)
    rs = st.running[0]
    assert rs.cand == far and rs.started_s == 1000.0
    assert rs.compute_start_s == pytest.approx(1000.0 + e.checkpoint_s + 300.0)
    assert rs.expected_end_s == pytest.approx(1000.0 + e.move_s)
    assert st.cluster.pools[V100].free_devices == 8  # the old devices are free
    assert st.transfers.checkpoint_count == 1 and st.transfers.cost == pytest.approx(e.egress)
    # the live control plane sees a requeue and a dispatch to the new place
    assert st.applied == [Preempt(0, "migrated: faster"), Start(0, far, "faster")]
    assert [s.end for s in st.stretches] == ["migrated: faster", ""]
    check_invariants(st)
    # it finishes when the estimate said (the old stretch's timers are stale)
    while st.events:
        when, kind, _, a, b = st.events.pop()
        st.timer(kind, a, b, when)
    assert st.status[0] == DONE and st.finish[0] == pytest.approx(1000.0 + e.move_s)
    assert st.work_done[0] == work


def test_a_move_that_cannot_be_carried_out_is_an_error(fleet: Scenario) -> None:
    st = _state(fleet, [_job(0, 1e6), _job(1, 1e6, preemptible=False), _job(2, 1e6, submit=1.0)])
    st.apply(
        PolicyOutput(starts=[Start(0, _on(st, 0, V100)), Start(1, _on(st, 1, H100_EAST))]), 0.0
    )
    with pytest.raises(PolicyError, match="not running"):
        st.apply(PolicyOutput(migrates=[Migrate(2, _on(st, 2, H100_WEST), "x")]), 1.0)
    with pytest.raises(PolicyError, match="not preemptible"):
        st.apply(PolicyOutput(migrates=[Migrate(1, _on(st, 1, H100_WEST), "x")]), 1.0)
    with pytest.raises(PolicyError, match="the pool it runs on"):
        st.apply(PolicyOutput(migrates=[Migrate(0, _on(st, 0, V100), "x")]), 1.0)
    with pytest.raises(PolicyError, match="without room"):
        st.apply(PolicyOutput(migrates=[Migrate(0, _on(st, 0, H100_EAST), "x")]), 1.0)
    with pytest.raises(PolicyError, match="no link for its checkpoint"):
        st.apply(PolicyOutput(migrates=[Migrate(0, _on(st, 0, H100_ISLAND), "x")]), 1.0)
    assert st.running[0].cand.pool == V100 and st.migrations[0] == 0
    check_invariants(st)


#: The policies that move jobs, with the fleet's parameters: ``suanli`` without patience and
#: cost weights starts a job on the slow type at once, as ``fifo-het`` does (else it would
#: wait for the fast one: :mod:`suanli.policy.suanli.utility`).
POLICIES = ("fifo-het", "suanli")


def moving_jobs(fleet: Scenario, v100_s: float, preemptible: bool = True) -> list[Job]:
    """Jobs that accept only H100s fill the fast pools, west's and the island's for an hour,
    east's for ten; a job of ``v100_s`` V100-seconds of work arrives at t = 1 s."""
    rates = {c.pool: c.rate for c in JobTable([], build_tables(fleet)).candidates_of(_job(9, 1.0))}
    blockers = [
        _job(i, hours * 3600.0 * rates[p], accepted_types=("nvidia_h100_sxm5",))
        for i, (p, hours) in enumerate(((H100_EAST, 10), (H100_WEST, 1), (H100_ISLAND, 1)))
    ]
    mover = _job(3, v100_s * rates[V100], submit=1.0, restart_cost_s=300.0, preemptible=preemptible)
    return [*blockers, mover]


def _two_jobs(fleet: Scenario, v100_s: float, policy: str) -> tuple[int, float]:
    """:func:`moving_jobs` under ``policy``: did the last job start on the V100s at once,
    does it move (to west: the island has no link) when the fast devices free there, and
    when does it finish?"""
    policy_ = make_policy(policy, fleet.policy_params.get(policy))
    r = Simulator(fleet, moving_jobs(fleet, v100_s), policy_, drain=True).run()
    assert r.first_start[3] == 1.0 and r.last_pool[3] in (V100, H100_WEST)
    return int(r.migrations[3]), float(r.finish[3])


@pytest.mark.parametrize("policy", POLICIES)
def test_a_long_job_moves_up_when_faster_devices_free(fleet: Scenario, policy: str) -> None:
    """20 h of V100 work, one hour done when the H100s free: 19 V100-hours left, ≈ 3.5 h on
    an H100 — the move (checkpoint lost: 1 h of V100 work; 300 s restart) pays."""
    moved, finish = _two_jobs(fleet, 20 * 3600.0, policy)
    assert moved == 1
    assert finish < 6 * 3600.0  # had it stayed, 20 h


def test_suanli_keeps_a_job_whose_move_would_not_pay_and_fifo_het_moves_it(
    fleet: Scenario,
) -> None:
    """Ten minutes of V100 work left when the H100s free, none of the hour done kept by a
    checkpoint: moving redoes that hour (≈ 11 min on an H100) and restarts (5 min) to save
    ≈ 8 min — suanli stays, fifo-het moves and finishes later."""
    work = 3600.0 + 600.0
    moved, finish = _two_jobs(fleet, work, "suanli")
    assert moved == 0 and finish == pytest.approx(1.0 + work)
    moved_het, finish_het = _two_jobs(fleet, work, "fifo-het")
    assert moved_het == 1 and finish_het > finish


def test_worth_moving_is_gain_against_cost_with_a_margin() -> None:
    e = MoveEstimate(
        stay_s=1000.0, move_s=700.0, gain_s=600.0, cost_s=300.0, kept_pflop=0.0,
        lost_pflop=0.0, checkpoint_s=0.0, data_s=0.0, egress=0.0,
    )  # fmt: skip
    assert worth_moving(e, 1.0) and not worth_moving(e, 1.01) and worth_moving(e, 0.0)
    free = MoveEstimate(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    assert not worth_moving(free, 0.0)  # nothing to gain: stay


def test_a_non_preemptible_job_never_moves(fleet: Scenario) -> None:
    jobs = moving_jobs(fleet, 20 * 3600.0, preemptible=False)
    for policy in POLICIES:
        params = fleet.policy_params.get(policy)
        r = Simulator(fleet, jobs, make_policy(policy, params), drain=True).run()
        assert r.migrations[3] == 0 and math.isclose(r.finish[3], 1.0 + 20 * 3600.0)
