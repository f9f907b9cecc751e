"""Replicas of a service in the live control plane on a stepped clock (dry-run sites):
they survive a rebuilt scheduling state and a restart without being lost or doubled, and
a replica row never dispatched before a crash is ended, not submitted."""

from __future__ import annotations

import math
from pathlib import Path

from suanli.clock import SteppedClock
from suanli.config import load_scenario
from suanli.control.service import LiveControl, LoopSettings
from suanli.sites.dryrun import DryRunSettings, DryRunSite
from suanli.store.db import Database
from suanli.store.jobs import JobStore
from suanli.store.tenants import TenantStore
from tests.control.helpers import FIXTURES

SETTINGS = LoopSettings(poll_s=0.0, sweep_s=math.inf, sample_s=math.inf, first_answer_s=0.0)


class Rig:
    """A stepped clock, dry-run sites that outlive control planes, one database."""

    def __init__(self, tmp: Path) -> None:
        self.sc = load_scenario(str(FIXTURES / "tiny-services.yaml"))
        self.clock = SteppedClock(self.sc.start.timestamp())
        self.db = Database(f"sqlite:///{tmp / 'live.db'}")
        TenantStore(self.db).ensure(
            ((t.id, t.name, t.weight, t.priority) for t in self.sc.tenants), "scenario"
        )
        self.sites = {
            s.id: DryRunSite(s.id, DryRunSettings(time_scale=1.0), self.clock)
            for s in self.sc.sites
        }

    def control(self) -> LiveControl:
        ctl = LiveControl(
            self.db, self.sc, dict(self.sites), policy="fifo", settings=SETTINGS, clock=self.clock
        )
        ctl.recover()
        return ctl

    def run(self, ctl: LiveControl, seconds: float, step_s: float = 60.0) -> None:
        for _ in range(round(seconds / step_s)):
            self.clock.set(self.clock.time() + step_s)
            for _ in range(2):
                for w in ctl.workers.values():
                    w.request_listing()
                ctl.run_sites()
                ctl.step()

    def replicas(self, ctl: LiveControl) -> dict[int, str]:
        """Live replicas: database id → the site's id for it."""
        assert ctl.serving is not None
        view = ctl.serving.view("chat", ctl.book.now_s())
        assert view is not None
        return {r.job_id: str(r.external_id) for r in view.replicas if r.state != "draining"}

    def site_jobs(self) -> set[str]:
        return {
            j.external_id
            for s in self.sites.values()
            for j in s.list_jobs().jobs
            if j.state.value in ("pending", "running")
        }


def test_replicas_survive_a_rebuild_and_a_restart(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    ctl = rig.control()
    rig.run(ctl, 3600)
    before = rig.replicas(ctl)
    assert len(before) >= 2, before  # the service's morning demand
    assert set(before.values()) <= rig.site_jobs()
    submissions = sum(s.submissions for s in rig.sites.values())

    # a new tenant rebuilds the scheduling state: the same replicas go on serving
    TenantStore(rig.db).create("newco", "New Co", 1.0, 0)
    state = ctl.state
    ctl.tenants_changed()
    rig.run(ctl, 60)
    assert ctl.state is not state
    assert rig.replicas(ctl) == before
    assert sum(s.submissions for s in rig.sites.values()) == submissions
    rig.run(ctl, 600)  # ticks go on after the rebuild
    assert ctl.serving is not None and ctl.serving.srv.last_t >= ctl.book.now_s() - 300

    # a restart between two ticks: the same replicas are taken over, none submitted again
    kept = rig.replicas(ctl)
    ctl.stop()
    again = rig.control()
    rig.run(again, 2, step_s=1)
    live = rig.replicas(again)
    assert live == kept
    assert set(live.values()) == rig.site_jobs()  # every job at the sites is one replica
    assert sum(s.submissions for s in rig.sites.values()) == submissions + len(
        set(kept) - set(before)
    )
    again.stop()


def test_a_replica_row_never_dispatched_is_ended(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    ctl = rig.control()
    rig.run(ctl, 600)
    ctl.stop()
    # the loop inserted a row, then died before writing its dispatch
    row, _ = JobStore(rig.db).submit(
        "lab",
        {"kind": "batch_inference", "profile": "serving", "gang": 1, "work_pflop": None},
        "exec sleep infinity",
        name="chat#r99",
        service_id="chat",
    )
    submissions = sum(s.submissions for s in rig.sites.values())
    again = rig.control()
    rig.run(again, 60)
    got = JobStore(rig.db).get(row.id)
    assert got is not None and got.state == "cancelled" and "not dispatched" in got.reason
    assert row.id not in rig.replicas(again)
    assert sum(s.submissions for s in rig.sites.values()) == submissions  # never submitted
    again.stop()
