"""A job's list of accepted types is an order of preference, in every policy
(docs/scheduler.md, "Preference order").

One site with 8 Ascend 910C and 8 H100 (one node each); in these tiny scenarios H100 runs
the test profile ~1.2× faster than 910C and ~2.6× faster than 910B2, at the same price."""

from __future__ import annotations

import pytest

from suanli.model.job import Job
from suanli.policy.registry import make_policy, policy_names
from suanli.sim.engine import Simulator
from suanli.sim.result import SimResult
from tests.sim.helpers import ASCEND, H100, job, scenario, site

ASCEND_C = "huawei_ascend_910c"
HOUR = 3600.0
#: The batch policies (serving policies place replicas, not jobs).
POLICIES = [
    p
    for p in policy_names()
    if p in {"fifo", "backfill", "las", "greedy-cost", "maxmin-het", "fifo-het", "suanli"}
]


def run(policy: str, jobs: list[Job], pools: list[tuple[str, int]]) -> SimResult:
    """``jobs`` under ``policy`` on one site with ``pools``."""
    sc = scenario([site("a", pools)], hours=24)
    return Simulator(sc, jobs, make_policy(policy), verify=True).run()


def accelerator(r: SimResult, jid: str) -> str:
    """The accelerator type job ``jid`` last ran on."""
    j = r.jobs.ids.index(jid)
    return r.tables.acc_ids[r.tables.pool_acc[int(r.last_pool[j])]]


def test_all_batch_policies_are_covered() -> None:
    assert len(POLICIES) == 7


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("first", [ASCEND_C, H100])
def test_a_job_runs_on_its_first_choice_when_it_has_room(policy: str, first: str) -> None:
    second = H100 if first == ASCEND_C else ASCEND_C
    jobs = [job("j", 0.0, 8, 2 * HOUR, accepted_types=(first, second))]
    r = run(policy, jobs, [(ASCEND_C, 8), (H100, 8)])
    assert accelerator(r, "j") == first


@pytest.mark.parametrize("policy", ["fifo", "backfill", "greedy-cost", "fifo-het"])
def test_the_second_choice_when_the_first_is_full(policy: str) -> None:
    jobs = [
        job("occupier", 0.0, 8, 4 * HOUR, accepted_types=(ASCEND_C,)),
        job("j", 10.0, 8, 2 * HOUR, accepted_types=(ASCEND_C, H100)),
    ]
    r = run(policy, jobs, [(ASCEND_C, 8), (H100, 8)])
    assert accelerator(r, "j") == H100
    assert r.first_start[r.jobs.ids.index("j")] == pytest.approx(10.0)


def test_suanli_holds_a_preference_softly() -> None:
    # Each step down the list costs w_prefer = 1/2 of worth, as much as the response
    # ratio of a fresh job falling by half: the first choice wins when the second is up to
    # twice as fast (910C above), not when it is 2.6 times as fast (910B2 here).
    jobs = [job("j", 0.0, 8, 2 * HOUR, accepted_types=(ASCEND, H100))]
    r = run("suanli", jobs, [(ASCEND, 8), (H100, 8)])
    assert accelerator(r, "j") == H100
    assert r.first_start[0] == pytest.approx(0.0)


def test_a_move_never_takes_a_job_down_its_list() -> None:
    # 'j' prefers 910C and gets it; when the faster H100s free, fifo-het (which moves every
    # job up to faster devices) leaves it where it is: H100 is its second choice.
    jobs = [
        job("occupier", 0.0, 8, 1 * HOUR, accepted_types=(H100,)),
        job("j", 10.0, 8, 6 * HOUR, accepted_types=(ASCEND_C, H100)),
    ]
    r = run("fifo-het", jobs, [(ASCEND_C, 8), (H100, 8)])
    i = r.jobs.ids.index("j")
    assert accelerator(r, "j") == ASCEND_C
    assert int(r.migrations[i]) == 0
    # listed the other way round, it starts on 910C (H100 is full) and moves up to H100
    jobs[1] = job("j", 10.0, 8, 6 * HOUR, accepted_types=(H100, ASCEND_C))
    r = run("fifo-het", jobs, [(ASCEND_C, 8), (H100, 8)])
    assert accelerator(r, "j") == H100
    assert int(r.migrations[r.jobs.ids.index("j")]) == 1
