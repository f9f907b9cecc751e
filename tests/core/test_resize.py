"""Resizing elastic jobs (issue 15, item 2): the shapes a job may take, the scheduling
state carrying a grow, a shrink and a change of type out, what it refuses, and ``suanli``
growing jobs into idle room and taking devices back for a waiting job — hand-computed."""

from __future__ import annotations

import dataclasses

import pytest

from suanli.config import load_scenario
from suanli.core.invariants import check_invariants
from suanli.core.policy import PolicyOutput, Preempt, Resize, Start
from suanli.core.state import DONE, RUNNING, PolicyError, SchedulingState
from suanli.model.job import Job, JobKind
from suanli.model.scenario import Scenario
from suanli.perf.goodput import default_speedup
from suanli.policy.registry import make_policy
from suanli.policy.resizing import sizes
from suanli.sim.engine import Simulator
from tests.core.test_migration import FLEET, H100_EAST, V100, _on, _state

H100_WEST = 2


@pytest.fixture(scope="module")
def fleet() -> Scenario:
    return load_scenario(str(FLEET))


def _elastic(i: int, work: float, gang: int = 4, gang_max: int = 8, **kw: object) -> Job:
    return Job(
        str(i),
        "lab",
        JobKind.PRETRAIN,
        "dl-training",
        0.0,
        gang,
        work,
        gang_max=gang_max,
        **kw,  # type: ignore[arg-type]
    )


def _run_timers(st: SchedulingState) -> None:
    while st.events:
        when, kind, _, a, b = st.events.pop()
        st.timer(kind, a, b, when)


def test_default_speedup_is_the_docstrings_formula() -> None:
    # pre-training (ρ = 1): twice the gang gives 2·2/3; inference scales linearly
    assert default_speedup(JobKind.PRETRAIN, 4, 8) == pytest.approx(4 / 3)
    assert default_speedup(JobKind.PRETRAIN, 4, 4) == 1.0
    assert default_speedup(JobKind.FINETUNE, 4, 8) == pytest.approx(2 * 51 / 52)
    assert default_speedup(JobKind.BATCH_INFERENCE, 4, 12) == pytest.approx(3.0)
    # below its gang the batch is below the base batch: linear
    assert default_speedup(JobKind.PRETRAIN, 4, 2) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        default_speedup(JobKind.PRETRAIN, 4, 0)


def test_a_job_names_its_measured_speedup_for_each_size() -> None:
    with pytest.raises(ValueError, match="needs 5"):
        _elastic(0, 1.0, speedup=(1.0, 1.5))
    with pytest.raises(ValueError, match="needs 8"):  # from gang_min
        _elastic(0, 1.0, gang_min=1, speedup=(1.0, 1.5, 1.6, 1.7, 1.8))
    with pytest.raises(ValueError, match="gang_min ≤ gang"):
        _elastic(0, 1.0, gang_min=5)
    assert _elastic(0, 1.0, gang_max=4, gang_min=2).elastic
    with pytest.raises(ValueError, match="finite and > 0"):
        _elastic(0, 1.0, speedup=(1.0, 1.2, 0.0, 1.4, 1.5))
    assert _elastic(0, 1.0).elastic and not _elastic(0, 1.0, gang_max=4).elastic


def test_resized_shapes_scale_rate_and_power_by_the_speedup(fleet: Scenario) -> None:
    measured = (1.0, 1.3, 1.6, 1.8, 1.9)
    st = _state(
        fleet, [_elastic(0, 1.0), _elastic(1, 1.0, speedup=measured), _elastic(2, 1.0, 4, 4)]
    )
    base = _on(st, 0, V100)
    assert (base.devices, base.used) == (4, 4)
    eight = st.jobs.resized(0, base, 8)
    assert eight is not None and (eight.devices, eight.used) == (8, 8)
    assert eight.rate == pytest.approx(base.rate * 4 / 3)
    assert eight.busy_w == pytest.approx(2 * base.busy_w)
    assert st.jobs.resized(0, base, 4) == base
    m = st.jobs.resized(1, _on(st, 1, V100), 6)
    assert m is not None and m.rate == pytest.approx(_on(st, 1, V100).rate * 1.6)
    # out of [gang, gang_max], or not elastic: no shape
    assert st.jobs.resized(0, base, 9) is None and st.jobs.resized(0, base, 3) is None
    assert st.jobs.resized(2, _on(st, 2, V100), 8) is None
    # below its gang, down to gang_min: linear by default
    low = _state(fleet, [_elastic(0, 1.0, gang_min=1)])
    two = low.jobs.resized(0, _on(low, 0, V100), 2)
    assert two is not None and two.rate == pytest.approx(base.rate / 2) and two.devices == 2


