"""The scheduling state on its own: starts, masked sites, ends, deferrals, bad decisions."""

from __future__ import annotations

import pytest

from suanli.core.accounting import Accounting
from suanli.core.events import EventKind, EventQueue
from suanli.core.invariants import check_invariants
from suanli.core.jobtable import JobTable
from suanli.core.policy import Defer, Migrate, PolicyOutput, Preempt, Start
from suanli.core.state import (
    DEFERRED,
    DONE,
    ENDED,
    RUNNING,
    UNSCHEDULABLE,
    WAITING,
    PolicyError,
    SchedulingState,
)
from suanli.core.tables import build_tables
from suanli.core.views import Attained
from suanli.model.job import Job, JobKind
from suanli.policy.priority import Priorities
from tests.control.helpers import two_sites


def _state(n: int, gang: int = 4) -> SchedulingState:
    tables = build_tables(two_sites())
    st = SchedulingState(
        tables, JobTable([], tables), EventQueue(), Accounting(tables, 1), record=True
    )
    for i in range(n):
        job = Job(str(i), "lab", JobKind.PRETRAIN, "dl-training", float(i), gang, 1.0)
        st.arrive(st.add(job))
    return st


def test_starts_take_devices_and_masked_sites_take_none() -> None:
    st = _state(3)
    c = st.jobs.candidates(0)[0]
    st.apply(PolicyOutput(starts=[Start(0, c)]), 1.0)
    assert st.status[0] == RUNNING and st.applied == [Start(0, c)] and len(st.waiting) == 2
    assert st.cluster.pools[c.pool].free_devices == 4
    site = st.tables.pool_site[c.pool]
    assert st.preemptible(0)
    st.set_site_up(site, False)
    assert st.cluster.pools[c.pool].free_devices == 0  # masked: no new work there
    assert st.running[0].alloc is None and not st.preemptible(0)  # kept, outside the mirror
    check_invariants(st)
    st.set_site_up(site, True)
    assert st.cluster.pools[c.pool].free_devices == 4 and st.running[0].alloc is not None
    st.end(0, 2.0, "cancelled")
    assert st.status[0] == ENDED and st.cluster.pools[c.pool].free_devices == 8
    check_invariants(st)


def test_a_decision_that_cannot_be_carried_out_is_an_error() -> None:
    st = _state(2)
    c = st.jobs.candidates(0)[0]
    with pytest.raises(PolicyError, match="which is not waiting"):
        st.apply(PolicyOutput(starts=[Start(0, c), Start(0, c)]), 1.0)
    assert st.applied == [Start(0, c)]  # the one before it stands
    with pytest.raises(PolicyError, match="not running"):
        st.apply(PolicyOutput(preempts=[Preempt(1, "x")]), 1.0)
    with pytest.raises(PolicyError, match="into the past"):
        st.apply(PolicyOutput(defers=[Defer(1, 1.0, "x")]), 1.0)
    same_pool = next(x for x in st.jobs.candidates(1) if x.pool == c.pool)
    st.apply(PolicyOutput(starts=[Start(1, same_pool)]), 1.0)  # 4 of 8 left: fits
    extra = st.add(Job("x", "lab", JobKind.PRETRAIN, "dl-training", 1.0, 4, 1.0))
    st.arrive(extra)
    full = next(x for x in st.jobs.candidates(extra) if x.pool == c.pool)
    with pytest.raises(PolicyError, match="without room"):
        st.apply(PolicyOutput(starts=[Start(extra, full)]), 1.0)
    check_invariants(st)


def test_ends_deferrals_and_requeues() -> None:
    st = _state(3)
    st.apply(PolicyOutput(defers=[Defer(0, 50.0, "cheaper at night")]), 10.0)
    assert st.status[0] == DEFERRED and st.reason(0) == "cheaper at night"
    assert st.events.peek_time() == 50.0
    when, kind, _, a, b = st.events.pop()
    st.timer(kind, a, b, when)
    assert kind == EventKind.WAKE and st.status[0] == WAITING and len(st.waiting) == 3
    c = st.jobs.candidates(1)[0]
    st.apply(PolicyOutput(starts=[Start(1, c)]), 60.0)
    st.requeue(1, 61.0, "the dispatch was lost")  # never ran: no progress, no restart cost
    assert st.status[1] == WAITING and st.preemptions[1] == 0 and st.work_done[1] == 0.0
    st.apply(PolicyOutput(starts=[Start(1, c)]), 62.0)
    assert st.running[1].computing  # no data, no restart: computes at once
    st.complete(1, 100.0)
    assert st.status[1] == DONE and st.attained[1] == pytest.approx(38.0 * c.amount)
    st.end(2, 101.0, "cancelled while queued")
    assert st.status[2] == ENDED and len(st.waiting) == 1
    big = Job("big", "lab", JobKind.PRETRAIN, "dl-training", 5.0, 64, 1.0)
    assert not st.arrive(st.add(big)) and st.status[3] == UNSCHEDULABLE
    check_invariants(st)


