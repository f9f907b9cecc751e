"""``slurm``: a site run by Slurm, driven by its commands (one :class:`SlurmSite` per site).

A site is reached through its own ``slurm.conf`` (``SLURM_CONF`` in the environment of
every command run for it), named in the sites file (:class:`SlurmSettings`). A job goes
out as::

    sbatch --parsable --job-name=suanli-<id> --comment=suanli:<inst>:<id>:<attempt>
           --nodes=<n> --gres=<gres>:<type>:<per node> --output=<file> [--chdir …]
           [--time …] [--partition …] --export=ALL --wrap <command>

(``<gres>`` is the site's GRES name: ``gpu``, or ``npu`` where Ascend nodes are set up so).
With ``log_dir`` set, each job's output (stdout and stderr) goes to
``<log_dir>/suanli-<job id>.out``, which the control plane reads for ``GET
/v1/jobs/{id}/logs``: ``log_dir`` must be a file system both the cluster's nodes and the
control plane see (the shared file system of an HPC site). A job that reaches its
``--time`` ends in Slurm's ``TIMEOUT`` state: *timeout* in suanli.

and comes back through ``squeue --json`` (Slurm 22.05 lists pending, running and recently
finished jobs; it ignores filters, so the listing is filtered here, by tag). A listing with a
non-empty ``errors`` list — what 22.05 prints, with exit status 0, when the controller is
down — counts as *unreachable*. ``scancel`` forwards cancellations.

Commands run with a minimal environment (``PATH``, ``HOME``, locale, ``SLURM_CONF``): ``sbatch``
exports the submitting environment to the job, and the server's own (tokens, database URL)
must not leak into jobs. The job's own variables and the ``SUANLI_*`` ones are added to
``sbatch``'s environment, so that values with commas or quotes reach the job intact.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, model_validator

from suanli.clock import Clock
from suanli.sites.base import (
    Feature,
    Listing,
    LogChunk,
    LogsUnavailable,
    SiteJob,
    SiteJobState,
    SubmitRequest,
    SubmitResult,
)
from suanli.sites.registry import BackendSettings, register

#: Slurm's job states, as suanli's neutral site states (others are left alone).
SLURM_STATES: Mapping[str, SiteJobState] = {
    **dict.fromkeys(
        ("PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESIZING"),
        SiteJobState.PENDING,
    ),
    **dict.fromkeys(
        ("RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING", "SUSPENDED", "STOPPED"),
        SiteJobState.RUNNING,
    ),
    "COMPLETED": SiteJobState.DONE,
    "CANCELLED": SiteJobState.CANCELLED,
    "TIMEOUT": SiteJobState.TIMEOUT,
    **dict.fromkeys(
        (
            "FAILED",
            "NODE_FAIL",
            "OUT_OF_MEMORY",
            "BOOT_FAIL",
            "DEADLINE",
            "PREEMPTED",
            "REVOKED",
            "SPECIAL_EXIT",
        ),
        SiteJobState.FAILED,
    ),
}


def state_of(slurm_state: str) -> SiteJobState | None:
    """The neutral state of a Slurm state name (``None``: not one suanli knows)."""
    return SLURM_STATES.get(slurm_state.upper())


class SlurmSettings(BackendSettings):
    """How to reach one site's Slurm cluster (its entry in the sites file)."""

    slurm_conf: Path | None = Field(None, description="SLURM_CONF for this site's commands")
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    output: str = Field("/dev/null", description="--output of jobs (Slurm's %j etc. allowed)")
    log_dir: Path | None = Field(
        None,
        description="directory (seen by the nodes and by suanli) for each job's output, "
        "served by GET /v1/jobs/{id}/logs; replaces output",
    )
    gres_name: str = Field(
        "gpu", pattern=r"^[a-z][a-z0-9_]*$", description="the GRES of the devices: gpu, npu, …"
    )
    workdir: Path | None = None
    extra_args: tuple[str, ...] = ()
    timeout_s: float = Field(default=30.0, gt=0, le=600, description="per command")
    bin_dir: Path | None = Field(None, description="where sbatch, squeue, scancel are")

    def command(self, name: str) -> str:
        """Path of a Slurm command (``bin_dir``/name, or the name to look up on PATH)."""
        return str(self.bin_dir / name) if self.bin_dir else name

    @model_validator(mode="after")
    def _one_output(self) -> SlurmSettings:
        if self.log_dir is not None:
            if self.output != "/dev/null":
                raise ValueError("give log_dir or output, not both")
            if not self.log_dir.is_absolute():
                raise ValueError(f"log_dir must be an absolute path (got {self.log_dir})")
        return self

    def output_of(self) -> str:
        """The ``--output`` of every job."""
        return str(self.log_dir / "suanli-%j.out") if self.log_dir else self.output

    def log_file(self, external_id: str) -> Path | None:
        """Where job ``external_id``'s output is, with ``log_dir``."""
        return self.log_dir / f"suanli-{external_id}.out" if self.log_dir else None


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


def sbatch_argv(cfg: SlurmSettings, req: SubmitRequest, scale: float = 1.0) -> list[str]:
    """The ``sbatch`` command line for one request (``scale``: seconds of the control
    plane's clock per real second, for the time limit, which Slurm counts in minutes). The
    job's environment goes in ``sbatch``'s own (:meth:`SubmitRequest.job_env`)."""
    argv = [
        cfg.command("sbatch"),
        "--parsable",
        f"--job-name={req.name}",
        f"--comment={req.tag}",
        f"--nodes={req.nodes}",
        f"--gres={cfg.gres_name}:{req.device_type}:{req.devices_per_node}",
        f"--output={cfg.output_of()}",
        "--export=ALL",
    ]
    if req.workdir is not None:
        argv.append(f"--chdir={req.workdir}")
    if req.time_limit_s is not None:
        argv.append(f"--time={max(1, math.ceil(req.time_limit_s / scale / 60))}")
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


