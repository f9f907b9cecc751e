"""The Slurm executor: one :class:`SlurmSite` per scenario site, driven by Slurm's commands.

A site is reached through its own ``slurm.conf`` (``SLURM_CONF`` in the environment of
every command run for it); see :mod:`suanli.executor.slurm_config` for the operator's
file that says where each one is. A job goes out as::

    sbatch --parsable --job-name=suanli-<id> --comment=suanli:<inst>:<id>:<attempt>
           --nodes=<n> --gres=gpu:<type>:<per node> --output=<file> [--partition …] --wrap <command>

and comes back through ``squeue --json`` (Slurm 22.05 lists pending, running and recently
finished jobs; it ignores filters, so the listing is filtered here, by tag). A listing with a
non-empty ``errors`` list — what 22.05 prints, with exit status 0, when the controller is
down — counts as *unreachable*. ``scancel`` forwards cancellations.

Commands run with a minimal environment (``PATH``, ``HOME``, locale, ``SLURM_CONF``): ``sbatch``
exports the submitting environment to the job, and the server's own (tokens, database URL)
must not leak into jobs.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from suanli.executor.site import Listing, SlurmJobInfo, SubmitRequest, SubmitResult
from suanli.executor.slurm_config import SiteConfig

#: Environment variables passed on to Slurm's commands (and so to jobs).
_ENV_KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "USER", "LOGNAME", "SHELL", "TZ", "TMPDIR")
#: ``sbatch`` errors that mean the job can never run there (not worth retrying elsewhere later).
_REJECTIONS = (
    "Requested node configuration is not available",
    "Invalid generic resource",
    "Invalid partition",
    "Invalid account",
    "Invalid qos",
    "Job violates accounting/QOS policy",
    "Invalid feature specification",
    "Node count specification invalid",
)


def sbatch_argv(cfg: SiteConfig, req: SubmitRequest) -> list[str]:
    """The ``sbatch`` command line for one request."""
    argv = [
        cfg.command("sbatch"),
        "--parsable",
        f"--job-name={req.name}",
        f"--comment={req.tag}",
        f"--nodes={req.nodes}",
        f"--gres=gpu:{req.gres_type}:{req.gpus_per_node}",
        f"--output={cfg.output}",
    ]
    if cfg.partition:
        argv.append(f"--partition={cfg.partition}")
    if cfg.account:
        argv.append(f"--account={cfg.account}")
    if cfg.qos:
        argv.append(f"--qos={cfg.qos}")
    argv.extend(cfg.extra_args)
    argv.extend(["--wrap", req.command])
    return argv


def decode_exit(raw: Any) -> int | None:
    """Slurm's raw wait status as an exit code; a signal *s* becomes ``-s``."""
    if not isinstance(raw, int) or isinstance(raw, bool):
        return None
    if raw & 0x7F:
        return -(raw & 0x7F)
    return raw >> 8


