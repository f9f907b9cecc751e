"""Jobs and placements of the report data document, column-wise and compact.

A week of the national scenario has ~77,000 jobs per policy; one object per job would
repeat every key 77,000 times. Instead each table is a dict of equally long columns, and
text that repeats (tenants, kinds, sites, reasons) is an index into a short list:

* :func:`jobs_columns` — shared by every policy (the workload is the same): ``id``,
  ``tenant`` (index into the document's ``tenants``), ``kind`` and ``profile`` (indices
  into ``kinds``/``profiles``), ``gang``, ``submit_s``, ``alone_s`` (the job's completion
  time with the whole fleet to itself, 5 significant digits; ``null`` when it can run
  nowhere).
* :func:`policy_jobs` — per policy, row for row: ``status`` (index into ``statuses``),
  ``wait_s`` (first start − submit; ``null`` if it never started), ``jct_s`` (finish −
  submit; ``null`` if unfinished), ``site`` and ``accelerator`` (indices into the
  document's ``sites``/``accelerators``; the last placement, -1 when it never ran),
  ``devices``, ``preemptions``, ``reason`` (why a waiting or never startable job
  waits, as the policy last said: index into ``reasons``, -1 when none). And its
  ``placements``, one row per stretch on a pool, of the jobs whose history is more than
  that row says — ran more than once (preempted) or
  waited for data or a restart before computing: ``job`` (row in the jobs table),
  ``site``, ``accelerator``, ``devices``, ``start_s``, ``compute_start_s``, ``end_s``
  (``null`` while running) and ``end`` (index into ``ends``, e.g. "finished" or a
  preemption reason; -1 while running). A job without placements ran in one stretch
  from its start to its finish (or the end of the run), computing from the start.

Times are seconds (from the scenario's start for ``submit_s``/``start_s``/…), rounded to
0.1 s. Only jobs submitted before the end of the run are listed (as in
``jobs-<policy>.csv``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from suanli.sim.result import SimResult

#: Job states, in the order of their codes.
STATUSES: tuple[str, ...] = ("finished", "running", "waiting", "never startable")


def seconds(values: np.ndarray) -> list[float | None]:
    """Times in seconds rounded to 0.1 s; NaN/inf → ``None``."""
    return [round(v, 1) if math.isfinite(v) else None for v in values.tolist()]


def sig5(values: np.ndarray) -> list[float | None]:
    """Values rounded to 5 significant digits; NaN/inf → ``None``."""
    return [float(f"{v:.5g}") if math.isfinite(v) else None for v in values.tolist()]


def listed(r: SimResult, end_s: float | None = None) -> np.ndarray:
    """Indices of the jobs submitted before ``end_s`` (default: the end of the run)."""
    return np.flatnonzero(r.jobs.submit_array() < (r.end_s if end_s is None else end_s))


def codes(values: Sequence[str]) -> tuple[list[str], list[int]]:
    """The distinct ``values`` sorted, and each value's index among them."""
    names = sorted(set(values))
    index = {v: i for i, v in enumerate(names)}
    return names, [index[v] for v in values]


def jobs_columns(r: SimResult, listed_rows: np.ndarray) -> dict[str, Any]:
    """The columns of the jobs table that do not depend on the policy, for the jobs
    ``listed_rows`` (indices into ``r.jobs``)."""
    jobs = r.jobs
    rows = listed_rows.tolist()
    kinds, kind = codes([str(jobs.kind[j]) for j in rows])
    t = r.tables
    return {
        "id": [jobs.ids[j] for j in rows],
        "tenant": [jobs.tenant[j] for j in rows],
        "kinds": kinds,
        "kind": kind,
        "profiles": list(t.profile_ids),
        "profile": [jobs.profile[j] for j in rows],
        "gang": [jobs.gang[j] for j in rows],
        "submit_s": seconds(np.asarray([jobs.submit[j] for j in rows], dtype=float)),
        "alone_s": sig5(np.asarray([jobs.alone_s(j) for j in rows], dtype=float)),
    }


def statuses(r: SimResult, rows: np.ndarray) -> np.ndarray:
    """Status code (index into :data:`STATUSES`) of each job in ``rows``."""
    jobs = r.jobs
    done = r.done[rows]
    running = (r.last_pool[rows] >= 0) & np.isnan(r.finish[rows]) & ~np.isnan(r.first_start[rows])
    code = np.where(done, 0, np.where(running, 1, 2))
    never = np.asarray([not jobs.candidates(j) for j in rows.tolist()], dtype=bool)
    return np.where(never, 3, code)


def policy_jobs(r: SimResult, rows: np.ndarray) -> tuple[dict[str, Any], dict[str, Any]]:
    """The policy's columns of the jobs table for the jobs ``rows``, and their placements."""
    t = r.tables
    row_of = np.full(len(r.jobs), -1, dtype=np.int64)
    row_of[rows] = np.arange(rows.size)
    pool = r.last_pool[rows]
    pool_site = np.asarray((*t.pool_site, -1), dtype=np.int64)
    pool_acc = np.asarray((*t.pool_acc, -1), dtype=np.int64)
    submit = r.jobs.submit_array()[rows]
    code = statuses(r, rows)
    pairs = zip(rows.tolist(), code.tolist(), strict=True)
    waiting = [r.reasons.get(j, "") if c >= 2 else "" for j, c in pairs]
    reasons = sorted({w for w in waiting if w})
    r_index = {w: i for i, w in enumerate(reasons)}
    jobs = {
        "statuses": list(STATUSES),
        "status": code.tolist(),
        "wait_s": seconds(r.first_start[rows] - submit),
        "jct_s": seconds(r.finish[rows] - submit),
        "site": pool_site[pool].tolist(),
        "accelerator": pool_acc[pool].tolist(),
        "devices": device_counts(np.where(pool >= 0, r.last_devices[rows], 0.0)),
        "preemptions": r.preemptions[rows].tolist(),
        "reasons": reasons,
        "reason": [r_index[w] if w else -1 for w in waiting],
    }
    return jobs, placements(r, row_of)


def device_counts(x: np.ndarray) -> list[float | int]:
    """Devices held, whole numbers as integers and shares of one device as fractions."""
    return [int(v) if v.is_integer() else round(v, 3) for v in x.tolist()]


def placements(r: SimResult, row_of: np.ndarray) -> dict[str, Any]:
    """The placements of the listed jobs (``row_of[j]`` ≥ 0) whose history is not one plain
    stretch: more than one placement, or a wait for data or a restart before computing."""
    t = r.tables
    count = np.zeros(len(r.jobs), dtype=np.int64)
    for p in r.stretches:
        count[p.job] += 1
    keep = {p.job for p in r.stretches if p.compute_start_s > p.start_s}
    keep.update(np.flatnonzero(count > 1).tolist())
    pls = [p for p in r.stretches if p.job in keep and row_of[p.job] >= 0]
    ends = sorted({p.end for p in pls if p.end})
    e_index = {e: i for i, e in enumerate(ends)}
    return {
        "ends": ends,
        "job": [int(row_of[p.job]) for p in pls],
        "site": [t.pool_site[p.pool] for p in pls],
        "accelerator": [t.pool_acc[p.pool] for p in pls],
        "devices": device_counts(np.asarray([p.devices for p in pls], dtype=float)),
        "start_s": seconds(np.asarray([p.start_s for p in pls], dtype=float)),
        "compute_start_s": seconds(np.asarray([p.compute_start_s for p in pls], dtype=float)),
        "end_s": seconds(np.asarray([p.end_s for p in pls], dtype=float)),
        "end": [e_index[p.end] if p.end else -1 for p in pls],
    }
