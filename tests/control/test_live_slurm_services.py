"""An online inference service on two real Slurm clusters: it scales from 1 to 3 replicas
and back to 1 as its demand changes, with no replica lost or doubled across a restart of
the control plane (issue 14, item 8).

"Not lost or doubled" is checked against Slurm itself: the running Slurm jobs of this
installation are exactly the live replica rows of the database (same sites, same external
ids) and as many as :meth:`LiveServing.replica_counts` counts; the replicas' external ids are
unique and unchanged across the restart, and the restart inserts no replica row.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from pathlib import Path

from devtools.slurm_local import LocalSlurmCluster

from suanli.clock import SystemClock
from suanli.config import load_scenario
from suanli.control.service import LiveControl
from suanli.model.scenario import Scenario
from suanli.sites.base import SiteBackend, SiteJobState, parse_tag
from suanli.sites.config import load_sites
from suanli.store.db import Database
from suanli.store.jobs import JobStore
from suanli.store.ledger import Ledger
from suanli.store.services import ServiceStore
from tests.control.helpers import FIXTURES, control, wait_for
from tests.control.test_live_slurm import sites_file
from tests.fixtures_infra import ClusterSpec, SlurmClusterFactory

SERVICE = "chat"
REGION = "shanghai"
POLICY = "reactive"

#: (site, external id) of a replica at its site.
Placed = tuple[str, str]


def scenario() -> Scenario:
    """The two local clusters' sites with the ``chat`` service, reactive ticks of 1 s."""
    return load_scenario(str(FIXTURES / "serve-services.yaml"))


def slurm_running(backends: Mapping[str, SiteBackend], install_id: str) -> dict[Placed, int]:
    """The Slurm jobs of this installation running now, per site: (site, external id) →
    database job id (from the job's tag), as the sites' own listings (``squeue``) say."""
    out: dict[Placed, int] = {}
    for site, backend in backends.items():
        listing = backend.list_jobs()
        assert listing.ok, f"squeue at {site} failed: {listing.error}"
        for j in listing.jobs:
            tag = parse_tag(j.tag, install_id)
            if tag is not None and j.state is SiteJobState.RUNNING:
                assert (site, j.external_id) not in out
                out[(site, j.external_id)] = tag[0]
    return out


def db_replicas(db: Database) -> dict[int, tuple[str, str | None, str | None]]:
    """Live replica rows of the service (``service_id`` set, state not final): job id →
    (state, site, external id)."""
    return {
        r.id: (r.state, r.site, r.external_id)
        for r in Ledger(db).active_jobs()
        if r.service_id == SERVICE
    }


def all_replica_rows(db: Database) -> list[int]:
    """Every replica row ever inserted for the service (ended ones included), by id."""
    return sorted(r.id for r in JobStore(db).page(limit=1000) if r.service_id == SERVICE)


