"""A submitted job's stored description (``jobs.spec``) and the :class:`Job` it stands for.

The spec is a JSON object with the fields of :class:`~suanli.model.job.Job` that a
tenant chooses; times are absolute (``deadline_at``, POSIX seconds), and become
scenario-relative seconds (``deadline_s``) when the job is built. Beside them the spec
keeps how the job runs at its site (:class:`RunSettings`): ``env``, ``workdir`` and
``time_limit_s``, which the scheduling model does not read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from suanli.model.job import (
    DEFAULT_CHECKPOINT_INTERVAL_S,
    DEFAULT_PREEMPTIBLE,
    DEFAULT_RESTART_COST_S,
    Job,
    JobKind,
)


def job_from_spec(
    spec: Mapping[str, Any], job_id: int, tenant: str, submitted_at: float, epoch0: float
) -> Job:
    """The scheduling view of a stored job (``epoch0``: POSIX time of the scenario start;
    ``work_pflop`` null: a job that runs until stopped, a service's replica)."""
    deadline_at = spec.get("deadline_at")
    return Job(
        id=str(job_id),
        tenant=tenant,
        kind=JobKind(spec["kind"]),
        profile=str(spec["profile"]),
        submit_s=submitted_at - epoch0,
        gang=int(spec["gang"]),
        gang_max=int(spec["gang_max"]) if spec.get("gang_max") is not None else None,
        gang_min=int(spec["gang_min"]) if spec.get("gang_min") is not None else None,
        work_pflop=math.inf if spec["work_pflop"] is None else float(spec["work_pflop"]),
        accepted_types=tuple(spec.get("accepted_types") or ()),
        types_ordered=bool(spec.get("types_ordered", True)),
        accepted_stacks=tuple(spec.get("accepted_stacks") or ()),
        dataset=spec.get("dataset"),
        deadline_s=float(deadline_at) - epoch0 if deadline_at is not None else None,
        deferrable=bool(spec.get("deferrable", False)),
        preemptible=bool(spec.get("preemptible", DEFAULT_PREEMPTIBLE)),
        checkpoint_interval_s=float(
            spec.get("checkpoint_interval_s", DEFAULT_CHECKPOINT_INTERVAL_S)
        ),
        restart_cost_s=float(spec.get("restart_cost_s", DEFAULT_RESTART_COST_S)),
        priority=int(spec.get("priority", 0)),
    )


#: A job without a time limit of its own gets ``TIME_LIMIT_FACTOR`` × the run time suanli
#: expects on the devices it was given (and at least ``MIN_TIME_LIMIT_S``): enough for an
#: estimate that is off by half, as Slurm users pad their ``--time``.
TIME_LIMIT_FACTOR = 2.0
MIN_TIME_LIMIT_S = 600.0


@dataclass(frozen=True, slots=True)
class RunSettings:
    """How a job runs at its site: environment, working directory, time limit (s)."""

    env: tuple[tuple[str, str], ...] = ()
    workdir: str | None = None
    time_limit_s: float | None = None

    @classmethod
    def of(cls, spec: Mapping[str, Any]) -> RunSettings:
        """The run settings kept in a stored spec."""
        env = spec.get("env") or {}
        limit = spec.get("time_limit_s")
        return cls(
            env=tuple(sorted((str(k), str(v)) for k, v in env.items())),
            workdir=spec.get("workdir"),
            time_limit_s=float(limit) if limit is not None else None,
        )

    def limit_for(self, expected_s: float, factor: float = TIME_LIMIT_FACTOR) -> float | None:
        """The time limit to give the site for a run expected to take ``expected_s``: the
        job's own, else ``max(factor × expected_s, MIN_TIME_LIMIT_S)`` (``factor`` 0, or a
        run without an end such as a replica's: none)."""
        if self.time_limit_s is not None:
            return self.time_limit_s
        if factor <= 0 or math.isinf(expected_s):
            return None
        return max(factor * expected_s, MIN_TIME_LIMIT_S)
