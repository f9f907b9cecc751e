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

**Run-time isolation.** A tenant's job runs as that tenant's Unix user: ``users`` maps
tenants to users, ``user_prefix`` names the others (``<prefix><tenant>``), ``accounts``
their Slurm accounts. As root, suanli runs ``runuser -u <user> -- sbatch …`` (with umask
077), so that Slurm starts the job as that user; with ``log_dir``, its output goes to
``<log_dir>/<user>/suanli-<job id>.out``, in a directory of that user's (mode 0700).
``squeue`` and ``scancel`` still run as root. A tenant without a user would run as root: suanli
refuses that (at start-up, and at dispatch) unless the site says ``allow_root: true``
(docs/serve.md, "Run-time isolation").
"""

from __future__ import annotations

import json
import math
import os
import pwd
import re
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, field_validator, model_validator

from suanli.clock import Clock
from suanli.sites.base import (
    Feature,
    Listing,
    LogChunk,
    LogsUnavailable,
    SiteJob,
    SiteJobState,
    StillInFlight,
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
    users: dict[str, str] = Field(
        default_factory=dict,
        description="tenant -> the Unix user its jobs run as (suanli serve runs as root)",
    )
    user_prefix: str | None = Field(
        None,
        pattern=r"^[a-z_][a-z0-9_.-]*$",
        description="a tenant not in users runs as the user <user_prefix><tenant>",
    )
    accounts: dict[str, str] = Field(
        default_factory=dict, description="tenant -> its jobs' Slurm --account (else account)"
    )
    allow_root: bool = Field(
        False,
        description="let jobs of tenants without a user run as the user of suanli serve "
        "even when that is root",
    )

    @field_validator("users")
    @classmethod
    def _user_names(cls, users: dict[str, str]) -> dict[str, str]:
        bad = [u for u in users.values() if not _USER_RE.match(u)]
        if bad:
            raise ValueError(f"not Unix user names: {', '.join(map(repr, bad))}")
        return users

    def user_for(self, tenant: str | None) -> str | None:
        """The Unix user ``tenant``'s jobs run as (``None``: the user of suanli serve)."""
        if tenant is None:
            return None
        if tenant in self.users:
            return self.users[tenant]
        return self.user_prefix + tenant if self.user_prefix else None

    def account_for(self, tenant: str | None) -> str | None:
        """The Slurm account of ``tenant``'s jobs."""
        return self.accounts.get(tenant, self.account) if tenant is not None else self.account

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

    def output_of(self, user: str | None = None) -> str:
        """The ``--output`` of a job (run as ``user``: in its own directory of ``log_dir``)."""
        if self.log_dir is None:
            return self.output
        return str((self.log_dir / user if user else self.log_dir) / "suanli-%j.out")

    def log_file(self, external_id: str) -> Path | None:
        """Where job ``external_id``'s output is, with ``log_dir`` (in a user's directory,
        if one has it)."""
        if self.log_dir is None:
            return None
        name = f"suanli-{external_id}.out"
        flat = self.log_dir / name
        if flat.exists():
            return flat
        return next(self.log_dir.glob(f"*/{name}"), flat)


class RunAsError(Exception):
    """A tenant's job cannot run as its user (the message says why and what to do)."""


def run_as(cfg: SlurmSettings, tenant: str | None, euid: int | None = None) -> str | None:
    """The user to submit ``tenant``'s job as (``None``: suanli's own user), or
    :class:`RunAsError` when it must not or cannot run: as root without ``allow_root``, as
    a user who does not exist, or as another user when suanli does not run as root."""
    euid = os.geteuid() if euid is None else euid
    user = cfg.user_for(tenant)
    if user is not None:
        try:
            uid = pwd.getpwnam(user).pw_uid
        except KeyError:
            raise RunAsError(
                f"tenant {tenant}'s user {user} does not exist on this host (create it, "
                "with the same uid as on the cluster's nodes)"
            ) from None
        if uid == euid:
            user = None  # already that user
        elif euid != 0:
            raise RunAsError(
                f"cannot run tenant {tenant}'s jobs as {user}: suanli serve does not run as "
                "root (run it as root, or remove users and user_prefix)"
            )
        elif uid != 0:
            return user
    if euid == 0 and not cfg.allow_root:
        who = f"tenant {tenant}" if tenant is not None else "a job without a tenant"
        raise RunAsError(
            f"{who} has no Unix user here and suanli serve runs as root: its jobs would run "
            "as root (map it in users or set user_prefix; or allow_root: true to let them)"
        )
    return None


