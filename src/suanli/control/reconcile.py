"""Reconciliation: what suanli believes about a site's jobs versus what the site lists.

:func:`reconcile` is pure: given the jobs suanli has placed at a site and a listing of
the site's jobs, it returns the changes to make. Jobs are matched by their tag
(``suanli:<installation>:<job>:<attempt>``), never by the site's id alone, so a job
submitted just before a crash — whose external id was never recorded — is found again.

A job missing from a listing is judged only if the listing was asked for after its
last submission attempt had ended (plus ``grace_s``):

* still ``dispatching`` (no external id): the submission never reached the site — requeue it;
* with an external id: the site has forgotten it (it ended long ago, or the controller
  lost its state) — it is failed with that explanation.

Tagged jobs of this installation that match no tracked job (an older attempt, a job
placed elsewhere since) are *strays*; the caller cancels those still active, so that
no job ever runs twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from suanli.sites.base import Listing, SiteJob, parse_tag
from suanli.store.schema import JobState


def state_of(job: SiteJob) -> JobState | None:
    """The control plane's state for a job as its site lists it (``None``: unknown there)."""
    return JobState(job.state.value) if job.state is not None else None


@dataclass(frozen=True, slots=True)
class Tracked:
    """A job suanli has placed at the site.

    ``submit_ended`` is the monotonic reading when its last submission attempt ended
    (``None`` while one is in flight).
    """

    job_id: int
    attempt: int
    state: JobState
    external_id: str | None
    submit_ended: float | None


@dataclass(frozen=True, slots=True)
class Change:
    """What to do about one tracked job.

    ``action`` is ``update`` (new state and/or site facts), ``requeue`` (the
    submission never arrived) or ``vanished`` (the site forgot the job).
    """

    job_id: int
    action: str
    state: JobState | None = None
    site_job: SiteJob | None = None
    message: str = ""


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """Changes for tracked jobs, and stray site jobs to cancel."""

    changes: tuple[Change, ...]
    strays: tuple[SiteJob, ...]
    duplicates: int


def reconcile(
    tracked: Sequence[Tracked], listing: Listing, install_id: str, grace_s: float = 1.0
) -> Reconciliation:
    """Compare ``tracked`` with ``listing`` (which must be ``ok``); see the module docstring."""
    by_tag: dict[tuple[int, int], SiteJob] = {}
    duplicates = 0
    strays: list[SiteJob] = []
    for info in sorted(listing.jobs, key=lambda i: (len(i.external_id), i.external_id)):
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
            new = state_of(found)
            if new is None:
                continue
            if new != t.state or found.external_id != t.external_id:
                changes.append(Change(t.job_id, "update", new, found, found.native_state))
            continue
        if t.submit_ended is None or listing.started < t.submit_ended + grace_s:
            continue  # a submission may still be on its way
        if t.external_id is None:
            changes.append(
                Change(t.job_id, "requeue", message="the submission never reached the site")
            )
        else:
            changes.append(
                Change(
                    t.job_id,
                    "vanished",
                    JobState.FAILED,
                    message=(
                        f"the site no longer lists job {t.external_id}: it ended longer ago "
                        "than the site keeps finished jobs (Slurm's MinJobAge), or the "
                        "controller lost it; its outcome is unknown"
                    ),
                )
            )
    for key, info in by_tag.items():
        if key not in seen:
            strays.append(info)
    active = [s for s in strays if s.state is not None and s.state.active]
    return Reconciliation(tuple(changes), tuple(active), duplicates)