def test_the_shape_a_restart_recovers_from_the_devices_held(fleet: Scenario) -> None:
    """After a server restart only the devices held are known: the shape is the one the
    policies are offered for that many (the most devices used), never a count read as n."""
    st = _state(fleet, [_elastic(0, 1.0, gang=3, gang_max=6, gang_min=2), _elastic(1, 1.0, 4, 4)])
    base = _on(st, 0, V100)
    offered = {c.devices: c for c in sizes(st.jobs, 0, base)}
    assert len(offered) >= 2 and max(offered) > 6  # some counts are held as whole nodes
    for held, c in offered.items():
        assert st.jobs.holding(0, base, held) == c
        assert c.used == max(
            n for n in range(2, 7) if (r := st.jobs.resized(0, base, n)) and r.devices == held
        )
    assert st.jobs.holding(0, base, 3) is None or 3 in offered
    assert st.jobs.holding(1, _on(st, 1, V100), 4) is None  # not elastic


def test_a_grow_keeps_the_checkpoint_and_restarts_on_its_own_devices(fleet: Scenario) -> None:
    st = _state(fleet, [_elastic(0, 1.0, checkpoint_interval_s=600.0, restart_cost_s=300.0)])
    four = _on(st, 0, V100)
    st.jobs.work[0] = 3600.0 * four.rate
    st.apply(PolicyOutput(starts=[Start(0, four)]), 0.0)
    st.applied.clear()
    eight = st.jobs.resized(0, four, 8)
    assert eight is not None
    st.apply(PolicyOutput(resizes=[Resize(0, eight, "grow")]), 1000.0)
    assert st.status[0] == RUNNING and st.resizes[0] == 1 and st.preemptions[0] == 0
    assert st.work_done[0] == pytest.approx(600.0 * four.rate)  # the 600 s checkpoint
    rs = st.running[0]
    assert rs.cand == eight and rs.compute_start_s == pytest.approx(1300.0)
    # lost: 400 s of work at the old rate, and the 300 s restart
    assert st.resize_lost_s[0] == pytest.approx(700.0)
    assert st.cluster.pools[V100].free_devices == 0
    assert st.applied == [Preempt(0, "resized: grow"), Start(0, eight, "grow")]
    check_invariants(st)
    _run_timers(st)
    left = 3000.0 * four.rate
    assert st.status[0] == DONE and st.finish[0] == pytest.approx(1300.0 + left / eight.rate)


def test_a_shrink_frees_devices_and_a_type_change_moves(fleet: Scenario) -> None:
    st = _state(fleet, [_elastic(0, 1.0, checkpoint_interval_s=0.0, restart_cost_s=60.0)])
    eight = st.jobs.resized(0, _on(st, 0, V100), 8)
    assert eight is not None
    st.jobs.work[0] = 1e9
    st.apply(PolicyOutput(starts=[Start(0, eight)]), 0.0)
    st.apply(PolicyOutput(resizes=[Resize(0, _on(st, 0, V100), "give back")]), 100.0)
    assert st.running[0].cand.devices == 4 and st.cluster.pools[V100].free_devices == 4
    assert st.resize_lost_s[0] == pytest.approx(60.0)  # nothing lost (Δ = 0), the restart
    # another type and size at once: the H100s at east, six devices
    six = st.jobs.resized(0, _on(st, 0, H100_EAST), 6)
    assert six is not None
    st.apply(PolicyOutput(resizes=[Resize(0, six, "to the H100s")]), 200.0)
    assert st.running[0].cand == six and st.cluster.pools[V100].free_devices == 8
    assert st.resizes[0] == 2
    check_invariants(st)


def test_the_state_refuses_resizes_it_cannot_carry_out(fleet: Scenario) -> None:
    jobs = [_elastic(0, 1.0), _elastic(1, 1.0, 4, 4), _elastic(2, 1.0)]
    st = _state(fleet, jobs)
    four = _on(st, 0, V100)
    for j in range(3):
        st.jobs.work[j] = 1e9
    st.apply(PolicyOutput(starts=[Start(0, four), Start(1, _on(st, 1, V100))]), 0.0)
    eight = st.jobs.resized(0, four, 8)
    assert eight is not None
    with pytest.raises(PolicyError, match="without room"):  # job 1 holds the other four
        st.apply(PolicyOutput(resizes=[Resize(0, eight, "x")]), 1.0)
    with pytest.raises(PolicyError, match="cannot be resized"):  # not elastic
        st.apply(PolicyOutput(resizes=[Resize(1, _on(st, 1, H100_EAST), "x")]), 1.0)
    with pytest.raises(PolicyError, match="not running"):
        st.apply(PolicyOutput(resizes=[Resize(2, four, "x")]), 1.0)
    made_up = dataclasses.replace(eight, rate=eight.rate * 10)
    with pytest.raises(PolicyError, match="not a shape it can take"):
        st.apply(PolicyOutput(resizes=[Resize(0, made_up, "x")]), 1.0)
    with pytest.raises(PolicyError, match="the shape it runs on"):
        st.apply(PolicyOutput(resizes=[Resize(0, four, "x")]), 1.0)
    # a backend that cannot resize (its sites file says resize: false)
    st.site_can_resize[st.tables.pool_site[V100]] = False
    assert st.running[0].alloc is not None and not st.resizable(0)
    with pytest.raises(PolicyError, match="cannot be resized"):
        st.apply(PolicyOutput(resizes=[Resize(0, _on(st, 0, H100_EAST), "x")]), 1.0)