#: Environment variables passed on to Slurm's commands (and so to jobs).
_USER_RE = re.compile(r"^[a-z_][a-z0-9_.-]*\$?$")
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


def sbatch_argv(
    cfg: SlurmSettings, req: SubmitRequest, scale: float = 1.0, user: str | None = None
) -> list[str]:
    """The ``sbatch`` command line for one request (``scale``: seconds of the control
    plane's clock per real second, for the time limit, which Slurm counts in minutes), run
    as ``user`` (through ``runuser``) if given. The job's environment goes in ``sbatch``'s
    own (:meth:`SubmitRequest.job_env`)."""
    argv = ["runuser", "-u", user, "--"] if user else []
    argv += [
        cfg.command("sbatch"),
        "--parsable",
        f"--job-name={req.name}",
        f"--comment={req.tag}",
        f"--nodes={req.nodes}",
        f"--gres={cfg.gres_name}:{req.device_type}:{req.devices_per_node}",
        f"--output={cfg.output_of(user)}",
        "--export=ALL",
    ]
    if req.workdir is not None:
        argv.append(f"--chdir={req.workdir}")
    if req.time_limit_s is not None:
        argv.append(f"--time={max(1, math.ceil(req.time_limit_s / scale / 60))}")
    if cfg.partition:
        argv.append(f"--partition={cfg.partition}")
    account = cfg.account_for(req.tenant)
    if account:
        argv.append(f"--account={account}")
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
        self.unsupported = {**self.unsupported, **cfg.disabled()}
        if cfg.log_dir is not None:
            del self.unsupported[Feature.LOGS]

    @classmethod
    def check_setup(cls, cfg: SlurmSettings, tenants: list[str]) -> list[tuple[str, str, str]]:
        """Problems (field, what, how to fix) with running ``tenants``' jobs as their users
        here (see :func:`run_as`), found before anything starts."""
        problems: list[tuple[str, str, str]] = []
        as_root: list[str] = []
        for tenant in tenants:
            try:
                run_as(cfg, tenant)
            except RunAsError as exc:
                if cfg.user_for(tenant) is None:
                    as_root.append(tenant)
                else:
                    field = "users" if tenant in cfg.users else "user_prefix"
                    problems.append((field, str(exc), "docs/serve.md, 'Run-time isolation'"))
        if as_root:
            problems.append(
                (
                    "users",
                    f"suanli serve runs as root and tenants {', '.join(as_root)} have no Unix "
                    "user: their jobs would run as root",
                    "map each tenant to a user (users: {lab: alice}) or set user_prefix; or "
                    "set allow_root: true to let them run as root (docs/serve.md, "
                    "'Run-time isolation')",
                )
            )
        return problems

    def _run(
        self,
        argv: list[str],
        extra_env: Mapping[str, str] | None = None,
        umask: int = -1,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv,
            env={**self.env, **(extra_env or {})},
            capture_output=True,
            text=True,
            timeout=self.cfg.timeout_s,
            check=False,
            cwd=str(self.cfg.workdir) if self.cfg.workdir else None,
            umask=umask,
        )

    def _user_log_dir(self, user: str) -> None:
        """Make ``<log_dir>/<user>``, the user's own (mode 0700)."""
        if self.cfg.log_dir is None:
            return
        entry = pwd.getpwnam(user)
        path = self.cfg.log_dir / user
        path.mkdir(parents=True, exist_ok=True)
        os.chown(path, entry.pw_uid, entry.pw_gid)
        path.chmod(0o700)

    def submit(self, req: SubmitRequest) -> SubmitResult:
        """Run ``sbatch`` (as the tenant's user); a definite refusal is ``rejected``,
        anything unclear is uncertain."""
        try:
            user = run_as(self.cfg, req.tenant)
            if user is not None:
                self._user_log_dir(user)
        except (RunAsError, OSError) as exc:
            return SubmitResult(req, None, True, str(exc), self.clock.monotonic())
        try:
            done = self._run(
                sbatch_argv(self.cfg, req, self.clock.scale, user),
                req.job_env(),
                umask=0o077 if user is not None else -1,
            )
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
            pids = " ".join(map(str, left))
            raise StillInFlight(
                f"site {self.name}: {len(left)} sbatch of a previous suanli serve still "
                f"running after {timeout_s:g} s (pid {pids}); wait for it to end, or kill it "
                f"(kill {pids}) if it hangs, then start suanli serve again"
            )


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
        # sbatch itself, or a script of that name run by its interpreter
        named = any(a.endswith(b"sbatch") for a in args[:2])
        if named and any(a.startswith(marker) for a in args):
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
