"""What the control plane needs from a site's workload manager, in no backend's terms.

A :class:`SiteBackend` submits jobs, lists the jobs it knows and cancels them. Its jobs
have string *external ids* (whatever the backend calls them: a Slurm job id, a Ray job
id, a Kubernetes name) and a neutral :class:`SiteJobState`; the backend keeps its own
state name beside it (``native_state``) for people to read. Each backend declares the
:class:`Feature` s it lacks, with the reason (:mod:`suanli.sites.registry`).

Every job a backend runs for suanli carries a *tag* — ``suanli:<installation>:<job>:<attempt>``
— by which it is found again after a crash (Slurm keeps it in ``--comment``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol

from suanli.clock import Clock

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


class StillInFlight(RuntimeError):
    """What a crashed predecessor left in flight is still there at start-up (the message
    says what it is and what to do, in one line)."""


class LogsUnavailable(Exception):
    """A job's output cannot be had (the reason is the message)."""


@dataclass(frozen=True, slots=True)
class LogChunk:
    """Part of a job's output: ``text`` ends at byte ``end`` of the whole output (read
    again from ``end`` to follow it)."""

    text: str
    end: int


def chunk_of(data: bytes, offset: int) -> LogChunk:
    """The chunk of a whole output ``data`` asked for by ``offset`` (see
    :meth:`SiteBackend.logs`)."""
    start = max(0, len(data) + offset) if offset < 0 else min(offset, len(data))
    return LogChunk(data[start:].decode("utf-8", errors="replace"), len(data))


class SiteJobState(StrEnum):
    """A job's state at its site, whatever the backend (its values are the control
    plane's job states of the same names)."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    TIMEOUT = "timeout"  # the site ended it at its time limit
    CANCELLED = "cancelled"

    @property
    def active(self) -> bool:
        """Whether the job may still run (pending or running)."""
        return self in (SiteJobState.PENDING, SiteJobState.RUNNING)


class Feature(StrEnum):
    """What a backend may be able to do."""

    #: Ask for devices of a named type (Slurm: a typed GRES); without it a site's pools
    #: must all be of one accelerator type.
    TYPED_DEVICES = "typed-devices"
    #: Stop a running job at once, so that a policy's preemption frees its devices.
    PREEMPTION = "preemption"
    #: Restart a running job at once on another shape (more or fewer devices, another
    #: type): it is stopped and submitted again, so this needs preemption too.
    RESIZE = "resize"
    #: Suspend a running job in place and resume it later.
    SUSPEND = "suspend"
    #: Return a job's output.
    LOGS = "logs"
    #: End a job that runs past its time limit.
    TIME_LIMITS = "time-limits"


@dataclass(frozen=True, slots=True)
class SubmitRequest:
    """One job to start: ``nodes`` nodes with ``devices_per_node`` devices of
    ``device_type`` (the backend's name for the accelerator) each.

    ``expected_end_at`` is when the scheduling model expects the job to end (POSIX
    seconds; the dry-run backend can play it); ``time_limit_s`` a limit the site should
    enforce, if any (seconds of the control plane's clock). ``env`` are environment
    variables the command runs with (besides the backend's own), ``workdir`` the directory
    it starts in (on the site's nodes; ``None``: the backend's default). ``tenant`` is the
    tenant whose job it is (a backend may run it as that tenant's user; ``None``: no tenant).
    """

    job_id: int
    attempt: int
    tag: str
    name: str
    command: str
    device_type: str
    nodes: int
    devices_per_node: int
    expected_end_at: float | None = None
    time_limit_s: float | None = None
    env: tuple[tuple[str, str], ...] = ()
    workdir: str | None = None
    tenant: str | None = None

    def job_env(self) -> dict[str, str]:
        """The job's environment: its own variables, then the ``SUANLI_*`` ones every job
        gets (which win)."""
        return {
            **dict(self.env),
            "SUANLI_JOB": str(self.job_id),
            "SUANLI_NODES": str(self.nodes),
            "SUANLI_DEVICES_PER_NODE": str(self.devices_per_node),
            "SUANLI_DEVICE_TYPE": self.device_type,
        }


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """What became of a submission.

    ``external_id`` set: accepted. ``rejected``: refused for good (the job cannot run
    there). Otherwise the outcome is *uncertain* (a timeout, an unreachable controller):
    the job may or may not exist; reconciliation decides. ``ended`` is a monotonic
    reading taken when the command had finished.
    """

    request: SubmitRequest
    external_id: str | None
    rejected: bool
    error: str
    ended: float


@dataclass(frozen=True, slots=True)
class SiteJob:
    """A job as its site lists it: ``state`` is ``None`` for a native state suanli does
    not know (such a job is left alone). ``start_time`` and ``end_time`` are in the terms of
    the backend's clock (:meth:`~suanli.clock.Clock.from_wall` of the site's wall times)."""

    external_id: str
    state: SiteJobState | None
    native_state: str
    reason: str
    tag: str
    exit_code: int | None
    start_time: float | None
    end_time: float | None

    def on(self, clock: Clock) -> SiteJob:
        """This job with its site's wall times read on ``clock``."""
        if self.start_time is None and self.end_time is None:
            return self
        conv = clock.from_wall
        return replace(
            self,
            start_time=None if self.start_time is None else conv(self.start_time),
            end_time=None if self.end_time is None else conv(self.end_time),
        )


@dataclass(frozen=True, slots=True)
class Listing:
    """Every job a site lists, or why it could not be listed.

    ``started`` is a monotonic reading taken before the listing was asked for: any
    submission that had ended by then is in it.
    """

    site: str
    ok: bool
    error: str
    jobs: tuple[SiteJob, ...]
    started: float


class SiteBackend(Protocol):
    """A site's workload manager, as the control plane drives it."""

    #: The site's id.
    name: str

    def submit(self, req: SubmitRequest) -> SubmitResult:
        """Submit one job."""
        ...

    def list_jobs(self) -> Listing:
        """All jobs the site knows now (running, pending and recently finished)."""
        ...

    def cancel(self, external_id: str) -> str | None:
        """Cancel a job; ``None`` when done (or already gone), else the error."""
        ...

    def logs(self, external_id: str, offset: int) -> LogChunk:
        """A job's output from byte ``offset`` to its end (``offset`` < 0: its last
        ``-offset`` bytes); raises :class:`LogsUnavailable` with the reason (always, for a
        backend without :attr:`Feature.LOGS`)."""
        ...

    def before_recovery(self, install_id: str, timeout_s: float) -> None:
        """Called once at start-up, before the control plane reconciles: wait for what a
        crashed predecessor left in flight (raise :class:`StillInFlight` if it is still there
        after the timeout)."""
        ...
