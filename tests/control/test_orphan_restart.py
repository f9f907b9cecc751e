"""A restart while a killed server's ``sbatch`` still hangs: one line and exit 75, no traceback.

``suanli serve`` dispatches a job through an ``sbatch`` that hangs (a stand-in in the site's
``bin_dir``), is killed with SIGKILL, and is started again while that ``sbatch`` still runs:
it waits ``--orphan-wait-seconds``, then says what to do in one line and exits
``EX_TEMPFAIL`` (75), so that a supervisor retries later instead of looping on a traceback.
Once the orphan has ended, the server starts.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

from suanli.cli.serve import EX_TEMPFAIL
from suanli.sites.slurm.backend import orphan_submissions
from suanli.store.db import Database
from tests.control.helpers import FIXTURES, wait_for
from tests.control.test_crash import ADMIN, Server, _free_port


def _fake_slurm(bin_dir: Path) -> None:
    """An ``sbatch`` that hangs (as one does when its controller does not answer), and a
    ``squeue`` and ``scancel`` that answer at once."""
    bin_dir.mkdir()
    for name, body in (
        ("sbatch", "while :; do sleep 1; done\n"),
        ("squeue", 'echo \'{"jobs": [], "errors": []}\'\n'),
        ("scancel", "exit 0\n"),
    ):
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\n{body}")
        path.chmod(0o755)


def test_restart_with_a_hanging_sbatch_exits_75_in_one_line(tmp_path: Path) -> None:
    _fake_slurm(tmp_path / "bin")
    site = {
        "backend": "slurm",
        "bin_dir": str(tmp_path / "bin"),
        "timeout_s": 120,  # longer than the test: the sbatch is still running when killed
        "allow_root": True,
    }
    sites = {"device_types": {"nvidia_h100_sxm5": "h100"}, "sites": {"east": site, "west": site}}
    (tmp_path / "sites.yaml").write_text(yaml.safe_dump(sites))
    db_url = str(tmp_path / "orphan.db")
    server = Server(tmp_path, _free_port(), db_url)
    server.start()
    orphans: list[int] = []
    try:
        install_id = Database(db_url).install_id
        admin = {"Authorization": f"Bearer {ADMIN}"}
        r = httpx.post(f"{server.url}/v1/tenants/lab/tokens", json={}, headers=admin)
        lab = {"Authorization": f"Bearer {r.json()['token']}"}
        body = {"profile": "dl-training", "hours_on_reference": 0.01, "command": "sleep 1"}
        assert httpx.post(f"{server.url}/v1/jobs", json=body, headers=lab).status_code < 300
        wait_for(lambda: bool(orphan_submissions(install_id)), 30, "sbatch running")
        server.kill()
        orphans = orphan_submissions(install_id)
        assert orphans  # the killed server's sbatch still runs

        argv = [
            sys.executable,
            "-m",
            "suanli",
            "serve",
            "--scenario",
            str(FIXTURES / "serve-two-sites.yaml"),
            "--db",
            db_url,
            "--sites",
            str(tmp_path / "sites.yaml"),
            "--port",
            str(server.port),
            "--orphan-wait-seconds",
            "1",
        ]
        env = {**os.environ, "SUANLI_ADMIN_TOKEN": ADMIN}
        started = time.monotonic()
        again = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
        assert again.returncode == EX_TEMPFAIL, again.stderr
        assert time.monotonic() - started < 30
        assert "Traceback" not in again.stderr
        lines = [ln for ln in again.stderr.splitlines() if "sbatch" in ln]
        assert len(lines) == 1, again.stderr
        assert "still running after 1 s" in lines[0] and f"kill {orphans[0]}" in lines[0]
        assert "exit 75" in lines[0], lines[0]

        for pid in orphans:  # what the line says to do
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not orphan_submissions(install_id), 10, "orphan gone")
        server.start()  # now it starts, and takes over the job
    finally:
        for pid in orphans:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        server.stop()
