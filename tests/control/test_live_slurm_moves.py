"""A running job moves to faster devices at another real Slurm cluster (issue 18, item 1):
``fifo-het`` moves it when the fast site frees; live, the move is a requeue with the new
placement — the job is cancelled at its old cluster (squeue no longer lists it there) and
dispatched to the new one as its second attempt."""

from __future__ import annotations

from pathlib import Path

from suanli.clock import SystemClock
from suanli.config import load_scenario
from suanli.sites.base import SiteBackend, SiteJobState, parse_tag
from suanli.sites.config import load_sites
from suanli.store.db import Database
from suanli.store.jobs import JobStore
from tests.control.helpers import FIXTURES, control, states, submit, wait_for
from tests.control.test_live_slurm import sites_file
from tests.fixtures_infra import ClusterSpec, SlurmClusterFactory

H100 = "nvidia_h100_sxm5"


def ours_running(backend: SiteBackend, install_id: str) -> set[tuple[int, int]]:
    """(job id, attempt) of this installation's jobs running at a site, as squeue says."""
    listing = backend.list_jobs()
    assert listing.ok, listing.error
    out = set()
    for j in listing.jobs:
        tag = parse_tag(j.tag, install_id)
        if tag is not None and j.state is SiteJobState.RUNNING:
            out.add(tag)
    return out


def test_a_running_job_moves_to_the_faster_cluster(
    slurm_clusters: SlurmClusterFactory, tmp_path: Path
) -> None:
    east_c, west_c = slurm_clusters(
        ClusterSpec("sdo", message_timeout=3), ClusterSpec("sdt", message_timeout=3)
    )
    sc = load_scenario(str(FIXTURES / "moves-live.yaml"))
    sites = sites_file({"east": east_c, "west": west_c})
    sites["device_types"] = {H100: "h100", "nvidia_v100_sxm2_32g": "h100"}  # fake GPUs
    cfg = load_sites(sites, sc)
    db = Database(str(tmp_path / "moves.db"))
    backends = cfg.build(SystemClock())
    ctl = control(db, sc, backends, policy="fifo-het")
    ctl.start()
    js = JobStore(db)
    try:
        # the fast cluster is full for a few seconds; the mover starts on the slow one
        blocker = submit(db, ctl, gang=8, accepted_types=[H100], command="sleep 6")[0].id
        wait_for(lambda: states(db, [blocker]) == ["running"], 30, "blocker running at west")
        mover = submit(db, ctl, gang=4, work_pflop=1e6, command="sleep 300")[0].id
        wait_for(lambda: states(db, [mover]) == ["running"], 30, "mover running at east")
        rec = js.get(mover)
        assert rec is not None and (rec.site, rec.attempt) == ("east", 1)
        assert (mover, 1) in ours_running(backends["east"], db.install_id)

        # the blocker ends; fifo-het moves the mover up: cancelled at east, attempt 2 at west
        def moved() -> bool:
            r = js.get(mover)
            return r is not None and (r.state, r.site, r.attempt) == ("running", "west", 2)

        try:
            wait_for(moved, 60, "mover running at west as its second attempt")
        except AssertionError as exc:
            r, b = js.get(mover), js.get(blocker)
            seen = [(d.action, d.site, d.detail) for d in js.decisions(job_id=mover)]
            raise AssertionError(f"{exc}: mover {r}, blocker {b}, decisions {seen}") from None
        assert states(db, [blocker]) == ["done"]
        assert (mover, 2) in ours_running(backends["west"], db.install_id)
        wait_for(
            lambda: not ours_running(backends["east"], db.install_id),
            30,
            "nothing of ours left running at east",
        )
        actions = [(d.action, d.site) for d in reversed(js.decisions(job_id=mover))]
        starts = [a for a in actions if a[0] in ("start", "preempt")]
        assert starts == [("start", "east"), ("preempt", "east"), ("start", "west")], actions
        why = next(d.detail for d in js.decisions(job_id=mover) if d.action == "preempt")
        assert why.startswith("migrated: faster devices"), why
        js.request_cancel(mover)
        ctl.cancel_requested(mover)
        wait_for(lambda: states(db, [mover]) == ["cancelled"], 30, "mover cancelled")
    finally:
        ctl.stop()
        db.dispose()