class Checker:
    """Compares the database, the control plane and Slurm."""

    def __init__(self, db: Database, backends: Mapping[str, SiteBackend]) -> None:
        self.db = db
        self.backends = backends
        self.last = ""

    def live(self, ctl: LiveControl) -> int:
        """Replicas the control plane counts live (not draining)."""
        assert ctl.serving is not None
        with ctl.view_lock:
            return int(ctl.serving.replica_counts().get(SERVICE, 0))

    def consistent(self, ctl: LiveControl, n: int) -> bool:
        """Whether exactly ``n`` replicas run: in the control plane (none draining), in the
        database (all ``running`` with an external id) and at Slurm (the same jobs)."""
        rows = db_replicas(self.db)
        try:
            slurm = slurm_running(self.backends, self.db.install_id)
        except AssertionError as exc:  # squeue failed, or listed a job twice
            self.last = str(exc)
            return False
        assert ctl.serving is not None
        with ctl.view_lock:
            counted = int(ctl.serving.replica_counts().get(SERVICE, 0))
            view = ctl.serving.view(SERVICE, ctl.book.now_s())
        assert view is not None
        placed = {(site, ext) for _state, site, ext in rows.values()}
        self.last = (
            f"state_of={counted}, rows={rows}, slurm={slurm}, "
            f"view={[(r.job_id, r.state, r.external_id) for r in view.replicas]}"
        )
        return (
            counted == n
            and len(rows) == n
            and len(view.replicas) == n
            and all(r.state != "draining" for r in view.replicas)
            and all(state == "running" and ext is not None for state, _s, ext in rows.values())
            and len(placed) == n
            and set(slurm) == placed
            and all(slurm[(str(site), str(ext))] == i for i, (_st, site, ext) in rows.items())
        )

    def wait(self, ctl: LiveControl, n: int, timeout: float, what: str) -> dict[int, Placed]:
        """Wait until :meth:`consistent` with ``n`` replicas; their job id → (site, ext)."""
        try:
            wait_for(lambda: self.consistent(ctl, n), timeout, what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last seen: {self.last}") from None
        return {i: (str(site), str(ext)) for i, (_st, site, ext) in db_replicas(self.db).items()}

    def steady(self, ctl: LiveControl, n: int, seconds: float, what: str) -> None:
        """Stays consistent with ``n`` replicas for ``seconds`` (several serving ticks)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            assert self.consistent(ctl, n), f"{what}: {self.last}"
            time.sleep(0.2)


def set_demand(db: Database, ctl: LiveControl, rps: float) -> None:
    """Set the service's demand as the API does (``PATCH /v1/services/chat``)."""
    assert ServiceStore(db).update(SERVICE, demand_rps={REGION: rps}) is not None
    ctl.services_changed()


def new_control(db: Database, sc: Scenario, backends: dict[str, SiteBackend]) -> LiveControl:
    """A live control plane serving with the reactive policy (ticks of 1 s)."""
    return control(db, sc, backends, serving=POLICY)


def test_service_scales_across_restart(slurm_clusters: SlurmClusterFactory, tmp_path: Path) -> None:
    east_c, west_c = slurm_clusters(
        ClusterSpec("sdo", message_timeout=3), ClusterSpec("sdt", message_timeout=3)
    )
    clusters: dict[str, LocalSlurmCluster] = {"east": east_c, "west": west_c}
    sc = scenario()
    cfg = load_sites(sites_file(clusters), sc)
    db = Database(str(tmp_path / "services.db"))
    backends = cfg.build(SystemClock())
    check = Checker(db, backends)
    ctl = new_control(db, sc, backends)
    ctl.start()
    try:
        assert ctl.serving is not None and ctl.serving.policy_name == POLICY
        t = ctl.serving.srv.tables.services[0]
        assert t.service.id == SERVICE and t.service.min_replicas == 1
        # requests/s one replica serves at the policy's target load, on the pools it uses
        per = float(min(t.mu[p] for p in t.pools)) * 0.7
        assert per > 0 and math.isclose(float(max(t.mu[p] for p in t.pools)) * 0.7, per)
        low, high = 0.4 * per, 2.5 * per  # ⌈0.4⌉ = 1 replica, ⌈2.5⌉ = 3

        # the scenario's tiny demand: one replica (min_replicas), running at Slurm
        first = check.wait(ctl, 1, 30, "1 replica running")
        set_demand(db, ctl, low)
        check.steady(ctl, 1, 2.5, "1 replica at low demand")

        # 1 → 3
        set_demand(db, ctl, high)
        three = check.wait(ctl, 3, 30, "3 replicas running")
        assert set(first) <= set(three), "the first replica was replaced while scaling up"
        assert len(set(three.values())) == 3
        check.steady(ctl, 3, 2.5, "3 replicas at high demand")
        rows_before = all_replica_rows(db)
        assert sorted(rows_before) == sorted(three), (
            f"replica rows {rows_before} beside the 3 live ones {sorted(three)}"
        )

        # restart: stop the control plane, a new one on the same database and sites
        ctl.stop()
        assert len(slurm_running(backends, db.install_id)) == 3, "replicas stop with the server"
        backends = cfg.build(SystemClock())
        check = Checker(db, backends)
        ctl = new_control(db, sc, backends)
        ctl.start()
        assert ctl.serving is not None
        serving = ctl.serving
        t0 = ctl.book.now_s()
        wait_for(
            lambda: all(s.reachable for s in ctl.sites.values()) and serving.srv.last_t > t0 + 3,
            30,
            "sites reconciled and 3 serving ticks after the restart",
        )
        after = check.wait(ctl, 3, 10, "3 replicas after the restart")
        assert after == three, f"replicas changed across the restart: before {three}, after {after}"
        check.steady(ctl, 3, 2.5, "3 replicas after the restart")
        assert all_replica_rows(db) == rows_before, "the restart inserted replica rows"
        with ctl.view_lock:
            view = serving.view(SERVICE, ctl.book.now_s())
        assert view is not None
        assert {r.external_id for r in view.replicas} == {ext for _s, ext in three.values()}
        assert all(r.state == "ready" for r in view.replicas), (
            f"adopted replicas serve at once after a restart: {view.replicas}"
        )

        # 3 → 1: the newest two drain; the oldest stays
        set_demand(db, ctl, low)
        one = check.wait(ctl, 1, 30, "back to 1 replica")
        oldest = min(three)
        assert one == {oldest: three[oldest]}, f"kept {one}, expected the oldest of {three}"
        check.steady(ctl, 1, 2.5, "1 replica at low demand after the restart")
        js = JobStore(db)
        for i in sorted(set(three) - {oldest}):
            rec = js.get(i)
            assert rec is not None and rec.state == "cancelled", (i, rec)
            assert rec.reason is not None and "drained" in rec.reason, rec.reason
        assert all_replica_rows(db) == rows_before, "scaling down inserted replica rows"
    finally:
        ctl.stop()
        for (site, ext), _job in slurm_running(backends, db.install_id).items():
            backends[site].cancel(ext)
        db.dispose()
    east_c.wait_ready(60)
    west_c.wait_ready(60)
