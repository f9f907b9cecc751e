"""The live control plane against dry-run sites: dispatch, outages, cancel, recovery."""

from __future__ import annotations

from pathlib import Path

import pytest

from suanli.control.service import LiveControl
from suanli.sites.base import SiteBackend, SubmitRequest, make_tag
from suanli.store.db import Database
from suanli.store.jobs import JobStore
from suanli.store.ledger import Batch, Ledger
from suanli.store.schema import JobState
from suanli.store.tenants import TenantStore
from tests.control.helpers import control, dry, states, submit, two_sites, wait_for


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return Database(str(tmp_path / "live.db"))


def test_jobs_run_once_each(db: Database) -> None:
    sc = two_sites()
    sites = {s.id: dry(s.id, 0.2) for s in sc.sites}
    ctl = control(db, sc, dict[str, SiteBackend](sites))
    ctl.start()
    try:
        ids = [r.id for r in submit(db, ctl, 40)]
        wait_for(lambda: set(states(db, ids)) == {"done"}, what="all done")
    finally:
        ctl.stop()
    assert sum(s.submissions for s in sites.values()) == 40
    assert sites["east"].submissions > 0 and sites["west"].submissions > 0  # 8 + 8 devices
    js = JobStore(db)
    job = js.get(ids[0])
    assert job is not None and job.site and job.external_id and job.exit_code == 0
    assert job.external_id.startswith("dry-") and job.site_state == "COMPLETED"
    assert [e.state for e in js.events(ids[0])] == [
        "queued",
        "dispatching",
        "pending",
        "running",
        "done",
    ]
    assert "start" in [d.action for d in js.decisions(job_id=ids[0])]


def test_unreachable_site_and_recovery(db: Database) -> None:
    sc = two_sites()
    east = dry("east", 60)
    west = dry("west", 60)
    ctl = control(db, sc, {"east": east, "west": west})
    ctl.start()
    try:
        first = [r.id for r in submit(db, ctl, 2)]  # the tenant's home is east
        wait_for(lambda: states(db, first) == ["running"] * 2, what="running at east")
        assert {JobStore(db).get(i).site for i in first} == {"east"}  # type: ignore[union-attr]
        east.reachable = False
        wait_for(lambda: states(db, first) == ["unknown"] * 2, what="unknown")
        job = JobStore(db).get(first[0])
        assert job is not None and job.last_state == "running" and "unreachable" in job.reason
        assert ctl.sites["east"].reachable is False
        more = [r.id for r in submit(db, ctl, 3)]
        wait_for(lambda: states(db, more) == ["running"] * 3, what="new work at west")
        assert {JobStore(db).get(i).site for i in more} == {"west"}  # type: ignore[union-attr]
        east.reachable = True
        wait_for(lambda: states(db, first) == ["running"] * 2, what="reconciled")
        for i in first:
            JobStore(db).request_cancel(i)
            ctl.cancel_requested(i)
        wait_for(lambda: states(db, first) == ["cancelled"] * 2, what="cancelled")
    finally:
        ctl.stop()
    assert east.submissions == 2


def test_cancel_queued_and_unrunnable(db: Database) -> None:
    sc = two_sites()
    ctl = control(db, sc)
    ctl.start()
    try:
        big = submit(db, ctl, 3, gang=8, command="sleep 5")  # one per site fits, third waits
        wait_for(lambda: states(db, [r.id for r in big]).count("queued") == 1, what="one waits")
        waiting = next(r.id for r in big if states(db, [r.id]) == ["queued"])
        wait_for(lambda: ctl.reason(waiting) is not None, what="reason")
        assert "devices" in (ctl.reason(waiting) or "")
        JobStore(db).request_cancel(waiting)
        ctl.cancel_requested(waiting)
        wait_for(lambda: states(db, [waiting]) == ["cancelled"], what="cancelled")
        huge = submit(db, ctl, 1, gang=64)[0].id  # the API refuses these; the loop fails them
        wait_for(lambda: states(db, [huge]) == ["failed"], what="failed")
    finally:
        ctl.stop()


