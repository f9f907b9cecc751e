"""Reconciliation: what suanli believes about a site's jobs versus what the site lists.

:func:`reconcile` is pure: given the jobs suanli has placed at a site and a listing of
the site's jobs, it returns the changes to make. Jobs are matched by their tag
(``suanli:<installation>:<job>:<attempt>``), never by Slurm job id alone, so a job
submitted just before a crash — whose Slurm id was never recorded — is found again.

A job missing from a listing is judged only if the listing was asked for after its
last submission attempt had ended (plus ``grace_s``):

* still ``dispatching`` (no Slurm id): the submission never reached Slurm — requeue it;
* with a Slurm id: Slurm has forgotten it (it ended more than ``MinJobAge`` ago, or the
  controller lost its state) — it is failed with that explanation.

Tagged jobs of this installation that match no tracked job (an older attempt, a job
placed elsewhere since) are *strays*; the caller cancels those still active, so that
no job ever runs twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from suanli.executor.site import Listing, SlurmJobInfo, parse_tag
from suanli.store.schema import JobState

_SLURM_STATES: dict[str, JobState] = {
    **dict.fromkeys(
        ("PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESIZING"),
        JobState.PENDING,
    ),
    **dict.fromkeys(
        ("RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING", "SUSPENDED", "STOPPED"),
        JobState.RUNNING,
    ),
    "COMPLETED": JobState.DONE,
    "CANCELLED": JobState.CANCELLED,
    **dict.fromkeys(
        (
            "FAILED",
            "TIMEOUT",
            "NODE_FAIL",
            "OUT_OF_MEMORY",
            "BOOT_FAIL",
            "DEADLINE",
            "PREEMPTED",
            "REVOKED",
            "SPECIAL_EXIT",
        ),
        JobState.FAILED,
    ),
}


def state_of(slurm_state: str) -> JobState | None:
    """suanli's state for a Slurm state name (``None``: not one we know)."""
    return _SLURM_STATES.get(slurm_state.upper())


@dataclass(frozen=True, slots=True)
class Tracked:
    """A job suanli has placed at the site.

    ``submit_ended`` is the :func:`time.monotonic` reading when its last submission
    attempt ended (``None`` while one is in flight).
    """

    job_id: int
    attempt: int
    state: JobState
    slurm_job_id: int | None
    submit_ended: float | None


@dataclass(frozen=True, slots=True)
class Change:
    """What to do about one tracked job.

    ``action`` is ``update`` (new state and/or Slurm facts), ``requeue`` (the
    submission never arrived) or ``vanished`` (Slurm forgot the job).
    """

    job_id: int
    action: str
    state: JobState | None = None
    slurm: SlurmJobInfo | None = None
    message: str = ""


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """Changes for tracked jobs, and stray Slurm jobs to cancel."""

    changes: tuple[Change, ...]
    strays: tuple[SlurmJobInfo, ...]
    duplicates: int


def reconcile(
    tracked: Sequence[Tracked], listing: Listing, install_id: str, grace_s: float = 1.0
) -> Reconciliation:
    """Compare ``tracked`` with ``listing`` (which must be ``ok``); see the module docstring."""
    by_tag: dict[tuple[int, int], SlurmJobInfo] = {}
    duplicates = 0
    strays: list[SlurmJobInfo] = []
    for info in sorted(listing.jobs, key=lambda i: i.slurm_job_id):
        key = parse_tag(info.tag, install_id)
        if key is None:
            continue
        if key in by_tag:
            duplicates += 1
            strays.append(info)
            continue
        by_tag[key] = info
    changes: list[Change] = []
    seen: set[tuple[int, int]] = set()
    for t in tracked:
        key = (t.job_id, t.attempt)
        found = by_tag.get(key)
        if found is not None:
            seen.add(key)
            new = state_of(found.state)
            if new is None:
                continue
            if new != t.state or found.slurm_job_id != t.slurm_job_id:
                changes.append(Change(t.job_id, "update", new, found, f"Slurm: {found.state}"))
            continue
        if t.submit_ended is None or listing.started < t.submit_ended + grace_s:
            continue  # a submission may still be on its way
        if t.slurm_job_id is None:
            changes.append(
                Change(t.job_id, "requeue", message="the submission never reached Slurm")
            )
        else:
            changes.append(
                Change(
                    t.job_id,
                    "vanished",
                    JobState.FAILED,
                    message=(
                        f"Slurm no longer lists job {t.slurm_job_id}: it ended longer ago than "
                        "the site's MinJobAge, or the controller lost it; its outcome is unknown"
                    ),
                )
            )
    for key, info in by_tag.items():
        if key not in seen:
            strays.append(info)
    active = [s for s in strays if state_of(s.state) in (JobState.PENDING, JobState.RUNNING)]
    return Reconciliation(tuple(changes), tuple(active), duplicates)
