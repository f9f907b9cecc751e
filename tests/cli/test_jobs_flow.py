"""The whole flow of a user of ``suanli serve`` through the CLI, on a real local Slurm cluster.

``suanli serve`` runs as a process on a one-site scenario whose site is a local Slurm
cluster with a ``log_dir``; ``suanli admin`` issues a tenant token; ``suanli jobs`` submits
job files (short accelerator names, environment, working directory, time limits), sees one
queued with its position and expected start, reads output (and follows it), cancels one,
and sees another end as ``timeout`` at its time limit.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.control.helpers import FIXTURES
from tests.fixtures_infra import ClusterSpec, SlurmClusterFactory

ADMIN = "admin-token-for-the-jobs-flow-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def suanli(
    *args: str, token: str, url: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run the ``suanli`` command as a user would."""
    env = {**os.environ, "SUANLI_URL": url, "SUANLI_TOKEN": token, "COLUMNS": "200"}
    r = subprocess.run(
        [sys.executable, "-m", "suanli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    if check:
        assert r.returncode == 0, f"suanli {' '.join(args)}: {r.stdout}\n{r.stderr}"
    return r


def _json(r: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(r.stdout)


def _wait(cond: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


@pytest.fixture
def server(slurm_clusters: SlurmClusterFactory, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    (cluster,) = slurm_clusters(ClusterSpec("sjf"))
    logs = tmp_path / "logs"
    logs.mkdir()
    sites = tmp_path / "sites.yaml"
    sites.write_text(
        yaml.safe_dump(
            {
                "device_types": {"nvidia_h100_sxm5": "h100"},
                "sites": {
                    "east": {
                        "backend": "slurm",
                        "slurm_conf": str(cluster.conf_path),
                        "log_dir": str(logs),
                        "allow_root": True,
                    }
                },
            }
        )
    )
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "SUANLI_ADMIN_TOKEN": ADMIN}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "suanli",
            "serve",
            "--scenario",
            str(FIXTURES / "jobs-one-site.yaml"),
            "--sites",
            str(sites),
            "--db",
            str(tmp_path / "suanli.db"),
            "--policy",
            "fifo",
            "--port",
            str(port),
            "--poll-seconds",
            "0.5",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "serve.log", "w"),  # noqa: SIM115
    )
    try:

        def up() -> bool:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                return httpx.get(f"{url}/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        _wait(up, 60, "suanli serve to answer")
        yield url, tmp_path
    finally:
        proc.terminate()
        proc.wait(30)


def _job(tmp: Path, name: str, **fields: Any) -> Path:
    path = tmp / f"{name}.yaml"
    path.write_text(
        yaml.safe_dump({"version": 1, "name": name, "profile": "dl-training", **fields})
    )
    return path


def test_submit_queue_logs_cancel_timeout(server: tuple[str, Path]) -> None:
    url, tmp = server
    tenants = _json(suanli("admin", "tenants", "ls", "--output", "json", token=ADMIN, url=url))
    assert [t["id"] for t in tenants] == ["lab"]
    token = suanli("admin", "tokens", "issue", "lab", "--label", "cli", token=ADMIN, url=url)
    lab = token.stdout.strip()
    assert lab and " " not in lab

    def submit(path: Path) -> int:
        return int(
            _json(suanli("jobs", "submit", str(path), "--output", "json", token=lab, url=url))["id"]
        )

    def state(job: int) -> str:
        return str(
            _json(suanli("jobs", "show", str(job), "--output", "json", token=lab, url=url))["job"][
                "state"
            ]
        )

    blocker = submit(
        _job(
            tmp,
            "blocker",
            resources={"accelerators": "H100:8"},
            work={"hours": 0.5},
            run="echo blocker started; sleep 300",
        )
    )
    _wait(lambda: state(blocker) == "running", 60, "the blocker to run")
    hello = submit(
        _job(
            tmp,
            "hello",
            resources={"accelerators": ["h100:4"]},
            work={"hours": 0.25, "on": "H100"},
            run='echo "hello from $SUANLI_JOB on $SUANLI_DEVICE_TYPE in $(pwd) with $GREETING"',
            env={"GREETING": "a, b and 'c'"},
            workdir=str(tmp),
            time_limit="10m",
        )
    )
    slow = submit(
        _job(
            tmp,
            "slow",
            resources={"accelerators": "nvidia_h100_sxm5:4"},
            work={"hours": 0.1},
            run="for i in $(seq 1 600); do echo tick $i; sleep 1; done",
            time_limit="1m",
        )
    )
    # queued behind the blocker, with a position and an expected start
    why = _json(suanli("jobs", "why", str(hello), "--output", "json", token=lab, url=url))
    assert (
        why["waiting"] and why["position"]["queue"] == 1 and why["position"]["sites"] == {"east": 1}
    )
    assert why["expected_site"] == "east" and why["expected_start"] is not None
    why_slow = _json(suanli("jobs", "why", str(slow), "--output", "json", token=lab, url=url))
    assert why_slow["position"]["queue"] == 2 and why_slow["position"]["tenant"] == 2
    text = suanli("jobs", "why", str(hello), token=lab, url=url).stdout
    assert "position: #1 in the queue" in text and "expected start:" in text
    listed = suanli("jobs", "ls", token=lab, url=url).stdout
    assert "blocker" in listed and "queued" in listed

    # cancel the blocker; the others start
    assert "cancel requested" in suanli("jobs", "cancel", str(blocker), token=lab, url=url).stdout
    _wait(lambda: state(blocker) == "cancelled", 60, "the blocker cancelled")
    assert "blocker started" in suanli("jobs", "logs", str(blocker), token=lab, url=url).stdout
    _wait(lambda: state(hello) == "done", 90, "hello done")
    out = suanli("jobs", "logs", str(hello), token=lab, url=url).stdout
    assert out.strip() == f"hello from {hello} on h100 in {tmp} with a, b and 'c'"

    # follow the slow job's output until Slurm ends it at its time limit
    followed = suanli("jobs", "logs", str(slow), "--follow", token=lab, url=url)
    assert "tick 1\n" in followed.stdout and "tick 2\n" in followed.stdout
    _wait(lambda: state(slow) == "timeout", 120, "the slow job to time out")
    shown = _json(suanli("jobs", "show", str(slow), "--output", "json", token=lab, url=url))
    assert "time limit" in shown["job"]["reason"] and shown["job"]["site_state"] == "TIMEOUT"
    ticks = [ln for ln in shown_logs(url, lab, slow).splitlines() if ln.startswith("tick")]
    assert 30 <= len(ticks) < 200, len(ticks)  # about a minute of ticks, then the limit

    # a job file the server refuses: exit 2, the line and field named, no traceback
    bad = _job(tmp, "bad", resources={"accelerators": "H999:4"}, work={"pflop": 10}, run="true")
    r = suanli("jobs", "submit", str(bad), token=lab, url=url, check=False)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"{bad}:" in r.stderr and "resources.accelerators" in r.stderr and "H999" in r.stderr


def shown_logs(url: str, token: str, job: int) -> str:
    """A job's whole output, through the API."""
    r = httpx.get(
        f"{url}/v1/jobs/{job}/logs",
        params={"tail_bytes": 0},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return str(r.json()["logs"])
