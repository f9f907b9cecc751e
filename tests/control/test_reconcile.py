"""Reconciliation of tracked jobs with a site's listing (pure)."""

from __future__ import annotations

from suanli.control.reconcile import Tracked, reconcile, state_of
from suanli.sites.base import Listing, SiteJob, SiteJobState, make_tag
from suanli.sites.slurm.backend import state_of as slurm_state
from suanli.store.schema import JobState

INST = "i1"


def info(job: int, attempt: int, native: str, sid: int) -> SiteJob:
    tag = make_tag(INST, job, attempt)
    return SiteJob(str(sid), slurm_state(native), native, "None", tag, 0, 1.0, None)


def listing(*jobs: SiteJob, started: float = 100.0) -> Listing:
    return Listing("a", True, "", tuple(jobs), started)


def test_states() -> None:
    assert slurm_state("PENDING") is SiteJobState.PENDING
    assert slurm_state("completing") is SiteJobState.RUNNING
    assert slurm_state("NODE_FAIL") is SiteJobState.FAILED
    assert slurm_state("WHATEVER") is None
    assert state_of(info(1, 1, "COMPLETED", 1)) is JobState.DONE
    assert state_of(info(1, 1, "WHATEVER", 1)) is None
    assert {JobState(s.value) for s in SiteJobState} <= set(JobState)  # names defined once


def test_found_jobs_are_updated_and_adopted() -> None:
    tracked = [
        Tracked(1, 1, JobState.PENDING, "11", 50.0),
        Tracked(2, 1, JobState.DISPATCHING, None, 50.0),  # crashed before recording the id
        Tracked(3, 1, JobState.RUNNING, "13", 50.0),
    ]
    rec = reconcile(
        tracked,
        listing(info(1, 1, "RUNNING", 11), info(2, 1, "PENDING", 12), info(3, 1, "RUNNING", 13)),
        INST,
    )
    got = {
        c.job_id: (c.action, c.state, c.site_job.external_id if c.site_job else None)
        for c in rec.changes
    }
    assert got == {1: ("update", JobState.RUNNING, "11"), 2: ("update", JobState.PENDING, "12")}
    assert rec.strays == () and rec.duplicates == 0


def test_missing_jobs_are_judged_only_after_their_submission() -> None:
    tracked = [
        Tracked(1, 1, JobState.DISPATCHING, None, None),  # the submission still runs
        Tracked(2, 1, JobState.DISPATCHING, None, 99.5),  # ended just before the listing
        Tracked(3, 1, JobState.DISPATCHING, None, 90.0),  # long before: never arrived
        Tracked(4, 1, JobState.RUNNING, "14", 90.0),  # the site forgot it
    ]
    rec = reconcile(tracked, listing(), INST, grace_s=1.0)
    assert {c.job_id: c.action for c in rec.changes} == {3: "requeue", 4: "vanished"}


def test_strays_and_duplicates_are_reported() -> None:
    tracked = [Tracked(1, 2, JobState.PENDING, "21", 50.0)]
    rec = reconcile(
        tracked,
        listing(
            info(1, 1, "RUNNING", 20),  # an older attempt still running: stray
            info(1, 2, "PENDING", 21),
            info(1, 2, "PENDING", 22),  # the same tag twice: duplicate
            info(9, 1, "COMPLETED", 23),  # an old finished job: ignored
            info(1, 3, "WHATEVER", 24),  # a state suanli does not know: left alone
            SiteJob("30", SiteJobState.RUNNING, "RUNNING", "", "someone else's", None, None, None),
            info(9, 2, "RUNNING", 100),  # ids sort as numbers: 100 after 23
        ),
        INST,
    )
    assert rec.duplicates == 1
    assert [s.external_id for s in rec.strays] == ["22", "20", "100"]
    assert rec.changes == ()
