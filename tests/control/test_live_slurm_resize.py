"""Resizing an elastic job live (issue 15, item 2): on a real Slurm cluster ``suanli``
grows a running 4–8 job when the devices beside it free — the job is cancelled and
submitted again on eight devices (two nodes of four) as its next attempt; on a site whose
sites file says ``resize: false`` the same job keeps its four."""

from __future__ import annotations

import time
from pathlib import Path

from suanli.clock import SystemClock
from suanli.config import load_scenario
from suanli.control.service import LiveControl
from suanli.core.jobtable import JobTable
from suanli.core.tables import build_tables
from suanli.model.job import Job, JobKind
from suanli.sites.base import Feature
from suanli.sites.config import load_sites
from suanli.sites.dryrun import DryRunSettings, DryRunSite
from suanli.store.db import Database
from suanli.store.jobs import JobStore
from tests.control.helpers import FIXTURES, control, states, submit, wait_for
from tests.control.test_live_slurm import sites_file
from tests.control.test_live_slurm_moves import ours_running
from tests.fixtures_infra import ClusterSpec, SlurmClusterFactory

V100 = "nvidia_v100_sxm2_32g"
ELASTIC = dict(
    gang=4,
    gang_max=8,
    work_pflop=1e6,
    accepted_types=[V100],
    checkpoint_interval_s=0.0,
    restart_cost_s=0.0,
    command="sleep 300",
)


def _grow_then_check(ctl: LiveControl, db: Database, grows: bool, blocker_pflop: float) -> int:
    """A 4-device blocker runs a few seconds beside the elastic job, then ends; returns the
    elastic job's id once it was seen to grow onto all eight devices (or, if not
    ``grows``, to keep its four for a while after the blocker ended)."""
    js = JobStore(db)
    blocker = submit(
        db, ctl, gang=4, accepted_types=[V100], work_pflop=blocker_pflop, command="sleep 5"
    )[0].id
    wait_for(lambda: states(db, [blocker]) == ["running"], 30, "blocker running at east")
    grower = submit(db, ctl, **ELASTIC)[0].id
    wait_for(lambda: states(db, [grower]) == ["running"], 30, "elastic job running")
    rec = js.get(grower)
    assert rec is not None and (rec.site, rec.attempt, rec.devices) == ("east", 1, 4), rec
    wait_for(lambda: states(db, [blocker]) == ["done"], 60, "blocker done")
    if grows:

        def grown() -> bool:
            r = js.get(grower)
            return r is not None and (r.state, r.attempt, r.devices) == ("running", 2, 8)

        try:
            wait_for(grown, 60, "elastic job running on 8 devices as its second attempt")
        except AssertionError as exc:
            seen = [(d.action, d.site, d.detail) for d in js.decisions(job_id=grower)]
            raise AssertionError(f"{exc}: {js.get(grower)}, decisions {seen}") from None
    else:
        time.sleep(3.0)  # the loop polls every 0.1 s: time enough to have resized
        rec = js.get(grower)
        assert rec is not None and (rec.state, rec.attempt, rec.devices) == ("running", 1, 4)
        assert not any(d.action == "preempt" for d in js.decisions(job_id=grower))
    return grower


def test_suanli_grows_a_running_job_on_slurm(
    slurm_clusters: SlurmClusterFactory, tmp_path: Path
) -> None:
    (east_c,) = slurm_clusters(ClusterSpec("sdr", message_timeout=3))
    sc = load_scenario(str(FIXTURES / "resize-live.yaml"))
    sites = sites_file({"east": east_c})
    sites["device_types"] = {V100: "h100"}  # fake GPUs
    cfg = load_sites(sites, sc)
    db = Database(str(tmp_path / "resize.db"))
    backends = cfg.build(SystemClock())
    ctl = control(db, sc, backends, policy="suanli")
    ctl.start()
    js = JobStore(db)
    try:
        grower = _grow_then_check(ctl, db, grows=True, blocker_pflop=1.0)
        assert (grower, 2) in ours_running(backends["east"], db.install_id)
        wait_for(
            lambda: (grower, 1) not in ours_running(backends["east"], db.install_id),
            30,
            "the first attempt gone from squeue",
        )
        actions = [(d.action, d.site) for d in reversed(js.decisions(job_id=grower))]
        starts = [a for a in actions if a[0] in ("start", "preempt")]
        assert starts == [("start", "east"), ("preempt", "east"), ("start", "east")], actions
        why = next(d.detail for d in js.decisions(job_id=grower) if d.action == "preempt")
        assert why.startswith("resized: grew to 8 devices"), why
        js.request_cancel(grower)
        ctl.cancel_requested(grower)
        wait_for(lambda: states(db, [grower]) == ["cancelled"], 30, "grower cancelled")
    finally:
        ctl.stop()
        db.dispose()


def test_a_site_that_cannot_resize_keeps_the_jobs_shape(tmp_path: Path) -> None:
    """A dry-run site told ``resize: false``: the state knows it cannot resize there and
    ``suanli`` does not ask; with the default it grows the same job (the control case)."""
    sc = load_scenario(str(FIXTURES / "resize-live.yaml"))
    tables = build_tables(sc)
    rate4 = (
        JobTable([], tables)
        .candidates_of(Job("x", "lab", JobKind.PRETRAIN, "dl-training", 0.0, 4, 1.0))[0]
        .rate
    )
    for resize in (False, True):
        site = DryRunSite("east", DryRunSettings(time_scale=1.0, resize=resize), SystemClock())
        assert (Feature.RESIZE in site.unsupported) is not resize
        db = Database(str(tmp_path / f"resize-{resize}.db"))
        ctl = control(db, sc, {"east": site}, policy="suanli")
        ctl.start()
        try:
            assert ctl.book.state.site_can_resize == [resize]
            _grow_then_check(ctl, db, grows=resize, blocker_pflop=2.0 * 4 * rate4)
        finally:
            ctl.stop()
            db.dispose()