def _v100_only(job: Job) -> Job:
    return dataclasses.replace(job, accepted_types=("nvidia_v100_sxm2_32g",))


def elastic_pair(fleet: Scenario) -> list[Job]:
    """An elastic 4–8 job of 10 V100-hours at 4 devices at t = 0 (restart 30 s, saves on
    every stop), and a 4-device job of one hour at t = 1 h, both on the V100s only."""
    rate4 = _state(fleet, [_elastic(0, 1.0)]).jobs.candidates(0)[0].rate
    grower = _v100_only(
        _elastic(0, 10 * 3600.0 * rate4, checkpoint_interval_s=0.0, restart_cost_s=30.0)
    )
    newcomer = _v100_only(
        Job("1", "lab", JobKind.PRETRAIN, "dl-training", 3600.0, 4, 3600.0 * rate4)
    )
    return [grower, newcomer]


def test_suanli_grows_into_idle_room_and_gives_it_back(fleet: Scenario) -> None:
    """Alone on the V100s, an elastic 4–8 job starts on all eight (nothing waits for them);
    a 4-device job arriving later gets four back at once, the elastic job restarting on
    four; it grows again when the newcomer is done."""
    jobs = elastic_pair(fleet)
    policy = make_policy("suanli", fleet.policy_params.get("suanli"))
    r = Simulator(fleet, jobs, policy, drain=True).run()
    ran = [(s.job, s.devices, round(s.start_s)) for s in r.stretches]
    assert ran[0] == (0, 8.0, 0)
    assert (0, 4.0, 3600) in ran and (1, 4.0, 3600) in ran
    assert r.first_start[1] == 3600.0  # no wait for the newcomer
    assert r.stretches[0].end.startswith("resized: gave back 4")
    assert ran[-1][0] == 0 and ran[-1][1] == 8.0  # grown again once it is alone
    assert r.resizes[0] == 2 and r.resizes[1] == 0
    # and without elasticity it would have run on four all along
    fixed = dataclasses.replace(jobs[0], gang_max=None)
    r2 = Simulator(fleet, [fixed, jobs[1]], make_policy("suanli"), drain=True).run()
    assert r.finish[0] < r2.finish[0]


def test_suanli_takes_devices_back_down_to_gang_min(fleet: Scenario) -> None:
    """An elastic job of gang 8 that may run on 1 to 8 holds all eight V100s; a fixed
    4-device job arriving gets four back at once (the elastic job drops below its gang)."""
    rate8 = _state(fleet, [_elastic(0, 1.0, 8, 8)]).jobs.candidates(0)[0].rate
    lender = _v100_only(
        _elastic(
            0, 10 * 3600.0 * rate8, 8, 8, gang_min=1, checkpoint_interval_s=0.0, restart_cost_s=30.0
        )
    )
    newcomer = _v100_only(
        Job("1", "lab", JobKind.PRETRAIN, "dl-training", 3600.0, 4, 0.5 * 3600.0 * rate8)
    )
    r = Simulator(fleet, [lender, newcomer], make_policy("suanli"), drain=True).run()
    ran = [(s.job, s.devices, round(s.start_s)) for s in r.stretches]
    assert ran[:3] == [(0, 8.0, 0), (0, 4.0, 3600), (1, 4.0, 3600)], ran
    assert r.stretches[0].end.startswith("resized: gave back 4")
    assert ran[-1][:2] == (0, 8.0)  # back on eight once the newcomer is done


def test_suanli_starts_an_elastic_job_smaller_and_grows_it_when_room_frees(
    fleet: Scenario,
) -> None:
    """Four V100s are busy with a fixed job; an elastic job asking for eight (from two)
    starts at once on the four left (the allocation admits it at its smallest shape and
    gives it the rest), and grows to eight once the busy job ends — sooner done than if it
    had waited for its eight (it saves its state when stopped and restarts in 30 s)."""
    rate4 = _state(fleet, [_elastic(0, 1.0)]).jobs.candidates(0)[0].rate
    busy = _v100_only(Job("0", "lab", JobKind.PRETRAIN, "dl-training", 0.0, 4, 900.0 * rate4))
    grower = dataclasses.replace(
        _v100_only(
            _elastic(
                1,
                2 * 3600.0 * rate4,
                8,
                8,
                gang_min=2,
                checkpoint_interval_s=0.0,
                restart_cost_s=30.0,
            )
        ),
        submit_s=60.0,
    )
    r = Simulator(fleet, [busy, grower], make_policy("suanli"), drain=True).run()
    ran = [(s.devices, round(s.start_s)) for s in r.stretches if s.job == 1]
    assert ran == [(4.0, 60), (8.0, 900)] and r.resizes[1] == 1
    # 840 s on four (half speed), then the 6,360 s of four-device work left on eight
    assert r.finish[1] == pytest.approx(900.0 + 30.0 + (7200.0 - 840.0) / 2)
    waited = Simulator(
        fleet, [busy, dataclasses.replace(grower, gang_min=None)], make_policy("suanli")
    ).run()
    assert waited.first_start[1] == pytest.approx(900.0)
    assert r.finish[1] < waited.finish[1]