def test_restart_adopts_and_requeues_without_running_twice(db: Database) -> None:
    """A crash after the intent: one job reached Slurm (its id unrecorded), one did not."""
    sc = two_sites()
    east, west = dry("east", 0.2), dry("west", 0.2)
    js, led = JobStore(db), Ledger(db)
    ctl = control(db, sc, {"east": east, "west": west})  # seeds tenants; not started
    reached, lost = (js.submit("lab", dict(SPEC_1), "true")[0] for _ in range(2))
    b = Batch()
    for rec in (reached, lost):
        b.intent(rec.id, 1, "east", "east/nvidia_h100_sxm5", 1)
        b.update_job(
            rec.id,
            state="dispatching",
            attempt=1,
            site="east",
            pool="east/nvidia_h100_sxm5",
            devices=1,
        )
    led.write(b)
    east.submit(
        SubmitRequest(
            reached.id, 1, make_tag(db.install_id, reached.id, 1), "x", "true", "h100", 1, 1
        )
    )
    ctl = control(db, sc, {"east": east, "west": west})
    ctl.start()
    try:
        wait_for(lambda: states(db, [reached.id, lost.id]) == ["done", "done"], what="done")
    finally:
        ctl.stop()
    assert east.submissions + west.submissions == 2  # one by hand + one re-dispatch
    assert [d.state for d in led.dispatches_of(reached.id)] == ["submitted"]
    assert [d.state for d in led.dispatches_of(lost.id)] == ["lost", "submitted"]


SPEC_1 = {"kind": "pretrain", "profile": "dl-training", "gang": 1, "work_pflop": 1.0}


def test_rounds_over_1000_queued_jobs_write_only_what_changed(db: Database) -> None:
    """Four jobs start, 996 wait, each with a reason; a second round changes nothing and
    writes nothing (its speed is measured by benchmarks/serve_bench.py)."""
    sc = two_sites()
    ctl: LiveControl = control(db, sc)
    ctl.state.set_site_up(0, True)
    ctl.state.set_site_up(1, True)
    ctl.sites["east"].reachable = ctl.sites["west"].reachable = True
    recs = submit(db, ctl, 1000, gang=4)
    ids = [rec.id for rec in recs]
    for rec in recs:
        ctl.book.admit(rec)
    ctl._flush()
    ctl.round_now()  # starts 4 jobs, the rest wait
    js = JobStore(db)
    decided = js.decisions(limit=5000)
    assert len(ctl.state.waiting) == 996
    assert sorted(states(db, ids)).count(JobState.DISPATCHING.value) == 4
    assert all(ctl.reason(i) for i in ids[4:]) and ctl.reason(ids[0]) is None
    assert "head of the queue" in (ctl.reason(ids[4]) or "")
    ctl.round_now()
    assert len(ctl.state.waiting) == 996 and len(ctl.book.submits) == 0
    assert js.decisions(limit=5000) == decided


def test_a_new_tenant_rebuilds_the_state_and_running_jobs_keep_their_places(
    db: Database,
) -> None:
    """A tenant created over the API rebuilds the scheduling tables: jobs running keep their
    devices (nothing is dispatched twice), waiting ones stay queued, the new tenant's run."""
    sc = two_sites()
    east, west = dry("east", 1.5), dry("west", 1.5)
    ctl = control(db, sc, {"east": east, "west": west})
    ctl.start()
    try:
        big = [r.id for r in submit(db, ctl, 3, gang=8)]  # one per site runs, one waits
        wait_for(lambda: sorted(states(db, big)) == ["queued", "running", "running"], what="2 run")
        before = ctl.state
        TenantStore(db).create("newco", "New Co", 1.0, 0)
        ctl.tenants_changed()
        wait_for(lambda: ctl.state is not before, what="rebuilt")
        assert "newco" in ctl.state.tables.tenant_ids
        new = submit(db, ctl, 1, tenant="newco")[0].id
        wait_for(lambda: set(states(db, [*big, new])) == {"done"}, 30, what="all done")
    finally:
        ctl.stop()
    assert east.submissions + west.submissions == 4  # each job once
