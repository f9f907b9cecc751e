"""The live control plane on two real Slurm clusters: a controller outage and recovery."""

from __future__ import annotations

from pathlib import Path

from devtools.slurm_local import LocalSlurmCluster

from suanli.clock import SystemClock
from suanli.control.service import LiveControl
from suanli.sites.config import load_sites
from suanli.store.db import Database
from suanli.store.jobs import JobStore
from tests.control.helpers import control, states, submit, two_sites, wait_for
from tests.fixtures_infra import ClusterSpec, SlurmClusterFactory


def sites_file(sites: dict[str, LocalSlurmCluster], timeout_s: float = 20) -> dict[str, object]:
    """A sites file (as parsed YAML) putting each site on a local Slurm cluster (jobs run
    as root, as the local clusters need: ``allow_root``)."""
    return {
        "device_types": {"nvidia_h100_sxm5": "h100"},
        "sites": {
            s: {
                "backend": "slurm",
                "slurm_conf": str(c.conf_path),
                "timeout_s": timeout_s,
                "allow_root": True,
            }
            for s, c in sites.items()
        },
    }


def test_controller_outage(slurm_clusters: SlurmClusterFactory, tmp_path: Path) -> None:
    east_c, west_c = slurm_clusters(
        ClusterSpec("sdo", message_timeout=3), ClusterSpec("sdt", message_timeout=3)
    )
    sc = two_sites()
    cfg = load_sites(sites_file({"east": east_c, "west": west_c}), sc)
    db = Database(str(tmp_path / "outage.db"))
    ctl: LiveControl = control(db, sc, cfg.build(SystemClock()))
    ctl.start()
    js = JobStore(db)
    try:
        long = [r.id for r in submit(db, ctl, 2, command="sleep 60")]
        short = submit(db, ctl, 1, command="sleep 4")[0].id
        wait_for(lambda: states(db, [*long, short]) == ["running"] * 3, 30, "running at east")
        assert {js.get(i).site for i in [*long, short]} == {"east"}  # type: ignore[union-attr]

        east_c.stop_controller()
        wait_for(lambda: states(db, [*long, short]) == ["unknown"] * 3, 30, "unknown")
        assert js.get(long[0]).last_state == "running"  # type: ignore[union-attr]
        assert ctl.sites["east"].reachable is False
        fresh = [r.id for r in submit(db, ctl, 2, command="sleep 1")]
        wait_for(lambda: states(db, fresh) == ["done"] * 2, 30, "new work done at west")
        assert {js.get(i).site for i in fresh} == {"west"}  # type: ignore[union-attr]
        assert states(db, [*long, short]) == ["unknown"] * 3  # never failed meanwhile

        east_c.start_controller()
        wait_for(lambda: states(db, long) == ["running"] * 2, 30, "long jobs reconciled")
        # the short job ended during the outage; slurmstepd reports it ~15 s later
        wait_for(lambda: states(db, [short]) == ["done"], 60, "short job reconciled as done")
        for i in long:
            js.request_cancel(i)
            ctl.cancel_requested(i)
        wait_for(lambda: states(db, long) == ["cancelled"] * 2, 30, "cancelled")
    finally:
        ctl.stop()
        if not east_c.controller_running:
            east_c.start_controller()
        db.dispose()
    events = [e.state for e in js.events(long[0])]
    changes = [s for i, s in enumerate(events) if i == 0 or events[i - 1] != s]
    assert changes[-4:] == ["running", "unknown", "running", "cancelled"], events
    east_c.wait_ready(60)
    west_c.wait_ready(60)
