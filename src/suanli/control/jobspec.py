"""A submitted job's stored description (``jobs.spec``) and the :class:`Job` it stands for.

The spec is a JSON object with the fields of :class:`~suanli.model.job.Job` that a
tenant chooses; times are absolute (``deadline_at``, POSIX seconds), and become
scenario-relative seconds (``deadline_s``) when the job is built.
"""

from __future__ import annotations

from collections.abc import Mapping
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
    """The scheduling view of a stored job (``epoch0``: POSIX time of the scenario start)."""
    deadline_at = spec.get("deadline_at")
    return Job(
        id=str(job_id),
        tenant=tenant,
        kind=JobKind(spec["kind"]),
        profile=str(spec["profile"]),
        submit_s=submitted_at - epoch0,
        gang=int(spec["gang"]),
        work_pflop=float(spec["work_pflop"]),
        accepted_types=tuple(spec.get("accepted_types") or ()),
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
