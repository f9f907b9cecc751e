"""Reconciliation of tracked jobs with a site's listing (pure)."""

from __future__ import annotations

from suanli.control.reconcile import Tracked, reconcile, state_of
from suanli.executor.site import Listing, SlurmJobInfo, make_tag
from suanli.store.schema import JobState

INST = "i1"


def info(job: int, attempt: int, state: str, sid: int) -> SlurmJobInfo:
    return SlurmJobInfo(sid, state, "None", make_tag(INST, job, attempt), 0, 1.0, None)


def listing(*jobs: SlurmJobInfo, started: float = 100.0) -> Listing:
    return Listing("a", True, "", tuple(jobs), started)


def test_states() -> None:
    assert state_of("PENDING") is JobState.PENDING
    assert state_of("completing") is JobState.RUNNING
    assert state_of("NODE_FAIL") is JobState.FAILED
    assert state_of("WHATEVER") is None


def test_found_jobs_are_updated_and_adopted() -> None:
    tracked = [
        Tracked(1, 1, JobState.PENDING, 11, 50.0),
        Tracked(2, 1, JobState.DISPATCHING, None, 50.0),  # crashed before recording the id
        Tracked(3, 1, JobState.RUNNING, 13, 50.0),
    ]
    rec = reconcile(
        tracked,
        listing(info(1, 1, "RUNNING", 11), info(2, 1, "PENDING", 12), info(3, 1, "RUNNING", 13)),
        INST,
    )
    got = {
        c.job_id: (c.action, c.state, c.slurm.slurm_job_id if c.slurm else None)
        for c in rec.changes
    }
    assert got == {1: ("update", JobState.RUNNING, 11), 2: ("update", JobState.PENDING, 12)}
    assert rec.strays == () and rec.duplicates == 0


def test_missing_jobs_are_judged_only_after_their_submission() -> None:
    tracked = [
        Tracked(1, 1, JobState.DISPATCHING, None, None),  # sbatch still running
        Tracked(2, 1, JobState.DISPATCHING, None, 99.5),  # ended just before the listing
        Tracked(3, 1, JobState.DISPATCHING, None, 90.0),  # long before: never arrived
        Tracked(4, 1, JobState.RUNNING, 14, 90.0),  # Slurm forgot it
    ]
    rec = reconcile(tracked, listing(), INST, grace_s=1.0)
    assert {c.job_id: c.action for c in rec.changes} == {3: "requeue", 4: "vanished"}


def test_strays_and_duplicates_are_reported() -> None:
    tracked = [Tracked(1, 2, JobState.PENDING, 21, 50.0)]
    rec = reconcile(
        tracked,
        listing(
            info(1, 1, "RUNNING", 20),  # an older attempt still running: stray
            info(1, 2, "PENDING", 21),
            info(1, 2, "PENDING", 22),  # the same tag twice: duplicate
            info(9, 1, "COMPLETED", 23),  # an old finished job: ignored
            SlurmJobInfo(30, "RUNNING", "", "someone else's", None, None, None),
        ),
        INST,
    )
    assert rec.duplicates == 1
    assert sorted(s.slurm_job_id for s in rec.strays) == [20, 22]
    assert rec.changes == ()
