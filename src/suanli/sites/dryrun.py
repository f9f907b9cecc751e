"""``dry-run``: a site that runs nothing, for ``suanli serve --dry-run``, demos and tests.

Each job is pending for ``start_seconds``, then running, then done: after ``run_seconds``
(the default, 1 s), or — with ``time_scale`` — when the scheduling model expects it to end,
its modelled run time scaled by ``time_scale`` (1: in real time); a job the model expects
never to end (a service's replica) runs until it is cancelled. Ids are ``dry-<n>``.
Setting :attr:`DryRunSite.reachable` to False makes it answer like a controller that is
down. Time comes from the clock it is given (a stepped one in tests). Thread-safe.
"""

from __future__ import annotations

import itertools
import math
import threading
from dataclasses import dataclass
from typing import ClassVar

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


class DryRunSettings(BackendSettings):
    """A dry-run site's entry in the sites file."""

    start_seconds: float = Field(0.0, ge=0, description="seconds a job stays pending")
    run_seconds: float | None = Field(None, gt=0, description="seconds every job runs")
    time_scale: float | None = Field(
        None, gt=0, description="run each job for its modelled run time × this"
    )

    @model_validator(mode="after")
    def _one_duration(self) -> DryRunSettings:
        if self.run_seconds is not None and self.time_scale is not None:
            raise ValueError("give run_seconds or time_scale, not both")
        return self

    @property
    def fixed_seconds(self) -> float | None:
        """Seconds every job runs (``None``: its modelled run time × ``time_scale``)."""
        if self.time_scale is not None:
            return None
        return self.run_seconds if self.run_seconds is not None else 1.0


@dataclass(slots=True)
class _Job:
    external_id: str
    tag: str
    submitted: float
    ends: float
    time_limit_s: float | None
    cancelled_at: float | None = None


@register("dry-run")
class DryRunSite:
    """A site that pretends to run its jobs (see the module docstring)."""

    Settings: ClassVar[type[DryRunSettings]] = DryRunSettings
    #: What the backend lacks; an instance adds what its settings turn off.
    unsupported: dict[Feature, str] = {  # noqa: RUF012 (copied per instance)
        Feature.SUSPEND: "a dry-run site runs nothing to suspend",
        Feature.LOGS: "a dry-run site runs nothing, so there is no output",
    }
    needs_device_types: ClassVar[bool] = False

    def __init__(self, site: str, settings: DryRunSettings, clock: Clock) -> None:
        self.name = site
        self.settings = settings
        self.clock = clock
        self.unsupported = {**self.unsupported, **settings.disabled()}
        self.reachable = True
        self.submissions = 0
        self._jobs: dict[str, _Job] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def submit(self, req: SubmitRequest) -> SubmitResult:
        """Accept the job (or fail uncertainly when unreachable)."""
        if not self.reachable:
            return SubmitResult(req, None, False, "site unreachable", self.clock.monotonic())
        now = self.clock.time()
        start = now + self.settings.start_seconds
        fixed = self.settings.fixed_seconds
        if req.expected_end_at is not None and math.isinf(req.expected_end_at):
            ends = math.inf  # a service's replica: it runs until it is cancelled
        elif fixed is not None or req.expected_end_at is None:
            ends = start + (fixed if fixed is not None else 1.0)
        elif self.settings.time_scale == 1.0:
            ends = max(start, req.expected_end_at)
        else:
            scale = self.settings.time_scale or 1.0
            ends = start + max(0.0, req.expected_end_at - now) * scale
        with self._lock:
            ext = f"dry-{next(self._ids)}"
            self.submissions += 1
            self._jobs[ext] = _Job(ext, req.tag, now, ends, req.time_limit_s)
        return SubmitResult(req, ext, False, "", self.clock.monotonic())

    def list_jobs(self) -> Listing:
        """Every job with its state now."""
        started = self.clock.monotonic()
        if not self.reachable:
            return Listing(self.name, False, "site unreachable", (), started)
        now = self.clock.time()
        with self._lock:
            jobs = tuple(self._state(j, now) for j in self._jobs.values())
        return Listing(self.name, True, "", jobs, started)

    def cancel(self, external_id: str) -> str | None:
        """Cancel a job that has not ended."""
        if not self.reachable:
            return "site unreachable"
        with self._lock:
            job = self._jobs.get(external_id)
            if job is not None and job.cancelled_at is None:
                job.cancelled_at = self.clock.time()
        return None

    def logs(self, external_id: str, offset: int) -> LogChunk:
        """None: a dry-run site runs nothing."""
        raise LogsUnavailable(self.unsupported[Feature.LOGS])

    def before_recovery(self, install_id: str, timeout_s: float) -> None:
        """Nothing is ever left in flight."""

    def next_change(self, after: float) -> float | None:
        """The first instant after ``after`` at which a job's state changes (or ``None``)."""
        with self._lock:
            times = [
                t
                for j in self._jobs.values()
                if j.cancelled_at is None
                for t in (j.submitted + self.settings.start_seconds, self._end(j))
                if t > after
            ]
        return min(times, default=None)

    def _end(self, job: _Job) -> float:
        if job.time_limit_s is not None:
            return min(job.ends, job.submitted + self.settings.start_seconds + job.time_limit_s)
        return job.ends

    def _state(self, job: _Job, now: float) -> SiteJob:
        start = job.submitted + self.settings.start_seconds
        end = self._end(job)
        began: float | None = start
        ended: float | None = None
        code: int | None = None
        if job.cancelled_at is not None and job.cancelled_at < end:
            state, native, ended = SiteJobState.CANCELLED, "CANCELLED", job.cancelled_at
            began = start if job.cancelled_at >= start else None
        elif now < start:
            state, native, began = SiteJobState.PENDING, "PENDING", None
        elif now < end:
            state, native = SiteJobState.RUNNING, "RUNNING"
        elif end < job.ends:
            state, native, ended = SiteJobState.TIMEOUT, "TIMEOUT", end
        else:
            state, native, ended, code = SiteJobState.DONE, "COMPLETED", end, 0
        return SiteJob(job.external_id, state, native, "", job.tag, code, began, ended)
