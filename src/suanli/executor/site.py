"""What the control plane needs from a site's batch system, and an in-memory stand-in.

A :class:`SiteBackend` submits jobs, lists the jobs it knows and cancels them.
:class:`~suanli.executor.slurm.SlurmSite` does it with Slurm's commands;
:class:`MemorySite` does it in memory (for ``suanli serve --dry-run``, API tests
and benchmarks that are not about Slurm).

Every job a backend runs for suanli carries a *tag* — ``suanli:<installation>:<job>:<attempt>``
in Slurm's ``--comment`` — by which it is found again after a crash.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass
from typing import Protocol

TAG_PREFIX = "suanli"


def make_tag(install_id: str, job_id: int, attempt: int) -> str:
    """The tag of one dispatch of a job."""
    return f"{TAG_PREFIX}:{install_id}:{job_id}:{attempt}"


def parse_tag(tag: str, install_id: str) -> tuple[int, int] | None:
    """``(job id, attempt)`` of a tag of installation ``install_id``, else ``None``."""
    parts = tag.split(":")
    if len(parts) != 4 or parts[0] != TAG_PREFIX or parts[1] != install_id:
        return None
    try:
        return int(parts[2]), int(parts[3])
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class SubmitRequest:
    """One job to start: ``nodes`` nodes with ``gpus_per_node`` GPUs of ``gres_type`` each."""

    job_id: int
    attempt: int
    tag: str
    name: str
    command: str
    gres_type: str
    nodes: int
    gpus_per_node: int


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """What became of a submission.

    ``slurm_job_id`` set: accepted. ``rejected``: refused for good (the job cannot run
    there). Otherwise the outcome is *uncertain* (a timeout, an unreachable controller):
    the job may or may not exist; reconciliation decides. ``ended`` is a
    :func:`time.monotonic` reading taken when the command had finished.
    """

    request: SubmitRequest
    slurm_job_id: int | None
    rejected: bool
    error: str
    ended: float


@dataclass(frozen=True, slots=True)
class SlurmJobInfo:
    """A job as the batch system lists it (Slurm's own state names)."""

    slurm_job_id: int
    state: str
    reason: str
    tag: str
    exit_code: int | None
    start_time: float | None
    end_time: float | None


@dataclass(frozen=True, slots=True)
class Listing:
    """Every job a site lists, or why it could not be listed.

    ``started`` is a :func:`time.monotonic` reading taken before the listing was
    asked for: any submission that had ended by then is in it.
    """

    site: str
    ok: bool
    error: str
    jobs: tuple[SlurmJobInfo, ...]
    started: float


class SiteBackend(Protocol):
    """A site's batch system."""

    name: str

    def submit(self, req: SubmitRequest) -> SubmitResult:
        """Submit one job."""
        ...

    def list_jobs(self) -> Listing:
        """All jobs the site knows now (running, pending and recently finished)."""
        ...

    def cancel(self, slurm_job_id: int) -> str | None:
        """Cancel a job; ``None`` when done (or already gone), else the error."""
        ...


@dataclass(slots=True)
class _MemJob:
    info: SlurmJobInfo
    submitted: float
    cancelled_at: float | None = None


class MemorySite:
    """A site that runs nothing: each job is pending for ``start_s``, then running for
    ``run_s`` seconds, then completed. ``reachable = False`` makes it answer like a
    Slurm controller that is down. Thread-safe."""

    def __init__(self, name: str, *, start_s: float = 0.0, run_s: float = 1.0) -> None:
        self.name = name
        self.start_s = start_s
        self.run_s = run_s
        self.reachable = True
        self.submissions = 0
        self._jobs: dict[int, _MemJob] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def submit(self, req: SubmitRequest) -> SubmitResult:
        """Accept the job (or fail uncertainly when unreachable)."""
        if not self.reachable:
            return SubmitResult(req, None, False, "site unreachable", time.monotonic())
        with self._lock:
            jid = next(self._ids)
            self.submissions += 1
            info = SlurmJobInfo(jid, "PENDING", "None", req.tag, None, None, None)
            self._jobs[jid] = _MemJob(info, time.time())
        return SubmitResult(req, jid, False, "", time.monotonic())

    def list_jobs(self) -> Listing:
        """Every job with its state now."""
        started = time.monotonic()
        if not self.reachable:
            return Listing(self.name, False, "site unreachable", (), started)
        now = time.time()
        with self._lock:
            jobs = tuple(self._state(j, now) for j in self._jobs.values())
        return Listing(self.name, True, "", jobs, started)

    def cancel(self, slurm_job_id: int) -> str | None:
        """Cancel a job that has not ended."""
        if not self.reachable:
            return "site unreachable"
        with self._lock:
            job = self._jobs.get(slurm_job_id)
            if job is not None and job.cancelled_at is None:
                job.cancelled_at = time.time()
        return None

    def _state(self, job: _MemJob, now: float) -> SlurmJobInfo:
        i = job.info
        start = job.submitted + self.start_s
        end = start + self.run_s
        if job.cancelled_at is not None and job.cancelled_at < end:
            started = start if job.cancelled_at >= start else None
            return SlurmJobInfo(
                i.slurm_job_id, "CANCELLED", "None", i.tag, None, started, job.cancelled_at
            )
        if now < start:
            return i
        if now < end:
            return SlurmJobInfo(i.slurm_job_id, "RUNNING", "None", i.tag, None, start, None)
        return SlurmJobInfo(i.slurm_job_id, "COMPLETED", "None", i.tag, 0, start, end)