def test_a_lost_dispatch_after_a_move_waits_requeued_with_the_work_it_did() -> None:
    # a move is a stop and a start; if the new dispatch is lost the job waits again with
    # the work of its last checkpoint kept: it has run, so it is requeued, as a preempted
    # job is (policies that keep what they derived from a job's work look again)
    st = _state(0)
    big = Job(
        "m", "lab", JobKind.PRETRAIN, "dl-training", 0.0, 4, 1.0e6, checkpoint_interval_s=60.0
    )
    j = st.add(big)
    st.arrive(j)
    first, other = st.jobs.candidates(j)[0], st.jobs.candidates(j)[-1]
    assert first.pool != other.pool
    st.apply(PolicyOutput(starts=[Start(j, first)]), 0.0)
    st.apply(PolicyOutput(migrates=[Migrate(j, other, "faster there")]), 3600.0)
    done = st.work_done[j]
    assert done > 0.0 and j not in st.requeued
    st.requeue(j, 3601.0, "the dispatch was lost")
    assert st.status[j] == WAITING and j in st.requeued and st.work_done[j] == done
    fresh = st.add(Job("n", "lab", JobKind.PRETRAIN, "dl-training", 0.0, 4, 1.0))
    st.arrive(fresh)
    st.apply(PolicyOutput(starts=[Start(fresh, first)]), 3602.0)
    st.requeue(fresh, 3603.0, "the dispatch was lost")  # never ran: not requeued
    assert fresh not in st.requeued
    check_invariants(st)


def test_restore_holds_a_place_after_a_restart_even_without_room() -> None:
    st = _state(0)
    for i in range(3):
        st.add(Job(str(i), "lab", JobKind.PRETRAIN, "dl-training", 0.0, 8, 1.0))
    c = st.jobs.candidates(0)[0]
    st.restore(0, c, 5.0, 20.0)
    st.restore(1, c, 6.0, 20.0)  # the pool is full: held outside the mirror
    assert st.running[0].alloc is not None and st.running[1].alloc is None
    assert Attained(st, 20.0)(1) == pytest.approx(14.0 * c.amount)
    check_invariants(st)


def test_the_queue_by_priority_level_follows_arrivals_starts_deferrals_and_ends() -> None:
    """``waiting_levels()``: one list (``waiting`` itself) while every job has one effective
    priority; from the first job of another level on, one list per level, highest first,
    each in arrival order, kept as jobs start, are deferred, come back, are requeued and
    end — what :class:`~suanli.policy.priority.Priorities` hands policies, without grouping
    the queue each round."""
    st = _state(3)  # jobs 0, 1, 2 of priority 0
    (level, jobs), *rest = st.waiting_levels()
    assert level == (0, 0) and rest == [] and jobs is st.snapshot(0.0).waiting
    assert st.waiting_by_level is None  # nothing kept twice
    for i, (t, prio) in enumerate([(3.0, 5), (4.0, 0), (5.0, 5), (6.0, -1)]):
        job = Job(f"p{i}", "lab", JobKind.PRETRAIN, "dl-training", t, 4, 1.0, priority=prio)
        st.arrive(st.add(job))  # jobs 3 .. 6

    def levels() -> list[tuple[tuple[int, int], list[int]]]:
        check_invariants(st)  # the lists agree with the queue (suanli.core.invariants)
        return [(lv, list(js)) for lv, js in st.waiting_levels()]

    assert levels() == [((0, 5), [3, 5]), ((0, 0), [0, 1, 2, 4]), ((0, -1), [6])]
    c = st.jobs.candidates(3)[0]
    st.apply(PolicyOutput(starts=[Start(3, c)], defers=[Defer(0, 50.0, "later")]), 10.0)
    assert levels() == [((0, 5), [5]), ((0, 0), [1, 2, 4]), ((0, -1), [6])]
    st.end(6, 11.0, "cancelled while queued")  # its level empties and goes
    assert levels() == [((0, 5), [5]), ((0, 0), [1, 2, 4])]
    st.requeue(3, 12.0, "the dispatch was lost")
    assert levels() == [((0, 5), [3, 5]), ((0, 0), [1, 2, 4])]
    while st.status[0] != WAITING:  # job 0 back from its deferral, in its place by arrival
        when, kind, _, a, b = st.events.pop()
        st.timer(kind, a, b, when)
    assert levels() == [((0, 5), [3, 5]), ((0, 0), [0, 1, 2, 4])]
    pr = Priorities().update(inp := st.snapshot(52.0, full=True))
    assert list(pr.order(inp)) == [3, 5, 0, 1, 2, 4]
    assert [list(g) for g in pr.waiting(inp)] == [[3, 5], [0, 1, 2, 4], []]


def test_the_running_view_reads_single_fields_as_the_built_view_has_them() -> None:
    st = _state(3)
    cands = [st.jobs.candidates(j)[0] for j in range(2)]
    st.apply(PolicyOutput(starts=[Start(j, c) for j, c in enumerate(cands)]), 5.0)
    site = st.tables.pool_site[cands[0].pool]
    for up in (True, False):  # a masked site's jobs are not preemptible
        st.set_site_up(site, up)
        view = st.snapshot(9.0).running
        for j in view:
            run = view[j]
            assert view.held(j) == run.candidate
            assert view.compute_start(j) == run.compute_start_s
            assert view.preemptible(j) is run.preemptible
        assert view.preemptible(0) is up
        with pytest.raises(KeyError):
            view.preemptible(2)  # waiting, as view[2] would fail
