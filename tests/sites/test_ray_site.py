"""RaySite against a real local Ray cluster: submit, list, logs, cancel, a duplicate
submission, a time limit, an unreachable cluster; and its requests, without Ray."""

from __future__ import annotations

import time

from devtools.ray_local import TcpRelay

from suanli.clock import SystemClock
from suanli.sites.base import LogsUnavailable, SiteJobState, SubmitRequest, make_tag, parse_tag
from suanli.sites.ray import RaySettings, RaySite, entrypoint_request, site_job
from tests.fixtures_infra import RayClusterFactory, RaySpec


def _req(
    job: int, cmd: str, per: int = 2, nodes: int = 1, limit: float | None = None
) -> SubmitRequest:
    tag = make_tag("t1", job, 1)
    return SubmitRequest(job, 1, tag, f"suanli-{job}", cmd, "h100", nodes, per, None, limit)


def test_requests_ask_for_typed_devices_and_gpus() -> None:
    cfg = RaySettings(address="http://x:8265/", env={"A": "1"})
    one = entrypoint_request(cfg, _req(7, "python train.py", per=4))
    assert one["submission_id"] == one["metadata"]["suanli_tag"] == "suanli:t1:7:1"
    assert one["entrypoint_resources"] == {"h100": 4.0} and one["entrypoint_num_gpus"] == 4.0
    assert one["runtime_env"]["env_vars"]["A"] == "1"
    assert one["runtime_env"]["env_vars"]["SUANLI_DEVICE_TYPE"] == "h100"
    npu = entrypoint_request(RaySettings(address="http://x", count_resource="NPU"), _req(7, "x"))
    assert npu["entrypoint_resources"] == {"h100": 2.0, "NPU": 2.0}
    assert "entrypoint_num_gpus" not in npu
    gang = entrypoint_request(cfg, _req(8, "python train.py", per=8, nodes=2))
    assert "entrypoint_resources" not in gang  # the job reserves its gang itself
    assert gang["runtime_env"]["env_vars"]["SUANLI_NODES"] == "2"
    limited = entrypoint_request(cfg, _req(9, "sleep 100", limit=30))
    assert limited["entrypoint"] == "timeout 30s sh -c 'sleep 100'"
    assert cfg.url("/api/jobs/") == "http://x:8265/api/jobs/"
    job = site_job(
        {
            "submission_id": "s",
            "status": "STOPPED",
            "metadata": {"suanli_tag": "t"},
            "start_time": 1000,
            "end_time": 3000,
            "driver_exit_code": 0,
        }
    )
    assert (job.state, job.start_time, job.end_time, job.exit_code) == (
        SiteJobState.CANCELLED,
        1.0,
        3.0,
        None,
    )
    assert site_job({"submission_id": "s", "status": "NEW_STATE"}).state is None


def _wait(site: RaySite, ext: str, states: set[str], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        listing = site.list_jobs()
        assert listing.ok, listing.error
        state = next((j.native_state for j in listing.jobs if j.external_id == ext), "")
        if state in states:
            return state
        time.sleep(0.5)
    raise AssertionError(f"job {ext} still {state!r}")


def test_submit_list_logs_cancel_and_outage(ray_clusters: RayClusterFactory) -> None:
    (cluster,) = ray_clusters(RaySpec("ray-a"))
    relay = TcpRelay("127.0.0.1", int(cluster.jobs_address.rsplit(":", 1)[1]))
    site = RaySite("ray-a", RaySettings(address=relay.address, timeout_s=10), SystemClock())
    try:
        ok = site.submit(_req(1, 'echo "gpus=$CUDA_VISIBLE_DEVICES type=$SUANLI_DEVICE_TYPE"'))
        assert ok.external_id == "suanli:t1:1:1" and not ok.rejected, ok.error
        again = site.submit(_req(1, "echo again"))  # the same dispatch twice: one job
        assert again.external_id == ok.external_id and not again.error
        assert _wait(site, ok.external_id, {"SUCCEEDED", "FAILED"}) == "SUCCEEDED"
        mine = [j for j in site.list_jobs().jobs if parse_tag(j.tag, "t1") == (1, 1)]
        assert len(mine) == 1 and mine[0].state is SiteJobState.DONE and mine[0].exit_code == 0
        out = site.logs(ok.external_id, 0)
        assert "gpus=0,1 type=h100" in out.text and out.end == len(out.text.encode())
        tail = site.logs(ok.external_id, -20)
        assert out.text.endswith(tail.text) and len(tail.text) == 20 and tail.end == out.end
        assert site.logs(ok.external_id, out.end).text == ""

        long = site.submit(_req(2, "sleep 60"))
        assert long.external_id is not None
        _wait(site, long.external_id, {"RUNNING"})
        assert site.cancel(long.external_id) is None
        assert _wait(site, long.external_id, {"STOPPED"}) == "STOPPED"
        assert site.cancel("suanli:t1:404:1") is None  # unknown ids count as gone

        timed = site.submit(_req(3, "sleep 60", limit=2))
        assert timed.external_id is not None
        assert _wait(site, timed.external_id, {"FAILED", "SUCCEEDED"}) == "FAILED"
        (late,) = [j for j in site.list_jobs().jobs if j.external_id == timed.external_id]
        assert late.state is SiteJobState.TIMEOUT and late.exit_code == 124

        relay.cut()  # the cluster goes on; suanli cannot reach it
        down = site.list_jobs()
        assert not down.ok and down.error
        uncertain = site.submit(_req(4, "true"))
        assert uncertain.external_id is None and not uncertain.rejected
        try:
            site.logs(ok.external_id, 0)
            raise AssertionError("logs of an unreachable cluster")
        except LogsUnavailable as exc:
            assert "did not answer" in str(exc)
        relay.restore()
        assert site.list_jobs().ok
    finally:
        relay.close()