def parse_squeue(text: str) -> tuple[list[SlurmJobInfo], list[str]]:
    """Jobs and errors from ``squeue --json`` output (Slurm 22.05 and later)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        return [], [f"squeue printed no JSON ({exc})"]
    if not isinstance(doc, dict):
        return [], ["squeue printed JSON that is not an object"]
    errors = [_error_text(e) for e in doc.get("errors") or []]
    jobs: list[SlurmJobInfo] = []
    for j in doc.get("jobs") or []:
        if not isinstance(j, dict) or not isinstance(j.get("job_id"), int):
            continue
        state = j.get("job_state")
        if isinstance(state, list):  # Slurm ≥ 23.02 gives a list of flags
            state = state[0] if state else "UNKNOWN"
        jobs.append(
            SlurmJobInfo(
                slurm_job_id=int(j["job_id"]),
                state=str(state or "UNKNOWN"),
                reason=str(j.get("state_reason") or ""),
                tag=str(j.get("comment") or ""),
                exit_code=decode_exit(_number(j.get("exit_code"))),
                start_time=_time(j.get("start_time")),
                end_time=_time(j.get("end_time")),
            )
        )
    return jobs, errors


def _error_text(err: Any) -> str:
    if isinstance(err, dict):
        parts = [str(err.get(k)) for k in ("error", "description", "source") if err.get(k)]
        return ": ".join(parts) or json.dumps(err)
    return str(err)


def _number(v: Any) -> Any:
    """Slurm ≥ 23.02 wraps numbers as ``{"set": true, "number": n}``; unwrap them."""
    if isinstance(v, dict):
        if "return_code" in v:
            return _number(v["return_code"])
        if v.get("set") is False:
            return None
        return v.get("number")
    return v


def _time(v: Any) -> float | None:
    v = _number(v)
    return float(v) if isinstance(v, int | float) and v > 0 else None


class SlurmSite:
    """One site's Slurm cluster, reached with its own ``slurm.conf``."""

    def __init__(self, name: str, cfg: SiteConfig) -> None:
        self.name = name
        self.cfg = cfg
        env = {k: v for k, v in os.environ.items() if k in _ENV_KEEP}
        env.setdefault("PATH", os.defpath)
        env["PATH"] += ":/usr/local/sbin:/usr/sbin:/sbin"
        if cfg.slurm_conf is not None:
            env["SLURM_CONF"] = str(cfg.slurm_conf)
        self.env: Mapping[str, str] = env

    def _run(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv,
            env=dict(self.env),
            capture_output=True,
            text=True,
            timeout=self.cfg.timeout_s,
            check=False,
            cwd=str(self.cfg.workdir) if self.cfg.workdir else None,
        )

    def submit(self, req: SubmitRequest) -> SubmitResult:
        """Run ``sbatch``; a definite refusal is ``rejected``, anything unclear is uncertain."""
        try:
            done = self._run(sbatch_argv(self.cfg, req))
        except subprocess.TimeoutExpired:
            return SubmitResult(
                req, None, False, f"sbatch timed out after {self.cfg.timeout_s} s", time.monotonic()
            )
        except OSError as exc:
            return SubmitResult(req, None, False, f"cannot run sbatch: {exc}", time.monotonic())
        ended = time.monotonic()
        out = done.stdout.strip()
        if done.returncode == 0 and out:
            first = out.splitlines()[-1].split(";")[0]
            if first.isdigit():
                return SubmitResult(req, int(first), False, "", ended)
        err = (done.stderr.strip() or out or f"sbatch exit {done.returncode}").splitlines()[-1]
        rejected = any(r in err for r in _REJECTIONS)
        return SubmitResult(req, None, rejected, err, ended)

    def list_jobs(self) -> Listing:
        """``squeue --json``: every job the controller knows, or why it could not say."""
        started = time.monotonic()
        try:
            done = self._run([self.cfg.command("squeue"), "--json"])
        except subprocess.TimeoutExpired:
            return Listing(
                self.name, False, f"squeue timed out after {self.cfg.timeout_s} s", (), started
            )
        except OSError as exc:
            return Listing(self.name, False, f"cannot run squeue: {exc}", (), started)
        if done.returncode != 0:
            msg = done.stderr.strip() or f"squeue exit {done.returncode}"
            return Listing(self.name, False, msg.splitlines()[-1], (), started)
        jobs, errors = parse_squeue(done.stdout)
        if errors:
            return Listing(self.name, False, "; ".join(errors), (), started)
        return Listing(self.name, True, "", tuple(jobs), started)

    def cancel(self, slurm_job_id: int) -> str | None:
        """``scancel``; a job Slurm no longer knows counts as cancelled."""
        try:
            done = self._run([self.cfg.command("scancel"), str(slurm_job_id)])
        except subprocess.TimeoutExpired:
            return f"scancel timed out after {self.cfg.timeout_s} s"
        except OSError as exc:
            return f"cannot run scancel: {exc}"
        if done.returncode == 0 or "Invalid job id" in done.stderr:
            return None
        return (done.stderr.strip() or f"scancel exit {done.returncode}").splitlines()[-1]


def orphan_submissions(install_id: str, proc: Path = Path("/proc")) -> list[int]:
    """Pids of ``sbatch`` processes still submitting jobs of this installation.

    After a crash, an ``sbatch`` started by the previous server process may still be
    talking to its controller; reconciliation must wait for it to finish.
    """
    marker = f"--comment=suanli:{install_id}:".encode()
    pids = []
    try:
        entries = list(proc.iterdir())
    except OSError:
        return []
    for entry in entries:
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        args = cmdline.split(b"\0")
        if args and args[0].endswith(b"sbatch") and any(a.startswith(marker) for a in args):
            pids.append(int(entry.name))
    return pids


def wait_for_orphans(install_id: str, timeout: float) -> list[int]:
    """Wait until no orphan ``sbatch`` of this installation runs; return those still left."""
    deadline = time.monotonic() + timeout
    while True:
        left = orphan_submissions(install_id)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)
