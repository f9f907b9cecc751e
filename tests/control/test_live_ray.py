"""The control plane on two real Ray clusters, through the API: jobs run at the right
cluster with the right resources, their logs are read back, and an outage of one cluster
loses and duplicates nothing."""

from __future__ import annotations

import time
from pathlib import Path

from devtools.ray_local import TcpRelay
from fastapi.testclient import TestClient

from suanli.api.app import create_app
from suanli.api.services import build_services
from suanli.clock import SystemClock
from suanli.control.service import LoopSettings
from suanli.sites.base import SiteJob, parse_tag
from suanli.sites.config import load_sites
from suanli.sites.ray import RaySettings, RaySite
from tests.api.conftest import ADMIN, bearer
from tests.control.helpers import two_sites, wait_for
from tests.fixtures_infra import RayClusterFactory, RaySpec

ECHO = 'echo "gpus=$CUDA_VISIBLE_DEVICES type=$SUANLI_DEVICE_TYPE nodes=$SUANLI_NODES"'


def test_jobs_logs_and_an_outage_on_ray(ray_clusters: RayClusterFactory, tmp_path: Path) -> None:
    east_c, west_c = ray_clusters(RaySpec("ray-a"), RaySpec("ray-b"))
    relay = TcpRelay("127.0.0.1", int(east_c.jobs_address.rsplit(":", 1)[1]))
    sc = two_sites()
    sites = load_sites(
        {
            "device_types": {"nvidia_h100_sxm5": "h100"},
            "sites": {
                "east": {"backend": "ray", "address": relay.address, "timeout_s": 5},
                "west": {"backend": "ray", "address": west_c.jobs_address},
            },
        },
        sc,
    )
    svc = build_services(
        sc,
        str(tmp_path / "ray.db"),
        sites,
        policy="backfill",  # its placements: the tenant's home site (east) first
        admin_token=ADMIN,
        loop=LoopSettings(poll_s=0.5, grace_s=0.5),
    )
    install = svc.db.install_id

    def at(cluster_address: str) -> list[SiteJob]:
        listing = RaySite("x", RaySettings(address=cluster_address), SystemClock()).list_jobs()
        assert listing.ok, listing.error
        return [j for j in listing.jobs if parse_tag(j.tag, install) is not None]

    try:
        with TestClient(create_app(svc)) as c:
            r = c.post("/v1/tenants/lab/tokens", json={}, headers=bearer(ADMIN))
            lab = bearer(r.json()["token"])

            def submit(command: str, gang: int = 4) -> int:
                body = {"profile": "dl-training", "gang": gang, "work_pflop": 1.0}
                resp = c.post("/v1/jobs", json={**body, "command": command}, headers=lab)
                assert resp.status_code == 201, resp.text
                return int(resp.json()["id"])

            def state(job: int) -> str:
                return str(c.get(f"/v1/jobs/{job}", headers=lab).json()["state"])

            first = submit(ECHO)
            wait_for(lambda: state(first) == "done", 60, "the first job done")
            job = c.get(f"/v1/jobs/{first}", headers=lab).json()
            assert job["site"] == "east" and job["site_state"] == "SUCCEEDED"
            logs = c.get(f"/v1/jobs/{first}/logs", headers=lab)
            assert logs.status_code == 200, logs.text
            assert "gpus=0,1,2,3 type=h100 nodes=1" in logs.json()["logs"]
            assert [j.external_id for j in at(east_c.jobs_address)] == [job["external_id"]]
            assert at(west_c.jobs_address) == []

            long = [submit("sleep 300") for _ in range(2)]  # east's 8 devices
            wait_for(lambda: [state(j) for j in long] == ["running"] * 2, 60, "running at east")
            relay.cut()
            wait_for(lambda: [state(j) for j in long] == ["unknown"] * 2, 30, "unknown")
            assert c.get(f"/v1/jobs/{first}/logs", headers=lab).status_code == 502
            fresh = submit(ECHO)
            wait_for(lambda: state(fresh) == "done", 60, "new work done at west")
            assert c.get(f"/v1/jobs/{fresh}", headers=lab).json()["site"] == "west"
            assert "type=h100" in c.get(f"/v1/jobs/{fresh}/logs", headers=lab).json()["logs"]
            relay.restore()
            wait_for(lambda: [state(j) for j in long] == ["running"] * 2, 30, "reconciled")
            for j in long:
                assert c.post(f"/v1/jobs/{j}/cancel", headers=lab).status_code == 202
            wait_for(lambda: [state(j) for j in long] == ["cancelled"] * 2, 30, "cancelled")
            queued = submit("true", gang=64 // 8)  # a fresh job is still fine afterwards
            wait_for(lambda: state(queued) == "done", 60, "last job done")
    finally:
        relay.close()
        svc.control.stop()
        svc.db.dispose()
    ids = [parse_tag(j.tag, install) for j in at(east_c.jobs_address) + at(west_c.jobs_address)]
    jobs = sorted(t[0] for t in ids if t is not None)
    assert jobs == sorted({first, fresh, queued, *long})  # each once, none twice
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # Ray marks a stopped job after its process ends
        stopped = [j for j in at(east_c.jobs_address) if j.native_state == "STOPPED"]
        if len(stopped) == 2:
            break
        time.sleep(0.5)
    assert len(stopped) == 2
