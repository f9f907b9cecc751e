"""SlurmSite against a real local Slurm cluster: submit, list, cancel, reject, outage."""

from __future__ import annotations

import time

from suanli.clock import SystemClock
from suanli.sites.base import SiteJobState, SubmitRequest, make_tag, parse_tag
from suanli.sites.slurm.backend import SlurmSettings, SlurmSite
from tests.fixtures_infra import ClusterSpec, SlurmClusterFactory


def _wait_state(site: SlurmSite, ext: str, states: set[str], timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        listing = site.list_jobs()
        assert listing.ok, listing.error
        state = next((j.native_state for j in listing.jobs if j.external_id == ext), "")
        if state in states:
            return state
        time.sleep(0.3)
    raise AssertionError(f"job {ext} still {state!r}")


def test_submit_list_cancel_and_outage(slurm_clusters: SlurmClusterFactory) -> None:
    (cluster,) = slurm_clusters(ClusterSpec("sxa", message_timeout=3))
    settings = SlurmSettings(slurm_conf=cluster.conf_path, timeout_s=20, allow_root=True)
    site = SlurmSite("sxa", settings, SystemClock())

    def req(job: int, nodes: int, per: int, cmd: str, gres: str = "h100") -> SubmitRequest:
        return SubmitRequest(job, 1, make_tag("t1", job, 1), f"suanli-{job}", cmd, gres, nodes, per)

    gang = site.submit(req(1, 2, 4, 'test "$CUDA_VISIBLE_DEVICES" = 0,1,2,3'))
    assert gang.external_id is not None, gang.error
    assert _wait_state(site, gang.external_id, {"COMPLETED", "FAILED"}) == "COMPLETED"
    listing = site.list_jobs()
    mine = [j for j in listing.jobs if parse_tag(j.tag, "t1") == (1, 1)]
    assert len(mine) == 1 and mine[0].exit_code == 0 and mine[0].state is SiteJobState.DONE

    bad = site.submit(req(2, 1, 9, "true"))  # more GPUs per node than any node has
    assert bad.external_id is None and bad.rejected, bad
    unknown_type = site.submit(req(3, 1, 1, "true", gres="nosuch"))
    assert unknown_type.rejected

    long = site.submit(req(4, 1, 1, "sleep 60"))
    assert long.external_id is not None
    _wait_state(site, long.external_id, {"RUNNING"})
    assert site.cancel(long.external_id) is None
    assert _wait_state(site, long.external_id, {"CANCELLED"}) == "CANCELLED"
    assert site.cancel("999999") is None  # unknown ids count as gone

    cluster.stop_controller()
    try:
        down = site.list_jobs()
        assert not down.ok and down.error
        uncertain = site.submit(req(5, 1, 1, "true"))
        assert uncertain.external_id is None and not uncertain.rejected
    finally:
        cluster.start_controller()
        cluster.wait_ready(idle=False)
    assert site.list_jobs().ok
