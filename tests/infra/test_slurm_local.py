"""Real local Slurm clusters: jobs run on fake GPUs, state is readable, outages are survivable."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from devtools.slurm_local import (
    LocalSlurmCluster,
    LocalSlurmError,
    NodeShape,
    pick_free_ports,
    unavailable_reason,
)

from tests.fixtures_infra import ClusterSpec, SlurmClusterFactory, infra_missing

Job = dict[str, Any]


# ---------------------------------------------------------------------- helpers


def sbatch(cluster: LocalSlurmCluster, workdir: Path, *args: str) -> int:
    """Submit a batch job; its output goes to ``workdir/<jobid>.out``. Returns the job id."""
    done = cluster.run(
        "sbatch",
        "--parsable",
        f"--chdir={workdir}",
        f"--output={workdir}/%j.out",
        *args,
        check=True,
    )
    return int(done.stdout.strip().split(";")[0])


def squeue_jobs(cluster: LocalSlurmCluster) -> dict[int, Job]:
    """All jobs the controller knows (``squeue --json`` ignores filters in Slurm 22.05)."""
    done = cluster.run("squeue", "--json", check=True)
    doc = json.loads(done.stdout)
    assert doc["errors"] == [], doc["errors"]
    return {int(job["job_id"]): job for job in doc["jobs"]}


def wait_for(
    cluster: LocalSlurmCluster, job_id: int, states: set[str], timeout: float = 30.0
) -> Job:
    """Poll ``squeue --json`` until job ``job_id`` is in one of ``states``."""
    deadline = time.monotonic() + timeout
    job: Job | None = None
    while time.monotonic() < deadline:
        job = squeue_jobs(cluster).get(job_id)
        if job is not None and job["job_state"] in states:
            return job
        time.sleep(0.2)
    state = None if job is None else (job["job_state"], job["state_reason"])
    message = f"job {job_id} on {cluster.name} not in {states} after {timeout} s: {state}"
    raise AssertionError(message)


def scontrol_job(cluster: LocalSlurmCluster, job_id: int) -> dict[str, str]:
    """``scontrol -o show job`` as a dict (``scontrol --json`` does not exist in 22.05)."""
    done = cluster.run("scontrol", "-o", "show", "job", str(job_id), check=True)
    fields: dict[str, str] = {}
    for item in done.stdout.split():
        key, sep, value = item.partition("=")
        if sep:
            fields[key] = value
    return fields


def cancel_all(cluster: LocalSlurmCluster, *job_ids: int) -> None:
    """Cancel jobs and wait until the nodes are idle again, for the tests that follow."""
    if job_ids:
        cluster.run("scancel", *map(str, job_ids), check=True)
    cluster.wait_ready(30.0)


@pytest.fixture(scope="module")
def site_a(slurm_clusters: SlurmClusterFactory) -> LocalSlurmCluster:
    """Cluster ``a``: two nodes with four fake H100 each."""
    (cluster,) = slurm_clusters("a")
    return cluster


# ---------------------------------------------------------------------- without daemons


def test_pick_free_ports_distinct_and_bindable() -> None:
    ports = pick_free_ports(20, exclude=[20000])
    assert len(set(ports)) == 20
    assert all(20000 < p < 32000 for p in ports)
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", ports[0]))


def test_cluster_arguments_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cluster name"):
        LocalSlurmCluster(tmp_path, name="Site A")
    with pytest.raises(ValueError, match="ports"):
        LocalSlurmCluster(tmp_path, name="a", nodes=2, ports=[20001])
    with pytest.raises(ValueError, match="gpu_type"):
        NodeShape(gpus=1, gpu_type="H100!")
    with pytest.raises(ValueError, match=r"longer than"):
        LocalSlurmCluster(tmp_path / ("x" * 80), name="a")
    cluster = LocalSlurmCluster(
        tmp_path, name="mix", nodes=[NodeShape(4, "h100"), NodeShape(8, "ascend910b")]
    )
    assert cluster.node_names == ["mix-1", "mix-2"]
    assert cluster.gpus_by_type == {"h100": 4, "ascend910b": 8}
    assert cluster.total_gpus == 12
    assert cluster.env["SLURM_CONF"] == str(tmp_path / "slurm.conf")


def test_env_drops_outer_slurm_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    monkeypatch.setenv("SLURM_CONF", "/etc/slurm/slurm.conf")
    env = LocalSlurmCluster(tmp_path, name="a").env
    assert "SLURM_JOB_ID" not in env
    assert env["SLURM_CONF"] == str(tmp_path / "slurm.conf")


# ---------------------------------------------------------------------- real clusters


def test_cluster_info(site_a: LocalSlurmCluster) -> None:
    assert [n.name for n in site_a.nodes] == ["a-1", "a-2"]
    assert site_a.gpus_by_type == {"h100": 8}
    assert all(len(n.devices) == 4 and n.gres == "gpu:h100:4" for n in site_a.nodes)
    assert all(Path(d).is_char_device() for n in site_a.nodes for d in n.devices)
    assert site_a.node_states() == {"a-1": "idle", "a-2": "idle"}
    info = json.loads(site_a.run("sinfo", "--json", check=True).stdout)
    assert {n["name"]: n["gres"] for n in info["nodes"]} == {
        "a-1": "gpu:h100:4",
        "a-2": "gpu:h100:4",
    }
    assert {n["port"] for n in info["nodes"]} == {n.port for n in site_a.nodes}


def test_gpu_job_runs_with_cuda_visible_devices(site_a: LocalSlurmCluster, tmp_path: Path) -> None:
    job_id = sbatch(
        site_a,
        tmp_path,
        "--gres=gpu:h100:2",
        "-N1",
        "--wrap",
        "echo CVD=$CUDA_VISIBLE_DEVICES; sleep 1",
    )
    job = wait_for(site_a, job_id, {"COMPLETED"})
    assert job["exit_code"] == 0
    assert job["tres_per_node"] == "gres:gpu:h100:2"
    assert job["cluster"] == "a"
    assert (tmp_path / f"{job_id}.out").read_text().strip() == "CVD=0,1"


def test_two_node_gang_job(site_a: LocalSlurmCluster, tmp_path: Path) -> None:
    job_id = sbatch(
        site_a,
        tmp_path,
        "-N2",
        "--gres=gpu:h100:4",
        "--wrap",
        "srun bash -c 'echo $SLURMD_NODENAME $CUDA_VISIBLE_DEVICES'",
    )
    job = wait_for(site_a, job_id, {"COMPLETED"})
    assert job["node_count"] == 2
    assert job["nodes"] == "a-[1-2]"
    lines = sorted((tmp_path / f"{job_id}.out").read_text().split("\n"))
    assert [line for line in lines if line] == ["a-1 0,1,2,3", "a-2 0,1,2,3"]


def test_job_found_by_external_id_and_cancelled(site_a: LocalSlurmCluster, tmp_path: Path) -> None:
    marker = f"suanli-ext-{os.getpid()}-{time.monotonic_ns()}"
    job_id = sbatch(
        site_a,
        tmp_path,
        f"--job-name={marker}",
        f"--comment={marker}",
        "--gres=gpu:h100:1",
        "--wrap",
        f"sleep 300 # {marker}",
    )
    running = wait_for(site_a, job_id, {"RUNNING"})
    # Idempotent dispatch: the job is found again by the id it carries.
    matches = [j for j in squeue_jobs(site_a).values() if j["comment"] == marker]
    assert [j["job_id"] for j in matches] == [job_id]
    assert running["name"] == marker
    fields = scontrol_job(site_a, job_id)
    assert fields["JobState"] == "RUNNING"
    assert fields["Comment"] == marker
    assert fields["JobName"] == marker
    assert fields["TresPerNode"] == "gres:gpu:h100:1"

    site_a.run("scancel", str(job_id), check=True)
    job = wait_for(site_a, job_id, {"CANCELLED"})
    assert job["job_state"] == "CANCELLED"
    deadline = time.monotonic() + 10
    while _processes_mentioning(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_mentioning(marker) == []
    site_a.wait_ready(30.0)


def test_pending_reasons_and_rejections(site_a: LocalSlurmCluster, tmp_path: Path) -> None:
    fillers = [
        sbatch(site_a, tmp_path, "-N1", "--gres=gpu:h100:4", "--wrap", "sleep 120")
        for _ in site_a.nodes
    ]
    waiting: list[int] = []
    try:
        for job_id in fillers:
            wait_for(site_a, job_id, {"RUNNING"})
        # More than is free now: pending until GPUs free up.
        waiting.append(sbatch(site_a, tmp_path, "--gres=gpu:h100:1", "--wrap", "true"))
        # More nodes than the partition has: pending for ever.
        waiting.append(sbatch(site_a, tmp_path, "-N5", "--wrap", "true"))
        too_big = {"PartitionConfig", "PartitionNodeLimit"}
        deadline = time.monotonic() + 30
        reasons: dict[int, str] = {}
        while time.monotonic() < deadline:
            jobs = squeue_jobs(site_a)
            reasons = {j: jobs[j]["state_reason"] for j in waiting}
            if reasons[waiting[0]] == "Resources" and reasons[waiting[1]] in too_big:
                break
            time.sleep(0.3)
        assert reasons[waiting[0]] == "Resources"
        assert reasons[waiting[1]] in too_big
        assert {squeue_jobs(site_a)[j]["job_state"] for j in waiting} == {"PENDING"}
        # More GPUs per node than any node has, or an unknown type: rejected at submission.
        for gres in ("gpu:h100:8", "gpu:ascend910b:1"):
            done = site_a.run("sbatch", f"--gres={gres}", "--wrap", "true")
            assert done.returncode == 1
            assert "Requested node configuration is not available" in done.stderr
    finally:
        cancel_all(site_a, *fillers, *waiting)


def test_controller_outage_and_recovery(
    slurm_clusters: SlurmClusterFactory, tmp_path: Path
) -> None:
    (cluster,) = slurm_clusters(ClusterSpec("outage", nodes=1, gpus_per_node=2, message_timeout=3))
    short = sbatch(cluster, tmp_path, "--gres=gpu:h100:1", "--wrap", "sleep 2")
    long = sbatch(cluster, tmp_path, "--gres=gpu:h100:1", "--wrap", "sleep 120")
    wait_for(cluster, short, {"RUNNING", "COMPLETED"})
    wait_for(cluster, long, {"RUNNING"})
    down_since = time.monotonic()
    cluster.stop_controller()
    try:
        assert not cluster.controller_running
        # squeue --json exits 0 but reports the failure in "errors" and lists no jobs.
        done = cluster.run("squeue", "--json", timeout=30)
        assert done.returncode == 0
        doc = json.loads(done.stdout)
        assert doc["errors"] and doc["jobs"] == []
        assert doc["errors"][0]["source"] == "slurm_load_jobs"
        # Plain squeue and scontrol ping fail with a non-zero status.
        plain = cluster.run("squeue", timeout=30)
        assert plain.returncode != 0
        assert "Unable to contact slurm controller" in plain.stderr
        assert not cluster.controller_reachable()
        # Let the short job finish while the controller is away.
        time.sleep(max(0.0, 3.0 - (time.monotonic() - down_since)))
    finally:
        cluster.start_controller()
    assert cluster.controller_reachable()
    # The controller recovered its jobs from StateSaveLocation; the node reports the job
    # that ended during the outage.
    assert wait_for(cluster, long, {"RUNNING"})["job_id"] == long
    assert wait_for(cluster, short, {"COMPLETED"})["exit_code"] == 0
    cluster.wait_ready(30.0, idle=False)
    cancel_all(cluster, long)


def test_several_clusters_side_by_side(slurm_clusters: SlurmClusterFactory, tmp_path: Path) -> None:
    clusters = slurm_clusters("a", "b", "c")
    assert len({c.conf_path for c in clusters}) == 3
    ports = [c.controller_port for c in clusters] + [n.port for c in clusters for n in c.nodes]
    assert len(set(ports)) == len(ports)
    submitted = {
        c.name: sbatch(
            c,
            tmp_path,
            f"--comment=site-{c.name}",
            f"--output={tmp_path}/{c.name}-%j.out",
            "--gres=gpu:h100:1",
            "--wrap",
            "echo $SLURM_CLUSTER_NAME",
        )
        for c in clusters
    }
    for cluster in clusters:
        job_id = submitted[cluster.name]
        job = wait_for(cluster, job_id, {"COMPLETED"})
        assert job["cluster"] == cluster.name
        out = tmp_path / f"{cluster.name}-{job_id}.out"
        assert out.read_text().strip() == cluster.name
        comments = {j["comment"] for j in squeue_jobs(cluster).values()}
        assert {c for c in comments if c.startswith("site-")} == {f"site-{cluster.name}"}


def test_standalone_cluster_with_mixed_nodes_leaves_nothing(tmp_path: Path) -> None:
    reason = unavailable_reason()
    if reason is not None:
        infra_missing(reason)
    shapes = [NodeShape(2, "h100"), NodeShape(4, "ascend910b")]
    with LocalSlurmCluster(tmp_path / "mix", name="mix", nodes=shapes) as cluster:
        conf = str(cluster.conf_path)
        assert cluster.munge_socket.is_socket()
        job_id = sbatch(
            cluster, tmp_path, "--gres=gpu:ascend910b:3", "--wrap", "echo $CUDA_VISIBLE_DEVICES"
        )
        job = wait_for(cluster, job_id, {"COMPLETED"})
        assert job["nodes"] == "mix-2"
        assert (tmp_path / f"{job_id}.out").read_text().strip() == "0,1,2"
        running = sbatch(cluster, tmp_path, "--wrap", f"sleep 300 # {conf}")
        wait_for(cluster, running, {"RUNNING"})
        assert _processes_mentioning(conf)
    # stop() ended the daemons, the job step and the job itself, and the private munged.
    assert _processes_mentioning(conf) == []
    assert _processes_mentioning(str(tmp_path / "mix" / "munge")) == []


def test_failed_start_reports_log_and_cleans_up(tmp_path: Path) -> None:
    reason = unavailable_reason()
    if reason is not None:
        infra_missing(reason)
    ports = pick_free_ports(2)
    with socket.socket() as blocker:
        blocker.bind(("0.0.0.0", ports[0]))  # the controller's port is taken
        cluster = LocalSlurmCluster(tmp_path / "bad", name="bad", nodes=1, ports=ports)
        with pytest.raises(LocalSlurmError) as caught:
            cluster.start()
    message = str(caught.value)
    assert "slurmctld" in message
    assert "Address already in use" in message
    assert _processes_mentioning(str(cluster.conf_path)) == []
    assert _processes_mentioning(str(tmp_path / "bad" / "munge")) == []


def _processes_mentioning(text: str) -> list[int]:
    """Pids whose command line or environment contains ``text`` (not this process)."""
    needle = text.encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            blob = Path("/proc", entry, "cmdline").read_bytes()
            blob += Path("/proc", entry, "environ").read_bytes()
        except OSError:
            continue
        if needle in blob:
            found.append(int(entry))
    return found