def parse_squeue(text: str) -> tuple[list[SiteJob], list[str]]:
    """Jobs and errors from ``squeue --json`` output (Slurm 22.05 and later)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        return [], [f"squeue printed no JSON ({exc})"]
    if not isinstance(doc, dict):
        return [], ["squeue printed JSON that is not an object"]
    errors = [_error_text(e) for e in doc.get("errors") or []]
    jobs: list[SiteJob] = []
    for j in doc.get("jobs") or []:
        if not isinstance(j, dict) or not isinstance(j.get("job_id"), int):
            continue
        state = j.get("job_state")
        if isinstance(state, list):  # Slurm ≥ 23.02 gives a list of flags
            state = state[0] if state else "UNKNOWN"
        native = str(state or "UNKNOWN")
        jobs.append(
            SiteJob(
                external_id=str(int(j["job_id"])),
                state=state_of(native),
                native_state=native,
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


@register("slurm")
class SlurmSite:
    """One site's Slurm cluster, reached with its own ``slurm.conf``."""

    Settings: ClassVar[type[SlurmSettings]] = SlurmSettings
    #: What the backend lacks; an instance drops LOGS when its settings name a log_dir.
    unsupported: dict[Feature, str] = {  # noqa: RUF012 (copied per instance)
        Feature.SUSPEND: "suanli does not drive scontrol suspend/resume yet",
        Feature.LOGS: "job output stays in the --output file on the cluster (set log_dir "
        "in the sites file to a directory suanli can read)",
    }
    needs_device_types: ClassVar[bool] = True

    def __init__(self, name: str, cfg: SlurmSettings, clock: Clock) -> None:
        self.name = name
        self.cfg = cfg
        self.clock = clock
        env = {k: v for k, v in os.environ.items() if k in _ENV_KEEP}
        env.setdefault("PATH", os.defpath)
        env["PATH"] += ":/usr/local/sbin:/usr/sbin:/sbin"
        if cfg.slurm_conf is not None:
            env["SLURM_CONF"] = str(cfg.slurm_conf)
        self.env: Mapping[str, str] = env
        self.unsupported = dict(self.unsupported)
        if cfg.log_dir is not None:
            del self.unsupported[Feature.LOGS]

    def _run(
        self, argv: list[str], extra_env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv,
            env={**self.env, **(extra_env or {})},
            capture_output=True,
            text=True,
            timeout=self.cfg.timeout_s,
            check=False,
            cwd=str(self.cfg.workdir) if self.cfg.workdir else None,
        )

    def submit(self, req: SubmitRequest) -> SubmitResult:
        """Run ``sbatch``; a definite refusal is ``rejected``, anything unclear is uncertain."""
        try:
            done = self._run(sbatch_argv(self.cfg, req, self.clock.scale), req.job_env())
        except subprocess.TimeoutExpired:
            return SubmitResult(
                req,
                None,
                False,
                f"sbatch timed out after {self.cfg.timeout_s} s",
                self.clock.monotonic(),
            )
        except OSError as exc:
            return SubmitResult(
                req, None, False, f"cannot run sbatch: {exc}", self.clock.monotonic()
            )
        ended = self.clock.monotonic()
        out = done.stdout.strip()
        if done.returncode == 0 and out:
            first = out.splitlines()[-1].split(";")[0]
            if first.isdigit():
                return SubmitResult(req, first, False, "", ended)
        err = (done.stderr.strip() or out or f"sbatch exit {done.returncode}").splitlines()[-1]
        rejected = any(r in err for r in _REJECTIONS)
        return SubmitResult(req, None, rejected, err, ended)

    def list_jobs(self) -> Listing:
        """``squeue --json``: every job the controller knows, or why it could not say."""
        started = self.clock.monotonic()
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
        return Listing(self.name, True, "", tuple(j.on(self.clock) for j in jobs), started)

    def cancel(self, external_id: str) -> str | None:
        """``scancel``; a job Slurm no longer knows counts as cancelled."""
        try:
            done = self._run([self.cfg.command("scancel"), external_id])
        except subprocess.TimeoutExpired:
            return f"scancel timed out after {self.cfg.timeout_s} s"
        except OSError as exc:
            return f"cannot run scancel: {exc}"
        if done.returncode == 0 or "Invalid job id" in done.stderr:
            return None
        return (done.stderr.strip() or f"scancel exit {done.returncode}").splitlines()[-1]

    def logs(self, external_id: str, offset: int) -> LogChunk:
        """The job's output file in ``log_dir``, from byte ``offset`` (< 0: from the end)."""
        path = self.cfg.log_file(external_id)
        if path is None:
            raise LogsUnavailable(self.unsupported[Feature.LOGS])
        try:
            with path.open("rb") as f:
                size = f.seek(0, os.SEEK_END)
                start = max(0, size + offset) if offset < 0 else min(offset, size)
                f.seek(start)
                data = f.read(size - start)
        except FileNotFoundError:
            raise LogsUnavailable(
                f"no output yet ({path} does not exist: the job has not started, or "
                "log_dir is not shared with the nodes)"
            ) from None
        except OSError as exc:
            raise LogsUnavailable(f"cannot read {path}: {exc}") from None
        return LogChunk(data.decode("utf-8", errors="replace"), start + len(data))

    def before_recovery(self, install_id: str, timeout_s: float) -> None:
        """Wait for ``sbatch`` processes a crashed predecessor left behind: a job it was
        submitting must be in the listing before reconciliation judges its absence."""
        left = wait_for_orphans(install_id, timeout_s)
        if left:
            raise RuntimeError(f"sbatch processes of a previous run still alive: {left}")


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
